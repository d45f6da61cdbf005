//! What a deployment adds to the Slack messages: mentions by severity (`SLACK_MENTIONS`) and its
//! own template (`SLACK_TEMPLATE`). Read once at cold start, in both webhook and bot mode.

use flagger_relay_core::present::{Mention, ShapingSettings};
use flagger_relay_core::template::{Markup, Output};

/// `SLACK_MENTIONS` and `SLACK_TEMPLATE`: the template writes Slack JSON, and event text in
/// it has Slack's entities escaped.
pub const SETTINGS: ShapingSettings = ShapingSettings {
    mentions: "SLACK_MENTIONS",
    read_mentions,
    template: "SLACK_TEMPLATE",
    output: Output::Json(Markup::SlackEntities),
    filters: &[],
};

/// `<!subteam^S0123ABC> <@U024BE7LH>`: Slack's own mention markup, one or more, separated by
/// spaces or commas. Only mentions are accepted (a user group, a user, `@here`, `@channel`,
/// `@everyone`), so that a setting cannot smuggle a link or anything that needs escaping.
pub fn read_mentions(targets: &str) -> Result<Vec<Mention>, String> {
    let mut mentions = Vec::new();
    let mut rest = targets.trim();
    while !rest.is_empty() {
        let Some(inner) = rest.strip_prefix('<') else {
            return Err(format!(
                "expected Slack mention markup such as <!subteam^S0123ABC>, <@U024BE7LH> or <!here>, found `{}`",
                flagger_relay_core::text::truncate(rest, 30)
            ));
        };
        let Some(end) = inner.find('>') else {
            return Err("a mention is not closed with `>`".into());
        };
        let markup = &inner[..end];
        if !is_mention(markup) {
            return Err(format!("<{markup}> is not a Slack mention"));
        }
        let markup = format!("<{markup}>");
        mentions.push(Mention {
            id: markup.clone(),
            name: markup.clone(),
            text: markup,
        });
        rest = inner[end + 1..].trim_start_matches([' ', '\t', ',']);
    }
    Ok(mentions)
}

/// `!here`, `!channel`, `!everyone`, `!subteam^ID` or `@ID`, optionally `|label`.
fn is_mention(markup: &str) -> bool {
    let (target, label) = match markup.split_once('|') {
        Some((target, label)) => (target, Some(label)),
        None => (markup, None),
    };
    let id = |id: &str| !id.is_empty() && id.bytes().all(|b| b.is_ascii_alphanumeric());
    let target_ok = match target {
        "!here" | "!channel" | "!everyone" => true,
        _ => match (target.strip_prefix("!subteam^"), target.strip_prefix('@')) {
            (Some(group), _) => id(group),
            (None, Some(user)) => id(user),
            (None, None) => false,
        },
    };
    let label_ok = label.is_none_or(|label| {
        !label.is_empty()
            && !label
                .chars()
                .any(|c| c.is_control() || matches!(c, '<' | '>' | '"' | '\\' | '&'))
    });
    target_ok && label_ok
}

#[cfg(test)]
mod tests {
    use super::*;
    use flagger_relay_core::present::Shaping;
    use std::collections::HashMap;

    #[test]
    fn reads_slack_mention_markup() {
        let mentions = read_mentions("<!subteam^S0123ABC|@oncall>, <@U024BE7LH>  <!here>").unwrap();
        let ids: Vec<&str> = mentions.iter().map(|m| m.text.as_str()).collect();
        assert_eq!(
            ids,
            ["<!subteam^S0123ABC|@oncall>", "<@U024BE7LH>", "<!here>"]
        );
    }

    #[test]
    fn refuses_what_is_not_a_mention() {
        for targets in [
            "@here",
            "<https://evil.example|click>",
            "<!subteam^>",
            "<@U1 >",
            "<!here",
            "<@U1|a\"b>",
            "<#C0123>",
        ] {
            assert!(read_mentions(targets).is_err(), "{targets}");
        }
    }

    #[test]
    fn a_malformed_setting_ends_the_cold_start_naming_it() {
        let env: HashMap<&str, &str> = [("SLACK_MENTIONS", "error=@oncall")].into();
        let err = Shaping::from_env(&env, &SETTINGS).unwrap_err().to_string();
        assert!(
            err.starts_with("SLACK_MENTIONS is malformed: error: "),
            "{err}"
        );
        let env: HashMap<&str, &str> = [("SLACK_TEMPLATE", "{\"text\": \"{{ title \"}")].into();
        let err = Shaping::from_env(&env, &SETTINGS).unwrap_err().to_string();
        assert!(
            err.starts_with("SLACK_TEMPLATE is malformed: syntax error at line 1, column"),
            "{err}"
        );
    }
}
