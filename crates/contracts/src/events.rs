//! Event payloads (the `data` of each CloudEvents envelope), by topic.
//!
//! Field names are camelCase on the wire. Every payload is a full snapshot of what consumers need,
//! with a version that only grows, so that a consumer can apply events idempotently and ignore one
//! that arrives after a newer one.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub use crate::listings::ListingSnapshot;
use crate::states::{
    BookingStatus, Cabin, CancelReason, CarType, FlightStatus, PaymentFailure, PaymentMethod,
    PaymentStatus, Product, UserRole,
};

/// Topics, one per aggregate family.
pub mod topics {
    pub const USERS: &str = "identity.users";
    pub const FLIGHTS: &str = "catalog.flights";
    pub const BOOKINGS: &str = "booking.bookings";
    pub const PAYMENTS: &str = "payment.payments";
    pub const LISTINGS: &str = "catalog.listings";
    pub const CARS: &str = "booking.cars";
    pub const ACTIVITY: &str = "catalog.activity";

    /// Every topic the platform publishes to.
    pub const ALL: [&str; 7] = [USERS, FLIGHTS, BOOKINGS, PAYMENTS, LISTINGS, CARS, ACTIVITY];

    /// The one service that publishes to `topic` (its events' `source` is `itinera/<name>`), for
    /// the platform's topics.
    pub fn producer(topic: &str) -> Option<&'static str> {
        use crate::services::{BOOKING, CATALOG, IDENTITY, PAYMENT};
        match topic {
            USERS => Some(IDENTITY.name),
            FLIGHTS | LISTINGS | ACTIVITY => Some(CATALOG.name),
            BOOKINGS | CARS => Some(BOOKING.name),
            PAYMENTS => Some(PAYMENT.name),
            _ => None,
        }
    }
}

/// Event types.
pub mod types {
    pub const USER_REGISTERED: &str = "user.registered";
    pub const USER_UPDATED: &str = "user.updated";
    pub const FLIGHT_SCHEDULED: &str = "flight.scheduled";
    pub const FLIGHT_UPDATED: &str = "flight.updated";
    pub const FLIGHT_STATUS_CHANGED: &str = "flight.status-changed";
    pub const BOOKING_CREATED: &str = "booking.created";
    pub const BOOKING_CONFIRMED: &str = "booking.confirmed";
    pub const BOOKING_CANCELLED: &str = "booking.cancelled";
    pub const BOOKING_EXPIRED: &str = "booking.expired";
    pub const PAYMENT_SUCCEEDED: &str = "payment.succeeded";
    pub const PAYMENT_FAILED: &str = "payment.failed";
    pub const PAYMENT_REFUNDED: &str = "payment.refunded";
    pub const LISTING_CREATED: &str = "listing.created";
    pub const LISTING_UPDATED: &str = "listing.updated";
    pub const LISTING_DELETED: &str = "listing.deleted";
    pub const CAR_BOOKED: &str = "car.booked";
    pub const CAR_AVAILABLE: &str = "car.available";
    pub const SEARCH_PERFORMED: &str = "search.performed";
    pub const LISTING_VIEWED: &str = "listing.viewed";

    /// Every event type the platform publishes.
    pub const ALL: [&str; 19] = [
        USER_REGISTERED,
        USER_UPDATED,
        FLIGHT_SCHEDULED,
        FLIGHT_UPDATED,
        FLIGHT_STATUS_CHANGED,
        BOOKING_CREATED,
        BOOKING_CONFIRMED,
        BOOKING_CANCELLED,
        BOOKING_EXPIRED,
        PAYMENT_SUCCEEDED,
        PAYMENT_FAILED,
        PAYMENT_REFUNDED,
        LISTING_CREATED,
        LISTING_UPDATED,
        LISTING_DELETED,
        CAR_BOOKED,
        CAR_AVAILABLE,
        SEARCH_PERFORMED,
        LISTING_VIEWED,
    ];
}

