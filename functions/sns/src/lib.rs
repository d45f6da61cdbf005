//! The SNS function: Flagger events to an Amazon SNS topic, which fans them out to email, SQS,
//! Lambda, HTTPS endpoints and chat tools, with filter policies choosing who gets what.
//!
//! One event is one `Publish` with `MessageStructure: json`: a versioned JSON document for
//! machines (`SCHEMA.md`), a plain-text email, and message attributes for filter policies.
//! FIFO topics get a group per canary and a deduplication id per event. Retries are the
//! relay's, bounded by the Lambda deadline; the SDK's own are off so that they do not stack.

mod failure;
pub mod render;

use std::time::Duration;

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_sns::types::MessageAttributeValue;
use aws_smithy_types::retry::RetryConfig;
use aws_smithy_types::timeout::TimeoutConfig;
use flagger_relay_core::config::{ConfigError, Env, RelaySettings};
use flagger_relay_core::deliver::{
    AttemptError, Delivered, DeliveryFailure, RetryPolicy, with_retries,
};
use flagger_relay_core::relay::RenderError;
use flagger_relay_core::secrets::ParameterSetting;
use flagger_relay_core::template::{self, Output};
use flagger_relay_core::{Destination, Presentation, Relay};
use tokio::time::Instant;

pub use failure::service_failure;
pub use render::{
    AlertsDocument, Document, Documents, EventDocument, SCHEMA_VERSION, SnsPublish, Templates,
};

/// The SNS function's templates, each of which may come from an SSM parameter instead
/// (`…_PARAMETER`): templates outgrow the 4 KB Lambda gives the environment.
pub const PARAMETERS: &[ParameterSetting] = &[
    ParameterSetting {
        name: "SNS_SUBJECT_TEMPLATE",
        reference: "SNS_SUBJECT_TEMPLATE_PARAMETER",
    },
    ParameterSetting {
        name: "SNS_EMAIL_TEMPLATE",
        reference: "SNS_EMAIL_TEMPLATE_PARAMETER",
    },
];

/// Time allowed to open a connection to SNS, within an attempt's own timeout.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// `SNS_TOPIC_ARN`, checked at cold start: `arn:PARTITION:sns:REGION:ACCOUNT:TOPIC`. Not a
/// secret: an ARN grants nothing by itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicArn {
    arn: String,
    region: String,
}

impl TopicArn {
    pub fn parse(setting: &'static str, raw: &str) -> Result<Self, ConfigError> {
        let arn = raw.trim();
        let invalid = ConfigError::Invalid {
            name: setting,
            expected: "an SNS topic ARN (arn:aws:sns:REGION:ACCOUNT:TOPIC)",
        };
        let parts: Vec<&str> = arn.split(':').collect();
        match parts.as_slice() {
            ["arn", partition, "sns", region, account, topic]
                if [partition, region, account, topic]
                    .iter()
                    .all(|part| !part.is_empty()) =>
            {
                Ok(TopicArn {
                    arn: arn.to_owned(),
                    region: (*region).to_owned(),
                })
            }
            _ => Err(invalid),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.arn
    }

    /// The topic's region. A topic can only be published to in its own region, so the client
    /// follows the ARN rather than the function's region.
    pub fn region(&self) -> &str {
        &self.region
    }

    /// FIFO topics are named `….fifo`; they need a group and a deduplication id.
    pub fn is_fifo(&self) -> bool {
        self.arn.ends_with(".fifo")
    }
}

/// Publishes to one topic.
pub struct SnsTopic {
    client: aws_sdk_sns::Client,
    /// `None` only in dry-run mode, where nothing is sent.
    topic: Option<TopicArn>,
    templates: Templates,
}

impl SnsTopic {
    /// Builds the client once, from an SDK configuration loaded at cold start. The SDK's own
    /// retries are off: the relay retries within the Lambda deadline, and the two would stack.
    pub fn new(sdk: &SdkConfig, topic: Option<TopicArn>) -> Self {
        let mut config =
            aws_sdk_sns::config::Builder::from(sdk).retry_config(RetryConfig::disabled());
        if let Some(topic) = &topic {
            config = config.region(Region::new(topic.region().to_owned()));
        }
        SnsTopic {
            client: aws_sdk_sns::Client::from_conf(config.build()),
            topic,
            templates: Templates::default(),
        }
    }

