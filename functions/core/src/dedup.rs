//! Flagger's own retries do not duplicate messages. Flagger resends the identical body after a
//! timeout or a 5xx, so a slow destination would otherwise get every event twice. With
//! `DEDUP_TABLE` (DynamoDB: partition key `id`, String; TTL attribute `expires_at`), the same
//! raw body for the same destination within [`WINDOW`] is delivered once.
//!
//! One item per body and destination, `id` = SHA-256 of both, claimed before anything is sent:
//!
//! ```text
//!   no item (or expired) ──PutItem if absent──▶ delivering (claim, lease) ──sent──▶ delivered
//!        │ lost: another copy holds it            │ failed and parked ──▶ parked
//!        ▼                                        │ failed, not parked: the claim is deleted,
//!   duplicate: 200, nothing sent                  │ so that Flagger's retry is sent again
//!   (parked: the first copy's status, nothing sent)▼
//!                        a claim whose invocation died (lease over) may be taken over
//! ```
//!
//! A parked body stays claimed: the dead-letter queue holds it and redrive will send it, so
//! Flagger's retries are answered with the first copy's status at once instead of each trying
//! (and under throttling, each holding an instance) again, and a redrive never posts a second
//! copy that a retry already got through.
//!
//! The table is an optimisation of what Flagger sees, never a gate on delivery: when it cannot
//! be reached in time, the event is delivered and the skip is logged.

use std::fmt::Write as _;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_config::SdkConfig;
use sha2::{Digest, Sha256};
use tokio::time::Instant;

use crate::table::{Expression, Item, Table, Update, n, number, s, text};

/// How long a body counts as already sent: Flagger's retries come within seconds to minutes.
pub const WINDOW: Duration = Duration::from_secs(15 * 60);
/// What the table may take before delivery goes ahead without it.
const TABLE_BUDGET: Duration = Duration::from_millis(1500);
/// What settling a claim after the delivery may take, out of the time kept for answering.
const SETTLE_BUDGET: Duration = Duration::from_millis(500);
/// A claim outlives its invocation's deadline by this much before another copy may take over.
const LEASE_GRACE: Duration = Duration::from_secs(5);
/// The partition key.
const KEY: &str = "id";

/// What the table says about one copy of a body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// This copy is the first (or the earlier one failed): send it, then settle the claim.
    Won(Ticket),
    /// Another copy was delivered, or is being delivered, within the window: send nothing.
    Duplicate,
    /// An earlier copy failed and was parked in the dead-letter queue, answered with this
    /// status: send nothing; redrive sends it.
    Parked { status: u16 },
    /// The table could not say: send it anyway.
    Skipped(String),
}

/// A won claim, to settle after the delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ticket {
    id: String,
    claim: String,
}

/// The deduplication table (`DEDUP_TABLE`). Its client is built on first use.
pub struct Dedup {
    table: Table,
}

impl Dedup {
    pub fn new(table: String) -> Self {
        Dedup {
            table: Table::new(table, TABLE_BUDGET),
        }
    }

    /// A table reached with the given SDK configuration (a local endpoint in tests).
    pub fn with_config(table: String, config: SdkConfig) -> Self {
        Dedup {
            table: Table::with_config(table, TABLE_BUDGET, config),
        }
    }

    pub fn table(&self) -> &str {
        self.table.name()
    }

    /// Claims `body` for `destination`, holding the claim until `deadline` (plus a grace) in
    /// case this invocation dies while sending.
    pub async fn claim(&self, destination: &str, body: &[u8], deadline: Instant) -> Claim {
        let id = key(destination, body);
        let claim = claim_token();
        let now = now_ms();
        let lease = now + millis(deadline.saturating_duration_since(Instant::now()) + LEASE_GRACE);
        let expires_at = (now + millis(WINDOW)) / 1000;
        let item = Item::from([
            (KEY.to_owned(), s(&id)),
            ("claim".to_owned(), s(&claim)),
            ("state".to_owned(), s("delivering")),
            ("lease_until".to_owned(), n(lease)),
            ("expires_at".to_owned(), n(expires_at)),
        ]);
        // Free when absent, expired (TTL deletes late), or held by an invocation whose lease
        // ran out before it settled.
        let free = Expression::new(|p| {
            format!(
                "attribute_not_exists({}) OR {} < {} OR ({} AND {} < {})",
                p.name(KEY),
                p.name("expires_at"),
                p.value(n(now / 1000)),
                p.equals("state", s("delivering")),
                p.name("lease_until"),
                p.value(n(now)),
            )
        });
        match self
            .table
            .put(item, free, Instant::now() + TABLE_BUDGET)
            .await
        {
            Ok(true) => Claim::Won(Ticket { id, claim }),
            Ok(false) => self.held_by(&id).await,
            Err(err) => Claim::Skipped(err.to_string()),
        }
    }

