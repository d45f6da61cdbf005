//! What the gate knows about one canary, and what each of Flagger's gate calls is answered
//! from it. Pure: no clock, no I/O.
//!
//! The gate keeps one revision per canary: Flagger's `checksum`. Every decision belongs to that
//! revision and is forgotten when a call arrives with another one, so a new revision always
//! waits for a new approval.
//!
//! Within a revision each confirm gate is approved on its own. `confirm-rollout` needs that:
//! Flagger asks it *before* it records the new revision, so its `checksum` is the revision that
//! is running, the one whose promotion may have been approved a moment ago. An approval of one
//! gate therefore never opens another.

use std::collections::BTreeMap;
use std::fmt;

use flagger_relay_core::event::Phase;
use serde::{Deserialize, Serialize};

/// Flagger's gating webhooks that wait for a person, in Flagger's own names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Gate {
    /// Asked before a new revision starts; while closed the canary sits in `Waiting`.
    ConfirmRollout,
    /// Asked before each weight step.
    ConfirmTrafficIncrease,
    /// Asked before promotion; while closed the canary sits in `WaitingPromotion`.
    ConfirmPromotion,
}

impl Gate {
    pub const ALL: [Gate; 3] = [
        Gate::ConfirmRollout,
        Gate::ConfirmTrafficIncrease,
        Gate::ConfirmPromotion,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Gate::ConfirmRollout => "confirm-rollout",
            Gate::ConfirmTrafficIncrease => "confirm-traffic-increase",
            Gate::ConfirmPromotion => "confirm-promotion",
        }
    }

    pub fn parse(name: &str) -> Option<Gate> {
        Gate::ALL.into_iter().find(|gate| gate.as_str() == name)
    }

    /// What waits behind the gate, for people: "promotion".
    pub fn waits_for(self) -> &'static str {
        match self {
            Gate::ConfirmRollout => "rollout",
            Gate::ConfirmTrafficIncrease => "traffic increase",
            Gate::ConfirmPromotion => "promotion",
        }
    }

    /// A rollback is about a running analysis. Before a rollout starts there is nothing to roll
    /// back, and a rollback of the revision that is running does not hold up the next one.
    pub fn can_roll_back(self) -> bool {
        self != Gate::ConfirmRollout
    }
}

impl fmt::Display for Gate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A webhook Flagger calls on the gate: a confirm gate, or the `rollback` hook.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hook {
    Confirm(Gate),
    Rollback,
}

impl Hook {
    pub fn as_str(self) -> &'static str {
        match self {
            Hook::Confirm(gate) => gate.as_str(),
            Hook::Rollback => "rollback",
        }
    }
}

/// What a person (or a script) decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Open a confirm gate.
    Approve,
    /// Close the gates again, and withdraw a rollback Flagger has not acted on.
    Hold,
    /// Make the `rollback` hook answer yes: Flagger rolls the canary back.
    Rollback,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Approve => "approve",
            Action::Hold => "hold",
            Action::Rollback => "rollback",
        }
    }

    pub fn parse(name: &str) -> Option<Action> {
        [Action::Approve, Action::Hold, Action::Rollback]
            .into_iter()
            .find(|action| action.as_str() == name)
    }

    /// "approved", for sentences.
    pub fn past(self) -> &'static str {
        match self {
            Action::Approve => "approved",
            Action::Hold => "held",
            Action::Rollback => "rollback requested",
        }
    }
}

/// Where a decision came from, which also says how much its `by` can be trusted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Via {
    /// A button in Slack: `by` is the Slack user ID Slack vouched for.
    Slack,
    /// The decisions API: `by` is what the holder of the relay token wrote.
    Api,
    /// A signed link: `by` is what the person who opened it typed; a link carries no identity.
    Link,
}

impl Via {
    pub fn as_str(self) -> &'static str {
        match self {
            Via::Slack => "slack",
            Via::Api => "api",
            Via::Link => "link",
        }
    }

    pub fn parse(name: &str) -> Option<Via> {
        [Via::Slack, Via::Api, Via::Link]
            .into_iter()
            .find(|via| via.as_str() == name)
    }
}

/// Who decided, how, and when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Decided {
    /// A Slack user ID (`U0123ABCD`) for [`Via::Slack`]; free text otherwise.
    pub by: String,
    /// The Slack user name beside the ID, when Slack sent one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub via: Via,
    /// Epoch milliseconds.
    pub at: i64,
}

