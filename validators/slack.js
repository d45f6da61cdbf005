// Slack payloads, one per line: a webhook message (`{text, blocks, attachments, …}`) or a Web
// API call (`{"method": "chat.postMessage" | "chat.update", "arguments": {…}}`).
//
// Every payload becomes one typed constant of one TypeScript program, checked once against
// Slack's own types (./slack-shapes.ts); then the limits Slack enforces at run time but its
// types cannot express (text lengths, counts) are checked on the JSON itself.
"use strict";
const path = require("path");
const ts = require("typescript");
const { readPayloads, Problems, pathText } = require("./lines");
const { blockKitLimits } = require("./slack-limits");

const METHODS = ["chat.postMessage", "chat.update"];
const problems = new Problems("slack");
const { total, payloads } = readPayloads(problems);

// What each line is, and what it sends: the webhook body itself, or a method's arguments.
const typed = [];
for (const { line, payload } of payloads) {
  if (payload === null || typeof payload !== "object" || Array.isArray(payload)) {
    problems.add(line, "", "not a JSON object");
    continue;
  }
  if ("method" in payload) {
    const { method, arguments: args, ...rest } = payload;
    if (!METHODS.includes(method)) {
      problems.add(line, "method", `${JSON.stringify(method)} is not one of ${METHODS.join(", ")}`);
    } else if (Object.keys(rest).length > 0 || args === undefined) {
      problems.add(line, "", 'a Web API call is {"method": …, "arguments": {…}} and nothing else');
    } else {
      // TypeScript names the last member of a union that failed, rarely the key that is missing.
      if (method === "chat.update" && args && typeof args.ts !== "string") {
        problems.add(line, "arguments.ts", "chat.update needs the ts of the message it replaces");
      }
      typed.push({ line, type: `WebApi[${JSON.stringify(method)}]`, message: args, where: ["arguments"] });
    }
  } else {
    typed.push({ line, type: "WebhookMessage", message: payload, where: [] });
  }
}

typeCheck(typed);
for (const { line, message, where } of typed) {
  for (const [at, text] of blockKitLimits(message)) problems.add(line, pathText([...where, ...at]), text);
}
problems.finish(total);

function typeCheck(entries) {
  if (entries.length === 0) return;
  const file = path.join(__dirname, "payloads.generated.ts");
  const header = 'import type { WebhookMessage, WebApi } from "./slack-shapes";\n';
  // One payload per source line: a diagnostic's line number says whose it is.
  const source = header + entries.map((e, i) => `export const p${i}: ${e.type} = ${JSON.stringify(e.message)};`).join("\n") + "\n";
  const options = {
    strict: true,
    noEmit: true,
    skipLibCheck: true,
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    // Slack's webhook package names fetch types that come with Node's; found here, wherever
    // the validator is run from.
    types: ["node"],
    typeRoots: [path.join(__dirname, "node_modules", "@types")],
  };
  const host = ts.createCompilerHost(options);
  const generated = ts.createSourceFile(file, source, ts.ScriptTarget.ES2022, true);
  const { getSourceFile, fileExists, readFile } = host;
  host.getSourceFile = (name, ...rest) => (name === file ? generated : getSourceFile.call(host, name, ...rest));
  host.fileExists = (name) => name === file || fileExists.call(host, name);
  host.readFile = (name) => (name === file ? source : readFile.call(host, name));
  const program = ts.createProgram([file], options, host);
  for (const d of ts.getPreEmitDiagnostics(program)) {
    const message = ts.flattenDiagnosticMessageText(d.messageText, "\n").split("\n");
    if (d.file !== generated || d.start === undefined) {
      // The shapes themselves or Slack's packages: the checker cannot be trusted.
      console.error(`slack: the checker does not compile: ${message.join(" ")}`);
      process.exit(2);
    }
    const entry = entries[generated.getLineAndCharacterOfPosition(d.start).line - 1];
    const at = jsonPath(generated, d.start);
    // The last lines of TypeScript's chain name the property at fault; the first, the whole type.
    const text = message.length > 3 ? [message[0], "…", ...message.slice(-2)] : message;
    problems.add(entry.line, pathText([...entry.where, ...at]), text.map((t) => t.trim()).join(" ").slice(0, 600));
  }
}

/** The JSON path of the innermost property or element at `position`. */
function jsonPath(sourceFile, position) {
  let node = sourceFile;
  for (;;) {
    const child = node.getChildren(sourceFile).find((c) => c.getStart(sourceFile) <= position && position < c.getEnd());
    if (!child) break;
    node = child;
  }
  const at = [];
  for (; node && !ts.isVariableDeclaration(node); node = node.parent) {
    const parent = node.parent;
    if (!parent) break;
    if (ts.isPropertyAssignment(parent) && parent.initializer === node) at.unshift(propertyName(parent));
    else if (ts.isPropertyAssignment(node) && parent && ts.isObjectLiteralExpression(parent) && at.length === 0) at.unshift(propertyName(node));
    else if (ts.isArrayLiteralExpression(parent)) at.unshift(parent.elements.indexOf(node));
  }
  return at;
}

function propertyName(assignment) {
  const name = assignment.name;
  return ts.isStringLiteral(name) || ts.isIdentifier(name) ? name.text : name.getText();
}
