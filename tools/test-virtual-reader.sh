#!/usr/bin/env bash
# test-virtual-reader.sh - checks tools/virtual-reader.sh (issue 13 item 18): `start` returns only
# when PC/SC shows the card, every start presents a fresh blank card, and `start --keep-card` keeps
# the card of the previous start. Personalizes the card in "Virtual PCD 00 00" in between.
#
# Uses the machine's one pcscd: run it alone, e.g.
#   flock /tmp/pcscd.lock tools/test-virtual-reader.sh
# Needs the ecard binary (ECARD_BIN, default target/debug/ecard). Stops what it started; exit 0
# when every check holds, 1 naming the first that does not.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export ECARD_BIN=${ECARD_BIN:-$root/target/debug/ecard}
export ECARD_VR_DIR=${ECARD_VR_DIR:-$(mktemp -d /tmp/ecard-vr-test.XXXXXX)}
VR=${ECARD_VR_SCRIPT:-$root/tools/virtual-reader.sh}
READER="Virtual PCD 00 00"
work=$(mktemp -d /tmp/ecard-vr-work.XXXXXX)
trap '"$VR" stop >/dev/null 2>&1 || true; rm -rf "$work"' EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }
pass() { echo "ok: $*"; }
present() { "$ECARD_BIN" readers | grep -qF "$READER"$'\t'"card present"; }
# Exit code of `ecard check` on the card in the reader: 1 (red) for a blank card, 2 (amber, no
# status list given) for an issued one.
check_code() {
    local rc=0
    "$ECARD_BIN" check --reader "$READER" --can 135790 --trust "$work/pki/csca.pem" >"$work/check.out" 2>&1 || rc=$?
    echo "$rc"
}
personalize() {
    "$ECARD_BIN" personalize --enrollment "$root/samples/karimov.json" --pki "$work/pki" \
        --document-number 771234567 --reader "$READER" --can 135790 >"$work/perso.out" 2>&1
}

[ -x "$ECARD_BIN" ] || fail "$ECARD_BIN does not exist: cargo build --bin ecard"
"$ECARD_BIN" pki init --dir "$work/pki" >/dev/null

"$VR" start >/dev/null
present || fail "start returned before PC/SC showed a card in $READER"
pass "start returns with the card present"
[ "$(check_code)" = 1 ] || fail "the first card is not blank: $(cat "$work/check.out")"
personalize || fail "personalizing the first card: $(cat "$work/perso.out")"
[ "$(check_code)" = 2 ] || fail "the personalized card does not check: $(cat "$work/check.out")"
pass "the first card is blank and takes a personalization"

"$VR" start --keep-card >/dev/null
present || fail "start --keep-card returned without a card present"
[ "$(check_code)" = 2 ] || fail "start --keep-card did not keep the issued card: $(cat "$work/check.out")"
pass "start --keep-card keeps the issued card"

"$VR" start >/dev/null
present || fail "the second start returned without a card present"
[ "$(check_code)" = 1 ] || fail "the second start did not present a blank card: $(cat "$work/check.out")"
personalize || fail "personalizing the second card: $(cat "$work/perso.out")"
pass "a second start presents a fresh blank card"

"$VR" stop >/dev/null
"$VR" start >/dev/null
[ "$(check_code)" = 1 ] || fail "start after stop did not present a blank card: $(cat "$work/check.out")"
pass "start after stop presents a fresh blank card"
echo "all virtual-reader checks passed"
