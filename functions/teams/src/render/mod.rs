//! Flagger event → Teams message: an Adaptive Card in the Workflows envelope, or a legacy
//! MessageCard for Office 365 connectors. Pure: event in, payload out.
//!
//! Both formats show the same content (a title, the event message, facts) and both are kept
//! under Teams' 28 KB message limit by shortening the event message, the one part of an event
//! that can be arbitrarily long. Everything else is bounded up front, so that the message
//! always has room left.

mod adaptive;
mod message_card;
mod templated;

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::io;

use serde::Serialize;

use flagger_relay_core::Severity;
use flagger_relay_core::present::{self, Alerts, Body, Link, Mention, Presentation, status};
use flagger_relay_core::text::truncate;

pub use adaptive::{
    AdaptiveCard, CardAction, CardElement, Column, ColumnSet, Container, ContainerStyle, Fact,
    FactSet, MentionEntity, Mentioned, TeamsProperties, TextBlock, WorkflowsAttachment,
    WorkflowsMessage, escape_markdown,
};
pub use message_card::{
    MessageCard, MessageCardFact, MessageCardSection, OpenUri, OpenUriTarget, escape_html,
    theme_color,
};
pub use templated::{TemplatedMessage, templated};

/// Teams refuses messages over 28 KB. Microsoft's own validator checks the serialized JSON with
/// `Buffer.byteLength(json) <= 28000`, so that is the bound, in bytes of compact JSON.
pub const MAX_PAYLOAD_BYTES: usize = 28_000;

/// Title length, in characters, before escaping: a card title is one glance, not the message.
const TITLE_LIMIT: usize = 200;
/// Longest value shown for the canary's own facts: the longest a Kubernetes name may be.
const NAME_LIMIT: usize = 253;
/// What the message carries (the weight, the failing metric, the gate; the same highlights as
/// Slack shows) and the user's metadata (a canary-level hook's free-form `metadata`) share one
/// budget of `FACTS_CHARS` characters, highlights first. Each highlight is cut to
/// `HIGHLIGHT_LIMIT`; at most `USER_KEYS_LIMIT` metadata keys are shown, each key and value cut
/// to their limits. With every character escaped to its widest JSON form (6 bytes), the card
/// without the event message still stays far below `MAX_PAYLOAD_BYTES`.
const FACTS_CHARS: usize = 2_000;
const HIGHLIGHT_LIMIT: usize = 300;
const USER_KEYS_LIMIT: usize = 20;
const USER_KEY_LIMIT: usize = 64;
const USER_VALUE_LIMIT: usize = 500;
/// The links' URLs share this many bytes, so that links never crowd out the message.
const LINK_BYTES: usize = 4_000;

/// Which kind of card a webhook takes, decided once at cold start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CardFormat {
    /// Workflows (Power Automate) webhooks: an Adaptive Card in a `message` envelope.
    Adaptive,
    /// Legacy Office 365 connectors: a MessageCard.
    MessageCard,
}

impl CardFormat {
    /// What `TEAMS_CARD_FORMAT=auto` picks: connectors live on `*.webhook.office.com` (older ones
    /// on `outlook.office.com`); every other host is taken to be a Workflows webhook.
    pub fn for_host(host: &str) -> CardFormat {
        if is_connector_host(host) {
            CardFormat::MessageCard
        } else {
            CardFormat::Adaptive
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            CardFormat::Adaptive => "adaptive",
            CardFormat::MessageCard => "messagecard",
        }
    }
}

/// Whether a host belongs to a legacy Office 365 connector.
pub fn is_connector_host(host: &str) -> bool {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    host.ends_with(".webhook.office.com") || host == "outlook.office.com"
}

/// The body posted to Teams: one of the two card formats, serialized as the card itself, or
/// what `TEAMS_TEMPLATE` made of the event.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum TeamsMessage {
    Adaptive(WorkflowsMessage),
    MessageCard(MessageCard),
    Template(TemplatedMessage),
}

