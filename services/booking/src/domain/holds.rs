//! What one user may hold without paying. Without limits, one account with a card that never
//! answers could keep whole flights off sale, one fifteen-minute hold after another.

use std::fmt;

/// The limits, from `BOOKING_MAX_PENDING_PER_USER`, `BOOKING_MAX_HELD_SEATS_PER_USER` and
/// `BOOKING_MAX_FLIGHT_SHARE_PERCENT`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UnpaidLimits {
    /// Bookings awaiting payment.
    pub bookings: i64,
    /// Seats in those bookings, over every flight.
    pub seats: i64,
    /// Of one flight's seats (every cabin), the share in percent held in those bookings.
    pub flight_share_percent: i64,
    /// Room-nights (rooms × nights) and car-days held in those bookings, together.
    pub nights: i64,
}

impl Default for UnpaidLimits {
    fn default() -> Self {
        Self {
            bookings: 5,
            seats: 20,
            flight_share_percent: 20,
            nights: 60,
        }
    }
}

/// What a user holds unpaid now, and the size of the flight they want to book.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Unpaid {
    pub bookings: i64,
    pub seats: i64,
    pub seats_on_flight: i64,
    pub flight_capacity: i64,
    /// Room-nights (rooms × nights) and car-days held awaiting payment.
    pub nights: i64,
}

/// The limit a new booking would pass.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LimitReached {
    Bookings {
        max: i64,
    },
    Seats {
        max: i64,
        would_hold: i64,
    },
    FlightShare {
        percent: i64,
        max_seats: i64,
        would_hold: i64,
        capacity: i64,
    },
    Nights {
        max: i64,
        would_hold: i64,
    },
}

impl UnpaidLimits {
    /// The most seats of a flight of `capacity` seats one user may hold unpaid: the share, rounded
    /// down, but at least one seat, so that every flight can be booked.
    pub fn flight_seats(&self, capacity: i64) -> i64 {
        (capacity.saturating_mul(self.flight_share_percent) / 100).max(1)
    }

    /// Whether a user holding `held` may book `seats` more on the flight, unpaid.
    pub fn admit(&self, held: &Unpaid, seats: i64) -> Result<(), LimitReached> {
        if held.bookings >= self.bookings {
            return Err(LimitReached::Bookings { max: self.bookings });
        }
        let would_hold = held.seats + seats;
        if would_hold > self.seats {
            return Err(LimitReached::Seats {
                max: self.seats,
                would_hold,
            });
        }
        let max_seats = self.flight_seats(held.flight_capacity);
        let would_hold = held.seats_on_flight + seats;
        if would_hold > max_seats {
            return Err(LimitReached::FlightShare {
                percent: self.flight_share_percent,
                max_seats,
                would_hold,
                capacity: held.flight_capacity,
            });
        }
        Ok(())
    }

    /// Whether a user holding `held` room-nights and car-days unpaid may hold `wanted` more.
    pub fn admit_nights(&self, held: i64, wanted: i64) -> Result<(), LimitReached> {
        let would_hold = held + wanted;
        if would_hold > self.nights {
            return Err(LimitReached::Nights {
                max: self.nights,
                would_hold,
            });
        }
        Ok(())
    }
}

impl LimitReached {
    /// The setting that sets this limit.
    pub fn setting(&self) -> &'static str {
        match self {
            Self::Bookings { .. } => "BOOKING_MAX_PENDING_PER_USER",
            Self::Seats { .. } => "BOOKING_MAX_HELD_SEATS_PER_USER",
            Self::FlightShare { .. } => "BOOKING_MAX_FLIGHT_SHARE_PERCENT",
            Self::Nights { .. } => "BOOKING_MAX_HELD_NIGHTS_PER_USER",
        }
    }

    /// The setting's value.
    pub fn max(&self) -> i64 {
        match *self {
            Self::Bookings { max } | Self::Seats { max, .. } | Self::Nights { max, .. } => max,
            Self::FlightShare { percent, .. } => percent,
        }
    }
}

