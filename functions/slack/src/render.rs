//! Flagger event → Slack incoming-webhook message (Block Kit inside an attachment, for the
//! colour bar). Pure: event in, payload out.

use serde::Serialize;

use flagger_relay_core::present::mentions::mention_text;
use flagger_relay_core::present::{AlertLine, Alerts, Body, Canary, Link, Mention, Presentation};
use flagger_relay_core::template::{RenderError, Template};
use flagger_relay_core::text::{truncate, truncate_escaped};
use flagger_relay_core::{Severity, Stage};

/// Slack's limits (Block Kit reference): header text 150 characters, section text 3,000,
/// context element text 3,000 (kept well under, it renders small), top-level `text` 40,000.
pub const HEADER_LIMIT: usize = 150;
pub const SECTION_LIMIT: usize = 3000;
pub const CONTEXT_LIMIT: usize = 2000;
pub const TEXT_LIMIT: usize = 3000;
/// A section holds at most 10 fields of at most 2,000 characters each.
pub const FIELDS_LIMIT: usize = 10;
pub const FIELD_LIMIT: usize = 2000;
/// A message holds at most 50 blocks, a context block 10 elements, an actions block 25.
const BLOCKS_LIMIT: usize = 50;
const ELEMENTS_LIMIT: usize = 10;
const ACTIONS_LIMIT: usize = 25;
/// A button's text; its URL may be 3,000 characters (links longer than that are left out).
pub const BUTTON_TEXT_LIMIT: usize = 75;
/// Slack cuts a message's top-level `text` beyond 40,000 characters; a template may use it all.
const TEMPLATE_TEXT_LIMIT: usize = 40_000;

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
    /// Buttons: the configured links, or the gate's decisions.
    Actions {
        /// Set where the app tells its blocks apart when Slack reports a click.
        #[serde(skip_serializing_if = "Option::is_none")]
        block_id: Option<String>,
        elements: Vec<Button>,
    },
}

/// A button: a link (`url`) that opens in the browser, or an interactive one (`action_id`,
/// `value`) whose click Slack reports to the app.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Button {
    #[serde(rename = "type")]
    pub kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub action_id: Option<&'static str>,
    pub text: Text,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// `primary` (green) or `danger` (red).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub style: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub confirm: Option<Confirm>,
}

impl Button {
    /// A button labelled `text` and nothing else yet.
    pub fn new(text: Text) -> Self {
        Button {
            kind: "button",
            action_id: None,
            text,
            url: None,
            value: None,
            style: None,
            confirm: None,
        }
    }
}

/// Slack's "are you sure?" dialog, for a button that cannot be taken back.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Confirm {
    pub title: Text,
    pub text: Text,
    pub confirm: Text,
    pub deny: Text,
    pub style: &'static str,
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

/// The `text` Slack notifies with: whoever is mentioned at this severity, then `title`
/// (escaped), cut to fit; a mention is never cut.
pub(crate) fn notification_text(mentions: &[Mention], title: &str) -> String {
    let title = escape(title);
    if mentions.is_empty() {
        return truncate_escaped(&title, TEXT_LIMIT).into_owned();
    }
    let mention = mention_text(mentions, " ");
    let room = TEXT_LIMIT.saturating_sub(mention.chars().count() + 1);
    format!("{mention} {}", truncate_escaped(&title, room))
}

/// The links as an actions block of link buttons; none without links.
pub(crate) fn link_buttons(links: &[Link]) -> Option<Block> {
    (!links.is_empty()).then(|| Block::Actions {
        block_id: None,
        elements: links
            .iter()
            .take(ACTIONS_LIMIT)
            .map(|link| Button {
                url: Some(link.url.clone()),
                // plain_text: the label is shown as configured.
                ..Button::new(Text::PlainText {
                    text: truncate(&link.label, BUTTON_TEXT_LIMIT).into_owned(),
                    emoji: true,
                })
            })
            .collect(),
    })
}

