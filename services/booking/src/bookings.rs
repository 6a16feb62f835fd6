//! What booking does: takes seats and records the booking in one transaction, cancels and gives
//! seats back, and publishes every change through the outbox.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::oneshot;

use chrono::Utc;
use contracts::events::{
    BookingEvent, BookingSnapshot, FlightBooking, FlightSnapshot, InventorySnapshot, MoneyAmount,
};
use contracts::states::{Cabin, CancelReason, FlightStatus, Product};
use platform::auth::Caller;
use platform::events::{Envelope, outbox};
use platform::http::PageRequest;
use sha2::{Digest, Sha256};
use sqlx::{PgConnection, PgPool};

use crate::domain::holds::UnpaidLimits;
use crate::domain::{BookingStatus, CabinSeats, PaymentMethod, Seat, SeatError};
use crate::error::BookingError;
use crate::jobs::settlement::StatusWatch;
use crate::store;
use crate::store::bookings::{BookingRow, NewBooking};
use crate::store::inventory::Inventory;

pub struct Bookings {
    pub db: PgPool,
    /// How long a booking awaiting payment holds its seats.
    pub hold: Duration,
    /// How long a booking request waits for the payment to settle before answering with the
    /// booking still awaiting payment.
    pub confirm_wait: Duration,
    pub watch: Arc<StatusWatch>,
    /// What one user may hold awaiting payment.
    pub unpaid: UnpaidLimits,
}

/// Which flight a booking is for.
#[derive(Clone, Debug)]
pub enum FlightRef {
    Id(i64),
    Code(String),
}

/// A booking request, parsed.
#[derive(Clone, Debug)]
pub struct BookingRequest {
    pub flight: FlightRef,
    pub cabin: Cabin,
    /// Each passenger's name and the seat they asked for, if any.
    pub passengers: Vec<(String, Option<Seat>)>,
    pub payment_method: Option<PaymentMethod>,
    /// The saved card (payment service's id) to pay with.
    pub payment_card_id: Option<String>,
}

impl BookingRequest {
    /// What makes two requests "the same" for an idempotency key.
    pub(crate) fn fingerprint(&self) -> Vec<u8> {
        let flight = match &self.flight {
            FlightRef::Id(id) => format!("id:{id}"),
            FlightRef::Code(code) => format!("code:{code}"),
        };
        let passengers: Vec<String> = self
            .passengers
            .iter()
            .map(|(name, seat)| {
                format!(
                    "{name}/{}",
                    seat.as_ref().map(ToString::to_string).unwrap_or_default()
                )
            })
            .collect();
        let text = format!(
            "{flight}|{}|{}|{}|{}",
            self.cabin,
            passengers.join(";"),
            self.payment_method
                .map(PaymentMethod::as_str)
                .unwrap_or_default(),
            self.payment_card_id.as_deref().unwrap_or_default()
        );
        Sha256::digest(text.as_bytes()).to_vec()
    }
}

/// A created booking, or the one an earlier request with the same idempotency key created.
pub enum Created {
    New(BookingRow),
    Replayed(BookingRow),
}

const REFERENCE_ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";

pub(crate) fn new_reference() -> String {
    uuid::Uuid::new_v4()
        .as_bytes()
        .iter()
        .take(8)
        .map(|b| REFERENCE_ALPHABET[usize::from(*b) % REFERENCE_ALPHABET.len()] as char)
        .collect()
}

pub(crate) fn inventory_snapshot(inventory: &Inventory) -> InventorySnapshot {
    InventorySnapshot {
        flight_id: inventory.flight_id,
        cabin: inventory.cabin,
        capacity: inventory.capacity,
        seats_left: inventory.capacity - inventory.taken,
        version: inventory.version,
    }
}

