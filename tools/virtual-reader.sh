#!/bin/bash
# virtual-reader.sh start|stop|status - a PC/SC reader with the ecard simulator card, no hardware.
#
# start  installs what is missing (pcscd, libpcsclite-dev, pkg-config, vsmartcard-vpcd; Debian),
#        starts pcscd in the foreground of a background process (unless a pcscd already runs),
#        starts `$ECARD_BIN sim serve --port 35963 --card <run dir>/blank.img` when that binary
#        exists (otherwise only pcscd, and says so), and returns only when PC/SC sees the card in
#        "Virtual PCD 00 00" (`ecard readers` says "card present"), or fails after ECARD_VR_WAIT s
#        saying which step did not happen. Each start presents a FRESH BLANK card: a card left by
#        an earlier start (perhaps personalized since) is removed and its image deleted first.
# start --keep-card  keeps the card of an earlier start (and its image) as it is.
# start --no-card  starts only pcscd (for tests that put their own card on port 35963).
# stop   stops exactly what start started, by PID (card first, then pcscd), never by name.
# status prints what runs.
# pcscd is started once (a second start reuses it); stop twice stops nothing.
#
# Environment (optional):
#   ECARD_VR_DIR    run dir for PID files and logs (default /tmp/ecard-virtual-reader)
#   ECARD_BIN       the ecard binary (default target/debug/ecard, relative to the repository root)
#   ECARD_VR_WAIT   seconds to wait for vpcd (default 20)
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
RUN=${ECARD_VR_DIR:-/tmp/ecard-virtual-reader}
BIN=${ECARD_BIN:-$root/target/debug/ecard}
WAIT=${ECARD_VR_WAIT:-20}
PORT=35963
READER="Virtual PCD 00 00"
PKGS="pcscd libpcsclite-dev pkg-config vsmartcard-vpcd"

log() { echo "[virtual-reader] $*" >&2; }
die() { log "error: $*"; exit 1; }
alive() { [ -n "${1:-}" ] && kill -0 "$1" 2>/dev/null; }

# The PID in file $1 if that process is alive and its command line contains $2 (a recycled PID
# belonging to something else is never touched).
pid_of() {
    local f=$1 pat=$2 p
    [ -s "$f" ] || return 1
    p=$(cat "$f")
    alive "$p" || return 1
    tr '\0' ' ' < "/proc/$p/cmdline" 2>/dev/null | grep -q -- "$pat" || return 1
    echo "$p"
}

# Is TCP port $1 in LISTEN state? Reads /proc only: connecting to vpcd's port would be taken for a
# card being inserted.
listening() {
    local hex
    hex=$(printf '%04X' "$1")
    awk -v p=":$hex" '$2 ~ p"$" && $4 == "0A" {f=1} END {exit !f}' /proc/net/tcp /proc/net/tcp6 2>/dev/null
}

# Has a card connected to vpcd's port $1? An ESTABLISHED socket whose local port is $1 is vpcd's end
# of the card's connection (again read from /proc, never by connecting).
card_connected() {
    local hex
    hex=$(printf '%04X' "$1")
    awk -v p=":$hex" '$2 ~ p"$" && $4 == "01" {f=1} END {exit !f}' /proc/net/tcp /proc/net/tcp6 2>/dev/null
}

# A pcscd not started by us (system service, another tool): its PID, from pcscd's own PID file.
foreign_pcscd() {
    local p
    p=$({ tr -dc '0-9' < /run/pcscd/pcscd.pid; } 2>/dev/null) || return 1
    alive "$p" || return 1
    echo "$p"
}

install_packages() {
    local missing="" p
    for p in $PKGS; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing="$missing $p"
    done
    [ -z "$missing" ] && return 0
    [ "$(id -u)" = 0 ] || die "missing packages:$missing (run: sudo apt-get install$missing)"
    log "installing:$missing"
    export DEBIAN_FRONTEND=noninteractive
    if ! apt-get install -y --no-install-recommends $missing >"$RUN/apt.log" 2>&1; then
        apt-get update >>"$RUN/apt.log" 2>&1 || die "apt-get update failed, see $RUN/apt.log"
        apt-get install -y --no-install-recommends $missing >>"$RUN/apt.log" 2>&1 \
            || die "apt-get install$missing failed, see $RUN/apt.log"
    fi
}

# Does PC/SC list $READER with a card in it? Asks pcscd through `ecard readers`.
card_present() {
    "$BIN" readers 2>/dev/null | grep -qF "$READER"$'\t'"card present"
}

