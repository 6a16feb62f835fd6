//! The admin portal, for ops and admins. Every page and every action checks the role here (the
//! whole portal sits behind [`staff_only`]) and again at the API, which decides what each role
//! may do: ops change flights and look bookings up; only admins change roles or rotate keys.

use std::collections::BTreeMap;

use axum::extract::{Path, Query, Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Extension, Router};
use maud::html;
use reqwest::Method;
use serde::Deserialize;
use serde_json::{Value, json};

use super::bookings::pager;
use super::{AppState, query, shown_beside_form, status_badge};
use crate::api::types::{Booking, Flight, FlightOffer, Page, Payments, UserRow};
use crate::error::PageError;
use crate::layout::{self, alert, csrf, notice};
use crate::session::{Form, Session};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(home))
        .route("/flights", get(flights).post(schedule))
        .route("/flights/{id}", get(flight).post(change_flight))
        .route("/bookings", get(bookings))
        .route("/bookings/{id}/cancel", post(cancel_booking))
        .route("/users", get(users))
        .route("/users/{id}/role", post(change_role))
        .route("/payments", get(payments))
        .route("/system", get(system))
        .route("/keys/rotate", post(rotate_keys))
        .merge(super::admin_listings::router())
        .layer(middleware::from_fn(staff_only))
}

/// Refuses the whole portal to anyone but ops and admins: signed-out browsers are sent to sign
/// in, customers get 403.
async fn staff_only(request: Request, next: Next) -> Response {
    // Inside the nest the path has lost its `/admin`; the original one is where to come back to.
    let here = request
        .extensions()
        .get::<axum::extract::OriginalUri>()
        .map_or_else(
            || request.uri().path().to_owned(),
            |uri| uri.path().to_owned(),
        );
    let allowed = request
        .extensions()
        .get::<Session>()
        .map(|session| session.staff(&here).map(|_| ()));
    match allowed {
        Some(Ok(())) => next.run(request).await,
        Some(Err(refused)) => refused.into_response(),
        None => PageError::internal("the session layer did not run").into_response(),
    }
}

/// What the last action did, by code.
#[derive(Deserialize)]
struct Shown {
    done: Option<String>,
}

fn done_text(code: &str) -> Option<&'static str> {
    Some(match code {
        "flight-changed" => "The flight is changed; travellers following it see it live.",
        "flight-scheduled" => "The flight is scheduled; booking sells it within seconds.",
        "booking-cancelled" => "The booking is cancelled and its refund, if any, started.",
        "role-changed" => {
            "The role is changed; it applies from the user's next sign-in or token renewal."
        }
        "key-rotated" => "A new signing key signs from now on.",
        _ => return None,
    })
}

async fn home(Extension(session): Extension<Session>) -> Result<Response, PageError> {
    let user = session.staff("/admin")?;
    let body = html! {
        h1 { "Admin portal" }
        p { "Signed in as " (user.name) " (" (user.role) ")." }
        ul.tiles {
            li { a href="/admin/flights" { "Flights" } " — find a flight, change its status, gate, times or fares" }
            li { a href="/admin/listings" { "Hotels and cars" } " — the listings travellers search" }
            li { a href="/admin/bookings" { "Bookings" } " — look up by booking number or user, cancel and refund" }
            li { a href="/admin/users" { "Users" } " — accounts and roles" }
            li { a href="/admin/payments" { "Payments" } " — a user's payments and refunds" }
            li { a href="/admin/system" { "System" } " — every service instance and its health" }
        }
    };
    Ok(layout::admin_page(&session, "Admin", body).into_response())
}

#[derive(Default, Deserialize)]
struct FlightFind {
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    #[serde(default)]
    date: String,
}

