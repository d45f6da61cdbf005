// Teams messages, one per line, as posted to a Workflows (Power Automate) webhook: a message
// envelope whose attachments are Adaptive Cards. Each card is parsed by Microsoft's
// adaptivecards library at version 1.4, the newest Teams renders in this path; any parse or
// validation event fails the line. The library ignores properties it does not know, which
// Teams ignores too, so a misspelt property would vanish unseen: those are reported here.
//
// A legacy Office 365 connector MessageCard is not an Adaptive Card and is refused.
"use strict";
const AC = require("adaptivecards/dist/adaptivecards.js");
const { readPayloads, Problems, pathText } = require("./lines");

const CARD = "application/vnd.microsoft.card.adaptive";
// Teams refuses a message larger than this (bytes of the whole posted body).
const MAX_BYTES = 28000;
const VERSION = AC.Versions.v1_4;

const problems = new Problems("teams");
const { total, payloads } = readPayloads(problems);
const known = knownProperties();

for (const { line, payload, text } of payloads) {
  const complain = (at, message) => problems.add(line, pathText(at), message);
  if (payload === null || typeof payload !== "object" || Array.isArray(payload)) {
    complain([], "not a JSON object");
    continue;
  }
  if (payload["@type"] === "MessageCard") {
    complain([], "a legacy connector MessageCard, not an Adaptive Card: only Workflows messages are checked here");
    continue;
  }
  const size = Buffer.byteLength(text, "utf8");
  if (size > MAX_BYTES) complain([], `${size} bytes, Teams accepts ${MAX_BYTES}`);
  envelope(payload, complain);
}
problems.finish(total);

/** `{"type":"message","attachments":[{"contentType":CARD,"contentUrl":null,"content":card}]}` */
function envelope(message, complain) {
  if (message.type !== "message") complain(["type"], `${JSON.stringify(message.type)}, a Workflows message is "message"`);
  for (const key of Object.keys(message)) {
    if (key !== "type" && key !== "attachments") complain([key], "not part of a Workflows message");
  }
  if (!Array.isArray(message.attachments) || message.attachments.length === 0) {
    complain(["attachments"], "a Workflows message carries its cards in attachments");
    return;
  }
  message.attachments.forEach((attachment, i) => {
    const at = ["attachments", i];
    if (!attachment || typeof attachment !== "object") return complain(at, "not an object");
    if (attachment.contentType !== CARD) complain([...at, "contentType"], `${JSON.stringify(attachment.contentType)}, an Adaptive Card is ${CARD}`);
    if (attachment.contentUrl != null) complain([...at, "contentUrl"], "an inline card has no contentUrl (null)");
    for (const key of Object.keys(attachment)) {
      if (!["contentType", "contentUrl", "content"].includes(key)) complain([...at, key], "not part of a card attachment");
    }
    card(attachment.content, [...at, "content"], complain);
  });
}

function card(content, at, complain) {
  if (!content || typeof content !== "object" || content.type !== "AdaptiveCard") {
    return complain(at, "the attachment's content is not an AdaptiveCard");
  }
  const version = AC.Version.parse(content.version, new AC.SerializationContext(VERSION));
  if (!version || !version.isValid) complain([...at, "version"], `${JSON.stringify(content.version)} is not a card version`);
  else if (version.compareTo(VERSION) > 0) complain([...at, "version"], `${content.version}: Teams renders Adaptive Cards up to ${VERSION}`);

  const context = new AC.SerializationContext(VERSION);
  const parsed = new AC.AdaptiveCard();
  parsed.parse(content, context);
  for (let i = 0; i < context.eventCount; i++) complain(at, `adaptivecards ${VERSION}: ${context.getEventAt(i).message}`);
  for (const event of parsed.validateProperties().validationEvents) complain(at, `adaptivecards ${VERSION}: ${event.message}`);
  unknownProperties(content, at, complain);
}

/** Property names of each typed object at version 1.4, from the library's own schemas. */
function knownProperties() {
  const names = (object) => {
    const schema = object.getSchema();
    const found = [];
    for (let i = 0; i < schema.getCount(); i++) found.push(schema.getItemAt(i).name);
    return found;
  };
  const known = new Map();
  for (const registry of [AC.GlobalRegistry.elements, AC.GlobalRegistry.actions]) {
    for (let i = 0; i < registry.getItemCount(); i++) {
      const { typeName, objectType } = registry.getItemAt(i);
      known.set(typeName, new Set(names(new objectType())));
    }
  }
  known.set("AdaptiveCard", new Set(names(new AC.AdaptiveCard())));
  known.set("Column", new Set(names(new AC.Column())));
  // Collections the library parses by hand rather than through its schemas.
  const collections = {
    AdaptiveCard: ["body", "actions", "msteams"],
    Container: ["items"],
    Column: ["items"],
    ColumnSet: ["columns"],
    ActionSet: ["actions"],
    RichTextBlock: ["inlines"],
    "Action.ShowCard": ["card"],
  };
  for (const [type, extra] of Object.entries(collections)) extra.forEach((name) => known.get(type).add(name));
  for (const properties of known.values()) properties.add("fallback");
  known.set("Fact", new Set(names(new AC.Fact())));
  known.set("BackgroundImage", new Set(names(new AC.BackgroundImage())));
  return known;
}

function unknownProperties(node, at, complain, shape) {
  if (Array.isArray(node)) return node.forEach((item, i) => unknownProperties(item, [...at, i], complain, shape));
  if (!node || typeof node !== "object") return;
  const type = shape || node.type;
  const properties = known.get(type);
  if (!properties) return;
  for (const [key, value] of Object.entries(node)) {
    if (!properties.has(key)) {
      complain([...at, key], `not a property of ${type} in Adaptive Cards ${VERSION}: Teams ignores it`);
      continue;
    }
    if (type === "FactSet" && key === "facts") unknownProperties(value, [...at, key], complain, "Fact");
    else if (key === "backgroundImage" && typeof value === "object") unknownProperties(value, [...at, key], complain, "BackgroundImage");
    else if (key === "msteams") msteams(value, [...at, key], complain);
    else if (typeof value === "object") unknownProperties(value, [...at, key], complain);
  }
}

/** Teams' own extension of the card: full width and mentions. */
function msteams(value, at, complain) {
  if (!value || typeof value !== "object") return complain(at, "not an object");
  for (const key of Object.keys(value)) if (key !== "width" && key !== "entities") complain([...at, key], "not a Teams card property");
  if ("width" in value && value.width !== "Full") complain([...at, "width"], `${JSON.stringify(value.width)}, Teams knows only "Full"`);
}
