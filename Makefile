# flagger-relay: two commands do everything.
#   make run    serve every function locally and replay a recorded rollout through it
#   make test   format, lint, every test, the providers' validators and the template checks

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

# The Python tools live in project-local virtual environments, never in the user's Python:
# .venv/ (cargo-lambda, moto, cfn-lint, the SAM CLI) comes first on PATH for every target
# here, and checkov, whose pins fight the SAM CLI's, has .venv-checkov/ to itself. Each is
# reinstalled only when its requirements file changes (the stamp names the file's hash).
PYTHON ?= python3
VENV := .venv
CHECKOV_VENV := .venv-checkov
hash = $(shell { sha256sum 2>/dev/null || shasum -a 256; } < $(1) | cut -c1-16)
TOOLS_STAMP := $(VENV)/.requirements-$(call hash,requirements/tools.txt)
CHECKOV_STAMP := $(CHECKOV_VENV)/.requirements-$(call hash,requirements/checkov.txt)
NODE_STAMP := validators/node_modules/.lock-$(call hash,validators/package-lock.json)
VALIDATE := validators/validate
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
export CARGO_TERM_COLOR ?= never
export SAM_CLI_TELEMETRY := 0

.PHONY: help tools system-packages run test fmt lint unit validate-payloads template monitoring events build redrive fuzz bench load

help:
	@echo "make run    serve the functions under cargo lambda watch and replay canary-success"
	@echo "make test   fmt, clippy, all tests, payload validators, template checks"
	@echo "make monitoring  regenerate the dashboard and alarms in template.yaml"
	@echo "make events regenerate events/ (LIFECYCLES=dir of recorded *.jsonl)"
	@echo "make build  release build of every function for Lambda (arm64)"
	@echo "make bench  cold start, latency, memory, size and render cost of every function (BENCHMARKS.md)"
	@echo "make fuzz   fuzz the parser and renderers (FUZZ_SECONDS each, default 60)"
	@echo "make redrive  re-deliver the dead-letter queue (DEAD_LETTER_QUEUE_URL=…; DRY_RUN=1 lists only)"
	@echo "make load   3 events/s for 60 s into a Slack that takes 1/s, direct and fan-out (BENCHMARKS.md)"

# Installs only what is missing or changed: the Python tools from requirements/ into .venv/
# and .venv-checkov/, the validators' npm packages from their lock file; Node.js (for the
# validators) and Chromium (for the previews) from Debian when absent. A `sam` or
# `cargo lambda` the user already has is left as it is: the targets here use .venv's.
tools: system-packages $(TOOLS_STAMP) $(CHECKOV_STAMP) $(NODE_STAMP)
	@rustup component list --installed 2>/dev/null | grep -q '^clippy' || rustup component add clippy rustfmt

# Debian's packages, with one `apt-get update` for all of them, only when one is missing.
system-packages:
	@missing=""; \
	{ command -v node >/dev/null && command -v npm >/dev/null; } || missing="$$missing nodejs npm"; \
	command -v chromium >/dev/null || missing="$$missing chromium"; \
	$(PYTHON) -c 'import ensurepip, venv' 2>/dev/null || missing="$$missing python3-venv"; \
	if [ -n "$$missing" ]; then \
	  echo "tools: installing$$missing from Debian"; \
	  $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq $$missing >/dev/null; \
	fi

