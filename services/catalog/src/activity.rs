//! What travellers look at (`catalog.activity`: `search.performed`, `listing.viewed`), for
//! analytics. Best effort: a request hands its event to a bounded queue and goes on; a background
//! task writes what queued into the outbox about once a second, in one statement. When the queue
//! is full the event is dropped and counted, so a burst of searches never waits on the database.

use std::time::Duration;

use contracts::events::ActivityEvent;
use platform::events::{Envelope, outbox};
use platform::service::TaskContext;
use prometheus_client::metrics::counter::Counter;
use sqlx::PgPool;
use tokio::sync::mpsc;

/// Events that may wait for the writer; one more is dropped.
pub const QUEUE: usize = 10_000;
/// How often the writer empties the queue.
pub const FLUSH_EVERY: Duration = Duration::from_secs(1);

/// Where handlers record activity. Cheap to clone.
#[derive(Clone)]
pub struct Activity {
    queue: mpsc::Sender<ActivityEvent>,
    dropped: Counter,
    written: Counter,
}

/// The background side: takes what queued and writes it into the outbox.
pub struct ActivityWriter {
    queue: mpsc::Receiver<ActivityEvent>,
    db: PgPool,
    dropped: Counter,
    written: Counter,
}

impl Activity {
    /// A queue of `capacity` events, and the writer that empties it into `db`'s outbox.
    pub fn new(db: PgPool, capacity: usize) -> (Self, ActivityWriter) {
        let (sender, receiver) = mpsc::channel(capacity.max(1));
        let (dropped, written) = (Counter::default(), Counter::default());
        (
            Self {
                queue: sender,
                dropped: dropped.clone(),
                written: written.clone(),
            },
            ActivityWriter {
                queue: receiver,
                db,
                dropped,
                written,
            },
        )
    }

    /// Queues `event` for the outbox, or drops it (and counts it) if the queue is full.
    pub fn record(&self, event: ActivityEvent) {
        if self.queue.try_send(event).is_err() {
            self.dropped.inc();
        }
    }

    /// `activity_events_dropped_total` and `activity_events_written_total` on `/metrics`.
    pub fn register(&self, registry: &mut prometheus_client::registry::Registry) {
        registry.register(
            "activity_events_dropped",
            "Analytics events (search.performed, listing.viewed) dropped because the queue was full or the outbox write failed",
            self.dropped.clone(),
        );
        registry.register(
            "activity_events_written",
            "Analytics events written into the outbox",
            self.written.clone(),
        );
    }
}

/// The event as an outbox row, keyed by the product (`car`, `hotel`); a view's subject is the
/// listing viewed.
fn outbox_row(event: &ActivityEvent) -> Result<(String, Envelope), serde_json::Error> {
    let (product, subject) = match event {
        ActivityEvent::ListingViewed(viewed) => (viewed.product, viewed.listing_id.clone()),
        ActivityEvent::SearchPerformed(search) => {
            (search.product, search.product.as_str().to_owned())
        }
    };
    let envelope = Envelope::new("catalog", event.kind(), subject, event.data()?);
    Ok((product.as_str().to_owned(), envelope))
}

/// Folds identical events (the same search with the same result count, views of the same
/// listing by the same user) into one each, with `count` adding up; the first keeps its time and
/// its place in the order.
fn fold(events: Vec<ActivityEvent>) -> Vec<ActivityEvent> {
    use std::collections::HashMap;
    let mut first: HashMap<String, usize> = HashMap::new();
    let mut folded: Vec<ActivityEvent> = Vec::new();
    for event in events {
        let key = match &event {
            ActivityEvent::SearchPerformed(s) => {
                format!(
                    "s|{}|{:?}|{}|{:?}",
                    s.product, s.query, s.results, s.user_id
                )
            }
            ActivityEvent::ListingViewed(v) => {
                format!("v|{}|{}|{:?}", v.product, v.listing_id, v.user_id)
            }
        };
        match first.get(&key) {
            Some(&at) => match (&mut folded[at], event) {
                (ActivityEvent::SearchPerformed(kept), ActivityEvent::SearchPerformed(s)) => {
                    kept.count += s.count;
                }
                (ActivityEvent::ListingViewed(kept), ActivityEvent::ListingViewed(v)) => {
                    kept.count += v.count;
                }
                _ => {}
            },
            None => {
                first.insert(key, folded.len());
                folded.push(event);
            }
        }
    }
    folded
}

impl ActivityWriter {
    /// Writes what queued every [`FLUSH_EVERY`] until shutdown, then what is left.
    pub async fn run(mut self, task: TaskContext) {
        let mut every = tokio::time::interval(FLUSH_EVERY);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = task.shutdown.cancelled() => break,
                _ = every.tick() => {}
            }
            self.flush().await;
            task.heartbeat.beat();
        }
        self.flush().await;
    }

    /// Writes everything queued now, in one transaction.
    async fn flush(&mut self) {
        let mut events = Vec::new();
        // At most one queue's worth, so a steady stream cannot keep one flush going.
        while events.len() < QUEUE {
            match self.queue.try_recv() {
                Ok(event) => events.push(event),
                Err(_) => break,
            }
        }
        if events.is_empty() {
            return;
        }
        let events = fold(events);
        let mut rows = Vec::with_capacity(events.len());
        for event in &events {
            match outbox_row(event) {
                Ok(row) => rows.push(row),
                Err(e) => {
                    self.dropped.inc();
                    tracing::warn!(error = %e, "an activity event could not be encoded");
                }
            }
        }
        let count = rows.len() as u64;
        match self.write(&rows).await {
            Ok(()) => {
                self.written.inc_by(count);
            }
            Err(e) => {
                self.dropped.inc_by(count);
                tracing::warn!(error = %e, events = count, "activity events dropped");
            }
        }
    }

    async fn write(&self, rows: &[(String, Envelope)]) -> Result<(), sqlx::Error> {
        let mut tx = self.db.begin().await?;
        outbox::enqueue_many(&mut tx, ActivityEvent::TOPIC, rows).await?;
        tx.commit().await
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use chrono::Utc;
    use contracts::events::{ListingViewed, SearchPerformed};
    use contracts::states::Product;

    use super::*;

    fn search(city: &str, results: i64) -> ActivityEvent {
        ActivityEvent::SearchPerformed(SearchPerformed {
            product: Product::Hotel,
            query: BTreeMap::from([("city".to_owned(), city.to_owned())]),
            results,
            user_id: None,
            at: Utc::now(),
            count: 1,
        })
    }

    #[test]
    fn repeats_fold_into_one_event_that_counts_them() {
        let view = ActivityEvent::ListingViewed(ListingViewed {
            product: Product::Car,
            listing_id: "c1".into(),
            user_id: None,
            at: Utc::now(),
            count: 1,
        });
        let folded = fold(vec![
            search("Paris", 3),
            view.clone(),
            search("Paris", 3),
            search("Rome", 2),
            search("Paris", 3),
            view,
            // The same query with another answer is another event.
            search("Paris", 4),
        ]);
        let counts: Vec<(String, i64)> = folded
            .iter()
            .map(|e| match e {
                ActivityEvent::SearchPerformed(s) => {
                    (format!("{}:{}", s.query["city"], s.results), s.count)
                }
                ActivityEvent::ListingViewed(v) => (v.listing_id.clone(), v.count),
            })
            .collect();
        assert_eq!(
            counts,
            [
                ("Paris:3".to_owned(), 3),
                ("c1".to_owned(), 2),
                ("Rome:2".to_owned(), 1),
                ("Paris:4".to_owned(), 1)
            ]
        );
    }
}
