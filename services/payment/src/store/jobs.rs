//! The worker's jobs: payments to charge and refunds to make, claimed under a lease, and the
//! channel that wakes the workers when one is due.

use sqlx::postgres::PgListener;
use sqlx::{PgConnection, PgPool};

use super::PaymentRow;
use super::payments::p_columns;

/// Claims up to `$1` due charges (pending, or processing with a lapsed lease) for `$2` seconds.
const CLAIM_DUE_CHARGES: &str = concat!(
    "WITH due AS (SELECT id FROM payments \
         WHERE (status = 'PENDING' AND next_attempt_at <= now()) \
            OR (status = 'PROCESSING' AND lease_until < now()) \
         ORDER BY next_attempt_at LIMIT $1 FOR UPDATE SKIP LOCKED) \
     UPDATE payments p SET status = 'PROCESSING', attempts = p.attempts + 1, \
         lease_until = now() + make_interval(secs => $2) \
     FROM due WHERE p.id = due.id RETURNING ",
    p_columns!()
);

/// The channel that wakes the payment worker when a job is due.
pub const JOBS_CHANNEL: &str = "payment_jobs";

/// Wakes the workers (on every instance) when the transaction commits.
pub async fn wake_workers(tx: &mut PgConnection) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT pg_notify($1, '')")
        .bind(JOBS_CHANNEL)
        .execute(tx)
        .await
        .map(|_| ())
}

/// A connection that hears when jobs are due; `None` when it cannot be had now.
pub async fn listen(db: &PgPool) -> Option<PgListener> {
    let mut listener = PgListener::connect_with(db).await.ok()?;
    listener.listen(JOBS_CHANNEL).await.ok()?;
    Some(listener)
}

/// Claims up to `batch` payments due for a charge (or whose lease ran out), leased for
/// `lease_secs`; the attempt count goes up by one and is the fencing token.
pub async fn claim_charges(
    db: &PgPool,
    batch: i64,
    lease_secs: f64,
) -> Result<Vec<PaymentRow>, sqlx::Error> {
    sqlx::query_as(CLAIM_DUE_CHARGES)
        .bind(batch)
        .bind(lease_secs)
        .fetch_all(db)
        .await
}

/// Whether the charge job of `payment_id` at `attempts` is still ours (a job whose lease ran out
/// may have been claimed by another worker), locked, with its `void_requested`.
pub async fn charge_still_ours(
    tx: &mut PgConnection,
    payment_id: i64,
    attempts: i32,
) -> Result<Option<bool>, sqlx::Error> {
    sqlx::query_scalar::<_, bool>(
        "SELECT void_requested FROM payments \
         WHERE id = $1 AND status = 'PROCESSING' AND attempts = $2 FOR UPDATE",
    )
    .bind(payment_id)
    .bind(attempts)
    .fetch_optional(tx)
    .await
}

/// Puts a charge back to be tried again in `delay_secs`, with the reason the last attempt failed
/// (the payment's failure reason should it be given up).
pub async fn retry_charge(
    tx: &mut PgConnection,
    payment_id: i64,
    delay_secs: f64,
    reason: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE payments SET status = 'PENDING', lease_until = NULL, failure_reason = $3, \
         next_attempt_at = now() + make_interval(secs => $2) WHERE id = $1",
    )
    .bind(payment_id)
    .bind(delay_secs)
    .bind(reason)
    .execute(tx)
    .await
    .map(|_| ())
}

/// Makes a pending charge due now (a void was asked for while it waited to be retried), and
/// wakes the workers.
pub async fn make_due(tx: &mut PgConnection, payment_id: i64) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE payments SET next_attempt_at = now() WHERE id = $1 AND status = 'PENDING'")
        .bind(payment_id)
        .execute(&mut *tx)
        .await?;
    wake_workers(tx).await
}

/// A refund claimed for the worker.
#[derive(sqlx::FromRow)]
pub struct ClaimedRefund {
    pub id: i64,
    pub payment_id: i64,
    pub for_booking_id: i64,
    pub attempts: i32,
    pub amount_minor: i64,
    pub fee_minor: i64,
}

/// Claims up to `batch` refunds due (or whose lease ran out), leased for `lease_secs`.
pub async fn claim_refunds(
    db: &PgPool,
    batch: i64,
    lease_secs: f64,
) -> Result<Vec<ClaimedRefund>, sqlx::Error> {
    sqlx::query_as(
        "WITH due AS (SELECT id FROM refunds \
             WHERE (status = 'PENDING' AND next_attempt_at <= now()) \
                OR (status = 'PROCESSING' AND lease_until < now()) \
             ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED) \
         UPDATE refunds r SET status = 'PROCESSING', attempts = r.attempts + 1, \
             lease_until = now() + make_interval(secs => $2) \
         FROM due WHERE r.id = due.id \
         RETURNING r.id, r.payment_id, r.for_booking_id, r.attempts, r.amount_minor, r.fee_minor",
    )
    .bind(batch)
    .bind(lease_secs)
    .fetch_all(db)
    .await
}

/// Puts a refund back to be tried again in `delay_secs`, if it is still ours.
pub async fn retry_refund(
    tx: &mut PgConnection,
    refund_id: i64,
    attempts: i32,
    delay_secs: f64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE refunds SET status = 'PENDING', lease_until = NULL, \
         next_attempt_at = now() + make_interval(secs => $2) \
         WHERE id = $1 AND attempts = $3",
    )
    .bind(refund_id)
    .bind(delay_secs)
    .bind(attempts)
    .execute(tx)
    .await
    .map(|_| ())
}
