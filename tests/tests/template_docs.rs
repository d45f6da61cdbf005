//! `docs/templates.md` is generated here, from the code: the settings, the context a template
//! sees (every field, with its type and an example from a real event), and the context of one
//! recorded event per stage. The test fails when the file is not what the code generates; run
//! it with `UPDATE_TEMPLATE_DOCS=1` to write it.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use flagger_relay_core::present::Links;
use flagger_relay_core::template::context_document;
use flagger_relay_core::{Notification, Presentation, Stage};
use flagger_relay_tests::{fixtures, root};
use serde_json::Value;

const LINKS: &str = "Dashboard=https://grafana.example.com/d/canary?var-ns={namespace}&var-canary={name};Revision=https://git.example.com/deploy/commit/{checksum}";
const MENTIONS: &str = "error=<!subteam^S0123ABC>;warning=<!here>";

/// Every field of the context, who has it, and what it is. A field the code adds without a
/// line here fails the test, and so does a line for a field that is gone.
const FIELDS: &[(&str, &str, &str)] = &[
    (
        "event",
        "all",
        "The payload exactly as it arrived: Flagger's `name`, `namespace`, `phase`, `checksum` (when sent) and `metadata` (`eventMessage`, `eventType`, `timestamp` and the canary's own keys), or Alertmanager's whole notification.",
    ),
    (
        "subject",
        "all",
        "Who it is about: `podinfo.test` (Flagger's own form), or the alert group's canary or alert name.",
    ),
    (
        "headline",
        "all",
        "What happened, in words, without the subject.",
    ),
    (
        "title",
        "all",
        "`subject: headline`, the line every built-in message leads with.",
    ),
    (
        "stage",
        "all",
        "Where the rollout is: one of the stages listed below. Read from the message, so it does not lag like `phase`.",
    ),
    ("severity", "all", "`info`, `warning` or `error`."),
    (
        "details",
        "all",
        "What the classifier read out of the message (weights, iteration, metric, hook, reason …), as the SNS document's `details`; keys only when the message carries them.",
    ),
    (
        "highlights",
        "all",
        "The values a reader acts on, in words, in the order the built-in messages show them.",
    ),
    (
        "highlights[].label",
        "all",
        "`Canary weight`, `Metric`, `Observed`, `Threshold`, `Waiting on`, `Hook error`, `Reason` …",
    ),
    (
        "highlights[].value",
        "all",
        "The value as shown: `▓▓▓░░░░░░░ 30%`, `< 99%`.",
    ),
    (
        "links",
        "all",
        "The links `LINKS` configures, filled from this event; a link whose placeholder has no value is left out. Written as they are.",
    ),
    ("links[].label", "all", "The link's label."),
    (
        "links[].url",
        "all",
        "The URL, every placeholder value percent-encoded.",
    ),
    (
        "mentions",
        "slack, teams",
        "Who the destination mentions at this severity (`SLACK_MENTIONS`, `TEAMS_MENTIONS`); empty for the others and for SNS. Written as they are.",
    ),
    (
        "mentions[].id",
        "slack, teams",
        "Slack's markup (`<!subteam^S0123ABC>`), or the Teams user's UPN.",
    ),
    (
        "mentions[].name",
        "slack, teams",
        "The Teams display name; the markup again in Slack.",
    ),
    (
        "mentions[].text",
        "slack, teams",
        "What the text carries: the Slack markup, or `<at>Display Name</at>` (Teams, which then adds the mention entity).",
    ),
    (
        "mention",
        "slack, teams",
        "Every `mentions[].text`, separated by spaces; `\"\"` when nobody is mentioned.",
    ),
    (
        "source",
        "all",
        "`flagger` or `alertmanager`: which of the fields below the context has.",
    ),
    ("name", "flagger", "The canary's name."),
    ("namespace", "flagger", "The canary's namespace."),
    (
        "phase",
        "flagger",
        "Flagger's phase, `(none)` for a canary it has not initialised yet. It lags the message: prefer `stage`.",
    ),
    (
        "revision",
        "flagger",
        "The canary's `checksum`, or `none` when Flagger sent none.",
    ),
    (
        "time",
        "flagger",
        "`metadata.timestamp` in UTC, `2025-11-24 16:05:00 UTC`; `none` without one.",
    ),
    (
        "message",
        "flagger",
        "Flagger's sentence (`metadata.eventMessage`); `none` for a gating-hook payload.",
    ),
    (
        "metadata",
        "flagger",
        "The canary's own metadata keys (a canary-level webhook's `metadata`), without Flagger's three.",
    ),
    (
        "status",
        "alertmanager",
        "`firing` or `resolved`: the group's status.",
    ),
    (
        "canary",
        "alertmanager",
        "`[name, namespace]` when every alert names the same canary; `none` otherwise.",
    ),
    (
        "firing",
        "alertmanager",
        "How many alerts of the group fire.",
    ),
    ("resolved", "alertmanager", "How many are resolved."),
    (
        "truncated_alerts",
        "alertmanager",
        "Alerts Alertmanager itself left out (`truncatedAlerts`).",
    ),
    ("receiver", "alertmanager", "The Alertmanager receiver."),
    (
        "external_url",
        "alertmanager",
        "Alertmanager's address; `none` when it sent none.",
    ),
    (
        "alerts",
        "alertmanager",
        "The alerts, in the order Alertmanager sent them.",
    ),
    ("alerts[].status", "alertmanager", "`firing` or `resolved`."),
    (
        "alerts[].subject",
        "alertmanager",
        "`podinfo.test` when the alert names a canary, else its alert name.",
    ),
    (
        "alerts[].summary",
        "alertmanager",
        "The `summary` annotation, or `none`.",
    ),
    (
        "alerts[].description",
        "alertmanager",
        "The `description` annotation, or `none`.",
    ),
    (
        "alerts[].starts_at",
        "alertmanager",
        "When it started, as Alertmanager wrote it.",
    ),
    (
        "alerts[].ends_at",
        "alertmanager",
        "When it ended, once it has; `none` while firing.",
    ),
    (
        "alerts[].source",
        "alertmanager",
        "The alert's source (Prometheus' graph), or `none`.",
    ),
];

