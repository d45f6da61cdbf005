//! Recognition of Flagger's messages. Flagger says everything in one English sentence,
//! `metadata.eventMessage`, printed from a fixed set of Go format strings (Flagger v1.44:
//! `pkg/controller/scheduler*.go`, `pkg/canary/*_ready.go`, `pkg/canary/knative_controller.go`).
//! Only the raw errors Flagger passes through with a bare `%v` go unrecognised. Recognition is plain
//! prefix/suffix matching against those strings, dispatched on the first word: no regex,
//! nothing compiled per event, and nothing allocated until the owned [`Details`] are built.

use super::model::*;

/// Which of Flagger's messages this is: one variant per format string (or family of them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Format {
    MetricsProvidersAvailable,
    MetricsProvidersError,
    InitializationDone,
    Suspended,
    ScaleDownFailed,
    NotSupported,
    IterationsForced,
    WaitingForApproval(HookType),
    CheckPassed(HookType),
    RollbackNotSignaled,
    NewRevision,
    RestartingAnalysis,
    AnalysisStarted,
    NotReady {
        primary: bool,
        deadline_exceeded: bool,
    },
    KnativeRevisionNotReady,
    PrimaryScaledToZero,
    HookFailed(HookType),
    SuccessRate,
    RequestDuration,
    CustomMetric,
    NoValues,
    QueryFailed {
        prometheus: bool,
    },
    NoUsableMetric,
    MetricsClientError,
    KnativeServiceError,
    MetricTemplateError,
    CanaryWeight,
    CanaryIteration,
    AllTrafficToCanary,
    MirroringStopped,
    CopyingSpec,
    AllTrafficToPrimary,
    PrimaryWeight,
    PromotionFailed,
    PromotionCompleted {
        analysis_skipped: bool,
    },
    RollbackCheckPassed,
    RollingBack(RollbackCause),
    CanaryFailed,
    Terminating,
    Terminated,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum RollbackCause {
    ManualWebhook,
    FailedChecks,
    ProgressDeadline,
    Other,
}

impl Format {
    pub(super) fn stage(self) -> Stage {
        use Format::*;
        match self {
            MetricsProvidersAvailable
            | MetricsProvidersError
            | Suspended
            | ScaleDownFailed
            | NotSupported
            | IterationsForced => Stage::Info,
            InitializationDone => Stage::Initialized,
            WaitingForApproval(_) => Stage::WaitingApproval,
            CheckPassed(_) | RollbackNotSignaled => Stage::CheckPassed,
            NewRevision | RestartingAnalysis => Stage::NewRevision,
            AnalysisStarted => Stage::AnalysisStarted,
            NotReady {
                deadline_exceeded: true,
                ..
            } => Stage::Halted,
            NotReady {
                deadline_exceeded: false,
                ..
            }
            | KnativeRevisionNotReady => Stage::Waiting,
            HookFailed(_)
            | SuccessRate
            | RequestDuration
            | CustomMetric
            | NoValues
            | QueryFailed { .. }
            | NoUsableMetric
            | MetricsClientError
            | KnativeServiceError
            | MetricTemplateError
            | PrimaryScaledToZero => Stage::Halted,
            CanaryWeight | CanaryIteration | AllTrafficToCanary | MirroringStopped => {
                Stage::Progress
            }
            CopyingSpec | AllTrafficToPrimary | PrimaryWeight => Stage::Promoting,
            PromotionFailed | CanaryFailed => Stage::Failed,
            PromotionCompleted { .. } => Stage::Succeeded,
            RollbackCheckPassed | RollingBack(_) => Stage::RollingBack,
            Terminating | Terminated => Stage::Terminating,
        }
    }
}

/// [`Details`] borrowed from the message: recognising a message allocates nothing.
#[derive(Debug, Default)]
pub(super) struct Fields<'a> {
    pub(super) target: Option<&'a str>,
    pub(super) canary_weight: Option<u32>,
    pub(super) primary_weight: Option<u32>,
    pub(super) iteration: Option<Iteration>,
    pub(super) metric: Option<MetricFields<'a>>,
    pub(super) hook: Option<&'a str>,
    pub(super) hook_type: Option<HookType>,
    pub(super) hook_error: Option<&'a str>,
    pub(super) failed_checks_threshold: Option<u32>,
    pub(super) reason: Option<&'a str>,
}

