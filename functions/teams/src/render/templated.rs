//! A message from `TEAMS_TEMPLATE`. The template writes an Adaptive Card (which is put in the
//! Workflows envelope), the whole Workflows message, or a MessageCard for a legacy connector.
//! Whatever it writes is held to Teams' 28 KB, and a card that writes a configured mention
//! gets the entity Workflows needs to notify.

use std::borrow::Cow;

use serde::de::IgnoredAny;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use flagger_relay_core::present::Presentation;
use flagger_relay_core::template::{RenderError, Template};
use flagger_relay_core::text::truncate;

use super::adaptive::{ADAPTIVE_CARD_CONTENT_TYPE, MentionEntity};
use super::{MAX_PAYLOAD_BYTES, TeamsMessage, TeamsPayload, serialized_len};

/// Strings are never cut below this many characters to fit 28 KB: a message that only fits
/// with its texts gone is refused instead.
const SHORTEST_CUT: usize = 64;

/// Keys whose strings are never cut: identifiers, versions and addresses.
const UNCUT_KEYS: [&str; 8] = [
    "type",
    "@type",
    "$schema",
    "version",
    "url",
    "uri",
    "contentType",
    "id",
];

/// What a template wrote, serialized once: measured against 28 KB and posted as it is.
#[derive(Debug, Clone, Serialize)]
#[serde(transparent)]
pub struct TemplatedMessage(Box<RawValue>);

impl TemplatedMessage {
    /// The JSON that is posted.
    pub fn json(&self) -> &str {
        self.0.get()
    }
}

impl PartialEq for TemplatedMessage {
    fn eq(&self, other: &Self) -> bool {
        self.json() == other.json()
    }
}

/// The parts of a template's output that decide what is done with it, read in one pass that
/// also checks the whole of it is JSON, without building it.
#[derive(Deserialize)]
struct Shape<'a> {
    #[serde(rename = "type", borrow, default)]
    kind: Option<Cow<'a, str>>,
    #[serde(rename = "@type", borrow, default)]
    legacy: Option<Cow<'a, str>>,
    #[serde(default)]
    msteams: Option<TeamsShape>,
    #[serde(default)]
    attachments: Option<Vec<AttachmentShape>>,
}

#[derive(Deserialize)]
struct TeamsShape {
    #[serde(default)]
    entities: Option<IgnoredAny>,
}

#[derive(Deserialize)]
struct AttachmentShape {
    #[serde(default)]
    content: Option<CardShape>,
}

#[derive(Deserialize)]
struct CardShape {
    #[serde(default)]
    msteams: Option<TeamsShape>,
}

const NOT_A_CARD: &str = r#"the output is neither an Adaptive Card ("type": "AdaptiveCard"), a Workflows message ("type": "message") nor a MessageCard ("@type": "MessageCard")"#;

/// The template's output for one event, ready to post. Most outputs are posted as written
/// (an Adaptive Card in the envelope): only one that needs a mention entity added, or a cut
/// to fit 28 KB, is taken apart and put together again.
pub fn templated(
    template: &Template,
    message: &Presentation<'_>,
) -> Result<TeamsPayload, RenderError> {
    let text = template.render(message)?;
    let unserializable =
        |err: serde_json::Error| RenderError::new(template.setting(), err.to_string());
    if let Ok(shape) = serde_json::from_str::<Shape>(&text) {
        let has_entities = |teams: &Option<TeamsShape>| {
            teams.as_ref().is_some_and(|teams| teams.entities.is_some())
        };
        let (card, has_entities) = match (shape.kind.as_deref(), shape.legacy.as_deref()) {
            (Some("AdaptiveCard"), _) => (true, has_entities(&shape.msteams)),
            (Some("message"), _) => {
                let card = shape
                    .attachments
                    .as_ref()
                    .and_then(|attachments| attachments.first())
                    .and_then(|attachment| attachment.content.as_ref());
                (false, card.is_some_and(|card| has_entities(&card.msteams)))
            }
            // Connectors cannot mention: nothing to add to a MessageCard.
            (_, Some("MessageCard")) => (false, true),
            _ => return Err(RenderError::new(template.setting(), NOT_A_CARD)),
        };
        let json = if card {
            format!(
                r#"{{"type":"message","attachments":[{{"contentType":"{ADAPTIVE_CARD_CONTENT_TYPE}","contentUrl":null,"content":{}}}]}}"#,
                text.trim()
            )
        } else {
            text.clone()
        };
        let needs_entities = !has_entities
            && message
                .mentions
                .iter()
                .any(|mention| json.contains(&mention.text));
        if !needs_entities && json.len() <= MAX_PAYLOAD_BYTES {
            return posted(json).map_err(unserializable);
        }
    }
    let object = template.parse_object(&text)?;
    let kind = object.get("type").and_then(Value::as_str);
    let mut payload = match (kind, object.get("@type").and_then(Value::as_str)) {
        (Some("AdaptiveCard"), _) => envelope(object),
        (Some("message"), _) | (_, Some("MessageCard")) => Value::Object(object),
        _ => return Err(RenderError::new(template.setting(), NOT_A_CARD)),
    };
    let too_big = |size| {
        RenderError::new(
            template.setting(),
            format!(
                "the output is {size} bytes, over Teams' {MAX_PAYLOAD_BYTES}, and has no long text left to shorten"
            ),
        )
    };
    // Entities first, so that the card is serialized once in the common case.
    let entities = payload
        .pointer_mut("/attachments/0/content")
        .is_some_and(|card| add_mention_entities(card, message));
    let mut json = serde_json::to_string(&payload).map_err(unserializable)?;
    if json.len() > MAX_PAYLOAD_BYTES {
        fit(&mut payload).map_err(too_big)?;
        if entities && let Some(card) = payload.pointer_mut("/attachments/0/content") {
            drop_unwritten_entities(card);
        }
        json = serde_json::to_string(&payload).map_err(unserializable)?;
        if json.len() > MAX_PAYLOAD_BYTES {
            return Err(too_big(json.len()));
        }
    }
    posted(json).map_err(unserializable)
}

