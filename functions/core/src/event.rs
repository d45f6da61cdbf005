//! The Flagger event webhook payload, parsed exactly as Flagger marshals it.
//!
//! Flagger posts `{"name","namespace","phase","checksum","metadata":{…}}` where metadata holds
//! `eventMessage`, `eventType`, `timestamp` (epoch milliseconds as a string) and any user keys.
//! The same struct without the three event keys is what gating hooks receive, so a payload
//! without `eventMessage` is still a valid event.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

/// One event as Flagger sends it to the event webhook.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CanaryEvent {
    pub name: String,
    pub namespace: String,
    pub phase: Phase,
    /// Revision hash; absent from Flagger versions before 2023-09.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checksum: Option<String>,
    pub metadata: Metadata,
}

/// `metadata`: Flagger's three event keys plus whatever the canary's webhook adds.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Metadata {
    pub event_message: Option<String>,
    pub event_type: Option<EventType>,
    pub timestamp: Option<Timestamp>,
    /// User metadata (e.g. `cluster`), sorted by key as Go's encoder does.
    pub user: BTreeMap<String, String>,
}

/// Kubernetes event type: `Normal` or `Warning`; anything else is kept verbatim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventType {
    Normal,
    Warning,
    Other(String),
}

/// Event time: Unix epoch milliseconds, sent as a decimal string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Timestamp(pub i64);

/// The canary phase. Flagger writes the new phase after emitting the event, so it usually lags
/// the message: treat it as a hint, never as the truth about what just happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Phase {
    /// `""`: a brand-new canary that has no status yet.
    Unset,
    Initializing,
    Initialized,
    Waiting,
    Progressing,
    WaitingPromotion,
    Promoting,
    Finalising,
    Succeeded,
    Failed,
    Terminating,
    Terminated,
    /// A phase this version does not know, kept verbatim.
    Other(String),
}

/// Why a request body is not a Flagger event. The message is shown to the caller as is, so it
/// names the field and the problem and never echoes more than a field name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventError {
    #[error("request body is empty")]
    Empty,
    #[error("request body is not valid UTF-8")]
    NotUtf8,
    #[error("request body is not a JSON object")]
    NotAnObject,
    #[error("request body is not valid JSON: {0}")]
    NotJson(String),
    #[error("field `{field}`: {problem}")]
    Field { field: String, problem: String },
    #[error("missing required field `{0}`")]
    Missing(&'static str),
    #[error("field `metadata.timestamp` is not a number of milliseconds: {0:?}")]
    Timestamp(String),
    #[error("{0}")]
    Invalid(String),
    #[error(
        "request body is neither a Flagger event (no `name`) nor an Alertmanager notification (no `alerts`)"
    )]
    UnknownShape,
}

impl CanaryEvent {
    /// Parses a request body. Unknown top-level fields are ignored so that a future Flagger can
    /// add some without breaking the relay.
    pub fn from_slice(body: &[u8]) -> Result<Self, EventError> {
        if body.iter().all(u8::is_ascii_whitespace) {
            return Err(EventError::Empty);
        }
        let text = std::str::from_utf8(body).map_err(|_| EventError::NotUtf8)?;
        // serde would happily read a JSON array into the struct, field by field.
        if !text.trim_start().starts_with('{') {
            return Err(match serde_json::from_str::<serde::de::IgnoredAny>(text) {
                Ok(_) => EventError::NotAnObject,
                Err(err) => EventError::NotJson(quote(&err.to_string())),
            });
        }
        // Most bodies are well-formed: read them without tracking the path, which only an
        // error needs, and read again with it when there is one.
        if let Ok(wire) = serde_json::from_str::<Wire>(text) {
            return wire.try_into();
        }
        let wire: Wire = {
            let mut de = serde_json::Deserializer::from_str(text);
            let wire = serde_path_to_error::deserialize(&mut de).map_err(field_error)?;
            de.end()
                .map_err(|e| EventError::NotJson(quote(&e.to_string())))?;
            wire
        };
        wire.try_into()
    }

    /// The common case in one pass: a JSON object with a canary's keys and no `alerts`.
    /// `None` for anything else, which [`crate::Notification::from_slice`] reads in full to
    /// say what it is or what is wrong with it.
    pub(crate) fn read_flagger(body: &[u8]) -> Option<Result<Self, EventError>> {
        let text = std::str::from_utf8(body).ok()?;
        if !text.trim_start().starts_with('{') {
            return None;
        }
        let wire: Wire = serde_json::from_str(text).ok()?;
        let canary = wire.name.is_some() || wire.namespace.is_some() || wire.metadata.is_some();
        (canary && wire.alerts.is_none()).then(|| wire.try_into())
    }