/// One entry of a revision's decision history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Decision {
    pub action: Action,
    /// The gates an approval opened; empty for a hold or a rollback.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub gates: Vec<Gate>,
    #[serde(flatten)]
    pub decided: Decided,
}

/// A prompt as posted: where its Slack message is, and what it showed beside the decision.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Prompt {
    /// Epoch ms of the gate's first closed call for this revision.
    pub since: i64,
    /// The Slack message (`channel`, `ts`), when one was posted.
    pub slack: Option<SlackMessageRef>,
    /// Whether an approval card went to Teams.
    pub teams: bool,
    /// The facts the message showed, so that an update shows the same.
    pub facts: Vec<(String, String)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlackMessageRef {
    pub channel: String,
    pub ts: String,
}

/// An invocation's right to post a gate's prompt, until `lease_until` (epoch ms).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    pub token: String,
    pub lease_until: i64,
}

/// Everything the gate holds for one canary: `namespace/name` at one revision.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GateState {
    /// `namespace/name`.
    pub rollout: String,
    /// Flagger's checksum the state belongs to.
    pub revision: String,
    /// Epoch ms of the first call for this revision.
    pub opened_at: i64,
    /// The user metadata of the canary's webhook (`cluster` …), shown in prompts.
    pub metadata: BTreeMap<String, String>,
    pub approved: BTreeMap<Gate, Decided>,
    pub rollback: Option<Decided>,
    /// The latest hold, shown on the prompts until the next approval.
    pub held: Option<Decided>,
    pub prompts: BTreeMap<Gate, Prompt>,
    pub claims: BTreeMap<Gate, Claim>,
    /// Flagger has called the `rollback` hook for this canary: a Roll back button can work.
    pub rollback_hook: bool,
    pub decisions: Vec<Decision>,
}

/// What a gate call is answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// 200: Flagger goes on (or, for the rollback hook, rolls back).
    Open(Decided),
    /// 403: Flagger asks again on its next tick.
    Closed(Closed),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Closed {
    /// Nobody has approved this gate for this revision.
    WaitingForApproval,
    /// A rollback was requested: the confirm gates of the revision stay closed.
    RollbackRequested(Decided),
    /// The rollback hook: nobody asked for a rollback.
    NoRollbackRequested,
    /// The rollback hook outside an analysis (phase `Waiting`: the next revision waits to
    /// start). A rollback asked for during the analysis of this revision was acted on, or is
    /// moot: answering it again would roll back the next rollout before it begins.
    NotAnalysing,
}

impl Closed {
    pub fn reason(&self) -> String {
        match self {
            Closed::WaitingForApproval => "waiting for approval".to_owned(),
            Closed::RollbackRequested(decided) => {
                format!("a rollback was requested by {}", describe(decided))
            }
            Closed::NoRollbackRequested => "no rollback requested".to_owned(),
            Closed::NotAnalysing => {
                "no analysis is running for this revision; a rollback applies to a running analysis"
                    .to_owned()
            }
        }
    }
}

/// `U0123ABCD via slack`, `ci-pipeline via api`: for logs and response bodies.
pub fn describe(decided: &Decided) -> String {
    match &decided.name {
        Some(name) => format!("{} ({name}) via {}", decided.by, decided.via.as_str()),
        None => format!("{} via {}", decided.by, decided.via.as_str()),
    }
}

impl GateState {
    /// A revision nobody has decided anything about yet.
    pub fn fresh(
        rollout: &str,
        revision: &str,
        metadata: BTreeMap<String, String>,
        rollback_hook: bool,
        now: i64,
    ) -> Self {
        GateState {
            rollout: rollout.to_owned(),
            revision: revision.to_owned(),
            opened_at: now,
            metadata,
            rollback_hook,
            ..GateState::default()
        }
    }

    /// The answer to `hook`, called by Flagger with the canary in `phase`.
    pub fn verdict(&self, hook: Hook, phase: &Phase) -> Verdict {
        match hook {
            Hook::Confirm(gate) => {
                if let (true, Some(rollback)) = (gate.can_roll_back(), &self.rollback) {
                    return Verdict::Closed(Closed::RollbackRequested(rollback.clone()));
                }
                match self.approved.get(&gate) {
                    Some(decided) => Verdict::Open(decided.clone()),
                    None => Verdict::Closed(Closed::WaitingForApproval),
                }
            }
            Hook::Rollback => match (&self.rollback, phase) {
                (None, _) => Verdict::Closed(Closed::NoRollbackRequested),
                (Some(_), Phase::Waiting) => Verdict::Closed(Closed::NotAnalysing),
                (Some(decided), _) => Verdict::Open(decided.clone()),
            },
        }
    }

