//! The Slack function, driven through its real handler against a local Slack stand-in.

use std::time::Duration;

use flagger_relay_core::Relay;
use flagger_relay_slack::{Slack, relay_from_env};
use flagger_relay_tests::{Call, OPEN, env, fixtures, lifecycles, read, write_payloads};
use serde_json::Value;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const HOOK_PATH: &str = "/services/T0RELAY/B0RELAY/hooksecretXYZ";

async fn slack() -> MockServer {
    MockServer::start().await
}

fn relay(server: &MockServer, extra: &[(&str, &str)]) -> Relay<Slack> {
    let url = format!("{}{HOOK_PATH}", server.uri());
    let mut vars = vec![("SLACK_WEBHOOK_URL", url.as_str())];
    vars.extend_from_slice(extra);
    // A token a test sets is still required; OPEN only says that none is needed otherwise.
    vars.push(OPEN);
    relay_from_env(&env(&vars)).expect("valid test configuration")
}

async fn accepts(server: &MockServer, times: u64) {
    Mock::given(method("POST"))
        .and(path(HOOK_PATH))
        .respond_with(ResponseTemplate::new(200).set_body_string("ok"))
        .expect(times)
        .mount(server)
        .await;
}

async fn received(server: &MockServer) -> Vec<Value> {
    server
        .received_requests()
        .await
        .unwrap_or_default()
        .iter()
        .map(|request| serde_json::from_slice(&request.body).expect("Slack got JSON"))
        .collect()
}

const ADVANCE: &[u8] = br#"{"name":"podinfo","namespace":"test","phase":"Progressing","checksum":"85d557f47b","metadata":{"cluster":"prod-eu","eventMessage":"Advance podinfo.test canary weight 10","eventType":"Normal","timestamp":"1721556000123"}}"#;

#[tokio::test]
async fn every_recorded_event_reaches_slack_as_snapshotted() {
    let mut all = Vec::new();
    for (lifecycle, events) in lifecycles() {
        let server = slack().await;
        accepts(&server, events.len() as u64).await;
        let relay = relay(&server, &[("CHATTER", "forward")]);
        for fixture in &events {
            let (status, body) = read(relay.handle(Call::post(&fixture.body).request()).await);
            assert_eq!(
                (status, body["status"].as_str()),
                (200, Some("delivered")),
                "{}: {body}",
                fixture.name
            );
        }
        let payloads = received(&server).await;
        insta::assert_json_snapshot!(lifecycle.as_str(), payloads);
        all.extend(payloads);
    }
    assert_eq!(all.len(), fixtures().len());
    write_payloads("slack.jsonl", &all);
}

#[tokio::test]
async fn drops_per_tick_chatter_by_default_without_calling_slack() {
    let server = slack().await;
    accepts(&server, 0).await;
    let body = br#"{"name":"podinfo","namespace":"test","phase":"Initializing","checksum":"85d557f47b","metadata":{"eventMessage":"all the metrics providers are available!","eventType":"Normal","timestamp":"1763996400137"}}"#;
    let (status, body) = read(relay(&server, &[]).handle(Call::post(body).request()).await);
    assert_eq!(status, 200);
    assert_eq!(body["status"], "filtered");
}

#[tokio::test]
async fn accepts_a_base64_encoded_body() {
    let server = slack().await;
    accepts(&server, 1).await;
    let (status, _) = read(
        relay(&server, &[])
            .handle(Call::post(ADVANCE).base64().request())
            .await,
    );
    assert_eq!(status, 200);
}

#[tokio::test]
async fn a_dry_run_renders_and_sends_nothing() {
    let server = slack().await;
    accepts(&server, 0).await;
    let relay = relay_from_env(&env(&[OPEN, ("DRY_RUN", "1")])).unwrap();
    let (status, body) = read(relay.handle(Call::post(ADVANCE).request()).await);
    assert_eq!(status, 200);
    assert_eq!(body["status"], "dry-run");
    let text = body["payload"]["text"].as_str().expect("payload text");
    assert!(text.starts_with("podinfo.test: "), "{text}");
    assert!(body["payload"]["attachments"][0]["blocks"].is_array());
}

mod bad_input {
    use super::*;

