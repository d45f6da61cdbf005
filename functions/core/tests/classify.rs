//! The table of Flagger's messages: every format string, the stage, severity and values it
//! classifies to, and its headline; and the recorded lifecycles as proof that nothing Flagger
//! sends is missed.
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::json;

use flagger_relay_core::classify::*;
use flagger_relay_core::event::{CanaryEvent, EventType, Metadata, Phase};

/// Where the recorded lifecycles live: one raw Flagger body per file.
const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../events/flagger");

/// README notation: `N` = eventType Normal, `W` = eventType Warning.
const N: bool = false;
const W: bool = true;

fn event(message: &str, warning: bool) -> CanaryEvent {
    CanaryEvent {
        name: "podinfo".into(),
        namespace: "test".into(),
        phase: Phase::Progressing,
        checksum: None,
        metadata: Metadata {
            event_message: Some(message.into()),
            event_type: Some(if warning {
                EventType::Warning
            } else {
                EventType::Normal
            }),
            timestamp: None,
            user: BTreeMap::new(),
        },
    }
}

fn gating_payload(phase: Phase) -> CanaryEvent {
    CanaryEvent {
        name: "podinfo".into(),
        namespace: "test".into(),
        phase,
        checksum: Some("7f8c5d9b6c".into()),
        metadata: Metadata::default(),
    }
}

fn s(text: &str) -> Option<String> {
    Some(text.to_owned())
}

fn none() -> Details {
    Details::default()
}

fn on(target: &str) -> Details {
    Details {
        target: s(target),
        ..none()
    }
}

fn check(
    name: &str,
    (observed, observed_text): (f64, &str),
    comparator: Comparator,
    (threshold, threshold_text): (f64, &str),
    unit: Option<Unit>,
) -> Option<Metric> {
    Some(Metric {
        name: s(name),
        observed: Some(observed),
        comparator: Some(comparator),
        threshold: Some(threshold),
        unit,
        observed_text: s(observed_text),
        threshold_text: s(threshold_text),
        ..Metric::default()
    })
}

fn metric_named(name: &str) -> Option<Metric> {
    Some(Metric {
        name: s(name),
        ..Metric::default()
    })
}

struct Case {
    message: &'static str,
    warning: bool,
    stage: Stage,
    severity: Severity,
    details: Details,
    headline: &'static str,
}

fn case(
    message: &'static str,
    warning: bool,
    stage: Stage,
    severity: Severity,
    details: Details,
    headline: &'static str,
) -> Case {
    Case {
        message,
        warning,
        stage,
        severity,
        details,
        headline,
    }
}

