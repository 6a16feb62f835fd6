//! Airports in memory: every search names two places, and airports change rarely, so resolving
//! a city or code needs no database round trip.

use std::collections::HashMap;
use std::sync::RwLock;
use std::time::{Duration, Instant};

use sqlx::PgPool;

/// How long a copy is used before it is read again (another instance may have added airports).
const REFRESH_EVERY: Duration = Duration::from_secs(30);

#[derive(Default)]
struct Snapshot {
    codes: HashMap<String, ()>,
    /// Lower-case city name → its airports' codes, sorted.
    cities: HashMap<String, Vec<String>>,
    loaded_at: Option<Instant>,
}

pub struct AirportDirectory {
    snapshot: RwLock<Snapshot>,
}

impl AirportDirectory {
    pub fn new() -> Self {
        Self {
            snapshot: RwLock::new(Snapshot::default()),
        }
    }

    /// Reads every airport again.
    pub async fn reload(&self, db: &PgPool) -> Result<(), sqlx::Error> {
        let rows: Vec<(String, String)> = sqlx::query_as("SELECT iata, city FROM airports")
            .fetch_all(db)
            .await?;
        let mut snapshot = Snapshot {
            loaded_at: Some(Instant::now()),
            ..Snapshot::default()
        };
        for (iata, city) in rows {
            snapshot.codes.insert(iata.clone(), ());
            snapshot
                .cities
                .entry(city.to_lowercase())
                .or_default()
                .push(iata);
        }
        for codes in snapshot.cities.values_mut() {
            codes.sort();
        }
        *self
            .snapshot
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = snapshot;
        Ok(())
    }

    /// The airports a search term names: the airport with that IATA code, or every airport of
    /// the city with that name (any case).
    pub async fn resolve(&self, db: &PgPool, term: &str) -> Result<Vec<String>, sqlx::Error> {
        let stale = self
            .snapshot
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .loaded_at
            .is_none_or(|t| t.elapsed() > REFRESH_EVERY);
        if stale {
            self.reload(db).await?;
        }
        let term = term.trim();
        let snapshot = self
            .snapshot
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let code = term.to_ascii_uppercase();
        if term.len() == 3 && snapshot.codes.contains_key(&code) {
            return Ok(vec![code]);
        }
        Ok(snapshot
            .cities
            .get(&term.to_lowercase())
            .cloned()
            .unwrap_or_default())
    }
}

impl Default for AirportDirectory {
    fn default() -> Self {
        Self::new()
    }
}