async fn flights(
    State(state): State<AppState>,
    Extension(session): Extension<Session>,
    Query(find): Query<FlightFind>,
) -> Result<Response, PageError> {
    session.staff("/admin/flights")?;
    let aircraft = state
        .api
        .get::<Vec<Aircraft>>(session.caller(), "/api/aircraft")
        .await
        .unwrap_or_default();
    let found = if find.from.is_empty() || find.to.is_empty() {
        None
    } else {
        let q = query(&[
            ("from", &find.from),
            ("to", &find.to),
            ("date", &find.date),
            ("pageSize", "100"),
            ("sort", "departure"),
        ]);
        Some(
            state
                .api
                .get::<Page<FlightOffer>>(session.caller(), &format!("/api/flights?{q}"))
                .await,
        )
    };
    let body = html! {
        h1 { "Flights" }
        form.filters method="get" action="/admin/flights" {
            label { "From" input name="from" value=(find.from) required; }
            label { "To" input name="to" value=(find.to) required; }
            label { "Date" input type="date" name="date" value=(find.date); }
            button type="submit" { "Find flights" }
        }
        details {
            summary { "Schedule a flight" }
            (schedule_form(&session, &aircraft, &BTreeMap::new()))
        }
        @match &found {
            None => p { "Give a route (and a date) to list its flights." },
            Some(Err(e)) => (alert(Some(&e.message))),
            Some(Ok(page)) => {
                table {
                    caption { (page.total) " flights" }
                    thead { tr { th scope="col" { "Flight" } th scope="col" { "Departs (local)" } th scope="col" { "Status" } th scope="col" { "Seats left" } } }
                    tbody { @for f in &page.items {
                        tr {
                            td { a href={"/admin/flights/" (f.flight_id)} { (f.flight_code) } }
                            td { (super::local_time(&f.departure_local)) }
                            td { (status_badge(&f.status)) }
                            td { (f.seats_left) }
                        }
                    } }
                }
            }
        }
    };
    Ok(layout::admin_page(&session, "Flights", body).into_response())
}

#[derive(Deserialize)]
struct Aircraft {
    id: i64,
    model: String,
}

const CABINS: [&str; 4] = ["economy", "premium_economy", "business", "first"];

/// The form that schedules a flight; `sent` is what a refused one held, shown again.
fn schedule_form(
    session: &Session,
    aircraft: &[Aircraft],
    sent: &BTreeMap<String, String>,
) -> maud::Markup {
    let value = |name: &str| sent.get(name).map_or("", String::as_str);
    html! {
        form.stack method="post" action="/admin/flights" {
            (csrf(session))
            label { "Flight number" input name="flightNumber" required maxlength="8" placeholder="IT101" value=(value("flightNumber")); }
            label { "Airline" input name="airline" required maxlength="64" value=(value("airline")); }
            label { "From (airport code)" input name="origin" required maxlength="3" value=(value("origin")); }
            label { "To (airport code)" input name="destination" required maxlength="3" value=(value("destination")); }
            label { "Departure (UTC)" input type="datetime-local" name="departureAt" required value=(value("departureAt")); }
            label { "Arrival (UTC)" input type="datetime-local" name="arrivalAt" required value=(value("arrivalAt")); }
            label { "Aircraft" select name="aircraftTypeId" required {
                @for a in aircraft { option value=(a.id) selected[value("aircraftTypeId") == a.id.to_string()] { (a.model) } }
            } }
            fieldset {
                legend { "Fares in USD, one for each cabin the aircraft has" }
                @for cabin in CABINS {
                    @let name = format!("fare_{cabin}");
                    label { (cabin.replace('_', " ")) input name=(name) inputmode="decimal" value=(value(&name)); }
                }
            }
            button type="submit" { "Schedule the flight" }
        }
    }
}

/// A `datetime-local` value (`2026-12-07T17:50`) as RFC 3339 in UTC.
fn utc(local: &str) -> String {
    match local.len() {
        16 => format!("{local}:00Z"),
        _ => format!("{local}Z"),
    }
}

