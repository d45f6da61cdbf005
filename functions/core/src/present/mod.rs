//! One presentation of a notification, shared by every destination: the title, the headline,
//! how much it matters, the facts worth showing, the alerts, the links. A destination decides
//! only how this looks in its own format (Block Kit, an Adaptive Card, an SNS document); what
//! is said, and in which words, is decided here once. Pure: values in, values out.

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde::Serialize;

use crate::alertmanager::{Alert, AlertGroup, AlertStatus};
use crate::classify::{Classification, Details, Severity, Stage};
use crate::event::CanaryEvent;
use crate::notification::Notification;

pub mod facts;
pub mod links;
pub mod mentions;
pub mod shaping;
pub mod status;

pub use facts::{Fact, highlights, progress_bar};
pub use links::Links;
pub use mentions::{Mention, Mentions};
pub use shaping::{Shaping, ShapingSettings};

/// Shown for an event whose phase Flagger left empty (a canary it has not yet initialised).
pub const NO_PHASE: &str = "(none)";

/// A notification as people are shown it, before it takes any destination's format.
#[derive(Debug, Clone, Serialize)]
pub struct Presentation<'n> {
    /// The payload exactly as it arrived, for whatever a destination shows verbatim.
    pub event: &'n Notification,
    /// What the notification means, for destinations that keep state by it (Slack threads).
    #[serde(skip)]
    pub classification: &'n Classification,
    /// Who it is about: `podinfo.test` (Flagger's own form), or the alert's name.
    pub subject: String,
    /// What happened, in words, without the subject.
    pub headline: &'n str,
    /// `podinfo.test: canary weight 30%`: the one line every destination leads with.
    pub title: String,
    pub stage: Stage,
    pub severity: Severity,
    /// What the classifier read out of the message.
    pub details: &'n Details,
    /// The values a reader acts on (the weight, the failing metric, the gate), in words.
    pub highlights: Vec<Fact>,
    /// Links the reader may follow; none unless the deployment configures them (`LINKS`).
    pub links: Vec<Link>,
    /// Who the message notifies; no one unless the destination is configured to mention
    /// someone at this severity.
    pub mentions: Vec<Mention>,
    #[serde(flatten)]
    pub body: Body<'n>,
}

/// What only one kind of notification has.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "source", rename_all = "lowercase")]
pub enum Body<'n> {
    /// A Flagger event.
    Flagger(Canary<'n>),
    /// An Alertmanager group.
    Alertmanager(Alerts<'n>),
}

/// A Flagger event's own facts.
#[derive(Debug, Clone, Serialize)]
pub struct Canary<'n> {
    pub name: &'n str,
    pub namespace: &'n str,
    /// The phase as shown: [`NO_PHASE`] when Flagger sent none.
    pub phase: &'n str,
    /// The canary's revision (`checksum`), when Flagger sent one.
    pub revision: Option<&'n str>,
    /// `metadata.timestamp` in UTC, to the second.
    pub time: Option<String>,
    /// Flagger's own sentence; `None` for a gating-hook payload, which carries none.
    pub message: Option<&'n str>,
    /// The canary's own metadata (a canary-level hook's free-form `metadata`), in key order.
    pub metadata: &'n BTreeMap<String, String>,
}

/// An Alertmanager group's own facts.
#[derive(Debug, Clone, Serialize)]
pub struct Alerts<'n> {
    /// `firing` or `resolved`: the group's status.
    pub status: &'n str,
    /// The canary the alerts are about, when they carry `name` and `namespace` labels.
    pub canary: Option<(&'n str, &'n str)>,
    pub firing: usize,
    pub resolved: usize,
    /// Alerts Alertmanager itself left out of the notification (`truncatedAlerts`).
    pub truncated_alerts: u64,
    pub receiver: &'n str,
    /// Alertmanager's own address, when it sent one.
    pub external_url: Option<&'n str>,
    pub alerts: Vec<AlertLine<'n>>,
}

