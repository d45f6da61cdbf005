//! Proof under load: a Slack stand-in that takes one message per second and answers every
//! other request 429 with `Retry-After`, fed `LOAD_RATE` events per second (default 3) for
//! `LOAD_SECONDS` (default 4 in `make test`; `make load` runs 60) by a caller that behaves like
//! Flagger (10 s timeout; the same body again after a timeout or a 5xx, as go-retryablehttp
//! does, honouring `Retry-After`), through
//!
//! - (a) the direct path: the Slack function's real binary under `cargo lambda watch`, several
//!   instances at once, with its dead-letter queue and dedup table on moto;
//! - (b) the fan-out path: the SNS function's binary publishing to a topic on moto, and the
//!   Slack function invoked with each SNS event the way Lambda invokes a subscription
//!   (asynchronously: retried twice on error, then written to the `OnFailure` queue). Lambda's
//!   retry delays (1 and 2 minutes) are scaled down to seconds.
//!
//! Counted from the stand-in and the queue, not from the answers: sent, delivered, posted
//! twice, deduplicated, dead-lettered, lost. Lost must be 0, nothing may be posted twice, no
//! request for an event may reach Slack before the `Retry-After` its previous request was given
//! has passed, and every answer must reach the caller inside Flagger's timeout.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use flagger_relay_tests::moto::{self, Moto};
use flagger_relay_tests::skip_without;
use flagger_relay_tests::watch::{self, Emulator};
use serde_json::{Value, json};
use tokio::sync::Semaphore;
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

const TOKEN: &str = "load-token-0123456789";
/// Flagger's webhook timeout.
const FLAGGER_TIMEOUT: Duration = Duration::from_secs(10);
/// go-retryablehttp as Flagger uses it resends up to this many times; bounded here so that
/// a run ends.
const CALLER_RETRIES: u32 = 2;
/// Lambda's asynchronous retries, scaled from minutes to seconds.
const LAMBDA_RETRY_DELAYS: [Duration; 2] = [Duration::from_secs(2), Duration::from_secs(4)];

fn seconds() -> u64 {
    std::env::var("LOAD_SECONDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(4)
}

fn rate() -> u64 {
    std::env::var("LOAD_RATE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3)
}

/// Slack taking one message a second, webhook-wide, like an incoming webhook under load.
#[derive(Default)]
struct RateLimited {
    state: Mutex<StandIn>,
}

#[derive(Default)]
struct StandIn {
    last_accepted: Option<Instant>,
    /// Times each body was accepted (posted).
    accepted: HashMap<String, usize>,
    /// When each body may come again, as its last 429 said.
    not_before: HashMap<String, Instant>,
    requests: usize,
    throttled: usize,
    /// Requests for a body that came before the `Retry-After` its last 429 gave.
    early: usize,
}

impl Respond for RateLimited {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let body = event_key(&request.body);
        let now = Instant::now();
        let mut state = self.state.lock().unwrap();
        state.requests += 1;
        if state.not_before.get(&body).is_some_and(|at| now < *at) {
            state.early += 1;
        }
        let free = state
            .last_accepted
            .is_none_or(|last| now.duration_since(last) >= Duration::from_secs(1));
        if free {
            state.last_accepted = Some(now);
            *state.accepted.entry(body).or_default() += 1;
            return ResponseTemplate::new(200).set_body_string("ok");
        }
        state.throttled += 1;
        state.not_before.insert(body, now + Duration::from_secs(1));
        ResponseTemplate::new(429)
            .insert_header("retry-after", "1")
            .set_body_string("rate_limited")
    }
}

/// Which event a Slack message is about: its canary weight, unique per event sent.
fn event_key(slack_body: &[u8]) -> String {
    let text = String::from_utf8_lossy(slack_body);
    let at = text.find("weight ").map(|i| i + "weight ".len());
    let digits: String = at
        .map(|at| {
            text[at..]
                .chars()
                .take_while(char::is_ascii_digit)
                .collect()
        })
        .unwrap_or_default();
    format!("weight {digits}")
}

/// Event `n`: a distinct canary weight and time.
fn event(n: u64) -> String {
    json!({
        "name": "load", "namespace": "test", "phase": "Progressing", "checksum": "1oad1oad1o",
        "metadata": {
            "eventMessage": format!("Advance load.test canary weight {}", 1000 + n),
            "eventType": "Normal",
            "timestamp": (1_764_000_000_000u64 + n * 1000).to_string()
        }
    })
    .to_string()
}

fn key_of(n: u64) -> String {
    format!("weight {}", 1000 + n)
}

/// What Flagger saw for one event.
#[derive(Debug, Default, Clone)]
struct Answered {
    requests: u32,
    last_status: Option<u16>,
    duplicate_answers: u32,
    /// Answers that came after Flagger's timeout (the request timed out).
    timed_out: u32,
}

/// Flagger sending one event: POST, and again after a timeout or a 5xx (waiting at least what
/// `Retry-After` asks, at least 1 s doubling), up to [`CALLER_RETRIES`] times.
async fn flagger_sends(client: &reqwest::Client, url: &str, body: String) -> Answered {
    let mut answered = Answered::default();
    let mut wait = Duration::from_secs(1);
    for attempt in 0..=CALLER_RETRIES {
        answered.requests += 1;
        let sent = client
            .post(url)
            .header("content-type", "application/json")
            .body(body.clone())
            .send()
            .await;
        let retry = match sent {
            Ok(response) => {
                let status = response.status().as_u16();
                let retry_after = response
                    .headers()
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse::<u64>().ok())
                    .map(Duration::from_secs);
                let bytes = response.bytes().await.unwrap_or_default();
                let text: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
                answered.last_status = Some(status);
                if text["status"] == "duplicate" {
                    answered.duplicate_answers += 1;
                }
                (status >= 500).then(|| retry_after.unwrap_or_default().max(wait))
            }
            Err(err) => {
                if err.is_timeout() {
                    answered.timed_out += 1;
                }
                answered.last_status = None;
                Some(wait)
            }
        };
        match retry {
            Some(pause) if attempt < CALLER_RETRIES => {
                tokio::time::sleep(pause).await;
                wait *= 2;
            }
            _ => break,
        }
    }
    answered
}

