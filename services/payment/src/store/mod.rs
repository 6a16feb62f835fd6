//! Payments as stored, and the events that publish their changes.

use chrono::{DateTime, Utc};
use contracts::events::{MoneyAmount, PaymentEvent, PaymentSnapshot};
use contracts::states::{PaymentFailure, PaymentMethod, PaymentStatus, UnknownCode};
use platform::events::{Envelope, outbox};
use sqlx::{FromRow, PgConnection};

/// The channel that wakes the payment worker when a job is due.
pub const JOBS_CHANNEL: &str = "payment_jobs";

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

pub const COLUMNS: &str = "id, booking_id, booking_reference, user_id, method, card_id, card_brand, card_last4, \
     card_token, amount_minor, currency, departure_at, description, status, failure_reason, void_requested, \
     idempotency_key, processor_reference, attempts, refunded_minor, created_at, completed_at";

pub fn snapshot(payment: &PaymentRow, refund_fee_minor: Option<i64>) -> PaymentSnapshot {
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
        refund_fee: refund_fee_minor.map(money),
        card_last4: payment.card_last4.clone(),
    }
}

/// A nullable text column, read as text and then parsed into a wire code.
#[derive(sqlx::Type)]
#[sqlx(transparent)]
pub struct NullableText(Option<String>);

impl TryFrom<NullableText> for Option<PaymentFailure> {
    type Error = UnknownCode;

    fn try_from(text: NullableText) -> Result<Self, UnknownCode> {
        text.0.map(PaymentFailure::try_from).transpose()
    }
}

/// Which event a payment's change is, given its snapshot.
pub type Kind = fn(PaymentSnapshot) -> PaymentEvent;

/// The envelope of `kind` for `payment`, keyed by booking so the booking's events stay in order.
fn event(
    kind: Kind,
    payment: &PaymentRow,
    refund_fee_minor: Option<i64>,
) -> Result<(String, Envelope), sqlx::Error> {
    let event = kind(snapshot(payment, refund_fee_minor));
    let data = event.data().map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
    let key = payment.booking_id.to_string();
    Ok((
        key.clone(),
        Envelope::new("payment", event.kind(), key, data),
    ))
}

/// Records `kind` for `payment` in the outbox, keyed by booking so the booking's events stay in
/// order.
pub async fn publish(
    tx: &mut PgConnection,
    kind: Kind,
    payment: &PaymentRow,
    refund_fee_minor: Option<i64>,
) -> Result<(), sqlx::Error> {
    let (key, envelope) = event(kind, payment, refund_fee_minor)?;
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

/// Wakes the workers (on every instance) when the transaction commits.
async fn wake_workers(tx: &mut PgConnection) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT pg_notify($1, '')")
        .bind(JOBS_CHANNEL)
        .execute(tx)
        .await
        .map(|_| ())
}

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

/// Queues a refund of `payment`; a payment is refunded at most once.
pub async fn queue_refund(
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