    /// What holds a body another copy claimed: a delivery (done or under way), or a parked
    /// failure.
    async fn held_by(&self, id: &str) -> Claim {
        let item = match self
            .table
            .get(KEY, id, Instant::now() + SETTLE_BUDGET)
            .await
        {
            Ok(item) => item.unwrap_or_default(),
            // Claimed, whatever else: not sent twice.
            Err(_) => return Claim::Duplicate,
        };
        match text(&item, "state") {
            Some("parked") => Claim::Parked {
                status: number(&item, "status")
                    .and_then(|status| u16::try_from(status).ok())
                    .unwrap_or(503),
            },
            _ => Claim::Duplicate,
        }
    }

    /// The body did not go out but is parked, answered with `status`: later copies within the
    /// window get that answer and send nothing; redrive sends it.
    pub async fn parked(&self, ticket: &Ticket, status: u16) {
        let mut update = Update::default();
        update.set("state", s("parked"));
        update.set("status", n(i64::from(status)));
        update.remove("lease_until");
        if let Err(err) = self.settle("mark parked", ticket, update).await {
            // Until its lease ends the claim still turns copies away; after it, one is sent.
            tracing::warn!(table = %self.table(), error = %err.reason, "could not mark the event parked in the dedup table");
        }
    }

    /// The body went out: later copies within the window are duplicates.
    pub async fn delivered(&self, ticket: &Ticket) {
        let mut update = Update::default();
        update.set("state", s("delivered"));
        update.remove("lease_until");
        if let Err(err) = self.settle("mark delivered", ticket, update).await {
            // The claim stays "delivering" until its lease ends: a retry in between is still
            // answered as a duplicate, one after it is sent again.
            tracing::warn!(table = %self.table(), error = %err.reason, "could not mark the event delivered in the dedup table");
        }
    }

    /// The body did not go out: let the next copy (Flagger's retry) be sent.
    pub async fn release(&self, ticket: &Ticket) {
        let ours = Expression::new(|p| p.equals("claim", s(&ticket.claim)));
        if let Err(err) = self
            .table
            .delete(KEY, &ticket.id, ours, Instant::now() + SETTLE_BUDGET)
            .await
        {
            tracing::warn!(table = %self.table(), error = %err.reason, "could not release the dedup claim; a retry is sent once its lease ends");
        }
    }

    /// Applies `update` to the ticket's item while the claim is still this ticket's. A claim
    /// taken over by another copy is that copy's to settle.
    async fn settle(
        &self,
        operation: &'static str,
        ticket: &Ticket,
        mut update: Update,
    ) -> Result<bool, crate::table::TableError> {
        let ours = update.equals("claim", s(&ticket.claim));
        self.table
            .update(
                operation,
                KEY,
                &ticket.id,
                update,
                ours,
                Instant::now() + SETTLE_BUDGET,
            )
            .await
    }
}

/// The item id of `body` for `destination`: neither is readable from it.
pub fn key(destination: &str, body: &[u8]) -> String {
    let mut hash = Sha256::new();
    hash.update(destination.as_bytes());
    hash.update([0]);
    hash.update(body);
    hash.finalize()
        .iter()
        .fold(String::with_capacity(64), |mut hex, byte| {
            let _ = write!(hex, "{byte:02x}");
            hex
        })
}

fn claim_token() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(NEXT.fetch_add(1, Ordering::Relaxed));
    hasher.write_u128(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos(),
    );
    format!("{:016x}", hasher.finish())
}

fn now_ms() -> i64 {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(since.as_millis()).unwrap_or(i64::MAX)
}

fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_body_has_one_key_per_destination() {
        let body = br#"{"name":"podinfo"}"#;
        assert_eq!(key("slack", body), key("slack", body));
        assert_ne!(key("slack", body), key("teams", body));
        assert_ne!(key("slack", body), key("slack", b"{\"name\":\"podinfo\"} "));
        assert_eq!(key("slack", body).len(), 64);
        // The destination and the body cannot be shifted into each other.
        assert_ne!(key("sla", b"ck{}"), key("slack", b"{}"));
    }
}
