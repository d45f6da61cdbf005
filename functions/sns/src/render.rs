//! Flagger event → the input of one SNS `Publish`. Pure: event in, request out; no clock, no
//! configuration beyond whether the topic is FIFO.
//!
//! The message uses `MessageStructure: json`: `default` is the machine-readable
//! [`EventDocument`] (schema in `SCHEMA.md`), which SNS hands to every protocol without a key of
//! its own (SQS, Lambda, HTTP/S, email-json, …); `email` is a plain-text rendering. Whatever
//! the event holds, the request fits SNS's limits, so `Publish` never fails on its input:
//! the subject is one line under 100 characters, no attribute is empty, and message plus
//! attributes stay under 256 KiB.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;
use sha2::{Digest, Sha256};

use flagger_relay_core::alertmanager::{AlertGroup, AlertStatus};
use flagger_relay_core::event::{EventType, Phase};
pub use flagger_relay_core::fan_out::{
    AlertsDocument, Document, EventDocument, SCHEMA_VERSION, SOURCE_ALERTMANAGER,
};
use flagger_relay_core::present::Link;
use flagger_relay_core::template::{RenderError, Template};
use flagger_relay_core::text::truncate;
use flagger_relay_core::{CanaryEvent, Classification, Notification, Presentation};

/// SNS's limit for message plus attributes (262,144 bytes).
pub const MESSAGE_LIMIT: usize = 256 * 1024;

/// What the renderer allows itself: the limit less some room for the way SNS accounts for
/// attributes (name, data type and value), which is documented only loosely.
const MESSAGE_BUDGET: usize = MESSAGE_LIMIT - 512;

/// "Subjects must be UTF-8 text with no line breaks or control characters, and less than 100
/// characters long." Counted in UTF-8 bytes, the strictest reading: bytes ≥ UTF-16 units ≥
/// code points, whichever SNS counts.
const SUBJECT_LIMIT: usize = 99;

/// A summary is one line; the full text stays in `metadata.eventMessage`.
const SUMMARY_LIMIT: usize = 256;

/// FIFO topics: `MessageGroupId` holds at most 128 characters.
const GROUP_ID_LIMIT: usize = 128;

/// What the email keeps when the JSON document needs the room.
const EMAIL_FLOOR: usize = 4 * 1024;

/// The last resort for a payload Flagger would never send: every field of the event is cut to
/// this many characters (Kubernetes names are at most 253), user metadata to this many bytes.
const FIELD_CAP: usize = 253;
const USER_METADATA_CAP: usize = 8 * 1024;

/// What each text in `details` keeps once the document has to be cut: they are excerpts of
/// the message, which the document carries (cut as well) beside them.
const DETAILS_TEXT_CAP: usize = 1024;

const EMAIL_CUT_NOTE: &str = "…\n\n[Message cut to fit the SNS message size limit.]";
const ELLIPSIS: &str = "…";

/// The input of one `Publish`, serialized (dry run, snapshots) in the API's own field names,
/// with `Message` shown decoded: on the wire it is the JSON text [`SnsPublish::message`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SnsPublish {
    #[serde(rename = "Subject")]
    subject: String,
    #[serde(rename = "MessageStructure")]
    message_structure: &'static str,
    #[serde(rename = "Message")]
    documents: Documents,
    #[serde(rename = "MessageAttributes")]
    attributes: BTreeMap<&'static str, StringAttribute>,
    #[serde(rename = "MessageGroupId", skip_serializing_if = "Option::is_none")]
    group_id: Option<String>,
    #[serde(
        rename = "MessageDeduplicationId",
        skip_serializing_if = "Option::is_none"
    )]
    dedup_id: Option<String>,
    /// Exactly what is sent as `Message`, and what was measured against the limit.
    #[serde(skip)]
    message: String,
}

/// The per-protocol messages.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Documents {
    pub default: Document,
    pub email: String,
}

/// A message attribute; the relay only sends `String`s.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StringAttribute {
    #[serde(rename = "DataType")]
    pub data_type: &'static str,
    #[serde(rename = "StringValue")]
    pub value: String,
}

impl SnsPublish {
    pub fn subject(&self) -> &str {
        &self.subject
    }

    /// The `Message` parameter: `{"default": "<document JSON>", "email": "<text>"}`.
    pub fn message(&self) -> &str {
        &self.message
    }

    pub fn documents(&self) -> &Documents {
        &self.documents
    }

    /// Attribute name → `String` value, for filter policies.
    pub fn attributes(&self) -> impl Iterator<Item = (&'static str, &str)> {
        self.attributes
            .iter()
            .map(|(name, attribute)| (*name, attribute.value.as_str()))
    }

    /// `MessageGroupId`, for FIFO topics only.
    pub fn group_id(&self) -> Option<&str> {
        self.group_id.as_deref()
    }

    /// `MessageDeduplicationId`, for FIFO topics only.
    pub fn dedup_id(&self) -> Option<&str> {
        self.dedup_id.as_deref()
    }

    /// The size SNS holds against its limit: message, attribute names, types and values (and
    /// the subject, which SNS does not count, to stay on the safe side).
    pub fn size(&self) -> usize {
        self.message.len() + self.subject.len() + attributes_size(&self.attributes)
    }
}

/// The deployment's own subject and email (`SNS_SUBJECT_TEMPLATE`, `SNS_EMAIL_TEMPLATE`). The
/// document (`default`) is a contract and has no template.
#[derive(Debug, Default)]
pub struct Templates {
    pub subject: Option<Template>,
    pub email: Option<Template>,
}

/// A subject or email a template wrote for one event.
#[derive(Debug, Default)]
struct Wording {
    subject: Option<String>,
    email: Option<String>,
}

/// Renders the `Publish` input for one notification. `fifo`: the topic is a FIFO topic, so
/// the request carries a group and a deduplication id.
pub fn publish(message: &Presentation<'_>, fifo: bool) -> SnsPublish {
    build(message, fifo, Wording::default())
}

