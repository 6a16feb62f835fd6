//! The platform as one program: the registry of its services, which `itinera up`,
//! `itinera serve`, `itinera migrate` and the whole-platform tests all loop over.

pub mod registry;
