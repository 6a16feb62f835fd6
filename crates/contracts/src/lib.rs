//! Wire contracts shared between Itinera services.
//!
//! gRPC services are generated from `proto/` at build time; event payloads are in [`events`].
//! Nothing here depends on a service crate, so any service can depend on this one.

/// The identity service's `UserDirectory` (seed 000's user validation over gRPC).
#[cfg(feature = "grpc")]
pub mod identity {
    pub mod v1 {
        #![allow(clippy::all, clippy::pedantic, missing_docs)]
        tonic::include_proto!("itinera.identity.v1");
    }
}

pub mod events;
pub mod listings;
pub mod services;
pub mod states;
