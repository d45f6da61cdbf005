// Reads the payloads on stdin, one JSON document per line, and keeps each line's number so
// that every complaint can point at the line it is about. Blank lines are skipped.
"use strict";
const fs = require("fs");

/** @returns {{ total: number, payloads: { line: number, payload: unknown, text: string }[] }} */
function readPayloads(problems) {
  const input = fs.readFileSync(0, "utf8");
  const payloads = [];
  let total = 0;
  input.split("\n").forEach((text, index) => {
    if (text.trim() === "") return;
    const line = index + 1;
    total += 1;
    try {
      payloads.push({ line, payload: JSON.parse(text), text });
    } catch (err) {
      problems.add(line, "", `not JSON: ${err.message}`);
    }
  });
  return { total, payloads };
}

/** Complaints per line, printed in line order; the run fails when there is any. */
class Problems {
  constructor(kind) {
    this.kind = kind;
    this.byLine = new Map();
  }

  add(line, where, message) {
    if (!this.byLine.has(line)) this.byLine.set(line, []);
    this.byLine.get(line).push(where ? `${where}: ${message}` : message);
  }

  /** Prints the verdict and exits: 0 when every payload passed. */
  finish(total, shown = 20) {
    if (total === 0 && this.byLine.size === 0) {
      console.error(`${this.kind}: no payloads on stdin (did the tests that write them run?)`);
      process.exit(1);
    }
    if (this.byLine.size === 0) {
      console.log(`${this.kind}: ${total} payloads valid`);
      process.exit(0);
    }
    const lines = [...this.byLine.keys()].sort((a, b) => a - b);
    let printed = 0;
    for (const line of lines) {
      for (const message of this.byLine.get(line)) {
        if (printed++ < shown) console.error(`${this.kind}: line ${line}: ${message}`);
      }
    }
    if (printed > shown) console.error(`${this.kind}: … and ${printed - shown} more problems`);
    console.error(`${this.kind}: ${lines.length} of ${total} payloads invalid`);
    process.exit(1);
  }
}

/** `a.b[2].c` for a path of keys and indices. */
function pathText(path) {
  return path.map((p, i) => (typeof p === "number" ? `[${p}]` : i === 0 ? p : `.${p}`)).join("");
}

module.exports = { readPayloads, Problems, pathText };
