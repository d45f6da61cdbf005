//! Who a message notifies, by severity (`SLACK_MENTIONS`, `TEAMS_MENTIONS`): the on-call group
//! when a rollout fails, no one for progress. The settings share one shape,
//! `severity=targets` pairs separated by `;`; what a target looks like is the destination's
//! business, so each destination hands its own reader to [`Mentions::parse`].

use serde::Serialize;

use crate::classify::Severity;
use crate::config::ConfigError;

/// Someone a message notifies.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Mention {
    /// Who is notified: the Slack markup (`<!subteam^S0123ABC>`), a Teams user's UPN.
    pub id: String,
    /// How the message names them: a Teams display name; the markup again in Slack.
    pub name: String,
    /// What the message text carries: the Slack markup, or `<at>Display Name</at>` in Teams.
    /// Written into messages as it is: a destination's reader accepts only text that needs no
    /// escaping in JSON or in its markup.
    pub text: String,
}

/// The mentions of each severity; a severity not configured mentions no one.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Mentions {
    info: Vec<Mention>,
    warning: Vec<Mention>,
    error: Vec<Mention>,
}

impl Mentions {
    /// Reads `severity=targets;severity=targets`; `targets` is handed to `read`, which answers
    /// the mentions it names or what is wrong with it. A severity may appear once.
    pub fn parse(
        setting: &'static str,
        raw: &str,
        read: impl Fn(&str) -> Result<Vec<Mention>, String>,
    ) -> Result<Mentions, ConfigError> {
        let malformed = |problem: String| ConfigError::Malformed {
            name: setting,
            problem,
        };
        let mut mentions = Mentions::default();
        for pair in raw
            .split(';')
            .map(str::trim)
            .filter(|pair| !pair.is_empty())
        {
            let Some((severity, targets)) = pair.split_once('=') else {
                return Err(malformed(
                    "expected severity=targets pairs separated by `;`".into(),
                ));
            };
            let severity = Severity::parse(severity.trim()).ok_or_else(|| {
                malformed(format!(
                    "`{}` is not a severity (info, warning, error)",
                    crate::text::truncate(severity.trim(), 20)
                ))
            })?;
            let slot = mentions.slot(severity);
            if !slot.is_empty() {
                return Err(malformed(format!("{} is given twice", severity.as_str())));
            }
            let read = read(targets.trim())
                .map_err(|problem| malformed(format!("{}: {problem}", severity.as_str())))?;
            if read.is_empty() {
                return Err(malformed(format!("{} names no one", severity.as_str())));
            }
            *slot = read;
        }
        Ok(mentions)
    }

    /// Who a message of this severity notifies.
    pub fn of(&self, severity: Severity) -> &[Mention] {
        match severity {
            Severity::Info => &self.info,
            Severity::Warning => &self.warning,
            Severity::Error => &self.error,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.info.is_empty() && self.warning.is_empty() && self.error.is_empty()
    }

    fn slot(&mut self, severity: Severity) -> &mut Vec<Mention> {
        match severity {
            Severity::Info => &mut self.info,
            Severity::Warning => &mut self.warning,
            Severity::Error => &mut self.error,
        }
    }
}

/// The mentions' texts, as one run of text: what a message leads with.
pub fn mention_text(mentions: &[Mention], separator: &str) -> String {
    mentions
        .iter()
        .map(|mention| mention.text.as_str())
        .collect::<Vec<_>>()
        .join(separator)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(targets: &str) -> Result<Vec<Mention>, String> {
        targets
            .split_whitespace()
            .map(|word| {
                if word.starts_with('@') {
                    Ok(Mention {
                        id: word.into(),
                        name: word.into(),
                        text: word.into(),
                    })
                } else {
                    Err(format!("`{word}` is not a mention"))
                }
            })
            .collect()
    }

    #[test]
    fn mentions_only_the_configured_severities() {
        let mentions = Mentions::parse("M", " error=@oncall @lead ; warning=@here", words).unwrap();
        let ids = |severity| -> Vec<&str> {
            mentions
                .of(severity)
                .iter()
                .map(|m| m.id.as_str())
                .collect()
        };
        assert_eq!(ids(Severity::Error), ["@oncall", "@lead"]);
        assert_eq!(ids(Severity::Warning), ["@here"]);
        assert!(ids(Severity::Info).is_empty());
        assert_eq!(
            mention_text(mentions.of(Severity::Error), " "),
            "@oncall @lead"
        );
    }

    #[test]
    fn refuses_a_malformed_setting_naming_it() {
        for (raw, problem) in [
            ("@oncall", "severity=targets pairs"),
            ("fatal=@x", "`fatal` is not a severity"),
            ("error=@x;error=@y", "error is given twice"),
            ("error=", "error names no one"),
            ("error=oncall", "error: `oncall` is not a mention"),
        ] {
            let err = Mentions::parse("SLACK_MENTIONS", raw, words)
                .unwrap_err()
                .to_string();
            assert!(
                err.starts_with("SLACK_MENTIONS is malformed: ") && err.contains(problem),
                "{raw}: {err}"
            );
        }
    }
}
