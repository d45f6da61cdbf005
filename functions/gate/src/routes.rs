//! The gate's routes, from the request path. Flagger's body says nothing about which hook
//! called, so the URL must.

use crate::state::{Action, Gate, Hook};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// `POST /confirm-rollout`, `/confirm-traffic-increase`, `/confirm-promotion`, `/rollback`.
    Hook(Hook),
    /// `POST /slack/interactions`: Slack's interactivity Request URL.
    Interactions,
    /// `GET` or `POST /decisions/{namespace}/{name}`.
    Decisions {
        namespace: String,
        name: String,
    },
    /// `GET` (the confirmation page) or `POST` (the decision) `/links/{approve|rollback}`.
    Link(Action),
    NotFound(String),
}

/// What the gate answers, for a 404 that helps.
pub const ROUTES: &str = "POST /confirm-rollout, /confirm-traffic-increase, /confirm-promotion, /rollback, /slack/interactions; GET or POST /decisions/{namespace}/{name}";

pub fn route(path: &str) -> Route {
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let not_found = || Route::NotFound(flagger_relay_core::text::truncate(path, 100).into_owned());
    match segments.as_slice() {
        ["rollback"] => Route::Hook(Hook::Rollback),
        [gate] => Gate::parse(gate).map_or_else(not_found, |gate| Route::Hook(Hook::Confirm(gate))),
        ["slack", "interactions"] => Route::Interactions,
        ["decisions", namespace, name] if is_name(namespace) && is_name(name) => Route::Decisions {
            namespace: (*namespace).to_owned(),
            name: (*name).to_owned(),
        },
        ["links", "approve"] => Route::Link(Action::Approve),
        ["links", "rollback"] => Route::Link(Action::Rollback),
        _ => not_found(),
    }
}

/// A Kubernetes object name (RFC 1123 subdomain): what a canary and its namespace are called.
fn is_name(segment: &str) -> bool {
    !segment.is_empty()
        && segment.len() <= 253
        && segment
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_flaggers_hooks_slack_and_the_api() {
        assert_eq!(
            route("/confirm-promotion"),
            Route::Hook(Hook::Confirm(Gate::ConfirmPromotion))
        );
        assert_eq!(route("/rollback/"), Route::Hook(Hook::Rollback));
        assert_eq!(route("/slack/interactions"), Route::Interactions);
        assert_eq!(
            route("/decisions/test/podinfo"),
            Route::Decisions {
                namespace: "test".into(),
                name: "podinfo".into()
            }
        );
        assert_eq!(route("/links/approve"), Route::Link(Action::Approve));
    }

    #[test]
    fn refuses_what_is_not_a_route() {
        for path in [
            "/",
            "/gate/open",
            "/decisions/test",
            "/decisions/Test/x",
            "/links/hold",
        ] {
            assert!(matches!(route(path), Route::NotFound(_)), "{path}");
        }
    }
}
