use chrono::{DateTime, Utc};
use contracts::events::InventorySnapshot;
use contracts::states::{BookingStatus, Cabin, CancelReason, FlightStatus, PaymentMethod};
use sqlx::types::Json;
use sqlx::{FromRow, PgExecutor, Row};

use super::NullableText;
use crate::domain::holds::Unpaid;

/// A booking as stored, with its flight.
#[derive(Clone, Debug, FromRow)]
pub struct BookingRow {
    pub id: i64,
    pub reference: String,
    pub user_id: i64,
    pub flight_id: i64,
    /// The trip this booking is an item of.
    pub trip_id: Option<i64>,
    #[sqlx(try_from = "String")]
    pub cabin: Cabin,
    pub passengers: Json<Vec<String>>,
    pub seats: Vec<String>,
    #[sqlx(try_from = "String")]
    pub status: BookingStatus,
    pub amount_minor: i64,
    pub currency: String,
    #[sqlx(try_from = "NullableText")]
    pub payment_method: Option<PaymentMethod>,
    pub request_hash: Option<Vec<u8>>,
    pub hold_expires_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub cancelled_at: Option<DateTime<Utc>>,
    pub payment_card_id: Option<String>,
    pub payment_id: Option<i64>,
    pub paid_at: Option<DateTime<Utc>>,
    pub refunded_minor: i64,
    pub refunded_at: Option<DateTime<Utc>>,
    #[sqlx(try_from = "NullableText")]
    pub cancel_reason: Option<CancelReason>,
    pub flight_code: String,
    pub origin: String,
    pub destination: String,
    pub departure_at: DateTime<Utc>,
    pub arrival_at: DateTime<Utc>,
    pub origin_time_zone: String,
    #[sqlx(try_from = "String")]
    pub flight_status: FlightStatus,
}

/// The columns of a [`BookingRow`], from a booking `b` joined with its flight `f`.
macro_rules! booking_columns {
    () => {
        "b.id, b.reference, b.user_id, b.flight_id, b.trip_id, b.cabin, b.passengers, b.seats, b.status, \
         b.amount_minor, b.currency, b.payment_method, b.request_hash, b.hold_expires_at, b.created_at, b.cancelled_at, \
         b.payment_card_id, b.payment_id, b.paid_at, b.refunded_minor, b.refunded_at, b.cancel_reason, \
         f.flight_code, f.origin, f.destination, f.departure_at, f.arrival_at, f.origin_time_zone, \
         f.status AS flight_status"
    };
}

/// `SELECT`s [`BookingRow`]s; a statement adds its `WHERE` clause.
macro_rules! select_bookings {
    () => {
        concat!(
            "SELECT ",
            booking_columns!(),
            " FROM bookings b JOIN flights f ON f.flight_id = b.flight_id"
        )
    };
}

/// Confirms the bookings in `$1` still awaiting payment with the payments in `$2`, announces each
/// on channel `$3`, and returns them with their cabin's inventory. The UPDATE locks each row and
/// re-checks its status after any concurrent change commits.
const CONFIRM: &str = concat!(
    "WITH u AS (UPDATE bookings SET status = 'CONFIRMED', paid_at = now(), updated_at = now(), \
         payment_id = x.payment_id \
         FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::text[]) \
             AS x(id, payment_id, amount_minor, currency) \
         WHERE bookings.id = x.id AND bookings.status = 'PENDING_PAYMENT' \
             AND bookings.product = 'flight' AND bookings.amount_minor = x.amount_minor AND bookings.currency = x.currency \
         RETURNING bookings.*) \
     SELECT pg_notify($5, b.id::text), i.capacity AS inventory_capacity, \
         i.taken AS inventory_taken, i.version AS inventory_version, ",
    booking_columns!(),
    " FROM u b JOIN flights f ON f.flight_id = b.flight_id \
     JOIN inventory i ON i.flight_id = b.flight_id AND i.cabin = b.cabin ORDER BY b.id"
);

pub struct NewBooking<'a> {
    pub reference: &'a str,
    pub user_id: i64,
    pub flight_id: i64,
    pub cabin: Cabin,
    pub passengers: &'a [String],
    pub seats: &'a [String],
    pub status: BookingStatus,
    pub amount_minor: i64,
    pub currency: &'a str,
    pub payment_method: Option<PaymentMethod>,
    pub payment_card_id: Option<&'a str>,
    pub idempotency_key: Option<&'a str>,
    pub request_hash: Option<&'a [u8]>,
    /// `None` for a trip's items: the trip's hold covers them.
    pub hold_expires_at: Option<DateTime<Utc>>,
    pub trip_id: Option<i64>,
}

