//! Every decision, published to the SNS topic (`SNS_TOPIC_ARN`) beside the events, so that
//! subscribers see who decided what: a `decision` document with the message attribute
//! `eventType` = `decision` and `source` = `gate`. Filter policies on `eventType` or `source`
//! route it; the fan-out subscriptions of the Slack and Teams functions take `source` =
//! `flagger` and `alertmanager` only.

use std::time::Duration;

use aws_config::{Region, SdkConfig};
use aws_sdk_sns::Client;
use aws_sdk_sns::config::retry::RetryConfig;
use aws_sdk_sns::config::timeout::TimeoutConfig;
use aws_sdk_sns::types::MessageAttributeValue;
use serde::Serialize;
use sha2::{Digest, Sha256};
use tokio::sync::OnceCell;

use flagger_relay_core::event::{CanaryEvent, Metadata, Phase, Timestamp};
use flagger_relay_sns::TopicArn;
use flagger_relay_sns::render::{group_id, subject};

use crate::slack::hex;
use crate::state::{Action, Decided, Gate, Via};

/// One decision as subscribers receive it. Versioned like the SNS function's documents
/// (`schema` 1); told apart from them by `source` = `gate` and `eventType` = `decision`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DecisionDocument {
    pub schema: u32,
    pub source: &'static str,
    pub event_type: &'static str,
    /// The canary.
    pub name: String,
    pub namespace: String,
    /// Flagger's checksum the decision belongs to.
    pub revision: String,
    pub action: Action,
    /// The gates an approval opened.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub gates: Vec<Gate>,
    /// A Slack user ID when `via` is `slack`; the name given otherwise.
    pub by: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub by_name: Option<String>,
    pub via: Via,
    /// RFC 3339, UTC.
    pub time: Option<String>,
    pub summary: String,
}

impl DecisionDocument {
    pub fn new(
        rollout: &str,
        revision: &str,
        action: Action,
        gates: &[Gate],
        decided: &Decided,
    ) -> Self {
        let (namespace, name) = rollout.split_once('/').unwrap_or(("", rollout));
        let what = match action {
            Action::Approve => format!(
                "{} approved",
                gates
                    .iter()
                    .map(|g| g.waits_for())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Action::Hold => "gates held".to_owned(),
            Action::Rollback => "rollback requested".to_owned(),
        };
        let who = decided.name.as_deref().unwrap_or(&decided.by);
        DecisionDocument {
            schema: 1,
            source: "gate",
            event_type: "decision",
            name: name.to_owned(),
            namespace: namespace.to_owned(),
            revision: revision.to_owned(),
            action,
            gates: gates.to_vec(),
            by: decided.by.clone(),
            by_name: decided.name.clone(),
            via: decided.via,
            time: Timestamp(decided.at).to_rfc3339(),
            summary: format!(
                "{name}.{namespace}: {what} by {who} via {} (revision {revision})",
                decided.via.as_str()
            ),
        }
    }

    /// The attributes filter policies see. All `String`, none empty.
    pub fn attributes(&self) -> Vec<(&'static str, String)> {
        [
            ("eventType", self.event_type.to_owned()),
            ("source", self.source.to_owned()),
            ("name", self.name.clone()),
            ("namespace", self.namespace.clone()),
            ("action", self.action.as_str().to_owned()),
        ]
        .into_iter()
        .filter(|(_, value)| !value.is_empty())
        .collect()
    }

    /// A FIFO topic keeps a canary's decisions in order with its events (the SNS function's
    /// group), and never drops one as a duplicate of another.
    fn fifo_ids(&self) -> (String, String) {
        let canary = CanaryEvent {
            name: self.name.clone(),
            namespace: self.namespace.clone(),
            phase: Phase::Unset,
            checksum: None,
            metadata: Metadata::default(),
        };
        let dedup = Sha256::digest(serde_json::to_vec(self).unwrap_or_default());
        (group_id(&canary), hex(&dedup))
    }
}

/// Publishes decisions; without `SNS_TOPIC_ARN` the log is the only record.
pub struct DecisionTopic {
    topic: TopicArn,
    config: Option<SdkConfig>,
    client: OnceCell<Client>,
}

impl DecisionTopic {
    pub fn new(topic: TopicArn) -> Self {
        DecisionTopic {
            topic,
            config: None,
            client: OnceCell::new(),
        }
    }

    /// Publishes with this SDK configuration instead of the environment's.
    pub fn with_sdk_config(self, config: SdkConfig) -> Self {
        DecisionTopic {
            topic: self.topic,
            config: Some(config),
            client: OnceCell::new(),
        }
    }

    async fn client(&self) -> &Client {
        self.client
            .get_or_init(|| async {
                let sdk = flagger_relay_core::aws::sdk_config(self.config.as_ref()).await;
                let config = aws_sdk_sns::config::Builder::from(&sdk)
                    // A topic is published to in its own region.
                    .region(Region::new(self.topic.region().to_owned()))
                    .timeout_config(
                        TimeoutConfig::builder()
                            .connect_timeout(Duration::from_secs(1))
                            .build(),
                    )
                    .retry_config(RetryConfig::standard().with_max_attempts(2))
                    .build();
                Client::from_conf(config)
            })
            .await
    }

    /// One publish, within `timeout`. The error says why, in AWS's words.
    pub async fn publish(
        &self,
        document: &DecisionDocument,
        timeout: Duration,
    ) -> Result<(), String> {
        let message = serde_json::to_string(document).map_err(|err| err.to_string())?;
        let mut request = self
            .client()
            .await
            .publish()
            .topic_arn(self.topic.as_str())
            .message(message)
            .subject(subject(&document.summary));
        for (name, value) in document.attributes() {
            let attribute = MessageAttributeValue::builder()
                .data_type("String")
                .string_value(value)
                .build()
                .map_err(|err| format!("attribute {name}: {err}"))?;
            request = request.message_attributes(name, attribute);
        }
        if self.topic.is_fifo() {
            let (group, dedup) = document.fifo_ids();
            request = request
                .message_group_id(group)
                .message_deduplication_id(dedup);
        }
        flagger_relay_core::aws::within(timeout, request.send())
            .await
            .map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_decision_says_who_what_when_and_which_revision() {
        let decided = Decided {
            by: "U0ALICE".into(),
            name: Some("alice".into()),
            via: Via::Slack,
            at: 1_764_018_700_000,
        };
        let document = DecisionDocument::new(
            "test/podinfo",
            "bd5c8f7946",
            Action::Approve,
            &[Gate::ConfirmPromotion],
            &decided,
        );
        assert_eq!(
            serde_json::to_value(&document).unwrap(),
            serde_json::json!({
                "schema": 1, "source": "gate", "eventType": "decision",
                "name": "podinfo", "namespace": "test", "revision": "bd5c8f7946",
                "action": "approve", "gates": ["confirm-promotion"],
                "by": "U0ALICE", "byName": "alice", "via": "slack",
                "time": "2025-11-24T21:11:40.000Z",
                "summary": "podinfo.test: promotion approved by alice via slack (revision bd5c8f7946)"
            })
        );
        assert!(
            document
                .attributes()
                .contains(&("eventType", "decision".to_owned()))
        );
    }
}