    async fn refused(call: Call<'_>, relay_env: &[(&str, &str)]) -> (u16, String) {
        let server = slack().await;
        accepts(&server, 0).await;
        let (status, body) = read(relay(&server, relay_env).handle(call.request()).await);
        let error = body["error"]
            .as_str()
            .unwrap_or_else(|| panic!("no error field: {body}"))
            .to_owned();
        assert!(
            received(&server).await.is_empty(),
            "nothing may be forwarded"
        );
        (status, error)
    }

    #[tokio::test]
    async fn not_json_is_400() {
        let (status, error) = refused(Call::post(b"name=podinfo"), &[]).await;
        assert_eq!(status, 400);
        assert!(
            error.starts_with("request body is not valid JSON"),
            "{error}"
        );
    }

    #[tokio::test]
    async fn not_utf8_is_400() {
        let (status, error) = refused(Call::post(b"{\"name\":\"\xff\xfe\"}").base64(), &[]).await;
        assert_eq!(
            (status, error.as_str()),
            (400, "request body is not valid UTF-8")
        );
    }

    #[tokio::test]
    async fn a_field_of_the_wrong_type_is_400_naming_it() {
        let (status, error) = refused(Call::post(br#"{"name":"a","namespace":["b"]}"#), &[]).await;
        assert_eq!(status, 400);
        assert!(
            error.starts_with("field `namespace`: invalid type: sequence"),
            "{error}"
        );
    }

    #[tokio::test]
    async fn a_missing_name_is_400() {
        let (status, error) =
            refused(Call::post(br#"{"namespace":"test","metadata":{}}"#), &[]).await;
        assert_eq!(
            (status, error.as_str()),
            (400, "missing required field `name`")
        );
    }

    #[tokio::test]
    async fn a_missing_namespace_is_400() {
        let (status, error) =
            refused(Call::post(br#"{"name":"podinfo","metadata":{}}"#), &[]).await;
        assert_eq!(
            (status, error.as_str()),
            (400, "missing required field `namespace`")
        );
    }

    #[tokio::test]
    async fn a_timestamp_that_is_not_a_number_is_400() {
        let body = br#"{"name":"a","namespace":"b","metadata":{"timestamp":"yesterday"}}"#;
        let (status, error) = refused(Call::post(body), &[]).await;
        assert_eq!(status, 400);
        assert!(error.contains("metadata.timestamp"), "{error}");
    }

    #[tokio::test]
    async fn an_empty_body_is_400() {
        let (status, error) = refused(Call::post(b""), &[]).await;
        assert_eq!((status, error.as_str()), (400, "request body is empty"));
    }

    #[tokio::test]
    async fn a_method_other_than_post_is_405() {
        let (status, error) = refused(Call::post(ADVANCE).method("GET"), &[]).await;
        assert_eq!(status, 405);
        assert!(error.contains("POST"), "{error}");
    }

    #[tokio::test]
    async fn a_body_over_256_kib_is_413() {
        let big = vec![b' '; 256 * 1024 + 1];
        let (status, _) = refused(Call::post(&big), &[]).await;
        assert_eq!(status, 413);
    }

    #[tokio::test]
    async fn a_content_type_other_than_json_is_415() {
        let (status, _) = refused(
            Call::post(ADVANCE).header("content-type", "text/plain"),
            &[],
        )
        .await;
        assert_eq!(status, 415);
    }
}

mod auth {
    use super::*;

    const TOKEN: &[(&str, &str)] = &[("RELAY_TOKEN", "tok-0123456789abcdef")];

    async fn status_of(call: Call<'_>, forwarded: u64) -> (u16, Value) {
        let server = slack().await;
        accepts(&server, forwarded).await;
        read(relay(&server, TOKEN).handle(call.request()).await)
    }

    #[tokio::test]
    async fn no_token_is_401() {
        assert_eq!(
            status_of(Call::post(ADVANCE), 0).await.1,
            serde_json::json!({"error": "unauthorized"})
        );
    }

    #[tokio::test]
    async fn a_wrong_token_is_401() {
        assert_eq!(
            status_of(Call::post(ADVANCE).query("token=tok-guess"), 0)
                .await
                .0,
            401
        );
    }

    #[tokio::test]
    async fn the_token_in_the_query_is_accepted() {
        assert_eq!(
            status_of(Call::post(ADVANCE).query("token=tok-0123456789abcdef"), 1)
                .await
                .0,
            200
        );
    }

    #[tokio::test]
    async fn the_token_as_bearer_is_accepted() {
        let call = Call::post(ADVANCE).header("authorization", "Bearer tok-0123456789abcdef");
        assert_eq!(status_of(call, 1).await.0, 200);
    }
}

mod delivery {
    use super::*;

    #[tokio::test]
    async fn waits_as_long_as_slack_asks_after_a_429() {
        let server = slack().await;
        Mock::given(method("POST"))
            .respond_with(
                ResponseTemplate::new(429)
                    .insert_header("retry-after", "1")
                    .set_body_string("rate_limited"),
            )
            .up_to_n_times(1)
            .with_priority(1)
            .expect(1)
            .mount(&server)
            .await;
        accepts(&server, 1).await;
        let started = std::time::Instant::now();
        let (status, body) = read(
            relay(&server, &[])
                .handle(Call::post(ADVANCE).request())
                .await,
        );
        assert_eq!(
            (status, body["attempts"].as_u64()),
            (200, Some(2)),
            "{body}"
        );
        assert!(
            started.elapsed() >= Duration::from_secs(1),
            "Retry-After was not honoured"
        );
    }

    #[tokio::test]
    async fn retries_a_503_then_delivers() {
        let server = slack().await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(503))
            .up_to_n_times(1)
            .with_priority(1)
            .expect(1)
            .mount(&server)
            .await;
        accepts(&server, 1).await;
        let (status, body) = read(
            relay(&server, &[])
                .handle(Call::post(ADVANCE).request())
                .await,
        );
        assert_eq!(
            (status, body["attempts"].as_u64()),
            (200, Some(2)),
            "{body}"
        );
    }

    #[tokio::test]
    async fn does_not_retry_a_400_and_answers_502_with_slacks_reason() {
        let server = slack().await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(400).set_body_string("invalid_payload"))
            .expect(1)
            .mount(&server)
            .await;
        let (status, body) = read(
            relay(&server, &[])
                .handle(Call::post(ADVANCE).request())
                .await,
        );
        assert_eq!(status, 502);
        assert_eq!(
            body["error"],
            "slack rejected the message: HTTP 400: invalid_payload"
        );
        assert_eq!(body["attempts"], 1);
    }

    #[tokio::test]
    async fn gives_up_on_a_slow_slack_before_the_lambda_deadline() {
        let server = slack().await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(30)))
            .mount(&server)
            .await;
        let time_left = Duration::from_secs(4);
        let started = std::time::Instant::now();
        let (status, body) = read(
            relay(&server, &[])
                .handle(Call::post(ADVANCE).time_left(time_left).request())
                .await,
        );
        assert_eq!(status, 503, "{body}");
        assert!(
            started.elapsed() < time_left,
            "answered after the Lambda deadline"
        );
    }

    #[tokio::test]
    async fn a_refused_connection_is_retried_then_503() {
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/services/x", closed.local_addr().unwrap());
        drop(closed);
        let relay = relay_from_env(&env(&[OPEN, ("SLACK_WEBHOOK_URL", &url)])).unwrap();
        let (status, body) = read(
            relay
                .handle(
                    Call::post(ADVANCE)
                        .time_left(Duration::from_secs(5))
                        .request(),
                )
                .await,
        );
        assert_eq!(status, 503, "{body}");
        assert!(body["attempts"].as_u64().unwrap() > 1, "{body}");
        assert!(
            body["error"]
                .as_str()
                .unwrap()
                .contains("could not connect"),
            "{body}"
        );
    }

    #[tokio::test]
    async fn never_shows_the_webhook_url_even_when_slack_echoes_it() {
        let server = slack().await;
        Mock::given(method("POST"))
            .respond_with(
                ResponseTemplate::new(404).set_body_string(format!("no_service for {HOOK_PATH}")),
            )
            .mount(&server)
            .await;
        let (status, body) = read(
            relay(&server, &[])
                .handle(Call::post(ADVANCE).request())
                .await,
        );
        assert_eq!(status, 502);
        assert!(!body.to_string().contains("hooksecretXYZ"), "{body}");
        assert_eq!(
            body["error"],
            "slack rejected the message: HTTP 404: no_service for [redacted]"
        );
    }
}
