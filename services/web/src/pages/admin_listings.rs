//! The admin portal's hotels and cars: the listings travellers search, added, changed and
//! removed by ops and admins (the portal's role check covers these routes; catalog checks the
//! role again). Cars take seed 003's fields; a hotel is added with one room type and a flexible
//! rate, and its name, stars, amenities, description, rooms and prices are changed on its own
//! page (more room types and rates through `PUT /api/listings/hotels/{id}`).

use std::collections::BTreeMap;

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Extension, Router};
use maud::{Markup, html};
use reqwest::Method;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{AppState, encode, segment};
use crate::api::types::{Car, Page};
use crate::error::PageError;
use crate::layout::{self, alert, csrf, notice};
use crate::session::{Form, Session};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/listings", get(listings))
        .route("/listings/cars", post(add_car))
        .route("/listings/cars/{id}", get(car).post(change_car))
        .route("/listings/cars/{id}/delete", post(remove_car))
        .route("/listings/hotels", post(add_hotel))
        .route("/listings/hotels/{id}", get(hotel).post(change_hotel))
        .route("/listings/hotels/{id}/delete", post(remove_hotel))
}

const CAR_TYPES: [&str; 4] = ["economy", "sedan", "suv", "luxury"];

#[derive(Deserialize)]
struct HotelRow {
    id: String,
    name: String,
    city: String,
    stars: i16,
}

#[derive(Deserialize)]
struct Shown {
    done: Option<String>,
}

fn done_text(code: &str) -> Option<&'static str> {
    Some(match code {
        "car-added" => "The car is listed.",
        "car-changed" => "The car is changed.",
        "car-removed" => "The car is removed from search.",
        "hotel-added" => "The hotel is listed.",
        "hotel-removed" => "The hotel is removed from search.",
        "hotel-changed" => "The hotel is changed; search shows it at once.",
        _ => return None,
    })
}

async fn listings(
    State(state): State<AppState>,
    Extension(session): Extension<Session>,
    Query(shown): Query<Shown>,
) -> Result<Response, PageError> {
    render(
        &state,
        &session,
        shown.done.as_deref().and_then(done_text),
        None,
    )
    .await
}

async fn render(
    state: &AppState,
    session: &Session,
    done: Option<&str>,
    error: Option<&str>,
) -> Result<Response, PageError> {
    session.staff("/admin/listings")?;
    let caller = session.caller();
    let (hotels, cars) = tokio::join!(
        state
            .api
            .get::<Page<HotelRow>>(caller, "/api/listings/hotels?pageSize=50"),
        state
            .api
            .get::<Page<Car>>(caller, "/api/listings/cars?pageSize=50"),
    );
    let body = html! {
        h1 { "Hotels and cars" }
        (notice(done))
        (alert(error))
        section.card aria-labelledby="cars-title" {
            h2 id="cars-title" { "Cars" }
            @match &cars {
                Err(e) => (alert(Some(&e.message))),
                Ok(page) => {
                    table {
                        caption { (page.total) " cars; the first " (page.items.len()) " are shown" }
                        thead { tr { th scope="col" { "Car" } th scope="col" { "Where" } th scope="col" { "Per day" } th scope="col" {} } }
                        tbody { @for c in &page.items {
                            tr {
                                td { a href={"/admin/listings/cars/" (c.id)} { (c.brand) " " (c.model) " (" (c.year) ")" } }
                                td { (c.location_code) }
                                td { (c.currency) " " (c.daily_rental_price) }
                                td {
                                    form method="post" action={"/admin/listings/cars/" (c.id) "/delete"} {
                                        (csrf(session))
                                        button.link type="submit" { "Remove" span.visually-hidden { " " (c.brand) " " (c.model) } }
                                    }
                                }
                            }
                        } }
                    }
                }
            }
            details {
                summary { "Add a car" }
                form.stack method="post" action="/admin/listings/cars" { (csrf(session)) (car_fields(None)) button type="submit" { "Add the car" } }
            }
        }
        section.card aria-labelledby="hotels-title" {
            h2 id="hotels-title" { "Hotels" }
            @match &hotels {
                Err(e) => (alert(Some(&e.message))),
                Ok(page) => {
                    table {
                        caption { (page.total) " hotels; the first " (page.items.len()) " are shown" }
                        thead { tr { th scope="col" { "Hotel" } th scope="col" { "City" } th scope="col" { "Stars" } th scope="col" {} } }
                        tbody { @for h in &page.items {
                            tr {
                                td { a href={"/admin/listings/hotels/" (h.id)} { (h.name) } }
                                td { (h.city) }
                                td { (h.stars) }
                                td {
                                    form method="post" action={"/admin/listings/hotels/" (h.id) "/delete"} {
                                        (csrf(session))
                                        button.link type="submit" { "Remove" span.visually-hidden { " " (h.name) } }
                                    }
                                }
                            }
                        } }
                    }
                }
            }
            details {
                summary { "Add a hotel" }
                form.stack method="post" action="/admin/listings/hotels" {
                    (csrf(session))
                    label { "Name" input name="name" required maxlength="200"; }
                    label { "City" input name="city" required maxlength="100"; }
                    label { "Address" input name="address" required maxlength="200"; }
                    label { "Airport code" input name="airportCode" required maxlength="3" placeholder="CDG"; }
                    label { "Latitude" input name="latitude" inputmode="decimal" required; }
                    label { "Longitude" input name="longitude" inputmode="decimal" required; }
                    label { "Stars" input type="number" name="stars" min="1" max="5" value="3" required; }
                    label { "Amenities (comma-separated)" input name="amenities" placeholder="wifi, breakfast"; }
                    label { "Description" input name="description" maxlength="2000"; }
                    label { "Room type" input name="roomName" value="Double" required; }
                    label { "Sleeps" input type="number" name="capacity" min="1" max="12" value="2" required; }
                    label { "Beds" input name="beds" value="1 queen" required; }
                    label { "Rooms of this type" input type="number" name="rooms" min="1" value="10" required; }
                    label { "Weekday price per night (USD)" input name="weekdayPrice" inputmode="decimal" required placeholder="120.00"; }
                    label { "Weekend price per night (USD)" input name="weekendPrice" inputmode="decimal" required placeholder="150.00"; }
                    button type="submit" { "Add the hotel" }
                }
            }
        }
    };
    Ok(layout::admin_page(session, "Hotels and cars", body).into_response())
}

