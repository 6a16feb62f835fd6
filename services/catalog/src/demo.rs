//! The demo schedule behind `GET /seed` and `itinera seed`: 60 real airports, four aircraft types,
//! six fictional airlines, and a daily schedule over hub and spoke routes for the next 30 days.
//! Everything is derived deterministically, so every machine gets the same schedule.

use std::sync::LazyLock;

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;

use crate::domain::{Cabin, CabinLayout};

pub mod cars;
pub mod hotels;

/// `(iata, name, city, country, time zone, latitude, longitude)`.
pub type AirportRow = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    f64,
    f64,
);

/// The airports, in the order of `data/demo_airports.csv`.
pub fn airports() -> &'static [AirportRow] {
    static AIRPORTS: LazyLock<Vec<AirportRow>> =
        LazyLock::new(|| parse_airports(include_str!("../data/demo_airports.csv")));
    &AIRPORTS
}

/// Parses the airports file: a header row, then one airport a line as
/// `iata,name,city,country,time_zone,latitude,longitude` (no field contains a comma). The file is
/// compiled in, so a malformed line is a bug caught by the tests.
fn parse_airports(csv: &'static str) -> Vec<AirportRow> {
    csv.lines()
        .skip(1)
        .filter(|line| !line.trim().is_empty())
        .map(|line| {
            let fields: Vec<&'static str> = line.split(',').map(str::trim).collect();
            let [iata, name, city, country, time_zone, latitude, longitude] = fields[..] else {
                panic!("demo airport {line:?}: expected 7 fields");
            };
            let coordinate = |value: &str| -> f64 {
                value
                    .parse()
                    .unwrap_or_else(|e| panic!("demo airport {line:?}: {value:?}: {e}"))
            };
            (
                iata,
                name,
                city,
                country,
                time_zone,
                coordinate(latitude),
                coordinate(longitude),
            )
        })
        .collect()
}

/// Airports every hub connects to every other hub.
const HUBS: [&str; 8] = ["CDG", "LHR", "FRA", "AMS", "JFK", "DXB", "SIN", "LAX"];

pub const AIRLINES: [(&str, &str); 6] = [
    ("IT", "Itinera Air"),
    ("AQ", "Aquila Airways"),
    ("BX", "Boreal Express"),
    ("MV", "Meridian Air"),
    ("SX", "Solstice Airlines"),
    ("ZP", "Zephyr Pacific"),
];

pub fn aircraft() -> Vec<(&'static str, Vec<CabinLayout>)> {
    let layout = |cabin, first_row, last_row, letters: &str| CabinLayout {
        cabin,
        first_row,
        last_row,
        seat_letters: letters.to_owned(),
    };
    vec![
        (
            "Embraer E190",
            vec![
                layout(Cabin::Business, 1, 2, "ACD"),
                layout(Cabin::Economy, 3, 26, "ACDF"),
            ],
        ),
        (
            "Airbus A320neo",
            vec![
                layout(Cabin::Business, 1, 3, "ACDF"),
                layout(Cabin::Economy, 4, 30, "ABCDEF"),
            ],
        ),
        (
            "Boeing 737-800",
            vec![
                layout(Cabin::Business, 1, 4, "ACDF"),
                layout(Cabin::Economy, 5, 31, "ABCDEF"),
            ],
        ),
        (
            "Airbus A350-900",
            vec![
                layout(Cabin::Business, 1, 8, "ADGK"),
                layout(Cabin::PremiumEconomy, 10, 13, "ACDEFGHK"),
                layout(Cabin::Economy, 15, 42, "ABCDEFGHK"),
            ],
        ),
    ]
}

/// One flight of the demo schedule, before it has an id.
#[derive(Clone, Debug)]
pub struct ScheduledFlight {
    pub flight_number: String,
    pub flight_code: String,
    pub airline: &'static str,
    pub origin: &'static str,
    pub destination: &'static str,
    pub departure_at: DateTime<Utc>,
    pub arrival_at: DateTime<Utc>,
    /// Index into [`aircraft`].
    pub aircraft: usize,
    /// Fares in whole US dollars, by cabin.
    pub fares: Vec<(Cabin, i64)>,
}

