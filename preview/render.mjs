#!/usr/bin/env node
// `make preview`, second half: draws every payload the functions produced in dry run
// (target/preview/payloads/<destination>/<lifecycle>.jsonl, written by the `preview` example
// of the tests crate) the way its destination shows it, and screenshots each message with
// headless Chromium:
//
//   target/preview/<lifecycle>/<nn>-<destination>.png   slack, slack-bot, teams, teams-dark
//   target/preview/<lifecycle>/thread-<nn>-slack-bot.png a bot-mode thread opened by event nn, whole
//   target/preview/index.html                            each rollout in order, side by side
//   target/preview/pages/<lifecycle>/<destination>.html  the pages the pictures are taken of
//
// It fails (exit 1) when a page throws or logs an error (an Adaptive Card that does not parse
// at 1.4 logs one), when a request leaves the machine, or when a picture comes out blank.
//
//   node render.mjs [--sample] [--scale N] [--out DIR] [--payloads DIR] [--docs DIR] [LIFECYCLE…]
//     --sample   a handful of messages only: the check `make test` runs
//     --docs     only the pictures README shows, copied into DIR as well
//     --out      where the pictures go instead of target/preview
//     --payloads where the payloads are instead of target/preview/payloads
import fs from "node:fs";
import path from "node:path";
import { execFileSync } from "node:child_process";
import { fileURLToPath, pathToFileURL } from "node:url";
import { chromium } from "playwright-core";
import { PNG } from "pngjs";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, "..");
let PAYLOADS = path.join(ROOT, "target/preview/payloads");
let OUT = path.join(ROOT, "target/preview");

// What each picture is drawn from, and how.
const VARIANTS = [
  { name: "slack", source: "slack", label: "Slack (webhook)", kind: "slack" },
  { name: "slack-bot", source: "slack-bot", label: "Slack (bot, threaded)", kind: "slack" },
  { name: "teams", source: "teams", label: "Teams", kind: "teams", theme: "light" },
  { name: "teams-dark", source: "teams", label: "Teams (dark)", kind: "teams", theme: "dark" },
];

// The messages `--sample` draws: a failure in every variant (in bot mode, after the thread
// before it) and an Alertmanager group as a card.
const SAMPLE = [
  { lifecycle: "canary-rollback-metrics", pick: (r) => r.stage === "failed", variants: ["slack", "slack-bot", "teams", "teams-dark"] },
  { lifecycle: "alertmanager", pick: (r) => r.fixture === "canary-rollback-group", variants: ["teams"] },
];

// The pictures README shows, drawn by `--docs DIR` as DIR/<name>-<variant>.png.
const DOCS = [
  { name: "success", lifecycle: "canary-success", pick: (r) => r.stage === "succeeded", variants: ["slack", "teams"] },
  { name: "failure", lifecycle: "canary-rollback-metrics", pick: (r) => r.stage === "failed", variants: ["slack", "slack-bot", "teams", "teams-dark"] },
  { name: "approval", lifecycle: "gated-success", pick: (r) => r.stage === "waiting-approval", variants: ["slack", "teams"] },
  { name: "alertmanager", lifecycle: "alertmanager", pick: (r) => r.fixture === "canary-rollback-group", variants: ["slack", "teams"] },
];

const ASSETS = {
  "adaptivecards.min.js": "node_modules/adaptivecards/dist/adaptivecards.min.js",
  "markdown-it.min.js": "node_modules/markdown-it/dist/browser/markdown-it.umd.min.js",
  "slack.js": "page/slack.js",
  "slack.css": "page/slack.css",
  "teams.js": "page/teams.js",
  "teams.css": "page/teams.css",
};

function options(argv) {
  const opts = { sample: false, scale: 1, docs: null, lifecycles: [] };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === "--sample") opts.sample = true;
    else if (arg === "--scale") opts.scale = Number(argv[++i]);
    else if (arg === "--docs") opts.docs = path.resolve(argv[++i]);
    else if (arg === "--out") OUT = path.resolve(argv[++i]);
    else if (arg === "--payloads") PAYLOADS = path.resolve(argv[++i]);
    else if (arg.startsWith("-")) throw new Error(`unknown option ${arg}`);
    else opts.lifecycles.push(...arg.split(",").filter(Boolean));
  }
  if (!(opts.scale >= 1 && opts.scale <= 3)) throw new Error("--scale takes 1 to 3");
  return opts;
}

function readJsonl(file) {
  return fs
    .readFileSync(file, "utf8")
    .split("\n")
    .filter((line) => line.trim())
    .map((line) => JSON.parse(line));
}

function lifecyclesIn(dir) {
  const slack = path.join(dir, "slack");
  if (!fs.existsSync(slack)) throw new Error(`no payloads in ${dir}: run the preview example first (make preview)`);
  return fs
    .readdirSync(slack)
    .filter((f) => f.endsWith(".jsonl"))
    .map((f) => f.slice(0, -6))
    .sort((a, b) => (a === "alertmanager") - (b === "alertmanager") || a.localeCompare(b));
}