fn snapshot(
    booking: &BookingRow,
    inventory: InventorySnapshot,
    previous_status: Option<BookingStatus>,
) -> BookingSnapshot {
    let passengers = booking.passengers.0.len();
    BookingSnapshot {
        booking_id: booking.id,
        reference: booking.reference.clone(),
        user_id: booking.user_id,
        product: Product::Flight,
        trip_id: booking.trip_id,
        description: format!(
            "{} {}, {passengers} passenger{}",
            booking.flight_code,
            booking.cabin,
            if passengers == 1 { "" } else { "s" }
        ),
        starts_at: booking.departure_at,
        refundable_until: None,
        flight: Some(FlightBooking {
            flight_id: booking.flight_id,
            flight_code: booking.flight_code.clone(),
            departure_at: booking.departure_at,
            cabin: booking.cabin,
            seats: booking.seats.clone(),
            passengers: booking.passengers.0.clone(),
            inventory,
        }),
        stay: None,
        rental: None,
        items: Vec::new(),
        price: MoneyAmount {
            amount_minor: booking.amount_minor,
            currency: booking.currency.clone(),
        },
        status: booking.status,
        payment_method: booking.payment_method,
        payment_card_id: booking.payment_card_id.clone(),
        previous_status,
        cancel_reason: booking.cancel_reason,
    }
}

/// Which event a booking's change is, given its snapshot.
pub(crate) type Kind = fn(BookingSnapshot) -> BookingEvent;

fn event(
    kind: Kind,
    booking: &BookingRow,
    inventory: InventorySnapshot,
    previous_status: Option<BookingStatus>,
) -> Result<(String, Envelope), BookingError> {
    let event = kind(snapshot(booking, inventory, previous_status));
    let data = event.data().map_err(anyhow::Error::from)?;
    let key = booking.id.to_string();
    Ok((
        key.clone(),
        Envelope::new("booking", event.kind(), key, data),
    ))
}

pub(crate) async fn publish(
    tx: &mut PgConnection,
    kind: Kind,
    booking: &BookingRow,
    inventory: InventorySnapshot,
    previous_status: Option<BookingStatus>,
) -> Result<(), BookingError> {
    let (key, envelope) = event(kind, booking, inventory, previous_status)?;
    outbox::enqueue(tx, BookingEvent::TOPIC, &key, &envelope).await?;
    Ok(())
}

pub(crate) fn departed(flight: &store::flights::Flight) -> bool {
    flight.status.has_departed() || flight.departure_at <= Utc::now()
}

impl Bookings {
    /// Takes the seats and records the booking in one transaction. With an idempotency key, the
    /// same request again returns the same booking, and a different request with the same key
    /// is refused.
    ///
    /// The booking is created awaiting payment, and the payment service is asked for it through
    /// `booking.created`. With `wait`, the call then waits (at most the configured bound) for the
    /// payment to settle, so that a quick payment answers with the booking already confirmed.
    pub async fn create(
        &self,
        caller: &Caller,
        request: BookingRequest,
        idempotency_key: Option<&str>,
        wait: bool,
    ) -> Result<Created, BookingError> {
        let (created, changed) = self
            .create_now(caller, request, idempotency_key, wait)
            .await?;
        if !wait {
            return Ok(created);
        }
        Ok(match created {
            Created::New(booking) => Created::New(self.settled(booking, changed).await?),
            Created::Replayed(booking) => Created::Replayed(self.settled(booking, changed).await?),
        })
    }

    /// The booking once it has left `PENDING_PAYMENT`, or as it is when the wait runs out.
    /// `changed` is a subscription taken before the booking was committed, if there is one.
    async fn settled(
        &self,
        booking: BookingRow,
        changed: Option<oneshot::Receiver<()>>,
    ) -> Result<BookingRow, BookingError> {
        if booking.status != BookingStatus::PendingPayment || self.confirm_wait.is_zero() {
            return Ok(booking);
        }
        let changed = match changed {
            Some(changed) => changed,
            None => {
                let changed = self.watch.subscribe(booking.id);
                // It may have changed before this subscription.
                let current = store::bookings::find(&self.db, booking.id)
                    .await?
                    .ok_or(BookingError::BookingNotFound)?;
                if current.status != BookingStatus::PendingPayment {
                    self.watch.forget(booking.id);
                    return Ok(current);
                }
                changed
            }
        };
        let settled = tokio::time::timeout(self.confirm_wait, changed).await;
        self.watch.forget(booking.id);
        if settled.is_err() {
            return Ok(booking);
        }
        Ok(store::bookings::find(&self.db, booking.id)
            .await?
            .unwrap_or(booking))
    }

