//! The gate's settings, read once at cold start. Secrets may come from a store through their
//! `*_SECRET_ARN` settings (resolved before this runs, see `flagger_relay_core::secrets`).
//!
//! | Setting | |
//! |---|---|
//! | `RELAY_TOKEN` | required: Flagger's calls and the decisions API must carry it |
//! | `GATES_TABLE` | required: the DynamoDB table of decisions |
//! | `SLACK_BOT_TOKEN` | turns Slack on: prompts, buttons (then the next three are required) |
//! | `SLACK_CHANNEL_ID` | where prompts go (or the rollout's thread, with `THREADS_TABLE`) |
//! | `SLACK_SIGNING_SECRET` | verifies clicks |
//! | `APPROVERS` | Slack user IDs and user-group IDs, or `*` |
//! | `SLACK_API_URL` | Slack's Web API (a stand-in in tests) |
//! | `THREADS_TABLE` | the Slack function's thread table: prompts go in the rollout's thread |
//! | `SNS_TOPIC_ARN` | decisions are published here |
//! | `TEAMS_APPROVAL_LINKS` | `true`: approval cards with signed links, to `TEAMS_WEBHOOK_URL`, signed with `APPROVAL_LINK_KEY` |
//! | `GATE_URL` | the gate's public URL for links; by default the Function URL the call came to |

use std::fmt;

use flagger_relay_core::config::{ConfigError, Env, RelayToken, SecretUrl, flag};
use flagger_relay_slack::bot::DEFAULT_API_URL;
use flagger_relay_slack::bot::web_api::BotToken;
use flagger_relay_sns::TopicArn;
use flagger_relay_teams::is_connector_host;

use crate::approvers::{Approvers, ApproversError};
use crate::links::LinkKey;
use crate::slack::SigningSecret;

/// Why the gate cannot start. Names the setting, never its value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GateConfigError {
    #[error("{name} is required: {why}")]
    Required {
        name: &'static str,
        why: &'static str,
    },
    #[error("{name}: {problem}")]
    Invalid {
        name: &'static str,
        problem: &'static str,
    },
    #[error(transparent)]
    Approvers(#[from] ApproversError),
    #[error(transparent)]
    Config(#[from] ConfigError),
}

#[derive(Clone)]
pub struct SlackSettings {
    pub token: BotToken,
    pub channel: String,
    pub api_url: String,
    pub signing_secret: SigningSecret,
    pub approvers: Approvers,
}

#[derive(Clone)]
pub struct LinkSettings {
    pub webhook: SecretUrl,
    pub key: LinkKey,
}

#[derive(Clone)]
pub struct GateSettings {
    pub token: RelayToken,
    pub table: String,
    pub slack: Option<SlackSettings>,
    pub threads_table: Option<String>,
    pub topic: Option<TopicArn>,
    pub links: Option<LinkSettings>,
    pub gate_url: Option<String>,
}

impl fmt::Debug for GateSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GateSettings")
            .field("table", &self.table)
            .field("slack", &self.slack.as_ref().map(|s| &s.channel))
            .field("threads_table", &self.threads_table)
            .field("topic", &self.topic)
            .field("links", &self.links.is_some())
            .field("gate_url", &self.gate_url)
            .finish_non_exhaustive()
    }
}

impl GateSettings {
    pub fn from_env(env: &impl Env) -> Result<Self, GateConfigError> {
        let token = env.var("RELAY_TOKEN").map(RelayToken::new).ok_or(
            GateConfigError::Required {
                name: "RELAY_TOKEN",
                why: "Flagger's gate calls and the decisions API open gates, so they must carry it (or set RELAY_TOKEN_SECRET_ARN)",
            },
        )?;
        let table = env
            .var("GATES_TABLE")
            .map(|table| table.trim().to_owned())
            .ok_or(GateConfigError::Required {
                name: "GATES_TABLE",
                why: "the DynamoDB table where decisions are kept",
            })?;
        let slack = slack(env)?;
        let threads_table = env.var("THREADS_TABLE").map(|t| t.trim().to_owned());
        let topic = env
            .var("SNS_TOPIC_ARN")
            .map(|raw| TopicArn::parse("SNS_TOPIC_ARN", &raw))
            .transpose()?;
        let links = links(env)?;
        let gate_url = env
            .var("GATE_URL")
            .map(|raw| {
                SecretUrl::parse("GATE_URL", &raw)
                    .map(|url| url.expose().trim_end_matches('/').to_owned())
            })
            .transpose()?;
        Ok(GateSettings {
            token,
            table,
            slack,
            threads_table,
            topic,
            links,
            gate_url,
        })
    }
}