/// `identity.users`: `user.registered`, `user.updated`. What other services may keep of a user.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserSnapshot {
    pub user_id: i64,
    pub username: String,
    pub email: String,
    pub role: UserRole,
    /// Grows with every change; older snapshots are ignored.
    pub updated_at: DateTime<Utc>,
}

/// An amount of money in minor units (cents) of an ISO 4217 currency.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MoneyAmount {
    pub amount_minor: i64,
    pub currency: String,
}

/// One cabin of a flight: its seats and its fare.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CabinSnapshot {
    pub cabin: Cabin,
    pub first_row: i32,
    pub last_row: i32,
    /// Seat letters in each row, e.g. `ABCDEF`.
    pub seat_letters: String,
    pub capacity: i32,
    pub fare: MoneyAmount,
}

/// `catalog.flights`: `flight.scheduled`, `flight.updated`, `flight.status-changed`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FlightSnapshot {
    pub flight_id: i64,
    pub flight_code: String,
    pub airline: String,
    pub origin: String,
    pub destination: String,
    pub departure_at: DateTime<Utc>,
    pub arrival_at: DateTime<Utc>,
    pub origin_time_zone: String,
    pub destination_time_zone: String,
    pub status: FlightStatus,
    pub gate: Option<String>,
    pub cabins: Vec<CabinSnapshot>,
    /// Grows with every change of the flight.
    pub version: i64,
}

/// Seats left in one cabin of one flight after a booking change.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InventorySnapshot {
    pub flight_id: i64,
    pub cabin: Cabin,
    pub capacity: i32,
    pub seats_left: i32,
    /// Grows with every change of this cabin's inventory.
    pub version: i64,
}

/// The flight part of a flight booking: the seats it holds and the cabin's inventory after the
/// change.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FlightBooking {
    pub flight_id: i64,
    pub flight_code: String,
    pub departure_at: DateTime<Utc>,
    pub cabin: Cabin,
    pub seats: Vec<String>,
    pub passengers: Vec<String>,
    pub inventory: InventorySnapshot,
}

/// The hotel part of a hotel booking: rooms of one type for the nights `[checkIn, checkOut)`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StaySnapshot {
    pub hotel_id: Uuid,
    pub hotel_name: String,
    pub city: String,
    pub room_type_id: Uuid,
    pub room_type_name: String,
    pub rate_plan_id: Uuid,
    pub check_in: NaiveDate,
    pub check_out: NaiveDate,
    pub rooms: i32,
    pub guests: i32,
}

/// The car part of a car booking: one car for the days `[startDate, endDate)`; the drop-off day
/// is free for the next renter.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RentalSnapshot {
    pub car_id: Uuid,
    pub car_type: CarType,
    /// Brand and model, e.g. `Toyota RAV4`.
    pub car: String,
    pub location_code: String,
    pub start_date: NaiveDate,
    pub end_date: NaiveDate,
}

/// An item of a trip, as the trip's `booking.created` lists it: what its refund depends on, should
/// it be cancelled on its own, so that the payment service knows it from the moment it records
/// the trip's payment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TripItem {
    pub booking_id: i64,
    pub product: Product,
    pub price: MoneyAmount,
    /// Departure, check-in or pick-up.
    pub starts_at: DateTime<Utc>,
    /// As [`BookingSnapshot::refundable_until`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refundable_until: Option<DateTime<Utc>>,
    /// A flight item's flight, whose departure (and with it the fare rule's deadline) moves when
    /// the flight is moved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flight_id: Option<i64>,
}