/// The template's JSON, posted as written.
fn posted(json: String) -> Result<TeamsPayload, serde_json::Error> {
    let bytes = json.as_bytes().to_vec();
    let raw = RawValue::from_string(json)?;
    Ok(TeamsPayload::new(
        TeamsMessage::Template(TemplatedMessage(raw)),
        bytes,
    ))
}

/// After a cut, the entities of mentions whose text the card no longer writes.
fn drop_unwritten_entities(card: &mut Value) {
    let Some(entities) = card.pointer("/msteams/entities").and_then(Value::as_array) else {
        return;
    };
    let kept: Vec<Value> = entities
        .iter()
        .filter(|entity| {
            entity["text"]
                .as_str()
                .is_some_and(|text| writes(card, text))
        })
        .cloned()
        .collect();
    if let Some(slot) = card.pointer_mut("/msteams/entities") {
        *slot = Value::Array(kept);
    }
}

/// `{"type":"message","attachments":[{"contentType":…,"contentUrl":null,"content":CARD}]}`.
fn envelope(card: Map<String, Value>) -> Value {
    // Built by hand: `json!` would copy the card.
    let mut attachment = Map::new();
    attachment.insert("contentType".into(), ADAPTIVE_CARD_CONTENT_TYPE.into());
    attachment.insert("contentUrl".into(), Value::Null);
    attachment.insert("content".into(), Value::Object(card));
    let mut message = Map::new();
    message.insert("type".into(), "message".into());
    message.insert(
        "attachments".into(),
        Value::Array(vec![Value::Object(attachment)]),
    );
    Value::Object(message)
}

/// Each configured mention whose `<at>Name</at>` the card writes, as an entity in
/// `msteams.entities`; a card that lists its entities itself is left as it is. Answers
/// whether it added any.
fn add_mention_entities(card: &mut Value, message: &Presentation<'_>) -> bool {
    if message.mentions.is_empty() || card.pointer("/msteams/entities").is_some() {
        return false;
    }
    let entities: Vec<Value> = message
        .mentions
        .iter()
        .filter(|mention| writes(card, &mention.text))
        .filter_map(|mention| serde_json::to_value(MentionEntity::new(mention)).ok())
        .collect();
    if entities.is_empty() {
        return false;
    }
    let Some(fields) = card.as_object_mut() else {
        return false;
    };
    let msteams = fields
        .entry("msteams")
        .or_insert_with(|| Value::Object(Map::new()));
    match msteams.as_object_mut() {
        Some(msteams) => {
            msteams.insert("entities".into(), Value::Array(entities));
            true
        }
        None => false,
    }
}

/// Whether any text of `value` holds `needle`; Teams' own properties (the entities) aside.
fn writes(value: &Value, needle: &str) -> bool {
    match value {
        Value::String(text) => text.contains(needle),
        Value::Array(items) => items.iter().any(|item| writes(item, needle)),
        Value::Object(fields) => fields
            .iter()
            .any(|(key, field)| key != "msteams" && writes(field, needle)),
        _ => false,
    }
}

