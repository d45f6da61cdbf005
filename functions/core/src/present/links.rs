//! Links a deployment adds to every message (`LINKS`): the Grafana dashboard of this canary,
//! its logs. Each is a label and a URL whose `{placeholders}` are filled from the event, every
//! value percent-encoded so that it stays one URL component whatever it holds. A link whose
//! placeholder has no value in an event is left out of that message: never a half-filled URL.

use std::fmt::Write as _;

use crate::classify::Classification;
use crate::config::ConfigError;
use crate::notification::Notification;

use super::Link;

/// Teams shows at most six actions on a card; a seventh would be hidden.
pub const MAX_LINKS: usize = 6;
/// Slack's limit for a button's text.
pub const LABEL_LIMIT: usize = 75;
/// Slack's limit for a button's URL. A link that would be longer for an event is left out.
pub const URL_LIMIT: usize = 3000;

/// The placeholders every event can fill; any other name is looked up in the event's metadata
/// (an Alertmanager group's common labels).
pub const PLACEHOLDERS: [&str; 6] = [
    "namespace",
    "name",
    "checksum",
    "stage",
    "phase",
    "severity",
];

/// `LINKS`, parsed at cold start.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Links(Vec<LinkTemplate>);

#[derive(Debug, Clone, PartialEq, Eq)]
struct LinkTemplate {
    label: String,
    url: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Text(String),
    Placeholder(String),
}

impl Links {
    /// `Label=URL` pairs separated by `;`. The label ends at the first `=`, so URLs may carry
    /// query strings; a URL must be absolute `http(s)` once its placeholders are filled.
    pub fn parse(setting: &'static str, raw: &str) -> Result<Links, ConfigError> {
        let malformed = |problem: String| ConfigError::Malformed {
            name: setting,
            problem,
        };
        let mut links = Vec::new();
        for pair in raw
            .split(';')
            .map(str::trim)
            .filter(|pair| !pair.is_empty())
        {
            let Some((label, url)) = pair.split_once('=') else {
                return Err(malformed(format!(
                    "`{}` is not Label=URL",
                    crate::text::truncate(pair, 40)
                )));
            };
            let (label, url) = (label.trim(), url.trim());
            if label.is_empty() {
                return Err(malformed("a link has no label".into()));
            }
            if label.chars().count() > LABEL_LIMIT {
                return Err(malformed(format!(
                    "the label `{}` is longer than {LABEL_LIMIT} characters",
                    crate::text::truncate(label, 40)
                )));
            }
            // Labels reach JSON and chat markup as they are: nothing that would need escaping.
            if label
                .chars()
                .any(|c| c.is_control() || matches!(c, '"' | '\\'))
            {
                return Err(malformed(format!(
                    "the label `{label}` holds a quote, a backslash or a control character"
                )));
            }
            let parts =
                parse_url(url).map_err(|problem| malformed(format!("{label}: {problem}")))?;
            links.push(LinkTemplate {
                label: label.to_owned(),
                url: parts,
            });
        }
        if links.len() > MAX_LINKS {
            return Err(malformed(format!(
                "{} links; at most {MAX_LINKS} (Teams shows no more actions)",
                links.len()
            )));
        }
        Ok(Links(links))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The links of one event, in the configured order; those with a placeholder the event
    /// has no value for, or a URL too long for Slack, left out.
    pub fn resolve(
        &self,
        notification: &Notification,
        classification: &Classification,
    ) -> Vec<Link> {
        self.0
            .iter()
            .filter_map(|link| {
                let mut url = String::new();
                for part in &link.url {
                    match part {
                        Part::Text(text) => url.push_str(text),
                        Part::Placeholder(name) => {
                            let value = value(notification, classification, name)?;
                            percent_encode(value, &mut url);
                        }
                    }
                }
                (url.len() <= URL_LIMIT).then(|| Link {
                    label: link.label.clone(),
                    url,
                })
            })
            .collect()
    }
}

/// What a placeholder stands for in this event; an empty value counts as none.
fn value<'n>(
    notification: &'n Notification,
    classification: &Classification,
    name: &str,
) -> Option<&'n str> {
    let value = match (name, notification) {
        ("stage", _) => Some(classification.stage.as_str()),
        ("severity", _) => Some(classification.severity.as_str()),
        ("phase", _) => Some(notification.phase()),
        ("namespace", Notification::Canary(event)) => Some(event.namespace.as_str()),
        ("name", Notification::Canary(event)) => Some(event.name.as_str()),
        ("checksum", Notification::Canary(event)) => event.checksum.as_deref(),
        ("namespace", Notification::Alerts(group)) => group.canary().map(|(_, ns)| ns),
        ("name", Notification::Alerts(group)) => group.canary().map(|(name, _)| name),
        ("checksum", Notification::Alerts(_)) => None,
        (key, Notification::Canary(event)) => match key {
            "eventMessage" => event.metadata.event_message.as_deref(),
            "eventType" => event.metadata.event_type.as_ref().map(|kind| kind.as_str()),
            _ => event.metadata.user.get(key).map(String::as_str),
        },
        (key, Notification::Alerts(group)) => group.common_labels.get(key).map(String::as_str),
    };
    value.filter(|value| !value.is_empty())
}

