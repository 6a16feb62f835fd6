//! A flight's page: its times, cabins and seat map, and the checkout form that books it. Seats
//! are chosen from a list per passenger (without JavaScript) or by clicking the seat map, which
//! fills those lists in.

use std::collections::HashSet;

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Router};
use maud::{Markup, html};
use serde::Deserialize;
use serde_json::{Value, json};

use super::checkout::{self, field, idempotency_key, payment_fieldset};
use super::{AppState, local_time, status_badge};
use crate::api::types::{Card, Flight, SeatMap, SeatMapCabin};
use crate::error::PageError;
use crate::layout::{self, alert, csrf};
use crate::session::{Form, Session};

pub fn router() -> Router<AppState> {
    Router::new().route("/flights/{id}", get(show).post(book))
}

/// The most passengers one booking takes (as the API).
const MAX_PASSENGERS: usize = 9;

#[derive(Deserialize)]
struct Options {
    passengers: Option<String>,
    cabin: Option<String>,
}

fn flight_id(raw: &str) -> Result<i64, PageError> {
    raw.parse()
        .map_err(|_| PageError::not_found("There is no such flight."))
}

/// What the checkout form holds when it is shown again after a refusal.
#[derive(Default)]
struct Filled {
    names: Vec<String>,
    seats: Vec<String>,
    payment: String,
}

async fn show(
    State(state): State<AppState>,
    Extension(session): Extension<Session>,
    Path(id): Path<String>,
    Query(options): Query<Options>,
) -> Result<Response, PageError> {
    let id = flight_id(&id)?;
    let passengers = options
        .passengers
        .and_then(|p| p.parse::<usize>().ok())
        .unwrap_or(1)
        .clamp(1, MAX_PASSENGERS);
    let cabin = options.cabin.unwrap_or_else(|| "economy".into());
    render(
        &state,
        &session,
        id,
        passengers,
        &cabin,
        &Filled::default(),
        None,
    )
    .await
}

async fn render(
    state: &AppState,
    session: &Session,
    id: i64,
    passengers: usize,
    cabin: &str,
    filled: &Filled,
    error: Option<&str>,
) -> Result<Response, PageError> {
    let here = format!("/flights/{id}?passengers={passengers}&cabin={cabin}");
    let flight: Flight = state
        .api
        .get(session.caller(), &format!("/api/flights/{id}"))
        .await
        .map_err(|e| PageError::from_api(e, &here))?;
    let seat_map = state
        .api
        .get::<SeatMap>(session.caller(), &format!("/api/flights/{id}/seats"))
        .await
        .ok();
    let seats = seat_map
        .as_ref()
        .and_then(|map| map.cabins.iter().find(|c| c.cabin == cabin));
    let cards = checkout::cards(state, session).await;
    let title = format!(
        "{} {} → {}",
        flight.flight_code, flight.origin.iata, flight.destination.iata
    );
    let status = if error.is_some() {
        axum::http::StatusCode::CONFLICT
    } else {
        axum::http::StatusCode::OK
    };
    let body = html! {
        h1 { (title) }
        section.card aria-labelledby="flight-title" {
            h2 id="flight-title" { (flight.airline) " " (flight.flight_code) }
            p {
                "Departs " strong { (local_time(&flight.departure_local)) } " from " (flight.origin.iata)
                @if let Some(city) = &flight.origin.city { " (" (city) ")" }
                ", arrives " strong { (local_time(&flight.arrival_local)) } " at " (flight.destination.iata)
                @if let Some(city) = &flight.destination.city { " (" (city) ")" }
                "."
            }
            p data-live-flights=(flight.flight_code) {
                "Status: " span data-flight-status=(flight.flight_code) { (status_badge(&flight.status)) }
                " · Gate: " span data-flight-gate=(flight.flight_code) { (flight.gate.as_deref().unwrap_or("not yet announced")) }
            }
            table {
                caption { "Cabins" }
                thead { tr { th scope="col" { "Cabin" } th scope="col" { "Fare per passenger" } th scope="col" { "Seats left" } th scope="col" {} } }
                tbody {
                    @for c in &flight.cabins {
                        tr {
                            td { (c.cabin) }
                            td { (c.fare) }
                            td { (c.seats_left) }
                            td {
                                @if c.cabin == cabin { "Chosen" } @else {
                                    a href={"/flights/" (id) "?passengers=" (passengers) "&cabin=" (c.cabin)} { "Choose " (c.cabin) }
                                }
                            }
                        }
                    }
                }
            }
        }
        @if let Some(user) = &session.user {
            (checkout(session, &flight, cabin, passengers, seats, &cards, filled, error))
            p.muted { "Booking as " (user.name) "." }
        } @else {
            p { a.button href={"/login?next=" (super::encode(&here))} { "Sign in to book" } }
            @if let Some(seats) = seats { (seat_grid(seats, false)) }
        }
    };
    Ok((status, layout::page(session, &title, body)).into_response())
}