/// [`publish`], with the subject and email from the deployment's templates where it has them.
/// The subject still follows SNS's rules (one line, under 100 characters), and the email is
/// cut like the built-in one to fit the message limit.
pub fn publish_with(
    message: &Presentation<'_>,
    fifo: bool,
    templates: &Templates,
) -> Result<SnsPublish, RenderError> {
    let render = |template: &Option<Template>| {
        template
            .as_ref()
            .map(|template| template.render(message))
            .transpose()
    };
    let wording = Wording {
        subject: render(&templates.subject)?,
        email: render(&templates.email)?,
    };
    Ok(build(message, fifo, wording))
}

fn build(message: &Presentation<'_>, fifo: bool, wording: Wording) -> SnsPublish {
    match message.event {
        Notification::Canary(event) => publish_event(message, event, fifo, wording),
        Notification::Alerts(group) => publish_alerts(message, group, fifo, wording),
    }
}

fn publish_event(
    message: &Presentation<'_>,
    event: &CanaryEvent,
    fifo: bool,
    wording: Wording,
) -> SnsPublish {
    let classification = message.classification;
    let summary = summary(event, classification);
    let email_templated = wording.email.is_some();
    let email = wording
        .email
        .unwrap_or_else(|| email_with(&summary, event, classification, &message.links));
    let draft = Draft {
        subject: subject(wording.subject.as_deref().unwrap_or(&summary)),
        document: EventDocument {
            schema: SCHEMA_VERSION,
            event: event.clone(),
            time: event.metadata.timestamp.and_then(|ts| ts.to_rfc3339()),
            summary,
            stage: classification.stage,
            severity: classification.severity,
            details: serde_json::to_value(&classification.details).unwrap_or_default(),
            links: message.links.clone(),
            truncated: false,
        },
        email,
        email_templated,
        classification,
        attributes: attributes(event, classification),
        // Both ids come from the event as received, before any cut: a retry of the same
        // payload is deduplicated whatever happens to its rendering.
        group_id: fifo.then(|| group_id(event)),
        dedup_id: fifo.then(|| dedup_id(event)),
    };
    fit(draft)
}

/// `podinfo.test: Advance podinfo.test canary weight 10`: the same title the chat renderers
/// use, on one line.
pub fn summary(event: &CanaryEvent, classification: &Classification) -> String {
    let title = format!(
        "{}.{}: {}",
        event.name, event.namespace, classification.headline
    );
    truncate(&one_line(&title), SUMMARY_LIMIT).into_owned()
}

/// The summary as SNS accepts a subject: no line breaks or control characters, under 100.
pub fn subject(summary: &str) -> String {
    let line = one_line(summary);
    let cut = if line.len() <= SUBJECT_LIMIT {
        line.into_owned()
    } else {
        flagger_relay_core::text::truncate_bytes(&line, SUBJECT_LIMIT).into_owned()
    };
    if cut.is_empty() {
        "Flagger event".to_owned()
    } else {
        cut
    }
}

/// `namespace/name`: ordering is per canary. Characters SNS does not allow in a group id are
/// replaced, and a reference too long for 128 characters is cut and given a hash of the
/// whole, so that two canaries never share a group by accident.
pub fn group_id(event: &CanaryEvent) -> String {
    group_id_of(event.canary_ref())
}

fn group_id_of(reference: String) -> String {
    let allowed = |c: char| c.is_ascii_graphic();
    if reference.len() <= GROUP_ID_LIMIT && reference.chars().all(allowed) {
        return reference;
    }
    let hash = sha256_hex(reference.as_bytes());
    let suffix = &hash[..16];
    let keep = GROUP_ID_LIMIT - suffix.len() - 1;
    let prefix: String = reference
        .chars()
        .map(|c| if allowed(c) { c } else { '_' })
        .take(keep)
        .collect();
    format!("{prefix}~{suffix}")
}

/// SHA-256 of the event in its canonical form (Flagger's own field order, metadata sorted,
/// timestamp included): the same payload re-sent by a retry is deduplicated, two events never
/// are. Alertmanager hashes the alert group without the time, so its "resolved" notice is
/// dropped as a duplicate of the "firing" one; this is unique per event.
pub fn dedup_id(event: &CanaryEvent) -> String {
    let canonical = serde_json::to_vec(event).unwrap_or_default();
    sha256_hex(&canonical)
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .fold(String::with_capacity(64), |mut hex, byte| {
            let _ = write!(hex, "{byte:02x}");
            hex
        })
}

/// Annotation texts keep this many characters when an alert group has to be cut to fit.
const ANNOTATION_CAP: usize = 1024;

