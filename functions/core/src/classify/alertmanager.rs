//! Recognition of Alertmanager notifications: what a group of alerts means for a rollout.

use super::model::{Classification, Details, Severity, Stage};
use crate::alertmanager::{AlertGroup, AlertStatus, CANARY_ROLLBACK};
use crate::text::truncate;

/// `canary_rollback` firing is a failed canary; a resolved group is information; any other
/// alert takes its `severity` label (`critical` → error, `warning` → warning).
pub fn classify_alerts(group: &AlertGroup) -> Classification {
    let firing = group.status == AlertStatus::Firing;
    let (stage, severity) = if !firing {
        (Stage::Info, Severity::Info)
    } else if group.alertname() == Some(CANARY_ROLLBACK) {
        (Stage::Failed, Severity::Error)
    } else {
        let label = group.common_labels.get("severity").or_else(|| {
            group
                .alerts
                .first()
                .and_then(|alert| alert.labels.get("severity"))
        });
        let severity = match label.map(String::as_str) {
            Some("critical") => Severity::Error,
            Some("warning") => Severity::Warning,
            _ => Severity::Info,
        };
        (Stage::Info, severity)
    };
    let details = Details {
        target: group
            .canary()
            .map(|(name, namespace)| format!("{name}.{namespace}")),
        ..Details::default()
    };
    Classification {
        stage,
        severity,
        details,
        headline: headline(group),
    }
}

/// `HighErrorRate firing: <summary>`: the alert, how many fire or resolved, and the summary.
fn headline(group: &AlertGroup) -> String {
    let firing = group.firing().count();
    let resolved = group.resolved().count();
    let name = group.alertname().unwrap_or("alerts");
    let counts = match (firing, resolved) {
        (0, _) => "resolved".to_owned(),
        (_, 0) => "firing".to_owned(),
        (f, r) => format!("{f} firing, {r} resolved"),
    };
    // Without a canary the alert name is already the subject; don't say it twice.
    let what = match group.canary() {
        Some(_) => format!("{name} {counts}"),
        None => counts,
    };
    let headline = match group.summary() {
        Some(summary) => format!("{what}: {summary}"),
        None => what,
    };
    truncate(&headline, 120).into_owned()
}