/// Inserts a booking and its seat assignments unless its flight has been cancelled; returns its
/// id and creation time, `None` for a cancelled flight.
///
/// The seats were taken earlier in the transaction, by a statement that read the flight's status
/// as it was when that statement began. A flight cancelled while it waited for the cabin's row
/// lock shows here, as this statement reads the status again.
pub async fn insert(
    db: &mut sqlx::PgConnection,
    booking: &NewBooking<'_>,
) -> Result<Option<(i64, DateTime<Utc>)>, sqlx::Error> {
    // The booking and its seats in one statement (one round trip).
    sqlx::query_as(
        "WITH b AS (INSERT INTO bookings (reference, user_id, flight_id, cabin, passengers, seats, status, \
                         amount_minor, currency, payment_method, idempotency_key, request_hash, hold_expires_at, \
                         payment_card_id, trip_id) \
                    SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15 \
                    WHERE EXISTS (SELECT 1 FROM flights WHERE flight_id = $3 AND status <> 'Cancelled') \
                    RETURNING id, created_at), \
              s AS (INSERT INTO seat_assignments (flight_id, seat, booking_id) \
                    SELECT $3, seat, b.id FROM b, UNNEST($6::text[]) AS seat) \
         SELECT id, created_at FROM b",
    )
    .bind(booking.reference)
    .bind(booking.user_id)
    .bind(booking.flight_id)
    .bind(booking.cabin.as_str())
    .bind(Json(booking.passengers))
    .bind(booking.seats)
    .bind(booking.status.as_str())
    .bind(booking.amount_minor)
    .bind(booking.currency)
    .bind(booking.payment_method.map(PaymentMethod::as_str))
    .bind(booking.idempotency_key)
    .bind(booking.request_hash)
    .bind(booking.hold_expires_at)
    .bind(booking.payment_card_id)
    .bind(booking.trip_id)
    .fetch_optional(&mut *db)
    .await
}

/// Waits until no other transaction is creating a booking for the user, and keeps them waiting
/// until this one ends: what [`unpaid`] reads next then stays true until the commit.
pub async fn lock_user_holds(db: impl PgExecutor<'_>, user_id: i64) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT pg_advisory_xact_lock($1, hashtext($2::text))")
        .bind(platform::db::locks::UNPAID_HOLDS)
        .bind(user_id)
        .execute(db)
        .await
        .map(|_| ())
}

/// The unpaid holds of user `$1`, with `$2`'s seats, and `$nights` for the room-nights and
/// car-days column.
macro_rules! unpaid_holds {
    ($nights:literal) => {
        concat!(
            "SELECT count(*) FILTER (WHERE trip_id IS NULL), COALESCE(sum(cardinality(seats)), 0)::bigint, \
                    COALESCE(sum(cardinality(seats)) FILTER (WHERE flight_id = $2), 0)::bigint, \
                    (SELECT COALESCE(sum(capacity), 0)::bigint FROM inventory WHERE flight_id = $2), ",
            $nights,
            " FROM bookings WHERE user_id = $1 AND status = 'PENDING_PAYMENT'"
        )
    };
}

/// What the user holds awaiting payment, over all flights and on `flight_id`, and how many seats
/// that flight has; with `nights`, also the room-nights and car-days held (a trip's items
/// included), else 0 for them. It runs under the user's lock, so a flight booking does not pay
/// for summing nights; each form is its own prepared statement with a stable plan.
pub async fn unpaid(
    db: impl PgExecutor<'_>,
    user_id: i64,
    flight_id: i64,
    nights: bool,
) -> Result<Unpaid, sqlx::Error> {
    let sql = if nights {
        unpaid_holds!(
            "COALESCE((SELECT sum(s.rooms * (s.check_out - s.check_in)) FROM stays s \
               JOIN bookings b ON b.id = s.booking_id \
               WHERE b.user_id = $1 AND b.status = 'PENDING_PAYMENT' AND s.holding), 0)::bigint \
             + COALESCE((SELECT sum(upper(r.days) - lower(r.days)) FROM rentals r \
               JOIN bookings b ON b.id = r.booking_id \
               WHERE b.user_id = $1 AND b.status = 'PENDING_PAYMENT' AND r.holding), 0)::bigint"
        )
    } else {
        unpaid_holds!("0::bigint")
    };
    let (bookings, seats, seats_on_flight, flight_capacity, nights) = sqlx::query_as(sql)
        .bind(user_id)
        .bind(flight_id)
        .fetch_one(db)
        .await?;
    Ok(Unpaid {
        bookings,
        seats,
        seats_on_flight,
        flight_capacity,
        nights,
    })
}

