//! Nothing lost: every event ends delivered once, or dead-lettered once with the right class
//! and the right status to Flagger; parked events redrive once the destination is back.
//! Destinations are wiremock servers injecting faults; the queue is SQS on moto.

use std::io::Write;
use std::net::TcpListener;
use std::time::Duration;

use flagger_relay_core::dead_letter::{DeadLetterQueue, DeadLetterRecord};
use flagger_relay_core::redrive::redrive;
use flagger_relay_core::{Destination, Relay};
use flagger_relay_slack::Slack;
use flagger_relay_teams::TeamsWebhook;
use flagger_relay_tests::moto::{self, Moto};
use flagger_relay_tests::{Call, OPEN, answering, env, read, skip_without};
use serde_json::Value;
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, Respond, ResponseTemplate};

const EVENT: &[u8] = br#"{"name":"podinfo","namespace":"test","phase":"Progressing","checksum":"7f8c5d9b6c","metadata":{"eventMessage":"Halt podinfo.test advancement success rate 69.17% \u003c 99%","eventType":"Warning","timestamp":"1764000300959"}}"#;

/// A fresh queue on the shared moto, and a handle on it for the relay and for reading back.
async fn queue() -> (DeadLetterQueue, aws_sdk_sqs::Client, String) {
    moto::dead_letter_queue("dlq").await
}

fn slack(server_uri: impl AsRef<str>, queue: DeadLetterQueue) -> Relay<Slack> {
    let url = format!("{}/services/T0/B0/dlqtest0123456789", server_uri.as_ref());
    flagger_relay_slack::relay_from_env(&env(&[OPEN, ("SLACK_WEBHOOK_URL", &url)]))
        .unwrap()
        .with_dead_letter_queue(queue)
}

fn teams(server_uri: impl AsRef<str>, queue: DeadLetterQueue, format: &str) -> Relay<TeamsWebhook> {
    let url = format!("{}/workflows/dlqtest0123456789/invoke", server_uri.as_ref());
    flagger_relay_teams::relay_from_env(&env(&[
        OPEN,
        ("TEAMS_WEBHOOK_URL", &url),
        ("TEAMS_CARD_FORMAT", format),
    ]))
    .unwrap()
    .with_dead_letter_queue(queue)
}

/// What Flagger got back and what the queue holds after one event.
struct Ending {
    status: u16,
    body: Value,
    records: Vec<DeadLetterRecord>,
    calls: usize,
}

async fn one_event<D: Destination>(
    relay: impl FnOnce(String, DeadLetterQueue) -> Relay<D>,
    server: &MockServer,
) -> Ending {
    let (dlq, sqs, url) = queue().await;
    let relay = relay(server.uri(), dlq);
    let (status, body) = read(
        relay
            .handle(
                Call::post(EVENT)
                    .time_left(Duration::from_secs(6))
                    .request(),
            )
            .await,
    );
    let records = moto::take_parked(&sqs, &url).await;
    let calls = server.received_requests().await.unwrap_or_default().len();
    Ending {
        status,
        body,
        records,
        calls,
    }
}

fn assert_dead_lettered_once(ending: &Ending, destination: &str, class: &str, status: u16) {
    assert_eq!(ending.status, status, "{}", ending.body);
    assert_eq!(ending.body["dead_lettered"], true, "{}", ending.body);
    assert_eq!(ending.records.len(), 1, "exactly one record");
    let record = &ending.records[0];
    assert_eq!(record.destination, destination);
    assert_eq!(record.failure_class, class);
    assert_eq!(
        record.payload_bytes().unwrap(),
        EVENT,
        "the payload is kept byte for byte"
    );
    assert_eq!(
        record.attempts as usize, ending.calls,
        "every attempt is counted"
    );
    assert!(
        !record.reason.contains("dlqtest0123456789"),
        "no secret in the record: {}",
        record.reason
    );
}

/// Fails the first `n` calls with `template`, then answers `ok`.
struct FailFirst {
    n: usize,
    template: ResponseTemplate,
    calls: std::sync::atomic::AtomicUsize,
    ok: ResponseTemplate,
}

impl Respond for FailFirst {
    fn respond(&self, _: &wiremock::Request) -> ResponseTemplate {
        if self.calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst) < self.n {
            self.template.clone()
        } else {
            self.ok.clone()
        }
    }
}

async fn failing_first(n: usize, template: ResponseTemplate, ok: ResponseTemplate) -> MockServer {
    let server = MockServer::start().await;
    let responder = FailFirst {
        n,
        template,
        calls: Default::default(),
        ok,
    };
    Mock::given(method("POST"))
        .respond_with(responder)
        .mount(&server)
        .await;
    server
}

/// A server that reads the request, answers `status` with a body cut short (it promises 100
/// bytes and hangs up after `ok`), and counts the requests.
fn hanging_up(status: &'static str) -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    let calls = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = std::sync::Arc::clone(&calls);
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut stream = stream;
            let mut buffer = [0u8; 65536];
            let _ = std::io::Read::read(&mut stream, &mut buffer);
            counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let head = format!("HTTP/1.1 {status}\r\ncontent-length: 100\r\n\r\nok");
            let _ = stream.write_all(head.as_bytes());
        }
    });
    (format!("http://{address}"), calls)
}

mod slack {
    use super::*;

