//! The gate's state in DynamoDB (`GATES_TABLE`): one item per canary, partition key `rollout`
//! (`namespace/name`), TTL attribute `expires_at`. Concurrent invocations share nothing else, so
//! every choice that must be made once (who posts a prompt, whose click decides) is a
//! conditional write here.
//!
//! An item holds one revision: `revision` (Flagger's checksum), `opened_at`, `metadata`, then
//! per gate `approved:<gate>` (who approved), `prompt:<gate>` (the message posted),
//! `claim:<gate>` and `lease:<gate>` (only while an invocation posts the prompt); `rollback`,
//! `held`, `rollback_hook` and the revision's `decisions`. A call with another checksum replaces
//! the whole item, so nothing decided for one revision can open a gate of the next.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use aws_config::SdkConfig;
use tokio::time::Instant;

pub use flagger_relay_core::table::TableError;
use flagger_relay_core::table::{AttributeValue, Expression, Item, Table, Update, n, number, s};

use crate::state::{
    Action, Claim, Decided, Decision, Gate, GateState, Prompt, SlackMessageRef, Via,
};

/// The partition key.
pub const KEY: &str = "rollout";

/// A canary waits for approval for days at most; a month after its last change its state is
/// only clutter. A call after that starts afresh and asks again.
const LIFETIME_SECS: i64 = 30 * 24 * 3600;

/// A table that does not answer promptly counts as unreadable: the gate stays closed rather
/// than keeping Flagger (or Slack, which waits 3 s) waiting.
const OPERATION_TIMEOUT: Duration = Duration::from_millis(2500);

/// A decision as written: what changes, and which rule decides whether it may.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub action: Action,
    /// The gates an approval opens; for a click, the prompt's gate.
    pub gates: Vec<Gate>,
    pub decided: Decided,
    pub rule: Rule,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    /// A prompt's button: recorded only while that gate's prompt is undecided, so that of two
    /// people clicking at once exactly one decides.
    FirstDecision(Gate),
    /// The decisions API: the caller's word replaces what was there.
    Override,
}

pub struct GateStore {
    table: Table,
}

impl GateStore {
    /// A store whose client takes its configuration from the environment when first used.
    pub fn new(table: String) -> Self {
        GateStore {
            table: Table::new(table, OPERATION_TIMEOUT),
        }
    }

    /// A store reached with the given SDK configuration (a local endpoint in tests).
    pub fn with_config(table: String, config: SdkConfig) -> Self {
        GateStore {
            table: Table::with_config(table, OPERATION_TIMEOUT, config),
        }
    }

    pub fn table(&self) -> &str {
        self.table.name()
    }

    /// The canary's state, read consistently: a decision a moment ago must be seen.
    pub async fn load(
        &self,
        rollout: &str,
        until: Instant,
    ) -> Result<Option<GateState>, TableError> {
        let Some(item) = self.table.get(KEY, rollout, until).await? else {
            return Ok(None);
        };
        state(&item).map(Some).ok_or_else(|| TableError {
            operation: "GetItem",
            reason: format!("item {rollout:?} is not a gate state"),
        })
    }

    /// Writes a fresh revision in place of the item that held `replacing` (or none). `false`:
    /// another invocation changed the item first; read it again.
    pub async fn start(
        &self,
        state: &GateState,
        replacing: Option<&str>,
        now: i64,
        until: Instant,
    ) -> Result<bool, TableError> {
        let mut item = HashMap::from([
            (KEY.to_owned(), s(&state.rollout)),
            ("revision".to_owned(), s(&state.revision)),
            ("opened_at".to_owned(), n(state.opened_at)),
            ("expires_at".to_owned(), n(expires_at(now))),
            ("metadata".to_owned(), string_map(&state.metadata)),
            (
                "rollback_hook".to_owned(),
                AttributeValue::Bool(state.rollback_hook),
            ),
            ("decisions".to_owned(), AttributeValue::L(Vec::new())),
        ]);
        item.retain(|_, value| !matches!(value, AttributeValue::M(map) if map.is_empty()));
        let condition = Expression::new(|p| match replacing {
            None => format!("attribute_not_exists({})", p.name(KEY)),
            Some(revision) => p.equals("revision", s(revision)),
        });
        self.table.put(item, condition, until).await
    }

