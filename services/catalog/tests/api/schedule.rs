//! Airports, aircraft and flights: created and changed by ops only, each flight change published
//! through the outbox.

use contracts::events::{FlightSnapshot, types};
use platform::testing::problem;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::Catalog;

#[tokio::test]
async fn ops_create_airports_aircraft_and_flights() {
    let catalog = Catalog::start(&[]).await;
    let flight = catalog.small_flight("TA100", 5, "AB").await;
    assert!(
        flight["flightCode"].as_str().unwrap().starts_with("TA100-"),
        "{flight}"
    );
    assert_eq!(flight["origin"]["iata"], "AAA");
    assert_eq!(flight["status"], "On Time");
    assert_eq!(flight["version"], 1);
    let economy = &flight["cabins"].as_array().unwrap()[1];
    assert_eq!(economy["cabin"], "economy");
    assert_eq!(
        (&economy["capacity"], &economy["seatsLeft"]),
        (&json!(10), &json!(10))
    );
    assert_eq!(
        economy["fare"],
        json!({"amount": "199.99", "amountMinor": 19999, "currency": "USD"})
    );

    let airports = catalog.read("/api/airports").await;
    let codes: Vec<&str> = airports
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["iata"].as_str().unwrap())
        .collect();
    assert_eq!(codes, ["AAA", "BBB"]);
    let aircraft = catalog.read("/api/aircraft").await;
    assert_eq!(aircraft[0]["model"], "Test TA100");
    let id = flight["flightId"].as_i64().unwrap();
    let read = catalog.read(&format!("/api/flights/{id}")).await;
    assert_eq!(read["flightCode"], flight["flightCode"]);
    assert_eq!(read["cabins"], flight["cabins"]);
    // The same flight again is refused.
    let again = catalog
        .post(
            "/api/flights",
            &catalog.ops,
            &json!({"flightNumber": "TA100", "airline": "Test Air", "origin": "AAA", "destination": "BBB",
                    "departureAt": flight["departureAt"], "arrivalAt": flight["arrivalAt"],
                    "aircraftTypeId": aircraft[0]["id"],
                    "fares": {"economy": {"amount": "1", "currency": "USD"}, "business": {"amount": "2", "currency": "USD"}}}),
        )
        .await;
    problem(again, StatusCode::CONFLICT).await;
}

#[tokio::test]
async fn customers_are_forbidden_and_requests_without_a_token_unauthenticated() {
    let catalog = Catalog::start(&[]).await;
    let flight = catalog.small_flight("TA200", 2, "AB").await;
    let id = flight["flightId"].as_i64().unwrap();
    let airport = json!({"iata": "CCC", "name": "Gammaville", "city": "Gammaville", "country": "FR", "timeZone": "Europe/Paris"});
    let aircraft = json!({"model": "Nope", "cabins": [{"cabin": "economy", "firstRow": 1, "lastRow": 2, "seatLetters": "AB"}]});
    let schedule = json!({"flightNumber": "TA201", "airline": "Test Air", "origin": "AAA", "destination": "BBB",
        "departureAt": "2099-01-01T10:00:00+01:00", "arrivalAt": "2099-01-01T18:00:00-05:00",
        "aircraftTypeId": 1, "fares": {"economy": {"amount": "1", "currency": "USD"}, "business": {"amount": "2", "currency": "USD"}}});
    let api = &catalog.service.api;
    for (path, body) in [
        ("/api/airports", &airport),
        ("/api/aircraft", &aircraft),
        ("/api/flights", &schedule),
    ] {
        let refused = problem(
            catalog.post(path, &catalog.customer, body).await,
            StatusCode::FORBIDDEN,
        )
        .await;
        assert!(
            refused["message"].as_str().unwrap().contains("ops"),
            "{path}: {refused}"
        );
        problem(api.post(path, body).await, StatusCode::UNAUTHORIZED).await;
    }
    problem(
        catalog
            .patch_flight(id, &catalog.customer, &json!({"status": "Cancelled"}))
            .await,
        StatusCode::FORBIDDEN,
    )
    .await;
    let expired = catalog
        .issuer
        .token_expiring_in(900, "ops", platform::auth::Role::Ops, -60);
    problem(
        catalog
            .patch_flight(id, &expired, &json!({"status": "Cancelled"}))
            .await,
        StatusCode::UNAUTHORIZED,
    )
    .await;

    let counts: (i64, i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM airports), (SELECT count(*) FROM aircraft_types), \
                (SELECT count(*) FROM flights)",
    )
    .fetch_one(&catalog.service.db)
    .await
    .unwrap();
    assert_eq!(counts, (2, 1, 1), "nothing refused was written");
    assert_eq!(
        catalog.read(&format!("/api/flights/{id}")).await["status"],
        "On Time"
    );
    assert_eq!(catalog.outbox(types::FLIGHT_STATUS_CHANGED).await.len(), 0);
}

