//! What arrives at a function: a Flagger event or an Alertmanager notification. The shape of
//! the body decides which; everything after parsing works on this one type.

use serde::Deserialize;
use serde::de::IgnoredAny;

use crate::alertmanager::AlertGroup;
use crate::classify::{Classification, classify, classify_alerts};
use crate::event::{CanaryEvent, EventError};
use crate::text::truncate;

/// Serializes as the payload it was parsed from.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(untagged)]
pub enum Notification {
    /// Flagger's event webhook payload.
    Canary(CanaryEvent),
    /// An Alertmanager `webhook_configs` notification (one alert group).
    Alerts(AlertGroup),
}

/// Which top-level keys are present; read before committing to one shape.
#[derive(Deserialize)]
struct Shape {
    #[serde(default)]
    alerts: Option<IgnoredAny>,
    #[serde(default)]
    name: Option<IgnoredAny>,
    #[serde(default)]
    namespace: Option<IgnoredAny>,
    #[serde(default)]
    metadata: Option<IgnoredAny>,
}

impl Notification {
    /// Parses a request body as whichever payload it is. Errors name the problem in the terms
    /// of the payload the body looks like.
    pub fn from_slice(body: &[u8]) -> Result<Self, EventError> {
        if let Some(event) = CanaryEvent::read_flagger(body) {
            return event.map(Notification::Canary);
        }
        let shape = std::str::from_utf8(body)
            .ok()
            .filter(|text| text.trim_start().starts_with('{'))
            .and_then(|text| serde_json::from_str::<Shape>(text).ok());
        match shape {
            Some(shape) if shape.alerts.is_some() => {
                AlertGroup::from_slice(body).map(Notification::Alerts)
            }
            Some(Shape {
                name: None,
                namespace: None,
                metadata: None,
                ..
            }) => Err(EventError::UnknownShape),
            _ => CanaryEvent::from_slice(body).map(Notification::Canary),
        }
    }

    pub fn classify(&self) -> Classification {
        match self {
            Notification::Canary(event) => classify(event),
            Notification::Alerts(group) => classify_alerts(group),
        }
    }

    /// Who it is about, as people write it: `podinfo.test` for a canary (Flagger's own form),
    /// the canary or else the alert name for an alert group.
    pub fn subject(&self) -> String {
        match self {
            Notification::Canary(event) => format!("{}.{}", event.name, event.namespace),
            Notification::Alerts(group) => match group.canary() {
                Some((name, namespace)) => format!("{name}.{namespace}"),
                None => group.alertname().unwrap_or("alertmanager").to_owned(),
            },
        }
    }

    /// `namespace/name` for logs, when there is a canary.
    pub fn canary_ref(&self) -> Option<String> {
        match self {
            Notification::Canary(event) => Some(event.canary_ref()),
            Notification::Alerts(group) => group
                .canary()
                .map(|(name, namespace)| format!("{namespace}/{name}")),
        }
    }

    pub fn phase(&self) -> &str {
        match self {
            Notification::Canary(event) => event.phase.as_str(),
            Notification::Alerts(group) => group.status.as_str(),
        }
    }

    /// `flagger` or `alertmanager`: lets SNS filter policies tell them apart.
    pub fn source(&self) -> &'static str {
        match self {
            Notification::Canary(_) => "flagger",
            Notification::Alerts(_) => "alertmanager",
        }
    }
}