/// One alert of a group, as a line of the message.
#[derive(Debug, Clone, Serialize)]
pub struct AlertLine<'n> {
    pub status: AlertStatus,
    /// `podinfo.test` when the alert names a canary, else its alert name.
    pub subject: Cow<'n, str>,
    pub summary: Option<&'n str>,
    pub description: Option<&'n str>,
    pub starts_at: &'n str,
    /// Set once the alert has ended.
    pub ends_at: Option<&'n str>,
    /// The alert's source (Prometheus' graph), when it sent one.
    pub source: Option<&'n str>,
}

/// A link to follow: a label and an absolute URL.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Link {
    pub label: String,
    pub url: String,
}

impl<'n> Presentation<'n> {
    pub fn new(notification: &'n Notification, classification: &'n Classification) -> Self {
        let (subject, body) = match notification {
            Notification::Canary(event) => (
                format!("{}.{}", event.name, event.namespace),
                Body::Flagger(Canary::new(event)),
            ),
            Notification::Alerts(group) => (
                notification.subject(),
                Body::Alertmanager(Alerts::new(group)),
            ),
        };
        Presentation {
            event: notification,
            classification,
            title: format!("{subject}: {}", classification.headline),
            subject,
            headline: &classification.headline,
            stage: classification.stage,
            severity: classification.severity,
            details: &classification.details,
            highlights: highlights(classification.stage, &classification.details),
            links: Vec::new(),
            mentions: Vec::new(),
            body,
        }
    }

    /// Adds links the deployment configured for every message.
    pub fn with_links(mut self, links: Vec<Link>) -> Self {
        self.links = links;
        self
    }

    /// Adds the people the destination notifies at this message's severity.
    pub fn with_mentions(mut self, mentions: Vec<Mention>) -> Self {
        self.mentions = mentions;
        self
    }
}

impl<'n> Canary<'n> {
    fn new(event: &'n CanaryEvent) -> Self {
        let phase = event.phase.as_str();
        Canary {
            name: &event.name,
            namespace: &event.namespace,
            phase: if phase.is_empty() { NO_PHASE } else { phase },
            revision: event.checksum.as_deref(),
            time: event.metadata.timestamp.and_then(|ts| ts.to_display()),
            message: event.event_message(),
            metadata: &event.metadata.user,
        }
    }
}

impl<'n> Alerts<'n> {
    fn new(group: &'n AlertGroup) -> Self {
        Alerts {
            status: group.status.as_str(),
            canary: group.canary(),
            firing: group.firing().count(),
            resolved: group.resolved().count(),
            truncated_alerts: group.truncated_alerts,
            receiver: &group.receiver,
            external_url: Some(group.external_url.as_str()).filter(|url| !url.is_empty()),
            alerts: group.alerts.iter().map(AlertLine::new).collect(),
        }
    }

    /// Alerts in the group that the notification does not show: those past `shown`, and those
    /// Alertmanager left out itself.
    pub fn not_shown(&self, shown: usize) -> u64 {
        self.alerts.len().saturating_sub(shown) as u64 + self.truncated_alerts
    }
}

impl<'n> AlertLine<'n> {
    fn new(alert: &'n Alert) -> Self {
        let subject = match (alert.labels.get("name"), alert.labels.get("namespace")) {
            (Some(name), Some(namespace)) => Cow::Owned(format!("{name}.{namespace}")),
            _ => Cow::Borrowed(alert.alertname().unwrap_or("alert")),
        };
        AlertLine {
            status: alert.status,
            subject,
            summary: alert.annotations.get("summary").map(String::as_str),
            description: alert.annotations.get("description").map(String::as_str),
            starts_at: &alert.starts_at,
            ends_at: alert.has_ended().then_some(alert.ends_at.as_str()),
            source: Some(alert.generator_url.as_str()).filter(|url| !url.is_empty()),
        }
    }

    /// `Firing` or `Resolved`, as a reader says it.
    pub fn status_word(&self) -> &'static str {
        match self.status {
            AlertStatus::Firing => "Firing",
            AlertStatus::Resolved => "Resolved",
        }
    }
}