async fn dedup_table(config: &aws_config::SdkConfig) -> String {
    moto::create_table(config, "load-dedup", "id").await
}

async fn queue(config: &aws_config::SdkConfig) -> String {
    aws_sdk_sqs::Client::new(config)
        .create_queue()
        .queue_name(moto::unique("load-dlq"))
        .attributes(
            aws_sdk_sqs::types::QueueAttributeName::MaximumMessageSize,
            "1048576",
        )
        .send()
        .await
        .expect("moto creates the queue")
        .queue_url
        .expect("a queue url")
}

/// The events the dead-letter queue holds, by event key, read the way redrive reads them.
async fn parked(config: &aws_config::SdkConfig, url: &str) -> BTreeSet<String> {
    let mut keys = BTreeSet::new();
    for message in moto::drain(config, url, 0).await {
        let body: Value = serde_json::from_str(message.body().unwrap_or_default()).unwrap();
        let payload = match body["payload_encoding"].as_str() {
            Some("base64") => String::from_utf8(
                aws_smithy_types::base64::decode(body["payload"].as_str().unwrap_or_default())
                    .unwrap(),
            )
            .unwrap(),
            Some(_) | None if body["payload"].is_string() => {
                body["payload"].as_str().unwrap().to_owned()
            }
            // Lambda's OnFailure record: the SNS message inside the event it gave up on.
            _ => body["requestPayload"]["Records"][0]["Sns"]["Message"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        };
        keys.insert(event_key(payload.as_bytes()));
    }
    keys
}

/// The figures of one run.
#[derive(Debug)]
struct Figures {
    path: &'static str,
    sent: usize,
    delivered: usize,
    posted_twice: usize,
    deduplicated: u32,
    dead_lettered: usize,
    /// Parked by a request that failed, then delivered by Flagger's retry of it: a redrive
    /// of that record would post it again.
    parked_and_delivered: usize,
    lost: usize,
    slack_requests: usize,
    throttled: usize,
    early: usize,
    late_answers: u32,
    took: Duration,
}

impl Figures {
    fn count(
        path: &'static str,
        sent: &[String],
        stand_in: &StandIn,
        answers: &[Answered],
        parked: &BTreeSet<String>,
        took: Duration,
    ) -> Figures {
        let delivered: BTreeSet<&String> = stand_in.accepted.keys().collect();
        let lost = sent
            .iter()
            .filter(|key| !delivered.contains(key) && !parked.contains(*key))
            .count();
        Figures {
            path,
            sent: sent.len(),
            delivered: delivered.len(),
            posted_twice: stand_in.accepted.values().filter(|n| **n > 1).count(),
            deduplicated: answers.iter().map(|a| a.duplicate_answers).sum(),
            dead_lettered: sent
                .iter()
                .filter(|key| parked.contains(*key) && !delivered.contains(key))
                .count(),
            parked_and_delivered: sent
                .iter()
                .filter(|key| parked.contains(*key) && delivered.contains(key))
                .count(),
            lost,
            slack_requests: stand_in.requests,
            throttled: stand_in.throttled,
            early: stand_in.early,
            late_answers: answers.iter().map(|a| a.timed_out).sum(),
            took,
        }
    }

    fn print(&self) {
        println!(
            "load {}: sent {} delivered {} posted-twice {} deduplicated {} dead-lettered {} (and {} parked, then delivered by a retry) lost {} | slack requests {} (429: {}, before Retry-After: {}) | answers after Flagger's timeout {} | {:.0} s",
            self.path,
            self.sent,
            self.delivered,
            self.posted_twice,
            self.deduplicated,
            self.dead_lettered,
            self.parked_and_delivered,
            self.lost,
            self.slack_requests,
            self.throttled,
            self.early,
            self.late_answers,
            self.took.as_secs_f64()
        );
    }

    fn assert_nothing_lost(&self) {
        self.print();
        assert_eq!(self.lost, 0, "{self:?}");
        assert_eq!(self.posted_twice, 0, "{self:?}");
        assert_eq!(self.early, 0, "{self:?}");
        assert_eq!(self.delivered + self.dead_lettered, self.sent, "{self:?}");
    }
}

struct Aws {
    config: aws_config::SdkConfig,
    endpoint: String,
    dlq: String,
    dedup: String,
}

impl Aws {
    async fn new() -> Aws {
        let moto = Moto::shared();
        let config = moto.sdk_config().await;
        let dlq = queue(&config).await;
        let dedup = dedup_table(&config).await;
        Aws {
            endpoint: moto.endpoint().to_owned(),
            config,
            dlq,
            dedup,
        }
    }

    fn env(&self) -> Vec<(&str, &str)> {
        vec![
            ("RELAY_TOKEN", TOKEN),
            ("CHATTER", "forward"),
            ("DEAD_LETTER_QUEUE_URL", self.dlq.as_str()),
            ("DEDUP_TABLE", self.dedup.as_str()),
            ("AWS_ENDPOINT_URL", self.endpoint.as_str()),
            ("AWS_REGION", moto::REGION),
            ("AWS_ACCESS_KEY_ID", "testing"),
            ("AWS_SECRET_ACCESS_KEY", "testing"),
        ]
    }
}

async fn stand_in() -> (MockServer, Arc<RateLimited>, String) {
    let server = MockServer::start().await;
    let limited = Arc::new(RateLimited::default());
    Mock::given(method("POST"))
        .respond_with(SharedResponder(Arc::clone(&limited)))
        .mount(&server)
        .await;
    let hook = format!("{}/services/T0/B0/load0123456789", server.uri());
    (server, limited, hook)
}

struct SharedResponder(Arc<RateLimited>);

impl Respond for SharedResponder {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        self.0.respond(request)
    }
}

