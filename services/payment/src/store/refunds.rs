//! Refunds: at most one per payment, queued by the saga or the worker, made by the worker.

use chrono::{DateTime, Utc};
use sqlx::{FromRow, PgConnection, PgPool};

use super::jobs::wake_workers;

#[derive(Clone, Debug, FromRow)]
pub struct RefundRow {
    pub payment_id: i64,
    pub amount_minor: i64,
    pub fee_minor: i64,
    pub reason: String,
    pub status: String,
    pub created_at: DateTime<Utc>,
    pub completed_at: Option<DateTime<Utc>>,
}

/// Queues a refund of `payment`; a payment is refunded at most once.
pub async fn queue(
    tx: &mut PgConnection,
    payment_id: i64,
    amount_minor: i64,
    fee_minor: i64,
    reason: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO refunds (payment_id, amount_minor, fee_minor, reason, status) \
         VALUES ($1, $2, $3, $4, 'PENDING') ON CONFLICT (payment_id) DO NOTHING",
    )
    .bind(payment_id)
    .bind(amount_minor)
    .bind(fee_minor)
    .bind(reason)
    .execute(&mut *tx)
    .await?;
    wake_workers(tx).await
}

/// The refunds of these payments.
pub async fn of_payments(db: &PgPool, ids: &[i64]) -> Result<Vec<RefundRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT payment_id, amount_minor, fee_minor, reason, status, created_at, completed_at \
         FROM refunds WHERE payment_id = ANY($1)",
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