async fn schedule(
    State(state): State<AppState>,
    Extension(session): Extension<Session>,
    Form(form): Form<BTreeMap<String, String>>,
) -> Result<Response, PageError> {
    session.staff("/admin/flights")?;
    let text = |name: &str| form.get(name).map_or("", |v| v.trim());
    let fares: serde_json::Map<String, Value> = CABINS
        .iter()
        .filter(|cabin| !text(&format!("fare_{cabin}")).is_empty())
        .map(|cabin| {
            (
                (*cabin).to_owned(),
                json!({ "amount": text(&format!("fare_{cabin}")), "currency": "USD" }),
            )
        })
        .collect();
    let body = json!({
        "flightNumber": text("flightNumber").to_ascii_uppercase(),
        "airline": text("airline"),
        "origin": text("origin").to_ascii_uppercase(),
        "destination": text("destination").to_ascii_uppercase(),
        "departureAt": utc(text("departureAt")),
        "arrivalAt": utc(text("arrivalAt")),
        "aircraftTypeId": text("aircraftTypeId").parse::<i64>().unwrap_or(0),
        "fares": fares,
    });
    let scheduled = state
        .api
        .send::<Value>(session.caller(), Method::POST, "/api/flights", &body, None)
        .await;
    match scheduled {
        Ok(flight) => Ok(Redirect::to(&format!(
            "/admin/flights/{}?done=flight-scheduled",
            flight["flightId"].as_i64().unwrap_or_default()
        ))
        .into_response()),
        Err(e) if shown_beside_form(e.status) => {
            let aircraft = state
                .api
                .get::<Vec<Aircraft>>(session.caller(), "/api/aircraft")
                .await
                .unwrap_or_default();
            let page = layout::admin_page(
                &session,
                "Schedule a flight",
                html! {
                    h1 { "Schedule a flight" }
                    (alert(Some(&e.message)))
                    (schedule_form(&session, &aircraft, &form))
                },
            );
            Ok((e.status, page).into_response())
        }
        Err(e) => Err(PageError::from_api(e, "/admin/flights")),
    }
}

const STATUSES: [&str; 6] = [
    "On Time",
    "Delayed",
    "Boarding",
    "Departed",
    "Landed",
    "Cancelled",
];

async fn flight(
    State(state): State<AppState>,
    Extension(session): Extension<Session>,
    Path(id): Path<i64>,
    Query(shown): Query<Shown>,
) -> Result<Response, PageError> {
    render_flight(
        &state,
        &session,
        id,
        shown.done.as_deref().and_then(done_text),
        None,
    )
    .await
}

async fn render_flight(
    state: &AppState,
    session: &Session,
    id: i64,
    done: Option<&str>,
    error: Option<&str>,
) -> Result<Response, PageError> {
    let here = format!("/admin/flights/{id}");
    session.staff(&here)?;
    let flight: Flight = state
        .api
        .get(session.caller(), &format!("/api/flights/{id}"))
        .await
        .map_err(|e| PageError::from_api(e, &here))?;
    let title = format!("Flight {}", flight.flight_code);
    let body = html! {
        h1 { (title) }
        (notice(done))
        (alert(error))
        p { (flight.airline) " · " (flight.origin.iata) " → " (flight.destination.iata) " · departs " (super::local_time(&flight.departure_local)) " · arrives " (super::local_time(&flight.arrival_local)) }
        form.stack method="post" action={"/admin/flights/" (id)} {
            (csrf(session))
            label { "Status"
                select name="status" {
                    @for s in STATUSES { option value=(s) selected[flight.status == s] { (s) } }
                }
            }
            label { "Gate" input name="gate" maxlength="8" value=(flight.gate.as_deref().unwrap_or("")); }
            fieldset {
                legend { "Fares per passenger" }
                @for cabin in &flight.cabins {
                    label { (cabin.cabin) " (" (cabin.fare.currency) ")"
                        input name={"fare_" (cabin.cabin)} inputmode="decimal" value=(cabin.fare.amount) required;
                    }
                }
            }
            button type="submit" { "Save changes" }
        }
    };
    Ok(layout::admin_page(session, &title, body).into_response())
}