/// The seat map of one cabin: a grid of rows and letters; taken seats are disabled. Clicking a
/// free seat (with JavaScript) assigns it to the next passenger without one.
fn seat_grid(cabin: &SeatMapCabin, interactive: bool) -> Markup {
    let taken: HashSet<&str> = cabin.taken.iter().map(String::as_str).collect();
    html! {
        // Choosing on the map needs the page script (which shows it); without it, each
        // passenger's list of free seats does the same.
        figure.seatmap data-seatmap[interactive] hidden[interactive] {
            figcaption { "Seat map, " (cabin.cabin) " (" (cabin.seats_left) " free)" }
            div.rows role="group" aria-label="Seats" {
                @for row in cabin.first_row..=cabin.last_row {
                    div.row {
                        span.rownum aria-hidden="true" { (row) }
                        @for letter in cabin.seat_letters.chars() {
                            @let seat = format!("{row}{letter}");
                            @let is_taken = taken.contains(seat.as_str());
                            button.seat type="button" data-seat=(seat) disabled[is_taken || !interactive]
                                aria-pressed="false" aria-label={"Seat " (seat) @if is_taken { ", taken" }} {
                                (letter)
                            }
                        }
                    }
                }
            }
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn checkout(
    session: &Session,
    flight: &Flight,
    cabin: &str,
    passengers: usize,
    seats: Option<&SeatMapCabin>,
    cards: &[Card],
    filled: &Filled,
    error: Option<&str>,
) -> Markup {
    let free: Vec<String> = seats
        .map(|c| {
            let taken: HashSet<&str> = c.taken.iter().map(String::as_str).collect();
            (c.first_row..=c.last_row)
                .flat_map(|row| c.seat_letters.chars().map(move |l| format!("{row}{l}")))
                .filter(|s| !taken.contains(s.as_str()))
                .collect()
        })
        .unwrap_or_default();
    html! {
        section.card aria-labelledby="checkout-title" {
            h2 id="checkout-title" { "Checkout" }
            (alert(error))
            form.stack method="post" action={"/flights/" (flight.flight_id)} data-checkout {
                (csrf(session))
                (idempotency_key())
                input type="hidden" name="cabin" value=(cabin);
                input type="hidden" name="passengers" value=(passengers);
                fieldset {
                    legend { "Passengers and seats" }
                    @for i in 0..passengers {
                        div.passenger {
                            label { "Passenger " (i + 1) " full name"
                                input name={"name" (i)} required maxlength="100" autocomplete="name"
                                    value=(filled.names.get(i).map_or("", String::as_str));
                            }
                            label { "Seat for passenger " (i + 1)
                                select name={"seat" (i)} data-seat-choice {
                                    option value="" { "Any free seat" }
                                    @for seat in &free {
                                        option value=(seat) selected[filled.seats.get(i) == Some(seat)] { (seat) }
                                    }
                                }
                            }
                        }
                    }
                }
                @if let Some(seats) = seats { (seat_grid(seats, true)) }
                (payment_fieldset(cards, &filled.payment))
                button type="submit" { "Book and pay" }
            }
        }
    }
}

/// Saves a new card (when chosen), books with the chosen payment, and shows the booking.
async fn book(
    State(state): State<AppState>,
    Extension(session): Extension<Session>,
    Path(id): Path<String>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    let id = flight_id(&id)?;
    session.user(&format!("/flights/{id}"))?;
    let passengers = field(&pairs, "passengers")
        .parse::<usize>()
        .unwrap_or(1)
        .clamp(1, MAX_PASSENGERS);
    let cabin = match field(&pairs, "cabin") {
        "" => "economy".to_owned(),
        cabin => cabin.to_owned(),
    };
    let filled = Filled {
        names: (0..passengers)
            .map(|i| field(&pairs, &format!("name{i}")).to_owned())
            .collect(),
        seats: (0..passengers)
            .map(|i| field(&pairs, &format!("seat{i}")).to_owned())
            .collect(),
        payment: field(&pairs, "payment").to_owned(),
    };
    let travellers: Vec<Value> = filled
        .names
        .iter()
        .zip(&filled.seats)
        .map(|(name, seat)| {
            if seat.is_empty() {
                json!({ "name": name })
            } else {
                json!({ "name": name, "seat": seat })
            }
        })
        .collect();
    let body = serde_json::Map::from_iter([
        ("flightId".to_owned(), json!(id)),
        ("cabin".to_owned(), json!(cabin)),
        ("passengers".to_owned(), Value::Array(travellers)),
    ]);
    let here = format!("/flights/{id}");
    let outcome = checkout::book(&state, &session, "/api/bookings", body, pairs).await;
    checkout::respond(outcome, &here, |refusal| async move {
        render(
            &state,
            &session,
            id,
            passengers,
            &cabin,
            &filled,
            Some(&refusal),
        )
        .await
    })
    .await
}