/// A message and the exact JSON posted: serialized once, measured against the limit with that
/// serialization, and sent as measured. Serializes (dry run, snapshots) as the message.
#[derive(Debug, Clone, PartialEq)]
pub struct TeamsPayload {
    message: TeamsMessage,
    json: Vec<u8>,
}

impl TeamsPayload {
    fn new(message: TeamsMessage, json: Vec<u8>) -> Self {
        TeamsPayload { message, json }
    }

    pub fn message(&self) -> &TeamsMessage {
        &self.message
    }

    pub fn into_message(self) -> TeamsMessage {
        self.message
    }

    /// The body of the POST: compact JSON, at most [`MAX_PAYLOAD_BYTES`].
    pub fn json(&self) -> &[u8] {
        &self.json
    }
}

impl Serialize for TeamsPayload {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.message.serialize(serializer)
    }
}

/// What a card shows, before it is put into either format. Texts are raw (unescaped) and
/// already bounded, except the event message, which is cut to fit the payload limit later.
#[derive(Debug, Clone, PartialEq)]
struct Content<'e> {
    title: String,
    severity: Severity,
    /// Where things stand, in a glyph and a word or two (`❌ Failed`), for a card's first line.
    status: (&'static str, &'static str),
    message: Option<Cow<'e, str>>,
    facts: Vec<(String, String)>,
    /// How many of `facts`, from the first, are the message's highlights (the weight, the
    /// failing metric against its threshold, the gate): what a reader acts on.
    highlights: usize,
    /// The configured links, as buttons (`Action.OpenUrl`, or `OpenUri` on a MessageCard).
    links: Vec<Link>,
    /// Whoever the card mentions at this severity (Adaptive Cards only: connectors cannot).
    mentions: Vec<Mention>,
}

/// Shown instead of the message when the payload came from a gating hook, which sends no
/// `eventMessage`.
const NO_MESSAGE: &str = "Webhook notice without an event message (a gating-hook payload).";

/// A notification as a Teams card of the given format.
pub fn message(message: &Presentation<'_>, format: CardFormat) -> TeamsPayload {
    render(&Content::new(message), format)
}

fn render(content: &Content<'_>, format: CardFormat) -> TeamsPayload {
    let (message, json) = match format {
        CardFormat::Adaptive => fit(content.message.as_deref(), |message| {
            TeamsMessage::Adaptive(adaptive::message(content, message))
        }),
        CardFormat::MessageCard => fit(content.message.as_deref(), |message| {
            TeamsMessage::MessageCard(message_card::message(content, message))
        }),
    };
    TeamsPayload::new(message, json)
}

impl<'e> Content<'e> {
    fn new(message: &Presentation<'e>) -> Self {
        let mut budget = FACTS_CHARS;
        let mut facts = highlight_facts(&message.highlights, &mut budget);
        let highlights = facts.len();
        let (picture, word) = match &message.body {
            Body::Flagger(_) => status::of_stage(message.stage),
            Body::Alertmanager(alerts) => status::of_alerts(alerts.status == "resolved"),
        };
        let status = (picture.unicode(), word);
        let text = match &message.body {
            Body::Flagger(canary) => {
                let mut fact = |name: &str, value: &str| {
                    facts.push((name.to_owned(), truncate(value, NAME_LIMIT).into_owned()))
                };
                fact("Canary", canary.name);
                fact("Namespace", canary.namespace);
                fact("Phase", canary.phase);
                if let Some(revision) = canary.revision {
                    fact("Revision", revision);
                }
                if let Some(time) = &canary.time {
                    fact("Time", time);
                }
                facts.extend(user_facts(canary.metadata, &mut budget));
                canary.message.map(Cow::Borrowed)
            }
            Body::Alertmanager(alerts) => {
                facts.extend(alert_facts(alerts));
                Some(Cow::Owned(alert_lines(alerts)))
            }
        };
        let mut link_bytes = 0;
        let links = message
            .links
            .iter()
            .take_while(|link| {
                link_bytes += link.url.len();
                link_bytes <= LINK_BYTES
            })
            .cloned()
            .collect();
        Content {
            title: truncate(&message.title, TITLE_LIMIT).into_owned(),
            severity: message.severity,
            status,
            message: text,
            facts,
            highlights,
            links,
            mentions: message.mentions.clone(),
        }
    }
}

