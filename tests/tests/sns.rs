//! The SNS function, driven through its real handler against moto (a local SNS and SQS): every
//! topic gets an SQS subscriber, so what was published is read back as a subscriber gets it.
//! Error codes moto cannot produce (throttling, KMS, authorization) come from a wiremock
//! stand-in speaking SNS's XML.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use aws_config::SdkConfig;
use aws_sdk_sqs::types::MessageSystemAttributeName;
use flagger_relay_core::{Destination, Notification, Presentation, Relay};
use flagger_relay_sns::{SnsPublish, SnsTopic, relay_from_env, relay_with_sdk_config};
use flagger_relay_tests::moto::{self, Moto};
use flagger_relay_tests::{Call, OPEN, env, fixtures, lifecycles, read, skip_without};
use serde_json::{Value, json};
use wiremock::matchers::{body_string_contains, method};
use wiremock::{Mock, MockServer, ResponseTemplate};

const ADVANCE: &[u8] = br#"{"name":"podinfo","namespace":"test","phase":"Progressing","checksum":"85d557f47b","metadata":{"cluster":"prod-eu","eventMessage":"Advance podinfo.test canary weight 10","eventType":"Normal","timestamp":"1721556000123"}}"#;

/// A topic with one SQS subscriber, on moto.
struct Fanout {
    sdk: SdkConfig,
    topic_arn: String,
}

/// One notification as the SQS subscriber received it.
#[derive(Debug, Clone, PartialEq)]
struct Received {
    /// The `default` document (or the whole message, for a protocol-specific key).
    message: String,
    subject: Option<String>,
    attributes: BTreeMap<String, String>,
    group_id: Option<String>,
    dedup_id: Option<String>,
}

impl Fanout {
    async fn new(moto: &Moto, prefix: &str, fifo: bool) -> Fanout {
        let sdk = moto.sdk_config().await;
        let sns = aws_sdk_sns::Client::new(&sdk);
        let name = topic_name(prefix, fifo);
        let mut create = sns.create_topic().name(&name);
        if fifo {
            create = create.attributes("FifoTopic", "true");
        }
        let topic_arn = create
            .send()
            .await
            .expect("moto creates the topic")
            .topic_arn
            .expect("a topic ARN");
        Fanout { sdk, topic_arn }
    }

    /// A new queue subscribed to the topic, optionally with a filter policy and raw delivery.
    async fn subscriber(&self, prefix: &str, filter_policy: Option<Value>, raw: bool) -> String {
        let policy = filter_policy.map(|policy| policy.to_string());
        moto::subscribed_queue(&self.sdk, &self.topic_arn, prefix, policy.as_deref(), raw).await
    }

    fn relay(&self, extra: &[(&str, &str)]) -> Relay<SnsTopic> {
        let mut vars = vec![
            ("SNS_TOPIC_ARN", self.topic_arn.as_str()),
            ("CHATTER", "forward"),
        ];
        vars.extend_from_slice(extra);
        // A token a test sets is still required; OPEN only says that none is needed otherwise.
        vars.push(OPEN);
        relay_with_sdk_config(&env(&vars), &self.sdk).expect("valid test configuration")
    }

    /// Reads (and deletes) messages until `expected` arrived, then checks for strays.
    async fn drain(&self, queue_url: &str, expected: usize, raw: bool) -> Vec<Received> {
        let messages = moto::drain(&self.sdk, queue_url, expected).await;
        let read = if raw { raw_notification } else { notification };
        messages.iter().map(read).collect()
    }
}

fn topic_name(prefix: &str, fifo: bool) -> String {
    let name = moto::unique(prefix);
    if fifo { format!("{name}.fifo") } else { name }
}

