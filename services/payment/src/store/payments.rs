//! Payments as stored, and the events that publish their changes.

use chrono::{DateTime, Utc};
use contracts::events::{MoneyAmount, PaymentEvent, PaymentSnapshot};
use contracts::states::{PaymentFailure, PaymentMethod, PaymentStatus};
use platform::events::{Envelope, outbox};
use sqlx::{FromRow, PgConnection, PgPool};

use super::NullableText;
use super::cards::SavedCard;
use super::jobs::{JOBS_CHANNEL, wake_workers};

#[derive(Clone, Debug, FromRow)]
pub struct PaymentRow {
    pub id: i64,
    pub booking_id: i64,
    pub booking_reference: String,
    pub user_id: i64,
    #[sqlx(try_from = "String")]
    pub method: PaymentMethod,
    pub card_id: Option<String>,
    pub card_brand: Option<String>,
    pub card_last4: Option<String>,
    pub card_token: Option<String>,
    pub amount_minor: i64,
    pub currency: String,
    pub departure_at: DateTime<Utc>,
    pub description: String,
    #[sqlx(try_from = "String")]
    pub status: PaymentStatus,
    #[sqlx(try_from = "NullableText")]
    pub failure_reason: Option<PaymentFailure>,
    pub void_requested: bool,
    pub idempotency_key: String,
    pub processor_reference: Option<String>,
    pub attempts: i32,
    pub refunded_minor: i64,
    pub created_at: DateTime<Utc>,
    pub completed_at: Option<DateTime<Utc>>,
}

impl PaymentRow {
    /// A card payment without a card: the customer had none saved (outside demo mode) and is
    /// to choose a card or the wallet ([`choose_card`], [`choose_wallet`]).
    pub fn awaits_method(&self) -> bool {
        self.status == PaymentStatus::Pending && self.method.by_card() && self.card_token.is_none()
    }
}

pub const COLUMNS: &str = "id, booking_id, booking_reference, user_id, method, card_id, card_brand, card_last4, \
     card_token, amount_minor, currency, departure_at, description, status, failure_reason, void_requested, \
     idempotency_key, processor_reference, attempts, refunded_minor, created_at, completed_at";

/// A refund made of a payment, as `payment.refunded` tells it.
#[derive(Clone, Copy, Debug)]
pub struct RefundMade {
    pub fee_minor: i64,
    /// The booking it is for: the payment's own, or an item of the trip the payment is for.
    pub for_booking_id: i64,
}

pub fn snapshot(payment: &PaymentRow, refund: Option<RefundMade>) -> PaymentSnapshot {
    let currency = payment.currency.trim().to_owned();
    let money = |amount_minor| MoneyAmount {
        amount_minor,
        currency: currency.clone(),
    };
    PaymentSnapshot {
        payment_id: payment.id,
        booking_id: payment.booking_id,
        user_id: payment.user_id,
        method: payment.method,
        amount: money(payment.amount_minor),
        status: payment.status,
        failure_reason: payment.failure_reason,
        refunded: money(payment.refunded_minor),
        refund_fee: refund.map(|r| money(r.fee_minor)),
        card_last4: payment.card_last4.clone(),
        refund_for_booking_id: refund
            .map(|r| r.for_booking_id)
            .filter(|&booking_id| booking_id != payment.booking_id),
    }
}

/// Which event a payment's change is, given its snapshot.
pub type Kind = fn(PaymentSnapshot) -> PaymentEvent;

/// The envelope of `kind` for `payment`, keyed by booking so the booking's events stay in order.
fn event(
    kind: Kind,
    payment: &PaymentRow,
    refund: Option<RefundMade>,
) -> Result<(String, Envelope), sqlx::Error> {
    let event = kind(snapshot(payment, refund));
    let data = event.data().map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
    let key = payment.booking_id.to_string();
    Ok((
        key.clone(),
        Envelope::new("payment", event.kind(), key, data),
    ))
}

