//! Seed 003's car API (`/api/listings/cars`): the six endpoints with the seed's field names, who
//! may write, what is refused, the `listing.*` events, the demo fleet, and car search with the
//! availability that booking's events decide.

use chrono::NaiveDate;
use contracts::events::{BookingSnapshot, MoneyAmount, RentalSnapshot, topics, types};
use contracts::states::{BookingStatus, CarType, Product};
use platform::auth::Role;
use platform::events::{Envelope, Message};
use platform::testing::problem;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::Catalog;

const CARS: &str = "/api/listings/cars";

/// Catalog with two airports, Alphaville (`AAA`, in France) and Betaville (`BBB`, in the US).
async fn start() -> Catalog {
    let catalog = Catalog::start(&[]).await;
    for (iata, city, country, time_zone) in [
        ("AAA", "Alphaville", "FR", "Europe/Paris"),
        ("BBB", "Betaville", "US", "America/New_York"),
    ] {
        let response = catalog
            .post(
                "/api/airports",
                &catalog.ops,
                &json!({"iata": iata, "name": format!("{city} International"), "city": city,
                        "country": country, "timeZone": time_zone}),
            )
            .await;
        assert_eq!(response.status(), StatusCode::CREATED);
    }
    catalog
}

/// `method path` with `token` (if any) and `body` (if any).
async fn send(
    catalog: &Catalog,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Option<&Value>,
) -> reqwest::Response {
    let api = &catalog.service.api;
    let mut request = api.client.request(method, api.url(path));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        request = request.json(body);
    }
    request.send().await.unwrap()
}

/// A car at `AAA` with `changes` over a Toyota RAV4 SUV at 65.00 a day, created by ops.
async fn create(catalog: &Catalog, changes: Value) -> Value {
    let mut body = json!({"location": "Alphaville Airport", "type": "suv",
                          "daily_rental_price": "65.00", "brand": "Toyota", "model": "RAV4",
                          "year": 2024, "location_code": "AAA"});
    for (name, value) in changes.as_object().unwrap() {
        body[name] = value.clone();
    }
    let response = catalog.post(CARS, &catalog.ops, &body).await;
    assert_eq!(response.status(), StatusCode::CREATED, "{body}");
    response.json().await.unwrap()
}

