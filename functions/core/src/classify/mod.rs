//! What a notification means: its stage in the rollout, how much it matters, the values its
//! message carries, and a one-line headline. Pure: no I/O, no clock, no configuration.
//!
//! The phase lags Flagger's message (Flagger records the event before it writes the new
//! phase), so it never decides the stage; it only matters for a payload without a message
//! (what gating hooks receive).

mod alertmanager;
mod flagger;
mod headline;
mod model;

pub use alertmanager::classify_alerts;
pub use headline::{HEADLINE_MAX, HEADLINE_TARGET};
pub use model::{
    Classification, Comparator, Details, HookType, Iteration, Metric, Severity, Stage, Unit,
};

use crate::event::{CanaryEvent, EventType, Phase};

/// Classifies an event from its message first, then `eventType`. The message is recognised
/// once; its stage, details and headline all come from that one reading.
pub fn classify(event: &CanaryEvent) -> Classification {
    let recognised = event.event_message().and_then(flagger::recognise);
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
    let headline = match event.event_message() {
        Some(message) => headline::of_message(message, recognised.as_ref()),
        None => headline::of_notice(&event.phase),
    };
    Classification {
        stage,
        severity,
        details,
        headline,
    }
}