    /// Claims the posting of `gate`'s prompt for `revision`: nobody posted it, and nobody holds
    /// a live claim. `false`: someone did, or does.
    pub async fn claim(
        &self,
        rollout: &str,
        revision: &str,
        gate: Gate,
        claim: &Claim,
        now: i64,
        until: Instant,
    ) -> Result<bool, TableError> {
        let mut update = Update::default();
        let (claim_name, lease_name) = (claim_attribute(gate), lease_attribute(gate));
        update.set(&claim_name, s(&claim.token));
        update.set(&lease_name, n(claim.lease_until));
        update.set("expires_at", n(expires_at(now)));
        let condition = format!(
            "{} AND attribute_not_exists({}) AND (attribute_not_exists({}) OR {} < {})",
            update.equals("revision", s(revision)),
            update.name(&prompt_attribute(gate)),
            update.name(&claim_name),
            update.name(&lease_name),
            update.value(n(now)),
        );
        self.update("claim the prompt", rollout, update, condition, until)
            .await
    }

    /// Records the posted prompt and lets go of the claim. `false`: the claim was no longer ours.
    pub async fn posted(
        &self,
        rollout: &str,
        revision: &str,
        gate: Gate,
        claim: &str,
        prompt: &Prompt,
        until: Instant,
    ) -> Result<bool, TableError> {
        let mut update = Update::default();
        update.set(&prompt_attribute(gate), prompt_value(prompt));
        update.remove(&claim_attribute(gate));
        update.remove(&lease_attribute(gate));
        let condition = format!(
            "{} AND {}",
            update.equals("revision", s(revision)),
            update.equals(&claim_attribute(gate), s(claim)),
        );
        self.update("record the prompt", rollout, update, condition, until)
            .await
    }

    /// Lets go of a claim whose prompt could not be posted, so that the next call posts it.
    pub async fn release(
        &self,
        rollout: &str,
        gate: Gate,
        claim: &str,
        until: Instant,
    ) -> Result<bool, TableError> {
        let mut update = Update::default();
        update.remove(&claim_attribute(gate));
        update.remove(&lease_attribute(gate));
        let condition = update.equals(&claim_attribute(gate), s(claim));
        self.update("release the claim", rollout, update, condition, until)
            .await
    }

    /// Notes that Flagger calls the rollback hook for this canary: Roll back buttons can work.
    pub async fn saw_rollback_hook(
        &self,
        rollout: &str,
        revision: &str,
        until: Instant,
    ) -> Result<bool, TableError> {
        let mut update = Update::default();
        update.set("rollback_hook", AttributeValue::Bool(true));
        let condition = update.equals("revision", s(revision));
        self.update("note the rollback hook", rollout, update, condition, until)
            .await
    }

    /// Records a decision for `revision`. `false`: the revision moved on, or (for a click)
    /// someone decided first; read the state again to say which.
    pub async fn decide(
        &self,
        rollout: &str,
        revision: &str,
        change: &Change,
        now: i64,
        until: Instant,
    ) -> Result<bool, TableError> {
        let mut update = Update::default();
        let decided = decided_value(&change.decided);
        match change.action {
            Action::Approve => {
                for gate in &change.gates {
                    update.set(&approved_attribute(*gate), decided.clone());
                }
                update.remove("held");
                if change.rule == Rule::Override {
                    update.remove("rollback");
                }
            }
            Action::Rollback => {
                update.set("rollback", decided.clone());
                update.remove("held");
            }
            Action::Hold => {
                update.set("held", decided.clone());
                for gate in Gate::ALL {
                    update.remove(&approved_attribute(gate));
                }
                update.remove("rollback");
            }
        }
        let entry = Decision {
            action: change.action,
            gates: change.gates.clone(),
            decided: change.decided.clone(),
        };
        let decisions = update.name("decisions");
        let appended = format!(
            "{decisions} = list_append(if_not_exists({decisions}, {}), {})",
            update.value(AttributeValue::L(Vec::new())),
            update.value(AttributeValue::L(vec![decision_value(&entry)])),
        );
        update.set_expression(appended);
        update.set("expires_at", n(expires_at(now)));
        let mut condition = update.equals("revision", s(revision));
        if let Rule::FirstDecision(gate) = change.rule {
            // Only the placeholders the condition uses: DynamoDB refuses unused ones.
            let approved = format!(
                "attribute_not_exists({})",
                update.name(&approved_attribute(gate))
            );
            let guard = match change.action {
                Action::Approve if gate.can_roll_back() => format!(
                    "{approved} AND attribute_not_exists({})",
                    update.name("rollback")
                ),
                Action::Approve => approved,
                Action::Rollback => format!(
                    "{approved} AND attribute_not_exists({})",
                    update.name("rollback")
                ),
                Action::Hold => approved,
            };
            condition.push_str(" AND ");
            condition.push_str(&guard);
        }
        self.update("record the decision", rollout, update, condition, until)
            .await
    }

