//! What travellers look at (`catalog.activity`: `search.performed`, `listing.viewed`), for
//! analytics. Best effort: a request adds its event to what is pending and goes on; repeats of
//! a pending event (the same search with the same result count, a view of the same listing) only
//! count up. A background task writes what is pending into the outbox about once a second, in one
//! statement. When [`MAX_PENDING`] distinct events wait, a new one is dropped and counted, so a
//! burst of searches never waits on the database.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use chrono::Utc;
use contracts::events::{ActivityEvent, ListingViewed, SearchPerformed};
use contracts::states::Product;
use platform::events::{Envelope, outbox};
use platform::service::TaskContext;
use prometheus_client::metrics::counter::Counter;
use sqlx::PgPool;

/// Distinct events that may wait for the writer; one more is dropped.
pub const MAX_PENDING: usize = 10_000;
/// How often the writer empties what is pending.
pub const FLUSH_EVERY: Duration = Duration::from_secs(1);

/// Events waiting for the writer, in the order they first happened, each once.
#[derive(Default)]
struct Pending {
    at: HashMap<String, usize>,
    events: Vec<ActivityEvent>,
}

impl Pending {
    /// Counts one more of the event folded under `key`, making it with `make` if it is new.
    /// False when it is new and `capacity` distinct events already wait.
    fn add(&mut self, key: String, capacity: usize, make: impl FnOnce() -> ActivityEvent) -> bool {
        if let Some(&at) = self.at.get(&key) {
            match &mut self.events[at] {
                ActivityEvent::SearchPerformed(search) => search.count += 1,
                ActivityEvent::ListingViewed(view) => view.count += 1,
            }
            return true;
        }
        if self.events.len() >= capacity {
            return false;
        }
        self.at.insert(key, self.events.len());
        self.events.push(make());
        true
    }
}

/// Where handlers record activity. Cheap to clone.
#[derive(Clone)]
pub struct Activity {
    pending: Arc<Mutex<Pending>>,
    capacity: usize,
    dropped: Counter,
    written: Counter,
}

/// The background side: takes what is pending and writes it into the outbox.
pub struct ActivityWriter {
    pending: Arc<Mutex<Pending>>,
    db: PgPool,
    dropped: Counter,
    written: Counter,
}

impl Activity {
    /// Room for `capacity` distinct pending events, and the writer that empties them into `db`'s
    /// outbox.
    pub fn new(db: PgPool, capacity: usize) -> (Self, ActivityWriter) {
        let pending = Arc::new(Mutex::new(Pending::default()));
        let (dropped, written) = (Counter::default(), Counter::default());
        (
            Self {
                pending: pending.clone(),
                capacity: capacity.max(1),
                dropped: dropped.clone(),
                written: written.clone(),
            },
            ActivityWriter {
                pending,
                db,
                dropped,
                written,
            },
        )
    }

    fn add(&self, key: String, make: impl FnOnce() -> ActivityEvent) {
        let added = self
            .pending
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .add(key, self.capacity, make);
        if !added {
            self.dropped.inc();
        }
    }

    /// A search for `product` that found `results`. `question` names the search exactly (two
    /// searches with the same `question` have the same parameters); `parameters` are what it
    /// was asked, taken only for the first of its repeats.
    pub fn searched(
        &self,
        product: Product,
        question: &str,
        results: i64,
        parameters: impl FnOnce() -> BTreeMap<String, String>,
    ) {
        self.add(format!("s|{product}|{results}|{question}"), || {
            ActivityEvent::SearchPerformed(SearchPerformed {
                product,
                query: parameters(),
                results,
                user_id: None,
                at: Utc::now(),
                count: 1,
            })
        });
    }

    /// A view of the `product` listing `listing_id`.
    pub fn viewed(&self, product: Product, listing_id: &str) {
        self.add(format!("v|{product}|{listing_id}"), || {
            ActivityEvent::ListingViewed(ListingViewed {
                product,
                listing_id: listing_id.to_owned(),
                user_id: None,
                at: Utc::now(),
                count: 1,
            })
        });
    }

    /// `activity_events_dropped_total` and `activity_events_written_total` on `/metrics`.
    pub fn register(&self, registry: &mut prometheus_client::registry::Registry) {
        registry.register(
            "activity_events_dropped",
            "Analytics events (search.performed, listing.viewed) dropped because too many were pending or the outbox write failed",
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

impl ActivityWriter {
    /// Writes what is pending every [`FLUSH_EVERY`] until shutdown, then what is left.
    pub async fn run(self, task: TaskContext) {
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

    /// Writes everything pending now, in one transaction.
    async fn flush(&self) {
        let events =
            std::mem::take(&mut *self.pending.lock().unwrap_or_else(PoisonError::into_inner))
                .events;
        if events.is_empty() {
            return;
        }
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
    use super::*;

    fn search(city: &str, results: i64) -> (String, impl FnOnce() -> ActivityEvent) {
        let city = city.to_owned();
        (format!("s|{city}|{results}"), move || {
            ActivityEvent::SearchPerformed(SearchPerformed {
                product: Product::Hotel,
                query: BTreeMap::from([("city".to_owned(), city)]),
                results,
                user_id: None,
                at: Utc::now(),
                count: 1,
            })
        })
    }

    fn view(id: &str) -> (String, impl FnOnce() -> ActivityEvent) {
        let id = id.to_owned();
        (format!("v|{id}"), move || {
            ActivityEvent::ListingViewed(ListingViewed {
                product: Product::Car,
                listing_id: id,
                user_id: None,
                at: Utc::now(),
                count: 1,
            })
        })
    }

    fn counts(pending: &Pending) -> Vec<(String, i64)> {
        pending
            .events
            .iter()
            .map(|e| match e {
                ActivityEvent::SearchPerformed(s) => {
                    (format!("{}:{}", s.query["city"], s.results), s.count)
                }
                ActivityEvent::ListingViewed(v) => (v.listing_id.clone(), v.count),
            })
            .collect()
    }

    #[test]
    fn repeats_fold_into_one_event_that_counts_them() {
        let mut pending = Pending::default();
        for (key, make) in [
            search("Paris", 3),
            search("Paris", 3),
            search("Rome", 2),
            search("Paris", 3),
            // The same query with another answer is another event.
            search("Paris", 4),
        ] {
            assert!(pending.add(key, 10, make));
        }
        for (key, make) in [view("c1"), view("c1")] {
            assert!(pending.add(key, 10, make));
        }
        assert_eq!(
            counts(&pending),
            [
                ("Paris:3".to_owned(), 3),
                ("Rome:2".to_owned(), 1),
                ("Paris:4".to_owned(), 1),
                ("c1".to_owned(), 2),
            ]
        );
    }

    #[test]
    fn when_full_new_events_are_refused_but_repeats_still_count() {
        let mut pending = Pending::default();
        let (paris, make) = search("Paris", 3);
        assert!(pending.add(paris.clone(), 2, make));
        let (key, make) = search("Rome", 2);
        assert!(pending.add(key, 2, make));
        let (key, make) = search("Oslo", 1);
        assert!(
            !pending.add(key, 2, make),
            "a third distinct event is refused"
        );
        let (_, make) = search("Paris", 3);
        assert!(pending.add(paris, 2, make));
        assert_eq!(
            counts(&pending),
            [("Paris:3".to_owned(), 2), ("Rome:2".to_owned(), 1)]
        );
    }
}
