//! The platform's services: each one's name and default ports, in one table.
//!
//! The `itinera` binary pairs each entry with the crate that implements it (its registry), and the
//! gateway takes its upstreams, their default addresses and its readiness checks from
//! [`BACKENDS`].

/// The identity of one service.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ServiceSpec {
    /// Its name: in logs, metrics, `/version`, database names (`itinera_<name>`), settings
    /// (`<NAME>_PORT`, `<NAME>_UPSTREAMS`) and the command line (`itinera serve <name>`).
    pub name: &'static str,
    /// Its HTTP port when nothing else is configured.
    pub default_port: u16,
    /// Its gRPC port when it serves gRPC (`<NAME>_GRPC_PORT` moves it).
    pub grpc_port: Option<u16>,
}

impl ServiceSpec {
    /// A service that serves HTTP only.
    pub const fn http(name: &'static str, default_port: u16) -> Self {
        Self {
            name,
            default_port,
            grpc_port: None,
        }
    }
}

pub const GATEWAY: ServiceSpec = ServiceSpec::http("gateway", 4000);
pub const IDENTITY: ServiceSpec = ServiceSpec {
    grpc_port: Some(9091),
    ..ServiceSpec::http("identity", 5001)
};
pub const BOOKING: ServiceSpec = ServiceSpec::http("booking", 5002);
pub const NOTIFICATION: ServiceSpec = ServiceSpec::http("notification", 5003);
pub const CATALOG: ServiceSpec = ServiceSpec::http("catalog", 5004);
pub const PAYMENT: ServiceSpec = ServiceSpec::http("payment", 5005);
/// The traveller site and admin portal, reached through the gateway at `/` and `/admin`.
pub const WEB: ServiceSpec = ServiceSpec::http("web", 4001);

/// The services behind the gateway, in the order `itinera up` starts them (identity first: the
/// others verify tokens against its keys; web last, as a client of all of them).
pub const BACKENDS: [ServiceSpec; 6] = [IDENTITY, CATALOG, BOOKING, NOTIFICATION, PAYMENT, WEB];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_ports_are_unique() {
        let all: Vec<ServiceSpec> = BACKENDS.iter().copied().chain([GATEWAY]).collect();
        let mut ports: Vec<u16> = all
            .iter()
            .flat_map(|s| std::iter::once(s.default_port).chain(s.grpc_port))
            .collect();
        let count = ports.len();
        ports.sort_unstable();
        ports.dedup();
        assert_eq!(
            ports.len(),
            count,
            "every default port belongs to one service"
        );
        let mut names: Vec<&str> = all.iter().map(|s| s.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), all.len());
    }
}