    async fn update(
        &self,
        operation: &'static str,
        rollout: &str,
        update: Update,
        condition: String,
        until: Instant,
    ) -> Result<bool, TableError> {
        self.table
            .update(operation, KEY, rollout, update, condition, until)
            .await
    }
}

fn expires_at(now_ms: i64) -> i64 {
    now_ms / 1000 + LIFETIME_SECS
}

fn approved_attribute(gate: Gate) -> String {
    format!("approved:{gate}")
}

fn prompt_attribute(gate: Gate) -> String {
    format!("prompt:{gate}")
}

fn claim_attribute(gate: Gate) -> String {
    format!("claim:{gate}")
}

fn lease_attribute(gate: Gate) -> String {
    format!("lease:{gate}")
}

fn string_map(map: &BTreeMap<String, String>) -> AttributeValue {
    AttributeValue::M(map.iter().map(|(k, v)| (k.clone(), s(v))).collect())
}

fn decided_value(decided: &Decided) -> AttributeValue {
    AttributeValue::M(decided_map(decided))
}

fn decided_map(decided: &Decided) -> Item {
    let mut map = HashMap::from([
        ("by".to_owned(), s(&decided.by)),
        ("via".to_owned(), s(decided.via.as_str())),
        ("at".to_owned(), n(decided.at)),
    ]);
    if let Some(name) = &decided.name {
        map.insert("name".to_owned(), s(name));
    }
    map
}

fn decision_value(decision: &Decision) -> AttributeValue {
    let mut map = decided_map(&decision.decided);
    map.insert("action".to_owned(), s(decision.action.as_str()));
    if !decision.gates.is_empty() {
        map.insert(
            "gates".to_owned(),
            AttributeValue::L(decision.gates.iter().map(|g| s(g.as_str())).collect()),
        );
    }
    AttributeValue::M(map)
}

fn prompt_value(prompt: &Prompt) -> AttributeValue {
    let mut map = HashMap::from([
        ("since".to_owned(), n(prompt.since)),
        ("teams".to_owned(), AttributeValue::Bool(prompt.teams)),
        (
            "facts".to_owned(),
            AttributeValue::L(
                prompt
                    .facts
                    .iter()
                    .map(|(label, value)| AttributeValue::L(vec![s(label), s(value)]))
                    .collect(),
            ),
        ),
    ]);
    if let Some(slack) = &prompt.slack {
        map.insert("channel".to_owned(), s(&slack.channel));
        map.insert("ts".to_owned(), s(&slack.ts));
    }
    AttributeValue::M(map)
}

fn text(item: &Item, name: &str) -> Option<String> {
    flagger_relay_core::table::text(item, name).map(str::to_owned)
}

fn map<'i>(item: &'i Item, name: &str) -> Option<&'i Item> {
    item.get(name).and_then(|v| v.as_m().ok())
}

fn decided(map: &Item) -> Option<Decided> {
    Some(Decided {
        by: text(map, "by")?,
        name: text(map, "name"),
        via: Via::parse(&text(map, "via")?)?,
        at: number(map, "at")?,
    })
}

