//! The demo hotels: three in every demo city (a five-star, a four-star and a three-star near the
//! airport), each with several room types and a flexible and a non-refundable rate, dearer on
//! weekend nights and on New Year's Eve. Priced in US dollars like the demo flights, so that a
//! trip's flight and hotel add up in one currency. Derived from the city alone: every machine
//! gets the same hotels, with the same ids.

use std::collections::BTreeMap;

use chrono::{Datelike, NaiveDate};
use platform::money::Currency;
use uuid::Uuid;

use crate::domain::IataCode;
use crate::domain::hotels::{HotelDraft, Photo, RatePlanDraft, RoomTypeDraft};

/// Cities whose hotels cost more, or less, than the rest.
const DEAR_CITIES: [&str; 12] = [
    "London",
    "New York",
    "Paris",
    "Zurich",
    "Tokyo",
    "Singapore",
    "Dubai",
    "Hong Kong",
    "Sydney",
    "Copenhagen",
    "Oslo",
    "San Francisco",
];
const CHEAP_CITIES: [&str; 14] = [
    "Bangkok",
    "Delhi",
    "Mumbai",
    "Cairo",
    "Nairobi",
    "Bogota",
    "Buenos Aires",
    "Mexico City",
    "Istanbul",
    "Budapest",
    "Warsaw",
    "Prague",
    "Johannesburg",
    "Sao Paulo",
];

const STREETS: [&str; 7] = [
    "Market Street",
    "Station Road",
    "Harbour Avenue",
    "Park Lane",
    "Cathedral Square",
    "Garden Boulevard",
    "River Walk",
];

/// A demo hotel with the ids it always gets.
pub struct DemoHotel {
    pub id: Uuid,
    pub draft: HotelDraft,
}

/// A stable id: `kind` (1 hotel, 2 room type, 3 rate plan) and a number, shaped as a UUID v4.
fn demo_id(kind: u128, number: u128) -> Uuid {
    Uuid::from_u128(0x1717_2026_0000_4000_8000_0000_0000_0000 | (kind << 80) | number)
}

/// A number from 0 to `n - 1` that depends only on `seed`.
fn pick(seed: u64, n: u64) -> u64 {
    let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    (z ^ (z >> 31)) % n
}

/// The demo cities, each with its first airport in the demo list: `(city, iata, latitude, longitude)`.
pub fn cities() -> Vec<(&'static str, &'static str, f64, f64)> {
    let mut cities: Vec<(&str, &str, f64, f64)> = Vec::new();
    for airport in super::airports() {
        if !cities.iter().any(|c| c.0 == airport.2) {
            cities.push((airport.2, airport.0, airport.5, airport.6));
        }
    }
    cities
}

/// A rate plan pair: flexible (free cancellation until 48 hours before) and non-refundable 15%
/// cheaper; weekends 25% dearer; New Year's Eve twice the weekend price.
fn rate_plans(weekday_dollars: i64, new_years_eves: &[NaiveDate]) -> Vec<RatePlanDraft> {
    let weekend_dollars = weekday_dollars * 5 / 4;
    let plan = |name: &str, refundable: bool, percent: i64| {
        let weekday = weekday_dollars * percent / 100 * 100;
        let weekend = weekend_dollars * percent / 100 * 100;
        RatePlanDraft {
            id: None,
            name: name.to_owned(),
            refundable,
            free_cancellation_hours: if refundable { 48 } else { 0 },
            weekday_minor: weekday,
            weekend_minor: weekend,
            prices: new_years_eves
                .iter()
                .map(|night| (*night, weekend * 2))
                .collect::<BTreeMap<_, _>>(),
        }
    };
    vec![
        plan("Flexible", true, 100),
        plan("Non-refundable", false, 85),
    ]
}

fn room_type(
    name: &str,
    capacity: i32,
    beds: &str,
    rooms: i32,
    plans: Vec<RatePlanDraft>,
) -> RoomTypeDraft {
    RoomTypeDraft {
        id: None,
        name: name.to_owned(),
        capacity,
        beds: beds.to_owned(),
        rooms,
        rate_plans: plans,
    }
}