fn snapshot(envelope: &Value) -> FlightSnapshot {
    serde_json::from_value(envelope["data"].clone()).unwrap()
}

#[tokio::test]
async fn every_flight_change_writes_its_event_to_the_outbox() {
    let catalog = Catalog::start(&[]).await;
    let flight = catalog.small_flight("TA300", 2, "AB").await;
    let id = flight["flightId"].as_i64().unwrap();

    let scheduled = catalog.outbox(types::FLIGHT_SCHEDULED).await;
    assert_eq!(scheduled.len(), 1);
    assert_eq!(scheduled[0]["subject"], id.to_string());
    assert_eq!(scheduled[0]["source"], "itinera/catalog");
    let first = snapshot(&scheduled[0]);
    assert_eq!(first.flight_id, id);
    assert_eq!(first.flight_code, flight["flightCode"].as_str().unwrap());
    assert_eq!(first.version, 1);
    assert_eq!(first.origin_time_zone, "Europe/Paris");
    let economy = first
        .cabins
        .iter()
        .find(|c| c.cabin.as_str() == "economy")
        .unwrap();
    assert_eq!(
        (
            economy.first_row,
            economy.last_row,
            economy.seat_letters.as_str()
        ),
        (3, 4, "AB")
    );
    assert_eq!(economy.capacity, 4);
    assert_eq!(economy.fare.amount_minor, 19_999);

    let changed = catalog
        .patch_flight(
            id,
            &catalog.ops,
            &json!({"status": "delayed", "gate": "B12"}),
        )
        .await;
    assert_eq!(changed.status(), StatusCode::OK);
    let status = catalog.outbox(types::FLIGHT_STATUS_CHANGED).await;
    assert_eq!(status.len(), 1);
    let second = snapshot(&status[0]);
    assert_eq!(
        (
            second.status.as_str(),
            second.gate.as_deref(),
            second.version
        ),
        ("Delayed", Some("B12"), 2)
    );

    let repriced = catalog
        .patch_flight(
            id,
            &catalog.ops,
            &json!({"fares": {"economy": {"amount": "149.50", "currency": "USD"}}}),
        )
        .await;
    assert_eq!(repriced.status(), StatusCode::OK);
    let updated = catalog.outbox(types::FLIGHT_UPDATED).await;
    assert_eq!(updated.len(), 1);
    let third = snapshot(&updated[0]);
    assert!(third.version > second.version);
    let economy = third
        .cabins
        .iter()
        .find(|c| c.cabin.as_str() == "economy")
        .unwrap();
    assert_eq!(economy.fare.amount_minor, 14_950);

    // A change that changes nothing publishes nothing.
    let same = catalog
        .patch_flight(id, &catalog.ops, &json!({"status": "Delayed"}))
        .await;
    assert_eq!(same.status(), StatusCode::OK);
    let (events, topics): (i64, Vec<String>) =
        sqlx::query_as("SELECT count(*), array_agg(DISTINCT topic) FROM outbox")
            .fetch_one(&catalog.service.db)
            .await
            .unwrap();
    assert_eq!(events, 3);
    assert_eq!(topics, [contracts::events::topics::FLIGHTS]);
}