$(TOOLS_STAMP): requirements/tools.txt | system-packages
	@echo "tools: installing requirements/tools.txt into $(VENV)/"
	@test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	@$(VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r requirements/tools.txt
	@rm -f $(VENV)/.requirements-* && touch $@

$(CHECKOV_STAMP): requirements/checkov.txt | system-packages
	@echo "tools: installing requirements/checkov.txt into $(CHECKOV_VENV)/"
	@test -x $(CHECKOV_VENV)/bin/python || $(PYTHON) -m venv $(CHECKOV_VENV)
	@$(CHECKOV_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r requirements/checkov.txt
	@rm -f $(CHECKOV_VENV)/.requirements-* && touch $@

$(NODE_STAMP): validators/package-lock.json | system-packages
	@echo "tools: installing the validators' packages (npm ci)"
	@npm ci --prefix validators --no-audit --no-fund --loglevel=error >/dev/null
	@touch $@

run: tools
	@scripts/run.sh

test: tools fmt lint unit validate-payloads template preview-check
	@echo "make test: all checks passed"

fmt:
	cargo fmt --all -- --check

lint:
	cargo clippy --workspace --all-targets -- -D warnings

# --include-ignored adds the end-to-end tests, which build and serve the functions (under
# cargo lambda watch); moto-backed tests run in plain `cargo test` too, the harness finds
# .venv/. Snapshots are never written here: a changed payload fails the run.
unit:
	INSTA_UPDATE=no cargo test --workspace -- --include-ignored

# The validators first prove they refuse known-bad documents, then check what the tests sent:
# webhook messages and the bot's Web API calls for Slack, Workflows cards for Teams (the
# legacy connector's MessageCards are not Adaptive Cards and have no validator).
validate-payloads:
	node validators/test/run.js
	cat target/payloads/slack.jsonl target/payloads/slack-alertmanager.jsonl target/payloads/slack-bot.jsonl target/payloads/slack-gate.jsonl \
	  target/payloads/slack-links.jsonl target/payloads/slack-templates.jsonl target/payloads/slack-templates-hostile.jsonl \
	  target/payloads/slack-templates-readme.jsonl | $(VALIDATE) slack
	cat target/payloads/teams.jsonl target/payloads/teams-limits.jsonl target/payloads/teams-alertmanager.jsonl target/payloads/teams-gate.jsonl \
	  target/payloads/teams-links.jsonl target/payloads/teams-templates.jsonl target/payloads/teams-templates-hostile.jsonl \
	  target/payloads/teams-templates-store.jsonl | $(VALIDATE) teams

# Each checkov finding the template accepts is skipped in the resource's Metadata, with why.
template:
	cfn-lint template.yaml
	sam validate --lint --template template.yaml
	$(CHECKOV_VENV)/bin/checkov --file template.yaml --framework cloudformation --skip-download --quiet --compact

# The dashboard and rate alarms in template.yaml are generated from the metrics definition
# (functions/core/src/metrics.rs); the monitoring test fails until this has been run after a change.
monitoring:
	UPDATE_MONITORING=1 cargo test -p flagger-relay-tests --test monitoring template_holds_the_generated_monitoring_block

events:
	python3 scripts/events.py $(if $(LIFECYCLES),--lifecycles $(LIFECYCLES))

build: tools
	sam build

# Re-delivers parked records. Each record names its destination; each destination configured
# here (Slack webhook or bot, Teams, SNS; plain or *_SECRET_ARN settings) redrives its own, and
# the records of one not configured stay parked. A record is deleted only once delivered;
# REDRIVE_MAX_ATTEMPTS (default 5) failed redrives give it up. DRY_RUN=1 lists what would be sent.
# Redrive serves no URL, so it needs no relay token (ALLOW_UNAUTHENTICATED).
redrive:
	@test -n "$${DEAD_LETTER_QUEUE_URL:-}" || { echo "set DEAD_LETTER_QUEUE_URL (the stack output DeadLetterQueueUrl)" >&2; exit 2; }
	@cargo build --quiet --bins
	@bin="$${CARGO_TARGET_DIR:-target}/debug"; failed=0; \
	export ALLOW_UNAUTHENTICATED=true; \
	for spec in "slack SLACK_WEBHOOK_URL SLACK_BOT_TOKEN" "teams TEAMS_WEBHOOK_URL" "sns SNS_TOPIC_ARN"; do \
	  set -- $$spec; fn=$$1; shift; configured=""; \
	  for var in "$$@"; do \
	    for name in "$$var" "$${var}_SECRET_ARN"; do if [ -n "$${!name:-}" ]; then configured=$$name; fi; done; \
	  done; \
	  if [ -n "$$configured" ]; then "$$bin/flagger-relay-$$fn" redrive $(if $(DRY_RUN),--dry-run) || failed=1; \
	  elif [ -n "$(DRY_RUN)" ]; then DRY_RUN=1 "$$bin/flagger-relay-$$fn" redrive --dry-run || failed=1; \
	  else echo "$$fn: not configured (set $$*); its records stay parked"; fi; \
	done; \
	exit $$failed

# The load run (BENCHMARKS.md): LOAD_RATE events a second for LOAD_SECONDS (default 3 for 60 s)
# into a Slack stand-in that takes one a second, through the direct and the fan-out path;
# nothing may be lost or posted twice. `make test` runs the same test for a few seconds.
load: tools
	@scripts/load.sh

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

# Pictures of every message as Slack and Teams show it: each recorded lifecycle through the
# functions in dry run (the tests crate's `preview` example), drawn and screenshotted in
# headless Chromium (preview/render.mjs) into target/preview/, index.html first.
# DOCS=1 (or `make preview-docs`) also refreshes the pictures README shows, in docs/preview/.
.PHONY: preview preview-docs preview-check preview-tools
DOCS_LIFECYCLES := canary-success canary-rollback-metrics gated-success alertmanager

preview: preview-tools
	cargo run --quiet -p flagger-relay-tests --example preview
	node preview/render.mjs
	@if [ -n "$(DOCS)" ]; then $(MAKE) --no-print-directory preview-docs; fi

preview-docs: preview-tools
	cargo run --quiet -p flagger-relay-tests --example preview -- --out target/preview-docs/payloads $(DOCS_LIFECYCLES)
	node preview/render.mjs --scale 2 --payloads target/preview-docs/payloads --out target/preview-docs --docs docs/preview

# A few messages drawn in every variant: fails when a page throws or a picture is blank.
preview-check: preview-tools
	cargo run --quiet -p flagger-relay-tests --example preview -- --out target/preview-check/payloads canary-rollback-metrics alertmanager
	node preview/render.mjs --sample --payloads target/preview-check/payloads --out target/preview-check
	SLACK_TEMPLATE="$$(cat examples/templates/slack.json.j2)" TEAMS_TEMPLATE="$$(cat examples/templates/teams-card.json.j2)" \
	  cargo run --quiet -p flagger-relay-tests --example preview -- --out target/preview-check/templated/payloads canary-rollback-metrics
	node preview/render.mjs --sample --payloads target/preview-check/templated/payloads --out target/preview-check/templated

# Debian's Chromium and the fonts the pages ask for (Lato for Slack, Open Sans standing in
# for Segoe UI, Noto for emoji); the Node packages from preview/package-lock.json.
preview-tools: preview/node_modules/.package-lock.json
	@command -v chromium >/dev/null || { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq chromium; }
	@fc-list 2>/dev/null | grep -q 'Noto Color Emoji' && fc-list | grep -q Lato && fc-list | grep -q 'Open Sans' || \
	  { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq fonts-lato fonts-open-sans fonts-noto-color-emoji; }

preview/node_modules/.package-lock.json: preview/package-lock.json
	@command -v npm >/dev/null || { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq nodejs npm; }
	npm ci --prefix preview --no-audit --no-fund --loglevel=error