/// The ids of the cars a search answers, in order.
async fn found(catalog: &Catalog, query: &str) -> Vec<String> {
    let page = catalog.read(&format!("{CARS}/search?{query}")).await;
    let ids: Vec<String> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|car| car["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(page["total"], ids.len(), "{query}: {page}");
    ids
}

fn id(car: &Value) -> String {
    car["id"].as_str().unwrap().to_owned()
}

fn date(text: &str) -> NaiveDate {
    text.parse().unwrap()
}

/// Booking `booking_id`'s event `kind` for renting `car` over `[start, end)`, in `status`, as
/// booking's relay sends it.
pub fn rental_event(
    kind: &str,
    booking_id: i64,
    car: &Value,
    (start, end): (&str, &str),
    status: BookingStatus,
) -> Message {
    let snapshot = BookingSnapshot {
        booking_id,
        reference: format!("REF{booking_id}"),
        user_id: 101,
        product: Product::Car,
        trip_id: None,
        description: "Toyota RAV4".into(),
        starts_at: date(start).and_hms_opt(10, 0, 0).unwrap().and_utc(),
        refundable_until: None,
        flight: None,
        stay: None,
        rental: Some(RentalSnapshot {
            car_id: car["id"].as_str().unwrap().parse().unwrap(),
            car_type: CarType::Suv,
            car: "Toyota RAV4".into(),
            location_code: "AAA".into(),
            start_date: date(start),
            end_date: date(end),
        }),
        items: Vec::new(),
        price: MoneyAmount {
            amount_minor: 6_500,
            currency: "EUR".into(),
        },
        status,
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

/// The `catalog.listings` events of `kind` about `car`, oldest first.
async fn listing_events(catalog: &Catalog, kind: &str, car: &str) -> Vec<Value> {
    catalog
        .outbox(kind)
        .await
        .into_iter()
        .filter(|envelope| envelope["subject"] == car)
        .map(|envelope| envelope["data"].clone())
        .collect()
}

#[tokio::test]
async fn a_car_is_created_read_listed_changed_and_deleted_with_seed_003_fields() {
    let catalog = start().await;
    let car = create(&catalog, json!({})).await;
    let car_id = id(&car);
    assert!(Uuid::parse_str(&car_id).is_ok(), "{car}");
    assert_eq!(car["location"], "Alphaville Airport");
    assert_eq!(car["type"], "suv");
    assert_eq!(car["daily_rental_price"], "65.00");
    assert_eq!(car["currency"], "EUR", "the airport's currency");
    assert_eq!(car["brand"], "Toyota");
    assert_eq!(car["model"], "RAV4");
    assert_eq!(car["year"], 2024);
    assert_eq!(car["available"], true);
    assert_eq!(car["seats"], 5);
    assert_eq!(car["transmission"], "automatic");
    assert_eq!(car["location_code"], "AAA");
    assert_eq!(car["time_zone"], "Europe/Paris");
    assert_eq!(car["rating"], Value::Null);
    assert_eq!(car["review_count"], 0);
    assert_eq!(car["version"], 1);

    let read = catalog.read(&format!("{CARS}/{car_id}")).await;
    assert_eq!(read, car);
    // A price given as a JSON number is read exactly; without a location, the airport's city.
    let other = create(
        &catalog,
        json!({"daily_rental_price": 42.5, "location": null, "location_code": "bbb",
               "type": "Economy", "brand": "Kia", "model": "Picanto", "seats": 4,
               "transmission": "manual"}),
    )
    .await;
    assert_eq!(other["daily_rental_price"], "42.50");
    assert_eq!(other["currency"], "USD");
    assert_eq!(other["location"], "Betaville");
    assert_eq!(other["type"], "economy");
    assert_eq!(other["transmission"], "manual");
    let listed = catalog.read(&format!("{CARS}?pageSize=1")).await;
    assert_eq!(listed["total"], 2);
    assert_eq!(listed["pageSize"], 1);
    assert_eq!(listed["items"][0]["id"], car["id"], "oldest first");
    let second = catalog.read(&format!("{CARS}?page=2&pageSize=1")).await;
    assert_eq!(second["items"][0]["id"], other["id"]);

    // PUT changes what it names and keeps the rest.
    let changed = send(
        &catalog,
        Method::PUT,
        &format!("{CARS}/{car_id}"),
        Some(&catalog.ops),
        Some(&json!({"daily_rental_price": "70", "available": false, "id": car_id})),
    )
    .await;
    assert_eq!(changed.status(), StatusCode::OK);
    let changed: Value = changed.json().await.unwrap();
    assert_eq!(changed["daily_rental_price"], "70.00");
    assert_eq!(changed["available"], false);
    assert_eq!(changed["brand"], "Toyota");
    assert_eq!(changed["version"], 2);

    let admin = catalog.issuer.token(1, "root", Role::Admin);
    let deleted = send(
        &catalog,
        Method::DELETE,
        &format!("{CARS}/{car_id}"),
        Some(&admin),
        None,
    )
    .await;
    assert_eq!(deleted.status(), StatusCode::OK);
    for (method, body) in [
        (Method::GET, None),
        (Method::PUT, Some(json!({"brand": "Kia"}))),
        (Method::DELETE, None),
    ] {
        problem(
            send(
                &catalog,
                method,
                &format!("{CARS}/{car_id}"),
                Some(&catalog.ops),
                body.as_ref(),
            )
            .await,
            StatusCode::NOT_FOUND,
        )
        .await;
    }
    let listed = catalog.read(CARS).await;
    assert_eq!(listed["total"], 1, "a deleted car is not listed: {listed}");
    assert_eq!(listed["items"][0]["id"], other["id"]);

    // Each change is published with the car's snapshot; the version grows with each.
    let created = listing_events(&catalog, types::LISTING_CREATED, &car_id).await;
    let updated = listing_events(&catalog, types::LISTING_UPDATED, &car_id).await;
    let gone = listing_events(&catalog, types::LISTING_DELETED, &car_id).await;
    assert_eq!((created.len(), updated.len(), gone.len()), (1, 1, 1));
    assert_eq!(created[0]["listingId"], car_id.as_str());
    assert_eq!(created[0]["product"], "car");
    assert_eq!(created[0]["version"], 1);
    assert!(created[0].get("hotel").is_none());
    let snapshot = &created[0]["car"];
    assert_eq!(snapshot["carId"], car_id.as_str());
    assert_eq!(snapshot["carType"], "suv");
    assert_eq!(snapshot["brand"], "Toyota");
    assert_eq!(snapshot["model"], "RAV4");
    assert_eq!(snapshot["year"], 2024);
    assert_eq!(snapshot["locationCode"], "AAA");
    assert_eq!(snapshot["timeZone"], "Europe/Paris");
    assert_eq!(snapshot["dailyPriceMinor"], 6_500);
    assert_eq!(snapshot["currency"], "EUR");
    assert_eq!(snapshot["available"], true);
    assert_eq!(updated[0]["version"], 2);
    assert_eq!(updated[0]["car"]["dailyPriceMinor"], 7_000);
    assert_eq!(updated[0]["car"]["available"], false);
    assert_eq!(gone[0]["version"], 3);
    assert_eq!(gone[0]["car"]["carId"], car_id.as_str());
}

#[tokio::test]
async fn only_ops_and_admins_may_write_cars() {
    let catalog = start().await;
    let car = create(&catalog, json!({})).await;
    let path = format!("{CARS}/{}", id(&car));
    let body = json!({"type": "sedan", "daily_rental_price": "50", "brand": "Honda",
                      "model": "Accord", "year": 2023, "location_code": "AAA"});
    for (token, status) in [
        (None, StatusCode::UNAUTHORIZED),
        (Some(catalog.customer.as_str()), StatusCode::FORBIDDEN),
    ] {
        problem(
            send(&catalog, Method::POST, CARS, token, Some(&body)).await,
            status,
        )
        .await;
        problem(
            send(&catalog, Method::PUT, &path, token, Some(&body)).await,
            status,
        )
        .await;
        problem(
            send(&catalog, Method::DELETE, &path, token, None).await,
            status,
        )
        .await;
    }
    let unchanged = catalog.read(&path).await;
    assert_eq!(unchanged, car);
    assert_eq!(catalog.read(CARS).await["total"], 1);
    assert!(catalog.outbox(types::LISTING_UPDATED).await.is_empty());
    assert!(catalog.outbox(types::LISTING_DELETED).await.is_empty());
    // Reading needs no token.
    assert_eq!(catalog.read(&format!("{CARS}/search")).await["total"], 1);
}

#[tokio::test]
async fn bad_cars_and_bad_ids_are_refused_with_what_is_wrong() {
    let catalog = start().await;
    let car = create(&catalog, json!({})).await;
    let valid = json!({"type": "sedan", "daily_rental_price": "50.00", "brand": "Honda",
                       "model": "Accord", "year": 2023, "location_code": "AAA"});
    for (change, says) in [
        (json!({"type": "van"}), "type"),
        (json!({"daily_rental_price": "0"}), "daily_rental_price"),
        (json!({"daily_rental_price": -5}), "daily_rental_price"),
        (json!({"daily_rental_price": "45.001"}), "decimals"),
        (json!({"daily_rental_price": "cheap"}), "daily_rental_price"),
        (
            json!({"daily_rental_price": "99999999"}),
            "daily_rental_price",
        ),
        (json!({"daily_rental_price": true}), "daily_rental_price"),
        (json!({"year": 1900}), "year"),
        (json!({"year": 2999}), "year"),
        (json!({"brand": ""}), "brand"),
        (json!({"model": "x".repeat(101)}), "model"),
        (json!({"location": "y".repeat(256)}), "location"),
        (json!({"seats": 0}), "seats"),
        (json!({"seats": 40}), "seats"),
        (json!({"transmission": "cvt"}), "transmission"),
        (json!({"location_code": "ZZZ"}), "ZZZ"),
        (json!({"location_code": "PARIS"}), "location_code"),
        (json!({"currency": "euro"}), "currency"),
        (
            json!({"currency": "JPY", "daily_rental_price": "4500.5"}),
            "decimals",
        ),
        (json!({"type": null}), "type is required"),
        (json!({"location_code": null}), "location_code is required"),
        (
            json!({"daily_rental_price": null}),
            "daily_rental_price is required",
        ),
        (json!({"colour": "red"}), "colour"),
        (json!({"id": "not-a-uuid"}), "UUID"),
    ] {
        let mut body = valid.clone();
        for (name, value) in change.as_object().unwrap() {
            body[name] = value.clone();
        }
        let refused = problem(
            catalog.post(CARS, &catalog.ops, &body).await,
            StatusCode::BAD_REQUEST,
        )
        .await;
        assert!(
            refused["message"].as_str().unwrap().contains(says),
            "{change}: {refused}"
        );
    }
    // The same checks on PUT, and a new currency needs a price in it.
    let path = format!("{CARS}/{}", id(&car));
    for (change, says) in [
        (json!({"type": "van"}), "type"),
        (json!({"daily_rental_price": "0.00"}), "daily_rental_price"),
        (json!({"currency": "USD"}), "currency"),
        (json!({"id": Uuid::new_v4().to_string()}), "id"),
    ] {
        let refused = problem(
            send(
                &catalog,
                Method::PUT,
                &path,
                Some(&catalog.ops),
                Some(&change),
            )
            .await,
            StatusCode::BAD_REQUEST,
        )
        .await;
        assert!(
            refused["message"].as_str().unwrap().contains(says),
            "{change}: {refused}"
        );
    }
    assert_eq!(
        catalog.read(&path).await,
        car,
        "a refused change changes nothing"
    );
    // A car's id is a UUID; an unknown one is not found.
    for method in [Method::GET, Method::PUT, Method::DELETE] {
        let body = (method == Method::PUT).then(|| json!({"brand": "Kia"}));
        let refused = problem(
            send(
                &catalog,
                method.clone(),
                &format!("{CARS}/42"),
                Some(&catalog.ops),
                body.as_ref(),
            )
            .await,
            StatusCode::BAD_REQUEST,
        )
        .await;
        assert!(refused["message"].as_str().unwrap().contains("UUID"));
        let unknown = problem(
            send(
                &catalog,
                method,
                &format!("{CARS}/{}", Uuid::new_v4()),
                Some(&catalog.ops),
                body.as_ref(),
            )
            .await,
            StatusCode::NOT_FOUND,
        )
        .await;
        assert_eq!(unknown["message"], "Car not found");
    }
    // The same id twice is a conflict.
    let again = catalog
        .post(
            CARS,
            &catalog.ops,
            &json!({"id": car["id"], "type": "suv",
            "daily_rental_price": "1", "brand": "a", "model": "b", "year": 2020,
            "location_code": "AAA"}),
        )
        .await;
    problem(again, StatusCode::CONFLICT).await;
    assert_eq!(catalog.read(CARS).await["total"], 1);
    problem(
        catalog
            .service
            .api
            .get_anonymous(&format!("{CARS}?pageSize=500"))
            .await,
        StatusCode::BAD_REQUEST,
    )
    .await;
}

#[tokio::test]
async fn search_filters_by_location_type_price_and_brand() {
    let catalog = start().await;
    let rav4 = id(&create(&catalog, json!({})).await);
    let yaris = id(&create(
        &catalog,
        json!({"type": "economy", "brand": "Toyota", "model": "Yaris", "daily_rental_price": "35"}),
    )
    .await);
    let bmw = id(&create(
        &catalog,
        json!({"type": "luxury", "brand": "BMW", "model": "5 Series", "daily_rental_price": "150",
               "location": "Downtown Betaville", "location_code": "BBB"}),
    )
    .await);
    let kia = id(&create(
        &catalog,
        json!({"type": "economy", "brand": "Kia", "model": "Picanto", "daily_rental_price": "30",
               "location_code": "BBB", "location": "Betaville Airport"}),
    )
    .await);
    let parked = id(&create(&catalog, json!({"available": false})).await);
    let (rav4, yaris, bmw, kia) = (rav4.as_str(), yaris.as_str(), bmw.as_str(), kia.as_str());

    // Cheapest first; a car that is not available is never found.
    assert_eq!(found(&catalog, "").await, [kia, yaris, rav4, bmw]);
    assert!(!found(&catalog, "").await.contains(&parked));
    // Location: the place (any part, any case), the city or the airport code.
    assert_eq!(found(&catalog, "location=alphaville").await, [yaris, rav4]);
    assert_eq!(found(&catalog, "location=BBB").await, [kia, bmw]);
    assert_eq!(found(&catalog, "location=downtown").await, [bmw]);
    assert_eq!(found(&catalog, "location=Betaville").await, [kia, bmw]);
    assert!(found(&catalog, "location=Gammaville").await.is_empty());
    assert!(
        found(&catalog, "location=%25").await.is_empty(),
        "% is no wildcard"
    );
    // Type, brand (any case), price range (inclusive), and all at once.
    assert_eq!(found(&catalog, "type=economy").await, [kia, yaris]);
    assert_eq!(found(&catalog, "type=LUXURY").await, [bmw]);
    assert_eq!(found(&catalog, "brand=toyota").await, [yaris, rav4]);
    // Amounts compare within a currency (Alphaville's cars are in euros, Betaville's in
    // dollars); bounds without one are in dollars.
    assert_eq!(
        found(&catalog, "minPrice=35&maxPrice=65.00&currency=EUR").await,
        [yaris, rav4]
    );
    assert_eq!(found(&catalog, "maxPrice=65.00").await, [kia]);
    assert_eq!(found(&catalog, "minPrice=65.01").await, [bmw]);
    assert_eq!(found(&catalog, "maxPrice=34.99").await, [kia]);
    assert_eq!(found(&catalog, "maxPrice=35&currency=usd").await, [kia]);
    assert_eq!(
        found(
            &catalog,
            "location=AAA&type=economy&brand=Toyota&minPrice=30&maxPrice=40&currency=EUR"
        )
        .await,
        [yaris]
    );
    // Pages.
    let page = catalog
        .read(&format!("{CARS}/search?pageSize=2&page=2"))
        .await;
    assert_eq!(page["total"], 4);
    assert_eq!(page["items"][0]["id"], rav4);
    assert_eq!(page["items"][1]["id"], bmw);

    for (query, says) in [
        ("type=van", "type"),
        ("minPrice=abc", "minPrice"),
        ("maxPrice=-1", "maxPrice"),
        ("minPrice=1.2345", "minPrice"),
        ("maxPrice=5.5&currency=JPY", "maxPrice"),
        ("minPrice=50&maxPrice=40", "minPrice is more than maxPrice"),
        ("currency=dollars", "currency"),
        ("startDate=2030-01-01", "startDate needs endDate"),
        ("endDate=2030-01-05", "endDate needs startDate"),
        (
            "startDate=2030-01-05&endDate=2030-01-01",
            "endDate must be after startDate",
        ),
        (
            "startDate=2030-01-05&endDate=2030-01-05",
            "endDate must be after startDate",
        ),
        ("startDate=2030-02-30&endDate=2030-03-05", "startDate"),
        ("startDate=2030-01-01&endDate=2030-03-01", "at most 30 days"),
        ("colour=red", "colour"),
        ("pageSize=0", "pageSize"),
    ] {
        let refused = problem(
            catalog
                .service
                .api
                .get_anonymous(&format!("{CARS}/search?{query}"))
                .await,
            StatusCode::BAD_REQUEST,
        )
        .await;
        assert!(
            refused["message"].as_str().unwrap().contains(says),
            "{query}: {refused}"
        );
    }
}

#[tokio::test]
async fn held_and_confirmed_rentals_hide_a_car_for_the_days_they_cover() {
    let catalog = start().await;
    let car = create(&catalog, json!({})).await;
    let other = create(&catalog, json!({"daily_rental_price": "80"})).await;
    let (car_id, other_id) = (id(&car), id(&other));
    let (car_id, other_id) = (car_id.as_str(), other_id.as_str());
    let free = |start: &str, end: &str| format!("location=AAA&startDate={start}&endDate={end}");
    assert_eq!(
        found(&catalog, &free("2030-06-01", "2030-06-05")).await,
        [car_id, other_id]
    );

    // Held for [06-10, 06-15): hidden for any overlapping range, shown back to back.
    catalog
        .service
        .publish(&[rental_event(
            types::BOOKING_CREATED,
            1,
            &car,
            ("2030-06-10", "2030-06-15"),
            BookingStatus::PendingPayment,
        )])
        .await;
    for (start, end) in [
        ("2030-06-10", "2030-06-15"),
        ("2030-06-08", "2030-06-11"),
        ("2030-06-14", "2030-06-20"),
        ("2030-06-11", "2030-06-12"),
        ("2030-06-01", "2030-06-30"),
    ] {
        assert_eq!(
            found(&catalog, &free(start, end)).await,
            [other_id],
            "{start}..{end}"
        );
    }
    for (start, end) in [("2030-06-15", "2030-06-18"), ("2030-06-05", "2030-06-10")] {
        assert_eq!(
            found(&catalog, &free(start, end)).await,
            [car_id, other_id],
            "back to back: {start}..{end}"
        );
    }
    // Without dates, every car shows.
    assert_eq!(found(&catalog, "location=AAA").await.len(), 2);

    // Confirmed still holds it; cancelled frees it; an old event after that changes nothing.
    let confirmed = rental_event(
        types::BOOKING_CONFIRMED,
        1,
        &car,
        ("2030-06-10", "2030-06-15"),
        BookingStatus::Confirmed,
    );
    catalog.service.publish(&[confirmed]).await;
    assert_eq!(
        found(&catalog, &free("2030-06-12", "2030-06-13")).await,
        [other_id]
    );
    catalog
        .service
        .publish(&[rental_event(
            types::BOOKING_CANCELLED,
            1,
            &car,
            ("2030-06-10", "2030-06-15"),
            BookingStatus::Cancelled,
        )])
        .await;
    assert_eq!(
        found(&catalog, &free("2030-06-12", "2030-06-13")).await,
        [car_id, other_id]
    );
    let late_confirmed = rental_event(
        types::BOOKING_CONFIRMED,
        1,
        &car,
        ("2030-06-10", "2030-06-15"),
        BookingStatus::Confirmed,
    );
    catalog.service.publish(&[late_confirmed]).await;
    let late_created = rental_event(
        types::BOOKING_CREATED,
        1,
        &car,
        ("2030-06-10", "2030-06-15"),
        BookingStatus::PendingPayment,
    );
    catalog.service.publish(&[late_created]).await;
    assert_eq!(
        found(&catalog, &free("2030-06-12", "2030-06-13")).await,
        [car_id, other_id],
        "a late event does not bring a cancelled rental back"
    );
    let status: String = sqlx::query_scalar("SELECT status FROM car_rentals WHERE booking_id = 1")
        .fetch_one(&catalog.service.db)
        .await
        .unwrap();
    assert_eq!(status, "CANCELLED");

    // An expired hold frees the car too; a batch with several events of one booking keeps the
    // furthest status whatever the order.
    catalog
        .service
        .publish(&[
            rental_event(
                types::BOOKING_EXPIRED,
                2,
                &other,
                ("2030-07-01", "2030-07-03"),
                BookingStatus::Expired,
            ),
            rental_event(
                types::BOOKING_CREATED,
                2,
                &other,
                ("2030-07-01", "2030-07-03"),
                BookingStatus::PendingPayment,
            ),
            rental_event(
                types::BOOKING_CREATED,
                3,
                &other,
                ("2030-07-10", "2030-07-12"),
                BookingStatus::PendingPayment,
            ),
        ])
        .await;
    assert_eq!(
        found(&catalog, &free("2030-07-01", "2030-07-03")).await,
        [car_id, other_id]
    );
    assert_eq!(
        found(&catalog, &free("2030-07-11", "2030-07-13")).await,
        [car_id]
    );
    let rentals: Vec<(i64, String, i64, NaiveDate, NaiveDate, String)> = sqlx::query_as(
        "SELECT booking_id, car_id::text, user_id, start_date, end_date, status FROM car_rentals \
         ORDER BY booking_id",
    )
    .fetch_all(&catalog.service.db)
    .await
    .unwrap();
    assert_eq!(rentals.len(), 3);
    assert_eq!(
        rentals[2],
        (
            3,
            other_id.to_owned(),
            101,
            date("2030-07-10"),
            date("2030-07-12"),
            "PENDING_PAYMENT".to_owned()
        )
    );
    assert_eq!(rentals[1].5, "EXPIRED");

    // A deleted car is never found, even on free days; its rentals stay.
    let deleted = send(
        &catalog,
        Method::DELETE,
        &format!("{CARS}/{other_id}"),
        Some(&catalog.ops),
        None,
    )
    .await;
    assert_eq!(deleted.status(), StatusCode::OK);
    assert_eq!(
        found(&catalog, &free("2030-08-01", "2030-08-03")).await,
        [car_id]
    );
    let kept: i64 = sqlx::query_scalar("SELECT count(*) FROM car_rentals")
        .fetch_one(&catalog.service.db)
        .await
        .unwrap();
    assert_eq!(kept, 3);
}

#[tokio::test]
async fn views_and_searches_reach_the_outbox_for_analytics() {
    let catalog = start().await;
    let car = create(&catalog, json!({})).await;
    catalog.read(&format!("{CARS}/{}", id(&car))).await;
    catalog
        .read(&format!("{CARS}/search?location=AAA&type=suv"))
        .await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let (viewed, searched) = loop {
        let viewed = catalog.outbox(types::LISTING_VIEWED).await;
        let searched = catalog.outbox(types::SEARCH_PERFORMED).await;
        if !viewed.is_empty() && !searched.is_empty() || std::time::Instant::now() > deadline {
            break (viewed, searched);
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    };
    assert_eq!(viewed.len(), 1, "{viewed:?}");
    assert_eq!(viewed[0]["data"]["product"], "car");
    assert_eq!(viewed[0]["data"]["listingId"], car["id"]);
    assert_eq!(viewed[0]["subject"], car["id"]);
    assert_eq!(searched.len(), 1, "{searched:?}");
    assert_eq!(searched[0]["data"]["product"], "car");
    assert_eq!(
        searched[0]["data"]["query"],
        json!({"location": "AAA", "type": "suv"})
    );
    assert_eq!(searched[0]["data"]["results"], 1);
    let (topic, key): (String, String) =
        sqlx::query_as("SELECT topic, event_key FROM outbox WHERE envelope->>'type' = $1")
            .bind(types::LISTING_VIEWED)
            .fetch_one(&catalog.service.db)
            .await
            .unwrap();
    assert_eq!((topic.as_str(), key.as_str()), (topics::ACTIVITY, "car"));
}

#[tokio::test]
async fn the_demo_schedule_brings_a_fleet_at_every_airport_published_like_any_car() {
    let catalog = Catalog::start(&[("ITINERA_MODE", "demo")]).await;
    let seeded = catalog.service.api.get_anonymous("/seed").await;
    assert_eq!(seeded.status(), StatusCode::CREATED);
    let fleet = catalog::demo::cars::fleet();
    let airports = catalog::demo::airports().len();
    assert!(fleet.len() >= airports * 10);
    let all = catalog.read(&format!("{CARS}?pageSize=1")).await;
    assert_eq!(all["total"], fleet.len());
    let created: Vec<Value> = catalog
        .outbox(types::LISTING_CREATED)
        .await
        .into_iter()
        .filter(|e| e["data"]["product"] == "car")
        .collect();
    assert_eq!(created.len(), fleet.len(), "one listing.created per car");

    // Tokyo's cars are in dollars like the demo fares (one currency for a trip), and each type
    // stands there.
    let tokyo = catalog
        .read(&format!("{CARS}/search?location=NRT&pageSize=100"))
        .await;
    let items = tokyo["items"].as_array().unwrap();
    assert!(items.len() >= 10, "{tokyo}");
    assert!(items.iter().all(|car| car["currency"] == "USD"));
    for car_type in ["economy", "sedan", "suv", "luxury"] {
        assert!(
            items.iter().any(|car| car["type"] == car_type),
            "{car_type}"
        );
    }
    let sample = &items[0];
    let event = created
        .iter()
        .find(|e| e["subject"] == sample["id"])
        .unwrap();
    assert_eq!(event["data"]["car"]["timeZone"], "Asia/Tokyo");
    assert_eq!(event["data"]["car"]["currency"], "USD");
    assert_eq!(event["data"]["version"], 1);
}

#[tokio::test]
async fn only_renters_with_a_completed_rental_review_a_car_once_and_the_car_shows_it() {
    let catalog = start().await;
    let car = create(&catalog, json!({})).await;
    let path = format!("{CARS}/{}/reviews", id(&car));
    let review = json!({"rating": 4, "title": "Clean car", "text": "Easy pick-up."});
    let refused = catalog.post(&path, &catalog.customer, &review).await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    // A confirmed rental that ended yesterday.
    let ended = |offset: i64| {
        (chrono::Utc::now().date_naive() + chrono::Duration::days(offset)).to_string()
    };
    catalog
        .service
        .publish(&[rental_event(
            types::BOOKING_CONFIRMED,
            77,
            &car,
            (&ended(-3), &ended(-1)),
            BookingStatus::Confirmed,
        )])
        .await;
    let written = catalog.post(&path, &catalog.customer, &review).await;
    assert_eq!(written.status(), StatusCode::CREATED);
    let again = catalog.post(&path, &catalog.customer, &review).await;
    assert_eq!(again.status(), StatusCode::CONFLICT);
    let shown = catalog.read(&format!("{CARS}/{}", id(&car))).await;
    assert_eq!(shown["review_count"], 1, "{shown}");
    assert_eq!(shown["rating"], 4.0, "{shown}");

    // A deleted car takes no reviews.
    let deleted = send(
        &catalog,
        Method::DELETE,
        &format!("{CARS}/{}", id(&car)),
        Some(&catalog.ops),
        None,
    )
    .await;
    assert_eq!(deleted.status(), StatusCode::OK);
    let gone = catalog.post(&path, &catalog.customer, &review).await;
    assert_eq!(gone.status(), StatusCode::NOT_FOUND);
}
