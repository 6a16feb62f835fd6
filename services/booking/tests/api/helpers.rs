//! Starting booking on its own, the events it consumes, and the requests the tests make.

use chrono::{DateTime, Utc};
use contracts::events::{
    CabinSnapshot, FlightSnapshot, MoneyAmount, PaymentSnapshot, topics, types,
};
use platform::events::{Envelope, Message};
use platform::testing::{TestIssuer, TestService};
use reqwest::StatusCode;
use serde_json::{Value, json};

/// The economy fare of every fixture flight, in cents.
pub const FARE_MINOR: i64 = 19_999;

/// Booking, its token issuer, and tokens for two customers and one ops user.
pub struct Booking {
    pub service: TestService,
    pub issuer: TestIssuer,
    /// User 101, `john`.
    pub john: String,
    /// User 102, `jane`.
    pub jane: String,
    /// User 900, `ops`.
    pub ops: String,
}

pub const JOHN: i64 = 101;
pub const JANE: i64 = 102;

impl Booking {
    /// Booking with requests answered at once (no wait for payment), plus `settings`. The limits
    /// on unpaid holds are out of the way (these tests hold many seats as one user) unless
    /// `settings` set them: they have tests of their own.
    pub async fn start(settings: &[(&str, &str)]) -> Self {
        let issuer = TestIssuer::start().await;
        let mut all = vec![
            ("BOOKING_CONFIRM_WAIT_MS", "0"),
            ("BOOKING_MAX_PENDING_PER_USER", "1000"),
            ("BOOKING_MAX_HELD_SEATS_PER_USER", "1000"),
            ("BOOKING_MAX_FLIGHT_SHARE_PERCENT", "100"),
        ];
        all.extend_from_slice(settings);
        let service = TestService::start::<booking::Booking>(&issuer, &all).await;
        Self {
            john: issuer.customer(JOHN, "john"),
            jane: issuer.customer(JANE, "jane"),
            ops: issuer.ops(900, "ops"),
            service,
            issuer,
        }
    }

    /// Publishes `messages` and waits until booking has stored their effect.
    pub async fn deliver(&self, messages: &[Message]) {
        self.service.publish(messages).await;
    }

    /// `POST /api/bookings` as `token`.
    pub async fn book(&self, token: &str, body: &Value) -> reqwest::Response {
        self.service.api.post_as("/api/bookings", token, body).await
    }

    /// A one-passenger economy booking on `flight_id` that must succeed; returns its view.
    pub async fn book_one(&self, token: &str, flight_id: i64, name: &str) -> Value {
        let response = self
            .book(
                token,
                &json!({"flightId": flight_id, "passengers": [{"name": name}]}),
            )
            .await;
        assert_eq!(response.status(), StatusCode::CREATED);
        response.json().await.unwrap()
    }

    /// `GET /api/bookings/{id}` as `token`.
    pub async fn get(&self, token: &str, id: i64) -> reqwest::Response {
        self.service
            .api
            .get(&format!("/api/bookings/{id}"), token)
            .await
    }

    /// The booking as `ops` sees it.
    pub async fn booking(&self, id: i64) -> Value {
        let response = self.get(&self.ops, id).await;
        assert_eq!(response.status(), StatusCode::OK);
        response.json().await.unwrap()
    }

    /// `(capacity, taken)` of a flight's economy cabin.
    pub async fn economy(&self, flight_id: i64) -> (i32, i32) {
        sqlx::query_as(
            "SELECT capacity, taken FROM inventory WHERE flight_id = $1 AND cabin = 'economy'",
        )
        .bind(flight_id)
        .fetch_one(&self.service.db)
        .await
        .unwrap()
    }

    /// Seats assigned on a flight (one row per seat held or sold).
    pub async fn assigned(&self, flight_id: i64) -> i64 {
        sqlx::query_scalar("SELECT count(*) FROM seat_assignments WHERE flight_id = $1")
            .bind(flight_id)
            .fetch_one(&self.service.db)
            .await
            .unwrap()
    }

    /// Events of `kind` in booking's outbox.
    pub async fn outbox(&self, kind: &str) -> Vec<Value> {
        self.service.outbox(kind).await
    }
}

