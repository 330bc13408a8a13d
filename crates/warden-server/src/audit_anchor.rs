//! Anchoring the audit trail's tail with signed checkpoints while the node runs and once
//! more when it stops.
//!
//! The chain alone cannot tell a log whose last records were cut off from a log that ended
//! there: only a signed checkpoint beyond the cut reveals it. So a running node signs on a
//! timer (records written just before a quiet spell are anchored within the policy's time
//! bound rather than at the next event), and a node that stops cleanly signs one last
//! checkpoint over everything it wrote, leaving no record protected by the chain alone.

use crate::state::AppState;

/// How often an idle node checks whether the audit tail needs a checkpoint.
const CHECKPOINT_TICK: std::time::Duration = std::time::Duration::from_secs(1);

/// Signs checkpoints when the policy says one is due, every tick, until `stop`.
pub async fn run(state: AppState, mut stop: tokio::sync::watch::Receiver<bool>) {
    loop {
        tokio::select! {
            _ = stop.wait_for(|stop| *stop) => return,
            () = tokio::time::sleep(CHECKPOINT_TICK) => {}
        }
        if let Err(error) = state.store.checkpoint_audit(state.clock.now()).await {
            tracing::warn!(%error, "could not sign an audit checkpoint");
        }
    }
}

/// Signs the final checkpoint of a stopping node. Called once nothing on this node writes
/// the trail any more (listeners drained, background tasks ended) and before the store
/// closes; the store orders it after every event still queued for writing.
pub async fn seal(store: &dyn warden_store::Store, now: warden_core::Timestamp) {
    match store.seal_audit(now).await {
        Ok(Some(checkpoint)) => tracing::info!(
            sequence = checkpoint.sequence,
            "signed the final audit checkpoint"
        ),
        Ok(None) => tracing::debug!("the audit trail had no unanchored records at shutdown"),
        Err(error) => tracing::warn!(
            %error,
            "could not sign the final audit checkpoint; the records after the last one are \
             protected by the chain alone until a node signs the next"
        ),
    }
}
