//! Seed 002's flight API through the gateway, exactly as documented, and its error cases.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Platform, eventually, problem};

#[tokio::test]
async fn seed_search_book_list_and_cancel() {
    let platform = Platform::spawn().await;

    let seeded = platform.get("/seed").await;
    assert_eq!(seeded.status(), StatusCode::CREATED);
    assert_eq!(
        seeded.json::<Value>().await.unwrap(),
        json!({"message": "Default flight data added."})
    );
    let again = platform.get("/seed").await;
    assert_eq!(again.status(), StatusCode::OK);
    let airports: i64 = sqlx::query_scalar("SELECT count(*) FROM airports")
        .fetch_one(&platform.catalog_db)
        .await
        .unwrap();
    assert!(airports >= 50);

    // Search by city name, any case, and by IATA code.
    let response = platform
        .get("/api/flight/search-flights?from=paris&to=LHR")
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let flights = response.json::<Value>().await.unwrap()["flights"]
        .as_array()
        .unwrap()
        .clone();
    assert!(!flights.is_empty());
    let flight = &flights[0];
    for field in ["flightCode", "airline", "departure", "arrival", "status"] {
        assert!(flight[field].is_string(), "{field} in {flight}");
    }
    assert!(flight["price"].is_number());
    assert_eq!(flight["status"], "On Time");
    let departure = flight["departure"].as_str().unwrap();
    assert_eq!(departure.len(), "2024-10-01 10:00".len(), "{departure}");
    let code = flight["flightCode"].as_str().unwrap().to_owned();

    let none = platform
        .get("/api/flight/search-flights?from=Atlantis&to=London")
        .await;
    assert_eq!(
        problem(none, StatusCode::NOT_FOUND).await["message"],
        "No flights found"
    );
    problem(
        platform.get("/api/flight/search-flights?from=Paris").await,
        StatusCode::BAD_REQUEST,
    )
    .await;

    // Book: 201 with the seed's fields, once booking has the flight.
    let (user_id, token) = platform.customer("johndoe").await;
    let book = json!({"flightId": code, "paymentMethod": "credit_card"});
    let flight_id: i64 = sqlx::query_scalar("SELECT id FROM flights WHERE flight_code = $1")
        .bind(&code)
        .fetch_one(&platform.catalog_db)
        .await
        .unwrap();
    platform.wait_until_bookable(flight_id).await;
    let response = platform
        .post_as("/api/flight/book-flight", &token, &book)
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let booked: Value = response.json().await.unwrap();
    assert_eq!(booked["message"], "Flight booked successfully");
    assert_eq!(booked["flightId"], code.as_str());
    assert_eq!(booked["price"], flight["price"]);
    assert_eq!(booked["status"], "Confirmed");
    let booking_id = booked["bookingId"].as_i64().expect("integer booking id");

    let missing = platform
        .post_as(
            "/api/flight/book-flight",
            &token,
            &json!({"flightId": "XX999-20990101"}),
        )
        .await;
    assert_eq!(
        problem(missing, StatusCode::NOT_FOUND).await["message"],
        "Flight not found"
    );
    let cash = platform
        .post_as(
            "/api/flight/book-flight",
            &token,
            &json!({"flightId": code, "paymentMethod": "cash"}),
        )
        .await;
    problem(cash, StatusCode::BAD_REQUEST).await;
    let anonymous = platform
        .client
        .post(platform.url("/api/flight/book-flight"))
        .json(&book)
        .send()
        .await
        .unwrap();
    problem(anonymous, StatusCode::UNAUTHORIZED).await;

    // List: the caller's own bookings only.
    let listed: Value = platform
        .get_as(&format!("/api/flight/bookings/{user_id}"), &token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed["userId"], user_id);
    let entry = &listed["bookings"][0];
    assert_eq!(entry["bookingId"], booking_id);
    assert_eq!(entry["flightCode"], code.as_str());
    assert_eq!(entry["bookingStatus"], "Confirmed");
    assert_eq!(entry["departure"], departure);
    assert_eq!(entry["flightStatus"], "On Time");

    let (other_id, other) = platform.customer("janedoe").await;
    problem(
        platform
            .get_as(&format!("/api/flight/bookings/{user_id}"), &other)
            .await,
        StatusCode::FORBIDDEN,
    )
    .await;
    let empty = platform
        .get_as(&format!("/api/flight/bookings/{other_id}"), &other)
        .await;
    assert_eq!(
        problem(empty, StatusCode::NOT_FOUND).await["message"],
        "No bookings found for this user"
    );
    let admin = platform.admin().await;
    assert_eq!(
        platform
            .get_as(&format!("/api/flight/bookings/{user_id}"), &admin)
            .await
            .status(),
        StatusCode::OK
    );

    // Cancel: someone else's booking does not exist for them; the owner's is cancelled once.
    let cancel = |token: &str, id: i64| {
        platform
            .client
            .delete(platform.url(&format!("/api/flight/cancel-booking/{id}")))
            .bearer_auth(token)
            .send()
    };
    let theirs = cancel(&other, booking_id).await.unwrap();
    assert_eq!(
        problem(theirs, StatusCode::NOT_FOUND).await["message"],
        "Booking not found"
    );
    for _ in 0..2 {
        let response = cancel(&token, booking_id).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(
            response.json::<Value>().await.unwrap(),
            json!({"message": "Booking canceled successfully"})
        );
    }
    let unknown = cancel(&token, 987_654).await.unwrap();
    assert_eq!(
        problem(unknown, StatusCode::NOT_FOUND).await["message"],
        "Booking not found"
    );
    problem(cancel(&token, 0).await.unwrap(), StatusCode::NOT_FOUND).await;
    let not_a_number = platform
        .client
        .delete(platform.url("/api/flight/cancel-booking/abc"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    problem(not_a_number, StatusCode::BAD_REQUEST).await;

    let listed: Value = platform
        .get_as(&format!("/api/flight/bookings/{user_id}"), &token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed["bookings"][0]["bookingStatus"], "Cancelled");

    // The search read model follows: the seat is taken, then given back.
    eventually("search shows the seat given back", || async {
        let left: i32 = sqlx::query_scalar(
            "SELECT seats_left FROM flight_cabins WHERE flight_id = $1 AND cabin = 'economy'",
        )
        .bind(flight_id)
        .fetch_one(&platform.catalog_db)
        .await
        .unwrap();
        let capacity: i32 = sqlx::query_scalar(
            "SELECT capacity FROM flight_cabins WHERE flight_id = $1 AND cabin = 'economy'",
        )
        .bind(flight_id)
        .fetch_one(&platform.catalog_db)
        .await
        .unwrap();
        left == capacity
    })
    .await;
}
