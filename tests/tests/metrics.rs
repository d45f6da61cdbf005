//! The metrics lines of real invocations: the functions against wiremock destinations, with
//! SNS and the dead-letter queue on moto. Every line is read the way CloudWatch reads the
//! Embedded Metric Format, and its values are checked against what happened.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use flagger_relay_core::dead_letter::DeadLetterQueue;
use flagger_relay_core::metrics::MetricsSink;
use flagger_relay_core::{Destination, Relay};
use flagger_relay_tests::moto::{self, Moto};
use flagger_relay_tests::skip_without;
use flagger_relay_tests::{Call, OPEN, answering, emf, env, lifecycles, read, root};
use serde_json::Value;
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, Respond, ResponseTemplate};

const ADVANCE: &[u8] = br#"{"name":"podinfo","namespace":"test","phase":"Progressing","checksum":"85d557f47b","metadata":{"eventMessage":"Advance podinfo.test canary weight 10","eventType":"Normal","timestamp":"1721556000123"}}"#;

/// What a test reads back: the metrics lines, each checked against the specification.
struct Lines(Arc<Mutex<Vec<String>>>);

impl Lines {
    fn documents(&self) -> Vec<Value> {
        let lines = self.0.lock().unwrap_or_else(|p| p.into_inner()).clone();
        lines.iter().map(|line| emf::assert_valid(line)).collect()
    }

    /// The one document this test's invocation left.
    fn only(&self) -> Value {
        let documents = self.documents();
        assert_eq!(documents.len(), 1, "one line per event: {documents:?}");
        documents.into_iter().next().unwrap_or_default()
    }
}

fn collecting<D: Destination>(relay: Relay<D>) -> (Relay<D>, Lines) {
    let (sink, lines) = MetricsSink::collect();
    (relay.with_metrics_sink(sink), Lines(lines))
}

fn slack(server: &MockServer, extra: &[(&str, &str)]) -> (Relay<impl Destination>, Lines) {
    let url = format!("{}/services/T0/B0/metricstest0123456789", server.uri());
    let mut vars = vec![OPEN, ("SLACK_WEBHOOK_URL", url.as_str())];
    vars.extend_from_slice(extra);
    collecting(flagger_relay_slack::relay_from_env(&env(&vars)).expect("valid configuration"))
}

fn teams(server: &MockServer) -> (Relay<impl Destination>, Lines) {
    let url = format!("{}/workflows/metricstest0123456789/invoke", server.uri());
    let vars = [OPEN, ("TEAMS_WEBHOOK_URL", url.as_str())];
    collecting(flagger_relay_teams::relay_from_env(&env(&vars)).expect("valid configuration"))
}

/// Answers `first` once, then `then`.
struct Once {
    first: ResponseTemplate,
    then: ResponseTemplate,
    calls: std::sync::atomic::AtomicUsize,
}

impl Respond for Once {
    fn respond(&self, _: &wiremock::Request) -> ResponseTemplate {
        match self.calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst) {
            0 => self.first.clone(),
            _ => self.then.clone(),
        }
    }
}

async fn calls(server: &MockServer) -> usize {
    server.received_requests().await.unwrap_or_default().len()
}

/// A fresh dead-letter queue on moto, and a client to count what it holds.
async fn queue() -> (DeadLetterQueue, aws_sdk_sqs::Client, String) {
    moto::dead_letter_queue("metrics").await
}

/// An SNS event as Lambda invokes a subscribed function with it, carrying `message`.
fn fan_out(message: Option<&str>) -> lambda_http::Request {
    use lambda_http::RequestExt;
    let path = root().join("events/sns/slack-subscription.json");
    let mut event: Value =
        serde_json::from_str(&std::fs::read_to_string(path).expect("the SNS fixture")).unwrap();
    if let Some(message) = message {
        event["Records"][0]["Sns"]["Message"] = Value::from(message);
    }
    let request = lambda_http::request::from_str(&event.to_string()).expect("an SNS event");
    let mut context = lambda_http::Context::default();
    context.request_id = "fan-out-request".into();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    context.deadline = u64::try_from((now + Duration::from_secs(6)).as_millis()).unwrap();
    request.with_lambda_context(context)
}

