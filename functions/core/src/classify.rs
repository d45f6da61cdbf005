//! What an event means: its stage in the rollout, how much it matters, and the values its
//! message carries. Pure: no I/O, no clock, no configuration.
//!
//! Flagger says everything in one English sentence, `metadata.eventMessage`, printed from a
//! fixed set of Go format strings (Flagger v1.44: `pkg/controller/scheduler*.go`,
//! `pkg/canary/*_ready.go`). Recognition is plain prefix/suffix matching against those strings,
//! dispatched on the first word: no regex, nothing compiled per event, and nothing allocated
//! until the owned [`Details`] are built. The phase lags the message (Flagger records the event
//! before it writes the new phase), so it never decides the stage.

use std::fmt::Write as _;

use serde::Serialize;

use crate::event::{CanaryEvent, EventType, Phase};

/// Where the rollout is. The kebab-case names are a public contract: SNS message attributes,
/// filter policies and `EXCLUDE_STAGES` / `INCLUDE_STAGES` use them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Stage {
    /// `Initialization done!`
    Initialized,
    /// `New revision detected! Scaling up …` / `… Restarting analysis for …`
    NewRevision,
    /// `Starting canary analysis for …`
    AnalysisStarted,
    /// Canary weight or iteration advanced; all traffic routed to the canary.
    Progress,
    /// A gate or check hook passed (`… check … passed`), or the rollback hook did not fire.
    CheckPassed,
    /// `Halt … waiting for [traffic increase | promotion] approval <hook>`
    WaitingApproval,
    /// A workload is not ready yet (`… not ready: waiting for rollout to finish …`).
    Waiting,
    /// This analysis tick failed: a metric check, a missing metric, a query or metric
    /// template error, a pre-rollout / external / post-rollout hook, or a progress deadline.
    Halted,
    /// `Copying … template spec`, `Routing all traffic to primary`, `Advance … primary weight`
    Promoting,
    /// `Promotion completed!` (both forms)
    Succeeded,
    /// `Rolling back …` (every cause) and `Rollback check … passed`
    RollingBack,
    /// `Canary failed!` and `Promotion of … failed`
    Failed,
    /// `Terminating canary …` / `Terminated canary …` (`revertOnDeletion: true`)
    Terminating,
    /// Anything else Flagger is known to emit: providers available, suspended, not-supported
    /// warnings, scaling-down errors, metric provider check errors.
    Info,
    /// Not recognised: the raw message is all there is.
    Unknown,
}

/// How much attention an event deserves. Ordered: `Info < Warning < Error`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Warning,
    Error,
}

/// The values a message carries, as far as it was recognised. Serialised into the SNS JSON body,
/// so the shape is a public contract: camelCase names, absent values left out, numbers as JSON
/// numbers. An unrecognised message has empty details (`{}`).
///
/// ```json
/// {"target":"podinfo.test","canaryWeight":30}
/// {"target":"podinfo.test","iteration":{"current":2,"total":10}}
/// {"target":"podinfo.test","metric":{"name":"request-duration","observed":1515.0,
///  "comparator":">","threshold":500.0,"unit":"ms","observedText":"1.515s","thresholdText":"500ms"}}
/// {"target":"podinfo.test","hook":"acceptance-test","hookType":"pre-rollout","hookError":"Forbidden"}
/// {"target":"podinfo.test","failedChecksThreshold":5}
/// {"target":"podinfo-primary.test","reason":"waiting for rollout to finish: 1 old replicas are pending termination"}
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Details {
    /// `target`: the workload the message names, `name.namespace` as Flagger prints it: the
    /// canary's target, the primary for `Copying … to <name>-primary.<ns>` and primary readiness,
    /// the Knative revision for `Knative Revision … is not ready`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// `canaryWeight`: percent of traffic now on the canary (`0` is the mirroring step).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub canary_weight: Option<u32>,
    /// `primaryWeight`: percent of traffic now on the primary during a stepped promotion.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub primary_weight: Option<u32>,
    /// `iteration`: `{current, total}` of an A/B or blue/green analysis.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iteration: Option<Iteration>,
    /// `metric`: the metric a check, a missing value or a query error is about.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metric: Option<Metric>,
    /// `hook`: the webhook's `name` from the canary's `analysis.webhooks`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hook: Option<String>,
    /// `hookType`: the webhook's `type`, in Flagger's words (`pre-rollout`, `confirm-promotion` …).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hook_type: Option<HookType>,
    /// `hookError`: why a hook failed, as Flagger's webhook client reported it (`Forbidden`,
    /// `POST http://… giving up after 1 attempt(s): unexpected HTTP status 500 …`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hook_error: Option<String>,
    /// `failedChecksThreshold`: the failed-check count that triggered the rollback.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failed_checks_threshold: Option<u32>,
    /// `reason`: why, in Flagger's or Kubernetes' words: the readiness text (`waiting for rollout
    /// to finish: …`, `deployment "x" exceeded its progress deadline`), a query, provider or
    /// scaling error, the progress-deadline error of a rollback. For metric template errors it
    /// is the text after the template's name without a leading `error: ` (`secret s error: …`,
    /// `provider datadog error: …`, `query render error: …`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// `{current, total}`: Flagger's `canary iteration n/m`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Iteration {
    pub current: u32,
    pub total: u32,
}

