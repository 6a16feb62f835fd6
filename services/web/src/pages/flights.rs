//! A flight's page: its times, cabins and seat map, and the checkout form that books it. Seats
//! are chosen from a list per passenger (without JavaScript) or by clicking the seat map, which
//! fills those lists in.

use std::collections::HashSet;

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::{Extension, Router};
use maud::{Markup, html};
use reqwest::Method;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{AppState, local_time, shown_beside_form, status_badge};
use crate::api::types::{Card, Cards, Flight, SeatMap, SeatMapCabin};
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
    let cards = match &session.user {
        Some(_) => state
            .api
            .get::<Cards>(session.caller(), "/api/payments/cards")
            .await
            .map(|c| c.cards)
            .unwrap_or_default(),
        None => Vec::new(),
    };
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
        figure.seatmap data-seatmap[interactive] {
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
    let chosen_payment = if filled.payment.is_empty() {
        cards
            .first()
            .map_or_else(|| "new".to_owned(), |c| format!("card:{}", c.card_id))
    } else {
        filled.payment.clone()
    };
    html! {
        section.card aria-labelledby="checkout-title" {
            h2 id="checkout-title" { "Checkout" }
            (alert(error))
            form.stack method="post" action={"/flights/" (flight.flight_id)} data-checkout {
                (csrf(session))
                input type="hidden" name="key" value=(uuid::Uuid::new_v4());
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
                            label { "Seat"
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
                fieldset {
                    legend { "Payment" }
                    @for card in cards {
                        @let value = format!("card:{}", card.card_id);
                        label.inline {
                            input type="radio" name="payment" value=(value) checked[chosen_payment == value];
                            (card.brand) " ending " (card.last4) " (expires " (card.exp_month) "/" (card.exp_year) ")"
                        }
                    }
                    label.inline { input type="radio" name="payment" value="wallet" checked[chosen_payment == "wallet"]; "Wallet balance" }
                    label.inline { input type="radio" name="payment" value="new" checked[chosen_payment == "new"]; "A new card" }
                    div.newcard {
                        label { "Card number" input name="number" inputmode="numeric" autocomplete="cc-number" maxlength="23"; }
                        label { "Expiry month" input name="expMonth" inputmode="numeric" autocomplete="cc-exp-month" maxlength="2" placeholder="MM"; }
                        label { "Expiry year" input name="expYear" inputmode="numeric" autocomplete="cc-exp-year" maxlength="4" placeholder="YYYY"; }
                        label { "Security code" input name="cvc" inputmode="numeric" autocomplete="cc-csc" maxlength="4"; }
                        small { "The card is saved to your account for next time; its number is never stored by Itinera, only its last four digits." }
                    }
                }
                button type="submit" { "Book and pay" }
            }
        }
    }
}

fn field<'a>(pairs: &'a [(String, String)], name: &str) -> &'a str {
    pairs
        .iter()
        .find(|(key, _)| key == name)
        .map_or("", |(_, value)| value.trim())
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
    let refuse = |message: String| {
        let (state, session, cabin) = (&state, &session, &cabin);
        let filled = &filled;
        async move {
            render(
                state,
                session,
                id,
                passengers,
                cabin,
                filled,
                Some(&message),
            )
            .await
        }
    };
    let (method, card_id) = match filled.payment.as_str() {
        "wallet" => ("wallet", None),
        "new" => {
            let card = json!({
                "number": field(&pairs, "number"),
                "expMonth": field(&pairs, "expMonth").parse::<u32>().unwrap_or(0),
                "expYear": field(&pairs, "expYear").parse::<i32>().unwrap_or(0),
                "cvc": field(&pairs, "cvc"),
            });
            match state
                .api
                .send::<Card>(
                    session.caller(),
                    Method::POST,
                    "/api/payments/cards",
                    &card,
                    None,
                )
                .await
            {
                Ok(card) => ("credit_card", Some(card.card_id)),
                Err(e) if shown_beside_form(e.status) => {
                    return refuse(format!("The card was not accepted: {}", e.message)).await;
                }
                Err(e) => return Err(PageError::from_api(e, &format!("/flights/{id}"))),
            }
        }
        chosen => match chosen.strip_prefix("card:") {
            Some(card_id) => ("credit_card", Some(card_id.to_owned())),
            None => return refuse("Choose how to pay.".into()).await,
        },
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
    let mut body = json!({
        "flightId": id,
        "cabin": cabin,
        "passengers": travellers,
        "paymentMethod": method,
    });
    if let Some(card_id) = card_id {
        body["paymentCardId"] = json!(card_id);
    }
    let key = field(&pairs, "key");
    let booked = state
        .api
        .send::<Value>(
            session.caller(),
            Method::POST,
            "/api/bookings",
            &body,
            (!key.is_empty()).then_some(key),
        )
        .await;
    match booked {
        Ok(booking) => {
            let booking_id = booking["bookingId"].as_i64().unwrap_or_default();
            Ok(Redirect::to(&format!("/bookings/{booking_id}")).into_response())
        }
        Err(e) if shown_beside_form(e.status) => refuse(e.message).await,
        Err(e) => Err(PageError::from_api(e, &format!("/flights/{id}"))),
    }
}
