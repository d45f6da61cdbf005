//! Flagger's own retries do not duplicate messages: the same body for the same destination
//! within 15 minutes is delivered once, identical requests at the same moment post one message,
//! a failed delivery lets the retry through, and a table that cannot be reached never stands
//! in the way. The table is DynamoDB on moto, created as the template creates it; Slack and
//! Teams are wiremock.

use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use flagger_relay_core::Relay;
use flagger_relay_core::dedup::Dedup;
use flagger_relay_slack::Slack;
use flagger_relay_tests::moto::{self, Moto};
use flagger_relay_tests::template::Stack;
use flagger_relay_tests::{Call, OPEN, env, read, skip_without};
use serde_json::{Value, json};
use wiremock::{MockServer, ResponseTemplate};

const EVENT: &[u8] = br#"{"name":"podinfo","namespace":"test","phase":"Progressing","checksum":"7f8c5d9b6c","metadata":{"eventMessage":"Advance podinfo.test canary weight 20","eventType":"Normal","timestamp":"1764000360959"}}"#;

/// A table with the key and TTL attribute the template gives the stack's.
async fn table() -> String {
    let stack = Stack::deploy(&[]);
    let properties = &stack
        .resource("DedupTable")
        .expect("the stack creates a dedup table by default")["Properties"];
    let key = properties["KeySchema"][0]["AttributeName"]
        .as_str()
        .expect("a partition key");
    assert_eq!(
        properties["AttributeDefinitions"][0],
        json!({"AttributeName": key, "AttributeType": "S"})
    );
    assert_eq!(
        properties["TimeToLiveSpecification"]["AttributeName"],
        "expires_at"
    );
    moto::create_table(&Moto::shared().sdk_config().await, "dedup", key).await
}

async fn slack(server: &MockServer, table: &str) -> Relay<Slack> {
    let url = format!("{}/services/T0/B0/dedup0123456789", server.uri());
    flagger_relay_slack::relay_from_env(&env(&[
        OPEN,
        ("SLACK_WEBHOOK_URL", &url),
        ("DEDUP_TABLE", table),
    ]))
    .unwrap()
    .with_dedup(Dedup::with_config(
        table.to_owned(),
        Moto::shared().sdk_config().await,
    ))
}

async fn answering(status: u16, delay: Duration) -> MockServer {
    flagger_relay_tests::answering(
        ResponseTemplate::new(status)
            .set_body_string("ok")
            .set_delay(delay),
    )
    .await
}

async fn posts(server: &MockServer) -> usize {
    server.received_requests().await.unwrap_or_default().len()
}

async fn send(relay: &Relay<Slack>, body: &[u8]) -> (u16, Value) {
    read(relay.handle(Call::post(body).request()).await)
}

