//! Rental cars: keeps them, publishes every change (`listing.created|updated|deleted` on
//! `catalog.listings`) in the same transaction, and finds the cars free for a range of days.

use contracts::events::{ListingEvent, ListingSnapshot};
use platform::events::{Envelope, outbox};
use platform::http::PageRequest;
use platform::money::Currency;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::domain::IataCode;
use crate::domain::cars::{self as rules, CarType, Transmission};
use crate::error::CatalogError;
use crate::store;
use crate::store::airports::Airport;
use crate::store::cars::{Car, CarFields, CarFilter};

pub struct CarCatalog {
    pub db: PgPool,
}

/// A car as a request describes it, each value already parsed. On create, `car_type`,
/// `daily_rental_price`, `brand`, `model`, `year` and `location_code` are required; on update,
/// what is absent stays as it was.
#[derive(Clone, Debug, Default)]
pub struct CarDraft {
    pub location: Option<String>,
    pub car_type: Option<CarType>,
    /// Parsed once the currency is known (it decides how many decimals are allowed).
    pub daily_rental_price: Option<serde_json::Value>,
    pub currency: Option<Currency>,
    pub brand: Option<String>,
    pub model: Option<String>,
    pub year: Option<i32>,
    pub available: Option<bool>,
    pub seats: Option<i16>,
    pub transmission: Option<Transmission>,
    pub location_code: Option<IataCode>,
}

fn missing(name: &str) -> CatalogError {
    CatalogError::Invalid(format!("{name} is required"))
}

/// Which event a car's change is, given its snapshot.
type Kind = fn(ListingSnapshot) -> ListingEvent;

/// The event as an outbox row, keyed by the car's id.
pub fn listing_event(kind: Kind, car: &Car) -> Result<(String, Envelope), CatalogError> {
    let key = car.id.to_string();
    let event = kind(car.snapshot());
    let data = event.data().map_err(anyhow::Error::from)?;
    Ok((
        key.clone(),
        Envelope::new("catalog", event.kind(), key, data),
    ))
}

async fn publish(tx: &mut PgConnection, kind: Kind, car: &Car) -> Result<(), CatalogError> {
    let (key, envelope) = listing_event(kind, car)?;
    outbox::enqueue(tx, ListingEvent::TOPIC, &key, &envelope).await?;
    crate::search_cache::changed(tx).await?;
    Ok(())
}

async fn pick_up_airport(tx: &mut PgConnection, code: &IataCode) -> Result<Airport, CatalogError> {
    store::airports::find(&mut *tx, code.as_str())
        .await?
        .ok_or_else(|| {
            CatalogError::Invalid(format!(
                "location_code {} is not a known airport",
                code.as_str()
            ))
        })
}

impl CarCatalog {
    pub fn new(db: PgPool) -> Self {
        Self { db }
    }

    pub async fn car(&self, id: Uuid) -> Result<Car, CatalogError> {
        store::cars::find(&self.db, id)
            .await?
            .ok_or_else(|| CatalogError::NotFound("Car not found".into()))
    }

    pub async fn list(&self, page: PageRequest) -> Result<(Vec<Car>, i64), CatalogError> {
        Ok(store::cars::list(&self.db, page).await?)
    }

    pub async fn search(
        &self,
        filter: &CarFilter,
        page: PageRequest,
    ) -> Result<(Vec<Car>, i64), CatalogError> {
        Ok(store::cars::search(&self.db, filter, page).await?)
    }

    /// Adds a car and publishes `listing.created` in the same transaction. Without a currency the
    /// car is priced in the airport's (USD where catalog does not know it); without a location it
    /// is the airport's city. Without an id, the car gets a new one.
    pub async fn create(&self, id: Option<Uuid>, draft: CarDraft) -> Result<Car, CatalogError> {
        let mut tx = self.db.begin().await?;
        let code = draft
            .location_code
            .as_ref()
            .ok_or_else(|| missing("location_code"))?;
        let airport = pick_up_airport(&mut tx, code).await?;
        let currency = match draft.currency {
            Some(currency) => currency,
            None => Currency::parse(rules::currency_of_country(&airport.country).unwrap_or("USD"))
                .map_err(CatalogError::Invalid)?,
        };
        let price = draft
            .daily_rental_price
            .as_ref()
            .ok_or_else(|| missing("daily_rental_price"))?;
        let fields = CarFields {
            location: draft.location.unwrap_or(airport.city),
            car_type: draft.car_type.ok_or_else(|| missing("type"))?,
            daily_price: rules::daily_price(price, currency).map_err(CatalogError::Invalid)?,
            brand: draft.brand.ok_or_else(|| missing("brand"))?,
            model: draft.model.ok_or_else(|| missing("model"))?,
            year: draft.year.ok_or_else(|| missing("year"))?,
            available: draft.available.unwrap_or(true),
            seats: draft.seats.unwrap_or(5),
            transmission: draft.transmission.unwrap_or(Transmission::Automatic),
            location_code: airport.iata,
        };
        let id = id.unwrap_or_else(Uuid::new_v4);
        match store::cars::insert_many(&mut tx, &[(id, fields)]).await {
            Ok(()) => {}
            Err(e) if platform::db::is_unique_violation(&e) => {
                return Err(CatalogError::Conflict(format!("Car {id} already exists")));
            }
            Err(e) => return Err(e.into()),
        }
        let car = store::cars::find(&mut *tx, id)
            .await?
            .ok_or_else(|| CatalogError::NotFound("Car not found".into()))?;
        publish(&mut tx, ListingEvent::Created, &car).await?;
        tx.commit().await?;
        tracing::info!(car_id = %id, location_code = %car.location_code, "car listed");
        Ok(car)
    }

