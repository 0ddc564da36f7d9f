#!/usr/bin/env bash
# The whole test suite, as the README gives it: installs missing system packages, builds the
# `ecard` binary, starts pcscd with the vpcd virtual reader and a simulated blank card and a CUPS
# queue that prints to PDF, runs every test of the workspace with the tests of those real parts
# required (a missing part fails them instead of skipping them), and stops what it started.
set -euo pipefail
cd "$(dirname "$0")/.."

tools/install-deps.sh
cargo build --bin ecard
export ECARD_BIN="$PWD/target/debug/ecard"

tools/virtual-reader.sh start
trap 'tools/virtual-reader.sh stop; tools/cups-pdf.sh stop' EXIT
eval "$(tools/cups-pdf.sh start)"
export ECARD_CUPS_URI ECARD_CUPS_OUT

# Tests that talk to pcscd serialize themselves (one pcscd per machine; cargo runs test binaries one
# after another); the rest run in parallel. The simulator card started above sits in "Virtual PCD 00 00";
# tests insert their own cards into "Virtual PCD 00 01" (vpcd port 35964).
ECARD_PCSC_TESTS=1 ECARD_VPCD_PORT=35964 ECARD_CUPS_TESTS=1 ECARD_OCR_TESTS=1 ECARD_FACE_TESTS=1 ECARD_BROWSER_TESTS=1 \
    cargo test --workspace
