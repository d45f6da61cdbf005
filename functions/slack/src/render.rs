//! Flagger event → Slack incoming-webhook message (Block Kit inside an attachment, for the
//! colour bar). Pure: event in, payload out.

use serde::Serialize;

use flagger_relay_core::alertmanager::{Alert, AlertGroup, AlertStatus};
use flagger_relay_core::facts::highlights;
use flagger_relay_core::text::{truncate, truncate_escaped};
use flagger_relay_core::{CanaryEvent, Classification, Notification, Severity};

/// Slack's limits (Block Kit reference): header text 150 characters, section text 3,000,
/// context element text 3,000 (kept well under, it renders small), top-level `text` 40,000.
const HEADER_LIMIT: usize = 150;
const SECTION_LIMIT: usize = 3000;
const CONTEXT_LIMIT: usize = 2000;
const TEXT_LIMIT: usize = 3000;
/// A section holds at most 10 fields of at most 2,000 characters each.
const FIELDS_LIMIT: usize = 10;
const FIELD_LIMIT: usize = 2000;

/// Optional overrides of the webhook's own defaults.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Overrides {
    pub channel: Option<String>,
    pub username: Option<String>,
    pub icon_emoji: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SlackMessage {
    /// The notification and fallback text; always set.
    pub text: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub icon_emoji: Option<String>,
    pub attachments: Vec<Attachment>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Attachment {
    pub color: &'static str,
    pub blocks: Vec<Block>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Block {
    Header {
        text: Text,
    },
    Section {
        #[serde(skip_serializing_if = "Option::is_none")]
        text: Option<Text>,
        #[serde(skip_serializing_if = "Vec::is_empty")]
        fields: Vec<Text>,
    },
    Context {
        elements: Vec<Text>,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Text {
    PlainText { text: String, emoji: bool },
    Mrkdwn { text: String },
}

/// Slack's own palette: green, amber, red.
pub fn color(severity: Severity) -> &'static str {
    match severity {
        Severity::Info => "#2EB67D",
        Severity::Warning => "#ECB22E",
        Severity::Error => "#E01E5A",
    }
}

/// Makes event text inert in mrkdwn: `<!channel>` or `<https://evil|click>` stay text.
pub fn escape(text: &str) -> String {
    flagger_relay_core::text::escape_entities(text)
}

fn mrkdwn(text: String) -> Text {
    Text::Mrkdwn { text }
}

pub fn message(
    event: &CanaryEvent,
    classification: &Classification,
    overrides: &Overrides,
) -> SlackMessage {
    let title = format!(
        "{}.{}: {}",
        event.name,
        event.namespace,
        classification.headline.clone()
    );
    let mut blocks = vec![Block::Header {
        // plain_text is not parsed for mentions or links, so it needs no escaping.
        text: Text::PlainText {
            text: truncate(&title, HEADER_LIMIT).into_owned(),
            emoji: true,
        },
    }];
    let body = match event.event_message() {
        Some(message) => format!(">{}", escape(message).replace('\n', "\n>")),
        None => "_Webhook notice without an event message (a gating-hook payload)._".to_owned(),
    };
    blocks.push(Block::Section {
        text: Some(mrkdwn(truncate_escaped(&body, SECTION_LIMIT).into_owned())),
        fields: Vec::new(),
    });
    let fields: Vec<Text> = highlights(classification.stage, &classification.details)
        .into_iter()
        .take(FIELDS_LIMIT)
        .map(|fact| {
            let field = format!("*{}*\n{}", fact.label, escape(&fact.value));
            mrkdwn(truncate_escaped(&field, FIELD_LIMIT).into_owned())
        })
        .collect();
    if !fields.is_empty() {
        blocks.push(Block::Section { text: None, fields });
    }
    blocks.push(Block::Context {
        elements: context(event, classification),
    });
    SlackMessage {
        text: truncate_escaped(&escape(&title), TEXT_LIMIT).into_owned(),
        channel: overrides.channel.clone(),
        username: overrides.username.clone(),
        icon_emoji: overrides.icon_emoji.clone(),
        attachments: vec![Attachment {
            color: color(classification.severity),
            blocks,
        }],
    }
}

/// One line of facts about the event, one of the user's metadata: at most two of the ten
/// elements a context block may hold.
fn context(event: &CanaryEvent, classification: &Classification) -> Vec<Text> {
    let mut facts = Vec::with_capacity(5);
    let phase = if event.phase.as_str().is_empty() {
        "(none)"
    } else {
        event.phase.as_str()
    };
    facts.push(format!("*Phase* {}", escape(phase)));
    facts.push(format!("*Stage* {}", classification.stage.as_str()));
    if let Some(time) = event.metadata.timestamp.and_then(|ts| ts.to_display()) {
        facts.push(format!("*Time* {time}"));
    }
    if let Some(checksum) = &event.checksum {
        facts.push(format!("*Revision* `{}`", escape(checksum)));
    }
    let mut elements = vec![mrkdwn(
        truncate_escaped(&facts.join("  ·  "), CONTEXT_LIMIT).into_owned(),
    )];
    if !event.metadata.user.is_empty() {
        let user = event
            .metadata
            .user
            .iter()
            .map(|(key, value)| format!("*{}* {}", escape(key), escape(value)))
            .collect::<Vec<_>>()
            .join("  ·  ");
        elements.push(mrkdwn(truncate_escaped(&user, CONTEXT_LIMIT).into_owned()));
    }
    elements
}

/// Alert sections shown before the rest are summarised: the header, the alerts and the
/// context stay well inside Slack's 50 blocks.
const ALERTS_SHOWN: usize = 20;

/// An Alertmanager notification: one message for the group, the canary named first, each
/// alert with its summary, description, times and a link to its source.
pub fn alerts(
    notification: &Notification,
    group: &AlertGroup,
    classification: &Classification,
    overrides: &Overrides,
) -> SlackMessage {
    let title = format!(
        "{}: {}",
        notification.subject(),
        classification.headline.clone()
    );
    let mut blocks = vec![Block::Header {
        text: Text::PlainText {
            text: truncate(&title, HEADER_LIMIT).into_owned(),
            emoji: true,
        },
    }];
    for alert in group.alerts.iter().take(ALERTS_SHOWN) {
        blocks.push(Block::Section {
            text: Some(mrkdwn(alert_text(alert))),
            fields: Vec::new(),
        });
    }
    let not_shown = group.alerts.len().saturating_sub(ALERTS_SHOWN) as u64 + group.truncated_alerts;
    let mut context = vec![format!("*Status* {}", group.status.as_str())];
    if !group.receiver.is_empty() {
        context.push(format!("*Receiver* {}", escape(&group.receiver)));
    }
    if not_shown > 0 {
        context.push(format!("{not_shown} more alerts not shown"));
    }
    if let Some(link) = link(&group.external_url, "Alertmanager") {
        context.push(link);
    }
    blocks.push(Block::Context {
        elements: vec![mrkdwn(
            truncate_escaped(&context.join("  ·  "), CONTEXT_LIMIT).into_owned(),
        )],
    });
    SlackMessage {
        text: truncate_escaped(&escape(&title), TEXT_LIMIT).into_owned(),
        channel: overrides.channel.clone(),
        username: overrides.username.clone(),
        icon_emoji: overrides.icon_emoji.clone(),
        attachments: vec![Attachment {
            color: color(classification.severity),
            blocks,
        }],
    }
}

fn alert_text(alert: &Alert) -> String {
    let status = match alert.status {
        AlertStatus::Firing => "*Firing*",
        AlertStatus::Resolved => "*Resolved*",
    };
    let mut lines = Vec::with_capacity(4);
    let subject = match (alert.labels.get("name"), alert.labels.get("namespace")) {
        (Some(name), Some(namespace)) => format!("{}.{}", escape(name), escape(namespace)),
        _ => escape(alert.alertname().unwrap_or("alert")),
    };
    lines.push(format!("{status} {subject}"));
    if let Some(summary) = alert.annotations.get("summary") {
        lines.push(format!("*{}*", escape(summary)));
    }
    if let Some(description) = alert.annotations.get("description") {
        lines.push(escape(description));
    }
    let mut times = format!("Started {}", escape(&alert.starts_at));
    if alert.has_ended() {
        times.push_str(&format!(", ended {}", escape(&alert.ends_at)));
    }
    if let Some(link) = link(&alert.generator_url, "Source") {
        times.push_str(&format!("  ·  {link}"));
    }
    lines.push(times);
    truncate_escaped(&lines.join("\n"), SECTION_LIMIT).into_owned()
}

/// A mrkdwn link, only for http(s) URLs; the URL is escaped so it cannot close the link early.
fn link(url: &str, label: &str) -> Option<String> {
    let parsed = url::Url::parse(url).ok()?;
    matches!(parsed.scheme(), "http" | "https")
        .then(|| format!("<{}|{label}>", escape(parsed.as_str()).replace('|', "%7C")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use flagger_relay_core::classify;

    fn event(message: &str) -> CanaryEvent {
        let body = serde_json::json!({
            "name": "podinfo", "namespace": "test", "phase": "Progressing", "checksum": "85d557f47b",
            "metadata": {"eventMessage": message, "eventType": "Warning", "timestamp": "1763996400137", "cluster": "<!here>"}
        });
        CanaryEvent::from_slice(body.to_string().as_bytes()).unwrap()
    }

    /// Every text Slack parses for mentions and links (top-level `text`, mrkdwn objects).
    fn parsed_texts(message: &SlackMessage) -> Vec<String> {
        let mut texts = vec![message.text.clone()];
        for block in &message.attachments[0].blocks {
            let objects: Vec<&Text> = match block {
                Block::Header { text } => vec![text],
                Block::Section { text, fields } => text.iter().chain(fields).collect(),
                Block::Context { elements } => elements.iter().collect(),
            };
            texts.extend(objects.into_iter().filter_map(|text| match text {
                Text::Mrkdwn { text } => Some(text.clone()),
                Text::PlainText { .. } => None,
            }));
        }
        texts
    }

    #[test]
    fn escapes_mentions_and_links_from_event_text() {
        let e = event("deploy <!channel> see <https://evil.example|click> & run");
        let rendered = message(&e, &classify(&e), &Overrides::default());
        for text in parsed_texts(&rendered) {
            assert!(!text.contains('<'), "a mention or link needs '<': {text}");
        }
        assert!(
            serde_json::to_string(&rendered)
                .unwrap()
                .contains("&lt;!channel&gt;")
        );
        assert!(
            serde_json::to_string(&rendered)
                .unwrap()
                .contains("&lt;!here&gt;")
        );
    }

    #[test]
    fn keeps_every_text_within_slack_limits() {
        let e = event(&"x".repeat(100_000));
        let rendered = message(&e, &classify(&e), &Overrides::default());
        let blocks = &rendered.attachments[0].blocks;
        for block in blocks {
            let (limit, texts) = match block {
                Block::Header { text } => (HEADER_LIMIT, vec![text]),
                Block::Section { text, fields } => {
                    assert!(fields.len() <= FIELDS_LIMIT);
                    (SECTION_LIMIT, text.iter().chain(fields).collect())
                }
                Block::Context { elements } => (CONTEXT_LIMIT, elements.iter().collect()),
            };
            for text in texts {
                let (Text::PlainText { text, .. } | Text::Mrkdwn { text }) = text;
                assert!(
                    text.chars().count() <= limit,
                    "{} > {limit}",
                    text.chars().count()
                );
            }
        }
        assert!(rendered.text.chars().count() <= TEXT_LIMIT);
        assert!(blocks.len() <= 50);
    }

    #[test]
    fn colours_by_severity() {
        assert_eq!(color(Severity::Info), "#2EB67D");
        assert_eq!(color(Severity::Warning), "#ECB22E");
        assert_eq!(color(Severity::Error), "#E01E5A");
    }
}
