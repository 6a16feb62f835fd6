//! Turns the events notification consumes into contact data, live updates and notifications, one
//! module per topic: `users` (contact data, welcome), `flights` (status changes: live updates and
//! notices), `bookings` (who is on which flight, booking notices). [`Notifier`] is the one
//! handler of the consumer group; it dispatches each event by its typed enum. One notification is
//! rendered per event and channel (the dedupe key makes redelivery harmless).

mod bookings;
mod flights;
mod users;

use std::sync::Arc;

use contracts::events::{BookingEvent, Event, FlightEvent, UserEvent};
use platform::events::Envelope;
use platform::events::consumer::{EventHandler, HandleFuture};
use sqlx::PgConnection;

use crate::domain::templates::{Channel, Rendered};
use crate::live::Live;
use crate::store::notifications::{self, NewNotification};
use crate::store::passengers;

pub struct Notifier {
    /// Channels notifications are created for besides in-app.
    pub email: bool,
    pub webhook: bool,
    pub live: Arc<Live>,
}

impl Notifier {
    fn channels(&self) -> Vec<Channel> {
        let mut channels = vec![Channel::InApp];
        if self.email {
            channels.push(Channel::Email);
        }
        if self.webhook {
            channels.push(Channel::Webhook);
        }
        channels
    }
}

/// A rendered notification, ready to be stored.
type Pending = NewNotification;

/// The dedupe key is `<event id>:<channel>`: the same event never makes the same notification
/// twice.
impl Pending {
    fn new(
        event: &Envelope,
        user_id: i64,
        kind: &str,
        channel: Channel,
        rendered: Rendered,
    ) -> Self {
        Self {
            user_id,
            kind: kind.to_owned(),
            channel,
            rendered,
            dedupe_key: format!("{}:{}", event.id, channel.as_str()),
        }
    }

    /// One of several notifications of one event, each to another user.
    fn to_one_of_many(
        event: &Envelope,
        user_id: i64,
        kind: &str,
        channel: Channel,
        rendered: Rendered,
    ) -> Self {
        Self {
            dedupe_key: format!("{}:{}:{user_id}", event.id, channel.as_str()),
            ..Self::new(event, user_id, kind, channel, rendered)
        }
    }
}

impl EventHandler for Notifier {
    fn handle<'a>(&'a self, event: &'a Envelope, tx: &'a mut PgConnection) -> HandleFuture<'a> {
        self.handle_batch(vec![event], tx)
    }

    /// User events in order first (so a booking notification finds a contact registered in the
    /// same batch), then every booking notification of the batch in one statement.
    fn handle_batch<'a>(
        &'a self,
        events: Vec<&'a Envelope>,
        tx: &'a mut PgConnection,
    ) -> HandleFuture<'a> {
        Box::pin(async move {
            let mut pending = Vec::new();
            let mut bookings = Vec::new();
            let mut passengers = Vec::new();
            let mut flights = Vec::new();
            for event in events {
                // Event types this build does not know notify nobody.
                let Some(decoded) = Event::decode(&event.kind, &event.data)? else {
                    continue;
                };
                match decoded {
                    Event::User(UserEvent::Registered(user)) => {
                        pending.extend(self.user_registered(tx, event, &user).await?);
                    }
                    Event::User(UserEvent::Updated(user)) => self.user_updated(tx, &user).await?,
                    Event::Booking(booking @ BookingEvent::Created(_)) => {
                        passengers.push(booking.into_booking());
                    }
                    Event::Booking(
                        booking @ (BookingEvent::Confirmed(_)
                        | BookingEvent::Cancelled(_)
                        | BookingEvent::Expired(_)),
                    ) => {
                        passengers.push(booking.booking().clone());
                        bookings.push((event, booking));
                    }
                    Event::Flight(FlightEvent::StatusChanged(flight)) => {
                        flights.push((event, flight));
                    }
                    Event::Flight(FlightEvent::Scheduled(_) | FlightEvent::Updated(_))
                    | Event::Payment(_)
                    | Event::Listing(_)
                    | Event::Car(_)
                    | Event::Activity(_) => {}
                }
            }
            passengers::track(tx, &passengers).await?;
            if !bookings.is_empty() {
                pending.extend(self.bookings(tx, &bookings).await?);
            }
            for (event, flight) in &flights {
                pending.extend(self.flight_changed(tx, event, flight).await?);
            }
            notifications::insert_many(tx, pending).await?;
            Ok(())
        })
    }
}
