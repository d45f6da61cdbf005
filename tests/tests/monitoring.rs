//! The dashboard and alarms in template.yaml are the ones generated from the metrics
//! definition, and they show only metrics the functions emit, under the names and dimensions
//! the functions emit them with. `make monitoring` rewrites the block after a change.

use std::collections::BTreeSet;
use std::time::{Duration, SystemTime};

use flagger_relay_core::Destination;
use flagger_relay_core::metrics::{EventMetrics, FUNCTIONS, NAMESPACE, Outcome};
use flagger_relay_tests::emf::{self, MetricIdentity};
use flagger_relay_tests::monitoring::{
    self, AlarmMetric, AlarmQuery, DEPLOYED, FLAGGER_TIMEOUT_SECONDS, UNAVAILABLE_RATE_PARAMETER,
};
use flagger_relay_tests::root;
use serde_json::Value;

fn template() -> String {
    std::fs::read_to_string(root().join("template.yaml")).expect("template.yaml")
}

#[test]
fn template_holds_the_generated_monitoring_block() {
    let path = root().join("template.yaml");
    let template = template();
    let block = monitoring::template_block();
    if std::env::var_os("UPDATE_MONITORING").is_some() {
        let updated = monitoring::replace_block(&template, &block)
            .expect("the monitoring markers, once each, in template.yaml");
        std::fs::write(&path, updated).expect("template.yaml is writable");
        return;
    }
    let (start, end) = monitoring::block_span(&template)
        .expect("the monitoring markers, once each, in template.yaml");
    assert!(
        template[start..end] == block,
        "template.yaml's monitoring block is not what the code generates: run `make monitoring`"
    );
}

#[test]
fn the_dashboard_body_in_the_template_is_the_dashboard_as_json() {
    let template = template();
    let (start, end) = monitoring::block_span(&template).expect("the monitoring markers");
    let body = template[start..end]
        .split("DashboardBody: !Sub\n        - |\n")
        .nth(1)
        .and_then(|rest| rest.split("\n        - ").next())
        .expect("a DashboardBody with Fn::Sub variables");
    let parsed: Value = serde_json::from_str(body)
        .unwrap_or_else(|err| panic!("the dashboard body is not JSON: {err}\n{body}"));
    assert_eq!(parsed, monitoring::dashboard());
}

/// Every metric the functions can emit: documents for every function and outcome, sent or
/// not, parked or not, read the way CloudWatch reads them.
fn emitted() -> BTreeSet<MetricIdentity> {
    let mut found = BTreeSet::new();
    for function in FUNCTIONS {
        for outcome in Outcome::ALL {
            for sent in [false, true] {
                let metrics = EventMetrics {
                    function,
                    outcome,
                    events: 1,
                    attempts: u32::from(sent),
                    delivery_latency: sent.then_some(Duration::from_millis(40)),
                    dead_lettered: outcome.is_failure(),
                    retry_after_waited: Duration::ZERO,
                    request_id: Some("r"),
                    canary: None,
                    stage: None,
                    severity: None,
                    source: Some("function-url"),
                    status: 200,
                    destination_status: None,
                    reason: None,
                };
                let document = emf::assert_valid(&metrics.line(SystemTime::now()));
                found.extend(emf::identities(&document));
            }
        }
    }
    found
}

/// A dashboard row `[namespace, name, dim, value, …, {options}]` as a metric identity.
fn row_identity(row: &Value) -> MetricIdentity {
    let items = row.as_array().expect("a metric row is an array");
    let strings: Vec<&str> = items.iter().filter_map(Value::as_str).collect();
    assert!(
        strings.len() >= 2 && strings.len().is_multiple_of(2),
        "a full metric row, no shorthand: {row}"
    );
    MetricIdentity {
        namespace: strings[0].to_owned(),
        name: strings[1].to_owned(),
        dimensions: strings[2..]
            .chunks(2)
            .map(|pair| (pair[0].to_owned(), pair[1].to_owned()))
            .collect(),
    }
}

fn alarm_identity(metric: &AlarmMetric) -> MetricIdentity {
    let mut dimensions = vec![("Function".to_owned(), metric.function.to_owned())];
    if let Some(outcome) = metric.outcome {
        dimensions.push(("Outcome".to_owned(), outcome.as_str().to_owned()));
    }
    MetricIdentity {
        namespace: NAMESPACE.to_owned(),
        name: metric.metric.name().to_owned(),
        dimensions: dimensions.into_iter().collect(),
    }
}

#[test]
fn the_dashboard_shows_only_metrics_the_functions_emit() {
    let emitted = emitted();
    let dashboard = monitoring::dashboard();
    let mut shown = 0;
    let mut functions = BTreeSet::new();
    for widget in dashboard["widgets"].as_array().expect("widgets") {
        for row in widget["properties"]["metrics"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let identity = row_identity(row);
            if identity.namespace != NAMESPACE {
                continue;
            }
            assert!(
                emitted.contains(&identity),
                "the dashboard shows {identity:?}, which no function emits"
            );
            functions.insert(identity.dimensions["Function"].clone());
            shown += 1;
        }
    }
    assert!(shown >= 40, "only {shown} relay metrics on the dashboard");
    assert_eq!(functions, FUNCTIONS.iter().map(|f| f.to_string()).collect());
}

