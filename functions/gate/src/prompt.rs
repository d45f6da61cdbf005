//! The prompt: a Slack message (Block Kit) that says what waits for approval, with the
//! rollout's facts and the buttons **Approve** and **Roll back**; once decided, the same message
//! saying who decided what and when, without buttons. Pure: view in, `chat.postMessage` /
//! `chat.update` body out.

use serde::Serialize;

use flagger_relay_core::event::Timestamp;
use flagger_relay_core::text::{truncate, truncate_escaped};
use flagger_relay_slack::render::{
    BUTTON_TEXT_LIMIT, Block, Button, CONTEXT_LIMIT, Confirm, FIELD_LIMIT, FIELDS_LIMIT,
    HEADER_LIMIT, SECTION_LIMIT, TEXT_LIMIT, Text, escape,
};

use crate::slack::{APPROVE, ROLLBACK, Target};
use crate::state::{Decided, Gate, PromptStatus, Via};

/// The body of `chat.postMessage` or `chat.update`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PromptMessage {
    pub channel: String,
    /// `chat.update` only: the prompt to replace.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ts: Option<String>,
    /// The rollout's thread, when bot threads are on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub thread_ts: Option<String>,
    /// A prompt in a thread is shown in the channel too: it waits for someone to act.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub reply_broadcast: bool,
    pub text: String,
    pub blocks: Vec<Block>,
}

/// Everything a prompt shows.
#[derive(Debug, Clone, PartialEq)]
pub struct PromptView<'v> {
    pub name: &'v str,
    pub namespace: &'v str,
    pub revision: &'v str,
    pub gate: Gate,
    /// Labelled values: the canary's phase, traffic, cluster …
    pub facts: &'v [(String, String)],
    pub status: PromptStatus<'v>,
    /// Epoch ms of the gate's first closed call.
    pub since: i64,
    /// Who may decide, as Slack mentions.
    pub approvers: &'v str,
    /// Flagger calls the rollback hook for this canary, so a Roll back button can work.
    pub rollback_hook: bool,
}

fn plain(text: &str, limit: usize) -> Text {
    // plain_text is not parsed for mentions or links: no escaping.
    Text::PlainText {
        text: truncate(text, limit).into_owned(),
        emoji: true,
    }
}

fn mrkdwn(text: impl AsRef<str>, limit: usize) -> Text {
    Text::Mrkdwn {
        text: truncate_escaped(text.as_ref(), limit).into_owned(),
    }
}

/// `2025-11-24 15:00:00 UTC`.
pub fn display_time(epoch_ms: i64) -> String {
    Timestamp(epoch_ms)
        .to_display()
        .unwrap_or_else(|| epoch_ms.to_string())
}

/// Who decided, in mrkdwn: a Slack user as a mention; otherwise the name given, marked with
/// how little it proves.
pub fn who(decided: &Decided) -> String {
    match decided.via {
        Via::Slack => format!("<@{}>", escape(&decided.by)),
        Via::Api => format!("`{}` (decisions API)", escape(&decided.by)),
        Via::Link => format!(
            "{} (signed link; the name is not verified)",
            escape(&decided.by)
        ),
    }
}

/// What the gate holds back, as a sentence.
pub fn holding(view: &PromptView<'_>) -> String {
    let canary = format!("*{}.{}*", view.name, view.namespace);
    match view.gate {
        Gate::ConfirmRollout => format!(
            "Flagger holds a new revision of {canary} until someone approves its rollout. Running now: revision `{}`.",
            view.revision
        ),
        Gate::ConfirmTrafficIncrease => format!(
            "Flagger holds the next traffic increase of {canary} revision `{}` until someone approves it.",
            view.revision
        ),
        Gate::ConfirmPromotion => format!(
            "Flagger holds the promotion of {canary} revision `{}` until someone approves it.",
            view.revision
        ),
    }
}

