//! The legacy MessageCard that Office 365 connectors (`*.webhook.office.com`) take.

use serde::Serialize;

use flagger_relay_core::Severity;

use super::{Content, NO_MESSAGE};

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MessageCard {
    #[serde(rename = "@type")]
    pub kind: &'static str,
    #[serde(rename = "@context")]
    pub context: &'static str,
    /// The coloured edge of the card, hex RGB without `#` as in Microsoft's reference.
    pub theme_color: &'static str,
    /// Plain text for notifications and the activity feed.
    pub summary: String,
    pub sections: Vec<MessageCardSection>,
    /// The configured links, as buttons.
    #[serde(rename = "potentialAction", skip_serializing_if = "Vec::is_empty")]
    pub potential_action: Vec<OpenUri>,
}

/// `{"@type":"OpenUri","name":…,"targets":[{"os":"default","uri":…}]}`: a button that opens a
/// URL on every platform.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OpenUri {
    #[serde(rename = "@type")]
    pub kind: &'static str,
    pub name: String,
    pub targets: Vec<OpenUriTarget>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OpenUriTarget {
    pub os: &'static str,
    pub uri: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MessageCardSection {
    pub activity_title: String,
    pub text: String,
    pub facts: Vec<MessageCardFact>,
    /// `false`: connectors would otherwise read every text of the section as markdown.
    pub markdown: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MessageCardFact {
    pub name: String,
    pub value: String,
}

/// The same green / amber / red as Slack's colour bar.
pub fn theme_color(severity: Severity) -> &'static str {
    match severity {
        Severity::Info => "2EB67D",
        Severity::Warning => "ECB22E",
        Severity::Error => "E01E5A",
    }
}

pub(super) fn message(content: &Content<'_>, message: Option<&str>) -> MessageCard {
    let facts = content
        .facts
        .iter()
        .map(|(name, value)| MessageCardFact {
            name: escape_html(name),
            value: escape_html(value),
        })
        .collect();
    MessageCard {
        kind: "MessageCard",
        context: "https://schema.org/extensions",
        theme_color: theme_color(content.severity),
        summary: content.title.clone(),
        sections: vec![MessageCardSection {
            activity_title: escape_html(&content.title),
            text: escape_html(message.unwrap_or(NO_MESSAGE)),
            facts,
            markdown: false,
        }],
        potential_action: content
            .links
            .iter()
            .map(|link| OpenUri {
                kind: "OpenUri",
                name: link.label.clone(),
                targets: vec![OpenUriTarget {
                    os: "default",
                    uri: link.url.clone(),
                }],
            })
            .collect(),
    }
}

/// With markdown off, connector text is still read as (a subset of) HTML: `&`, `<` and `>`
/// become entities so that event text shows as written and cannot add links or markup.
pub fn escape_html(text: &str) -> String {
    flagger_relay_core::text::escape_entities(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_from_event_text() {
        assert_eq!(
            escape_html(r#"<a href="https://evil.example">x</a> & <at>all</at>"#),
            r#"&lt;a href="https://evil.example"&gt;x&lt;/a&gt; &amp; &lt;at&gt;all&lt;/at&gt;"#
        );
        assert_eq!(
            escape_html("[click](https://evil.example) **b**"),
            "[click](https://evil.example) **b**"
        );
    }

    #[test]
    fn colours_by_severity() {
        assert_eq!(theme_color(Severity::Info), "2EB67D");
        assert_eq!(theme_color(Severity::Warning), "ECB22E");
        assert_eq!(theme_color(Severity::Error), "E01E5A");
    }
}
