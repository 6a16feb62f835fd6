//! What booking does: takes seats and records the booking in one transaction, cancels and gives
//! seats back, and publishes every change through the outbox.

use std::collections::HashSet;
use std::time::Duration;

use chrono::Utc;
use contracts::events::{BookingSnapshot, InventorySnapshot, MoneyAmount, topics, types};
use platform::auth::Caller;
use platform::events::{Envelope, outbox};
use sha2::{Digest, Sha256};
use sqlx::{PgConnection, PgPool};

use crate::domain::{BookingStatus, CabinSeats, PaymentMethod, Seat, SeatError};
use crate::error::BookingError;
use crate::store;
use crate::store::bookings::{BookingRow, NewBooking};
use crate::store::inventory::Inventory;

pub struct Bookings {
    pub db: PgPool,
    /// How long a booking awaiting payment holds its seats.
    pub hold: Duration,
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
    pub cabin: String,
    /// Each passenger's name and the seat they asked for, if any.
    pub passengers: Vec<(String, Option<Seat>)>,
    pub payment_method: Option<PaymentMethod>,
}

impl BookingRequest {
    /// What makes two requests "the same" for an idempotency key.
    fn fingerprint(&self) -> Vec<u8> {
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
            "{flight}|{}|{}|{}",
            self.cabin,
            passengers.join(";"),
            self.payment_method
                .map(PaymentMethod::as_str)
                .unwrap_or_default()
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

fn new_reference() -> String {
    uuid::Uuid::new_v4()
        .as_bytes()
        .iter()
        .take(8)
        .map(|b| REFERENCE_ALPHABET[usize::from(*b) % REFERENCE_ALPHABET.len()] as char)
        .collect()
}

fn snapshot(booking: &BookingRow, inventory: &Inventory) -> BookingSnapshot {
    BookingSnapshot {
        booking_id: booking.id,
        reference: booking.reference.clone(),
        user_id: booking.user_id,
        flight_id: booking.flight_id,
        flight_code: booking.flight_code.clone(),
        departure_at: booking.departure_at,
        cabin: booking.cabin.clone(),
        seats: booking.seats.clone(),
        passengers: booking.passengers.0.clone(),
        price: MoneyAmount {
            amount_minor: booking.amount_minor,
            currency: booking.currency.clone(),
        },
        status: booking.status.clone(),
        payment_method: booking.payment_method.clone(),
        inventory: InventorySnapshot {
            flight_id: inventory.flight_id,
            cabin: inventory.cabin.clone(),
            capacity: inventory.capacity,
            seats_left: inventory.capacity - inventory.taken,
            version: inventory.version,
        },
    }
}

fn event(
    kind: &str,
    booking: &BookingRow,
    inventory: &Inventory,
) -> Result<(String, Envelope), BookingError> {
    let data = serde_json::to_value(snapshot(booking, inventory)).map_err(anyhow::Error::from)?;
    let key = booking.id.to_string();
    Ok((key.clone(), Envelope::new("booking", kind, key, data)))
}

async fn publish(
    tx: &mut PgConnection,
    kind: &str,
    booking: &BookingRow,
    inventory: &Inventory,
) -> Result<(), BookingError> {
    let (key, envelope) = event(kind, booking, inventory)?;
    outbox::enqueue(tx, topics::BOOKINGS, &key, &envelope).await?;
    Ok(())
}

fn departed(flight: &store::flights::Flight) -> bool {
    matches!(flight.status.as_str(), "Departed" | "Landed") || flight.departure_at <= Utc::now()
}

impl Bookings {
    /// Takes the seats and records the booking in one transaction. With an idempotency key, the
    /// same request again returns the same booking, and a different request with the same key
    /// is refused.
    pub async fn create(
        &self,
        caller: &Caller,
        request: BookingRequest,
        idempotency_key: Option<&str>,
    ) -> Result<Created, BookingError> {
        let fingerprint = request.fingerprint();
        if let Some(key) = idempotency_key
            && let Some(existing) =
                store::bookings::find_by_idempotency_key(&self.db, caller.user_id, key).await?
        {
            return replay(existing, &fingerprint);
        }
        match self
            .create_once(caller, &request, idempotency_key, &fingerprint)
            .await
        {
            Err(BookingError::Database(e))
                if idempotency_key.is_some() && platform::db::is_unique_violation(&e) =>
            {
                // A concurrent request with the same key won the race.
                let key = idempotency_key.unwrap_or_default();
                let existing =
                    store::bookings::find_by_idempotency_key(&self.db, caller.user_id, key)
                        .await?
                        .ok_or(BookingError::Database(e))?;
                replay(existing, &fingerprint)
            }
            other => other.map(Created::New),
        }
    }

    async fn create_once(
        &self,
        caller: &Caller,
        request: &BookingRequest,
        idempotency_key: Option<&str>,
        fingerprint: &[u8],
    ) -> Result<BookingRow, BookingError> {
        let mut tx = self.db.begin().await?;
        let count = request.passengers.len() as i32;
        let (id, code) = match &request.flight {
            FlightRef::Id(id) => (Some(*id), None),
            FlightRef::Code(code) => (None, Some(code.as_str())),
        };
        let found = store::inventory::take_on_flight(&mut *tx, id, code, &request.cabin, count)
            .await?
            .ok_or(BookingError::FlightNotFound)?;
        let flight = found.flight.clone();
        let Some(inventory) = found.inventory() else {
            if flight.status == "Cancelled" {
                return Err(BookingError::FlightCancelled);
            }
            if departed(&flight) {
                return Err(BookingError::Departed);
            }
            return match store::inventory::find(&mut *tx, flight.flight_id, &request.cabin).await? {
                Some(_) => Err(BookingError::SoldOut),
                None => Err(BookingError::Invalid(format!(
                    "This flight has no {} cabin",
                    request.cabin
                ))),
            };
        };
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
        let hold_expires_at = Utc::now()
            + chrono::Duration::from_std(self.hold).unwrap_or(chrono::Duration::minutes(15));
        // Until payment is part of the saga, a booking is confirmed in the transaction that makes
        // it: it is stored confirmed, and both steps are published, in order.
        let created = BookingStatus::PendingPayment;
        let confirmed = BookingStatus::Confirmed;
        debug_assert!(created.can_become(confirmed));
        let new = NewBooking {
            reference: &reference,
            user_id: caller.user_id,
            flight_id: flight.flight_id,
            cabin: &request.cabin,
            passengers: &passengers,
            seats: &seats,
            status: confirmed.as_str(),
            amount_minor,
            currency: &inventory.currency,
            payment_method: request.payment_method.map(PaymentMethod::as_str),
            idempotency_key,
            request_hash: idempotency_key.map(|_| fingerprint),
            hold_expires_at,
        };
        let (id, created_at) = store::bookings::insert(&mut tx, &new).await?;
        let mut booking = BookingRow {
            id,
            reference: reference.clone(),
            user_id: caller.user_id,
            flight_id: flight.flight_id,
            cabin: request.cabin.clone(),
            passengers: sqlx::types::Json(passengers),
            seats: seats.clone(),
            status: created.as_str().to_owned(),
            amount_minor,
            currency: inventory.currency.clone(),
            payment_method: request.payment_method.map(|m| m.as_str().to_owned()),
            request_hash: idempotency_key.map(|_| fingerprint.to_vec()),
            hold_expires_at: Some(hold_expires_at),
            created_at,
            cancelled_at: None,
            flight_code: flight.flight_code.clone(),
            origin: flight.origin.clone(),
            destination: flight.destination.clone(),
            departure_at: flight.departure_at,
            arrival_at: flight.arrival_at,
            origin_time_zone: flight.origin_time_zone.clone(),
            flight_status: flight.status.clone(),
        };
        let created_event = event(types::BOOKING_CREATED, &booking, &inventory)?;
        booking.status = confirmed.as_str().to_owned();
        let confirmed_event = event(types::BOOKING_CONFIRMED, &booking, &inventory)?;
        outbox::enqueue_many(&mut tx, topics::BOOKINGS, &[created_event, confirmed_event]).await?;
        tx.commit().await?;
        tracing::info!(booking_id = id, reference, flight = %flight.flight_code, seats = ?seats, "booking confirmed");
        Ok(booking)
    }

    async fn transition(
        &self,
        tx: &mut PgConnection,
        booking: &mut BookingRow,
        next: BookingStatus,
    ) -> Result<(), BookingError> {
        let current = BookingStatus::parse(&booking.status).ok_or_else(|| {
            anyhow::anyhow!(
                "booking {} has unknown status {}",
                booking.id,
                booking.status
            )
        })?;
        if !current.can_become(next) {
            return Err(anyhow::anyhow!(
                "booking {} cannot go from {current} to {next}",
                booking.id
            )
            .into());
        }
        store::bookings::set_status(&mut *tx, booking.id, next.as_str()).await?;
        booking.status = next.as_str().to_owned();
        Ok(())
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
    /// booking whose flight has departed cannot be cancelled.
    pub async fn cancel(&self, caller: &Caller, id: i64) -> Result<BookingRow, BookingError> {
        let mut tx = self.db.begin().await?;
        if !store::bookings::lock(&mut *tx, id).await? {
            return Err(BookingError::BookingNotFound);
        }
        let mut booking = store::bookings::find(&mut *tx, id)
            .await?
            .ok_or(BookingError::BookingNotFound)?;
        if booking.user_id != caller.user_id && !caller.is_staff() {
            return Err(BookingError::BookingNotFound);
        }
        let status = BookingStatus::parse(&booking.status)
            .ok_or_else(|| anyhow::anyhow!("booking {id} has unknown status {}", booking.status))?;
        if !status.holds_seats() {
            return Ok(booking);
        }
        let flight = store::flights::find(&mut *tx, booking.flight_id)
            .await?
            .ok_or(BookingError::FlightNotFound)?;
        if departed(&flight) {
            return Err(BookingError::Departed);
        }
        store::bookings::release_seats(&mut *tx, id).await?;
        let inventory = store::inventory::release(
            &mut *tx,
            booking.flight_id,
            &booking.cabin,
            booking.seats.len() as i32,
        )
        .await?
        .ok_or_else(|| anyhow::anyhow!("booking {id} has no inventory row"))?;
        self.transition(&mut tx, &mut booking, BookingStatus::Cancelled)
            .await?;
        publish(&mut tx, types::BOOKING_CANCELLED, &booking, &inventory).await?;
        tx.commit().await?;
        tracing::info!(booking_id = id, "booking cancelled");
        store::bookings::find(&self.db, id)
            .await?
            .ok_or(BookingError::BookingNotFound)
    }

    pub async fn list(
        &self,
        user_id: i64,
        page: u32,
        page_size: u32,
    ) -> Result<(Vec<BookingRow>, i64), BookingError> {
        let offset = i64::from(page - 1) * i64::from(page_size);
        Ok(store::bookings::list_for_user(&self.db, user_id, i64::from(page_size), offset).await?)
    }
}

fn replay(existing: BookingRow, fingerprint: &[u8]) -> Result<Created, BookingError> {
    if existing.request_hash.as_deref() == Some(fingerprint) {
        Ok(Created::Replayed(existing))
    } else {
        Err(BookingError::IdempotencyMismatch)
    }
}
