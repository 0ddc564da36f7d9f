#!/usr/bin/env bash
# The whole test suite, as the README gives it: installs missing system packages, builds the
# `ecard` binary, starts pcscd with the vpcd virtual reader and a simulated blank card, runs every
# test of the workspace with the PC/SC tests required (ECARD_PCSC_TESTS=1), and stops what it started.
set -euo pipefail
cd "$(dirname "$0")/.."

tools/install-deps.sh
cargo build --bin ecard
export ECARD_BIN="$PWD/target/debug/ecard"

tools/virtual-reader.sh start
trap 'tools/virtual-reader.sh stop' EXIT

# Tests that talk to pcscd serialize themselves (one pcscd per machine; cargo runs test binaries one
# after another); the rest run in parallel. The simulator card started above sits in "Virtual PCD 00 00";
# tests insert their own cards into "Virtual PCD 00 01" (vpcd port 35964).
ECARD_PCSC_TESTS=1 ECARD_VPCD_PORT=35964 cargo test --workspace