fn slack(env: &impl Env) -> Result<Option<SlackSettings>, GateConfigError> {
    let Some(raw) = env.var("SLACK_BOT_TOKEN") else {
        for name in ["SLACK_SIGNING_SECRET", "APPROVERS", "SLACK_CHANNEL_ID"] {
            if env.var(name).is_some() {
                return Err(GateConfigError::Invalid {
                    name,
                    problem: "is set but SLACK_BOT_TOKEN is not; the gate posts its prompts with the bot token",
                });
            }
        }
        return Ok(None);
    };
    let token = BotToken::parse("SLACK_BOT_TOKEN", &raw)?;
    let channel = env
        .var("SLACK_CHANNEL_ID")
        .map(|c| c.trim().to_owned())
        .ok_or(GateConfigError::Required {
            name: "SLACK_CHANNEL_ID",
            why: "the channel where prompts are posted",
        })?;
    let signing_secret = env
        .var("SLACK_SIGNING_SECRET")
        .ok_or(GateConfigError::Required {
            name: "SLACK_SIGNING_SECRET",
            why: "clicks are verified with the Slack app's signing secret (or set SLACK_SIGNING_SECRET_SECRET_ARN)",
        })
        .and_then(|raw| {
            SigningSecret::parse(&raw).ok_or(GateConfigError::Invalid {
                name: "SLACK_SIGNING_SECRET",
                problem: "is not a Slack signing secret (Basic Information → App Credentials → Signing Secret)",
            })
        })?;
    let approvers = env
        .var("APPROVERS")
        .ok_or(GateConfigError::Required {
            name: "APPROVERS",
            why: "who may decide: Slack user IDs (U…), user-group IDs (S…), or `*` for anyone in the channel",
        })
        .and_then(|raw| Ok(Approvers::parse(&raw)?))?;
    let api_url = match env.var("SLACK_API_URL") {
        Some(raw) => SecretUrl::parse("SLACK_API_URL", &raw)?.expose().to_owned(),
        None => DEFAULT_API_URL.to_owned(),
    };
    Ok(Some(SlackSettings {
        token,
        channel,
        api_url,
        signing_secret,
        approvers,
    }))
}

