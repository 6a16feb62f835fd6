//! Catalog's tables. SQL lives here and nowhere else in the service.

pub mod aircraft;
pub mod airports;
pub mod cars;
pub mod flights;
pub mod search;
