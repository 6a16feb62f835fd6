//! Turns events into notifications: keeps contact data from identity's events, and renders one
//! notification per event and channel (the dedupe key makes redelivery harmless).

use std::collections::HashMap;
use std::sync::Arc;

use contracts::events::{
    BookingEvent, BookingSnapshot, Event, FlightEvent, FlightSnapshot, UserEvent, UserSnapshot,
};
use contracts::states::BookingStatus;
use platform::events::Envelope;
use platform::events::consumer::{EventHandler, HandleFuture};
use sqlx::PgConnection;

use crate::domain::templates::{self, Channel, Rendered};
use crate::live::{Live, Update};

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
struct Pending {
    user_id: i64,
    kind: String,
    channel: Channel,
    rendered: Rendered,
    /// `<event id>:<channel>`: the same event never makes the same notification twice.
    dedupe_key: String,
}

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

/// Stores notifications in one statement. In-app ones are delivered by being stored; the others
/// wait for the deliverer.
async fn store(tx: &mut PgConnection, notifications: Vec<Pending>) -> Result<(), sqlx::Error> {
    if notifications.is_empty() {
        return Ok(());
    }
    let mut user_ids = Vec::with_capacity(notifications.len());
    let mut kinds = Vec::with_capacity(notifications.len());
    let mut channels = Vec::with_capacity(notifications.len());
    let mut subjects = Vec::with_capacity(notifications.len());
    let mut bodies = Vec::with_capacity(notifications.len());
    let mut keys = Vec::with_capacity(notifications.len());
    for n in notifications {
        user_ids.push(n.user_id);
        kinds.push(n.kind);
        channels.push(n.channel.as_str());
        subjects.push(n.rendered.subject);
        bodies.push(n.rendered.body);
        keys.push(n.dedupe_key);
    }
    sqlx::query(
        "INSERT INTO notifications (user_id, kind, channel, subject, body, status, dedupe_key, sent_at) \
         SELECT user_id, kind, channel, subject, body, \
                CASE WHEN channel = 'in_app' THEN 'sent' ELSE 'pending' END, dedupe_key, \
                CASE WHEN channel = 'in_app' THEN now() END \
         FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[]) \
              AS x(user_id, kind, channel, subject, body, dedupe_key) \
         ON CONFLICT (dedupe_key) DO NOTHING",
    )
    .bind(&user_ids)
    .bind(&kinds)
    .bind(&channels)
    .bind(&subjects)
    .bind(&bodies)
    .bind(&keys)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

async fn remember(tx: &mut PgConnection, user: &UserSnapshot) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO contacts (user_id, username, email, updated_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (user_id) DO UPDATE SET username = EXCLUDED.username, email = EXCLUDED.email, \
             updated_at = EXCLUDED.updated_at WHERE contacts.updated_at < EXCLUDED.updated_at",
    )
    .bind(user.user_id)
    .bind(&user.username)
    .bind(&user.email)
    .bind(user.updated_at)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// Keeps who is booked on which flight, from the latest event of each booking in the batch.
async fn track_passengers(
    tx: &mut PgConnection,
    bookings: &[BookingSnapshot],
) -> Result<(), sqlx::Error> {
    let latest: HashMap<i64, &BookingSnapshot> =
        bookings.iter().map(|b| (b.booking_id, b)).collect();
    if latest.is_empty() {
        return Ok(());
    }
    let column = |f: fn(&BookingSnapshot) -> i64| latest.values().map(|b| f(b)).collect::<Vec<_>>();
    let (booking_ids, user_ids, flight_ids) = (
        column(|b| b.booking_id),
        column(|b| b.user_id),
        column(|b| b.flight_id),
    );
    let codes: Vec<&str> = latest.values().map(|b| b.flight_code.as_str()).collect();
    let statuses: Vec<&str> = latest.values().map(|b| b.status.as_str()).collect();
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
async fn concerned(
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

impl Notifier {
    /// A flight's change goes live to its room on every instance; everyone it concerns finds it
    /// in their inbox, and those not connected anywhere are also told by email (and webhook).
    async fn flight_changed(
        &self,
        tx: &mut PgConnection,
        event: &Envelope,
        flight: &FlightSnapshot,
    ) -> Result<Vec<Pending>, sqlx::Error> {
        self.live
            .publish(&Update::of_flight(
                &event.id.to_string(),
                flight,
                event.time,
            ))
            .await;
        let recipients = concerned(tx, flight).await?;
        let ids: Vec<i64> = recipients.iter().map(|(id, _)| *id).collect();
        let offline = self.live.offline(&ids).await;
        let mut pending = Vec::new();
        for (user_id, username) in &recipients {
            for channel in self.channels() {
                if channel != Channel::InApp && !offline.contains(user_id) {
                    continue;
                }
                pending.push(Pending::to_one_of_many(
                    event,
                    *user_id,
                    "flight-status-changed",
                    channel,
                    templates::flight_status(flight, username.as_deref(), channel),
                ));
            }
        }
        Ok(pending)
    }

    fn welcome(&self, event: &Envelope, user: &UserSnapshot) -> Vec<Pending> {
        self.channels()
            .into_iter()
            .map(|channel| {
                Pending::new(
                    event,
                    user.user_id,
                    "welcome",
                    channel,
                    templates::welcome(&user.username, channel),
                )
            })
            .collect()
    }

    /// The notifications of booking events, with one lookup of the customers' names.
    async fn bookings(
        &self,
        tx: &mut PgConnection,
        events: &[(&Envelope, BookingEvent)],
    ) -> Result<Vec<Pending>, sqlx::Error> {
        let user_ids: Vec<i64> = events.iter().map(|(_, e)| e.booking().user_id).collect();
        let names: std::collections::HashMap<i64, String> =
            sqlx::query_as("SELECT user_id, username FROM contacts WHERE user_id = ANY($1)")
                .bind(&user_ids)
                .fetch_all(&mut *tx)
                .await?
                .into_iter()
                .collect();
        let mut pending = Vec::new();
        for (event, booking_event) in events {
            let booking = booking_event.booking();
            let username = names.get(&booking.user_id).map(String::as_str);
            let label = booking_event.kind().replace('.', "-");
            for channel in self.channels() {
                if let Some(rendered) =
                    templates::booking(booking_event.kind(), booking, username, channel)
                {
                    pending.push(Pending::new(
                        event,
                        booking.user_id,
                        &label,
                        channel,
                        rendered,
                    ));
                }
            }
        }
        Ok(pending)
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
                        remember(tx, &user).await?;
                        pending.extend(self.welcome(event, &user));
                    }
                    Event::User(UserEvent::Updated(user)) => remember(tx, &user).await?,
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
                    | Event::Payment(_) => {}
                }
            }
            track_passengers(tx, &passengers).await?;
            if !bookings.is_empty() {
                pending.extend(self.bookings(tx, &bookings).await?);
            }
            for (event, flight) in &flights {
                pending.extend(self.flight_changed(tx, event, flight).await?);
            }
            store(tx, pending).await?;
            Ok(())
        })
    }
}
