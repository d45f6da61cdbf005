//! Redrive ends, and says what it did: a record that keeps failing is given up and left as it
//! is, two runs at once never send one record twice, a failed SQS call costs only its record,
//! and `make redrive` reaches every destination a record can name. SQS is moto (behind a
//! fault-injecting proxy where a call must fail); destinations are wiremock.

use std::collections::HashMap;
use std::time::Duration;

use flagger_relay_core::Relay;
use flagger_relay_core::dead_letter::{DeadLetterQueue, DeadLetterRecord};
use flagger_relay_core::deliver::DeliveryFailure;
use flagger_relay_core::redrive::{RedriveOptions, redrive_with};
use flagger_relay_slack::Slack;
use flagger_relay_tests::faults::Faults;
use flagger_relay_tests::moto::{self, Moto};
use flagger_relay_tests::{OPEN, env, root, skip_without};
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

/// A Flagger event, distinct per `n`.
fn event(n: u32) -> Vec<u8> {
    format!(
        r#"{{"name":"podinfo","namespace":"test","phase":"Progressing","checksum":"7f8c5d9b6c","metadata":{{"eventMessage":"Advance podinfo.test canary weight {n}","eventType":"Normal","timestamp":"{}"}}}}"#,
        1_764_000_300_959u64 + u64::from(n)
    )
    .into_bytes()
}

async fn new_queue(config: &aws_config::SdkConfig) -> String {
    aws_sdk_sqs::Client::new(config)
        .create_queue()
        .queue_name(moto::unique("redrive"))
        .send()
        .await
        .expect("moto creates queues")
        .queue_url
        .expect("a queue url")
}

/// Parks one record per body, as the functions park them.
async fn park(queue: &DeadLetterQueue, destination: &str, source: &str, bodies: &[Vec<u8>]) {
    let failure = DeliveryFailure::refused("HTTP 503".to_owned());
    for body in bodies {
        let record = DeadLetterRecord::with_payload(destination, source, body, &failure);
        queue
            .park(&record, Duration::from_secs(5))
            .await
            .expect("parked");
    }
}

fn slack(uri: &str) -> Relay<Slack> {
    let url = format!("{uri}/services/T0/B0/redrive0123456789");
    let relay =
        flagger_relay_slack::relay_from_env(&env(&[OPEN, ("SLACK_WEBHOOK_URL", &url)])).unwrap();
    // Quick retries: what is under test is what redrive does with the outcome.
    let mut settings = relay.settings().clone();
    settings.retry.first_delay = Duration::from_millis(1);
    settings.retry.max_delay = Duration::from_millis(2);
    settings.retry.max_attempts = 2;
    Relay::new(settings, relay.into_destination())
}

async fn answering(status: u16, delay: Duration) -> MockServer {
    flagger_relay_tests::answering(
        ResponseTemplate::new(status)
            .set_body_string("ok")
            .set_delay(delay),
    )
    .await
}

