//! What catalog does: keeps airports, aircraft and flights, publishes every flight change as an
//! event in the same transaction, answers searches, and loads the demo schedule.

use std::collections::HashMap;

use chrono::{DateTime, Duration, FixedOffset, NaiveDate, Utc};
use contracts::events::{FlightEvent, FlightSnapshot};
use platform::events::{Envelope, outbox};
use platform::money::Money;
use sqlx::{PgConnection, PgPool};

use crate::cache::SearchCache;
use crate::directory::AirportDirectory;
use crate::domain::{Cabin, CabinLayout, FlightNumber, FlightStatus, IataCode, validate_seat_map};
use crate::error::CatalogError;
use crate::store;
use crate::store::aircraft::AircraftType;
use crate::store::airports::Airport;
use crate::store::flights::{Flight, FlightCabin, FlightChange, NewFlight};
use crate::store::search::{SearchFilter, SearchRow, Sort};

pub struct Catalog {
    pub db: PgPool,
    pub airports: AirportDirectory,
    pub searches: SearchCache<SearchPage>,
}

/// A flight to add to the schedule, parsed.
pub struct ScheduleFlight {
    pub flight_number: FlightNumber,
    pub airline: String,
    pub origin: IataCode,
    pub destination: IataCode,
    pub departure_at: DateTime<FixedOffset>,
    pub arrival_at: DateTime<FixedOffset>,
    pub aircraft_type_id: i64,
    pub fares: Vec<(Cabin, Money)>,
}

/// Changes to a flight, parsed.
#[derive(Default)]
pub struct FlightPatch {
    pub departure_at: Option<DateTime<FixedOffset>>,
    pub arrival_at: Option<DateTime<FixedOffset>>,
    pub status: Option<FlightStatus>,
    pub gate: Option<Option<String>>,
    pub fares: Vec<(Cabin, Money)>,
}

/// A flight with everything a client shows.
pub struct FlightDetail {
    pub flight: Flight,
    pub cabins: Vec<FlightCabin>,
}

/// A search as a client asked for it, before the airports are resolved.
pub struct SearchRequest {
    pub from: String,
    pub to: String,
    pub dates: Option<(NaiveDate, NaiveDate)>,
    pub cabin: Cabin,
    pub passengers: i32,
    pub max_fare: Option<Money>,
    pub airline: Option<String>,
    pub sort: Sort,
    pub page: u32,
    pub page_size: u32,
}

pub struct SearchPage {
    pub rows: Vec<SearchRow>,
    pub total: i64,
}

impl SearchRequest {
    /// Two requests with the same key have the same answer.
    fn cache_key(&self) -> String {
        format!(
            "{}|{}|{:?}|{}|{}|{:?}|{:?}|{:?}|{}|{}",
            self.from.to_lowercase(),
            self.to.to_lowercase(),
            self.dates,
            self.cabin,
            self.passengers,
            self.max_fare.map(|m| (m.minor(), m.currency().to_string())),
            self.airline.as_deref().map(str::to_lowercase),
            self.sort,
            self.page,
            self.page_size
        )
    }
}

/// The longest date range one search may cover.
pub const MAX_SEARCH_DAYS: i64 = 31;

/// Which event a flight's change is, given its snapshot.
type Kind = fn(FlightSnapshot) -> FlightEvent;

fn flight_event(kind: Kind, snapshot: FlightSnapshot) -> Result<(String, Envelope), CatalogError> {
    let key = snapshot.flight_id.to_string();
    let event = kind(snapshot);
    let data = event.data().map_err(anyhow::Error::from)?;
    Ok((
        key.clone(),
        Envelope::new("catalog", event.kind(), key, data),
    ))
}

async fn publish(tx: &mut PgConnection, kind: Kind, flight_id: i64) -> Result<(), CatalogError> {
    let snapshot = store::flights::snapshot(&mut *tx, flight_id)
        .await?
        .ok_or_else(|| CatalogError::NotFound("Flight not found".into()))?;
    let (key, envelope) = flight_event(kind, snapshot)?;
    outbox::enqueue(tx, FlightEvent::TOPIC, &key, &envelope).await?;
    crate::search_cache::changed(tx).await?;
    Ok(())
}

