//! `GET /seed`: the demo schedule, loaded once and published.

use contracts::events::types;
use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::Catalog;

#[tokio::test]
async fn seed_loads_the_demo_schedule_once_and_publishes_every_flight() {
    // Demo mode keeps seed 002's open `GET /seed`.
    let catalog = Catalog::start(&[("ITINERA_MODE", "demo")]).await;
    let api = &catalog.service.api;
    let first = api.get_anonymous("/seed").await;
    assert_eq!(first.status(), StatusCode::CREATED);
    assert_eq!(
        first.json::<Value>().await.unwrap()["message"],
        "Default flight data added."
    );
    let second = api.get_anonymous("/seed").await;
    assert_eq!(second.status(), StatusCode::OK);
    assert_eq!(
        second.json::<Value>().await.unwrap()["message"],
        "Flight data already exists."
    );

    let first_day = chrono::Utc::now().date_naive() + chrono::Duration::days(1);
    let demo = catalog::demo::schedule(first_day, 1, 1);
    let flights: i64 = sqlx::query_scalar("SELECT count(*) FROM flights")
        .fetch_one(&catalog.service.db)
        .await
        .unwrap();
    assert_eq!(flights, demo.len() as i64);
    let airports = catalog.read("/api/airports").await;
    assert_eq!(
        airports.as_array().unwrap().len(),
        catalog::demo::airports().len()
    );
    let scheduled = catalog.outbox(types::FLIGHT_SCHEDULED).await;
    assert_eq!(
        scheduled.len(),
        demo.len(),
        "one flight.scheduled per flight"
    );

    let sample = &demo[0];
    let found = catalog
        .read(&format!(
            "/api/flight/search-flights?from={}&to={}",
            sample.origin, sample.destination
        ))
        .await;
    let codes: Vec<&str> = found["flights"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["flightCode"].as_str().unwrap())
        .collect();
    assert!(codes.contains(&sample.flight_code.as_str()), "{found}");
}

#[tokio::test]
async fn in_production_only_ops_and_admins_may_seed() {
    let catalog = Catalog::start(&[("ITINERA_MODE", "production")]).await;
    let api = &catalog.service.api;
    let anonymous = api.get_anonymous("/seed").await;
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    let customer = api.get("/seed", &catalog.customer).await;
    assert_eq!(customer.status(), StatusCode::FORBIDDEN);
    let flights: i64 = sqlx::query_scalar("SELECT count(*) FROM flights")
        .fetch_one(&catalog.service.db)
        .await
        .unwrap();
    assert_eq!(flights, 0, "a refused seed loads nothing");

    let ops = api.get("/seed", &catalog.ops).await;
    assert_eq!(ops.status(), StatusCode::CREATED);
}
