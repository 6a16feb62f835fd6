//! Rental cars: search at an airport for a period (filtered by type and daily price), a car's
//! page, and booking it.

use axum::extract::{Path, RawQuery, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Router};
use maud::{Markup, html};
use serde_json::json;

use super::checkout::{self, Resubmit, field, idempotency_key, payment_fieldset, sent};
use super::{AppState, encode, query};
use crate::api::types::{Car, Page};
use crate::error::PageError;
use crate::layout::{self, alert, csrf};
use crate::session::{Form, Session};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/cars", get(search))
        .route("/cars/{id}", get(show).post(book))
}

const TYPES: [&str; 4] = ["economy", "sedan", "suv", "luxury"];

async fn search(
    State(state): State<AppState>,
    Extension(session): Extension<Session>,
    RawQuery(raw): RawQuery,
) -> Result<Response, PageError> {
    let asked = super::query_pairs(raw.as_deref());
    let (location, start, end) = (
        field(&asked, "location"),
        field(&asked, "startDate"),
        field(&asked, "endDate"),
    );
    let (car_type, max_price) = (field(&asked, "type"), field(&asked, "maxPrice"));
    let api_query = query(&[
        ("location", location),
        ("startDate", start),
        ("endDate", end),
        ("type", car_type),
        ("maxPrice", max_price),
        ("pageSize", "50"),
    ]);
    let found = if location.is_empty() || start.is_empty() || end.is_empty() {
        Err("Say where to pick the car up, and when.".to_owned())
    } else {
        state
            .api
            .get::<Page<Car>>(
                session.caller(),
                &format!("/api/listings/cars/search?{api_query}"),
            )
            .await
            .map_err(|e| e.message)
    };
    let period = query(&[("startDate", start), ("endDate", end)]);
    let title = format!("Cars at {location}");
    let body = html! {
        h1 { (title) }
        form.filters method="get" action="/cars" data-live-form {
            fieldset {
                legend { "Rental" }
                label { "Pick-up airport" input name="location" value=(location) required; }
                label { "From" input type="date" name="startDate" value=(start) required; }
                label { "Until" input type="date" name="endDate" value=(end) required; }
            }
            fieldset {
                legend { "Car type" }
                label.inline { input type="radio" name="type" value="" checked[car_type.is_empty()]; "Any" }
                @for t in TYPES { label.inline { input type="radio" name="type" value=(t) checked[car_type == t]; (t) } }
            }
            label { "Max price per day" input type="number" name="maxPrice" min="0" value=(max_price); }
            button type="submit" { "Update results" }
        }
        @match &found {
            Err(message) => (alert(Some(message))),
            Ok(page) => {
                p.count role="status" aria-live="polite" data-count { (page.total) " cars free for the whole period" }
                ol.results data-results { @for car in &page.items { (car_row(car, &period)) } }
            }
        }
    };
    Ok(layout::page(&session, &title, body).into_response())
}

fn car_row(car: &Car, period: &str) -> Markup {
    html! {
        li.result {
            div.times { strong { (car.brand) " " (car.model) } " " span.muted { (car.year) " · " (car.car_type) } }
            div.meta { (car.seats) " seats · " (car.transmission) " · " (car.location) }
            div.price { strong { (car.currency) " " (car.daily_rental_price) } span.muted { " a day" } }
            a.button href={"/cars/" (car.id) "?" (period)} { "Choose" span.visually-hidden { " " (car.brand) " " (car.model) } }
        }
    }
}

async fn show(
    State(state): State<AppState>,
    Extension(session): Extension<Session>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, PageError> {
    let asked = super::query_pairs(raw.as_deref());
    render(
        &state,
        &session,
        &id,
        field(&asked, "startDate"),
        field(&asked, "endDate"),
        None,
    )
    .await
}

async fn render(
    state: &AppState,
    session: &Session,
    id: &str,
    start: &str,
    end: &str,
    again: Option<Resubmit<'_>>,
) -> Result<Response, PageError> {
    let id =
        uuid::Uuid::parse_str(id).map_err(|_| PageError::not_found("There is no such car."))?;
    let here = format!(
        "/cars/{id}?{}",
        query(&[("startDate", start), ("endDate", end)])
    );
    let path = format!("/api/listings/cars/{id}");
    let (car, cards) = tokio::join!(
        state.api.get::<Car>(session.caller(), &path),
        checkout::cards(state, session),
    );
    let car = car.map_err(|e| PageError::from_api(e, &here))?;
    let title = format!("{} {}", car.brand, car.model);
    let body = html! {
        h1 { (title) }
        (alert(again.map(|again| again.message)))
        dl {
            dt { "Type" } dd { (car.car_type) " · " (car.year) }
            dt { "Seats" } dd { (car.seats) }
            dt { "Gearbox" } dd { (car.transmission) }
            dt { "Pick-up" } dd { (car.location) " (" (car.location_code) ")" }
            dt { "Price" } dd { (car.currency) " " (car.daily_rental_price) " a day" }
            @if let Some(rating) = car.rating { dt { "Rating" } dd { (rating) "/5 (" (car.review_count) ")" } }
        }
        @if session.user.is_some() {
            section.card aria-labelledby="rent-title" {
                h2 id="rent-title" { "Rent it" }
                form.stack method="post" action={"/cars/" (id)} {
                    (csrf(session))
                    (idempotency_key())
                    label { "From" input type="date" name="startDate" value=(start) required; }
                    label { "Until (drop-off)" input type="date" name="endDate" value=(end) required; }
                    (payment_fieldset(&cards, sent(again, "payment").unwrap_or("")))
                    button type="submit" { "Book and pay" }
                }
                p.muted { "Free cancellation until pick-up." }
            }
        } @else {
            p { a.button href={"/login?next=" (encode(&here))} { "Sign in to book" } }
        }
    };
    Ok(layout::page(session, &title, body).into_response())
}

async fn book(
    State(state): State<AppState>,
    Extension(session): Extension<Session>,
    Path(id): Path<String>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    session.user(&format!("/cars/{id}"))?;
    let (start, end) = (field(&pairs, "startDate"), field(&pairs, "endDate"));
    let body = serde_json::Map::from_iter([
        ("type".to_owned(), json!("car")),
        ("carId".to_owned(), json!(id)),
        ("startDate".to_owned(), json!(start)),
        ("endDate".to_owned(), json!(end)),
    ]);
    let here = format!("/cars/{id}");
    let outcome = checkout::book(&state, &session, "/api/bookings", body, pairs.clone()).await;
    let form = &pairs;
    checkout::respond(outcome, &here, |refusal| async move {
        render(
            &state,
            &session,
            &id,
            start,
            end,
            Some(Resubmit {
                message: &refusal,
                form,
            }),
        )
        .await
    })
    .await
}