    async fn create_now(
        &self,
        caller: &Caller,
        request: BookingRequest,
        idempotency_key: Option<&str>,
        wait: bool,
    ) -> Result<(Created, Option<oneshot::Receiver<()>>), BookingError> {
        let fingerprint = request.fingerprint();
        if let Some(key) = idempotency_key
            && let Some(existing) =
                store::bookings::find_by_idempotency_key(&self.db, caller.user_id, key).await?
        {
            return Ok((replay(existing, &fingerprint)?, None));
        }
        match self
            .create_once(caller, &request, idempotency_key, &fingerprint, wait)
            .await
        {
            // A concurrent request with the same key made the booking that now counts against
            // the limit: this one is its replay.
            Err(BookingError::UnpaidLimit(limit)) if idempotency_key.is_some() => {
                let key = idempotency_key.unwrap_or_default();
                let existing =
                    store::bookings::find_by_idempotency_key(&self.db, caller.user_id, key)
                        .await?
                        .ok_or(BookingError::UnpaidLimit(limit))?;
                Ok((replay(existing, &fingerprint)?, None))
            }
            Err(BookingError::Database(e))
                if idempotency_key.is_some() && platform::db::is_unique_violation(&e) =>
            {
                // A concurrent request with the same key won the race.
                let key = idempotency_key.unwrap_or_default();
                let existing =
                    store::bookings::find_by_idempotency_key(&self.db, caller.user_id, key)
                        .await?
                        // The key is taken by a booking of another product.
                        .ok_or(BookingError::IdempotencyMismatch)?;
                Ok((replay(existing, &fingerprint)?, None))
            }
            other => other.map(|(booking, changed)| (Created::New(booking), changed)),
        }
    }

    async fn create_once(
        &self,
        caller: &Caller,
        request: &BookingRequest,
        idempotency_key: Option<&str>,
        fingerprint: &[u8],
        wait: bool,
    ) -> Result<(BookingRow, Option<oneshot::Receiver<()>>), BookingError> {
        let mut tx = self.db.begin().await?;
        // One booking at a time per user, so that what they hold unpaid, read below, cannot
        // change before this booking commits.
        store::bookings::lock_user_holds(&mut *tx, caller.user_id).await?;
        let hold_expires_at = Utc::now()
            + chrono::Duration::from_std(self.hold).unwrap_or(chrono::Duration::minutes(15));
        let (booking, inventory) = hold_flight(
            &mut tx,
            caller.user_id,
            request,
            &self.unpaid,
            FlightHold {
                trip_id: None,
                idempotency_key,
                request_hash: idempotency_key.map(|_| fingerprint),
                hold_expires_at: Some(hold_expires_at),
            },
        )
        .await?;
        publish(
            &mut tx,
            BookingEvent::Created,
            &booking,
            inventory_snapshot(&inventory),
            None,
        )
        .await?;
        let id = booking.id;
        // Subscribed before the commit, so the change cannot slip past unseen.
        let changed = (wait && !self.confirm_wait.is_zero()).then(|| self.watch.subscribe(id));
        if let Err(e) = tx.commit().await {
            self.watch.forget(id);
            return Err(e.into());
        }
        tracing::info!(booking_id = id, reference = booking.reference, flight = %booking.flight_code, seats = ?booking.seats, "booking awaiting payment");
        Ok((booking, changed))
    }

    /// A booking the caller may see: their own, or any for ops and admins. Others' bookings are
    /// reported as not found, so their existence does not leak.
    pub async fn get(&self, caller: &Caller, id: i64) -> Result<BookingRow, BookingError> {
        match store::bookings::find(&self.db, id).await? {
            Some(booking) if booking.user_id == caller.user_id || caller.is_staff() => Ok(booking),
            _ => Err(BookingError::BookingNotFound),
        }
    }

