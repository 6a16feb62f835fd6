//! Wallets: a balance per user and currency, and the ledger of its movements.

use chrono::{DateTime, Utc};
use sqlx::{FromRow, PgConnection, PgPool};

use super::PaymentRow;

/// One movement of a wallet.
#[derive(Clone, Debug, FromRow)]
pub struct EntryRow {
    pub id: i64,
    pub kind: String,
    pub amount_minor: i64,
    pub currency: String,
    pub payment_id: Option<i64>,
    pub created_at: DateTime<Utc>,
}

/// `user_id`'s balances, `(minor units, currency)`, by currency.
pub async fn balances(db: &PgPool, user_id: i64) -> Result<Vec<(i64, String)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT balance_minor, currency FROM wallets WHERE user_id = $1 ORDER BY currency",
    )
    .bind(user_id)
    .fetch_all(db)
    .await
}

/// `user_id`'s 50 most recent movements, newest first.
pub async fn recent_entries(db: &PgPool, user_id: i64) -> Result<Vec<EntryRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, kind, amount_minor, currency, payment_id, created_at FROM wallet_entries \
         WHERE user_id = $1 ORDER BY id DESC LIMIT 50",
    )
    .bind(user_id)
    .fetch_all(db)
    .await
}

/// Adds to a wallet, creating it if needed.
async fn credit(
    tx: &mut PgConnection,
    user_id: i64,
    currency: &str,
    amount_minor: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO wallets (user_id, currency, balance_minor) VALUES ($1, $2, $3) \
         ON CONFLICT (user_id, currency) DO UPDATE SET balance_minor = wallets.balance_minor + $3",
    )
    .bind(user_id)
    .bind(currency)
    .bind(amount_minor)
    .execute(tx)
    .await
    .map(|_| ())
}

/// Records a top-up charged at the processor and credits it, in one transaction. A replayed
/// top-up (same `request_key`) credits nothing more.
pub async fn top_up(
    db: &PgPool,
    user_id: i64,
    currency: &str,
    amount_minor: i64,
    request_key: &str,
    processor_reference: &str,
) -> Result<(), sqlx::Error> {
    let mut tx = db.begin().await?;
    let recorded = sqlx::query(
        "INSERT INTO wallet_entries (user_id, currency, amount_minor, kind, request_key, processor_reference) \
         VALUES ($1, $2, $3, 'top_up', $4, $5) ON CONFLICT (user_id, request_key) WHERE request_key IS NOT NULL DO NOTHING",
    )
    .bind(user_id)
    .bind(currency)
    .bind(amount_minor)
    .bind(request_key)
    .bind(processor_reference)
    .execute(&mut *tx)
    .await?
    .rows_affected()
        == 1;
    if recorded {
        credit(&mut tx, user_id, currency, amount_minor).await?;
    }
    tx.commit().await
}

/// Pays `payment` from its owner's wallet if the balance allows; `false` when it does not.
pub async fn pay(tx: &mut PgConnection, payment: &PaymentRow) -> Result<bool, sqlx::Error> {
    let debited = sqlx::query(
        "UPDATE wallets SET balance_minor = balance_minor - $3 \
         WHERE user_id = $1 AND currency = $2 AND balance_minor >= $3",
    )
    .bind(payment.user_id)
    .bind(&payment.currency)
    .bind(payment.amount_minor)
    .execute(&mut *tx)
    .await?
    .rows_affected()
        == 1;
    if debited && payment.amount_minor > 0 {
        sqlx::query(
            "INSERT INTO wallet_entries (user_id, currency, amount_minor, kind, payment_id) \
             VALUES ($1, $2, $3, 'payment', $4)",
        )
        .bind(payment.user_id)
        .bind(&payment.currency)
        .bind(-payment.amount_minor)
        .bind(payment.id)
        .execute(&mut *tx)
        .await?;
    }
    Ok(debited)
}

/// Gives `amount_minor` of `payment` back to its owner's wallet.
pub async fn refund(
    tx: &mut PgConnection,
    payment: &PaymentRow,
    amount_minor: i64,
) -> Result<(), sqlx::Error> {
    credit(tx, payment.user_id, &payment.currency, amount_minor).await?;
    sqlx::query(
        "INSERT INTO wallet_entries (user_id, currency, amount_minor, kind, payment_id) \
         VALUES ($1, $2, $3, 'refund', $4)",
    )
    .bind(payment.user_id)
    .bind(&payment.currency)
    .bind(amount_minor)
    .bind(payment.id)
    .execute(tx)
    .await
    .map(|_| ())
}
