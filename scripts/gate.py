#!/usr/bin/env python3
"""The gate's part of `make run`.

    gate.py replay URL TOKEN_FILE LIFECYCLE
        Plays Flagger against the gate: for every event of the recorded lifecycle that says a
        gate is waiting ("… waiting for promotion approval …"), the call Flagger makes to that
        gate at that moment, with the body Flagger sends; prints each answer.

    gate.py table ENDPOINT NAME
        Creates the gate's table in a local DynamoDB (moto), as the template does.

    gate.py click URL SECRET_FILE LIFECYCLE RESPONSE_URL USER [approve|rollback]
        Prints a curl that plays a click on the lifecycle's last prompt, as Slack sends it: the
        interaction payload, signed with the signing secret when the curl runs (the gate
        refuses signatures older than five minutes, so the curl signs for itself).
"""
import glob
import json
import shlex
import sys
import urllib.error
import urllib.parse
import urllib.request

# Flagger's own words for a closed gate, and the webhook type it was asking.
WAITING = {
    "waiting for approval": "confirm-rollout",
    "waiting for traffic increase approval": "confirm-traffic-increase",
    "waiting for promotion approval": "confirm-promotion",
}


def gate_of(message):
    for words, gate in WAITING.items():
        if f" advancement {words} " in message:
            return gate
    return None


def call(url, token, gate, event):
    # A gating webhook gets the event's struct without eventMessage, eventType, timestamp.
    metadata = {k: v for k, v in event.get("metadata", {}).items()
                if k not in ("eventMessage", "eventType", "timestamp")}
    body = {"name": event["name"], "namespace": event["namespace"], "phase": event["phase"],
            "checksum": event.get("checksum", ""), "metadata": metadata}
    request = urllib.request.Request(
        f"{url}{gate}?token={urllib.parse.quote(token)}",
        data=json.dumps(body, separators=(",", ":")).encode(),
        headers={"content-type": "application/json"}, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as refused:
        return refused.code, json.load(refused)


def replay(url, token_file, lifecycle):
    token = open(token_file, encoding="utf-8").read().strip()
    for path in sorted(glob.glob(f"events/flagger/{lifecycle}-*.json")):
        event = json.load(open(path, encoding="utf-8"))
        gate = gate_of(event.get("metadata", {}).get("eventMessage", ""))
        if not gate:
            continue
        status, answer = call(url, token, gate, event)
        line = f"{path.rsplit('/', 1)[-1][:-5]}: {gate} → {status} {answer.get('status', '')}"
        for key in ("reason", "prompt", "error"):
            if key in answer:
                line += f"; {key}: {answer[key]}"
        print(line)


def click(url, secret_file, lifecycle, response_url, user, action="approve"):
    action_id = {"approve": "gate-approve", "rollback": "gate-rollback"}[action]
    # The button of the lifecycle's last prompt carries its rollout, revision and gate.
    waiting = [json.load(open(path, encoding="utf-8"))
               for path in sorted(glob.glob(f"events/flagger/{lifecycle}-*.json"))]
    waiting = [(event, gate_of(event.get("metadata", {}).get("eventMessage", "")))
               for event in waiting]
    waiting = [(event, gate) for event, gate in waiting if gate]
    if not waiting:
        sys.exit(f"{lifecycle} has no gate waiting for approval")
    event, gate = waiting[-1]
    value = {"rollout": f"{event['namespace']}/{event['name']}",
             "revision": event.get("checksum", ""), "gate": gate}
    payload = {
        "type": "block_actions",
        "user": {"id": user, "username": "you"},
        "response_url": response_url,
        "actions": [{"action_id": action_id, "type": "button",
                     "value": json.dumps(value, separators=(",", ":"))}],
    }
    body = urllib.parse.urlencode({"payload": json.dumps(payload, separators=(",", ":"))})
    print(
        "ts=$(date +%s); body=" + shlex.quote(body) + "; "
        "sig=$(printf 'v0:%s:%s' \"$ts\" \"$body\" | openssl dgst -sha256 -hmac "
        f"\"$(cat {shlex.quote(secret_file)})\" -r | cut -d' ' -f1); "
        f"curl -sS -X POST {shlex.quote(url + 'slack/interactions')} "
        "-H 'content-type: application/x-www-form-urlencoded' "
        "-H \"x-slack-request-timestamp: $ts\" -H \"x-slack-signature: v0=$sig\" "
        "--data-binary \"$body\" -w '%{http_code}\\n'"
    )


def table(endpoint, name):
    import boto3  # comes with moto, which only local runs need

    boto3.client("dynamodb", endpoint_url=endpoint, region_name="us-east-1",
                 aws_access_key_id="testing", aws_secret_access_key="testing").create_table(
        TableName=name, BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "rollout", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "rollout", "KeyType": "HASH"}])


if __name__ == "__main__":
    command, *args = sys.argv[1:]
    {"replay": replay, "click": click, "table": table}[command](*args)