/// `booking.bookings`: `booking.created`, `booking.confirmed`, `booking.cancelled`,
/// `booking.expired`.
///
/// A booking is for one product: a flight (`flight` set), a hotel stay (`stay`), a car rental
/// (`rental`), or a trip, whose items are bookings of their own carrying its id in `tripId`. The
/// trip is what is paid for: its items' own events never ask for a payment, and an item cancelled
/// after the trip was paid is refunded from the trip's payment by the item's own rule.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BookingSnapshot {
    pub booking_id: i64,
    pub reference: String,
    pub user_id: i64,
    #[serde(default)]
    pub product: Product,
    /// The trip this booking is an item of.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trip_id: Option<i64>,
    /// What was booked, in words, for receipts and notifications (`IT101 economy, 2 passengers`).
    pub description: String,
    /// When the booked service begins: departure, check-in or pick-up (a trip: its first item).
    pub starts_at: DateTime<Utc>,
    /// Hotel stays and car rentals: until when a cancellation is refunded in full (`None`: never,
    /// a non-refundable rate). Flights follow the fare rule instead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refundable_until: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flight: Option<FlightBooking>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stay: Option<StaySnapshot>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rental: Option<RentalSnapshot>,
    /// On a trip's `booking.created`: its items, in the order they were booked.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub items: Vec<TripItem>,
    pub price: MoneyAmount,
    pub status: BookingStatus,
    pub payment_method: Option<PaymentMethod>,
    /// The saved card (payment service's id) to charge, if the customer chose one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment_card_id: Option<String>,
    /// On `booking.cancelled` and `booking.expired`: the status the booking had before, which
    /// decides the refund (a booking cancelled before it was confirmed is refunded in full).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_status: Option<BookingStatus>,
    /// Why a booking ended (cancelled or expired).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cancel_reason: Option<CancelReason>,
}

impl BookingSnapshot {
    /// Whether the payment service charges this booking: every booking but a trip's items, which
    /// the trip's one payment covers.
    pub fn is_paid_alone(&self) -> bool {
        self.trip_id.is_none()
    }
}

/// `booking.cars`: `car.booked` when a rental takes a car for `[startDate, endDate)`, and
/// `car.available` when it gives those days back (cancelled or expired). Keyed by the car id.
/// Seed 003's fields, and the booking that took or gave back the days.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CarRental {
    pub car_id: Uuid,
    pub user_id: i64,
    pub start_date: NaiveDate,
    pub end_date: NaiveDate,
    pub booking_id: i64,
}

/// `catalog.activity`: `search.performed`, for analytics. Best effort: under load some may be
/// dropped, never a search delayed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SearchPerformed {
    pub product: Product,
    /// The query's parameters as the caller gave them (bounded in size).
    pub query: std::collections::BTreeMap<String, String>,
    pub results: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<i64>,
    pub at: DateTime<Utc>,
    /// How many identical searches (same parameters, same result count) this event stands for:
    /// the producer folds repeats within about a second into one event; `at` is the first.
    #[serde(default = "one")]
    pub count: i64,
}

fn one() -> i64 {
    1
}

/// `catalog.activity`: `listing.viewed`, for analytics (best effort, like searches).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListingViewed {
    pub product: Product,
    /// A hotel's or car's id, or a flight's.
    pub listing_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<i64>,
    pub at: DateTime<Utc>,
    /// How many views of the listing this event stands for (folded as searches are).
    #[serde(default = "one")]
    pub count: i64,
}

/// `payment.payments`: `payment.succeeded`, `payment.failed`, `payment.refunded`. Keyed by booking
/// id, so that a booking's payment events stay in order with each other.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PaymentSnapshot {
    pub payment_id: i64,
    pub booking_id: i64,
    pub user_id: i64,
    pub method: PaymentMethod,
    pub amount: MoneyAmount,
    /// `SUCCEEDED`, `FAILED` or `VOIDED`.
    pub status: PaymentStatus,
    /// On `payment.failed`: why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_reason: Option<PaymentFailure>,
    /// Everything refunded so far (on `payment.refunded`, including this refund).
    pub refunded: MoneyAmount,
    /// The fee kept by the fare rule on `payment.refunded`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refund_fee: Option<MoneyAmount>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub card_last4: Option<String>,
    /// On `payment.refunded` of a trip's payment: the item whose cancellation this refund is for
    /// (`bookingId` stays the trip's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refund_for_booking_id: Option<i64>,
}

