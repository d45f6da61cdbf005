//! Flagger event → Slack incoming-webhook message (Block Kit inside an attachment, for the
//! colour bar). Pure: event in, payload out.

use serde::Serialize;

use flagger_relay_core::present::{AlertLine, Alerts, Body, Canary, Presentation};
use flagger_relay_core::text::{truncate, truncate_escaped};
use flagger_relay_core::{Severity, Stage};

/// Slack's limits (Block Kit reference): header text 150 characters, section text 3,000,
/// context element text 3,000 (kept well under, it renders small), top-level `text` 40,000.
pub(crate) const HEADER_LIMIT: usize = 150;
pub(crate) const SECTION_LIMIT: usize = 3000;
pub(crate) const CONTEXT_LIMIT: usize = 2000;
pub(crate) const TEXT_LIMIT: usize = 3000;
/// A section holds at most 10 fields of at most 2,000 characters each.
const FIELDS_LIMIT: usize = 10;
pub(crate) const FIELD_LIMIT: usize = 2000;

/// Optional overrides of the webhook's own defaults.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Overrides {
    pub channel: Option<String>,
    pub username: Option<String>,
    pub icon_emoji: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SlackMessage {
    /// The notification and fallback text; always set. Slack shows it above the attachments
    /// unless the message has `blocks` of its own, which is why the title is one.
    pub text: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub icon_emoji: Option<String>,
    /// The title, above the colour bar.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub blocks: Vec<Block>,
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

/// A notification as Slack shows it: the title as a header; under it, in an attachment for
/// the colour bar, Flagger's message and the highlights, or one section per alert, and a
/// context line of facts. With the header among the message's own blocks, Slack keeps the
/// top-level `text` for notifications instead of showing the title twice.
pub fn message(message: &Presentation<'_>, overrides: &Overrides) -> SlackMessage {
    let title = &message.title;
    let header = Block::Header {
        // plain_text is not parsed for mentions or links, so it needs no escaping.
        text: Text::PlainText {
            text: truncate(title, HEADER_LIMIT).into_owned(),
            emoji: true,
        },
    };
    let mut blocks = Vec::new();
    match &message.body {
        Body::Flagger(canary) => canary_blocks(&mut blocks, message, canary),
        Body::Alertmanager(alerts) => alert_blocks(&mut blocks, alerts),
    }
    SlackMessage {
        text: truncate_escaped(&escape(title), TEXT_LIMIT).into_owned(),
        channel: overrides.channel.clone(),
        username: overrides.username.clone(),
        icon_emoji: overrides.icon_emoji.clone(),
        blocks: vec![header],
        attachments: vec![Attachment {
            color: color(message.severity),
            blocks,
        }],
    }
}

fn canary_blocks(blocks: &mut Vec<Block>, message: &Presentation<'_>, canary: &Canary<'_>) {
    let body = match canary.message {
        Some(text) => format!(">{}", escape(text).replace('\n', "\n>")),
        None => "_Webhook notice without an event message (a gating-hook payload)._".to_owned(),
    };
    blocks.push(Block::Section {
        text: Some(mrkdwn(truncate_escaped(&body, SECTION_LIMIT).into_owned())),
        fields: Vec::new(),
    });
    let fields: Vec<Text> = message
        .highlights
        .iter()
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
        elements: context(message.stage, canary),
    });
}

/// One line of facts about the event, one of the user's metadata: at most two of the ten
/// elements a context block may hold.
fn context(stage: Stage, canary: &Canary<'_>) -> Vec<Text> {
    let mut facts = Vec::with_capacity(5);
    facts.push(format!("*Phase* {}", escape(canary.phase)));
    facts.push(format!("*Stage* {}", stage.as_str()));
    if let Some(time) = &canary.time {
        facts.push(format!("*Time* {time}"));
    }
    if let Some(revision) = canary.revision {
        facts.push(format!("*Revision* `{}`", escape(revision)));
    }
    let mut elements = vec![mrkdwn(
        truncate_escaped(&facts.join("  ·  "), CONTEXT_LIMIT).into_owned(),
    )];
    if !canary.metadata.is_empty() {
        let user = canary
            .metadata
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

/// An Alertmanager group: each alert with its summary, description, times and a link to its
/// source, then the group's status.
fn alert_blocks(blocks: &mut Vec<Block>, alerts: &Alerts<'_>) {
    for alert in alerts.alerts.iter().take(ALERTS_SHOWN) {
        blocks.push(Block::Section {
            text: Some(mrkdwn(alert_text(alert))),
            fields: Vec::new(),
        });
    }
    let not_shown = alerts.not_shown(ALERTS_SHOWN);
    let mut context = vec![format!("*Status* {}", alerts.status)];
    if !alerts.receiver.is_empty() {
        context.push(format!("*Receiver* {}", escape(alerts.receiver)));
    }
    if not_shown > 0 {
        context.push(format!("{not_shown} more alerts not shown"));
    }
    if let Some(link) = alerts
        .external_url
        .and_then(|url| link(url, "Alertmanager"))
    {
        context.push(link);
    }
    blocks.push(Block::Context {
        elements: vec![mrkdwn(
            truncate_escaped(&context.join("  ·  "), CONTEXT_LIMIT).into_owned(),
        )],
    });
}

fn alert_text(alert: &AlertLine<'_>) -> String {
    let mut lines = Vec::with_capacity(4);
    lines.push(format!(
        "*{}* {}",
        alert.status_word(),
        escape(&alert.subject)
    ));
    if let Some(summary) = alert.summary {
        lines.push(format!("*{}*", escape(summary)));
    }
    if let Some(description) = alert.description {
        lines.push(escape(description));
    }
    let mut times = format!("Started {}", escape(alert.starts_at));
    if let Some(ended) = alert.ends_at {
        times.push_str(&format!(", ended {}", escape(ended)));
    }
    if let Some(link) = alert.source.and_then(|url| link(url, "Source")) {
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
    use flagger_relay_core::{CanaryEvent, Notification};

    fn render(event: &CanaryEvent) -> SlackMessage {
        let notification = Notification::Canary(event.clone());
        let classification = notification.classify();
        message(
            &Presentation::new(&notification, &classification),
            &Overrides::default(),
        )
    }

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
        for block in message.blocks.iter().chain(&message.attachments[0].blocks) {
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
        let rendered = render(&e);
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
        let rendered = render(&e);
        let blocks: Vec<&Block> = rendered
            .blocks
            .iter()
            .chain(&rendered.attachments[0].blocks)
            .collect();
        for block in &blocks {
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