/// Sends only what the form changed: status, gate, fares.
async fn change_flight(
    State(state): State<AppState>,
    Extension(session): Extension<Session>,
    Path(id): Path<i64>,
    Form(form): Form<BTreeMap<String, String>>,
) -> Result<Response, PageError> {
    let here = format!("/admin/flights/{id}");
    session.staff(&here)?;
    let flight: Flight = state
        .api
        .get(session.caller(), &format!("/api/flights/{id}"))
        .await
        .map_err(|e| PageError::from_api(e, &here))?;
    let mut change = serde_json::Map::new();
    if let Some(status) = form.get("status").filter(|s| **s != flight.status) {
        change.insert("status".into(), json!(status));
    }
    let gate = form.get("gate").map(|g| g.trim()).unwrap_or("");
    if flight.gate.as_deref().unwrap_or("") != gate {
        change.insert(
            "gate".into(),
            if gate.is_empty() {
                Value::Null
            } else {
                json!(gate)
            },
        );
    }
    let mut fares = serde_json::Map::new();
    for cabin in &flight.cabins {
        if let Some(amount) = form.get(&format!("fare_{}", cabin.cabin)).map(|a| a.trim())
            && amount != cabin.fare.amount
        {
            fares.insert(
                cabin.cabin.clone(),
                json!({ "amount": amount, "currency": cabin.fare.currency }),
            );
        }
    }
    if !fares.is_empty() {
        change.insert("fares".into(), Value::Object(fares));
    }
    if change.is_empty() {
        return Ok(Redirect::to(&here).into_response());
    }
    match state
        .api
        .act(
            session.caller(),
            Method::PATCH,
            &format!("/api/flights/{id}"),
            Some(&Value::Object(change)),
        )
        .await
    {
        Ok(()) => Ok(Redirect::to(&format!("{here}?done=flight-changed")).into_response()),
        Err(e) if shown_beside_form(e.status) => {
            let mut page = render_flight(&state, &session, id, None, Some(&e.message)).await?;
            *page.status_mut() = e.status;
            Ok(page)
        }
        Err(e) => Err(PageError::from_api(e, &here)),
    }
}

#[derive(Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct BookingFind {
    #[serde(default)]
    reference: String,
    #[serde(default)]
    booking: String,
    #[serde(default)]
    user_id: String,
    #[serde(default)]
    flight_id: String,
    done: Option<String>,
}

/// The bookings the lookup names: by reference, by number, by user or by flight (the first given).
async fn find_bookings(
    state: &AppState,
    session: &Session,
    find: &BookingFind,
) -> Result<Vec<Booking>, String> {
    let caller = session.caller();
    let whole = |text: &str, what: &str| {
        text.trim()
            .parse::<i64>()
            .map_err(|_| format!("A {what} is a whole number."))
    };
    let listed = |path: String| async move {
        state
            .api
            .get::<Page<Booking>>(caller, &path)
            .await
            .map(|page| page.items)
            .map_err(|e| e.message)
    };
    if !find.reference.trim().is_empty() {
        listed(format!(
            "/api/bookings?{}",
            query(&[("reference", find.reference.trim())])
        ))
        .await
    } else if !find.booking.trim().is_empty() {
        let id = whole(&find.booking, "booking number")?;
        state
            .api
            .get::<Booking>(caller, &format!("/api/bookings/{id}"))
            .await
            .map(|booking| vec![booking])
            .map_err(|e| e.message)
    } else if !find.user_id.trim().is_empty() {
        let user = whole(&find.user_id, "user id")?;
        listed(format!("/api/bookings?userId={user}&pageSize=50")).await
    } else if !find.flight_id.trim().is_empty() {
        let flight = whole(&find.flight_id, "flight id")?;
        listed(format!("/api/bookings?flightId={flight}&pageSize=100")).await
    } else {
        Ok(Vec::new())
    }
}

