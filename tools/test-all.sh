#!/usr/bin/env bash
# The whole test suite, as the README gives it: installs missing system packages, builds the
# `ecard` binary, starts pcscd with the vpcd virtual reader and a simulated blank card and a CUPS
# queue that prints to PDF, runs every test of the workspace with the tests of those real parts
# required (a missing part fails them instead of skipping them), and stops what it started.
set -euo pipefail
cd "$(dirname "$0")/.."

tools/install-deps.sh
# PostgreSQL at 127.0.0.1:5432 (trust auth, database `test`) for the store's conformance suite and
# the crash tests; this machine kind starts it, and a stopped cluster is started here.
if ! pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null && command -v pg_ctlcluster >/dev/null; then
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start || true
fi
cargo build --bin ecard
export ECARD_BIN="$PWD/target/debug/ecard"

# The API's OpenAPI document against the OpenAPI 3.1 schema, with an independent validator.
python3 -m pip install --quiet --disable-pip-version-check openapi-spec-validator
"$ECARD_BIN" generate openapi > target/openapi.json
python3 -c 'import json, sys; from openapi_spec_validator import validate; validate(json.load(open(sys.argv[1]))); print("openapi.json: valid OpenAPI", json.load(open(sys.argv[1]))["openapi"])' target/openapi.json

# The virtual reader script itself (it starts and stops pcscd): start waits for the card, each
# start presents a fresh blank, --keep-card keeps the last one.
tools/test-virtual-reader.sh
tools/virtual-reader.sh start
trap 'tools/virtual-reader.sh stop; tools/cups-pdf.sh stop' EXIT
eval "$(tools/cups-pdf.sh start)"
export ECARD_CUPS_URI ECARD_CUPS_OUT

# Tests that talk to pcscd serialize themselves (one pcscd per machine; cargo runs test binaries one
# after another); the rest run in parallel. The simulator card started above sits in "Virtual PCD 00 00";
# tests insert their own cards into "Virtual PCD 00 01" (vpcd port 35964).
ECARD_PCSC_TESTS=1 ECARD_VPCD_PORT=35964 ECARD_PG_TESTS=1 ECARD_CUPS_TESTS=1 ECARD_OCR_TESTS=1 ECARD_FACE_TESTS=1 ECARD_BROWSER_TESTS=1 \
    cargo test --workspace --no-fail-fast