/// One case per message format in Flagger's source, in the order of the Flagger notes,
/// with values as they arrive (after JSON decoding: real `<` and `>`). Kept as a table:
/// message, event type, stage, severity, details, headline.
#[rustfmt::skip]
fn every_flagger_message() -> Vec<Case> {
    use HookType::*;
    use Severity::{Error, Info, Warning};
    use Stage::*;
    vec![
        // Initialization
        case("all the metrics providers are available!",
            N, Stage::Info, Info, none(),
            "metrics providers available"),
        case("Error checking metric providers: prometheus not avaiable: Get \"http://prometheus.istio-system:9090/api/v1/status/flags\": dial tcp: lookup prometheus.istio-system: no such host",
            W, Stage::Info, Warning,
            Details { reason: s("prometheus not avaiable: Get \"http://prometheus.istio-system:9090/api/v1/status/flags\": dial tcp: lookup prometheus.istio-system: no such host"), ..none() },
            "error checking metric providers: prometheus not avaiable…"),
        case("Initialization done! podinfo.test",
            N, Initialized, Info, on("podinfo.test"),
            "initialized"),
        case("skipping canary run as object is suspended",
            N, Stage::Info, Info, none(),
            "suspended: canary run skipped"),
        case("scaling down canary Deployment podinfo.test failed: deployments.apps \"podinfo\" not found",
            W, Stage::Info, Warning,
            Details { reason: s("deployments.apps \"podinfo\" not found"), ..on("podinfo.test") },
            "scaling down canary failed: deployments.apps \"podinfo\" not found"),

        // New revision and gates
        case("Halt podinfo.gated advancement waiting for approval gate-rollout",
            W, WaitingApproval, Warning,
            Details { hook: s("gate-rollout"), hook_type: Some(ConfirmRollout), ..on("podinfo.gated") },
            "waiting for approval (gate-rollout)"),
        case("Confirm-rollout check gate-rollout passed",
            N, CheckPassed, Info,
            Details { hook: s("gate-rollout"), hook_type: Some(ConfirmRollout), ..none() },
            "confirm-rollout check gate-rollout passed"),
        case("New revision detected! Scaling up podinfo.test",
            N, NewRevision, Info, on("podinfo.test"),
            "new revision detected"),
        case("New revision detected! Restarting analysis for podinfo.dev",
            N, NewRevision, Info, on("podinfo.dev"),
            "new revision detected: analysis restarted"),

        // Readiness
        case("podinfo-primary.test not ready: waiting for rollout to finish: 1 old replicas are pending termination",
            W, Waiting, Warning,
            Details { reason: s("waiting for rollout to finish: 1 old replicas are pending termination"), ..on("podinfo-primary.test") },
            "primary not ready: waiting for rollout to finish…"),
        case("canary deployment podinfo.test not ready: waiting for rollout to finish: 0 of 1 (readyThreshold 100%) updated replicas are available",
            W, Waiting, Warning,
            Details { reason: s("waiting for rollout to finish: 0 of 1 (readyThreshold 100%) updated replicas are available"), ..on("podinfo.test") },
            "not ready: waiting for rollout to finish…"),
        case("primary daemonset node-agent-primary.kube-system not ready: waiting for rollout to finish: 1 out of 3 new pods have been updated",
            W, Waiting, Warning,
            Details { reason: s("waiting for rollout to finish: 1 out of 3 new pods have been updated"), ..on("node-agent-primary.kube-system") },
            "primary not ready: waiting for rollout to finish…"),
        case("canary damonset node-agent.kube-system not ready with retryable true: waiting for rollout to finish: 0 of 3 updated pods are available",
            W, Waiting, Warning,
            Details { reason: s("waiting for rollout to finish: 0 of 3 updated pods are available"), ..on("node-agent.kube-system") },
            "not ready: waiting for rollout to finish: 0 of 3 updated pods are available"),
        case("canary damonset node-agent.kube-system not ready with retryable false: exceeded its progress deadline",
            W, Halted, Warning,
            Details { reason: s("exceeded its progress deadline"), ..on("node-agent.kube-system") },
            "halted: not ready: exceeded its progress deadline"),
        case("Knative Revision podinfo-00002.test is not ready",
            W, Waiting, Warning, on("podinfo-00002.test"),
            "Knative revision not ready"),
        case("primary daemonset node-agent-primary.kube-system not ready: exceeded its progressDeadlineSeconds: 600",
            W, Halted, Warning,
            Details { reason: s("exceeded its progressDeadlineSeconds: 600"), ..on("node-agent-primary.kube-system") },
            "halted: primary not ready: exceeded its progressDeadlineSeconds: 600"),
        case("halt podinfo.test advancement: primary deployment is scaled to zero",
            W, Halted, Warning,
            Details { reason: s("primary deployment is scaled to zero"), ..on("podinfo.test") },
            "halted: primary deployment is scaled to zero"),
        case("canary deployment frontend.shop not ready: deployment \"frontend\" exceeded its progress deadline",
            W, Halted, Warning,
            Details { reason: s("deployment \"frontend\" exceeded its progress deadline"), ..on("frontend.shop") },
            "halted: not ready: deployment \"frontend\" exceeded its progress deadline"),

        // Analysis
        case("Starting canary analysis for podinfo.test",
            N, AnalysisStarted, Info, on("podinfo.test"),
            "analysis started"),
        case("Pre-rollout check acceptance-test passed",
            N, CheckPassed, Info,
            Details { hook: s("acceptance-test"), hook_type: Some(PreRollout), ..none() },
            "pre-rollout check acceptance-test passed"),
        case("Halt podinfo.test advancement pre-rollout check acceptance-test failed Forbidden",
            W, Halted, Warning,
            Details { hook: s("acceptance-test"), hook_type: Some(PreRollout), hook_error: s("Forbidden"), ..on("podinfo.test") },
            "halted: pre-rollout check acceptance-test failed: Forbidden"),
        case("Halt podinfo.test advancement external check load-test failed POST http://flagger-loadtester.test/ giving up after 1 attempt(s): unexpected HTTP status 500 Internal Server Error",
            W, Halted, Warning,
            Details {
                hook: s("load-test"), hook_type: Some(Rollout),
                hook_error: s("POST http://flagger-loadtester.test/ giving up after 1 attempt(s): unexpected HTTP status 500 Internal Server Error"),
                ..on("podinfo.test")
            },
            "halted: external check load-test failed: POST http://flagger-loadtester.test/…"),
        case("Halt podinfo.test advancement success rate 69.17% < 99%",
            W, Halted, Warning,
            Details { metric: check("request-success-rate", (69.17, "69.17%"), Comparator::Below, (99.0, "99%"), Some(Unit::Percent)), ..on("podinfo.test") },
            "halted: success rate 69.17% < 99%"),
        case("Halt podinfo.test advancement success rate 100.00% > 99.5%",
            W, Halted, Warning,
            Details { metric: check("request-success-rate", (100.0, "100.00%"), Comparator::Above, (99.5, "99.5%"), Some(Unit::Percent)), ..on("podinfo.test") },
            "halted: success rate 100.00% > 99.5%"),
        case("Halt podinfo.test advancement request duration 1.515s > 500ms",
            W, Halted, Warning,
            Details { metric: check("request-duration", (1515.0, "1.515s"), Comparator::Above, (500.0, "500ms"), Some(Unit::Milliseconds)), ..on("podinfo.test") },
            "halted: request duration 1.515s > 500ms"),
        case("Halt podinfo.test advancement request duration 12.5ms < 50ms",
            W, Halted, Warning,
            Details { metric: check("request-duration", (12.5, "12.5ms"), Comparator::Below, (50.0, "50ms"), Some(Unit::Milliseconds)), ..on("podinfo.test") },
            "halted: request duration 12.5ms < 50ms"),
        case("Halt podinfo.test advancement error-rate 2.35 > 1",
            W, Halted, Warning,
            Details { metric: check("error-rate", (2.35, "2.35"), Comparator::Above, (1.0, "1"), None), ..on("podinfo.test") },
            "halted: error-rate 2.35 > 1"),
        case("Halt podinfo.test advancement cpu-usage 0.10 < 0.5",
            W, Halted, Warning,
            Details { metric: check("cpu-usage", (0.1, "0.10"), Comparator::Below, (0.5, "0.5"), None), ..on("podinfo.test") },
            "halted: cpu-usage 0.10 < 0.5"),
        case("Halt advancement no values found for istio metric request-success-rate probably podinfo.dev is not receiving traffic: no values found",
            W, Halted, Warning,
            Details {
                metric: Some(Metric { name: s("request-success-rate"), provider: s("istio"), ..Metric::default() }),
                reason: s("no values found"),
                ..on("podinfo.dev")
            },
            "halted: no values found for request-success-rate (no traffic?)"),
        case("Halt advancement no values found for kubernetes:service metric request-duration probably podinfo.test is not receiving traffic",
            W, Halted, Warning,
            Details {
                metric: Some(Metric { name: s("request-duration"), provider: s("kubernetes:service"), ..Metric::default() }),
                ..on("podinfo.test")
            },
            "halted: no values found for request-duration (no traffic?)"),
        case("Halt advancement no values found for metric: error-rate",
            W, Halted, Warning,
            Details { metric: metric_named("error-rate"), ..none() },
            "halted: no values found for error-rate"),
        case("Halt advancement no values found for custom metric: latency-p99: no values found",
            W, Halted, Warning,
            Details { metric: metric_named("latency-p99"), reason: s("no values found"), ..none() },
            "halted: no values found for latency-p99"),
        case("Prometheus query failed: Post \"http://prometheus.istio-system:9090/api/v1/query\": dial tcp 10.96.0.12:9090: connect: connection refused",
            W, Halted, Warning,
            Details { reason: s("Post \"http://prometheus.istio-system:9090/api/v1/query\": dial tcp 10.96.0.12:9090: connect: connection refused"), ..none() },
            "halted: Prometheus query failed: Post \"http://prometheus.istio-system:9090/api/…"),
        case("Prometheus query failed for error-rate: bad_data: invalid parameter \"query\": 1:6: parse error: unexpected identifier",
            W, Halted, Warning,
            Details { metric: metric_named("error-rate"), reason: s("bad_data: invalid parameter \"query\": 1:6: parse error: unexpected identifier"), ..none() },
            "halted: query for error-rate failed: bad_data…"),
        case("Metric query failed for latency-p99: datadog API request failed: 403 Forbidden",
            W, Halted, Warning,
            Details { metric: metric_named("latency-p99"), reason: s("datadog API request failed: 403 Forbidden"), ..none() },
            "halted: query for latency-p99 failed: datadog API request failed: 403 Forbidden"),
        case("Metric template error-rate.test error: metrictemplate.flagger.app \"error-rate\" not found",
            W, Halted, Warning,
            Details {
                metric: Some(Metric { template: s("error-rate.test"), ..Metric::default() }),
                reason: s("metrictemplate.flagger.app \"error-rate\" not found"),
                ..none()
            },
            "halted: metric template error-rate.test: metrictemplate.flagger.app…"),
        case("Metric template latency.test secret datadog-creds error: secrets \"datadog-creds\" not found",
            W, Halted, Warning,
            Details {
                metric: Some(Metric { template: s("latency.test"), ..Metric::default() }),
                reason: s("secret datadog-creds error: secrets \"datadog-creds\" not found"),
                ..none()
            },
            "halted: metric template latency.test: secret datadog-creds error…"),
        case("Metric template latency.test provider datadog error: datadog address is not set",
            W, Halted, Warning,
            Details {
                metric: Some(Metric { template: s("latency.test"), provider: s("datadog"), ..Metric::default() }),
                reason: s("provider datadog error: datadog address is not set"),
                ..none()
            },
            "halted: metric template latency.test: provider datadog error…"),
        case("Metric template error-rate.test query render error: template: tmpl:1: function \"rate5m\" not defined",
            W, Halted, Warning,
            Details {
                metric: Some(Metric { template: s("error-rate.test"), ..Metric::default() }),
                reason: s("query render error: template: tmpl:1: function \"rate5m\" not defined"),
                ..none()
            },
            "halted: metric template error-rate.test: query render error…"),
        case("Error building Prometheus client for http://prometheus:9090 parse \"http://prometheus:9090\": invalid port",
            W, Halted, Warning,
            Details { reason: s("http://prometheus:9090 parse \"http://prometheus:9090\": invalid port"), ..none() },
            "halted: error building Prometheus client"),
        case("Error fetching Knative service test/podinfo services.serving.knative.dev \"podinfo\" not found",
            W, Halted, Warning,
            Details { reason: s("services.serving.knative.dev \"podinfo\" not found"), ..none() },
            "halted: error fetching Knative service: services.serving.knative.dev \"podinfo\"…"),
        case("Metric query failed for no usable metrics template and query were configured",
            W, Halted, Warning, none(),
            "halted: no usable metrics template and query were configured"),
        case("A/B testing is not supported when using the kubernetes provider",
            W, Stage::Info, Warning, none(),
            "A/B testing is not supported when using the kubernetes provider"),
        case("Progressive traffic is not supported when using the kubernetes provider",
            W, Stage::Info, Warning, none(),
            "Progressive traffic is not supported when using the kubernetes provider"),
        case("Setting canaryAnalysis.iterations: 10",
            W, Stage::Info, Warning, none(),
            "Setting canaryAnalysis.iterations: 10"),

        // Traffic
        case("Halt podinfo.gated advancement waiting for traffic increase approval gate-traffic",
            W, WaitingApproval, Warning,
            Details { hook: s("gate-traffic"), hook_type: Some(ConfirmTrafficIncrease), ..on("podinfo.gated") },
            "waiting for traffic increase approval (gate-traffic)"),
        case("Confirm-traffic-increase check gate-traffic passed",
            N, CheckPassed, Info,
            Details { hook: s("gate-traffic"), hook_type: Some(ConfirmTrafficIncrease), ..none() },
            "confirm-traffic-increase check gate-traffic passed"),
        case("Advance podinfo.test canary weight 30",
            N, Progress, Info,
            Details { canary_weight: Some(30), ..on("podinfo.test") },
            "canary weight 30%"),
        case("Advance podinfo.mirror canary weight 0",
            N, Progress, Info,
            Details { canary_weight: Some(0), ..on("podinfo.mirror") },
            "canary weight 0% (mirroring)"),
        case("Advance checkout.shop canary iteration 2/10",
            N, Progress, Info,
            Details { iteration: Some(Iteration { current: 2, total: 10 }), ..on("checkout.shop") },
            "iteration 2/10"),
        case("Routing all traffic to canary",
            N, Progress, Info, none(),
            "routing all traffic to canary"),
        case("Stop traffic mirroring and route all traffic to canary",
            N, Progress, Info, none(),
            "mirroring stopped, routing all traffic to canary"),

        // Promotion
        case("Halt podinfo.gated advancement waiting for promotion approval gate-promotion",
            W, WaitingApproval, Warning,
            Details { hook: s("gate-promotion"), hook_type: Some(ConfirmPromotion), ..on("podinfo.gated") },
            "waiting for promotion approval (gate-promotion)"),
        case("Confirm-promotion check gate-promotion passed",
            N, CheckPassed, Info,
            Details { hook: s("gate-promotion"), hook_type: Some(ConfirmPromotion), ..none() },
            "confirm-promotion check gate-promotion passed"),
        case("Copying podinfo.test template spec to podinfo-primary.test",
            N, Promoting, Info, on("podinfo-primary.test"),
            "promoting: copying template spec to podinfo-primary.test"),
        case("Routing all traffic to primary",
            N, Promoting, Info, none(),
            "routing all traffic to primary"),
        case("Advance podinfo.mirror primary weight 50",
            N, Promoting, Info,
            Details { primary_weight: Some(50), ..on("podinfo.mirror") },
            "primary weight 50%"),
        case("Promotion of podinfo.test failed, primary not ready: waiting for rollout to finish: 0 of 2 (readyThreshold 100%) updated replicas are available",
            W, Failed, Error,
            Details { reason: s("waiting for rollout to finish: 0 of 2 (readyThreshold 100%) updated replicas are available"), ..on("podinfo.test") },
            "promotion failed, primary not ready: waiting for rollout to finish…"),
        case("Post-rollout check slack-summary passed",
            N, CheckPassed, Info,
            Details { hook: s("slack-summary"), hook_type: Some(PostRollout), ..none() },
            "post-rollout check slack-summary passed"),
        case("Post-rollout hook slack-summary failed Post \"http://notifier.test/\": context deadline exceeded",
            W, Halted, Warning,
            Details {
                hook: s("slack-summary"), hook_type: Some(PostRollout),
                hook_error: s("Post \"http://notifier.test/\": context deadline exceeded"),
                ..none()
            },
            "post-rollout hook slack-summary failed: Post \"http://notifier.test/\"…"),
        case("Promotion completed! Scaling down podinfo.test",
            N, Succeeded, Info, on("podinfo.test"),
            "promoted"),
        case("Promotion completed! Canary analysis was skipped for worker.batch",
            N, Succeeded, Info, on("worker.batch"),
            "promoted (analysis skipped)"),

        // Rollback
        case("Rollback hook manual-rollback not signaling a rollback",
            N, CheckPassed, Info,
            Details { hook: s("manual-rollback"), hook_type: Some(Rollback), ..none() },
            "rollback hook manual-rollback not signaling a rollback"),
        case("Rollback check manual-rollback passed",
            W, RollingBack, Error,
            Details { hook: s("manual-rollback"), hook_type: Some(Rollback), ..none() },
            "rollback check manual-rollback passed"),
        case("Rolling back api.prod manual webhook invoked",
            W, RollingBack, Error, on("api.prod"),
            "rolled back: manual webhook invoked"),
        case("Rolling back podinfo.test failed checks threshold reached 5",
            W, RollingBack, Error,
            Details { failed_checks_threshold: Some(5), ..on("podinfo.test") },
            "rolled back: failed checks threshold 5 reached"),
        case("Rolling back frontend.shop progress deadline exceeded canary deployment frontend.shop not ready: deployment \"frontend\" exceeded its progress deadline",
            W, RollingBack, Error,
            Details { reason: s("canary deployment frontend.shop not ready: deployment \"frontend\" exceeded its progress deadline"), ..on("frontend.shop") },
            "rolled back: progress deadline exceeded"),
        case("Canary failed! Scaling down podinfo.test",
            W, Failed, Error, on("podinfo.test"),
            "canary failed"),

        // Deletion (revertOnDeletion: true)
        case("Terminating canary worker.batch",
            N, Terminating, Info, on("worker.batch"),
            "terminating canary"),
        case("Terminated canary worker.batch",
            N, Terminating, Info, on("worker.batch"),
            "canary terminated"),
    ]
}

