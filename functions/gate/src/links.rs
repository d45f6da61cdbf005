//! Teams approval links (opt-in, `TEAMS_APPROVAL_LINKS=true`): the prompt as an Adaptive Card
//! whose buttons open signed, expiring links to a confirmation page served by the gate; the
//! page's form `POST` records the decision.
//!
//! A link carries no identity: whoever holds it can decide, and the name on the form is what
//! they typed. That is why links are off by default. Opening a link changes nothing (Teams and
//! mail scanners open links to preview them); only the form's `POST` does.
//!
//! A link is `…/links/{approve|rollback}?rollout=…&revision=…&gate=…&expires=…&sig=…`, where
//! `sig` is the hex HMAC-SHA256, keyed with `APPROVAL_LINK_KEY`, of those values: one signature
//! per revision, gate and action, worthless after `expires` (epoch seconds) or for any other
//! revision.

use std::fmt;

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use flagger_relay_core::text::escape_entities;
use flagger_relay_teams::render::{
    AdaptiveCard, CardAction, CardElement, Container, ContainerStyle, Fact, FactSet, TextBlock,
    WorkflowsMessage, escape_markdown,
};

use crate::slack::{Target, hex, unhex};
use crate::state::{Action, Gate};

/// How long a link works: long enough for someone to get to it the same day.
pub const LINK_LIFETIME_SECS: i64 = 24 * 3600;

/// `APPROVAL_LINK_KEY`. Its `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct LinkKey(String);

impl LinkKey {
    /// At least 32 characters: the key is all that stands between a guessed link and a gate.
    pub fn parse(raw: &str) -> Option<Self> {
        let key = raw.trim();
        (key.len() >= 32).then(|| LinkKey(key.to_owned()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    fn mac(&self, action: Action, target: &Target, expires: i64) -> Vec<u8> {
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(self.0.as_bytes())
            .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
        // Newline-separated: none of the values can contain one (Kubernetes names, a hex
        // checksum, a gate name, a number), so no two links sign the same bytes.
        for part in [
            "flagger-relay-gate-link-v1",
            action.as_str(),
            &target.rollout,
            &target.revision,
            target.gate.as_str(),
            &expires.to_string(),
        ] {
            mac.update(part.as_bytes());
            mac.update(b"\n");
        }
        mac.finalize().into_bytes().to_vec()
    }
}

impl fmt::Debug for LinkKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("LinkKey(<redacted>)")
    }
}

/// A link's parameters, as signed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    pub action: Action,
    pub target: Target,
    /// Epoch seconds.
    pub expires: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LinkError {
    #[error("this link is incomplete or damaged")]
    Malformed,
    #[error(
        "this link has expired; use the buttons of a newer message, or ask for the decision another way"
    )]
    Expired,
    #[error("this link's signature does not match")]
    BadSignature,
}

impl Link {
    /// The link's path and query under the gate's base URL.
    pub fn path_and_query(&self, key: &LinkKey) -> String {
        let sig = hex(&key.mac(self.action, &self.target, self.expires));
        let query = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("rollout", &self.target.rollout)
            .append_pair("revision", &self.target.revision)
            .append_pair("gate", self.target.gate.as_str())
            .append_pair("expires", &self.expires.to_string())
            .append_pair("sig", &sig)
            .finish();
        format!("links/{}?{query}", self.action.as_str())
    }

    /// Reads and checks a link at `now` (epoch seconds): `action` from the path, the rest from
    /// the query.
    pub fn verify(key: &LinkKey, action: Action, query: &str, now: i64) -> Result<Link, LinkError> {
        let mut rollout = None;
        let mut revision = None;
        let mut gate = None;
        let mut expires = None;
        let mut sig = None;
        for (name, value) in url::form_urlencoded::parse(query.as_bytes()) {
            let slot = match name.as_ref() {
                "rollout" => &mut rollout,
                "revision" => &mut revision,
                "gate" => &mut gate,
                "expires" => &mut expires,
                "sig" => &mut sig,
                _ => continue,
            };
            if slot.replace(value.into_owned()).is_some() {
                return Err(LinkError::Malformed);
            }
        }
        let (Some(rollout), Some(revision), Some(gate), Some(expires), Some(sig)) =
            (rollout, revision, gate, expires, sig)
        else {
            return Err(LinkError::Malformed);
        };
        let gate = Gate::parse(&gate).ok_or(LinkError::Malformed)?;
        let expires: i64 = expires.parse().map_err(|_| LinkError::Malformed)?;
        let presented = unhex(&sig).ok_or(LinkError::Malformed)?;
        let link = Link {
            action,
            target: Target {
                rollout,
                revision,
                gate,
            },
            expires,
        };
        let expected = key.mac(action, &link.target, expires);
        if !bool::from(presented.ct_eq(&expected)) {
            return Err(LinkError::BadSignature);
        }
        if now > expires {
            return Err(LinkError::Expired);
        }
        Ok(link)
    }
}