/// Renders the `Publish` input for an Alertmanager notification. Ordering on a FIFO topic is
/// per canary (or per alert group without one); the deduplication id is unique per
/// notification, status included, so a "resolved" is never dropped as a copy of "firing".
fn publish_alerts(
    message: &Presentation<'_>,
    group: &AlertGroup,
    fifo: bool,
    wording: Wording,
) -> SnsPublish {
    let (notification, classification) = (message.event, message.classification);
    let summary = truncate(&one_line(&message.title), SUMMARY_LIMIT).into_owned();
    let firing = group.status == AlertStatus::Firing;
    let canary = group.canary();
    let values: [(&'static str, Option<&str>); 6] = [
        ("name", canary.map(|(name, _)| name)),
        ("namespace", canary.map(|(_, namespace)| namespace)),
        ("eventType", Some(if firing { "Warning" } else { "Normal" })),
        ("stage", Some(classification.stage.as_str())),
        ("severity", Some(classification.severity.as_str())),
        ("source", Some(SOURCE_ALERTMANAGER)),
    ];
    let attributes: BTreeMap<&'static str, StringAttribute> = values
        .into_iter()
        .filter_map(|(name, value)| {
            let value = attribute_value(value?);
            (!value.is_empty()).then_some((
                name,
                StringAttribute {
                    data_type: "String",
                    value,
                },
            ))
        })
        .collect();
    let group_id = fifo.then(|| {
        group_id_of(
            notification
                .canary_ref()
                .unwrap_or_else(|| group.group_key.clone()),
        )
    });
    let dedup_id = fifo.then(|| sha256_hex(&serde_json::to_vec(group).unwrap_or_default()));
    let build = |group: AlertGroup, truncated: bool| {
        let email = match &wording.email {
            Some(email) => cut(email, MESSAGE_BUDGET / 2, escaped_len, EMAIL_CUT_NOTE),
            None => alerts_email(&summary, &group, &message.links),
        };
        let documents = Documents {
            default: Document::Alerts(AlertsDocument {
                schema: SCHEMA_VERSION,
                source: SOURCE_ALERTMANAGER,
                name: canary.map(|(name, _)| name.to_owned()),
                namespace: canary.map(|(_, namespace)| namespace.to_owned()),
                summary: summary.clone(),
                stage: classification.stage,
                severity: classification.severity,
                alertmanager: group,
                links: message.links.clone(),
                truncated,
            }),
            email,
        };
        SnsPublish {
            subject: subject(wording.subject.as_deref().unwrap_or(&summary)),
            message_structure: "json",
            message: message_json(&documents.default, &documents.email),
            documents,
            attributes: attributes.clone(),
            group_id: group_id.clone(),
            dedup_id: dedup_id.clone(),
        }
    };
    let whole = build(group.clone(), false);
    if whole.size() <= MESSAGE_BUDGET {
        return whole;
    }
    // Too big: shorten every annotation, then leave out alerts from the end until it fits.
    let mut cut = group.clone();
    for alert in &mut cut.alerts {
        for text in alert.annotations.values_mut() {
            *text = truncate(text, ANNOTATION_CAP).into_owned();
        }
    }
    loop {
        let publish = build(cut.clone(), true);
        if publish.size() <= MESSAGE_BUDGET || cut.alerts.is_empty() {
            return publish;
        }
        cut.alerts.truncate(cut.alerts.len() / 2);
    }
}

fn alerts_email(summary: &str, group: &AlertGroup, links: &[Link]) -> String {
    let mut text = String::new();
    let _ = writeln!(text, "{summary}\n");
    let _ = writeln!(text, "{:<10}{}", "Status", group.status.as_str());
    if let Some((name, namespace)) = group.canary() {
        let _ = writeln!(
            text,
            "{:<10}{}/{}",
            "Canary",
            one_line(namespace),
            one_line(name)
        );
    }
    if !group.receiver.is_empty() {
        let _ = writeln!(text, "{:<10}{}", "Receiver", one_line(&group.receiver));
    }
    if !group.external_url.is_empty() {
        let _ = writeln!(text, "{:<10}{}", "Link", one_line(&group.external_url));
    }
    links_section(&mut text, links);
    text.push_str("\nAlerts\n");
    for alert in &group.alerts {
        let name = alert.alertname().unwrap_or("alert");
        let _ = writeln!(text, "- {} {}", alert.status.as_str(), one_line(name));
        for (key, value) in &alert.annotations {
            let _ = writeln!(text, "    {}: {}", one_line(key), one_line(value));
        }
        let _ = writeln!(text, "    since {}", one_line(&alert.starts_at));
        if !alert.generator_url.is_empty() {
            let _ = writeln!(text, "    {}", one_line(&alert.generator_url));
        }
    }
    if group.truncated_alerts > 0 {
        let _ = writeln!(
            text,
            "\n{} more alerts were left out by Alertmanager.",
            group.truncated_alerts
        );
    }
    text
}

/// What attributes count against the limit: names, data types and values.
fn attributes_size(attributes: &BTreeMap<&'static str, StringAttribute>) -> usize {
    attributes
        .iter()
        .map(|(name, attribute)| name.len() + attribute.data_type.len() + attribute.value.len())
        .sum()
}

/// Filter-policy attributes. An empty value (a brand-new canary's phase `""`) is left out:
/// SNS rejects empty attribute values.
pub fn attributes(
    event: &CanaryEvent,
    classification: &Classification,
) -> BTreeMap<&'static str, StringAttribute> {
    let values: [(&'static str, Option<&str>); 7] = [
        ("name", Some(&event.name)),
        ("namespace", Some(&event.namespace)),
        ("phase", Some(event.phase.as_str())),
        (
            "eventType",
            event.metadata.event_type.as_ref().map(EventType::as_str),
        ),
        ("stage", Some(classification.stage.as_str())),
        ("severity", Some(classification.severity.as_str())),
        ("source", Some("flagger")),
    ];
    values
        .into_iter()
        .filter_map(|(name, value)| {
            let value = attribute_value(value?);
            (!value.is_empty()).then_some((
                name,
                StringAttribute {
                    data_type: "String",
                    value,
                },
            ))
        })
        .collect()
}

/// Keeps an attribute deliverable everywhere SNS sends it: SQS (raw delivery copies
/// attributes) accepts only XML characters, so others become U+FFFD.
fn attribute_value(value: &str) -> String {
    let xml = |c: char| {
        (!c.is_control() || matches!(c, '\t' | '\n' | '\r'))
            && !matches!(c, '\u{FFFE}' | '\u{FFFF}')
    };
    if value.chars().all(xml) {
        return value.to_owned();
    }
    value
        .chars()
        .map(|c| if xml(c) { c } else { '\u{FFFD}' })
        .collect()
}

/// `Links` and one `Label: URL` line per link, after a blank line; nothing without links.
fn links_section(text: &mut String, links: &[Link]) {
    if links.is_empty() {
        return;
    }
    text.push_str("\nLinks\n");
    for link in links {
        let _ = writeln!(text, "  {}: {}", one_line(&link.label), link.url);
    }
}

/// The `email` message: plain text, facts first, the links, the event message last so that a
/// cut for size only ever shortens the message.
pub fn email(event: &CanaryEvent, classification: &Classification, links: &[Link]) -> String {
    email_with(
        &summary(event, classification),
        event,
        classification,
        links,
    )
}

/// [`email`], under a summary already worked out.
fn email_with(
    summary: &str,
    event: &CanaryEvent,
    classification: &Classification,
    links: &[Link],
) -> String {
    let mut text = String::with_capacity(512 + event.event_message().map_or(0, str::len));
    let _ = writeln!(text, "{summary}\n");
    let mut fact = |label: &str, value: &str| {
        // `{label:<10}`, without the formatting machinery: labels are short ASCII words.
        text.push_str(label);
        text.extend(std::iter::repeat_n(
            ' ',
            10usize.saturating_sub(label.len()),
        ));
        text.push_str(&one_line(value));
        text.push('\n');
    };
    fact("Canary", &event.canary_ref());
    fact(
        "Phase",
        if event.phase == Phase::Unset {
            "(none)"
        } else {
            event.phase.as_str()
        },
    );
    fact("Stage", classification.stage.as_str());
    fact("Severity", classification.severity.as_str());
    if let Some(kind) = &event.metadata.event_type {
        fact("Type", kind.as_str());
    }
    if let Some(time) = event.metadata.timestamp.and_then(|ts| ts.to_display()) {
        fact("Time", &time);
    }
    if let Some(checksum) = &event.checksum {
        fact("Revision", checksum);
    }
    if !event.metadata.user.is_empty() {
        text.push_str("\nMetadata\n");
        for (key, value) in &event.metadata.user {
            let _ = writeln!(text, "  {}: {}", one_line(key), one_line(value));
        }
    }
    links_section(&mut text, links);
    text.push_str("\nMessage\n");
    match event.event_message() {
        Some(message) => text.push_str(&multi_line(message)),
        None => text.push_str("(none: a gating-hook payload carries no event message)"),
    }
    text.push('\n');
    text
}

/// Control characters and line breaks (Unicode's too) become spaces; runs of spaces collapse.
fn one_line(text: &str) -> Cow<'_, str> {
    // Most texts are printable ASCII with single spaces between words: nothing to change.
    let mut space = true;
    let plain = text.bytes().all(|b| {
        let printable = (b'!'..=b'~').contains(&b) || (b == b' ' && !space);
        space = b == b' ';
        printable
    }) && !space;
    if plain {
        return Cow::Borrowed(text);
    }
    let mut line = String::with_capacity(text.len());
    for c in text.chars() {
        let c = if c.is_control() || c.is_whitespace() {
            ' '
        } else {
            c
        };
        if c == ' ' && (line.is_empty() || line.ends_with(' ')) {
            continue;
        }
        line.push(c);
    }
    line.truncate(line.trim_end().len());
    Cow::Owned(line)
}

