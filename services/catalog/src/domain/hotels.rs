//! A hotel as ops write it (`POST`/`PUT /api/listings/hotels`), parsed and bounded once at the
//! edge: once a [`HotelDraft`] exists, every field is within its limits.

use std::collections::BTreeMap;

use chrono::{NaiveDate, NaiveTime};
use platform::money::{Currency, Money};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use super::IataCode;

/// Room types one hotel may have.
pub const MAX_ROOM_TYPES: usize = 20;
/// Rate plans one room type may have.
pub const MAX_RATE_PLANS: usize = 8;
/// Nights one rate plan may price apart from its weekday/weekend rule.
pub const MAX_DATED_PRICES: usize = 366;
pub const MAX_AMENITIES: usize = 30;
pub const MAX_PHOTOS: usize = 20;
/// Rooms of one type.
pub const MAX_ROOMS: i32 = 2_000;
/// Guests one room sleeps.
pub const MAX_CAPACITY: i32 = 12;
/// Taxes on room charges, in basis points (50%).
pub const MAX_TAX_BASIS_POINTS: i32 = 5_000;
/// A week: a longer free-cancellation window is a typo.
pub const MAX_FREE_CANCELLATION_HOURS: i32 = 24 * 30;
/// Per room and night, or per night as a fee, in major units.
const MAX_NIGHTLY_MAJOR: i64 = 1_000_000;

/// A photo of the hotel: an http(s) URL and a caption.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Photo {
    pub url: String,
    #[serde(default)]
    pub caption: String,
}

/// The body of `POST` and `PUT`. Money members take a decimal amount in the hotel's currency
/// (`"120.50"`, or a JSON number read from its decimal text), or the `{"amount", "currency"}`
/// object the API shows, so that what `GET` returns can be sent back.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HotelInput {
    pub name: String,
    pub city: String,
    pub address: String,
    pub latitude: f64,
    pub longitude: f64,
    pub airport_code: String,
    pub stars: i64,
    #[serde(default)]
    pub amenities: Vec<String>,
    #[serde(default)]
    pub photos: Vec<Photo>,
    #[serde(default)]
    pub description: String,
    pub check_in_time: String,
    pub currency: String,
    #[serde(default)]
    pub tax_basis_points: i64,
    /// Absent means no fee; `null` is not an amount and is refused.
    #[serde(default, deserialize_with = "present")]
    pub fee_per_night: Option<Value>,
    pub room_types: Vec<RoomTypeInput>,
}