/// A notification as Slack shows it: the title as a header; under it, in an attachment for
/// the colour bar, Flagger's message and the highlights, or one section per alert, a context
/// line of facts and the links as buttons. With the header among the message's own blocks,
/// Slack keeps the top-level `text` for notifications instead of showing the title twice.
/// Whoever is mentioned leads the text.
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
    blocks.extend(link_buttons(&message.links));
    SlackMessage {
        text: notification_text(&message.mentions, title),
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

/// A message from `SLACK_TEMPLATE`: the template's JSON object, held to Slack's limits (texts
/// cut, blocks past the limits left out) and given the webhook overrides it does not set
/// itself. It must have a `text`: the notification and the fallback of every message.
pub fn templated(
    template: &Template,
    message: &Presentation<'_>,
) -> Result<serde_json::Map<String, serde_json::Value>, RenderError> {
    let mut object = template.render_object(message)?;
    match object.get_mut("text") {
        Some(serde_json::Value::String(text)) if !text.trim().is_empty() => {
            if let std::borrow::Cow::Owned(cut) = truncate_escaped(text, TEMPLATE_TEXT_LIMIT) {
                *text = cut;
            }
        }
        _ => {
            return Err(RenderError::new(
                template.setting(),
                "the output has no `text`: Slack notifies with it, and shows it where blocks cannot be",
            ));
        }
    }
    if let Some(blocks) = object.get_mut("blocks") {
        hold_blocks_to_limits(blocks);
    }
    if let Some(serde_json::Value::Array(attachments)) = object.get_mut("attachments") {
        for attachment in attachments {
            if let Some(blocks) = attachment.get_mut("blocks") {
                hold_blocks_to_limits(blocks);
            }
        }
    }
    Ok(object)
}

/// Adds the webhook's overrides a templated message does not set itself.
pub fn with_overrides(
    mut object: serde_json::Map<String, serde_json::Value>,
    overrides: &Overrides,
) -> serde_json::Map<String, serde_json::Value> {
    for (key, value) in [
        ("channel", &overrides.channel),
        ("username", &overrides.username),
        ("icon_emoji", &overrides.icon_emoji),
    ] {
        if let Some(value) = value {
            object
                .entry(key)
                .or_insert_with(|| serde_json::Value::String(value.clone()));
        }
    }
    object
}

/// Slack refuses a message with one block over its limits (`invalid_blocks`); a template's
/// blocks are brought within them instead: texts are cut (never half an entity), and blocks,
/// fields and elements past their counts left out.
fn hold_blocks_to_limits(blocks: &mut serde_json::Value) {
    let serde_json::Value::Array(blocks) = blocks else {
        return;
    };
    blocks.truncate(BLOCKS_LIMIT);
    for block in blocks {
        let kind = block
            .get("type")
            .and_then(|kind| kind.as_str())
            .unwrap_or_default();
        match kind {
            "header" => cut_text(block.get_mut("text"), HEADER_LIMIT),
            "section" => {
                cut_text(block.get_mut("text"), SECTION_LIMIT);
                if let Some(serde_json::Value::Array(fields)) = block.get_mut("fields") {
                    fields.truncate(FIELDS_LIMIT);
                    fields
                        .iter_mut()
                        .for_each(|field| cut_text(Some(field), FIELD_LIMIT));
                }
            }
            "context" => {
                if let Some(serde_json::Value::Array(elements)) = block.get_mut("elements") {
                    elements.truncate(ELEMENTS_LIMIT);
                    elements
                        .iter_mut()
                        .for_each(|element| cut_text(Some(element), SECTION_LIMIT));
                }
            }
            "actions" => {
                if let Some(serde_json::Value::Array(elements)) = block.get_mut("elements") {
                    elements.truncate(ACTIONS_LIMIT);
                    elements
                        .iter_mut()
                        .for_each(|element| cut_text(element.get_mut("text"), BUTTON_TEXT_LIMIT));
                }
            }
            _ => {}
        }
    }
}

/// Cuts the `text` of a text object to `limit` characters.
fn cut_text(object: Option<&mut serde_json::Value>, limit: usize) {
    if let Some(serde_json::Value::String(text)) = object.and_then(|object| object.get_mut("text"))
        && let std::borrow::Cow::Owned(cut) = truncate_escaped(text, limit)
    {
        *text = cut;
    }
}

/// Every text Slack parses for mentions and links: the top-level `text` and the blocks'
/// mrkdwn objects.
#[cfg(test)]
pub(crate) fn parsed_texts<'b>(text: &str, blocks: impl Iterator<Item = &'b Block>) -> Vec<String> {
    let mut texts = vec![text.to_owned()];
    for block in blocks {
        let objects: Vec<&Text> = match block {
            Block::Header { text } => vec![text],
            Block::Section { text, fields } => text.iter().chain(fields).collect(),
            Block::Context { elements } => elements.iter().collect(),
            Block::Actions { elements, .. } => elements.iter().map(|b| &b.text).collect(),
        };
        texts.extend(objects.into_iter().filter_map(|text| match text {
            Text::Mrkdwn { text } => Some(text.clone()),
            Text::PlainText { .. } => None,
        }));
    }
    texts
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

    fn parsed_texts(message: &SlackMessage) -> Vec<String> {
        let blocks = message.blocks.iter().chain(&message.attachments[0].blocks);
        super::parsed_texts(&message.text, blocks)
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
                Block::Actions { elements, .. } => (
                    BUTTON_TEXT_LIMIT,
                    elements.iter().map(|b| &b.text).collect(),
                ),
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

    fn presentation_with<'n>(
        notification: &'n Notification,
        classification: &'n flagger_relay_core::Classification,
    ) -> Presentation<'n> {
        Presentation::new(notification, classification)
            .with_links(vec![Link {
                label: "Dashboard".into(),
                url: "https://grafana.example/d?ns=test&c=podinfo".into(),
            }])
            .with_mentions(crate::shaping::read_mentions("<!subteam^S0123ABC>").unwrap())
    }

    #[test]
    fn leads_with_the_mention_and_ends_with_link_buttons() {
        let notification = Notification::Canary(event("Canary failed! Scaling down podinfo.test"));
        let classification = notification.classify();
        let rendered = message(
            &presentation_with(&notification, &classification),
            &Overrides::default(),
        );
        let json = serde_json::to_value(&rendered).unwrap();
        assert_eq!(
            json["text"],
            "<!subteam^S0123ABC> podinfo.test: canary failed"
        );
        let blocks = json["attachments"][0]["blocks"].as_array().unwrap();
        assert_eq!(
            blocks.last().unwrap(),
            &serde_json::json!({"type": "actions", "elements": [{"type": "button",
                "text": {"type": "plain_text", "text": "Dashboard", "emoji": true},
                "url": "https://grafana.example/d?ns=test&c=podinfo"}]})
        );
    }

    #[test]
    fn a_long_title_is_cut_but_never_the_mention() {
        let notification = Notification::Canary(event(&"<".repeat(10_000)));
        let classification = notification.classify();
        let rendered = message(
            &presentation_with(&notification, &classification),
            &Overrides::default(),
        );
        assert!(
            rendered
                .text
                .starts_with("<!subteam^S0123ABC> podinfo.test")
        );
        assert!(
            rendered.text.chars().count() <= TEXT_LIMIT,
            "{}",
            rendered.text.len()
        );
    }

    #[test]
    fn holds_a_templates_blocks_to_slacks_limits() {
        let source = r#"{"text": "{{ title }}", "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": "{% for i in range(200) %}{{ subject }}{% endfor %}"}},
            {"type": "section", "text": {"type": "mrkdwn", "text": "{% for i in range(900) %}{{ '<&>' }}{% endfor %}"},
             "fields": [{% for i in range(12) %}{"type": "mrkdwn", "text": "{{ i }}"}{% if not loop.last %},{% endif %}{% endfor %}]}
            {% for i in range(60) %}, {"type": "divider"}{% endfor %}]}"#;
        let template = Template::compile(
            "SLACK_TEMPLATE",
            source,
            flagger_relay_core::template::Output::Json(
                flagger_relay_core::template::Markup::SlackEntities,
            ),
            &[],
        )
        .unwrap();
        let notification = Notification::Canary(event("Advance podinfo.test canary weight 10"));
        let classification = notification.classify();
        let object = templated(
            &template,
            &presentation_with(&notification, &classification),
        )
        .unwrap();
        let blocks = object["blocks"].as_array().unwrap();
        assert_eq!(blocks.len(), BLOCKS_LIMIT);
        assert_eq!(
            blocks[0]["text"]["text"].as_str().unwrap().chars().count(),
            HEADER_LIMIT
        );
        let section = blocks[1]["text"]["text"].as_str().unwrap();
        assert!(
            section.chars().count() <= SECTION_LIMIT && section.ends_with(";…"),
            "{section}"
        );
        assert_eq!(blocks[1]["fields"].as_array().unwrap().len(), FIELDS_LIMIT);
        let with_overrides = with_overrides(
            object,
            &Overrides {
                channel: Some("#deploys".into()),
                ..Overrides::default()
            },
        );
        assert_eq!(with_overrides["channel"], "#deploys");
    }

    #[test]
    fn a_template_without_text_fails_naming_the_setting() {
        let template = Template::compile(
            "SLACK_TEMPLATE",
            r#"{"blocks": []}"#,
            flagger_relay_core::template::Output::Json(
                flagger_relay_core::template::Markup::SlackEntities,
            ),
            &[],
        )
        .unwrap();
        let notification = Notification::Canary(event("m"));
        let classification = notification.classify();
        let err = templated(
            &template,
            &Presentation::new(&notification, &classification),
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.starts_with("SLACK_TEMPLATE could not render this event: the output has no `text`"),
            "{err}"
        );
    }

    #[test]
    fn colours_by_severity() {
        assert_eq!(color(Severity::Info), "#2EB67D");
        assert_eq!(color(Severity::Warning), "#ECB22E");
        assert_eq!(color(Severity::Error), "#E01E5A");
    }
}
