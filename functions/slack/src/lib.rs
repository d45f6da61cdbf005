//! The Slack function: Flagger events to a Slack incoming webhook, or through the Web API
//! with a bot token, one thread per rollout ([`bot`]).

pub mod bot;
pub mod render;
pub mod shaping;

use std::time::Duration;

use serde::Serialize;
use tokio::time::Instant;

use flagger_relay_core::config::{ConfigError, Env, RelaySettings, SecretUrl, tls_roots};
use flagger_relay_core::deliver::{
    AttemptError, Delivered, DeliveryFailure, RetryPolicy, http_client, post_json, with_retries,
};
use flagger_relay_core::present::Mention;
use flagger_relay_core::relay::RenderError;
use flagger_relay_core::secrets::{ParameterSetting, SecretSetting};
use flagger_relay_core::{Destination, Presentation, Relay, Severity};

pub use bot::SlackBot;
pub use bot::summary::ChatMessage;
pub use flagger_relay_core::present::Shaping;
pub use render::{Overrides, SlackMessage};

/// The Slack function's credentials, each of which may come from a secret store instead
/// (`SLACK_WEBHOOK_URL_SECRET_ARN`, `SLACK_BOT_TOKEN_SECRET_ARN`).
pub const SECRETS: &[SecretSetting] = &[
    SecretSetting {
        name: "SLACK_WEBHOOK_URL",
        reference: "SLACK_WEBHOOK_URL_SECRET_ARN",
    },
    SecretSetting {
        name: "SLACK_BOT_TOKEN",
        reference: "SLACK_BOT_TOKEN_SECRET_ARN",
    },
];

/// The Slack function's template, which may come from an SSM parameter instead
/// (`SLACK_TEMPLATE_PARAMETER`): templates outgrow the 4 KB Lambda gives the environment.
pub const PARAMETERS: &[ParameterSetting] = &[ParameterSetting {
    name: "SLACK_TEMPLATE",
    reference: "SLACK_TEMPLATE_PARAMETER",
}];

/// Where the Slack function posts, chosen at cold start: the Web API with a bot token when
/// `SLACK_BOT_TOKEN` is set, the incoming webhook otherwise.
pub enum Slack {
    Webhook(SlackWebhook),
    Bot(Box<SlackBot>),
}

/// What is posted, and what a dry run shows: the webhook message, the `chat.postMessage` body,
/// or what `SLACK_TEMPLATE` made of the event (with the bot's channel and thread when posted
/// through the Web API).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum SlackPayload {
    Webhook(SlackMessage),
    Bot(ChatMessage),
    Template(serde_json::Map<String, serde_json::Value>),
}

impl Destination for Slack {
    const KIND: &'static str = "slack";
    type Payload = SlackPayload;

    fn render(&self, message: &Presentation<'_>) -> Result<SlackPayload, RenderError> {
        match self {
            Slack::Webhook(webhook) => webhook.render(message),
            Slack::Bot(bot) => bot.render(message),
        }
    }

    fn mentions(&self, severity: Severity) -> &[Mention] {
        match self {
            Slack::Webhook(webhook) => webhook.mentions(severity),
            Slack::Bot(bot) => bot.mentions(severity),
        }
    }

    async fn deliver(
        &self,
        message: &Presentation<'_>,
        retry: &RetryPolicy,
        deadline: Instant,
    ) -> Result<Delivered, DeliveryFailure> {
        match self {
            Slack::Webhook(webhook) => webhook.deliver(message, retry, deadline).await,
            Slack::Bot(bot) => bot.deliver(message, retry, deadline).await,
        }
    }

    fn secrets(&self) -> Vec<String> {
        match self {
            Slack::Webhook(webhook) => webhook.secrets(),
            Slack::Bot(bot) => bot.secrets(),
        }
    }
}

/// Delivers to an incoming webhook (`SLACK_WEBHOOK_URL`).
pub struct SlackWebhook {
    client: reqwest::Client,
    /// `None` only in dry-run mode, where nothing is sent.
    url: Option<SecretUrl>,
    overrides: Overrides,
    shaping: Shaping,
}

impl SlackWebhook {
    pub fn new(client: reqwest::Client, url: Option<SecretUrl>, overrides: Overrides) -> Self {
        SlackWebhook {
            client,
            url,
            overrides,
            shaping: Shaping::default(),
        }
    }