/// Feeds `rate` events a second for `seconds` to `url`, each from its own Flagger; answers
/// the event keys sent and what each Flagger saw.
async fn feed(url: &str, first: u64) -> (Vec<String>, Vec<Answered>) {
    let client = reqwest::Client::builder()
        .timeout(FLAGGER_TIMEOUT)
        .build()
        .unwrap();
    let total = seconds() * rate();
    let interval = Duration::from_millis(1000 / rate().max(1));
    let mut tasks = Vec::new();
    let mut keys = Vec::new();
    for n in first..first + total {
        keys.push(key_of(n));
        let (client, url) = (client.clone(), url.to_owned());
        tasks.push(tokio::spawn(async move {
            flagger_sends(&client, &url, event(n)).await
        }));
        tokio::time::sleep(interval).await;
    }
    let mut answers = Vec::new();
    for task in tasks {
        answers.push(task.await.expect("a Flagger task"));
    }
    (keys, answers)
}

/// Waits until Slack has heard nothing for 5 s (at most 2 minutes): invocations still under
/// way when the callers stopped have ended, delivered or parked.
async fn quiet(limited: &RateLimited) {
    let since = Instant::now();
    let mut last = (limited.state.lock().unwrap().requests, Instant::now());
    while since.elapsed() < Duration::from_secs(120) {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let requests = limited.state.lock().unwrap().requests;
        if requests != last.0 {
            last = (requests, Instant::now());
        } else if last.1.elapsed() > Duration::from_secs(5) {
            return;
        }
    }
}

