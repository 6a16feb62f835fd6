//! Bookings of hotels, cars and trips: the booking row with its stay or rental.

use chrono::{DateTime, NaiveDate, Utc};
use contracts::states::{BookingStatus, CancelReason, CarType, PaymentMethod, Product};
use sqlx::postgres::PgRow;
use sqlx::{FromRow, PgExecutor, Row};
use uuid::Uuid;

use super::NullableText;

/// The hotel part of a booking.
#[derive(Clone, Debug)]
pub struct Stay {
    pub hotel_id: Uuid,
    pub room_type_id: Uuid,
    pub rate_plan_id: Uuid,
    pub hotel_name: String,
    pub city: String,
    pub room_type_name: String,
    pub check_in: NaiveDate,
    pub check_out: NaiveDate,
    pub rooms: i32,
    pub guests: i32,
}

/// The car part of a booking: days `[start, end)`.
#[derive(Clone, Debug)]
pub struct Rental {
    pub car_id: Uuid,
    pub car_type: CarType,
    pub car: String,
    pub location_code: String,
    pub start: NaiveDate,
    pub end: NaiveDate,
}

/// A booking of a hotel, a car or a trip, as stored.
#[derive(Clone, Debug)]
pub struct ProductBooking {
    pub id: i64,
    pub reference: String,
    pub user_id: i64,
    pub product: Product,
    pub trip_id: Option<i64>,
    pub status: BookingStatus,
    pub amount_minor: i64,
    pub currency: String,
    pub payment_method: Option<PaymentMethod>,
    pub payment_card_id: Option<String>,
    pub payment_id: Option<i64>,
    pub paid_at: Option<DateTime<Utc>>,
    pub refunded_minor: i64,
    pub refunded_at: Option<DateTime<Utc>>,
    pub request_hash: Option<Vec<u8>>,
    pub hold_expires_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub cancelled_at: Option<DateTime<Utc>>,
    pub cancel_reason: Option<CancelReason>,
    pub description: String,
    pub starts_at: DateTime<Utc>,
    pub refundable_until: Option<DateTime<Utc>>,
    pub stay: Option<Stay>,
    pub rental: Option<Rental>,
}

impl<'r> FromRow<'r, PgRow> for ProductBooking {
    fn from_row(row: &'r PgRow) -> Result<Self, sqlx::Error> {
        let code = |column: &str| -> Result<String, sqlx::Error> { row.try_get(column) };
        let decode = |e: contracts::states::UnknownCode| sqlx::Error::Decode(e.into());
        let stay = match row.try_get::<Option<Uuid>, _>("s_hotel_id")? {
            Some(hotel_id) => Some(Stay {
                hotel_id,
                room_type_id: row.try_get("s_room_type_id")?,
                rate_plan_id: row.try_get("s_rate_plan_id")?,
                hotel_name: row.try_get("s_hotel_name")?,
                city: row.try_get("s_city")?,
                room_type_name: row.try_get("s_room_type_name")?,
                check_in: row.try_get("s_check_in")?,
                check_out: row.try_get("s_check_out")?,
                rooms: row.try_get("s_rooms")?,
                guests: row.try_get("s_guests")?,
            }),
            None => None,
        };
        let rental = match row.try_get::<Option<Uuid>, _>("r_car_id")? {
            Some(car_id) => Some(Rental {
                car_id,
                car_type: code("r_car_type")?.parse().map_err(decode)?,
                car: row.try_get("r_car")?,
                location_code: row.try_get("r_location_code")?,
                start: row.try_get("r_start")?,
                end: row.try_get("r_end")?,
            }),
            None => None,
        };
        Ok(Self {
            id: row.try_get("id")?,
            reference: row.try_get("reference")?,
            user_id: row.try_get("user_id")?,
            product: code("product")?.parse().map_err(decode)?,
            trip_id: row.try_get("trip_id")?,
            status: code("status")?.parse().map_err(decode)?,
            amount_minor: row.try_get("amount_minor")?,
            currency: row.try_get("currency")?,
            payment_method: Option::<PaymentMethod>::try_from(
                row.try_get::<NullableText, _>("payment_method")?,
            )
            .map_err(decode)?,
            payment_card_id: row.try_get("payment_card_id")?,
            payment_id: row.try_get("payment_id")?,
            paid_at: row.try_get("paid_at")?,
            refunded_minor: row.try_get("refunded_minor")?,
            refunded_at: row.try_get("refunded_at")?,
            request_hash: row.try_get("request_hash")?,
            hold_expires_at: row.try_get("hold_expires_at")?,
            created_at: row.try_get("created_at")?,
            cancelled_at: row.try_get("cancelled_at")?,
            cancel_reason: Option::<CancelReason>::try_from(
                row.try_get::<NullableText, _>("cancel_reason")?,
            )
            .map_err(decode)?,
            description: row
                .try_get::<Option<String>, _>("description")?
                .unwrap_or_default(),
            starts_at: row
                .try_get::<Option<DateTime<Utc>>, _>("starts_at")?
                .unwrap_or_default(),
            refundable_until: row.try_get("refundable_until")?,
            stay,
            rental,
        })
    }
}

