//! Lambda Managed Instances hand one execution environment several invocations at once
//! (`AWS_LAMBDA_MAX_CONCURRENCY`); `flagger_relay_core::serve` takes them through
//! `lambda_http::run_concurrent`: one long-poll loop per slot, all sharing one relay and one
//! connection pool.
//!
//! Two views of it. Under `cargo lambda watch --concurrency 8` the emulator runs up to eight
//! instances of the function and eight callers keep them busy until 1,600 events have gone
//! through. The emulator sets `AWS_LAMBDA_MAX_CONCURRENCY=1` in every instance it starts (an
//! `--env-var` does not override it), so each instance takes one invocation at a time there.
//! The second test therefore runs one process against the cold-start harness's Runtime API with
//! `AWS_LAMBDA_MAX_CONCURRENCY=8` and checks that it holds several invocations at once.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use flagger_relay_coldstart::runtime_api::{Ending, Invocation, RuntimeApi};
use flagger_relay_tests::watch::{self, Emulator};
use flagger_relay_tests::{Call, fixtures, root, skip_without};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const CALLERS: usize = 8;
const EVENTS_PER_CALLER: usize = 200;
const TOKEN: &str = "concurrency-token-123456";

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "builds the function under cargo lambda watch; run with --include-ignored (make test does)"]
async fn slack_function_delivers_every_event_of_eight_concurrent_callers() {
    skip_without!(watch::available());
    let slack = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/services/T0/B0/concurrency"))
        .respond_with(ResponseTemplate::new(200).set_body_string("ok"))
        // Every concurrent event, plus the one that starts the function.
        .expect((CALLERS * EVENTS_PER_CALLER + 1) as u64)
        .mount(&slack)
        .await;
    let hook = format!("{}/services/T0/B0/concurrency", slack.uri());
    let emulator = Emulator::start(
        "flagger-relay-slack",
        &[
            ("SLACK_WEBHOOK_URL", &hook),
            ("RELAY_TOKEN", TOKEN),
            // Recorded lifecycles include per-tick chatter; forwarded here so that every event
            // is one delivery.
            ("CHATTER", "forward"),
        ],
        &["--concurrency", "8"],
    );
    let url = format!("{}?token={TOKEN}", emulator.function_url());
    let bodies: Vec<Vec<u8>> = fixtures().into_iter().map(|fixture| fixture.body).collect();

    // The first invocation builds the function; the burst starts once it answers.
    let first = post(&client(Duration::from_secs(600)), &url, bodies[0].clone()).await;
    assert_eq!(first, (200, "delivered".to_owned()));

    let client = client(Duration::from_secs(60));
    let callers: Vec<_> = (0..CALLERS)
        .map(|caller| {
            let (client, url, bodies) = (client.clone(), url.clone(), bodies.clone());
            tokio::spawn(async move {
                let mut answers = Vec::with_capacity(EVENTS_PER_CALLER);
                for n in 0..EVENTS_PER_CALLER {
                    let body = bodies[(caller * EVENTS_PER_CALLER + n) % bodies.len()].clone();
                    answers.push(post(&client, &url, body).await);
                }
                answers
            })
        })
        .collect();
    let mut answers = Vec::with_capacity(CALLERS * EVENTS_PER_CALLER);
    for caller in callers {
        answers.extend(caller.await.expect("caller task completes"));
    }

    let undelivered: Vec<_> = answers
        .iter()
        .filter(|answer| **answer != (200, "delivered".to_owned()))
        .collect();
    assert!(
        undelivered.is_empty(),
        "{} of {} not delivered: {:?}",
        undelivered.len(),
        answers.len(),
        &undelivered[..undelivered.len().min(5)]
    );
    slack.verify().await;
}

fn client(timeout: Duration) -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(timeout)
        .build()
        .expect("a reqwest client")
}

/// The status and the `status` field of the JSON answer.
async fn post(client: &reqwest::Client, url: &str, body: Vec<u8>) -> (u16, String) {
    let response = client
        .post(url)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .expect("the Function URL answers");
    let status = response.status().as_u16();
    let bytes = response.bytes().await.unwrap_or_default();
    let answer: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
    (
        status,
        answer["status"].as_str().unwrap_or_default().to_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "builds and runs the function binary; run by make test"]
async fn one_process_serves_eight_invocations_at_once_through_run_concurrent() {
    const EVENTS: usize = 64;
    let slack = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/services/T0/B0/managed-instances"))
        // Slow enough that an invocation is still at the destination when the next arrives.
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_string("ok")
                .set_delay(Duration::from_millis(50)),
        )
        .expect(EVENTS as u64)
        .mount(&slack)
        .await;
    let hook = format!("{}/services/T0/B0/managed-instances", slack.uri());
    let mut api = RuntimeApi::start("flagger-relay-slack")
        .await
        .expect("a loopback port");
    let _function = Function::start(
        "flagger-relay-slack",
        &[
            ("AWS_LAMBDA_RUNTIME_API", &api.addr.to_string()),
            ("AWS_LAMBDA_MAX_CONCURRENCY", "8"),
            ("SLACK_WEBHOOK_URL", &hook),
            ("ALLOW_UNAUTHENTICATED", "true"),
            ("CHATTER", "forward"),
        ],
    );

    let bodies: Vec<Vec<u8>> = fixtures().into_iter().map(|fixture| fixture.body).collect();
    for n in 0..EVENTS {
        let event = Call::post(&bodies[n % bodies.len()]).envelope().to_string();
        api.invoke(Invocation {
            id: format!("managed-{n:03}"),
            event: event.into(),
        });
    }
    let mut delivered = 0;
    for _ in 0..EVENTS {
        // The first answer waits for the process to start.
        let completion = api
            .completion(Duration::from_secs(60))
            .await
            .expect("every invocation is answered");
        assert_eq!(
            completion.ending,
            Ending::Response,
            "{}",
            String::from_utf8_lossy(&completion.body)
        );
        let result: serde_json::Value =
            serde_json::from_slice(&completion.body).expect("a Function URL response");
        let body: serde_json::Value =
            serde_json::from_str(result["body"].as_str().unwrap_or_default()).unwrap_or_default();
        assert_eq!(
            (result["statusCode"].as_u64(), body["status"].as_str()),
            (Some(200), Some("delivered")),
            "{result}"
        );
        delivered += 1;
    }

    assert_eq!(delivered, EVENTS);
    let most = api.most_in_flight();
    assert!(
        most > 1,
        "the process never held more than {most} invocation at once"
    );
    slack.verify().await;
}

/// A function binary, built as `cargo lambda watch` builds it, running with only the given
/// environment (and what lambda_runtime requires); stopped on drop.
struct Function(Child);

impl Function {
    fn start(binary: &str, env: &[(&str, &str)]) -> Function {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let built = Command::new(cargo)
            .current_dir(root())
            .args(["build", "--bin", binary])
            .status()
            .expect("cargo runs");
        assert!(built.success(), "cargo build --bin {binary} failed");
        let target =
            std::env::var("CARGO_TARGET_DIR").map_or_else(|_| root().join("target"), Into::into);
        let child = Command::new(target.join("debug").join(binary))
            .env_clear()
            .envs([
                ("AWS_LAMBDA_FUNCTION_NAME", binary),
                ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST"),
                ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128"),
            ])
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .expect("the function binary starts");
        Function(child)
    }
}

impl Drop for Function {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