/// Records `kind` for `payment` in the outbox (with the refund made, on `payment.refunded`), keyed
/// by booking so the booking's events stay in order.
pub async fn publish(
    tx: &mut PgConnection,
    kind: Kind,
    payment: &PaymentRow,
    refund: Option<RefundMade>,
) -> Result<(), sqlx::Error> {
    let (key, envelope) = event(kind, payment, refund)?;
    outbox::enqueue(tx, PaymentEvent::TOPIC, &key, &envelope).await
}

/// Records `kind` for each payment in the outbox, in one statement.
pub async fn publish_many(
    tx: &mut PgConnection,
    kind: Kind,
    payments: &[PaymentRow],
) -> Result<(), sqlx::Error> {
    let events = payments
        .iter()
        .map(|payment| event(kind, payment, None))
        .collect::<Result<Vec<_>, sqlx::Error>>()?;
    outbox::enqueue_many(tx, PaymentEvent::TOPIC, &events).await
}

/// The payment of a booking, locked for the transaction.
pub async fn find_by_booking(
    tx: &mut PgConnection,
    booking_id: i64,
) -> Result<Option<PaymentRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM payments WHERE booking_id = $1 FOR UPDATE"
    ))
    .bind(booking_id)
    .fetch_optional(tx)
    .await
}

/// Payment `id`, or the payment of booking `booking_id`, locked for the transaction.
pub async fn find_for_update(
    tx: &mut PgConnection,
    id: Option<i64>,
    booking_id: Option<i64>,
) -> Result<Option<PaymentRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM payments WHERE id = $1 OR booking_id = $2 LIMIT 1 FOR UPDATE"
    ))
    .bind(id)
    .bind(booking_id)
    .fetch_optional(tx)
    .await
}

/// Sets the card an awaiting payment is charged to and makes it due now.
pub async fn choose_card(
    tx: &mut PgConnection,
    id: i64,
    method: PaymentMethod,
    card: &SavedCard,
) -> Result<PaymentRow, sqlx::Error> {
    let payment = sqlx::query_as(&format!(
        "UPDATE payments SET method = $2, card_id = $3, card_brand = $4, card_last4 = $5, \
         card_token = $6, next_attempt_at = now() WHERE id = $1 RETURNING {COLUMNS}"
    ))
    .bind(id)
    .bind(method.as_str())
    .bind(&card.id)
    .bind(&card.brand)
    .bind(&card.last4)
    .bind(&card.processor_token)
    .fetch_one(&mut *tx)
    .await?;
    wake_workers(tx).await?;
    Ok(payment)
}

/// Makes an awaiting payment a wallet payment, to be paid in the same transaction.
pub async fn choose_wallet(tx: &mut PgConnection, id: i64) -> Result<PaymentRow, sqlx::Error> {
    sqlx::query_as(&format!(
        "UPDATE payments SET method = 'wallet' WHERE id = $1 RETURNING {COLUMNS}"
    ))
    .bind(id)
    .fetch_one(tx)
    .await
}

/// [`COLUMNS`] qualified by the alias `p`, for statements where another table has columns of the
/// same names.
macro_rules! p_columns {
    () => {
        "p.id, p.booking_id, p.booking_reference, p.user_id, p.method, p.card_id, p.card_brand, \
         p.card_last4, p.card_token, p.amount_minor, p.currency, p.departure_at, p.description, \
         p.status, p.failure_reason, p.void_requested, p.idempotency_key, p.processor_reference, \
         p.attempts, p.refunded_minor, p.created_at, p.completed_at"
    };
}
pub(super) use p_columns;