/// A metric as a message describes it. Every field is optional because messages carry
/// different parts: a failed check has all of `name, observed, comparator, threshold`; a missing
/// value or a failed query only the name; a metric template error only the template.
///
/// `observed` / `threshold` are JSON numbers: success rate in percent (`unit: "%"`), request
/// duration converted to milliseconds (`unit: "ms"`), custom metrics as is (no unit).
/// `observedText` / `thresholdText` keep what Flagger printed (`69.17%`, `1.515s`, `500ms`,
/// `2.35`), also when it is not a finite number.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Metric {
    /// The name in `analysis.metrics`: `request-success-rate`, `request-duration` or custom.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The metrics provider (`istio`, `kubernetes:service`, a template's provider type).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    /// The MetricTemplate, `name.namespace`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub template: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub observed: Option<f64>,
    /// How `observed` relates to `threshold`: the direction that failed the check.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comparator: Option<Comparator>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub threshold: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unit: Option<Unit>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub observed_text: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub threshold_text: Option<String>,
}

/// `observed <comparator> threshold`, serialised as `"<"` or `">"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum Comparator {
    #[serde(rename = "<")]
    Below,
    #[serde(rename = ">")]
    Above,
}

/// The unit of a metric's `observed` and `threshold`, serialised as `"%"` or `"ms"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum Unit {
    #[serde(rename = "%")]
    Percent,
    #[serde(rename = "ms")]
    Milliseconds,
}

/// A webhook's `type` in a canary's `analysis.webhooks`, serialised as Flagger spells it.
/// `Rollout` is the plain analysis hook that Flagger's messages call an "external check".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum HookType {
    ConfirmRollout,
    PreRollout,
    Rollout,
    ConfirmTrafficIncrease,
    ConfirmPromotion,
    PostRollout,
    Rollback,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Classification {
    pub stage: Stage,
    pub severity: Severity,
    pub details: Details,
}

impl Stage {
    pub const ALL: [Stage; 15] = [
        Stage::Initialized,
        Stage::NewRevision,
        Stage::AnalysisStarted,
        Stage::Progress,
        Stage::CheckPassed,
        Stage::WaitingApproval,
        Stage::Waiting,
        Stage::Halted,
        Stage::Promoting,
        Stage::Succeeded,
        Stage::RollingBack,
        Stage::Failed,
        Stage::Terminating,
        Stage::Info,
        Stage::Unknown,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Initialized => "initialized",
            Stage::NewRevision => "new-revision",
            Stage::AnalysisStarted => "analysis-started",
            Stage::Progress => "progress",
            Stage::CheckPassed => "check-passed",
            Stage::WaitingApproval => "waiting-approval",
            Stage::Waiting => "waiting",
            Stage::Halted => "halted",
            Stage::Promoting => "promoting",
            Stage::Succeeded => "succeeded",
            Stage::RollingBack => "rolling-back",
            Stage::Failed => "failed",
            Stage::Terminating => "terminating",
            Stage::Info => "info",
            Stage::Unknown => "unknown",
        }
    }

    pub fn parse(name: &str) -> Option<Stage> {
        Stage::ALL.into_iter().find(|stage| stage.as_str() == name)
    }
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }

    pub fn parse(name: &str) -> Option<Severity> {
        [Severity::Info, Severity::Warning, Severity::Error]
            .into_iter()
            .find(|severity| severity.as_str() == name)
    }
}