async fn bookings(
    State(state): State<AppState>,
    Extension(session): Extension<Session>,
    Query(find): Query<BookingFind>,
) -> Result<Response, PageError> {
    session.staff("/admin/bookings")?;
    let (found, error) = match find_bookings(&state, &session, &find).await {
        Ok(found) => (found, None),
        Err(message) => (Vec::new(), Some(message)),
    };
    let body = html! {
        h1 { "Bookings" }
        (notice(find.done.as_deref().and_then(done_text)))
        (alert(error.as_deref()))
        form.filters method="get" action="/admin/bookings" {
            label { "Reference" input name="reference" maxlength="32" value=(find.reference); }
            label { "or booking number" input name="booking" inputmode="numeric" value=(find.booking); }
            label { "or user id" input name="userId" inputmode="numeric" value=(find.user_id); }
            label { "or flight id" input name="flightId" inputmode="numeric" value=(find.flight_id); }
            button type="submit" { "Look up" }
        }
        @if !found.is_empty() {
            table {
                caption { (found.len()) " bookings" }
                thead { tr {
                    th scope="col" { "Number" } th scope="col" { "Reference" } th scope="col" { "User" } th scope="col" { "What" }
                    th scope="col" { "Status" } th scope="col" { "Price" } th scope="col" {}
                } }
                tbody { @for b in &found {
                    tr {
                        td { (b.booking_id) }
                        td { (b.reference) }
                        td { a href={"/admin/payments?userId=" (b.user_id)} { (b.user_id) } }
                        td { (b.flight.as_ref().map_or_else(|| b.description.clone().unwrap_or_default(), |f| format!("{} {} → {}", f.flight_code, f.origin, f.destination))) }
                        td { (status_badge(&b.status)) }
                        td { (b.price) }
                        td {
                            @if matches!(b.status.as_str(), "CONFIRMED" | "PENDING_PAYMENT") {
                                form method="post" action={"/admin/bookings/" (b.booking_id) "/cancel"} {
                                    (csrf(&session))
                                    button.danger type="submit" { "Cancel and refund" span.visually-hidden { " " (b.reference) } }
                                }
                            }
                        }
                    }
                } }
            }
        }
    };
    Ok(layout::admin_page(&session, "Bookings", body).into_response())
}

async fn cancel_booking(
    State(state): State<AppState>,
    Extension(session): Extension<Session>,
    Path(id): Path<i64>,
    Form(_): Form<super::NoFields>,
) -> Result<Response, PageError> {
    session.staff("/admin/bookings")?;
    state
        .api
        .act(
            session.caller(),
            Method::POST,
            &format!("/api/bookings/{id}/cancel"),
            None,
        )
        .await
        .map_err(|e| PageError::from_api(e, "/admin/bookings"))?;
    Ok(Redirect::to(&format!(
        "/admin/bookings?booking={id}&done=booking-cancelled"
    ))
    .into_response())
}

#[derive(Deserialize)]
struct Paging {
    page: Option<u32>,
    done: Option<String>,
}

async fn users(
    State(state): State<AppState>,
    Extension(session): Extension<Session>,
    Query(paging): Query<Paging>,
) -> Result<Response, PageError> {
    let user = session.staff("/admin/users")?;
    let admin = user.role == platform::auth::Role::Admin;
    let page = paging.page.unwrap_or(1).max(1);
    let listed = state
        .api
        .get::<Page<UserRow>>(
            session.caller(),
            &format!("/api/users?page={page}&pageSize=50"),
        )
        .await;
    let body = html! {
        h1 { "Users" }
        (notice(paging.done.as_deref().and_then(done_text)))
        @match &listed {
            Err(e) => (alert(Some(&e.message))),
            Ok(users) => {
                table {
                    caption { (users.total) " users" }
                    thead { tr { th scope="col" { "Id" } th scope="col" { "Username" } th scope="col" { "Email" } th scope="col" { "Role" } } }
                    tbody { @for u in &users.items {
                        tr {
                            td { (u.user_id) }
                            td { (u.username) }
                            td { (u.email) }
                            td {
                                @if admin {
                                    form.inline method="post" action={"/admin/users/" (u.user_id) "/role"} {
                                        (csrf(&session))
                                        label.visually-hidden for={"role-" (u.user_id)} { "Role of " (u.username) }
                                        select id={"role-" (u.user_id)} name="role" {
                                            @for r in ["customer", "ops", "admin"] { option value=(r) selected[u.role == r] { (r) } }
                                        }
                                        button type="submit" { "Set" span.visually-hidden { " role of " (u.username) } }
                                    }
                                } @else { (u.role) }
                            }
                        }
                    } }
                }
                (pager("/admin/users", page, users.page_size, users.total))
            }
        }
    };
    Ok(layout::admin_page(&session, "Users", body).into_response())
}