/// One line per alert: the message of an Alertmanager card, cut like an event message to fit.
fn alert_lines(alerts: &Alerts<'_>) -> String {
    let lines: Vec<String> = alerts
        .alerts
        .iter()
        .map(|alert| {
            let mut line = format!("{}: {}", alert.status_word(), alert.subject);
            for text in [alert.summary, alert.description].into_iter().flatten() {
                line.push_str(" — ");
                line.push_str(text);
            }
            line.push_str(&format!(" (since {}", alert.starts_at));
            if let Some(ended) = alert.ends_at {
                line.push_str(&format!(", ended {ended}"));
            }
            line.push(')');
            line
        })
        .collect();
    lines.join("\n")
}

/// The group's facts and links.
fn alert_facts(alerts: &Alerts<'_>) -> Vec<(String, String)> {
    let mut facts = Vec::new();
    let mut fact = |name: &str, value: &str| {
        facts.push((
            name.to_owned(),
            truncate(value, HIGHLIGHT_LIMIT).into_owned(),
        ))
    };
    fact("Status", alerts.status);
    if let Some((name, namespace)) = alerts.canary {
        fact("Canary", name);
        fact("Namespace", namespace);
    }
    fact(
        "Alerts",
        &format!("{} firing, {} resolved", alerts.firing, alerts.resolved),
    );
    if alerts.truncated_alerts > 0 {
        fact(
            "Not shown",
            &format!(
                "{} alerts (truncated by Alertmanager)",
                alerts.truncated_alerts
            ),
        );
    }
    if !alerts.receiver.is_empty() {
        fact("Receiver", alerts.receiver);
    }
    if let Some(source) = alerts.alerts.iter().find_map(|alert| alert.source) {
        fact("Source", source);
    }
    if let Some(url) = alerts.external_url {
        fact("Alertmanager", url);
    }
    facts
}

/// The shared highlights of the message, as long as they fit in `budget`.
fn highlight_facts(highlights: &[present::Fact], budget: &mut usize) -> Vec<(String, String)> {
    let facts = highlights.iter().map(|fact| {
        let value = truncate(&fact.value, HIGHLIGHT_LIMIT).into_owned();
        (fact.label.to_owned(), value)
    });
    take_within(budget, usize::MAX, facts)
}

/// The user's metadata as facts, in key order, as long as they fit in `budget`; what is left
/// out is counted in a last fact so that nobody mistakes a cut list for the whole of it.
fn user_facts(user: &BTreeMap<String, String>, budget: &mut usize) -> Vec<(String, String)> {
    let facts = user.iter().map(|(key, value)| {
        let key = truncate(key, USER_KEY_LIMIT).into_owned();
        (key, truncate(value, USER_VALUE_LIMIT).into_owned())
    });
    let mut facts = take_within(budget, USER_KEYS_LIMIT, facts);
    let left_out = user.len() - facts.len();
    if left_out > 0 {
        let keys = if left_out == 1 { "key" } else { "keys" };
        facts.push((
            "…".to_owned(),
            format!("{left_out} more metadata {keys} not shown"),
        ));
    }
    facts
}

/// The first facts, up to `count` of them, whose characters fit in what is left of `budget`.
fn take_within(
    budget: &mut usize,
    count: usize,
    facts: impl Iterator<Item = (String, String)>,
) -> Vec<(String, String)> {
    let mut taken = Vec::new();
    for (name, value) in facts {
        let size = name.chars().count() + value.chars().count();
        if taken.len() == count || size > *budget {
            break;
        }
        *budget -= size;
        taken.push((name, value));
    }
    taken
}

