# flagger-relay: two commands do everything.
#   make run    serve every function locally and replay a recorded rollout through it
#   make test   format, lint, every test, the providers' validators and the template checks

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

PIP ?= python3 -m pip
SHARED ?= ../shared
VALIDATE := $(SHARED)/validators/validate
export CARGO_TERM_COLOR ?= never
export SAM_CLI_TELEMETRY := 0

.PHONY: help tools run test fmt lint unit validate-payloads template events build redrive fuzz bench

help:
	@echo "make run    serve the functions under cargo lambda watch and replay canary-success"
	@echo "make test   fmt, clippy, all tests, payload validators, template checks"
	@echo "make events regenerate events/ (LIFECYCLES=dir of recorded *.jsonl)"
	@echo "make build  release build of every function for Lambda (arm64)"
	@echo "make bench  cold start, latency, memory, size and render cost of every function (BENCHMARKS.md)"
	@echo "make fuzz   fuzz the parser and renderers (FUZZ_SECONDS each, default 60)"
	@echo "make redrive  re-deliver the dead-letter queue (DEAD_LETTER_QUEUE_URL=…; DRY_RUN=1 lists only)"

# Installs only what is missing: cargo-lambda (with zig), moto, cfn-lint and the SAM CLI come
# (and checkov) from PyPI; Node.js (for the providers' validators) from Debian when absent.
tools:
	@command -v cargo-lambda >/dev/null || $(PIP) install --quiet cargo-lambda
	@command -v moto_server >/dev/null || $(PIP) install --quiet 'moto[server]'
	@command -v cfn-lint >/dev/null || $(PIP) install --quiet cfn-lint
	@command -v sam >/dev/null || $(PIP) install --quiet aws-sam-cli
	@command -v checkov >/dev/null || $(PIP) install --quiet checkov
	@command -v pyenv >/dev/null && pyenv rehash || true
	@command -v node >/dev/null || { apt-get update -qq && apt-get install -y -qq nodejs npm; }
	@rustup component list --installed 2>/dev/null | grep -q '^clippy' || rustup component add clippy rustfmt

run: tools
	@scripts/run.sh

test: tools fmt lint unit validate-payloads template
	@echo "make test: all checks passed"

fmt:
	cargo fmt --all -- --check

lint:
	cargo clippy --workspace --all-targets -- -D warnings

# --include-ignored runs the end-to-end tests that need cargo-lambda and moto, which `tools`
# has installed. Snapshots are never written here: a changed payload fails the run.
unit:
	INSTA_UPDATE=no cargo test --workspace -- --include-ignored

validate-payloads:
	cat target/payloads/slack.jsonl target/payloads/slack-alertmanager.jsonl \
	  target/payloads/slack-links.jsonl target/payloads/slack-templates.jsonl target/payloads/slack-templates-hostile.jsonl \
	  target/payloads/slack-templates-readme.jsonl | $(VALIDATE) slack
	cat target/payloads/teams.jsonl target/payloads/teams-limits.jsonl target/payloads/teams-alertmanager.jsonl \
	  target/payloads/teams-links.jsonl target/payloads/teams-templates.jsonl target/payloads/teams-templates-hostile.jsonl \
	  target/payloads/teams-templates-store.jsonl | $(VALIDATE) teams

# Each checkov finding the template accepts is skipped in the resource's Metadata, with why.
template:
	cfn-lint template.yaml
	sam validate --lint --template template.yaml
	checkov --file template.yaml --framework cloudformation --skip-download --quiet --compact

events:
	python3 scripts/events.py $(if $(LIFECYCLES),--lifecycles $(LIFECYCLES))

build: tools
	sam build

# Re-delivers parked events through each function whose destination is configured here; a
# record is deleted only once delivered. DRY_RUN=1 lists what would be sent.
redrive:
	@test -n "$${DEAD_LETTER_QUEUE_URL:-}" || { echo "set DEAD_LETTER_QUEUE_URL (the stack output DeadLetterQueueUrl)" >&2; exit 2; }
	@cargo build --quiet --bins
	@for spec in slack:SLACK_WEBHOOK_URL teams:TEAMS_WEBHOOK_URL sns:SNS_TOPIC_ARN; do \
	  fn=$${spec%%:*}; var=$${spec#*:}; \
	  if [ -n "$(DRY_RUN)" ]; then DRY_RUN=1 target/debug/flagger-relay-$$fn redrive --dry-run; \
	  elif [ -n "$${!var:-}" ]; then target/debug/flagger-relay-$$fn redrive; \
	  else echo "$$fn: skipped ($$var is not set)"; fi; \
	done

# libFuzzer on the parser and renderers, FUZZ_SECONDS each (stable toolchain, no sanitizer).
FUZZ_SECONDS ?= 60
fuzz:
	@command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
	cd fuzz && for target in parse render secret_reference; do \
	  cargo fuzz run -s none $$target -- -max_total_time=$(FUZZ_SECONDS) -max_len=65536 || exit 1; \
	done

# Cold start, warm latency, memory and binary size of every function, and parse + classify +
# render per event (BENCHMARKS.md). The harness runs host (x86_64) release builds; the arm64
# builds give the sizes Lambda deploys. Budget misses are printed, not fatal: speed is measured
# here, never asserted in tests.
bench: tools
	cargo build --release --bin flagger-relay-slack --bin flagger-relay-teams --bin flagger-relay-sns \
	  --bin coldstart-hello --bin flagger-relay-coldstart
	cargo lambda build --release --arm64 --bin flagger-relay-slack --bin flagger-relay-teams --bin flagger-relay-sns
	cargo bench -p flagger-relay-tests --bench pipeline
	target/release/flagger-relay-coldstart hello slack teams sns