#[derive(Deserialize)]
struct RoleChange {
    role: String,
}

async fn change_role(
    State(state): State<AppState>,
    Extension(session): Extension<Session>,
    Path(id): Path<i64>,
    Form(form): Form<RoleChange>,
) -> Result<Response, PageError> {
    session.staff("/admin/users")?;
    state
        .api
        .act(
            session.caller(),
            Method::PUT,
            &format!("/api/users/{id}/role"),
            Some(&json!({ "role": form.role })),
        )
        .await
        .map_err(|e| PageError::from_api(e, "/admin/users"))?;
    Ok(Redirect::to("/admin/users?done=role-changed").into_response())
}

#[derive(Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct PaymentFind {
    #[serde(default)]
    user_id: String,
}

async fn payments(
    State(state): State<AppState>,
    Extension(session): Extension<Session>,
    Query(find): Query<PaymentFind>,
) -> Result<Response, PageError> {
    session.staff("/admin/payments")?;
    let listed = match find.user_id.trim().parse::<i64>() {
        Ok(user) => Some(
            state
                .api
                .get::<Payments>(
                    session.caller(),
                    &format!("/api/payments?userId={user}&pageSize=100"),
                )
                .await,
        ),
        Err(_) => None,
    };
    let body = html! {
        h1 { "Payments" }
        form.filters method="get" action="/admin/payments" {
            label { "User id" input name="userId" inputmode="numeric" value=(find.user_id) required; }
            button type="submit" { "Show payments" }
        }
        @match &listed {
            None => p { "Give a user id." },
            Some(Err(e)) => (alert(Some(&e.message))),
            Some(Ok(payments)) => {
                table {
                    caption { (payments.total) " payments" }
                    thead { tr {
                        th scope="col" { "Payment" } th scope="col" { "Booking" } th scope="col" { "Amount" }
                        th scope="col" { "Status" } th scope="col" { "Refunds" }
                    } }
                    tbody { @for p in &payments.payments {
                        tr {
                            td { (p.payment_id) }
                            td { a href={"/admin/bookings?booking=" (p.booking_id)} { (p.booking_reference) } }
                            td { (p.amount) }
                            td { (status_badge(&p.status)) @if let Some(r) = &p.failure_reason { " " (super::failure_reason(r)) } }
                            td { @for r in &p.refunds { (r.amount) " (" (super::human_status(&r.status)) ") " } }
                        }
                    } }
                }
            }
        }
    };
    Ok(layout::admin_page(&session, "Payments", body).into_response())
}

#[derive(Deserialize)]
struct Instance {
    url: String,
    instance: String,
    health: String,
    #[serde(rename = "ejectedForMs")]
    ejected_for_ms: u64,
    outstanding: u64,
}

