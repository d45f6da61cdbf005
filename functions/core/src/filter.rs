//! Noise control: which classified events are worth forwarding.
//!
//! Defaults forward everything except the per-tick chatter Flagger repeats on every
//! reconciliation (the rollback hook saying it is not rolling back, the metrics providers being
//! available, the suspended-canary notice).

use std::collections::HashSet;

use crate::classify::{Classification, Severity, Stage};
use crate::config::Env;
use crate::event::CanaryEvent;
use crate::notification::Notification;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filter {
    /// `MIN_SEVERITY`: events below it are dropped.
    pub min_severity: Severity,
    /// `INCLUDE_STAGES`: when set, only these stages pass.
    pub include: Option<HashSet<Stage>>,
    /// `EXCLUDE_STAGES`: these stages never pass.
    pub exclude: HashSet<Stage>,
    /// `CHATTER=drop` (default) or `forward`: whether the per-tick repeats are dropped.
    pub drop_chatter: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FilterError {
    #[error("MIN_SEVERITY must be one of: info, warning, error")]
    Severity,
    #[error("{setting} names an unknown stage {stage:?}")]
    Stage {
        setting: &'static str,
        stage: String,
    },
    #[error("CHATTER must be `drop` or `forward`")]
    Chatter,
}

/// Messages Flagger emits on every tick while nothing changes.
const CHATTER: &[(&str, &str)] = &[
    ("Rollback hook ", " not signaling a rollback"),
    ("all the metrics providers are available!", ""),
    ("skipping canary run as object is suspended", ""),
];

impl Default for Filter {
    fn default() -> Self {
        Filter {
            min_severity: Severity::Info,
            include: None,
            exclude: HashSet::new(),
            drop_chatter: true,
        }
    }
}

impl Filter {
    pub fn from_env(env: &impl Env) -> Result<Self, FilterError> {
        let min_severity = match env.var("MIN_SEVERITY") {
            None => Severity::Info,
            Some(raw) => Severity::parse(raw.trim()).ok_or(FilterError::Severity)?,
        };
        let drop_chatter = match env.var("CHATTER").as_deref().map(str::trim) {
            None | Some("drop") => true,
            Some("forward") => false,
            Some(_) => return Err(FilterError::Chatter),
        };
        Ok(Filter {
            min_severity,
            include: env
                .var("INCLUDE_STAGES")
                .map(|raw| stages("INCLUDE_STAGES", &raw))
                .transpose()?,
            exclude: env
                .var("EXCLUDE_STAGES")
                .map(|raw| stages("EXCLUDE_STAGES", &raw))
                .transpose()?
                .unwrap_or_default(),
            drop_chatter,
        })
    }

    /// Whether the event goes on to its destination.
    pub fn passes(&self, notification: &Notification, classification: &Classification) -> bool {
        if classification.severity < self.min_severity {
            return false;
        }
        if self
            .include
            .as_ref()
            .is_some_and(|include| !include.contains(&classification.stage))
        {
            return false;
        }
        if self.exclude.contains(&classification.stage) {
            return false;
        }
        match notification {
            Notification::Canary(event) => !(self.drop_chatter && is_chatter(event)),
            Notification::Alerts(_) => true,
        }
    }
}

fn is_chatter(event: &CanaryEvent) -> bool {
    let Some(message) = event.event_message() else {
        return false;
    };
    CHATTER.iter().any(|(start, end)| {
        if end.is_empty() {
            message == *start
        } else {
            message.len() > start.len() + end.len()
                && message.starts_with(start)
                && message.ends_with(end)
        }
    })
}

fn stages(setting: &'static str, raw: &str) -> Result<HashSet<Stage>, FilterError> {
    raw.split(',')
        .map(str::trim)
        .filter(|name| !name.is_empty())
        .map(|name| {
            Stage::parse(name).ok_or_else(|| FilterError::Stage {
                setting,
                stage: name.to_owned(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classify::classify;
    use std::collections::HashMap;

    fn event(message: &str, event_type: &str) -> CanaryEvent {
        let body = format!(
            r#"{{"name":"podinfo","namespace":"test","phase":"Progressing","metadata":{{"eventMessage":"{message}","eventType":"{event_type}","timestamp":"1"}}}}"#
        );
        CanaryEvent::from_slice(body.as_bytes()).unwrap()
    }

    fn passes(filter: &Filter, message: &str, event_type: &str) -> bool {
        let event = event(message, event_type);
        let classification = classify(&event);
        filter.passes(&Notification::Canary(event), &classification)
    }

    #[test]
    fn drops_per_tick_chatter_by_default() {
        let filter = Filter::default();
        assert!(!passes(
            &filter,
            "Rollback hook manual-rollback not signaling a rollback",
            "Normal"
        ));
        assert!(!passes(
            &filter,
            "all the metrics providers are available!",
            "Normal"
        ));
        assert!(!passes(
            &filter,
            "skipping canary run as object is suspended",
            "Normal"
        ));
        assert!(passes(
            &filter,
            "Advance podinfo.test canary weight 10",
            "Normal"
        ));
    }

    #[test]
    fn forwards_chatter_when_asked() {
        let env: HashMap<&str, &str> = [("CHATTER", "forward")].into();
        let filter = Filter::from_env(&env).unwrap();
        assert!(passes(
            &filter,
            "all the metrics providers are available!",
            "Normal"
        ));
    }

    #[test]
    fn drops_events_below_min_severity() {
        let env: HashMap<&str, &str> = [("MIN_SEVERITY", "warning")].into();
        let filter = Filter::from_env(&env).unwrap();
        assert!(!passes(
            &filter,
            "Advance podinfo.test canary weight 10",
            "Normal"
        ));
        assert!(passes(
            &filter,
            "Halt podinfo.test advancement success rate 69.17% < 99%",
            "Warning"
        ));
    }

    #[test]
    fn rejects_unknown_stage_and_severity_names() {
        let env: HashMap<&str, &str> = [("EXCLUDE_STAGES", "progress, bogus")].into();
        assert_eq!(
            Filter::from_env(&env),
            Err(FilterError::Stage {
                setting: "EXCLUDE_STAGES",
                stage: "bogus".into()
            })
        );
        let env: HashMap<&str, &str> = [("MIN_SEVERITY", "loud")].into();
        assert_eq!(Filter::from_env(&env), Err(FilterError::Severity));
    }

    #[test]
    fn reads_stage_lists() {
        let env: HashMap<&str, &str> = [
            ("INCLUDE_STAGES", "succeeded,failed"),
            ("EXCLUDE_STAGES", " progress ,"),
        ]
        .into();
        let filter = Filter::from_env(&env).unwrap();
        assert_eq!(
            filter.include,
            Some([Stage::Succeeded, Stage::Failed].into())
        );
        assert_eq!(filter.exclude, [Stage::Progress].into());
    }
}
