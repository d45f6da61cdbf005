//! `APPROVERS`: who may decide from Slack. Slack user IDs (`U…`, `W…` on Enterprise Grid),
//! user-group IDs (`S…`), or `*` for anyone who can see the message. IDs, not names: a display
//! name can be changed by its owner, an ID cannot.

use std::collections::BTreeSet;
use std::time::Duration;

use crate::slack::SlackApi;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Approvers {
    /// `*`: anyone in the channel.
    Anyone,
    Listed {
        users: BTreeSet<String>,
        groups: Vec<String>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApproversError {
    #[error(
        "APPROVERS is empty: list Slack user IDs (U…) and user-group IDs (S…), or `*` for anyone in the channel"
    )]
    Empty,
    #[error(
        "APPROVERS has an entry that is not a Slack user ID (U…/W…) or user-group ID (S…): {0:?}; names and @handles can change, IDs cannot"
    )]
    NotAnId(String),
    #[error("APPROVERS mixes `*` with IDs; `*` alone means anyone in the channel")]
    Mixed,
}

/// Who decided the click, and why it may or may not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Permission {
    Allowed,
    NotAllowed,
    /// A user group could not be looked up: refused, and the clicker is told why.
    Unknown(String),
}

impl Approvers {
    /// Entries separated by commas or whitespace.
    pub fn parse(raw: &str) -> Result<Approvers, ApproversError> {
        let entries: Vec<&str> = raw
            .split(|c: char| c == ',' || c.is_whitespace())
            .filter(|entry| !entry.is_empty())
            .collect();
        if entries.is_empty() {
            return Err(ApproversError::Empty);
        }
        if entries.contains(&"*") {
            return if entries.iter().all(|entry| *entry == "*") {
                Ok(Approvers::Anyone)
            } else {
                Err(ApproversError::Mixed)
            };
        }
        let mut users = BTreeSet::new();
        let mut groups = Vec::new();
        for entry in entries {
            let well_formed = entry.len() >= 3
                && entry
                    .bytes()
                    .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit());
            match entry.as_bytes().first() {
                Some(b'U' | b'W') if well_formed => {
                    users.insert(entry.to_owned());
                }
                Some(b'S') if well_formed => {
                    if !groups.iter().any(|g| g == entry) {
                        groups.push(entry.to_owned());
                    }
                }
                _ => {
                    return Err(ApproversError::NotAnId(
                        flagger_relay_core::text::truncate(entry, 40).into_owned(),
                    ));
                }
            }
        }
        Ok(Approvers::Listed { users, groups })
    }

    /// Whether `user` may decide: listed, or a member of a listed group.
    pub async fn permission(&self, user: &str, slack: &SlackApi, timeout: Duration) -> Permission {
        let Approvers::Listed { users, groups } = self else {
            return Permission::Allowed;
        };
        if users.contains(user) {
            return Permission::Allowed;
        }
        let mut unknown = None;
        for group in groups {
            match slack.members(group, timeout).await {
                Ok(members) if members.contains(user) => return Permission::Allowed,
                Ok(_) => {}
                Err(err) => {
                    let reason = match err {
                        flagger_relay_core::deliver::AttemptError::Transient { reason, .. }
                        | flagger_relay_core::deliver::AttemptError::Unanswered { reason }
                        | flagger_relay_core::deliver::AttemptError::Permanent { reason } => reason,
                    };
                    unknown = Some(format!(
                        "could not read the members of <!subteam^{group}>: {reason}"
                    ));
                }
            }
        }
        match unknown {
            Some(reason) => Permission::Unknown(reason),
            None => Permission::NotAllowed,
        }
    }

    /// `<@U1>, <!subteam^S1>`: Slack renders these as the people and groups, for messages.
    pub fn mentions(&self) -> String {
        match self {
            Approvers::Anyone => "anyone in this channel".to_owned(),
            Approvers::Listed { users, groups } => users
                .iter()
                .map(|user| format!("<@{user}>"))
                .chain(groups.iter().map(|group| format!("<!subteam^{group}>")))
                .collect::<Vec<_>>()
                .join(", "),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_users_groups_or_anyone() {
        assert_eq!(Approvers::parse(" * "), Ok(Approvers::Anyone));
        let Approvers::Listed { users, groups } =
            Approvers::parse("U0ALICE, W0BOB S0SRE,S0SRE").unwrap()
        else {
            panic!("listed")
        };
        assert_eq!(users.into_iter().collect::<Vec<_>>(), ["U0ALICE", "W0BOB"]);
        assert_eq!(groups, ["S0SRE"]);
    }

    #[test]
    fn refuses_names_handles_and_mixtures() {
        assert_eq!(Approvers::parse(" , "), Err(ApproversError::Empty));
        assert_eq!(
            Approvers::parse("U0ALICE,@bob"),
            Err(ApproversError::NotAnId("@bob".into()))
        );
        assert!(Approvers::parse("alice").is_err());
        assert!(Approvers::parse("u0alice").is_err());
        assert_eq!(Approvers::parse("*,U0ALICE"), Err(ApproversError::Mixed));
    }

    #[test]
    fn mentions_people_and_groups_as_slack_renders_them() {
        assert_eq!(
            Approvers::parse("S0SRE,U0ALICE").unwrap().mentions(),
            "<@U0ALICE>, <!subteam^S0SRE>"
        );
    }
}
