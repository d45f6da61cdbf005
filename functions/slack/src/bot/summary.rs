//! The bodies of the Web API calls: a rollout's parent message (a summary kept up to date with
//! `chat.update`), the replies in its thread, and the plain message posted when there is no
//! thread to post in. Pure: notification, classification and rollout state in, JSON body out.
//!
//! Every message keeps Block Kit inside one attachment, as the webhook messages do, for the
//! colour bar; the top-level `text` is set too, since it is what notifications and
//! screen readers show.

use serde::Serialize;

use flagger_relay_core::alertmanager::AlertStatus;
use flagger_relay_core::present::{Link, Presentation, progress_bar, status};
use flagger_relay_core::text::{truncate, truncate_escaped};
use flagger_relay_core::{Notification, Stage};

use super::rollout::{RolloutState, elapsed, is_outcome, revision};
use crate::render::{
    Attachment, Block, CONTEXT_LIMIT, FIELD_LIMIT, HEADER_LIMIT, SECTION_LIMIT, TEXT_LIMIT, Text,
    color, escape, link_buttons, notification_text,
};

/// Alerts listed in one reply; the rest are counted.
const ALERTS_SHOWN: usize = 10;

/// The body of `chat.postMessage` or `chat.update`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChatMessage {
    /// A channel ID (`C0123ABCD`); `chat.update` needs the ID that `chat.postMessage` returned.
    pub channel: String,
    /// `chat.update` only: the message to replace.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ts: Option<String>,
    /// The parent whose thread this reply goes in.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub thread_ts: Option<String>,
    /// A reply that is also shown in the channel: the outcome of a rollout.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub reply_broadcast: bool,
    /// For notifications and screen readers; Slack shows it only when `blocks` is empty.
    pub text: String,
    /// The title, above the colour bar: shown instead of `text`, never beside it.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub blocks: Vec<Block>,
    pub attachments: Vec<Attachment>,
}

fn mrkdwn(text: impl AsRef<str>, limit: usize) -> Text {
    Text::Mrkdwn {
        text: truncate_escaped(text.as_ref(), limit).into_owned(),
    }
}

/// The parent message of a rollout: who, which revision, where it stands, how far the traffic
/// has moved, how long it has taken, and the configured links. Posted with the rollout's first
/// event; `ts` is the parent's own, to replace it in place with `chat.update`.
pub fn parent(
    notification: &Notification,
    state: &RolloutState,
    channel: &str,
    ts: Option<&str>,
    links: &[Link],
) -> ChatMessage {
    let subject = notification.subject();
    let title = match revision(notification) {
        Some(revision) => format!("{subject} · revision {revision}"),
        None => subject.clone(),
    };
    let header = Block::Header {
        // plain_text is not parsed for mentions or links: no escaping.
        text: Text::PlainText {
            text: truncate(&title, HEADER_LIMIT).into_owned(),
            emoji: true,
        },
    };
    let mut blocks = Vec::new();
    let mut status = format!(
        "{} *{}*",
        status::of_stage(state.stage).0.shortcode(),
        escape(&state.headline)
    );
    // A failed rollout says why: the last check that failed, from the halts before it.
    if let Some(cause) = state
        .cause
        .as_deref()
        .filter(|_| matches!(state.stage, Stage::Failed | Stage::RollingBack))
        .filter(|cause| *cause != state.headline)
    {
        status.push_str(&format!("\n*Why* {}", escape(cause)));
    }
    blocks.push(Block::Section {
        text: Some(mrkdwn(status, SECTION_LIMIT)),
        fields: Vec::new(),
    });
    let mut fields = vec![format!("*Stage*\n{}", state.stage.as_str())];
    if let Some(traffic) = traffic(state) {
        fields.push(format!("*Traffic*\n{traffic}"));
    }
    fields.push(format!("*Elapsed*\n{}", elapsed(state.elapsed_ms())));
    fields.push(format!("*Events*\n{}", state.events));
    blocks.push(Block::Section {
        text: None,
        fields: fields.into_iter().map(|f| mrkdwn(f, FIELD_LIMIT)).collect(),
    });
    if state.latest != state.headline {
        let latest = format!("*Latest* {}", escape(&state.latest));
        blocks.push(Block::Section {
            text: Some(mrkdwn(latest, SECTION_LIMIT)),
            fields: Vec::new(),
        });
    }
    let mut context = Vec::with_capacity(2);
    let mut times = Vec::with_capacity(2);
    if let Some(started) = display_time(state.opened_at) {
        times.push(format!("*Started* {started}"));
    }
    if let Some(updated) =
        display_time(state.updated_at).filter(|_| state.updated_at != state.opened_at)
    {
        times.push(format!("*Updated* {updated}"));
    }
    if !times.is_empty() {
        context.push(mrkdwn(times.join("  ·  "), CONTEXT_LIMIT));
    }
    if let Some(user) = user_metadata(notification) {
        context.push(mrkdwn(user, CONTEXT_LIMIT));
    }
    if !context.is_empty() {
        blocks.push(Block::Context { elements: context });
    }
    blocks.extend(link_buttons(links));
    let text = format!("{title}: {}", state.headline);
    ChatMessage {
        channel: channel.to_owned(),
        ts: ts.map(str::to_owned),
        thread_ts: None,
        reply_broadcast: false,
        text: truncate_escaped(&escape(&text), TEXT_LIMIT).into_owned(),
        blocks: vec![header],
        attachments: vec![Attachment {
            color: color(state.severity),
            blocks,
        }],
    }
}

