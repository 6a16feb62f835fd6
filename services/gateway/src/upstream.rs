//! Where requests for a service go. Selection is behind [`Upstreams::pick`], the one seam that
//! discovery, health and balancing policies grow behind.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::http::Uri;
use platform::config::{ConfigError, ConfigSource};

/// One running instance of a service.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Instance {
    /// `scheme://host:port`, without a path.
    pub base: String,
    /// A name for logs and status pages, e.g. `identity_1`.
    pub name: String,
}

/// The instances of one service.
#[derive(Debug)]
pub struct Upstreams {
    pub service: &'static str,
    instances: Vec<Instance>,
    next: AtomicUsize,
}

impl Upstreams {
    pub fn new(service: &'static str, bases: Vec<String>) -> Self {
        let instances = bases
            .into_iter()
            .enumerate()
            .map(|(i, base)| Instance {
                name: format!("{service}_{}", i + 1),
                base: base.trim_end_matches('/').to_owned(),
            })
            .collect();
        Self {
            service,
            instances,
            next: AtomicUsize::new(0),
        }
    }

    /// Reads `<SERVICE>_UPSTREAMS` (a comma-separated list of base URLs), defaulting to the
    /// service's own port on this host.
    pub fn load(
        source: &ConfigSource,
        service: &'static str,
        default_port: u16,
    ) -> Result<Arc<Self>, ConfigError> {
        let key = format!("{}_UPSTREAMS", service.to_ascii_uppercase());
        let port_key = format!("{}_PORT", service.to_ascii_uppercase());
        let bases: Vec<String> = match source.get(&key) {
            Some(list) => list
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect(),
            None => {
                let port = source.parse::<u16>(&port_key)?.unwrap_or(default_port);
                vec![format!("http://127.0.0.1:{port}")]
            }
        };
        if bases.is_empty() {
            return Err(ConfigError::invalid(&key, "", "needs at least one URL"));
        }
        for base in &bases {
            let valid = base.starts_with("http://")
                && base.parse::<Uri>().is_ok_and(|uri| {
                    uri.host().is_some() && uri.path_and_query().is_none_or(|p| p.as_str() == "/")
                });
            if !valid {
                return Err(ConfigError::invalid(
                    &key,
                    base,
                    "expected http://host:port",
                ));
            }
        }
        Ok(Arc::new(Self::new(service, bases)))
    }

    /// The instance for the next request: round robin over the configured instances.
    pub fn pick(&self) -> Option<&Instance> {
        if self.instances.is_empty() {
            return None;
        }
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.instances.len();
        self.instances.get(i)
    }

    pub fn instances(&self) -> &[Instance] {
        &self.instances
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_robin_over_configured_instances() {
        let source = ConfigSource::from_pairs([(
            "IDENTITY_UPSTREAMS",
            "http://127.0.0.1:1/, http://127.0.0.1:2",
        )]);
        let upstreams = Upstreams::load(&source, "identity", 5001).unwrap();
        let picked: Vec<_> = (0..4)
            .map(|_| upstreams.pick().unwrap().base.clone())
            .collect();
        assert_eq!(
            picked,
            [
                "http://127.0.0.1:1",
                "http://127.0.0.1:2",
                "http://127.0.0.1:1",
                "http://127.0.0.1:2"
            ]
        );
        assert_eq!(upstreams.instances()[1].name, "identity_2");
    }

    #[test]
    fn defaults_to_the_service_port_and_rejects_bad_urls() {
        let upstreams = Upstreams::load(&ConfigSource::default(), "identity", 5001).unwrap();
        assert_eq!(upstreams.pick().unwrap().base, "http://127.0.0.1:5001");
        for bad in [
            "127.0.0.1:5001",
            "http://",
            "http://h:1/path",
            "https://h:1",
        ] {
            let source = ConfigSource::from_pairs([("IDENTITY_UPSTREAMS", bad)]);
            let err = Upstreams::load(&source, "identity", 5001).unwrap_err();
            assert!(
                err.to_string().contains("IDENTITY_UPSTREAMS"),
                "{bad}: {err}"
            );
        }
    }
}
