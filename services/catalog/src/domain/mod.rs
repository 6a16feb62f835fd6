//! Catalog's domain values, parsed once at the edge.

pub mod cars;

use serde::{Deserialize, Serialize};

pub mod hotels;

/// A three-letter IATA airport code, upper case.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct IataCode(String);

impl IataCode {
    pub fn parse(value: &str) -> Result<Self, String> {
        let value = value.trim();
        if value.len() == 3 && value.chars().all(|c| c.is_ascii_alphabetic()) {
            Ok(Self(value.to_ascii_uppercase()))
        } else {
            Err(format!("{value:?} is not an IATA airport code like CDG"))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A flight number: a two-character airline designator and one to four digits, e.g. `IT101`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FlightNumber(String);

impl FlightNumber {
    pub fn parse(value: &str) -> Result<Self, String> {
        let value = value.trim().to_ascii_uppercase().replace(' ', "");
        let bytes = value.as_bytes();
        let valid = (3..=6).contains(&bytes.len())
            && bytes[..2].iter().all(u8::is_ascii_alphanumeric)
            && bytes[..2].iter().any(u8::is_ascii_alphabetic)
            && bytes[2..].iter().all(u8::is_ascii_digit);
        if valid {
            Ok(Self(value))
        } else {
            Err(format!("{value:?} is not a flight number like IT101"))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The code that names one flight: the number and its local departure date, `IT101-20261201`.
    pub fn flight_code(&self, local_departure_date: chrono::NaiveDate) -> String {
        format!("{}-{}", self.0, local_departure_date.format("%Y%m%d"))
    }
}

pub use contracts::states::{Cabin, FlightStatus};

/// One cabin of an aircraft's seat map: rows `first_row..=last_row`, each with `seat_letters`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CabinLayout {
    pub cabin: Cabin,
    pub first_row: i32,
    pub last_row: i32,
    pub seat_letters: String,
}

impl CabinLayout {
    pub fn capacity(&self) -> i32 {
        (self.last_row - self.first_row + 1) * self.seat_letters.len() as i32
    }
}

/// A validated seat map: cabins that do not overlap, with sane rows and letters.
pub fn validate_seat_map(cabins: &[CabinLayout]) -> Result<(), String> {
    if cabins.is_empty() {
        return Err("an aircraft needs at least one cabin".into());
    }
    let mut seen = std::collections::HashSet::new();
    for layout in cabins {
        if !seen.insert(layout.cabin) {
            return Err(format!("cabin {} appears twice", layout.cabin));
        }
        if layout.first_row < 1 || layout.last_row < layout.first_row || layout.last_row > 99 {
            return Err(format!(
                "cabin {}: rows must satisfy 1 <= firstRow <= lastRow <= 99",
                layout.cabin
            ));
        }
        let letters = &layout.seat_letters;
        let distinct: std::collections::HashSet<char> = letters.chars().collect();
        if letters.is_empty()
            || letters.len() > 10
            || !letters.chars().all(|c| c.is_ascii_uppercase())
            || distinct.len() != letters.len()
        {
            return Err(format!(
                "cabin {}: seatLetters must be 1 to 10 distinct upper-case letters",
                layout.cabin
            ));
        }
    }
    for (i, a) in cabins.iter().enumerate() {
        for b in &cabins[i + 1..] {
            if a.first_row <= b.last_row && b.first_row <= a.last_row {
                return Err(format!("cabins {} and {} share rows", a.cabin, b.cabin));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn codes_and_names() {
        assert_eq!(IataCode::parse("cdg").unwrap().as_str(), "CDG");
        for bad in ["", "CD", "CDGX", "C1G", "ÇDG"] {
            assert!(IataCode::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(FlightNumber::parse("it 101").unwrap().as_str(), "IT101");
        assert_eq!(FlightNumber::parse("U21234").unwrap().as_str(), "U21234");
        for bad in ["IT", "IT12345", "12345", "I-101", "IT10A"] {
            assert!(FlightNumber::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(
            Cabin::parse("Premium-Economy").unwrap(),
            Cabin::PremiumEconomy
        );
        assert!(Cabin::parse("cargo").is_err());
        assert_eq!(
            FlightStatus::parse("on_time").unwrap(),
            FlightStatus::OnTime
        );
        assert_eq!(
            FlightStatus::parse("DEPARTED").unwrap(),
            FlightStatus::Departed
        );
        assert!(FlightStatus::parse("lost").is_err());
    }

    #[test]
    fn seat_maps() {
        let economy = CabinLayout {
            cabin: Cabin::Economy,
            first_row: 4,
            last_row: 30,
            seat_letters: "ABCDEF".into(),
        };
        let business = CabinLayout {
            cabin: Cabin::Business,
            first_row: 1,
            last_row: 3,
            seat_letters: "ACDF".into(),
        };
        assert_eq!(economy.capacity(), 162);
        assert!(validate_seat_map(&[business.clone(), economy.clone()]).is_ok());
        let overlapping = CabinLayout {
            last_row: 5,
            ..business.clone()
        };
        assert!(validate_seat_map(&[overlapping.clone(), economy.clone()]).is_err());
        assert!(validate_seat_map(&[economy.clone(), economy.clone()]).is_err());
        assert!(validate_seat_map(&[]).is_err());
        let bad_letters = CabinLayout {
            seat_letters: "AAB".into(),
            ..economy
        };
        assert!(validate_seat_map(&[bad_letters]).is_err());
    }

    proptest! {
        #[test]
        fn every_three_letter_code_parses_to_upper_case(code in "[a-zA-Z]{3}") {
            let parsed = IataCode::parse(&code).unwrap();
            prop_assert_eq!(parsed.as_str(), code.to_ascii_uppercase());
        }

        #[test]
        fn statuses_round_trip(index in 0usize..6) {
            let status = FlightStatus::ALL[index];
            prop_assert_eq!(FlightStatus::parse(status.as_str()).unwrap(), status);
        }
    }
}
