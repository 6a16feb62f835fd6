//! What each notification says, per type and channel.

use contracts::events::{BookingSnapshot, FlightSnapshot, types};
use contracts::states::{BookingStatus, CancelReason, Product};
use platform::money::{Currency, Money};

/// A rendered notification.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rendered {
    pub subject: String,
    pub body: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Channel {
    Email,
    InApp,
    Webhook,
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Email => "email",
            Channel::InApp => "in_app",
            Channel::Webhook => "webhook",
        }
    }
}

pub fn welcome(username: &str, channel: Channel) -> Rendered {
    match channel {
        Channel::Email => Rendered {
            subject: "Welcome to Itinera".into(),
            body: format!(
                "Hello {username},\n\nYour Itinera account is ready. Search flights, book seats and follow \
                 your trips from one place.\n\nThe Itinera team\n"
            ),
        },
        Channel::InApp | Channel::Webhook => Rendered {
            subject: "Welcome to Itinera".into(),
            body: format!("Welcome, {username}! Your account is ready."),
        },
    }
}

fn price(booking: &BookingSnapshot) -> String {
    let currency = Currency::parse(&booking.price.currency).unwrap_or(Currency::UNKNOWN);
    Money::from_minor(booking.price.amount_minor, currency).to_string()
}

/// `count` of `what`, pluralised with an `s`.
fn counted(count: i64, what: &str) -> String {
    if count == 1 {
        format!("1 {what}")
    } else {
        format!("{count} {what}s")
    }
}

fn itinerary(booking: &BookingSnapshot) -> String {
    let mut lines = vec![format!("Booking reference: {}", booking.reference)];
    if booking.trip_id.is_some() {
        lines.push("Part of your trip".into());
    }
    if let Some(flight) = &booking.flight {
        lines.push(format!("Flight: {}", flight.flight_code));
        lines.push(format!(
            "Departure: {} UTC",
            flight.departure_at.format("%Y-%m-%d %H:%M")
        ));
        lines.push(format!("Cabin: {}", flight.cabin));
        for (name, seat) in flight.passengers.iter().zip(&flight.seats) {
            lines.push(format!("Passenger: {name}, seat {seat}"));
        }
    } else if let Some(stay) = &booking.stay {
        lines.push(format!("Hotel: {}, {}", stay.hotel_name, stay.city));
        lines.push(format!(
            "Room: {}, {}, {}",
            stay.room_type_name,
            counted(i64::from(stay.rooms), "room"),
            counted(i64::from(stay.guests), "guest")
        ));
        lines.push(format!(
            "Check-in: {}, check-out: {} ({})",
            stay.check_in,
            stay.check_out,
            counted((stay.check_out - stay.check_in).num_days(), "night")
        ));
    } else if let Some(rental) = &booking.rental {
        lines.push(format!("Car: {} ({})", rental.car, rental.car_type));
        lines.push(format!(
            "Pick-up: {} at {}, drop-off: {}",
            rental.start_date, rental.location_code, rental.end_date
        ));
    } else {
        // A trip: its description lists its items.
        lines.push(format!("Booked: {}", booking.description));
    }
    if booking.stay.is_some() || booking.rental.is_some() {
        lines.push(match booking.refundable_until {
            Some(until) => format!(
                "Free cancellation until {} UTC",
                until.format("%Y-%m-%d %H:%M")
            ),
            None => "Non-refundable".into(),
        });
    }
    lines.push(format!("Total: {}", price(booking)));
    lines.join("\n")
}

/// What a booking is for, in a few words: the flight's code, the hotel, room and nights, the car
/// and where and when it is picked up, or a trip's description (which lists its items).
fn booked(booking: &BookingSnapshot) -> String {
    if let Some(flight) = &booking.flight {
        return flight.flight_code.clone();
    }
    if let Some(stay) = &booking.stay {
        return format!(
            "{}, {}, {} from {}",
            stay.hotel_name,
            stay.room_type_name,
            counted((stay.check_out - stay.check_in).num_days(), "night"),
            stay.check_in
        );
    }
    if let Some(rental) = &booking.rental {
        return format!(
            "{} from {}, {} to {}",
            rental.car, rental.location_code, rental.start_date, rental.end_date
        );
    }
    booking.description.clone()
}

