//! The home page's search box (flights, hotels, cars or a whole trip) and flight results with
//! filters and sorting. Results are filtered on the server when the form is sent, and by the
//! page script as soon as a filter changes (each result carries its values in `data-`
//! attributes), so filters work with and without JavaScript.

use std::collections::BTreeSet;

use axum::Extension;
use axum::Router;
use axum::extract::State;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use chrono::{Timelike, Utc};
use maud::{Markup, html};

use super::{AppState, encode, query};
use crate::api::types::{FlightOffer, Page};
use crate::error::PageError;
use crate::layout::{self, alert};
use crate::session::Session;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(home))
        .route("/flights", get(flights))
}

const CABINS: [(&str, &str); 4] = [
    ("economy", "Economy"),
    ("premium_economy", "Premium economy"),
    ("business", "Business"),
    ("first", "First"),
];

/// The search box, one form per product.
async fn home(Extension(session): Extension<Session>) -> Html<String> {
    let today = Utc::now().date_naive();
    let week = today + chrono::Duration::days(7);
    let later = today + chrono::Duration::days(10);
    layout::page(
        &session,
        "Search",
        html! {
            h1 { "Where to?" }
            div.tabs data-tabs {
                section.panel id="flights" aria-labelledby="flights-title" {
                    h2 id="flights-title" { "Flights" }
                    form.search method="get" action="/flights" role="search" {
                        (place_field("from", "From", "Paris or CDG", ""))
                        (place_field("to", "To", "London or LHR", ""))
                        label { "Date" input type="date" name="date" value=(week) required; }
                        label { "Passengers" input type="number" name="passengers" min="1" max="9" value="1"; }
                        label { "Cabin" select name="cabin" { @for (value, name) in CABINS { option value=(value) { (name) } } } }
                        button type="submit" { "Search flights" }
                    }
                }
                section.panel id="hotels" aria-labelledby="hotels-title" {
                    h2 id="hotels-title" { "Hotels" }
                    form.search method="get" action="/hotels" role="search" {
                        (place_field("city", "City", "Paris", ""))
                        label { "Check in" input type="date" name="checkIn" value=(week) required; }
                        label { "Check out" input type="date" name="checkOut" value=(later) required; }
                        label { "Guests" input type="number" name="guests" min="1" max="36" value="2"; }
                        button type="submit" { "Search hotels" }
                    }
                }
                section.panel id="cars" aria-labelledby="cars-title" {
                    h2 id="cars-title" { "Cars" }
                    form.search method="get" action="/cars" role="search" {
                        (place_field("location", "Pick-up airport", "CDG", ""))
                        label { "From" input type="date" name="startDate" value=(week) required; }
                        label { "Until" input type="date" name="endDate" value=(later) required; }
                        button type="submit" { "Search cars" }
                    }
                }
                section.panel id="trip" aria-labelledby="trip-title" {
                    h2 id="trip-title" { "A whole trip" }
                    form.search method="get" action="/trip" role="search" {
                        (place_field("from", "From", "Paris", ""))
                        (place_field("to", "To", "London", ""))
                        label { "Leave" input type="date" name="departure" value=(week) required; }
                        label { "Return" input type="date" name="return" value=(later); }
                        label { "Guests" input type="number" name="guests" min="1" max="9" value="1"; }
                        button type="submit" { "Search flights, hotels and cars" }
                    }
                }
            }
        },
    )
}

fn place_field(name: &str, label: &str, example: &str, value: &str) -> Markup {
    html! {
        label {
            (label)
            input name=(name) required placeholder=(example) value=(value) autocomplete="off";
        }
    }
}

/// What the results page was asked; every filter is optional.
#[derive(Clone, Debug, Default)]
struct FlightSearch {
    from: String,
    to: String,
    date: String,
    passengers: Option<String>,
    cabin: Option<String>,
    sort: Option<String>,
    /// Airlines to keep (several `airline=` fields).
    airline: Vec<String>,
    max_price: Option<String>,
    /// `morning` (before 12:00), `afternoon` (12:00–18:00), `evening` (after 18:00), local.
    time: Option<String>,
}