#[derive(Debug, Default)]
pub(super) struct MetricFields<'a> {
    pub(super) name: Option<&'a str>,
    pub(super) provider: Option<&'a str>,
    pub(super) template: Option<&'a str>,
    pub(super) observed: Option<&'a str>,
    pub(super) comparator: Option<Comparator>,
    pub(super) threshold: Option<&'a str>,
    pub(super) unit: Option<Unit>,
}

impl Fields<'_> {
    pub(super) fn to_details(&self) -> Details {
        let owned = |s: Option<&str>| s.map(str::to_owned);
        Details {
            target: owned(self.target),
            canary_weight: self.canary_weight,
            primary_weight: self.primary_weight,
            iteration: self.iteration,
            metric: self.metric.as_ref().map(|m| Metric {
                name: owned(m.name),
                provider: owned(m.provider),
                template: owned(m.template),
                observed: m.observed.and_then(|text| metric_value(text, m.unit)),
                comparator: m.comparator,
                threshold: m.threshold.and_then(|text| metric_value(text, m.unit)),
                unit: m.unit,
                observed_text: owned(m.observed),
                threshold_text: owned(m.threshold),
            }),
            hook: owned(self.hook),
            hook_type: self.hook_type,
            hook_error: owned(self.hook_error),
            failed_checks_threshold: self.failed_checks_threshold,
            reason: owned(self.reason),
        }
    }
}

