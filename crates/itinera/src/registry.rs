//! Every service of the platform, once. Adding a service is a line here (and its spec in
//! `contracts::services`, which the gateway reads).

use platform::service::Entry;

/// The services behind the gateway, in the order they start: identity first, since the others
/// verify tokens against its keys.
pub const BACKENDS: [Entry; 6] = [
    Entry::of::<identity::Identity>(),
    Entry::of::<catalog::Catalog>(),
    Entry::of::<booking::Booking>(),
    Entry::of::<notification::Notification>(),
    Entry::of::<payment::Payment>(),
    Entry::of::<web::Web>(),
];

/// The one entry point, started after every backend so that it can find them.
pub const GATEWAY: Entry = Entry::of::<gateway::Gateway>();

/// Every service, by name.
pub fn find(name: &str) -> Option<Entry> {
    BACKENDS
        .into_iter()
        .chain([GATEWAY])
        .find(|entry| entry.spec.name == name)
}

/// Every service's name, for the command line.
pub fn names() -> Vec<&'static str> {
    BACKENDS
        .iter()
        .chain([&GATEWAY])
        .map(|entry| entry.spec.name)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_registry_and_the_gateways_table_name_the_same_services_in_the_same_order() {
        let registered: Vec<_> = BACKENDS.iter().map(|entry| entry.spec).collect();
        assert_eq!(registered, contracts::services::BACKENDS);
        assert_eq!(GATEWAY.spec, contracts::services::GATEWAY);
    }

    #[test]
    fn services_are_found_by_name() {
        assert_eq!(find("booking").map(|e| e.spec.default_port), Some(5002));
        assert_eq!(find("gateway").map(|e| e.spec.default_port), Some(4000));
        assert!(find("nothing").is_none());
        assert_eq!(names().len(), 7);
    }
}
