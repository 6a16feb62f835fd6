//! My trips: the traveller's bookings, one booking's page with its payment and live flight
//! status, and cancellation, which shows the refund the booking's rule gives before asking to
//! confirm.

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::{Extension, Router};
use maud::{Markup, html};
use reqwest::Method;
use serde::Deserialize;

use super::{AppState, failure_reason, human_status, status_badge};
use crate::api::types::{Booking, Page, Payment, Payments, RefundQuote};
use crate::error::PageError;
use crate::layout::{self, alert, csrf, notice};
use crate::session::{Form, Session};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/bookings", get(list))
        .route("/bookings/{id}", get(show))
        .route("/bookings/{id}/cancel", get(confirm_cancel).post(cancel))
}

#[derive(Deserialize)]
struct Paging {
    page: Option<u32>,
}

async fn list(
    State(state): State<AppState>,
    Extension(session): Extension<Session>,
    Query(paging): Query<Paging>,
) -> Result<Response, PageError> {
    session.user("/bookings")?;
    let page = paging.page.unwrap_or(1).max(1);
    let bookings: Page<Booking> = state
        .api
        .get(
            session.caller(),
            &format!("/api/bookings?page={page}&pageSize=20"),
        )
        .await
        .map_err(|e| PageError::from_api(e, "/bookings"))?;
    let live: Vec<&str> = bookings
        .items
        .iter()
        .filter(|b| b.status == "CONFIRMED" || b.status == "PENDING_PAYMENT")
        .filter_map(|b| b.flight.as_ref().map(|f| f.flight_code.as_str()))
        .collect();
    let body = html! {
        h1 { "My trips" }
        @if bookings.items.is_empty() {
            p { "No bookings yet. " a href="/" { "Search for a flight" } "." }
        } @else {
            table data-live-flights=(live.join(",")) {
                caption { "Bookings, newest first" }
                thead { tr {
                    th scope="col" { "Reference" } th scope="col" { "What" } th scope="col" { "Status" }
                    th scope="col" { "Flight status" } th scope="col" { "Price" }
                } }
                tbody {
                    @for booking in &bookings.items {
                        tr {
                            td { a href={"/bookings/" (booking.booking_id)} { (booking.reference) } }
                            td { (summary(booking)) }
                            td { (status_badge(&booking.status)) }
                            td {
                                @if let Some(flight) = &booking.flight {
                                    span data-flight-status=(flight.flight_code) { (status_badge(&flight.status)) }
                                }
                            }
                            td { (booking.price) }
                        }
                    }
                }
            }
            (pager("/bookings", page, bookings.page_size, bookings.total))
        }
    };
    Ok(layout::page(&session, "My trips", body).into_response())
}

/// Links to the previous and next pages of a list.
pub fn pager(path: &str, page: u32, page_size: i64, total: i64) -> Markup {
    let pages = ((total + page_size.max(1) - 1) / page_size.max(1)).max(1);
    html! {
        @if pages > 1 {
            nav.pager aria-label="Pages" {
                @if page > 1 { a href={(path) "?page=" (page - 1)} rel="prev" { "Previous" } }
                span { "Page " (page) " of " (pages) }
                @if i64::from(page) < pages { a href={(path) "?page=" (page + 1)} rel="next" { "Next" } }
            }
        }
    }
}

/// One line saying what was booked.
fn summary(booking: &Booking) -> String {
    match (&booking.flight, &booking.description) {
        (Some(flight), _) => format!(
            "{} {} → {}, {}",
            flight.flight_code,
            flight.origin,
            flight.destination,
            flight
                .departure_local
                .as_deref()
                .map(super::local_time)
                .unwrap_or_default()
        ),
        (None, Some(description)) => description.clone(),
        (None, None) => booking.product.clone(),
    }
}

async fn booking(state: &AppState, session: &Session, id: &str) -> Result<Booking, PageError> {
    let here = format!("/bookings/{id}");
    session.user(&here)?;
    let id: i64 = id
        .parse()
        .map_err(|_| PageError::not_found("There is no such booking."))?;
    state
        .api
        .get(session.caller(), &format!("/api/bookings/{id}"))
        .await
        .map_err(|e| PageError::from_api(e, &here))
}

