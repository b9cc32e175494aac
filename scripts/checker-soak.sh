#!/usr/bin/env bash
# The concurrency checker's longer soak: CHECKER_ROUNDS rounds (default 10) of
# scripts/checker.sh, each with a fresh seed and CHECKER_SECONDS of workload (default 300), on
# CHECKER_DB (default both). Stops at the first round that fails and prints how to run its
# workload again.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${CHECKER_ROUNDS:-10}
export CHECKER_SECONDS=${CHECKER_SECONDS:-300} CHECKER_DB=${CHECKER_DB:-both}
for round in $(seq 1 "$rounds"); do
    seed=$(python3 -c 'import random; print(random.SystemRandom().randrange(1, 2**31))')
    echo "soak: round $round of $rounds, seed $seed"
    if ! CHECKER_SEED=$seed scripts/checker.sh; then
        echo "soak: round $round failed; its workload again: CHECKER_SEED=$seed" \
             "CHECKER_DB=$CHECKER_DB CHECKER_SECONDS=$CHECKER_SECONDS scripts/checker.sh"
        exit 1
    fi
done
echo "soak: $rounds rounds passed"