/// Only the unreserved characters of RFC 3986 stay as they are, so a value can never end
/// the component it was put in (`&`, `#`, `/`, `?`) or leave the URL (spaces, quotes).
fn percent_encode(value: &str, url: &mut String) {
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            url.push(char::from(byte));
        } else {
            let _ = write!(url, "%{byte:02X}");
        }
    }
}

/// The literal text and the placeholders of a URL; checked as a URL with every placeholder
/// filled, so that a typo ends the cold start and not a message.
fn parse_url(url: &str) -> Result<Vec<Part>, String> {
    let mut parts = Vec::new();
    let mut text = String::new();
    let mut chars = url.chars();
    while let Some(c) = chars.next() {
        match c {
            '{' => {
                let mut name = String::new();
                loop {
                    match chars.next() {
                        Some('}') => break,
                        Some(c) if c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.') => {
                            name.push(c)
                        }
                        Some(_) => return Err(format!("a placeholder `{{{name}…` is not a name")),
                        None => return Err(format!("the placeholder `{{{name}` is not closed")),
                    }
                }
                if name.is_empty() {
                    return Err("an empty placeholder `{}`".into());
                }
                if !text.is_empty() {
                    parts.push(Part::Text(std::mem::take(&mut text)));
                }
                parts.push(Part::Placeholder(name));
            }
            '}' => return Err("a `}` without its `{`".into()),
            c if c.is_whitespace() || c.is_control() || matches!(c, '"' | '\\' | '<' | '>') => {
                return Err(format!("the URL holds {c:?}; percent-encode it"));
            }
            c => text.push(c),
        }
    }
    if !text.is_empty() {
        parts.push(Part::Text(text));
    }
    let filled: String = parts
        .iter()
        .map(|part| match part {
            Part::Text(text) => text.as_str(),
            Part::Placeholder(_) => "x",
        })
        .collect();
    match url::Url::parse(&filled) {
        Ok(parsed) if matches!(parsed.scheme(), "http" | "https") && parsed.host().is_some() => {
            Ok(parts)
        }
        Ok(_) => Err("the URL is not an absolute http(s) URL".into()),
        Err(err) => Err(format!("the URL does not parse: {err}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = "Dashboard=https://grafana.example.com/d/canary?var-ns={namespace}&var-canary={name};Logs=https://logs.example.com/?q={name}";

    fn notification(body: &str) -> (Notification, Classification) {
        let notification = Notification::from_slice(body.as_bytes()).unwrap();
        let classification = notification.classify();
        (notification, classification)
    }

    fn resolve(links: &str, body: &str) -> Vec<(String, String)> {
        let (n, c) = notification(body);
        Links::parse("LINKS", links)
            .unwrap()
            .resolve(&n, &c)
            .into_iter()
            .map(|link| (link.label, link.url))
            .collect()
    }

    const ADVANCE: &str = r#"{"name":"podinfo","namespace":"test","phase":"Progressing","checksum":"85d557f47b","metadata":{"cluster":"prod eu/1","eventMessage":"Advance podinfo.test canary weight 10","eventType":"Normal","timestamp":"1"}}"#;

    #[test]
    fn fills_placeholders_from_the_event() {
        assert_eq!(
            resolve(EXAMPLE, ADVANCE),
            [
                (
                    "Dashboard".to_owned(),
                    "https://grafana.example.com/d/canary?var-ns=test&var-canary=podinfo"
                        .to_owned()
                ),
                (
                    "Logs".to_owned(),
                    "https://logs.example.com/?q=podinfo".to_owned()
                ),
            ]
        );
        assert_eq!(
            resolve(
                "Run=https://ci.example/{cluster}/{checksum}?stage={stage}&s={severity}&p={phase}",
                ADVANCE
            ),
            [(
                "Run".to_owned(),
                "https://ci.example/prod%20eu%2F1/85d557f47b?stage=progress&s=info&p=Progressing"
                    .to_owned()
            )]
        );
    }

    #[test]
    fn encodes_values_so_they_cannot_leave_their_component() {
        let body =
            r#"{"name":"a&b=c#d?e/f","namespace":"\"<x>\" é","metadata":{"eventMessage":"m"}}"#;
        assert_eq!(
            resolve("X=https://x.example/?n={name}&ns={namespace}", body),
            [(
                "X".to_owned(),
                "https://x.example/?n=a%26b%3Dc%23d%3Fe%2Ff&ns=%22%3Cx%3E%22%20%C3%A9".to_owned()
            )]
        );
    }

    #[test]
    fn leaves_out_a_link_whose_placeholder_has_no_value() {
        let gating = r#"{"name":"podinfo","namespace":"test","phase":"","metadata":{}}"#;
        assert_eq!(
            resolve(
                "Rev=https://x.example/{checksum};Cluster=https://x.example/{cluster};Phase=https://x.example/{phase};Ok=https://x.example/{name}",
                gating
            ),
            [("Ok".to_owned(), "https://x.example/podinfo".to_owned())]
        );
        let long = format!(
            r#"{{"name":"{}","namespace":"test","metadata":{{}}}}"#,
            "n".repeat(URL_LIMIT)
        );
        assert!(resolve("X=https://x.example/{name}", &long).is_empty());
    }

    #[test]
    fn reads_an_alert_groups_canary_and_common_labels() {
        let body = std::fs::read_to_string(format!(
            "{}/../../events/alertmanager/canary-rollback-firing.json",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap();
        let links = resolve(
            "D=https://g.example/?ns={namespace}&c={name}&s={phase}&a={alertname};Rev=https://g.example/{checksum}",
            &body,
        );
        assert_eq!(
            links,
            [(
                "D".to_owned(),
                "https://g.example/?ns=test&c=podinfo&s=firing&a=canary_rollback".to_owned()
            )]
        );
    }

    #[test]
    fn refuses_a_malformed_setting_naming_it() {
        for (raw, problem) in [
            ("https://x.example/", "is not Label=URL"),
            ("=https://x.example/", "has no label"),
            ("A=https://x.example/{name", "is not closed"),
            ("A=https://x.example/{}", "empty placeholder"),
            ("A=https://x.example/name}", "without its"),
            ("A=https://x.example/{na me}", "is not a name"),
            ("A=ftp://x.example/", "not an absolute http(s) URL"),
            ("A=/relative/{name}", "does not parse"),
            ("A=https://x.example/a b", "percent-encode"),
            ("A\"b=https://x.example/", "quote"),
            (&"L=https://x.example/;".repeat(MAX_LINKS + 1), "at most 6"),
            (
                &format!("{}=https://x.example/", "l".repeat(LABEL_LIMIT + 1)),
                "longer than 75",
            ),
        ] {
            let err = Links::parse("LINKS", raw).unwrap_err().to_string();
            assert!(err.starts_with("LINKS is malformed: "), "{raw}: {err}");
            assert!(err.contains(problem), "{raw}: {err}");
        }
        assert_eq!(Links::parse("LINKS", " ; "), Ok(Links::default()));
    }
}
