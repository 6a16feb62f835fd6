//! Hotels: search results for a stay (filters by stars and amenities, sorting by price or
//! rating), a hotel's page with photos, reviews and every room type priced for the stay,
//! and booking a room.

use axum::extract::{Path, RawQuery, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Router};
use maud::{Markup, html};
use serde_json::json;

use super::checkout::{self, Resubmit, field, idempotency_key, payment_fieldset, sent};
use super::{AppState, encode, query};
use crate::api::types::{Hotel, Page, Reviews, StayOffer};
use crate::error::PageError;
use crate::layout::{self, alert, csrf};
use crate::session::{Form, Session};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/hotels", get(search))
        .route("/hotels/{id}", get(show).post(book))
}

const AMENITIES: [&str; 6] = ["wifi", "breakfast", "pool", "gym", "parking", "spa"];

fn all<'a>(pairs: &'a [(String, String)], name: &str) -> Vec<&'a str> {
    pairs
        .iter()
        .filter(|(key, _)| key == name)
        .map(|(_, value)| value.as_str())
        .collect()
}

fn stars(count: i16) -> String {
    "★".repeat(usize::try_from(count).unwrap_or(0))
}

async fn search(
    State(state): State<AppState>,
    Extension(session): Extension<Session>,
    RawQuery(raw): RawQuery,
) -> Result<Response, PageError> {
    let asked = super::query_pairs(raw.as_deref());
    let (city, check_in, check_out) = (
        field(&asked, "city"),
        field(&asked, "checkIn"),
        field(&asked, "checkOut"),
    );
    let guests = match field(&asked, "guests") {
        "" => "2",
        guests => guests,
    };
    let sort = match field(&asked, "sort") {
        "" => "price",
        sort => sort,
    };
    let wanted_stars = all(&asked, "stars");
    let wanted_amenities = all(&asked, "amenities");
    let min_stars = wanted_stars
        .iter()
        .filter_map(|s| s.parse::<i16>().ok())
        .min();
    let min_stars = min_stars.map(|s| s.to_string()).unwrap_or_default();
    let amenities = wanted_amenities.join(",");
    let api_query = query(&[
        ("city", city),
        ("checkIn", check_in),
        ("checkOut", check_out),
        ("guests", guests),
        ("sort", sort),
        ("stars", &min_stars),
        ("amenities", &amenities),
        ("pageSize", "50"),
    ]);
    let found = if city.is_empty() || check_in.is_empty() || check_out.is_empty() {
        Err("Say which city, and the dates of the stay.".to_owned())
    } else {
        state
            .api
            .get::<Page<StayOffer>>(
                session.caller(),
                &format!("/api/listings/hotels/search?{api_query}"),
            )
            .await
            .map_err(|e| e.message)
    };
    let stay = query(&[
        ("checkIn", check_in),
        ("checkOut", check_out),
        ("guests", guests),
    ]);
    let title = format!("Hotels in {city}");
    let body = html! {
        h1 { (title) }
        form.filters method="get" action="/hotels" data-live-form {
            fieldset {
                legend { "Stay" }
                label { "City" input name="city" value=(city) required; }
                label { "Check in" input type="date" name="checkIn" value=(check_in) required; }
                label { "Check out" input type="date" name="checkOut" value=(check_out) required; }
                label { "Guests" input type="number" name="guests" min="1" max="36" value=(guests); }
            }
            fieldset {
                legend { "Sort by" }
                @for (value, name) in [("price", "Price"), ("rating", "Rating")] {
                    label.inline { input type="radio" name="sort" value=(value) checked[value == sort]; (name) }
                }
            }
            fieldset {
                legend { "Stars, at least" }
                @for s in ["3", "4", "5"] {
                    label.inline { input type="radio" name="stars" value=(s) checked[wanted_stars.contains(&s)]; (s) " stars" }
                }
                label.inline { input type="radio" name="stars" value="" checked[wanted_stars.is_empty()]; "Any" }
            }
            fieldset {
                legend { "Amenities" }
                @for a in AMENITIES {
                    label.inline { input type="checkbox" name="amenities" value=(a) checked[wanted_amenities.contains(&a)]; (a) }
                }
            }
            button type="submit" { "Update results" }
        }
        @match &found {
            Err(message) => (alert(Some(message))),
            Ok(page) => {
                p.count role="status" aria-live="polite" data-count { (page.total) " hotels with rooms for every night" }
                ol.results data-results {
                    @for offer in &page.items { (offer_row(offer, &stay)) }
                }
            }
        }
    };
    Ok(layout::page(&session, &title, body).into_response())
}

