//! Hotel stays, car rentals and trips, on the life cycle flights have: held awaiting payment in
//! the transaction that records them, paid through the saga, confirmed, cancelled or expired with
//! their inventory given back, every change published through the outbox.
//!
//! A trip is a booking of its own (product `trip`) whose items are bookings carrying its id. All
//! of them are held in one transaction or none is; the trip is paid once for the total; its
//! payment confirms every item and its failure or expiry ends every item. An item may be
//! cancelled on its own, refunded by its own rule; a trip still awaiting payment whose item ends
//! ends whole.

use chrono::{DateTime, NaiveDate, NaiveTime, TimeZone, Utc};
use contracts::events::{
    BookingEvent, BookingSnapshot, CarEvent, CarRental, MoneyAmount, RentalSnapshot, StaySnapshot,
    TripItem,
};
use contracts::listings::{self, HotelListing, RatePlanSnapshot};
use contracts::states::{BookingStatus, CancelReason, PaymentMethod, Product};
use platform::auth::Caller;
use platform::events::{Envelope, outbox};
use sha2::{Digest, Sha256};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::bookings::{self, BookingRequest, FlightHold, Kind};
use crate::domain::holds::UnpaidLimits;
use crate::error::BookingError;
use crate::store;
use crate::store::bookings::BookingRow;
use crate::store::products::{NewProductBooking, ProductBooking};
use crate::store::rentals::NewRental;
use crate::store::stays::NewStay;

/// Most items in one trip.
pub const MAX_TRIP_ITEMS: usize = 6;
/// Most rooms and guests in one stay.
pub const MAX_ROOMS: i32 = 9;
pub const MAX_GUESTS: i32 = 36;
/// Local pick-up time of a rental, when its listing has none: the refund window closes then.
const PICK_UP_TIME: NaiveTime = NaiveTime::from_hms_opt(10, 0, 0).expect("a valid time");

/// A hotel stay asked for: rooms of one type for the nights `[check_in, check_out)`.
#[derive(Clone, Debug)]
pub struct StayRequest {
    pub hotel_id: Uuid,
    pub room_type_id: Uuid,
    /// The rate plan; the cheapest for the stay when none is named.
    pub rate_plan_id: Option<Uuid>,
    pub check_in: NaiveDate,
    pub check_out: NaiveDate,
    pub rooms: i32,
    pub guests: i32,
}

/// A car rental asked for: the days `[start, end)`.
#[derive(Clone, Debug)]
pub struct RentalRequest {
    pub car_id: Uuid,
    pub start: NaiveDate,
    pub end: NaiveDate,
}

/// One thing to book.
#[derive(Clone, Debug)]
pub enum ItemRequest {
    Flight(BookingRequest),
    Hotel(StayRequest),
    Car(RentalRequest),
}

/// A hotel or car booking, or a trip of several items, with how it is paid.
#[derive(Clone, Debug)]
pub struct OrderRequest {
    pub items: Vec<ItemRequest>,
    /// Whether the items make a trip (paid together), or the one item is booked alone.
    pub trip: bool,
    pub payment_method: Option<PaymentMethod>,
    pub payment_card_id: Option<String>,
}

