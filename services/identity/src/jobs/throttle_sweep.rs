//! Deletes login-throttle counters that nothing has happened to for the failure window, so that
//! guesses at made-up names from many addresses do not grow the table without end.

use std::sync::Arc;
use std::time::Duration;

use platform::service::TaskContext;

use crate::accounts::Accounts;

/// How often the counters are swept.
pub const EVERY: Duration = Duration::from_secs(300);

pub async fn sweep_login_throttles(accounts: Arc<Accounts>, task: TaskContext) {
    let mut every = tokio::time::interval(EVERY);
    loop {
        task.heartbeat.beat();
        tokio::select! {
            () = task.shutdown.cancelled() => return,
            _ = every.tick() => {}
        }
        match accounts.sweep_login_throttles().await {
            Ok(0) => {}
            Ok(deleted) => tracing::debug!(deleted, "swept idle login-throttle counters"),
            Err(e) => tracing::warn!(error = %e, "sweeping login-throttle counters failed"),
        }
    }
}
