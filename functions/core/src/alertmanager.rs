//! Alertmanager's webhook payload (`webhook_configs`, version 4): one notification per alert
//! group. Flagger's documentation pairs the event webhook with a Prometheus alert on
//! `flagger_canary_status`; receiving both in one place gives one quality of message.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// One Alertmanager notification: a group of alerts that share `groupLabels`. Kept whole so
/// that it can be forwarded unchanged (SNS) or dead-lettered byte for byte.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AlertGroup {
    pub version: String,
    pub group_key: String,
    #[serde(default)]
    pub truncated_alerts: u64,
    pub status: AlertStatus,
    #[serde(default)]
    pub receiver: String,
    #[serde(default)]
    pub group_labels: BTreeMap<String, String>,
    #[serde(default)]
    pub common_labels: BTreeMap<String, String>,
    #[serde(default)]
    pub common_annotations: BTreeMap<String, String>,
    #[serde(rename = "externalURL", default)]
    pub external_url: String,
    pub alerts: Vec<Alert>,
    /// Fields a later Alertmanager may add, kept so the payload is forwarded unchanged.
    #[serde(flatten)]
    pub other: BTreeMap<String, serde_json::Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Alert {
    pub status: AlertStatus,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    #[serde(default)]
    pub starts_at: String,
    /// `0001-01-01T00:00:00Z` while firing.
    #[serde(default)]
    pub ends_at: String,
    #[serde(rename = "generatorURL", default)]
    pub generator_url: String,
    #[serde(default)]
    pub fingerprint: String,
    #[serde(flatten)]
    pub other: BTreeMap<String, serde_json::Value>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AlertStatus {
    Firing,
    Resolved,
}

/// The alert Flagger's documentation recommends, on `flagger_canary_status > 1` (Failed).
pub const CANARY_ROLLBACK: &str = "canary_rollback";

impl AlertStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertStatus::Firing => "firing",
            AlertStatus::Resolved => "resolved",
        }
    }
}

impl AlertGroup {
    /// The group's alert name, from the group labels, then the common labels.
    pub fn alertname(&self) -> Option<&str> {
        self.group_labels
            .get("alertname")
            .or_else(|| self.common_labels.get("alertname"))
            .map(String::as_str)
    }

    /// The canary the group is about, when its alerts carry `name` and `namespace` labels
    /// (`flagger_canary_status` has both; they name the target workload) and all name the
    /// same one. A group spanning several canaries is about none of them in particular.
    pub fn canary(&self) -> Option<(&str, &str)> {
        let label = |key: &str| -> Option<&str> {
            if let Some(common) = self.common_labels.get(key) {
                return Some(common);
            }
            let mut values = self.alerts.iter().map(|alert| alert.labels.get(key));
            let first = values.next()??;
            values
                .all(|value| value == Some(first))
                .then_some(first.as_str())
        };
        Some((label("name")?, label("namespace")?))
    }

    pub fn firing(&self) -> impl Iterator<Item = &Alert> {
        self.alerts
            .iter()
            .filter(|alert| alert.status == AlertStatus::Firing)
    }

    pub fn resolved(&self) -> impl Iterator<Item = &Alert> {
        self.alerts
            .iter()
            .filter(|alert| alert.status == AlertStatus::Resolved)
    }

    /// `summary` of the group, or of its first alert.
    pub fn summary(&self) -> Option<&str> {
        self.common_annotations
            .get("summary")
            .or_else(|| {
                self.alerts
                    .first()
                    .and_then(|alert| alert.annotations.get("summary"))
            })
            .map(String::as_str)
    }
}

impl Alert {
    pub fn alertname(&self) -> Option<&str> {
        self.labels.get("alertname").map(String::as_str)
    }

    /// Alertmanager sends the zero time while an alert is firing.
    pub fn has_ended(&self) -> bool {
        !self.ends_at.is_empty() && !self.ends_at.starts_with("0001-")
    }
}
