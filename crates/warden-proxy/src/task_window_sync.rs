//! Keeps this node's task window (see `warden_policy::task_window`) current with every
//! node's allowed gateway decisions, read from the audit trail: on start, the records
//! within the window; then, every tick, the records after the last sequence seen. Each
//! allowed decision in a task carries its steps in the `task_steps` detail of the hashed
//! record, so what the window learns is what was decided, whichever node decided it.
//!
//! The tail is cheap: one query by sequence (the trail's key) for gateway decisions that
//! were allowed, in pages, skipping this node's own records after start (it fed them to
//! the window as it made them).

use std::sync::Arc;
use std::time::Duration;

use warden_audit::{AuditEvent, Decision, EventKind};
use warden_core::Timestamp;
use warden_policy::{TaskStep, TaskWindow};
use warden_store::{AuditFilter, AuditQuery, Store};

/// The detail of an allowed decision record that lists its task steps (a JSON array).
pub const STEPS_DETAIL: &str = "task_steps";

/// How often the trail is read for other nodes' decisions.
const TICK: Duration = Duration::from_secs(1);

/// How many records one read of the trail takes.
const PAGE: u32 = 1_000;

/// Feeds one record to the window; records without a task or steps teach nothing.
fn learn(window: &TaskWindow, event: &AuditEvent, now: Timestamp) {
    let (Some(task), Some(text)) = (&event.task_id, event.details.get(STEPS_DETAIL)) else {
        return;
    };
    let warden_audit::Actor::Agent { id: agent, .. } = &event.actor else {
        return;
    };
    match serde_json::from_str::<Vec<TaskStep>>(text) {
        Ok(steps) => window.record(agent, task, event.time.as_millis(), now.as_millis(), &steps),
        Err(error) => {
            tracing::warn!(sequence = event.sequence, %error, "an audit record's task steps do not parse; skipped");
        }
    }
}

/// Reads the allowed gateway decisions after `after` (and, on the first read, since the
/// window's start) into the window; returns the last sequence read.
pub async fn catch_up(
    store: &dyn Store,
    window: &TaskWindow,
    own_node: Option<&str>,
    mut after: Option<u64>,
    now: Timestamp,
) -> Result<Option<u64>, warden_store::StoreError> {
    let since = Timestamp::from_millis(
        now.as_millis()
            .saturating_sub(window.limits().window_ms.max(0)),
    );
    loop {
        let query = AuditQuery {
            filter: AuditFilter {
                kind: Some(EventKind::GatewayDecision),
                decision: Some(Decision::Allow),
                since: Some(since),
                ..AuditFilter::default()
            },
            after,
            limit: PAGE,
            newest: false,
        };
        let page = store.audit_events(&query).await?;
        for event in &page {
            if own_node != Some(event.node.as_str()) {
                learn(window, event, now);
            }
        }
        after = page.last().map(|event| event.sequence).or(after);
        if page.len() < PAGE as usize {
            return Ok(after);
        }
    }
}

/// Follows the trail after `last` (where the load at start ended) every `tick` until
/// `stop`, skipping this node's own records.
pub async fn run(
    store: Arc<dyn Store>,
    clock: Arc<dyn warden_core::Clock>,
    window: Arc<TaskWindow>,
    own_node: String,
    mut last: Option<u64>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    if window.limits().window_ms <= 0 {
        return;
    }
    loop {
        tokio::select! {
            _ = stop.wait_for(|stop| *stop) => return,
            () = tokio::time::sleep(TICK) => {}
        }
        let now = clock.now();
        match catch_up(&*store, &window, Some(own_node.as_str()), last, now).await {
            Ok(seen) => last = seen,
            Err(error) => {
                tracing::warn!(%error, "cannot read the audit trail for the task window");
            }
        }
        window.sweep(now.as_millis());
    }
}