/// Fields whose contents are the event's own, free-form: documented as a whole.
const FREE_FORM: [&str; 3] = ["event", "details", "metadata"];

const UNKNOWN: &str = r#"{"name":"podinfo","namespace":"test","phase":"Progressing","checksum":"7f8c5d9b6c","metadata":{"eventMessage":"Something a later Flagger says about podinfo.test","eventType":"Normal","timestamp":"1764000300959"}}"#;

/// A recorded event of every stage, in the order of [`Stage::ALL`], and the Alertmanager group.
fn examples() -> Vec<(String, Notification)> {
    let mut by_stage: BTreeMap<&'static str, (String, Notification)> = BTreeMap::new();
    for fixture in fixtures() {
        let notification = Notification::from_slice(&fixture.body).expect("a recorded event");
        let stage = notification.classify().stage.as_str();
        by_stage.entry(stage).or_insert((
            format!("events/flagger/{}.json", fixture.name),
            notification,
        ));
    }
    let mut examples: Vec<(String, Notification)> = Stage::ALL
        .iter()
        .map(|stage| {
            by_stage.remove(stage.as_str()).unwrap_or_else(|| {
                // Every sentence Flagger v1.44 sends is recognised, so none was recorded.
                assert_eq!(
                    *stage,
                    Stage::Unknown,
                    "no recorded event of stage {stage:?}"
                );
                let body = UNKNOWN.as_bytes();
                let notification = Notification::from_slice(body).expect("an event");
                (
                    "a sentence a later Flagger might send".to_owned(),
                    notification,
                )
            })
        })
        .collect();
    let file = "events/alertmanager/canary-rollback-firing.json";
    let body = std::fs::read(root().join(file)).expect("a recorded notification");
    examples.push((
        file.to_owned(),
        Notification::from_slice(&body).expect("an Alertmanager notification"),
    ));
    examples
}

/// The context of one example, with `LINKS` and Slack's mentions set as above.
fn context(notification: &Notification) -> Value {
    let classification = notification.classify();
    let links = Links::parse("LINKS", LINKS).expect("valid LINKS");
    let mentions = flagger_relay_core::present::Mentions::parse(
        "SLACK_MENTIONS",
        MENTIONS,
        flagger_relay_slack::shaping::read_mentions,
    )
    .expect("valid mentions");
    let message = Presentation::new(notification, &classification)
        .with_links(links.resolve(notification, &classification))
        .with_mentions(mentions.of(classification.severity).to_vec());
    context_document(&message)
}

