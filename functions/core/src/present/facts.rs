//! The values worth showing beside a message, in words, so that every destination says the
//! same things.

use crate::classify::{Details, Stage};

/// One labelled value (`Canary weight`, `30% ▓▓▓░░░░░░░`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Fact {
    pub label: &'static str,
    pub value: String,
}

/// Ten cells, one per 10% of traffic: readable in any font, no images needed.
pub fn progress_bar(percent: u32) -> String {
    let filled = (percent.min(100) as usize).div_ceil(10);
    format!(
        "{}{} {percent}%",
        "▓".repeat(filled),
        "░".repeat(10 - filled)
    )
}

/// What the message carries that a reader acts on: the weight and its progress, the failing
/// metric against its threshold, the gate and its error, why something is not ready.
pub fn highlights(stage: Stage, details: &Details) -> Vec<Fact> {
    let mut facts = Vec::new();
    let mut push = |label, value: String| facts.push(Fact { label, value });
    if let Some(weight) = details.canary_weight {
        push("Canary weight", progress_bar(weight));
    }
    if let Some(weight) = details.primary_weight {
        push("Primary weight", progress_bar(weight));
    }
    if let Some(iteration) = details.iteration {
        push(
            "Iteration",
            format!("{}/{}", iteration.current, iteration.total),
        );
    }
    if let Some(metric) = &details.metric {
        if let Some(name) = metric.name.as_deref().or(metric.template.as_deref()) {
            push("Metric", name.to_owned());
        }
        if let Some(observed) = &metric.observed_text {
            push("Observed", observed.clone());
        }
        if let Some(threshold) = &metric.threshold_text {
            let comparator = metric
                .comparator
                .map(|c| format!("{} ", c.as_str()))
                .unwrap_or_default();
            push("Threshold", format!("{comparator}{threshold}"));
        }
    }
    if let Some(hook) = &details.hook {
        let label = if stage == Stage::WaitingApproval {
            "Waiting on"
        } else {
            "Hook"
        };
        let value = match details.hook_type {
            Some(kind) => format!("{hook} ({})", kind.as_str()),
            None => hook.clone(),
        };
        push(label, value);
    }
    if let Some(error) = &details.hook_error {
        push("Hook error", error.clone());
    }
    if let Some(threshold) = details.failed_checks_threshold {
        push("Failed checks", threshold.to_string());
    }
    if let Some(reason) = &details.reason {
        push("Reason", reason.clone());
    }
    facts
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{CanaryEvent, classify};

    fn facts_of(message: &str) -> Vec<(&'static str, String)> {
        let body = serde_json::json!({"name":"podinfo","namespace":"test","phase":"Progressing",
            "metadata":{"eventMessage":message,"eventType":"Normal","timestamp":"1"}});
        let event = CanaryEvent::from_slice(body.to_string().as_bytes()).unwrap();
        let c = classify(&event);
        highlights(c.stage, &c.details)
            .into_iter()
            .map(|f| (f.label, f.value))
            .collect()
    }

    #[test]
    fn draws_the_weight_as_a_bar() {
        assert_eq!(progress_bar(0), "░░░░░░░░░░ 0%");
        assert_eq!(progress_bar(30), "▓▓▓░░░░░░░ 30%");
        assert_eq!(progress_bar(5), "▓░░░░░░░░░ 5%");
        assert_eq!(progress_bar(250), "▓▓▓▓▓▓▓▓▓▓ 250%");
        assert_eq!(
            facts_of("Advance podinfo.test canary weight 30"),
            [("Canary weight", "▓▓▓░░░░░░░ 30%".into())]
        );
    }

    #[test]
    fn shows_the_failing_metric_against_its_threshold() {
        assert_eq!(
            facts_of("Halt podinfo.test advancement success rate 69.17% < 99%"),
            [
                ("Metric", "request-success-rate".into()),
                ("Observed", "69.17%".into()),
                ("Threshold", "< 99%".into()),
            ]
        );
    }

    #[test]
    fn names_the_gate_being_waited_on() {
        assert_eq!(
            facts_of("Halt podinfo.test advancement waiting for approval gate-rollout"),
            [("Waiting on", "gate-rollout (confirm-rollout)".into())]
        );
    }
}