/// Where the traffic stands, as a bar: the canary's share during the analysis, the primary's
/// during a stepped promotion, the iteration of an A/B or blue/green run; all of it once
/// promoted, none once rolled back.
fn traffic(state: &RolloutState) -> Option<String> {
    match state.stage {
        Stage::Succeeded => return Some(format!("{} promoted", progress_bar(100))),
        Stage::Failed | Stage::RollingBack
            if state.canary_weight.is_some() || state.iteration.is_some() =>
        {
            return Some(format!("{} rolled back", progress_bar(0)));
        }
        _ => {}
    }
    if let Some(weight) = state.primary_weight {
        return Some(format!("{} on primary", progress_bar(weight)));
    }
    if let Some(weight) = state.canary_weight {
        return Some(format!("{} on canary", progress_bar(weight)));
    }
    state
        .iteration
        .filter(|iteration| iteration.total > 0)
        .map(|iteration| {
            let percent =
                iteration.current.min(iteration.total).saturating_mul(100) / iteration.total;
            format!(
                "{} iteration {}/{}",
                progress_bar(percent),
                iteration.current,
                iteration.total
            )
        })
}

/// One event: a reply in the rollout's thread when `thread_ts` is set, otherwise a message of
/// its own. A reply that ends the rollout is broadcast to the channel too. Whoever is
/// mentioned at its severity leads the text; the links follow as buttons.
pub fn event(message: &Presentation<'_>, channel: &str, thread_ts: Option<&str>) -> ChatMessage {
    let (notification, classification) = (message.event, message.classification);
    let subject = notification.subject();
    let headline = classification.headline.clone();
    // In a thread the parent names the canary: a reply leads with what happened. A reply
    // broadcast to the channel (the outcome) is read there too, so it names the canary.
    let broadcast = thread_ts.is_some() && is_outcome(classification.stage);
    let title = if thread_ts.is_some() && !broadcast {
        format!("*{}*", escape(&headline))
    } else {
        format!("*{}*: {}", escape(&subject), escape(&headline))
    };
    let title = Block::Section {
        text: Some(mrkdwn(title, SECTION_LIMIT)),
        fields: Vec::new(),
    };
    let mut blocks = vec![Block::Section {
        text: Some(mrkdwn(body(notification), SECTION_LIMIT)),
        fields: Vec::new(),
    }];
    let mut facts = vec![format!("*Stage* {}", classification.stage.as_str())];
    if let Notification::Canary(event) = notification {
        if let Some(checksum) = event.checksum.as_ref().filter(|_| thread_ts.is_none()) {
            facts.push(format!("*Revision* `{}`", escape(checksum)));
        }
        if let Some(time) = event.metadata.timestamp.and_then(|ts| ts.to_display()) {
            facts.push(format!("*Time* {time}"));
        }
    }
    let mut context = vec![mrkdwn(facts.join("  ·  "), CONTEXT_LIMIT)];
    // In a thread the parent already shows the user's metadata.
    if thread_ts.is_none() {
        context.extend(user_metadata(notification).map(|user| mrkdwn(user, CONTEXT_LIMIT)));
    }
    blocks.push(Block::Context { elements: context });
    blocks.extend(link_buttons(&message.links));
    ChatMessage {
        channel: channel.to_owned(),
        ts: None,
        thread_ts: thread_ts.map(str::to_owned),
        reply_broadcast: broadcast,
        text: notification_text(&message.mentions, &format!("{subject}: {headline}")),
        blocks: vec![title],
        attachments: vec![Attachment {
            color: color(classification.severity),
            blocks,
        }],
    }
}