#[test]
fn recognises_every_flagger_message_with_its_values() {
    for case in every_flagger_message() {
        let event = event(case.message, case.warning);
        let classification = classify(&event);
        assert_eq!(
            (classification.stage, classification.severity),
            (case.stage, case.severity),
            "{}",
            case.message
        );
        assert_eq!(classification.details, case.details, "{}", case.message);
        assert_eq!(classification.headline, case.headline, "{}", case.message);
    }
}

#[test]
fn headlines_of_known_messages_stay_within_80_characters() {
    for case in every_flagger_message() {
        let event = event(case.message, case.warning);
        let headline = classify(&event).headline;
        assert!(headline.chars().count() <= HEADLINE_TARGET, "{headline:?}");
    }
}

#[test]
fn classifies_a_raw_body_with_go_html_escapes() {
    let body = br#"{"name":"podinfo","namespace":"test","phase":"Progressing","checksum":"7f8c5d9b6c","metadata":{"eventMessage":"Halt podinfo.test advancement success rate 69.17% \u003c 99%","eventType":"Warning","timestamp":"1764000300959"}}"#;
    let event = CanaryEvent::from_slice(body).unwrap();
    let classification = classify(&event);
    assert_eq!(classification.stage, Stage::Halted);
    assert_eq!(classification.severity, Severity::Warning);
    assert_eq!(
        classification.details,
        Details {
            metric: check(
                "request-success-rate",
                (69.17, "69.17%"),
                Comparator::Below,
                (99.0, "99%"),
                Some(Unit::Percent)
            ),
            ..on("podinfo.test")
        }
    );
    assert_eq!(classification.headline, "halted: success rate 69.17% < 99%");

    let body = br#"{"name":"podinfo","namespace":"test","phase":"Progressing","metadata":{"eventMessage":"Halt podinfo.test advancement request duration 1.515s \u003e 500ms","eventType":"Warning","timestamp":"1764000361096"}}"#;
    let event = CanaryEvent::from_slice(body).unwrap();
    assert_eq!(
        classify(&event).headline,
        "halted: request duration 1.515s > 500ms"
    );
}