    /// The deployment's own subject and email.
    pub fn with_templates(mut self, templates: Templates) -> Self {
        self.templates = templates;
        self
    }

    pub fn topic(&self) -> Option<&TopicArn> {
        self.topic.as_ref()
    }

    fn is_fifo(&self) -> bool {
        self.topic.as_ref().is_some_and(TopicArn::is_fifo)
    }
}

impl Destination for SnsTopic {
    const KIND: &'static str = "sns";
    type Payload = SnsPublish;

    fn render(&self, message: &Presentation<'_>) -> Result<SnsPublish, RenderError> {
        render::publish_with(message, self.is_fifo(), &self.templates)
    }

    async fn deliver(
        &self,
        message: &Presentation<'_>,
        retry: &RetryPolicy,
        deadline: Instant,
    ) -> Result<Delivered, DeliveryFailure> {
        let publish = self.render(message)?;
        with_retries(retry, deadline, |timeout| self.publish(&publish, timeout)).await
    }

    fn secrets(&self) -> Vec<String> {
        // The topic ARN is not a secret, and credentials never reach a reason or a log line.
        Vec::new()
    }
}

impl SnsTopic {
    /// One `Publish` of a rendered message.
    async fn publish(&self, publish: &SnsPublish, timeout: Duration) -> Result<(), AttemptError> {
        let topic = self
            .topic
            .as_ref()
            .ok_or_else(|| AttemptError::permanent("SNS_TOPIC_ARN is not set"))?;
        let mut request = self
            .client
            .publish()
            .topic_arn(topic.as_str())
            .message_structure("json")
            .message(publish.message())
            .subject(publish.subject())
            .set_message_group_id(publish.group_id().map(str::to_owned))
            .set_message_deduplication_id(publish.dedup_id().map(str::to_owned));
        for (name, value) in publish.attributes() {
            let attribute = MessageAttributeValue::builder()
                .data_type("String")
                .string_value(value)
                .build()
                .map_err(|err| AttemptError::permanent(format!("attribute {name}: {err}")))?;
            request = request.message_attributes(name, attribute);
        }
        let timeouts = TimeoutConfig::builder()
            .connect_timeout(CONNECT_TIMEOUT.min(timeout))
            .operation_timeout(timeout)
            .build();
        request
            .customize()
            .config_override(aws_sdk_sns::config::Builder::default().timeout_config(timeouts))
            .send()
            .await
            .map(drop)
            .map_err(|err| failure::attempt_error(&err))
    }
}

/// Reads the SNS function's whole configuration. The SDK configuration comes from the
/// environment (Lambda's role credentials, `AWS_ENDPOINT_URL` for a local SNS), with the region
/// taken from the topic ARN: nothing is fetched over the network at cold start.
pub async fn relay_from_env(env: &impl Env) -> Result<Relay<SnsTopic>, ConfigError> {
    let (settings, topic, templates) = read(env)?;
    // Without a topic nothing is sent (dry run); the region only has to be valid.
    let region = match &topic {
        Some(topic) => topic.region().to_owned(),
        None => env
            .var("AWS_REGION")
            .or_else(|| env.var("AWS_DEFAULT_REGION"))
            .unwrap_or_else(|| "us-east-1".into()),
    };
    let sdk = aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new(region))
        .load()
        .await;
    let topic = SnsTopic::new(&sdk, topic).with_templates(templates);
    Ok(Relay::new(settings, topic))
}

/// The same, with an SDK configuration built by the caller (tests point it at a local SNS).
pub fn relay_with_sdk_config(
    env: &impl Env,
    sdk: &SdkConfig,
) -> Result<Relay<SnsTopic>, ConfigError> {
    let (settings, topic, templates) = read(env)?;
    let topic = SnsTopic::new(sdk, topic).with_templates(templates);
    Ok(Relay::new(settings, topic))
}