impl Details {
    /// True when the message carried nothing that was recognised.
    pub fn is_empty(&self) -> bool {
        *self == Details::default()
    }
}

impl Comparator {
    pub fn as_str(self) -> &'static str {
        match self {
            Comparator::Below => "<",
            Comparator::Above => ">",
        }
    }
}

impl Unit {
    pub fn as_str(self) -> &'static str {
        match self {
            Unit::Percent => "%",
            Unit::Milliseconds => "ms",
        }
    }
}

impl HookType {
    pub fn as_str(self) -> &'static str {
        match self {
            HookType::ConfirmRollout => "confirm-rollout",
            HookType::PreRollout => "pre-rollout",
            HookType::Rollout => "rollout",
            HookType::ConfirmTrafficIncrease => "confirm-traffic-increase",
            HookType::ConfirmPromotion => "confirm-promotion",
            HookType::PostRollout => "post-rollout",
            HookType::Rollback => "rollback",
        }
    }
}

/// Classifies an event from its message first, then `eventType`; the (lagging) phase only
/// matters for a payload without a message (what gating hooks receive).
pub fn classify(event: &CanaryEvent) -> Classification {
    let recognised = event.event_message().and_then(recognise);
    let (stage, details) = match &recognised {
        Some((format, fields)) => (format.stage(), fields.to_details()),
        None => (Stage::Unknown, Details::default()),
    };
    let severity = match stage {
        Stage::Failed | Stage::RollingBack => Severity::Error,
        Stage::Halted | Stage::WaitingApproval => Severity::Warning,
        _ if event.metadata.event_type == Some(EventType::Warning) => Severity::Warning,
        _ if event.event_message().is_none() && event.phase == Phase::Failed => Severity::Error,
        _ => Severity::Info,
    };
    Classification {
        stage,
        severity,
        details,
    }
}

impl Classification {
    /// What happened, in words, without the canary's name: the renderers prefix it.
    ///
    /// Lower-case and short: `canary weight 30%`, `iteration 2/10`,
    /// `halted: success rate 69.17% < 99%`, `waiting for approval (gate-rollout)`, `promoted`,
    /// `rolled back: failed checks threshold 5 reached`. Free text from the message (a reason,
    /// a hook error) is shortened with `…` to keep the headline near 80 characters, never over
    /// 120; renderers show the raw message beside it. An unrecognised message is its own
    /// headline (shortened the same way); a payload without one is `webhook notice (<phase>)`.
    pub fn headline(&self, event: &CanaryEvent) -> String {
        let Some(message) = event.event_message() else {
            return match event.phase {
                Phase::Unset => "webhook notice (no phase)".to_owned(),
                ref phase => format!(
                    "webhook notice ({})",
                    crate::text::truncate(phase.as_str(), 80)
                ),
            };
        };
        let recognised = match self.stage {
            Stage::Unknown => None,
            _ => recognise(message),
        };
        let mut out = String::with_capacity(64);
        match recognised {
            Some((format, fields)) => render(&mut out, format, &fields, message.trim()),
            None if message.trim().is_empty() => out.push_str("(empty event message)"),
            None => push_clipped(&mut out, message.trim(), HEADLINE_MAX, false),
        }
        if out.chars().count() > HEADLINE_MAX {
            let whole = std::mem::take(&mut out);
            push_clipped(&mut out, &whole, HEADLINE_MAX, false);
        }
        out
    }
}