#[test]
fn details_serialise_as_camel_case_json_without_absent_fields() {
    let json_of =
        |message: &str| serde_json::to_value(classify(&event(message, W)).details).unwrap();
    assert_eq!(
        json_of("Advance podinfo.test canary weight 30"),
        json!({"target": "podinfo.test", "canaryWeight": 30})
    );
    assert_eq!(
        json_of("Advance podinfo.mirror primary weight 50"),
        json!({"target": "podinfo.mirror", "primaryWeight": 50})
    );
    assert_eq!(
        json_of("Advance checkout.shop canary iteration 2/10"),
        json!({"target": "checkout.shop", "iteration": {"current": 2, "total": 10}})
    );
    assert_eq!(
        json_of("Halt podinfo.test advancement request duration 1.515s > 500ms"),
        json!({"target": "podinfo.test", "metric": {
            "name": "request-duration", "observed": 1515.0, "comparator": ">",
            "threshold": 500.0, "unit": "ms", "observedText": "1.515s", "thresholdText": "500ms"
        }})
    );
    assert_eq!(
        json_of("Halt podinfo.test advancement success rate 69.17% < 99%"),
        json!({"target": "podinfo.test", "metric": {
            "name": "request-success-rate", "observed": 69.17, "comparator": "<",
            "threshold": 99.0, "unit": "%", "observedText": "69.17%", "thresholdText": "99%"
        }})
    );
    assert_eq!(
        json_of("Halt podinfo.test advancement error-rate 2.35 > 1"),
        json!({"target": "podinfo.test", "metric": {
            "name": "error-rate", "observed": 2.35, "comparator": ">", "threshold": 1.0,
            "observedText": "2.35", "thresholdText": "1"
        }})
    );
    assert_eq!(
        json_of("Halt podinfo.test advancement pre-rollout check acceptance-test failed Forbidden"),
        json!({"target": "podinfo.test", "hook": "acceptance-test", "hookType": "pre-rollout",
               "hookError": "Forbidden"})
    );
    assert_eq!(
        json_of("Rolling back podinfo.test failed checks threshold reached 5"),
        json!({"target": "podinfo.test", "failedChecksThreshold": 5})
    );
    assert_eq!(
        json_of("canary deployment podinfo.test not ready: waiting for rollout to finish"),
        json!({"target": "podinfo.test", "reason": "waiting for rollout to finish"})
    );
    assert_eq!(
        json_of("Metric template latency.test provider datadog error: no key"),
        json!({"metric": {"provider": "datadog", "template": "latency.test"},
               "reason": "provider datadog error: no key"})
    );
    assert_eq!(json_of("Something Flagger never says"), json!({}));
}

