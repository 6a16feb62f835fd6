//! The demo schedule behind `GET /seed` and `itinera seed`: 60 real airports, four aircraft types,
//! six fictional airlines, and a daily schedule over hub and spoke routes for the next 30 days.
//! Everything is derived deterministically, so every machine gets the same schedule.

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;

use crate::domain::{Cabin, CabinLayout};

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

pub const AIRPORTS: [AirportRow; 60] = [
    (
        "CDG",
        "Paris Charles de Gaulle",
        "Paris",
        "FR",
        "Europe/Paris",
        49.0097,
        2.5479,
    ),
    (
        "ORY",
        "Paris Orly",
        "Paris",
        "FR",
        "Europe/Paris",
        48.7262,
        2.3652,
    ),
    (
        "LHR",
        "London Heathrow",
        "London",
        "GB",
        "Europe/London",
        51.4700,
        -0.4543,
    ),
    (
        "LGW",
        "London Gatwick",
        "London",
        "GB",
        "Europe/London",
        51.1537,
        -0.1821,
    ),
    (
        "FRA",
        "Frankfurt",
        "Frankfurt",
        "DE",
        "Europe/Berlin",
        50.0379,
        8.5622,
    ),
    (
        "MUC",
        "Munich",
        "Munich",
        "DE",
        "Europe/Berlin",
        48.3538,
        11.7861,
    ),
    (
        "AMS",
        "Amsterdam Schiphol",
        "Amsterdam",
        "NL",
        "Europe/Amsterdam",
        52.3105,
        4.7683,
    ),
    (
        "MAD",
        "Madrid Barajas",
        "Madrid",
        "ES",
        "Europe/Madrid",
        40.4983,
        -3.5676,
    ),
    (
        "BCN",
        "Barcelona El Prat",
        "Barcelona",
        "ES",
        "Europe/Madrid",
        41.2974,
        2.0833,
    ),
    (
        "FCO",
        "Rome Fiumicino",
        "Rome",
        "IT",
        "Europe/Rome",
        41.8003,
        12.2389,
    ),
    (
        "MXP",
        "Milan Malpensa",
        "Milan",
        "IT",
        "Europe/Rome",
        45.6306,
        8.7281,
    ),
    (
        "ZRH",
        "Zurich",
        "Zurich",
        "CH",
        "Europe/Zurich",
        47.4647,
        8.5492,
    ),
    (
        "VIE",
        "Vienna",
        "Vienna",
        "AT",
        "Europe/Vienna",
        48.1103,
        16.5697,
    ),
    (
        "CPH",
        "Copenhagen",
        "Copenhagen",
        "DK",
        "Europe/Copenhagen",
        55.6180,
        12.6508,
    ),
    (
        "ARN",
        "Stockholm Arlanda",
        "Stockholm",
        "SE",
        "Europe/Stockholm",
        59.6498,
        17.9238,
    ),
    (
        "OSL",
        "Oslo Gardermoen",
        "Oslo",
        "NO",
        "Europe/Oslo",
        60.1976,
        11.1004,
    ),
    (
        "HEL",
        "Helsinki",
        "Helsinki",
        "FI",
        "Europe/Helsinki",
        60.3172,
        24.9633,
    ),
    (
        "DUB",
        "Dublin",
        "Dublin",
        "IE",
        "Europe/Dublin",
        53.4264,
        -6.2499,
    ),
    (
        "LIS",
        "Lisbon",
        "Lisbon",
        "PT",
        "Europe/Lisbon",
        38.7742,
        -9.1342,
    ),
    (
        "ATH",
        "Athens",
        "Athens",
        "GR",
        "Europe/Athens",
        37.9364,
        23.9445,
    ),
    (
        "IST",
        "Istanbul",
        "Istanbul",
        "TR",
        "Europe/Istanbul",
        41.2753,
        28.7519,
    ),
    (
        "WAW",
        "Warsaw Chopin",
        "Warsaw",
        "PL",
        "Europe/Warsaw",
        52.1657,
        20.9671,
    ),
    (
        "PRG",
        "Prague",
        "Prague",
        "CZ",
        "Europe/Prague",
        50.1008,
        14.2600,
    ),
    (
        "BUD",
        "Budapest",
        "Budapest",
        "HU",
        "Europe/Budapest",
        47.4369,
        19.2556,
    ),
    (
        "BRU",
        "Brussels",
        "Brussels",
        "BE",
        "Europe/Brussels",
        50.9014,
        4.4844,
    ),
    (
        "JFK",
        "New York John F. Kennedy",
        "New York",
        "US",
        "America/New_York",
        40.6413,
        -73.7781,
    ),
    (
        "EWR",
        "Newark Liberty",
        "New York",
        "US",
        "America/New_York",
        40.6895,
        -74.1745,
    ),
    (
        "BOS",
        "Boston Logan",
        "Boston",
        "US",
        "America/New_York",
        42.3656,
        -71.0096,
    ),
    (
        "ORD",
        "Chicago O'Hare",
        "Chicago",
        "US",
        "America/Chicago",
        41.9742,
        -87.9073,
    ),
    (
        "ATL",
        "Atlanta Hartsfield-Jackson",
        "Atlanta",
        "US",
        "America/New_York",
        33.6407,
        -84.4277,
    ),
    (
        "DFW",
        "Dallas/Fort Worth",
        "Dallas",
        "US",
        "America/Chicago",
        32.8998,
        -97.0403,
    ),
    (
        "DEN",
        "Denver",
        "Denver",
        "US",
        "America/Denver",
        39.8561,
        -104.6737,
    ),
    (
        "LAX",
        "Los Angeles",
        "Los Angeles",
        "US",
        "America/Los_Angeles",
        33.9416,
        -118.4085,
    ),
    (
        "SFO",
        "San Francisco",
        "San Francisco",
        "US",
        "America/Los_Angeles",
        37.6213,
        -122.3790,
    ),
    (
        "SEA",
        "Seattle-Tacoma",
        "Seattle",
        "US",
        "America/Los_Angeles",
        47.4502,
        -122.3088,
    ),
    (
        "MIA",
        "Miami",
        "Miami",
        "US",
        "America/New_York",
        25.7959,
        -80.2870,
    ),
    (
        "YYZ",
        "Toronto Pearson",
        "Toronto",
        "CA",
        "America/Toronto",
        43.6777,
        -79.6248,
    ),
    (
        "YVR",
        "Vancouver",
        "Vancouver",
        "CA",
        "America/Vancouver",
        49.1967,
        -123.1815,
    ),
    (
        "MEX",
        "Mexico City",
        "Mexico City",
        "MX",
        "America/Mexico_City",
        19.4361,
        -99.0719,
    ),
    (
        "GRU",
        "Sao Paulo Guarulhos",
        "Sao Paulo",
        "BR",
        "America/Sao_Paulo",
        -23.4356,
        -46.4731,
    ),
    (
        "EZE",
        "Buenos Aires Ezeiza",
        "Buenos Aires",
        "AR",
        "America/Argentina/Buenos_Aires",
        -34.8222,
        -58.5358,
    ),
    (
        "BOG",
        "Bogota El Dorado",
        "Bogota",
        "CO",
        "America/Bogota",
        4.7016,
        -74.1469,
    ),
    (
        "DXB",
        "Dubai",
        "Dubai",
        "AE",
        "Asia/Dubai",
        25.2532,
        55.3657,
    ),
    (
        "DOH",
        "Doha Hamad",
        "Doha",
        "QA",
        "Asia/Qatar",
        25.2731,
        51.6081,
    ),
    (
        "CAI",
        "Cairo",
        "Cairo",
        "EG",
        "Africa/Cairo",
        30.1219,
        31.4056,
    ),
    (
        "JNB",
        "Johannesburg O. R. Tambo",
        "Johannesburg",
        "ZA",
        "Africa/Johannesburg",
        -26.1367,
        28.2411,
    ),
    (
        "NBO",
        "Nairobi Jomo Kenyatta",
        "Nairobi",
        "KE",
        "Africa/Nairobi",
        -1.3192,
        36.9278,
    ),
    (
        "DEL",
        "Delhi Indira Gandhi",
        "Delhi",
        "IN",
        "Asia/Kolkata",
        28.5562,
        77.1000,
    ),
    (
        "BOM",
        "Mumbai",
        "Mumbai",
        "IN",
        "Asia/Kolkata",
        19.0896,
        72.8656,
    ),
    (
        "SIN",
        "Singapore Changi",
        "Singapore",
        "SG",
        "Asia/Singapore",
        1.3644,
        103.9915,
    ),
    (
        "HKG",
        "Hong Kong",
        "Hong Kong",
        "HK",
        "Asia/Hong_Kong",
        22.3080,
        113.9185,
    ),
    (
        "NRT",
        "Tokyo Narita",
        "Tokyo",
        "JP",
        "Asia/Tokyo",
        35.7720,
        140.3929,
    ),
    (
        "HND",
        "Tokyo Haneda",
        "Tokyo",
        "JP",
        "Asia/Tokyo",
        35.5494,
        139.7798,
    ),
    (
        "ICN",
        "Seoul Incheon",
        "Seoul",
        "KR",
        "Asia/Seoul",
        37.4602,
        126.4407,
    ),
    (
        "PEK",
        "Beijing Capital",
        "Beijing",
        "CN",
        "Asia/Shanghai",
        40.0799,
        116.6031,
    ),
    (
        "PVG",
        "Shanghai Pudong",
        "Shanghai",
        "CN",
        "Asia/Shanghai",
        31.1443,
        121.8083,
    ),
    (
        "BKK",
        "Bangkok Suvarnabhumi",
        "Bangkok",
        "TH",
        "Asia/Bangkok",
        13.6900,
        100.7501,
    ),
    (
        "SYD",
        "Sydney Kingsford Smith",
        "Sydney",
        "AU",
        "Australia/Sydney",
        -33.9399,
        151.1753,
    ),
    (
        "MEL",
        "Melbourne",
        "Melbourne",
        "AU",
        "Australia/Melbourne",
        -37.6690,
        144.8410,
    ),
    (
        "AKL",
        "Auckland",
        "Auckland",
        "NZ",
        "Pacific/Auckland",
        -37.0082,
        174.7850,
    ),
];

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
    AIRPORTS
        .iter()
        .find(|a| a.0 == iata)
        .unwrap_or(&AIRPORTS[0])
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
    for spoke in AIRPORTS.iter().filter(|a| !HUBS.contains(&a.0)) {
        let nearest = HUBS
            .iter()
            .map(|h| airport(h))
            .min_by(|x, y| distance_km(spoke, x).total_cmp(&distance_km(spoke, y)))
            .unwrap_or(&AIRPORTS[0]);
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
        for row in AIRPORTS {
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
}