/// The approval card for one gate: what waits, the facts, and a button per action.
pub fn card(
    title: &str,
    holding: &str,
    facts: &[(String, String)],
    links: &[(Action, String)],
) -> WorkflowsMessage {
    let banner = Container {
        style: ContainerStyle::Warning,
        bleed: true,
        items: vec![CardElement::TextBlock(TextBlock {
            text: escape_markdown(title),
            wrap: true,
            weight: Some("Bolder"),
            size: Some("Medium"),
            color: None,
            is_subtle: None,
            spacing: None,
        })],
    };
    let note = TextBlock {
        text: "Anyone who has this card can decide: the links carry no identity.".to_owned(),
        wrap: true,
        weight: None,
        size: Some("Small"),
        color: None,
        is_subtle: Some(true),
        spacing: None,
    };
    let body = vec![
        CardElement::Container(banner),
        CardElement::TextBlock(TextBlock {
            text: escape_markdown(holding),
            wrap: true,
            weight: None,
            size: None,
            color: None,
            is_subtle: None,
            spacing: None,
        }),
        CardElement::FactSet(FactSet {
            facts: facts
                .iter()
                .map(|(title, value)| Fact {
                    title: escape_markdown(title),
                    value: escape_markdown(value),
                })
                .collect(),
            separator: false,
            spacing: None,
        }),
        CardElement::TextBlock(note),
    ];
    let actions = links
        .iter()
        .map(|(action, url)| CardAction {
            style: Some(match action {
                Action::Approve => "positive",
                _ => "destructive",
            }),
            ..CardAction::open_url(
                match action {
                    Action::Approve => "Approve",
                    Action::Rollback => "Roll back",
                    Action::Hold => "Hold",
                }
                .to_owned(),
                url.clone(),
            )
        })
        .collect();
    let mut card = AdaptiveCard::new(body);
    card.actions = actions;
    WorkflowsMessage::new(card)
}

/// Text for an HTML page: entities and quotes, so it is inert in text and in attributes.
pub fn escape_html(text: &str) -> String {
    escape_entities(text)
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// A small self-contained page: no scripts, no outside resources.
pub fn page(title: &str, body_html: &str) -> String {
    format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex"><title>{title}</title>
<style>body{{font-family:system-ui,sans-serif;max-width:36rem;margin:3rem auto;padding:0 1rem;line-height:1.5}}
button{{font-size:1rem;padding:.5rem 1.2rem;margin-top:1rem}}input{{font-size:1rem;padding:.4rem;width:100%;box-sizing:border-box}}
.note{{color:#555;font-size:.9rem}}</style></head>
<body><h1>{title}</h1>
{body_html}
</body></html>
"#,
        title = escape_html(title)
    )
}

/// The confirmation page a link opens: what the decision is about, and the form that makes it.
pub fn confirmation_page(link: &Link, question: &str, facts: &[(String, String)]) -> String {
    let rows: String = facts
        .iter()
        .map(|(label, value)| {
            format!(
                "<tr><th align=\"left\">{}</th><td>{}</td></tr>",
                escape_html(label),
                escape_html(value)
            )
        })
        .collect();
    let verb = match link.action {
        Action::Approve => "Approve",
        Action::Rollback => "Roll back",
        Action::Hold => "Hold",
    };
    // An empty `action` posts the form back to this very URL, query and signature included.
    let body = format!(
        r#"<p>{question}</p>
<table>{rows}</table>
<form method="post" action="">
<label for="by">Your name (recorded with the decision; not verified)</label>
<input id="by" name="by" required maxlength="100" autocomplete="name">
<button type="submit">{verb}</button>
</form>
<p class="note">This link carries no identity: anyone who has it can decide. It expires at {expires}.</p>"#,
        question = escape_html(question),
        expires = escape_html(&crate::prompt::display_time(
            link.expires.saturating_mul(1000)
        )),
    );
    page(&format!("{verb}?"), &body)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> LinkKey {
        LinkKey::parse("0123456789abcdef0123456789abcdef").unwrap()
    }

    fn link() -> Link {
        Link {
            action: Action::Approve,
            target: Target {
                rollout: "test/podinfo".into(),
                revision: "bd5c8f7946".into(),
                gate: Gate::ConfirmPromotion,
            },
            expires: 2_000,
        }
    }

    fn query(link: &Link) -> String {
        let path = link.path_and_query(&key());
        path.split_once('?').unwrap().1.to_owned()
    }

    #[test]
    fn a_signed_link_verifies_until_it_expires() {
        let query = query(&link());
        assert_eq!(
            Link::verify(&key(), Action::Approve, &query, 1_999),
            Ok(link())
        );
        assert_eq!(
            Link::verify(&key(), Action::Approve, &query, 2_001),
            Err(LinkError::Expired)
        );
    }

    #[test]
    fn a_link_is_good_for_its_own_action_revision_and_gate_only() {
        let query = query(&link());
        assert_eq!(
            Link::verify(&key(), Action::Rollback, &query, 0),
            Err(LinkError::BadSignature)
        );
        for (from, to) in [
            ("bd5c8f7946", "7f8c5d9b6c"),
            ("confirm-promotion", "confirm-rollout"),
            ("expires=2000", "expires=9000"),
        ] {
            assert_eq!(
                Link::verify(&key(), Action::Approve, &query.replace(from, to), 0),
                Err(LinkError::BadSignature),
                "{from} → {to}"
            );
        }
        let other = LinkKey::parse("fedcba9876543210fedcba9876543210").unwrap();
        assert_eq!(
            Link::verify(&other, Action::Approve, &query, 0),
            Err(LinkError::BadSignature)
        );
        assert_eq!(
            Link::verify(&key(), Action::Approve, "rollout=a", 0),
            Err(LinkError::Malformed)
        );
    }

    #[test]
    fn pages_are_inert() {
        assert_eq!(
            escape_html(r#"<script>"x"</script>'"#),
            "&lt;script&gt;&quot;x&quot;&lt;/script&gt;&#39;"
        );
        let page = confirmation_page(
            &link(),
            "Approve the promotion?",
            &[("Cluster".into(), "<b>prod</b>".into())],
        );
        assert!(page.contains("&lt;b&gt;prod&lt;/b&gt;") && !page.contains("<script"));
    }

    #[test]
    fn never_shows_the_key_in_debug_output() {
        assert_eq!(format!("{:?}", key()), "LinkKey(<redacted>)");
        assert!(LinkKey::parse("too short").is_none());
    }
}