/// The bookings on a flight that hold seats (awaiting payment or confirmed), locked for this
/// transaction.
pub async fn lock_live_on_flight(
    db: impl PgExecutor<'_>,
    flight_id: i64,
) -> Result<Vec<i64>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT id FROM bookings WHERE flight_id = $1 \
             AND status IN ('PENDING_PAYMENT', 'CONFIRMED') ORDER BY id FOR UPDATE",
    )
    .bind(flight_id)
    .fetch_all(db)
    .await
}

pub async fn find(db: impl PgExecutor<'_>, id: i64) -> Result<Option<BookingRow>, sqlx::Error> {
    sqlx::query_as(concat!(select_bookings!(), " WHERE b.id = $1"))
        .bind(id)
        .fetch_optional(db)
        .await
}

/// Locks the booking row for the rest of the transaction.
pub async fn lock(db: impl PgExecutor<'_>, id: i64) -> Result<bool, sqlx::Error> {
    sqlx::query("SELECT 1 FROM bookings WHERE id = $1 FOR UPDATE")
        .bind(id)
        .fetch_optional(db)
        .await
        .map(|row| row.is_some())
}

pub async fn find_by_idempotency_key(
    db: impl PgExecutor<'_>,
    user_id: i64,
    key: &str,
) -> Result<Option<BookingRow>, sqlx::Error> {
    sqlx::query_as(concat!(
        select_bookings!(),
        " WHERE b.user_id = $1 AND b.idempotency_key = $2"
    ))
    .bind(user_id)
    .bind(key)
    .fetch_optional(db)
    .await
}

/// A page of a user's bookings, newest first, and how many they have.
pub async fn list_for_user(
    db: impl PgExecutor<'_> + Copy,
    user_id: i64,
    limit: i64,
    offset: i64,
) -> Result<(Vec<BookingRow>, i64), sqlx::Error> {
    let rows = sqlx::query_as(concat!(
        select_bookings!(),
        " WHERE b.user_id = $1 ORDER BY b.id DESC LIMIT $2 OFFSET $3"
    ))
    .bind(user_id)
    .bind(limit)
    .bind(offset)
    .fetch_all(db)
    .await?;
    let total = sqlx::query_scalar("SELECT count(*) FROM bookings WHERE user_id = $1")
        .bind(user_id)
        .fetch_one(db)
        .await?;
    Ok((rows, total))
}

/// The channel on which every status change is announced (payload: the booking id), so that a
/// request waiting for its booking to be paid wakes on whichever instance it runs.
pub const STATUS_CHANNEL: &str = "booking_status";

/// Sets the status (and, for an ending, the reason) and announces the change when the transaction
/// commits.
pub async fn set_status(
    db: impl PgExecutor<'_>,
    id: i64,
    status: BookingStatus,
    cancel_reason: Option<CancelReason>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "WITH u AS (UPDATE bookings SET status = $2, updated_at = now(), \
             cancelled_at = CASE WHEN $2 IN ('CANCELLED', 'EXPIRED') THEN now() ELSE cancelled_at END, \
             paid_at = CASE WHEN $2 = 'CONFIRMED' THEN now() ELSE paid_at END, \
             cancel_reason = COALESCE($3, cancel_reason) \
             WHERE id = $1 RETURNING id) \
         SELECT pg_notify($4, id::text) FROM u",
    )
    .bind(id)
    .bind(status.as_str())
    .bind(cancel_reason.map(CancelReason::as_str))
    .bind(STATUS_CHANNEL)
    .execute(db)
    .await
    .map(|_| ())
}

/// A payment that went through, as the payment service reported it.
pub struct Payment {
    pub booking_id: i64,
    pub payment_id: i64,
    pub amount_minor: i64,
    pub currency: String,
}