#[test]
fn an_unrecognised_message_is_unknown_with_empty_details_and_its_text_as_headline() {
    for message in [
        "Something Flagger never says",
        "failed to sync canary podinfo.test status: the object has been modified",
        "Advance podinfo.test canary speed 30",
        "Halt podinfo.test advancement",
        "Routing some traffic to canary",
        "Promotion completed!",
    ] {
        let event = event(message, N);
        let classification = classify(&event);
        assert_eq!(classification.stage, Stage::Unknown, "{message}");
        assert_eq!(classification.severity, Severity::Info, "{message}");
        assert!(classification.details.is_empty(), "{message}");
        assert_eq!(classification.headline, message);
    }
    let empty = event("", W);
    assert_eq!(classify(&empty).stage, Stage::Unknown);
    assert_eq!(classify(&empty).headline, "(empty event message)");
}

#[test]
fn numbers_that_do_not_fit_are_left_out_but_the_stage_stays() {
    let cases = [
        (
            "Advance podinfo.test canary weight 99999999999",
            Stage::Progress,
        ),
        ("Advance podinfo.test canary weight -5", Stage::Progress),
        ("Advance podinfo.test canary iteration 3/", Stage::Progress),
        (
            "Advance podinfo.test canary iteration 1/99999999999",
            Stage::Progress,
        ),
        ("Advance podinfo.test primary weight ten", Stage::Promoting),
        (
            "Rolling back podinfo.test failed checks threshold reached 1e3",
            Stage::RollingBack,
        ),
    ];
    for (message, stage) in cases {
        let classification = classify(&event(message, N));
        assert_eq!(classification.stage, stage, "{message}");
        assert_eq!(classification.details, on("podinfo.test"), "{message}");
    }
    let event = event("Advance podinfo.test canary weight 99999999999", N);
    assert_eq!(classify(&event).headline, "canary weight advanced");
}

