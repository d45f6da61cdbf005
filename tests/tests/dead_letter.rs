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
use flagger_relay_tests::{Call, env, read, skip_without};
use serde_json::Value;
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, Respond, ResponseTemplate};

const EVENT: &[u8] = br#"{"name":"podinfo","namespace":"test","phase":"Progressing","checksum":"7f8c5d9b6c","metadata":{"eventMessage":"Halt podinfo.test advancement success rate 69.17% \u003c 99%","eventType":"Warning","timestamp":"1764000300959"}}"#;

/// A fresh queue on the shared moto, and a handle on it for the relay and for reading back.
async fn queue() -> (DeadLetterQueue, aws_sdk_sqs::Client, String) {
    let moto = Moto::shared();
    let config = moto.sdk_config().await;
    let sqs = aws_sdk_sqs::Client::new(&config);
    let created = sqs
        .create_queue()
        .queue_name(moto::unique("dlq"))
        .send()
        .await
        .expect("moto creates queues");
    let url = created.queue_url().expect("queue url").to_owned();
    (DeadLetterQueue::with_config(url.clone(), config), sqs, url)
}

/// Every record in the queue, removed as read.
async fn parked(sqs: &aws_sdk_sqs::Client, url: &str) -> Vec<DeadLetterRecord> {
    let mut records = Vec::new();
    loop {
        let batch = sqs
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .send()
            .await
            .unwrap();
        let messages = batch.messages.unwrap_or_default();
        if messages.is_empty() {
            return records;
        }
        for message in messages {
            records
                .push(serde_json::from_str(message.body().unwrap()).expect("a dead-letter record"));
            sqs.delete_message()
                .queue_url(url)
                .receipt_handle(message.receipt_handle().unwrap())
                .send()
                .await
                .unwrap();
        }
    }
}

fn slack(server_uri: impl AsRef<str>, queue: DeadLetterQueue) -> Relay<Slack> {
    let url = format!("{}/services/T0/B0/dlqtest0123456789", server_uri.as_ref());
    flagger_relay_slack::relay_from_env(&env(&[("SLACK_WEBHOOK_URL", &url)]))
        .unwrap()
        .with_dead_letter_queue(queue)
}

fn teams(server_uri: impl AsRef<str>, queue: DeadLetterQueue, format: &str) -> Relay<TeamsWebhook> {
    let url = format!("{}/workflows/dlqtest0123456789/invoke", server_uri.as_ref());
    flagger_relay_teams::relay_from_env(&env(&[
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
    let records = parked(&sqs, &url).await;
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
        record.payload.as_bytes(),
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

async fn answering(template: ResponseTemplate) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(template)
        .mount(&server)
        .await;
    server
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

/// A server that accepts the connection, reads the request, and hangs up without answering.
fn hanging_up() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut stream = stream;
            let mut buffer = [0u8; 4096];
            let _ = std::io::Read::read(&mut stream, &mut buffer);
            let _ = stream.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nok");
        }
    });
    format!("http://{address}")
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
        let records = parked(&sqs, &url).await;
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

    #[tokio::test(flavor = "multi_thread")]
    async fn a_connection_closed_mid_response_is_dead_lettered_as_transient() {
        skip_without!(moto::available());
        let uri = hanging_up();
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
        let records = parked(&sqs, &url).await;
        assert_eq!(
            (status, body["dead_lettered"].as_bool()),
            (503, Some(true)),
            "{body}"
        );
        assert_eq!(records.len(), 1);
        assert_eq!(records[0].failure_class, "transient");
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
    assert!(parked(&sqs, &url).await.is_empty());
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
    let records = parked(&sqs, &url).await;
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
    assert!(parked(&sqs, &url).await.is_empty());
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