fn offer_row(offer: &StayOffer, stay: &str) -> Markup {
    html! {
        li.result {
            div.times {
                strong { (offer.name) } " " span role="img" aria-label={(offer.stars) " stars"} { (stars(offer.stars)) }
                @if let Some(rating) = offer.rating { span.muted { " · rated " (rating) "/5 (" (offer.review_count) ")" } }
            }
            div.meta {
                @if let Some(photo) = &offer.photo {
                    img.thumb src=(photo.url) alt=(photo.caption.as_deref().unwrap_or(&offer.name)) loading="lazy" width="96" height="64";
                }
                (offer.address) " · " (offer.room_type.name) " (sleeps " (offer.room_type.capacity) ", " (offer.room_type.beds) "), " (offer.rate_plan.name)
                @if offer.rate_plan.refundable { " · free cancellation" } @else { " · non-refundable" }
                @if !offer.amenities.is_empty() { " · " (offer.amenities.join(", ")) }
            }
            div.price { strong { (offer.price.total) } span.muted { " for " (offer.price.nights) " nights" } }
            a.button href={"/hotels/" (offer.id) "?" (stay)} { "See rooms" span.visually-hidden { " at " (offer.name) } }
        }
    }
}

struct Stay<'a> {
    check_in: &'a str,
    check_out: &'a str,
    guests: &'a str,
}