/// Declares a topic's typed events: one variant per event type, each with its payload.
macro_rules! topic_events {
    (
        $(#[$meta:meta])*
        $name:ident ($topic:path) {
            $($(#[$variant_meta:meta])* $variant:ident = $kind:path => $payload:ty,)+
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Debug, PartialEq, Eq)]
        pub enum $name {
            $($(#[$variant_meta])* $variant($payload),)+
        }

        impl $name {
            /// The topic these events are published to.
            pub const TOPIC: &'static str = $topic;

            /// Every event type of the topic.
            pub const KINDS: [&'static str; [$($kind),+].len()] = [$($kind),+];

            /// The event of type `kind` with payload `data` (an envelope's `type` and `data`).
            ///
            /// `Ok(None)` when `kind` is not an event type of this topic: the caller decides
            /// whether to ignore it. A known type whose payload does not fit is an error.
            pub fn decode(
                kind: &str,
                data: &serde_json::Value,
            ) -> Result<Option<Self>, serde_json::Error> {
                Ok(Some(match kind {
                    $($kind => $name::$variant(<$payload>::deserialize(data)?),)+
                    _ => return Ok(None),
                }))
            }

            /// The event type (the envelope's `type`).
            pub fn kind(&self) -> &'static str {
                match self {
                    $($name::$variant(_) => $kind,)+
                }
            }

            /// The payload as the envelope's `data`.
            pub fn data(&self) -> Result<serde_json::Value, serde_json::Error> {
                match self {
                    $($name::$variant(payload) => serde_json::to_value(payload),)+
                }
            }
        }
    };
}

topic_events! {
    /// The events of `identity.users`.
    UserEvent (topics::USERS) {
        Registered = types::USER_REGISTERED => UserSnapshot,
        Updated = types::USER_UPDATED => UserSnapshot,
    }
}

impl UserEvent {
    pub fn user(&self) -> &UserSnapshot {
        match self {
            UserEvent::Registered(user) | UserEvent::Updated(user) => user,
        }
    }
}

topic_events! {
    /// The events of `catalog.flights`.
    FlightEvent (topics::FLIGHTS) {
        Scheduled = types::FLIGHT_SCHEDULED => FlightSnapshot,
        /// A change of the schedule, gate or fares.
        Updated = types::FLIGHT_UPDATED => FlightSnapshot,
        StatusChanged = types::FLIGHT_STATUS_CHANGED => FlightSnapshot,
    }
}

impl FlightEvent {
    pub fn flight(&self) -> &FlightSnapshot {
        match self {
            FlightEvent::Scheduled(flight)
            | FlightEvent::Updated(flight)
            | FlightEvent::StatusChanged(flight) => flight,
        }
    }

    pub fn into_flight(self) -> FlightSnapshot {
        match self {
            FlightEvent::Scheduled(flight)
            | FlightEvent::Updated(flight)
            | FlightEvent::StatusChanged(flight) => flight,
        }
    }
}

topic_events! {
    /// The events of `booking.bookings`.
    BookingEvent (topics::BOOKINGS) {
        /// Created awaiting payment; asks the payment service for it.
        Created = types::BOOKING_CREATED => BookingSnapshot,
        Confirmed = types::BOOKING_CONFIRMED => BookingSnapshot,
        Cancelled = types::BOOKING_CANCELLED => BookingSnapshot,
        Expired = types::BOOKING_EXPIRED => BookingSnapshot,
    }
}

impl BookingEvent {
    pub fn booking(&self) -> &BookingSnapshot {
        match self {
            BookingEvent::Created(booking)
            | BookingEvent::Confirmed(booking)
            | BookingEvent::Cancelled(booking)
            | BookingEvent::Expired(booking) => booking,
        }
    }

    pub fn into_booking(self) -> BookingSnapshot {
        match self {
            BookingEvent::Created(booking)
            | BookingEvent::Confirmed(booking)
            | BookingEvent::Cancelled(booking)
            | BookingEvent::Expired(booking) => booking,
        }
    }
}

topic_events! {
    /// The events of `payment.payments`.
    PaymentEvent (topics::PAYMENTS) {
        Succeeded = types::PAYMENT_SUCCEEDED => PaymentSnapshot,
        Failed = types::PAYMENT_FAILED => PaymentSnapshot,
        Refunded = types::PAYMENT_REFUNDED => PaymentSnapshot,
    }
}

impl PaymentEvent {
    pub fn payment(&self) -> &PaymentSnapshot {
        match self {
            PaymentEvent::Succeeded(payment)
            | PaymentEvent::Failed(payment)
            | PaymentEvent::Refunded(payment) => payment,
        }
    }
}

topic_events! {
    /// The events of `catalog.listings`.
    ListingEvent (topics::LISTINGS) {
        Created = types::LISTING_CREATED => ListingSnapshot,
        Updated = types::LISTING_UPDATED => ListingSnapshot,
        /// The listing's last snapshot: it can no longer be booked; what was booked stays.
        Deleted = types::LISTING_DELETED => ListingSnapshot,
    }
}

impl ListingEvent {
    pub fn listing(&self) -> &ListingSnapshot {
        match self {
            ListingEvent::Created(listing)
            | ListingEvent::Updated(listing)
            | ListingEvent::Deleted(listing) => listing,
        }
    }
}

topic_events! {
    /// The events of `booking.cars`.
    CarEvent (topics::CARS) {
        Booked = types::CAR_BOOKED => CarRental,
        Available = types::CAR_AVAILABLE => CarRental,
    }
}

topic_events! {
    /// The events of `catalog.activity`.
    ActivityEvent (topics::ACTIVITY) {
        SearchPerformed = types::SEARCH_PERFORMED => SearchPerformed,
        ListingViewed = types::LISTING_VIEWED => ListingViewed,
    }
}

/// Any event of the platform, by topic.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    User(UserEvent),
    Flight(FlightEvent),
    Booking(BookingEvent),
    Payment(PaymentEvent),
    Listing(ListingEvent),
    Car(CarEvent),
    Activity(ActivityEvent),
}

impl Event {
    /// The event of type `kind` with payload `data`, whichever its topic.
    ///
    /// `Ok(None)` when `kind` is no event type of the platform (one a newer producer publishes,
    /// say): the caller decides whether to ignore it. A known type whose payload does not fit is
    /// an error.
    pub fn decode(kind: &str, data: &serde_json::Value) -> Result<Option<Self>, serde_json::Error> {
        if let Some(event) = UserEvent::decode(kind, data)? {
            return Ok(Some(Event::User(event)));
        }
        if let Some(event) = FlightEvent::decode(kind, data)? {
            return Ok(Some(Event::Flight(event)));
        }
        if let Some(event) = BookingEvent::decode(kind, data)? {
            return Ok(Some(Event::Booking(event)));
        }
        if let Some(event) = PaymentEvent::decode(kind, data)? {
            return Ok(Some(Event::Payment(event)));
        }
        if let Some(event) = ListingEvent::decode(kind, data)? {
            return Ok(Some(Event::Listing(event)));
        }
        if let Some(event) = CarEvent::decode(kind, data)? {
            return Ok(Some(Event::Car(event)));
        }
        Ok(ActivityEvent::decode(kind, data)?.map(Event::Activity))
    }

    /// The event type (the envelope's `type`).
    pub fn kind(&self) -> &'static str {
        match self {
            Event::User(event) => event.kind(),
            Event::Flight(event) => event.kind(),
            Event::Booking(event) => event.kind(),
            Event::Payment(event) => event.kind(),
            Event::Listing(event) => event.kind(),
            Event::Car(event) => event.kind(),
            Event::Activity(event) => event.kind(),
        }
    }

    /// The topic the event is published to.
    pub fn topic(&self) -> &'static str {
        match self {
            Event::User(_) => UserEvent::TOPIC,
            Event::Flight(_) => FlightEvent::TOPIC,
            Event::Booking(_) => BookingEvent::TOPIC,
            Event::Payment(_) => PaymentEvent::TOPIC,
            Event::Listing(_) => ListingEvent::TOPIC,
            Event::Car(_) => CarEvent::TOPIC,
            Event::Activity(_) => ActivityEvent::TOPIC,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_event_type_is_documented_with_its_topic() {
        let doc = include_str!("../../../docs/events.md");
        for kind in types::ALL {
            assert!(
                doc.contains(&format!("`{kind}`")),
                "docs/events.md does not describe {kind}"
            );
        }
        for topic in topics::ALL {
            assert!(
                doc.contains(&format!("`{topic}`")),
                "docs/events.md does not describe topic {topic}"
            );
        }
    }

    #[test]
    fn payloads_use_camel_case_on_the_wire() {
        let inventory = InventorySnapshot {
            flight_id: 1,
            cabin: Cabin::Economy,
            capacity: 10,
            seats_left: 9,
            version: 3,
        };
        let json = serde_json::to_value(&inventory).unwrap();
        assert_eq!(json["seatsLeft"], 9);
        assert_eq!(
            serde_json::from_value::<InventorySnapshot>(json).unwrap(),
            inventory
        );
    }

    fn booking() -> BookingSnapshot {
        BookingSnapshot {
            booking_id: 7,
            reference: "ABCD2345".into(),
            user_id: 3,
            product: Product::Flight,
            trip_id: None,
            description: "IT101-20261201 premium_economy, 1 passenger".into(),
            starts_at: "2026-12-01T09:00:00Z".parse().unwrap(),
            refundable_until: None,
            flight: Some(FlightBooking {
                flight_id: 1,
                flight_code: "IT101-20261201".into(),
                departure_at: "2026-12-01T09:00:00Z".parse().unwrap(),
                cabin: Cabin::PremiumEconomy,
                seats: vec!["14C".into()],
                passengers: vec!["Jane Doe".into()],
                inventory: InventorySnapshot {
                    flight_id: 1,
                    cabin: Cabin::PremiumEconomy,
                    capacity: 10,
                    seats_left: 9,
                    version: 1,
                },
            }),
            stay: None,
            rental: None,
            items: Vec::new(),
            price: MoneyAmount {
                amount_minor: 19_999,
                currency: "USD".into(),
            },
            status: BookingStatus::Cancelled,
            payment_method: Some(PaymentMethod::CreditCard),
            payment_card_id: None,
            previous_status: Some(BookingStatus::PendingPayment),
            cancel_reason: Some(CancelReason::PaymentFailed),
        }
    }

    #[test]
    fn payload_codes_keep_their_wire_values() {
        let json = serde_json::to_value(booking()).unwrap();
        assert_eq!(json["flight"]["cabin"], "premium_economy");
        assert_eq!(json["product"], "flight");
        assert!(json.get("tripId").is_none() && json.get("stay").is_none());
        assert!(json.get("items").is_none());
        assert_eq!(json["status"], "CANCELLED");
        assert_eq!(json["paymentMethod"], "credit_card");
        assert_eq!(json["previousStatus"], "PENDING_PAYMENT");
        assert_eq!(json["cancelReason"], "payment-failed");
        assert_eq!(json["flight"]["inventory"]["cabin"], "premium_economy");
        assert!(json.get("paymentCardId").is_none());
        let mut unknown = json.clone();
        unknown["status"] = "LOST".into();
        assert!(serde_json::from_value::<BookingSnapshot>(unknown).is_err());
    }

    #[test]
    fn a_trips_items_travel_with_it_in_camel_case() {
        let starts_at = "2026-12-01T09:00:00Z".parse().unwrap();
        let trip = BookingSnapshot {
            product: Product::Trip,
            flight: None,
            items: vec![TripItem {
                booking_id: 8,
                product: Product::Flight,
                price: MoneyAmount {
                    amount_minor: 19_999,
                    currency: "USD".into(),
                },
                starts_at,
                refundable_until: None,
                flight_id: Some(3),
            }],
            ..booking()
        };
        let json = serde_json::to_value(&trip).unwrap();
        assert_eq!(json["items"][0]["bookingId"], 8);
        assert_eq!(json["items"][0]["price"]["amountMinor"], 19_999);
        assert!(json["items"][0].get("refundableUntil").is_none());
        assert_eq!(
            serde_json::from_value::<BookingSnapshot>(json).unwrap(),
            trip
        );
    }

    #[test]
    fn every_event_type_decodes_to_its_variant_and_back() {
        let mut kinds: Vec<&str> = Vec::new();
        kinds.extend(UserEvent::KINDS);
        kinds.extend(FlightEvent::KINDS);
        kinds.extend(BookingEvent::KINDS);
        kinds.extend(PaymentEvent::KINDS);
        kinds.extend(ListingEvent::KINDS);
        kinds.extend(CarEvent::KINDS);
        kinds.extend(ActivityEvent::KINDS);
        assert_eq!(kinds, types::ALL);

        let data = serde_json::to_value(booking()).unwrap();
        for kind in BookingEvent::KINDS {
            let event = BookingEvent::decode(kind, &data).unwrap().unwrap();
            assert_eq!(event.kind(), kind);
            assert_eq!(event.booking(), &booking());
            assert_eq!(event.data().unwrap(), data);
            let any = Event::decode(kind, &data).unwrap().unwrap();
            assert_eq!(any, Event::Booking(event));
            assert_eq!(any.topic(), topics::BOOKINGS);
        }
        assert_eq!(
            BookingEvent::decode(types::BOOKING_CREATED, &data)
                .unwrap()
                .map(BookingEvent::into_booking),
            Some(booking())
        );
    }

    #[test]
    fn unknown_types_are_none_and_bad_payloads_errors() {
        let data = serde_json::to_value(booking()).unwrap();
        assert_eq!(BookingEvent::decode("booking.lost", &data).unwrap(), None);
        assert_eq!(
            BookingEvent::decode(types::PAYMENT_SUCCEEDED, &data).unwrap(),
            None
        );
        assert_eq!(Event::decode("booking.lost", &data).unwrap(), None);
        assert!(PaymentEvent::decode(types::PAYMENT_SUCCEEDED, &data).is_err());
        assert!(Event::decode(types::USER_UPDATED, &serde_json::json!({})).is_err());
    }

    #[test]
    fn car_events_carry_seed_003s_fields() {
        let rental = CarRental {
            car_id: Uuid::nil(),
            user_id: 4,
            start_date: "2025-12-01".parse().unwrap(),
            end_date: "2025-12-05".parse().unwrap(),
            booking_id: 9,
        };
        let json = serde_json::to_value(&rental).unwrap();
        for field in ["carId", "userId", "startDate", "endDate"] {
            assert!(json.get(field).is_some(), "car events lack {field}");
        }
        assert_eq!(json["startDate"], "2025-12-01");
        let event = Event::decode(types::CAR_AVAILABLE, &json).unwrap().unwrap();
        assert_eq!(event, Event::Car(CarEvent::Available(rental)));
        assert_eq!(event.topic(), topics::CARS);
    }

    #[test]
    fn every_topic_has_one_producer() {
        for topic in topics::ALL {
            assert!(topics::producer(topic).is_some(), "{topic} has no producer");
        }
    }
}
