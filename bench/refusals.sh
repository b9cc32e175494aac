#!/usr/bin/env bash
# What a hostile request costs the server before it is refused (see bench/refusals.py), and
# what a hostile token costs to open and authorize (see bench/token_costs.rs).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet --bin saaskit --example token_costs
python3 bench/refusals.py target/release/saaskit
echo
target/release/examples/token_costs
