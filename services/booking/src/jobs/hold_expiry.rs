//! Expires holds that ran out without payment.

use std::time::Duration;

use platform::service::TaskContext;

use crate::bookings;

/// Expires holds that ran out without payment, until shutdown. Several instances may run this:
/// each due booking is locked by one of them and skipped by the others.
pub async fn expire_holds(db: sqlx::PgPool, interval: Duration, task: TaskContext) {
    const BATCH: i64 = 200;
    loop {
        task.heartbeat.beat();
        let pause = match bookings::expire_holds(&db, BATCH).await {
            Ok(n) if n as i64 == BATCH => Duration::ZERO,
            Ok(_) => interval,
            Err(e) => {
                tracing::warn!(error = %e, "expiring holds failed; retrying");
                interval
            }
        };
        tokio::select! {
            () = task.shutdown.cancelled() => return,
            () = tokio::time::sleep(pause) => {}
        }
    }
}