/// Records the charges `$1` as succeeded with the processor's references `$2`, each only if its
/// attempt count is still `$3`.
const RECORD_CHARGED: &str = concat!(
    "UPDATE payments p SET status = 'SUCCEEDED', processor_reference = x.reference, \
         failure_reason = NULL, lease_until = NULL, completed_at = now() \
     FROM unnest($1::bigint[], $2::text[], $3::int[]) AS x(id, reference, attempts) \
     WHERE p.id = x.id AND p.status = 'PROCESSING' AND p.attempts = x.attempts \
     RETURNING ",
    p_columns!()
);

pub async fn find(db: &PgPool, id: i64) -> Result<Option<PaymentRow>, sqlx::Error> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM payments WHERE id = $1"))
        .bind(id)
        .fetch_optional(db)
        .await
}

pub async fn find_many(db: &PgPool, ids: &[i64]) -> Result<Vec<PaymentRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM payments WHERE id = ANY($1)"
    ))
    .bind(ids)
    .fetch_all(db)
    .await
}

/// A page of `user_id`'s payments (of one booking, if given), newest first.
pub async fn page_of_user(
    db: &PgPool,
    user_id: i64,
    booking_id: Option<i64>,
    limit: i64,
    offset: i64,
) -> Result<Vec<PaymentRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM payments WHERE user_id = $1 AND ($2::bigint IS NULL OR booking_id = $2) \
         ORDER BY id DESC LIMIT $3 OFFSET $4"
    ))
    .bind(user_id)
    .bind(booking_id)
    .bind(limit)
    .bind(offset)
    .fetch_all(db)
    .await
}

/// How many payments `user_id` has (of one booking, if given).
pub async fn count_of_user(
    db: &PgPool,
    user_id: i64,
    booking_id: Option<i64>,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT count(*) FROM payments WHERE user_id = $1 AND ($2::bigint IS NULL OR booking_id = $2)",
    )
    .bind(user_id)
    .bind(booking_id)
    .fetch_one(db)
    .await
}

/// New payments, column by column, for one bulk insert.
#[derive(Default)]
pub struct NewPayments {
    pub booking_id: Vec<i64>,
    pub booking_reference: Vec<String>,
    pub user_id: Vec<i64>,
    pub method: Vec<&'static str>,
    pub card_id: Vec<Option<String>>,
    pub card_brand: Vec<Option<String>>,
    pub card_last4: Vec<Option<String>>,
    pub card_token: Vec<Option<String>>,
    pub amount_minor: Vec<i64>,
    pub currency: Vec<String>,
    pub departure_at: Vec<DateTime<Utc>>,
    pub description: Vec<String>,
    pub status: Vec<&'static str>,
    pub failure_reason: Vec<Option<&'static str>>,
    pub idempotency_key: Vec<String>,
    /// Waits for the customer to choose how to pay ([`pay_with`]) instead of being charged.
    pub awaiting_method: Vec<bool>,
}

/// Inserts the new payments in one statement, with the workers' wake-up; a booking already
/// recorded (a redelivered or replayed event) is skipped. Returns those inserted.
pub async fn insert_many(
    tx: &mut PgConnection,
    new: &NewPayments,
) -> Result<Vec<PaymentRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "WITH i AS (INSERT INTO payments (booking_id, booking_reference, user_id, method, card_id, \
             card_brand, card_last4, card_token, amount_minor, currency, departure_at, description, \
             status, failure_reason, idempotency_key, completed_at, next_attempt_at) \
         SELECT booking_id, booking_reference, user_id, method, card_id, card_brand, card_last4, \
             card_token, amount_minor, currency, departure_at, description, status, \
             failure_reason, idempotency_key, CASE WHEN status = 'FAILED' THEN now() END, \
             CASE WHEN awaiting_method THEN 'infinity'::timestamptz ELSE now() END \
         FROM unnest($1::bigint[], $2::text[], \
             $3::bigint[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::bigint[], \
             $10::text[], $11::timestamptz[], $12::text[], $13::text[], $14::text[], $15::text[], \
             $17::bool[]) \
             AS x(booking_id, booking_reference, user_id, method, card_id, card_brand, card_last4, \
                  card_token, amount_minor, currency, departure_at, description, status, \
                  failure_reason, idempotency_key, awaiting_method) \
         ON CONFLICT (booking_id) DO NOTHING RETURNING *) \
         SELECT {COLUMNS}, pg_notify($16, '') FROM i ORDER BY id"
    ))
    .bind(&new.booking_id)
    .bind(&new.booking_reference)
    .bind(&new.user_id)
    .bind(&new.method)
    .bind(&new.card_id)
    .bind(&new.card_brand)
    .bind(&new.card_last4)
    .bind(&new.card_token)
    .bind(&new.amount_minor)
    .bind(&new.currency)
    .bind(&new.departure_at)
    .bind(&new.description)
    .bind(&new.status)
    .bind(&new.failure_reason)
    .bind(&new.idempotency_key)
    .bind(JOBS_CHANNEL)
    .bind(&new.awaiting_method)
    .fetch_all(tx)
    .await
}