/// Which of Flagger's messages this is: one variant per format string (or family of them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
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
    HookFailed(HookType),
    SuccessRate,
    RequestDuration,
    CustomMetric,
    NoValues,
    QueryFailed {
        prometheus: bool,
    },
    MetricsClientError,
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
enum RollbackCause {
    ManualWebhook,
    FailedChecks,
    ProgressDeadline,
    Other,
}

impl Format {
    fn stage(self) -> Stage {
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
            | MetricsClientError
            | MetricTemplateError => Stage::Halted,
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
struct Fields<'a> {
    target: Option<&'a str>,
    canary_weight: Option<u32>,
    primary_weight: Option<u32>,
    iteration: Option<Iteration>,
    metric: Option<MetricFields<'a>>,
    hook: Option<&'a str>,
    hook_type: Option<HookType>,
    hook_error: Option<&'a str>,
    failed_checks_threshold: Option<u32>,
    reason: Option<&'a str>,
}

#[derive(Debug, Default)]
struct MetricFields<'a> {
    name: Option<&'a str>,
    provider: Option<&'a str>,
    template: Option<&'a str>,
    observed: Option<&'a str>,
    comparator: Option<Comparator>,
    threshold: Option<&'a str>,
    unit: Option<Unit>,
}

impl Fields<'_> {
    fn to_details(&self) -> Details {
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
fn recognise(message: &str) -> Option<(Format, Fields<'_>)> {
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
            if let Some(rest) = rest.strip_prefix("query failed for ") {
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
/// `not ready with retryable <bool>: <reason>`. Not retryable means the progress deadline passed.
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
    let deadline_exceeded = !retryable || reason.contains("exceeded its progress deadline");
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

/// Headlines aim at this many characters; free text is shortened to fit.
const HEADLINE_TARGET: usize = 80;
/// And never exceed this many.
const HEADLINE_MAX: usize = 120;
/// Free text always gets at least this much room, even after a long hook or metric name.
const MIN_ROOM: usize = 32;

fn render(out: &mut String, format: Format, f: &Fields<'_>, message: &str) {
    use Format::*;
    let hook = f.hook.unwrap_or("hook");
    match format {
        MetricsProvidersAvailable => out.push_str("metrics providers available"),
        MetricsProvidersError => {
            out.push_str("error checking metric providers");
            push_reason(out, f.reason);
        }
        InitializationDone => out.push_str("initialized"),
        Suspended => out.push_str("suspended: canary run skipped"),
        ScaleDownFailed => {
            out.push_str("scaling down canary failed");
            push_reason(out, f.reason);
        }
        NotSupported | IterationsForced => push_clipped(out, message, HEADLINE_TARGET, false),
        WaitingForApproval(hook_type) => {
            out.push_str(match hook_type {
                HookType::ConfirmTrafficIncrease => "waiting for traffic increase approval",
                HookType::ConfirmPromotion => "waiting for promotion approval",
                _ => "waiting for approval",
            });
            if let Some(hook) = f.hook {
                let _ = write!(out, " ({hook})");
            }
        }
        CheckPassed(hook_type) => {
            let _ = write!(out, "{} check {hook} passed", hook_type.as_str());
        }
        RollbackNotSignaled => {
            let _ = write!(out, "rollback hook {hook} not signaling a rollback");
        }
        NewRevision => out.push_str("new revision detected"),
        RestartingAnalysis => out.push_str("new revision detected: analysis restarted"),
        AnalysisStarted => out.push_str("analysis started"),
        NotReady {
            primary,
            deadline_exceeded,
        } => {
            if deadline_exceeded {
                out.push_str("halted: ");
            }
            if primary {
                out.push_str("primary ");
            }
            out.push_str("not ready");
            push_reason(out, f.reason);
        }
        KnativeRevisionNotReady => out.push_str("Knative revision not ready"),
        HookFailed(hook_type) => {
            let _ = match hook_type {
                HookType::PreRollout => write!(out, "halted: pre-rollout check {hook} failed"),
                HookType::Rollout => write!(out, "halted: external check {hook} failed"),
                _ => write!(out, "{} hook {hook} failed", hook_type.as_str()),
            };
            push_reason(out, f.hook_error);
        }
        SuccessRate | RequestDuration | CustomMetric => {
            out.push_str("halted: ");
            let metric = f.metric.as_ref();
            out.push_str(match format {
                SuccessRate => "success rate",
                RequestDuration => "request duration",
                _ => metric.and_then(|m| m.name).unwrap_or("metric"),
            });
            if let Some(m) = metric {
                let _ = write!(
                    out,
                    " {} {} {}",
                    m.observed.unwrap_or("?"),
                    m.comparator.map_or("?", Comparator::as_str),
                    m.threshold.unwrap_or("?")
                );
            }
        }
        NoValues => {
            out.push_str("halted: no values found for ");
            out.push_str(f.metric.as_ref().and_then(|m| m.name).unwrap_or("metric"));
            if f.target.is_some() {
                out.push_str(" (no traffic?)");
            }
        }
        QueryFailed { prometheus } => {
            match f.metric.as_ref().and_then(|m| m.name) {
                Some(name) => {
                    let _ = write!(out, "halted: query for {name} failed");
                }
                None if prometheus => out.push_str("halted: Prometheus query failed"),
                None => out.push_str("halted: metric query failed"),
            }
            push_reason(out, f.reason);
        }
        MetricsClientError => out.push_str("halted: error building Prometheus client"),
        MetricTemplateError => {
            out.push_str("halted: metric template");
            if let Some(template) = f.metric.as_ref().and_then(|m| m.template) {
                out.push(' ');
                out.push_str(template);
            }
            push_reason(out, f.reason);
        }
        CanaryWeight => match f.canary_weight {
            Some(0) => out.push_str("canary weight 0% (mirroring)"),
            Some(weight) => {
                let _ = write!(out, "canary weight {weight}%");
            }
            None => out.push_str("canary weight advanced"),
        },
        CanaryIteration => match f.iteration {
            Some(Iteration { current, total }) => {
                let _ = write!(out, "iteration {current}/{total}");
            }
            None => out.push_str("iteration advanced"),
        },
        AllTrafficToCanary => out.push_str("routing all traffic to canary"),
        MirroringStopped => out.push_str("mirroring stopped, routing all traffic to canary"),
        CopyingSpec => {
            out.push_str("promoting: copying template spec");
            if let Some(primary) = f.target {
                out.push_str(" to ");
                out.push_str(primary);
            }
        }
        AllTrafficToPrimary => out.push_str("routing all traffic to primary"),
        PrimaryWeight => match f.primary_weight {
            Some(weight) => {
                let _ = write!(out, "primary weight {weight}%");
            }
            None => out.push_str("primary weight advanced"),
        },
        PromotionFailed => {
            out.push_str("promotion failed, primary not ready");
            push_reason(out, f.reason);
        }
        PromotionCompleted {
            analysis_skipped: false,
        } => out.push_str("promoted"),
        PromotionCompleted {
            analysis_skipped: true,
        } => out.push_str("promoted (analysis skipped)"),
        RollbackCheckPassed => {
            let _ = write!(out, "rollback check {hook} passed");
        }
        RollingBack(RollbackCause::ManualWebhook) => {
            out.push_str("rolled back: manual webhook invoked")
        }
        RollingBack(RollbackCause::FailedChecks) => match f.failed_checks_threshold {
            Some(count) => {
                let _ = write!(out, "rolled back: failed checks threshold {count} reached");
            }
            None => out.push_str("rolled back: failed checks threshold reached"),
        },
        RollingBack(RollbackCause::ProgressDeadline) => {
            out.push_str("rolled back: progress deadline exceeded")
        }
        RollingBack(RollbackCause::Other) => {
            out.push_str("rolled back");
            push_reason(out, f.reason);
        }
        CanaryFailed => out.push_str("canary failed"),
        Terminating => out.push_str("terminating canary"),
        Terminated => out.push_str("canary terminated"),
    }
}

/// `: <reason>` shortened to the headline's budget, or nothing.
fn push_reason(out: &mut String, reason: Option<&str>) {
    if let Some(reason) = reason {
        out.push_str(": ");
        push_clipped(out, reason, HEADLINE_TARGET, true);
    }
}

/// Appends `text`, shortened with `…` so that `out` ends within `limit` characters (but with at
/// least [`MIN_ROOM`] for `text`). With `first_clause`, a Go error chain (`context: cause:
/// cause`) is cut after its first link when that fits: `waiting for rollout to finish…`.
/// Cuts only at char boundaries, preferably at a space.
fn push_clipped(out: &mut String, text: &str, limit: usize, first_clause: bool) {
    let room = limit.saturating_sub(out.chars().count()).max(MIN_ROOM);
    if text.chars().count() <= room {
        out.push_str(text);
        return;
    }
    let first_link = text
        .split_once(": ")
        .map(|(head, _)| head)
        .filter(|head| first_clause && !head.is_empty() && head.chars().count() < room);
    if let Some(head) = first_link {
        out.push_str(head);
        out.push('…');
        return;
    }
    let cut = text
        .char_indices()
        .nth(room - 1)
        .map_or(text.len(), |(at, _)| at);
    let head = &text[..cut];
    let mid_word = !text[cut..].starts_with(' ');
    let head = match head.rfind(' ') {
        Some(space) if mid_word && space > cut / 2 => &head[..space],
        _ => head,
    };
    out.push_str(head.trim_end());
    out.push('…');
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::path::{Path, PathBuf};

    use serde_json::json;

    use super::*;
    use crate::event::Metadata;

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
            assert_eq!(
                classification.headline(&event),
                case.headline,
                "{}",
                case.message
            );
        }
    }

    #[test]
    fn headlines_of_known_messages_stay_within_80_characters() {
        for case in every_flagger_message() {
            let event = event(case.message, case.warning);
            let headline = classify(&event).headline(&event);
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
        assert_eq!(
            classification.headline(&event),
            "halted: success rate 69.17% < 99%"
        );

        let body = br#"{"name":"podinfo","namespace":"test","phase":"Progressing","metadata":{"eventMessage":"Halt podinfo.test advancement request duration 1.515s \u003e 500ms","eventType":"Warning","timestamp":"1764000361096"}}"#;
        let event = CanaryEvent::from_slice(body).unwrap();
        assert_eq!(
            classify(&event).headline(&event),
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
            json_of(
                "Halt podinfo.test advancement pre-rollout check acceptance-test failed Forbidden"
            ),
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
            assert_eq!(classification.headline(&event), message);
        }
        let empty = event("", W);
        assert_eq!(classify(&empty).stage, Stage::Unknown);
        assert_eq!(classify(&empty).headline(&empty), "(empty event message)");
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
        assert_eq!(classify(&event).headline(&event), "canary weight advanced");
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
        assert_eq!(classification.headline(&failed), "webhook notice (Failed)");

        let progressing = gating_payload(Phase::Progressing);
        assert_eq!(classify(&progressing).severity, Severity::Info);
        assert_eq!(
            classify(&progressing).headline(&progressing),
            "webhook notice (Progressing)"
        );

        let brand_new = gating_payload(Phase::Unset);
        assert_eq!(
            classify(&brand_new).headline(&brand_new),
            "webhook notice (no phase)"
        );

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
                    let headline = classification.headline(&event);
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
            let headline = classify(&event).headline(&event);
            assert!(headline.chars().count() <= HEADLINE_MAX, "{headline:?}");
            assert!(headline.ends_with('…'), "{headline:?}");
        }
        let event = event(
            &format!("canary deployment a.b not ready: {}", "x".repeat(500)),
            W,
        );
        let headline = classify(&event).headline(&event);
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
                classification.headline(&event).chars().count() <= HEADLINE_TARGET,
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
}