/// Keeps line breaks and tabs, turns other control characters into spaces.
fn multi_line(text: &str) -> Cow<'_, str> {
    if !text
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\t'))
    {
        return Cow::Borrowed(text);
    }
    let text: String = text
        .replace("\r\n", "\n")
        .chars()
        .map(|c| {
            if c.is_control() && !matches!(c, '\n' | '\t') {
                ' '
            } else {
                c
            }
        })
        .collect();
    Cow::Owned(text)
}

/// Everything a `Publish` is rendered from, in a form the size fitting can shorten in place.
#[derive(Clone)]
struct Draft<'c> {
    subject: String,
    document: EventDocument,
    email: String,
    /// The email came from `SNS_EMAIL_TEMPLATE`: cut to fit like the built-in one, never
    /// replaced by it.
    email_templated: bool,
    classification: &'c Classification,
    attributes: BTreeMap<&'static str, StringAttribute>,
    group_id: Option<String>,
    dedup_id: Option<String>,
}

impl Draft<'_> {
    /// The `Message` as it would be sent now.
    fn message(&self) -> String {
        message_json(&self.document, &self.email)
    }

    /// What SNS would count for the `Message` given: see [`SnsPublish::size`].
    fn size(&self, message: &str) -> usize {
        message.len() + self.subject.len() + attributes_size(&self.attributes)
    }

    /// The `Publish` with `message`, worked out from this draft as it stands.
    fn finish(self, message: String) -> SnsPublish {
        SnsPublish {
            subject: self.subject,
            message_structure: "json",
            message,
            documents: Documents {
                default: Document::Event(self.document),
                email: self.email,
            },
            attributes: self.attributes,
            group_id: self.group_id,
            dedup_id: self.dedup_id,
        }
    }
}

/// `{"default":"<document as JSON text>","email":"<text>"}`: SNS wants each protocol's
/// message as a string, so the document is JSON inside JSON.
fn message_json(default: &impl Serialize, email: &str) -> String {
    #[derive(Serialize)]
    struct Message<'a> {
        default: &'a str,
        email: &'a str,
    }
    // Sized for a typical event up front: growing the buffers cost more than filling them.
    let mut document = Vec::with_capacity(2048);
    let mut message = Vec::with_capacity(3072 + email.len());
    let written = serde_json::to_writer(&mut document, default).and_then(|()| {
        let default = std::str::from_utf8(&document).map_err(serde::ser::Error::custom)?;
        serde_json::to_writer(&mut message, &Message { default, email })
    });
    match written.map(|()| String::from_utf8(message)) {
        Ok(Ok(message)) => message,
        _ => String::new(),
    }
}