/// Confirms the bookings still awaiting payment, each with the payment that paid for it, and
/// announces each change; returns the confirmed bookings with their cabin's inventory. Bookings
/// not awaiting payment (any more) are left as they are and not returned.
pub async fn confirm(
    db: impl PgExecutor<'_>,
    payments: &[Payment],
) -> Result<Vec<(BookingRow, InventorySnapshot)>, sqlx::Error> {
    let ids: Vec<i64> = payments.iter().map(|p| p.booking_id).collect();
    let payment_ids: Vec<i64> = payments.iter().map(|p| p.payment_id).collect();
    let amounts: Vec<i64> = payments.iter().map(|p| p.amount_minor).collect();
    let currencies: Vec<&str> = payments.iter().map(|p| p.currency.as_str()).collect();
    let rows = sqlx::query(CONFIRM)
        .bind(&ids)
        .bind(&payment_ids)
        .bind(&amounts)
        .bind(&currencies)
        .bind(STATUS_CHANNEL)
        .fetch_all(db)
        .await?;
    rows.iter()
        .map(|row| {
            let booking = BookingRow::from_row(row)?;
            let capacity: i32 = row.try_get("inventory_capacity")?;
            let taken: i32 = row.try_get("inventory_taken")?;
            let inventory = InventorySnapshot {
                flight_id: booking.flight_id,
                cabin: booking.cabin,
                capacity,
                seats_left: capacity - taken,
                version: row.try_get("inventory_version")?,
            };
            Ok((booking, inventory))
        })
        .collect()
}

/// Of `ids`, the bookings still awaiting payment, with their price: after a confirmation, those
/// whose payment did not match the price.
pub async fn still_pending(
    db: impl PgExecutor<'_>,
    ids: &[i64],
) -> Result<Vec<(i64, i64, String)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, amount_minor, currency FROM bookings \
         WHERE id = ANY($1) AND status = 'PENDING_PAYMENT' ORDER BY id",
    )
    .bind(ids)
    .fetch_all(db)
    .await
}

/// Records everything refunded so far.
pub async fn set_refunded(
    db: impl PgExecutor<'_>,
    id: i64,
    payment_id: i64,
    refunded_minor: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "WITH u AS (UPDATE bookings SET refunded_minor = GREATEST(refunded_minor, $2), \
             refunded_at = now(), payment_id = COALESCE(payment_id, $3), updated_at = now() \
             WHERE id = $1 RETURNING id) \
         SELECT pg_notify($4, id::text) FROM u",
    )
    .bind(id)
    .bind(refunded_minor)
    .bind(payment_id)
    .bind(STATUS_CHANNEL)
    .execute(db)
    .await
    .map(|_| ())
}

/// Bookings whose hold has run out without payment, locked for this transaction; rows another
/// instance is already expiring are skipped.
pub async fn lock_expired_holds(
    db: impl PgExecutor<'_>,
    limit: i64,
) -> Result<Vec<i64>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT id FROM bookings WHERE status = 'PENDING_PAYMENT' AND hold_expires_at <= now() \
         ORDER BY hold_expires_at LIMIT $1 FOR UPDATE SKIP LOCKED",
    )
    .bind(limit)
    .fetch_all(db)
    .await
}

pub async fn release_seats(db: impl PgExecutor<'_>, id: i64) -> Result<u64, sqlx::Error> {
    sqlx::query("DELETE FROM seat_assignments WHERE booking_id = $1")
        .bind(id)
        .execute(db)
        .await
        .map(|r| r.rows_affected())
}

/// A trip's flights, in the order they were booked.
pub async fn trip_flights(
    db: impl PgExecutor<'_>,
    trip_id: i64,
) -> Result<Vec<BookingRow>, sqlx::Error> {
    sqlx::query_as(concat!(
        select_bookings!(),
        " WHERE b.trip_id = $1 ORDER BY b.id"
    ))
    .bind(trip_id)
    .fetch_all(db)
    .await
}

/// The price of a trip's item, if `item` is an item of `trip_id`.
pub async fn item_price(
    db: impl PgExecutor<'_>,
    item: i64,
    trip_id: i64,
) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query_scalar("SELECT amount_minor FROM bookings WHERE id = $1 AND trip_id = $2")
        .bind(item)
        .bind(trip_id)
        .fetch_optional(db)
        .await
}

/// The trips with a live booking on a flight, in id order (not locked).
pub async fn trips_on_flight(
    db: impl PgExecutor<'_>,
    flight_id: i64,
) -> Result<Vec<i64>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT DISTINCT trip_id FROM bookings WHERE flight_id = $1 AND trip_id IS NOT NULL \
             AND status IN ('PENDING_PAYMENT', 'CONFIRMED') ORDER BY trip_id",
    )
    .bind(flight_id)
    .fetch_all(db)
    .await
}