/// Recognises one of Flagger's messages; `None` when it is none of them.
pub(super) fn recognise(message: &str) -> Option<(Format, Fields<'_>)> {
    let message = message.trim();
    let (word, rest) = message.split_once(' ')?;
    let mut f = Fields::default();
    let format = match word {
        "all" => known(
            rest == "the metrics providers are available!",
            Format::MetricsProvidersAvailable,
        )?,
        "skipping" => known(
            rest == "canary run as object is suspended",
            Format::Suspended,
        )?,
        "A/B" | "Progressive" => known(
            rest.ends_with(" is not supported when using the kubernetes provider"),
            Format::NotSupported,
        )?,
        // Flagger forces blue/green on the kubernetes provider and says so.
        "Setting" => known(
            rest.starts_with("canaryAnalysis.iterations: "),
            Format::IterationsForced,
        )?,
        "Error" => {
            if let Some(error) = rest.strip_prefix("checking metric providers: ") {
                f.reason = text(error);
                Format::MetricsProvidersError
            } else if let Some(rest) = rest.strip_prefix("fetching Knative service ") {
                // `<namespace>/<name> <error>`: the metric checks could not read the service.
                let (_service, error) = rest.split_once(' ').unwrap_or((rest, ""));
                f.reason = text(error);
                Format::KnativeServiceError
            } else {
                f.reason = text(rest.strip_prefix("building Prometheus client for ")?);
                Format::MetricsClientError
            }
        }
        "Initialization" => {
            f.target = target(rest.strip_prefix("done! ")?);
            Format::InitializationDone
        }
        "scaling" => {
            // `scaling down canary <Kind> <name>.<namespace> failed: <error>`
            let (_kind, rest) = rest.strip_prefix("down canary ")?.split_once(' ')?;
            let (workload, error) = rest.split_once(" failed: ")?;
            f.target = target(workload);
            f.reason = text(error);
            Format::ScaleDownFailed
        }
        "New" => {
            let rest = rest.strip_prefix("revision detected! ")?;
            if let Some(workload) = rest.strip_prefix("Scaling up ") {
                f.target = target(workload);
                Format::NewRevision
            } else {
                f.target = target(rest.strip_prefix("Restarting analysis for ")?);
                Format::RestartingAnalysis
            }
        }
        "Starting" => {
            f.target = target(rest.strip_prefix("canary analysis for ")?);
            Format::AnalysisStarted
        }
        "Confirm-rollout" => check_passed(rest, HookType::ConfirmRollout, &mut f)?,
        "Pre-rollout" => check_passed(rest, HookType::PreRollout, &mut f)?,
        "Confirm-traffic-increase" => check_passed(rest, HookType::ConfirmTrafficIncrease, &mut f)?,
        "Confirm-promotion" => check_passed(rest, HookType::ConfirmPromotion, &mut f)?,
        "Post-rollout" => match rest.strip_prefix("hook ") {
            Some(rest) => hook_failed(rest, HookType::PostRollout, &mut f),
            None => check_passed(rest, HookType::PostRollout, &mut f)?,
        },
        "Rollback" => {
            f.hook_type = Some(HookType::Rollback);
            let not_signaling = rest
                .strip_prefix("hook ")
                .and_then(|r| r.strip_suffix(" not signaling a rollback"));
            if let Some(hook) = not_signaling {
                f.hook = text(hook);
                Format::RollbackNotSignaled
            } else {
                f.hook = text(rest.strip_prefix("check ")?.strip_suffix(" passed")?);
                Format::RollbackCheckPassed
            }
        }
        "Halt" => halt(rest, &mut f)?,
        "Prometheus" => {
            let rest = rest.strip_prefix("query failed")?;
            if let Some(error) = rest.strip_prefix(": ") {
                f.reason = text(error);
            } else {
                let (name, error) = rest.strip_prefix(" for ")?.split_once(": ")?;
                f.metric = Some(MetricFields {
                    name: text(name),
                    ..MetricFields::default()
                });
                f.reason = text(error);
            }
            Format::QueryFailed { prometheus: true }
        }
        "Metric" => {
            // A metric with neither a template nor a query: Flagger's sentence, not a query error.
            if rest == "query failed for no usable metrics template and query were configured" {
                Format::NoUsableMetric
            } else if let Some(rest) = rest.strip_prefix("query failed for ") {
                let (name, error) = rest.split_once(": ")?;
                f.metric = Some(MetricFields {
                    name: text(name),
                    ..MetricFields::default()
                });
                f.reason = text(error);
                Format::QueryFailed { prometheus: false }
            } else {
                // `Metric template <name>.<ns> [secret <s> | provider <type> | query render] error: <error>`
                let (template, what) = rest.strip_prefix("template ")?.split_once(' ')?;
                let provider = what
                    .strip_prefix("provider ")
                    .and_then(|r| r.split_once(" error: "))
                    .and_then(|(provider, _)| text(provider));
                f.metric = Some(MetricFields {
                    template: target(template),
                    provider,
                    ..MetricFields::default()
                });
                f.reason = text(what.strip_prefix("error: ").unwrap_or(what));
                Format::MetricTemplateError
            }
        }
        "Advance" => advance(rest, &mut f)?,
        "Routing" => match rest {
            "all traffic to canary" => Format::AllTrafficToCanary,
            "all traffic to primary" => Format::AllTrafficToPrimary,
            _ => return None,
        },
        "Stop" => known(
            rest == "traffic mirroring and route all traffic to canary",
            Format::MirroringStopped,
        )?,
        "Copying" => {
            // The primary is where the spec goes: that is what changes now.
            let (_canary, primary) = rest.split_once(" template spec to ")?;
            f.target = target(primary);
            Format::CopyingSpec
        }
        "Promotion" => {
            if let Some(rest) = rest.strip_prefix("completed! ") {
                if let Some(workload) = rest.strip_prefix("Scaling down ") {
                    f.target = target(workload);
                    Format::PromotionCompleted {
                        analysis_skipped: false,
                    }
                } else {
                    f.target = target(rest.strip_prefix("Canary analysis was skipped for ")?);
                    Format::PromotionCompleted {
                        analysis_skipped: true,
                    }
                }
            } else {
                let (workload, reason) = rest
                    .strip_prefix("of ")?
                    .split_once(" failed, primary not ready: ")?;
                f.target = target(workload);
                f.reason = text(reason);
                Format::PromotionFailed
            }
        }
        "Rolling" => rolling_back(rest.strip_prefix("back ")?, &mut f),
        "Canary" => {
            f.target = target(rest.strip_prefix("failed! Scaling down ")?);
            Format::CanaryFailed
        }
        "Terminating" | "Terminated" => {
            f.target = target(rest.strip_prefix("canary ")?);
            if word == "Terminating" {
                Format::Terminating
            } else {
                Format::Terminated
            }
        }
        // `canary deployment|damonset <t> not ready…` (Flagger spells "damonset" so; accept the fix too)
        "canary" => {
            let rest = ["deployment ", "damonset ", "daemonset "]
                .iter()
                .find_map(|p| rest.strip_prefix(p))?;
            let (workload, tail) = rest.split_once(' ')?;
            not_ready(workload, tail, false, &mut f)?
        }
        "primary" => {
            let rest = ["daemonset ", "deployment "]
                .iter()
                .find_map(|p| rest.strip_prefix(p))?;
            let (workload, tail) = rest.split_once(' ')?;
            not_ready(workload, tail, true, &mut f)?
        }
        // `halt <canary> advancement: primary deployment is scaled to zero`: the primary's
        // readiness check, passed through as is.
        "halt" => {
            let (workload, why) = rest.split_once(" advancement: ")?;
            f.target = target(workload);
            f.reason = text(why);
            known(
                why == "primary deployment is scaled to zero",
                Format::PrimaryScaledToZero,
            )?
        }
        "Knative" => {
            f.target = target(
                rest.strip_prefix("Revision ")?
                    .strip_suffix(" is not ready")?,
            );
            Format::KnativeRevisionNotReady
        }
        // `<name>-primary.<namespace> not ready: <reason>`: the primary deployment's readiness.
        workload if workload.contains('.') => not_ready(workload, rest, true, &mut f)?,
        _ => return None,
    };
    Some((format, f))
}