    /// `namespace/name`: how Kubernetes people name an object, and how logs name a canary.
    pub fn canary_ref(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }

    pub fn event_message(&self) -> Option<&str> {
        self.metadata.event_message.as_deref()
    }
}

/// A serde error, with the path of the field it is about.
pub(crate) fn field_error(err: serde_path_to_error::Error<serde_json::Error>) -> EventError {
    let path = err.path().to_string();
    let inner = err.into_inner();
    match inner.classify() {
        serde_json::error::Category::Data if path != "." => EventError::Field {
            field: path,
            problem: strip_position(&inner),
        },
        serde_json::error::Category::Data if inner.to_string().starts_with("invalid type") => {
            EventError::NotAnObject
        }
        serde_json::error::Category::Data => EventError::Invalid(strip_position(&inner)),
        _ => EventError::NotJson(quote(&inner.to_string())),
    }
}

/// serde_json appends "at line 1 column 17"; the field path already says where. serde quotes
/// the offending value, which can be as long as the body: the problem is named in far less.
fn strip_position(err: &serde_json::Error) -> String {
    let text = err.to_string();
    let text = match text.rfind(" at line ") {
        Some(at) => &text[..at],
        None => &text,
    };
    quote(text)
}

/// How much of a caller's own input a refusal quotes back.
const QUOTE_LIMIT: usize = 200;

fn quote(text: &str) -> String {
    crate::text::truncate(text, QUOTE_LIMIT).into_owned()
}

#[derive(Deserialize)]
struct Wire {
    /// Only to tell an Alertmanager group, which has it, from an event; never kept.
    #[serde(default)]
    alerts: Option<serde::de::IgnoredAny>,
    name: Option<String>,
    namespace: Option<String>,
    #[serde(default)]
    phase: Option<String>,
    #[serde(default)]
    checksum: Option<String>,
    #[serde(default)]
    metadata: Option<BTreeMap<String, String>>,
}

impl TryFrom<Wire> for CanaryEvent {
    type Error = EventError;

    fn try_from(wire: Wire) -> Result<Self, EventError> {
        let name = wire
            .name
            .filter(|s| !s.is_empty())
            .ok_or(EventError::Missing("name"))?;
        let namespace = wire
            .namespace
            .filter(|s| !s.is_empty())
            .ok_or(EventError::Missing("namespace"))?;
        let mut user = wire.metadata.unwrap_or_default();
        let event_message = user.remove("eventMessage");
        let event_type = user.remove("eventType").map(EventType::from);
        let timestamp = user
            .remove("timestamp")
            .map(|raw| {
                raw.trim().parse().map(Timestamp).map_err(|_| {
                    EventError::Timestamp(crate::text::truncate(&raw, 40).into_owned())
                })
            })
            .transpose()?;
        Ok(CanaryEvent {
            name,
            namespace,
            phase: Phase::from(wire.phase.unwrap_or_default()),
            checksum: wire.checksum.filter(|c| !c.is_empty()),
            metadata: Metadata {
                event_message,
                event_type,
                timestamp,
                user,
            },
        })
    }
}

impl Serialize for Metadata {
    /// Back to Flagger's own shape: one flat, key-sorted map of strings.
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut all: BTreeMap<&str, std::borrow::Cow<'_, str>> = self
            .user
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str().into()))
            .collect();
        if let Some(message) = &self.event_message {
            all.insert("eventMessage", message.as_str().into());
        }
        if let Some(kind) = &self.event_type {
            all.insert("eventType", kind.as_str().into());
        }
        if let Some(ts) = self.timestamp {
            all.insert("timestamp", ts.0.to_string().into());
        }
        all.serialize(serializer)
    }
}

impl Phase {
    pub fn as_str(&self) -> &str {
        match self {
            Phase::Unset => "",
            Phase::Initializing => "Initializing",
            Phase::Initialized => "Initialized",
            Phase::Waiting => "Waiting",
            Phase::Progressing => "Progressing",
            Phase::WaitingPromotion => "WaitingPromotion",
            Phase::Promoting => "Promoting",
            Phase::Finalising => "Finalising",
            Phase::Succeeded => "Succeeded",
            Phase::Failed => "Failed",
            Phase::Terminating => "Terminating",
            Phase::Terminated => "Terminated",
            Phase::Other(other) => other,
        }
    }
}