impl Catalog {
    pub fn new(db: PgPool, search_cache_ttl: std::time::Duration) -> Self {
        Self {
            db,
            airports: AirportDirectory::new(),
            searches: SearchCache::new(search_cache_ttl),
        }
    }

    pub async fn create_airport(&self, airport: Airport) -> Result<Airport, CatalogError> {
        if !store::airports::insert(&self.db, &airport).await? {
            return Err(CatalogError::Conflict(format!(
                "Airport {} already exists",
                airport.iata
            )));
        }
        self.airports.reload(&self.db).await?;
        Ok(airport)
    }

    pub async fn create_aircraft(
        &self,
        model: &str,
        cabins: &[CabinLayout],
    ) -> Result<AircraftType, CatalogError> {
        validate_aircraft(model, cabins)?;
        match store::aircraft::insert(&self.db, model.trim(), cabins).await {
            Ok(aircraft) => Ok(aircraft),
            Err(e) if platform::db::is_unique_violation(&e) => Err(CatalogError::Conflict(
                format!("Aircraft type {:?} already exists", model.trim()),
            )),
            Err(e) => Err(e.into()),
        }
    }

    /// Renames an aircraft type, or changes its seat map while no flight uses it.
    pub async fn update_aircraft(
        &self,
        id: i64,
        model: Option<&str>,
        cabins: Option<&[CabinLayout]>,
    ) -> Result<AircraftType, CatalogError> {
        if let Some(cabins) = cabins {
            validate_aircraft(model.unwrap_or("unchanged"), cabins)?;
        }
        let mut tx = self.db.begin().await?;
        if cabins.is_some() && store::aircraft::in_use(&mut *tx, id).await? {
            return Err(CatalogError::Conflict(
                "The seat map of an aircraft type that flights use cannot change; add a new type"
                    .into(),
            ));
        }
        let updated =
            match store::aircraft::update(&mut *tx, id, model.map(str::trim), cabins).await {
                Ok(Some(aircraft)) => aircraft,
                Ok(None) => return Err(CatalogError::NotFound("Aircraft type not found".into())),
                Err(e) if platform::db::is_unique_violation(&e) => {
                    return Err(CatalogError::Conflict(
                        "Another aircraft type has that model name".into(),
                    ));
                }
                Err(e) => return Err(e.into()),
            };
        tx.commit().await?;
        Ok(updated)
    }

    pub async fn flight(&self, id: i64) -> Result<FlightDetail, CatalogError> {
        let flight = store::flights::find(&self.db, id)
            .await?
            .ok_or_else(|| CatalogError::NotFound("Flight not found".into()))?;
        let cabins = store::flights::cabins(&self.db, id).await?;
        Ok(FlightDetail { flight, cabins })
    }