/// Builds the card with the whole message if it fits in `MAX_PAYLOAD_BYTES`, otherwise with
/// the longest cut of it (ending in `…`) that does. Cutting happens on the raw text, before
/// escaping, so that no escape sequence is ever split; the serialized size is measured, not
/// estimated, because escaping and JSON encoding make it depend on which characters remain.
fn fit<T: Serialize>(message: Option<&str>, build: impl Fn(Option<&str>) -> T) -> (T, Vec<u8>) {
    let with_json = |payload: T| {
        // Most cards take 2–4 KB: sized up front, the buffer is not grown and copied. A card
        // that does not serialize is left with no JSON, which posting refuses.
        let mut json = Vec::with_capacity(4096);
        if serde_json::to_writer(&mut json, &payload).is_err() {
            json.clear();
        }
        (payload, json)
    };
    let whole = with_json(build(message));
    let Some(text) = message else { return whole };
    if whole.1.len() <= MAX_PAYLOAD_BYTES {
        return whole;
    }
    let fits =
        |kept: usize| serialized_len(&build(Some(&truncate(text, kept)))) <= MAX_PAYLOAD_BYTES;
    // Keeping `kept` characters (the last being the ellipsis) grows the payload with `kept`, so
    // the largest `kept` that fits is found by bisection. Each character takes at least one
    // byte, so more than `MAX_PAYLOAD_BYTES` of them never fit.
    let (mut fitting, mut too_long) = (0, text.chars().count().min(MAX_PAYLOAD_BYTES + 1));
    while too_long - fitting > 1 {
        let middle = fitting + (too_long - fitting) / 2;
        if fits(middle) {
            fitting = middle
        } else {
            too_long = middle
        }
    }
    with_json(build(Some(&truncate(text, fitting))))
}

