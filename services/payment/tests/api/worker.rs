//! The payment worker against slow and silent processors: each charge is recorded as it ends,
//! and a charge whose outcome is unknown is looked up by its idempotency key before it is charged
//! again, voided or given up.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use contracts::events::types;
use contracts::states::BookingStatus;
use payment::jobs::charges::{Worker, WorkerConfig};
use payment::processor::{CardProcessor, Charge, ProcessorFuture, SimulatedProcessor};
use platform::events::EventBus;
use sqlx::PgPool;

use super::{booking, count, database, event, service_with, wait_for};

/// Inserts `count` card payments from booking `first` on, due now, charged to `token`.
async fn insert_payments(db: &PgPool, first: i64, count: i64, token: &str) {
    sqlx::query(
        "INSERT INTO payments (booking_id, booking_reference, user_id, method, card_token, amount_minor, \
             currency, departure_at, description, status, idempotency_key) \
         SELECT n, 'REF' || n, 5, 'credit_card', $3, 1000, 'USD', now() + interval '3 days', \
                'test', 'PENDING', 'booking-' || n FROM generate_series($1::bigint, $1 + $2 - 1) AS n",
    )
    .bind(first)
    .bind(count)
    .bind(token)
    .execute(db)
    .await
    .unwrap();
}

const SUCCEEDED_AND_PUBLISHED: &str = "SELECT count(*) FROM payments p JOIN outbox o \
     ON o.envelope->>'type' = 'payment.succeeded' AND o.event_key = p.booking_id::text \
     AND o.published_at IS NOT NULL WHERE p.status = 'SUCCEEDED'";

#[tokio::test]
async fn one_charge_that_times_out_does_not_hold_up_the_rest_of_its_batch() {
    let timeout = Duration::from_secs(10);
    let service = service_with(&[("PAYMENT_PROCESSOR_TIMEOUT_MS", "10000")], async |db| {
        // One batch: the worker claims all 21 at once when it starts.
        insert_payments(db, 1, 1, "sim_timeout_0341_x").await;
        insert_payments(db, 2, 20, "sim_approve_sandbox").await;
    })
    .await;
    let started = Instant::now();
    wait_for(&service.db, SUCCEEDED_AND_PUBLISHED, 20).await;
    let took = started.elapsed();
    assert!(
        took < timeout / 2,
        "the others were recorded and published after {took:?}, not long before the {timeout:?} timeout"
    );
    assert_eq!(
        count(
            &service.db,
            "SELECT count(*) FROM payments WHERE booking_id = 1 AND status = 'PROCESSING'"
        )
        .await,
        1,
        "the silent charge is still in flight"
    );
}

#[tokio::test]
async fn a_charge_due_while_another_hangs_is_made_at_once() {
    let service = service_with(&[("PAYMENT_PROCESSOR_TIMEOUT_MS", "10000")], async |db| {
        insert_payments(db, 1, 1, "sim_timeout_0341_x").await
    })
    .await;
    wait_for(
        &service.db,
        "SELECT count(*) FROM payments WHERE status = 'PROCESSING'",
        1,
    )
    .await;
    let started = Instant::now();
    insert_payments(&service.db, 2, 1, "sim_approve_sandbox").await;
    sqlx::query("SELECT pg_notify('payment_jobs', '')")
        .execute(&service.db)
        .await
        .unwrap();
    wait_for(&service.db, SUCCEEDED_AND_PUBLISHED, 1).await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "a new charge waited {:?} for the silent one",
        started.elapsed()
    );
}

/// What a scripted processor does with its `n`-th charge call.
#[derive(Clone, Copy)]
enum Answer {
    Approve,
    /// Charges the card, but the answer never arrives.
    ChargeSilently,
    /// Never charges, never answers.
    Silence,
}

/// A card processor that behaves as its script says, with the simulated processor's ledger
/// behind it; it counts the calls it gets.
struct Scripted {
    ledger: SimulatedProcessor,
    script: fn(usize) -> Answer,
    charges: AtomicUsize,
    lookups: AtomicUsize,
}