/// The records in the queue, read without hiding them: message id and record.
async fn peek(config: &aws_config::SdkConfig, url: &str) -> Vec<(String, DeadLetterRecord)> {
    let batch = aws_sdk_sqs::Client::new(config)
        .receive_message()
        .queue_url(url)
        .max_number_of_messages(10)
        .visibility_timeout(0)
        .send()
        .await
        .unwrap();
    batch
        .messages
        .unwrap_or_default()
        .into_iter()
        .map(|m| {
            let record = serde_json::from_str(m.body().unwrap()).expect("a record");
            (m.message_id.unwrap_or_default(), record)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_record_past_the_redrive_cap_stays_parked_untouched_and_is_reported_as_given_up() {
    skip_without!(moto::available());
    let config = Moto::shared().sdk_config().await;
    let url = new_queue(&config).await;
    let queue = DeadLetterQueue::with_config(url.clone(), config.clone());
    park(&queue, "slack", "function-url", &[event(1)]).await;
    let down = answering(503, Duration::ZERO).await;
    let relay = slack(&down.uri());
    let options = RedriveOptions {
        max_redrives: 2,
        ..RedriveOptions::default()
    };

    for run in 1..=2 {
        let report = redrive_with(&relay, &queue, &options).await.unwrap();
        assert_eq!(
            (report.failed, report.given_up),
            (1, 0),
            "run {run}: tried again"
        );
    }
    let kept = peek(&config, &url).await;
    assert_eq!(kept.len(), 1);
    assert_eq!(kept[0].1.redrives, 2);
    let calls = down.received_requests().await.unwrap().len();

    for _ in 0..2 {
        let report = redrive_with(&relay, &queue, &options).await.unwrap();
        assert_eq!(
            (report.delivered, report.failed, report.given_up),
            (0, 0, 1)
        );
        assert!(report.to_string().contains("1 given up"), "{report}");
    }
    assert_eq!(
        down.received_requests().await.unwrap().len(),
        calls,
        "a given-up record is not sent"
    );
    let after = peek(&config, &url).await;
    assert_eq!(
        after.iter().map(|(id, _)| id).collect::<Vec<_>>(),
        kept.iter().map(|(id, _)| id).collect::<Vec<_>>(),
        "the same message, never written again (its retention keeps running)"
    );
    assert_eq!(after[0].1, kept[0].1);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_cap_comes_from_redrive_max_attempts_and_defaults_to_five() {
    let options = RedriveOptions::from_env(&env(&[]), false).unwrap();
    assert_eq!(options.max_redrives, 5);
    let options = RedriveOptions::from_env(&env(&[("REDRIVE_MAX_ATTEMPTS", "12")]), true).unwrap();
    assert_eq!((options.max_redrives, options.dry_run), (12, true));
}

#[tokio::test(flavor = "multi_thread")]
async fn two_runs_at_once_never_send_a_record_twice() {
    skip_without!(moto::available());
    let config = Moto::shared().sdk_config().await;
    let url = new_queue(&config).await;
    let queue = DeadLetterQueue::with_config(url.clone(), config.clone());
    let bodies: Vec<Vec<u8>> = (0..8).map(event).collect();
    park(&queue, "slack", "function-url", &bodies).await;
    // Slow enough that each run is still working while the other receives.
    let slow = answering(200, Duration::from_millis(400)).await;
    let relay = slack(&slow.uri());
    let options = RedriveOptions {
        batch: 4,
        ..RedriveOptions::default()
    };
    let other = DeadLetterQueue::with_config(url.clone(), config.clone());
    let (a, b) = tokio::join!(
        redrive_with(&relay, &queue, &options),
        redrive_with(&relay, &other, &options)
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(a.delivered + b.delivered, 8, "{a} / {b}");
    let mut sent: HashMap<String, usize> = HashMap::new();
    for request in slow.received_requests().await.unwrap() {
        let body: serde_json::Value = serde_json::from_slice(&request.body).unwrap();
        *sent.entry(body.to_string()).or_default() += 1;
    }
    assert_eq!(sent.len(), 8, "every record sent");
    assert!(
        sent.values().all(|&n| n == 1),
        "a record went out twice: {sent:?}"
    );
    assert!(peek(&config, &url).await.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_delete_costs_its_record_not_the_run() {
    skip_without!(moto::available());
    let faults = Faults::start(Moto::shared().endpoint()).await;
    let config = moto::sdk_config(faults.endpoint()).await;
    let url = new_queue(&config).await;
    let queue = DeadLetterQueue::with_config(url.clone(), config.clone());
    park(
        &queue,
        "slack",
        "function-url",
        &[event(1), event(2), event(3)],
    )
    .await;
    faults.fail("AmazonSQS.DeleteMessage", 1, 400, "AccessDenied");
    let healthy = answering(200, Duration::ZERO).await;

    let report = redrive_with(&slack(&healthy.uri()), &queue, &RedriveOptions::default())
        .await
        .expect("the run goes on past a failed delete");
    assert_eq!(faults.failed("AmazonSQS.DeleteMessage"), 1);
    assert_eq!((report.delivered, report.delete_failed), (3, 1), "{report}");
    assert_eq!(healthy.received_requests().await.unwrap().len(), 3);
    // The one that could not be deleted is back in view for the next run, which says so.
    assert_eq!(peek(&config, &url).await.len(), 1);
    assert!(
        report.to_string().contains("1 could not be deleted"),
        "{report}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_dry_run_lists_and_changes_nothing() {
    skip_without!(moto::available());
    let config = Moto::shared().sdk_config().await;
    let url = new_queue(&config).await;
    let queue = DeadLetterQueue::with_config(url.clone(), config.clone());
    park(&queue, "slack", "function-url", &[event(1), event(2)]).await;
    park(&queue, "teams", "function-url", &[event(3)]).await;
    let healthy = answering(200, Duration::ZERO).await;
    let before: Vec<String> = peek(&config, &url)
        .await
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    let options = RedriveOptions {
        dry_run: true,
        ..RedriveOptions::default()
    };
    let report = redrive_with(&slack(&healthy.uri()), &queue, &options)
        .await
        .unwrap();
    assert_eq!((report.delivered, report.left), (0, 3));
    assert!(healthy.received_requests().await.unwrap().is_empty());
    let mut after: Vec<String> = peek(&config, &url)
        .await
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    after.sort();
    let mut before = before;
    before.sort();
    assert_eq!(after, before, "every record back in view, untouched");
}

/// `make redrive` with Slack in bot mode, Teams and SNS configured: each record reaches the
/// destination it names.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "runs make and builds the functions; run by make test"]
async fn make_redrive_covers_bot_mode_and_every_configured_destination() {
    skip_without!(moto::available());
    let moto = Moto::shared();
    let config = moto.sdk_config().await;
    let url = new_queue(&config).await;
    let queue = DeadLetterQueue::with_config(url.clone(), config.clone());
    park(&queue, "slack", "function-url", &[event(1)]).await;
    park(&queue, "teams", "function-url", &[event(2)]).await;
    park(&queue, "sns", "function-url", &[event(3)]).await;

    let slack_api = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            serde_json::json!({"ok": true, "channel": "C0RELAY", "ts": "1764000000.000100"}),
        ))
        .expect(1)
        .mount(&slack_api)
        .await;
    let teams = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(202))
        .expect(1)
        .mount(&teams)
        .await;
    let topic = aws_sdk_sns::Client::new(&config)
        .create_topic()
        .name(moto::unique("redrive-topic"))
        .send()
        .await
        .unwrap()
        .topic_arn
        .unwrap();
    let published = moto::subscribed_queue(&config, &topic, "redrive-sns", None, false).await;

    let api_url = format!("{}/api", slack_api.uri());
    let teams_url = format!("{}/workflows/redrive0123456789/invoke", teams.uri());
    let output = std::process::Command::new("make")
        .current_dir(root())
        .arg("--no-print-directory")
        .arg("redrive")
        .env_remove("DRY_RUN")
        .env_remove("SLACK_WEBHOOK_URL")
        .env_remove("SLACK_WEBHOOK_URL_SECRET_ARN")
        .envs([
            ("DEAD_LETTER_QUEUE_URL", url.as_str()),
            ("SLACK_BOT_TOKEN", "xoxb-2718281828-3141592653-redriveToken"),
            ("SLACK_CHANNEL_ID", "C0RELAY"),
            ("SLACK_API_URL", api_url.as_str()),
            ("TEAMS_WEBHOOK_URL", teams_url.as_str()),
            ("TEAMS_CARD_FORMAT", "adaptive"),
            ("SNS_TOPIC_ARN", topic.as_str()),
            ("AWS_ENDPOINT_URL", moto.endpoint()),
            ("AWS_REGION", moto::REGION),
            ("AWS_ACCESS_KEY_ID", "testing"),
            ("AWS_SECRET_ACCESS_KEY", "testing"),
        ])
        .output()
        .expect("make runs");
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "{printed}");
    slack_api.verify().await;
    teams.verify().await;
    assert_eq!(
        moto::drain(&config, &published, 1).await.len(),
        1,
        "{printed}"
    );
    assert!(peek(&config, &url).await.is_empty(), "{printed}");
}