fn number(document: &Value, member: &str) -> u64 {
    document[member]
        .as_u64()
        .unwrap_or_else(|| panic!("{member} is a whole number in {document}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_recorded_rollout_leaves_one_line_per_event_that_adds_up() {
    skip_without!(moto::available());
    let (_, rollout) = lifecycles()
        .into_iter()
        .find(|(name, _)| name == "canary-success")
        .expect("the canary-success lifecycle");
    let server = answering(ResponseTemplate::new(200).set_body_string("ok")).await;
    let (relay, lines) = slack(&server, &[]);
    for fixture in &rollout {
        let (status, body) = read(relay.handle(Call::post(&fixture.body).request()).await);
        assert_eq!(status, 200, "{}: {body}", fixture.name);
    }
    let documents = lines.documents();
    assert_eq!(documents.len(), rollout.len(), "one line per event");
    let mut delivered = 0;
    for document in &documents {
        assert_eq!(document["Function"], "slack");
        assert_eq!(document["Source"], "function-url");
        assert_eq!(document["Canary"], "test/podinfo", "{document}");
        assert_eq!(document["RequestId"], "test-request", "{document}");
        assert!(document["Stage"].is_string(), "{document}");
        assert_eq!(number(document, "Events"), 1);
        assert_eq!(number(document, "DeadLettered"), 0);
        assert_eq!(number(document, "RetryAfterWaited"), 0);
        match document["Outcome"].as_str() {
            Some("delivered") => {
                delivered += 1;
                assert_eq!(number(document, "Attempts"), 1, "{document}");
                let _ = number(document, "DeliveryLatency");
            }
            Some("filtered") => {
                assert_eq!(number(document, "Attempts"), 0, "{document}");
                assert!(document.get("DeliveryLatency").is_none(), "{document}");
            }
            other => panic!("{other:?} in a rollout Slack took every message of: {document}"),
        }
        assert!(document.get("Reason").is_none(), "{document}");
    }
    assert!(delivered > 0, "some events are forwarded");
    assert_eq!(
        delivered,
        calls(&server).await,
        "every delivery is counted once"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_filtered_event_counts_no_attempt_and_has_no_latency() {
    skip_without!(moto::available());
    let server = answering(ResponseTemplate::new(200).set_body_string("ok")).await;
    let (relay, lines) = slack(&server, &[("MIN_SEVERITY", "error")]);
    let (status, _) = read(relay.handle(Call::post(ADVANCE).request()).await);
    assert_eq!(status, 200);
    let document = lines.only();
    assert_eq!(document["Outcome"], "filtered");
    assert_eq!(
        (document["Stage"].as_str(), document["Severity"].as_str()),
        (Some("progress"), Some("info"))
    );
    assert_eq!(number(&document, "Attempts"), 0);
    assert!(document.get("DeliveryLatency").is_none(), "{document}");
    assert_eq!(calls(&server).await, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_throttled_then_delivered_event_counts_the_retry_after_wait() {
    skip_without!(moto::available());
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(Once {
            first: ResponseTemplate::new(429).insert_header("retry-after", "1"),
            then: ResponseTemplate::new(200).set_body_string("ok"),
            calls: Default::default(),
        })
        .mount(&server)
        .await;
    let (relay, lines) = slack(&server, &[]);
    let (status, body) = read(relay.handle(Call::post(ADVANCE).request()).await);
    assert_eq!(status, 200, "{body}");
    let document = lines.only();
    assert_eq!(document["Outcome"], "delivered");
    assert_eq!(number(&document, "Attempts"), 2);
    assert_eq!(calls(&server).await, 2);
    // Slack asked for one second, longer than the first backoff: that second is what waited.
    assert_eq!(number(&document, "RetryAfterWaited"), 1000);
    assert!(number(&document, "DeliveryLatency") >= 1000, "{document}");
    assert!(document.get("DestinationStatus").is_none(), "{document}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refused_message_that_is_parked_counts_as_rejected_and_dead_lettered() {
    skip_without!(moto::available());
    let server = answering(ResponseTemplate::new(400).set_body_string("invalid_payload")).await;
    let (dlq, sqs, url) = queue().await;
    let (relay, lines) = slack(&server, &[]);
    let relay = relay.with_dead_letter_queue(dlq);
    let (status, body) = read(relay.handle(Call::post(ADVANCE).request()).await);
    assert_eq!(status, 502, "{body}");
    assert_eq!(moto::take_all(&sqs, &url).await.len(), 1);
    let document = lines.only();
    assert_eq!(document["Outcome"], "rejected");
    assert_eq!(number(&document, "DeadLettered"), 1);
    assert_eq!(number(&document, "Attempts"), 1);
    let _ = number(&document, "DeliveryLatency");
    assert_eq!(document["Status"], 502);
    assert_eq!(document["DestinationStatus"], 400);
    assert_eq!(document["Reason"], "HTTP 400: invalid_payload");
    assert_eq!(document["Stage"], "progress", "{document}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unavailable_destination_counts_every_attempt_and_the_parking() {
    skip_without!(moto::available());
    let server = answering(ResponseTemplate::new(503)).await;
    let (dlq, sqs, url) = queue().await;
    let (relay, lines) = teams(&server);
    let relay = relay.with_dead_letter_queue(dlq);
    let call = Call::post(ADVANCE).time_left(Duration::from_secs(5));
    let (status, body) = read(relay.handle(call.request()).await);
    assert_eq!(status, 503, "{body}");
    assert_eq!(moto::take_all(&sqs, &url).await.len(), 1);
    let document = lines.only();
    assert_eq!(document["Function"], "teams");
    assert_eq!(document["Outcome"], "unavailable");
    assert_eq!(number(&document, "DeadLettered"), 1);
    let attempts = number(&document, "Attempts");
    assert!(attempts > 1, "{document}");
    assert_eq!(attempts as usize, calls(&server).await);
    // The unavailable-rate alarm divides by the events sent: DeliveryLatency's sample count.
    let _ = number(&document, "DeliveryLatency");
    assert_eq!(number(&document, "RetryAfterWaited"), 0);
    assert_eq!(document["DestinationStatus"], 503);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unreadable_fan_out_message_is_dead_lettered_without_an_attempt() {
    skip_without!(moto::available());
    let server = answering(ResponseTemplate::new(200).set_body_string("ok")).await;
    let (dlq, sqs, url) = queue().await;
    let (relay, lines) = slack(&server, &[]);
    let relay = relay.with_dead_letter_queue(dlq);
    let response = relay
        .invoke(fan_out(Some("deploy finished, have a nice day")))
        .await
        .expect("parked, not retried");
    assert_eq!(response.status(), 502);
    assert_eq!(moto::take_all(&sqs, &url).await.len(), 1);
    let document = lines.only();
    assert_eq!(document["Outcome"], "dead-lettered");
    assert_eq!(document["Source"], "sns");
    assert_eq!(document["RequestId"], "fan-out-request");
    assert_eq!(
        (
            number(&document, "Attempts"),
            number(&document, "DeadLettered")
        ),
        (0, 1)
    );
    assert!(document.get("DeliveryLatency").is_none(), "{document}");
    assert_eq!(calls(&server).await, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_fan_out_event_left_to_lambda_is_unavailable_and_not_parked() {
    skip_without!(moto::available());
    let server = answering(ResponseTemplate::new(503)).await;
    let (dlq, sqs, url) = queue().await;
    let (relay, lines) = slack(&server, &[]);
    let relay = relay.with_dead_letter_queue(dlq);
    relay
        .invoke(fan_out(None))
        .await
        .expect_err("Lambda retries it");
    assert_eq!(moto::take_all(&sqs, &url).await.len(), 0);
    let document = lines.only();
    assert_eq!(document["Outcome"], "unavailable");
    assert_eq!(document["Source"], "sns");
    assert_eq!(number(&document, "DeadLettered"), 0);
    assert_eq!(number(&document, "Attempts") as usize, calls(&server).await);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refused_request_says_why_and_names_no_canary() {
    skip_without!(moto::available());
    let server = answering(ResponseTemplate::new(200).set_body_string("ok")).await;
    let (relay, lines) = slack(&server, &[("RELAY_TOKEN", "metrics-token-0123456789")]);
    let call = Call::post(ADVANCE).query("token=wrong");
    let (status, _) = read(relay.handle(call.request()).await);
    assert_eq!(status, 401);
    let document = lines.only();
    assert_eq!(document["Outcome"], "refused");
    assert_eq!(document["Status"], 401);
    assert_eq!(document["Reason"], "unauthorized");
    for absent in ["Canary", "Stage", "DeliveryLatency", "DestinationStatus"] {
        assert!(document.get(absent).is_none(), "{absent}: {document}");
    }
    assert!(!lines.0.lock().unwrap()[0].contains("metrics-token"));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_sns_function_counts_what_it_publishes() {
    skip_without!(moto::available());
    let sdk = Moto::shared().sdk_config().await;
    let topic = aws_sdk_sns::Client::new(&sdk)
        .create_topic()
        .name(moto::unique("metrics"))
        .send()
        .await
        .expect("moto creates the topic")
        .topic_arn
        .expect("a topic ARN");
    let vars = [OPEN, ("SNS_TOPIC_ARN", topic.as_str())];
    let relay = flagger_relay_sns::relay_with_sdk_config(&env(&vars), &sdk).expect("valid");
    let (relay, lines) = collecting(relay);
    let (status, body) = read(relay.handle(Call::post(ADVANCE).request()).await);
    assert_eq!(status, 200, "{body}");
    let document = lines.only();
    assert_eq!(document["Function"], "sns");
    assert_eq!(document["Outcome"], "delivered");
    assert_eq!(number(&document, "Attempts"), 1);
}

/// On Lambda, only what reaches stdout as a JSON object of its own becomes metrics: the real
/// binary, under the runtime emulator with Lambda's JSON log format, must write each document
/// whole on its own line beside the tracing lines, not wrapped in one.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs cargo-lambda; run by `make test`"]
async fn the_function_writes_each_metrics_line_to_stdout_whole() {
    use flagger_relay_tests::watch::{self, Emulator};

    skip_without!(watch::available());

    let server = answering(ResponseTemplate::new(200).set_body_string("ok")).await;
    let hook = format!("{}/services/T0/B0/e2emetrics0123456789", server.uri());
    let log = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("metrics-stdout-{}.log", std::process::id()));
    let stdout = std::fs::File::create(&log).expect("a log file in the target directory");
    let emulator = Emulator::start_with_stdout(
        "flagger-relay-slack",
        &[
            ("SLACK_WEBHOOK_URL", &hook),
            ("RELAY_TOKEN", "e2e-token-123456"),
            ("AWS_LAMBDA_LOG_FORMAT", "JSON"),
        ],
        &[],
        stdout,
    );
    // The first invocation compiles the function; give it time.
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(600))
        .build()
        .unwrap();
    for (query, expected) in [("", 401), ("?token=e2e-token-123456", 200)] {
        let response = client
            .post(format!("{}{query}", emulator.function_url()))
            .header("content-type", "application/json")
            .body(ADVANCE)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), expected);
    }
    // The answer can leave before the line is flushed to the file: read until both are there.
    let mut text = String::new();
    for _ in 0..100 {
        text = std::fs::read_to_string(&log).unwrap_or_default();
        if emf::documents(&text).len() >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let documents = emf::documents(&text);
    let outcomes: Vec<&str> = documents
        .iter()
        .filter_map(|d| d["Outcome"].as_str())
        .collect();
    assert_eq!(outcomes, ["refused", "delivered"], "stdout:\n{text}");
    let tracing_lines: Vec<Value> = text
        .lines()
        .filter(|line| !line.contains("\"_aws\""))
        .filter_map(|line| serde_json::from_str(line).ok())
        .collect();
    assert!(
        tracing_lines
            .iter()
            .any(|l| l["fields"]["outcome"] == "delivered"),
        "the invocation's log line is there too, as JSON:\n{text}"
    );
    assert!(
        !text.contains("e2emetrics0123456789") && !text.contains("e2e-token-123456"),
        "no secret on stdout:\n{text}"
    );
    let _ = std::fs::remove_file(&log);
}