    /// Cancels and gives the seats back. Cancelling a cancelled booking returns it unchanged; a
    /// booking whose flight has departed cannot be cancelled. A paid booking is refunded by the
    /// payment service, by the fare rule.
    ///
    /// A trip's flight may be cancelled on its own: the trip is locked first (the order every
    /// path takes), and a trip still awaiting payment ends whole.
    pub async fn cancel(&self, caller: &Caller, id: i64) -> Result<BookingRow, BookingError> {
        let mut tx = self.db.begin().await?;
        let trip_id = store::products::kind(&mut *tx, id)
            .await?
            .and_then(|(_, trip)| trip);
        if let Some(trip) = trip_id {
            store::bookings::lock(&mut *tx, trip).await?;
        }
        if !store::bookings::lock(&mut *tx, id).await? {
            return Err(BookingError::BookingNotFound);
        }
        let booking = store::bookings::find(&mut *tx, id)
            .await?
            .ok_or(BookingError::BookingNotFound)?;
        if booking.user_id != caller.user_id && !caller.is_staff() {
            return Err(BookingError::BookingNotFound);
        }
        if !booking.status.holds_seats() {
            return Ok(booking);
        }
        let flight = store::flights::find(&mut *tx, booking.flight_id)
            .await?
            .ok_or(BookingError::FlightNotFound)?;
        if departed(&flight) {
            return Err(BookingError::Departed);
        }
        end(
            &mut tx,
            booking,
            BookingStatus::Cancelled,
            CancelReason::Customer,
        )
        .await?;
        if let Some(trip) = trip_id {
            crate::products::item_ended(&mut tx, trip, CancelReason::Customer).await?;
        }
        tx.commit().await?;
        tracing::info!(booking_id = id, "booking cancelled");
        store::bookings::find(&self.db, id)
            .await?
            .ok_or(BookingError::BookingNotFound)
    }

    pub async fn list(
        &self,
        user_id: i64,
        page: PageRequest,
    ) -> Result<(Vec<BookingRow>, i64), BookingError> {
        Ok(store::bookings::list_for_user(&self.db, user_id, page.limit(), page.offset()).await?)
    }
}

/// How a flight booking is held: paid alone (with its own hold and idempotency key) or as a
/// trip's item (covered by the trip's).
pub(crate) struct FlightHold<'a> {
    pub trip_id: Option<i64>,
    pub idempotency_key: Option<&'a str>,
    pub request_hash: Option<&'a [u8]>,
    pub hold_expires_at: Option<chrono::DateTime<Utc>>,
}