#[test]
fn every_outcome_of_every_function_is_on_the_dashboard() {
    let dashboard = monitoring::dashboard();
    let rows: BTreeSet<MetricIdentity> = dashboard["widgets"]
        .as_array()
        .expect("widgets")
        .iter()
        .flat_map(|w| {
            w["properties"]["metrics"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .map(|row| row_identity(&row))
        .collect();
    for function in FUNCTIONS {
        for outcome in Outcome::ALL {
            let events = MetricIdentity {
                namespace: NAMESPACE.into(),
                name: "Events".into(),
                dimensions: [
                    ("Function".to_owned(), function.to_owned()),
                    ("Outcome".to_owned(), outcome.as_str().to_owned()),
                ]
                .into(),
            };
            assert!(
                rows.contains(&events),
                "{function} {outcome:?} is not shown"
            );
        }
    }
}

#[test]
fn the_failures_query_reads_what_the_documents_carry() {
    let query = monitoring::failures_query("SOURCE 'x'");
    let failing = EventMetrics {
        function: "teams",
        outcome: Outcome::Unavailable,
        events: 1,
        attempts: 3,
        delivery_latency: Some(Duration::from_millis(4100)),
        dead_lettered: true,
        retry_after_waited: Duration::from_secs(2),
        request_id: Some("req"),
        canary: Some("test/podinfo"),
        stage: Some("promoted"),
        severity: Some("info"),
        source: Some("function-url"),
        status: 503,
        destination_status: Some(429),
        reason: Some("HTTP 429".into()),
    }
    .document(SystemTime::now());
    let fields = query
        .split("| fields ")
        .nth(1)
        .and_then(|rest| rest.split(" |").next())
        .expect("a fields clause");
    for field in fields.split(", ").filter(|f| !f.starts_with('@')) {
        assert!(
            failing.get(field).is_some(),
            "the query reads {field}, which a failure's document does not carry: {failing}"
        );
    }
    assert!(query.contains("\"unavailable\""), "{query}");
    assert!(!query.contains("\"delivered\""), "{query}");
}

#[test]
fn alarms_read_only_metrics_the_functions_emit() {
    let emitted = emitted();
    let alarms = monitoring::alarms();
    assert_eq!(alarms.len(), 4 * DEPLOYED.len());
    for alarm in &alarms {
        let metrics: Vec<&AlarmMetric> = match &alarm.query {
            AlarmQuery::Metric(m) => vec![m],
            AlarmQuery::Rate(numerator, denominator) => vec![numerator, denominator],
        };
        for metric in metrics {
            let identity = alarm_identity(metric);
            assert!(
                emitted.contains(&identity),
                "{} reads {identity:?}, which no function emits",
                alarm.logical_id
            );
        }
    }
    let latency = alarms
        .iter()
        .find(|a| a.logical_id == "SlackDeliveryLatencyAlarm")
        .expect("a latency alarm");
    assert_eq!(latency.threshold, Ok(FLAGGER_TIMEOUT_SECONDS * 1000 / 2));
}

#[test]
fn the_template_deploys_what_the_generator_assumes() {
    let template = template();
    // The latency alarm is set at half of Flagger's timeout, which the functions share.
    assert!(
        template.contains(&format!("\n    Timeout: {FLAGGER_TIMEOUT_SECONDS}\n")),
        "the functions' Timeout is Flagger's {FLAGGER_TIMEOUT_SECONDS} s"
    );
    for deployed in DEPLOYED {
        let kind = deployed.kind;
        for expected in [
            format!("FunctionName: !Sub ${{AWS::StackName}}-{kind}\n"),
            format!("LogGroupName: !Sub /aws/lambda/${{AWS::StackName}}-{kind}\n"),
            format!(
                "\n  {}:\n    Type: AWS::Logs::LogGroup\n",
                deployed.log_group
            ),
        ] {
            assert!(
                template.contains(&expected),
                "template.yaml lacks {expected:?}"
            );
        }
        if let Some(condition) = deployed.condition {
            let group = format!(
                "\n  {}:\n    Type: AWS::Logs::LogGroup\n    Condition: {condition}\n",
                deployed.log_group
            );
            assert!(template.contains(&group), "{kind}: {group:?}");
        }
    }
    for expected in [
        "\n  Dashboard:\n    Type: String\n".to_owned(),
        format!("\n  {UNAVAILABLE_RATE_PARAMETER}:\n    Type: Number\n"),
        "\n  WantDashboard: ".to_owned(),
    ] {
        assert!(
            template.contains(&expected),
            "template.yaml lacks {expected:?}"
        );
    }
}

#[test]
fn every_destination_is_a_function_dimension_value() {
    for kind in [
        flagger_relay_slack::Slack::KIND,
        flagger_relay_teams::TeamsWebhook::KIND,
        flagger_relay_sns::SnsTopic::KIND,
    ] {
        assert!(FUNCTIONS.contains(&kind), "{kind}");
    }
    for deployed in DEPLOYED {
        assert!(FUNCTIONS.contains(&deployed.kind), "{}", deployed.kind);
    }
}
