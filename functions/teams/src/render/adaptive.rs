//! The Adaptive Card a Workflows (Power Automate) webhook posts, in the `message` envelope
//! Workflows expects. Only elements and properties of Adaptive Cards 1.4, the highest version
//! Teams renders for cards posted this way.

use serde::Serialize;

use flagger_relay_core::Severity;
use flagger_relay_core::present::Mention;
use flagger_relay_core::present::mentions::mention_text;

use super::{Content, NO_MESSAGE};

pub const ADAPTIVE_CARD_CONTENT_TYPE: &str = "application/vnd.microsoft.card.adaptive";
pub const ADAPTIVE_CARD_SCHEMA: &str = "http://adaptivecards.io/schemas/adaptive-card.json";
pub const ADAPTIVE_CARD_VERSION: &str = "1.4";

/// `{"type":"message","attachments":[…]}`: what a Workflows webhook takes.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WorkflowsMessage {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub attachments: Vec<WorkflowsAttachment>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkflowsAttachment {
    pub content_type: &'static str,
    /// Always `null`: the card travels inline, but Workflows' template reads the key.
    pub content_url: Option<String>,
    pub content: AdaptiveCard,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AdaptiveCard {
    #[serde(rename = "type")]
    pub kind: &'static str,
    #[serde(rename = "$schema")]
    pub schema: &'static str,
    pub version: &'static str,
    /// Teams' own extension; other hosts ignore it.
    pub msteams: TeamsProperties,
    pub body: Vec<CardElement>,
    /// The configured links, as buttons under the card.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub actions: Vec<CardAction>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TeamsProperties {
    /// `Full`: use the whole width of the channel instead of a narrow bubble.
    pub width: &'static str,
    /// Who the card mentions: each `<at>Name</at>` in its text, tied to the person it
    /// notifies. Workflows posts a mention only with its entity.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub entities: Vec<MentionEntity>,
}

/// `{"type":"mention","text":"<at>Jane Doe</at>","mentioned":{"id":…,"name":…}}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MentionEntity {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub text: String,
    pub mentioned: Mentioned,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Mentioned {
    pub id: String,
    pub name: String,
}

/// A button that opens a URL (`Action.OpenUrl`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CardAction {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub title: String,
    pub url: String,
    /// `positive` / `destructive`: how Teams colours a button that decides something.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub style: Option<&'static str>,
}

