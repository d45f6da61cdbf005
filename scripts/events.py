#!/usr/bin/env python3
"""Regenerates the fixtures in events/.

  events/flagger/<lifecycle>-NN.json   one raw Flagger body per file, byte for byte as recorded
                                       (only with --lifecycles DIR, from recorded *.jsonl files)
  events/function-url/<name>.json      the same bodies wrapped in the Lambda Function URL
                                       (API Gateway HTTP API v2) envelope, for
                                       `sam local invoke -e` and `cargo lambda invoke --data-file`

Usage: scripts/events.py [--lifecycles DIR]
"""
import argparse
import base64
import json
import pathlib

ROOT = pathlib.Path(__file__).resolve().parent.parent
EVENTS = ROOT / "events"

# A handful of envelopes is enough to try every function by hand; the tests wrap every body.
ENVELOPES = {
    "canary-success-advance": "canary-success-09.json",
    "canary-success-promoted": "canary-success-18.json",
    "canary-rollback-halted": "canary-rollback-metrics-07.json",
    "canary-rollback-failed": "canary-rollback-metrics-13.json",
    "gated-waiting-approval": "gated-success-03.json",
}


def envelope(body: bytes, base64_body: bool = False) -> dict:
    """What a Function URL hands to Lambda for `POST /?token=…` with a JSON body."""
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": "/",
        "rawQueryString": "token=replace-with-your-token",
        "queryStringParameters": {"token": "replace-with-your-token"},
        "headers": {
            "content-type": "application/json",
            "user-agent": "Go-http-client/1.1",
            "accept-encoding": "gzip",
            "host": "abcdefghijklmnopqrstuvwxyz012345.lambda-url.eu-west-1.on.aws",
        },
        "requestContext": {
            "accountId": "anonymous",
            "apiId": "abcdefghijklmnopqrstuvwxyz012345",
            "domainName": "abcdefghijklmnopqrstuvwxyz012345.lambda-url.eu-west-1.on.aws",
            "domainPrefix": "abcdefghijklmnopqrstuvwxyz012345",
            "http": {
                "method": "POST",
                "path": "/",
                "protocol": "HTTP/1.1",
                "sourceIp": "203.0.113.10",
                "userAgent": "Go-http-client/1.1",
            },
            "requestId": "5f8e2b4c-0000-4000-8000-000000000000",
            "routeKey": "$default",
            "stage": "$default",
            "time": "24/Nov/2025:15:00:00 +0000",
            "timeEpoch": 1763996400000,
        },
        "body": base64.b64encode(body).decode() if base64_body else body.decode("utf-8"),
        "isBase64Encoded": base64_body,
    }


def split_lifecycles(source: pathlib.Path) -> None:
    target = EVENTS / "flagger"
    target.mkdir(parents=True, exist_ok=True)
    for old in target.glob("*.json"):
        old.unlink()
    for jsonl in sorted(source.glob("*.jsonl")):
        lines = [line for line in jsonl.read_bytes().split(b"\n") if line.strip()]
        for n, line in enumerate(lines, start=1):
            (target / f"{jsonl.stem}-{n:02}.json").write_bytes(line)


def write_envelopes() -> None:
    target = EVENTS / "function-url"
    target.mkdir(parents=True, exist_ok=True)
    for name, raw in ENVELOPES.items():
        body = (EVENTS / "flagger" / raw).read_bytes()
        json.loads(body)  # a fixture that is not JSON is a mistake here, not a test case
        (target / f"{name}.json").write_text(json.dumps(envelope(body), indent=2) + "\n")
    body = (EVENTS / "flagger" / ENVELOPES["canary-success-advance"]).read_bytes()
    (target / "canary-success-advance-base64.json").write_text(
        json.dumps(envelope(body, base64_body=True), indent=2) + "\n"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lifecycles", type=pathlib.Path, help="folder of recorded *.jsonl lifecycles")
    args = parser.parse_args()
    if args.lifecycles:
        split_lifecycles(args.lifecycles)
    write_envelopes()


if __name__ == "__main__":
    main()