/// The fields of a car, filled from `car` when changing one.
fn car_fields(car: Option<&Car>) -> Markup {
    let text = |f: fn(&Car) -> String| car.map(f).unwrap_or_default();
    html! {
        label { "Brand" input name="brand" required maxlength="64" value=(text(|c| c.brand.clone())); }
        label { "Model" input name="model" required maxlength="64" value=(text(|c| c.model.clone())); }
        label { "Year" input type="number" name="year" min="1990" max="2100" required value=(text(|c| c.year.to_string())); }
        label { "Type" select name="type" {
            @for t in CAR_TYPES { option value=(t) selected[car.is_some_and(|c| c.car_type == t)] { (t) } }
        } }
        label { "Pick-up location" input name="location" required maxlength="100" value=(text(|c| c.location.clone())); }
        label { "Airport code" input name="location_code" required maxlength="3" value=(text(|c| c.location_code.clone())); }
        label { "Price per day (USD)" input name="daily_rental_price" inputmode="decimal" required value=(text(|c| c.daily_rental_price.clone())); }
        label { "Seats" input type="number" name="seats" min="1" max="9" value=(car.map_or(5, |c| c.seats)); }
        label { "Gearbox" select name="transmission" {
            @for t in ["automatic", "manual"] { option value=(t) selected[car.is_some_and(|c| c.transmission == t)] { (t) } }
        } }
    }
}

#[derive(Deserialize)]
struct CarForm {
    brand: String,
    model: String,
    year: String,
    #[serde(rename = "type")]
    car_type: String,
    location: String,
    location_code: String,
    daily_rental_price: String,
    seats: String,
    transmission: String,
}

impl CarForm {
    /// Seed 003's body; numbers the form holds as text are sent as numbers when they are ones.
    fn body(&self) -> Value {
        json!({
            "brand": self.brand.trim(), "model": self.model.trim(),
            "year": self.year.trim().parse::<i64>().map_or_else(|_| json!(self.year), |y| json!(y)),
            "type": self.car_type, "location": self.location.trim(),
            "location_code": self.location_code.trim().to_ascii_uppercase(),
            "daily_rental_price": self.daily_rental_price.trim(), "currency": "USD",
            "seats": self.seats.trim().parse::<i64>().map_or_else(|_| json!(self.seats), |s| json!(s)),
            "transmission": self.transmission,
        })
    }
}