/// `SELECT`s [`ProductBooking`]s; a statement adds its `WHERE` clause on `b`.
const SELECT: &str = "SELECT b.id, b.reference, b.user_id, b.product, b.trip_id, b.status, \
         b.amount_minor, b.currency, b.payment_method, b.payment_card_id, b.payment_id, b.paid_at, \
         b.refunded_minor, b.refunded_at, b.request_hash, b.hold_expires_at, b.created_at, \
         b.cancelled_at, b.cancel_reason, b.description, b.starts_at, b.refundable_until, \
         s.hotel_id AS s_hotel_id, s.room_type_id AS s_room_type_id, s.rate_plan_id AS s_rate_plan_id, \
         s.hotel_name AS s_hotel_name, s.city AS s_city, s.room_type_name AS s_room_type_name, \
         s.check_in AS s_check_in, s.check_out AS s_check_out, s.rooms AS s_rooms, s.guests AS s_guests, \
         r.car_id AS r_car_id, r.car_type AS r_car_type, r.car AS r_car, \
         r.location_code AS r_location_code, lower(r.days) AS r_start, upper(r.days) AS r_end \
     FROM bookings b LEFT JOIN stays s ON s.booking_id = b.id \
     LEFT JOIN rentals r ON r.booking_id = b.id";

pub async fn find(db: impl PgExecutor<'_>, id: i64) -> Result<Option<ProductBooking>, sqlx::Error> {
    sqlx::query_as(&format!(
        "{SELECT} WHERE b.id = $1 AND b.product <> 'flight'"
    ))
    .bind(id)
    .fetch_optional(db)
    .await
}

pub async fn find_by_idempotency_key(
    db: impl PgExecutor<'_>,
    user_id: i64,
    key: &str,
) -> Result<Option<ProductBooking>, sqlx::Error> {
    sqlx::query_as(&format!(
        "{SELECT} WHERE b.user_id = $1 AND b.idempotency_key = $2 AND b.product <> 'flight'"
    ))
    .bind(user_id)
    .bind(key)
    .fetch_optional(db)
    .await
}

/// A trip's items that are not flights, in the order they were booked.
pub async fn items(
    db: impl PgExecutor<'_>,
    trip_id: i64,
) -> Result<Vec<ProductBooking>, sqlx::Error> {
    sqlx::query_as(&format!(
        "{SELECT} WHERE b.trip_id = $1 AND b.product <> 'flight' ORDER BY b.id"
    ))
    .bind(trip_id)
    .fetch_all(db)
    .await
}

/// What product a booking is for, and the trip it belongs to.
pub async fn kind(
    db: impl PgExecutor<'_>,
    id: i64,
) -> Result<Option<(Product, Option<i64>)>, sqlx::Error> {
    let found: Option<(String, Option<i64>)> =
        sqlx::query_as("SELECT product, trip_id FROM bookings WHERE id = $1")
            .bind(id)
            .fetch_optional(db)
            .await?;
    found
        .map(|(product, trip)| {
            product
                .parse()
                .map(|p| (p, trip))
                .map_err(|e: contracts::states::UnknownCode| sqlx::Error::Decode(e.into()))
        })
        .transpose()
}

/// The ids of a trip's items (every product), in the order they were booked.
pub async fn item_ids(db: impl PgExecutor<'_>, trip_id: i64) -> Result<Vec<i64>, sqlx::Error> {
    sqlx::query_scalar("SELECT id FROM bookings WHERE trip_id = $1 ORDER BY id")
        .bind(trip_id)
        .fetch_all(db)
        .await
}