fn known(matches: bool, format: Format) -> Option<Format> {
    matches.then_some(format)
}

/// `check <hook> passed`, after the hook type's own word.
fn check_passed<'a>(rest: &'a str, hook_type: HookType, f: &mut Fields<'a>) -> Option<Format> {
    f.hook = text(rest.strip_prefix("check ")?.strip_suffix(" passed")?);
    f.hook_type = Some(hook_type);
    Some(Format::CheckPassed(hook_type))
}

/// `<hook> failed <error>`: the error is whatever the webhook client said.
fn hook_failed<'a>(rest: &'a str, hook_type: HookType, f: &mut Fields<'a>) -> Format {
    let (hook, error) = match rest.split_once(" failed ") {
        Some((hook, error)) => (hook, error),
        None => (rest.strip_suffix(" failed").unwrap_or(rest), ""),
    };
    f.hook = text(hook);
    f.hook_type = Some(hook_type);
    f.hook_error = text(error);
    Format::HookFailed(hook_type)
}

/// Everything after `Halt `: gates waiting, hooks failing, metric checks failing.
fn halt<'a>(rest: &'a str, f: &mut Fields<'a>) -> Option<Format> {
    if let Some(rest) = rest.strip_prefix("advancement no values found for ") {
        return no_values(rest, f);
    }
    let (workload, what) = rest.split_once(" advancement ")?;
    f.target = target(workload);
    let approval = [
        ("waiting for approval ", HookType::ConfirmRollout),
        (
            "waiting for traffic increase approval ",
            HookType::ConfirmTrafficIncrease,
        ),
        (
            "waiting for promotion approval ",
            HookType::ConfirmPromotion,
        ),
    ];
    for (prefix, hook_type) in approval {
        if let Some(hook) = what.strip_prefix(prefix) {
            f.hook = text(hook);
            f.hook_type = Some(hook_type);
            return Some(Format::WaitingForApproval(hook_type));
        }
    }
    if let Some(rest) = what.strip_prefix("pre-rollout check ") {
        return Some(hook_failed(rest, HookType::PreRollout, f));
    }
    if let Some(rest) = what.strip_prefix("external check ") {
        return Some(hook_failed(rest, HookType::Rollout, f));
    }
    let (name, unit, format, comparison) = if let Some(rest) = what.strip_prefix("success rate ") {
        (
            "request-success-rate",
            Some(Unit::Percent),
            Format::SuccessRate,
            rest,
        )
    } else if let Some(rest) = what.strip_prefix("request duration ") {
        (
            "request-duration",
            Some(Unit::Milliseconds),
            Format::RequestDuration,
            rest,
        )
    } else {
        ("", None, Format::CustomMetric, what)
    };
    let (observed, comparator, threshold) = split_comparison(comparison)?;
    let (name, observed) = match format {
        // `<metric name> <%.2f> <|> <threshold>`: the name is everything before the value.
        Format::CustomMetric => observed.rsplit_once(' ')?,
        _ => (name, observed),
    };
    f.metric = Some(MetricFields {
        name: text(name),
        observed: text(observed),
        comparator: Some(comparator),
        threshold: text(threshold),
        unit,
        ..MetricFields::default()
    });
    Some(format)
}