fn slug(text: &str) -> String {
    text.to_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect()
}

/// Every demo hotel, for stays from `first_day` on (New Year's Eve is priced in its year and the
/// next).
pub fn hotels(first_day: NaiveDate) -> Vec<DemoHotel> {
    let eves: Vec<NaiveDate> = [first_day.year(), first_day.year() + 1]
        .iter()
        .filter_map(|year| NaiveDate::from_ymd_opt(*year, 12, 31))
        .collect();
    let usd = Currency::parse("USD").unwrap_or(Currency::UNKNOWN);
    let mut hotels = Vec::new();
    for (c, (city, iata, latitude, longitude)) in cities().into_iter().enumerate() {
        let factor = if DEAR_CITIES.contains(&city) {
            140
        } else if CHEAP_CITIES.contains(&city) {
            60
        } else {
            100
        };
        let alternate = c % 2 == 0;
        let tiers = [
            (
                5,
                if alternate {
                    format!("The {city} Grand")
                } else {
                    format!("{city} Palace Hotel")
                },
                260,
            ),
            (
                4,
                if alternate {
                    format!("Hotel {city} Central")
                } else {
                    format!("{city} Riverside Hotel")
                },
                160,
            ),
            (3, format!("{city} Airport Inn"), 95),
        ];
        for (t, (stars, name, base)) in tiers.into_iter().enumerate() {
            let n = (c * 3 + t) as u64;
            // Within 10% either way of the tier's price in this city.
            let double = base * factor / 100 * (90 + pick(n, 21) as i64) / 100;
            let eves = if stars == 5 { &eves[..] } else { &[] };
            let mut room_types = vec![
                room_type(
                    "Standard Double",
                    2,
                    "1 queen bed",
                    18 + pick(n + 1, 20) as i32,
                    rate_plans(double, eves),
                ),
                room_type(
                    "Twin",
                    2,
                    "2 single beds",
                    8 + pick(n + 2, 10) as i32,
                    rate_plans(double * 105 / 100, eves),
                ),
                room_type(
                    "Family Room",
                    4,
                    "2 double beds",
                    4 + pick(n + 3, 5) as i32,
                    rate_plans(double * 16 / 10, eves),
                ),
            ];
            if stars >= 4 {
                room_types.push(room_type(
                    "Suite",
                    3,
                    "1 king bed and a sofa bed",
                    2 + pick(n + 4, 4) as i32,
                    rate_plans(double * 24 / 10, eves),
                ));
            }
            let amenities: &[&str] = match stars {
                5 => &[
                    "wifi",
                    "pool",
                    "spa",
                    "gym",
                    "restaurant",
                    "bar",
                    "room-service",
                    "parking",
                    "breakfast",
                ],
                4 if pick(n + 5, 2) == 0 => &[
                    "wifi",
                    "pool",
                    "gym",
                    "restaurant",
                    "bar",
                    "breakfast",
                    "parking",
                ],
                4 => &["wifi", "gym", "restaurant", "bar", "breakfast", "parking"],
                _ => &["wifi", "breakfast", "parking", "airport-shuttle"],
            };
            // City hotels within about 10 km of the airport's side of town; the inn beside it.
            let (dlat, dlng) = if stars == 3 {
                (0.01, 0.01)
            } else {
                (
                    (pick(n + 6, 161) as f64 - 80.0) / 1000.0,
                    (pick(n + 7, 161) as f64 - 80.0) / 1000.0,
                )
            };
            let image = format!("https://images.itinera.example/hotels/{}", slug(&name));
            hotels.push(DemoHotel {
                id: demo_id(1, u128::from(n)),
                draft: HotelDraft {
                    address: format!(
                        "{} {}, {city}",
                        1 + pick(n + 8, 200),
                        STREETS[pick(n + 9, STREETS.len() as u64) as usize]
                    ),
                    description: format!(
                        "A {stars}-star hotel in {city}, {} from the airport.",
                        if stars == 3 {
                            "a short walk"
                        } else {
                            "a short drive"
                        }
                    ),
                    name,
                    city: city.to_owned(),
                    latitude: (latitude + dlat).clamp(-90.0, 90.0),
                    longitude: (longitude + dlng).clamp(-180.0, 180.0),
                    airport_code: IataCode::parse(iata)
                        .unwrap_or_else(|_| unreachable!("demo airports are valid")),
                    stars,
                    amenities: amenities.iter().map(|a| (*a).to_owned()).collect(),
                    photos: vec![
                        Photo {
                            url: format!("{image}/front.jpg"),
                            caption: "The hotel".into(),
                        },
                        Photo {
                            url: format!("{image}/room.jpg"),
                            caption: "A Standard Double".into(),
                        },
                    ],
                    check_in_time: ["15:00", "14:00", "16:00"][t].to_owned(),
                    currency: usd,
                    tax_basis_points: 1_000,
                    fee_per_night_minor: [500, 250, 0][t],
                    room_types,
                },
            });
        }
    }
    // Room types and rate plans get stable ids too.
    let mut room_type_number = 0;
    let mut rate_plan_number = 0;
    for hotel in &mut hotels {
        for room_type in &mut hotel.draft.room_types {
            room_type.id = Some(demo_id(2, room_type_number));
            room_type_number += 1;
            for plan in &mut room_type.rate_plans {
                plan.id = Some(demo_id(3, rate_plan_number));
                rate_plan_number += 1;
            }
        }
    }
    hotels
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_demo_city_has_three_hotels_with_weekends_dearer_and_two_rates() {
        let first_day = NaiveDate::from_ymd_opt(2026, 12, 1).unwrap();
        let hotels = hotels(first_day);
        let cities = cities();
        assert!(cities.len() >= 50, "{}", cities.len());
        assert_eq!(hotels.len(), cities.len() * 3);
        for (city, ..) in &cities {
            let stars: Vec<i16> = hotels
                .iter()
                .filter(|h| h.draft.city == *city)
                .map(|h| h.draft.stars)
                .collect();
            assert_eq!(stars, [5, 4, 3], "{city}");
        }
        let ids: std::collections::HashSet<Uuid> = hotels
            .iter()
            .flat_map(|h| {
                std::iter::once(h.id).chain(h.draft.room_types.iter().flat_map(|r| {
                    std::iter::once(r.id.unwrap()).chain(r.rate_plans.iter().map(|p| p.id.unwrap()))
                }))
            })
            .collect();
        let count: usize = hotels
            .iter()
            .map(|h| {
                1 + h
                    .draft
                    .room_types
                    .iter()
                    .map(|r| 1 + r.rate_plans.len())
                    .sum::<usize>()
            })
            .sum();
        assert_eq!(ids.len(), count, "ids are unique");
        assert!(ids.iter().all(|id| id.get_version_num() == 4));
        for hotel in &hotels {
            assert!(hotel.draft.room_types.len() >= 3);
            for room_type in &hotel.draft.room_types {
                let [flexible, saver] = &room_type.rate_plans[..] else {
                    panic!("two rate plans");
                };
                assert!(flexible.refundable && !saver.refundable);
                assert!(saver.weekday_minor < flexible.weekday_minor);
                assert!(flexible.weekend_minor > flexible.weekday_minor);
            }
        }
        // Paris is dearer than Bangkok, tier for tier.
        let double = |name: &str| {
            hotels
                .iter()
                .find(|h| h.draft.name == name)
                .unwrap()
                .draft
                .room_types[0]
                .rate_plans[0]
                .weekday_minor
        };
        assert!(double("Paris Airport Inn") > double("Bangkok Airport Inn"));
        let again = super::hotels(first_day);
        assert_eq!(again[77].id, hotels[77].id);
        assert_eq!(again[77].draft, hotels[77].draft);
    }
}
