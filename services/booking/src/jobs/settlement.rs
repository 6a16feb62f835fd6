//! Wakes requests waiting for a booking's status to change. Every change is announced with
//! PostgreSQL `NOTIFY` when its transaction commits, so a request on one instance wakes when the
//! payment is recorded by any instance.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use sqlx::PgPool;
use sqlx::postgres::PgListener;
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;

use crate::store::bookings::STATUS_CHANNEL;

#[derive(Default)]
pub struct StatusWatch {
    waiters: Mutex<HashMap<i64, Vec<oneshot::Sender<()>>>>,
}

impl StatusWatch {
    /// Resolves at the next change of the booking's status (or when the watch reconnects, after
    /// which the caller should read the booking again).
    pub fn subscribe(&self, booking_id: i64) -> oneshot::Receiver<()> {
        let (sender, receiver) = oneshot::channel();
        self.lock().entry(booking_id).or_default().push(sender);
        receiver
    }

    /// Drops the waiters that gave up.
    pub fn forget(&self, booking_id: i64) {
        let mut waiters = self.lock();
        if let Some(list) = waiters.get_mut(&booking_id) {
            list.retain(|sender| !sender.is_closed());
            if list.is_empty() {
                waiters.remove(&booking_id);
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<i64, Vec<oneshot::Sender<()>>>> {
        self.waiters
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn wake(&self, booking_id: i64) {
        if let Some(list) = self.lock().remove(&booking_id) {
            for sender in list {
                let _ = sender.send(());
            }
        }
    }

    fn wake_all(&self) {
        for (_, list) in self.lock().drain() {
            for sender in list {
                let _ = sender.send(());
            }
        }
    }

    /// Listens until `shutdown`, reconnecting when the connection breaks.
    pub async fn run(&self, db: PgPool, shutdown: CancellationToken) {
        loop {
            let listened = async {
                let mut listener = PgListener::connect_with(&db).await?;
                listener.listen(STATUS_CHANNEL).await?;
                // Anything missed while (re)connecting: let every waiter read again.
                self.wake_all();
                loop {
                    let notification = listener.recv().await?;
                    if let Ok(id) = notification.payload().parse::<i64>() {
                        self.wake(id);
                    }
                }
                #[allow(unreachable_code)]
                Ok::<(), sqlx::Error>(())
            };
            tokio::select! {
                () = shutdown.cancelled() => return,
                result = listened => {
                    if let Err(e) = result {
                        tracing::warn!(error = %e, "booking status listener lost its connection; reconnecting");
                    }
                }
            }
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(Duration::from_secs(1)) => {}
            }
        }
    }
}