/// Voids a payment not charged yet.
pub async fn void(tx: &mut PgConnection, id: i64) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE payments SET status = 'VOIDED', completed_at = now() WHERE id = $1")
        .bind(id)
        .execute(tx)
        .await
        .map(|_| ())
}

/// Asks the worker whose charge is in flight to void or refund it when it returns.
pub async fn request_void(tx: &mut PgConnection, id: i64) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE payments SET void_requested = true WHERE id = $1")
        .bind(id)
        .execute(tx)
        .await
        .map(|_| ())
}

/// Records successful charges in one statement. Only jobs still ours (the attempt count is the
/// fencing token) are recorded; returns those.
pub async fn succeed_many(
    tx: &mut PgConnection,
    ids: &[i64],
    references: &[String],
    attempts: &[i32],
) -> Result<Vec<PaymentRow>, sqlx::Error> {
    sqlx::query_as(RECORD_CHARGED)
        .bind(ids)
        .bind(references)
        .bind(attempts)
        .fetch_all(tx)
        .await
}

/// Records the end of a payment.
pub async fn finish(
    tx: &mut PgConnection,
    id: i64,
    status: PaymentStatus,
    reference: Option<&str>,
    failure: Option<&str>,
) -> Result<PaymentRow, sqlx::Error> {
    sqlx::query_as(&format!(
        "UPDATE payments SET status = $2, processor_reference = $3, failure_reason = $4, \
         lease_until = NULL, completed_at = now() WHERE id = $1 RETURNING {COLUMNS}"
    ))
    .bind(id)
    .bind(status.as_str())
    .bind(reference)
    .bind(failure)
    .fetch_one(tx)
    .await
}

/// Adds a refunded amount to a payment.
pub async fn add_refunded(
    tx: &mut PgConnection,
    id: i64,
    amount_minor: i64,
) -> Result<PaymentRow, sqlx::Error> {
    sqlx::query_as(&format!(
        "UPDATE payments SET refunded_minor = refunded_minor + $2 WHERE id = $1 RETURNING {COLUMNS}"
    ))
    .bind(id)
    .bind(amount_minor)
    .fetch_one(tx)
    .await
}

/// Locks the payments for the rest of the transaction, in the order given.
pub async fn lock_many(tx: &mut sqlx::PgConnection, ids: &[i64]) -> Result<(), sqlx::Error> {
    if ids.is_empty() {
        return Ok(());
    }
    sqlx::query("SELECT 1 FROM payments WHERE id = ANY($1) ORDER BY id FOR UPDATE")
        .bind(ids)
        .execute(tx)
        .await
        .map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::COLUMNS;

    #[test]
    fn the_qualified_columns_are_the_payment_columns() {
        let qualified: Vec<String> = COLUMNS.split(", ").map(|c| format!("p.{c}")).collect();
        assert_eq!(p_columns!(), qualified.join(", "));
    }
}
