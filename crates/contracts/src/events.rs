//! Event payloads (the `data` of each CloudEvents envelope), by topic.
//!
//! Field names are camelCase on the wire. Every payload is a full snapshot of what consumers need,
//! with a version that only grows, so that a consumer can apply events idempotently and ignore one
//! that arrives after a newer one.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Topics, one per aggregate family.
pub mod topics {
    pub const USERS: &str = "identity.users";
    pub const FLIGHTS: &str = "catalog.flights";
    pub const BOOKINGS: &str = "booking.bookings";
    pub const PAYMENTS: &str = "payment.payments";

    /// Every topic the platform publishes to.
    pub const ALL: [&str; 4] = [USERS, FLIGHTS, BOOKINGS, PAYMENTS];
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

    /// Every event type the platform publishes.
    pub const ALL: [&str; 12] = [
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
    ];
}

/// `identity.users`: `user.registered`, `user.updated`. What other services may keep of a user.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserSnapshot {
    pub user_id: i64,
    pub username: String,
    pub email: String,
    pub role: String,
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
    /// `economy`, `premium_economy`, `business` or `first`.
    pub cabin: String,
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
    /// `On Time`, `Delayed`, `Boarding`, `Departed`, `Landed` or `Cancelled`.
    pub status: String,
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
    pub cabin: String,
    pub capacity: i32,
    pub seats_left: i32,
    /// Grows with every change of this cabin's inventory.
    pub version: i64,
}

/// `booking.bookings`: `booking.created`, `booking.confirmed`, `booking.cancelled`,
/// `booking.expired`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BookingSnapshot {
    pub booking_id: i64,
    pub reference: String,
    pub user_id: i64,
    pub flight_id: i64,
    pub flight_code: String,
    pub departure_at: DateTime<Utc>,
    pub cabin: String,
    pub seats: Vec<String>,
    pub passengers: Vec<String>,
    pub price: MoneyAmount,
    /// `PENDING_PAYMENT`, `CONFIRMED`, `CANCELLED` or `EXPIRED`.
    pub status: String,
    pub payment_method: Option<String>,
    /// The saved card (payment service's id) to charge, if the customer chose one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment_card_id: Option<String>,
    /// On `booking.cancelled` and `booking.expired`: the status the booking had before, which
    /// decides the refund (a booking cancelled before it was confirmed is refunded in full).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_status: Option<String>,
    /// Why a booking was cancelled: `customer`, `payment-failed`, `flight-cancelled`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cancel_reason: Option<String>,
    pub inventory: InventorySnapshot,
}

/// `payment.payments`: `payment.succeeded`, `payment.failed`, `payment.refunded`. Keyed by booking
/// id, so that a booking's payment events stay in order with each other.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PaymentSnapshot {
    pub payment_id: i64,
    pub booking_id: i64,
    pub user_id: i64,
    /// `credit_card`, `debit_card` or `wallet`.
    pub method: String,
    pub amount: MoneyAmount,
    /// `SUCCEEDED`, `FAILED` or `VOIDED`.
    pub status: String,
    /// On `payment.failed`: `card_declined`, `insufficient_funds`, `processor_timeout`,
    /// `processor_error` or `card_not_found`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_reason: Option<String>,
    /// Everything refunded so far (on `payment.refunded`, including this refund).
    pub refunded: MoneyAmount,
    /// The fee kept by the fare rule on `payment.refunded`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refund_fee: Option<MoneyAmount>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub card_last4: Option<String>,
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
            cabin: "economy".into(),
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
}
