//! Messages a deployment words itself: MiniJinja templates (`SLACK_TEMPLATE`, `TEAMS_TEMPLATE`,
//! `SNS_SUBJECT_TEMPLATE`, `SNS_EMAIL_TEMPLATE`), compiled once at cold start and rendered with
//! the [`Presentation`] of each event as their context. `docs/templates.md` is the reference
//! for template authors; it is generated from this code by a test.
//!
//! What a template cannot do, whatever an event holds:
//! - **break its JSON.** A template for Slack or Teams writes JSON. A string is written
//!   JSON-escaped without quotes, so it goes inside a string literal of the template
//!   (`"text": "{{ title }}"`) and holds the text exactly, quotes, backslashes, line breaks and
//!   `</script>` included (`<`, `>` and `&` as `\u003c`-style escapes). Any other value (a
//!   number, a list, `none`) is written as JSON; `|tojson` writes any value as one complete
//!   JSON value, quotes included (`"facts": {{ highlights|tojson }}`). The output is parsed
//!   before it is sent: a template that writes a value where a string literal was needed
//!   fails for that event, it never sends half a message.
//! - **make event text act in Slack.** In a Slack template, every string from the event has
//!   `&`, `<` and `>` written as entities, so `<!channel>` in a message stays text. What the
//!   deployment configured, `links` and `mentions` (and `mention`), is written as it is.
//! - **print nothing by mistake.** Undefined values are errors (MiniJinja's strict mode): a
//!   typo fails the event with the template's line, instead of an empty field. `is defined`
//!   tests for a key that may be absent.
//! - **run away.** A template gets a fixed budget of instructions per event.
//!
//! A template that fails for one event is a permanent failure of that event: it is parked in
//! the dead-letter queue with the template's error as the reason, and Flagger is answered 502.

use std::fmt::Write as _;

use minijinja::value::{Serde, Value, ValueKind};
use minijinja::{Environment, Error, ErrorKind, UndefinedBehavior, context};

use crate::config::{ConfigError, Env};
use crate::deliver::DeliveryFailure;
use crate::present::mentions::mention_text;
use crate::present::{Body, Presentation};

/// What a template writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    /// A JSON document whose texts are read as `Markup`.
    Json(Markup),
    /// Plain text (an email, a subject): values are written as text, `none` as nothing.
    Text,
}

/// How the destination reads the texts of a JSON template, and so what event text needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Markup {
    /// Texts shown as they are, or a markup the template escapes itself where it needs to
    /// (Teams: escaping its markdown everywhere would also break the URLs; the `markdown`
    /// filter escapes a text for a TextBlock).
    Plain,
    /// Slack's mrkdwn: `&`, `<` and `>` of event text become entities.
    SlackEntities,
}

/// A filter a destination adds to its templates (`markdown` for Teams), text in, text out.
pub type TextFilter = fn(&str) -> String;

/// Instructions a template may run for one event: far more than any message needs, and a
/// bound for a template that would loop for ever.
const FUEL: u64 = 200_000;

/// Every top-level name of the context, as [`context_document`] has them.
const CONTEXT_FIELDS: [&str; 27] = [
    "event",
    "subject",
    "headline",
    "title",
    "stage",
    "severity",
    "details",
    "highlights",
    "links",
    "mentions",
    "mention",
    "source",
    "name",
    "namespace",
    "phase",
    "revision",
    "time",
    "message",
    "metadata",
    "status",
    "canary",
    "firing",
    "resolved",
    "truncated_alerts",
    "receiver",
    "external_url",
    "alerts",
];

/// One compiled template. Boxed: an environment is large, and destinations keep an optional
/// template inline.
pub struct Template(Box<Compiled>);

struct Compiled {
    setting: &'static str,
    env: Environment<'static>,
    /// The context fields the template names: only these are built for an event, since
    /// building the whole context (the event above all) is most of what a render costs.
    fields: Vec<&'static str>,
}

impl std::fmt::Debug for Template {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Template")
            .field("setting", &self.0.setting)
            .finish_non_exhaustive()
    }
}

/// Why a template produced nothing for one event: the setting, and what went wrong where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{setting} could not render this event: {problem}")]
pub struct RenderError {
    pub setting: &'static str,
    pub problem: String,
}