    /// Adds a flight and publishes `flight.scheduled` in the same transaction.
    pub async fn schedule_flight(
        &self,
        request: ScheduleFlight,
    ) -> Result<FlightDetail, CatalogError> {
        let mut tx = self.db.begin().await?;
        let origin = store::airports::find(&mut *tx, request.origin.as_str())
            .await?
            .ok_or_else(|| {
                CatalogError::Invalid(format!("Unknown airport {}", request.origin.as_str()))
            })?;
        if store::airports::find(&mut *tx, request.destination.as_str())
            .await?
            .is_none()
        {
            return Err(CatalogError::Invalid(format!(
                "Unknown airport {}",
                request.destination.as_str()
            )));
        }
        if request.origin == request.destination {
            return Err(CatalogError::Invalid(
                "origin and destination must differ".into(),
            ));
        }
        let departure_at = request.departure_at.with_timezone(&Utc);
        let arrival_at = request.arrival_at.with_timezone(&Utc);
        validate_times(departure_at, arrival_at)?;
        if departure_at < Utc::now() {
            return Err(CatalogError::Invalid(
                "departureAt must be in the future".into(),
            ));
        }
        let aircraft = store::aircraft::find(&mut *tx, request.aircraft_type_id)
            .await?
            .ok_or_else(|| {
                CatalogError::Invalid(format!(
                    "Unknown aircraft type {}",
                    request.aircraft_type_id
                ))
            })?;
        let cabins = fares_for(&aircraft, &request.fares)?;
        let local_date = platform::time::time_zone(&origin.time_zone)
            .map(|tz| departure_at.with_timezone(&tz).date_naive())
            .unwrap_or_else(|_| departure_at.date_naive());
        let flight_code = request.flight_number.flight_code(local_date);
        let airline = request.airline.trim();
        if airline.is_empty() || airline.len() > 64 {
            return Err(CatalogError::Invalid(
                "airline must be 1 to 64 characters".into(),
            ));
        }
        let new = NewFlight {
            flight_code: &flight_code,
            airline,
            origin: request.origin.as_str(),
            destination: request.destination.as_str(),
            departure_at,
            arrival_at,
            aircraft_type_id: aircraft.id,
            cabins,
        };
        let id = match store::flights::insert_many(&mut tx, std::slice::from_ref(&new)).await {
            Ok(ids) => ids[0],
            Err(e) if platform::db::is_unique_violation(&e) => {
                return Err(CatalogError::Conflict(format!(
                    "Flight {flight_code} already exists"
                )));
            }
            Err(e) => return Err(e.into()),
        };
        publish(&mut tx, FlightEvent::Scheduled, id).await?;
        tx.commit().await?;
        self.searches.clear();
        tracing::info!(flight_id = id, flight_code, "flight scheduled");
        self.flight(id).await
    }

    /// Applies a change and publishes `flight.status-changed` (status, gate or times) and/or
    /// `flight.updated` (fares) in the same transaction.
    pub async fn change_flight(
        &self,
        id: i64,
        patch: FlightPatch,
    ) -> Result<FlightDetail, CatalogError> {
        let mut tx = self.db.begin().await?;
        let flight = store::flights::find_for_update(&mut tx, id)
            .await?
            .ok_or_else(|| CatalogError::NotFound("Flight not found".into()))?;
        let departure_at = patch.departure_at.map(|t| t.with_timezone(&Utc));
        let arrival_at = patch.arrival_at.map(|t| t.with_timezone(&Utc));
        validate_times(
            departure_at.unwrap_or(flight.departure_at),
            arrival_at.unwrap_or(flight.arrival_at),
        )?;
        let status_changed = patch.status.is_some_and(|s| s != flight.status)
            || patch.gate.as_ref().is_some_and(|g| *g != flight.gate)
            || departure_at.is_some_and(|t| t != flight.departure_at)
            || arrival_at.is_some_and(|t| t != flight.arrival_at);
        for (cabin, fare) in &patch.fares {
            if fare.minor() < 0 {
                return Err(CatalogError::Invalid("fares cannot be negative".into()));
            }
            let changed = store::flights::set_fare(
                &mut tx,
                id,
                cabin.as_str(),
                fare.minor(),
                fare.currency().as_str(),
            )
            .await?;
            if changed == 0 {
                return Err(CatalogError::Invalid(format!(
                    "This flight has no {cabin} cabin"
                )));
            }
        }
        if !status_changed && patch.fares.is_empty() {
            return self.flight(id).await;
        }
        store::flights::update(
            &mut tx,
            id,
            &FlightChange {
                departure_at,
                arrival_at,
                status: patch.status,
                gate: patch.gate,
            },
        )
        .await?;
        if status_changed {
            publish(&mut tx, FlightEvent::StatusChanged, id).await?;
        }
        if !patch.fares.is_empty() {
            publish(&mut tx, FlightEvent::Updated, id).await?;
        }
        tx.commit().await?;
        self.searches.clear();
        self.flight(id).await
    }