impl CardAction {
    pub fn open_url(title: String, url: String) -> Self {
        CardAction {
            kind: "Action.OpenUrl",
            title,
            url,
            style: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type")]
pub enum CardElement {
    TextBlock(TextBlock),
    Container(Container),
    ColumnSet(ColumnSet),
    FactSet(FactSet),
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TextBlock {
    /// Markdown (Teams' subset): event text goes in escaped, see [`escape_markdown`].
    pub text: String,
    pub wrap: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub weight: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size: Option<&'static str>,
    /// `Good`, `Warning` or `Attention`: the host's own colours for them, in its every theme.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub color: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_subtle: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub spacing: Option<&'static str>,
}

impl TextBlock {
    /// Wrapped text in the default style.
    pub fn new(text: String) -> Self {
        TextBlock {
            text,
            wrap: true,
            weight: None,
            size: None,
            color: None,
            is_subtle: None,
            spacing: None,
        }
    }
}

/// Side-by-side columns (Adaptive Cards 1.0).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ColumnSet {
    pub columns: Vec<Column>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub spacing: Option<&'static str>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Column {
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// `auto`: as wide as its content.
    pub width: &'static str,
    /// Room from the column before it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub spacing: Option<&'static str>,
    pub items: Vec<CardElement>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Container {
    pub style: ContainerStyle,
    /// Lets the style's background reach the card's edges, like a coloured banner.
    pub bleed: bool,
    pub items: Vec<CardElement>,
}

/// The container styles that carry meaning (Adaptive Cards 1.2 and later).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ContainerStyle {
    Good,
    Warning,
    Attention,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FactSet {
    pub facts: Vec<Fact>,
    /// A line above, setting the canary's own facts apart from what the message says.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub separator: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub spacing: Option<&'static str>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Fact {
    pub title: String,
    pub value: String,
}

impl ContainerStyle {
    /// The same green / amber / red as Slack's colour bar.
    pub fn for_severity(severity: Severity) -> Self {
        match severity {
            Severity::Info => ContainerStyle::Good,
            Severity::Warning => ContainerStyle::Warning,
            Severity::Error => ContainerStyle::Attention,
        }
    }

    /// The text colour of the same name: Teams tints a styled container only faintly (in its
    /// light theme barely at all), so the status and the title carry the colour too.
    pub fn color(self) -> &'static str {
        match self {
            ContainerStyle::Good => "Good",
            ContainerStyle::Warning => "Warning",
            ContainerStyle::Attention => "Attention",
        }
    }
}

impl WorkflowsMessage {
    pub fn new(card: AdaptiveCard) -> Self {
        WorkflowsMessage {
            kind: "message",
            attachments: vec![WorkflowsAttachment {
                content_type: ADAPTIVE_CARD_CONTENT_TYPE,
                content_url: None,
                content: card,
            }],
        }
    }
}

impl AdaptiveCard {
    pub fn new(body: Vec<CardElement>) -> Self {
        AdaptiveCard {
            kind: "AdaptiveCard",
            schema: ADAPTIVE_CARD_SCHEMA,
            version: ADAPTIVE_CARD_VERSION,
            msteams: TeamsProperties {
                width: "Full",
                entities: Vec::new(),
            },
            body,
            actions: Vec::new(),
        }
    }
}

impl MentionEntity {
    pub fn new(mention: &Mention) -> Self {
        MentionEntity {
            kind: "mention",
            text: mention.text.clone(),
            mentioned: Mentioned {
                id: mention.id.clone(),
                name: mention.name.clone(),
            },
        }
    }
}

/// A highlight whose value is at most this many characters is shown as a column in the
/// banner, large, where it is read first; a longer one (an error, a reason) leads the facts.
const COLUMN_VALUE_LIMIT: usize = 32;
/// Highlights side by side in one row of the banner; more go on the next row.
const COLUMNS_PER_ROW: usize = 4;

/// A banner in the severity's colour: the status, the title, and the highlights as large
/// values side by side; then the event message; then the facts, set apart by a line.
pub(super) fn message(content: &Content<'_>, message: Option<&str>) -> WorkflowsMessage {
    let style = ContainerStyle::for_severity(content.severity);
    let (glyph, status) = content.status;
    let status = TextBlock {
        weight: Some("Bolder"),
        size: Some("Small"),
        color: Some(style.color()),
        ..TextBlock::new(format!("{glyph} {}", status.to_uppercase()))
    };
    let title = TextBlock {
        weight: Some("Bolder"),
        size: Some("Medium"),
        color: Some(style.color()),
        spacing: Some("Small"),
        ..TextBlock::new(escape_markdown(&content.title))
    };
    let (highlights, others) = content.facts.split_at(content.highlights);
    let (columns, long): (Vec<_>, Vec<_>) = highlights
        .iter()
        .partition(|(_, value)| value.chars().count() <= COLUMN_VALUE_LIMIT);
    let mut items = vec![
        CardElement::TextBlock(status),
        CardElement::TextBlock(title),
    ];
    items.extend(
        columns
            .chunks(COLUMNS_PER_ROW)
            .map(|row| CardElement::ColumnSet(highlight_row(row))),
    );
    let banner = Container {
        style,
        bleed: true,
        items,
    };
    let text = match message {
        Some(message) => TextBlock::new(escape_markdown(message)),
        None => TextBlock {
            is_subtle: Some(true),
            ..TextBlock::new(NO_MESSAGE.to_owned())
        },
    };
    let facts = long
        .into_iter()
        .chain(others)
        .map(|(title, value)| Fact {
            title: escape_markdown(title),
            value: escape_markdown(value),
        })
        .collect();
    let mut body = vec![CardElement::Container(banner)];
    if !content.mentions.is_empty() {
        // Configured, not event text: written as it is, so each `<at>` matches its entity.
        body.push(CardElement::TextBlock(TextBlock::new(mention_text(
            &content.mentions,
            " ",
        ))));
    }
    body.push(CardElement::TextBlock(text));
    body.push(CardElement::FactSet(FactSet {
        facts,
        separator: true,
        spacing: Some("Medium"),
    }));
    let mut card = AdaptiveCard::new(body);
    card.msteams.entities = content.mentions.iter().map(MentionEntity::new).collect();
    card.actions = content
        .links
        .iter()
        .map(|link| CardAction::open_url(link.label.clone(), link.url.clone()))
        .collect();
    WorkflowsMessage::new(card)
}

/// Highlights as columns: the label small, the value below it large (largest when it is a
/// number, the thing compared at a glance).
fn highlight_row(row: &[&(String, String)]) -> ColumnSet {
    let columns = row
        .iter()
        .enumerate()
        .map(|(at, (label, value))| Column {
            kind: "Column",
            width: "auto",
            spacing: (at > 0).then_some("Large"),
            items: vec![
                CardElement::TextBlock(TextBlock {
                    size: Some("Small"),
                    is_subtle: Some(true),
                    ..TextBlock::new(escape_markdown(label))
                }),
                CardElement::TextBlock(TextBlock {
                    weight: Some("Bolder"),
                    size: Some(if value.chars().any(|c| c.is_ascii_digit()) {
                        "Large"
                    } else {
                        "Medium"
                    }),
                    spacing: Some("None"),
                    ..TextBlock::new(escape_markdown(value))
                }),
            ],
        })
        .collect();
    ColumnSet {
        columns,
        spacing: Some("Medium"),
    }
}

/// Makes event text inert in the markdown Teams applies to TextBlocks and facts, so that it
/// shows as written and cannot turn into a link, a list, emphasis or a mention:
/// - `\`, `*`, `_`, `` ` ``, `[`, `]` and `~` get a backslash wherever they are: links need
///   `[`, emphasis `*` or `_`, code `` ` ``, strikethrough `~`; a backslash is escaped so that
///   the text cannot undo ours.
/// - `<` gets one where it could open a tag or an autolink (before a letter, `/`, `!` or `?`):
///   `<at>` mention tags, `<https://…>`. `&` gets one before a letter, digit or `#`, where it
///   could start an entity such as `&#60;`. Elsewhere both stay bare, so that Flagger's
///   `success rate 69.17% < 99%` reads as it is.
/// - At the start of a line (after indentation), the block markers: `>` (quote), `-` or `+`
///   then a space (bullet), `#` then a space or `#` (heading), `--` (rule), and the `.` or `)`
///   after leading digits then a space (numbered list). `69.17%` or `-5` stay as they are.
/// - A `{` that follows another `{`: `{{DATE(…)}}` and `{{TIME(…)}}` are Adaptive Card date
///   functions, which would otherwise rewrite the text.
/// - Line breaks become paragraph breaks (`\n\n`): a single `\n` does not break a line in a
///   TextBlock.
///
/// Backslash escapes are CommonMark, which Teams and the Adaptive Card renderers follow.
pub fn escape_markdown(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len() + text.len() / 8 + 4);
    let mut rest = text;
    // `\r\n`, `\n` and `\r` each end a line.
    while let Some(end) = rest.bytes().position(|b| b == b'\n' || b == b'\r') {
        escape_line(&rest[..end], &mut escaped);
        escaped.push_str("\n\n");
        let crlf = rest.as_bytes()[end] == b'\r' && rest.as_bytes().get(end + 1) == Some(&b'\n');
        rest = &rest[end + if crlf { 2 } else { 1 }..];
    }
    escape_line(rest, &mut escaped);
    escaped
}

/// The bytes that may need a backslash, depending on their neighbours.
const MAY_ESCAPE: [bool; 256] = {
    let mut table = [false; 256];
    let bytes = b"\\*_`[]~<&{";
    let mut at = 0;
    while at < bytes.len() {
        table[bytes[at] as usize] = true;
        at += 1;
    }
    table
};

fn escape_line(line: &str, escaped: &mut String) {
    let body = line.trim_start_matches([' ', '\t']);
    escaped.push_str(&line[..line.len() - body.len()]);
    let ends_marker = |at: usize| matches!(body.as_bytes().get(at), None | Some(b' ' | b'\t'));
    let digits = body.bytes().take_while(u8::is_ascii_digit).count();
    let rest = if digits > 0
        && matches!(body.as_bytes().get(digits), Some(b'.' | b')'))
        && ends_marker(digits + 1)
    {
        escaped.push_str(&body[..digits]);
        escaped.push('\\');
        &body[digits..]
    } else {
        let block_marker = match body.as_bytes().first() {
            Some(b'>') => true,
            Some(b'+') => ends_marker(1),
            Some(b'-') => ends_marker(1) || body.as_bytes().get(1) == Some(&b'-'),
            Some(b'#') => ends_marker(1) || body.as_bytes().get(1) == Some(&b'#'),
            _ => false,
        };
        if block_marker {
            escaped.push('\\');
        }
        body
    };
    // Every character that may need a backslash is ASCII, and so are the neighbours that
    // decide it (a byte of a multi-byte character is never ASCII): the line is scanned as
    // bytes and copied in runs.
    let bytes = rest.as_bytes();
    let (mut copied, mut from) = (0, 0);
    while let Some(offset) = bytes[from..]
        .iter()
        .position(|&byte| MAY_ESCAPE[usize::from(byte)])
    {
        let at = from + offset;
        from = at + 1;
        let next = bytes.get(at + 1).copied();
        let escape = match bytes[at] {
            b'\\' | b'*' | b'_' | b'`' | b'[' | b']' | b'~' => true,
            b'<' => {
                next.is_some_and(|n| n.is_ascii_alphabetic() || matches!(n, b'/' | b'!' | b'?'))
            }
            b'&' => next.is_some_and(|n| n.is_ascii_alphanumeric() || n == b'#'),
            b'{' => at > 0 && bytes[at - 1] == b'{',
            _ => false,
        };
        if escape {
            escaped.push_str(&rest[copied..at]);
            escaped.push('\\');
            copied = at;
        }
    }
    escaped.push_str(&rest[copied..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leaves_ordinary_flagger_text_alone() {
        for text in [
            "Advance podinfo.test canary weight 10",
            "New revision detected! Scaling up podinfo.test",
            "canary deployment podinfo.test not ready: waiting for rollout to finish: 0 of 1 (readyThreshold 100%) updated replicas are available",
            "Halt podinfo.test advancement request duration 1.515s > 500ms",
            "Halt podinfo.test advancement success rate 69.17% < 99%",
            "Prometheus query failed: Post \"http://prometheus:9090/api/v1/query\": dial tcp: i/o timeout",
        ] {
            assert_eq!(escape_markdown(text), text);
        }
    }

    /// The byte scan decides as a character scan would, multi-byte neighbours included.
    #[test]
    fn decides_by_the_neighbouring_characters() {
        assert_eq!(
            escape_markdown("<é &é <🚀 &#1 &a <a"),
            r"<é &é <🚀 \&#1 \&a \<a"
        );
        assert_eq!(escape_markdown("{{{ é{{ {é{"), r"{\{\{ é{\{ {é{");
        assert_eq!(escape_markdown("é*é_é"), r"é\*é\_é");
        assert_eq!(escape_markdown("a\r\nb\rc"), "a\n\nb\n\nc");
    }

    #[test]
    fn neutralises_links_emphasis_and_mentions() {
        assert_eq!(
            escape_markdown("see [click](https://evil.example)"),
            r"see \[click\](https://evil.example)"
        );
        assert_eq!(
            escape_markdown("**bold** _it_ `code` ~~gone~~"),
            r"\*\*bold\*\* \_it\_ \`code\` \~\~gone\~\~"
        );
        assert_eq!(escape_markdown("<at>Everyone</at>"), r"\<at>Everyone\</at>");
        assert_eq!(
            escape_markdown("<https://evil.example>"),
            r"\<https://evil.example>"
        );
        assert_eq!(escape_markdown("<!-- x --> <?php"), r"\<!-- x --> \<?php");
        assert_eq!(
            escape_markdown("&#60;at&#62; &lt; &amp"),
            r"\&#60;at\&#62; \&lt; \&amp"
        );
        assert_eq!(
            escape_markdown(r"already \* escaped"),
            r"already \\\* escaped"
        );
        assert_eq!(escape_markdown("a < b > c & d <1"), "a < b > c & d <1");
    }

    #[test]
    fn neutralises_block_markers_at_line_starts_only() {
        assert_eq!(escape_markdown("# Heading"), r"\# Heading");
        assert_eq!(
            escape_markdown("- item\n  + item\n1. one\n2) two"),
            "\\- item\n\n  \\+ item\n\n1\\. one\n\n2\\) two"
        );
        assert_eq!(
            escape_markdown("> quote\n>quote\n---\n## h\n#"),
            "\\> quote\n\n\\>quote\n\n\\---\n\n\\## h\n\n\\#"
        );
        assert_eq!(escape_markdown("a - b + c # d 1. e"), "a - b + c # d 1. e");
        assert_eq!(escape_markdown("10 replicas"), "10 replicas");
        assert_eq!(
            escape_markdown("69.17% -5 +1 #tag 1)x"),
            "69.17% -5 +1 #tag 1)x"
        );
        assert_eq!(escape_markdown("-\n1."), "\\-\n\n1\\.");
    }

    #[test]
    fn defuses_date_functions() {
        assert_eq!(
            escape_markdown("{{DATE(2017-02-14T06:08:39Z, SHORT)}}"),
            r"{\{DATE(2017-02-14T06:08:39Z, SHORT)}}"
        );
        assert_eq!(escape_markdown("{{{"), r"{\{\{");
        assert_eq!(escape_markdown("map[a:{b}]"), r"map\[a:{b}\]");
    }

    #[test]
    fn turns_line_breaks_into_paragraphs() {
        assert_eq!(
            escape_markdown("one\ntwo\r\nthree\rfour"),
            "one\n\ntwo\n\nthree\n\nfour"
        );
    }

    #[test]
    fn colours_by_severity() {
        assert_eq!(
            ContainerStyle::for_severity(Severity::Info),
            ContainerStyle::Good
        );
        assert_eq!(
            ContainerStyle::for_severity(Severity::Warning),
            ContainerStyle::Warning
        );
        assert_eq!(
            ContainerStyle::for_severity(Severity::Error),
            ContainerStyle::Attention
        );
    }
}
