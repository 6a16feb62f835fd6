//! Hotels: ops list, replace and delete them (each change published), anyone searches them for
//! dates, and the stays booking reports take rooms out of search.

use chrono::{Duration, NaiveDate, Utc};
use contracts::events::{BookingSnapshot, MoneyAmount, StaySnapshot, topics, types};
use contracts::listings::ListingSnapshot;
use contracts::states::Product;
use platform::events::{Envelope, Message};
use platform::testing::problem;
use reqwest::StatusCode;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::Catalog;

/// Alphaville (`AAA`, Paris time) and Betaville (`BBB`), as ops add them.
pub async fn airports(catalog: &Catalog) {
    for (iata, city, time_zone, lat, lng) in [
        ("AAA", "Alphaville", "Europe/Paris", 48.85, 2.35),
        ("BBB", "Betaville", "America/New_York", 40.7, -74.0),
    ] {
        let response = catalog
            .post(
                "/api/airports",
                &catalog.ops,
                &json!({"iata": iata, "name": format!("{city} International"), "city": city,
                        "country": "FR", "timeZone": time_zone, "latitude": lat, "longitude": lng}),
            )
            .await;
        assert_eq!(response.status(), StatusCode::CREATED);
    }
}

/// A hotel in Alphaville with a double room type (5 rooms, a flexible plan at `weekday` USD and
/// a saver plan 10% below) and a family room type (2 rooms for 4 guests, dearer).
pub fn hotel_body(
    name: &str,
    stars: i64,
    amenities: &[&str],
    weekday: i64,
    at: (f64, f64),
) -> Value {
    json!({
        "name": name, "city": "Alphaville", "address": format!("1 {name} Street"),
        "latitude": at.0, "longitude": at.1, "airportCode": "AAA", "stars": stars,
        "amenities": amenities,
        "photos": [{"url": "https://img.example.com/front.jpg", "caption": "The front"}],
        "description": "A test hotel.", "checkInTime": "15:00", "currency": "USD",
        "taxBasisPoints": 1000, "feePerNight": "2.50",
        "roomTypes": [
            {"name": "Double", "capacity": 2, "beds": "1 queen", "rooms": 5, "ratePlans": [
                {"name": "Flexible", "refundable": true, "freeCancellationHours": 48,
                 "weekdayPrice": weekday.to_string(), "weekendPrice": (weekday + 30).to_string()},
                {"name": "Saver", "refundable": false,
                 "weekdayPrice": (weekday * 9 / 10).to_string(), "weekendPrice": ((weekday + 30) * 9 / 10).to_string()},
            ]},
            {"name": "Family", "capacity": 4, "beds": "2 queens", "rooms": 2, "ratePlans": [
                {"name": "Flexible", "refundable": true, "freeCancellationHours": 24,
                 "weekdayPrice": (weekday * 2).to_string(), "weekendPrice": (weekday * 2 + 50).to_string()},
            ]},
        ],
    })
}

impl Catalog {
    /// `POST /api/listings/hotels` as ops, answered 201; the hotel.
    pub async fn add_hotel(&self, body: &Value) -> Value {
        let response = self.post("/api/listings/hotels", &self.ops, body).await;
        assert_eq!(response.status(), StatusCode::CREATED);
        response.json().await.unwrap()
    }