impl RenderError {
    pub fn new(setting: &'static str, problem: impl Into<String>) -> Self {
        RenderError {
            setting,
            problem: problem.into(),
        }
    }
}

/// A message that could not be rendered is refused before any delivery attempt: sending it
/// again would fail the same way.
impl From<RenderError> for DeliveryFailure {
    fn from(err: RenderError) -> Self {
        DeliveryFailure::refused(err.to_string())
    }
}

impl Template {
    /// Compiles `source`; a syntax error names the setting, the line and the column.
    pub fn compile(
        setting: &'static str,
        source: &str,
        output: Output,
        filters: &[(&'static str, TextFilter)],
    ) -> Result<Template, ConfigError> {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        env.set_fuel(Some(FUEL));
        // Debug mode only costs when something is undefined, and then names what was.
        env.set_debug(true);
        match output {
            Output::Json(markup) => {
                env.set_formatter(move |out, _state, value| {
                    // Strings, nearly everything a template writes, go straight out.
                    match value.as_str() {
                        Some(text) if value.is_safe() => out.write_str(text)?,
                        Some(text) if value.kind() == ValueKind::String => {
                            escape_to(out, text, markup)?
                        }
                        _ => {
                            let mut text = String::new();
                            write_in_string(&mut text, value, markup)?;
                            out.write_str(&text)?;
                        }
                    }
                    Ok(())
                });
                env.add_filter("tojson", move |value: &Value| -> Result<Value, Error> {
                    let mut json = String::new();
                    write_json(&mut json, value, markup, false)?;
                    Ok(Value::from_safe_string(json))
                });
            }
            Output::Text => env.set_formatter(|out, _state, value| {
                if value.is_none() {
                    return Ok(());
                }
                match value.as_str() {
                    Some(text) => out.write_str(text),
                    None => write!(out, "{value}"),
                }
                .map_err(Error::from)
            }),
        }
        for &(name, filter) in filters {
            env.add_filter(name, move |text: &str| filter(text));
        }
        env.add_template_owned(setting, source.to_owned())
            .map_err(|err| ConfigError::Malformed {
                name: setting,
                problem: syntax_error(source, &err),
            })?;
        let named = env
            .get_template(setting)
            .map(|template| template.undeclared_variables(false))
            .unwrap_or_default();
        let fields = CONTEXT_FIELDS
            .into_iter()
            .filter(|field| named.contains(*field))
            .collect();
        Ok(Template(Box::new(Compiled {
            setting,
            env,
            fields,
        })))
    }

    /// The setting the template came from (`SLACK_TEMPLATE`).
    pub fn setting(&self) -> &'static str {
        self.0.setting
    }

    /// The template's output for one event.
    pub fn render(&self, message: &Presentation<'_>) -> Result<String, RenderError> {
        let Compiled {
            setting,
            env,
            fields,
        } = &*self.0;
        let template = env
            .get_template(setting)
            .map_err(|err| RenderError::new(setting, describe(&err)))?;
        template
            .render(context(message, fields))
            .map_err(|err| RenderError::new(setting, describe(&err)))
    }

    /// The output of a JSON template, parsed: the JSON object the destination takes.
    pub fn render_object(
        &self,
        message: &Presentation<'_>,
    ) -> Result<serde_json::Map<String, serde_json::Value>, RenderError> {
        self.parse_object(&self.render(message)?)
    }

    /// What a JSON template wrote, as the JSON object it must be.
    pub fn parse_object(
        &self,
        text: &str,
    ) -> Result<serde_json::Map<String, serde_json::Value>, RenderError> {
        match serde_json::from_str(text) {
            Ok(serde_json::Value::Object(object)) => Ok(object),
            Ok(_) => Err(RenderError::new(
                self.setting(),
                "the output is JSON but not an object",
            )),
            Err(err) => Err(RenderError::new(
                self.setting(),
                format!("the output is not valid JSON: {err}"),
            )),
        }
    }
}

/// Reads and compiles the template in `setting` when it is set (the value itself, or the SSM
/// parameter that `…_PARAMETER` names, fetched at cold start by [`crate::secrets::resolve`]).
pub fn from_env(
    env: &impl Env,
    setting: &'static str,
    output: Output,
    filters: &[(&'static str, TextFilter)],
) -> Result<Option<Template>, ConfigError> {
    env.var(setting)
        .map(|source| Template::compile(setting, &source, output, filters))
        .transpose()
}

/// What a template sees, as JSON: the presentation, plus `mention`. For documentation; the
/// values are the same in the template itself.
pub fn context_document(message: &Presentation<'_>) -> serde_json::Value {
    let mut document = serde_json::to_value(message).unwrap_or_default();
    if let serde_json::Value::Object(fields) = &mut document {
        fields.insert(
            "mention".into(),
            mention_text(&message.mentions, " ").into(),
        );
    }
    document
}

/// The named `fields` of the presentation, with what the deployment configured (links,
/// mentions) as safe strings, which escaping leaves as they are.
fn context(message: &Presentation<'_>, fields: &[&'static str]) -> Value {
    let context: std::collections::BTreeMap<&'static str, Value> = fields
        .iter()
        .filter_map(|&name| Some((name, field(message, name)?)))
        .collect();
    Value::from_object(context)
}

/// One field of the context, as [`context_document`] shows it; `None` for a field this kind
/// of notification does not have.
fn field(message: &Presentation<'_>, name: &str) -> Option<Value> {
    let safe = |text: &str| Value::from_safe_string(text.to_owned());
    Some(match name {
        "event" => Value::from(Serde(message.event)),
        "subject" => Value::from(message.subject.as_str()),
        "headline" => Value::from(message.headline),
        "title" => Value::from(message.title.as_str()),
        "stage" => Value::from(Serde(message.stage)),
        "severity" => Value::from(Serde(message.severity)),
        "details" => Value::from(Serde(message.details)),
        "highlights" => Value::from(Serde(&message.highlights)),
        "links" => message
            .links
            .iter()
            .map(|link| context! { label => safe(&link.label), url => safe(&link.url) })
            .collect(),
        "mentions" => message
            .mentions
            .iter()
            .map(|m| context! { id => safe(&m.id), name => safe(&m.name), text => safe(&m.text) })
            .collect(),
        "mention" => safe(&mention_text(&message.mentions, " ")),
        _ => return body_field(&message.body, name),
    })
}

fn body_field(body: &Body<'_>, name: &str) -> Option<Value> {
    Some(match (body, name) {
        (Body::Flagger(_), "source") => Value::from("flagger"),
        (Body::Flagger(canary), "name") => Value::from(canary.name),
        (Body::Flagger(canary), "namespace") => Value::from(canary.namespace),
        (Body::Flagger(canary), "phase") => Value::from(canary.phase),
        (Body::Flagger(canary), "revision") => Value::from(Serde(canary.revision)),
        (Body::Flagger(canary), "time") => Value::from(Serde(&canary.time)),
        (Body::Flagger(canary), "message") => Value::from(Serde(canary.message)),
        (Body::Flagger(canary), "metadata") => Value::from(Serde(canary.metadata)),
        (Body::Alertmanager(_), "source") => Value::from("alertmanager"),
        (Body::Alertmanager(alerts), "status") => Value::from(alerts.status),
        (Body::Alertmanager(alerts), "canary") => Value::from(Serde(alerts.canary)),
        (Body::Alertmanager(alerts), "firing") => Value::from(alerts.firing),
        (Body::Alertmanager(alerts), "resolved") => Value::from(alerts.resolved),
        (Body::Alertmanager(alerts), "truncated_alerts") => Value::from(alerts.truncated_alerts),
        (Body::Alertmanager(alerts), "receiver") => Value::from(alerts.receiver),
        (Body::Alertmanager(alerts), "external_url") => Value::from(Serde(alerts.external_url)),
        (Body::Alertmanager(alerts), "alerts") => Value::from(Serde(&alerts.alerts)),
        _ => return None,
    })
}

/// `{{ value }}` in a JSON template: a safe string as it is, a string's characters escaped for
/// a JSON string literal, anything else as JSON.
fn write_in_string(out: &mut String, value: &Value, markup: Markup) -> Result<(), Error> {
    // Strict mode fails on an undefined value before it is written; what still arrives is the
    // nothing of an `if` without `else` (`{{ "," if not loop.last }}`).
    if value.is_undefined() {
        return Ok(());
    }
    match value.as_str() {
        Some(text) if value.is_safe() => out.push_str(text),
        Some(text) if value.kind() == ValueKind::String => escape_into(out, text, markup),
        _ => write_json(out, value, markup, false)?,
    }
    Ok(())
}

/// `value` as one JSON value. Strings from the event are escaped for `markup`; safe strings
/// (what the deployment configured) only for JSON.
fn write_json(out: &mut String, value: &Value, markup: Markup, is_key: bool) -> Result<(), Error> {
    match value.kind() {
        ValueKind::Undefined => return Err(Error::from(ErrorKind::UndefinedError)),
        ValueKind::None => out.push_str("null"),
        ValueKind::Bool => out.push_str(if value.is_true() { "true" } else { "false" }),
        ValueKind::Number => match f64::try_from(value.clone()) {
            Ok(number) if !number.is_finite() => out.push_str("null"),
            _ => {
                let _ = write!(out, "{value}");
            }
        },
        ValueKind::String => {
            let text = value.as_str().unwrap_or_default();
            out.push('"');
            escape_into(
                out,
                text,
                if value.is_safe() && !is_key {
                    Markup::Plain
                } else {
                    markup
                },
            );
            out.push('"');
        }
        ValueKind::Map => {
            out.push('{');
            for (index, key) in value.try_iter()?.enumerate() {
                if index > 0 {
                    out.push(',');
                }
                let item = value.get_item(&key)?;
                match key.as_str() {
                    Some(_) => write_json(out, &key, markup, true)?,
                    None => write_json(out, &Value::from(key.to_string()), markup, true)?,
                }
                out.push(':');
                write_json(out, &item, markup, false)?;
            }
            out.push('}');
        }
        ValueKind::Seq | ValueKind::Iterable | ValueKind::Bytes => {
            out.push('[');
            for (index, item) in value.try_iter()?.enumerate() {
                if index > 0 {
                    out.push(',');
                }
                write_json(out, &item, markup, false)?;
            }
            out.push(']');
        }
        _ => {
            out.push('"');
            escape_into(out, &value.to_string(), markup);
            out.push('"');
        }
    }
    Ok(())
}

/// A text's characters as they go between the quotes of a JSON string.
fn escape_into(out: &mut String, text: &str, markup: Markup) {
    let _ = escape_to(out, text, markup);
}

/// [`escape_into`] for any writer: runs of characters that need nothing are written whole.
fn escape_to(out: &mut impl std::fmt::Write, text: &str, markup: Markup) -> std::fmt::Result {
    let mut plain = 0;
    for (at, c) in text.char_indices() {
        let escaped = match (c, markup) {
            ('&', Markup::SlackEntities) => Some("&amp;"),
            ('<', Markup::SlackEntities) => Some("&lt;"),
            ('>', Markup::SlackEntities) => Some("&gt;"),
            ('"', _) => Some("\\\""),
            ('\\', _) => Some("\\\\"),
            ('\n', _) => Some("\\n"),
            ('\r', _) => Some("\\r"),
            ('\t', _) => Some("\\t"),
            // Never `</script>` or an HTML entity in the output, whoever embeds it.
            ('<' | '>' | '&' | '\'' | '\u{2028}' | '\u{2029}', _) => None,
            (c, _) if u32::from(c) < 0x20 || c == '\u{7f}' => None,
            _ => continue,
        };
        out.write_str(&text[plain..at])?;
        match escaped {
            Some(escaped) => out.write_str(escaped)?,
            None => write!(out, "\\u{:04x}", u32::from(c))?,
        }
        plain = at + c.len_utf8();
    }
    out.write_str(&text[plain..])
}

/// `syntax error at line 3, column 12: unexpected end of input`.
fn syntax_error(source: &str, err: &Error) -> String {
    let column = err.range().and_then(|range| {
        let start = range.start.min(source.len());
        let line_start = source[..start].rfind('\n').map_or(0, |at| at + 1);
        source
            .get(line_start..start)
            .map(|before| before.chars().count() + 1)
    });
    let at = match (err.line(), column) {
        (Some(line), Some(column)) => format!(" at line {line}, column {column}"),
        (Some(line), None) => format!(" at line {line}"),
        _ => String::new(),
    };
    format!(
        "{}{at}: {}",
        err.kind(),
        err.detail().unwrap_or("no detail")
    )
}

/// `` `event.metadata.clster` is undefined, at line 3 ``.
fn describe(err: &Error) -> String {
    let mut text = match (err.kind(), err.detail()) {
        (ErrorKind::UndefinedError, Some(detail)) => detail.to_owned(),
        (kind, Some(detail)) => format!("{kind}: {detail}"),
        (kind, None) => kind.to_string(),
    };
    if let Some(line) = err.line() {
        let _ = write!(text, ", at line {line}");
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Notification;
    use crate::present::{Link, Mention};

    const HOSTILE: &str = r#"{"name":"podinfo","namespace":"test","phase":"Progressing","metadata":{"eventMessage":"say \"hi\" \\ <!channel> </script>\n\ttab & more \u2028","eventType":"Warning","timestamp":"1763996400137","cluster":"prod-eu"}}"#;

    fn render(source: &str, output: Output, body: &str) -> Result<String, RenderError> {
        let notification = Notification::from_slice(body.as_bytes()).unwrap();
        let classification = notification.classify();
        let message = Presentation::new(&notification, &classification)
            .with_links(vec![Link {
                label: "Dashboard".into(),
                url: "https://g.example/d?a=1&b=2".into(),
            }])
            .with_mentions(vec![Mention {
                id: "<!subteam^S0123ABC>".into(),
                name: "<!subteam^S0123ABC>".into(),
                text: "<!subteam^S0123ABC>".into(),
            }]);
        Template::compile("SLACK_TEMPLATE", source, output, &[])
            .unwrap()
            .render(&message)
    }

    fn message_of(json: &str) -> String {
        let value: serde_json::Value = serde_json::from_str(json).unwrap();
        value["text"].as_str().unwrap().to_owned()
    }

    const ORIGINAL: &str = "say \"hi\" \\ <!channel> </script>\n\ttab & more \u{2028}";

    #[test]
    fn json_holds_any_event_text_exactly() {
        for source in [
            r#"{"text": "{{ event.metadata.eventMessage }}"}"#,
            r#"{"text": {{ event.metadata.eventMessage|tojson }}}"#,
        ] {
            let json = render(source, Output::Json(Markup::Plain), HOSTILE).unwrap();
            assert!(!json.contains("</script>"), "{json}");
            assert_eq!(message_of(&json), ORIGINAL, "{source}");
        }
    }

    #[test]
    fn slack_event_text_becomes_entities_but_configured_markup_does_not() {
        let source = r#"{"text": "{{ mention }} {{ event.metadata.eventMessage }}", "url": "{{ links[0].url }}", "facts": {{ event.metadata|tojson }}, "m": {{ mentions|tojson }}}"#;
        let json = render(source, Output::Json(Markup::SlackEntities), HOSTILE).unwrap();
        let value: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(
            value["text"],
            "<!subteam^S0123ABC> say \"hi\" \\ &lt;!channel&gt; &lt;/script&gt;\n\ttab &amp; more \u{2028}"
        );
        assert_eq!(value["url"], "https://g.example/d?a=1&b=2");
        assert_eq!(value["facts"]["cluster"], "prod-eu");
        assert!(
            value["facts"]["eventMessage"]
                .as_str()
                .unwrap()
                .contains("&lt;!channel&gt;")
        );
        assert_eq!(value["m"][0]["id"], "<!subteam^S0123ABC>");
    }

    #[test]
    fn values_that_are_not_strings_are_written_as_json() {
        let source = r#"{"n": {{ highlights|length }}, "none": {{ body_revision }}, "stage": "{{ stage }}", "h": {{ highlights }}, "flag": {{ links|length > 0 }}}"#
            .replace("body_revision", "revision");
        let json = render(&source, Output::Json(Markup::Plain), HOSTILE).unwrap();
        let value: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(value["none"], serde_json::Value::Null);
        assert_eq!(value["flag"], true);
        assert!(value["h"].is_array());
        assert!(value["stage"].is_string());
    }

    #[test]
    fn undefined_values_fail_naming_what_and_where() {
        let err = render(
            "{\"text\": \"{{ title }}\",\n\"c\": \"{{ event.metadata.clster }}\"}",
            Output::Json(Markup::Plain),
            HOSTILE,
        )
        .unwrap_err();
        assert_eq!(err.setting, "SLACK_TEMPLATE");
        assert!(err.problem.contains("undefined"), "{err}");
        assert!(err.problem.contains("clster"), "{err}");
        assert!(err.problem.contains("line 2"), "{err}");
        let err = render("{% if event.checksum %}x{% endif %}", Output::Text, HOSTILE).unwrap_err();
        assert!(err.problem.contains("undefined"), "{err}");
        assert_eq!(
            render(
                "{% if event.checksum is defined %}x{% endif %}",
                Output::Text,
                HOSTILE
            ),
            Ok(String::new())
        );
    }

    /// The context is built field by field; what it holds must be what the presentation
    /// serializes to (which `docs/templates.md` documents), for every kind of notification.
    #[test]
    fn builds_every_field_as_the_presentation_serializes_it() {
        let alerts = std::fs::read_to_string(format!(
            "{}/../../events/alertmanager/canary-rollback-group.json",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap();
        let mut seen = std::collections::BTreeSet::new();
        for body in [
            HOSTILE,
            &alerts,
            r#"{"name":"a","namespace":"b","metadata":{}}"#,
        ] {
            let notification = Notification::from_slice(body.as_bytes()).unwrap();
            let classification = notification.classify();
            let message = Presentation::new(&notification, &classification)
                .with_links(vec![Link {
                    label: "L".into(),
                    url: "https://l.example/".into(),
                }])
                .with_mentions(vec![Mention {
                    id: "i".into(),
                    name: "n".into(),
                    text: "t".into(),
                }]);
            let serde_json::Value::Object(document) = context_document(&message) else {
                panic!("a map")
            };
            for (name, expected) in &document {
                let built = field(&message, name).unwrap_or_else(|| panic!("no field {name}"));
                assert_eq!(&serde_json::to_value(&built).unwrap(), expected, "{name}");
                assert!(CONTEXT_FIELDS.contains(&name.as_str()), "{name}");
                seen.insert(name.clone());
            }
            for name in CONTEXT_FIELDS {
                assert_eq!(
                    field(&message, name).is_some(),
                    document.contains_key(name),
                    "{name}"
                );
            }
        }
        assert_eq!(seen.len(), CONTEXT_FIELDS.len());
    }

    #[test]
    fn builds_only_the_fields_a_template_names() {
        let template = Template::compile(
            "SLACK_TEMPLATE",
            "{% set x = title %}{{ x }}{% for l in links %}{{ l.url }}{% endfor %}{{ range(2)|length }}{{ event.metadata.cluster }}",
            Output::Text,
            &[],
        )
        .unwrap();
        assert_eq!(template.0.fields, ["event", "title", "links"]);
    }

    #[test]
    fn a_syntax_error_names_the_setting_line_and_column() {
        let err = Template::compile(
            "TEAMS_TEMPLATE",
            "{\"a\": 1,\n  \"b\": \"{{ title }\"}",
            Output::Json(Markup::Plain),
            &[],
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.starts_with("TEAMS_TEMPLATE is malformed: syntax error at line 2, column "),
            "{err}"
        );
    }

    #[test]
    fn a_template_that_loops_for_ever_runs_out_of_fuel() {
        let err = render(
            "{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}",
            Output::Text,
            HOSTILE,
        )
        .unwrap_err();
        assert!(err.problem.contains("fuel"), "{err}");
    }

    #[test]
    fn text_templates_write_values_as_text() {
        assert_eq!(
            render(
                "{{ subject }} {{ stage }} {{ revision }}|{{ links[0].url }}",
                Output::Text,
                HOSTILE
            ),
            Ok("podinfo.test unknown |https://g.example/d?a=1&b=2".into())
        );
    }
}
