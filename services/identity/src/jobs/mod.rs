//! What identity runs beside its HTTP and gRPC servers.

pub mod key_reload;
pub mod throttle_sweep;