/// An SNS notification in an SQS body (the default, enveloped delivery).
fn notification(message: &aws_sdk_sqs::types::Message) -> Received {
    let body: Value =
        serde_json::from_str(message.body().expect("a body")).expect("an SNS envelope");
    assert_eq!(body["Type"], "Notification", "{body}");
    let attributes = body["MessageAttributes"]
        .as_object()
        .map(|attributes| {
            attributes
                .iter()
                .map(|(name, value)| {
                    assert_eq!(value["Type"], "String", "{name}");
                    (
                        name.clone(),
                        value["Value"].as_str().expect("a string value").to_owned(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    let system = message.attributes();
    Received {
        message: body["Message"].as_str().expect("a message").to_owned(),
        subject: body["Subject"].as_str().map(str::to_owned),
        attributes,
        group_id: system
            .and_then(|a| a.get(&MessageSystemAttributeName::MessageGroupId))
            .cloned(),
        dedup_id: system
            .and_then(|a| a.get(&MessageSystemAttributeName::MessageDeduplicationId))
            .cloned(),
    }
}

/// A raw delivery: the document is the SQS body, the attributes are SQS message attributes.
fn raw_notification(message: &aws_sdk_sqs::types::Message) -> Received {
    let attributes = message
        .message_attributes()
        .map(|attributes| {
            attributes
                .iter()
                .map(|(name, value)| {
                    assert_eq!(value.data_type(), "String", "{name}");
                    (
                        name.clone(),
                        value.string_value().expect("a string value").to_owned(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    Received {
        message: message.body().expect("a body").to_owned(),
        subject: None,
        attributes,
        group_id: None,
        dedup_id: None,
    }
}

/// What the relay publishes for `body`, as the subscriber should receive it.
fn expected(relay: &Relay<SnsTopic>, body: &[u8]) -> (SnsPublish, Received) {
    let notification =
        Notification::from_slice(body).expect("a Flagger event or Alertmanager notification");
    let classification = notification.classify();
    let publish = relay
        .destination()
        .render(&Presentation::new(&notification, &classification))
        .expect("the built-in rendering never fails");
    let message: Value = serde_json::from_str(publish.message()).expect("the message is JSON");
    let received = Received {
        message: message["default"]
            .as_str()
            .expect("a default document")
            .to_owned(),
        subject: Some(publish.subject().to_owned()),
        attributes: publish
            .attributes()
            .map(|(name, value)| (name.to_owned(), value.to_owned()))
            .collect(),
        group_id: publish.group_id().map(str::to_owned),
        dedup_id: publish.dedup_id().map(str::to_owned),
    };
    (publish, received)
}

async fn publish(relay: &Relay<SnsTopic>, body: &[u8]) -> (u16, Value) {
    read(relay.handle(Call::post(body).request()).await)
}

fn event_with(message: &str, event_type: &str, timestamp: u64) -> Vec<u8> {
    json!({
        "name": "podinfo", "namespace": "test", "phase": "Progressing", "checksum": "85d557f47b",
        "metadata": {"eventMessage": message, "eventType": event_type, "timestamp": timestamp.to_string()}
    })
    .to_string()
    .into_bytes()
}

#[tokio::test]
async fn every_recorded_event_renders_as_snapshotted() {
    // A FIFO topic, so that the snapshots show the group and deduplication ids too.
    let vars = [
        OPEN,
        ("DRY_RUN", "1"),
        ("CHATTER", "forward"),
        (
            "SNS_TOPIC_ARN",
            "arn:aws:sns:us-east-1:123456789012:deploys.fifo",
        ),
    ];
    let relay = relay_from_env(&env(&vars))
        .await
        .expect("a dry-run configuration");
    let mut count = 0;
    for (lifecycle, events) in lifecycles() {
        let mut payloads = Vec::new();
        for fixture in &events {
            let (status, body) = publish(&relay, &fixture.body).await;
            assert_eq!(
                (status, body["status"].as_str()),
                (200, Some("dry-run")),
                "{}: {body}",
                fixture.name
            );
            let (rendered, _) = expected(&relay, &fixture.body);
            assert_eq!(
                body["payload"],
                serde_json::to_value(&rendered).unwrap(),
                "{}",
                fixture.name
            );
            assert!(
                rendered.subject().len() < 100 && rendered.size() <= 256 * 1024,
                "{}",
                fixture.name
            );
            payloads.push(body["payload"].clone());
        }
        count += payloads.len();
        insta::assert_json_snapshot!(lifecycle.as_str(), payloads);
    }
    assert_eq!(count, fixtures().len());
}

#[tokio::test]
async fn every_recorded_event_reaches_an_sqs_subscriber_as_published() {
    skip_without!(moto::available());
    let fanout = Fanout::new(Moto::shared(), "every", false).await;
    let queue = fanout.subscriber("every", None, false).await;
    let relay = fanout.relay(&[]);
    let mut want = Vec::new();
    for fixture in fixtures() {
        let (status, body) = publish(&relay, &fixture.body).await;
        assert_eq!(
            (status, body["status"].as_str(), body["attempts"].as_u64()),
            (200, Some("delivered"), Some(1)),
            "{}: {body}",
            fixture.name
        );
        want.push(expected(&relay, &fixture.body).1);
    }
    let got = fanout.drain(&queue, want.len(), false).await;
    assert_eq!(got.len(), want.len());
    // A standard topic does not promise order: match each expected notification once.
    let mut left = got.clone();
    for notification in &want {
        let at = left.iter().position(|g| g == notification);
        let at = at.unwrap_or_else(|| panic!("not received: {notification:#?}"));
        left.swap_remove(at);
    }
    let document: Value = serde_json::from_str(&got[0].message).unwrap();
    assert_eq!(document["schema"], 1);
}

#[tokio::test]
async fn a_raw_subscriber_gets_the_document_and_the_attributes_as_sqs_attributes() {
    skip_without!(moto::available());
    let fanout = Fanout::new(Moto::shared(), "raw", false).await;
    let queue = fanout.subscriber("raw", None, true).await;
    let relay = fanout.relay(&[]);
    assert_eq!(publish(&relay, ADVANCE).await.0, 200);
    let got = fanout.drain(&queue, 1, true).await;
    let (_, want) = expected(&relay, ADVANCE);
    assert_eq!(
        got,
        vec![Received {
            subject: None,
            ..want
        }]
    );
    let document: Value = serde_json::from_str(&got[0].message).unwrap();
    let original: Value = serde_json::from_slice(ADVANCE).unwrap();
    for field in ["name", "namespace", "phase", "checksum", "metadata"] {
        assert_eq!(
            document[field], original[field],
            "{field} is carried unchanged"
        );
    }
    assert_eq!(document["time"], "2024-07-21T10:00:00.123Z");
    assert_eq!(document["summary"], "podinfo.test: canary weight 10%");
    assert_eq!(document["details"]["canaryWeight"], 10);
}

#[tokio::test]
async fn a_fifo_topic_groups_per_canary_and_deduplicates_only_a_resent_payload() {
    skip_without!(moto::available());
    let fanout = Fanout::new(Moto::shared(), "fifo", true).await;
    let queue = fanout.subscriber("fifo", None, false).await;
    let relay = fanout.relay(&[]);
    let first = event_with(
        "Advance podinfo.test canary weight 10",
        "Normal",
        1_763_996_400_000,
    );
    // Same text a minute later: another event, which must not be merged with the first.
    let same_text_later = event_with(
        "Advance podinfo.test canary weight 10",
        "Normal",
        1_763_996_460_000,
    );
    let other_canary = br#"{"name":"backend","namespace":"shop","phase":"Progressing","metadata":{"eventMessage":"Advance backend.shop canary weight 10","eventType":"Normal","timestamp":"1763996400000"}}"#;
    for body in [&first[..], &same_text_later, other_canary, &first] {
        let (status, response) = publish(&relay, body).await;
        assert_eq!(
            (status, response["status"].as_str()),
            (200, Some("delivered")),
            "{response}"
        );
    }
    let got = fanout.drain(&queue, 3, false).await;
    let want: Vec<Received> = [&first[..], &same_text_later, other_canary]
        .iter()
        .map(|body| expected(&relay, body).1)
        .collect();
    assert_eq!(
        got.len(),
        3,
        "the re-sent payload is dropped, nothing else: {got:#?}"
    );
    for notification in &want {
        assert!(
            got.contains(notification),
            "not received: {notification:#?}"
        );
    }
    let groups: Vec<_> = got
        .iter()
        .map(|g| g.group_id.as_deref().unwrap_or_default())
        .collect();
    assert_eq!(
        groups.iter().filter(|g| **g == "test/podinfo").count(),
        2,
        "{groups:?}"
    );
    assert_eq!(
        groups.iter().filter(|g| **g == "shop/backend").count(),
        1,
        "{groups:?}"
    );
    let podinfo: Vec<_> = got
        .iter()
        .filter(|g| g.group_id.as_deref() == Some("test/podinfo"))
        .collect();
    assert_eq!(
        podinfo[0].message, want[0].message,
        "in order within the canary's group"
    );
    assert_ne!(podinfo[0].dedup_id, podinfo[1].dedup_id);
}

#[tokio::test]
async fn a_filter_policy_on_event_type_takes_only_warnings() {
    skip_without!(moto::available());
    let fanout = Fanout::new(Moto::shared(), "filter", false).await;
    let warnings = fanout
        .subscriber("warnings", Some(json!({"eventType": ["Warning"]})), false)
        .await;
    let failures = fanout
        .subscriber(
            "failures",
            Some(json!({"severity": ["error"], "source": ["flagger"]})),
            false,
        )
        .await;
    let everything = fanout.subscriber("everything", None, false).await;
    let relay = fanout.relay(&[]);
    let (_, events) = lifecycles()
        .into_iter()
        .find(|(name, _)| name == "canary-rollback-metrics")
        .expect("a rollback lifecycle");
    let mut want_warnings = Vec::new();
    let mut want_failures = Vec::new();
    for fixture in &events {
        assert_eq!(
            publish(&relay, &fixture.body).await.0,
            200,
            "{}",
            fixture.name
        );
        let (_, notification) = expected(&relay, &fixture.body);
        if notification.attributes.get("eventType").map(String::as_str) == Some("Warning") {
            want_warnings.push(notification.message.clone());
        }
        if notification.attributes.get("severity").map(String::as_str) == Some("error") {
            want_failures.push(notification.message.clone());
        }
    }
    assert!(
        !want_warnings.is_empty() && want_warnings.len() < events.len(),
        "the lifecycle mixes Normal and Warning"
    );
    assert!(!want_failures.is_empty());
    let mut got: Vec<String> = fanout
        .drain(&warnings, want_warnings.len(), false)
        .await
        .into_iter()
        .map(|r| r.message)
        .collect();
    got.sort();
    want_warnings.sort();
    assert_eq!(got, want_warnings);
    let mut got: Vec<String> = fanout
        .drain(&failures, want_failures.len(), false)
        .await
        .into_iter()
        .map(|r| r.message)
        .collect();
    got.sort();
    want_failures.sort();
    assert_eq!(got, want_failures);
    assert_eq!(
        fanout.drain(&everything, events.len(), false).await.len(),
        events.len()
    );
}

#[tokio::test]
async fn an_empty_phase_is_published_without_a_phase_attribute() {
    skip_without!(moto::available());
    let fanout = Fanout::new(Moto::shared(), "phase", false).await;
    let queue = fanout.subscriber("phase", None, false).await;
    let relay = fanout.relay(&[]);
    let body = br#"{"name":"podinfo","namespace":"test","phase":"","metadata":{"eventMessage":"all the metrics providers are available!","eventType":"Normal","timestamp":"1763996400137"}}"#;
    let (status, response) = publish(&relay, body).await;
    assert_eq!(status, 200, "{response}");
    let got = fanout.drain(&queue, 1, false).await;
    assert_eq!(got.len(), 1);
    assert!(
        !got[0].attributes.contains_key("phase"),
        "{:?}",
        got[0].attributes
    );
    assert_eq!(
        got[0].attributes.get("name").map(String::as_str),
        Some("podinfo")
    );
}

#[tokio::test]
async fn the_largest_body_with_json_heavy_text_still_fits_one_publish() {
    skip_without!(moto::available());
    let fanout = Fanout::new(Moto::shared(), "large", false).await;
    let queue = fanout.subscriber("large", None, true).await;
    let relay = fanout.relay(&[]);
    // Quotes double when the body is parsed into the document and double again when the
    // document becomes a string in the message: 4× the body, far over SNS's limit.
    let head = r#"{"name":"podinfo","namespace":"test","phase":"Progressing","metadata":{"eventType":"Warning","timestamp":"1763996400137","eventMessage":""#;
    let tail = r#""}}"#;
    let room = 256 * 1024 - head.len() - tail.len();
    let body = format!("{head}{}{tail}", "\\\"".repeat(room / 2));
    assert!(body.len() <= 256 * 1024);
    let (status, response) = publish(&relay, body.as_bytes()).await;
    assert_eq!(
        (status, response["status"].as_str()),
        (200, Some("delivered")),
        "{response}"
    );
    let got = fanout.drain(&queue, 1, true).await;
    let document: Value = serde_json::from_str(&got[0].message).unwrap();
    assert_eq!(document["truncated"], true);
    let kept = document["metadata"]["eventMessage"].as_str().unwrap();
    assert!(
        kept.ends_with('…') && kept.len() > 40 * 1024,
        "{}",
        kept.len()
    );
    assert!(got[0].message.len() <= 256 * 1024);
}

mod errors {
    use super::*;

    #[tokio::test]
    async fn a_topic_that_does_not_exist_is_502_with_the_aws_code_after_one_attempt() {
        skip_without!(moto::available());
        let sdk = Moto::shared().sdk_config().await;
        let missing = moto::arn("sns", &moto::unique("missing"));
        let relay =
            relay_with_sdk_config(&env(&[OPEN, ("SNS_TOPIC_ARN", &missing)]), &sdk).unwrap();
        let (status, body) = publish(&relay, ADVANCE).await;
        assert_eq!(status, 502, "{body}");
        // AWS says "Topic does not exist"; moto, having looked for a platform endpoint too,
        // "Endpoint does not exist". The code is what matters.
        let error = body["error"].as_str().unwrap();
        assert!(
            error.starts_with("sns rejected the message: NotFound: "),
            "{error}"
        );
        assert_eq!(
            (body["status"].as_str(), body["attempts"].as_u64()),
            (Some("rejected"), Some(1))
        );
    }

    #[tokio::test]
    async fn an_endpoint_with_nothing_listening_is_retried_then_503() {
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let endpoint = format!("http://{}", closed.local_addr().unwrap());
        drop(closed);
        let sdk = moto::sdk_config(&endpoint).await;
        let relay = relay_with_sdk_config(
            &env(&[OPEN, ("SNS_TOPIC_ARN", &moto::arn("sns", "t"))]),
            &sdk,
        )
        .unwrap();
        let time_left = Duration::from_secs(4);
        let started = Instant::now();
        let (status, body) = read(
            relay
                .handle(Call::post(ADVANCE).time_left(time_left).request())
                .await,
        );
        assert_eq!(status, 503, "{body}");
        assert!(body["attempts"].as_u64().unwrap() > 1, "{body}");
        assert_eq!(
            body["error"],
            "sns is unavailable: could not connect to SNS"
        );
        assert!(
            started.elapsed() < time_left,
            "answered after the Lambda deadline"
        );
    }

    #[tokio::test]
    async fn sns_going_away_mid_run_is_503() {
        skip_without!(moto::can_start());
        let mut moto = Moto::start();
        let fanout = Fanout::new(&moto, "away", false).await;
        let relay = fanout.relay(&[]);
        assert_eq!(publish(&relay, ADVANCE).await.0, 200);
        moto.stop();
        let (status, body) = read(
            relay
                .handle(
                    Call::post(ADVANCE)
                        .time_left(Duration::from_secs(4))
                        .request(),
                )
                .await,
        );
        assert_eq!(status, 503, "{body}");
        assert_eq!(body["status"], "unavailable");
    }

    /// An SNS stand-in answering `Publish` with the given status and error code.
    async fn sns_answering(status: u16, code: &str, message: &str) -> MockServer {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(body_string_contains("Action=Publish"))
            .respond_with(ResponseTemplate::new(status).set_body_string(error_xml(code, message)))
            .mount(&server)
            .await;
        server
    }

    fn error_xml(code: &str, message: &str) -> String {
        let kind = if code == "InternalError" {
            "Receiver"
        } else {
            "Sender"
        };
        format!(
            r#"<ErrorResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><Error><Type>{kind}</Type><Code>{code}</Code><Message>{message}</Message></Error><RequestId>0d7d3b41-0000-4000-8000-000000000000</RequestId></ErrorResponse>"#
        )
    }

    const PUBLISHED: &str = r#"<PublishResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><PublishResult><MessageId>5d6e0d0c-0000-4000-8000-000000000000</MessageId></PublishResult><ResponseMetadata><RequestId>0d7d3b41-0000-4000-8000-000000000001</RequestId></ResponseMetadata></PublishResponse>"#;

    async fn relay_for(server: &MockServer) -> Relay<SnsTopic> {
        let sdk = moto::sdk_config(&server.uri()).await;
        relay_with_sdk_config(
            &env(&[OPEN, ("SNS_TOPIC_ARN", &moto::arn("sns", "flagger-events"))]),
            &sdk,
        )
        .unwrap()
    }

    #[tokio::test]
    async fn throttling_is_retried_then_delivered() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(
                ResponseTemplate::new(400).set_body_string(error_xml("Throttled", "Rate exceeded")),
            )
            .up_to_n_times(2)
            .with_priority(1)
            .expect(2)
            .mount(&server)
            .await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(200).set_body_string(PUBLISHED))
            .expect(1)
            .mount(&server)
            .await;
        let (status, body) = publish(&relay_for(&server).await, ADVANCE).await;
        assert_eq!(
            (status, body["attempts"].as_u64()),
            (200, Some(3)),
            "{body}"
        );
    }

    #[tokio::test]
    async fn a_server_error_that_persists_is_503_with_the_aws_code() {
        let server = sns_answering(500, "InternalError", "Internal error").await;
        let relay = relay_for(&server).await;
        let (status, body) = read(
            relay
                .handle(
                    Call::post(ADVANCE)
                        .time_left(Duration::from_secs(4))
                        .request(),
                )
                .await,
        );
        assert_eq!(status, 503, "{body}");
        assert_eq!(
            body["error"],
            "sns is unavailable: InternalError: Internal error"
        );
        assert!(body["attempts"].as_u64().unwrap() > 1, "{body}");
    }

    #[tokio::test]
    async fn kms_throttling_is_transient() {
        let server = sns_answering(400, "KMSThrottling", "KMS is throttling").await;
        let relay = relay_for(&server).await;
        let (status, body) = read(
            relay
                .handle(
                    Call::post(ADVANCE)
                        .time_left(Duration::from_secs(3))
                        .request(),
                )
                .await,
        );
        assert_eq!(status, 503, "{body}");
    }

    #[tokio::test]
    async fn permanent_refusals_are_502_with_the_aws_code_after_one_attempt() {
        for (status, code, message) in [
            (400, "InvalidParameter", "Invalid parameter: Subject"),
            (
                403,
                "AuthorizationError",
                "User: arn:aws:sts::123456789012:assumed-role/relay is not authorized to perform: SNS:Publish",
            ),
            (404, "NotFound", "Topic does not exist"),
            (400, "KMSDisabled", "Key is disabled"),
            (400, "KMSAccessDenied", "Access to the key is denied"),
            (400, "EndpointDisabled", "Endpoint is disabled"),
        ] {
            let server = sns_answering(status, code, message).await;
            let (answer, body) = publish(&relay_for(&server).await, ADVANCE).await;
            assert_eq!(answer, 502, "{code}: {body}");
            assert_eq!(
                body["error"],
                format!("sns rejected the message: {code}: {message}")
            );
            assert_eq!(body["attempts"], 1, "{code}");
            assert_eq!(
                server.received_requests().await.unwrap().len(),
                1,
                "{code} is not retried"
            );
        }
    }

    #[tokio::test]
    async fn credentials_never_reach_the_caller() {
        let server = sns_answering(
            403,
            "SignatureDoesNotMatch",
            "Canonical request: x-amz-security-token:testing",
        )
        .await;
        let (status, body) = publish(&relay_for(&server).await, ADVANCE).await;
        assert_eq!(status, 502);
        assert_eq!(
            body["error"],
            "sns rejected the message: SignatureDoesNotMatch (check the function's AWS credentials)"
        );
        assert!(!body.to_string().contains("x-amz-security-token"), "{body}");
    }
}

#[tokio::test]
async fn a_dry_run_needs_no_topic_and_sends_nothing() {
    let relay = relay_from_env(&env(&[OPEN, ("DRY_RUN", "1")]))
        .await
        .expect("no topic needed");
    let (status, body) = publish(&relay, ADVANCE).await;
    assert_eq!(
        (status, body["status"].as_str()),
        (200, Some("dry-run")),
        "{body}"
    );
    let payload = &body["payload"];
    assert_eq!(payload["Subject"], "podinfo.test: canary weight 10%");
    assert_eq!(payload["MessageStructure"], "json");
    assert_eq!(payload["Message"]["default"]["name"], "podinfo");
    assert!(
        payload["Message"]["email"]
            .as_str()
            .unwrap()
            .contains("Advance podinfo.test canary weight 10")
    );
    assert_eq!(
        payload["MessageAttributes"]["source"],
        json!({"DataType": "String", "StringValue": "flagger"})
    );
    assert!(
        payload.get("MessageGroupId").is_none() && payload.get("MessageDeduplicationId").is_none()
    );
}