fn read(env: &impl Env) -> Result<(RelaySettings, Option<TopicArn>, Templates), ConfigError> {
    let settings = RelaySettings::from_env(env)?;
    let topic = match env.var("SNS_TOPIC_ARN") {
        Some(raw) => Some(TopicArn::parse("SNS_TOPIC_ARN", &raw)?),
        None if settings.dry_run => None,
        None => return Err(ConfigError::Missing("SNS_TOPIC_ARN")),
    };
    let templates = Templates {
        subject: template::from_env(env, "SNS_SUBJECT_TEMPLATE", Output::Text, &[])?,
        email: template::from_env(env, "SNS_EMAIL_TEMPLATE", Output::Text, &[])?,
    };
    Ok((settings, topic, templates))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    const ARN: &str = "arn:aws:sns:eu-west-1:123456789012:flagger-events";

    #[tokio::test]
    async fn requires_a_topic_unless_dry_run() {
        let env: HashMap<&str, &str> = [("ALLOW_UNAUTHENTICATED", "true")].into();
        assert_eq!(
            relay_from_env(&env).await.err(),
            Some(ConfigError::Missing("SNS_TOPIC_ARN"))
        );
        let env: HashMap<&str, &str> = [("ALLOW_UNAUTHENTICATED", "true"), ("DRY_RUN", "1")].into();
        let relay = relay_from_env(&env).await.unwrap();
        assert!(relay.destination().topic().is_none());
    }

    #[tokio::test]
    async fn reads_the_topic_and_follows_its_region() {
        let env: HashMap<&str, &str> =
            [("ALLOW_UNAUTHENTICATED", "true"), ("SNS_TOPIC_ARN", ARN)].into();
        let relay = relay_from_env(&env).await.unwrap();
        let topic = relay.destination().topic().unwrap();
        assert_eq!(
            (topic.as_str(), topic.region(), topic.is_fifo()),
            (ARN, "eu-west-1", false)
        );
        assert_eq!(
            relay
                .destination()
                .client
                .config()
                .region()
                .map(|r| r.as_ref()),
            Some("eu-west-1")
        );
    }

    #[test]
    fn recognises_fifo_topics() {
        let topic = TopicArn::parse(
            "SNS_TOPIC_ARN",
            "arn:aws:sns:us-east-1:123456789012:deploys.fifo",
        )
        .unwrap();
        assert!(topic.is_fifo());
    }

    #[test]
    fn refuses_what_is_not_a_topic_arn() {
        for raw in [
            "flagger-events",
            "arn:aws:sqs:us-east-1:123456789012:q",
            "arn:aws:sns:us-east-1:123456789012",
            "arn:aws:sns::123456789012:t",
            "arn:aws:sns:us-east-1:123456789012:t:sub-id",
            "https://sns.us-east-1.amazonaws.com/",
        ] {
            assert!(
                matches!(
                    TopicArn::parse("SNS_TOPIC_ARN", raw),
                    Err(ConfigError::Invalid {
                        name: "SNS_TOPIC_ARN",
                        ..
                    })
                ),
                "{raw}"
            );
        }
    }

    #[tokio::test]
    async fn a_dry_run_shows_the_fifo_ids_when_the_topic_is_fifo() {
        let body = br#"{"name":"podinfo","namespace":"test","phase":"Progressing","metadata":{"eventMessage":"m","eventType":"Normal","timestamp":"1"}}"#;
        let event = flagger_relay_core::Notification::from_slice(body).unwrap();
        let env: HashMap<&str, &str> = [
            ("ALLOW_UNAUTHENTICATED", "true"),
            ("DRY_RUN", "1"),
            ("SNS_TOPIC_ARN", "arn:aws:sns:us-east-1:1:t.fifo"),
        ]
        .into();
        let relay = relay_from_env(&env).await.unwrap();
        let outcome = relay
            .relay(
                &event,
                body,
                flagger_relay_core::relay::Source::FunctionUrl,
                tokio::time::Instant::now() + Duration::from_secs(1),
            )
            .await;
        let body = outcome.body("sns");
        assert_eq!(body["status"], "dry-run");
        assert_eq!(body["payload"]["MessageGroupId"], "test/podinfo");
        assert_eq!(
            body["payload"]["MessageDeduplicationId"]
                .as_str()
                .map(str::len),
            Some(64)
        );
        assert_eq!(body["payload"]["Message"]["default"]["schema"], 1);
        assert!(body["payload"]["Message"]["email"].is_string());
    }
}