    #[tokio::test(flavor = "multi_thread")]
    async fn transient_5xx_is_retried_then_dead_lettered_as_transient_with_503() {
        skip_without!(moto::available());
        for code in [500, 502, 503, 504] {
            let server = answering(ResponseTemplate::new(code)).await;
            let ending = one_event(slack, &server).await;
            assert_dead_lettered_once(&ending, "slack", "transient", 503);
            assert!(ending.calls > 1, "HTTP {code} must be retried");
        }
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_429_with_retry_after_in_seconds_is_honoured_then_delivered() {
        skip_without!(moto::available());
        let server = failing_first(
            1,
            ResponseTemplate::new(429).insert_header("retry-after", "1"),
            ResponseTemplate::new(200).set_body_string("ok"),
        )
        .await;
        let ending = one_event(slack, &server).await;
        assert_eq!(
            (ending.status, ending.records.len(), ending.calls),
            (200, 0, 2),
            "{}",
            ending.body
        );
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_429_with_retry_after_as_an_http_date_is_honoured_then_delivered() {
        skip_without!(moto::available());
        let later = httpdate::fmt_http_date(std::time::SystemTime::now() + Duration::from_secs(1));
        let server = failing_first(
            1,
            ResponseTemplate::new(429).insert_header("retry-after", later.as_str()),
            ResponseTemplate::new(200).set_body_string("ok"),
        )
        .await;
        let ending = one_event(slack, &server).await;
        assert_eq!(
            (ending.status, ending.records.len(), ending.calls),
            (200, 0, 2),
            "{}",
            ending.body
        );
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_429_asking_for_longer_than_the_deadline_is_dead_lettered_at_once() {
        skip_without!(moto::available());
        let server =
            answering(ResponseTemplate::new(429).insert_header("retry-after", "120")).await;
        let ending = one_event(slack, &server).await;
        assert_dead_lettered_once(&ending, "slack", "transient", 503);
        assert_eq!(ending.calls, 1);
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_response_slower_than_the_timeout_is_dead_lettered_before_the_deadline() {
        skip_without!(moto::available());
        let server = answering(ResponseTemplate::new(200).set_delay(Duration::from_secs(30))).await;
        let started = std::time::Instant::now();
        let ending = one_event(slack, &server).await;
        assert_dead_lettered_once(&ending, "slack", "transient", 503);
        assert!(
            started.elapsed() < Duration::from_secs(6),
            "answered after the Lambda deadline"
        );
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_refused_connection_is_dead_lettered_as_transient() {
        skip_without!(moto::available());
        let closed = TcpListener::bind("127.0.0.1:0").unwrap();
        let uri = format!("http://{}", closed.local_addr().unwrap());
        drop(closed);
        let (dlq, sqs, url) = queue().await;
        let relay = slack(&uri, dlq);
        let (status, body) = read(
            relay
                .handle(
                    Call::post(EVENT)
                        .time_left(Duration::from_secs(5))
                        .request(),
                )
                .await,
        );
        let records = moto::take_parked(&sqs, &url).await;
        assert_eq!(
            (status, body["dead_lettered"].as_bool()),
            (503, Some(true)),
            "{body}"
        );
        assert_eq!(records.len(), 1);
        assert_eq!(records[0].failure_class, "transient");
        assert!(
            records[0].reason.contains("could not connect"),
            "{}",
            records[0].reason
        );
    }

    /// The status is a webhook's whole verdict: a 200 cut off before its body was read is
    /// delivered, and retrying it would post the message twice.
    #[tokio::test(flavor = "multi_thread")]
    async fn a_200_cut_off_before_its_body_is_delivered_once() {
        skip_without!(moto::available());
        let (uri, calls) = hanging_up("200 OK");
        let (dlq, sqs, url) = queue().await;
        let relay = slack(&uri, dlq);
        let (status, body) = read(
            relay
                .handle(
                    Call::post(EVENT)
                        .time_left(Duration::from_secs(5))
                        .request(),
                )
                .await,
        );
        assert_eq!(
            (status, body["status"].as_str()),
            (200, Some("delivered")),
            "{body}"
        );
        assert_eq!(
            calls.load(std::sync::atomic::Ordering::SeqCst),
            1,
            "posted once"
        );
        assert!(moto::take_parked(&sqs, &url).await.is_empty());
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_503_cut_off_before_its_body_is_still_transient() {
        skip_without!(moto::available());
        let (uri, calls) = hanging_up("503 Service Unavailable");
        let (dlq, sqs, url) = queue().await;
        let relay = slack(&uri, dlq);
        let (status, _) = read(
            relay
                .handle(
                    Call::post(EVENT)
                        .time_left(Duration::from_secs(5))
                        .request(),
                )
                .await,
        );
        assert_eq!(status, 503);
        assert!(
            calls.load(std::sync::atomic::Ordering::SeqCst) > 1,
            "retried"
        );
        let records = moto::take_parked(&sqs, &url).await;
        assert_eq!(records[0].reason, "HTTP 503");
        assert!(!records[0].maybe_delivered, "the status said no");
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn slack_refusals_are_dead_lettered_as_permanent_with_502_after_one_attempt() {
        skip_without!(moto::available());
        for (code, reason) in [
            (400, "invalid_payload"),
            (404, "no_service"),
            (403, "invalid_token"),
            (410, "channel_is_archived"),
        ] {
            let server = answering(ResponseTemplate::new(code).set_body_string(reason)).await;
            let ending = one_event(slack, &server).await;
            assert_dead_lettered_once(&ending, "slack", "permanent", 502);
            assert_eq!(ending.calls, 1);
            assert_eq!(ending.records[0].reason, format!("HTTP {code}: {reason}"));
        }
    }
}

mod teams {
    use super::*;

    #[tokio::test(flavor = "multi_thread")]
    async fn transient_5xx_and_429_are_dead_lettered_as_transient() {
        skip_without!(moto::available());
        for template in [
            ResponseTemplate::new(500),
            ResponseTemplate::new(502),
            ResponseTemplate::new(503),
            ResponseTemplate::new(504),
            ResponseTemplate::new(429).insert_header("retry-after", "60"),
        ] {
            let server = answering(template).await;
            let ending = one_event(|uri: String, q| teams(uri, q, "adaptive"), &server).await;
            assert_dead_lettered_once(&ending, "teams", "transient", 503);
        }
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_legacy_200_that_is_not_1_is_dead_lettered_as_permanent() {
        skip_without!(moto::available());
        let body = "Webhook message delivery failed with error: Microsoft Teams endpoint returned HTTP error 413";
        let server = answering(ResponseTemplate::new(200).set_body_string(body)).await;
        let ending = one_event(|uri: String, q| teams(uri, q, "messagecard"), &server).await;
        assert_dead_lettered_once(&ending, "teams", "permanent", 502);
        assert_eq!(ending.calls, 1);
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn teams_refusals_are_dead_lettered_as_permanent() {
        skip_without!(moto::available());
        for code in [400, 404, 413] {
            let server = answering(ResponseTemplate::new(code)).await;
            let ending = one_event(|uri: String, q| teams(uri, q, "adaptive"), &server).await;
            assert_dead_lettered_once(&ending, "teams", "permanent", 502);
        }
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_response_slower_than_the_timeout_is_dead_lettered() {
        skip_without!(moto::available());
        let server = answering(ResponseTemplate::new(202).set_delay(Duration::from_secs(30))).await;
        let ending = one_event(|uri: String, q| teams(uri, q, "adaptive"), &server).await;
        assert_dead_lettered_once(&ending, "teams", "transient", 503);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_dead_letter_write_answers_500_and_says_so() {
    skip_without!(moto::available());
    let server = answering(ResponseTemplate::new(400).set_body_string("invalid_payload")).await;
    let config = Moto::shared().sdk_config().await;
    let missing = format!(
        "{}/{}/{}",
        Moto::shared().endpoint(),
        moto::ACCOUNT,
        moto::unique("no-such-queue")
    );
    let relay = slack(server.uri(), DeadLetterQueue::with_config(missing, config));
    let (status, body) = read(relay.handle(Call::post(EVENT).request()).await);
    assert_eq!(status, 500, "{body}");
    assert_eq!(body["dead_lettered"], false);
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("parking it failed too"),
        "{body}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn redrive_delivers_parked_events_and_keeps_what_still_fails() {
    skip_without!(moto::available());
    let (dlq, sqs, url) = queue().await;
    let down = answering(ResponseTemplate::new(503)).await;
    let relay = slack(down.uri(), dlq);
    for _ in 0..3 {
        let (status, _) = read(
            relay
                .handle(
                    Call::post(EVENT)
                        .time_left(Duration::from_secs(4))
                        .request(),
                )
                .await,
        );
        assert_eq!(status, 503);
    }
    // Still down: nothing is deleted, every record comes back with more attempts.
    let config = Moto::shared().sdk_config().await;
    let queue_handle = DeadLetterQueue::with_config(url.clone(), config.clone());
    let report = redrive(&relay, &queue_handle, false).await.unwrap();
    assert_eq!((report.delivered, report.failed), (0, 3));

    // Back up: every record is delivered once and the queue is empty.
    let up = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_string("ok"))
        .expect(3)
        .mount(&up)
        .await;
    let healthy = slack(
        up.uri(),
        DeadLetterQueue::with_config(url.clone(), config.clone()),
    );
    let listed = redrive(&healthy, &queue_handle, true).await.unwrap();
    assert_eq!(
        (listed.delivered, listed.left),
        (0, 3),
        "a dry run only lists"
    );
    let report = redrive(&healthy, &queue_handle, false).await.unwrap();
    assert_eq!((report.delivered, report.failed), (3, 0));
    assert!(moto::take_parked(&sqs, &url).await.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn redrive_raises_the_attempt_count_of_what_fails_again() {
    skip_without!(moto::available());
    let (dlq, sqs, url) = queue().await;
    let down = answering(ResponseTemplate::new(500)).await;
    let relay = slack(down.uri(), dlq);
    read(
        relay
            .handle(
                Call::post(EVENT)
                    .time_left(Duration::from_secs(4))
                    .request(),
            )
            .await,
    );
    let first_attempts = down.received_requests().await.unwrap().len() as u32;
    let config = Moto::shared().sdk_config().await;
    redrive(
        &relay,
        &DeadLetterQueue::with_config(url.clone(), config),
        false,
    )
    .await
    .unwrap();
    let records = moto::take_parked(&sqs, &url).await;
    assert_eq!(records.len(), 1);
    let total = down.received_requests().await.unwrap().len() as u32;
    assert_eq!(records[0].attempts, total);
    assert!(records[0].attempts > first_attempts);
}

/// 2,000 events against a destination failing a seeded 10% of calls, half of those
/// transiently, half permanently: delivered + dead-lettered = 2,000, and every parked
/// record redrives once the destination is healthy.
#[tokio::test(flavor = "multi_thread")]
async fn two_thousand_events_are_all_accounted_for() {
    skip_without!(moto::available());
    struct Flaky {
        seed: std::sync::Mutex<u64>,
    }
    impl Respond for Flaky {
        fn respond(&self, _: &wiremock::Request) -> ResponseTemplate {
            let mut seed = self.seed.lock().unwrap();
            // xorshift64: deterministic, so a failure is reproducible.
            *seed ^= *seed << 13;
            *seed ^= *seed >> 7;
            *seed ^= *seed << 17;
            match *seed % 20 {
                0 => ResponseTemplate::new(400).set_body_string("invalid_payload"),
                1 => ResponseTemplate::new(503),
                _ => ResponseTemplate::new(200).set_body_string("ok"),
            }
        }
    }
    let flaky = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(Flaky {
            seed: std::sync::Mutex::new(0x5eed_f1a6),
        })
        .mount(&flaky)
        .await;
    let (dlq, sqs, url) = queue().await;
    let mut relay = slack(flaky.uri(), dlq);
    // Fast retries keep the run short; the policy's shape is what is under test, not its delays.
    let settings = relay_settings_fast(&relay);
    relay = Relay::new(settings, relay.into_destination()).with_dead_letter_queue(
        DeadLetterQueue::with_config(url.clone(), Moto::shared().sdk_config().await),
    );

    let (mut delivered, mut dead_lettered) = (0u32, 0u32);
    for n in 0..2000u32 {
        let body = String::from_utf8_lossy(EVENT).replace(
            "1764000300959",
            &(1764000300959u64 + u64::from(n)).to_string(),
        );
        let (status, answer) = read(relay.handle(Call::post(body.as_bytes()).request()).await);
        match status {
            200 => delivered += 1,
            502 | 503 if answer["dead_lettered"] == true => dead_lettered += 1,
            other => panic!("event {n}: unexpected {other} {answer}"),
        }
    }
    assert_eq!(delivered + dead_lettered, 2000);
    assert!(
        dead_lettered > 0,
        "the upstream failed some events for good"
    );
    let records_before = dead_lettered;

    let healthy = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_string("ok"))
        .expect(u64::from(records_before))
        .mount(&healthy)
        .await;
    let config = Moto::shared().sdk_config().await;
    let redriver = slack(
        healthy.uri(),
        DeadLetterQueue::with_config(url.clone(), config.clone()),
    );
    let report = redrive(
        &redriver,
        &DeadLetterQueue::with_config(url.clone(), config),
        false,
    )
    .await
    .unwrap();
    assert_eq!(
        (report.delivered, report.failed, report.unreadable),
        (records_before, 0, 0)
    );
    assert!(moto::take_parked(&sqs, &url).await.is_empty());
}

fn relay_settings_fast<D: Destination>(
    relay: &Relay<D>,
) -> flagger_relay_core::config::RelaySettings {
    let mut settings = relay.settings().clone();
    settings.retry.first_delay = Duration::from_millis(1);
    settings.retry.max_delay = Duration::from_millis(2);
    settings.retry.max_attempts = 2;
    settings
}

/// The largest bodies the functions accept, made of what escaping makes longer (quotes,
/// backslashes, control characters, newlines) and of characters SQS refuses in a message
/// (U+FFFE, U+FFFF), park byte for byte in a queue created as the template creates it.
mod worst_case {
    use super::*;
    use flagger_relay_core::contract::MAX_BODY_BYTES;
    use flagger_relay_tests::template::dead_letter_queue_attributes;
    use serde_json::json;

    /// SNS's limit on a message, which is what a fan-out record carries.
    const SNS_MESSAGE_LIMIT: usize = 262_144;

    /// What JSON escaping makes longer: quotes, backslashes, control characters, newlines.
    const ESCAPED: [&str; 4] = ["\\\"", "\\\\", "\\u0001", "\\n"];
    /// What SQS (and SNS) refuse in a message, valid in JSON text.
    const REFUSED: [&str; 2] = ["\u{FFFF}", "\u{FFFE}"];

    /// `prefix`, then `units` over and over, then `suffix`: `total` bytes of valid JSON.
    fn worst_body(prefix: &str, units: &[&str], suffix: &str, total: usize) -> Vec<u8> {
        let mut body = prefix.to_owned();
        let end = total - suffix.len();
        for unit in units.iter().cycle() {
            if body.len() + unit.len() > end {
                break;
            }
            body.push_str(unit);
        }
        while body.len() + 2 <= end {
            body.push_str("\\\\");
        }
        while body.len() < end {
            body.push('x');
        }
        body.push_str(suffix);
        assert_eq!(body.len(), total);
        serde_json::from_str::<Value>(&body).expect("valid JSON");
        body.into_bytes()
    }

    fn worst_event() -> Vec<u8> {
        worst_body(
            r#"{"name":"podinfo","namespace":"test","phase":"Failed","metadata":{"eventType":"Warning","timestamp":"1764000300959","eventMessage":""#,
            &[ESCAPED.as_slice(), REFUSED.as_slice()].concat(),
            r#""}}"#,
            MAX_BODY_BYTES,
        )
    }

    /// What the SNS function publishes for such an event, at SNS's limit. SNS refuses the
    /// characters SQS refuses, so a fan-out message never carries them.
    fn worst_document() -> String {
        let body = worst_body(
            r#"{"schema":1,"name":"podinfo","namespace":"test","phase":"Failed","summary":"canary failed","stage":"failed","severity":"error","truncated":false,"metadata":{"eventType":"Warning","timestamp":"1764000300959","eventMessage":""#,
            &ESCAPED,
            r#""}}"#,
            SNS_MESSAGE_LIMIT,
        );
        String::from_utf8(body).expect("UTF-8")
    }

    /// A queue with the template's attributes, and its size limit in bytes.
    async fn template_queue() -> (DeadLetterQueue, aws_sdk_sqs::Client, String, usize) {
        let config = Moto::shared().sdk_config().await;
        let sqs = aws_sdk_sqs::Client::new(&config);
        let mut create = sqs.create_queue().queue_name(moto::unique("dlq-template"));
        let mut limit = 0;
        for (name, value) in dead_letter_queue_attributes() {
            if name == aws_sdk_sqs::types::QueueAttributeName::MaximumMessageSize {
                limit = value.parse().expect("a number");
            }
            create = create.attributes(name, value);
        }
        let url = create
            .send()
            .await
            .expect("moto creates the queue with the template's attributes")
            .queue_url
            .expect("a queue url");
        (
            DeadLetterQueue::with_config(url.clone(), config),
            sqs,
            url,
            limit,
        )
    }

    /// What SQS itself checks and moto does not: the size in bytes, and the characters a
    /// message may contain (#x9 | #xA | #xD | #x20 to #xD7FF | #xE000 to #xFFFD | #x10000 up).
    fn assert_sqs_takes(body: &str, limit: usize) {
        assert!(
            body.len() <= limit,
            "{} bytes do not fit a queue of {limit}",
            body.len()
        );
        let refused = body.chars().find(|c| {
            !matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
        });
        assert_eq!(refused, None, "SQS refuses this character in a message");
    }

    /// The payload of a record as an operator (or redrive) reads it: base64 when the record
    /// says so.
    fn payload_of(record: &str) -> Vec<u8> {
        let record: Value = serde_json::from_str(record).expect("a JSON record");
        let payload = record["payload"].as_str().expect("a payload");
        match record["payload_encoding"].as_str() {
            Some("base64") => aws_smithy_types::base64::decode(payload).expect("base64"),
            _ => payload.as_bytes().to_vec(),
        }
    }

    fn sns_invocation(message: &str) -> lambda_http::Request {
        use lambda_http::RequestExt;
        let event = json!({"Records": [{
            "EventSource": "aws:sns",
            "EventVersion": "1.0",
            "EventSubscriptionArn": "arn:aws:sns:us-east-1:123456789012:flagger-events:0b8ea2d6",
            "Sns": {
                "Type": "Notification",
                "MessageId": "95df01b4-ee98-5cb9-9903-4c221d41eb5e",
                "TopicArn": "arn:aws:sns:us-east-1:123456789012:flagger-events",
                "Message": message,
                "Timestamp": "2025-11-24T16:05:01.002Z",
                "MessageAttributes": {}
            }
        }]});
        let request = lambda_http::request::from_str(&event.to_string())
            .expect("an SNS event is a pass-through request");
        let mut context = lambda_http::Context::default();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap();
        context.deadline = (now + Duration::from_secs(10)).as_millis() as u64;
        request.with_lambda_context(context)
    }

    async fn refusing() -> MockServer {
        answering(ResponseTemplate::new(400).set_body_string("invalid_payload")).await
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn the_largest_body_of_escaped_characters_parks_byte_for_byte() {
        skip_without!(moto::available());
        let body = worst_event();
        let (dlq, sqs, url, limit) = template_queue().await;
        let server = refusing().await;
        let relay = slack(server.uri(), dlq);
        let (status, answer) = read(relay.handle(Call::post(&body).request()).await);
        assert_eq!(
            (status, answer["dead_lettered"].as_bool()),
            (502, Some(true)),
            "{answer}"
        );
        let parked = moto::take_all(&sqs, &url).await;
        assert_eq!(parked.len(), 1);
        assert_sqs_takes(&parked[0], limit);
        assert!(
            payload_of(&parked[0]) == body,
            "the body is kept byte for byte"
        );
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn an_sns_message_at_snss_limit_parks_byte_for_byte() {
        skip_without!(moto::available());
        let message = worst_document();
        let (dlq, sqs, url, limit) = template_queue().await;
        let server = refusing().await;
        let relay = slack(server.uri(), dlq);
        let response = relay
            .invoke(sns_invocation(&message))
            .await
            .expect("a refusal is parked, not retried");
        assert_eq!(response.status(), 502);
        let parked = moto::take_all(&sqs, &url).await;
        assert_eq!(parked.len(), 1);
        assert_sqs_takes(&parked[0], limit);
        assert!(payload_of(&parked[0]) == message.as_bytes());
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn what_lambdas_on_failure_writes_for_the_largest_message_is_kept_and_redriven() {
        skip_without!(moto::available());
        let message = worst_document();
        let (dlq, sqs, url, limit) = template_queue().await;
        // Lambda's record embeds the whole SNS event, the message escaped once more.
        let lambda_record = json!({
            "version": "1.0",
            "timestamp": "2025-11-24T16:07:01.002Z",
            "requestContext": {
                "requestId": "e4b46cbf-b738-4c5b-a0b0-7b0c1e1d2a3f",
                "functionArn": "arn:aws:lambda:us-east-1:123456789012:function:flagger-relay-slack:$LATEST",
                "condition": "RetriesExhausted",
                "approximateInvokeCount": 3
            },
            "requestPayload": {"Records": [{
                "EventSource": "aws:sns",
                "EventSubscriptionArn": "arn:aws:sns:us-east-1:123456789012:flagger-events:0b8ea2d6",
                "Sns": {
                    "Type": "Notification",
                    "MessageId": "95df01b4-ee98-5cb9-9903-4c221d41eb5e",
                    "TopicArn": "arn:aws:sns:us-east-1:123456789012:flagger-events",
                    "Message": message,
                    "Timestamp": "2025-11-24T16:05:01.002Z",
                    "MessageAttributes": {}
                }
            }]},
            "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
            "responsePayload": {"errorMessage": "slack delivery failed; left to Lambda to retry: HTTP 503"}
        })
        .to_string();
        assert_sqs_takes(&lambda_record, limit);
        sqs.send_message()
            .queue_url(&url)
            .message_body(&lambda_record)
            .send()
            .await
            .expect("the queue takes what Lambda writes");

        // Refused again: written back in the relay's own shape, the message byte for byte.
        let server = refusing().await;
        let report = redrive(&slack(server.uri(), dlq), &queue_of(&url).await, false)
            .await
            .unwrap();
        assert_eq!((report.delivered, report.failed), (0, 1));
        let parked = moto::take_all(&sqs, &url).await;
        assert_eq!(parked.len(), 1);
        assert_sqs_takes(&parked[0], limit);
        assert!(payload_of(&parked[0]) == message.as_bytes());

        // Back in the queue and the destination healthy: delivered, the queue empty.
        sqs.send_message()
            .queue_url(&url)
            .message_body(&parked[0])
            .send()
            .await
            .unwrap();
        let healthy = answering(ResponseTemplate::new(200).set_body_string("ok")).await;
        let relay = slack(healthy.uri(), queue_of(&url).await);
        let report = redrive(&relay, &queue_of(&url).await, false).await.unwrap();
        assert_eq!((report.delivered, report.failed), (1, 0));
        assert!(moto::take_all(&sqs, &url).await.is_empty());
    }

    async fn queue_of(url: &str) -> DeadLetterQueue {
        DeadLetterQueue::with_config(url.to_owned(), Moto::shared().sdk_config().await)
    }
}

/// What a destination's answer means, at the edges: no answer after sending, a redirect, a 408,
/// a Teams connector reporting Teams' own trouble.
mod verdicts {
    use super::*;
    use std::sync::{Arc, Mutex};

    /// Every log line of this test process, from the first call on: tests tell theirs apart
    /// by the canary they send.
    pub(super) fn logs() -> &'static Arc<Mutex<Vec<u8>>> {
        static LOGS: std::sync::OnceLock<Arc<Mutex<Vec<u8>>>> = std::sync::OnceLock::new();
        LOGS.get_or_init(|| {
            let buffer = Arc::new(Mutex::new(Vec::new()));
            let sink = Arc::clone(&buffer);
            let subscriber = tracing_subscriber::fmt()
                .with_ansi(false)
                .with_writer(move || Captured(Arc::clone(&sink)))
                .finish();
            tracing::subscriber::set_global_default(subscriber)
                .expect("the only subscriber of this test process");
            buffer
        })
    }

    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[tokio::test]
    async fn a_timeout_after_sending_is_retried_and_said_maybe_delivered_everywhere() {
        skip_without!(moto::available());
        let logs = logs();
        let event = String::from_utf8_lossy(EVENT).replace("podinfo", "maybe-delivered");
        let slow = answering(ResponseTemplate::new(200).set_delay(Duration::from_secs(30))).await;
        let (dlq, sqs, url) = queue().await;
        let relay = slack(slow.uri(), dlq);
        let (status, body) = read(
            relay
                .handle(
                    Call::post(event.as_bytes())
                        .time_left(Duration::from_secs(6))
                        .request(),
                )
                .await,
        );
        assert_eq!(status, 503, "{body}");
        assert_eq!(body["maybe_delivered"], true, "the answer says so: {body}");
        let line = String::from_utf8_lossy(&logs.lock().unwrap()).into_owned();
        let failed: Vec<&str> = line
            .lines()
            .filter(|l| l.contains("delivery failed") && l.contains("maybe-delivered"))
            .collect();
        assert_eq!(failed.len(), 1, "{line}");
        assert!(failed[0].contains("maybe_delivered=true"), "{}", failed[0]);

        // The record says so, and a redrive counts it before sending it again.
        let parked = moto::take_all(&sqs, &url).await;
        assert_eq!(parked.len(), 1);
        let record: Value = serde_json::from_str(&parked[0]).unwrap();
        assert_eq!(record["maybe_delivered"], true, "{record}");
        sqs.send_message()
            .queue_url(&url)
            .message_body(&parked[0])
            .send()
            .await
            .unwrap();
        let healthy = answering(ResponseTemplate::new(200).set_body_string("ok")).await;
        let config = Moto::shared().sdk_config().await;
        let queue = DeadLetterQueue::with_config(url.clone(), config.clone());
        let report = redrive(
            &slack(healthy.uri(), queue),
            &DeadLetterQueue::with_config(url.clone(), config),
            false,
        )
        .await
        .unwrap();
        assert_eq!(
            (report.delivered, report.maybe_delivered),
            (1, 1),
            "{report}"
        );
        assert!(report.to_string().contains("maybe_delivered"), "{report}");
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_refused_connection_is_not_maybe_delivered() {
        skip_without!(moto::available());
        let closed = TcpListener::bind("127.0.0.1:0").unwrap();
        let uri = format!("http://{}", closed.local_addr().unwrap());
        drop(closed);
        let (dlq, _, _) = queue().await;
        let (status, body) = read(
            slack(&uri, dlq)
                .handle(
                    Call::post(EVENT)
                        .time_left(Duration::from_secs(4))
                        .request(),
                )
                .await,
        );
        assert_eq!(status, 503);
        assert!(body.get("maybe_delivered").is_none(), "{body}");
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_redirect_is_not_followed_and_is_refused_naming_its_status() {
        skip_without!(moto::available());
        for code in [301, 302, 303, 307, 308] {
            let server = MockServer::start().await;
            Mock::given(method("POST"))
                .and(wiremock::matchers::path("/moved"))
                .respond_with(ResponseTemplate::new(200).set_body_string("ok"))
                .mount(&server)
                .await;
            Mock::given(method("GET"))
                .respond_with(ResponseTemplate::new(200).set_body_string("ok"))
                .mount(&server)
                .await;
            Mock::given(method("POST"))
                .respond_with(
                    ResponseTemplate::new(code)
                        .insert_header("location", format!("{}/moved", server.uri()).as_str()),
                )
                .mount(&server)
                .await;
            let ending = one_event(slack, &server).await;
            assert_dead_lettered_once(&ending, "slack", "permanent", 502);
            assert_eq!(ending.calls, 1, "HTTP {code}: the redirect is not followed");
            let reason = &ending.records[0].reason;
            assert!(reason.starts_with(&format!("HTTP {code}")), "{reason}");
            assert!(reason.contains("redirect"), "{reason}");
        }
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_408_is_retried() {
        skip_without!(moto::available());
        let server = failing_first(
            1,
            ResponseTemplate::new(408),
            ResponseTemplate::new(200).set_body_string("ok"),
        )
        .await;
        let ending = one_event(slack, &server).await;
        assert_eq!(
            (ending.status, ending.records.len(), ending.calls),
            (200, 0, 2),
            "{}",
            ending.body
        );
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_teams_connector_reporting_teams_throttled_is_retried() {
        skip_without!(moto::available());
        let throttled = "Webhook message delivery failed with error: Microsoft Teams endpoint returned HTTP error 429 with ContextId tcid=0,server=msgapi-production-eus-azsc2-4-170,cv=deadbeef";
        let server = failing_first(
            1,
            ResponseTemplate::new(200).set_body_string(throttled),
            ResponseTemplate::new(200).set_body_string("1"),
        )
        .await;
        let ending = one_event(|uri: String, q| teams(uri, q, "messagecard"), &server).await;
        assert_eq!(
            (ending.status, ending.records.len(), ending.calls),
            (200, 0, 2),
            "{}",
            ending.body
        );
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_connector_200_cut_off_before_its_verdict_is_transient_and_maybe_delivered() {
        skip_without!(moto::available());
        let (uri, calls) = hanging_up("200 OK");
        let (dlq, sqs, url) = queue().await;
        let relay = teams(&uri, dlq, "messagecard");
        let (status, body) = read(
            relay
                .handle(
                    Call::post(EVENT)
                        .time_left(Duration::from_secs(5))
                        .request(),
                )
                .await,
        );
        assert_eq!(
            (status, body["maybe_delivered"].as_bool()),
            (503, Some(true)),
            "{body}"
        );
        assert!(
            calls.load(std::sync::atomic::Ordering::SeqCst) > 1,
            "retried"
        );
        assert!(moto::take_parked(&sqs, &url).await[0].maybe_delivered);
        // A Workflow's status is its whole verdict.
        let (uri, calls) = hanging_up("202 Accepted");
        let (dlq, _, _) = queue().await;
        let (status, _) = read(
            teams(&uri, dlq, "adaptive")
                .handle(Call::post(EVENT).request())
                .await,
        );
        assert_eq!(status, 200);
        assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 1);
    }
}

/// Flagger waits 10 s (its webhook `timeout`) from the moment it sent the event, a cold start
/// included: the answer leaves inside that, or inside the Lambda deadline if it comes first.
mod deadlines {
    use super::*;
    use std::time::Instant;

    fn hanging_slack_relay(server: &MockServer, extra: &[(&str, &str)]) -> Relay<Slack> {
        let url = format!("{}/services/T0/B0/deadline0123456789", server.uri());
        let mut vars = vec![OPEN, ("SLACK_WEBHOOK_URL", url.as_str())];
        vars.extend_from_slice(extra);
        flagger_relay_slack::relay_from_env(&env(&vars)).unwrap()
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_request_that_waited_through_a_cold_start_is_answered_inside_flaggers_timeout() {
        skip_without!(moto::available());
        let hanging =
            answering(ResponseTemplate::new(200).set_delay(Duration::from_secs(30))).await;
        let (dlq, sqs, url) = queue().await;
        let relay = hanging_slack_relay(&hanging, &[]).with_dead_letter_queue(dlq);
        // The Function URL took the request 7 s ago; the cold start used them up. Lambda's
        // own deadline, 10 s from now, is not Flagger's.
        let started = Instant::now();
        let (status, body) = read(
            relay
                .handle(
                    Call::post(EVENT)
                        .arrived_ago(Duration::from_secs(7))
                        .time_left(Duration::from_secs(10))
                        .request(),
                )
                .await,
        );
        let took = started.elapsed();
        assert_eq!(
            (status, body["dead_lettered"].as_bool()),
            (503, Some(true)),
            "{body}"
        );
        assert!(
            took < Duration::from_secs(3),
            "answered {took:?} after the cold start: Flagger gave up 3 s after it"
        );
        assert_eq!(
            moto::take_parked(&sqs, &url).await.len(),
            1,
            "the event is kept all the same"
        );
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn flagger_timeout_is_what_the_settings_say() {
        skip_without!(moto::available());
        let hanging =
            answering(ResponseTemplate::new(200).set_delay(Duration::from_secs(30))).await;
        let (dlq, _, _) = queue().await;
        let relay =
            hanging_slack_relay(&hanging, &[("FLAGGER_TIMEOUT", "3s")]).with_dead_letter_queue(dlq);
        let started = Instant::now();
        let (status, _) = read(
            relay
                .handle(
                    Call::post(EVENT)
                        .arrived_ago(Duration::ZERO)
                        .time_left(Duration::from_secs(10))
                        .request(),
                )
                .await,
        );
        let took = started.elapsed();
        assert_eq!(status, 503);
        assert!(
            took < Duration::from_secs(3),
            "took {took:?} of a 3 s timeout"
        );
    }

    /// When Flagger has given up already, hurrying helps nobody: the event gets Lambda's time
    /// to be delivered.
    #[tokio::test(flavor = "multi_thread")]
    async fn a_request_flagger_gave_up_on_still_gets_lambdas_time_to_be_delivered() {
        skip_without!(moto::available());
        let server = failing_first(
            2,
            ResponseTemplate::new(503),
            ResponseTemplate::new(200).set_body_string("ok"),
        )
        .await;
        let (dlq, _, _) = queue().await;
        let relay = hanging_slack_relay(&server, &[]).with_dead_letter_queue(dlq);
        let (status, body) = read(
            relay
                .handle(
                    Call::post(EVENT)
                        .arrived_ago(Duration::from_secs(20))
                        .time_left(Duration::from_secs(10))
                        .request(),
                )
                .await,
        );
        assert_eq!(
            (status, body["attempts"].as_u64()),
            (200, Some(3)),
            "{body}"
        );
    }
}

/// A flood of refused requests costs a few log lines and a count, not a line each.
mod floods {
    use super::*;
    use flagger_relay_core::log_sampling::LogSampler;

    #[tokio::test(flavor = "multi_thread")]
    async fn a_flood_of_refused_requests_logs_a_few_lines_then_one_count() {
        let logs = super::verdicts::logs();
        let server = answering(ResponseTemplate::new(200).set_body_string("ok")).await;
        let url = format!("{}/services/T0/B0/flood0123456789", server.uri());
        let window = Duration::from_millis(300);
        let relay = flagger_relay_slack::relay_from_env(&env(&[
            ("RELAY_TOKEN", "flood-token-0123456789"),
            ("SLACK_WEBHOOK_URL", &url),
        ]))
        .unwrap()
        .with_refusal_sampling(LogSampler::new(5, window));
        let (sink, metrics) = flagger_relay_core::metrics::MetricsSink::collect();
        let relay = relay.with_metrics_sink(sink);
        let refused = |lines: &str| {
            lines
                .lines()
                .filter(|l| l.contains("request refused") && l.contains("unauthorized"))
                .count()
        };
        let before = refused(&String::from_utf8_lossy(&logs.lock().unwrap()));
        for _ in 0..200 {
            let (status, _) = read(relay.handle(Call::post(EVENT).request()).await);
            assert_eq!(status, 401);
        }
        let text = String::from_utf8_lossy(&logs.lock().unwrap()).into_owned();
        assert_eq!(
            refused(&text) - before,
            5,
            "the first few in full, then silence"
        );
        // The flood is over; the next request of any kind writes its one count line.
        tokio::time::sleep(window + Duration::from_millis(100)).await;
        let (status, _) = read(
            relay
                .handle(
                    Call::post(EVENT)
                        .query("token=flood-token-0123456789")
                        .request(),
                )
                .await,
        );
        assert_eq!(status, 200);
        let text = String::from_utf8_lossy(&logs.lock().unwrap()).into_owned();
        let counts: Vec<&str> = text
            .lines()
            .filter(|l| l.contains("refused_not_logged=195"))
            .collect();
        assert_eq!(counts.len(), 1, "{text}");
        assert!(
            counts[0].contains("195 more refused requests"),
            "{}",
            counts[0]
        );
        // The metrics still count every refusal, in as few lines: five, one for the 195
        // counted, and the delivered event's.
        let documents: Vec<Value> = metrics
            .lock()
            .unwrap()
            .iter()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect();
        assert_eq!(documents.len(), 7, "{documents:?}");
        let refused: u64 = documents
            .iter()
            .filter(|d| d["Outcome"] == "refused")
            .map(|d| d["Events"].as_u64().unwrap())
            .sum();
        assert_eq!(refused, 200);
    }
}