/// Takes the seats and records the flight booking in the caller's transaction, which must hold
/// the user's lock ([`store::bookings::lock_user_holds`]). Returns the booking and its cabin's
/// inventory after the change; the caller publishes it.
pub(crate) async fn hold_flight(
    tx: &mut PgConnection,
    user_id: i64,
    request: &BookingRequest,
    limits: &UnpaidLimits,
    hold: FlightHold<'_>,
) -> Result<(BookingRow, Inventory), BookingError> {
    let count = request.passengers.len() as i32;
    let (id, code) = match &request.flight {
        FlightRef::Id(id) => (Some(*id), None),
        FlightRef::Code(code) => (None, Some(code.as_str())),
    };
    let found = store::inventory::take_on_flight(&mut *tx, id, code, request.cabin, count)
        .await?
        .ok_or(BookingError::FlightNotFound)?;
    let flight = found.flight.clone();
    let Some(inventory) = found.inventory() else {
        if flight.status == FlightStatus::Cancelled {
            return Err(BookingError::FlightCancelled);
        }
        if departed(&flight) {
            return Err(BookingError::Departed);
        }
        return match store::inventory::find(&mut *tx, flight.flight_id, request.cabin).await? {
            Some(_) => Err(BookingError::SoldOut),
            None => Err(BookingError::Invalid(format!(
                "This flight has no {} cabin",
                request.cabin
            ))),
        };
    };
    let mut held = store::bookings::unpaid(&mut *tx, user_id, flight.flight_id, false).await?;
    if hold.trip_id.is_some() {
        // The trip was admitted as one booking; its items count by their seats only.
        held.bookings = 0;
    }
    limits
        .admit(&held, i64::from(count))
        .map_err(BookingError::UnpaidLimit)?;
    // The inventory row is locked until commit, so the seats read here cannot change under us.
    let taken: HashSet<String> = store::inventory::taken_seats(&mut *tx, flight.flight_id)
        .await?
        .into_iter()
        .collect();
    let cabin = CabinSeats {
        first_row: inventory.first_row,
        last_row: inventory.last_row,
        letters: inventory.seat_letters.clone(),
    };
    let wanted: Vec<Option<Seat>> = request
        .passengers
        .iter()
        .map(|(_, seat)| seat.clone())
        .collect();
    let seats: Vec<String> = match cabin.assign(&wanted, &taken) {
        Ok(seats) => seats.iter().map(ToString::to_string).collect(),
        Err(SeatError::Taken(seat)) => return Err(BookingError::SeatTaken(seat)),
        Err(SeatError::NotInCabin(seat)) => {
            return Err(BookingError::Invalid(format!(
                "Seat {seat} is not in the {} cabin",
                request.cabin
            )));
        }
        Err(SeatError::SoldOut) => return Err(BookingError::SoldOut),
    };
    let amount_minor = inventory
        .fare_minor
        .checked_mul(i64::from(count))
        .ok_or_else(|| BookingError::Invalid("the total price is too large".into()))?;
    let passengers: Vec<String> = request
        .passengers
        .iter()
        .map(|(name, _)| name.clone())
        .collect();
    let reference = new_reference();
    let new = NewBooking {
        reference: &reference,
        user_id,
        flight_id: flight.flight_id,
        cabin: request.cabin,
        passengers: &passengers,
        seats: &seats,
        status: BookingStatus::PendingPayment,
        amount_minor,
        currency: &inventory.currency,
        payment_method: request.payment_method,
        payment_card_id: request.payment_card_id.as_deref(),
        idempotency_key: hold.idempotency_key,
        request_hash: hold.request_hash,
        hold_expires_at: hold.hold_expires_at,
        trip_id: hold.trip_id,
    };
    let (id, created_at) = store::bookings::insert(tx, &new)
        .await?
        .ok_or(BookingError::FlightCancelled)?;
    let booking = BookingRow {
        id,
        reference,
        user_id,
        flight_id: flight.flight_id,
        trip_id: hold.trip_id,
        cabin: request.cabin,
        passengers: sqlx::types::Json(passengers),
        seats,
        status: BookingStatus::PendingPayment,
        amount_minor,
        currency: inventory.currency.clone(),
        payment_method: request.payment_method,
        request_hash: hold.request_hash.map(<[u8]>::to_vec),
        hold_expires_at: hold.hold_expires_at,
        created_at,
        cancelled_at: None,
        payment_card_id: request.payment_card_id.clone(),
        payment_id: None,
        paid_at: None,
        refunded_minor: 0,
        refunded_at: None,
        cancel_reason: None,
        flight_code: flight.flight_code.clone(),
        origin: flight.origin.clone(),
        destination: flight.destination.clone(),
        departure_at: flight.departure_at,
        arrival_at: flight.arrival_at,
        origin_time_zone: flight.origin_time_zone.clone(),
        flight_status: flight.status,
    };
    Ok((booking, inventory))
}

fn replay(existing: BookingRow, fingerprint: &[u8]) -> Result<Created, BookingError> {
    if existing.request_hash.as_deref() == Some(fingerprint) {
        Ok(Created::Replayed(existing))
    } else {
        Err(BookingError::IdempotencyMismatch)
    }
}