    /// The gates Flagger has asked about for this revision: an approval through the API that
    /// names no gate opens these, and only these.
    pub fn waiting_gates(&self) -> Vec<Gate> {
        Gate::ALL
            .into_iter()
            .filter(|gate| self.prompts.contains_key(gate) || self.claims.contains_key(gate))
            .filter(|gate| !self.approved.contains_key(gate))
            .collect()
    }

    /// Where a prompt's message stands, for rendering it.
    pub fn status(&self, gate: Gate) -> PromptStatus<'_> {
        if let (true, Some(rollback)) = (gate.can_roll_back(), &self.rollback) {
            return PromptStatus::RollbackRequested(rollback);
        }
        match self.approved.get(&gate) {
            Some(decided) => PromptStatus::Approved(decided),
            None => PromptStatus::Waiting {
                held: self.held.as_ref(),
            },
        }
    }
}

/// What a prompt shows: buttons while it waits, the decision once there is one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PromptStatus<'s> {
    Waiting { held: Option<&'s Decided> },
    Approved(&'s Decided),
    RollbackRequested(&'s Decided),
}

impl PromptStatus<'_> {
    pub fn is_decided(&self) -> bool {
        !matches!(self, PromptStatus::Waiting { .. })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decided(by: &str) -> Decided {
        Decided {
            by: by.into(),
            name: None,
            via: Via::Slack,
            at: 1,
        }
    }

    fn state() -> GateState {
        GateState::fresh("test/podinfo", "bd5c8f7946", BTreeMap::new(), true, 0)
    }

    #[test]
    fn a_fresh_revision_is_closed_everywhere() {
        let state = state();
        for gate in Gate::ALL {
            assert_eq!(
                state.verdict(Hook::Confirm(gate), &Phase::Progressing),
                Verdict::Closed(Closed::WaitingForApproval)
            );
        }
        assert_eq!(
            state.verdict(Hook::Rollback, &Phase::Progressing),
            Verdict::Closed(Closed::NoRollbackRequested)
        );
    }

    #[test]
    fn an_approval_opens_its_own_gate_only() {
        let mut state = state();
        state.approved.insert(Gate::ConfirmPromotion, decided("U1"));
        assert_eq!(
            state.verdict(Hook::Confirm(Gate::ConfirmPromotion), &Phase::Progressing),
            Verdict::Open(decided("U1"))
        );
        assert!(matches!(
            state.verdict(Hook::Confirm(Gate::ConfirmRollout), &Phase::Progressing),
            Verdict::Closed(Closed::WaitingForApproval)
        ));
    }

    #[test]
    fn a_rollback_closes_the_analysis_gates_but_not_the_next_rollout() {
        let mut state = state();
        for gate in Gate::ALL {
            state.approved.insert(gate, decided("U1"));
        }
        state.rollback = Some(decided("U2"));
        assert_eq!(
            state.verdict(Hook::Confirm(Gate::ConfirmPromotion), &Phase::Progressing),
            Verdict::Closed(Closed::RollbackRequested(decided("U2")))
        );
        assert_eq!(
            state.verdict(Hook::Confirm(Gate::ConfirmRollout), &Phase::Failed),
            Verdict::Open(decided("U1"))
        );
        assert_eq!(
            state.verdict(Hook::Rollback, &Phase::WaitingPromotion),
            Verdict::Open(decided("U2"))
        );
        assert_eq!(
            state.verdict(Hook::Rollback, &Phase::Waiting),
            Verdict::Closed(Closed::NotAnalysing)
        );
    }

    #[test]
    fn waiting_gates_are_those_asked_and_not_yet_approved() {
        let mut state = state();
        state
            .prompts
            .insert(Gate::ConfirmTrafficIncrease, Prompt::default());
        state
            .prompts
            .insert(Gate::ConfirmPromotion, Prompt::default());
        state
            .approved
            .insert(Gate::ConfirmTrafficIncrease, decided("U1"));
        assert_eq!(state.waiting_gates(), [Gate::ConfirmPromotion]);
    }

    #[test]
    fn names_round_trip() {
        for gate in Gate::ALL {
            assert_eq!(Gate::parse(gate.as_str()), Some(gate));
        }
        for action in ["approve", "hold", "rollback"] {
            assert_eq!(Action::parse(action).map(Action::as_str), Some(action));
        }
        assert_eq!(Action::parse("promote"), None);
    }
}
