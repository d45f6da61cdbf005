//! What a deployment adds to the Teams cards: mentions by severity (`TEAMS_MENTIONS`) and its
//! own template (`TEAMS_TEMPLATE`). Read once at cold start.

use flagger_relay_core::present::{Mention, ShapingSettings};
use flagger_relay_core::template::{Markup, Output};

use crate::render::escape_markdown;

/// `TEAMS_MENTIONS` and `TEAMS_TEMPLATE`. Teams' markdown is not escaped for the template (it
/// would break URLs too); `|markdown` escapes event text for a TextBlock.
pub const SETTINGS: ShapingSettings = ShapingSettings {
    mentions: "TEAMS_MENTIONS",
    read_mentions,
    template: "TEAMS_TEMPLATE",
    output: Output::Json(Markup::Plain),
    filters: &[("markdown", escape_markdown)],
};

/// `jane@contoso.com|Jane Doe, oncall@contoso.com|On-call`: who to mention, by UPN (or Entra
/// object id), and the name the card shows, one or more separated by commas. The name goes
/// into `<at>…</at>` exactly as the mention entity repeats it, so it may hold nothing that
/// markup or JSON would need escaped.
pub fn read_mentions(targets: &str) -> Result<Vec<Mention>, String> {
    targets
        .split(',')
        .map(str::trim)
        .filter(|target| !target.is_empty())
        .map(|target| {
            let Some((id, name)) = target.split_once('|') else {
                return Err(format!(
                    "`{}` is not UPN|Display Name",
                    flagger_relay_core::text::truncate(target, 40)
                ));
            };
            let (id, name) = (id.trim(), name.trim());
            if id.is_empty() || id.chars().any(|c| c.is_whitespace() || is_markup(c)) {
                return Err(format!("`{id}` is not a UPN or an object id"));
            }
            if name.is_empty() || name.chars().any(is_markup) {
                return Err(format!(
                    "the display name `{name}` is empty or holds <, >, &, a quote, a backslash or a control character"
                ));
            }
            Ok(Mention {
                id: id.to_owned(),
                name: name.to_owned(),
                text: format!("<at>{name}</at>"),
            })
        })
        .collect()
}

fn is_markup(c: char) -> bool {
    c.is_control() || matches!(c, '<' | '>' | '&' | '"' | '\\' | '|')
}

#[cfg(test)]
mod tests {
    use super::*;
    use flagger_relay_core::present::Shaping;
    use std::collections::HashMap;

    #[test]
    fn reads_upns_and_display_names() {
        let mentions =
            read_mentions("jane@contoso.com|Jane Doe, ops@contoso.com | On-call").unwrap();
        assert_eq!(
            mentions,
            [
                Mention {
                    id: "jane@contoso.com".into(),
                    name: "Jane Doe".into(),
                    text: "<at>Jane Doe</at>".into()
                },
                Mention {
                    id: "ops@contoso.com".into(),
                    name: "On-call".into(),
                    text: "<at>On-call</at>".into()
                },
            ]
        );
    }

    #[test]
    fn refuses_what_would_break_the_mention() {
        for targets in [
            "jane@contoso.com",
            "|Jane",
            "jane@contoso.com|",
            "jane doe@contoso.com|Jane",
            "jane@contoso.com|<b>Jane</b>",
            "jane@contoso.com|Jane \"JD\" Doe",
        ] {
            assert!(read_mentions(targets).is_err(), "{targets}");
        }
    }

    #[test]
    fn a_malformed_setting_ends_the_cold_start_naming_it() {
        let env: HashMap<&str, &str> = [("TEAMS_MENTIONS", "error=jane@contoso.com")].into();
        let err = Shaping::from_env(&env, &SETTINGS).unwrap_err().to_string();
        assert!(
            err.starts_with("TEAMS_MENTIONS is malformed: error: "),
            "{err}"
        );
    }
}