/// After `Halt advancement no values found for `, in its three forms:
/// `metric: <name>`, `custom metric: <name>: <error>`,
/// `<provider> metric <name> probably <name>.<ns> is not receiving traffic[: <error>]`.
fn no_values<'a>(rest: &'a str, f: &mut Fields<'a>) -> Option<Format> {
    let mut metric = MetricFields::default();
    if let Some(name) = rest.strip_prefix("metric: ") {
        metric.name = text(name);
    } else if let Some(rest) = rest.strip_prefix("custom metric: ") {
        let (name, error) = rest.split_once(": ").unwrap_or((rest, ""));
        metric.name = text(name);
        f.reason = text(error);
    } else {
        let (provider, rest) = rest.split_once(" metric ")?;
        let (name, rest) = rest.split_once(" probably ")?;
        let (workload, tail) = rest.split_once(" is not receiving traffic")?;
        metric.provider = text(provider);
        metric.name = text(name);
        f.target = target(workload);
        f.reason = tail.strip_prefix(": ").and_then(text);
    }
    f.metric = Some(metric);
    Some(Format::NoValues)
}

/// Everything after `Advance `: `<t> canary weight <n>`, `<t> canary iteration <n>/<m>`,
/// `<t> primary weight <n>`. A number that does not fit is left out, the stage stays.
fn advance<'a>(rest: &'a str, f: &mut Fields<'a>) -> Option<Format> {
    if let Some((workload, weight)) = rest.split_once(" canary weight ") {
        f.target = target(workload);
        f.canary_weight = weight.parse().ok();
        Some(Format::CanaryWeight)
    } else if let Some((workload, iteration)) = rest.split_once(" canary iteration ") {
        f.target = target(workload);
        f.iteration = iteration.split_once('/').and_then(|(current, total)| {
            Some(Iteration {
                current: current.parse().ok()?,
                total: total.parse().ok()?,
            })
        });
        Some(Format::CanaryIteration)
    } else {
        let (workload, weight) = rest.split_once(" primary weight ")?;
        f.target = target(workload);
        f.primary_weight = weight.parse().ok();
        Some(Format::PrimaryWeight)
    }
}

/// Everything after `Rolling back `: `<t> manual webhook invoked`,
/// `<t> failed checks threshold reached <n>`, `<t> progress deadline exceeded <error>`.
fn rolling_back<'a>(rest: &'a str, f: &mut Fields<'a>) -> Format {
    let (workload, why) = rest.split_once(' ').unwrap_or((rest, ""));
    f.target = target(workload);
    if why == "manual webhook invoked" {
        Format::RollingBack(RollbackCause::ManualWebhook)
    } else if let Some(count) = why.strip_prefix("failed checks threshold reached ") {
        f.failed_checks_threshold = count.parse().ok();
        Format::RollingBack(RollbackCause::FailedChecks)
    } else if let Some(error) = why.strip_prefix("progress deadline exceeded") {
        f.reason = text(error);
        Format::RollingBack(RollbackCause::ProgressDeadline)
    } else {
        f.reason = text(why);
        Format::RollingBack(RollbackCause::Other)
    }
}

/// `tail` follows the workload: `not ready: <reason>` or (daemonsets)
/// `not ready with retryable <bool>: <reason>`. Not retryable means the progress deadline passed;
/// so do the readiness texts `deployment "<name>" exceeded its progress deadline` and (daemonsets)
/// `exceeded its progressDeadlineSeconds: <n>`.
fn not_ready<'a>(
    workload: &'a str,
    tail: &'a str,
    primary: bool,
    f: &mut Fields<'a>,
) -> Option<Format> {
    let (reason, retryable) = match tail.strip_prefix("not ready: ") {
        Some(reason) => (reason, true),
        None => {
            let (retryable, reason) = tail
                .strip_prefix("not ready with retryable ")?
                .split_once(": ")?;
            (reason, retryable != "false")
        }
    };
    f.target = target(workload);
    f.reason = text(reason);
    let deadline_exceeded = !retryable || reason.contains("exceeded its progress");
    Some(Format::NotReady {
        primary,
        deadline_exceeded,
    })
}