/// What the notification says beyond its headline: Flagger's message, quoted, or the alerts
/// of a group, one line each.
fn body(notification: &Notification) -> String {
    match notification {
        Notification::Canary(event) => match event.event_message() {
            Some(message) => format!(">{}", escape(message.trim()).replace('\n', "\n>")),
            None => "_Webhook notice without an event message (a gating-hook payload)._".to_owned(),
        },
        Notification::Alerts(group) => {
            let mut lines: Vec<String> = group
                .alerts
                .iter()
                .take(ALERTS_SHOWN)
                .map(|alert| {
                    let status = match alert.status {
                        AlertStatus::Firing => "Firing",
                        AlertStatus::Resolved => "Resolved",
                    };
                    let about = match (alert.labels.get("name"), alert.labels.get("namespace")) {
                        (Some(name), Some(namespace)) => format!("{name}.{namespace}"),
                        _ => alert.alertname().unwrap_or("alert").to_owned(),
                    };
                    match alert.annotations.get("summary") {
                        Some(summary) => {
                            format!("• *{status}* {}: {}", escape(&about), escape(summary))
                        }
                        None => format!("• *{status}* {}", escape(&about)),
                    }
                })
                .collect();
            let more =
                group.alerts.len().saturating_sub(ALERTS_SHOWN) as u64 + group.truncated_alerts;
            if more > 0 {
                lines.push(format!("_{more} more alerts not shown_"));
            }
            lines.join("\n")
        }
    }
}

/// The user metadata of a canary's webhook (`cluster: prod-eu`), escaped, on one line.
fn user_metadata(notification: &Notification) -> Option<String> {
    let Notification::Canary(event) = notification else {
        return None;
    };
    if event.metadata.user.is_empty() {
        return None;
    }
    let pairs: Vec<String> = event
        .metadata
        .user
        .iter()
        .map(|(key, value)| format!("*{}* {}", escape(key), escape(value)))
        .collect();
    Some(pairs.join("  ·  "))
}