/// The booking's name in a short notice: a trip's item says it belongs to a trip.
fn named(booking: &BookingSnapshot) -> String {
    if booking.trip_id.is_some() {
        format!("Booking {} (part of your trip)", booking.reference)
    } else {
        format!("Booking {}", booking.reference)
    }
}

/// The notification for a booking event of type `kind`, or `None` for events that notify nobody.
/// A trip's items are announced only when one is cancelled: the trip's own notification (its
/// description lists them) covers their confirmation and expiry.
pub fn booking(
    kind: &str,
    booking: &BookingSnapshot,
    username: Option<&str>,
    channel: Channel,
) -> Option<Rendered> {
    if booking.trip_id.is_some() && kind != types::BOOKING_CANCELLED {
        return None;
    }
    let hello = username.map_or_else(|| "Hello,".to_owned(), |name| format!("Hello {name},"));
    let (subject, opening, short): (String, String, String) = match kind {
        types::BOOKING_CONFIRMED => (
            format!("Your booking {} is confirmed", booking.reference),
            "your booking is confirmed. Your itinerary:".into(),
            format!("{} on {} is confirmed.", named(booking), booked(booking)),
        ),
        types::BOOKING_CANCELLED
            if booking.cancel_reason == Some(CancelReason::FlightCancelled) =>
        {
            // Only a confirmed booking was paid for; one awaiting payment is never charged.
            let money = if booking.previous_status == Some(BookingStatus::Confirmed) {
                "you will be refunded in full"
            } else {
                "you will not be charged"
            };
            // A trip (or a stay in it) ends with a flight of the trip.
            let flight = booking.flight.as_ref().map_or_else(
                || "a flight of your trip".to_owned(),
                |f| format!("flight {}", f.flight_code),
            );
            (
                format!("Your booking {} is cancelled", booking.reference),
                format!(
                    "{flight} has been cancelled, so your booking is cancelled too and {money}:"
                ),
                format!(
                    "{} is cancelled because {flight} has been cancelled; {money}.",
                    named(booking)
                ),
            )
        }
        types::BOOKING_CANCELLED => (
            format!("Your booking {} is cancelled", booking.reference),
            match booking.product {
                Product::Flight => "your booking has been cancelled and its seats released:",
                Product::Hotel => "your booking has been cancelled and its rooms released:",
                Product::Car => "your booking has been cancelled and the car released:",
                Product::Trip => "your trip has been cancelled, with everything in it:",
            }
            .into(),
            format!("{} on {} is cancelled.", named(booking), booked(booking)),
        ),
        types::BOOKING_EXPIRED => (
            format!("Your booking {} has expired", booking.reference),
            "your booking was not paid in time and has expired:".into(),
            format!("{} on {} has expired.", named(booking), booked(booking)),
        ),
        _ => return None,
    };
    Some(match channel {
        Channel::Email => Rendered {
            subject,
            body: format!(
                "{hello}\n\n{opening}\n\n{}\n\nThe Itinera team\n",
                itinerary(booking)
            ),
        },
        Channel::InApp | Channel::Webhook => Rendered {
            subject,
            body: short,
        },
    })
}

/// A flight's departure in its airport's zone and in UTC.
fn local_time(at: chrono::DateTime<chrono::Utc>, zone: &str) -> String {
    match zone.parse::<chrono_tz::Tz>() {
        Ok(tz) => format!(
            "{} {} ({} UTC)",
            at.with_timezone(&tz).format("%Y-%m-%d %H:%M"),
            zone,
            at.format("%H:%M")
        ),
        Err(_) => format!("{} UTC", at.format("%Y-%m-%d %H:%M")),
    }
}

