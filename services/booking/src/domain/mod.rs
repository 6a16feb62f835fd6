//! Booking's domain values: the booking life cycle and payment methods (from the contracts),
//! seats and passengers, and what a user may hold unpaid.

pub mod holds;

use std::fmt;

pub use contracts::states::{BookingStatus, PaymentMethod};

/// A seat such as `14C`: a row number and a letter.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Seat {
    pub row: i32,
    pub letter: char,
}

impl Seat {
    pub fn parse(value: &str) -> Result<Self, String> {
        let value = value.trim().to_ascii_uppercase();
        let invalid = || format!("{value:?} is not a seat like 14C");
        let letter = value
            .chars()
            .last()
            .filter(char::is_ascii_uppercase)
            .ok_or_else(invalid)?;
        let row = &value[..value.len() - 1];
        if row.is_empty() || row.len() > 2 || !row.bytes().all(|b| b.is_ascii_digit()) {
            return Err(invalid());
        }
        let row: i32 = row.parse().map_err(|_| invalid())?;
        if row == 0 {
            return Err(invalid());
        }
        Ok(Self { row, letter })
    }
}

impl fmt::Display for Seat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", self.row, self.letter)
    }
}

/// The seats of one cabin, in the order automatic assignment fills them (front to back, left to
/// right).
#[derive(Clone, Debug)]
pub struct CabinSeats {
    pub first_row: i32,
    pub last_row: i32,
    pub letters: String,
}

impl CabinSeats {
    pub fn contains(&self, seat: &Seat) -> bool {
        (self.first_row..=self.last_row).contains(&seat.row) && self.letters.contains(seat.letter)
    }

    /// Those of `seats` (a flight's seats held or sold, of every cabin) in this cabin, front to
    /// back and left to right by letter.
    pub fn taken<'a>(&self, seats: impl IntoIterator<Item = &'a str>) -> Vec<Seat> {
        let mut taken: Vec<Seat> = seats
            .into_iter()
            .filter_map(|seat| Seat::parse(seat).ok())
            .filter(|seat| self.contains(seat))
            .collect();
        taken.sort();
        taken
    }

    pub fn all(&self) -> impl Iterator<Item = Seat> + '_ {
        (self.first_row..=self.last_row)
            .flat_map(move |row| self.letters.chars().map(move |letter| Seat { row, letter }))
    }

    /// `count` free seats, taking `wanted` where given, the first free seats otherwise.
    /// `wanted[i]` is the seat asked for by passenger `i`, if any.
    pub fn assign(
        &self,
        wanted: &[Option<Seat>],
        taken: &std::collections::HashSet<String>,
    ) -> Result<Vec<Seat>, SeatError> {
        let mut chosen: Vec<Option<Seat>> = Vec::with_capacity(wanted.len());
        let mut used = std::collections::HashSet::new();
        for seat in wanted {
            if let Some(seat) = seat {
                if !self.contains(seat) {
                    return Err(SeatError::NotInCabin(seat.to_string()));
                }
                if taken.contains(&seat.to_string()) || !used.insert(seat.to_string()) {
                    return Err(SeatError::Taken(seat.to_string()));
                }
            }
            chosen.push(seat.clone());
        }
        let mut free = self
            .all()
            .filter(|s| !taken.contains(&s.to_string()) && !used.contains(&s.to_string()));
        chosen
            .into_iter()
            .map(|seat| match seat {
                Some(seat) => Ok(seat),
                None => free.next().ok_or(SeatError::SoldOut),
            })
            .collect()
    }
}

#[derive(Debug, PartialEq, Eq)]
pub enum SeatError {
    NotInCabin(String),
    Taken(String),
    SoldOut,
}

