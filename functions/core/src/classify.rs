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
                ref phase => format!("webhook notice ({phase})"),
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
const MIN_ROOM: usize = 40;

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
    if first_clause {
        if let Some((head, _)) = text.split_once(": ") {
            if !head.is_empty() && head.chars().count() < room {
                out.push_str(head);
                out.push('…');
                return;
            }
        }
    }
    let cut = text
        .char_indices()
        .nth(room - 1)
        .map_or(text.len(), |(at, _)| at);
    let head = &text[..cut];
    let head = match head.rfind(' ') {
        Some(space) if space > cut / 2 => &head[..space],
        _ => head,
    };
    out.push_str(head.trim_end());
    out.push('…');
}