/// Shortens the human text first, then the copy of `eventMessage` in the document, then (for
/// payloads Flagger never sends) every field, until message and attributes fit.
fn fit(mut draft: Draft<'_>) -> SnsPublish {
    let message = draft.message();
    if draft.size(&message) <= MESSAGE_BUDGET {
        return draft.finish(message);
    }
    if let Some(publish) = fit_email(&mut draft) {
        return publish;
    }
    if let Some(publish) = fit_event_message(&mut draft) {
        return publish;
    }
    cap_every_field(&mut draft);
    if let Some(publish) = fit_email(&mut draft) {
        return publish;
    }
    if let Some(publish) = fit_event_message(&mut draft) {
        return publish;
    }
    // Unreachable with the caps above; still, never hand SNS something it rejects.
    let event = &mut draft.document.event;
    event.metadata.event_message = event
        .metadata
        .event_message
        .as_ref()
        .map(|_| ELLIPSIS.to_owned());
    event.metadata.user.clear();
    draft.email = draft.document.summary.clone();
    let message = draft.message();
    draft.finish(message)
}

/// Cuts the email to the room the rest of the request leaves, when that room is at least
/// [`EMAIL_FLOOR`]; otherwise leaves it for [`fit_event_message`].
fn fit_email(draft: &mut Draft<'_>) -> Option<SnsPublish> {
    let full = std::mem::take(&mut draft.email);
    let room = MESSAGE_BUDGET.saturating_sub(draft.size(&draft.message()));
    draft.email = full;
    if room < EMAIL_FLOOR {
        return None;
    }
    shrink_to_fit(draft, room, |draft, room| {
        draft.email = cut(&draft.email, room, escaped_len, EMAIL_CUT_NOTE);
    })
}

/// Keeps the email at its floor, cuts the text the classifier copied out of the message into
/// `details`, and cuts the document's copy of `eventMessage`, flagging it.
fn fit_event_message(draft: &mut Draft<'_>) -> Option<SnsPublish> {
    draft.email = cut(&draft.email, EMAIL_FLOOR, escaped_len, EMAIL_CUT_NOTE);
    draft.document.truncated = true;
    cap_strings(&mut draft.document.details, DETAILS_TEXT_CAP);
    let full = draft.document.event.metadata.event_message.take()?;
    draft.document.event.metadata.event_message = Some(String::new());
    let rest = draft.size(&draft.message());
    draft.document.event.metadata.event_message = Some(full);
    let room = MESSAGE_BUDGET.checked_sub(rest)?;
    shrink_to_fit(draft, room, |draft, room| {
        let metadata = &mut draft.document.event.metadata;
        let message = metadata.event_message.as_deref().unwrap_or_default();
        metadata.event_message = Some(cut(message, room, twice_escaped_len, ELLIPSIS));
    })
}