#[test]
fn metric_values_that_are_not_finite_numbers_keep_only_their_text() {
    let cases = [
        (
            "Halt a.b advancement success rate NaN% < 99%",
            "NaN%",
            "99%",
        ),
        ("Halt a.b advancement error-rate +Inf > 1", "+Inf", "1"),
        (
            "Halt a.b advancement request duration 99999999999999999999999999h > 1ms",
            "99999999999999999999999999h",
            "1ms",
        ),
        (
            "Halt a.b advancement request duration soon > later",
            "soon",
            "later",
        ),
    ];
    for (message, observed, threshold) in cases {
        let details = classify(&event(message, W)).details;
        let metric = details.metric.unwrap();
        assert_eq!(metric.observed, None, "{message}");
        assert_eq!(metric.observed_text.as_deref(), Some(observed), "{message}");
        assert_eq!(
            metric.threshold_text.as_deref(),
            Some(threshold),
            "{message}"
        );
        serde_json::to_string(&metric).unwrap();
    }
}

#[test]
fn severity_is_error_for_failed_and_rolling_back_whatever_the_event_type() {
    for message in [
        "Canary failed! Scaling down podinfo.test",
        "Promotion of podinfo.test failed, primary not ready: timeout",
        "Rolling back podinfo.test failed checks threshold reached 5",
        "Rollback check manual-rollback passed",
    ] {
        for warning in [N, W] {
            assert_eq!(
                classify(&event(message, warning)).severity,
                Severity::Error,
                "{message}"
            );
        }
    }
}