#[tokio::test(flavor = "multi_thread")]
async fn flaggers_retry_of_the_same_body_is_delivered_once() {
    skip_without!(moto::available());
    let table = table().await;
    let server = answering(200, Duration::ZERO).await;
    let relay = slack(&server, &table).await;
    let (status, first) = send(&relay, EVENT).await;
    assert_eq!((status, first["status"].as_str()), (200, Some("delivered")));
    for _ in 0..3 {
        let (status, again) = send(&relay, EVENT).await;
        assert_eq!(
            (status, again["status"].as_str()),
            (200, Some("duplicate")),
            "{again}"
        );
    }
    assert_eq!(posts(&server).await, 1, "one message for four copies");
    // Another body is another event.
    let other = String::from_utf8_lossy(EVENT).replace("weight 20", "weight 30");
    assert_eq!(send(&relay, other.as_bytes()).await.0, 200);
    assert_eq!(posts(&server).await, 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn identical_requests_at_the_same_moment_post_one_message() {
    skip_without!(moto::available());
    let table = table().await;
    let slow = answering(200, Duration::from_millis(500)).await;
    let relay = slack(&slow, &table).await;
    let copies: Vec<_> = (0..4).map(|_| send(&relay, EVENT)).collect();
    let answers = futures_join(copies).await;
    let mut statuses: Vec<&str> = answers
        .iter()
        .map(|(status, body)| {
            assert_eq!(*status, 200, "{body}");
            body["status"].as_str().unwrap()
        })
        .collect();
    statuses.sort_unstable();
    assert_eq!(
        statuses,
        ["delivered", "duplicate", "duplicate", "duplicate"]
    );
    assert_eq!(posts(&slow).await, 1);
}

/// A failure that is not parked (no queue here: the event is only in the log) releases the
/// claim, so that Flagger's retry is sent.
#[tokio::test(flavor = "multi_thread")]
async fn a_failed_delivery_lets_flaggers_retry_through() {
    skip_without!(moto::available());
    let table = table().await;
    let down = answering(400, Duration::ZERO).await;
    let relay = slack(&down, &table).await;
    assert_eq!(send(&relay, EVENT).await.0, 502);
    // Slack is fixed; Flagger's retry of the same body is sent, not swallowed.
    let up = answering(200, Duration::ZERO).await;
    let relay = slack(&up, &table).await;
    let (status, body) = send(&relay, EVENT).await;
    assert_eq!((status, body["status"].as_str()), (200, Some("delivered")));
    assert_eq!(posts(&up).await, 1);
}

/// A copy that failed and was parked is settled: the dead-letter queue holds it and redrive
/// sends it. Flagger's retries get the same answer at once, send nothing, and park nothing more.
#[tokio::test(flavor = "multi_thread")]
async fn a_parked_failure_answers_flaggers_retries_without_sending_or_parking_again() {
    skip_without!(moto::available());
    let table = table().await;
    let config = Moto::shared().sdk_config().await;
    let queue = aws_sdk_sqs::Client::new(&config)
        .create_queue()
        .queue_name(moto::unique("dedup-dlq"))
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let down = answering(503, Duration::ZERO).await;
    let relay = slack(&down, &table).await.with_dead_letter_queue(
        flagger_relay_core::dead_letter::DeadLetterQueue::with_config(
            queue.clone(),
            config.clone(),
        ),
    );
    let (status, first) = send(&relay, EVENT).await;
    assert_eq!(
        (status, first["dead_lettered"].as_bool()),
        (503, Some(true)),
        "{first}"
    );
    let calls = posts(&down).await;
    for _ in 0..2 {
        let (status, again) = send(&relay, EVENT).await;
        assert_eq!(status, 503, "{again}");
        assert_eq!(
            (again["status"].as_str(), again["dead_lettered"].as_bool()),
            (Some("duplicate"), Some(true)),
            "{again}"
        );
    }
    assert_eq!(posts(&down).await, calls, "nothing sent again");
    assert_eq!(
        moto::drain(&config, &queue, 1).await.len(),
        1,
        "parked once"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_same_body_for_another_destination_is_not_a_duplicate() {
    skip_without!(moto::available());
    let table = table().await;
    let slack_server = answering(200, Duration::ZERO).await;
    let teams_server = answering(202, Duration::ZERO).await;
    let url = format!("{}/workflows/dedup0123456789/invoke", teams_server.uri());
    let teams = flagger_relay_teams::relay_from_env(&env(&[
        OPEN,
        ("TEAMS_WEBHOOK_URL", &url),
        ("TEAMS_CARD_FORMAT", "adaptive"),
    ]))
    .unwrap()
    .with_dedup(Dedup::with_config(
        table.clone(),
        Moto::shared().sdk_config().await,
    ));
    assert_eq!(
        send(&slack(&slack_server, &table).await, EVENT).await.0,
        200
    );
    let (status, body) = read(teams.handle(Call::post(EVENT).request()).await);
    assert_eq!((status, body["status"].as_str()), (200, Some("delivered")));
    assert_eq!(
        (posts(&slack_server).await, posts(&teams_server).await),
        (1, 1)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn after_the_window_the_same_body_is_delivered_again() {
    skip_without!(moto::available());
    let table = table().await;
    let server = answering(200, Duration::ZERO).await;
    let relay = slack(&server, &table).await;
    assert_eq!(send(&relay, EVENT).await.0, 200);
    // Fifteen minutes later: DynamoDB's TTL has not deleted the item yet, but it is past.
    let client = aws_sdk_dynamodb::Client::new(&Moto::shared().sdk_config().await);
    let id = flagger_relay_core::dedup::key("slack", EVENT);
    client
        .update_item()
        .table_name(&table)
        .key("id", AttributeValue::S(id))
        .update_expression("SET expires_at = :past")
        .expression_attribute_values(":past", AttributeValue::N("1700000000".into()))
        .send()
        .await
        .unwrap();
    let (status, body) = send(&relay, EVENT).await;
    assert_eq!((status, body["status"].as_str()), (200, Some("delivered")));
    assert_eq!(posts(&server).await, 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unreachable_table_never_stands_in_the_way() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let server = answering(200, Duration::ZERO).await;
    let url = format!("{}/services/T0/B0/dedup0123456789", server.uri());
    let relay = flagger_relay_slack::relay_from_env(&env(&[
        OPEN,
        ("SLACK_WEBHOOK_URL", &url),
        ("DEDUP_TABLE", "gone"),
    ]))
    .unwrap()
    .with_dedup(Dedup::with_config(
        "gone".to_owned(),
        moto::sdk_config(&endpoint).await,
    ));
    for _ in 0..2 {
        let (status, body) = send(&relay, EVENT).await;
        assert_eq!((status, body["status"].as_str()), (200, Some("delivered")));
    }
    assert_eq!(
        posts(&server).await,
        2,
        "delivered both times, dedup skipped"
    );
}

#[test]
fn the_stack_creates_the_table_and_lets_every_function_use_it() {
    let stack = Stack::deploy(&[
        (
            "SlackWebhookUrl",
            "https://hooks.slack.com/services/T0/B0/x",
        ),
        ("TeamsWebhookUrl", "https://example.logic.azure.com/x"),
    ]);
    assert!(stack.resource("DedupTable").is_some());
    for function in ["SlackFunction", "TeamsFunction", "SnsFunction"] {
        let resource = stack.resource(function).unwrap();
        assert_eq!(
            resource["Properties"]["Environment"]["Variables"]["DEDUP_TABLE"],
            json!({"Ref": "DedupTable"}),
            "{function}"
        );
        let role = stack
            .resource(&format!("{function}Role"))
            .expect("SAM's role for the function");
        let granted = role.to_string();
        assert!(
            granted.contains("dynamodb:PutItem")
                && granted.contains("dynamodb:DeleteItem")
                && granted.contains("\"DedupTable\""),
            "{function}: {granted}"
        );
    }
    let off = Stack::deploy(&[("Deduplication", "false")]);
    assert!(off.resource("DedupTable").is_none());
    assert_eq!(
        off.resource("SnsFunction").unwrap()["Properties"]["Environment"]["Variables"]["DEDUP_TABLE"],
        ""
    );
}

/// Runs every future at once and answers their results in order.
async fn futures_join<F: std::future::Future>(futures: Vec<F>) -> Vec<F::Output> {
    let mut handles = Vec::new();
    for future in futures {
        handles.push(Box::pin(future));
    }
    let mut outputs: Vec<Option<F::Output>> = handles.iter().map(|_| None).collect();
    let mut pending: Vec<usize> = (0..handles.len()).collect();
    std::future::poll_fn(|cx| {
        pending.retain(|&i| match handles[i].as_mut().poll(cx) {
            std::task::Poll::Ready(output) => {
                outputs[i] = Some(output);
                false
            }
            std::task::Poll::Pending => true,
        });
        if pending.is_empty() {
            std::task::Poll::Ready(())
        } else {
            std::task::Poll::Pending
        }
    })
    .await;
    outputs.into_iter().map(Option::unwrap).collect()
}
