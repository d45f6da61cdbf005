//! What a deployment adds to a chat destination's messages: whom to mention at each severity,
//! and its own template. Read once at cold start; each destination names its settings.

use crate::config::{ConfigError, Env};
use crate::present::{Mention, Mentions};
use crate::template::{self, Output, Template, TextFilter};

/// A destination's mentions and template; neither by default.
#[derive(Debug, Default)]
pub struct Shaping {
    pub mentions: Mentions,
    pub template: Option<Template>,
}

/// Where a destination's shaping is configured, and how its settings read.
pub struct ShapingSettings {
    /// `severity=targets;…`, each `targets` read by `read_mentions`.
    pub mentions: &'static str,
    pub read_mentions: fn(&str) -> Result<Vec<Mention>, String>,
    /// The template, its output and the filters it may use beyond the built-in ones.
    pub template: &'static str,
    pub output: Output,
    pub filters: &'static [(&'static str, TextFilter)],
}

impl Shaping {
    pub fn from_env(env: &impl Env, settings: &ShapingSettings) -> Result<Shaping, ConfigError> {
        let mentions = match env.var(settings.mentions) {
            Some(raw) => Mentions::parse(settings.mentions, &raw, settings.read_mentions)?,
            None => Mentions::default(),
        };
        let template =
            template::from_env(env, settings.template, settings.output, settings.filters)?;
        Ok(Shaping { mentions, template })
    }
}