#[test]
fn severity_is_warning_for_halted_and_waiting_approval_whatever_the_event_type() {
    for message in [
        "Halt podinfo.test advancement success rate 69.17% < 99%",
        "Post-rollout hook slack-summary failed Forbidden",
        "Halt podinfo.gated advancement waiting for approval gate-rollout",
    ] {
        for warning in [N, W] {
            assert_eq!(
                classify(&event(message, warning)).severity,
                Severity::Warning,
                "{message}"
            );
        }
    }
}

#[test]
fn severity_follows_the_event_type_for_every_other_stage() {
    for message in [
        "Advance podinfo.test canary weight 10",
        "Confirm-rollout check gate-rollout passed",
        "canary deployment podinfo.test not ready: waiting for rollout to finish",
        "Promotion completed! Scaling down podinfo.test",
        "Something Flagger never says",
    ] {
        assert_eq!(
            classify(&event(message, N)).severity,
            Severity::Info,
            "{message}"
        );
        assert_eq!(
            classify(&event(message, W)).severity,
            Severity::Warning,
            "{message}"
        );
    }
    let mut other = event("Advance podinfo.test canary weight 10", N);
    other.metadata.event_type = Some(EventType::Other("Error".into()));
    assert_eq!(classify(&other).severity, Severity::Info);
    other.metadata.event_type = None;
    assert_eq!(classify(&other).severity, Severity::Info);
}

#[test]
fn a_gating_hook_payload_is_an_unknown_notice_whose_severity_comes_from_the_phase() {
    let failed = gating_payload(Phase::Failed);
    let classification = classify(&failed);
    assert_eq!(classification.stage, Stage::Unknown);
    assert_eq!(classification.severity, Severity::Error);
    assert!(classification.details.is_empty());
    assert_eq!(classification.headline, "webhook notice (Failed)");

    let progressing = gating_payload(Phase::Progressing);
    assert_eq!(classify(&progressing).severity, Severity::Info);
    assert_eq!(
        classify(&progressing).headline,
        "webhook notice (Progressing)"
    );

    let brand_new = gating_payload(Phase::Unset);
    assert_eq!(classify(&brand_new).headline, "webhook notice (no phase)");

    // A message decides, even when the phase says Failed (it lags).
    let mut post_rollout = event("Post-rollout check slack-summary passed", N);
    post_rollout.phase = Phase::Failed;
    assert_eq!(classify(&post_rollout).severity, Severity::Info);
}

#[test]
fn severity_is_ordered_and_round_trips_its_name() {
    assert!(Severity::Info < Severity::Warning && Severity::Warning < Severity::Error);
    for severity in [Severity::Info, Severity::Warning, Severity::Error] {
        assert_eq!(Severity::parse(severity.as_str()), Some(severity));
        assert_eq!(
            serde_json::to_value(severity).unwrap(),
            json!(severity.as_str())
        );
    }
    assert_eq!(Severity::parse("Warning"), None);
}

#[test]
fn stage_names_round_trip_over_all_stages() {
    for stage in Stage::ALL {
        assert_eq!(Stage::parse(stage.as_str()), Some(stage));
        assert_eq!(serde_json::to_value(stage).unwrap(), json!(stage.as_str()));
    }
    let mut names: Vec<_> = Stage::ALL.iter().map(|stage| stage.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), Stage::ALL.len());
    assert_eq!(Stage::parse("Halted"), None);
    assert_eq!(Stage::parse(""), None);
}

