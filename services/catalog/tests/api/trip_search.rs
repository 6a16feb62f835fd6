//! `GET /api/search`: flights there and back, hotels and cars at the destination, in one answer
//! served from the shared cache until something it shows changes.

use contracts::events::types;
use contracts::states::BookingStatus;
use reqwest::StatusCode;
use serde_json::Value;

use crate::cars::rental_event;
use crate::helpers::Catalog;

fn day(offset: i64) -> String {
    (chrono::Utc::now().date_naive() + chrono::Duration::days(offset)).to_string()
}

async fn search(catalog: &Catalog, query: &str) -> (String, Value) {
    let response = catalog
        .service
        .api
        .get_anonymous(&format!("/api/search?{query}"))
        .await;
    assert_eq!(response.status(), StatusCode::OK, "{query}");
    let cache = response.headers()["x-cache"].to_str().unwrap().to_owned();
    (cache, response.json().await.unwrap())
}

#[tokio::test]
async fn one_search_finds_flights_both_ways_hotels_and_cars_and_a_booking_invalidates_it() {
    let catalog = Catalog::start(&[
        ("ITINERA_MODE", "demo"),
        ("SEED_DAYS", "5"),
        ("SEARCH_SHARED_CACHE_SECS", "60"),
    ])
    .await;
    let seeded = catalog.service.api.get_anonymous("/seed").await;
    assert_eq!(seeded.status(), StatusCode::CREATED);
    let query = format!(
        "from=CDG&to=LHR&departure={}&return={}&guests=2",
        day(1),
        day(3)
    );
    let (cache, first) = search(&catalog, &query).await;
    assert_eq!(cache, "miss");
    for part in ["outbound", "inbound", "hotels", "cars"] {
        assert!(
            !first[part].as_array().unwrap().is_empty(),
            "no {part}: {first}"
        );
    }
    assert!(
        first["outbound"]
            .as_array()
            .unwrap()
            .iter()
            .all(|f| f["origin"]["iata"] == "CDG" && f["destination"]["iata"] == "LHR"),
        "{}",
        first["outbound"]
    );
    assert!(
        first["inbound"]
            .as_array()
            .unwrap()
            .iter()
            .all(|f| f["origin"]["iata"] == "LHR")
    );
    assert!(
        first["cars"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["location_code"] == "LHR")
    );
    // Each hotel priced for the two nights.
    assert!(
        first["hotels"]
            .as_array()
            .unwrap()
            .iter()
            .all(|h| h.to_string().contains("\"nights\":2")),
        "{}",
        first["hotels"]
    );

    // Hotel and car search are served from the same cache.
    for path in [
        format!(
            "/api/listings/hotels/search?city=London&checkIn={}&checkOut={}",
            day(1),
            day(3)
        ),
        format!(
            "/api/listings/cars/search?location=LHR&startDate={}&endDate={}",
            day(1),
            day(3)
        ),
    ] {
        let first = catalog.service.api.get_anonymous(&path).await;
        assert_eq!(first.headers()["x-cache"], "miss", "{path}");
        let first: Value = first.json().await.unwrap();
        let again = catalog.service.api.get_anonymous(&path).await;
        assert_eq!(again.headers()["x-cache"], "hit", "{path}");
        assert_eq!(again.json::<Value>().await.unwrap(), first);
    }

    // Asked again: the same answer from the cache.
    let (cache, again) = search(&catalog, &query).await;
    assert_eq!(cache, "hit");
    assert_eq!(again, first);

    // A booking takes the cheapest car for those days: the cached answer is dropped at once, and
    // the car is no longer offered.
    let car = first["cars"][0].clone();
    catalog
        .service
        .publish(&[rental_event(
            types::BOOKING_CREATED,
            501,
            &car,
            (&day(2), &day(4)),
            BookingStatus::PendingPayment,
        )])
        .await;
    // The notice of the change reaches the cache just after the event's transaction commits.
    let mut dropped = false;
    for _ in 0..100 {
        if search(&catalog, &query).await.0 == "miss" {
            dropped = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(dropped, "the cached answer was never dropped");
    let (_, after) = search(&catalog, &query).await;
    assert!(
        after["cars"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["id"] != car["id"]),
        "the rented car is still offered: {}",
        after["cars"]
    );
}

#[tokio::test]
async fn a_one_way_search_has_no_stay_and_bad_searches_say_what_is_wrong() {
    let catalog = Catalog::start(&[("ITINERA_MODE", "demo"), ("SEED_DAYS", "2")]).await;
    catalog.service.api.get_anonymous("/seed").await;
    let (_, one_way) = search(&catalog, &format!("from=CDG&to=LHR&departure={}", day(1))).await;
    assert!(!one_way["outbound"].as_array().unwrap().is_empty());
    for part in ["inbound", "hotels", "cars"] {
        assert!(one_way[part].as_array().unwrap().is_empty(), "{part}");
    }
    for (query, says) in [
        ("to=LHR&departure=2030-01-01".to_owned(), "from"),
        (
            format!("from=CDG&to=LHR&departure={}&return={}", day(3), day(3)),
            "return",
        ),
        (
            format!("from=CDG&to=LHR&departure={}&return={}", day(1), day(40)),
            "return",
        ),
        ("from=CDG&to=LHR&departure=tomorrow".to_owned(), "departure"),
        (
            "from=CDG&to=LHR&departure=2020-01-01".to_owned(),
            "departure",
        ),
        (
            format!("from=CDG&to=LHR&departure={}&guests=10", day(1)),
            "guests",
        ),
        (
            format!("from=CDG&to=Atlantis&departure={}", day(1)),
            "Atlantis",
        ),
        (
            format!("from=CDG&to=LHR&departure={}&cabin=first", day(1)),
            "cabin",
        ),
    ] {
        let response = catalog
            .service
            .api
            .get_anonymous(&format!("/api/search?{query}"))
            .await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{query}");
        let problem: Value = response.json().await.unwrap();
        assert!(
            problem["message"].as_str().unwrap().contains(says),
            "{query}: {problem}"
        );
    }
}

/// The cache state of `path` (`hit` or `miss`) once the notice of any change made so far has had
/// time to arrive: a miss as soon as one is seen, a hit after half a second of hits.
async fn settled(catalog: &Catalog, path: &str) -> String {
    for _ in 0..25 {
        let response = catalog.service.api.get_anonymous(path).await;
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        if response.headers()["x-cache"] == "miss" {
            return "miss".into();
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    "hit".into()
}

#[tokio::test]
async fn holding_and_giving_back_rooms_and_cars_drop_cached_answers_and_a_confirmation_keeps_them()
{
    let catalog = Catalog::start(&[
        ("ITINERA_MODE", "demo"),
        ("SEED_DAYS", "5"),
        ("SEARCH_SHARED_CACHE_SECS", "60"),
    ])
    .await;
    let seeded = catalog.service.api.get_anonymous("/seed").await;
    assert_eq!(seeded.status(), StatusCode::CREATED);
    let hotels = format!(
        "/api/listings/hotels/search?city=London&checkIn={}&checkOut={}",
        day(1),
        day(3)
    );
    let cars = format!(
        "/api/listings/cars/search?location=LHR&startDate={}&endDate={}",
        day(1),
        day(3)
    );
    let found: Value = catalog
        .service
        .api
        .get_anonymous(&hotels)
        .await
        .json()
        .await
        .unwrap();
    let hotel = &found["items"][0];
    let stay = |kind: &str, status: &str| {
        crate::hotels::stay_event(
            kind,
            601,
            status,
            (
                hotel["id"].as_str().unwrap(),
                hotel["roomType"]["id"].as_str().unwrap(),
            ),
            (crate::hotels::day(1), crate::hotels::day(3)),
            1,
        )
    };
    let found: Value = catalog
        .service
        .api
        .get_anonymous(&cars)
        .await
        .json()
        .await
        .unwrap();
    let car = found["items"][0].clone();
    let rental = |kind: &str, status: BookingStatus| {
        rental_event(kind, 602, &car, (&day(1), &day(3)), status)
    };

    // Each step is one event, a stay's or a rental's; after it, both searches are asked until
    // the cache has settled (one change drops every answer), then again.
    let steps = [
        (
            types::BOOKING_CREATED,
            BookingStatus::PendingPayment,
            "miss",
        ),
        (types::BOOKING_CONFIRMED, BookingStatus::Confirmed, "hit"),
        (types::BOOKING_CANCELLED, BookingStatus::Cancelled, "miss"),
    ];
    for path in [&hotels, &cars] {
        catalog.service.api.get_anonymous(path).await;
        assert_eq!(settled(&catalog, path).await, "hit", "{path}");
    }
    for (kind, status, expected) in steps {
        for (product, event) in [
            ("stay", stay(kind, status.as_str())),
            ("rental", rental(kind, status)),
        ] {
            catalog.service.publish(&[event]).await;
            for path in [&hotels, &cars] {
                let seen = settled(&catalog, path).await;
                assert_eq!(seen, expected, "{product} {kind}: {path}");
            }
            for path in [&hotels, &cars] {
                assert_eq!(
                    settled(&catalog, path).await,
                    "hit",
                    "{product} {kind}: {path}"
                );
            }
        }
    }
}
