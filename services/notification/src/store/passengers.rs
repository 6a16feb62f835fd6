//! Who is booked on which flight, kept from booking's events, and who a flight's change concerns.

use std::collections::HashMap;

use contracts::events::{BookingSnapshot, FlightBooking, FlightSnapshot};
use contracts::states::BookingStatus;
use sqlx::PgConnection;

/// Keeps who is booked on which flight, from the latest event of each flight booking in the batch
/// (a trip's flight included; stays and rentals have no flight).
pub async fn track(tx: &mut PgConnection, bookings: &[BookingSnapshot]) -> Result<(), sqlx::Error> {
    let latest: HashMap<i64, (&BookingSnapshot, &FlightBooking)> = bookings
        .iter()
        .filter_map(|b| Some((b.booking_id, (b, b.flight.as_ref()?))))
        .collect();
    if latest.is_empty() {
        return Ok(());
    }
    let booking_ids: Vec<i64> = latest.keys().copied().collect();
    let user_ids: Vec<i64> = latest.values().map(|(b, _)| b.user_id).collect();
    let flight_ids: Vec<i64> = latest.values().map(|(_, f)| f.flight_id).collect();
    let codes: Vec<&str> = latest
        .values()
        .map(|(_, f)| f.flight_code.as_str())
        .collect();
    let statuses: Vec<&str> = latest.values().map(|(b, _)| b.status.as_str()).collect();
    sqlx::query(
        "INSERT INTO passengers (booking_id, user_id, flight_id, flight_code, status) \
         SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::text[], $5::text[]) \
         ON CONFLICT (booking_id) DO UPDATE SET status = EXCLUDED.status, updated_at = now()",
    )
    .bind(&booking_ids)
    .bind(&user_ids)
    .bind(&flight_ids)
    .bind(&codes)
    .bind(&statuses)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// The booking statuses that put a customer on a flight.
fn live_booking_statuses() -> Vec<&'static str> {
    BookingStatus::ALL
        .into_iter()
        .filter(|status| status.holds_seats())
        .map(BookingStatus::as_str)
        .collect()
}

/// Subscribers of the flight and customers with a live booking on it, with their names.
pub async fn concerned(
    tx: &mut PgConnection,
    flight: &FlightSnapshot,
) -> Result<Vec<(i64, Option<String>)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT u.user_id, c.username FROM ( \
             SELECT user_id FROM subscriptions WHERE flight_code = $1 \
             UNION \
             SELECT user_id FROM passengers \
             WHERE flight_id = $2 AND status = ANY($3) \
         ) u LEFT JOIN contacts c ON c.user_id = u.user_id ORDER BY u.user_id",
    )
    .bind(&flight.flight_code)
    .bind(flight.flight_id)
    .bind(live_booking_statuses())
    .fetch_all(&mut *tx)
    .await
}
