//! A whole trip: one search for flights there and back, a hotel at the destination and a car,
//! and one checkout that books every chosen part together (all or nothing) with one payment.

use axum::extract::{RawQuery, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Router};
use maud::{Markup, html};
use serde_json::{Value, json};

use super::checkout::{self, Resubmit, field, idempotency_key, payment_fieldset, sent};
use super::{AppState, encode, query};
use crate::api::types::{FlightOffer, TripResults};
use crate::error::PageError;
use crate::layout::{self, alert, csrf};
use crate::session::{Form, Session};

pub fn router() -> Router<AppState> {
    Router::new().route("/trip", get(search).post(book))
}

/// Most travellers one trip takes (as a flight booking).
const MAX_GUESTS: usize = 9;

struct Asked {
    from: String,
    to: String,
    departure: String,
    return_date: String,
    guests: usize,
}

impl Asked {
    fn from_pairs(pairs: &[(String, String)]) -> Self {
        Self {
            from: field(pairs, "from").to_owned(),
            to: field(pairs, "to").to_owned(),
            departure: field(pairs, "departure").to_owned(),
            return_date: field(pairs, "return").to_owned(),
            guests: field(pairs, "guests")
                .parse::<usize>()
                .unwrap_or(1)
                .clamp(1, MAX_GUESTS),
        }
    }

    fn query(&self) -> String {
        query(&[
            ("from", &self.from),
            ("to", &self.to),
            ("departure", &self.departure),
            ("return", &self.return_date),
            ("guests", &self.guests.to_string()),
        ])
    }
}

async fn search(
    State(state): State<AppState>,
    Extension(session): Extension<Session>,
    RawQuery(raw): RawQuery,
) -> Result<Response, PageError> {
    let pairs = super::query_pairs(raw.as_deref());
    render(&state, &session, &Asked::from_pairs(&pairs), None).await
}

fn flight_choice(name: &str, offer: &FlightOffer, checked: bool) -> Markup {
    html! {
        label.inline {
            input type="radio" name=(name) value=(offer.flight_id) checked[checked];
            (super::local_time(&offer.departure_local)) " · " (offer.airline) " " (offer.flight_code)
            " · " (offer.total_price.as_ref().unwrap_or(&offer.fare))
        }
    }
}

async fn render(
    state: &AppState,
    session: &Session,
    asked: &Asked,
    again: Option<Resubmit<'_>>,
) -> Result<Response, PageError> {
    let here = format!("/trip?{}", asked.query());
    let path = format!("/api/search?{}", asked.query());
    let (found, cards) = tokio::join!(
        state.api.get::<TripResults>(session.caller(), &path),
        checkout::cards(state, session),
    );
    let title = format!("A trip from {} to {}", asked.from, asked.to);
    let body = html! {
        h1 { (title) }
        (alert(again.map(|again| again.message)))
        @match &found {
            Err(e) => (alert(Some(&e.message))),
            Ok(results) => {
                form.stack.wide method="post" action="/trip" {
                    (csrf(session))
                    (idempotency_key())
                    @for (name, value) in [("from", &asked.from), ("to", &asked.to), ("departure", &asked.departure), ("return", &asked.return_date)] {
                        input type="hidden" name=(name) value=(value);
                    }
                    input type="hidden" name="guests" value=(asked.guests);
                    fieldset {
                        legend { "Flight there" }
                        @if results.outbound.is_empty() { p { "No flight on that day." } }
                        @for (i, offer) in results.outbound.iter().enumerate() {
                            (flight_choice("outbound", offer, sent(again, "outbound").map_or(i == 0, |id| id == offer.flight_id.to_string()))) br;
                        }
                    }
                    @if !asked.return_date.is_empty() {
                        fieldset {
                            legend { "Flight back" }
                            label.inline { input type="radio" name="inbound" value="" checked[sent(again, "inbound").map_or(results.inbound.is_empty(), str::is_empty)]; "No flight back" }
                            br;
                            @for (i, offer) in results.inbound.iter().enumerate() {
                                (flight_choice("inbound", offer, sent(again, "inbound").map_or(i == 0, |id| id == offer.flight_id.to_string()))) br;
                            }
                        }
                        fieldset {
                            legend { "Hotel" }
                            label.inline { input type="radio" name="hotel" value="" checked[sent(again, "hotel").is_none_or(str::is_empty)]; "No hotel" }
                            br;
                            @for offer in &results.hotels {
                                @let value = format!("{}|{}|{}", offer.id, offer.room_type.id, offer.rate_plan.id);
                                label.inline {
                                    input type="radio" name="hotel" value=(value) checked[sent(again, "hotel") == Some(value.as_str())];
                                    (offer.name) " (" (offer.stars) " stars), " (offer.room_type.name) " · " (offer.price.total)
                                }
                                br;
                            }
                        }
                        fieldset {
                            legend { "Car" }
                            label.inline { input type="radio" name="car" value="" checked[sent(again, "car").is_none_or(str::is_empty)]; "No car" }
                            br;
                            @for car in &results.cars {
                                label.inline {
                                    input type="radio" name="car" value=(car.id) checked[sent(again, "car") == Some(car.id.as_str())];
                                    (car.brand) " " (car.model) " (" (car.car_type) ") · " (car.currency) " " (car.daily_rental_price) " a day"
                                }
                                br;
                            }
                        }
                    }
                    @if session.user.is_some() {
                        fieldset {
                            legend { "Travellers" }
                            @for i in 0..asked.guests {
                                label { "Traveller " (i + 1) " full name" input name={"name" (i)} required maxlength="100" autocomplete="name" value=(sent(again, &format!("name{i}")).unwrap_or("")); }
                            }
                        }
                        (payment_fieldset(&cards, sent(again, "payment").unwrap_or("")))
                        button type="submit" { "Book the whole trip" }
                    }
                }
                @if session.user.is_none() {
                    p { a.button href={"/login?next=" (encode(&here))} { "Sign in to book" } }
                }
            }
        }
    };
    Ok(layout::page(session, &title, body).into_response())
}

