//! Keeps `hotel_stays`, the rooms search counts as taken, from booking's events.

use contracts::events::BookingEvent;
use platform::events::Envelope;
use platform::events::consumer::{EventHandler, HandleError, HandleFuture};
use sqlx::PgConnection;

use crate::store::hotels::{StayReport, record_stay};

/// Records every hotel stay booking reports (a stay of its own or a trip's), with the status the
/// event carries. Statuses only move forward (pending payment, confirmed, then cancelled or
/// expired), so a redelivered or late event leaves the newer status in place.
pub struct Stays;

impl EventHandler for Stays {
    fn handle<'a>(&'a self, event: &'a Envelope, tx: &'a mut PgConnection) -> HandleFuture<'a> {
        Box::pin(async move {
            // Event types this build does not know hold no rooms.
            let Some(event) = BookingEvent::decode(&event.kind, &event.data)? else {
                return Ok(());
            };
            let booking = event.into_booking();
            let Some(stay) = booking.stay else {
                return Ok(());
            };
            if stay.check_out <= stay.check_in || stay.rooms < 1 {
                return Err(HandleError::Reject(format!(
                    "booking {}: a stay needs a check-out after check-in and at least one room",
                    booking.booking_id
                )));
            }
            record_stay(
                &mut *tx,
                &StayReport {
                    booking_id: booking.booking_id,
                    hotel_id: stay.hotel_id,
                    room_type_id: stay.room_type_id,
                    user_id: booking.user_id,
                    check_in: stay.check_in,
                    check_out: stay.check_out,
                    rooms: stay.rooms,
                    status: booking.status.as_str(),
                },
            )
            .await?;
            crate::search_cache::changed(&mut *tx).await?;
            Ok(())
        })
    }
}