impl fmt::Display for LimitReached {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let setting = self.setting();
        match *self {
            Self::Bookings { max } => write!(
                f,
                "You already have {max} bookings awaiting payment, the most one user may have \
                 ({setting} = {max}); pay for or cancel one first"
            ),
            Self::Seats { max, would_hold } => write!(
                f,
                "This booking would hold {would_hold} seats awaiting payment in all; one user may \
                 hold at most {max} ({setting} = {max}); pay for or cancel a booking first"
            ),
            Self::FlightShare {
                percent,
                max_seats,
                would_hold,
                capacity,
            } => write!(
                f,
                "This booking would hold {would_hold} of this flight's {capacity} seats awaiting \
                 payment; one user may hold at most {max_seats} of them unpaid ({percent}% of the \
                 flight, {setting} = {percent}); pay for or cancel a booking first"
            ),
            Self::Nights { max, would_hold } => write!(
                f,
                "This booking would hold {would_hold} room-nights and car-days awaiting payment in \
                 all; one user may hold at most {max} ({setting} = {max}); pay for or cancel a \
                 booking first"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn held(bookings: i64, seats: i64, seats_on_flight: i64) -> Unpaid {
        Unpaid {
            bookings,
            seats,
            seats_on_flight,
            flight_capacity: 180,
            nights: 0,
        }
    }

    #[test]
    fn each_limit_is_named_with_its_value() {
        let limits = UnpaidLimits::default();
        assert_eq!(limits.admit(&held(4, 4, 4), 9), Ok(()));
        let refused = limits.admit(&held(5, 5, 0), 1).unwrap_err();
        assert_eq!(refused, LimitReached::Bookings { max: 5 });
        assert!(
            refused
                .to_string()
                .contains("BOOKING_MAX_PENDING_PER_USER = 5")
        );
        let refused = limits.admit(&held(2, 18, 0), 3).unwrap_err();
        assert_eq!(
            refused,
            LimitReached::Seats {
                max: 20,
                would_hold: 21
            }
        );
        assert!(
            refused
                .to_string()
                .contains("BOOKING_MAX_HELD_SEATS_PER_USER = 20")
        );
        // 20 % of 180 seats: 36, more than the 20 seats per user; a smaller flight shows it.
        let small = Unpaid {
            flight_capacity: 30,
            ..held(1, 4, 4)
        };
        let refused = limits.admit(&small, 3).unwrap_err();
        assert_eq!(
            refused,
            LimitReached::FlightShare {
                percent: 20,
                max_seats: 6,
                would_hold: 7,
                capacity: 30
            }
        );
        assert!(refused.to_string().contains("at most 6 of them"));
        assert!(
            refused
                .to_string()
                .contains("BOOKING_MAX_FLIGHT_SHARE_PERCENT = 20")
        );
        assert_eq!(refused.max(), 20);
    }

    #[test]
    fn room_nights_and_car_days_are_limited_together() {
        let limits = UnpaidLimits::default();
        assert_eq!(limits.admit_nights(50, 10), Ok(()));
        let refused = limits.admit_nights(50, 11).unwrap_err();
        assert_eq!(
            refused,
            LimitReached::Nights {
                max: 60,
                would_hold: 61
            }
        );
        assert!(
            refused
                .to_string()
                .contains("BOOKING_MAX_HELD_NIGHTS_PER_USER = 60")
        );
    }

    #[test]
    fn every_flight_can_be_booked_one_seat_at_a_time() {
        let limits = UnpaidLimits::default();
        assert_eq!(limits.flight_seats(3), 1);
        assert_eq!(limits.flight_seats(0), 1);
        assert_eq!(limits.flight_seats(10), 2);
    }

    proptest! {
        #[test]
        fn an_admitted_booking_stays_within_every_limit(
            bookings in 0i64..10, seats in 0i64..40, on_flight in 0i64..40,
            capacity in 1i64..500, wanted in 1i64..10,
        ) {
            let limits = UnpaidLimits::default();
            let held = Unpaid { bookings, seats, seats_on_flight: on_flight.min(seats), flight_capacity: capacity, nights: 0 };
            if limits.admit(&held, wanted).is_ok() {
                prop_assert!(held.bookings < limits.bookings);
                prop_assert!(held.seats + wanted <= limits.seats);
                prop_assert!(held.seats_on_flight + wanted <= limits.flight_seats(capacity));
            }
        }
    }
}
