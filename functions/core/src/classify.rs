//! What an event means: its stage in the rollout, how much it matters, and the values its
//! message carries. Pure: no I/O, no clock, no configuration.

use serde::Serialize;

use crate::event::{CanaryEvent, EventType, Phase};

/// Where the rollout is. The kebab-case names are a public contract: SNS message attributes,
/// filter policies and `EXCLUDE_STAGES` / `INCLUDE_STAGES` use them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Stage {
    Initialized,
    NewRevision,
    AnalysisStarted,
    Progress,
    CheckPassed,
    WaitingApproval,
    Waiting,
    Halted,
    Promoting,
    Succeeded,
    RollingBack,
    Failed,
    Terminating,
    Info,
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

/// The values a message carries, as far as it was recognised.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Details {}

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

/// Classifies an event from its message first, then `eventType`, then the (lagging) phase.
pub fn classify(event: &CanaryEvent) -> Classification {
    let stage = Stage::Unknown;
    let severity = match (&event.metadata.event_type, &event.phase) {
        (_, Phase::Failed) => Severity::Error,
        (Some(EventType::Warning), _) => Severity::Warning,
        _ => Severity::Info,
    };
    Classification { stage, severity, details: Details::default() }
}

impl Classification {
    /// What happened, in words, without the canary's name: the renderers prefix it.
    pub fn headline(&self, event: &CanaryEvent) -> String {
        match event.event_message() {
            Some(message) => message.to_owned(),
            None => format!("webhook notice ({})", event.phase),
        }
    }
}
