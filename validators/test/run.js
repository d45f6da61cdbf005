// The validators' own test: known-good documents must pass and each known-bad document must
// be refused for its own reason, so that a validator that lets everything through (or
// refuses everything) fails `make test`. Each case file holds
// `{"case": what, "expect": null | text of the complaint, "payload": document}` per line.
"use strict";
const fs = require("fs");
const path = require("path");
const { spawnSync } = require("child_process");

const validate = path.join(__dirname, "..", "validate");
let passed = 0;
let failed = 0;

for (const kind of ["slack", "teams"]) {
  const cases = fs
    .readFileSync(path.join(__dirname, `${kind}.jsonl`), "utf8")
    .split("\n")
    .filter((line) => line.trim() !== "")
    .map((line) => JSON.parse(line));
  const input = cases.map((c) => JSON.stringify(c.payload)).join("\n") + "\n";
  const run = spawnSync(validate, [kind], { input, encoding: "utf8" });
  const output = run.stderr + run.stdout;
  const bad = cases.some((c) => c.expect !== null);
  if (run.status !== (bad ? 1 : 0)) {
    console.error(`${kind}: validate exited ${run.status}, expected ${bad ? 1 : 0}:\n${output}`);
    failed += 1;
  }
  cases.forEach((c, i) => {
    const said = output.split("\n").filter((l) => l.startsWith(`${kind}: line ${i + 1}: `));
    const ok = c.expect === null ? said.length === 0 : said.some((l) => l.includes(c.expect));
    if (ok) passed += 1;
    else {
      failed += 1;
      const wanted = c.expect === null ? "no complaint" : `a complaint containing ${JSON.stringify(c.expect)}`;
      console.error(`${kind}: ${c.case}: expected ${wanted}, got:\n  ${said.join("\n  ") || "(nothing)"}`);
    }
  });
}

console.log(`validators self-test: ${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
