//! The vocabulary of classification: where a rollout is, how much an event matters, and the
//! values its message carried. Plain data, shared by every input and every renderer.

use serde::Serialize;

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
    /// template error, a metric without template or query, a Knative service the metric checks
    /// cannot read, a pre-rollout / external / post-rollout hook, a progress deadline, or a
    /// primary scaled to zero.
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
    /// What happened, in words, without the subject's name: the renderers prefix it.
    pub headline: String,
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
