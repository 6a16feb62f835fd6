//! Starting catalog on its own, a small schedule built through its API, and booking's events.

use contracts::events::{BookingSnapshot, FlightBooking, InventorySnapshot, MoneyAmount, topics};
use contracts::states::Product;
use platform::events::{Envelope, Message};
use platform::testing::{TestIssuer, TestService};
use reqwest::StatusCode;
use serde_json::{Value, json};

/// Catalog, its token issuer, and tokens for an ops user and a customer.
pub struct Catalog {
    pub service: TestService,
    pub issuer: TestIssuer,
    pub ops: String,
    pub customer: String,
}

impl Catalog {
    /// Catalog with search answers never cached (seats left and rooms free show at once; the
    /// shared cache has tests of its own), one day of demo schedule for `GET /seed`, plus
    /// `settings`.
    pub async fn start(settings: &[(&str, &str)]) -> Self {
        let issuer = TestIssuer::start().await;
        let mut all = vec![
            ("SEARCH_CACHE_TTL_MS", "0"),
            ("SEARCH_SHARED_CACHE_SECS", "0"),
            ("SEED_DAYS", "1"),
        ];
        all.extend_from_slice(settings);
        let service = TestService::start::<catalog::Catalog>(&issuer, &all).await;
        Self {
            ops: issuer.ops(900, "ops"),
            customer: issuer.customer(101, "john"),
            service,
            issuer,
        }
    }

    /// `POST` as `token`.
    pub async fn post(&self, path: &str, token: &str, body: &Value) -> reqwest::Response {
        self.service.api.post_as(path, token, body).await
    }

    /// `PATCH /api/flights/{id}` as `token`.
    pub async fn patch_flight(&self, id: i64, token: &str, body: &Value) -> reqwest::Response {
        let api = &self.service.api;
        api.client
            .patch(api.url(&format!("/api/flights/{id}")))
            .bearer_auth(token)
            .json(body)
            .send()
            .await
            .unwrap()
    }

    /// `GET` without a token, answered 200; its JSON body.
    pub async fn read(&self, path: &str) -> Value {
        let response = self.service.api.get_anonymous(path).await;
        assert_eq!(response.status(), StatusCode::OK, "GET {path}");
        response.json().await.unwrap()
    }

    /// Alphaville (`AAA`) and Betaville (`BBB`), an aircraft with two business seats and
    /// `economy_rows` × `letters` economy seats, and a flight between them tomorrow, all created
    /// by ops; returns the flight as the API answered it.
    pub async fn small_flight(&self, number: &str, economy_rows: i32, letters: &str) -> Value {
        for (iata, city, time_zone) in [
            ("AAA", "Alphaville", "Europe/Paris"),
            ("BBB", "Betaville", "America/New_York"),
        ] {
            let response = self
                .post(
                    "/api/airports",
                    &self.ops,
                    &json!({"iata": iata, "name": format!("{city} International"), "city": city,
                            "country": "FR", "timeZone": time_zone}),
                )
                .await;
            assert!(
                matches!(response.status().as_u16(), 201 | 409),
                "{}",
                response.status()
            );
        }
        let aircraft = self
            .post(
                "/api/aircraft",
                &self.ops,
                &json!({"model": format!("Test {number}"), "cabins": [
                    {"cabin": "business", "firstRow": 1, "lastRow": 1, "seatLetters": "AC"},
                    {"cabin": "economy", "firstRow": 3, "lastRow": 2 + economy_rows, "seatLetters": letters},
                ]}),
            )
            .await;
        assert_eq!(aircraft.status(), StatusCode::CREATED);
        let aircraft: Value = aircraft.json().await.unwrap();
        let departure = chrono::Utc::now() + chrono::Duration::days(1);
        let flight = self
            .post(
                "/api/flights",
                &self.ops,
                &json!({
                    "flightNumber": number, "airline": "Test Air", "origin": "AAA", "destination": "BBB",
                    "departureAt": departure.to_rfc3339(),
                    "arrivalAt": (departure + chrono::Duration::hours(8)).to_rfc3339(),
                    "aircraftTypeId": aircraft["id"],
                    "fares": {"economy": {"amount": "199.99", "currency": "USD"},
                              "business": {"amount": "899", "currency": "USD"}},
                }),
            )
            .await;
        assert_eq!(flight.status(), StatusCode::CREATED);
        flight.json().await.unwrap()
    }

    /// Events of `kind` in catalog's outbox.
    pub async fn outbox(&self, kind: &str) -> Vec<Value> {
        self.service.outbox(kind).await
    }

    /// Seats left in the economy cabin of the only flight from `from` to `to`, as search shows.
    pub async fn seats_left(&self, from: &str, to: &str) -> i64 {
        let found = self
            .read(&format!("/api/flights?from={from}&to={to}"))
            .await;
        assert_eq!(found["total"], 1, "{found}");
        found["items"][0]["seatsLeft"].as_i64().unwrap()
    }
}

/// `kind` (`booking.created`, `booking.cancelled`…) of booking `booking_id` on economy of
/// `flight`, reporting `seats_left` at inventory `version`, as booking's relay sends it.
pub fn booking_event(
    kind: &str,
    booking_id: i64,
    flight: &Value,
    seats_left: i32,
    version: i64,
) -> Message {
    let flight_id = flight["flightId"].as_i64().unwrap();
    let capacity = flight["cabins"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["cabin"] == "economy")
        .unwrap()["capacity"]
        .as_i64()
        .unwrap() as i32;
    let snapshot = BookingSnapshot {
        booking_id,
        reference: format!("REF{booking_id}"),
        user_id: 101,
        product: Product::Flight,
        trip_id: None,
        description: "economy, 1 passenger".into(),
        starts_at: flight["departureAt"].as_str().unwrap().parse().unwrap(),
        refundable_until: None,
        flight: Some(FlightBooking {
            flight_id,
            flight_code: flight["flightCode"].as_str().unwrap().into(),
            departure_at: flight["departureAt"].as_str().unwrap().parse().unwrap(),
            cabin: "economy".parse().unwrap(),
            seats: vec!["3A".into()],
            passengers: vec!["John".into()],
            inventory: InventorySnapshot {
                flight_id,
                cabin: "economy".parse().unwrap(),
                capacity,
                seats_left,
                version,
            },
        }),
        stay: None,
        rental: None,
        items: Vec::new(),
        price: MoneyAmount {
            amount_minor: 19_999,
            currency: "USD".into(),
        },
        status: "PENDING_PAYMENT".parse().unwrap(),
        payment_method: None,
        payment_card_id: None,
        previous_status: None,
        cancel_reason: None,
    };
    let key = booking_id.to_string();
    Message {
        topic: topics::BOOKINGS.into(),
        key: key.clone(),
        envelope: Envelope::new(
            "booking",
            kind,
            key,
            serde_json::to_value(snapshot).unwrap(),
        ),
    }
}