    /// Finds flights. `Ok(None)` when `from` or `to` names no known airport or city.
    pub async fn search(
        &self,
        request: &SearchRequest,
    ) -> Result<Option<std::sync::Arc<SearchPage>>, CatalogError> {
        let origins = self.airports.resolve(&self.db, &request.from).await?;
        let destinations = self.airports.resolve(&self.db, &request.to).await?;
        if origins.is_empty() || destinations.is_empty() {
            return Ok(None);
        }
        let key = request.cache_key();
        if let Some(page) = self.searches.get(&key) {
            return Ok(Some(page));
        }
        let now = Utc::now();
        let (departs_from, departs_until) = match request.dates {
            // Local dates anywhere on Earth lie within 14 hours of UTC midnight.
            Some((first, last)) => (
                (first.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc() - Duration::hours(14))
                    .max(now),
                last.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc() + Duration::hours(38),
            ),
            None => (now, now + Duration::days(366)),
        };
        let filter = SearchFilter {
            origins,
            destinations,
            departs_from,
            departs_until,
            local_dates: request.dates,
            cabin: request.cabin.as_str().to_owned(),
            passengers: request.passengers,
            max_fare_minor: request.max_fare.map(|m| m.minor()),
            max_fare_currency: request.max_fare.map(|m| m.currency().as_str().to_owned()),
            airline: request.airline.clone(),
            sort: request.sort,
            limit: i64::from(request.page_size),
            offset: i64::from(request.page - 1) * i64::from(request.page_size),
        };
        let rows = store::search::search(&self.db, &filter).await?;
        let total = rows.first().map_or(0, |r| r.total);
        let page = std::sync::Arc::new(SearchPage { rows, total });
        self.searches.put(key, page.clone());
        Ok(Some(page))
    }

    /// Loads the demo schedule if there are no flights yet. Returns whether it loaded anything.
    pub async fn seed_demo(
        &self,
        first_day: NaiveDate,
        days: u32,
        per_day: u32,
    ) -> Result<bool, CatalogError> {
        let mut tx = self.db.begin().await?;
        // Two seed requests at once: the second waits, then finds the flights.
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(platform::db::locks::DEMO_SCHEDULE)
            .execute(&mut *tx)
            .await?;
        if store::flights::any_exist(&mut *tx).await? {
            // A catalog seeded before there were hotels gets them now.
            crate::hotels::load_demo(&mut tx, first_day).await?;
            tx.commit().await?;
            return Ok(false);
        }
        for &(iata, name, city, country, time_zone, latitude, longitude) in crate::demo::airports()
        {
            store::airports::insert(
                &mut *tx,
                &Airport {
                    iata: iata.into(),
                    name: name.into(),
                    city: city.into(),
                    country: country.into(),
                    time_zone: time_zone.into(),
                    latitude: Some(latitude),
                    longitude: Some(longitude),
                },
            )
            .await?;
        }
        let existing: HashMap<String, AircraftType> = store::aircraft::list(&mut *tx)
            .await?
            .into_iter()
            .map(|a| (a.model.clone(), a))
            .collect();
        let mut fleet = Vec::new();
        for (model, cabins) in crate::demo::aircraft() {
            let aircraft = match existing.get(model) {
                Some(aircraft) => aircraft.clone(),
                None => store::aircraft::insert(&mut *tx, model, &cabins).await?,
            };
            fleet.push(aircraft);
        }
        let schedule = crate::demo::schedule(first_day, days, per_day);
        let new_flights: Vec<NewFlight<'_>> = schedule
            .iter()
            .map(|f| NewFlight {
                flight_code: &f.flight_code,
                airline: f.airline,
                origin: f.origin,
                destination: f.destination,
                departure_at: f.departure_at,
                arrival_at: f.arrival_at,
                aircraft_type_id: fleet[f.aircraft].id,
                cabins: f
                    .fares
                    .iter()
                    .map(|(cabin, dollars)| {
                        let capacity = fleet[f.aircraft]
                            .cabins
                            .iter()
                            .find(|l| l.cabin == *cabin)
                            .map_or(0, CabinLayout::capacity);
                        (*cabin, dollars * 100, "USD".to_owned(), capacity)
                    })
                    .collect(),
            })
            .collect();
        let ids = store::flights::insert_many(&mut tx, &new_flights).await?;
        let zones: HashMap<&str, &str> =
            crate::demo::airports().iter().map(|a| (a.0, a.4)).collect();
        let mut events = Vec::with_capacity(ids.len());
        for ((new, scheduled), id) in new_flights.iter().zip(&schedule).zip(ids) {
            let aircraft = &fleet[scheduled.aircraft];
            let flight = Flight {
                id,
                flight_code: new.flight_code.to_owned(),
                airline: new.airline.to_owned(),
                origin: new.origin.to_owned(),
                destination: new.destination.to_owned(),
                departure_at: new.departure_at,
                arrival_at: new.arrival_at,
                aircraft_type_id: aircraft.id,
                status: FlightStatus::OnTime,
                gate: None,
                version: 1,
                origin_time_zone: zones.get(new.origin).copied().unwrap_or("UTC").to_owned(),
                destination_time_zone: zones
                    .get(new.destination)
                    .copied()
                    .unwrap_or("UTC")
                    .to_owned(),
            };
            let cabins: Vec<FlightCabin> = new
                .cabins
                .iter()
                .map(|(cabin, fare, currency, capacity)| FlightCabin {
                    cabin: *cabin,
                    fare_minor: *fare,
                    currency: currency.clone(),
                    capacity: *capacity,
                    seats_left: *capacity,
                })
                .collect();
            let snapshot = store::flights::snapshot_of(&flight, &aircraft.cabins, &cabins);
            events.push(flight_event(FlightEvent::Scheduled, snapshot)?);
        }
        outbox::enqueue_many(&mut tx, FlightEvent::TOPIC, &events).await?;
        crate::search_cache::changed(&mut tx).await?;
        let cars = crate::cars::load_demo_fleet(&mut tx).await?;
        let hotels = crate::hotels::load_demo(&mut tx, first_day).await?;
        tx.commit().await?;
        // Statistics for the planner now, rather than whenever autovacuum (if it is on) gets to
        // the tables: search plans are chosen from them.
        sqlx::query("ANALYZE").execute(&self.db).await?;
        self.airports.reload(&self.db).await?;
        self.searches.clear();
        tracing::info!(flights = events.len(), cars, hotels, "demo schedule loaded");
        Ok(true)
    }
}