impl AlertGroup {
    pub fn from_slice(body: &[u8]) -> Result<Self, EventError> {
        let text = std::str::from_utf8(body).map_err(|_| EventError::NotUtf8)?;
        // As for a canary event: the path is tracked only to explain an error.
        let group: AlertGroup = match serde_json::from_str(text) {
            Ok(group) => group,
            Err(_) => {
                let mut de = serde_json::Deserializer::from_str(text);
                let group =
                    serde_path_to_error::deserialize(&mut de).map_err(crate::event::field_error)?;
                de.end()
                    .map_err(|e| EventError::NotJson(truncate(&e.to_string(), 200).into_owned()))?;
                group
            }
        };
        if group.version != "4" {
            return Err(EventError::Field {
                field: "version".into(),
                problem: format!(
                    "Alertmanager webhook version {:?} is not supported (expected \"4\")",
                    group.version
                ),
            });
        }
        Ok(group)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classify::{Severity, Stage};

    fn fixture(name: &str) -> Vec<u8> {
        let path = format!(
            "{}/../../events/alertmanager/{name}.json",
            env!("CARGO_MANIFEST_DIR")
        );
        std::fs::read(&path).unwrap_or_else(|err| panic!("{path}: {err}"))
    }

    fn alerts(name: &str) -> (Notification, Classification) {
        let notification = Notification::from_slice(&fixture(name)).unwrap();
        assert!(
            matches!(notification, Notification::Alerts(_)),
            "{name} parsed as {notification:?}"
        );
        let classification = notification.classify();
        (notification, classification)
    }

    #[test]
    fn tells_flagger_events_from_alertmanager_notifications_by_shape() {
        let flagger = br#"{"name":"podinfo","namespace":"test","phase":"Progressing","metadata":{"eventMessage":"Advance podinfo.test canary weight 10","eventType":"Normal","timestamp":"1"}}"#;
        assert!(matches!(
            Notification::from_slice(flagger),
            Ok(Notification::Canary(_))
        ));
        assert!(matches!(
            Notification::from_slice(&fixture("canary-rollback-firing")),
            Ok(Notification::Alerts(_))
        ));
    }

    /// A body with `alerts` is read as Alertmanager's even when it also has a canary's keys;
    /// one with none of either is neither; an array is not an event, whatever it holds.
    #[test]
    fn reads_alerts_first_and_refuses_what_is_neither() {
        let both = br#"{"name":"podinfo","namespace":"test","alerts":[]}"#;
        assert_eq!(
            Notification::from_slice(both).unwrap_err(),
            EventError::Invalid("missing field `version`".into())
        );
        assert_eq!(
            Notification::from_slice(br#"{"phase":"Progressing"}"#).unwrap_err(),
            EventError::UnknownShape
        );
        assert_eq!(
            Notification::from_slice(br#"["podinfo","test"]"#).unwrap_err(),
            EventError::NotAnObject
        );
        assert_eq!(
            Notification::from_slice(br#"{"name":"podinfo","namespace":""}"#).unwrap_err(),
            EventError::Missing("namespace")
        );
    }

    #[test]
    fn canary_rollback_firing_is_a_failed_canary() {
        let (notification, c) = alerts("canary-rollback-firing");
        assert_eq!((c.stage, c.severity), (Stage::Failed, Severity::Error));
        assert_eq!(notification.subject(), "podinfo.test");
        assert_eq!(c.headline.clone(), "canary_rollback firing: Canary failed");
        assert_eq!(notification.source(), "alertmanager");
    }

    #[test]
    fn a_resolved_group_is_information() {
        let (_, c) = alerts("canary-rollback-resolved");
        assert_eq!((c.stage, c.severity), (Stage::Info, Severity::Info));
    }

    #[test]
    fn other_alerts_take_their_severity_label() {
        let (notification, c) = alerts("high-error-rate-no-canary");
        assert_eq!((c.stage, c.severity), (Stage::Info, Severity::Error));
        assert_eq!(notification.subject(), "HighErrorRate");
        assert_eq!(notification.canary_ref(), None);
    }

    #[test]
    fn counts_firing_and_resolved_alerts_of_a_group() {
        let (notification, c) = alerts("canary-rollback-group");
        assert_eq!(
            notification.subject(),
            "canary_rollback",
            "the group spans several canaries"
        );
        assert_eq!(c.headline.clone(), "2 firing, 1 resolved: Canary failed");
    }

    #[test]
    fn refuses_bad_alertmanager_payloads_naming_the_problem() {
        let cases: &[(&[u8], &str)] = &[
            (
                br#"{"version":"4","groupKey":"k","status":"firing","alerts":{}}"#,
                "field `alerts`: invalid type: map",
            ),
            (
                br#"{"version":"4","groupKey":"k","status":"burning","alerts":[]}"#,
                "field `status`: unknown variant `burning`",
            ),
            (
                br#"{"version":"3","groupKey":"k","status":"firing","alerts":[]}"#,
                "field `version`: Alertmanager webhook version \"3\"",
            ),
            (
                br#"{"version":"4","status":"firing","alerts":[]}"#,
                "missing field `groupKey`",
            ),
            (br#"{"hello":"world"}"#, "neither a Flagger event"),
        ];
        for (body, expected) in cases {
            let err = Notification::from_slice(body).unwrap_err().to_string();
            assert!(
                err.contains(expected),
                "{}: got {err:?}",
                String::from_utf8_lossy(body)
            );
        }
    }
}