/// Cuts the longest text until the payload fits in 28 KB; `Err` with the size when it cannot.
fn fit(payload: &mut Value) -> Result<(), usize> {
    for _ in 0..64 {
        let size = serialized_len(&*payload);
        if size <= MAX_PAYLOAD_BYTES {
            return Ok(());
        }
        let Some(longest) = longest_text(payload) else {
            return Err(size);
        };
        let chars = longest.chars().count();
        // The text keeps the share of its characters that its JSON may still take; escaping
        // varies along the text, which the next round sees.
        let bytes = serialized_len(&*longest).saturating_sub(2).max(1);
        let excess = size - MAX_PAYLOAD_BYTES;
        let keep = (chars * bytes.saturating_sub(excess) / bytes)
            .min(chars - 1)
            .max(SHORTEST_CUT);
        if keep >= chars {
            return Err(size);
        }
        *longest = truncate(longest, keep).into_owned();
    }
    Err(serialized_len(&*payload))
}

/// The longest string that may be cut, if it is longer than [`SHORTEST_CUT`].
fn longest_text(value: &mut Value) -> Option<&mut String> {
    fn walk<'v>(value: &'v mut Value, best: &mut Option<&'v mut String>) {
        match value {
            Value::String(text)
                if text.chars().count() > SHORTEST_CUT
                    && best.as_ref().is_none_or(|best| text.len() > best.len()) =>
            {
                *best = Some(text);
            }
            Value::Array(items) => items.iter_mut().for_each(|item| walk(item, best)),
            Value::Object(fields) => {
                for (key, field) in fields.iter_mut() {
                    if !UNCUT_KEYS.contains(&key.as_str()) {
                        walk(field, best);
                    }
                }
            }
            _ => {}
        }
    }
    let mut best = None;
    walk(value, &mut best);
    best
}

#[cfg(test)]
mod tests {
    use super::*;
    use flagger_relay_core::Notification;
    use flagger_relay_core::template::{Markup, Output};

    fn render(source: &str, message_text: &str) -> Result<Value, RenderError> {
        let body = serde_json::json!({"name": "podinfo", "namespace": "test", "phase": "Failed",
            "metadata": {"eventMessage": message_text, "eventType": "Warning", "timestamp": "1"}});
        let notification = Notification::from_slice(body.to_string().as_bytes()).unwrap();
        let classification = notification.classify();
        let message = Presentation::new(&notification, &classification).with_mentions(
            crate::shaping::read_mentions("jane@contoso.com|Jane Doe, ops@contoso.com|Ops")
                .unwrap(),
        );
        let template = Template::compile(
            "TEAMS_TEMPLATE",
            source,
            Output::Json(Markup::Plain),
            &[("markdown", super::super::escape_markdown)],
        )
        .unwrap();
        templated(&template, &message).map(|payload| serde_json::to_value(payload).unwrap())
    }

    const CARD: &str = r#"{"type": "AdaptiveCard", "version": "1.4", "body": [
        {"type": "TextBlock", "text": "{{ mention }} {{ event.metadata.eventMessage|markdown }}", "wrap": true}]}"#;

    #[test]
    fn puts_a_card_in_the_workflows_envelope_with_its_mentions() {
        let payload = render(CARD, "Canary failed! Scaling down podinfo.test").unwrap();
        assert_eq!(payload["type"], "message");
        let card = &payload["attachments"][0]["content"];
        assert_eq!(
            card["body"][0]["text"],
            "<at>Jane Doe</at> <at>Ops</at> Canary failed! Scaling down podinfo.test"
        );
        assert_eq!(
            card["msteams"]["entities"],
            serde_json::json!([
                {"type": "mention", "text": "<at>Jane Doe</at>", "mentioned": {"id": "jane@contoso.com", "name": "Jane Doe"}},
                {"type": "mention", "text": "<at>Ops</at>", "mentioned": {"id": "ops@contoso.com", "name": "Ops"}},
            ])
        );
    }

    #[test]
    fn cuts_the_longest_text_to_fit_28_kb() {
        let payload = render(CARD, &"\"*".repeat(60_000)).unwrap();
        let size = payload.to_string().len();
        assert!(
            size <= MAX_PAYLOAD_BYTES && size > MAX_PAYLOAD_BYTES - 2_000,
            "{size}"
        );
        assert!(
            payload["attachments"][0]["content"]["body"][0]["text"]
                .as_str()
                .unwrap()
                .ends_with('…')
        );
    }

    #[test]
    fn refuses_what_teams_would_not_take() {
        let err = render(r#"{"text": "{{ title }}"}"#, "m")
            .unwrap_err()
            .to_string();
        assert!(err.contains("neither an Adaptive Card"), "{err}");
        let many = format!(
            r#"{{"type": "AdaptiveCard", "body": [{}]}}"#,
            vec![r#"{"type": "TextBlock", "text": "short"}"#; 2_000].join(",")
        );
        let err = render(&many, "m").unwrap_err().to_string();
        assert!(err.contains("over Teams' 28000"), "{err}");
    }
}
