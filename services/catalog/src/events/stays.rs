//! Keeps `hotel_stays`, the rooms search counts as taken, from booking's events.

use contracts::events::BookingEvent;
use platform::events::Envelope;
use platform::events::consumer::{EventHandler, HandleError, HandleFuture};
use sqlx::PgConnection;

use crate::store::hotels::{StayReport, apply_stays};

/// Records every hotel stay booking reports (a stay of its own or a trip's), with the status the
/// event carries. Statuses only move forward (pending payment, confirmed, then cancelled or
/// expired), so a redelivered or late event leaves the newer status in place.
pub struct Stays;

/// The stay an event reports, if the booking is for a hotel; refused when it cannot be one.
fn stay(event: &BookingEvent) -> Result<Option<StayReport>, HandleError> {
    let booking = event.booking();
    let Some(stay) = &booking.stay else {
        return Ok(None);
    };
    if stay.check_out <= stay.check_in || stay.rooms < 1 {
        return Err(HandleError::Reject(format!(
            "booking {}: a stay needs a check-out after check-in and at least one room",
            booking.booking_id
        )));
    }
    let report = StayReport {
        booking_id: booking.booking_id,
        hotel_id: stay.hotel_id,
        room_type_id: stay.room_type_id,
        user_id: booking.user_id,
        check_in: stay.check_in,
        check_out: stay.check_out,
        rooms: stay.rooms,
        status: booking.status.as_str(),
    };
    Ok(Some(report))
}

impl EventHandler for Stays {
    fn handle<'a>(&'a self, event: &'a Envelope, tx: &'a mut PgConnection) -> HandleFuture<'a> {
        self.handle_batch(vec![event], tx)
    }

    /// A batch becomes one statement holding each booking once, at its furthest status; search
    /// answers are dropped only when the rooms they count as taken changed.
    fn handle_batch<'a>(
        &'a self,
        events: Vec<&'a Envelope>,
        tx: &'a mut PgConnection,
    ) -> HandleFuture<'a> {
        Box::pin(async move {
            let stays = super::furthest_per_booking(events, stay)?;
            if apply_stays(&mut *tx, &stays).await? {
                crate::search_cache::changed(&mut *tx).await?;
            }
            Ok(())
        })
    }
}