/// SplitMix64: small, fast and deterministic; quality is ample for picking demo times.
struct Sequence(u64);

impl Sequence {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn airport(iata: &str) -> &'static AirportRow {
    let airports = airports();
    airports
        .iter()
        .find(|a| a.0 == iata)
        .unwrap_or(&airports[0])
}

/// Great-circle distance in kilometres.
pub fn distance_km(a: &AirportRow, b: &AirportRow) -> f64 {
    let (lat1, lon1, lat2, lon2) = (
        a.5.to_radians(),
        a.6.to_radians(),
        b.5.to_radians(),
        b.6.to_radians(),
    );
    let h = ((lat2 - lat1) / 2.0).sin().powi(2)
        + lat1.cos() * lat2.cos() * ((lon2 - lon1) / 2.0).sin().powi(2);
    2.0 * 6371.0 * h.sqrt().asin()
}

/// Directed routes: every hub to every other hub, and every other airport to and from its nearest hub.
fn routes() -> Vec<(&'static str, &'static str)> {
    let mut routes = Vec::new();
    for a in HUBS {
        for b in HUBS {
            if a != b {
                routes.push((airport(a).0, airport(b).0));
            }
        }
    }
    for spoke in airports().iter().filter(|a| !HUBS.contains(&a.0)) {
        let nearest = HUBS
            .iter()
            .map(|h| airport(h))
            .min_by(|x, y| distance_km(spoke, x).total_cmp(&distance_km(spoke, y)))
            .unwrap_or(&airports()[0]);
        routes.push((spoke.0, nearest.0));
        routes.push((nearest.0, spoke.0));
    }
    routes
}

fn local_to_utc(tz: Tz, date: NaiveDate, minutes: u32) -> DateTime<Utc> {
    let naive = date
        .and_hms_opt(minutes / 60, minutes % 60, 0)
        .unwrap_or_default();
    match tz.from_local_datetime(&naive).earliest() {
        Some(local) => local.with_timezone(&Utc),
        // The time falls into a daylight-saving gap: take the hour after.
        None => (tz
            .from_local_datetime(&(naive + Duration::hours(1)))
            .earliest())
        .map_or_else(
            || Utc.from_utc_datetime(&naive),
            |local| local.with_timezone(&Utc),
        ),
    }
}