fn validate_aircraft(model: &str, cabins: &[CabinLayout]) -> Result<(), CatalogError> {
    let model = model.trim();
    if model.is_empty() || model.len() > 64 {
        return Err(CatalogError::Invalid(
            "model must be 1 to 64 characters".into(),
        ));
    }
    validate_seat_map(cabins).map_err(CatalogError::Invalid)
}

fn validate_times(
    departure_at: DateTime<Utc>,
    arrival_at: DateTime<Utc>,
) -> Result<(), CatalogError> {
    if arrival_at <= departure_at {
        return Err(CatalogError::Invalid(
            "arrivalAt must be after departureAt".into(),
        ));
    }
    if arrival_at - departure_at > Duration::hours(24) {
        return Err(CatalogError::Invalid(
            "a flight cannot last more than 24 hours".into(),
        ));
    }
    Ok(())
}

/// Exactly one fare for each cabin of the aircraft: `(cabin, fare, currency, capacity)`.
fn fares_for(
    aircraft: &AircraftType,
    fares: &[(Cabin, Money)],
) -> Result<Vec<(Cabin, i64, String, i32)>, CatalogError> {
    let mut rows = Vec::new();
    for layout in &aircraft.cabins {
        let matching: Vec<&Money> = fares
            .iter()
            .filter(|(c, _)| *c == layout.cabin)
            .map(|(_, m)| m)
            .collect();
        match matching.as_slice() {
            [fare] if fare.minor() >= 0 => rows.push((
                layout.cabin,
                fare.minor(),
                fare.currency().as_str().to_owned(),
                layout.capacity(),
            )),
            [_] => return Err(CatalogError::Invalid("fares cannot be negative".into())),
            _ => {
                return Err(CatalogError::Invalid(format!(
                    "fares needs exactly one fare for the {} cabin of {}",
                    layout.cabin, aircraft.model
                )));
            }
        }
    }
    if let Some((cabin, _)) = fares
        .iter()
        .find(|(c, _)| !aircraft.cabins.iter().any(|l| l.cabin == *c))
    {
        return Err(CatalogError::Invalid(format!(
            "{} has no {cabin} cabin",
            aircraft.model
        )));
    }
    Ok(rows)
}