    /// Changes what the draft gives and publishes `listing.updated` in the same transaction. A new
    /// currency needs a new price in it.
    pub async fn update(&self, id: Uuid, draft: CarDraft) -> Result<Car, CatalogError> {
        let mut tx = self.db.begin().await?;
        let car = store::cars::find_for_update(&mut tx, id)
            .await?
            .ok_or_else(|| CatalogError::NotFound("Car not found".into()))?;
        let location_code = match &draft.location_code {
            Some(code) => pick_up_airport(&mut tx, code).await?.iata,
            None => car.location_code.clone(),
        };
        let currency_changes = draft
            .currency
            .is_some_and(|c| c.as_str() != car.currency.as_str());
        let daily_price = match (&draft.daily_rental_price, draft.currency) {
            (Some(price), currency) => rules::daily_price(
                price,
                currency.unwrap_or(Currency::parse(&car.currency).map_err(CatalogError::Invalid)?),
            )
            .map_err(CatalogError::Invalid)?,
            (None, _) if currency_changes => {
                return Err(CatalogError::Invalid(
                    "a new currency needs the daily_rental_price in it".into(),
                ));
            }
            (None, _) => platform::money::Money::stored(car.daily_price_minor, &car.currency),
        };
        let fields = CarFields {
            location: draft.location.unwrap_or_else(|| car.location.clone()),
            car_type: draft.car_type.unwrap_or(car.car_type),
            daily_price,
            brand: draft.brand.unwrap_or_else(|| car.brand.clone()),
            model: draft.model.unwrap_or_else(|| car.model.clone()),
            year: draft.year.unwrap_or(car.year),
            available: draft.available.unwrap_or(car.available),
            seats: draft.seats.unwrap_or(car.seats),
            transmission: draft.transmission.unwrap_or(car.transmission),
            location_code,
        };
        store::cars::update(&mut tx, id, &fields).await?;
        let car = store::cars::find(&mut *tx, id)
            .await?
            .ok_or_else(|| CatalogError::NotFound("Car not found".into()))?;
        publish(&mut tx, ListingEvent::Updated, &car).await?;
        tx.commit().await?;
        Ok(car)
    }

    /// Takes the car out of every read and publishes `listing.deleted` with its last snapshot;
    /// the rentals it has stay booked.
    pub async fn delete(&self, id: Uuid) -> Result<(), CatalogError> {
        let mut tx = self.db.begin().await?;
        let mut car = store::cars::find_for_update(&mut tx, id)
            .await?
            .ok_or_else(|| CatalogError::NotFound("Car not found".into()))?;
        store::cars::delete(&mut tx, id).await?;
        car.version += 1;
        publish(&mut tx, ListingEvent::Deleted, &car).await?;
        tx.commit().await?;
        tracing::info!(car_id = %id, "car deleted");
        Ok(())
    }
}

/// Adds the demo fleet (part of loading the demo schedule, in its transaction) and publishes a
/// `listing.created` for each car; the airports must be there. Returns how many cars it added.
pub async fn load_demo_fleet(tx: &mut PgConnection) -> Result<usize, CatalogError> {
    let fleet = crate::demo::cars::fleet();
    store::cars::insert_many(&mut *tx, &fleet).await?;
    let zones: std::collections::HashMap<&str, &str> =
        crate::demo::airports().iter().map(|a| (a.0, a.4)).collect();
    let mut events = Vec::with_capacity(fleet.len());
    for (id, fields) in &fleet {
        let car = Car {
            id: *id,
            location: fields.location.clone(),
            car_type: fields.car_type,
            daily_price_minor: fields.daily_price.minor(),
            currency: fields.daily_price.currency().as_str().to_owned(),
            brand: fields.brand.clone(),
            model: fields.model.clone(),
            year: fields.year,
            available: fields.available,
            seats: fields.seats,
            transmission: fields.transmission,
            location_code: fields.location_code.clone(),
            time_zone: zones
                .get(fields.location_code.as_str())
                .copied()
                .unwrap_or("UTC")
                .to_owned(),
            rating: None,
            review_count: 0,
            version: 1,
        };
        events.push(listing_event(ListingEvent::Created, &car)?);
    }
    outbox::enqueue_many(&mut *tx, ListingEvent::TOPIC, &events).await?;
    Ok(fleet.len())
}
