#!/usr/bin/env python3
"""Prints one function response (read from stdin) for `make run`: the outcome, and in a dry
run the exact payload the destination would receive."""
import json
import sys

name = sys.argv[1] if len(sys.argv) > 1 else ""
raw = sys.stdin.read()
try:
    answer = json.loads(raw)
except ValueError:
    print(f"{name}: not JSON: {raw[:300]}")
    sys.exit(0)
status = answer.get("status") or "error"
line = f"{name}: {status}"
if "stage" in answer:
    line += f" (stage {answer['stage']}, severity {answer.get('severity')})"
if "error" in answer:
    line += f": {answer['error']}"
print(line)
if "payload" in answer:
    print(json.dumps(answer["payload"], indent=2, ensure_ascii=False))