    /// `PUT` or `DELETE` with a token (and a body for `PUT`).
    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> reqwest::Response {
        let api = &self.service.api;
        let mut request = api.client.request(method, api.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        request.send().await.unwrap()
    }

    /// A search for `query`, answered 200.
    pub async fn find_hotels(&self, query: &str) -> Value {
        self.read(&format!("/api/listings/hotels/search?{query}"))
            .await
    }

    /// The hotel `listing.created` published.
    pub async fn published_hotel(&self, kind: &str, id: &str) -> Vec<ListingSnapshot> {
        self.outbox(kind)
            .await
            .into_iter()
            .filter(|e| e["subject"] == id)
            .map(|e| serde_json::from_value(e["data"].clone()).unwrap())
            .collect()
    }
}

/// Today plus `days`.
pub fn day(days: i64) -> NaiveDate {
    Utc::now().date_naive() + Duration::days(days)
}

/// Booking's `kind` event for a stay of `rooms` rooms of `room_type` at `hotel`, by user 101.
pub fn stay_event(
    kind: &str,
    booking_id: i64,
    status: &str,
    (hotel, room_type): (&str, &str),
    (check_in, check_out): (NaiveDate, NaiveDate),
    rooms: i32,
) -> Message {
    let snapshot = BookingSnapshot {
        booking_id,
        reference: format!("REF{booking_id}"),
        user_id: 101,
        product: Product::Hotel,
        trip_id: None,
        description: format!("{rooms} room(s)"),
        starts_at: check_in.and_hms_opt(14, 0, 0).unwrap().and_utc(),
        refundable_until: None,
        flight: None,
        stay: Some(StaySnapshot {
            hotel_id: hotel.parse().unwrap(),
            hotel_name: "Hotel".into(),
            city: "Alphaville".into(),
            room_type_id: room_type.parse().unwrap(),
            room_type_name: "Room".into(),
            rate_plan_id: Uuid::nil(),
            check_in,
            check_out,
            rooms,
            guests: rooms,
        }),
        rental: None,
        items: Vec::new(),
        price: MoneyAmount {
            amount_minor: 10_000,
            currency: "USD".into(),
        },
        status: status.parse().unwrap(),
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

fn ids(hotel: &Value) -> Vec<String> {
    hotel["roomTypes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn ops_add_replace_and_delete_hotels_and_every_change_is_published() {
    let catalog = Catalog::start(&[]).await;
    airports(&catalog).await;
    let hotel = catalog
        .add_hotel(&hotel_body(
            "Grand",
            4,
            &["wifi", "Pool"],
            100,
            (48.86, 2.34),
        ))
        .await;
    let id = hotel["id"].as_str().unwrap().to_owned();
    assert_eq!(hotel["name"], "Grand");
    assert_eq!(hotel["airportCode"], "AAA");
    assert_eq!(hotel["timeZone"], "Europe/Paris");
    assert_eq!(hotel["stars"], 4);
    assert_eq!(hotel["amenities"], json!(["wifi", "pool"]));
    assert_eq!(hotel["photos"][0]["caption"], "The front");
    assert_eq!(hotel["checkInTime"], "15:00");
    assert_eq!(hotel["taxBasisPoints"], 1000);
    assert_eq!(
        hotel["feePerNight"],
        json!({"amount": "2.5", "amountMinor": 250, "currency": "USD"})
    );
    assert_eq!(hotel["rating"], Value::Null);
    assert_eq!(hotel["reviewCount"], 0);
    assert_eq!(hotel["version"], 1);
    let double = &hotel["roomTypes"][0];
    assert_eq!(
        (
            double["name"].as_str(),
            double["capacity"].as_i64(),
            double["rooms"].as_i64()
        ),
        (Some("Double"), Some(2), Some(5))
    );
    assert_eq!(
        double["ratePlans"][0]["weekdayPrice"]["amountMinor"],
        10_000
    );
    assert_eq!(double["ratePlans"][0]["weekendPrice"]["amount"], "130");
    assert_eq!(double["ratePlans"][1]["refundable"], false);
    assert_eq!(
        catalog.read(&format!("/api/listings/hotels/{id}")).await,
        hotel
    );
    let listed = catalog
        .read("/api/listings/hotels?page=1&pageSize=10")
        .await;
    assert_eq!(
        (listed["total"].as_i64(), listed["pageSize"].as_i64()),
        (Some(1), Some(10))
    );
    assert_eq!(listed["items"][0]["id"], id);

    let created = catalog.published_hotel(types::LISTING_CREATED, &id).await;
    assert_eq!(created.len(), 1);
    let listing = created[0].hotel.as_ref().unwrap();
    assert_eq!(created[0].product, Product::Hotel);
    assert_eq!(created[0].version, 1);
    assert_eq!(listing.time_zone, "Europe/Paris");
    assert_eq!(listing.fee_per_night_minor, 250);
    assert_eq!(listing.room_types.len(), 2);
    assert_eq!(listing.room_types[0].rate_plans[1].weekday_minor, 9_000);

    // PUT replaces the hotel: the double keeps its id (and its flexible plan), the family room
    // type is left out, a suite is new.
    let [double_id, family_id] = <[String; 2]>::try_from(ids(&hotel)).unwrap();
    let mut body = hotel_body("Grand Palace", 5, &["spa"], 120, (48.86, 2.34));
    body["roomTypes"][0]["id"] = json!(double_id);
    body["roomTypes"][0]["ratePlans"][0]["id"] =
        hotel["roomTypes"][0]["ratePlans"][0]["id"].clone();
    body["roomTypes"][1]["name"] = json!("Suite");
    // What GET shows can be sent back: money as {"amount", "currency"}.
    body["feePerNight"] = hotel["feePerNight"].clone();
    let response = catalog
        .send(
            reqwest::Method::PUT,
            &format!("/api/listings/hotels/{id}"),
            Some(&catalog.ops),
            Some(&body),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let replaced: Value = response.json().await.unwrap();
    let replaced_ids = ids(&replaced);
    assert_eq!(replaced_ids[0], double_id);
    assert_ne!(replaced_ids[1], family_id);
    assert_eq!(replaced["roomTypes"][1]["name"], "Suite");
    assert_eq!(
        replaced["roomTypes"][0]["ratePlans"][0]["id"],
        hotel["roomTypes"][0]["ratePlans"][0]["id"]
    );
    assert_ne!(
        replaced["roomTypes"][0]["ratePlans"][1]["id"],
        hotel["roomTypes"][0]["ratePlans"][1]["id"]
    );
    assert_eq!(
        (
            replaced["name"].as_str(),
            replaced["stars"].as_i64(),
            replaced["version"].as_i64()
        ),
        (Some("Grand Palace"), Some(5), Some(2))
    );
    assert_eq!(replaced["feePerNight"]["amountMinor"], 250);
    let updated = catalog.published_hotel(types::LISTING_UPDATED, &id).await;
    assert_eq!(updated.len(), 1);
    assert_eq!(updated[0].version, 2);
    let room_types: Vec<String> = updated[0]
        .hotel
        .as_ref()
        .unwrap()
        .room_types
        .iter()
        .map(|r| r.room_type_id.to_string())
        .collect();
    assert_eq!(
        room_types, replaced_ids,
        "the family room type is gone from the snapshot"
    );

    // A room type id of another hotel is refused.
    let other = catalog
        .add_hotel(&hotel_body("Other", 3, &[], 90, (48.8, 2.3)))
        .await;
    let mut foreign = body.clone();
    foreign["roomTypes"][1]["id"] = other["roomTypes"][0]["id"].clone();
    let refused = problem(
        catalog
            .send(
                reqwest::Method::PUT,
                &format!("/api/listings/hotels/{id}"),
                Some(&catalog.ops),
                Some(&foreign),
            )
            .await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert!(
        refused["message"]
            .as_str()
            .unwrap()
            .contains("roomTypes[1].id"),
        "{refused}"
    );

    let response = catalog
        .send(
            reqwest::Method::DELETE,
            &format!("/api/listings/hotels/{id}"),
            Some(&catalog.ops),
            None,
        )
        .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let deleted = catalog.published_hotel(types::LISTING_DELETED, &id).await;
    assert_eq!(deleted.len(), 1);
    assert_eq!(deleted[0].version, 3);
    assert_eq!(deleted[0].hotel.as_ref().unwrap().name, "Grand Palace");
    problem(
        catalog
            .service
            .api
            .get_anonymous(&format!("/api/listings/hotels/{id}"))
            .await,
        StatusCode::NOT_FOUND,
    )
    .await;
    for (method, body) in [
        (reqwest::Method::PUT, Some(&body)),
        (reqwest::Method::DELETE, None),
    ] {
        problem(
            catalog
                .send(
                    method,
                    &format!("/api/listings/hotels/{id}"),
                    Some(&catalog.ops),
                    body,
                )
                .await,
            StatusCode::NOT_FOUND,
        )
        .await;
    }
    let listed = catalog.read("/api/listings/hotels").await;
    assert_eq!(listed["total"], 1, "only the other hotel is left: {listed}");
    let found = catalog
        .find_hotels(&format!(
            "city=Alphaville&checkIn={}&checkOut={}",
            day(10),
            day(11)
        ))
        .await;
    assert_eq!(found["total"], 1);
    assert_eq!(found["items"][0]["name"], "Other");
}

#[tokio::test]
async fn only_ops_and_admins_write_hotels() {
    let catalog = Catalog::start(&[]).await;
    airports(&catalog).await;
    let body = hotel_body("Grand", 4, &[], 100, (48.86, 2.34));
    let hotel = catalog.add_hotel(&body).await;
    let path = format!("/api/listings/hotels/{}", hotel["id"].as_str().unwrap());
    let admin = catalog.issuer.token(1, "root", platform::auth::Role::Admin);
    assert_eq!(
        catalog
            .post("/api/listings/hotels", &admin, &body)
            .await
            .status(),
        StatusCode::CREATED
    );

    problem(
        catalog
            .service
            .api
            .post("/api/listings/hotels", &body)
            .await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    let refused = problem(
        catalog
            .post("/api/listings/hotels", &catalog.customer, &body)
            .await,
        StatusCode::FORBIDDEN,
    )
    .await;
    assert!(
        refused["message"].as_str().unwrap().contains("ops"),
        "{refused}"
    );
    for (method, payload) in [
        (reqwest::Method::PUT, Some(&body)),
        (reqwest::Method::DELETE, None),
    ] {
        problem(
            catalog.send(method.clone(), &path, None, payload).await,
            StatusCode::UNAUTHORIZED,
        )
        .await;
        problem(
            catalog
                .send(method, &path, Some(&catalog.customer), payload)
                .await,
            StatusCode::FORBIDDEN,
        )
        .await;
    }
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM hotels WHERE deleted_at IS NULL")
        .fetch_one(&catalog.service.db)
        .await
        .unwrap();
    assert_eq!(count, 2, "nothing refused was written");
    assert_eq!(catalog.outbox(types::LISTING_CREATED).await.len(), 2);
    assert_eq!(catalog.outbox(types::LISTING_UPDATED).await.len(), 0);
    assert_eq!(catalog.outbox(types::LISTING_DELETED).await.len(), 0);
}

#[tokio::test]
async fn bad_hotels_are_refused_with_a_clear_400() {
    let catalog = Catalog::start(&[]).await;
    airports(&catalog).await;
    let good = hotel_body("Grand", 4, &["wifi"], 100, (48.86, 2.34));
    let many_room_types: Vec<Value> = (0..21).map(|_| good["roomTypes"][0].clone()).collect();
    let many_plans: Vec<Value> = (0..9)
        .map(|_| good["roomTypes"][0]["ratePlans"][0].clone())
        .collect();
    let many_prices: serde_json::Map<String, Value> = (0..367)
        .map(|d| ((day(d)).to_string(), json!("100")))
        .collect();
    let cases: Vec<(&str, Value, &str)> = vec![
        ("/airportCode", json!("ZZZ"), "unknown airport ZZZ"),
        ("/airportCode", json!("Paris"), "airportCode"),
        ("/stars", json!(0), "stars"),
        ("/name", json!("x".repeat(121)), "name"),
        ("/description", json!("x".repeat(4_001)), "description"),
        (
            "/amenities",
            json!((0..31).map(|i| format!("a{i}")).collect::<Vec<_>>()),
            "amenities",
        ),
        (
            "/photos/0/url",
            json!("ftp://img.example.com/a.jpg"),
            "photos[0].url",
        ),
        (
            "/photos",
            json!(
                (0..21)
                    .map(|_| json!({"url": "https://a.example/b.jpg"}))
                    .collect::<Vec<_>>()
            ),
            "photos",
        ),
        ("/checkInTime", json!("3pm"), "checkInTime"),
        ("/currency", json!("dollars"), "currency"),
        ("/roomTypes", json!(many_room_types), "roomTypes"),
        ("/roomTypes", json!([]), "roomTypes"),
        (
            "/roomTypes/0/ratePlans",
            json!(many_plans),
            "roomTypes[0].ratePlans",
        ),
        (
            "/roomTypes/0/ratePlans/0/prices",
            json!(many_prices),
            "roomTypes[0].ratePlans[0].prices",
        ),
        (
            "/roomTypes/0/ratePlans/0/weekdayPrice",
            json!("-5"),
            "roomTypes[0].ratePlans[0].weekdayPrice",
        ),
        ("/roomTypes/0/rooms", json!(-1), "roomTypes[0].rooms"),
        ("/roomTypes/0/id", json!(Uuid::nil()), "ids"),
        ("/latitude", json!(123.0), "latitude"),
        ("/taxBasisPoints", json!(50_001), "taxBasisPoints"),
    ];
    for (pointer, value, expected) in cases {
        let mut body = good.clone();
        let (parent, member) = pointer.rsplit_once('/').unwrap();
        body.pointer_mut(parent).unwrap()[member] = value;
        let refused = problem(
            catalog
                .post("/api/listings/hotels", &catalog.ops, &body)
                .await,
            StatusCode::BAD_REQUEST,
        )
        .await;
        assert!(
            refused["message"].as_str().unwrap().contains(expected),
            "{pointer}: {refused}"
        );
    }
    let mut unknown = good.clone();
    unknown["rooms"] = json!(3);
    problem(
        catalog
            .post("/api/listings/hotels", &catalog.ops, &unknown)
            .await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    problem(
        catalog
            .service
            .api
            .get_anonymous("/api/listings/hotels/not-a-uuid")
            .await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    problem(
        catalog
            .service
            .api
            .get_anonymous(&format!("/api/listings/hotels/{}", Uuid::nil()))
            .await,
        StatusCode::NOT_FOUND,
    )
    .await;
    problem(
        catalog
            .service
            .api
            .get_anonymous("/api/listings/hotels?pageSize=101")
            .await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM hotels")
        .fetch_one(&catalog.service.db)
        .await
        .unwrap();
    assert_eq!(count, 0);
}

#[tokio::test]
async fn search_filters_sorts_and_prices_stays_with_the_contract_quote() {
    let catalog = Catalog::start(&[]).await;
    airports(&catalog).await;
    let cheap = catalog
        .add_hotel(&hotel_body("Cheap", 2, &["wifi"], 80, (48.90, 2.40)))
        .await;
    let middle = catalog
        .add_hotel(&hotel_body(
            "Middle",
            4,
            &["wifi", "pool"],
            150,
            (48.857, 2.352),
        ))
        .await;
    let dear = catalog
        .add_hotel(&hotel_body(
            "Dear",
            5,
            &["wifi", "pool", "spa"],
            300,
            (48.80, 2.20),
        ))
        .await;
    let mut elsewhere = hotel_body("Elsewhere", 3, &[], 50, (40.7, -74.0));
    elsewhere["city"] = json!("Betaville");
    elsewhere["airportCode"] = json!("BBB");
    catalog.add_hotel(&elsewhere).await;
    let (check_in, check_out) = (day(20), day(23));
    let dates = format!("checkIn={check_in}&checkOut={check_out}");
    let names = |found: &Value| -> Vec<String> {
        found["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["name"].as_str().unwrap().to_owned())
            .collect()
    };

    let found = catalog
        .find_hotels(&format!("city=alphaville&{dates}"))
        .await;
    assert_eq!(
        names(&found),
        ["Cheap", "Middle", "Dear"],
        "cheapest first by default"
    );
    assert_eq!(found["total"], 3);
    // Each result shows its cheapest room type and rate plan, priced as booking will charge.
    let listing = catalog
        .published_hotel(types::LISTING_CREATED, cheap["id"].as_str().unwrap())
        .await
        .remove(0)
        .hotel
        .unwrap();
    let saver = &listing.room_types[0].rate_plans[1];
    let quote = listing.quote(saver, check_in, check_out, 1).unwrap();
    let first = &found["items"][0];
    assert_eq!(first["roomType"]["name"], "Double");
    assert_eq!(first["ratePlan"]["name"], "Saver");
    assert_eq!(first["ratePlan"]["refundable"], false);
    assert_eq!(first["price"]["total"]["amountMinor"], quote.total_minor);
    assert_eq!(
        first["price"]["roomCharges"]["amountMinor"],
        quote.room_minor
    );
    assert_eq!(first["price"]["taxes"]["amountMinor"], quote.taxes_minor);
    assert_eq!(first["price"]["fees"]["amountMinor"], 3 * 250);
    assert_eq!(first["price"]["nights"], 3);
    assert_eq!(first["stars"], 2);
    assert_eq!(first["photo"]["url"], "https://img.example.com/front.jpg");
    assert_eq!(first["reviewCount"], 0);

    assert_eq!(
        names(&catalog.find_hotels(&format!("airport=aaa&{dates}")).await),
        ["Cheap", "Middle", "Dear"]
    );
    assert_eq!(
        names(&catalog.find_hotels(&format!("airport=BBB&{dates}")).await),
        ["Elsewhere"]
    );
    assert_eq!(
        catalog.find_hotels(&format!("city=Nowhere&{dates}")).await["total"],
        0
    );
    assert_eq!(
        names(
            &catalog
                .find_hotels(&format!("city=Alphaville&{dates}&stars=4"))
                .await
        ),
        ["Middle", "Dear"]
    );
    assert_eq!(
        names(
            &catalog
                .find_hotels(&format!("city=Alphaville&{dates}&amenities=pool,spa"))
                .await
        ),
        ["Dear"]
    );
    assert_eq!(
        names(
            &catalog
                .find_hotels(&format!("city=Alphaville&{dates}&amenities=Pool"))
                .await
        ),
        ["Middle", "Dear"]
    );
    // Prices bound the stay's total: 3 nights at Middle cost at least 3 × 135 USD.
    assert_eq!(
        names(
            &catalog
                .find_hotels(&format!(
                    "city=Alphaville&{dates}&minPrice=400&maxPrice=800"
                ))
                .await
        ),
        ["Middle"]
    );
    assert_eq!(
        catalog
            .find_hotels(&format!(
                "city=Alphaville&{dates}&maxPrice=400&currency=EUR"
            ))
            .await["total"],
        0
    );
    // Three guests in one room: only the family room type sleeps them.
    let family = catalog
        .find_hotels(&format!("city=Alphaville&{dates}&guests=3"))
        .await;
    assert_eq!(family["items"][0]["roomType"]["name"], "Family");
    let quote = listing
        .quote(&listing.room_types[1].rate_plans[0], check_in, check_out, 1)
        .unwrap();
    assert_eq!(
        family["items"][0]["price"]["total"]["amountMinor"],
        quote.total_minor
    );
    // Three guests in two rooms: two doubles.
    let two = catalog
        .find_hotels(&format!("city=Alphaville&{dates}&guests=3&rooms=2"))
        .await;
    assert_eq!(two["items"][0]["roomType"]["name"], "Double");
    assert_eq!(two["items"][0]["price"]["rooms"], 2);
    // Nine guests fit nowhere (two family rooms sleep eight).
    assert_eq!(
        catalog
            .find_hotels(&format!("city=Alphaville&{dates}&guests=9&rooms=2"))
            .await["total"],
        0
    );
    // Three family rooms are more than there are.
    assert_eq!(
        catalog
            .find_hotels(&format!("city=Alphaville&{dates}&guests=12&rooms=3"))
            .await["total"],
        0
    );

    // Rating: best rated first, hotels without reviews last.
    for (hotel, total, count) in [(&dear, 7_i64, 2_i32), (&cheap, 14, 3)] {
        sqlx::query("UPDATE hotels SET rating_total = $2, review_count = $3 WHERE id = $1")
            .bind(hotel["id"].as_str().unwrap().parse::<Uuid>().unwrap())
            .bind(total)
            .bind(count)
            .execute(&catalog.service.db)
            .await
            .unwrap();
    }
    let rated = catalog
        .find_hotels(&format!("city=Alphaville&{dates}&sort=rating"))
        .await;
    assert_eq!(names(&rated), ["Cheap", "Dear", "Middle"]);
    assert_eq!(rated["items"][0]["rating"], 4.7);
    assert_eq!(rated["items"][1]["rating"], 3.5);
    assert_eq!(rated["items"][2]["rating"], Value::Null);
    // Distance from a point in the city centre.
    let near = catalog
        .find_hotels(&format!(
            "city=Alphaville&{dates}&sort=distance&lat=48.8566&lng=2.3522"
        ))
        .await;
    assert_eq!(names(&near), ["Middle", "Cheap", "Dear"]);
    assert!(
        near["items"][0]["distanceKm"].as_f64().unwrap() < 0.5,
        "{near}"
    );
    // Pages.
    let second = catalog
        .find_hotels(&format!("city=Alphaville&{dates}&page=2&pageSize=2"))
        .await;
    assert_eq!(names(&second), ["Dear"]);
    assert_eq!(
        (second["total"].as_i64(), second["page"].as_i64()),
        (Some(3), Some(2))
    );
    let _ = middle;

    let api = &catalog.service.api;
    let long = format!("checkIn={}&checkOut={}", day(1), day(32));
    for (query, expected) in [
        (dates.clone(), "city or airport"),
        (format!("city=Alphaville&airport=AAA&{dates}"), "not both"),
        (
            "city=Alphaville".to_owned(),
            "checkIn and checkOut are required",
        ),
        (
            format!("city=Alphaville&checkIn={}&checkOut={}", day(-3), day(2)),
            "in the past",
        ),
        (
            format!("city=Alphaville&checkIn={}&checkOut={}", day(5), day(5)),
            "after checkIn",
        ),
        (format!("city=Alphaville&{long}"), "at most 30 nights"),
        (
            format!("city=Alphaville&checkIn=tomorrow&checkOut={}", day(3)),
            "checkIn",
        ),
        (format!("city=Alphaville&{dates}&guests=0"), "guests"),
        (format!("city=Alphaville&{dates}&guests=31"), "guests"),
        (format!("city=Alphaville&{dates}&rooms=10"), "rooms"),
        (format!("city=Alphaville&{dates}&stars=6"), "stars"),
        (
            format!("city=Alphaville&{dates}&sort=distance"),
            "lat and lng",
        ),
        (format!("city=Alphaville&{dates}&sort=cheapest"), "sort"),
        (format!("city=Alphaville&{dates}&lat=91&lng=0"), "lat"),
        (format!("city=Alphaville&{dates}&maxPrice=ten"), "maxPrice"),
        (
            format!("city=Alphaville&{dates}&amenities=a,b,c,d,e,f,g,h,i,j,k"),
            "amenities",
        ),
        (
            format!("city=Alphaville&{dates}&amenities=free%20wifi"),
            "amenities",
        ),
        (format!("airport=Alphaville&{dates}"), "airport"),
        (format!("city=Alphaville&{dates}&pageSize=500"), "pageSize"),
        (format!("city={}&{dates}", "x".repeat(101)), "city"),
    ] {
        let refused = problem(
            api.get_anonymous(&format!("/api/listings/hotels/search?{query}"))
                .await,
            StatusCode::BAD_REQUEST,
        )
        .await;
        assert!(
            refused["message"].as_str().unwrap().contains(expected),
            "{query}: {refused}"
        );
    }
}

#[tokio::test]
async fn held_stays_take_rooms_out_of_search_night_by_night() {
    let catalog = Catalog::start(&[]).await;
    airports(&catalog).await;
    // One room type with two rooms.
    let mut body = hotel_body("Small", 3, &[], 100, (48.86, 2.34));
    body["roomTypes"] = json!([body["roomTypes"][0].clone()]);
    body["roomTypes"][0]["rooms"] = json!(2);
    let hotel = catalog.add_hotel(&body).await;
    let hotel_id = hotel["id"].as_str().unwrap();
    let room_type = hotel["roomTypes"][0]["id"].as_str().unwrap();
    let offered = async |from: i64, to: i64| -> bool {
        let found = catalog
            .find_hotels(&format!(
                "city=Alphaville&checkIn={}&checkOut={}",
                day(from),
                day(to)
            ))
            .await;
        found["total"] == 1
    };
    let d = 10;
    assert!(offered(d, d + 1).await);
    // Cached now: the stays below must drop that answer.
    assert!(
        offered(d + 2, d + 3).await,
        "both rooms are free before any stay"
    );

    // Two stays share the night d+2: [d, d+3) and [d+2, d+5).
    catalog
        .service
        .publish(&[
            stay_event(
                types::BOOKING_CREATED,
                1,
                "PENDING_PAYMENT",
                (hotel_id, room_type),
                (day(d), day(d + 3)),
                1,
            ),
            stay_event(
                types::BOOKING_CREATED,
                2,
                "PENDING_PAYMENT",
                (hotel_id, room_type),
                (day(d + 2), day(d + 5)),
                1,
            ),
        ])
        .await;
    catalog
        .service
        .publish(&[stay_event(
            types::BOOKING_CONFIRMED,
            1,
            "CONFIRMED",
            (hotel_id, room_type),
            (day(d), day(d + 3)),
            1,
        )])
        .await;
    assert!(
        !offered(d + 2, d + 3).await,
        "both rooms are held on the shared night"
    );
    assert!(!offered(d, d + 5).await, "a stay over the shared night");
    assert!(!offered(d + 1, d + 4).await);
    assert!(
        offered(d, d + 2).await,
        "one room is free on the nights before"
    );
    assert!(
        offered(d + 3, d + 5).await,
        "one room is free on the nights after"
    );
    assert!(offered(d + 5, d + 6).await, "check-out day is free");
    assert!(offered(d - 2, d).await);
    // Two rooms are free only where neither stay is.
    let two = |from: i64, to: i64| {
        format!(
            "city=Alphaville&checkIn={}&checkOut={}&rooms=2",
            day(from),
            day(to)
        )
    };
    assert_eq!(catalog.find_hotels(&two(d + 1, d + 2)).await["total"], 0);
    assert_eq!(catalog.find_hotels(&two(d + 5, d + 7)).await["total"], 1);

    // The hotel's page shows the rooms free for the dates, and prices only where rooms are.
    let shared = catalog
        .read(&format!(
            "/api/listings/hotels/{hotel_id}?checkIn={}&checkOut={}",
            day(d + 2),
            day(d + 3)
        ))
        .await;
    assert_eq!(shared["roomTypes"][0]["roomsFree"], 0);
    assert!(
        shared["roomTypes"][0]["ratePlans"][0]
            .get("stayPrice")
            .is_none(),
        "{shared}"
    );
    let before = catalog
        .read(&format!(
            "/api/listings/hotels/{hotel_id}?checkIn={}&checkOut={}",
            day(d),
            day(d + 2)
        ))
        .await;
    assert_eq!(before["roomTypes"][0]["roomsFree"], 1);
    assert_eq!(before["stay"]["nights"], 2);
    let listing = catalog
        .published_hotel(types::LISTING_CREATED, hotel_id)
        .await
        .remove(0)
        .hotel
        .unwrap();
    let quote = listing
        .quote(&listing.room_types[0].rate_plans[0], day(d), day(d + 2), 1)
        .unwrap();
    assert_eq!(
        before["roomTypes"][0]["ratePlans"][0]["stayPrice"]["total"]["amountMinor"],
        quote.total_minor
    );

    // Cancelling the second stay frees its room; its late events change nothing.
    catalog
        .service
        .publish(&[stay_event(
            types::BOOKING_CANCELLED,
            2,
            "CANCELLED",
            (hotel_id, room_type),
            (day(d + 2), day(d + 5)),
            1,
        )])
        .await;
    assert!(
        offered(d + 2, d + 3).await,
        "the cancelled stay's room is free again"
    );
    catalog
        .service
        .publish(&[stay_event(
            types::BOOKING_CREATED,
            2,
            "PENDING_PAYMENT",
            (hotel_id, room_type),
            (day(d + 2), day(d + 5)),
            1,
        )])
        .await;
    let mut redelivered = stay_event(
        types::BOOKING_CREATED,
        1,
        "PENDING_PAYMENT",
        (hotel_id, room_type),
        (day(d), day(d + 3)),
        1,
    );
    redelivered.envelope.id = Uuid::now_v7();
    catalog.service.publish(&[redelivered]).await;
    assert!(
        offered(d + 2, d + 3).await,
        "a stale event does not hold the room again"
    );
    // A stay starting on the first one's check-out day: on no night are both rooms held.
    catalog
        .service
        .publish(&[stay_event(
            types::BOOKING_CONFIRMED,
            5,
            "CONFIRMED",
            (hotel_id, room_type),
            (day(d + 3), day(d + 6)),
            1,
        )])
        .await;
    assert!(
        offered(d, d + 6).await,
        "back-to-back stays hold one room a night"
    );
    assert_eq!(catalog.find_hotels(&two(d + 3, d + 4)).await["total"], 0);
    let statuses: Vec<(i64, String)> =
        sqlx::query_as("SELECT booking_id, status FROM hotel_stays ORDER BY booking_id")
            .fetch_all(&catalog.service.db)
            .await
            .unwrap();
    assert_eq!(
        statuses,
        [
            (1, "CONFIRMED".to_owned()),
            (2, "CANCELLED".to_owned()),
            (5, "CONFIRMED".to_owned())
        ]
    );

    let refused = problem(
        catalog
            .service
            .api
            .get_anonymous(&format!(
                "/api/listings/hotels/{hotel_id}?checkIn={}",
                day(d)
            ))
            .await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert!(
        refused["message"].as_str().unwrap().contains("checkOut"),
        "{refused}"
    );
}

#[tokio::test]
async fn the_demo_schedule_brings_three_hotels_in_every_city_each_published() {
    let catalog = Catalog::start(&[("ITINERA_MODE", "demo")]).await;
    let api = &catalog.service.api;
    assert_eq!(
        api.get_anonymous("/seed").await.status(),
        StatusCode::CREATED
    );
    let demo = catalog::demo::hotels::hotels(day(1));
    let count = async || -> i64 {
        sqlx::query_scalar("SELECT count(*) FROM hotels")
            .fetch_one(&catalog.service.db)
            .await
            .unwrap()
    };
    assert_eq!(count().await, demo.len() as i64);
    let created: Vec<Value> = catalog
        .outbox(types::LISTING_CREATED)
        .await
        .into_iter()
        .filter(|e| e["data"]["product"] == "hotel")
        .collect();
    assert_eq!(created.len(), demo.len(), "one listing.created per hotel");
    let snapshot: ListingSnapshot = serde_json::from_value(created[0]["data"].clone()).unwrap();
    assert!(snapshot.hotel.unwrap().room_types.len() >= 3);

    let paris = catalog
        .find_hotels(&format!(
            "city=Paris&checkIn={}&checkOut={}&sort=rating",
            day(3),
            day(5)
        ))
        .await;
    assert_eq!(paris["total"], 3, "{paris}");
    assert_eq!(paris["items"][0]["price"]["total"]["currency"], "USD");

    // Seeding again adds nothing; a catalog seeded before there were hotels gets them.
    assert_eq!(api.get_anonymous("/seed").await.status(), StatusCode::OK);
    assert_eq!(count().await, demo.len() as i64);
    sqlx::query("TRUNCATE hotels, room_types, rate_plans")
        .execute(&catalog.service.db)
        .await
        .unwrap();
    assert_eq!(api.get_anonymous("/seed").await.status(), StatusCode::OK);
    assert_eq!(count().await, demo.len() as i64);
}

#[tokio::test]
async fn sorting_by_price_compares_amounts_only_within_a_currency() {
    let catalog = Catalog::start(&[]).await;
    airports(&catalog).await;
    catalog
        .add_hotel(&hotel_body("Dollar Inn", 3, &[], 100, (48.86, 2.34)))
        .await;
    let mut body = hotel_body("Euro Inn", 3, &[], 60, (48.86, 2.35));
    body["currency"] = json!("EUR");
    catalog.add_hotel(&body).await;
    let query = format!(
        "city=Alphaville&checkIn={}&checkOut={}&sort=price",
        day(5),
        day(6)
    );
    let names = |page: &Value| -> Vec<String> {
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o["name"].as_str().unwrap_or_default().to_owned())
            .collect()
    };
    // In dollars (the default), the dollar hotel first, though the euro amount is smaller.
    let page = catalog.find_hotels(&query).await;
    assert_eq!(names(&page), ["Dollar Inn", "Euro Inn"], "{page}");
    let page = catalog.find_hotels(&format!("{query}&currency=EUR")).await;
    assert_eq!(names(&page), ["Euro Inn", "Dollar Inn"], "{page}");
}

#[tokio::test]
async fn searches_and_views_reach_the_outbox_with_repeats_folded_into_a_count() {
    let catalog = Catalog::start(&[]).await;
    airports(&catalog).await;
    let hotel = catalog
        .add_hotel(&hotel_body("Grand", 4, &["wifi"], 100, (48.86, 2.34)))
        .await;
    let id = hotel["id"].as_str().unwrap();
    let query = format!("city=alphaville&checkIn={}&checkOut={}", day(20), day(22));
    // The first is computed, the others come from the cache: each counts.
    for _ in 0..3 {
        assert_eq!(catalog.find_hotels(&query).await["total"], 1);
    }
    // A refused search is not activity.
    let refused = catalog
        .service
        .api
        .get_anonymous("/api/listings/hotels/search?city=alphaville")
        .await;
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
    for _ in 0..2 {
        catalog.read(&format!("/api/listings/hotels/{id}")).await;
    }

    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let (searches, views) = loop {
        let searches = catalog.outbox(types::SEARCH_PERFORMED).await;
        let views = catalog.outbox(types::LISTING_VIEWED).await;
        if (!searches.is_empty() && !views.is_empty()) || std::time::Instant::now() > deadline {
            break (searches, views);
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    let counted = |events: &[Value]| {
        events
            .iter()
            .map(|e| e["data"]["count"].as_i64().unwrap())
            .sum::<i64>()
    };
    assert_eq!(counted(&searches), 3, "{searches:?}");
    assert_eq!(searches[0]["data"]["product"], "hotel");
    assert_eq!(searches[0]["data"]["results"], 1);
    assert_eq!(searches[0]["data"]["query"]["city"], "alphaville");
    assert_eq!(searches[0]["data"]["query"]["checkIn"], day(20).to_string());
    assert_eq!(counted(&views), 2, "{views:?}");
    assert_eq!(views[0]["subject"], id);
}