/// The schedule: `per_day` flights a day (1 to 4) on every route for `days` days from `first_day`.
pub fn schedule(first_day: NaiveDate, days: u32, per_day: u32) -> Vec<ScheduledFlight> {
    let per_day = per_day.clamp(1, 4);
    let fleet = aircraft();
    let mut sequence = Sequence(0x1717_2026);
    let mut flights = Vec::new();
    for (index, (origin, destination)) in routes().into_iter().enumerate() {
        let (from, to) = (airport(origin), airport(destination));
        let km = distance_km(from, to);
        let (airline, _) = AIRLINES[sequence.below(AIRLINES.len() as u64) as usize];
        let first_departure = 6 * 60 + (sequence.below(16 * 12 / per_day as u64) as u32) * 5;
        let duration = Duration::minutes(((km / 780.0 * 60.0 + 35.0) / 5.0).round() as i64 * 5);
        let aircraft = match km {
            km if km < 1200.0 => 0,
            km if km < 3000.0 => 1 + sequence.below(2) as usize,
            km if km < 5000.0 => 2,
            _ => 3,
        };
        let economy = (49.0 + km * 0.085).round() as i64;
        let fares: Vec<(Cabin, i64)> = fleet[aircraft]
            .1
            .iter()
            .map(|layout| {
                let factor = match layout.cabin {
                    Cabin::Economy => 1.0,
                    Cabin::PremiumEconomy => 1.6,
                    Cabin::Business => 3.4,
                    Cabin::First => 6.0,
                };
                (layout.cabin, (economy as f64 * factor).round() as i64)
            })
            .collect();
        let tz: Tz = from.4.parse().unwrap_or(chrono_tz::UTC);
        for k in 0..per_day {
            let number = format!("{airline}{}", 100 + index * 4 + k as usize);
            let minutes_of_day = first_departure + k * (16 * 60 / per_day);
            for day in 0..days {
                let date = first_day + Duration::days(i64::from(day));
                let departure_at = local_to_utc(tz, date, minutes_of_day);
                flights.push(ScheduledFlight {
                    flight_code: format!("{number}-{}", date.format("%Y%m%d")),
                    flight_number: number.clone(),
                    airline: AIRLINES
                        .iter()
                        .find(|a| a.0 == airline)
                        .map_or("Itinera Air", |a| a.1),
                    origin: from.0,
                    destination: to.0,
                    departure_at,
                    arrival_at: departure_at + duration,
                    aircraft,
                    fares: fares.clone(),
                });
            }
        }
    }
    flights
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::validate_seat_map;

    #[test]
    fn the_schedule_is_large_realistic_and_deterministic() {
        let first_day = NaiveDate::from_ymd_opt(2026, 12, 1).unwrap();
        let flights = schedule(first_day, 30, 1);
        assert!(flights.len() >= 4_000, "{}", flights.len());
        let codes: std::collections::HashSet<_> = flights.iter().map(|f| &f.flight_code).collect();
        assert_eq!(codes.len(), flights.len(), "flight codes are unique");
        assert!(
            flights
                .iter()
                .all(|f| f.arrival_at > f.departure_at && f.origin != f.destination)
        );
        let again = schedule(first_day, 30, 1);
        assert_eq!(again[123].flight_code, flights[123].flight_code);
        assert_eq!(again[123].departure_at, flights[123].departure_at);
        for (_, layout) in aircraft() {
            validate_seat_map(&layout).unwrap();
        }
        for row in airports() {
            assert!(row.4.parse::<Tz>().is_ok(), "{}", row.4);
        }
        // Paris to London is short and cheap; Paris to Singapore long and dearer.
        let cdg_lhr = flights
            .iter()
            .find(|f| f.origin == "CDG" && f.destination == "LHR")
            .unwrap();
        let cdg_sin = flights
            .iter()
            .find(|f| f.origin == "CDG" && f.destination == "SIN")
            .unwrap();
        assert!(cdg_lhr.arrival_at - cdg_lhr.departure_at < Duration::hours(2));
        assert!(cdg_sin.arrival_at - cdg_sin.departure_at > Duration::hours(12));
        assert!(cdg_lhr.fares[0].1 < cdg_sin.fares[0].1);
        let busy = schedule(first_day, 2, 3);
        let codes: std::collections::HashSet<_> = busy.iter().map(|f| &f.flight_code).collect();
        assert_eq!(busy.len(), flights.len() / 30 * 2 * 3);
        assert_eq!(
            codes.len(),
            busy.len(),
            "flight codes stay unique with several flights a day"
        );
    }

    #[test]
    fn the_airports_file_holds_the_sixty_demo_airports_in_order() {
        let airports = airports();
        assert_eq!(airports.len(), 60);
        assert_eq!(
            airports[0],
            (
                "CDG",
                "Paris Charles de Gaulle",
                "Paris",
                "FR",
                "Europe/Paris",
                49.0097,
                2.5479
            )
        );
        assert_eq!(
            airports[59],
            (
                "AKL",
                "Auckland",
                "Auckland",
                "NZ",
                "Pacific/Auckland",
                -37.0082,
                174.7850
            )
        );
        let iatas: std::collections::HashSet<_> = airports.iter().map(|a| a.0).collect();
        assert_eq!(iatas.len(), 60, "IATA codes are unique");
        assert!(HUBS.iter().all(|hub| iatas.contains(hub)));
        // Every route is between two demo airports: 8 hubs to each other, 52 spokes both ways.
        assert_eq!(routes().len(), 8 * 7 + 52 * 2);
    }
}
