//! Hotels and cars as catalog publishes them (`catalog.listings`), and what a stay or a rental
//! costs.
//!
//! Catalog shows these prices in search and booking charges them: both call the functions here, so
//! the price a traveller sees is the price they pay.

use std::collections::BTreeMap;

use chrono::{Datelike, NaiveDate, Weekday};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::states::{CarType, Product};

/// How to price one night of a rate plan: an explicit price for the date, or the weekend price on
/// Friday and Saturday nights, or the weekday price.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RatePlanSnapshot {
    pub rate_plan_id: Uuid,
    pub name: String,
    /// Whether a cancellation gives the money back (in full, until the free-cancellation window
    /// closes). A non-refundable plan gives nothing back.
    pub refundable: bool,
    /// Hours before check-in until which a refundable stay may be cancelled for free.
    pub free_cancellation_hours: i32,
    /// Per room and night, in minor units of the hotel's currency.
    pub weekday_minor: i64,
    pub weekend_minor: i64,
    /// Nights priced differently from the rule above (a fair, a holiday).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub prices: BTreeMap<NaiveDate, i64>,
}

impl RatePlanSnapshot {
    /// The price of one room for the night that starts on `night`.
    pub fn nightly_minor(&self, night: NaiveDate) -> i64 {
        if let Some(price) = self.prices.get(&night) {
            return *price;
        }
        match night.weekday() {
            Weekday::Fri | Weekday::Sat => self.weekend_minor,
            _ => self.weekday_minor,
        }
    }
}

/// A kind of room in a hotel, and how many of them there are.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RoomTypeSnapshot {
    pub room_type_id: Uuid,
    pub name: String,
    /// Guests one room sleeps.
    pub capacity: i32,
    pub beds: String,
    /// Rooms of this type: no night is ever sold beyond this.
    pub rooms: i32,
    pub rate_plans: Vec<RatePlanSnapshot>,
}

/// What booking needs of a hotel.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HotelListing {
    pub hotel_id: Uuid,
    pub name: String,
    pub city: String,
    /// The nearest airport (IATA), where a trip's flight lands.
    pub airport_code: String,
    /// The hotel's IANA time zone: check-in times and cancellation windows are local.
    pub time_zone: String,
    /// Local check-in time, `HH:MM`.
    pub check_in_time: String,
    pub currency: String,
    /// Taxes on the room charges, in basis points (1000 = 10%).
    pub tax_basis_points: i32,
    /// A fee per room and night (city tax, resort fee), in minor units.
    pub fee_per_night_minor: i64,
    pub room_types: Vec<RoomTypeSnapshot>,
}

/// What booking needs of a rental car.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CarListing {
    pub car_id: Uuid,
    pub car_type: CarType,
    pub brand: String,
    pub model: String,
    pub year: i32,
    /// The pick-up location code (the airport's IATA code).
    pub location_code: String,
    /// The pick-up location's IANA time zone.
    pub time_zone: String,
    pub daily_price_minor: i64,
    pub currency: String,
    /// Whether the car may be rented at all (seed 003's `available`); a car taken out of service
    /// keeps the rentals it has.
    pub available: bool,
}

/// `catalog.listings`: `listing.created`, `listing.updated`, `listing.deleted`, keyed by the listing
/// id. Exactly one of `hotel` and `car` is set, as `product` says.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListingSnapshot {
    pub listing_id: Uuid,
    pub product: Product,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hotel: Option<HotelListing>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub car: Option<CarListing>,
    /// Grows with every change of the listing; older snapshots are ignored.
    pub version: i64,
}

/// Why a stay or a rental cannot be priced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum QuoteError {
    /// Check-out (or drop-off) is not after check-in (or pick-up).
    EmptyRange,
    /// Longer than [`MAX_NIGHTS`].
    TooLong,
    /// At least one room (or car) must be booked.
    NoRooms,
    /// The total does not fit in 64 bits.
    Overflow,
}

impl std::fmt::Display for QuoteError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            QuoteError::EmptyRange => "the end date must be after the start date",
            QuoteError::TooLong => "a stay or rental is at most 30 nights",
            QuoteError::NoRooms => "at least one room is needed",
            QuoteError::Overflow => "the total price is too large",
        })
    }
}

impl std::error::Error for QuoteError {}

/// The longest stay or rental that can be booked in one go.
pub const MAX_NIGHTS: i64 = 30;

/// The nights of a stay (or the days of a rental): `[start, end)`.
pub fn nights(start: NaiveDate, end: NaiveDate) -> Result<Vec<NaiveDate>, QuoteError> {
    let count = (end - start).num_days();
    if count < 1 {
        return Err(QuoteError::EmptyRange);
    }
    if count > MAX_NIGHTS {
        return Err(QuoteError::TooLong);
    }
    Ok(start.iter_days().take(count as usize).collect())
}

/// What a stay costs, in minor units of the hotel's currency.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StayQuote {
    pub nights: i64,
    pub rooms: i32,
    /// Room charges for every room and night.
    pub room_minor: i64,
    pub taxes_minor: i64,
    pub fees_minor: i64,
    pub total_minor: i64,
}