#[test]
fn hook_types_comparators_and_units_serialise_as_their_names() {
    use HookType::*;
    for hook_type in [
        ConfirmRollout,
        PreRollout,
        Rollout,
        ConfirmTrafficIncrease,
        ConfirmPromotion,
        PostRollout,
        Rollback,
    ] {
        assert_eq!(
            serde_json::to_value(hook_type).unwrap(),
            json!(hook_type.as_str())
        );
    }
    for comparator in [Comparator::Below, Comparator::Above] {
        assert_eq!(
            serde_json::to_value(comparator).unwrap(),
            json!(comparator.as_str())
        );
    }
    for unit in [Unit::Percent, Unit::Milliseconds] {
        assert_eq!(serde_json::to_value(unit).unwrap(), json!(unit.as_str()));
    }
}

#[test]
fn never_panics_on_any_cut_of_a_flagger_message() {
    let mut messages: Vec<String> = every_flagger_message()
        .iter()
        .map(|c| c.message.to_owned())
        .collect();
    messages.extend(
        [
            "",
            " ",
            "Halt",
            "Halt ",
            "Halt  advancement ",
            "Advance",
            "Advance . canary weight ",
            "µ",
            "é é é",
        ]
        .map(String::from),
    );
    // Multi-byte characters where Flagger puts names and numbers.
    messages.push("Halt pödinfo.tëst advancement request duration 1.5µs > 1µs".into());
    messages.push("Halt 🚀.test advancement 🚀 2.00 > 1".into());
    for message in &messages {
        for (at, _) in message.char_indices().chain([(message.len(), ' ')]) {
            for part in [&message[..at], &message[at..]] {
                let event = event(part, W);
                let classification = classify(&event);
                let headline = classification.headline;
                assert!(
                    headline.chars().count() <= HEADLINE_MAX,
                    "{part:?} → {headline:?}"
                );
                serde_json::to_string(&classification.details).unwrap();
            }
        }
    }
}

#[test]
fn a_huge_message_gets_a_headline_of_at_most_120_characters() {
    for message in [
        "é".repeat(5000),
        format!(
            "Halt a.b advancement pre-rollout check {} failed x",
            "h".repeat(300)
        ),
    ] {
        let event = event(&message, W);
        let headline = classify(&event).headline;
        assert!(headline.chars().count() <= HEADLINE_MAX, "{headline:?}");
        assert!(headline.ends_with('…'), "{headline:?}");
    }
    let event = event(
        &format!("canary deployment a.b not ready: {}", "x".repeat(500)),
        W,
    );
    let headline = classify(&event).headline;
    assert_eq!(headline.chars().count(), HEADLINE_TARGET);
}

/// Every recorded lifecycle payload (`events/flagger/*.json`, one raw body per file) is
/// recognised: the lifecycles are the proof that the table above is the whole of Flagger.
#[test]
fn every_recorded_flagger_payload_is_recognised() {
    let dir = Path::new(FIXTURES);
    let bodies = recorded_bodies(dir);
    assert!(
        !bodies.is_empty(),
        "no Flagger payloads (*.json) in {}",
        dir.display()
    );
    let mut unrecognised = Vec::new();
    for (origin, body) in &bodies {
        let event = CanaryEvent::from_slice(body).unwrap_or_else(|e| panic!("{origin}: {e}"));
        let classification = classify(&event);
        if classification.stage == Stage::Unknown {
            unrecognised.push(format!("{origin}: {:?}", event.event_message()));
        }
        assert!(
            classification.headline.chars().count() <= HEADLINE_TARGET,
            "{origin}"
        );
    }
    assert!(
        unrecognised.is_empty(),
        "unrecognised:\n{}",
        unrecognised.join("\n")
    );
}

/// Raw bodies: one per `*.json` file, or one per line of a `*.jsonl` file.
fn recorded_bodies(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (the recorded Flagger payloads belong there)",
            dir.display()
        )
    });
    let mut paths: Vec<PathBuf> = entries.map(|entry| entry.unwrap().path()).collect();
    paths.sort();
    let mut bodies = Vec::new();
    for path in paths {
        let name = path
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        match path.extension().and_then(|e| e.to_str()) {
            Some("json") => bodies.push((name, std::fs::read(&path).unwrap())),
            Some("jsonl") => {
                let text = std::fs::read_to_string(&path).unwrap();
                for (n, line) in text
                    .lines()
                    .enumerate()
                    .filter(|(_, l)| !l.trim().is_empty())
                {
                    bodies.push((format!("{name}:{}", n + 1), line.as_bytes().to_vec()));
                }
            }
            _ => {}
        }
    }
    bodies
}