/// A booking of a hotel, a car or a trip (or a trip's item) as it is inserted.
pub struct NewProductBooking<'a> {
    pub reference: &'a str,
    pub user_id: i64,
    pub product: Product,
    pub trip_id: Option<i64>,
    pub amount_minor: i64,
    pub currency: &'a str,
    pub payment_method: Option<PaymentMethod>,
    pub payment_card_id: Option<&'a str>,
    pub idempotency_key: Option<&'a str>,
    pub request_hash: Option<&'a [u8]>,
    /// `None` for a trip's items: the trip's hold covers them.
    pub hold_expires_at: Option<DateTime<Utc>>,
    pub description: &'a str,
    pub starts_at: DateTime<Utc>,
    pub refundable_until: Option<DateTime<Utc>>,
}

/// The insert of a booking awaiting payment, its values `$1` to `$14` bound by [`bind_new`].
macro_rules! insert_booking {
    () => {
        "INSERT INTO bookings (reference, user_id, product, trip_id, passengers, seats, status, \
                               amount_minor, currency, payment_method, payment_card_id, \
                               idempotency_key, request_hash, hold_expires_at, description, \
                               starts_at, refundable_until) \
         VALUES ($1, $2, $3, $4, '[]', '{}', 'PENDING_PAYMENT', $5, $6, $7, $8, $9, $10, $11, $12, \
                 $13, $14) \
         RETURNING id, created_at"
    };
}

type Inserted<'q> =
    sqlx::query::QueryAs<'q, sqlx::Postgres, (i64, DateTime<Utc>), sqlx::postgres::PgArguments>;

/// Binds `$1` to `$14` of [`insert_booking`].
fn bind_new<'q>(query: Inserted<'q>, booking: &'q NewProductBooking<'q>) -> Inserted<'q> {
    query
        .bind(booking.reference)
        .bind(booking.user_id)
        .bind(booking.product.as_str())
        .bind(booking.trip_id)
        .bind(booking.amount_minor)
        .bind(booking.currency)
        .bind(booking.payment_method.map(PaymentMethod::as_str))
        .bind(booking.payment_card_id)
        .bind(booking.idempotency_key)
        .bind(booking.request_hash)
        .bind(booking.hold_expires_at)
        .bind(booking.description)
        .bind(booking.starts_at)
        .bind(booking.refundable_until)
}

/// Inserts the booking awaiting payment; returns its id and creation time.
pub async fn insert(
    db: impl PgExecutor<'_>,
    booking: &NewProductBooking<'_>,
) -> Result<(i64, DateTime<Utc>), sqlx::Error> {
    bind_new(sqlx::query_as(insert_booking!()), booking)
        .fetch_one(db)
        .await
}

/// Inserts the booking of a stay awaiting payment and its stay, in one statement; returns the
/// booking's id and creation time.
pub async fn insert_stay(
    db: impl PgExecutor<'_>,
    booking: &NewProductBooking<'_>,
    stay: &super::stays::NewStay<'_>,
) -> Result<(i64, DateTime<Utc>), sqlx::Error> {
    let query = sqlx::query_as(concat!(
        "WITH b AS (",
        insert_booking!(),
        "), s AS (INSERT INTO stays (booking_id, hotel_id, room_type_id, rate_plan_id, hotel_name, \
                                     city, room_type_name, check_in, check_out, rooms, guests) \
                  SELECT b.id, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24 FROM b) \
         SELECT id, created_at FROM b"
    ));
    bind_new(query, booking)
        .bind(stay.hotel_id)
        .bind(stay.room_type_id)
        .bind(stay.rate_plan_id)
        .bind(stay.hotel_name)
        .bind(stay.city)
        .bind(stay.room_type_name)
        .bind(stay.check_in)
        .bind(stay.check_out)
        .bind(stay.rooms)
        .bind(stay.guests)
        .fetch_one(db)
        .await
}

/// Sets a trip's price and description once its items are held.
pub async fn set_price(
    db: impl PgExecutor<'_>,
    id: i64,
    amount_minor: i64,
    currency: &str,
    description: &str,
    starts_at: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE bookings SET amount_minor = $2, currency = $3, description = $4, starts_at = $5 \
         WHERE id = $1",
    )
    .bind(id)
    .bind(amount_minor)
    .bind(currency)
    .bind(description)
    .bind(starts_at)
    .execute(db)
    .await
    .map(|_| ())
}