/// Size of the compact JSON that is sent, counted without building it.
pub fn serialized_len<T: Serialize>(value: &T) -> usize {
    struct Counter(usize);
    impl io::Write for Counter {
        fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
            self.0 += bytes.len();
            Ok(bytes.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }
    let mut counter = Counter(0);
    match serde_json::to_writer(&mut counter, value) {
        Ok(()) => counter.0,
        Err(_) => usize::MAX,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flagger_relay_core::{CanaryEvent, Notification};

    fn event(message: &str, user: &[(&str, &str)]) -> CanaryEvent {
        let mut metadata = serde_json::json!({"eventMessage": message, "eventType": "Warning", "timestamp": "1763996400137"});
        for (key, value) in user {
            metadata[*key] = serde_json::Value::from(*value);
        }
        let body = serde_json::json!({
            "name": "podinfo", "namespace": "test", "phase": "Progressing", "checksum": "85d557f47b", "metadata": metadata
        });
        CanaryEvent::from_slice(body.to_string().as_bytes()).unwrap()
    }

    fn render(event: &CanaryEvent, format: CardFormat) -> TeamsMessage {
        payload(event, format).into_message()
    }

    fn payload(event: &CanaryEvent, format: CardFormat) -> TeamsPayload {
        let notification = Notification::Canary(event.clone());
        let classification = notification.classify();
        message(&Presentation::new(&notification, &classification), format)
    }

    const FORMATS: [CardFormat; 2] = [CardFormat::Adaptive, CardFormat::MessageCard];

    #[test]
    fn picks_messagecard_for_connector_hosts_only() {
        for host in [
            "contoso.webhook.office.com",
            "outlook.office.com",
            "Contoso.Webhook.Office.Com.",
        ] {
            assert_eq!(
                CardFormat::for_host(host),
                CardFormat::MessageCard,
                "{host}"
            );
        }
        for host in [
            "prod-12.westeurope.logic.azure.com",
            "default1234.0a.environment.api.powerplatform.com",
            "webhook.office.com",
            "evil-webhook.office.com.example",
            "outlook.office.com.example",
            "127.0.0.1",
        ] {
            assert_eq!(CardFormat::for_host(host), CardFormat::Adaptive, "{host}");
        }
    }

    #[test]
    fn keeps_a_short_message_whole() {
        let e = event("Advance podinfo.test canary weight 10", &[]);
        for format in FORMATS {
            let json = serde_json::to_string(&render(&e, format)).unwrap();
            assert!(
                json.contains("Advance podinfo.test canary weight 10"),
                "{json}"
            );
            assert!(!json.contains('…'), "{json}");
        }
    }

    /// The longest message an event can carry is the whole request body limit, and the worst
    /// characters are the ones that grow most when escaped: control characters (6 bytes of
    /// JSON each), `&` (`&amp;` in a MessageCard), markdown punctuation (backslash-escaped).
    #[test]
    fn fits_the_longest_messages_in_28_kb() {
        let limit = flagger_relay_core::contract::MAX_BODY_BYTES;
        for unit in ["x", "é", "🚀", "\u{1}", "&", "*", "<at>", "\\", "a\nb"] {
            let text = unit.repeat(limit / unit.len());
            let e = event(&text, &[]);
            for format in FORMATS {
                let json = serde_json::to_string(&render(&e, format)).unwrap();
                assert!(
                    json.len() <= MAX_PAYLOAD_BYTES,
                    "{unit:?} {format:?}: {} bytes",
                    json.len()
                );
                // The cut leaves little room unused: at most one more unit would not fit.
                assert!(
                    json.len() > MAX_PAYLOAD_BYTES - 32,
                    "{unit:?} {format:?}: only {} bytes",
                    json.len()
                );
                assert!(json.contains('…'), "{unit:?} {format:?}");
            }
        }
    }

    #[test]
    fn bounds_huge_user_metadata() {
        let keys: Vec<String> = (0..1000)
            .map(|i| format!("key-{i:04}-{}", "\u{1}".repeat(200)))
            .collect();
        let value = "\u{1}".repeat(10_000);
        let user: Vec<(&str, &str)> = keys.iter().map(|k| (k.as_str(), value.as_str())).collect();
        // A hook error is a highlight, drawn from the message: as long as the message.
        let message = format!(
            "Halt podinfo.test advancement pre-rollout check smoke-test failed {}",
            "&\u{1}".repeat(100_000)
        );
        let e = event(&message, &user);
        for format in FORMATS {
            let rendered = render(&e, format);
            let json = serde_json::to_string(&rendered).unwrap();
            assert!(
                json.len() <= MAX_PAYLOAD_BYTES,
                "{format:?}: {} bytes",
                json.len()
            );
            assert!(json.contains("more metadata keys not shown"), "{format:?}");
            assert!(json.contains("Hook error"), "{format:?}");
            // The message still gets a good share of the card.
            assert!(json.matches('&').count() > 1000, "{format:?}");
        }
    }

    #[test]
    fn counts_the_metadata_it_leaves_out() {
        let value = "v".repeat(USER_VALUE_LIMIT);
        let keys: Vec<String> = (0..5).map(|i| format!("k{i}")).collect();
        let user: Vec<(&str, &str)> = keys.iter().map(|k| (k.as_str(), value.as_str())).collect();
        let mut budget = FACTS_CHARS;
        let facts = user_facts(&event("m", &user).metadata.user, &mut budget);
        // 2,000 characters hold three 502-character entries; two are left out.
        assert_eq!(facts.len(), 4);
        assert_eq!(
            facts[3],
            ("…".to_owned(), "2 more metadata keys not shown".to_owned())
        );
    }

    #[test]
    fn leads_with_what_the_message_carries() {
        let e = event(
            "Advance podinfo.test canary weight 30",
            &[("cluster", "prod-eu")],
        );
        let TeamsMessage::Adaptive(message) = render(&e, CardFormat::Adaptive) else {
            panic!("an Adaptive Card")
        };
        let body = &message.attachments[0].content.body;
        let CardElement::Container(banner) = &body[0] else {
            panic!("the banner first")
        };
        let texts: Vec<&str> = banner.items.iter().flat_map(texts).collect();
        assert_eq!(
            texts,
            [
                "🔄 IN PROGRESS",
                "podinfo.test: canary weight 30%",
                "Canary weight",
                "▓▓▓░░░░░░░ 30%"
            ]
        );
        let CardElement::FactSet(facts) = &body[2] else {
            panic!("facts third")
        };
        let titles: Vec<&str> = facts.facts.iter().map(|f| f.title.as_str()).collect();
        assert_eq!(
            titles,
            [
                "Canary",
                "Namespace",
                "Phase",
                "Revision",
                "Time",
                "cluster"
            ]
        );
    }

    /// A long highlight (an error, a reason) does not fit a column: it leads the facts.
    #[test]
    fn keeps_a_long_highlight_with_the_facts() {
        let e = event(
            "Prometheus query failed: Post \"http://prometheus.istio-system:9090/api/v1/query\": dial tcp 10.96.0.12:9090: connect: connection refused",
            &[],
        );
        let TeamsMessage::Adaptive(message) = render(&e, CardFormat::Adaptive) else {
            panic!("an Adaptive Card")
        };
        let body = &message.attachments[0].content.body;
        let CardElement::Container(banner) = &body[0] else {
            panic!("the banner first")
        };
        assert_eq!(banner.style, ContainerStyle::Warning);
        assert!(
            !banner
                .items
                .iter()
                .any(|item| matches!(item, CardElement::ColumnSet(_)))
        );
        let CardElement::FactSet(facts) = &body[2] else {
            panic!("facts third")
        };
        assert_eq!(facts.facts[0].title, "Reason");
    }

    fn texts(element: &CardElement) -> Vec<&str> {
        match element {
            CardElement::TextBlock(block) => vec![block.text.as_str()],
            CardElement::Container(container) => container.items.iter().flat_map(texts).collect(),
            CardElement::ColumnSet(set) => set
                .columns
                .iter()
                .flat_map(|column| column.items.iter().flat_map(texts))
                .collect(),
            CardElement::FactSet(_) => Vec::new(),
        }
    }

    #[test]
    fn shows_links_as_buttons_and_mentions_with_their_entities() {
        let notification =
            Notification::Canary(event("Canary failed! Scaling down podinfo.test", &[]));
        let classification = notification.classify();
        let message = Presentation::new(&notification, &classification)
            .with_links(vec![Link {
                label: "Dashboard".into(),
                url: "https://grafana.example/d?ns=test".into(),
            }])
            .with_mentions(crate::shaping::read_mentions("jane@contoso.com|Jane Doe").unwrap());
        let adaptive =
            serde_json::to_value(super::message(&message, CardFormat::Adaptive)).unwrap();
        let card = &adaptive["attachments"][0]["content"];
        assert_eq!(card["body"][1]["text"], "<at>Jane Doe</at>");
        assert_eq!(
            card["msteams"]["entities"],
            serde_json::json!([{"type": "mention", "text": "<at>Jane Doe</at>",
                "mentioned": {"id": "jane@contoso.com", "name": "Jane Doe"}}])
        );
        assert_eq!(
            card["actions"],
            serde_json::json!([{"type": "Action.OpenUrl", "title": "Dashboard",
                "url": "https://grafana.example/d?ns=test"}])
        );
        let legacy =
            serde_json::to_value(super::message(&message, CardFormat::MessageCard)).unwrap();
        assert_eq!(
            legacy["potentialAction"],
            serde_json::json!([{"@type": "OpenUri", "name": "Dashboard",
                "targets": [{"os": "default", "uri": "https://grafana.example/d?ns=test"}]}])
        );
        assert!(
            !legacy.to_string().contains("<at>"),
            "connectors cannot mention: no dangling <at>"
        );
    }

    #[test]
    fn measures_what_serde_json_writes() {
        let e = event(
            "Halt podinfo.test advancement success rate 69.17% < 99%",
            &[("cluster", "prod-eu")],
        );
        for format in FORMATS {
            let rendered = render(&e, format);
            assert_eq!(
                serialized_len(&rendered),
                serde_json::to_vec(&rendered).unwrap().len()
            );
        }
    }

    /// What is posted is the message as it serializes, the one that was measured.
    #[test]
    fn posts_the_json_it_measured() {
        let long = "x".repeat(40_000);
        for text in ["Advance podinfo.test canary weight 30", long.as_str()] {
            for format in FORMATS {
                let payload = payload(&event(text, &[]), format);
                assert_eq!(
                    payload.json(),
                    serde_json::to_vec(payload.message()).unwrap().as_slice()
                );
                assert!(payload.json().len() <= MAX_PAYLOAD_BYTES);
            }
        }
    }
}
