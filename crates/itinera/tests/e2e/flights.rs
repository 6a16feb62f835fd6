//! The resource API: scheduling flights, search filters, bookings, and their error cases.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Platform, eventually, problem};

#[tokio::test]
async fn only_ops_and_admins_schedule_flights_and_bad_schedules_are_refused() {
    let platform = Platform::spawn().await;
    let admin = platform.admin().await;
    let flight = platform.small_flight(&admin, "TA100", 5, "ABC").await;
    assert_eq!(flight["cabins"][1]["capacity"], 15);
    assert_eq!(
        flight["cabins"][1]["fare"],
        json!({"amount": "199.99", "amountMinor": 19999, "currency": "USD"})
    );
    assert!(flight["flightCode"].as_str().unwrap().starts_with("TA100-"));

    let (_, customer) = platform.customer("johndoe").await;
    let body = json!({"model": "Nope", "cabins": [{"cabin": "economy", "firstRow": 1, "lastRow": 2, "seatLetters": "AB"}]});
    problem(
        platform.post_as("/api/aircraft", &customer, &body).await,
        StatusCode::FORBIDDEN,
    )
    .await;
    problem(
        platform
            .client
            .post(platform.url("/api/flights"))
            .json(&body)
            .send()
            .await
            .unwrap(),
        StatusCode::UNAUTHORIZED,
    )
    .await;

    let aircraft_id = sqlx::query_scalar::<_, i64>("SELECT aircraft_type_id FROM flights LIMIT 1")
        .fetch_one(&platform.catalog_db)
        .await
        .unwrap();
    let schedule = |changes: Value| {
        let mut body = json!({
            "flightNumber": "TA200", "airline": "Test Air", "origin": "AAA", "destination": "BBB",
            "departureAt": "2099-01-01T10:00:00+01:00", "arrivalAt": "2099-01-01T18:00:00-05:00",
            "aircraftTypeId": aircraft_id,
            "fares": {"economy": {"amount": "100", "currency": "USD"}, "business": {"amount": "300", "currency": "USD"}},
        });
        for (key, value) in changes.as_object().unwrap() {
            body[key] = value.clone();
        }
        platform.post_as("/api/flights", &admin, &body)
    };
    for (changes, mentions) in [
        (json!({"origin": "ZZZ"}), "ZZZ"),
        (json!({"destination": "AAA"}), "differ"),
        (json!({"departureAt": "2099-01-01 10:00"}), "departureAt"),
        (
            json!({"arrivalAt": "2099-01-01T08:00:00+01:00"}),
            "arrivalAt",
        ),
        (json!({"flightNumber": "T"}), "flight number"),
        (
            json!({"fares": {"economy": {"amount": "100", "currency": "USD"}}}),
            "business",
        ),
        (
            json!({"fares": {"economy": {"amount": "-1", "currency": "USD"}, "business": {"amount": "1", "currency": "USD"}}}),
            "amount",
        ),
        (
            json!({"fares": {"economy": {"amount": "1.001", "currency": "USD"}, "business": {"amount": "1", "currency": "USD"}}}),
            "decimals",
        ),
        (json!({"aircraftTypeId": 999_999}), "aircraft"),
    ] {
        let body = problem(schedule(changes.clone()).await, StatusCode::BAD_REQUEST).await;
        assert!(
            body["message"].as_str().unwrap().contains(mentions),
            "{changes}: {body}"
        );
    }
    assert_eq!(schedule(json!({})).await.status(), StatusCode::CREATED);
    problem(schedule(json!({})).await, StatusCode::CONFLICT).await;
}

