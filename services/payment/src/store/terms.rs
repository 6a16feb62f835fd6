//! The terms of each booking a payment is for (the booking it paid, or each item of the trip it
//! paid), recorded with the payment from `booking.created`, for refund quotes.

use chrono::{DateTime, Utc};
use contracts::events::{BookingSnapshot, TripItem};
use contracts::states::Product;
use sqlx::{FromRow, PgConnection, PgPool};

use crate::domain::refunds::{Booked, CancellationTerms};

#[derive(Clone, Debug, FromRow)]
pub struct TermsRow {
    pub booking_id: i64,
    pub payment_id: i64,
    #[sqlx(try_from = "String")]
    pub product: Product,
    pub price_minor: i64,
    pub starts_at: DateTime<Utc>,
    pub refundable_until: Option<DateTime<Utc>>,
}

impl TermsRow {
    pub fn booked(&self) -> Booked {
        Booked {
            product: self.product,
            terms: CancellationTerms::of(self.product, self.starts_at, self.refundable_until),
            price_minor: self.price_minor,
        }
    }
}

/// New terms, column by column, for one bulk insert.
#[derive(Default)]
pub struct NewTerms {
    /// The booking whose payment they belong to.
    pub paid_by: Vec<i64>,
    pub booking_id: Vec<i64>,
    pub product: Vec<&'static str>,
    pub price_minor: Vec<i64>,
    pub starts_at: Vec<DateTime<Utc>>,
    pub refundable_until: Vec<Option<DateTime<Utc>>>,
    pub flight_id: Vec<Option<i64>>,
}

impl NewTerms {
    /// The terms of `booking`'s payment: those of the items it lists (a trip), else its own.
    pub fn push(&mut self, booking: &BookingSnapshot) {
        let own = TripItem {
            booking_id: booking.booking_id,
            product: booking.product,
            price: booking.price.clone(),
            starts_at: booking.starts_at,
            refundable_until: booking.refundable_until,
            flight_id: booking.flight.as_ref().map(|f| f.flight_id),
        };
        let items = if booking.items.is_empty() {
            std::slice::from_ref(&own)
        } else {
            &booking.items
        };
        for item in items {
            self.paid_by.push(booking.booking_id);
            self.booking_id.push(item.booking_id);
            self.product.push(item.product.as_str());
            self.price_minor.push(item.price.amount_minor);
            self.starts_at.push(item.starts_at);
            self.refundable_until.push(item.refundable_until);
            self.flight_id.push(item.flight_id);
        }
    }
}

/// Records the terms with the payments of their bookings, in one statement; terms already
/// recorded (a redelivered or replayed event) are kept.
pub async fn insert_many(tx: &mut PgConnection, new: &NewTerms) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO booking_terms (booking_id, payment_id, product, price_minor, starts_at, \
             refundable_until, flight_id) \
         SELECT x.booking_id, p.id, x.product, x.price_minor, x.starts_at, x.refundable_until, \
             x.flight_id \
         FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::bigint[], $5::timestamptz[], \
             $6::timestamptz[], $7::bigint[]) \
             AS x(paid_by, booking_id, product, price_minor, starts_at, refundable_until, flight_id) \
         JOIN payments p ON p.booking_id = x.paid_by \
         ON CONFLICT (booking_id) DO NOTHING",
    )
    .bind(&new.paid_by)
    .bind(&new.booking_id)
    .bind(&new.product)
    .bind(&new.price_minor)
    .bind(&new.starts_at)
    .bind(&new.refundable_until)
    .bind(&new.flight_id)
    .execute(tx)
    .await
    .map(|_| ())
}

/// What a refund quote for booking `booking_id` covers, in booking order: the booking's own terms
/// (a booking paid alone, or a trip's item), or a trip's, its items'. Empty for a booking payment
/// knows nothing of.
pub async fn of_booking(db: &PgPool, booking_id: i64) -> Result<Vec<TermsRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT booking_id, payment_id, product, price_minor, starts_at, refundable_until \
         FROM booking_terms WHERE booking_id = $1 \
         UNION ALL \
         SELECT t.booking_id, t.payment_id, t.product, t.price_minor, t.starts_at, \
             t.refundable_until \
         FROM booking_terms t JOIN payments p ON p.id = t.payment_id \
         WHERE p.booking_id = $1 AND t.booking_id <> $1 \
         ORDER BY booking_id",
    )
    .bind(booking_id)
    .fetch_all(db)
    .await
}

/// Moves the deadlines of every booking on flight `flight_id` to its departure `departure_at`:
/// a flight's fare rule counts from when it actually leaves, as the refund does.
pub async fn flight_moved(
    tx: &mut PgConnection,
    flight_id: &[i64],
    departure_at: &[DateTime<Utc>],
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE booking_terms t SET starts_at = x.departure_at \
         FROM unnest($1::bigint[], $2::timestamptz[]) AS x(flight_id, departure_at) \
         WHERE t.flight_id = x.flight_id AND t.starts_at <> x.departure_at",
    )
    .bind(flight_id)
    .bind(departure_at)
    .execute(tx)
    .await
    .map(|_| ())
}