/// A flight as catalog publishes it: two business seats (row 1, `AC`), and economy from row 3
/// over `economy_rows` rows of `letters`, departing `departure_at`.
pub fn flight(
    flight_id: i64,
    economy_rows: i32,
    letters: &str,
    departure_at: DateTime<Utc>,
) -> FlightSnapshot {
    let cabin = |cabin: &str, first_row, last_row, letters: &str, fare| CabinSnapshot {
        cabin: cabin.parse().unwrap(),
        first_row,
        last_row,
        seat_letters: letters.into(),
        capacity: (last_row - first_row + 1) * letters.len() as i32,
        fare: MoneyAmount {
            amount_minor: fare,
            currency: "USD".into(),
        },
    };
    FlightSnapshot {
        flight_id,
        flight_code: format!("TA{flight_id}-20991231"),
        airline: "Test Air".into(),
        origin: "AAA".into(),
        destination: "BBB".into(),
        departure_at,
        arrival_at: departure_at + chrono::Duration::hours(8),
        origin_time_zone: "Europe/Paris".into(),
        destination_time_zone: "America/New_York".into(),
        status: "On Time".parse().unwrap(),
        gate: None,
        cabins: vec![
            cabin("business", 1, 1, "AC", 89_900),
            cabin("economy", 3, 2 + economy_rows, letters, FARE_MINOR),
        ],
        version: 1,
    }
}

/// Tomorrow, when fixture flights leave.
pub fn tomorrow() -> DateTime<Utc> {
    Utc::now() + chrono::Duration::days(1)
}

/// `kind` (`flight.scheduled`, `flight.status-changed`…) for `flight`, as catalog's relay sends it.
pub fn flight_event(kind: &str, flight: &FlightSnapshot) -> Message {
    let key = flight.flight_id.to_string();
    Message {
        topic: topics::FLIGHTS.into(),
        key: key.clone(),
        envelope: Envelope::new("catalog", kind, key, serde_json::to_value(flight).unwrap()),
    }
}

/// `flight.scheduled` for a new flight of `economy_rows` × `letters` economy seats, delivered;
/// returns the flight.
pub async fn scheduled(
    booking: &Booking,
    flight_id: i64,
    economy_rows: i32,
    letters: &str,
) -> FlightSnapshot {
    let snapshot = flight(flight_id, economy_rows, letters, tomorrow());
    booking
        .deliver(&[flight_event(types::FLIGHT_SCHEDULED, &snapshot)])
        .await;
    snapshot
}

/// `kind` (`payment.succeeded`, `payment.failed`) for `booking` (its API view), as payment's relay
/// sends it.
pub fn payment_event(kind: &str, payment_id: i64, booking: &Value) -> Message {
    let booking_id = booking["bookingId"].as_i64().unwrap();
    let amount = MoneyAmount {
        amount_minor: booking["price"]["amountMinor"].as_i64().unwrap(),
        currency: booking["price"]["currency"].as_str().unwrap().into(),
    };
    let failed = kind == types::PAYMENT_FAILED;
    let payment = PaymentSnapshot {
        payment_id,
        booking_id,
        user_id: booking["userId"].as_i64().unwrap(),
        method: "credit_card".parse().unwrap(),
        amount: amount.clone(),
        status: if failed { "FAILED" } else { "SUCCEEDED" }.parse().unwrap(),
        failure_reason: failed.then(|| "card_declined".parse().unwrap()),
        refunded: MoneyAmount {
            amount_minor: 0,
            currency: amount.currency,
        },
        refund_fee: None,
        card_last4: Some("4242".into()),
        refund_for_booking_id: None,
    };
    let key = booking_id.to_string();
    Message {
        topic: topics::PAYMENTS.into(),
        key: key.clone(),
        envelope: Envelope::new(
            "payment",
            kind,
            payment_id.to_string(),
            serde_json::to_value(payment).unwrap(),
        ),
    }
}

/// Waits up to five seconds for `condition`.
pub async fn eventually<F, Fut>(what: &str, mut condition: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..100 {
        if condition().await {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("timed out waiting until {what}");
}