async fn payment(state: &AppState, session: &Session, booking_id: i64) -> Option<Payment> {
    state
        .api
        .get::<Payments>(
            session.caller(),
            &format!("/api/payments?bookingId={booking_id}"),
        )
        .await
        .ok()
        .and_then(|p| p.payments.into_iter().next())
}

#[derive(Deserialize)]
struct Done {
    done: Option<String>,
}

async fn show(
    State(state): State<AppState>,
    Extension(session): Extension<Session>,
    Path(id): Path<String>,
    Query(done): Query<Done>,
) -> Result<Response, PageError> {
    let booking = booking(&state, &session, &id).await?;
    let payment = payment(&state, &session, booking.booking_id).await;
    let pending = booking.status == "PENDING_PAYMENT";
    // A paid booking just cancelled: its refund follows in a moment.
    let refund_coming = booking.status == "CANCELLED"
        && booking
            .cancelled_at
            .is_some_and(|at| chrono::Utc::now() - at < chrono::Duration::seconds(30))
        && payment.as_ref().is_some_and(|p| {
            p.status == "SUCCEEDED" && p.refunds.iter().all(|r| r.status != "SUCCEEDED")
        });
    let cancellable = matches!(booking.status.as_str(), "CONFIRMED" | "PENDING_PAYMENT");
    let title = format!("Booking {}", booking.reference);
    let done = match done.done.as_deref() {
        Some("cancelled") => Some("The booking is cancelled."),
        _ => None,
    };
    let body = html! {
        h1 { (title) }
        (notice(done))
        section.card aria-labelledby="outcome" {
            h2 id="outcome" { (outcome(&booking, payment.as_ref())) }
            @if pending {
                p { "Your payment is being processed. This page updates by itself." }
            }
            @if refund_coming {
                p { "Any refund due is being processed. This page updates by itself." }
            }
            dl {
                dt { "What" } dd { (summary(&booking)) }
                dt { "Status" } dd data-booking-status { (status_badge(&booking.status)) }
                @if let Some(flight) = &booking.flight {
                    dt { "Flight status" }
                    dd data-live-flights=(flight.flight_code) {
                        span data-flight-status=(flight.flight_code) { (status_badge(&flight.status)) }
                    }
                }
                @if let Some(cabin) = &booking.cabin { dt { "Cabin" } dd { (cabin) } }
                @if !booking.passengers.is_empty() {
                    dt { "Passengers" }
                    dd { ul { @for p in &booking.passengers {
                        li { (p.name) @if let Some(seat) = &p.seat { ", seat " (seat) } }
                    } } }
                }
                @for item in &booking.items { dt { "Item" } dd { (summary(item)) " · " (status_badge(&item.status)) } }
                dt { "Price" } dd { (booking.price) }
                dt { "Booked" } dd { (booking.created_at.format("%Y-%m-%d %H:%M UTC")) }
                @if let (true, Some(until)) = (pending, booking.hold_expires_at) {
                    dt { "Held until" } dd { (until.format("%Y-%m-%d %H:%M:%S UTC")) }
                }
                @if let Some(payment) = &payment {
                    dt { "Payment" }
                    dd {
                        (status_badge(&payment.status))
                        @if let Some(card) = &payment.card { " " (card.brand) " ending " (card.last4) }
                        @if payment.method == "wallet" { " from the wallet" }
                        @if let Some(reason) = &payment.failure_reason { " — " (failure_reason(reason)) }
                    }
                    @for refund in &payment.refunds {
                        dt { "Refund" }
                        dd data-refund { (refund.amount) " (" (human_status(&refund.status)) ")"
                            @if refund.fee.amount_minor > 0 { ", fee kept " (refund.fee) } }
                    }
                    @if payment.status == "SUCCEEDED" {
                        dt { "Receipt" } dd { a href={"/account/payments/" (payment.payment_id) "/receipt"} { "View receipt" } }
                    }
                }
                @if let Some(until) = booking.refundable_until { dt { "Free cancellation until" } dd { (until.format("%Y-%m-%d %H:%M UTC")) } }
            }
            @if cancellable {
                p { a.button.secondary href={"/bookings/" (booking.booking_id) "/cancel"} { "Cancel this booking" } }
            }
        }
        div.live role="log" aria-live="polite" aria-label="Live flight updates" data-live-log {}
    };
    let page = layout::page(&session, &title, body);
    // Without scripts too, a pending booking's page shows the outcome when it comes.
    Ok(if pending || refund_coming {
        ([("refresh", "2")], page).into_response()
    } else {
        page.into_response()
    })
}

