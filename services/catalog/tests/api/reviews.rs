//! Reviews of hotels: only a guest with a completed stay writes one, once; the hotel shows the
//! summary.

use contracts::events::types;
use platform::testing::problem;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::Catalog;
use crate::hotels::{airports, day, hotel_body, stay_event};

fn review(rating: i64) -> Value {
    json!({"rating": rating, "title": "Lovely stay", "text": "Quiet room, friendly staff."})
}

#[tokio::test]
async fn only_guests_with_a_completed_stay_review_a_hotel_once() {
    let catalog = Catalog::start(&[]).await;
    airports(&catalog).await;
    let hotel = catalog
        .add_hotel(&hotel_body("Grand", 4, &[], 100, (48.86, 2.34)))
        .await;
    let hotel_id = hotel["id"].as_str().unwrap();
    let room_type = hotel["roomTypes"][0]["id"].as_str().unwrap();
    let path = format!("/api/listings/hotels/{hotel_id}/reviews");

    problem(
        catalog.service.api.post(&path, &review(5)).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    let never = problem(
        catalog.post(&path, &catalog.customer, &review(5)).await,
        StatusCode::FORBIDDEN,
    )
    .await;
    assert!(
        never["message"].as_str().unwrap().contains("stayed"),
        "{never}"
    );

    // A stay that is confirmed but not over yet, and a past one that was cancelled, do not count.
    catalog
        .service
        .publish(&[
            stay_event(
                types::BOOKING_CONFIRMED,
                1,
                "CONFIRMED",
                (hotel_id, room_type),
                (day(-1), day(2)),
                1,
            ),
            stay_event(
                types::BOOKING_CANCELLED,
                2,
                "CANCELLED",
                (hotel_id, room_type),
                (day(-9), day(-7)),
                1,
            ),
            stay_event(
                types::BOOKING_CREATED,
                3,
                "PENDING_PAYMENT",
                (hotel_id, room_type),
                (day(-6), day(-4)),
                1,
            ),
        ])
        .await;
    problem(
        catalog.post(&path, &catalog.customer, &review(5)).await,
        StatusCode::FORBIDDEN,
    )
    .await;

    // Confirmed and checked out: the guest may review, once.
    catalog
        .service
        .publish(&[stay_event(
            types::BOOKING_CONFIRMED,
            3,
            "CONFIRMED",
            (hotel_id, room_type),
            (day(-6), day(-4)),
            1,
        )])
        .await;
    for (body, expected) in [
        (json!({"rating": 6, "title": "t", "text": "x"}), "rating"),
        (json!({"rating": 0, "title": "t", "text": "x"}), "rating"),
        (json!({"rating": 4, "title": "", "text": "x"}), "title"),
        (
            json!({"rating": 4, "title": "t", "text": "x".repeat(4_001)}),
            "text",
        ),
    ] {
        let refused = problem(
            catalog.post(&path, &catalog.customer, &body).await,
            StatusCode::BAD_REQUEST,
        )
        .await;
        assert!(
            refused["message"].as_str().unwrap().contains(expected),
            "{refused}"
        );
    }
    let response = catalog.post(&path, &catalog.customer, &review(4)).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let written: Value = response.json().await.unwrap();
    assert_eq!(written["rating"], 4);
    assert_eq!(written["author"], "john");
    assert_eq!(written["from"], day(-6).to_string());
    assert_eq!(written["until"], day(-4).to_string());
    let again = problem(
        catalog.post(&path, &catalog.customer, &review(1)).await,
        StatusCode::CONFLICT,
    )
    .await;
    assert!(
        again["message"]
            .as_str()
            .unwrap()
            .contains("already reviewed"),
        "{again}"
    );

    // A second guest's review moves the average (4 and 5 make 4.5).
    let jane = catalog.issuer.customer(102, "jane");
    let mut stay = stay_event(
        types::BOOKING_CONFIRMED,
        4,
        "CONFIRMED",
        (hotel_id, room_type),
        (day(-3), day(0)),
        1,
    );
    stay.envelope.data["userId"] = json!(102);
    catalog.service.publish(&[stay]).await;
    assert_eq!(
        catalog.post(&path, &jane, &review(5)).await.status(),
        StatusCode::CREATED
    );

    let shown = catalog
        .read(&format!("/api/listings/hotels/{hotel_id}"))
        .await;
    assert_eq!(shown["rating"], 4.5);
    assert_eq!(shown["reviewCount"], 2);
    let found = catalog
        .find_hotels(&format!(
            "city=Alphaville&checkIn={}&checkOut={}",
            day(5),
            day(6)
        ))
        .await;
    assert_eq!(found["items"][0]["rating"], 4.5);
    assert_eq!(found["items"][0]["reviewCount"], 2);
    let listed = catalog.read(&format!("{path}?pageSize=1")).await;
    assert_eq!(
        (listed["total"].as_i64(), listed["reviewCount"].as_i64()),
        (Some(2), Some(2))
    );
    assert_eq!(listed["rating"], 4.5);
    assert_eq!(listed["items"].as_array().unwrap().len(), 1);
    assert_eq!(listed["items"][0]["author"], "jane", "newest first");
    assert_eq!(
        catalog.read(&format!("{path}?page=2&pageSize=1")).await["items"][0]["author"],
        "john"
    );

    problem(
        catalog
            .service
            .api
            .get_anonymous(&format!(
                "/api/listings/hotels/{}/reviews",
                uuid::Uuid::nil()
            ))
            .await,
        StatusCode::NOT_FOUND,
    )
    .await;
    problem(
        catalog
            .service
            .api
            .get_anonymous(&format!("{path}?pageSize=0"))
            .await,
        StatusCode::BAD_REQUEST,
    )
    .await;
}