/// The function answers its first invocation once it is built; the run starts after that.
async fn warm(url: &str) {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(900))
        .build()
        .unwrap();
    let answer = client
        .post(url)
        .header("content-type", "application/json")
        .body("not an event")
        .send()
        .await
        .expect("the function answers");
    assert!(answer.status().is_client_error(), "{}", answer.status());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "runs the functions under cargo lambda watch; make test runs a short form, make load the full 60 s"]
async fn under_load_the_direct_path_loses_nothing_and_posts_nothing_twice() {
    skip_without!(moto::available());
    skip_without!(watch::available());
    let aws = Aws::new().await;
    let (_server, limited, hook) = stand_in().await;
    let mut env = aws.env();
    env.push(("SLACK_WEBHOOK_URL", hook.as_str()));
    // The template's default ceiling (MaxConcurrency).
    let slack = Emulator::start("flagger-relay-slack", &env, &["--concurrency", "10"]);
    let url = format!("{}?token={TOKEN}", slack.function_url());
    warm(&url).await;

    let started = Instant::now();
    let (sent, answers) = feed(&url, 0).await;
    quiet(&limited).await;
    let took = started.elapsed();
    let parked = parked(&aws.config, &aws.dlq).await;
    let stand_in = limited.state.lock().unwrap();
    let figures = Figures::count("direct", &sent, &stand_in, &answers, &parked, took);
    figures.assert_nothing_lost();
    assert_eq!(
        figures.late_answers, 0,
        "every answer inside Flagger's timeout"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "runs the functions under cargo lambda watch; make test runs a short form, make load the full 60 s"]
async fn under_load_the_fan_out_path_loses_nothing_and_posts_nothing_twice() {
    skip_without!(moto::available());
    skip_without!(watch::available());
    let aws = Aws::new().await;
    let (_server, limited, hook) = stand_in().await;
    let topic = aws_sdk_sns::Client::new(&aws.config)
        .create_topic()
        .name(moto::unique("load-topic"))
        .send()
        .await
        .unwrap()
        .topic_arn
        .unwrap();
    let subscription = moto::subscribed_queue(&aws.config, &topic, "load-sub", None, false).await;
    let mut sns_env = aws.env();
    sns_env.push(("SNS_TOPIC_ARN", topic.as_str()));
    let sns = Emulator::start("flagger-relay-sns", &sns_env, &["--concurrency", "2"]);
    let mut slack_env = aws.env();
    slack_env.push(("SLACK_WEBHOOK_URL", hook.as_str()));
    let slack = Emulator::start("flagger-relay-slack", &slack_env, &["--concurrency", "10"]);
    let sns_url = format!("{}?token={TOKEN}", sns.function_url());
    warm(&sns_url).await;
    warm(&format!("{}?token={TOKEN}", slack.function_url())).await;

    // Lambda's side of the subscription: each SNS message, invoked asynchronously.
    let invoker = Invoker {
        config: aws.config.clone(),
        subscription,
        invoke: format!(
            "http://127.0.0.1:{}/2015-03-31/functions/flagger-relay-slack/invocations",
            slack.port
        ),
        dlq: aws.dlq.clone(),
        slack_arn: format!(
            "arn:aws:lambda:{}:{}:function:load-slack",
            moto::REGION,
            moto::ACCOUNT
        ),
    };
    let running = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let invoking = tokio::spawn(invoker.run(Arc::clone(&running)));

    let started = Instant::now();
    let (sent, answers) = feed(&sns_url, 10_000).await;
    // Every event published; Lambda's side settles within its retries.
    running.store(false, std::sync::atomic::Ordering::SeqCst);
    let settled = invoking.await.expect("the invoker");
    quiet(&limited).await;
    let took = started.elapsed();
    let parked = parked(&aws.config, &aws.dlq).await;
    let stand_in = limited.state.lock().unwrap();
    let figures = Figures::count("fan-out", &sent, &stand_in, &answers, &parked, took);
    println!("load fan-out: {settled:?}");
    figures.assert_nothing_lost();
    assert_eq!(
        figures.late_answers, 0,
        "every answer inside Flagger's timeout"
    );
}

/// Lambda invoking the Slack function for each message of its SNS subscription, as an
/// asynchronous invocation: an error is retried twice, then the event goes to the `OnFailure`
/// destination (the dead-letter queue) in Lambda's record shape.
struct Invoker {
    config: aws_config::SdkConfig,
    subscription: String,
    invoke: String,
    dlq: String,
    slack_arn: String,
}

#[derive(Debug, Default)]
struct Settled {
    invocations: usize,
    retried: usize,
    on_failure: usize,
}

impl Invoker {
    async fn run(self, running: Arc<std::sync::atomic::AtomicBool>) -> Settled {
        let this = Arc::new(self);
        let sqs = aws_sdk_sqs::Client::new(&this.config);
        let slots = Arc::new(Semaphore::new(4));
        let settled = Arc::new(Mutex::new(Settled::default()));
        let mut tasks = Vec::new();
        let mut idle_since: Option<Instant> = None;
        loop {
            let batch = sqs
                .receive_message()
                .queue_url(&this.subscription)
                .max_number_of_messages(10)
                .wait_time_seconds(1)
                .send()
                .await
                .expect("moto answers");
            let messages = batch.messages.unwrap_or_default();
            if messages.is_empty() {
                let idle = *idle_since.get_or_insert_with(Instant::now);
                if !running.load(std::sync::atomic::Ordering::SeqCst)
                    && idle.elapsed() > Duration::from_secs(3)
                {
                    break;
                }
                continue;
            }
            idle_since = None;
            for message in messages {
                let envelope: Value =
                    serde_json::from_str(message.body().unwrap_or_default()).unwrap();
                sqs.delete_message()
                    .queue_url(&this.subscription)
                    .receipt_handle(message.receipt_handle().unwrap_or_default())
                    .send()
                    .await
                    .expect("deleted");
                let permit = Arc::clone(&slots).acquire_owned().await.unwrap();
                let (this, settled) = (Arc::clone(&this), Arc::clone(&settled));
                tasks.push(tokio::spawn(async move {
                    this.invoke_async(&envelope, &settled).await;
                    drop(permit);
                }));
            }
        }
        for task in tasks {
            task.await.expect("an invocation");
        }
        Arc::try_unwrap(settled)
            .map(|m| m.into_inner().unwrap())
            .unwrap_or_default()
    }

    async fn invoke_async(&self, envelope: &Value, settled: &Mutex<Settled>) {
        let event = json!({"Records": [{
            "EventSource": "aws:sns",
            "EventVersion": "1.0",
            "EventSubscriptionArn": format!("{}:load", envelope["TopicArn"].as_str().unwrap_or_default()),
            "Sns": {
                "Type": "Notification",
                "MessageId": envelope["MessageId"],
                "TopicArn": envelope["TopicArn"],
                "Message": envelope["Message"],
                "Timestamp": envelope["Timestamp"],
                "MessageAttributes": envelope["MessageAttributes"],
            }
        }]});
        let client = reqwest::Client::new();
        let mut delays = LAMBDA_RETRY_DELAYS.iter();
        let mut count = 0;
        loop {
            count += 1;
            settled.lock().unwrap().invocations += 1;
            let answer = client
                .post(&self.invoke)
                .header("content-type", "application/json")
                .body(event.to_string())
                .timeout(Duration::from_secs(60))
                .send()
                .await;
            let failed = match answer {
                Ok(response) => {
                    let errored = response.headers().contains_key("x-amz-function-error")
                        || !response.status().is_success();
                    let bytes = response.bytes().await.unwrap_or_default();
                    let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
                    errored || body.get("errorMessage").is_some() || body.get("errorType").is_some()
                }
                Err(_) => true,
            };
            if !failed {
                return;
            }
            match delays.next() {
                Some(delay) => {
                    settled.lock().unwrap().retried += 1;
                    tokio::time::sleep(*delay).await;
                }
                None => break,
            }
        }
        // Retries exhausted: the OnFailure destination gets Lambda's record.
        settled.lock().unwrap().on_failure += 1;
        let record = json!({
            "version": "1.0",
            "timestamp": "2025-11-24T16:07:01.002Z",
            "requestContext": {
                "requestId": "load",
                "functionArn": format!("{}:$LATEST", self.slack_arn),
                "condition": "RetriesExhausted",
                "approximateInvokeCount": count
            },
            "requestPayload": event,
            "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
            "responsePayload": {"errorMessage": "slack delivery failed; left to Lambda to retry"}
        });
        aws_sdk_sqs::Client::new(&self.config)
            .send_message()
            .queue_url(&self.dlq)
            .message_body(record.to_string())
            .send()
            .await
            .expect("the OnFailure destination takes the record");
    }
}