/// Which part of the day a local departure time (`2026-12-01T09:30:00+01:00`) falls in.
fn part_of_day(local: &str) -> &'static str {
    let hour = chrono::DateTime::parse_from_rfc3339(local).map_or(0, |t| t.hour());
    match hour {
        0..12 => "morning",
        12..18 => "afternoon",
        _ => "evening",
    }
}

/// A decimal amount (`"199.01"`) rounded up to whole units (200), for comparing with a whole
/// maximum without floating point.
fn ceiling(amount: &str) -> i64 {
    let (whole, fraction) = amount.split_once('.').unwrap_or((amount, ""));
    let whole: i64 = whole.parse().unwrap_or(i64::MAX);
    if fraction.bytes().any(|b| b != b'0') {
        whole.saturating_add(1)
    } else {
        whole
    }
}

fn hhmm(local: &str) -> String {
    chrono::DateTime::parse_from_rfc3339(local)
        .map_or_else(|_| local.to_owned(), |t| t.format("%H:%M").to_string())
}

fn duration(minutes: i64) -> String {
    format!("{}h {:02}m", minutes / 60, minutes % 60)
}

fn keeps(search: &FlightSearch, offer: &FlightOffer) -> bool {
    let price = offer.total_price.as_ref().unwrap_or(&offer.fare);
    let under_max = search
        .max_price
        .as_deref()
        .filter(|m| !m.is_empty())
        .and_then(|m| m.trim().parse::<i64>().ok())
        .is_none_or(|max| ceiling(&price.amount) <= max);
    let airline = search.airline.is_empty() || search.airline.contains(&offer.airline);
    let time = search
        .time
        .as_deref()
        .filter(|t| !t.is_empty())
        .is_none_or(|t| t == part_of_day(&offer.departure_local));
    under_max && airline && time
}

async fn flights(
    State(state): State<AppState>,
    Extension(session): Extension<Session>,
    axum::extract::RawQuery(raw): axum::extract::RawQuery,
) -> Result<Response, PageError> {
    // Repeated fields (`airline=A&airline=B`) need the raw query.
    let search: FlightSearch =
        serde_urlencoded::from_str::<Vec<(String, String)>>(raw.as_deref().unwrap_or_default())
            .map(collect_search)
            .map_err(|_| PageError::bad_request("The search could not be read."))?;
    let sort = search.sort.clone().unwrap_or_else(|| "price".into());
    let cabin = search.cabin.clone().unwrap_or_else(|| "economy".into());
    let passengers = search.passengers.clone().unwrap_or_else(|| "1".into());
    let api_query = query(&[
        ("from", &search.from),
        ("to", &search.to),
        ("date", &search.date),
        ("passengers", &passengers),
        ("cabin", &cabin),
        ("sort", &sort),
        ("pageSize", "100"),
    ]);
    let found = if search.from.is_empty() || search.to.is_empty() {
        Err("Say where you are flying from and to.".to_owned())
    } else {
        state
            .api
            .get::<Page<FlightOffer>>(session.caller(), &format!("/api/flights?{api_query}"))
            .await
            .map_err(|e| {
                if e.status.is_client_error() {
                    e.message
                } else {
                    format!("Search is not available right now: {}", e.message)
                }
            })
    };
    let title = format!("Flights {} → {}", search.from, search.to);
    let airlines: BTreeSet<String> = found
        .as_ref()
        .map(|page| page.items.iter().map(|o| o.airline.clone()).collect())
        .unwrap_or_default();
    let body = html! {
        h1 { (title) }
        form.filters method="get" action="/flights" data-filters {
            fieldset {
                legend { "Search" }
                label { "From" input name="from" value=(search.from) required; }
                label { "To" input name="to" value=(search.to) required; }
                label { "Date" input type="date" name="date" value=(search.date); }
                label { "Passengers" input type="number" name="passengers" min="1" max="9" value=(passengers); }
                label { "Cabin" select name="cabin" {
                    @for (value, name) in CABINS { option value=(value) selected[value == cabin] { (name) } }
                } }
            }
            fieldset {
                legend { "Sort by" }
                @for (value, name) in [("price", "Price"), ("departure", "Departure time"), ("duration", "Duration")] {
                    label.inline { input type="radio" name="sort" value=(value) checked[value == sort]; (name) }
                }
            }
            fieldset {
                legend { "Airlines" }
                @for airline in &airlines {
                    label.inline { input type="checkbox" name="airline" value=(airline) checked[search.airline.contains(airline)]; (airline) }
                }
            }
            fieldset {
                legend { "Departure" }
                @for (value, name) in [("", "Any time"), ("morning", "Morning"), ("afternoon", "Afternoon"), ("evening", "Evening")] {
                    label.inline { input type="radio" name="time" value=(value) checked[search.time.as_deref().unwrap_or("") == value]; (name) }
                }
            }
            label { "Max price per trip" input type="number" name="maxPrice" min="0" step="1" value=(search.max_price.as_deref().unwrap_or("")); }
            button type="submit" { "Update results" }
        }
        @match &found {
            Err(message) => { (alert(Some(message))) }
            Ok(page) => {
                @let shown: Vec<&FlightOffer> = page.items.iter().filter(|o| keeps(&search, o)).collect();
                p.count role="status" aria-live="polite" data-count {
                    (shown.len()) " of " (page.items.len()) " flights"
                }
                ol.results data-results {
                    @for offer in &page.items {
                        (flight_row(offer, &passengers, keeps(&search, offer)))
                    }
                }
            }
        }
    };
    Ok(layout::page(&session, &title, body).into_response())
}

