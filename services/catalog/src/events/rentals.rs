//! Keeps the car rentals that car search checks availability against, from booking's events.

use contracts::events::BookingEvent;
use platform::events::Envelope;
use platform::events::consumer::{EventHandler, HandleFuture};
use sqlx::PgConnection;

use crate::store::cars::Rental;

/// Records every car booking's dates and status. A status only moves forward, so redelivery and
/// reordering leave the last one: a late `booking.created` never revives a cancelled rental.
pub struct CarRentals;

/// The rental an event reports, if the booking is for a car.
fn rental(event: &BookingEvent) -> Option<Rental> {
    let booking = event.booking();
    booking.rental.as_ref().map(|rental| Rental {
        booking_id: booking.booking_id,
        car_id: rental.car_id,
        user_id: booking.user_id,
        start_date: rental.start_date,
        end_date: rental.end_date,
        status: booking.status,
    })
}

impl EventHandler for CarRentals {
    fn handle<'a>(&'a self, event: &'a Envelope, tx: &'a mut PgConnection) -> HandleFuture<'a> {
        self.handle_batch(vec![event], tx)
    }

    /// A batch becomes one statement holding each booking once, at its furthest status.
    fn handle_batch<'a>(
        &'a self,
        events: Vec<&'a Envelope>,
        tx: &'a mut PgConnection,
    ) -> HandleFuture<'a> {
        Box::pin(async move {
            let rentals = super::furthest_per_booking(events, |event| Ok(rental(event)))?;
            // Search answers are dropped only when the days they count as taken changed.
            if crate::store::cars::apply_rentals(&mut *tx, &rentals).await? {
                crate::search_cache::changed(&mut *tx).await?;
            }
            Ok(())
        })
    }
}