/// Every path in a context, with the JSON types seen there and a first example value.
fn paths(value: &Value, path: &str, seen: &mut BTreeMap<String, (Vec<&'static str>, String)>) {
    // A list's items are documented by their fields.
    let item_of_fields = path.ends_with("[]") && value.is_object();
    if !path.is_empty() && !item_of_fields {
        let (kinds, example) = seen.entry(path.to_owned()).or_default();
        let kind = match value {
            Value::Null => "none",
            Value::Bool(_) => "boolean",
            Value::Number(_) => "number",
            Value::String(_) => "string",
            Value::Array(_) => "list",
            Value::Object(_) => "map",
        };
        if !kinds.contains(&kind) {
            kinds.push(kind);
        }
        if example.is_empty() && !matches!(value, Value::Null | Value::Array(_) | Value::Object(_))
        {
            *example = value.to_string();
        }
    }
    if FREE_FORM.contains(&path) {
        return;
    }
    match value {
        Value::Object(fields) => {
            for (key, field) in fields {
                let child = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                paths(field, &child, seen);
            }
        }
        Value::Array(items) if path != "canary" => {
            for item in items {
                paths(item, &format!("{path}[]"), seen);
            }
        }
        _ => {}
    }
}

fn document() -> String {
    let examples: Vec<(String, Notification, Value)> = examples()
        .into_iter()
        .map(|(file, notification)| {
            let context = context(&notification);
            (file, notification, context)
        })
        .collect();
    let mut seen = BTreeMap::new();
    for (_, _, context) in &examples {
        paths(context, "", &mut seen);
    }
    let documented: Vec<&str> = FIELDS.iter().map(|(path, _, _)| *path).collect();
    let undocumented: Vec<&String> = seen
        .keys()
        .filter(|path| !documented.contains(&path.as_str()))
        .collect();
    assert!(
        undocumented.is_empty(),
        "document these context fields in FIELDS: {undocumented:?}"
    );
    let gone: Vec<&&str> = documented
        .iter()
        .filter(|path| !seen.contains_key(**path))
        .collect();
    assert!(
        gone.is_empty(),
        "these fields are no longer in the context: {gone:?}"
    );

    let mut doc = String::new();
    doc.push_str(INTRO);
    doc.push_str("\n## Settings\n\n| template | setting | or the SSM parameter named in | what it writes |\n|---|---|---|---|\n");
    let settings = flagger_relay_slack::PARAMETERS
        .iter()
        .chain(flagger_relay_teams::PARAMETERS)
        .chain(flagger_relay_sns::PARAMETERS);
    for setting in settings {
        let (what, writes) = match setting.name {
            "SLACK_TEMPLATE" => (
                "Slack function",
                "the message (JSON): the webhook body, or in bot mode each event's message",
            ),
            "TEAMS_TEMPLATE" => (
                "Teams function",
                "an Adaptive Card, the Workflows message around one, or a MessageCard (JSON)",
            ),
            "SNS_SUBJECT_TEMPLATE" => ("SNS function", "the subject (text)"),
            "SNS_EMAIL_TEMPLATE" => ("SNS function", "the email subscribers' text (text)"),
            other => panic!("document the template setting {other}"),
        };
        let _ = writeln!(
            doc,
            "| {what} | `{}` | `{}` | {writes} |",
            setting.name, setting.reference
        );
    }
    doc.push_str(SETTINGS_NOTES);
    doc.push_str("\n## The context\n\nEvery template sees the same fields. `none` is a defined value (test it with `{% if revision %}`); a field marked *flagger* or *alertmanager* exists only when `source` says so, so test `source` first. Examples are from the recorded events below.\n\n| field | for | type | example | meaning |\n|---|---|---|---|---|\n");
    for (path, applies, meaning) in FIELDS {
        let (kinds, example) = &seen[*path];
        let example = if example.is_empty() {
            String::new()
        } else {
            format!(
                "`{}`",
                flagger_relay_core::text::truncate(example, 40).replace('|', "\\|")
            )
        };
        let _ = writeln!(
            doc,
            "| `{path}` | {applies} | {} | {example} | {meaning} |",
            kinds.join(" or ")
        );
    }
    doc.push_str(ESCAPING);
    doc.push_str("\n## One example per stage\n\nThe context of a recorded event of each stage, with `LINKS` and `SLACK_MENTIONS` set to\n\n```sh\n");
    let _ = writeln!(doc, "LINKS='{LINKS}'");
    let _ = writeln!(doc, "SLACK_MENTIONS='{MENTIONS}'");
    doc.push_str("```\n");
    for (file, notification, context) in &examples {
        let classification = notification.classify();
        let heading = match notification {
            Notification::Canary(_) => format!("`{}`", classification.stage.as_str()),
            Notification::Alerts(_) => "An Alertmanager notification".to_owned(),
        };
        let _ = writeln!(
            doc,
            "\n### {heading}\n\n<details><summary>{} ({file})</summary>\n\n```json\n{}\n```\n\n</details>",
            html_escape(&format!(
                "{}: {}",
                notification.subject(),
                classification.headline
            )),
            serde_json::to_string_pretty(context).expect("a context serializes")
        );
    }
    doc
}

fn html_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

const INTRO: &str = r#"# Message templates

<!-- Generated by tests/tests/template_docs.rs from the code; edit that file, then run
     UPDATE_TEMPLATE_DOCS=1 cargo test -p flagger-relay-tests --test template_docs -->

The built-in messages need no template. When a team wants its own wording, each destination
takes a [MiniJinja](https://docs.rs/minijinja) template (Jinja2's syntax), compiled once at
cold start: a syntax error ends the cold start with one log line naming the setting, the line
and the column. The examples in `examples/templates/` are rendered for every recorded event by
the tests:

- `slack.json.j2`: a compact Slack message with the mention, one line of facts and the links;
- `teams-card.json.j2`: a Teams Adaptive Card with a FactSet and a dashboard button;
- `email.txt.j2` and `subject.txt.j2`: the email and the subject SNS email subscribers get.

Links (`LINKS`) and mentions (`SLACK_MENTIONS`, `TEAMS_MENTIONS`) need no template: the
built-in messages show them, and templates find them in the context below.
"#;

const SETTINGS_NOTES: &str = r#"
Each template is given either inline, or as the name (`/flagger-relay/slack-template`) or ARN
of an SSM parameter, read once at cold start like the secrets: templates outgrow the 4 KB
Lambda gives all environment variables together. A `String` or a `SecureString` parameter
works; setting both forms is an error. The SNS document (`default`) is a contract and has no
template.

After templating the providers' limits still hold: Slack's texts are cut to their limits and
blocks past 50 left out; a Teams payload over 28 KB has its longest texts cut; an SNS subject
is made one line under 100 characters, and the email is cut to fit the message size.

A template that fails for one event (an undefined value, a filter error, output that is not
JSON) is a permanent failure of that event: it is parked in the dead-letter queue with the
template's error as the reason, and Flagger is answered 502. Nothing half-rendered is sent.
"#;

const ESCAPING: &str = r#"
## Writing JSON, and what escaping does

Slack and Teams templates write JSON, and an event's values cannot break it:

- A string is written JSON-escaped, **without quotes**: put it inside a string literal of the
  template, `"text": "{{ title }} ({{ stage }})"`. Quotes, backslashes, line breaks and
  `</script>` in event text come out as valid JSON holding the text exactly.
- Any other value (a number, `true`, `none`, a list, a map) is written as JSON:
  `"count": {{ firing }}`, `"facts": {{ highlights }}`.
- `|tojson` writes any value as one complete JSON value, quotes included:
  `"text": {{ message|tojson }}`.
- The output must parse as JSON; it is checked before it is sent.

What each destination adds:

- **Slack**: every string from the event has `&`, `<` and `>` written as `&amp;`, `&lt;`,
  `&gt;`, so that event text cannot mention anyone or open a link; Slack shows them as the
  characters. `links`, `mentions` and `mention` are the deployment's own and are written as
  they are: `"text": "{{ mention }} {{ title }}"` notifies. The output needs a `text`. The
  webhook overrides (`SLACK_CHANNEL` …) are added when the template does not set them; in
  bot mode the relay sets `channel` and the thread.
- **Teams**: nothing is escaped beyond JSON, so URLs stay intact; `|markdown` escapes event
  text for a TextBlock (`"text": "{{ message|markdown }}"`), so that it shows as written. A
  card the template writes gets an `msteams.entities` mention for each `<at>Name</at>` of
  `mention` it contains.
- **SNS**: templates write plain text; `none` writes nothing.

Strict mode: an undefined value is an error, so a typo fails the event instead of printing
nothing. Test a key that may be absent with `is defined`
(`{% if event.metadata.cluster is defined %}`). MiniJinja's filters, tests and functions are
available (`upper`, `default`, `join`, `urlencode`, `range` …; see its documentation), within a
fixed budget of instructions per event.
"#;

#[test]
fn docs_templates_md_is_what_the_code_generates() {
    let path = root().join("docs/templates.md");
    let generated = document();
    if std::env::var_os("UPDATE_TEMPLATE_DOCS").is_some() {
        std::fs::create_dir_all(root().join("docs")).expect("docs/ is writable");
        std::fs::write(&path, &generated).expect("docs/templates.md is writable");
        return;
    }
    let written = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        written == generated,
        "docs/templates.md is not what the code generates: run UPDATE_TEMPLATE_DOCS=1 cargo test -p flagger-relay-tests --test template_docs"
    );
}