impl HotelListing {
    /// What `rooms` rooms on `plan` cost for the nights `[check_in, check_out)`. Taxes are rounded
    /// half up to the minor unit, once for the whole stay.
    pub fn quote(
        &self,
        plan: &RatePlanSnapshot,
        check_in: NaiveDate,
        check_out: NaiveDate,
        rooms: i32,
    ) -> Result<StayQuote, QuoteError> {
        if rooms < 1 {
            return Err(QuoteError::NoRooms);
        }
        let nights = nights(check_in, check_out)?;
        let per_room = nights
            .iter()
            .try_fold(0i64, |sum, night| {
                sum.checked_add(plan.nightly_minor(*night))
            })
            .ok_or(QuoteError::Overflow)?;
        let room_minor = per_room
            .checked_mul(i64::from(rooms))
            .ok_or(QuoteError::Overflow)?;
        let taxes_minor = i64::try_from(
            (i128::from(room_minor) * i128::from(self.tax_basis_points) + 5_000) / 10_000,
        )
        .map_err(|_| QuoteError::Overflow)?;
        let fees_minor = self
            .fee_per_night_minor
            .checked_mul(nights.len() as i64 * i64::from(rooms))
            .ok_or(QuoteError::Overflow)?;
        let total_minor = room_minor
            .checked_add(taxes_minor)
            .and_then(|t| t.checked_add(fees_minor))
            .ok_or(QuoteError::Overflow)?;
        Ok(StayQuote {
            nights: nights.len() as i64,
            rooms,
            room_minor,
            taxes_minor,
            fees_minor,
            total_minor,
        })
    }

    pub fn room_type(&self, id: Uuid) -> Option<&RoomTypeSnapshot> {
        self.room_types.iter().find(|r| r.room_type_id == id)
    }
}

impl CarListing {
    /// What renting the car from `start` to `end` costs: one daily price for each day of
    /// `[start, end)` (the drop-off day is free for the next renter).
    pub fn quote(&self, start: NaiveDate, end: NaiveDate) -> Result<i64, QuoteError> {
        let days = nights(start, end)?.len() as i64;
        self.daily_price_minor
            .checked_mul(days)
            .ok_or(QuoteError::Overflow)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(text: &str) -> NaiveDate {
        text.parse().unwrap()
    }

    fn plan() -> RatePlanSnapshot {
        RatePlanSnapshot {
            rate_plan_id: Uuid::nil(),
            name: "Flexible".into(),
            refundable: true,
            free_cancellation_hours: 48,
            weekday_minor: 10_000,
            weekend_minor: 14_000,
            prices: BTreeMap::from([(date("2026-12-24"), 30_000)]),
        }
    }

    fn hotel() -> HotelListing {
        HotelListing {
            hotel_id: Uuid::nil(),
            name: "Hotel".into(),
            city: "Paris".into(),
            airport_code: "CDG".into(),
            time_zone: "Europe/Paris".into(),
            check_in_time: "15:00".into(),
            currency: "EUR".into(),
            tax_basis_points: 1_050,
            fee_per_night_minor: 250,
            room_types: Vec::new(),
        }
    }

    #[test]
    fn weekend_nights_and_dated_prices_cost_what_the_plan_says() {
        let plan = plan();
        // 2026-12-03 is a Thursday.
        assert_eq!(plan.nightly_minor(date("2026-12-03")), 10_000);
        assert_eq!(plan.nightly_minor(date("2026-12-04")), 14_000);
        assert_eq!(plan.nightly_minor(date("2026-12-05")), 14_000);
        assert_eq!(plan.nightly_minor(date("2026-12-06")), 10_000);
        assert_eq!(plan.nightly_minor(date("2026-12-24")), 30_000);
    }

    #[test]
    fn a_stay_adds_rooms_taxes_and_fees() {
        // Thursday to Sunday: 10,000 + 14,000 + 14,000 per room, two rooms.
        let quote = hotel()
            .quote(&plan(), date("2026-12-03"), date("2026-12-06"), 2)
            .unwrap();
        assert_eq!(quote.nights, 3);
        assert_eq!(quote.room_minor, 76_000);
        assert_eq!(quote.taxes_minor, 7_980);
        assert_eq!(quote.fees_minor, 1_500);
        assert_eq!(quote.total_minor, 85_480);
    }

    #[test]
    fn empty_long_and_roomless_stays_are_refused() {
        let (hotel, plan) = (hotel(), plan());
        let day = date("2026-12-03");
        assert_eq!(hotel.quote(&plan, day, day, 1), Err(QuoteError::EmptyRange));
        assert_eq!(
            hotel.quote(&plan, day, day + chrono::Duration::days(31), 1),
            Err(QuoteError::TooLong)
        );
        assert_eq!(
            hotel.quote(&plan, day, day + chrono::Duration::days(1), 0),
            Err(QuoteError::NoRooms)
        );
        let mut dear = plan.clone();
        dear.weekday_minor = i64::MAX / 2;
        assert_eq!(
            hotel.quote(&dear, date("2026-12-01"), date("2026-12-03"), 2),
            Err(QuoteError::Overflow)
        );
    }

    #[test]
    fn a_rental_costs_one_daily_price_per_day_before_drop_off() {
        let car = CarListing {
            car_id: Uuid::nil(),
            car_type: CarType::Suv,
            brand: "Toyota".into(),
            model: "RAV4".into(),
            year: 2025,
            location_code: "CDG".into(),
            time_zone: "Europe/Paris".into(),
            daily_price_minor: 6_500,
            currency: "EUR".into(),
            available: true,
        };
        assert_eq!(
            car.quote(date("2026-12-01"), date("2026-12-05")),
            Ok(26_000)
        );
        assert_eq!(
            car.quote(date("2026-12-05"), date("2026-12-05")),
            Err(QuoteError::EmptyRange)
        );
    }
}