/// Ends a booking that holds seats (cancelled or expired): gives the seats back, records why, and
/// publishes the ending with the status it had, which decides its refund. The booking row must be
/// locked by the caller's transaction.
pub(crate) async fn end(
    tx: &mut PgConnection,
    mut booking: BookingRow,
    next: BookingStatus,
    reason: CancelReason,
) -> Result<(), BookingError> {
    let previous = booking.status;
    if !previous.can_become(next) {
        return Err(
            anyhow::anyhow!("booking {} cannot go from {previous} to {next}", booking.id).into(),
        );
    }
    store::bookings::release_seats(&mut *tx, booking.id).await?;
    let inventory = store::inventory::release(
        &mut *tx,
        booking.flight_id,
        booking.cabin,
        booking.seats.len() as i32,
    )
    .await?
    .ok_or_else(|| anyhow::anyhow!("booking {} has no inventory row", booking.id))?;
    store::bookings::set_status(&mut *tx, booking.id, next, Some(reason)).await?;
    booking.status = next;
    booking.cancel_reason = Some(reason);
    let kind: Kind = match next {
        BookingStatus::Expired => BookingEvent::Expired,
        _ => BookingEvent::Cancelled,
    };
    publish(
        tx,
        kind,
        &booking,
        inventory_snapshot(&inventory),
        Some(previous),
    )
    .await
}

/// The payments went through: the bookings still awaiting them are confirmed, in one statement
/// (every paid booking takes this path). One that has meanwhile ended stays as it is; the payment
/// service refunds it when it sees the ending. A payment whose amount or currency is not the
/// booking's price confirms nothing: the whole call fails with [`BookingError::PaymentMismatch`]
/// (the consumer then applies the batch's payments one by one and dead-letters that one), and
/// the booking stays unpaid until its hold runs out, when the payment service refunds it.
pub(crate) async fn confirm(
    tx: &mut PgConnection,
    payments: &[store::bookings::Payment],
) -> Result<(), BookingError> {
    let confirmed = store::bookings::confirm(&mut *tx, payments).await?;
    if confirmed.len() < payments.len() {
        // Payments for hotels, cars and trips, which the flights' statement leaves alone.
        let flights: HashSet<i64> = confirmed.iter().map(|(b, _)| b.id).collect();
        for payment in payments.iter().filter(|p| !flights.contains(&p.booking_id)) {
            crate::products::confirm(&mut *tx, payment).await?;
        }
        let ids: Vec<i64> = payments.iter().map(|p| p.booking_id).collect();
        if let Some((id, amount_minor, currency)) = store::bookings::still_pending(&mut *tx, &ids)
            .await?
            .into_iter()
            .next()
        {
            let paid = payments.iter().find(|p| p.booking_id == id);
            return Err(BookingError::PaymentMismatch(format!(
                "payment {} for booking {id} is {} {}, but the booking costs {amount_minor} {currency}",
                paid.map_or(0, |p| p.payment_id),
                paid.map_or(0, |p| p.amount_minor),
                paid.map_or("", |p| p.currency.as_str()),
            )));
        }
    }
    let events = confirmed
        .into_iter()
        .map(|(booking, inventory)| {
            event(
                BookingEvent::Confirmed,
                &booking,
                inventory,
                Some(BookingStatus::PendingPayment),
            )
        })
        .collect::<Result<Vec<_>, _>>()?;
    outbox::enqueue_many(tx, BookingEvent::TOPIC, &events).await?;
    tracing::debug!(count = events.len(), "bookings confirmed");
    Ok(())
}