impl Scripted {
    fn new(db: &PgPool, script: fn(usize) -> Answer) -> Arc<Self> {
        Arc::new(Self {
            ledger: SimulatedProcessor { db: db.clone() },
            script,
            charges: AtomicUsize::new(0),
            lookups: AtomicUsize::new(0),
        })
    }
}

impl CardProcessor for Scripted {
    fn tokenize(&self, card: &payment::domain::cards::CardNumber) -> String {
        self.ledger.tokenize(card)
    }

    fn sandbox_token(&self) -> Option<&str> {
        None
    }

    fn charge<'a>(&'a self, charge: Charge<'a>) -> ProcessorFuture<'a, String> {
        let n = self.charges.fetch_add(1, Ordering::SeqCst) + 1;
        let answer = (self.script)(n);
        Box::pin(async move {
            match answer {
                Answer::Approve => self.ledger.charge(charge).await,
                Answer::ChargeSilently => {
                    self.ledger.charge(charge).await?;
                    std::future::pending().await
                }
                Answer::Silence => std::future::pending().await,
            }
        })
    }

    fn find_charge<'a>(&'a self, idempotency_key: &'a str) -> ProcessorFuture<'a, Option<String>> {
        self.lookups.fetch_add(1, Ordering::SeqCst);
        self.ledger.find_charge(idempotency_key)
    }

    fn refund<'a>(
        &'a self,
        charge_reference: &'a str,
        amount_minor: i64,
        idempotency_key: &'a str,
    ) -> ProcessorFuture<'a, String> {
        self.ledger
            .refund(charge_reference, amount_minor, idempotency_key)
    }
}