    /// Mentions and a template of the deployment's own.
    pub fn with_shaping(mut self, shaping: Shaping) -> Self {
        self.shaping = shaping;
        self
    }
}

impl SlackWebhook {
    /// One POST of a rendered message.
    async fn post(&self, payload: &SlackPayload, timeout: Duration) -> Result<(), AttemptError> {
        let url = self
            .url
            .as_ref()
            .ok_or_else(|| AttemptError::permanent("SLACK_WEBHOOK_URL is not set"))?;
        let body =
            serde_json::to_vec(payload).map_err(|err| AttemptError::permanent(err.to_string()))?;
        // Slack answers 200 `ok`; its refusals (`invalid_payload`, `no_service`, …) are 4xx
        // plain-text bodies, which post_json already reports as permanent.
        post_json(&self.client, url.expose(), body, timeout)
            .await
            .map(drop)
    }
}

impl Destination for SlackWebhook {
    const KIND: &'static str = "slack";
    type Payload = SlackPayload;

    fn render(&self, message: &Presentation<'_>) -> Result<SlackPayload, RenderError> {
        match &self.shaping.template {
            None => Ok(SlackPayload::Webhook(render::message(
                message,
                &self.overrides,
            ))),
            Some(template) => Ok(SlackPayload::Template(render::with_overrides(
                render::templated(template, message)?,
                &self.overrides,
            ))),
        }
    }

    fn mentions(&self, severity: Severity) -> &[Mention] {
        self.shaping.mentions.of(severity)
    }

    async fn deliver(
        &self,
        message: &Presentation<'_>,
        retry: &RetryPolicy,
        deadline: Instant,
    ) -> Result<Delivered, DeliveryFailure> {
        let payload = self.render(message)?;
        with_retries(retry, deadline, |timeout| self.post(&payload, timeout)).await
    }

    fn secrets(&self) -> Vec<String> {
        self.url.iter().map(|url| url.expose().to_owned()).collect()
    }
}

/// Reads the Slack function's whole configuration.
pub fn relay_from_env(env: &impl Env) -> Result<Relay<Slack>, ConfigError> {
    let settings = RelaySettings::from_env(env)?;
    if let Some(bot) = SlackBot::from_env(env)? {
        if env.var("SLACK_WEBHOOK_URL").is_some() {
            tracing::warn!(
                "SLACK_BOT_TOKEN is set: posting through the Web API; SLACK_WEBHOOK_URL is not used"
            );
        }
        return Ok(Relay::new(settings, Slack::Bot(Box::new(bot))));
    }
    let url = match env.var("SLACK_WEBHOOK_URL") {
        Some(raw) => Some(SecretUrl::parse("SLACK_WEBHOOK_URL", &raw)?),
        None if settings.dry_run => None,
        None => return Err(ConfigError::Missing("SLACK_WEBHOOK_URL")),
    };
    let overrides = Overrides {
        channel: env.var("SLACK_CHANNEL"),
        username: env.var("SLACK_USERNAME"),
        icon_emoji: env.var("SLACK_ICON_EMOJI"),
    };
    let client = http_client(Duration::from_secs(2), tls_roots(env)?)
        .map_err(|err| ConfigError::HttpClient(err.to_string()))?;
    let webhook = SlackWebhook::new(client, url, overrides)
        .with_shaping(Shaping::from_env(env, &shaping::SETTINGS)?);
    Ok(Relay::new(settings, Slack::Webhook(webhook)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn requires_a_webhook_unless_dry_run() {
        let env: HashMap<&str, &str> = [("ALLOW_UNAUTHENTICATED", "true")].into();
        assert_eq!(
            relay_from_env(&env).err(),
            Some(ConfigError::Missing("SLACK_WEBHOOK_URL"))
        );
        let env: HashMap<&str, &str> = [("ALLOW_UNAUTHENTICATED", "true"), ("DRY_RUN", "1")].into();
        assert!(relay_from_env(&env).is_ok());
    }

    #[test]
    fn refuses_a_plain_http_webhook() {
        let env: HashMap<&str, &str> = [
            ("ALLOW_UNAUTHENTICATED", "true"),
            ("SLACK_WEBHOOK_URL", "http://hooks.slack.com/services/x"),
        ]
        .into();
        assert_eq!(
            relay_from_env(&env).err(),
            Some(ConfigError::InsecureUrl("SLACK_WEBHOOK_URL"))
        );
    }
}