impl OrderRequest {
    /// What makes two requests "the same" for an idempotency key.
    fn fingerprint(&self) -> Vec<u8> {
        let mut text = format!(
            "trip:{}|{}|{}",
            self.trip,
            self.payment_method
                .map(PaymentMethod::as_str)
                .unwrap_or_default(),
            self.payment_card_id.as_deref().unwrap_or_default()
        );
        for item in &self.items {
            text.push('|');
            text.push_str(&match item {
                ItemRequest::Flight(flight) => {
                    format!("flight:{}", hex(&flight.fingerprint()))
                }
                ItemRequest::Hotel(stay) => format!(
                    "hotel:{}/{}/{:?}/{}/{}/{}/{}",
                    stay.hotel_id,
                    stay.room_type_id,
                    stay.rate_plan_id,
                    stay.check_in,
                    stay.check_out,
                    stay.rooms,
                    stay.guests
                ),
                ItemRequest::Car(car) => format!("car:{}/{}/{}", car.car_id, car.start, car.end),
            });
        }
        Sha256::digest(text.as_bytes()).to_vec()
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether PostgreSQL aborted the transaction to break a deadlock.
fn is_deadlock(error: &sqlx::Error) -> bool {
    error
        .as_database_error()
        .and_then(|e| e.code())
        .is_some_and(|code| code == "40P01")
}

/// A booking made, or the one an earlier request with the same idempotency key made.
pub enum Ordered {
    New(i64),
    Replayed(i64),
}

/// A local date and time in `zone`, in UTC (the earlier instant when a clock change makes it
/// ambiguous, the next valid one when it skips it).
fn local_to_utc(
    zone: &str,
    date: NaiveDate,
    time: NaiveTime,
) -> Result<DateTime<Utc>, BookingError> {
    let tz = platform::time::time_zone(zone).map_err(|e| anyhow::anyhow!(e))?;
    let mut at = date.and_time(time);
    for _ in 0..4 {
        if let Some(local) = tz.from_local_datetime(&at).earliest() {
            return Ok(local.with_timezone(&Utc));
        }
        at += chrono::Duration::minutes(30);
    }
    Err(anyhow::anyhow!("no valid local time near {date} {time} in {zone}").into())
}

/// Today in `zone`: nothing can be booked to begin before it.
fn today_in(zone: &str) -> NaiveDate {
    platform::time::time_zone(zone)
        .map(|tz| Utc::now().with_timezone(&tz).date_naive())
        .unwrap_or_else(|_| Utc::now().date_naive())
}

/// The rate plan for a stay: the one named, or the cheapest for these nights.
fn rate_plan<'a>(
    hotel: &HotelListing,
    plans: &'a [RatePlanSnapshot],
    request: &StayRequest,
) -> Result<&'a RatePlanSnapshot, BookingError> {
    match request.rate_plan_id {
        Some(id) => plans
            .iter()
            .find(|p| p.rate_plan_id == id)
            .ok_or_else(|| BookingError::Invalid(format!("this room type has no rate plan {id}"))),
        None => plans
            .iter()
            .filter_map(|plan| {
                hotel
                    .quote(plan, request.check_in, request.check_out, request.rooms)
                    .ok()
                    .map(|quote| (quote.total_minor, plan))
            })
            .min_by_key(|(total, _)| *total)
            .map(|(_, plan)| plan)
            .ok_or_else(|| BookingError::Invalid("this room type has no rate plan".into())),
    }
}

/// What an item being held needs for its booking row.
struct Holding<'a> {
    user_id: i64,
    limits: UnpaidLimits,
    trip_id: Option<i64>,
    payment_method: Option<PaymentMethod>,
    payment_card_id: Option<&'a str>,
    idempotency_key: Option<&'a str>,
    request_hash: Option<&'a [u8]>,
    hold_expires_at: Option<DateTime<Utc>>,
    /// Room-nights and car-days the user holds awaiting payment, read under the user's lock and
    /// counted up as this transaction holds more.
    nights_held: i64,
}

impl Holding<'_> {
    /// Counts `wanted` more room-nights or car-days, if the user may hold them awaiting payment.
    fn admit_nights(&mut self, wanted: i64) -> Result<(), BookingError> {
        self.limits
            .admit_nights(self.nights_held, wanted)
            .map_err(BookingError::UnpaidLimit)?;
        self.nights_held += wanted;
        Ok(())
    }
}

