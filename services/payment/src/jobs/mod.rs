//! Payment's background jobs.

pub mod charges;
