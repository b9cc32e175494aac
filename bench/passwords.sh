#!/usr/bin/env bash
# Another user's login p99 while a stolen session floods wrong changePassword calls (see
# bench/passwords.py).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet --bin saaskit
python3 bench/passwords.py "${CARGO_TARGET_DIR:-target}/release/saaskit"