function chromiumPath() {
  if (process.env.CHROMIUM) return process.env.CHROMIUM;
  try {
    return execFileSync("sh", ["-c", "command -v chromium || command -v chromium-browser"], { encoding: "utf8" }).trim();
  } catch {
    throw new Error("chromium is not installed (make preview installs Debian's chromium package)");
  }
}

const pad = (seq) => String(seq).padStart(2, "0");
const json = (value) => JSON.stringify(value).replace(/</g, "\\u003c");
const esc = (text) => String(text ?? "").replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]);

function page(variant, lifecycle, records) {
  const scripts = variant.kind === "teams" ? ["markdown-it.min.js", "adaptivecards.min.js", "teams.js"] : ["slack.js"];
  const call = variant.kind === "teams" ? `renderTeams(records, ${json(variant.theme)})` : `renderSlack(records, ${json(variant.name)})`;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${esc(lifecycle)} · ${esc(variant.label)}</title>
<link rel="stylesheet" href="../../assets/${variant.kind}.css">
${scripts.map((s) => `<script src="../../assets/${s}"></script>`).join("\n")}
</head><body><main id="root"></main>
<script>
const records = ${json(records)};
${call};
document.body.dataset.ready = "1";
</script></body></html>
`;
}

const pixelBox = (png, box, scale) => {
  const x0 = Math.max(0, Math.round(box.x * scale)), y0 = Math.max(0, Math.round(box.y * scale));
  const x1 = Math.min(png.width, Math.round((box.x + box.width) * scale)), y1 = Math.min(png.height, Math.round((box.y + box.height) * scale));
  return { x0, y0, width: Math.max(0, x1 - x0), height: Math.max(0, y1 - y0) };
};

function crop(png, box, scale) {
  const { x0, y0, width, height } = pixelBox(png, box, scale);
  const out = new PNG({ width, height });
  PNG.bitblt(png, out, x0, y0, width, height, 0, 0);
  return out;
}

// Share of pixels in the box that differ clearly from its most common colour: a drawn message
// has text on a background; a blank one is the background alone.
function inked(png, box, scale) {
  const { x0, y0, width, height } = pixelBox(png, box, scale);
  if (!width || !height) return 0;
  const counts = new Map();
  for (let y = y0; y < y0 + height; y++) {
    for (let x = x0; x < x0 + width; x++) {
      const i = (y * png.width + x) * 4;
      const key = (png.data[i] << 16) | (png.data[i + 1] << 8) | png.data[i + 2];
      counts.set(key, (counts.get(key) || 0) + 1);
    }
  }
  let background = 0, most = -1;
  for (const [key, n] of counts) if (n > most) [background, most] = [key, n];
  const channel = (key, shift) => (key >> shift) & 255;
  let differs = 0;
  for (const [key, n] of counts) {
    if ([16, 8, 0].some((s) => Math.abs(channel(key, s) - channel(background, s)) > 40)) differs += n;
  }
  return differs / (width * height);
}

async function main() {
  const opts = options(process.argv.slice(2));
  let lifecycles = lifecyclesIn(PAYLOADS);
  if (opts.lifecycles.length) lifecycles = lifecycles.filter((l) => opts.lifecycles.includes(l));
  // A selection draws only the first message of each lifecycle it picks (in bot mode with
  // the thread before it: a reply needs its parent).
  const selection = opts.docs ? DOCS : opts.sample ? SAMPLE : null;
  if (selection) lifecycles = lifecycles.filter((l) => selection.some((s) => s.lifecycle === l));
  if (!lifecycles.length) throw new Error("nothing to draw: no such lifecycle in the payloads");

  fs.mkdirSync(path.join(OUT, "assets"), { recursive: true });
  for (const [name, from] of Object.entries(ASSETS)) fs.copyFileSync(path.join(HERE, from), path.join(OUT, "assets", name));

  const problems = [];
  const started = Date.now();
  const browser = await chromium.launch({
    executablePath: chromiumPath(),
    headless: true,
    // Playwright gives each launch a fresh temporary profile (--user-data-dir) of its own.
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
      "--disable-component-update", "--disable-sync", "--font-render-hinting=none"],
  });
  const context = await browser.newContext({ viewport: { width: 900, height: 800 }, deviceScaleFactor: opts.scale });
  // Everything a page needs is on disk: any other request is a mistake, and is refused.
  await context.route("**/*", (route) => {
    const url = route.request().url();
    if (url.startsWith("file:")) return route.continue();
    problems.push(`request to ${url} refused`);
    return route.abort();
  });

  const index = [];
  const jobs = [];
  for (const lifecycle of lifecycles) {
    const dir = path.join(OUT, lifecycle);
    fs.rmSync(dir, { recursive: true, force: true });
    fs.mkdirSync(dir, { recursive: true });
    fs.mkdirSync(path.join(OUT, "pages", lifecycle), { recursive: true });
    const entry = { lifecycle, rows: new Map(), threads: [] };
    index.push(entry);
    for (const variant of VARIANTS) {
      const spec = selection && selection.find((s) => s.lifecycle === lifecycle && s.variants.includes(variant.name));
      if (!selection || spec) jobs.push({ entry, variant, spec });
    }
  }
  let pictures = 0;
  const draw = async ({ entry, variant, spec }) => {
    const { lifecycle } = entry;
    const file = path.join(PAYLOADS, variant.source, `${lifecycle}.jsonl`);
    if (!fs.existsSync(file)) {
      problems.push(`${lifecycle}: no ${variant.source} payloads`);
      return;
    }
    let records = readJsonl(file);
    for (const record of records) {
      if (!entry.rows.has(record.seq)) entry.rows.set(record.seq, { record, shots: {} });
    }
    let wanted = null;
    if (spec) {
      const at = records.findIndex(spec.pick);
      if (at < 0) {
        problems.push(`${lifecycle}: no ${variant.name} message is the one picked for ${spec.name || "the sample"}`);
        return;
      }
      wanted = String(records[at].seq);
      records = variant.name === "slack-bot" ? records.slice(0, at + 1) : [records[at]];
    }
    const html = path.join(OUT, "pages", lifecycle, `${variant.name}.html`);
    fs.writeFileSync(html, page(variant, lifecycle, records));

    const tab = await context.newPage();
    const where = `${lifecycle}/${variant.name}`;
    tab.on("pageerror", (err) => problems.push(`${where}: page threw: ${err.message}`));
    tab.on("console", (msg) => {
      if (msg.type() === "error") problems.push(`${where}: console error: ${msg.text()}`);
    });
    tab.on("requestfailed", (req) => {
      if (req.url().startsWith("file:")) problems.push(`${where}: could not load ${req.url()}`);
    });
    try {
      await tab.goto(pathToFileURL(html).href);
      await tab.evaluate(() => document.fonts.ready);
      if ((await tab.evaluate(() => document.body.dataset.ready)) !== "1") {
        problems.push(`${where}: the page did not finish drawing`);
        return;
      }
      // One capture of the whole page, cut into one picture per message: far quicker than a
      // capture per element. `content` is the message without its avatar and name line.
      let shots = await tab.evaluate(() =>
        [...document.querySelectorAll("section.shot")].map((el) => {
          const box = (e) => {
            const r = e.getBoundingClientRect();
            return { x: r.x + window.scrollX, y: r.y + window.scrollY, width: r.width, height: r.height };
          };
          const inner = el.querySelector(".card") || el.querySelector(".content");
          const content = box(inner);
          return { seq: el.dataset.seq, replies: Number(el.dataset.replies || 0), box: box(el), content: { ...content, y: content.y + 20, height: content.height - 20 } };
        })
      );
      if (wanted) shots = shots.filter((shot) => shot.seq === wanted);
      const capture = PNG.sync.read(await tab.screenshot({ fullPage: true, animations: "disabled" }));
      for (const shot of shots) {
        const name = /^\d+$/.test(shot.seq) ? `${pad(shot.seq)}-${variant.name}.png` : `${shot.seq}-${variant.name}.png`;
        const picture = crop(capture, shot.box, opts.scale);
        fs.writeFileSync(path.join(OUT, lifecycle, name), PNG.sync.write(picture));
        pictures += 1;
        const ink = inked(capture, shot.content, opts.scale);
        if (shot.content.height < 16 || ink < 0.005) problems.push(`${where}: ${name} is blank (${(ink * 100).toFixed(2)}% drawn)`);
        if (/^\d+$/.test(shot.seq)) entry.rows.get(Number(shot.seq)).shots[variant.name] = `${lifecycle}/${name}`;
        else entry.threads.push({ file: `${lifecycle}/${name}`, replies: shot.replies });
      }
    } finally {
      await tab.close();
    }
  };
  try {
    // Two pages at a time: Chromium draws while Node cuts and encodes the last capture.
    const queue = [...jobs];
    const worker = async () => {
      while (queue.length) await draw(queue.shift());
    };
    await Promise.all([worker(), worker()]);
  } finally {
    await browser.close();
  }
  for (const entry of index) entry.threads.sort((a, b) => a.file.localeCompare(b.file));

  fs.writeFileSync(path.join(OUT, "index.html"), indexPage(index));
  if (opts.docs) docs(opts.docs, index, problems);
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  console.log(`preview: ${pictures} pictures of ${lifecycles.length} lifecycles in ${seconds} s → ${path.relative(process.cwd(), path.join(OUT, "index.html")) || "index.html"}`);
  if (problems.length) {
    for (const problem of problems) console.error(`preview: ${problem}`);
    process.exit(1);
  }
}

function docs(dir, index, problems) {
  fs.mkdirSync(dir, { recursive: true });
  for (const spec of DOCS) {
    const entry = index.find((e) => e.lifecycle === spec.lifecycle);
    for (const variant of spec.variants) {
      const row = entry && [...entry.rows.values()].find((r) => spec.pick(r.record) && r.shots[variant]);
      if (!row) {
        problems.push(`docs: no ${variant} picture for ${spec.name} in ${spec.lifecycle}`);
        continue;
      }
      fs.copyFileSync(path.join(OUT, row.shots[variant]), path.join(dir, `${spec.name}-${variant}.png`));
    }
  }
}

function indexPage(index) {
  const payloadsHref = path.relative(OUT, PAYLOADS).split(path.sep).join("/");
  const chip = (record) =>
    record.status === "filtered"
      ? `<span class="chip filtered">filtered · not sent</span>`
      : `<span class="chip ${esc(record.severity)}">${esc(record.stage)} · ${esc(record.severity)}</span>`;
  const cell = (row, variant) => {
    const shot = row.shots[variant.name];
    if (shot) return `<td><a href="${esc(shot)}"><img loading="lazy" src="${esc(shot)}" alt="${esc(variant.label)}: ${esc(row.record.headline)}"></a></td>`;
    return `<td class="none">${row.record.status === "filtered" ? "—" : ""}</td>`;
  };
  const sections = index.map((entry) => {
    const rows = [...entry.rows.values()].sort((a, b) => a.record.seq - b.record.seq);
    const threads = entry.threads.map((t) => `<a href="${esc(t.file)}"><img loading="lazy" src="${esc(t.file)}" alt="a whole thread in bot mode"></a>`).join("");
    return `<section id="${esc(entry.lifecycle)}"><h2>${esc(entry.lifecycle)}</h2>
<p class="links">pages: ${VARIANTS.map((v) => `<a href="pages/${esc(entry.lifecycle)}/${v.name}.html">${esc(v.label)}</a>`).join(" · ")}
 · payloads: ${["slack", "slack-bot", "teams", "teams-messagecard", "sns"].map((d) => `<a href="${esc(payloadsHref)}/${d}/${esc(entry.lifecycle)}.jsonl">${d}</a>`).join(" · ")}</p>
<table><thead><tr><th>#</th>${VARIANTS.map((v) => `<th>${esc(v.label)}</th>`).join("")}</tr></thead><tbody>
${rows.map((row) => `<tr><th><div class="seq">${pad(row.record.seq)}</div><div class="fixture">${esc(row.record.fixture)}</div>${chip(row.record)}<div class="headline">${esc(row.record.headline)}</div></th>${VARIANTS.map((v) => cell(row, v)).join("")}</tr>`).join("\n")}
</tbody></table>
${threads ? `<h3>The whole thread (bot mode)</h3><div class="threads">${threads}</div>` : ""}</section>`;
  });
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>flagger-relay: every message, as it is shown</title>
<style>
body { font: 14px/1.4 system-ui, "Open Sans", sans-serif; margin: 24px; color: #222; }
nav a { margin-right: 12px; }
table { border-collapse: collapse; }
th, td { border-top: 1px solid #ddd; padding: 8px; vertical-align: top; text-align: left; }
tbody th { width: 180px; font-weight: normal; }
td img { width: 360px; display: block; }
td.none { color: #999; text-align: center; width: 360px; }
.seq { font-size: 20px; font-weight: 700; }
.fixture { color: #666; font-size: 12px; }
.headline { margin-top: 4px; }
.chip { display: inline-block; border-radius: 10px; padding: 0 8px; font-size: 12px; margin-top: 4px; }
.chip.info { background: #e3f6ec; } .chip.warning { background: #fdf3d8; } .chip.error { background: #fbe3ea; } .chip.filtered { background: #eee; color: #666; }
.threads img { width: 480px; margin-right: 16px; }
.links { font-size: 12px; color: #666; }
</style></head><body>
<h1>Every message, as its destination shows it</h1>
<p>Each recorded lifecycle through the functions in dry run, in the order Flagger sent it. Slack and Teams are drawn
here the way their clients lay them out (Teams with Microsoft's Adaptive Card renderer); bot mode shows the thread
each event adds to. Click a picture for full size.</p>
<nav>${index.map((e) => `<a href="#${esc(e.lifecycle)}">${esc(e.lifecycle)}</a>`).join("")}</nav>
${sections.join("\n")}
</body></html>
`;
}

main().catch((err) => {
  console.error(`preview: ${err.message}`);
  process.exit(1);
});