/// A passenger's name as on their travel document: 1 to 100 characters, no control characters.
pub fn passenger_name(value: &str) -> Result<String, String> {
    let name = value.split_whitespace().collect::<Vec<_>>().join(" ");
    if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
        return Err("passenger names must be 1 to 100 characters".into());
    }
    Ok(name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashSet;

    fn cabin() -> CabinSeats {
        CabinSeats {
            first_row: 4,
            last_row: 6,
            letters: "ABC".into(),
        }
    }

    #[test]
    fn life_cycle() {
        use BookingStatus::*;
        assert!(PendingPayment.can_become(Confirmed));
        assert!(Confirmed.can_become(Cancelled));
        assert!(!Cancelled.can_become(Confirmed));
        assert!(!Expired.can_become(Confirmed));
        assert!(!Confirmed.can_become(Expired));
        for status in BookingStatus::ALL {
            assert_eq!(BookingStatus::parse(status.as_str()), Some(status));
        }
    }

    #[test]
    fn seats() {
        assert_eq!(
            Seat::parse("14c").unwrap(),
            Seat {
                row: 14,
                letter: 'C'
            }
        );
        for bad in ["", "C", "14", "0A", "123A", "1-A", "A1"] {
            assert!(Seat::parse(bad).is_err(), "{bad}");
        }
        let taken: HashSet<String> = ["4A".to_owned()].into();
        let assigned = cabin()
            .assign(&[None, Some(Seat::parse("6C").unwrap()), None], &taken)
            .unwrap();
        let names: Vec<String> = assigned.iter().map(ToString::to_string).collect();
        assert_eq!(names, ["4B", "6C", "4C"]);
        assert_eq!(
            cabin().assign(&[Some(Seat::parse("4A").unwrap())], &taken),
            Err(SeatError::Taken("4A".into()))
        );
        assert_eq!(
            cabin().assign(&[Some(Seat::parse("9A").unwrap())], &taken),
            Err(SeatError::NotInCabin("9A".into()))
        );
        let twice = Some(Seat::parse("5A").unwrap());
        assert_eq!(
            cabin().assign(&[twice.clone(), twice], &taken),
            Err(SeatError::Taken("5A".into()))
        );
        assert_eq!(
            cabin().assign(&vec![None; 9], &taken),
            Err(SeatError::SoldOut)
        );
    }

    #[test]
    fn a_cabin_takes_its_own_seats_from_the_flights_in_seat_order() {
        let flight = ["12A", "5C", "4B", "2A", "4A", "5D", "not a seat"];
        let names: Vec<String> = cabin()
            .taken(flight)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(names, ["4A", "4B", "5C"]);
        assert!(cabin().taken([]).is_empty());
    }

    #[test]
    fn payment_methods() {
        assert_eq!(
            PaymentMethod::parse("credit_card").unwrap(),
            PaymentMethod::CreditCard
        );
        assert_eq!(
            PaymentMethod::parse("Credit Card").unwrap(),
            PaymentMethod::CreditCard
        );
        assert_eq!(
            PaymentMethod::parse("debit-card").unwrap(),
            PaymentMethod::DebitCard
        );
        assert_eq!(
            PaymentMethod::parse("wallet").unwrap(),
            PaymentMethod::Wallet
        );
        assert!(PaymentMethod::parse("cash").is_err());
        assert!(passenger_name("  Jane   Doe ").is_ok_and(|n| n == "Jane Doe"));
        assert!(passenger_name("   ").is_err());
    }

    proptest! {
        #[test]
        fn assigned_seats_are_distinct_free_and_in_the_cabin(
            taken in proptest::collection::hash_set(0usize..9, 0..9),
            count in 1usize..9,
        ) {
            let cabin = cabin();
            let all: Vec<Seat> = cabin.all().collect();
            let taken: HashSet<String> = taken.into_iter().map(|i| all[i].to_string()).collect();
            match cabin.assign(&vec![None; count], &taken) {
                Ok(seats) => {
                    let names: HashSet<String> = seats.iter().map(ToString::to_string).collect();
                    prop_assert_eq!(names.len(), count);
                    prop_assert!(names.iter().all(|s| !taken.contains(s)));
                    prop_assert!(seats.iter().all(|s| cabin.contains(s)));
                }
                Err(e) => {
                    prop_assert_eq!(e, SeatError::SoldOut);
                    prop_assert!(count > 9 - taken.len());
                }
            }
        }
    }
}
