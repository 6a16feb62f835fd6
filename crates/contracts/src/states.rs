//! States and codes that cross a service boundary, each as an enum whose serde name is its wire
//! value.
//!
//! Every enum here has `as_str` (the wire value), `Display` (the same text), `FromStr` and
//! `TryFrom<String>` (exactly the wire values, nothing else; a service reads its text columns
//! through `TryFrom<String>`), and `ALL` (every value, in declaration order). Some also have a
//! lenient `parse` for what people type into the APIs; that one never decides what goes on the
//! wire.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A text that is not one of an enum's wire values.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownCode {
    /// What was expected, e.g. `booking status`.
    pub expected: &'static str,
    pub value: String,
}

impl fmt::Display for UnknownCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?} is not a {}", self.value, self.expected)
    }
}

impl std::error::Error for UnknownCode {}

/// Declares an enum of wire codes with its conversions.
macro_rules! wire_codes {
    (
        $(#[$meta:meta])*
        $name:ident ($expected:literal) {
            $($(#[$variant_meta:meta])* $variant:ident = $wire:literal,)+
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        pub enum $name {
            $($(#[$variant_meta])* #[serde(rename = $wire)] $variant,)+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: [$name; [$($wire),+].len()] = [$($name::$variant),+];

            /// The wire value.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $wire,)+
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = UnknownCode;

            fn from_str(value: &str) -> Result<Self, UnknownCode> {
                match value {
                    $($wire => Ok($name::$variant),)+
                    _ => Err(UnknownCode {
                        expected: $expected,
                        value: value.to_owned(),
                    }),
                }
            }
        }

        impl TryFrom<String> for $name {
            type Error = UnknownCode;

            fn try_from(value: String) -> Result<Self, UnknownCode> {
                value.parse()
            }
        }

        impl From<$name> for &'static str {
            fn from(value: $name) -> &'static str {
                value.as_str()
            }
        }
    };
}

wire_codes! {
    /// Where a booking is in its life.
    ///
    /// ```text
    /// PENDING_PAYMENT ──pay──▶ CONFIRMED ──cancel──▶ CANCELLED
    ///        │ └──cancel / payment failed──▶ CANCELLED
    ///        └──hold expired──▶ EXPIRED
    /// ```
    BookingStatus ("booking status") {
        PendingPayment = "PENDING_PAYMENT",
        Confirmed = "CONFIRMED",
        Cancelled = "CANCELLED",
        Expired = "EXPIRED",
    }
}

impl BookingStatus {
    /// The wire value, or `None` for any other text.
    pub fn parse(value: &str) -> Option<Self> {
        value.parse().ok()
    }

    /// How seed 002 writes it (`Confirmed`).
    pub fn display(self) -> &'static str {
        match self {
            BookingStatus::PendingPayment => "Pending Payment",
            BookingStatus::Confirmed => "Confirmed",
            BookingStatus::Cancelled => "Cancelled",
            BookingStatus::Expired => "Expired",
        }
    }

    /// Whether the booking still holds its seats.
    pub fn holds_seats(self) -> bool {
        matches!(
            self,
            BookingStatus::PendingPayment | BookingStatus::Confirmed
        )
    }

    pub fn can_become(self, next: BookingStatus) -> bool {
        use BookingStatus::*;
        matches!(
            (self, next),
            (PendingPayment, Confirmed)
                | (PendingPayment, Cancelled)
                | (PendingPayment, Expired)
                | (Confirmed, Cancelled)
        )
    }
}

wire_codes! {
    /// Why a booking ended.
    CancelReason ("cancel reason") {
        /// The customer (or staff for them) cancelled it.
        Customer = "customer",
        /// Its payment failed.
        PaymentFailed = "payment-failed",
        /// Its flight was cancelled.
        FlightCancelled = "flight-cancelled",
        /// It was not paid before its hold ran out.
        HoldExpired = "hold-expired",
    }
}

wire_codes! {
    /// What a booking is for. A trip's items are bookings of the other three.
    Product ("product") {
        Flight = "flight",
        Hotel = "hotel",
        Car = "car",
        Trip = "trip",
    }
}

impl Default for Product {
    /// Bookings made before there were other products are flights.
    fn default() -> Self {
        Product::Flight
    }
}

impl Product {
    /// Accepts the wire value in any case.
    pub fn parse(value: &str) -> Result<Self, String> {
        value
            .trim()
            .to_ascii_lowercase()
            .parse()
            .map_err(|_| format!("{value:?} is not a product (flight, hotel, car, trip)"))
    }
}

wire_codes! {
    /// A rental car's class, as seed 003's `cars.type` names them.
    CarType ("car type") {
        Economy = "economy",
        Sedan = "sedan",
        Suv = "suv",
        Luxury = "luxury",
    }
}

impl CarType {
    /// Accepts the wire value in any case.
    pub fn parse(value: &str) -> Result<Self, String> {
        value
            .trim()
            .to_ascii_lowercase()
            .parse()
            .map_err(|_| format!("{value:?} is not a car type (sedan, suv, luxury, economy)"))
    }
}

wire_codes! {
    /// A cabin class. Ordered from the front of the aircraft.
    Cabin ("cabin") {
        First = "first",
        Business = "business",
        PremiumEconomy = "premium_economy",
        Economy = "economy",
    }
}

impl Cabin {
    /// Accepts the wire value in any case, with `-` or a space for `_`.
    pub fn parse(value: &str) -> Result<Self, String> {
        let normalised = value.trim().to_ascii_lowercase().replace(['-', ' '], "_");
        normalised.parse().map_err(|_| {
            format!("{value:?} is not a cabin (economy, premium_economy, business, first)")
        })
    }
}

wire_codes! {
    /// Where a flight is in its day. The wire value is the display name, as seed 002 writes it.
    FlightStatus ("flight status") {
        OnTime = "On Time",
        Delayed = "Delayed",
        Boarding = "Boarding",
        Departed = "Departed",
        Landed = "Landed",
        Cancelled = "Cancelled",
    }
}

impl FlightStatus {
    /// Accepts the display name in any case, or with `_`/`-` for the space (`on_time`).
    pub fn parse(value: &str) -> Result<Self, String> {
        let squash = |s: &str| s.to_ascii_lowercase().replace([' ', '_', '-'], "");
        let wanted = squash(value);
        Self::ALL
            .into_iter()
            .find(|s| squash(s.as_str()) == wanted)
            .ok_or_else(|| {
                format!("{value:?} is not a flight status (On Time, Delayed, Boarding, Departed, Landed, Cancelled)")
            })
    }

    /// Whether the flight has left (or arrived): too late to book or cancel.
    pub fn has_departed(self) -> bool {
        matches!(self, FlightStatus::Departed | FlightStatus::Landed)
    }
}

wire_codes! {
    /// How a booking is paid.
    PaymentMethod ("payment method") {
        CreditCard = "credit_card",
        DebitCard = "debit_card",
        Wallet = "wallet",
    }
}

impl PaymentMethod {
    /// Seed 002's free-text `paymentMethod` mapped onto a method: any case and punctuation, and a
    /// few common names (`Visa`, `debit`, `Itinera Wallet`).
    pub fn parse(value: &str) -> Result<Self, String> {
        let normalised: String = value
            .trim()
            .to_ascii_lowercase()
            .chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .collect();
        match normalised.as_str() {
            "creditcard" | "credit" | "card" | "visa" | "mastercard" | "amex" => {
                Ok(PaymentMethod::CreditCard)
            }
            "debitcard" | "debit" => Ok(PaymentMethod::DebitCard),
            "wallet" | "itinerawallet" => Ok(PaymentMethod::Wallet),
            _ => Err(format!(
                "Unknown payment method {value:?}; use credit_card, debit_card or wallet"
            )),
        }
    }

    /// Whether the payment is charged to a card (as opposed to the wallet).
    pub fn by_card(self) -> bool {
        self != PaymentMethod::Wallet
    }
}

wire_codes! {
    /// Where a payment is. Events carry only the ends: `SUCCEEDED`, `FAILED` (and `VOIDED`).
    PaymentStatus ("payment status") {
        /// Waiting for a worker to charge it.
        Pending = "PENDING",
        /// A worker is charging it.
        Processing = "PROCESSING",
        Succeeded = "SUCCEEDED",
        Failed = "FAILED",
        /// Not charged: its booking ended first.
        Voided = "VOIDED",
    }
}

wire_codes! {
    /// Why a payment failed.
    PaymentFailure ("payment failure reason") {
        CardDeclined = "card_declined",
        InsufficientFunds = "insufficient_funds",
        ProcessorTimeout = "processor_timeout",
        ProcessorError = "processor_error",
        /// The customer pays by card and has no (such) saved card.
        CardNotFound = "card_not_found",
    }
}

wire_codes! {
    /// What a user may do.
    UserRole ("user role") {
        Customer = "customer",
        /// Operations staff: flight status, schedules.
        Ops = "ops",
        Admin = "admin",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every value's serde name is its `as_str`, both ways; `FromStr`, `TryFrom<String>` and
    /// `Display` agree with it; anything else is refused.
    fn round_trips<T>(all: &[T], wire: &[&str])
    where
        T: Copy
            + fmt::Debug
            + fmt::Display
            + PartialEq
            + Serialize
            + serde::de::DeserializeOwned
            + FromStr<Err = UnknownCode>
            + TryFrom<String, Error = UnknownCode>
            + Into<&'static str>,
    {
        let names: Vec<&str> = all.iter().map(|v| (*v).into()).collect();
        assert_eq!(names, wire);
        for (value, text) in all.iter().zip(wire) {
            assert_eq!(
                serde_json::to_value(value).unwrap(),
                serde_json::json!(text)
            );
            assert_eq!(
                serde_json::from_value::<T>(serde_json::json!(text)).unwrap(),
                *value
            );
            assert_eq!(text.parse::<T>().unwrap(), *value);
            assert_eq!(T::try_from((*text).to_owned()).unwrap(), *value);
            assert_eq!(value.to_string(), *text);
        }
        for unknown in ["", "unknown", " CONFIRMED", "Economy ", "WALLET", "on time"] {
            assert!(unknown.parse::<T>().is_err(), "{unknown:?} was accepted");
            assert!(serde_json::from_value::<T>(serde_json::json!(unknown)).is_err());
        }
        let refused = T::try_from("nope".to_owned()).unwrap_err();
        assert_eq!(refused.value, "nope");
        assert!(refused.to_string().starts_with("\"nope\" is not a "));
    }

    #[test]
    fn wire_values_round_trip() {
        round_trips(
            &BookingStatus::ALL,
            &["PENDING_PAYMENT", "CONFIRMED", "CANCELLED", "EXPIRED"],
        );
        round_trips(
            &CancelReason::ALL,
            &[
                "customer",
                "payment-failed",
                "flight-cancelled",
                "hold-expired",
            ],
        );
        round_trips(
            &Cabin::ALL,
            &["first", "business", "premium_economy", "economy"],
        );
        round_trips(
            &FlightStatus::ALL,
            &[
                "On Time",
                "Delayed",
                "Boarding",
                "Departed",
                "Landed",
                "Cancelled",
            ],
        );
        round_trips(
            &PaymentMethod::ALL,
            &["credit_card", "debit_card", "wallet"],
        );
        round_trips(
            &PaymentStatus::ALL,
            &["PENDING", "PROCESSING", "SUCCEEDED", "FAILED", "VOIDED"],
        );
        round_trips(
            &PaymentFailure::ALL,
            &[
                "card_declined",
                "insufficient_funds",
                "processor_timeout",
                "processor_error",
                "card_not_found",
            ],
        );
        round_trips(&UserRole::ALL, &["customer", "ops", "admin"]);
        round_trips(&Product::ALL, &["flight", "hotel", "car", "trip"]);
        round_trips(&CarType::ALL, &["economy", "sedan", "suv", "luxury"]);
    }

    #[test]
    fn lenient_parsing_is_only_for_input() {
        assert_eq!(Cabin::parse(" Premium-Economy"), Ok(Cabin::PremiumEconomy));
        assert!(Cabin::parse("coach").is_err());
        assert!("Economy".parse::<Cabin>().is_err());
        assert_eq!(FlightStatus::parse("on_time"), Ok(FlightStatus::OnTime));
        assert!(FlightStatus::parse("late").is_err());
        assert_eq!(PaymentMethod::parse("Visa"), Ok(PaymentMethod::CreditCard));
        assert_eq!(
            PaymentMethod::parse("Itinera Wallet"),
            Ok(PaymentMethod::Wallet)
        );
        assert!(PaymentMethod::parse("cash").is_err());
        assert_eq!(CarType::parse(" SUV"), Ok(CarType::Suv));
        assert!(CarType::parse("van").is_err());
        assert_eq!(Product::parse("Hotel"), Ok(Product::Hotel));
        assert_eq!(
            BookingStatus::parse("EXPIRED"),
            Some(BookingStatus::Expired)
        );
        assert_eq!(BookingStatus::parse("Expired"), None);
    }

    #[test]
    fn cabins_order_from_the_front() {
        let mut cabins = vec![
            Cabin::Economy,
            Cabin::First,
            Cabin::PremiumEconomy,
            Cabin::Business,
        ];
        cabins.sort();
        assert_eq!(cabins, Cabin::ALL);
    }

    #[test]
    fn booking_life_cycle() {
        use BookingStatus::*;
        assert!(PendingPayment.can_become(Expired));
        assert!(!Expired.can_become(Cancelled));
        assert!(Confirmed.holds_seats() && !Cancelled.holds_seats());
        assert_eq!(PendingPayment.display(), "Pending Payment");
    }
}
