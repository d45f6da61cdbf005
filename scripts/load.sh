#!/usr/bin/env bash
# The load run of BENCHMARKS.md: a Slack stand-in taking one message a second (429 with
# Retry-After otherwise), fed LOAD_RATE events a second (default 3) for LOAD_SECONDS (default
# 60) by Flagger-like callers, through the direct path (the Slack function, four instances
# under cargo lambda watch) and the fan-out path (the SNS function, the topic, the Slack
# function invoked as Lambda invokes a subscription). Loopback only; AWS is moto. Prints one
# line of figures per path; the whole output is kept in target/load.log.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p target
export LOAD_SECONDS=${LOAD_SECONDS:-60} LOAD_RATE=${LOAD_RATE:-3}
cargo test -p flagger-relay-tests --test load -- --include-ignored --nocapture --test-threads 1 \
  2>&1 | tee target/load.log | grep -E '^load |^test |test result'
