//! The booking service on its own: flights and payments arrive as fixture events on the
//! in-process bus, tokens come from a test issuer, and the tests drive its HTTP API and read its
//! database. Nothing else of the platform runs.

mod access;
mod cancelled_flights;
mod helpers;
mod holds;
mod inventory;
mod saga;
mod seats;
mod stays;
mod trips;