/// Confirms a booking with the payment that paid for it, and announces the change.
pub async fn set_paid(
    db: impl PgExecutor<'_>,
    id: i64,
    payment_id: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "WITH u AS (UPDATE bookings SET status = 'CONFIRMED', payment_id = $2, paid_at = now(), \
             updated_at = now() WHERE id = $1 RETURNING id) \
         SELECT pg_notify($3, id::text) FROM u",
    )
    .bind(id)
    .bind(payment_id)
    .bind(super::bookings::STATUS_CHANNEL)
    .execute(db)
    .await
    .map(|_| ())
}

/// How many of a trip's items still hold their inventory.
pub async fn live_items(db: impl PgExecutor<'_>, trip_id: i64) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT count(*) FROM bookings WHERE trip_id = $1 \
             AND status IN ('PENDING_PAYMENT', 'CONFIRMED')",
    )
    .bind(trip_id)
    .fetch_one(db)
    .await
}

/// A page of a user's bookings of every product, newest first (trips' items inside their trip),
/// as `(id, product)`, and how many there are.
pub async fn list_for_user(
    db: impl PgExecutor<'_> + Copy,
    user_id: i64,
    limit: i64,
    offset: i64,
) -> Result<(Vec<(i64, String)>, i64), sqlx::Error> {
    let rows = sqlx::query_as(
        "SELECT id, product FROM bookings WHERE user_id = $1 AND trip_id IS NULL \
         ORDER BY id DESC LIMIT $2 OFFSET $3",
    )
    .bind(user_id)
    .bind(limit)
    .bind(offset)
    .fetch_all(db)
    .await?;
    let total =
        sqlx::query_scalar("SELECT count(*) FROM bookings WHERE user_id = $1 AND trip_id IS NULL")
            .bind(user_id)
            .fetch_one(db)
            .await?;
    Ok((rows, total))
}

/// Bookings of any user found by `reference` and/or on flight `flight_id` (trip items too, since
/// a reference or a flight names them directly), and of `user_id` when given; newest first.
pub async fn search(
    db: impl PgExecutor<'_> + Copy,
    user_id: Option<i64>,
    reference: Option<&str>,
    flight_id: Option<i64>,
    limit: i64,
    offset: i64,
) -> Result<(Vec<(i64, String)>, i64), sqlx::Error> {
    const FILTER: &str = "($1::bigint IS NULL OR user_id = $1) \
         AND ($2::text IS NULL OR reference = $2) AND ($3::bigint IS NULL OR flight_id = $3)";
    let rows = sqlx::query_as(&format!(
        "SELECT id, product FROM bookings WHERE {FILTER} ORDER BY id DESC LIMIT $4 OFFSET $5"
    ))
    .bind(user_id)
    .bind(reference)
    .bind(flight_id)
    .bind(limit)
    .bind(offset)
    .fetch_all(db)
    .await?;
    let total = sqlx::query_scalar(&format!("SELECT count(*) FROM bookings WHERE {FILTER}"))
        .bind(user_id)
        .bind(reference)
        .bind(flight_id)
        .fetch_one(db)
        .await?;
    Ok((rows, total))
}

/// How many of a trip's live items have begun by `now`: flights by their departure, the others
/// by check-in or pick-up.
pub async fn started_items(
    db: impl PgExecutor<'_>,
    trip_id: i64,
    now: DateTime<Utc>,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT count(*) FROM bookings b LEFT JOIN flights f ON f.flight_id = b.flight_id \
         WHERE b.trip_id = $1 AND b.status IN ('PENDING_PAYMENT', 'CONFIRMED') \
             AND COALESCE(f.departure_at, b.starts_at) <= $2",
    )
    .bind(trip_id)
    .bind(now)
    .fetch_one(db)
    .await
}

/// A page of a user's trips, newest first, and how many they have.
pub async fn list_trips(
    db: impl PgExecutor<'_> + Copy,
    user_id: i64,
    limit: i64,
    offset: i64,
) -> Result<(Vec<i64>, i64), sqlx::Error> {
    let ids = sqlx::query_scalar(
        "SELECT id FROM bookings WHERE user_id = $1 AND product = 'trip' \
         ORDER BY id DESC LIMIT $2 OFFSET $3",
    )
    .bind(user_id)
    .bind(limit)
    .bind(offset)
    .fetch_all(db)
    .await?;
    let total =
        sqlx::query_scalar("SELECT count(*) FROM bookings WHERE user_id = $1 AND product = 'trip'")
            .bind(user_id)
            .fetch_one(db)
            .await?;
    Ok((ids, total))
}
