//! Refunds: at most one per payment and booking it is for (the booking the payment is for, or a
//! trip's item refunded from the trip's payment), queued by the saga or the worker, made by the
//! worker.

use chrono::{DateTime, Utc};
use sqlx::{FromRow, PgConnection, PgPool};

use super::jobs::wake_workers;
use crate::domain::refunds::Refund;

#[derive(Clone, Debug, FromRow)]
pub struct RefundRow {
    pub payment_id: i64,
    /// The booking the refund is for: the payment's own, or an item of the trip it paid.
    pub for_booking_id: i64,
    pub amount_minor: i64,
    pub fee_minor: i64,
    pub reason: String,
    pub status: String,
    pub created_at: DateTime<Utc>,
    pub completed_at: Option<DateTime<Utc>>,
}

/// Queues a refund of `payment_id` for booking `for_booking_id`; each booking's refund is queued
/// at most once (a redelivered event queues nothing more). The payment's refunds never add up to
/// more than it: the refund gives back at most what is left of it. Returns whether it was queued.
pub async fn queue(
    tx: &mut PgConnection,
    payment_id: i64,
    for_booking_id: i64,
    refund: Refund,
    reason: &str,
) -> Result<bool, sqlx::Error> {
    // The payment is locked first, in a statement of its own, so that the sum below (a later
    // statement, a later snapshot) sees every refund queued by a transaction that held it before.
    let Some(amount_minor) =
        sqlx::query_scalar::<_, i64>("SELECT amount_minor FROM payments WHERE id = $1 FOR UPDATE")
            .bind(payment_id)
            .fetch_optional(&mut *tx)
            .await?
    else {
        return Ok(false);
    };
    let queued_minor: i64 = sqlx::query_scalar(
        "SELECT COALESCE(sum(amount_minor), 0)::bigint FROM refunds WHERE payment_id = $1",
    )
    .bind(payment_id)
    .fetch_one(&mut *tx)
    .await?;
    let refund = refund.at_most(amount_minor - queued_minor);
    let queued = sqlx::query(
        "INSERT INTO refunds (payment_id, for_booking_id, amount_minor, fee_minor, reason, status) \
         VALUES ($1, $2, $3, $4, $5, 'PENDING') \
         ON CONFLICT (payment_id, for_booking_id) DO NOTHING",
    )
    .bind(payment_id)
    .bind(for_booking_id)
    .bind(refund.amount_minor)
    .bind(refund.fee_minor)
    .bind(reason)
    .execute(&mut *tx)
    .await?
    .rows_affected()
        == 1;
    if queued {
        wake_workers(tx).await?;
    }
    Ok(queued)
}

/// The refunds of these payments, oldest first.
pub async fn of_payments(db: &PgPool, ids: &[i64]) -> Result<Vec<RefundRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT payment_id, for_booking_id, amount_minor, fee_minor, reason, status, created_at, \
             completed_at \
         FROM refunds WHERE payment_id = ANY($1) ORDER BY id",
    )
    .bind(ids)
    .fetch_all(db)
    .await
}

/// Records a refund made; `false` when the job is no longer ours (the attempt count is the
/// fencing token).
pub async fn succeed(
    tx: &mut PgConnection,
    id: i64,
    attempts: i32,
    reference: Option<&str>,
) -> Result<bool, sqlx::Error> {
    Ok(sqlx::query(
        "UPDATE refunds SET status = 'SUCCEEDED', processor_reference = $3, lease_until = NULL, \
         completed_at = now() WHERE id = $1 AND status = 'PROCESSING' AND attempts = $2",
    )
    .bind(id)
    .bind(attempts)
    .bind(reference)
    .execute(tx)
    .await?
    .rows_affected()
        == 1)
}
