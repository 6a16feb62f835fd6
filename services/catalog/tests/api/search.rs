//! Flight search by city and IATA code, and the seats left it shows, kept from booking's events.

use contracts::events::types;
use platform::testing::problem;
use reqwest::StatusCode;

use crate::helpers::{Catalog, booking_event};

#[tokio::test]
async fn search_by_city_or_iata_code_finds_the_created_flight() {
    let catalog = Catalog::start(&[]).await;
    let flight = catalog.small_flight("TA400", 2, "AB").await;

    for (from, to) in [
        ("AAA", "BBB"),
        ("alphaville", "Betaville"),
        ("Alphaville", "bbb"),
    ] {
        let found = catalog
            .read(&format!("/api/flights?from={from}&to={to}"))
            .await;
        assert_eq!(found["total"], 1, "{from} → {to}: {found}");
        let item = &found["items"][0];
        assert_eq!(item["flightId"], flight["flightId"]);
        assert_eq!(item["origin"]["city"], "Alphaville");
        assert_eq!(item["destination"]["iata"], "BBB");
        assert_eq!(item["fare"]["amount"], "199.99");
        assert_eq!(item["seatsLeft"], 4);
    }
    let business = catalog
        .read("/api/flights?from=AAA&to=BBB&cabin=business&passengers=2")
        .await;
    assert_eq!(business["items"][0]["totalPrice"]["amount"], "1798");
    let too_many = catalog
        .read("/api/flights?from=AAA&to=BBB&cabin=business&passengers=3")
        .await;
    assert_eq!(too_many["total"], 0);
    let reverse = catalog.read("/api/flights?from=BBB&to=AAA").await;
    assert_eq!(reverse["total"], 0);

    let seed = catalog
        .read("/api/flight/search-flights?from=Alphaville&to=Betaville")
        .await;
    assert_eq!(seed["flights"][0]["flightCode"], flight["flightCode"]);
    assert_eq!(seed["flights"][0]["seatsLeft"], 4);

    let unknown = problem(
        catalog
            .service
            .api
            .get_anonymous("/api/flights?from=AAA&to=Nowhere")
            .await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert!(
        unknown["message"].as_str().unwrap().contains("Nowhere"),
        "{unknown}"
    );
}

#[tokio::test]
async fn booking_events_change_the_seats_left_that_search_shows() {
    let catalog = Catalog::start(&[]).await;
    let flight = catalog.small_flight("TA500", 5, "AB").await;
    assert_eq!(catalog.seats_left("AAA", "BBB").await, 10);

    let created = booking_event(types::BOOKING_CREATED, 1, &flight, 8, 2);
    catalog
        .service
        .publish(std::slice::from_ref(&created))
        .await;
    assert_eq!(catalog.seats_left("AAA", "BBB").await, 8);

    catalog
        .service
        .publish(&[booking_event(types::BOOKING_CANCELLED, 1, &flight, 9, 3)])
        .await;
    assert_eq!(catalog.seats_left("AAA", "BBB").await, 9);

    // An older report arriving late, and the same event delivered again, change nothing.
    catalog
        .service
        .publish(&[booking_event(types::BOOKING_CREATED, 2, &flight, 7, 1)])
        .await;
    catalog.service.publish(&[created.clone(), created]).await;
    assert_eq!(catalog.seats_left("AAA", "BBB").await, 9);
    // A confirmation changes no seats.
    catalog
        .service
        .publish(&[booking_event(types::BOOKING_CONFIRMED, 1, &flight, 0, 9)])
        .await;
    assert_eq!(catalog.seats_left("AAA", "BBB").await, 9);

    catalog
        .service
        .publish(&[booking_event(types::BOOKING_EXPIRED, 3, &flight, 1, 10)])
        .await;
    assert_eq!(catalog.seats_left("AAA", "BBB").await, 1);
    let id = flight["flightId"].as_i64().unwrap();
    let detail = catalog.read(&format!("/api/flights/{id}")).await;
    let economy = detail["cabins"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["cabin"] == "economy")
        .unwrap()
        .clone();
    assert_eq!(
        (&economy["seatsLeft"], &economy["capacity"]),
        (&1.into(), &10.into())
    );
    let two = catalog
        .read("/api/flights?from=AAA&to=BBB&passengers=2")
        .await;
    assert_eq!(
        two["total"], 0,
        "a flight without enough seats is not offered"
    );
}
