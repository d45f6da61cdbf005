// The shapes of everything the Slack function sends, in Slack's own types.
//
// Slack's argument types accept any `{type: string}` as a block, so each shape is narrowed
// to the blocks Slack documents (`KnownBlock`), inside attachments too, and requires the
// top-level `text`: Slack shows it in notifications and to screen readers.
import type { KnownBlock, MessageAttachment } from "@slack/types";
import type { ChatPostMessageArguments, ChatUpdateArguments } from "@slack/web-api";
import type { IncomingWebhookSendArguments } from "@slack/webhook";

type Attachment = Omit<MessageAttachment, "blocks"> & { blocks?: KnownBlock[] };

type Documented = { text: string; blocks?: KnownBlock[]; attachments?: Attachment[] };

/** The body posted to an incoming webhook (`https://hooks.slack.com/services/…`). */
export type WebhookMessage = IncomingWebhookSendArguments & Documented;

/** The Web API methods the bot calls, by the name Slack gives them. */
export type WebApi = {
  "chat.postMessage": ChatPostMessageArguments & Documented;
  "chat.update": ChatUpdateArguments & Documented;
};