pub fn headline(view: &PromptView<'_>) -> String {
    let canary = format!("{}.{}", view.name, view.namespace);
    let what = view.gate.waits_for();
    match view.status {
        PromptStatus::Waiting { .. } => format!("{canary}: {what} waits for approval"),
        PromptStatus::Approved(_) => format!("{canary}: {what} approved"),
        PromptStatus::RollbackRequested(_) => format!("{canary}: rollback requested"),
    }
}

/// The prompt as posted (`ts` `None`) or as an update of the message at `ts`.
pub fn message(
    view: &PromptView<'_>,
    channel: &str,
    ts: Option<&str>,
    thread_ts: Option<&str>,
) -> PromptMessage {
    let headline = headline(view);
    let icon = match view.status {
        PromptStatus::Waiting { .. } => "⏸️",
        PromptStatus::Approved(_) => "✅",
        PromptStatus::RollbackRequested(_) => "⏪",
    };
    let mut blocks = vec![
        Block::Header {
            text: plain(&format!("{icon} {headline}"), HEADER_LIMIT),
        },
        Block::Section {
            text: Some(mrkdwn(holding(view), SECTION_LIMIT)),
            fields: Vec::new(),
        },
    ];
    let mut fields = vec![
        format!("*Gate*\n{}", view.gate.as_str()),
        format!("*Revision*\n{}", escape(view.revision)),
    ];
    fields.extend(
        view.facts
            .iter()
            .map(|(label, value)| format!("*{}*\n{}", escape(label), escape(value))),
    );
    blocks.push(Block::Section {
        text: None,
        fields: fields
            .into_iter()
            .take(FIELDS_LIMIT)
            .map(|field| mrkdwn(field, FIELD_LIMIT))
            .collect(),
    });
    let since = format!("Waiting since {}", display_time(view.since));
    match view.status {
        PromptStatus::Waiting { held } => {
            let target = Target {
                rollout: format!("{}/{}", view.namespace, view.name),
                revision: view.revision.to_owned(),
                gate: view.gate,
            };
            let mut elements = vec![Button {
                action_id: Some(APPROVE),
                value: Some(target.value()),
                style: Some("primary"),
                ..Button::new(plain("Approve", BUTTON_TEXT_LIMIT))
            }];
            let rollback = view.gate.can_roll_back() && view.rollback_hook;
            if rollback {
                elements.push(Button {
                    action_id: Some(ROLLBACK),
                    value: Some(target.value()),
                    style: Some("danger"),
                    confirm: Some(Confirm {
                        title: plain("Roll back?", 100),
                        text: mrkdwn(
                            format!(
                                "Flagger will route all traffic back to the primary and stop the analysis of {}.{} revision `{}`.",
                                view.name,
                                view.namespace,
                                escape(view.revision)
                            ),
                            300,
                        ),
                        confirm: plain("Roll back", 30),
                        deny: plain("Cancel", 30),
                        style: "danger",
                    }),
                    ..Button::new(plain("Roll back", BUTTON_TEXT_LIMIT))
                });
            }
            blocks.push(Block::Actions {
                block_id: Some(format!("gate:{}", view.gate)),
                elements,
            });
            let mut context = vec![format!("{since}  ·  Who can decide: {}", view.approvers)];
            if let Some(held) = held {
                context.push(format!(
                    "Held by {} at {}",
                    who(held),
                    display_time(held.at)
                ));
            }
            if view.gate.can_roll_back() && !rollback {
                context.push(
                    "No Roll back button: this canary has no `rollback` webhook pointing at the gate."
                        .to_owned(),
                );
            }
            blocks.push(Block::Context {
                elements: context
                    .into_iter()
                    .map(|text| mrkdwn(text, CONTEXT_LIMIT))
                    .collect(),
            });
        }
        PromptStatus::Approved(decided) | PromptStatus::RollbackRequested(decided) => {
            let (what, then) = match view.status {
                PromptStatus::Approved(_) => (
                    "Approved",
                    format!(
                        "Flagger goes on with the {} at its next check.",
                        view.gate.waits_for()
                    ),
                ),
                _ => (
                    "Rollback requested",
                    "Flagger rolls the canary back at its next check.".to_owned(),
                ),
            };
            blocks.push(Block::Section {
                text: Some(mrkdwn(
                    format!(
                        "*{what}* by {} at {}. {then}",
                        who(decided),
                        display_time(decided.at)
                    ),
                    SECTION_LIMIT,
                )),
                fields: Vec::new(),
            });
            blocks.push(Block::Context {
                elements: vec![mrkdwn(since, CONTEXT_LIMIT)],
            });
        }
    }
    let text = format!("{headline} (revision {})", view.revision);
    PromptMessage {
        channel: channel.to_owned(),
        ts: ts.map(str::to_owned),
        thread_ts: thread_ts.map(str::to_owned),
        reply_broadcast: thread_ts.is_some() && ts.is_none(),
        text: truncate_escaped(&escape(&text), TEXT_LIMIT).into_owned(),
        blocks,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view<'v>(status: PromptStatus<'v>, facts: &'v [(String, String)]) -> PromptView<'v> {
        PromptView {
            name: "podinfo",
            namespace: "test",
            revision: "bd5c8f7946",
            gate: Gate::ConfirmPromotion,
            facts,
            status,
            since: 1_764_018_601_918,
            approvers: "<@U0ALICE>",
            rollback_hook: true,
        }
    }

    #[test]
    fn a_waiting_prompt_has_both_buttons_carrying_the_revision() {
        let message = message(
            &view(PromptStatus::Waiting { held: None }, &[]),
            "C0RELAY",
            None,
            None,
        );
        let json = serde_json::to_value(&message).unwrap();
        let buttons = json["blocks"][3]["elements"].as_array().unwrap();
        assert_eq!(buttons.len(), 2);
        assert_eq!(buttons[0]["action_id"], APPROVE);
        assert_eq!(buttons[1]["action_id"], ROLLBACK);
        let value: Target = serde_json::from_str(buttons[0]["value"].as_str().unwrap()).unwrap();
        assert_eq!(
            value,
            Target {
                rollout: "test/podinfo".into(),
                revision: "bd5c8f7946".into(),
                gate: Gate::ConfirmPromotion
            }
        );
        assert_eq!(
            message.text,
            "podinfo.test: promotion waits for approval (revision bd5c8f7946)"
        );
    }

    #[test]
    fn a_decided_prompt_says_who_and_when_and_has_no_buttons() {
        let decided = Decided {
            by: "U0ALICE".into(),
            name: Some("alice".into()),
            via: Via::Slack,
            at: 1_764_018_700_000,
        };
        let message = message(
            &view(PromptStatus::Approved(&decided), &[]),
            "C0RELAY",
            Some("1764000000.000100"),
            None,
        );
        let json = serde_json::to_string(&message).unwrap();
        assert!(!json.contains("\"actions\""), "{json}");
        assert!(
            json.contains("*Approved* by <@U0ALICE> at 2025-11-24 21:11:40 UTC"),
            "{json}"
        );
        assert_eq!(message.ts.as_deref(), Some("1764000000.000100"));
    }

    #[test]
    fn names_given_outside_slack_are_escaped_and_marked() {
        let decided = Decided {
            by: "<!channel> ci".into(),
            name: None,
            via: Via::Link,
            at: 0,
        };
        assert_eq!(
            who(&decided),
            "&lt;!channel&gt; ci (signed link; the name is not verified)"
        );
    }

    #[test]
    fn no_rollback_button_without_a_rollback_hook_or_before_a_rollout() {
        let mut waiting = view(PromptStatus::Waiting { held: None }, &[]);
        waiting.rollback_hook = false;
        let json = serde_json::to_string(&message(&waiting, "C", None, None)).unwrap();
        assert!(
            !json.contains(ROLLBACK) && json.contains("no `rollback` webhook"),
            "{json}"
        );
        waiting.rollback_hook = true;
        waiting.gate = Gate::ConfirmRollout;
        let json = serde_json::to_string(&message(&waiting, "C", None, None)).unwrap();
        assert!(
            !json.contains(ROLLBACK) && !json.contains("no `rollback` webhook"),
            "{json}"
        );
    }
}