fn collect_search(pairs: Vec<(String, String)>) -> FlightSearch {
    let mut search = FlightSearch::default();
    for (key, value) in pairs {
        match key.as_str() {
            "from" => search.from = value.trim().to_owned(),
            "to" => search.to = value.trim().to_owned(),
            "date" => search.date = value,
            "passengers" => search.passengers = Some(value),
            "cabin" => search.cabin = Some(value),
            "sort" => search.sort = Some(value),
            "airline" => search.airline.push(value),
            "maxPrice" => search.max_price = Some(value),
            "time" => search.time = Some(value),
            _ => {}
        }
    }
    search
}

fn flight_row(offer: &FlightOffer, passengers: &str, shown: bool) -> Markup {
    let price = offer.total_price.as_ref().unwrap_or(&offer.fare);
    html! {
        li.result hidden[!shown]
            data-airline=(offer.airline)
            data-price=(ceiling(&price.amount))
            data-departure=(offer.departure_at.timestamp())
            data-duration=(offer.duration_minutes)
            data-time=(part_of_day(&offer.departure_local)) {
            div.times {
                strong { (hhmm(&offer.departure_local)) " " (offer.origin.iata) }
                " → "
                strong { (hhmm(&offer.arrival_local)) " " (offer.destination.iata) }
                span.muted { " · " (duration(offer.duration_minutes)) " · nonstop" }
            }
            div.meta { (offer.airline) " · " (offer.flight_code) " · " (offer.seats_left) " seats left" }
            div.price {
                strong { (price) }
                @if passengers != "1" { span.muted { " for " (passengers) } }
            }
            a.button href={"/flights/" (offer.flight_id) "?passengers=" (encode(passengers)) "&cabin=" (encode(&offer.cabin))} {
                "Choose" span.visually-hidden { " " (offer.flight_code) }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn departures_fall_in_their_local_part_of_the_day() {
        assert_eq!(part_of_day("2026-12-01T09:30:00+01:00"), "morning");
        assert_eq!(part_of_day("2026-12-01T12:00:00-05:00"), "afternoon");
        assert_eq!(part_of_day("2026-12-01T18:05:00+00:00"), "evening");
        assert_eq!(hhmm("2026-12-01T18:05:00+00:00"), "18:05");
        assert_eq!(duration(135), "2h 15m");
        assert_eq!(
            (ceiling("199.00"), ceiling("199.01"), ceiling("7")),
            (199, 200, 7)
        );
    }
}