start() {
    local opt i no_card=0 keep_card=0
    for opt in "$@"; do
        case "$opt" in
            --no-card) no_card=1 ;;
            --keep-card) keep_card=1 ;;
            *) die "unknown option $opt (start takes --no-card or --keep-card)" ;;
        esac
    done
    mkdir -p "$RUN"
    install_packages
    [ -e /usr/lib/pcsc/drivers/serial/libifdvpcd.so ] || die "vpcd driver missing (package vsmartcard-vpcd)"

    local p pcscd_state card_state
    if p=$(pid_of "$RUN/pcscd.pid" pcscd); then
        pcscd_state="PID $p, already running (ours)"
    elif p=$(foreign_pcscd); then
        rm -f "$RUN/pcscd.pid"
        pcscd_state="PID $p, already running (not ours: stop leaves it alone)"
    else
        # No systemd or udev needed: the vpcd reader comes from /etc/reader.conf.d/vpcd.
        setsid nohup /usr/sbin/pcscd --foreground >"$RUN/pcscd.log" 2>&1 </dev/null &
        p=$!
        echo "$p" >"$RUN/pcscd.pid"
        pcscd_state="PID $p, started (log $RUN/pcscd.log)"
    fi

    for i in $(seq 1 $((WAIT * 10))); do listening "$PORT" && break; sleep 0.1; done
    listening "$PORT" || die "vpcd is not listening on port $PORT after ${WAIT} s (see $RUN/pcscd.log)"

    if [ "$keep_card" = 0 ] && [ "$no_card" = 0 ] && pid_of "$RUN/card.pid" "sim serve" >/dev/null; then
        # A fresh blank card on every start: the earlier one may be personalized by now.
        log "removing the card of an earlier start (use --keep-card to keep it)"
        stop_pid card "$RUN/card.pid" "sim serve" >&2
        if [ -x "$BIN" ]; then
            for i in $(seq 1 $((WAIT * 10))); do card_present || break; sleep 0.1; done
        fi
    fi
    if [ "$keep_card" = 0 ] && [ "$no_card" = 0 ] && ! pid_of "$RUN/card.pid" "sim serve" >/dev/null; then
        rm -f "$RUN/blank.img"
    fi

    if p=$(pid_of "$RUN/card.pid" "sim serve"); then
        card_state="PID $p, already running (kept: --keep-card)"
    elif [ "$no_card" = 1 ]; then
        card_state="not started (--no-card); the reader is empty"
    elif [ -x "$BIN" ]; then
        setsid nohup "$BIN" sim serve --port "$PORT" --card "$RUN/blank.img" >"$RUN/card.log" 2>&1 </dev/null &
        p=$!
        echo "$p" >"$RUN/card.pid"
        card_state="PID $p, started: $BIN sim serve --port $PORT --card $RUN/blank.img (log $RUN/card.log)"
        for i in $(seq 1 $((WAIT * 10))); do
            card_connected "$PORT" && break
            alive "$p" || { tail -20 "$RUN/card.log" >&2; rm -f "$RUN/card.pid"; die "the simulator card exited, see $RUN/card.log"; }
            sleep 0.1
        done
        card_connected "$PORT" || die "the simulator card (PID $p) did not connect to vpcd within ${WAIT} s, see $RUN/card.log"
    else
        card_state="not started: $BIN does not exist (build it with cargo build -p ecard-cli, or set ECARD_BIN); the reader is empty"
    fi
    if [ "$no_card" = 0 ] && [ -x "$BIN" ]; then
        # vpcd has the card's connection; wait until pcscd has polled the driver and reports it.
        for i in $(seq 1 $((WAIT * 10))); do card_present && break; sleep 0.1; done
        card_present || die "PC/SC does not show a card in \"$READER\" after ${WAIT} s although the simulator is connected to vpcd; see $RUN/pcscd.log and $RUN/card.log, and \`$BIN readers\`"
    fi
    echo "pcscd: $pcscd_state"
    echo "card:  $card_state"
    echo "reader: $READER (vpcd port $PORT listening)"
    echo "run dir: $RUN"
}

stop_pid() {   # name pidfile cmdline-pattern
    local name=$1 f=$2 pat=$3 p i
    if [ ! -s "$f" ]; then echo "$name: not started by this script, nothing to stop"; return 0; fi
    if ! p=$(pid_of "$f" "$pat"); then
        echo "$name: PID $(cat "$f") is not running (or is no longer $name)"; rm -f "$f"; return 0
    fi
    kill -TERM "$p"
    for i in $(seq 1 50); do alive "$p" || break; sleep 0.1; done
    if alive "$p"; then kill -KILL "$p"; echo "$name: PID $p killed (SIGKILL after 5 s)"; else echo "$name: PID $p stopped"; fi
    rm -f "$f"
}

stop() {
    stop_pid card "$RUN/card.pid" "sim serve"   # card first, so pcscd sees a clean removal
    stop_pid pcscd "$RUN/pcscd.pid" pcscd
}

status() {
    local p rc=0
    if p=$(pid_of "$RUN/pcscd.pid" pcscd); then echo "pcscd: PID $p (ours)"
    elif p=$(foreign_pcscd); then echo "pcscd: PID $p (not ours)"
    else echo "pcscd: not running"; rc=3; fi
    if p=$(pid_of "$RUN/card.pid" "sim serve"); then echo "card:  PID $p ($(tr '\0' ' ' < "/proc/$p/cmdline"))"
    else echo "card:  not running"; fi
    if card_connected "$PORT"; then echo "vpcd:  a card is connected on $PORT ($READER)"
    elif listening "$PORT"; then echo "vpcd:  listening on $PORT ($READER), no card connected"
    else echo "vpcd:  not listening on $PORT"; rc=3; fi
    return $rc
}

case "${1:-}" in
    start) shift; start "$@" ;;
    stop) stop ;;
    status) status ;;
    *) echo "usage: $0 start [--no-card|--keep-card]|stop|status" >&2; exit 2 ;;
esac