/// Takes a room of the type on every night of the stay and records the booking.
async fn hold_stay(
    tx: &mut PgConnection,
    request: &StayRequest,
    holding: &mut Holding<'_>,
) -> Result<ProductBooking, BookingError> {
    let hotel = store::listings::hotel(&mut *tx, request.hotel_id)
        .await?
        .ok_or(BookingError::HotelNotFound)?;
    let room_type = hotel
        .room_type(request.room_type_id)
        .ok_or_else(|| BookingError::Invalid("this hotel has no such room type".into()))?;
    if request.guests > room_type.capacity.saturating_mul(request.rooms) {
        return Err(BookingError::Invalid(format!(
            "{} guests do not fit in {} room(s) of {} guests each",
            request.guests, request.rooms, room_type.capacity
        )));
    }
    if request.check_in < today_in(&hotel.time_zone) {
        return Err(BookingError::Invalid("checkIn is in the past".into()));
    }
    let plan = rate_plan(&hotel, &room_type.rate_plans, request)?;
    let quote = hotel
        .quote(plan, request.check_in, request.check_out, request.rooms)
        .map_err(|e| BookingError::Invalid(e.to_string()))?;
    holding.admit_nights(quote.nights * i64::from(request.rooms))?;
    let check_in_time = NaiveTime::parse_from_str(&hotel.check_in_time, "%H:%M")
        .unwrap_or(NaiveTime::from_hms_opt(15, 0, 0).expect("a valid time"));
    let starts_at = local_to_utc(&hotel.time_zone, request.check_in, check_in_time)?;
    let refundable_until = plan.refundable.then(|| {
        starts_at - chrono::Duration::hours(i64::from(plan.free_cancellation_hours.max(0)))
    });
    let description = format!(
        "{}, {}, {} night{} from {}{}",
        hotel.name,
        room_type.name,
        quote.nights,
        if quote.nights == 1 { "" } else { "s" },
        request.check_in,
        if request.rooms > 1 {
            format!(", {} rooms", request.rooms)
        } else {
            String::new()
        }
    );
    let reference = bookings::new_reference();
    let new = NewProductBooking {
        reference: &reference,
        user_id: holding.user_id,
        product: Product::Hotel,
        trip_id: holding.trip_id,
        amount_minor: quote.total_minor,
        currency: &hotel.currency,
        payment_method: holding.payment_method,
        payment_card_id: holding.payment_card_id,
        idempotency_key: holding.idempotency_key,
        request_hash: holding.request_hash,
        hold_expires_at: holding.hold_expires_at,
        description: &description,
        starts_at,
        refundable_until,
    };
    let stay = NewStay {
        hotel_id: hotel.hotel_id,
        room_type_id: room_type.room_type_id,
        rate_plan_id: plan.rate_plan_id,
        hotel_name: &hotel.name,
        city: &hotel.city,
        room_type_name: &room_type.name,
        check_in: request.check_in,
        check_out: request.check_out,
        rooms: request.rooms,
        guests: request.guests,
    };
    let nights = listings::nights(request.check_in, request.check_out)
        .map_err(|e| BookingError::Invalid(e.to_string()))?;
    // The booking first: a retry of a keyed request meets its key's unique index here (and
    // answers the booking it made) before it could find the rooms taken by that booking.
    let (id, _) = store::products::insert_stay(&mut *tx, &new, &stay).await?;
    if !store::stays::take(tx, room_type.room_type_id, &nights, request.rooms).await? {
        return Err(BookingError::RoomsUnavailable);
    }
    store::products::find(&mut *tx, id)
        .await?
        .ok_or_else(|| anyhow::anyhow!("booking {id} vanished").into())
}

/// Takes the car for the rental's days and records the booking.
async fn hold_rental(
    tx: &mut PgConnection,
    request: &RentalRequest,
    holding: &mut Holding<'_>,
) -> Result<ProductBooking, BookingError> {
    let car = store::listings::car(&mut *tx, request.car_id)
        .await?
        .ok_or(BookingError::CarNotFound)?;
    if !car.available {
        return Err(BookingError::CarUnavailable);
    }
    if request.start < today_in(&car.time_zone) {
        return Err(BookingError::Invalid("startDate is in the past".into()));
    }
    let amount_minor = car
        .quote(request.start, request.end)
        .map_err(|e| BookingError::Invalid(e.to_string()))?;
    holding.admit_nights((request.end - request.start).num_days())?;
    let starts_at = local_to_utc(&car.time_zone, request.start, PICK_UP_TIME)?;
    let days = (request.end - request.start).num_days();
    let name = format!("{} {}", car.brand, car.model);
    let description = format!(
        "{name} ({}), {days} day{} from {} at {}",
        car.car_type,
        if days == 1 { "" } else { "s" },
        request.start,
        car.location_code
    );
    let reference = bookings::new_reference();
    let new = NewProductBooking {
        reference: &reference,
        user_id: holding.user_id,
        product: Product::Car,
        trip_id: holding.trip_id,
        amount_minor,
        currency: &car.currency,
        payment_method: holding.payment_method,
        payment_card_id: holding.payment_card_id,
        idempotency_key: holding.idempotency_key,
        request_hash: holding.request_hash,
        hold_expires_at: holding.hold_expires_at,
        description: &description,
        starts_at,
        // Free cancellation until pick-up.
        refundable_until: Some(starts_at),
    };
    let (id, _) = store::products::insert(&mut *tx, &new).await?;
    let rental = NewRental {
        booking_id: id,
        car_id: car.car_id,
        car_type: car.car_type.as_str(),
        car: &name,
        location_code: &car.location_code,
        start: request.start,
        end: request.end,
    };
    if !store::rentals::take(&mut *tx, &rental).await? {
        return Err(BookingError::CarTaken);
    }
    store::products::find(&mut *tx, id)
        .await?
        .ok_or_else(|| anyhow::anyhow!("booking {id} vanished").into())
}