/// One line about a flight's state after a change: what live clients see as `update`.
pub fn flight_status_line(flight: &FlightSnapshot) -> String {
    let mut line = format!(
        "{} {}→{}: {}",
        flight.flight_code, flight.origin, flight.destination, flight.status
    );
    if let Some(gate) = &flight.gate {
        line.push_str(&format!(", gate {gate}"));
    }
    line.push_str(&format!(
        ", departs {}",
        local_time(flight.departure_at, &flight.origin_time_zone)
    ));
    line
}

/// The notification of a flight's status change, for its subscribers and passengers.
pub fn flight_status(
    flight: &FlightSnapshot,
    username: Option<&str>,
    channel: Channel,
) -> Rendered {
    let subject = format!("{}: {}", flight.flight_code, flight.status);
    match channel {
        Channel::Email => Rendered {
            subject,
            body: format!(
                "Hello {},\n\nThere is news about flight {}.\n\n{}\nArrival: {}\n\nThe Itinera team\n",
                username.unwrap_or("traveller"),
                flight.flight_code,
                flight_status_line(flight),
                local_time(flight.arrival_at, &flight.destination_time_zone),
            ),
        },
        Channel::InApp | Channel::Webhook => Rendered {
            subject,
            body: flight_status_line(flight),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use contracts::events::{FlightBooking, InventorySnapshot, MoneyAmount};
    use contracts::events::{RentalSnapshot, StaySnapshot};
    use contracts::states::{Cabin, CarType, FlightStatus};

    fn sample() -> BookingSnapshot {
        BookingSnapshot {
            booking_id: 7,
            reference: "ABCD2345".into(),
            user_id: 3,
            product: Product::Flight,
            trip_id: None,
            description: "IT101-20261201 economy, 1 passenger".into(),
            starts_at: "2026-12-01T09:00:00Z".parse().unwrap(),
            refundable_until: None,
            flight: Some(FlightBooking {
                flight_id: 1,
                flight_code: "IT101-20261201".into(),
                departure_at: "2026-12-01T09:00:00Z".parse().unwrap(),
                cabin: Cabin::Economy,
                seats: vec!["14C".into()],
                passengers: vec!["Jane Doe".into()],
                inventory: InventorySnapshot {
                    flight_id: 1,
                    cabin: Cabin::Economy,
                    capacity: 10,
                    seats_left: 9,
                    version: 1,
                },
            }),
            stay: None,
            rental: None,
            items: Vec::new(),
            price: MoneyAmount {
                amount_minor: 19_999,
                currency: "USD".into(),
            },
            status: BookingStatus::Confirmed,
            payment_method: None,
            payment_card_id: None,
            previous_status: None,
            cancel_reason: None,
        }
    }

    #[test]
    fn confirmation_email_carries_the_itinerary() {
        let email = booking("booking.confirmed", &sample(), Some("jane"), Channel::Email).unwrap();
        assert_eq!(email.subject, "Your booking ABCD2345 is confirmed");
        for part in [
            "Hello jane,",
            "IT101-20261201",
            "2026-12-01 09:00 UTC",
            "Jane Doe, seat 14C",
            "199.99 USD",
        ] {
            assert!(
                email.body.contains(part),
                "{part} missing from {}",
                email.body
            );
        }
        assert!(booking("booking.created", &sample(), None, Channel::Email).is_none());
        assert!(
            booking("booking.cancelled", &sample(), None, Channel::InApp)
                .unwrap()
                .body
                .contains("cancelled")
        );
    }

    #[test]
    fn a_flight_cancellation_says_why_and_what_happens_to_the_money() {
        let cancelled = |previous| BookingSnapshot {
            status: BookingStatus::Cancelled,
            previous_status: Some(previous),
            cancel_reason: Some(CancelReason::FlightCancelled),
            ..sample()
        };
        let paid = cancelled(BookingStatus::Confirmed);
        let email = booking("booking.cancelled", &paid, Some("jane"), Channel::Email).unwrap();
        assert_eq!(email.subject, "Your booking ABCD2345 is cancelled");
        assert!(
            email.body.contains(
                "flight IT101-20261201 has been cancelled, so your booking is cancelled too and you will be refunded in full:"
            ),
            "{}",
            email.body
        );
        assert!(email.body.contains("Jane Doe, seat 14C"));
        let unpaid = cancelled(BookingStatus::PendingPayment);
        assert_eq!(
            booking("booking.cancelled", &unpaid, None, Channel::InApp)
                .unwrap()
                .body,
            "Booking ABCD2345 is cancelled because flight IT101-20261201 has been cancelled; you will not be charged."
        );
        // Cancelled by the customer: no word of the flight.
        let by_customer = BookingSnapshot {
            cancel_reason: Some(CancelReason::Customer),
            ..paid
        };
        let email = booking("booking.cancelled", &by_customer, None, Channel::Email).unwrap();
        assert!(
            email
                .body
                .contains("your booking has been cancelled and its seats released")
        );
    }

    fn stay() -> BookingSnapshot {
        BookingSnapshot {
            product: Product::Hotel,
            description: "Hotel Lumière, Deluxe double, 3 nights".into(),
            refundable_until: Some("2026-11-29T14:00:00Z".parse().unwrap()),
            flight: None,
            stay: Some(StaySnapshot {
                hotel_id: uuid::Uuid::nil(),
                hotel_name: "Hotel Lumière".into(),
                city: "Paris".into(),
                room_type_id: uuid::Uuid::nil(),
                room_type_name: "Deluxe double".into(),
                rate_plan_id: uuid::Uuid::nil(),
                check_in: "2026-12-01".parse().unwrap(),
                check_out: "2026-12-04".parse().unwrap(),
                rooms: 1,
                guests: 2,
            }),
            price: MoneyAmount {
                amount_minor: 54_000,
                currency: "EUR".into(),
            },
            ..sample()
        }
    }

    fn rental() -> BookingSnapshot {
        BookingSnapshot {
            product: Product::Car,
            description: "Toyota RAV4, CDG, 3 days".into(),
            refundable_until: None,
            flight: None,
            rental: Some(RentalSnapshot {
                car_id: uuid::Uuid::nil(),
                car_type: CarType::Suv,
                car: "Toyota RAV4".into(),
                location_code: "CDG".into(),
                start_date: "2026-12-01".parse().unwrap(),
                end_date: "2026-12-04".parse().unwrap(),
            }),
            ..sample()
        }
    }

    fn assert_says(rendered: &Rendered, parts: &[&str]) {
        for part in parts {
            assert!(
                rendered.body.contains(part),
                "{part} missing from {}",
                rendered.body
            );
        }
    }

    #[test]
    fn a_stay_names_the_hotel_room_nights_dates_and_cancellation_terms() {
        let email = booking("booking.confirmed", &stay(), Some("jane"), Channel::Email).unwrap();
        assert_says(
            &email,
            &[
                "Hotel: Hotel Lumière, Paris",
                "Room: Deluxe double, 1 room, 2 guests",
                "Check-in: 2026-12-01, check-out: 2026-12-04 (3 nights)",
                "Free cancellation until 2026-11-29 14:00 UTC",
            ],
        );
        assert!(!email.body.contains("Flight"), "{}", email.body);
        let in_app = booking("booking.cancelled", &stay(), None, Channel::InApp).unwrap();
        assert_eq!(
            in_app.body,
            "Booking ABCD2345 on Hotel Lumière, Deluxe double, 3 nights from 2026-12-01 is cancelled."
        );
        let email = booking("booking.cancelled", &stay(), None, Channel::Email).unwrap();
        assert_says(&email, &["its rooms released"]);
    }

    #[test]
    fn a_rental_names_the_car_and_where_and_when_it_is_picked_up() {
        let email = booking("booking.confirmed", &rental(), None, Channel::Email).unwrap();
        assert_says(
            &email,
            &[
                "Car: Toyota RAV4 (suv)",
                "Pick-up: 2026-12-01 at CDG, drop-off: 2026-12-04",
                "Non-refundable",
            ],
        );
        let in_app = booking("booking.confirmed", &rental(), None, Channel::InApp).unwrap();
        assert_eq!(
            in_app.body,
            "Booking ABCD2345 on Toyota RAV4 from CDG, 2026-12-01 to 2026-12-04 is confirmed."
        );
    }

    #[test]
    fn a_trip_is_announced_once_and_its_items_only_when_one_is_cancelled_on_its_own() {
        let trip = BookingSnapshot {
            product: Product::Trip,
            description: "Flight IT101-20261201; Hotel Lumière, 3 nights; Toyota RAV4, 3 days"
                .into(),
            flight: None,
            ..sample()
        };
        let email = booking("booking.confirmed", &trip, None, Channel::Email).unwrap();
        assert_says(
            &email,
            &[
                "Booked: Flight IT101-20261201; Hotel Lumière, 3 nights; Toyota RAV4, 3 days",
                "Total: 199.99 USD",
            ],
        );
        let cancelled = booking("booking.cancelled", &trip, None, Channel::Email).unwrap();
        assert_says(&cancelled, &["your trip has been cancelled"]);

        let item = BookingSnapshot {
            trip_id: Some(9),
            ..stay()
        };
        for kind in ["booking.created", "booking.confirmed", "booking.expired"] {
            for channel in [Channel::Email, Channel::InApp] {
                assert!(booking(kind, &item, None, channel).is_none(), "{kind}");
            }
        }
        let in_app = booking("booking.cancelled", &item, None, Channel::InApp).unwrap();
        assert_eq!(
            in_app.body,
            "Booking ABCD2345 (part of your trip) on Hotel Lumière, Deluxe double, 3 nights from 2026-12-01 is cancelled."
        );
        // A stay cancelled with its trip's flight: no flight code to name.
        let with_flight = BookingSnapshot {
            cancel_reason: Some(CancelReason::FlightCancelled),
            previous_status: Some(BookingStatus::Confirmed),
            ..item
        };
        assert_eq!(
            booking("booking.cancelled", &with_flight, None, Channel::InApp)
                .unwrap()
                .body,
            "Booking ABCD2345 (part of your trip) is cancelled because a flight of your trip has been cancelled; you will be refunded in full."
        );
    }

    fn flight(gate: Option<&str>, zone: &str) -> FlightSnapshot {
        FlightSnapshot {
            flight_id: 1,
            flight_code: "IT101-20261201".into(),
            airline: "Itinera Air".into(),
            origin: "CDG".into(),
            destination: "JFK".into(),
            departure_at: "2026-12-01T09:30:00Z".parse().unwrap(),
            arrival_at: "2026-12-01T17:30:00Z".parse().unwrap(),
            origin_time_zone: zone.into(),
            destination_time_zone: "America/New_York".into(),
            status: FlightStatus::Boarding,
            gate: gate.map(str::to_owned),
            cabins: Vec::new(),
            version: 4,
        }
    }

    #[test]
    fn flight_status_reads_in_the_airports_time_and_utc() {
        assert_eq!(
            flight_status_line(&flight(Some("C3"), "Europe/Paris")),
            "IT101-20261201 CDG→JFK: Boarding, gate C3, departs 2026-12-01 10:30 Europe/Paris (09:30 UTC)"
        );
        // No gate yet, and a zone this build does not know: UTC only.
        assert_eq!(
            flight_status_line(&flight(None, "Mars/Olympus")),
            "IT101-20261201 CDG→JFK: Boarding, departs 2026-12-01 09:30 UTC"
        );
        let email = flight_status(
            &flight(Some("C3"), "Europe/Paris"),
            Some("jane"),
            Channel::Email,
        );
        assert_eq!(email.subject, "IT101-20261201: Boarding");
        assert!(email.body.starts_with("Hello jane,"), "{}", email.body);
        assert!(
            email
                .body
                .contains("Arrival: 2026-12-01 12:30 America/New_York (17:30 UTC)"),
            "{}",
            email.body
        );
        let in_app = flight_status(&flight(None, "Europe/Paris"), None, Channel::InApp);
        assert_eq!(
            in_app.body,
            flight_status_line(&flight(None, "Europe/Paris"))
        );
    }
}