#[derive(Deserialize)]
struct Discovery {
    services: BTreeMap<String, Vec<Instance>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct EventStatus {
    outbox_pending: i64,
    oldest_pending_seconds: Option<f64>,
    dead_letters: i64,
    last_dead_letter_at: Option<chrono::DateTime<chrono::Utc>>,
}

#[derive(Deserialize)]
struct InstanceEvents {
    instance: String,
    events: Option<EventStatus>,
    error: Option<String>,
}

#[derive(Deserialize)]
struct Events {
    services: BTreeMap<String, Vec<InstanceEvents>>,
}

async fn system(
    State(state): State<AppState>,
    Extension(session): Extension<Session>,
    Query(shown): Query<Shown>,
) -> Result<Response, PageError> {
    let user = session.staff("/admin/system")?;
    let admin = user.role == platform::auth::Role::Admin;
    let caller = session.caller();
    let (discovery, events) = tokio::join!(
        state.api.get::<Discovery>(caller, "/api/discovery/status"),
        state.api.get::<Events>(caller, "/api/operations/events"),
    );
    let body = html! {
        h1 { "System" }
        (notice(shown.done.as_deref().and_then(done_text)))
        @match &discovery {
            Err(e) => (alert(Some(&e.message))),
            Ok(discovery) => {
                table {
                    caption { "Service instances, as the gateway sees them" }
                    thead { tr {
                        th scope="col" { "Service" } th scope="col" { "Instance" } th scope="col" { "Address" }
                        th scope="col" { "Health" } th scope="col" { "Ejected for" } th scope="col" { "Requests in flight" }
                    } }
                    tbody { @for (service, instances) in &discovery.services { @for i in instances {
                        tr {
                            td { (service) } td { (i.instance) } td { (i.url) }
                            td { (status_badge(&i.health)) }
                            td { @if i.ejected_for_ms > 0 { (i.ejected_for_ms / 1000) " s" } @else { "—" } }
                            td { (i.outstanding) }
                        }
                    } } }
                }
            }
        }
        section.card aria-labelledby="events-title" {
            h2 id="events-title" { "Events" }
            p { "Each service's outbox backlog (events written but not yet published) and the events its consumers gave up on (dead letters)." }
            @match &events {
                Err(e) => (alert(Some(&e.message))),
                Ok(events) => {
                    table data-events {
                        caption { "Event backlog by instance" }
                        thead { tr {
                            th scope="col" { "Service" } th scope="col" { "Instance" } th scope="col" { "Waiting to publish" }
                            th scope="col" { "Oldest waiting" } th scope="col" { "Dead letters" } th scope="col" { "Last dead letter" }
                        } }
                        tbody { @for (service, instances) in &events.services { @for i in instances {
                            tr {
                                td { (service) } td { (i.instance) }
                                @match (&i.events, &i.error) {
                                    (Some(e), _) => {
                                        td { (e.outbox_pending) }
                                        td { @match e.oldest_pending_seconds { Some(s) => { (format!("{s:.0}")) " s" }, None => "—" } }
                                        td { @if e.dead_letters > 0 { strong { (e.dead_letters) } } @else { "0" } }
                                        td { @match e.last_dead_letter_at { Some(at) => (at.format("%Y-%m-%d %H:%M UTC")), None => "—" } }
                                    }
                                    (None, error) => { td colspan="4" { "Not answering: " (error.as_deref().unwrap_or("unknown")) } }
                                }
                            }
                        } } }
                    }
                }
            }
        }
        @if admin {
            section.card aria-labelledby="keys-title" {
                h2 id="keys-title" { "Signing keys" }
                p { "Rotating makes a new key sign every token from now on; tokens signed before stay valid until they expire." }
                form method="post" action="/admin/keys/rotate" {
                    (csrf(&session))
                    button type="submit" { "Rotate the signing key" }
                }
            }
        }
    };
    Ok(layout::admin_page(&session, "System", body).into_response())
}

async fn rotate_keys(
    State(state): State<AppState>,
    Extension(session): Extension<Session>,
    Form(_): Form<super::NoFields>,
) -> Result<Response, PageError> {
    session.staff("/admin/system")?;
    state
        .api
        .act(
            session.caller(),
            Method::POST,
            "/api/auth/keys/rotate",
            None,
        )
        .await
        .map_err(|e| PageError::from_api(e, "/admin/system"))?;
    Ok(Redirect::to("/admin/system?done=key-rotated").into_response())
}
