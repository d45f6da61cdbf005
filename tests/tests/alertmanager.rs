//! Alertmanager notifications through every function: the same quality of message as
//! Flagger's events, checked against local destinations and the providers' validators.

use flagger_relay_tests::moto::{self, Moto};
use flagger_relay_tests::{Call, OPEN, answering, env, read, root, skip_without, write_payloads};
use serde_json::Value;
use wiremock::{MockServer, ResponseTemplate};

/// Every recorded Alertmanager notification, by name, in name order.
fn notifications() -> Vec<(String, Vec<u8>)> {
    let dir = root().join("events/alertmanager");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(
        files.len() >= 5,
        "expected the Alertmanager fixtures in {}",
        dir.display()
    );
    files
        .into_iter()
        .map(|path| {
            (
                path.file_stem().unwrap().to_string_lossy().into_owned(),
                std::fs::read(&path).unwrap(),
            )
        })
        .collect()
}

async fn accepting(status: u16, body: &str) -> MockServer {
    answering(ResponseTemplate::new(status).set_body_string(body)).await
}

async fn last_body(server: &MockServer) -> Value {
    let requests = server.received_requests().await.unwrap();
    serde_json::from_slice(&requests.last().expect("one request").body).unwrap()
}

#[tokio::test]
async fn slack_shows_every_alert_group() {
    let mut payloads = Vec::new();
    for (name, body) in notifications() {
        let server = accepting(200, "ok").await;
        let url = format!("{}/services/T0/B0/alerts", server.uri());
        let relay = flagger_relay_slack::relay_from_env(&env(&[OPEN, ("SLACK_WEBHOOK_URL", &url)]))
            .unwrap();
        let (status, answer) = read(relay.handle(Call::post(&body).request()).await);
        assert_eq!(status, 200, "{name}: {answer}");
        let payload = last_body(&server).await;
        insta::assert_json_snapshot!(format!("slack-{name}"), payload);
        payloads.push(payload);
    }
    write_payloads("slack-alertmanager.jsonl", &payloads);
}

#[tokio::test]
async fn teams_shows_every_alert_group_in_both_formats() {
    let mut adaptive = Vec::new();
    for (name, body) in notifications() {
        for (format, status, reply) in [("adaptive", 202, ""), ("messagecard", 200, "1")] {
            let server = accepting(status, reply).await;
            let url = format!("{}/workflows/alerts/invoke", server.uri());
            let relay = flagger_relay_teams::relay_from_env(&env(&[
                OPEN,
                ("TEAMS_WEBHOOK_URL", &url),
                ("TEAMS_CARD_FORMAT", format),
            ]))
            .unwrap();
            let (status, answer) = read(relay.handle(Call::post(&body).request()).await);
            assert_eq!(status, 200, "{name} {format}: {answer}");
            let payload = last_body(&server).await;
            insta::assert_json_snapshot!(format!("teams-{format}-{name}"), payload);
            if format == "adaptive" {
                adaptive.push(payload);
            }
        }
    }
    write_payloads("teams-alertmanager.jsonl", &adaptive);
}

#[tokio::test]
async fn sns_carries_the_alert_group_unchanged_with_filterable_attributes() {
    for (name, body) in notifications() {
        let mut original: Value = serde_json::from_slice(&body).unwrap();
        if name == "high-error-rate-no-canary" {
            // A field a later Alertmanager might add travels along too.
            original["futureField"] = Value::from("kept");
        }
        let body = original.to_string().into_bytes();
        let relay = flagger_relay_sns::relay_from_env(&env(&[
            OPEN,
            ("DRY_RUN", "1"),
            (
                "SNS_TOPIC_ARN",
                "arn:aws:sns:us-east-1:123456789012:flagger.fifo",
            ),
        ]))
        .await
        .unwrap();
        let (status, answer) = read(relay.handle(Call::post(&body).request()).await);
        assert_eq!(status, 200, "{name}: {answer}");
        let payload = &answer["payload"];
        assert_eq!(
            payload["Message"]["default"]["alertmanager"], original,
            "{name}: carried unchanged"
        );
        insta::assert_json_snapshot!(format!("sns-{name}"), payload);
    }
}

#[tokio::test]
async fn sns_subscribers_can_filter_alertmanager_from_flagger() {
    skip_without!(moto::available());
    let config = Moto::shared().sdk_config().await;
    let sns = aws_sdk_sns::Client::new(&config);
    let topic = sns
        .create_topic()
        .name(moto::unique("alerts"))
        .send()
        .await
        .unwrap()
        .topic_arn
        .unwrap();
    let policy = r#"{"source":["alertmanager"],"eventType":["Warning"]}"#;
    let queue = moto::subscribed_queue(&config, &topic, "alerts", Some(policy), true).await;
    let relay =
        flagger_relay_sns::relay_with_sdk_config(&env(&[OPEN, ("SNS_TOPIC_ARN", &topic)]), &config)
            .unwrap();
    let flagger = br#"{"name":"podinfo","namespace":"test","phase":"Failed","metadata":{"eventMessage":"Canary failed! Scaling down podinfo.test","eventType":"Warning","timestamp":"1764000601781"}}"#;
    for (name, body) in notifications() {
        let (status, answer) = read(relay.handle(Call::post(&body).request()).await);
        assert_eq!(status, 200, "{name}: {answer}");
    }
    let (status, _) = read(relay.handle(Call::post(flagger).request()).await);
    assert_eq!(status, 200);

    let mut received: Vec<String> = moto::drain(&config, &queue, 4)
        .await
        .iter()
        .map(|message| {
            let document: Value = serde_json::from_str(message.body().unwrap()).unwrap();
            document["alertmanager"]["status"]
                .as_str()
                .unwrap_or("not alertmanager")
                .to_owned()
        })
        .collect();
    received.sort();
    // Four firing groups pass; the resolved one and the Flagger event do not.
    assert_eq!(received, ["firing", "firing", "firing", "firing"]);
}

#[tokio::test]
async fn refuses_bad_alertmanager_payloads_with_a_clear_error() {
    let server = accepting(200, "ok").await;
    let url = format!("{}/services/T0/B0/alerts", server.uri());
    let relay =
        flagger_relay_slack::relay_from_env(&env(&[OPEN, ("SLACK_WEBHOOK_URL", &url)])).unwrap();
    for (body, expected) in [
        (
            &br#"{"version":"4","groupKey":"k","status":"firing","alerts":"many"}"#[..],
            "field `alerts`: invalid type",
        ),
        (
            br#"{"version":"4","groupKey":"k","status":"firing","alerts":[{"status":"pending"}]}"#,
            "field `alerts[0].status`: unknown variant `pending`",
        ),
        (
            br#"{"version":"2","groupKey":"k","status":"firing","alerts":[]}"#,
            "version \"2\" is not supported",
        ),
        (
            br#"{"receiver":"x","status":"firing"}"#,
            "neither a Flagger event",
        ),
    ] {
        let (status, answer) = read(relay.handle(Call::post(body).request()).await);
        assert_eq!(status, 400, "{answer}");
        let error = answer["error"].as_str().unwrap();
        assert!(error.contains(expected), "{error}");
    }
    assert!(server.received_requests().await.unwrap().is_empty());
}