fn display_time(epoch_ms: i64) -> Option<String> {
    flagger_relay_core::event::Timestamp(epoch_ms).to_display()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bot::rollout::Step;

    fn event_of(n: &Notification, channel: &str, thread_ts: Option<&str>) -> ChatMessage {
        let classification = n.classify();
        event(&Presentation::new(n, &classification), channel, thread_ts)
    }

    fn notification(message: &str, at: i64) -> Notification {
        let body = serde_json::json!({
            "name": "podinfo", "namespace": "test", "phase": "Progressing", "checksum": "b4d9c6f58d",
            "metadata": {"eventMessage": message, "eventType": "Warning", "timestamp": at.to_string(), "cluster": "<!here>"}
        });
        Notification::from_slice(body.to_string().as_bytes()).unwrap()
    }

    fn state_after(events: &[(&str, i64)]) -> (Notification, RolloutState) {
        let mut state: Option<RolloutState> = None;
        let mut last = None;
        for (message, at) in events {
            let n = notification(message, *at);
            let step = Step::new(&n, &n.classify(), *at);
            state = Some(match state {
                None => RolloutState::open(&step),
                Some(state) => state.advance(&step),
            });
            last = Some(n);
        }
        (last.unwrap(), state.unwrap())
    }

    fn texts(message: &ChatMessage) -> Vec<String> {
        let blocks = message.blocks.iter().chain(&message.attachments[0].blocks);
        crate::render::parsed_texts(&message.text, blocks)
    }

    #[test]
    fn summarises_a_rollout_in_its_parent() {
        let (n, state) = state_after(&[
            (
                "New revision detected! Scaling up podinfo.test",
                1_763_996_520_685,
            ),
            ("Advance podinfo.test canary weight 30", 1_763_996_761_507),
        ]);
        let message = parent(&n, &state, "C0RELAY", None, &[]);
        let json = serde_json::to_value(&message).unwrap();
        assert_eq!(json["channel"], "C0RELAY");
        assert!(
            json.get("ts").is_none()
                && json.get("thread_ts").is_none()
                && json.get("reply_broadcast").is_none()
        );
        let all = json.to_string();
        for expected in [
            "podinfo.test · revision b4d9c6f58d",
            "▓▓▓░░░░░░░ 30% on canary",
            "4m 00s",
            "*Events*\\n2",
        ] {
            assert!(all.contains(expected), "{expected} in {all}");
        }
    }

    #[test]
    fn shows_an_outcome_with_the_latest_event_beside_it() {
        let (n, state) = state_after(&[
            ("Advance podinfo.test canary weight 20", 1_000),
            ("Canary failed! Scaling down podinfo.test", 2_000),
            ("Post-rollout check slack-summary passed", 3_000),
        ]);
        let message = parent(&n, &state, "C0RELAY", Some("1764000000.000100"), &[]);
        assert_eq!(message.ts.as_deref(), Some("1764000000.000100"));
        assert_eq!(
            message.attachments[0].color,
            color(flagger_relay_core::Severity::Error)
        );
        let all = serde_json::to_string(&message).unwrap();
        assert!(
            all.contains("rolled back") && all.contains("*Latest* post-rollout check"),
            "{all}"
        );
    }

    #[test]
    fn says_why_a_rollout_failed() {
        let (n, state) = state_after(&[
            (
                "Halt podinfo.test advancement success rate 69.17% < 99%",
                1_000,
            ),
            (
                "Rolling back podinfo.test failed checks threshold reached 1",
                2_000,
            ),
            ("Canary failed! Scaling down podinfo.test", 3_000),
        ]);
        let message = parent(&n, &state, "C0RELAY", None, &[]);
        let Block::Section {
            text: Some(Text::Mrkdwn { text }),
            ..
        } = &message.attachments[0].blocks[0]
        else {
            panic!("the status under the title")
        };
        assert_eq!(
            text,
            ":x: *canary failed*\n*Why* halted: success rate 69.17% &lt; 99%"
        );
    }

    #[test]
    fn broadcasts_only_a_reply_that_ends_the_rollout() {
        let done = notification("Promotion completed! Scaling down podinfo.test", 1);
        let reply = event_of(&done, "C0RELAY", Some("1.2"));
        assert!(reply.reply_broadcast);
        let plain = event_of(&done, "C0RELAY", None);
        assert!(!plain.reply_broadcast && plain.thread_ts.is_none());
        let step = notification("Advance podinfo.test canary weight 20", 1);
        assert!(!event_of(&step, "C0RELAY", Some("1.2")).reply_broadcast);
    }

    #[test]
    fn escapes_mentions_and_links_everywhere_slack_parses_them() {
        let (n, state) = state_after(&[(
            "deploy <!channel> see <https://evil.example|click> & run",
            1,
        )]);
        for message in [parent(&n, &state, "C", None, &[]), event_of(&n, "C", None)] {
            for text in texts(&message) {
                assert!(!text.contains('<'), "a mention or link needs '<': {text}");
            }
        }
    }

    #[test]
    fn keeps_every_text_within_slack_limits() {
        let long = "x".repeat(100_000);
        let (n, state) = state_after(&[(long.as_str(), 1)]);
        for message in [
            parent(&n, &state, "C", None, &[]),
            event_of(&n, "C", Some("1.2")),
        ] {
            assert!(message.text.chars().count() <= TEXT_LIMIT);
            for block in message.blocks.iter().chain(&message.attachments[0].blocks) {
                let (limit, objects): (usize, Vec<&Text>) = match block {
                    Block::Header { text } => (HEADER_LIMIT, vec![text]),
                    Block::Section { text, fields } => {
                        (SECTION_LIMIT, text.iter().chain(fields).collect())
                    }
                    Block::Context { elements } => (CONTEXT_LIMIT, elements.iter().collect()),
                    Block::Actions { elements, .. } => {
                        (HEADER_LIMIT, elements.iter().map(|b| &b.text).collect())
                    }
                };
                for object in objects {
                    let (Text::PlainText { text, .. } | Text::Mrkdwn { text }) = object;
                    assert!(text.chars().count() <= limit);
                }
            }
        }
    }
}