fn prompt(map: &Item) -> Option<Prompt> {
    let slack = match (text(map, "channel"), text(map, "ts")) {
        (Some(channel), Some(ts)) => Some(SlackMessageRef { channel, ts }),
        _ => None,
    };
    let facts = map
        .get("facts")
        .and_then(|v| v.as_l().ok())
        .map(|facts| {
            facts
                .iter()
                .filter_map(|fact| match fact.as_l().ok()?.as_slice() {
                    [AttributeValue::S(label), AttributeValue::S(value)] => {
                        Some((label.clone(), value.clone()))
                    }
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default();
    Some(Prompt {
        since: number(map, "since")?,
        slack,
        teams: map
            .get("teams")
            .and_then(|v| v.as_bool().ok())
            .copied()
            .unwrap_or(false),
        facts,
    })
}

fn state(item: &Item) -> Option<GateState> {
    let mut state = GateState {
        rollout: text(item, KEY)?,
        revision: text(item, "revision")?,
        opened_at: number(item, "opened_at").unwrap_or(0),
        metadata: map(item, "metadata")
            .map(|m| {
                m.iter()
                    .filter_map(|(k, v)| Some((k.clone(), v.as_s().ok()?.clone())))
                    .collect()
            })
            .unwrap_or_default(),
        rollback: map(item, "rollback").and_then(decided),
        held: map(item, "held").and_then(decided),
        rollback_hook: item
            .get("rollback_hook")
            .and_then(|v| v.as_bool().ok())
            .copied()
            .unwrap_or(false),
        ..GateState::default()
    };
    for gate in Gate::ALL {
        if let Some(decided) = map(item, &approved_attribute(gate)).and_then(decided) {
            state.approved.insert(gate, decided);
        }
        if let Some(prompt) = map(item, &prompt_attribute(gate)).and_then(prompt) {
            state.prompts.insert(gate, prompt);
        }
        if let (Some(token), Some(lease_until)) = (
            text(item, &claim_attribute(gate)),
            number(item, &lease_attribute(gate)),
        ) {
            state.claims.insert(gate, Claim { token, lease_until });
        }
    }
    state.decisions = item
        .get("decisions")
        .and_then(|v| v.as_l().ok())
        .map(|entries| {
            entries
                .iter()
                .filter_map(|entry| {
                    let entry = entry.as_m().ok()?;
                    Some(Decision {
                        action: Action::parse(&text(entry, "action")?)?,
                        gates: entry
                            .get("gates")
                            .and_then(|v| v.as_l().ok())
                            .map(|gates| {
                                gates
                                    .iter()
                                    .filter_map(|g| Gate::parse(g.as_s().ok()?))
                                    .collect()
                            })
                            .unwrap_or_default(),
                        decided: decided(entry)?,
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    Some(state)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alice() -> Decided {
        Decided {
            by: "U0ALICE".into(),
            name: Some("alice".into()),
            via: Via::Slack,
            at: 1_764_000_000_000,
        }
    }

    #[test]
    fn reads_back_what_it_writes() {
        let prompt = Prompt {
            since: 5,
            slack: Some(SlackMessageRef {
                channel: "C0RELAY".into(),
                ts: "1764000000.000100".into(),
            }),
            teams: true,
            facts: vec![("Phase".into(), "Progressing".into())],
        };
        let decision = Decision {
            action: Action::Approve,
            gates: vec![Gate::ConfirmPromotion],
            decided: alice(),
        };
        let mut item: Item = HashMap::from([
            (KEY.to_owned(), s("test/podinfo")),
            ("revision".to_owned(), s("bd5c8f7946")),
            ("opened_at".to_owned(), n(3)),
            (
                "metadata".to_owned(),
                string_map(&BTreeMap::from([("cluster".into(), "prod-eu".into())])),
            ),
            ("rollback_hook".to_owned(), AttributeValue::Bool(true)),
            (
                approved_attribute(Gate::ConfirmPromotion),
                decided_value(&alice()),
            ),
            (
                prompt_attribute(Gate::ConfirmPromotion),
                prompt_value(&prompt),
            ),
            (
                "decisions".to_owned(),
                AttributeValue::L(vec![decision_value(&decision)]),
            ),
        ]);
        item.insert(claim_attribute(Gate::ConfirmRollout), s("c1"));
        item.insert(lease_attribute(Gate::ConfirmRollout), n(9));
        let state = state(&item).unwrap();
        assert_eq!(state.rollout, "test/podinfo");
        assert_eq!(state.metadata["cluster"], "prod-eu");
        assert!(state.rollback_hook);
        assert_eq!(state.approved[&Gate::ConfirmPromotion], alice());
        assert_eq!(state.prompts[&Gate::ConfirmPromotion], prompt);
        assert_eq!(
            state.claims[&Gate::ConfirmRollout],
            Claim {
                token: "c1".into(),
                lease_until: 9
            }
        );
        assert_eq!(state.decisions, [decision]);
    }
}