/// Back to the listings with what happened, or with the API's refusal shown.
async fn outcome(
    state: &AppState,
    session: &Session,
    result: Result<(), crate::api::ApiError>,
    done: &str,
) -> Result<Response, PageError> {
    match result {
        Ok(()) => Ok(Redirect::to(&format!("/admin/listings?done={done}")).into_response()),
        Err(e) if super::shown_beside_form(e.status) => {
            let mut page = render(state, session, None, Some(&e.message)).await?;
            *page.status_mut() = e.status;
            Ok(page)
        }
        Err(e) => Err(PageError::from_api(e, "/admin/listings")),
    }
}

async fn add_car(
    State(state): State<AppState>,
    Extension(session): Extension<Session>,
    Form(form): Form<CarForm>,
) -> Result<Response, PageError> {
    session.staff("/admin/listings")?;
    let added = state
        .api
        .send::<Car>(
            session.caller(),
            Method::POST,
            "/api/listings/cars",
            &form.body(),
            None,
        )
        .await;
    match added {
        Ok(car) => Ok(Redirect::to(&format!(
            "/admin/listings/cars/{}?done=car-added",
            encode(&car.id)
        ))
        .into_response()),
        Err(e) => outcome(&state, &session, Err(e), "").await,
    }
}

async fn car(
    State(state): State<AppState>,
    Extension(session): Extension<Session>,
    Path(id): Path<String>,
    Query(shown): Query<Shown>,
) -> Result<Response, PageError> {
    let here = format!("/admin/listings/cars/{}", segment(&id)?);
    session.staff(&here)?;
    let car: Car = state
        .api
        .get(
            session.caller(),
            &format!("/api/listings/cars/{}", segment(&id)?),
        )
        .await
        .map_err(|e| PageError::from_api(e, &here))?;
    let title = format!("{} {}", car.brand, car.model);
    let body = html! {
        h1 { (title) }
        (notice(shown.done.as_deref().and_then(done_text)))
        form.stack method="post" action=(here) {
            (csrf(&session))
            (car_fields(Some(&car)))
            button type="submit" { "Save the car" }
        }
        form method="post" action={(here) "/delete"} {
            (csrf(&session))
            button.danger type="submit" { "Remove " (car.brand) " " (car.model) }
        }
    };
    Ok(layout::admin_page(&session, &title, body).into_response())
}

async fn change_car(
    State(state): State<AppState>,
    Extension(session): Extension<Session>,
    Path(id): Path<String>,
    Form(form): Form<CarForm>,
) -> Result<Response, PageError> {
    session.staff("/admin/listings")?;
    let path = format!("/api/listings/cars/{}", segment(&id)?);
    let result = state
        .api
        .act(session.caller(), Method::PUT, &path, Some(&form.body()))
        .await;
    outcome(&state, &session, result, "car-changed").await
}