async fn show(
    State(state): State<AppState>,
    Extension(session): Extension<Session>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, PageError> {
    let asked = super::query_pairs(raw.as_deref());
    let stay = Stay {
        check_in: field(&asked, "checkIn"),
        check_out: field(&asked, "checkOut"),
        guests: field(&asked, "guests"),
    };
    render(&state, &session, &id, &stay, None).await
}

async fn render(
    state: &AppState,
    session: &Session,
    id: &str,
    stay: &Stay<'_>,
    again: Option<Resubmit<'_>>,
) -> Result<Response, PageError> {
    let id =
        uuid::Uuid::parse_str(id).map_err(|_| PageError::not_found("There is no such hotel."))?;
    let dates = query(&[("checkIn", stay.check_in), ("checkOut", stay.check_out)]);
    let here = format!(
        "/hotels/{id}?{}",
        query(&[
            ("checkIn", stay.check_in),
            ("checkOut", stay.check_out),
            ("guests", stay.guests)
        ])
    );
    let caller = session.caller();
    let (hotel_path, reviews_path) = (
        format!("/api/listings/hotels/{id}?{dates}"),
        format!("/api/listings/hotels/{id}/reviews?pageSize=5"),
    );
    let (hotel, reviews, cards) = tokio::join!(
        state.api.get::<Hotel>(caller, &hotel_path),
        state.api.get::<Reviews>(caller, &reviews_path),
        checkout::cards(state, session),
    );
    let hotel = hotel.map_err(|e| PageError::from_api(e, &here))?;
    let reviews = reviews.map(|r| r.items).unwrap_or_default();
    let priced = !stay.check_in.is_empty() && !stay.check_out.is_empty();
    let body = html! {
        h1 { (hotel.name) " " span role="img" aria-label={(hotel.stars) " stars"} { (stars(hotel.stars)) } }
        (alert(again.map(|again| again.message)))
        p { (hotel.address) ", " (hotel.city) " · check-in from " (hotel.check_in_time) }
        @if let Some(rating) = hotel.rating { p { "Rated " strong { (rating) "/5" } " by " (hotel.review_count) " guests" } }
        div.photos {
            @for photo in hotel.photos.iter().take(4) {
                img src=(photo.url) alt=(photo.caption.as_deref().unwrap_or(&hotel.name)) loading="lazy" width="320" height="200";
            }
        }
        p { (hotel.description) }
        p.muted { "Amenities: " (hotel.amenities.join(", ")) }
        section.card aria-labelledby="rooms-title" {
            h2 id="rooms-title" { "Rooms" @if priced { " for " (stay.check_in) " to " (stay.check_out) } }
            @if !priced {
                form.inline method="get" action={"/hotels/" (id)} {
                    label { "Check in" input type="date" name="checkIn" required; }
                    label { "Check out" input type="date" name="checkOut" required; }
                    button type="submit" { "Show prices" }
                }
            }
            @for room in &hotel.room_types {
                div.room {
                    h3 { (room.name) }
                    p.muted { "Sleeps " (room.capacity) " · " (room.beds)
                        @if let Some(free) = room.rooms_free { " · " (free) " left for these dates" } }
                    @if priced && room.rooms_free.unwrap_or(0) > 0 {
                        @for plan in &room.rate_plans {
                            @if let Some(price) = &plan.stay_price {
                                form.stack method="post" action={"/hotels/" (id)} {
                                    (csrf(session))
                                    (idempotency_key())
                                    input type="hidden" name="roomTypeId" value=(room.id);
                                    input type="hidden" name="ratePlanId" value=(plan.id);
                                    input type="hidden" name="checkIn" value=(stay.check_in);
                                    input type="hidden" name="checkOut" value=(stay.check_out);
                                    p {
                                        strong { (plan.name) ": " (price.total) } " for " (price.nights) " nights, taxes "
                                        (price.taxes) " and fees " (price.fees) " included. "
                                        @if plan.refundable { "Free cancellation until " (plan.free_cancellation_hours) " hours before check-in." }
                                        @else { "Non-refundable." }
                                    }
                                    @if session.user.is_some() {
                                        label { "Guests" input type="number" name="guests" min="1" max=(room.capacity) value=(stay.guests.parse::<i32>().unwrap_or(1).clamp(1, room.capacity)); }
                                        @let refused_here = sent(again, "ratePlanId") == Some(plan.id.as_str())
                                            && sent(again, "roomTypeId") == Some(room.id.as_str());
                                        details open[refused_here] {
                                            summary { "Book " (room.name) ", " (plan.name) }
                                            (payment_fieldset(&cards, if refused_here { sent(again, "payment").unwrap_or("") } else { "" }))
                                            button type="submit" { "Book and pay" span.visually-hidden { " " (room.name) ", " (plan.name) } }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            @if session.user.is_none() {
                p { a.button href={"/login?next=" (encode(&here))} { "Sign in to book" } }
            }
        }
        section.card aria-labelledby="reviews-title" {
            h2 id="reviews-title" { "Reviews" }
            @if reviews.is_empty() { p { "No reviews yet." } }
            @for review in &reviews {
                article {
                    h3 { (review.title) " — " (review.rating) "/5" }
                    p { (review.text) }
                    p.muted { (review.author) }
                }
            }
        }
    };
    Ok(layout::page(session, &hotel.name, body).into_response())
}

async fn book(
    State(state): State<AppState>,
    Extension(session): Extension<Session>,
    Path(id): Path<String>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    let stay = Stay {
        check_in: field(&pairs, "checkIn"),
        check_out: field(&pairs, "checkOut"),
        guests: field(&pairs, "guests"),
    };
    session.user(&format!("/hotels/{id}"))?;
    let body = serde_json::Map::from_iter([
        ("type".to_owned(), json!("hotel")),
        ("hotelId".to_owned(), json!(id)),
        ("roomTypeId".to_owned(), json!(field(&pairs, "roomTypeId"))),
        ("ratePlanId".to_owned(), json!(field(&pairs, "ratePlanId"))),
        ("checkIn".to_owned(), json!(stay.check_in)),
        ("checkOut".to_owned(), json!(stay.check_out)),
        (
            "guests".to_owned(),
            json!(stay.guests.parse::<i32>().unwrap_or(1)),
        ),
    ]);
    let here = format!("/hotels/{id}");
    let outcome = checkout::book(&state, &session, "/api/bookings", body, pairs.clone()).await;
    let form = &pairs;
    checkout::respond(outcome, &here, |refusal| async move {
        render(
            &state,
            &session,
            &id,
            &stay,
            Some(Resubmit {
                message: &refusal,
                form,
            }),
        )
        .await
    })
    .await
}