/// Runs a worker with `processor` until payment 1 (booking 1) is no longer pending or in flight;
/// returns its status and failure reason.
async fn settle(db: &PgPool, processor: Arc<Scripted>) -> (String, Option<String>) {
    let worker = Worker {
        db: db.clone(),
        processor,
        config: WorkerConfig {
            processor_timeout: Duration::from_millis(200),
            max_attempts: 3,
            retry_base: Duration::from_millis(1),
            poll_interval: Duration::from_millis(10),
        },
    };
    for _ in 0..100 {
        worker.tick().await.unwrap();
        let (status, reason): (String, Option<String>) =
            sqlx::query_as("SELECT status, failure_reason FROM payments WHERE booking_id = 1")
                .fetch_one(db)
                .await
                .unwrap();
        if status != "PENDING" && status != "PROCESSING" {
            return (status, reason);
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("payment 1 was left unresolved");
}

#[tokio::test]
async fn a_charge_made_but_not_answered_is_found_and_recorded_as_paid_once() {
    let (db, _database) = database().await;
    insert_payments(&db, 1, 1, "sim_approve_x").await;
    // Every charge call charges and then goes silent: only a lookup can tell it happened.
    let processor = Scripted::new(&db, |_| Answer::ChargeSilently);
    let (status, reason) = settle(&db, processor.clone()).await;
    assert_eq!((status.as_str(), reason), ("SUCCEEDED", None));
    let (reference, charge): (String, String) = sqlx::query_as(
        "SELECT p.processor_reference, c.id FROM payments p \
         JOIN simulated_charges c ON c.idempotency_key = p.idempotency_key",
    )
    .fetch_one(&db)
    .await
    .unwrap();
    assert_eq!(
        reference, charge,
        "recorded with the charge the lookup found"
    );
    assert_eq!(processor.charges.load(Ordering::SeqCst), 1, "charged once");
    assert_eq!(processor.lookups.load(Ordering::SeqCst), 1);
    assert_eq!(
        count(&db, "SELECT count(*) FROM simulated_charges").await,
        1
    );
    assert_eq!(
        count(
            &db,
            "SELECT count(*) FROM outbox WHERE envelope->>'type' = 'payment.succeeded'"
        )
        .await,
        1
    );
}

#[tokio::test]
async fn a_charge_the_processor_never_saw_is_looked_up_then_charged_again() {
    let (db, _database) = database().await;
    insert_payments(&db, 1, 1, "sim_approve_x").await;
    let processor = Scripted::new(&db, |n| {
        if n == 1 {
            Answer::Silence
        } else {
            Answer::Approve
        }
    });
    let (status, _) = settle(&db, processor.clone()).await;
    assert_eq!(status, "SUCCEEDED");
    assert_eq!(processor.lookups.load(Ordering::SeqCst), 1, "asked first");
    assert_eq!(processor.charges.load(Ordering::SeqCst), 2, "then charged");
    assert_eq!(
        count(&db, "SELECT count(*) FROM simulated_charges").await,
        1
    );
}

#[tokio::test]
async fn a_charge_that_never_answers_is_given_up_after_a_last_look_not_left_pending() {
    let (db, _database) = database().await;
    insert_payments(&db, 1, 1, "sim_approve_x").await;
    let processor = Scripted::new(&db, |_| Answer::Silence);
    let (status, reason) = settle(&db, processor.clone()).await;
    assert_eq!(
        (status.as_str(), reason.as_deref()),
        ("FAILED", Some("processor_timeout"))
    );
    // Three charge attempts, each after the first preceded by a lookup, and a last lookup.
    assert_eq!(processor.charges.load(Ordering::SeqCst), 3);
    assert_eq!(processor.lookups.load(Ordering::SeqCst), 3);
    assert_eq!(
        count(
            &db,
            "SELECT count(*) FROM outbox WHERE envelope->>'type' = 'payment.failed'"
        )
        .await,
        1
    );
}

#[tokio::test]
async fn a_booking_that_ends_while_its_charge_is_unknown_is_refunded_or_voided_by_the_processors_answer()
 {
    // Bookings 88 and 89: a first attempt timed out, and each waits an hour for its retry. The
    // processor holds a charge for 88 (it landed) and none for 89.
    let service = service_with(&[], async |db| {
        sqlx::query(
            "INSERT INTO payments (booking_id, booking_reference, user_id, method, card_token, amount_minor, \
                 currency, departure_at, description, status, idempotency_key, attempts, next_attempt_at, \
                 failure_reason) \
             SELECT n, 'REF' || n, 5, 'credit_card', 'sim_approve_sandbox', 19999, 'USD', \
                    now() + interval '3 days', 'test', 'PENDING', 'booking-' || n, 1, \
                    now() + interval '1 hour', 'processor_timeout' FROM unnest(ARRAY[88, 89]) AS n",
        )
        .execute(db)
        .await
        .unwrap();
        sqlx::query(
            "INSERT INTO simulated_charges (id, idempotency_key, card_token, amount_minor, currency) \
             VALUES ('ch_landed', 'booking-88', 'sim_approve_sandbox', 19999, 'USD')",
        )
        .execute(db)
        .await
        .unwrap();
    })
    .await;
    let ended: Vec<_> = [88, 89]
        .into_iter()
        .map(|id| {
            let mut expired = booking(id);
            expired.status = BookingStatus::Expired;
            expired.previous_status = Some(BookingStatus::PendingPayment);
            event(types::BOOKING_EXPIRED, &expired)
        })
        .collect();
    service.bus.publish(&ended).await.unwrap();

    wait_for(
        &service.db,
        "SELECT count(*) FROM refunds WHERE status = 'SUCCEEDED'",
        1,
    )
    .await;
    wait_for(
        &service.db,
        "SELECT count(*) FROM payments WHERE booking_id = 89 AND status = 'VOIDED'",
        1,
    )
    .await;
    let (status, reference, refunded): (String, String, i64) = sqlx::query_as(
        "SELECT status, processor_reference, refunded_minor FROM payments WHERE booking_id = 88",
    )
    .fetch_one(&service.db)
    .await
    .unwrap();
    assert_eq!(
        (status.as_str(), reference.as_str(), refunded),
        ("SUCCEEDED", "ch_landed", 19_999),
        "the charge that landed is found and given back in full"
    );
    assert_eq!(
        count(
            &service.db,
            "SELECT refunded_minor FROM simulated_charges WHERE id = 'ch_landed'"
        )
        .await,
        19_999
    );
    assert_eq!(
        count(&service.db, "SELECT count(*) FROM simulated_charges").await,
        1,
        "nothing charged for 89"
    );
}