/// `<observed> <|> <threshold>` at the first comparator surrounded by spaces.
fn split_comparison(text: &str) -> Option<(&str, Comparator, &str)> {
    let below = text.find(" < ");
    let above = text.find(" > ");
    let (at, comparator) = match (below, above) {
        (Some(b), Some(a)) if a < b => (a, Comparator::Above),
        (Some(b), _) => (b, Comparator::Below),
        (None, Some(a)) => (a, Comparator::Above),
        (None, None) => return None,
    };
    // `at` and `at + 3` sit on ASCII bytes: both are char boundaries.
    Some((&text[..at], comparator, &text[at + 3..]))
}

/// Trimmed, or `None` when nothing is left.
fn text(s: &str) -> Option<&str> {
    let s = s.trim();
    (!s.is_empty()).then_some(s)
}

/// A workload's `name.namespace`: one word, or `None`.
fn target(s: &str) -> Option<&str> {
    text(s).filter(|s| !s.contains(char::is_whitespace))
}

/// A metric value as a JSON-safe number: percent without `%`, durations in milliseconds.
fn metric_value(text: &str, unit: Option<Unit>) -> Option<f64> {
    let value = match unit {
        Some(Unit::Milliseconds) => go_duration_ms(text)?,
        Some(Unit::Percent) => text.strip_suffix('%').unwrap_or(text).parse().ok()?,
        None => text.parse().ok()?,
    };
    // serde_json would write NaN and infinities as `null`; absent says it better.
    value.is_finite().then_some(value)
}

/// Go's `time.Duration` text (`1.515s`, `500ms`, `1m30s`, `250µs`, `0s`) in milliseconds.
/// Summed in whole nanoseconds, as Go stores it, so `1.515s` is exactly `1515.0`.
fn go_duration_ms(text: &str) -> Option<f64> {
    let (negative, mut rest) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    if rest.is_empty() {
        return None;
    }
    let mut nanos: u128 = 0;
    while !rest.is_empty() {
        let number_end = rest
            .find(|c: char| !c.is_ascii_digit() && c != '.')
            .unwrap_or(rest.len());
        let (number, after) = rest.split_at(number_end);
        let unit_end = after
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(after.len());
        let (unit, after) = after.split_at(unit_end);
        let unit_nanos: u128 = match unit {
            "h" => 3_600_000_000_000,
            "m" => 60_000_000_000,
            "s" => 1_000_000_000,
            "ms" => 1_000_000,
            "us" | "µs" | "μs" => 1_000,
            "ns" => 1,
            _ => return None,
        };
        let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
        if whole.is_empty() && fraction.is_empty() {
            return None;
        }
        let mut part = if whole.is_empty() {
            0
        } else {
            whole.parse::<u128>().ok()?.checked_mul(unit_nanos)?
        };
        if !fraction.is_empty() {
            // Go prints at most nine fraction digits; more than 30 would overflow the scale.
            let scale = 10u128.checked_pow(u32::try_from(fraction.len()).ok()?)?;
            part =
                part.checked_add(fraction.parse::<u128>().ok()?.checked_mul(unit_nanos)? / scale)?;
        }
        nanos = nanos.checked_add(part)?;
        rest = after;
    }
    let millis = nanos as f64 / 1e6;
    Some(if negative { -millis } else { millis })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations_become_milliseconds() {
        let cases: [(&str, Option<f64>); 16] = [
            ("1.515s", Some(1515.0)),
            ("500ms", Some(500.0)),
            ("1m30s", Some(90_000.0)),
            ("1h0m0s", Some(3_600_000.0)),
            ("250µs", Some(0.25)),
            ("250μs", Some(0.25)),
            ("1.5us", Some(0.0015)),
            ("800ns", Some(0.0008)),
            ("0s", Some(0.0)),
            ("-2s", Some(-2000.0)),
            ("", None),
            ("s", None),
            ("1", None),
            ("1x", None),
            ("1.2.3s", None),
            ("9999999999999999999999999999999999999999h", None),
        ];
        for (text, millis) in cases {
            assert_eq!(go_duration_ms(text), millis, "{text:?}");
        }
    }
}
