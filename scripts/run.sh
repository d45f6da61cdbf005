#!/usr/bin/env bash
# Serves every function locally under the Lambda emulator (`cargo lambda watch`), replays the
# recorded canary-success lifecycle through each Function URL, prints what each destination
# would receive, plays Flagger against the gate (gated-success) and prints the curl that
# approves it as a Slack click would, then keeps serving until Ctrl-C.
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

# The gate needs a table and a Slack: a local moto and a local stand-in for Slack's Web API
# unless GATES_TABLE (with AWS credentials) and SLACK_BOT_TOKEN are exported. Its token and
# signing secret are kept in private files, which the curls printed below read.
serve_gate() {
  local port=$1 env_file="$state/gate.env"
  : > "$env_file"
  chmod 600 "$env_file"
  : > "$state/relay-token"; : > "$state/slack-signing-secret"
  chmod 600 "$state/relay-token" "$state/slack-signing-secret"
  if [ -n "${RELAY_TOKEN:-}" ]; then printf '%s\n' "$RELAY_TOKEN" > "$state/relay-token"
  else python3 -c 'import secrets; print(secrets.token_hex(24))' > "$state/relay-token"; fi
  if [ -n "${SLACK_SIGNING_SECRET:-}" ]; then printf '%s\n' "$SLACK_SIGNING_SECRET" > "$state/slack-signing-secret"
  else python3 -c 'import secrets; print(secrets.token_hex(16))' > "$state/slack-signing-secret"; fi
  {
    echo "RELAY_TOKEN=$(cat "$state/relay-token")"
    echo "SLACK_SIGNING_SECRET=$(cat "$state/slack-signing-secret")"
    echo "APPROVERS=${APPROVERS:-U0LOCAL}"
  } >> "$env_file"
  if [ -n "${GATES_TABLE:-}" ]; then
    echo "GATES_TABLE=$GATES_TABLE" >> "$env_file"
    for var in AWS_REGION AWS_PROFILE AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN AWS_ENDPOINT_URL; do
      if [ -n "${!var:-}" ]; then echo "$var=${!var}" >> "$env_file"; fi
    done
    echo "  gate: table $GATES_TABLE"
  else
    local moto_port=${MOTO_PORT:-9005}
    moto_server -H 127.0.0.1 -p "$moto_port" > "$state/moto.log" 2>&1 &
    pids+=($!)
    for _ in $(seq 1 300); do
      if curl -s -o /dev/null "http://127.0.0.1:$moto_port/" 2>/dev/null; then break; fi
      sleep 0.2
    done
    python3 scripts/gate.py table "http://127.0.0.1:$moto_port" flagger-relay-gates
    printf '%s\n' GATES_TABLE=flagger-relay-gates "AWS_ENDPOINT_URL=http://127.0.0.1:$moto_port" \
      AWS_REGION=us-east-1 AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing >> "$env_file"
    echo "  gate: table on a local moto (export GATES_TABLE to use a real one)"
  fi
  if [ -n "${SLACK_BOT_TOKEN:-}" ]; then
    for var in SLACK_BOT_TOKEN SLACK_CHANNEL_ID SLACK_API_URL THREADS_TABLE; do
      if [ -n "${!var:-}" ]; then echo "$var=${!var}" >> "$env_file"; fi
    done
    response_url=https://hooks.slack.com/actions/local
    echo "  gate: prompts to Slack for real (SLACK_BOT_TOKEN is set)"
  else
    local slack_port=${SLACK_STANDIN_PORT:-9004}
    python3 scripts/slack_standin.py "$slack_port" "$state/slack-api.jsonl" > "$state/slack-api.log" 2>&1 &
    pids+=($!)
    printf '%s\n' SLACK_BOT_TOKEN=xoxb-local-standin-token SLACK_CHANNEL_ID=C0LOCAL \
      "SLACK_API_URL=http://127.0.0.1:$slack_port/api" >> "$env_file"
    response_url="http://127.0.0.1:$slack_port/actions/T0/1/local"
    echo "  gate: prompts to a local Slack stand-in ($state/slack-api.log; export SLACK_BOT_TOKEN for real)"
  fi
  cargo lambda watch --quiet --ignore-changes --bin flagger-relay-gate \
    -A 127.0.0.1 -P "$port" --env-file "$env_file" > "$state/gate.log" 2>&1 &
  pids+=($!)
}

echo "Building the functions (dev profile)…"
cargo build --quiet --bins

echo "Starting the Lambda emulator:"
serve slack "${SLACK_PORT:-9000}" SLACK_WEBHOOK_URL
serve teams "${TEAMS_PORT:-9001}" TEAMS_WEBHOOK_URL
serve sns "${SNS_PORT:-9002}" SNS_TOPIC_ARN
serve_gate "${GATE_PORT:-9003}"

url() { echo "http://127.0.0.1:$2/lambda-url/flagger-relay-$1/"; }
query=${RELAY_TOKEN:+?token=$RELAY_TOKEN}

for spec in "slack ${SLACK_PORT:-9000}" "teams ${TEAMS_PORT:-9001}" "sns ${SNS_PORT:-9002}" "gate ${GATE_PORT:-9003}"; do
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

gate_url=$(url gate "${GATE_PORT:-9003}")
approver=$(grep '^APPROVERS=' "$state/gate.env" | cut -d= -f2 | tr ', ' '\n\n' | grep -m1 '^[UW]' || echo U0LOCAL)
echo
echo "━━━ gated-success → gate ($gate_url): Flagger asks each gate as the lifecycle reaches it ━━━"
python3 scripts/gate.py replay "$gate_url" "$state/relay-token" gated-success
click=$(python3 scripts/gate.py click "$gate_url" "$state/slack-signing-secret" gated-success "$response_url" "$approver")
flagger_body='{"name":"podinfo","namespace":"gated","phase":"Progressing","checksum":"bd5c8f7946","metadata":{}}'

cat <<EOF

The promotion of podinfo.gated waits. Approve it as Slack would: a click signed with the local
signing secret (it signs itself when you run it; stale signatures are refused):

  $click

then ask again as Flagger does (403 before the click, 200 after), and read the decision:

  curl -sS -X POST -H 'content-type: application/json' --data-binary '$flagger_body' "${gate_url}confirm-promotion?token=\$(cat $state/relay-token)"
  curl -sS -H "Authorization: Bearer \$(cat $state/relay-token)" ${gate_url}decisions/gated/podinfo
EOF

cat <<EOF

Serving until Ctrl-C. Logs: $state/*.log. Try your own event:
  curl -X POST -H 'content-type: application/json' --data-binary @events/flagger/canary-rollback-metrics-13.json $(url slack "${SLACK_PORT:-9000}")$query
  curl -X POST -H 'content-type: application/json' --data-binary @events/flagger/gated-success-03.json $(url teams "${TEAMS_PORT:-9001}")$query
  curl -X POST -H 'content-type: application/json' --data-binary @events/flagger/canary-success-18.json $(url sns "${SNS_PORT:-9002}")$query
EOF
wait