/// The saga's outcome in one honest sentence.
fn outcome(booking: &Booking, payment: Option<&Payment>) -> Markup {
    let reason = payment
        .and_then(|p| p.failure_reason.as_deref())
        .map(failure_reason);
    html! {
        @match (booking.status.as_str(), booking.cancel_reason.as_deref()) {
            ("CONFIRMED", _) => "Paid and confirmed",
            ("PENDING_PAYMENT", _) => "Payment pending",
            ("CANCELLED", Some("payment-failed")) => {
                "Payment declined" @if let Some(reason) = reason { ": " (reason) } " — nothing was charged"
            }
            ("CANCELLED", Some("flight-cancelled")) => "Cancelled by the airline; refunded in full",
            ("CANCELLED", _) => "Cancelled",
            ("EXPIRED", _) => "Expired: it was not paid in time",
            (other, _) => (human_status(other)),
        }
    }
}

async fn confirm_cancel(
    State(state): State<AppState>,
    Extension(session): Extension<Session>,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    let booking = booking(&state, &session, &id).await?;
    if !matches!(booking.status.as_str(), "CONFIRMED" | "PENDING_PAYMENT") {
        return Ok(Redirect::to(&format!("/bookings/{}", booking.booking_id)).into_response());
    }
    let quote = state
        .api
        .get::<RefundQuote>(
            session.caller(),
            &format!(
                "/api/payments/refund-quote?bookingId={}",
                booking.booking_id
            ),
        )
        .await;
    render_confirm(&session, &booking, quote.as_ref().ok(), None)
}

fn render_confirm(
    session: &Session,
    booking: &Booking,
    quote: Option<&RefundQuote>,
    error: Option<&str>,
) -> Result<Response, PageError> {
    let title = format!("Cancel {}", booking.reference);
    let body = html! {
        h1 { (title) }
        (alert(error))
        p { (summary(booking)) }
        @match quote {
            Some(quote) => {
                p.quote data-refund-quote {
                    "If you cancel now you get back " strong { (quote.refund) } " of the " (quote.paid) " paid"
                    @if quote.fee.amount_minor > 0 { " (a fee of " (quote.fee) " is kept)" }
                    "."
                }
                p.muted { (quote.rule) }
            }
            None => { p { "The refund this booking would get cannot be shown right now; the booking's rule applies." } }
        }
        form method="post" action={"/bookings/" (booking.booking_id) "/cancel"} {
            (csrf(session))
            button.danger type="submit" { "Yes, cancel the booking" }
            " "
            a href={"/bookings/" (booking.booking_id)} { "Keep it" }
        }
    };
    Ok(layout::page(session, &title, body).into_response())
}

async fn cancel(
    State(state): State<AppState>,
    Extension(session): Extension<Session>,
    Path(id): Path<String>,
    Form(_): Form<super::NoFields>,
) -> Result<Response, PageError> {
    let booking = booking(&state, &session, &id).await?;
    let path = format!("/api/bookings/{}/cancel", booking.booking_id);
    match state
        .api
        .act(session.caller(), Method::POST, &path, None)
        .await
    {
        Ok(()) => Ok(
            Redirect::to(&format!("/bookings/{}?done=cancelled", booking.booking_id))
                .into_response(),
        ),
        Err(e) if super::shown_beside_form(e.status) => {
            let mut response = render_confirm(&session, &booking, None, Some(&e.message))?;
            *response.status_mut() = e.status;
            Ok(response)
        }
        Err(e) => Err(PageError::from_api(e, &format!("/bookings/{id}"))),
    }
}
