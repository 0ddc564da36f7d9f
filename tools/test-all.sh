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

# Tests that talk to pcscd serialize themselves (one pcscd per machine); the rest run in parallel.
ECARD_PCSC_TESTS=1 cargo test --workspace