#[tokio::test]
async fn search_filters_sorts_pages_and_refuses_malformed_queries() {
    let platform = Platform::spawn().await;
    let admin = platform.admin().await;
    let flight = platform.small_flight(&admin, "TA300", 3, "AB").await;
    let day = flight["departureLocal"].as_str().unwrap()[..10].to_owned();

    let search = |query: String| platform.get(&format!("/api/flights?{query}"));
    let found: Value = search(format!("from=alphaville&to=BBB&date={day}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(found["total"], 1);
    let item = &found["items"][0];
    assert_eq!(item["flightId"], flight["flightId"]);
    assert_eq!(item["seatsLeft"], 6);
    assert_eq!(item["fare"]["amount"], "199.99");

    let three: Value = search("from=AAA&to=BBB&passengers=3&cabin=economy&maxPrice=200".to_owned())
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(three["items"][0]["totalPrice"]["amount"], "599.97");
    let business: Value = search("from=AAA&to=BBB&cabin=business&sort=price".into())
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(business["items"][0]["fare"]["amount"], "899");
    for (query, total) in [
        ("from=AAA&to=BBB&passengers=7".to_owned(), 0),
        ("from=AAA&to=BBB&maxPrice=199.98".to_owned(), 0),
        ("from=AAA&to=BBB&airline=test%20air".to_owned(), 1),
        ("from=AAA&to=BBB&airline=Other".to_owned(), 0),
        ("from=BBB&to=AAA".to_owned(), 0),
        ("from=AAA&to=BBB&date=2099-01-01".to_owned(), 0),
    ] {
        let page: Value = search(query.clone()).await.json().await.unwrap();
        assert_eq!(page["total"], total, "{query}");
    }

    for (query, mentions) in [
        ("to=BBB", "from"),
        ("from=AAA&to=Nowhere", "Nowhere"),
        ("from=AAA&to=BBB&date=01/12/2026", "date"),
        ("from=AAA&to=BBB&date=2026-02-30", "date"),
        (
            "from=AAA&to=BBB&dateFrom=2026-12-10&dateTo=2026-12-01",
            "dateTo",
        ),
        (
            "from=AAA&to=BBB&dateFrom=2026-01-01&dateTo=2026-12-31",
            "31",
        ),
        ("from=AAA&to=BBB&passengers=-1", "passengers"),
        ("from=AAA&to=BBB&passengers=0", "passengers"),
        ("from=AAA&to=BBB&pageSize=100000", "pageSize"),
        ("from=AAA&to=BBB&page=0", "page"),
        ("from=AAA&to=BBB&cabin=cargo", "cabin"),
        ("from=AAA&to=BBB&sort=random", "sort"),
        ("from=AAA&to=BBB&maxPrice=cheap", "maxPrice"),
        ("from=AAA&to=BBB&colour=red", "colour"),
    ] {
        let body = problem(search(query.to_owned()).await, StatusCode::BAD_REQUEST).await;
        assert!(
            body["message"].as_str().unwrap().contains(mentions),
            "{query}: {body}"
        );
    }
}

#[tokio::test]
async fn bookings_take_specific_or_assigned_seats_and_only_owners_see_them() {
    let platform = Platform::spawn().await;
    let admin = platform.admin().await;
    let flight = platform.small_flight(&admin, "TA400", 2, "AB").await;
    let flight_id = flight["flightId"].clone();
    let (_, john) = platform.customer("johndoe").await;
    let (_, jane) = platform.customer("janedoe").await;

    let book = |token: &str, body: Value| platform.post_as("/api/bookings", token, &body);
    let response = book(&john, json!({"flightId": flight_id, "passengers": [{"name": "John Doe", "seat": "4b"}, {"name": "Ann Doe"}]})).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let booking: Value = response.json().await.unwrap();
    assert_eq!(booking["status"], "CONFIRMED");
    assert_eq!(
        booking["passengers"],
        json!([{"name": "John Doe", "seat": "4B"}, {"name": "Ann Doe", "seat": "3A"}])
    );
    assert_eq!(booking["price"]["amount"], "399.98");
    let id = booking["bookingId"].as_i64().unwrap();

    let taken = book(
        &jane,
        json!({"flightId": flight_id, "passengers": [{"name": "Jane", "seat": "4B"}]}),
    )
    .await;
    assert!(
        problem(taken, StatusCode::CONFLICT).await["message"]
            .as_str()
            .unwrap()
            .contains("4B")
    );
    for (body, status) in [
        (
            json!({"flightId": flight_id, "passengers": [{"name": "Jane", "seat": "9Z"}]}),
            StatusCode::BAD_REQUEST,
        ),
        (
            json!({"flightId": flight_id, "passengers": []}),
            StatusCode::BAD_REQUEST,
        ),
        (
            json!({"flightId": flight_id, "passengers": [{"name": ""}]}),
            StatusCode::BAD_REQUEST,
        ),
        (
            json!({"flightId": flight_id, "cabin": "first", "passengers": [{"name": "Jane"}]}),
            StatusCode::BAD_REQUEST,
        ),
        (
            json!({"flightId": flight_id, "passengers": [{"name": "A"}, {"name": "B"}, {"name": "C"}]}),
            StatusCode::CONFLICT,
        ),
        (
            json!({"flightId": 999_999, "passengers": [{"name": "Jane"}]}),
            StatusCode::NOT_FOUND,
        ),
        (
            json!({"passengers": [{"name": "Jane"}]}),
            StatusCode::BAD_REQUEST,
        ),
        (
            json!({"flightId": "seven", "passengers": [{"name": "Jane"}]}),
            StatusCode::BAD_REQUEST,
        ),
    ] {
        problem(book(&jane, body.clone()).await, status).await;
    }

    assert_eq!(
        platform
            .get_as(&format!("/api/bookings/{id}"), &john)
            .await
            .status(),
        StatusCode::OK
    );
    problem(
        platform.get_as(&format!("/api/bookings/{id}"), &jane).await,
        StatusCode::NOT_FOUND,
    )
    .await;
    assert_eq!(
        platform
            .get_as(&format!("/api/bookings/{id}"), &admin)
            .await
            .status(),
        StatusCode::OK
    );
    let mine: Value = platform
        .get_as("/api/bookings?pageSize=1", &john)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(mine["total"], 1);
    assert_eq!(mine["items"][0]["bookingId"], id);
    problem(
        platform.get_as("/api/bookings?pageSize=1000", &john).await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    problem(
        platform.get_as("/api/bookings?userId=1", &jane).await,
        StatusCode::FORBIDDEN,
    )
    .await;

    let cancel =
        |token: &str| platform.post_as(&format!("/api/bookings/{id}/cancel"), token, &json!({}));
    problem(cancel(&jane).await, StatusCode::NOT_FOUND).await;
    let cancelled: Value = cancel(&john).await.json().await.unwrap();
    assert_eq!(cancelled["status"], "CANCELLED");
    assert!(cancelled["cancelledAt"].is_string());
    // The seats are free again.
    let rebooked = book(
        &jane,
        json!({"flightId": flight_id, "passengers": [{"name": "Jane", "seat": "4B"}]}),
    )
    .await;
    assert_eq!(rebooked.status(), StatusCode::CREATED);
}

#[tokio::test]
async fn a_departed_flight_cannot_be_booked_or_cancelled() {
    let platform = Platform::spawn().await;
    let admin = platform.admin().await;
    let flight = platform.small_flight(&admin, "TA500", 2, "AB").await;
    let flight_id = flight["flightId"].as_i64().unwrap();
    let (_, john) = platform.customer("johndoe").await;
    let booking: Value = platform
        .post_as(
            "/api/bookings",
            &john,
            &json!({"flightId": flight_id, "passengers": [{"name": "John"}]}),
        )
        .await
        .json()
        .await
        .unwrap();

    let (_, customer) = platform.customer("janedoe").await;
    let patch = |token: &str, body: Value| {
        platform
            .client
            .patch(platform.url(&format!("/api/flights/{flight_id}")))
            .bearer_auth(token)
            .json(&body)
            .send()
    };
    problem(
        patch(&customer, json!({"status": "Departed"}))
            .await
            .unwrap(),
        StatusCode::FORBIDDEN,
    )
    .await;
    problem(
        patch(&admin, json!({"status": "Teleported"}))
            .await
            .unwrap(),
        StatusCode::BAD_REQUEST,
    )
    .await;
    let changed: Value = patch(&admin, json!({"status": "departed", "gate": "B12"}))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(changed["status"], "Departed");
    assert_eq!(changed["gate"], "B12");
    assert_eq!(changed["version"], 2);

    eventually("booking sees the flight departed", || async {
        sqlx::query_scalar::<_, String>("SELECT status FROM flights WHERE flight_id = $1")
            .bind(flight_id)
            .fetch_one(&platform.booking_db)
            .await
            .unwrap()
            == "Departed"
    })
    .await;
    let id = booking["bookingId"].as_i64().unwrap();
    let cancel = platform
        .post_as(&format!("/api/bookings/{id}/cancel"), &john, &json!({}))
        .await;
    problem(cancel, StatusCode::CONFLICT).await;
    let late = platform
        .post_as(
            "/api/bookings",
            &john,
            &json!({"flightId": flight_id, "passengers": [{"name": "Late"}]}),
        )
        .await;
    problem(late, StatusCode::CONFLICT).await;
    let published: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM outbox WHERE envelope->>'type' = 'flight.status-changed'",
    )
    .fetch_one(&platform.catalog_db)
    .await
    .unwrap();
    assert_eq!(published, 1);
}
