//! A short-lived cache of search results. Popular searches repeat within seconds, and seats left
//! are eventually consistent anyway; a time-to-live of about a second keeps answers fresh while
//! sparing the database most of the work. A TTL of zero turns it off.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Entries kept at most; when full, expired entries go, and if none have expired, all do.
const MAX_ENTRIES: usize = 20_000;

pub struct SearchCache<V> {
    ttl: Duration,
    entries: Mutex<HashMap<String, (Instant, Arc<V>)>>,
}

impl<V> SearchCache<V> {
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            entries: Mutex::new(HashMap::new()),
        }
    }

    pub fn get(&self, key: &str) -> Option<Arc<V>> {
        if self.ttl.is_zero() {
            return None;
        }
        let entries = self
            .entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        entries
            .get(key)
            .filter(|(stored, _)| stored.elapsed() < self.ttl)
            .map(|(_, value)| value.clone())
    }

    pub fn put(&self, key: String, value: Arc<V>) {
        if self.ttl.is_zero() {
            return;
        }
        let mut entries = self
            .entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if entries.len() >= MAX_ENTRIES {
            let ttl = self.ttl;
            entries.retain(|_, (stored, _)| stored.elapsed() < ttl);
            if entries.len() >= MAX_ENTRIES {
                entries.clear();
            }
        }
        entries.insert(key, (Instant::now(), value));
    }

    /// Forgets everything (after a change that search results show at once, such as a new flight).
    pub fn clear(&self) {
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_expire_and_a_zero_ttl_caches_nothing() {
        let cache = SearchCache::new(Duration::from_millis(50));
        cache.put("a".into(), Arc::new(1));
        assert_eq!(cache.get("a").as_deref(), Some(&1));
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(cache.get("a"), None);
        let off = SearchCache::new(Duration::ZERO);
        off.put("a".into(), Arc::new(1));
        assert_eq!(off.get("a"), None);
    }

    #[test]
    fn a_full_cache_makes_room() {
        let cache = SearchCache::new(Duration::from_secs(60));
        for i in 0..=MAX_ENTRIES {
            cache.put(i.to_string(), Arc::new(i));
        }
        assert_eq!(
            cache.get(&MAX_ENTRIES.to_string()).as_deref(),
            Some(&MAX_ENTRIES)
        );
        assert!(cache.entries.lock().unwrap().len() <= MAX_ENTRIES);
    }
}