impl From<String> for Phase {
    fn from(raw: String) -> Self {
        match raw.as_str() {
            "" => Phase::Unset,
            "Initializing" => Phase::Initializing,
            "Initialized" => Phase::Initialized,
            "Waiting" => Phase::Waiting,
            "Progressing" => Phase::Progressing,
            "WaitingPromotion" => Phase::WaitingPromotion,
            "Promoting" => Phase::Promoting,
            "Finalising" => Phase::Finalising,
            "Succeeded" => Phase::Succeeded,
            "Failed" => Phase::Failed,
            "Terminating" => Phase::Terminating,
            "Terminated" => Phase::Terminated,
            _ => Phase::Other(raw),
        }
    }
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Phase {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl EventType {
    pub fn as_str(&self) -> &str {
        match self {
            EventType::Normal => "Normal",
            EventType::Warning => "Warning",
            EventType::Other(other) => other,
        }
    }
}

impl From<String> for EventType {
    fn from(raw: String) -> Self {
        match raw.as_str() {
            "Normal" => EventType::Normal,
            "Warning" => EventType::Warning,
            _ => EventType::Other(raw),
        }
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Timestamp {
    /// RFC 3339 in UTC with millisecond precision, e.g. `2025-11-24T15:00:00.137Z`.
    /// `None` for values outside the calendar `time` can represent.
    pub fn to_rfc3339(self) -> Option<String> {
        let nanos = i128::from(self.0) * 1_000_000;
        let at = time::OffsetDateTime::from_unix_timestamp_nanos(nanos).ok()?;
        let mut text = date_and_time(at, 'T');
        text.push('.');
        push_digits(&mut text, u32::from(at.millisecond()), 3);
        text.push('Z');
        Some(text)
    }

    /// A short human form for chat messages: `2025-11-24 15:00:00 UTC`.
    pub fn to_display(self) -> Option<String> {
        let at = time::OffsetDateTime::from_unix_timestamp(self.0.div_euclid(1000)).ok()?;
        let mut text = date_and_time(at, ' ');
        text.push_str(" UTC");
        Some(text)
    }
}

/// `2025-11-24T15:00:00` (with `separator` between date and time), as `time`'s `[year]-[month]-
/// [day]` and `[hour]:[minute]:[second]` write it, without its formatting machinery: every
/// event is stamped, and that machinery was a noticeable part of rendering one.
fn date_and_time(at: time::OffsetDateTime, separator: char) -> String {
    let mut text = String::with_capacity(32);
    let year = at.year();
    if year < 0 {
        text.push('-');
    }
    push_digits(&mut text, year.unsigned_abs(), 4);
    text.push('-');
    push_digits(&mut text, u32::from(u8::from(at.month())), 2);
    text.push('-');
    push_digits(&mut text, u32::from(at.day()), 2);
    text.push(separator);
    push_digits(&mut text, u32::from(at.hour()), 2);
    text.push(':');
    push_digits(&mut text, u32::from(at.minute()), 2);
    text.push(':');
    push_digits(&mut text, u32::from(at.second()), 2);
    text
}

/// `value` in decimal, zero-padded to at least `width` digits.
fn push_digits(text: &mut String, value: u32, width: usize) {
    let mut digits = [b'0'; 10];
    let (mut rest, mut at) = (value, digits.len());
    while rest > 0 || digits.len() - at < width {
        at -= 1;
        digits[at] = b'0' + (rest % 10) as u8;
        rest /= 10;
    }
    digits[at..]
        .iter()
        .for_each(|&digit| text.push(char::from(digit)));
}

#[cfg(test)]
mod tests {
    use super::*;

    const ADVANCE: &str = r#"{"name":"podinfo","namespace":"test","phase":"Progressing","checksum":"85d557f47b","metadata":{"cluster":"prod-eu","eventMessage":"Advance podinfo.test canary weight 10","eventType":"Normal","timestamp":"1721556000123"}}"#;

    #[test]
    fn parses_the_payload_flagger_sends() {
        let event = CanaryEvent::from_slice(ADVANCE.as_bytes()).unwrap();
        assert_eq!(event.name, "podinfo");
        assert_eq!(event.namespace, "test");
        assert_eq!(event.phase, Phase::Progressing);
        assert_eq!(event.checksum.as_deref(), Some("85d557f47b"));
        assert_eq!(
            event.event_message(),
            Some("Advance podinfo.test canary weight 10")
        );
        assert_eq!(event.metadata.event_type, Some(EventType::Normal));
        assert_eq!(event.metadata.timestamp, Some(Timestamp(1_721_556_000_123)));
        assert_eq!(
            event.metadata.user.get("cluster").map(String::as_str),
            Some("prod-eu")
        );
    }

    #[test]
    fn serializes_back_byte_for_byte() {
        let event = CanaryEvent::from_slice(ADVANCE.as_bytes()).unwrap();
        assert_eq!(serde_json::to_string(&event).unwrap(), ADVANCE);
    }

    #[test]
    fn decodes_go_html_escapes() {
        let body = r#"{"name":"a","namespace":"b","phase":"Progressing","metadata":{"eventMessage":"x \u003c 99% \u0026 y \u003e 1"}}"#;
        let event = CanaryEvent::from_slice(body.as_bytes()).unwrap();
        assert_eq!(event.event_message(), Some("x < 99% & y > 1"));
    }

    #[test]
    fn accepts_every_phase_flagger_has_and_keeps_unknown_ones() {
        for phase in [
            "",
            "Initializing",
            "Initialized",
            "Waiting",
            "Progressing",
            "WaitingPromotion",
            "Promoting",
            "Finalising",
            "Succeeded",
            "Failed",
            "Terminating",
            "Terminated",
            "Paused",
        ] {
            let body =
                format!(r#"{{"name":"a","namespace":"b","phase":"{phase}","metadata":{{}}}}"#);
            let event = CanaryEvent::from_slice(body.as_bytes()).unwrap();
            assert_eq!(event.phase.as_str(), phase);
        }
        let unknown = Phase::from("Paused".to_owned());
        assert_eq!(unknown, Phase::Other("Paused".into()));
    }

    #[test]
    fn accepts_a_payload_without_checksum_from_older_flagger() {
        let body = r#"{"name":"a","namespace":"b","phase":"Progressing","metadata":{"eventMessage":"m","eventType":"Normal","timestamp":"1"}}"#;
        assert_eq!(
            CanaryEvent::from_slice(body.as_bytes()).unwrap().checksum,
            None
        );
    }

    #[test]
    fn accepts_a_gating_hook_payload_without_event_keys() {
        let body = r#"{"name":"a","namespace":"b","phase":"Progressing","checksum":"7f","metadata":{"approver":"team-a"}}"#;
        let event = CanaryEvent::from_slice(body.as_bytes()).unwrap();
        assert_eq!(event.event_message(), None);
        assert_eq!(event.metadata.timestamp, None);
    }

    #[test]
    fn rejects_what_is_not_an_event_naming_the_problem() {
        let cases: &[(&[u8], &str)] = &[
            (b"", "request body is empty"),
            (b"\xff\xfe{}", "request body is not valid UTF-8"),
            (b"{\"name\":", "request body is not valid JSON"),
            (b"[1,2]", "request body is not a JSON object"),
            (
                b"{\"name\":5,\"namespace\":\"b\"}",
                "field `name`: invalid type: integer `5`",
            ),
            (b"{\"namespace\":\"b\"}", "missing required field `name`"),
            (b"{\"name\":\"a\"}", "missing required field `namespace`"),
            (
                b"{\"name\":\"a\",\"namespace\":\"b\",\"metadata\":{\"timestamp\":\"soon\"}}",
                "field `metadata.timestamp` is not a number",
            ),
            (
                b"{\"name\":\"a\",\"namespace\":\"b\",\"metadata\":{\"retries\":3}}",
                "field `metadata.retries`: invalid type: integer `3`",
            ),
            (
                b"{\"name\":\"a\",\"namespace\":\"b\"} trailing",
                "request body is not valid JSON",
            ),
        ];
        for (body, expected) in cases {
            let err = CanaryEvent::from_slice(body).unwrap_err().to_string();
            assert!(
                err.starts_with(expected),
                "{body:?}: got {err:?}, want {expected:?}"
            );
        }
    }

    #[test]
    fn formats_event_time_in_utc() {
        assert_eq!(
            Timestamp(1_763_996_400_137).to_rfc3339().as_deref(),
            Some("2025-11-24T15:00:00.137Z")
        );
        assert_eq!(
            Timestamp(1_763_996_400_137).to_display().as_deref(),
            Some("2025-11-24 15:00:00 UTC")
        );
    }

    /// Written as `time`'s own format descriptions write it, across the calendar it covers.
    #[test]
    fn writes_times_as_time_formats_them() {
        let rfc3339 = time::macros::format_description!(
            "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
        );
        let display =
            time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second] UTC");
        for ms in [
            0,
            1,
            -1,
            999,
            1_763_996_400_137,
            -62_135_596_800_001,
            -377_705_116_800_000,
            253_402_300_799_999,
            i64::MAX,
            i64::MIN,
        ] {
            let at = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000);
            assert_eq!(
                Timestamp(ms).to_rfc3339(),
                at.ok().and_then(|at| at.format(&rfc3339).ok()),
                "{ms}"
            );
            let at = time::OffsetDateTime::from_unix_timestamp(ms.div_euclid(1000));
            assert_eq!(
                Timestamp(ms).to_display(),
                at.ok().and_then(|at| at.format(&display).ok()),
                "{ms}"
            );
        }
    }
}