async fn remove_car(
    State(state): State<AppState>,
    Extension(session): Extension<Session>,
    Path(id): Path<String>,
    Form(_): Form<super::NoFields>,
) -> Result<Response, PageError> {
    remove(&state, &session, "cars", &id, "car-removed").await
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct HotelForm {
    name: String,
    city: String,
    address: String,
    airport_code: String,
    latitude: String,
    longitude: String,
    stars: String,
    #[serde(default)]
    amenities: String,
    #[serde(default)]
    description: String,
    room_name: String,
    capacity: String,
    beds: String,
    rooms: String,
    weekday_price: String,
    weekend_price: String,
}

/// A number the form holds as text: sent as a number when it is one, else as the text (so that
/// catalog's refusal names it).
fn number(text: &str) -> Value {
    let text = text.trim();
    serde_json::from_str::<serde_json::Number>(text).map_or_else(|_| json!(text), Value::Number)
}

async fn add_hotel(
    State(state): State<AppState>,
    Extension(session): Extension<Session>,
    Form(form): Form<HotelForm>,
) -> Result<Response, PageError> {
    session.staff("/admin/listings")?;
    let amenities: Vec<&str> = form
        .amenities
        .split(',')
        .map(str::trim)
        .filter(|a| !a.is_empty())
        .collect();
    let body = json!({
        "name": form.name.trim(), "city": form.city.trim(), "address": form.address.trim(),
        "airportCode": form.airport_code.trim().to_ascii_uppercase(),
        "latitude": number(&form.latitude), "longitude": number(&form.longitude),
        "stars": number(&form.stars), "amenities": amenities, "photos": [],
        "description": form.description.trim(), "checkInTime": "15:00", "currency": "USD",
        "taxBasisPoints": 0, "feePerNight": "0",
        "roomTypes": [{
            "name": form.room_name.trim(), "capacity": number(&form.capacity),
            "beds": form.beds.trim(), "rooms": number(&form.rooms),
            "ratePlans": [{
                "name": "Flexible", "refundable": true, "freeCancellationHours": 24,
                "weekdayPrice": form.weekday_price.trim(), "weekendPrice": form.weekend_price.trim(),
            }],
        }],
    });
    let result = state
        .api
        .act(
            session.caller(),
            Method::POST,
            "/api/listings/hotels",
            Some(&body),
        )
        .await;
    outcome(&state, &session, result, "hotel-added").await
}

async fn remove_hotel(
    State(state): State<AppState>,
    Extension(session): Extension<Session>,
    Path(id): Path<String>,
    Form(_): Form<super::NoFields>,
) -> Result<Response, PageError> {
    remove(&state, &session, "hotels", &id, "hotel-removed").await
}

/// Takes listing `id` of `kind` (`cars`, `hotels`) out of search.
async fn remove(
    state: &AppState,
    session: &Session,
    kind: &str,
    id: &str,
    done: &str,
) -> Result<Response, PageError> {
    session.staff("/admin/listings")?;
    let path = format!("/api/listings/{kind}/{}", segment(id)?);
    let result = state
        .api
        .act(session.caller(), Method::DELETE, &path, None)
        .await;
    outcome(state, session, result, done).await
}

/// A hotel's page in the portal: what travellers see of it, its rooms and its rates, changed in
/// place. The API replaces a hotel whole, so the form's changes are applied to the hotel as it
/// is (room types and rate plans keep their ids, and with them their stays).
async fn hotel(
    State(state): State<AppState>,
    Extension(session): Extension<Session>,
    Path(id): Path<String>,
    Query(shown): Query<Shown>,
) -> Result<Response, PageError> {
    render_hotel(
        &state,
        &session,
        &id,
        shown.done.as_deref().and_then(done_text),
        None,
    )
    .await
}

async fn render_hotel(
    state: &AppState,
    session: &Session,
    id: &str,
    done: Option<&str>,
    error: Option<&str>,
) -> Result<Response, PageError> {
    let here = format!("/admin/listings/hotels/{}", segment(id)?);
    session.staff(&here)?;
    let hotel: Value = state
        .api
        .get(
            session.caller(),
            &format!("/api/listings/hotels/{}", segment(id)?),
        )
        .await
        .map_err(|e| PageError::from_api(e, &here))?;
    let text = |v: &Value| {
        v.as_str()
            .map(str::to_owned)
            .unwrap_or_else(|| v.to_string())
    };
    let amenities: Vec<String> = hotel["amenities"]
        .as_array()
        .map(|a| a.iter().map(text).collect())
        .unwrap_or_default();
    let title = text(&hotel["name"]);
    let body = html! {
        h1 { (title) }
        (notice(done))
        (alert(error))
        form.stack method="post" action=(here) {
            (csrf(session))
            label { "Name" input name="name" required maxlength="200" value=(title); }
            label { "Stars" input type="number" name="stars" min="1" max="5" required value=(text(&hotel["stars"])); }
            label { "Amenities (comma-separated)" input name="amenities" value=(amenities.join(", ")); }
            label { "Description" input name="description" maxlength="2000" value=(text(&hotel["description"])); }
            @for (r, room) in hotel["roomTypes"].as_array().into_iter().flatten().enumerate() {
                fieldset {
                    legend { (text(&room["name"])) }
                    label { "Rooms of this type" input type="number" name={"rooms" (r)} min="0" required value=(text(&room["rooms"])); }
                    @for (p, plan) in room["ratePlans"].as_array().into_iter().flatten().enumerate() {
                        label { (text(&plan["name"])) ", weekday price (" (text(&plan["weekdayPrice"]["currency"])) ")"
                            input name={"weekday" (r) "_" (p)} inputmode="decimal" required value=(text(&plan["weekdayPrice"]["amount"])); }
                        label { (text(&plan["name"])) ", weekend price (" (text(&plan["weekendPrice"]["currency"])) ")"
                            input name={"weekend" (r) "_" (p)} inputmode="decimal" required value=(text(&plan["weekendPrice"]["amount"])); }
                    }
                }
            }
            button type="submit" { "Save the hotel" }
        }
    };
    Ok(layout::admin_page(session, &title, body).into_response())
}

/// The hotel as `PUT` takes it, from the hotel as `GET` shows it: amounts back to their
/// decimal text, room types and rate plans with their ids.
fn hotel_input(view: &Value) -> Value {
    let amount = |money: &Value| money["amount"].clone();
    let room_types: Vec<Value> = view["roomTypes"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|room| {
            let plans: Vec<Value> = room["ratePlans"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|plan| {
                    let prices: serde_json::Map<String, Value> = plan["prices"]
                        .as_object()
                        .into_iter()
                        .flatten()
                        .map(|(night, money)| (night.clone(), amount(money)))
                        .collect();
                    json!({
                        "id": plan["id"], "name": plan["name"], "refundable": plan["refundable"],
                        "freeCancellationHours": plan["freeCancellationHours"],
                        "weekdayPrice": amount(&plan["weekdayPrice"]),
                        "weekendPrice": amount(&plan["weekendPrice"]),
                        "prices": prices,
                    })
                })
                .collect();
            json!({
                "id": room["id"], "name": room["name"], "capacity": room["capacity"],
                "beds": room["beds"], "rooms": room["rooms"], "ratePlans": plans,
            })
        })
        .collect();
    json!({
        "name": view["name"], "city": view["city"], "address": view["address"],
        "latitude": view["latitude"], "longitude": view["longitude"],
        "airportCode": view["airportCode"], "stars": view["stars"], "amenities": view["amenities"],
        "photos": view["photos"], "description": view["description"],
        "checkInTime": view["checkInTime"], "currency": view["currency"],
        "taxBasisPoints": view["taxBasisPoints"], "feePerNight": amount(&view["feePerNight"]),
        "roomTypes": room_types,
    })
}

async fn change_hotel(
    State(state): State<AppState>,
    Extension(session): Extension<Session>,
    Path(id): Path<String>,
    Form(form): Form<BTreeMap<String, String>>,
) -> Result<Response, PageError> {
    let here = format!("/admin/listings/hotels/{}", segment(&id)?);
    session.staff(&here)?;
    let path = format!("/api/listings/hotels/{}", segment(&id)?);
    let view: Value = state
        .api
        .get(session.caller(), &path)
        .await
        .map_err(|e| PageError::from_api(e, &here))?;
    let mut input = hotel_input(&view);
    let field = |name: &str| form.get(name).map(|v| v.trim().to_owned());
    if let Some(name) = field("name") {
        input["name"] = json!(name);
    }
    if let Some(stars) = field("stars") {
        input["stars"] = number(&stars);
    }
    if let Some(description) = field("description") {
        input["description"] = json!(description);
    }
    if let Some(amenities) = field("amenities") {
        let list: Vec<&str> = amenities
            .split(',')
            .map(str::trim)
            .filter(|a| !a.is_empty())
            .collect();
        input["amenities"] = json!(list);
    }
    if let Some(rooms) = input["roomTypes"].as_array_mut() {
        for (r, room) in rooms.iter_mut().enumerate() {
            if let Some(count) = field(&format!("rooms{r}")) {
                room["rooms"] = number(&count);
            }
            if let Some(plans) = room["ratePlans"].as_array_mut() {
                for (p, plan) in plans.iter_mut().enumerate() {
                    for (key, name) in [("weekdayPrice", "weekday"), ("weekendPrice", "weekend")] {
                        if let Some(price) = field(&format!("{name}{r}_{p}")) {
                            plan[key] = json!(price);
                        }
                    }
                }
            }
        }
    }
    match state
        .api
        .act(session.caller(), Method::PUT, &path, Some(&input))
        .await
    {
        Ok(()) => Ok(Redirect::to(&format!("{here}?done=hotel-changed")).into_response()),
        Err(e) if super::shown_beside_form(e.status) => {
            let mut page = render_hotel(&state, &session, &id, None, Some(&e.message)).await?;
            *page.status_mut() = e.status;
            Ok(page)
        }
        Err(e) => Err(PageError::from_api(e, &here)),
    }
}
