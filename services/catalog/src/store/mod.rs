//! Catalog's tables. SQL lives here and nowhere else in the service.

pub mod aircraft;
pub mod airports;
pub mod cars;
pub mod flights;
pub mod hotels;
pub mod reviews;
pub mod search;
