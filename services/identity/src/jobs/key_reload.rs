//! Reloads the signing keys in the background.

use std::sync::Arc;

use platform::service::TaskContext;

use crate::tokens::KeyRing;

/// Reloads the key ring periodically, so that a rotation made by another instance is picked up.
pub async fn reload_keys(ring: Arc<KeyRing>, task: TaskContext) {
    let mut every = tokio::time::interval(ring.reload_every());
    // The first tick is immediate, and the keys were loaded a moment ago.
    every.tick().await;
    loop {
        task.heartbeat.beat();
        tokio::select! {
            () = task.shutdown.cancelled() => return,
            _ = every.tick() => {}
        }
        if let Err(e) = ring.reload().await {
            tracing::warn!(error = %format!("{e:#}"), "reloading signing keys failed");
        }
    }
}