/// The trip's items from the choices: the flights, then the hotel, then the car.
fn items(asked: &Asked, pairs: &[(String, String)]) -> Result<Vec<Value>, String> {
    let passengers: Vec<Value> = (0..asked.guests)
        .map(|i| json!({ "name": field(pairs, &format!("name{i}")) }))
        .collect();
    let mut items = Vec::new();
    for leg in ["outbound", "inbound"] {
        if let Ok(flight_id) = field(pairs, leg).parse::<i64>() {
            items
                .push(json!({ "type": "flight", "flightId": flight_id, "passengers": passengers }));
        }
    }
    if items.is_empty() {
        return Err("Choose a flight there.".into());
    }
    let hotel = field(pairs, "hotel");
    if !hotel.is_empty() {
        let mut parts = hotel.split('|');
        let (Some(hotel_id), Some(room_type_id), Some(rate_plan_id)) =
            (parts.next(), parts.next(), parts.next())
        else {
            return Err("That hotel choice could not be read; choose it again.".into());
        };
        items.push(json!({
            "type": "hotel", "hotelId": hotel_id, "roomTypeId": room_type_id, "ratePlanId": rate_plan_id,
            "checkIn": asked.departure, "checkOut": asked.return_date, "guests": asked.guests,
        }));
    }
    let car = field(pairs, "car");
    if !car.is_empty() {
        items.push(json!({ "type": "car", "carId": car, "startDate": asked.departure, "endDate": asked.return_date }));
    }
    Ok(items)
}

async fn book(
    State(state): State<AppState>,
    Extension(session): Extension<Session>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    let asked = Asked::from_pairs(&pairs);
    session.user(&format!("/trip?{}", asked.query()))?;
    let items = match items(&asked, &pairs) {
        Ok(items) => items,
        Err(refusal) => return refuse(&state, &session, &asked, &refusal, &pairs).await,
    };
    let body = serde_json::Map::from_iter([("items".to_owned(), Value::Array(items))]);
    let here = format!("/trip?{}", asked.query());
    let outcome = checkout::book(&state, &session, "/api/trips", body, pairs.clone()).await;
    let form = &pairs;
    checkout::respond(outcome, &here, |refusal| async move {
        render(
            &state,
            &session,
            &asked,
            Some(Resubmit {
                message: &refusal,
                form,
            }),
        )
        .await
    })
    .await
}

async fn refuse(
    state: &AppState,
    session: &Session,
    asked: &Asked,
    refusal: &str,
    form: &[(String, String)],
) -> Result<Response, PageError> {
    let mut page = render(
        state,
        session,
        asked,
        Some(Resubmit {
            message: refusal,
            form,
        }),
    )
    .await?;
    *page.status_mut() = axum::http::StatusCode::BAD_REQUEST;
    Ok(page)
}
