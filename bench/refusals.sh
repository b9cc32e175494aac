#!/usr/bin/env bash
# What a hostile request costs the server before it is refused (see bench/refusals.py).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet --bin saaskit
python3 bench/refusals.py target/release/saaskit