/// The payment failed: a booking still awaiting it is cancelled and its seats released.
pub(crate) async fn payment_failed(
    tx: &mut PgConnection,
    booking_id: i64,
) -> Result<(), BookingError> {
    if !store::bookings::lock(&mut *tx, booking_id).await? {
        return Err(BookingError::BookingNotFound);
    }
    let Some(booking) = store::bookings::find(&mut *tx, booking_id).await? else {
        // A hotel, car or trip booking (a trip ends its items with it).
        return match store::products::find(&mut *tx, booking_id).await? {
            Some(booking) if booking.status == BookingStatus::PendingPayment => {
                crate::products::end(
                    tx,
                    booking,
                    BookingStatus::Cancelled,
                    CancelReason::PaymentFailed,
                )
                .await
            }
            Some(_) => Ok(()),
            None => Err(BookingError::BookingNotFound),
        };
    };
    if booking.status != BookingStatus::PendingPayment {
        return Ok(());
    }
    end(
        tx,
        booking,
        BookingStatus::Cancelled,
        CancelReason::PaymentFailed,
    )
    .await?;
    tracing::info!(booking_id, "booking cancelled: payment failed");
    Ok(())
}

/// Expires up to `limit` bookings whose hold has run out; returns how many.
pub async fn expire_holds(db: &PgPool, limit: i64) -> Result<usize, BookingError> {
    let mut tx = db.begin().await?;
    let due = store::bookings::lock_expired_holds(&mut *tx, limit).await?;
    for id in &due {
        if let Some(booking) = store::bookings::find(&mut *tx, *id).await? {
            end(
                &mut tx,
                booking,
                BookingStatus::Expired,
                CancelReason::HoldExpired,
            )
            .await?;
        } else if let Some(booking) = store::products::find(&mut *tx, *id).await? {
            crate::products::end(
                &mut tx,
                booking,
                BookingStatus::Expired,
                CancelReason::HoldExpired,
            )
            .await?;
        }
    }
    tx.commit().await?;
    if !due.is_empty() {
        tracing::info!(count = due.len(), "holds expired");
    }
    Ok(due.len())
}

/// Applies catalog's news of a flight to booking's copy. When the news is that the flight is
/// cancelled, every booking on it that holds seats is cancelled too (reason `flight-cancelled`),
/// which the payment service answers with a full refund of a paid one and no charge for an unpaid
/// one. News older than what is stored changes nothing, so a redelivery cancels nothing more.
///
/// Locks are taken in the order every other path takes them: bookings, then cabins (a customer's
/// cancellation), then the flight row (a new booking takes its cabin, then refers to the flight).
/// Waiting for the cabins lets a booking still taking seats on the flight finish first; the second
/// read of the bookings finds it. A booking that takes its seats after this commits sees the flight
/// cancelled.
pub(crate) async fn flight_changed(
    tx: &mut PgConnection,
    flight: &FlightSnapshot,
) -> Result<(), BookingError> {
    let cancelled = flight.status == FlightStatus::Cancelled;
    if cancelled {
        // Trips before their items, as every path takes them.
        for trip in store::bookings::trips_on_flight(&mut *tx, flight.flight_id).await? {
            store::bookings::lock(&mut *tx, trip).await?;
        }
        store::bookings::lock_live_on_flight(&mut *tx, flight.flight_id).await?;
    }
    store::inventory::lock_flight(&mut *tx, flight.flight_id).await?;
    if !store::flights::apply(tx, flight).await? || !cancelled {
        return Ok(());
    }
    let live = store::bookings::lock_live_on_flight(&mut *tx, flight.flight_id).await?;
    let mut trips = Vec::new();
    for id in &live {
        if let Some(booking) = store::bookings::find(&mut *tx, *id).await? {
            trips.extend(booking.trip_id);
            end(
                tx,
                booking,
                BookingStatus::Cancelled,
                CancelReason::FlightCancelled,
            )
            .await?;
        }
    }
    // A trip awaiting payment ends whole with its flight; a paid one keeps its other items.
    trips.sort_unstable();
    trips.dedup();
    for trip in trips {
        // Locked above (or, for a trip booked since, now).
        store::bookings::lock(&mut *tx, trip).await?;
        crate::products::item_ended(tx, trip, CancelReason::FlightCancelled).await?;
    }
    if !live.is_empty() {
        tracing::info!(
            flight_id = flight.flight_id,
            count = live.len(),
            "bookings cancelled: flight cancelled"
        );
    }
    Ok(())
}
