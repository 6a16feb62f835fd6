//! The catalog service on its own: ops build the schedule through its API with tokens from a test
//! issuer, booking's events arrive as fixtures on the in-process bus, and the tests read its
//! search answers and its database. Nothing else of the platform runs.

mod cars;
mod helpers;
mod hotels;
mod reviews;
mod schedule;
mod search;
mod seed;
mod trip_search;
