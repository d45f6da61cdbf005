// The limits Slack enforces when it receives a message, which its TypeScript types cannot say:
// Slack answers `invalid_blocks` (or truncates) when a message breaks one. From Slack's Block
// Kit reference; lengths are in characters.
"use strict";

const MESSAGE_BLOCKS = 50;
const TEXT = 40000;
const BLOCK_ID = 255;
const HEADER_TEXT = 150;
const SECTION_TEXT = 3000;
const SECTION_FIELDS = 10;
const FIELD_TEXT = 2000;
const CONTEXT_ELEMENTS = 10;
const ACTIONS_ELEMENTS = 25;
const BUTTON_TEXT = 75;
const BUTTON_URL = 3000;
const BUTTON_VALUE = 2000;
const ACTION_ID = 255;

const length = (s) => [...s].length;

/** Every broken limit of one message, as `[path, problem]`. */
function blockKitLimits(message) {
  const found = [];
  const complain = (at, text) => found.push([at, text]);
  const tooLong = (at, value, limit) => {
    if (typeof value === "string" && length(value) > limit) complain(at, `${length(value)} characters, Slack allows ${limit}`);
  };

  if (typeof message !== "object" || message === null) return found;
  tooLong(["text"], message.text, TEXT);
  if (typeof message.text === "string" && message.text.trim() === "") complain(["text"], "empty: notifications and screen readers show nothing");

  const lists = [];
  if (Array.isArray(message.blocks)) lists.push([["blocks"], message.blocks]);
  (Array.isArray(message.attachments) ? message.attachments : []).forEach((attachment, i) => {
    if (attachment && Array.isArray(attachment.blocks)) lists.push([["attachments", i, "blocks"], attachment.blocks]);
  });
  const count = lists.reduce((n, [, blocks]) => n + blocks.length, 0);
  if (count > MESSAGE_BLOCKS) complain([], `${count} blocks, Slack allows ${MESSAGE_BLOCKS} in one message`);

  const blockIds = new Set();
  for (const [where, blocks] of lists) {
    blocks.forEach((block, i) => {
      if (!block || typeof block !== "object") return;
      const at = [...where, i];
      if (typeof block.block_id === "string") {
        tooLong([...at, "block_id"], block.block_id, BLOCK_ID);
        if (blockIds.has(block.block_id)) complain([...at, "block_id"], `${JSON.stringify(block.block_id)} is used twice in the message`);
        blockIds.add(block.block_id);
      }
      textObjects(block, at, complain);
      switch (block.type) {
        case "header":
          tooLong([...at, "text", "text"], block.text && block.text.text, HEADER_TEXT);
          break;
        case "section":
          tooLong([...at, "text", "text"], block.text && block.text.text, SECTION_TEXT);
          if (!block.text && !(Array.isArray(block.fields) && block.fields.length)) complain(at, "a section needs text or fields");
          if (Array.isArray(block.fields)) {
            if (block.fields.length > SECTION_FIELDS) complain([...at, "fields"], `${block.fields.length} fields, Slack allows ${SECTION_FIELDS}`);
            block.fields.forEach((f, j) => tooLong([...at, "fields", j, "text"], f && f.text, FIELD_TEXT));
          }
          break;
        case "context":
          if (Array.isArray(block.elements) && (block.elements.length === 0 || block.elements.length > CONTEXT_ELEMENTS)) {
            complain([...at, "elements"], `${block.elements.length} elements, Slack allows 1 to ${CONTEXT_ELEMENTS}`);
          }
          break;
        case "actions":
          if (Array.isArray(block.elements)) {
            if (block.elements.length === 0 || block.elements.length > ACTIONS_ELEMENTS) {
              complain([...at, "elements"], `${block.elements.length} elements, Slack allows 1 to ${ACTIONS_ELEMENTS}`);
            }
            block.elements.forEach((e, j) => button(e, [...at, "elements", j], tooLong));
          }
          break;
      }
      if (block.accessory) button(block.accessory, [...at, "accessory"], tooLong);
    });
  }
  return found;
}

function button(element, at, tooLong) {
  if (!element || element.type !== "button") return;
  tooLong([...at, "text", "text"], element.text && element.text.text, BUTTON_TEXT);
  tooLong([...at, "url"], element.url, BUTTON_URL);
  tooLong([...at, "value"], element.value, BUTTON_VALUE);
  tooLong([...at, "action_id"], element.action_id, ACTION_ID);
}

/** Slack refuses a text object whose text is empty, wherever it is. */
function textObjects(node, at, complain) {
  if (Array.isArray(node)) return node.forEach((n, i) => textObjects(n, [...at, i], complain));
  if (!node || typeof node !== "object") return;
  if ((node.type === "plain_text" || node.type === "mrkdwn") && typeof node.text === "string" && node.text.length === 0) {
    complain([...at, "text"], `empty ${node.type} text: Slack refuses the message`);
  }
  for (const [key, value] of Object.entries(node)) if (typeof value === "object") textObjects(value, [...at, key], complain);
}

module.exports = { blockKitLimits };