/// Applies `shorten` with the room left, checking the real size after each cut: the cost
/// functions mirror serde_json's escaping, and the check makes a mismatch cost a second cut
/// rather than a rejected `Publish`.
fn shrink_to_fit(
    draft: &mut Draft<'_>,
    mut room: usize,
    shorten: impl Fn(&mut Draft<'_>, usize),
) -> Option<SnsPublish> {
    for _ in 0..4 {
        shorten(draft, room);
        let message = draft.message();
        let size = draft.size(&message);
        if size <= MESSAGE_BUDGET {
            return Some(draft.clone().finish(message));
        }
        room = room.checked_sub(size - MESSAGE_BUDGET)?;
    }
    None
}

/// No field of a real Flagger event comes near these caps; a payload that does is not from
/// Flagger, and still gets a `Publish` that SNS accepts.
fn cap_every_field(draft: &mut Draft<'_>) {
    let cap = |text: &str| truncate(text, FIELD_CAP).into_owned();
    let event = &mut draft.document.event;
    event.name = cap(&event.name);
    event.namespace = cap(&event.namespace);
    event.phase = Phase::from(cap(event.phase.as_str()));
    event.checksum = event.checksum.as_deref().map(cap);
    if let Some(EventType::Other(kind)) = &event.metadata.event_type {
        event.metadata.event_type = Some(EventType::Other(cap(kind)));
    }
    let mut kept = 0;
    let user = std::mem::take(&mut event.metadata.user);
    for (key, value) in user {
        let (key, value) = (cap(&key), cap(&value));
        kept += key.len() + value.len();
        if kept > USER_METADATA_CAP {
            break;
        }
        event.metadata.user.insert(key, value);
    }
    cap_strings(&mut draft.document.details, FIELD_CAP);
    if !draft.email_templated {
        let document = &draft.document;
        draft.email = email(&document.event, draft.classification, &document.links);
    }
    draft.attributes = attributes(&draft.document.event, draft.classification);
    draft.document.truncated = true;
}

/// Cuts every string in a JSON value to `max_chars`.
fn cap_strings(value: &mut serde_json::Value, max_chars: usize) {
    match value {
        serde_json::Value::String(text) => {
            if let std::borrow::Cow::Owned(cut) = truncate(text, max_chars) {
                *text = cut;
            }
        }
        serde_json::Value::Array(items) => items
            .iter_mut()
            .for_each(|item| cap_strings(item, max_chars)),
        serde_json::Value::Object(fields) => fields
            .values_mut()
            .for_each(|field| cap_strings(field, max_chars)),
        _ => {}
    }
}

/// Bytes `c` takes in a JSON string as serde_json writes it.
fn escaped_len(c: char) -> usize {
    match c {
        '"' | '\\' | '\u{08}' | '\u{0C}' | '\n' | '\r' | '\t' => 2,
        c if (c as u32) < 0x20 => 6,
        c => c.len_utf8(),
    }
}

/// Bytes `c` takes once its escaped form is escaped again (a document inside the message).
fn twice_escaped_len(c: char) -> usize {
    match c {
        '"' | '\\' => 4,
        '\u{08}' | '\u{0C}' | '\n' | '\r' | '\t' => 3,
        c if (c as u32) < 0x20 => 7,
        c => c.len_utf8(),
    }
}

/// The longest prefix of `text` that, followed by `note`, costs at most `room`; `text` itself
/// when it fits, at a character boundary always.
fn cut(text: &str, room: usize, cost: fn(char) -> usize, note: &str) -> String {
    let total: usize = text.chars().map(cost).sum();
    if total <= room {
        return text.to_owned();
    }
    let note_cost: usize = note.chars().map(cost).sum();
    let Some(mut budget) = room.checked_sub(note_cost) else {
        return String::new();
    };
    let mut end = 0;
    for (at, c) in text.char_indices() {
        let Some(left) = budget.checked_sub(cost(c)) else {
            break;
        };
        budget = left;
        end = at + c.len_utf8();
    }
    format!("{}{note}", &text[..end])
}

#[cfg(test)]
mod tests {
    use super::*;
    use flagger_relay_core::classify;
    use flagger_relay_core::template::Output;
    use serde_json::{Value, json};

    fn event_from(body: Value) -> CanaryEvent {
        CanaryEvent::from_slice(body.to_string().as_bytes()).unwrap()
    }

    fn event(message: &str) -> CanaryEvent {
        event_from(json!({
            "name": "podinfo", "namespace": "test", "phase": "Progressing", "checksum": "85d557f47b",
            "metadata": {"cluster": "prod-eu", "eventMessage": message, "eventType": "Warning", "timestamp": "1763996400137"}
        }))
    }

    /// The document is written into the message as serde_json would write its text there.
    #[test]
    fn writes_the_document_as_a_json_string() {
        let every_byte: String = (0u8..=0x7f).map(char::from).collect();
        for text in [
            "plain",
            every_byte.as_str(),
            "é 🚀 \u{2028} \u{fffd} \\\" \\u0001",
        ] {
            let document = json!({"eventMessage": text, "nested": {"list": [text, 1, null]}});
            let expected = json!({
                "default": serde_json::to_string(&document).unwrap(),
                "email": text,
            })
            .to_string();
            assert_eq!(message_json(&document, text), expected);
        }
    }

    fn render(event: &CanaryEvent, fifo: bool) -> SnsPublish {
        render_with_links(event, fifo, Vec::new())
    }

    fn render_with_links(event: &CanaryEvent, fifo: bool, links: Vec<Link>) -> SnsPublish {
        let notification = Notification::Canary(event.clone());
        let classification = notification.classify();
        publish(
            &Presentation::new(&notification, &classification).with_links(links),
            fifo,
        )
    }

    /// What SNS sends to a protocol: the message decoded once, the document decoded twice.
    fn sent(publish: &SnsPublish) -> (Value, String) {
        let message: Value = serde_json::from_str(publish.message()).unwrap();
        let document = serde_json::from_str(message["default"].as_str().unwrap()).unwrap();
        (document, message["email"].as_str().unwrap().to_owned())
    }

    #[test]
    fn the_document_carries_flaggers_fields_unchanged_plus_derived_ones() {
        let body = r#"{"name":"podinfo","namespace":"test","phase":"Progressing","checksum":"85d557f47b","metadata":{"cluster":"prod-eu","eventMessage":"Advance podinfo.test canary weight 10","eventType":"Normal","timestamp":"1721556000123"}}"#;
        let event = CanaryEvent::from_slice(body.as_bytes()).unwrap();
        let (document, _) = sent(&render(&event, false));
        let original: Value = serde_json::from_str(body).unwrap();
        for field in ["name", "namespace", "phase", "checksum", "metadata"] {
            assert_eq!(document[field], original[field], "{field}");
        }
        assert_eq!(document["schema"], 1);
        assert_eq!(document["time"], "2024-07-21T10:00:00.123Z");
        assert_eq!(document["summary"], "podinfo.test: canary weight 10%");
        assert_eq!(document["details"]["canaryWeight"], 10);
        assert_eq!(document["truncated"], false);
        assert!(document["details"].is_object());
        assert_eq!(document["stage"], classify(&event).stage.as_str());
        assert_eq!(document["severity"], "info");
    }

    #[test]
    fn the_message_is_json_with_a_string_per_protocol() {
        let publish = render(&event("Advance podinfo.test canary weight 10"), false);
        let message: Value = serde_json::from_str(publish.message()).unwrap();
        let keys: Vec<&String> = message.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["default", "email"]);
        assert!(message["default"].is_string() && message["email"].is_string());
    }

    #[test]
    fn a_gating_hook_payload_has_no_time_and_no_event_type_attribute() {
        let event = event_from(
            json!({"name": "podinfo", "namespace": "test", "phase": "Progressing", "metadata": {"approver": "team-a"}}),
        );
        let publish = render(&event, false);
        let (document, email) = sent(&publish);
        assert_eq!(document["time"], Value::Null);
        assert!(
            document.get("checksum").is_none(),
            "absent from the payload, absent from the document"
        );
        assert!(publish.attributes().all(|(name, _)| name != "eventType"));
        assert!(email.contains("(none: a gating-hook payload"), "{email}");
    }

    #[test]
    fn attributes_name_the_event_for_filter_policies() {
        let publish = render(
            &event("Halt podinfo.test advancement success rate 50.00% < 99%"),
            false,
        );
        let attributes: BTreeMap<&str, &str> = publish.attributes().collect();
        let classification = classify(&event(
            "Halt podinfo.test advancement success rate 50.00% < 99%",
        ));
        assert_eq!(
            attributes,
            BTreeMap::from([
                ("name", "podinfo"),
                ("namespace", "test"),
                ("phase", "Progressing"),
                ("eventType", "Warning"),
                ("stage", classification.stage.as_str()),
                ("severity", classification.severity.as_str()),
                ("source", "flagger"),
            ])
        );
    }

    #[test]
    fn an_empty_phase_is_left_out_of_the_attributes() {
        let event = event_from(
            json!({"name": "podinfo", "namespace": "test", "phase": "", "metadata": {"eventMessage": "m"}}),
        );
        let publish = render(&event, false);
        assert!(
            publish
                .attributes()
                .all(|(name, value)| name != "phase" && !value.is_empty())
        );
    }

    #[test]
    fn the_subject_is_one_line_under_100_characters() {
        let cases = [
            "line one\nline two\r\nthree\tfour\u{2028}five\u{0}six\u{7f}",
            &"x".repeat(500),
            &"é".repeat(500),
            &"🚀".repeat(500),
            "",
        ];
        for message in cases {
            let subject = render(&event(message), false).subject().to_owned();
            assert!(subject.len() < 100, "{} bytes: {subject:?}", subject.len());
            assert!(!subject.is_empty());
            assert!(
                !subject
                    .chars()
                    .any(|c| c.is_control() || (c.is_whitespace() && c != ' ')),
                "{subject:?}"
            );
        }
        let subject = render(&event("a\nb"), false).subject().to_owned();
        assert_eq!(subject, "podinfo.test: a b");
        let long = render(&event(&"é".repeat(500)), false).subject().to_owned();
        assert!(
            long.ends_with('…') && long.len() <= 99,
            "{} {long}",
            long.len()
        );
    }

    #[test]
    fn a_standard_topic_gets_no_fifo_ids() {
        let publish = render(&event("m"), false);
        assert_eq!((publish.group_id(), publish.dedup_id()), (None, None));
    }

    #[test]
    fn a_fifo_topic_groups_by_canary_and_deduplicates_by_payload() {
        let first = render(&event("Advance podinfo.test canary weight 10"), true);
        assert_eq!(first.group_id(), Some("test/podinfo"));
        let dedup = first.dedup_id().unwrap();
        assert_eq!(dedup.len(), 64);
        assert!(dedup.chars().all(|c| c.is_ascii_hexdigit()));
        let again = render(&event("Advance podinfo.test canary weight 10"), true);
        assert_eq!(
            again.dedup_id(),
            first.dedup_id(),
            "a retried payload is the same message"
        );
        let other = render(&event("Advance podinfo.test canary weight 20"), true);
        assert_ne!(other.dedup_id(), first.dedup_id());
        let mut later = event("Advance podinfo.test canary weight 10");
        later.metadata.timestamp = later
            .metadata
            .timestamp
            .map(|ts| flagger_relay_core::event::Timestamp(ts.0 + 1));
        assert_ne!(
            render(&later, true).dedup_id(),
            first.dedup_id(),
            "the same text later is another event"
        );
    }

    #[test]
    fn a_group_id_always_fits_what_sns_allows() {
        let long =
            event_from(json!({"name": "n".repeat(253), "namespace": "team-a", "metadata": {}}));
        let odd = event_from(json!({"name": "pödinfo v2", "namespace": "test", "metadata": {}}));
        let long_id = group_id(&long);
        let odd_id = group_id(&odd);
        for id in [&long_id, &odd_id] {
            assert!(
                id.len() <= 128 && id.chars().all(|c| c.is_ascii_graphic()),
                "{id}"
            );
        }
        assert!(long_id.starts_with("team-a/nnn"), "{long_id}");
        assert!(odd_id.starts_with("test/p_dinfo_v2~"), "{odd_id}");
        let other = event_from(json!({"name": "pédinfo v2", "namespace": "test", "metadata": {}}));
        assert_ne!(
            group_id(&other),
            odd_id,
            "different canaries never share a group"
        );
    }

    #[test]
    fn the_email_is_readable_plain_text() {
        let event = event("Halt podinfo.test advancement\nsuccess rate 50.00% < 99%");
        let email = email(&event, &classify(&event), &[]);
        assert!(
            email.starts_with(&format!("{}\n\n", summary(&event, &classify(&event)))),
            "{email}"
        );
        for line in [
            "Canary    test/podinfo",
            "Phase     Progressing",
            "Type      Warning",
            "Time      2025-11-24 15:00:00 UTC",
            "Revision  85d557f47b",
            "  cluster: prod-eu",
        ] {
            assert!(email.contains(line), "{line:?} in {email}");
        }
        assert!(
            email.ends_with("Message\nHalt podinfo.test advancement\nsuccess rate 50.00% < 99%\n"),
            "{email}"
        );
    }

    #[test]
    fn a_long_message_shortens_the_email_first() {
        // 130 KiB of message: the document alone fits, document + email do not.
        let message = "x".repeat(130 * 1024);
        let publish = render(&event(&message), true);
        assert!(publish.size() <= MESSAGE_LIMIT);
        let (document, email) = sent(&publish);
        assert_eq!(
            document["metadata"]["eventMessage"],
            message.as_str(),
            "the document keeps the message"
        );
        assert_eq!(document["truncated"], false);
        assert!(
            email.ends_with("[Message cut to fit the SNS message size limit.]"),
            "{}",
            &email[email.len() - 80..]
        );
        assert!(email.len() > 100 * 1024, "the email keeps what fits");
    }

    #[test]
    fn a_message_that_doubles_when_escaped_is_cut_in_the_document_and_flagged() {
        // The largest body the contract admits, all quotes: each one is 4 bytes in the message.
        let message = "\"".repeat(255 * 1024);
        let publish = render(&event(&message), true);
        assert!(publish.size() <= MESSAGE_LIMIT, "{}", publish.size());
        let (document, email) = sent(&publish);
        assert_eq!(document["truncated"], true);
        let kept = document["metadata"]["eventMessage"].as_str().unwrap();
        assert!(
            kept.ends_with('…') && kept.len() > 50 * 1024,
            "{}",
            kept.len()
        );
        assert!(email.len() <= EMAIL_FLOOR + EMAIL_CUT_NOTE.len());
        assert_eq!(document["name"], "podinfo");
        assert_eq!(document["metadata"]["cluster"], "prod-eu");
    }

    #[test]
    fn multibyte_text_is_cut_at_a_character_boundary() {
        let message = "🚀\n\"é".repeat(40 * 1024);
        let publish = render(&event(&message), false);
        assert!(publish.size() <= MESSAGE_LIMIT);
        let (document, email) = sent(&publish);
        assert!(
            document["metadata"]["eventMessage"]
                .as_str()
                .unwrap()
                .ends_with('…')
        );
        assert!(email.contains("…\n\n[Message cut"));
    }

    #[test]
    fn a_payload_flagger_would_never_send_still_fits() {
        let quotes = "\"".repeat(100 * 1024);
        let user: serde_json::Map<String, Value> = (0..2000)
            .map(|i| (format!("k{i}\n"), Value::String("\u{1}".repeat(50))))
            .collect();
        let mut metadata = user;
        metadata.insert("eventMessage".into(), Value::String(quotes.clone()));
        let event = event_from(
            json!({"name": quotes, "namespace": "\u{1}".repeat(30 * 1024), "phase": "\"".repeat(10 * 1024), "metadata": metadata}),
        );
        let publish = render(&event, true);
        assert!(publish.size() <= MESSAGE_LIMIT, "{}", publish.size());
        assert!(publish.subject().len() < 100);
        assert!(publish.group_id().unwrap().len() <= 128);
        let (document, _) = sent(&publish);
        assert_eq!(document["truncated"], true);
        assert!(
            publish
                .attributes()
                .all(|(_, value)| !value.is_empty() && !value.contains('\u{1}'))
        );
    }

    /// `SCHEMA.md` is a public contract: its example must be exactly what is published.
    #[test]
    fn the_schema_example_is_what_is_published() {
        let schema = include_str!("../SCHEMA.md");
        let example = |name: &str| -> &str {
            let marker = format!("<!-- schema-example: {name} -->");
            let at = schema
                .find(&marker)
                .unwrap_or_else(|| panic!("{marker} in SCHEMA.md"));
            let after = &schema[at..];
            let fence = after.find("```").unwrap();
            let start = fence + after[fence..].find('\n').unwrap() + 1;
            let end = start + after[start..].find("```").unwrap();
            &after[start..end]
        };
        let event = CanaryEvent::from_slice(example("body").trim().as_bytes()).unwrap();
        let publish = render(&event, false);
        let (document, email) = sent(&publish);
        let documented: Value = serde_json::from_str(example("document")).unwrap();
        assert_eq!(
            document, documented,
            "SCHEMA.md no longer shows what is published: update it (and consider `schema`)"
        );
        assert_eq!(email, example("email"));
        assert_eq!(publish.subject(), example("subject").trim());

        let links =
            flagger_relay_core::present::Links::parse("LINKS", example("links-setting")).unwrap();
        let notification = Notification::Canary(event.clone());
        let classification = notification.classify();
        let links = links.resolve(&notification, &classification);
        let (document, email) = sent(&render_with_links(&event, false, links));
        let documented: Value = serde_json::from_str(example("links")).unwrap();
        assert_eq!(
            document["links"], documented,
            "SCHEMA.md no longer shows the links that are published"
        );
        assert!(
            email.contains(&format!("\n{}\nMessage\n", example("links-email"))),
            "{email}"
        );
    }

    #[test]
    fn templates_word_the_subject_and_email_but_never_the_document() {
        let event = event("Halt podinfo.test advancement success rate 69.17% < 99%");
        let notification = Notification::Canary(event.clone());
        let classification = notification.classify();
        let message = Presentation::new(&notification, &classification);
        let text = |source: &str| {
            Some(Template::compile("SNS_SUBJECT_TEMPLATE", source, Output::Text, &[]).unwrap())
        };
        let templates = Templates {
            subject: text(
                "[{{ severity|upper }}]\n{{ title }} {% for i in range(80) %}!{% endfor %}",
            ),
            email: text("{{ subject }} is {{ stage }}.\n{{ event.metadata.eventMessage }}\n"),
        };
        let publish = publish_with(&message, false, &templates).unwrap();
        assert!(publish.subject().len() <= SUBJECT_LIMIT && !publish.subject().contains('\n'));
        assert!(
            publish
                .subject()
                .starts_with("[WARNING] podinfo.test: halted"),
            "{}",
            publish.subject()
        );
        assert!(publish.subject().ends_with('…'));
        let (document, email) = sent(&publish);
        assert_eq!(
            email,
            "podinfo.test is halted.\nHalt podinfo.test advancement success rate 69.17% < 99%",
            "as in Jinja, one trailing newline of the template is dropped"
        );
        assert_eq!(document, sent(&publish_event_plain(&event)).0);
        let broken = Templates {
            email: text("{{ nope }}"),
            ..Templates::default()
        };
        let err = publish_with(&message, false, &broken).unwrap_err();
        assert!(err.to_string().contains("`nope` is undefined"), "{err}");
    }

    fn publish_event_plain(event: &CanaryEvent) -> SnsPublish {
        render(event, false)
    }

    #[test]
    fn cuts_by_escaped_cost() {
        assert_eq!(cut("abc", 3, escaped_len, "…"), "abc");
        assert_eq!(cut("abcdef", 5, escaped_len, "…"), "ab…");
        assert_eq!(cut("\"\"\"", 5, escaped_len, "…"), "\"…");
        assert_eq!(cut("\"\"\"", 8, twice_escaped_len, "…"), "\"…");
        assert_eq!(cut("abc", 2, escaped_len, "…"), "");
        for c in [
            '"', '\\', '\n', '\u{1}', '\u{1f}', '\u{7f}', 'é', '🚀', '<', '\u{2028}',
        ] {
            let once = serde_json::to_string(&c.to_string()).unwrap();
            let twice = serde_json::to_string(&once).unwrap();
            assert_eq!(escaped_len(c), once.len() - 2, "{c:?}");
            // `"` + `\"` + twice-escaped c + `\"` + `"`
            assert_eq!(twice_escaped_len(c), twice.len() - 6, "{c:?}");
        }
    }
}