fn links(env: &impl Env) -> Result<Option<LinkSettings>, GateConfigError> {
    if !flag(env, "TEAMS_APPROVAL_LINKS")? {
        return Ok(None);
    }
    let webhook = env
        .var("TEAMS_WEBHOOK_URL")
        .ok_or(GateConfigError::Required {
            name: "TEAMS_WEBHOOK_URL",
            why: "TEAMS_APPROVAL_LINKS is on: approval cards go to this Workflows webhook",
        })
        .and_then(|raw| Ok(SecretUrl::parse("TEAMS_WEBHOOK_URL", &raw)?))?;
    if webhook.host().is_some_and(|host| is_connector_host(&host)) {
        return Err(GateConfigError::Invalid {
            name: "TEAMS_WEBHOOK_URL",
            problem: "is a retired Office 365 connector; approval cards need a Workflows webhook (Adaptive Cards)",
        });
    }
    let key = env
        .var("APPROVAL_LINK_KEY")
        .ok_or(GateConfigError::Required {
            name: "APPROVAL_LINK_KEY",
            why: "TEAMS_APPROVAL_LINKS is on: links are signed with it (or set APPROVAL_LINK_KEY_SECRET_ARN)",
        })
        .and_then(|raw| {
            LinkKey::parse(&raw).ok_or(GateConfigError::Invalid {
                name: "APPROVAL_LINK_KEY",
                problem: "must be at least 32 characters",
            })
        })?;
    Ok(Some(LinkSettings { webhook, key }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    const SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";

    fn read(pairs: &[(&str, &str)]) -> Result<GateSettings, GateConfigError> {
        let env: HashMap<&str, &str> = pairs.iter().copied().collect();
        GateSettings::from_env(&env)
    }

    fn base() -> Vec<(&'static str, &'static str)> {
        vec![("RELAY_TOKEN", "t0ken-123456"), ("GATES_TABLE", "gates")]
    }

    #[test]
    fn needs_a_token_and_a_table_only() {
        let settings = read(&base()).unwrap();
        assert!(settings.slack.is_none() && settings.links.is_none());
        let err = read(&[("GATES_TABLE", "gates")]).unwrap_err();
        assert!(
            err.to_string().starts_with("RELAY_TOKEN is required"),
            "{err}"
        );
        let err = read(&[("RELAY_TOKEN", "t0ken-123456")]).unwrap_err();
        assert!(
            err.to_string().starts_with("GATES_TABLE is required"),
            "{err}"
        );
    }

    #[test]
    fn slack_needs_its_channel_signing_secret_and_approvers() {
        let mut env = base();
        env.push(("SLACK_BOT_TOKEN", "xoxb-1-2-sekrit"));
        let err = read(&env).unwrap_err();
        assert!(
            err.to_string().starts_with("SLACK_CHANNEL_ID is required"),
            "{err}"
        );
        env.push(("SLACK_CHANNEL_ID", "C0RELAY"));
        let err = read(&env).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("SLACK_SIGNING_SECRET is required"),
            "{err}"
        );
        env.push(("SLACK_SIGNING_SECRET", SECRET));
        let err = read(&env).unwrap_err();
        assert!(
            err.to_string().starts_with("APPROVERS is required"),
            "{err}"
        );
        env.push(("APPROVERS", "U0ALICE"));
        assert!(read(&env).unwrap().slack.is_some());
    }

    #[test]
    fn refuses_slack_settings_without_a_bot_token() {
        let mut env = base();
        env.push(("APPROVERS", "*"));
        let err = read(&env).unwrap_err();
        assert!(err.to_string().contains("SLACK_BOT_TOKEN is not"), "{err}");
    }

    #[test]
    fn links_need_a_workflows_webhook_and_a_long_key() {
        let mut env = base();
        env.push(("TEAMS_APPROVAL_LINKS", "true"));
        env.push((
            "TEAMS_WEBHOOK_URL",
            "https://contoso.webhook.office.com/webhookb2/a@b/IncomingWebhook/c/d",
        ));
        let err = read(&env).unwrap_err();
        assert!(err.to_string().contains("Workflows"), "{err}");
        env.pop();
        env.push((
            "TEAMS_WEBHOOK_URL",
            "https://prod-1.logic.azure.com/workflows/x",
        ));
        env.push(("APPROVAL_LINK_KEY", "short-and-sekrit"));
        let err = read(&env).unwrap_err();
        assert_eq!(
            err.to_string(),
            "APPROVAL_LINK_KEY: must be at least 32 characters"
        );
        assert!(!err.to_string().contains("sekrit"));
    }

    #[test]
    fn errors_never_show_values() {
        let mut env = base();
        env.extend([
            ("SLACK_BOT_TOKEN", "xoxb-1-2-sekrit"),
            ("SLACK_CHANNEL_ID", "C0RELAY"),
            ("SLACK_SIGNING_SECRET", "sekrit"),
        ]);
        let err = read(&env).unwrap_err().to_string();
        assert!(
            err.starts_with("SLACK_SIGNING_SECRET") && !err.contains("sekrit"),
            "{err}"
        );
    }
}