/// A member that is present, whatever its value (`null` included), so that the amount's own check
/// refuses a `null`.
fn present<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(deserializer).map(Some)
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RoomTypeInput {
    /// An existing room type of this hotel keeps its id (and its stays); without one, a new type.
    pub id: Option<Uuid>,
    pub name: String,
    pub capacity: i64,
    pub beds: String,
    pub rooms: i64,
    pub rate_plans: Vec<RatePlanInput>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RatePlanInput {
    pub id: Option<Uuid>,
    pub name: String,
    pub refundable: bool,
    #[serde(default)]
    pub free_cancellation_hours: i64,
    pub weekday_price: Value,
    pub weekend_price: Value,
    #[serde(default)]
    pub prices: BTreeMap<String, Value>,
}

/// A hotel, valid.
#[derive(Clone, Debug, PartialEq)]
pub struct HotelDraft {
    pub name: String,
    pub city: String,
    pub address: String,
    pub latitude: f64,
    pub longitude: f64,
    pub airport_code: IataCode,
    pub stars: i16,
    pub amenities: Vec<String>,
    pub photos: Vec<Photo>,
    pub description: String,
    pub check_in_time: String,
    pub currency: Currency,
    pub tax_basis_points: i32,
    pub fee_per_night_minor: i64,
    pub room_types: Vec<RoomTypeDraft>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoomTypeDraft {
    pub id: Option<Uuid>,
    pub name: String,
    pub capacity: i32,
    pub beds: String,
    pub rooms: i32,
    pub rate_plans: Vec<RatePlanDraft>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RatePlanDraft {
    pub id: Option<Uuid>,
    pub name: String,
    pub refundable: bool,
    pub free_cancellation_hours: i32,
    pub weekday_minor: i64,
    pub weekend_minor: i64,
    pub prices: BTreeMap<NaiveDate, i64>,
}

/// Trimmed text of `min..=max` characters.
pub fn text(value: &str, field: &str, min: usize, max: usize) -> Result<String, String> {
    let value = value.trim();
    let length = value.chars().count();
    if length < min || length > max {
        return Err(if min == 0 {
            format!("{field} is at most {max} characters")
        } else {
            format!("{field} must be {min} to {max} characters")
        });
    }
    if value.chars().any(|c| c.is_control() && c != '\n') {
        return Err(format!("{field} contains control characters"));
    }
    Ok(value.to_owned())
}

fn whole(value: i64, field: &str, range: std::ops::RangeInclusive<i64>) -> Result<i64, String> {
    if range.contains(&value) {
        Ok(value)
    } else {
        Err(format!(
            "{field} must be from {} to {}, not {value}",
            range.start(),
            range.end()
        ))
    }
}

/// An amount in `currency`, in minor units: a decimal string or number, or `{"amount", "currency"}`.
pub fn amount(value: &Value, currency: Currency, field: &str) -> Result<i64, String> {
    let decimal = match value {
        Value::String(s) => s.clone(),
        // A JSON number is read from its decimal text, never through arithmetic on a float.
        Value::Number(n) => n.to_string(),
        Value::Object(members) => {
            if let Some(code) = members.get("currency").and_then(Value::as_str)
                && code != currency.as_str()
            {
                return Err(format!(
                    "{field} is in {code}, but the hotel's currency is {currency}"
                ));
            }
            match members.get("amount") {
                Some(Value::String(s)) => s.clone(),
                Some(Value::Number(n)) => n.to_string(),
                _ => {
                    return Err(format!(
                        "{field}.amount must be a decimal such as \"120.50\""
                    ));
                }
            }
        }
        _ => return Err(format!("{field} must be a decimal such as \"120.50\"")),
    };
    let money = Money::parse_major(&decimal, currency).map_err(|e| format!("{field}: {e}"))?;
    let ceiling = 10_i64.pow(currency.exponent()) * MAX_NIGHTLY_MAJOR;
    if money.minor() > ceiling {
        return Err(format!("{field} is at most {MAX_NIGHTLY_MAJOR} {currency}"));
    }
    Ok(money.minor())
}

/// An http or https URL without spaces, at most 500 characters.
fn photo_url(url: &str, field: &str) -> Result<String, String> {
    let url = url.trim();
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"));
    match rest {
        Some(rest)
            if url.len() <= 500
                && !rest.is_empty()
                && !rest.starts_with('/')
                && !url.chars().any(|c| c.is_whitespace() || c.is_control()) =>
        {
            Ok(url.to_owned())
        }
        _ => Err(format!(
            "{field} must be an http or https URL of at most 500 characters"
        )),
    }
}

/// A short lower-case word or two: `wifi`, `pool`, `airport-shuttle`.
pub fn amenity(value: &str, field: &str) -> Result<String, String> {
    let value = value.trim().to_lowercase();
    let valid = (1..=32).contains(&value.len())
        && value
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    if valid {
        Ok(value)
    } else {
        Err(format!(
            "{field} must be 1 to 32 letters, digits, '-' or '_' (like wifi or free-parking), not {value:?}"
        ))
    }
}

/// Local `HH:MM`.
pub fn local_time(value: &str, field: &str) -> Result<String, String> {
    NaiveTime::parse_from_str(value.trim(), "%H:%M")
        .ok()
        .filter(|_| value.trim().len() == 5)
        .map(|t| t.format("%H:%M").to_string())
        .ok_or_else(|| format!("{field} must be a local time like 15:00, not {value:?}"))
}

impl HotelDraft {
    pub fn parse(input: HotelInput) -> Result<Self, String> {
        let currency =
            Currency::parse(input.currency.trim()).map_err(|e| format!("currency: {e}"))?;
        if !input.latitude.is_finite() || !(-90.0..=90.0).contains(&input.latitude) {
            return Err("latitude must be from -90 to 90".into());
        }
        if !input.longitude.is_finite() || !(-180.0..=180.0).contains(&input.longitude) {
            return Err("longitude must be from -180 to 180".into());
        }
        if input.amenities.len() > MAX_AMENITIES {
            return Err(format!("amenities has at most {MAX_AMENITIES} entries"));
        }
        let mut amenities = Vec::with_capacity(input.amenities.len());
        for (i, a) in input.amenities.iter().enumerate() {
            let a = amenity(a, &format!("amenities[{i}]"))?;
            if !amenities.contains(&a) {
                amenities.push(a);
            }
        }
        if input.photos.len() > MAX_PHOTOS {
            return Err(format!("photos has at most {MAX_PHOTOS} entries"));
        }
        let photos = input
            .photos
            .iter()
            .enumerate()
            .map(|(i, p)| {
                Ok(Photo {
                    url: photo_url(&p.url, &format!("photos[{i}].url"))?,
                    caption: text(&p.caption, &format!("photos[{i}].caption"), 0, 200)?,
                })
            })
            .collect::<Result<Vec<_>, String>>()?;
        if input.room_types.is_empty() || input.room_types.len() > MAX_ROOM_TYPES {
            return Err(format!(
                "roomTypes must have 1 to {MAX_ROOM_TYPES} room types"
            ));
        }
        let room_types = input
            .room_types
            .iter()
            .enumerate()
            .map(|(i, r)| RoomTypeDraft::parse(r, currency, &format!("roomTypes[{i}]")))
            .collect::<Result<Vec<_>, String>>()?;
        let mut ids = std::collections::HashSet::new();
        for id in room_types.iter().filter_map(|r| r.id).chain(
            room_types
                .iter()
                .flat_map(|r| r.rate_plans.iter().filter_map(|p| p.id)),
        ) {
            if !ids.insert(id) {
                return Err(format!("id {id} appears twice"));
            }
        }
        Ok(Self {
            name: text(&input.name, "name", 1, 120)?,
            city: text(&input.city, "city", 1, 100)?,
            address: text(&input.address, "address", 1, 200)?,
            latitude: input.latitude,
            longitude: input.longitude,
            airport_code: IataCode::parse(&input.airport_code)
                .map_err(|e| format!("airportCode: {e}"))?,
            stars: whole(input.stars, "stars", 1..=5)? as i16,
            amenities,
            photos,
            description: text(&input.description, "description", 0, 4_000)?,
            check_in_time: local_time(&input.check_in_time, "checkInTime")?,
            tax_basis_points: whole(
                input.tax_basis_points,
                "taxBasisPoints",
                0..=i64::from(MAX_TAX_BASIS_POINTS),
            )? as i32,
            fee_per_night_minor: match &input.fee_per_night {
                Some(fee) => amount(fee, currency, "feePerNight")?,
                None => 0,
            },
            currency,
            room_types,
        })
    }
}

impl RoomTypeDraft {
    fn parse(input: &RoomTypeInput, currency: Currency, field: &str) -> Result<Self, String> {
        if input.rate_plans.is_empty() || input.rate_plans.len() > MAX_RATE_PLANS {
            return Err(format!(
                "{field}.ratePlans must have 1 to {MAX_RATE_PLANS} rate plans"
            ));
        }
        Ok(Self {
            id: input.id,
            name: text(&input.name, &format!("{field}.name"), 1, 80)?,
            capacity: whole(
                input.capacity,
                &format!("{field}.capacity"),
                1..=i64::from(MAX_CAPACITY),
            )? as i32,
            beds: text(&input.beds, &format!("{field}.beds"), 1, 80)?,
            rooms: whole(
                input.rooms,
                &format!("{field}.rooms"),
                0..=i64::from(MAX_ROOMS),
            )? as i32,
            rate_plans: input
                .rate_plans
                .iter()
                .enumerate()
                .map(|(i, p)| RatePlanDraft::parse(p, currency, &format!("{field}.ratePlans[{i}]")))
                .collect::<Result<Vec<_>, String>>()?,
        })
    }
}

impl RatePlanDraft {
    fn parse(input: &RatePlanInput, currency: Currency, field: &str) -> Result<Self, String> {
        if input.prices.len() > MAX_DATED_PRICES {
            return Err(format!(
                "{field}.prices has at most {MAX_DATED_PRICES} dated prices"
            ));
        }
        let mut prices = BTreeMap::new();
        for (date, price) in &input.prices {
            let night = NaiveDate::parse_from_str(date.trim(), "%Y-%m-%d")
                .map_err(|_| format!("{field}.prices: {date:?} is not a date like 2026-12-24"))?;
            prices.insert(
                night,
                amount(price, currency, &format!("{field}.prices.{date}"))?,
            );
        }
        if !input.refundable && input.free_cancellation_hours != 0 {
            return Err(format!(
                "{field}.freeCancellationHours must be 0 for a non-refundable plan"
            ));
        }
        Ok(Self {
            id: input.id,
            name: text(&input.name, &format!("{field}.name"), 1, 80)?,
            refundable: input.refundable,
            free_cancellation_hours: whole(
                input.free_cancellation_hours,
                &format!("{field}.freeCancellationHours"),
                0..=i64::from(MAX_FREE_CANCELLATION_HOURS),
            )? as i32,
            weekday_minor: amount(
                &input.weekday_price,
                currency,
                &format!("{field}.weekdayPrice"),
            )?,
            weekend_minor: amount(
                &input.weekend_price,
                currency,
                &format!("{field}.weekendPrice"),
            )?,
            prices,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A valid body with the member at `pointer` set to `value` (nothing for an empty pointer).
    fn input(pointer: &str, value: Value) -> Result<HotelDraft, String> {
        let mut body = json!({
            "name": "Hotel du Parc", "city": "Paris", "address": "1 rue du Parc",
            "latitude": 48.85, "longitude": 2.35, "airportCode": "cdg", "stars": 4,
            "amenities": ["WiFi", "pool", "wifi"],
            "photos": [{"url": "https://example.com/a.jpg", "caption": "Lobby"}],
            "checkInTime": "15:00", "currency": "EUR", "taxBasisPoints": 1000,
            "feePerNight": "2.50",
            "roomTypes": [{"name": "Double", "capacity": 2, "beds": "1 queen", "rooms": 10,
                "ratePlans": [{"name": "Flexible", "refundable": true, "freeCancellationHours": 48,
                    "weekdayPrice": "120", "weekendPrice": {"amount": "150.50", "currency": "EUR"},
                    "prices": {"2026-12-24": 300}}]}]
        });
        if let Some((parent, member)) = pointer.rsplit_once('/') {
            body.pointer_mut(parent).unwrap()[member] = value;
        }
        HotelDraft::parse(serde_json::from_value(body).map_err(|e| e.to_string())?)
    }

    #[test]
    fn a_valid_hotel_is_parsed_with_money_in_minor_units() {
        let hotel = input("", Value::Null).unwrap();
        assert_eq!(hotel.airport_code.as_str(), "CDG");
        assert_eq!(hotel.amenities, ["wifi", "pool"]);
        assert_eq!(hotel.fee_per_night_minor, 250);
        let plan = &hotel.room_types[0].rate_plans[0];
        assert_eq!((plan.weekday_minor, plan.weekend_minor), (12_000, 15_050));
        assert_eq!(plan.prices.values().copied().collect::<Vec<_>>(), [30_000]);
    }

    #[test]
    fn out_of_bounds_values_are_refused_with_the_field_named() {
        let plan = "/roomTypes/0/ratePlans/0";
        let cases = [
            ("/stars".to_owned(), json!(6), "stars"),
            ("/feePerNight".to_owned(), Value::Null, "feePerNight"),
            ("/name".to_owned(), json!(" "), "name"),
            ("/latitude".to_owned(), json!(91), "latitude"),
            ("/checkInTime".to_owned(), json!("25:00"), "checkInTime"),
            ("/currency".to_owned(), json!("eur"), "currency"),
            (
                "/photos/0/url".to_owned(),
                json!("javascript:alert(1)"),
                "photos[0].url",
            ),
            ("/amenities".to_owned(), json!(["a b"]), "amenities[0]"),
            ("/amenities".to_owned(), json!(vec!["x"; 31]), "amenities"),
            ("/roomTypes".to_owned(), json!([]), "roomTypes"),
            (
                "/roomTypes/0/capacity".to_owned(),
                json!(0),
                "roomTypes[0].capacity",
            ),
            (
                format!("{plan}/weekdayPrice"),
                json!("1.234"),
                "roomTypes[0].ratePlans[0].weekdayPrice",
            ),
            (
                format!("{plan}/weekendPrice/currency"),
                json!("USD"),
                "roomTypes[0].ratePlans[0].weekendPrice",
            ),
            (
                format!("{plan}/prices"),
                json!({"24/12": 1}),
                "roomTypes[0].ratePlans[0].prices",
            ),
            (
                format!("{plan}/refundable"),
                json!(false),
                "roomTypes[0].ratePlans[0].freeCancellationHours",
            ),
            ("/taxBasisPoints".to_owned(), json!(-1), "taxBasisPoints"),
        ];
        for (pointer, value, field) in cases {
            let error = input(&pointer, value).unwrap_err();
            assert!(error.starts_with(field), "{field}: {error}");
        }
    }
}