/// The event payload of a hotel, car or trip booking.
pub(crate) fn snapshot(
    booking: &ProductBooking,
    previous_status: Option<BookingStatus>,
) -> BookingSnapshot {
    BookingSnapshot {
        booking_id: booking.id,
        reference: booking.reference.clone(),
        user_id: booking.user_id,
        product: booking.product,
        trip_id: booking.trip_id,
        description: booking.description.clone(),
        starts_at: booking.starts_at,
        refundable_until: booking.refundable_until,
        flight: None,
        stay: booking.stay.as_ref().map(|stay| StaySnapshot {
            hotel_id: stay.hotel_id,
            hotel_name: stay.hotel_name.clone(),
            city: stay.city.clone(),
            room_type_id: stay.room_type_id,
            room_type_name: stay.room_type_name.clone(),
            rate_plan_id: stay.rate_plan_id,
            check_in: stay.check_in,
            check_out: stay.check_out,
            rooms: stay.rooms,
            guests: stay.guests,
        }),
        rental: booking.rental.as_ref().map(|rental| RentalSnapshot {
            car_id: rental.car_id,
            car_type: rental.car_type,
            car: rental.car.clone(),
            location_code: rental.location_code.clone(),
            start_date: rental.start,
            end_date: rental.end,
        }),
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

async fn publish(
    tx: &mut PgConnection,
    kind: Kind,
    booking: &ProductBooking,
    previous_status: Option<BookingStatus>,
) -> Result<(), BookingError> {
    enqueue(tx, kind(snapshot(booking, previous_status))).await
}

/// Records `event` in the outbox, keyed by its booking.
async fn enqueue(tx: &mut PgConnection, event: BookingEvent) -> Result<(), BookingError> {
    let data = event.data().map_err(anyhow::Error::from)?;
    let key = event.booking().booking_id.to_string();
    let envelope = Envelope::new("booking", event.kind(), key.clone(), data);
    outbox::enqueue(tx, BookingEvent::TOPIC, &key, &envelope).await?;
    Ok(())
}

/// Seed 003's `car.booked` or `car.available`, keyed by the car.
async fn publish_car(
    tx: &mut PgConnection,
    kind: fn(CarRental) -> CarEvent,
    rental: CarRental,
) -> Result<(), BookingError> {
    let event = kind(rental);
    let key = match &event {
        CarEvent::Booked(r) | CarEvent::Available(r) => r.car_id.to_string(),
    };
    let data = event.data().map_err(anyhow::Error::from)?;
    let envelope = Envelope::new("booking", event.kind(), key.clone(), data);
    outbox::enqueue(tx, CarEvent::TOPIC, &key, &envelope).await?;
    Ok(())
}

/// An item held, to be published once every item is.
enum Held {
    Flight(BookingRow, crate::store::inventory::Inventory),
    Other(ProductBooking),
}

impl Held {
    fn price(&self) -> (i64, &str, DateTime<Utc>, String) {
        match self {
            Held::Flight(b, _) => (
                b.amount_minor,
                b.currency.as_str(),
                b.departure_at,
                format!("{} {} ×{}", b.flight_code, b.cabin, b.seats.len()),
            ),
            Held::Other(b) => (
                b.amount_minor,
                b.currency.as_str(),
                b.starts_at,
                b.description.clone(),
            ),
        }
    }

    /// The item as its trip's `booking.created` lists it, with what its refund depends on.
    fn listed(&self) -> TripItem {
        match self {
            Held::Flight(b, _) => TripItem {
                booking_id: b.id,
                product: Product::Flight,
                price: MoneyAmount {
                    amount_minor: b.amount_minor,
                    currency: b.currency.clone(),
                },
                starts_at: b.departure_at,
                refundable_until: None,
                flight_id: Some(b.flight_id),
            },
            Held::Other(b) => TripItem {
                booking_id: b.id,
                product: b.product,
                price: MoneyAmount {
                    amount_minor: b.amount_minor,
                    currency: b.currency.clone(),
                },
                starts_at: b.starts_at,
                refundable_until: b.refundable_until,
                flight_id: None,
            },
        }
    }
}

impl bookings::Bookings {
    /// Books a hotel stay or a car rental alone, or a trip of several items all or nothing, each
    /// held awaiting payment in one transaction. With an idempotency key, the same request again
    /// answers the same booking, and a different request with the same key is refused. With
    /// `wait`, answers once the payment settled (at most the configured bound).
    pub async fn order(
        &self,
        caller: &Caller,
        request: OrderRequest,
        idempotency_key: Option<&str>,
        wait: bool,
    ) -> Result<Ordered, BookingError> {
        let fingerprint = request.fingerprint();
        let replay = |existing: ProductBooking| {
            if existing.request_hash.as_deref() == Some(fingerprint.as_slice()) {
                Ok(Ordered::Replayed(existing.id))
            } else {
                Err(BookingError::IdempotencyMismatch)
            }
        };
        if let Some(key) = idempotency_key
            && let Some(existing) =
                store::products::find_by_idempotency_key(&self.db, caller.user_id, key).await?
        {
            return replay(existing);
        }
        let mut attempt = 0;
        let (id, changed) = loop {
            attempt += 1;
            match self
                .order_once(caller, &request, idempotency_key, &fingerprint, wait)
                .await
            {
                // Two trips taking the same rooms, seats or cars in different orders: PostgreSQL
                // broke the tie by aborting this one, which holds nothing now. Try again.
                Err(BookingError::Database(e)) if is_deadlock(&e) && attempt < 3 => continue,
                Err(BookingError::Database(e))
                    if idempotency_key.is_some() && platform::db::is_unique_violation(&e) =>
                {
                    let key = idempotency_key.unwrap_or_default();
                    // Absent here: the key is taken by a flight booking.
                    let existing =
                        store::products::find_by_idempotency_key(&self.db, caller.user_id, key)
                            .await?
                            .ok_or(BookingError::IdempotencyMismatch)?;
                    return replay(existing);
                }
                // A concurrent request with the same key made the booking that now counts
                // against the limit: this one is its replay.
                Err(BookingError::UnpaidLimit(limit)) if idempotency_key.is_some() => {
                    let key = idempotency_key.unwrap_or_default();
                    let existing =
                        store::products::find_by_idempotency_key(&self.db, caller.user_id, key)
                            .await?
                            .ok_or(BookingError::UnpaidLimit(limit))?;
                    return replay(existing);
                }
                other => break other?,
            }
        };
        if let Some(changed) = changed {
            let _ = tokio::time::timeout(self.confirm_wait, changed).await;
            self.watch.forget(id);
        }
        Ok(Ordered::New(id))
    }

    async fn order_once(
        &self,
        caller: &Caller,
        request: &OrderRequest,
        idempotency_key: Option<&str>,
        fingerprint: &[u8],
        wait: bool,
    ) -> Result<(i64, Option<tokio::sync::oneshot::Receiver<()>>), BookingError> {
        let mut tx = self.db.begin().await?;
        store::bookings::lock_user_holds(&mut *tx, caller.user_id).await?;
        // The order counts as one booking awaiting payment; its flights count by their seats.
        let held = store::bookings::unpaid(&mut *tx, caller.user_id, 0, true).await?;
        self.unpaid
            .admit(&held, 0)
            .map_err(BookingError::UnpaidLimit)?;
        let hold_expires_at = Utc::now()
            + chrono::Duration::from_std(self.hold).unwrap_or(chrono::Duration::minutes(15));
        let request_hash = idempotency_key.map(|_| fingerprint);
        let trip_id = if request.trip {
            let reference = bookings::new_reference();
            let (id, _) = store::products::insert(
                &mut *tx,
                &NewProductBooking {
                    reference: &reference,
                    user_id: caller.user_id,
                    product: Product::Trip,
                    trip_id: None,
                    amount_minor: 0,
                    currency: "USD",
                    payment_method: request.payment_method,
                    payment_card_id: request.payment_card_id.as_deref(),
                    idempotency_key,
                    request_hash,
                    hold_expires_at: Some(hold_expires_at),
                    description: "",
                    starts_at: Utc::now(),
                    refundable_until: None,
                },
            )
            .await?;
            Some(id)
        } else {
            None
        };
        // A trip's items have no key, hold or payment of their own: the trip's cover them.
        let mut holding = Holding {
            user_id: caller.user_id,
            limits: self.unpaid,
            trip_id,
            payment_method: request.payment_method,
            payment_card_id: request.payment_card_id.as_deref(),
            idempotency_key: if request.trip { None } else { idempotency_key },
            request_hash: if request.trip { None } else { request_hash },
            hold_expires_at: if request.trip {
                None
            } else {
                Some(hold_expires_at)
            },
            nights_held: held.nights,
        };
        let mut held = Vec::with_capacity(request.items.len());
        for item in &request.items {
            held.push(match item {
                ItemRequest::Flight(flight) => {
                    let (booking, inventory) = bookings::hold_flight(
                        &mut tx,
                        caller.user_id,
                        flight,
                        &self.unpaid,
                        FlightHold {
                            trip_id,
                            idempotency_key: None,
                            request_hash: None,
                            hold_expires_at: None,
                        },
                    )
                    .await?;
                    Held::Flight(booking, inventory)
                }
                ItemRequest::Hotel(stay) => {
                    Held::Other(hold_stay(&mut tx, stay, &mut holding).await?)
                }
                ItemRequest::Car(car) => {
                    Held::Other(hold_rental(&mut tx, car, &mut holding).await?)
                }
            });
        }
        let id = match trip_id {
            Some(trip_id) => {
                let mut total: i64 = 0;
                let mut currency: Option<String> = None;
                let mut starts_at: Option<DateTime<Utc>> = None;
                let mut parts = Vec::new();
                for item in &held {
                    let (amount, item_currency, item_start, text) = item.price();
                    match &currency {
                        Some(c) if c != item_currency => {
                            return Err(BookingError::Currencies(format!(
                                "a trip is paid in one currency, but its items are priced in {c} and {item_currency}"
                            )));
                        }
                        _ => currency = Some(item_currency.to_owned()),
                    }
                    total = total.checked_add(amount).ok_or_else(|| {
                        BookingError::Invalid("the total price is too large".into())
                    })?;
                    starts_at = Some(starts_at.map_or(item_start, |s| s.min(item_start)));
                    parts.push(text);
                }
                let description = format!("Trip: {}", parts.join("; "));
                store::products::set_price(
                    &mut *tx,
                    trip_id,
                    total,
                    currency.as_deref().unwrap_or("USD"),
                    &description,
                    starts_at.unwrap_or_else(Utc::now),
                )
                .await?;
                trip_id
            }
            None => match held.first() {
                Some(Held::Other(booking)) => booking.id,
                _ => return Err(BookingError::Invalid("nothing to book".into())),
            },
        };
        for item in &held {
            match item {
                Held::Flight(booking, inventory) => {
                    bookings::publish(
                        &mut tx,
                        BookingEvent::Created,
                        booking,
                        bookings::inventory_snapshot(inventory),
                        None,
                    )
                    .await?;
                }
                Held::Other(booking) => {
                    publish(&mut tx, BookingEvent::Created, booking, None).await?;
                    if let Some(rental) = &booking.rental {
                        publish_car(
                            &mut tx,
                            CarEvent::Booked,
                            CarRental {
                                car_id: rental.car_id,
                                user_id: booking.user_id,
                                start_date: rental.start,
                                end_date: rental.end,
                                booking_id: booking.id,
                            },
                        )
                        .await?;
                    }
                }
            }
        }
        if let Some(trip_id) = trip_id {
            let trip = store::products::find(&mut *tx, trip_id)
                .await?
                .ok_or_else(|| anyhow::anyhow!("trip {trip_id} vanished"))?;
            // The trip lists its items, so that payment knows each item's refund rule from
            // the moment it records the trip's payment.
            let mut created = snapshot(&trip, None);
            created.items = held.iter().map(Held::listed).collect();
            enqueue(&mut tx, BookingEvent::Created(created)).await?;
        }
        let changed = (wait && !self.confirm_wait.is_zero()).then(|| self.watch.subscribe(id));
        if let Err(e) = tx.commit().await {
            self.watch.forget(id);
            return Err(e.into());
        }
        tracing::info!(
            booking_id = id,
            items = held.len(),
            trip = trip_id.is_some(),
            "booking awaiting payment"
        );
        Ok((id, changed))
    }
}

/// Ends a hotel, car or trip booking that holds its inventory (cancelled or expired): gives back
/// what it holds, records why, and publishes the ending with the status it had. A trip ends its
/// live items first. The row must be locked by the caller's transaction.
pub(crate) async fn end(
    tx: &mut PgConnection,
    mut booking: ProductBooking,
    next: BookingStatus,
    reason: CancelReason,
) -> Result<(), BookingError> {
    let previous = booking.status;
    if !previous.can_become(next) {
        return Err(
            anyhow::anyhow!("booking {} cannot go from {previous} to {next}", booking.id).into(),
        );
    }
    match booking.product {
        Product::Hotel => store::stays::release(tx, booking.id).await?,
        Product::Car => {
            if let Some((car_id, start, end)) =
                store::rentals::release(&mut *tx, booking.id).await?
            {
                publish_car(
                    tx,
                    CarEvent::Available,
                    CarRental {
                        car_id,
                        user_id: booking.user_id,
                        start_date: start,
                        end_date: end,
                        booking_id: booking.id,
                    },
                )
                .await?;
            }
        }
        Product::Trip => {
            for item in store::products::item_ids(&mut *tx, booking.id).await? {
                // An item is never a trip, so this recursion is one level deep.
                Box::pin(end_any(tx, item, next, reason)).await?;
            }
        }
        Product::Flight => return Err(anyhow::anyhow!("booking {} is a flight", booking.id).into()),
    }
    store::bookings::set_status(&mut *tx, booking.id, next, Some(reason)).await?;
    booking.status = next;
    booking.cancel_reason = Some(reason);
    let kind: Kind = match next {
        BookingStatus::Expired => BookingEvent::Expired,
        _ => BookingEvent::Cancelled,
    };
    publish(tx, kind, &booking, Some(previous)).await
}

/// Ends any booking that still holds its inventory, whatever its product, locking it first; one
/// that has already ended is left as it is.
pub(crate) async fn end_any(
    tx: &mut PgConnection,
    id: i64,
    next: BookingStatus,
    reason: CancelReason,
) -> Result<(), BookingError> {
    if !store::bookings::lock(&mut *tx, id).await? {
        return Err(BookingError::BookingNotFound);
    }
    if let Some(flight) = store::bookings::find(&mut *tx, id).await? {
        if flight.status.holds_seats() {
            bookings::end(tx, flight, next, reason).await?;
        }
        return Ok(());
    }
    if let Some(booking) = store::products::find(&mut *tx, id).await?
        && booking.status.holds_seats()
    {
        end(tx, booking, next, reason).await?;
    }
    Ok(())
}

/// After one of a trip's items ended on its own: a trip still awaiting payment ends whole (it is
/// all or nothing); a paid trip with no item left is cancelled (its items were refunded one by
/// one). The trip must be locked by the caller's transaction.
pub(crate) async fn item_ended(
    tx: &mut PgConnection,
    trip_id: i64,
    reason: CancelReason,
) -> Result<(), BookingError> {
    let Some(mut trip) = store::products::find(&mut *tx, trip_id).await? else {
        return Ok(());
    };
    match trip.status {
        BookingStatus::PendingPayment => end(tx, trip, BookingStatus::Cancelled, reason).await,
        BookingStatus::Confirmed => {
            if store::products::live_items(&mut *tx, trip_id).await? > 0 {
                return Ok(());
            }
            store::bookings::set_status(&mut *tx, trip_id, BookingStatus::Cancelled, Some(reason))
                .await?;
            trip.status = BookingStatus::Cancelled;
            trip.cancel_reason = Some(reason);
            publish(
                tx,
                BookingEvent::Cancelled,
                &trip,
                Some(BookingStatus::Confirmed),
            )
            .await
        }
        _ => Ok(()),
    }
}

/// A payment went through for a hotel, car or trip booking: it is confirmed if it still awaits
/// payment at that price, and a trip's items with it. Returns whether the payment was for such
/// a booking.
pub(crate) async fn confirm(
    tx: &mut PgConnection,
    payment: &store::bookings::Payment,
) -> Result<bool, BookingError> {
    if !store::bookings::lock(&mut *tx, payment.booking_id).await? {
        return Ok(false);
    }
    let Some(mut booking) = store::products::find(&mut *tx, payment.booking_id).await? else {
        return Ok(false);
    };
    if booking.status != BookingStatus::PendingPayment {
        return Ok(true);
    }
    if booking.amount_minor != payment.amount_minor || booking.currency != payment.currency {
        return Err(BookingError::PaymentMismatch(format!(
            "payment {} for booking {} is {} {}, but the booking costs {} {}",
            payment.payment_id,
            booking.id,
            payment.amount_minor,
            payment.currency,
            booking.amount_minor,
            booking.currency
        )));
    }
    store::products::set_paid(&mut *tx, booking.id, payment.payment_id).await?;
    booking.status = BookingStatus::Confirmed;
    booking.payment_id = Some(payment.payment_id);
    if booking.product == Product::Trip {
        for item in store::products::item_ids(&mut *tx, booking.id).await? {
            confirm_item(tx, item).await?;
        }
    }
    publish(
        tx,
        BookingEvent::Confirmed,
        &booking,
        Some(BookingStatus::PendingPayment),
    )
    .await?;
    Ok(true)
}

/// Confirms a trip's item with its trip.
async fn confirm_item(tx: &mut PgConnection, id: i64) -> Result<(), BookingError> {
    store::bookings::lock(&mut *tx, id).await?;
    if let Some(mut flight) = store::bookings::find(&mut *tx, id).await? {
        if flight.status != BookingStatus::PendingPayment {
            return Ok(());
        }
        store::bookings::set_status(&mut *tx, id, BookingStatus::Confirmed, None).await?;
        flight.status = BookingStatus::Confirmed;
        let inventory = store::inventory::find(&mut *tx, flight.flight_id, flight.cabin)
            .await?
            .ok_or_else(|| anyhow::anyhow!("booking {id} has no inventory row"))?;
        return bookings::publish(
            tx,
            BookingEvent::Confirmed,
            &flight,
            bookings::inventory_snapshot(&inventory),
            Some(BookingStatus::PendingPayment),
        )
        .await;
    }
    let Some(mut item) = store::products::find(&mut *tx, id).await? else {
        return Ok(());
    };
    if item.status != BookingStatus::PendingPayment {
        return Ok(());
    }
    store::bookings::set_status(&mut *tx, id, BookingStatus::Confirmed, None).await?;
    item.status = BookingStatus::Confirmed;
    publish(
        tx,
        BookingEvent::Confirmed,
        &item,
        Some(BookingStatus::PendingPayment),
    )
    .await
}

impl bookings::Bookings {
    /// A hotel, car or trip booking the caller may see: their own, or any for ops and admins.
    /// Others' are reported as not found, so their existence does not leak.
    pub async fn get_product(
        &self,
        caller: &Caller,
        id: i64,
    ) -> Result<ProductBooking, BookingError> {
        match store::products::find(&self.db, id).await? {
            Some(booking) if booking.user_id == caller.user_id || caller.is_staff() => Ok(booking),
            _ => Err(BookingError::BookingNotFound),
        }
    }

    /// A trip's items: its flights and its other bookings.
    pub async fn trip_items(
        &self,
        trip_id: i64,
    ) -> Result<(Vec<BookingRow>, Vec<ProductBooking>), BookingError> {
        let flights = store::bookings::trip_flights(&self.db, trip_id).await?;
        let others = store::products::items(&self.db, trip_id).await?;
        Ok((flights, others))
    }

    /// Cancels a hotel, car or trip booking and gives back what it holds. Cancelling an ended one
    /// returns it unchanged; one that has begun (check-in, pick-up, a trip's first item) cannot
    /// be cancelled. A trip's item may be cancelled on its own; a trip awaiting payment then ends
    /// whole.
    pub async fn cancel_product(
        &self,
        caller: &Caller,
        id: i64,
    ) -> Result<ProductBooking, BookingError> {
        let mut tx = self.db.begin().await?;
        let Some((_, trip_id)) = store::products::kind(&mut *tx, id).await? else {
            return Err(BookingError::BookingNotFound);
        };
        // Trip first, then item: the order every path takes.
        if let Some(trip) = trip_id {
            store::bookings::lock(&mut *tx, trip).await?;
        }
        store::bookings::lock(&mut *tx, id).await?;
        let booking = store::products::find(&mut *tx, id)
            .await?
            .filter(|b| b.user_id == caller.user_id || caller.is_staff())
            .ok_or(BookingError::BookingNotFound)?;
        if !booking.status.holds_seats() {
            return Ok(booking);
        }
        let now = Utc::now();
        if booking.product == Product::Trip {
            // A trip whose first item has begun is cancelled item by item.
            if store::products::started_items(&mut *tx, id, now).await? > 0 {
                return Err(BookingError::Started(
                    "Part of this trip has begun; cancel its other items one by one".into(),
                ));
            }
        } else if booking.starts_at <= now {
            return Err(BookingError::Started(match booking.product {
                Product::Hotel => "The stay has begun and can no longer be cancelled".into(),
                _ => "The rental has begun and can no longer be cancelled".into(),
            }));
        }
        end(
            &mut tx,
            booking,
            BookingStatus::Cancelled,
            CancelReason::Customer,
        )
        .await?;
        if let Some(trip) = trip_id {
            item_ended(&mut tx, trip, CancelReason::Customer).await?;
        }
        tx.commit().await?;
        tracing::info!(booking_id = id, "booking cancelled");
        store::products::find(&self.db, id)
            .await?
            .ok_or(BookingError::BookingNotFound)
    }
}
