#!/usr/bin/env bash
# Serves every function locally under the Lambda emulator (`cargo lambda watch`), replays the
# recorded canary-success lifecycle through each Function URL, prints what each destination
# would receive, then keeps serving until Ctrl-C.
#
# A function sends for real when its destination is exported (SLACK_WEBHOOK_URL,
# TEAMS_WEBHOOK_URL, SNS_TOPIC_ARN with AWS credentials); otherwise it runs with DRY_RUN=1 and
# answers with the payload it would have sent.
set -euo pipefail
cd "$(dirname "$0")/.."

lifecycle=${LIFECYCLE:-canary-success}
state=.run
mkdir -p "$state"
chmod 700 "$state"

pids=()
stop() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap stop EXIT
trap 'exit 130' INT TERM

# Secrets go through a private env file, never the command line (visible in `ps`).
serve() {
  local function=$1 port=$2 destination_var=$3
  local env_file="$state/$function.env"
  : > "$env_file"
  chmod 600 "$env_file"
  if [ -n "${!destination_var:-}" ]; then
    echo "$destination_var=${!destination_var}" >> "$env_file"
    echo "  $function: live ($destination_var is set)"
  else
    echo "DRY_RUN=1" >> "$env_file"
    echo "  $function: dry run (export $destination_var to send for real)"
  fi
  for var in RELAY_TOKEN MIN_SEVERITY EXCLUDE_STAGES INCLUDE_STAGES CHATTER TEAMS_CARD_FORMAT \
             SLACK_CHANNEL SLACK_USERNAME SLACK_ICON_EMOJI AWS_REGION AWS_PROFILE \
             AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN AWS_ENDPOINT_URL; do
    if [ -n "${!var:-}" ]; then echo "$var=${!var}" >> "$env_file"; fi
  done
  # Without RELAY_TOKEN the functions serve loopback URLs anyone on this machine may call,
  # which they refuse to do unless told so.
  if [ -z "${RELAY_TOKEN:-}" ]; then echo "ALLOW_UNAUTHENTICATED=true" >> "$env_file"; fi
  # The SDK needs a region even to render; a dry run never calls AWS.
  grep -q '^AWS_REGION=' "$env_file" || echo "AWS_REGION=us-east-1" >> "$env_file"
  cargo lambda watch --quiet --ignore-changes --bin "flagger-relay-$function" \
    -A 127.0.0.1 -P "$port" --env-file "$env_file" > "$state/$function.log" 2>&1 &
  pids+=($!)
}

echo "Building the functions (dev profile)…"
cargo build --quiet --bins

echo "Starting the Lambda emulator:"
serve slack "${SLACK_PORT:-9000}" SLACK_WEBHOOK_URL
serve teams "${TEAMS_PORT:-9001}" TEAMS_WEBHOOK_URL
serve sns "${SNS_PORT:-9002}" SNS_TOPIC_ARN

url() { echo "http://127.0.0.1:$2/lambda-url/flagger-relay-$1/"; }
query=${RELAY_TOKEN:+?token=$RELAY_TOKEN}

for spec in "slack ${SLACK_PORT:-9000}" "teams ${TEAMS_PORT:-9001}" "sns ${SNS_PORT:-9002}"; do
  set -- $spec
  for _ in $(seq 1 600); do
    if curl -s -o /dev/null "http://127.0.0.1:$2/" 2>/dev/null; then break; fi
    sleep 0.2
  done
done

for spec in "slack ${SLACK_PORT:-9000}" "teams ${TEAMS_PORT:-9001}" "sns ${SNS_PORT:-9002}"; do
  set -- $spec
  echo
  echo "━━━ $lifecycle → $1 ($(url "$1" "$2")) ━━━"
  for fixture in events/flagger/"$lifecycle"-*.json; do
    curl -sS -X POST -H 'content-type: application/json' --data-binary "@$fixture" \
      "$(url "$1" "$2")$query" --max-time 60 | python3 scripts/show.py "$(basename "$fixture" .json)"
  done
done

cat <<EOF

Serving until Ctrl-C. Logs: $state/*.log. Try your own event:
  curl -X POST -H 'content-type: application/json' --data-binary @events/flagger/canary-rollback-metrics-13.json $(url slack "${SLACK_PORT:-9000}")$query
  curl -X POST -H 'content-type: application/json' --data-binary @events/flagger/gated-success-03.json $(url teams "${TEAMS_PORT:-9001}")$query
  curl -X POST -H 'content-type: application/json' --data-binary @events/flagger/canary-success-18.json $(url sns "${SNS_PORT:-9002}")$query
EOF
wait
