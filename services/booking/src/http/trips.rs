//! Hotel stays, car rentals and trips over HTTP: the bodies that ask for them, the views that show
//! them, and `/api/trips`.

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Json as JsonResponse, Router};
use chrono::{DateTime, NaiveDate, Utc};
use contracts::states::{BookingStatus, CancelReason, CarType, PaymentMethod, Product};
use platform::auth::Caller;
use platform::http::{Json, PageRequest, Paged, Path, Query};
use platform::money::{Money, MoneyView};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::AppState;
use super::bookings::{BookingView, CreateBody, created, payment_choice, waits_for_payment};
use crate::error::BookingError;
use crate::products::{
    ItemRequest, MAX_GUESTS, MAX_ROOMS, MAX_TRIP_ITEMS, OrderRequest, Ordered, RentalRequest,
    StayRequest,
};
use crate::store::products::ProductBooking;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/trips", post(create).get(list))
        .route("/api/trips/{trip_id}", get(one))
        .route("/api/trips/{trip_id}/cancel", post(cancel))
}

/// One item of a trip, or the body of a hotel or car booking: an object with a `type`.
#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum ItemBody {
    Flight(CreateBody),
    Hotel(StayBody),
    Car(RentalBody),
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StayBody {
    hotel_id: Uuid,
    room_type_id: Uuid,
    rate_plan_id: Option<Uuid>,
    check_in: NaiveDate,
    check_out: NaiveDate,
    rooms: Option<i32>,
    guests: Option<i32>,
    payment_method: Option<String>,
    payment_card_id: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RentalBody {
    car_id: Uuid,
    start_date: NaiveDate,
    end_date: NaiveDate,
    payment_method: Option<String>,
    payment_card_id: Option<String>,
}

/// How far ahead a stay or rental can begin.
const MAX_DAYS_AHEAD: i64 = 550;

fn not_too_far(start: NaiveDate, name: &str) -> Result<(), BookingError> {
    if (start - Utc::now().date_naive()).num_days() > MAX_DAYS_AHEAD {
        return Err(BookingError::Invalid(format!(
            "{name} is at most {MAX_DAYS_AHEAD} days ahead"
        )));
    }
    Ok(())
}

impl StayBody {
    fn parse(self) -> Result<StayRequest, BookingError> {
        let rooms = self.rooms.unwrap_or(1);
        let guests = self.guests.unwrap_or(1);
        if !(1..=MAX_ROOMS).contains(&rooms) {
            return Err(BookingError::Invalid(format!(
                "rooms must be 1 to {MAX_ROOMS}"
            )));
        }
        if !(1..=MAX_GUESTS).contains(&guests) {
            return Err(BookingError::Invalid(format!(
                "guests must be 1 to {MAX_GUESTS}"
            )));
        }
        contracts::listings::nights(self.check_in, self.check_out)
            .map_err(|e| BookingError::Invalid(format!("checkIn to checkOut: {e}")))?;
        not_too_far(self.check_in, "checkIn")?;
        Ok(StayRequest {
            hotel_id: self.hotel_id,
            room_type_id: self.room_type_id,
            rate_plan_id: self.rate_plan_id,
            check_in: self.check_in,
            check_out: self.check_out,
            rooms,
            guests,
        })
    }
}

impl RentalBody {
    fn parse(self) -> Result<RentalRequest, BookingError> {
        contracts::listings::nights(self.start_date, self.end_date)
            .map_err(|e| BookingError::Invalid(format!("startDate to endDate: {e}")))?;
        not_too_far(self.start_date, "startDate")?;
        Ok(RentalRequest {
            car_id: self.car_id,
            start: self.start_date,
            end: self.end_date,
        })
    }
}

impl ItemBody {
    /// The item, and how it says to pay (a booking alone carries it; a trip's items must not).
    fn parse(self) -> Result<(ItemRequest, Option<String>, Option<String>), BookingError> {
        Ok(match self {
            ItemBody::Flight(body) => {
                let request = body.parse()?;
                let method = request.payment_method.map(|m| m.as_str().to_owned());
                let card = request.payment_card_id.clone();
                (ItemRequest::Flight(request), method, card)
            }
            ItemBody::Hotel(body) => {
                let (method, card) = (body.payment_method.clone(), body.payment_card_id.clone());
                (ItemRequest::Hotel(body.parse()?), method, card)
            }
            ItemBody::Car(body) => {
                let (method, card) = (body.payment_method.clone(), body.payment_card_id.clone());
                (ItemRequest::Car(body.parse()?), method, card)
            }
        })
    }
}

/// A hotel or car booking alone (`POST /api/bookings` with `type`).
pub fn single(body: ItemBody) -> Result<OrderRequest, BookingError> {
    let (item, method, card) = body.parse()?;
    let (payment_method, payment_card_id) = payment_choice(method.as_deref(), card)?;
    Ok(OrderRequest {
        items: vec![item],
        trip: false,
        payment_method,
        payment_card_id,
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct TripBody {
    items: Vec<ItemBody>,
    payment_method: Option<String>,
    payment_card_id: Option<String>,
}

impl TripBody {
    fn parse(self) -> Result<OrderRequest, BookingError> {
        if self.items.is_empty() || self.items.len() > MAX_TRIP_ITEMS {
            return Err(BookingError::Invalid(format!(
                "a trip has 1 to {MAX_TRIP_ITEMS} items"
            )));
        }
        let (payment_method, payment_card_id) =
            payment_choice(self.payment_method.as_deref(), self.payment_card_id)?;
        let items = self
            .items
            .into_iter()
            .enumerate()
            .map(|(i, item)| {
                let (item, method, card) = item
                    .parse()
                    .map_err(|e| BookingError::Invalid(format!("items[{i}]: {e}")))?;
                if method.is_some() || card.is_some() {
                    return Err(BookingError::Invalid(format!(
                        "items[{i}]: a trip is paid once: give paymentMethod and paymentCardId on the trip, not on its items"
                    )));
                }
                Ok(item)
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(OrderRequest {
            items,
            trip: true,
            payment_method,
            payment_card_id,
        })
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct StayView {
    hotel_id: Uuid,
    hotel_name: String,
    city: String,
    room_type_id: Uuid,
    room_type_name: String,
    rate_plan_id: Uuid,
    check_in: NaiveDate,
    check_out: NaiveDate,
    nights: i64,
    rooms: i32,
    guests: i32,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct RentalView {
    car_id: Uuid,
    car_type: CarType,
    car: String,
    location_code: String,
    start_date: NaiveDate,
    end_date: NaiveDate,
    days: i64,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ProductPayment {
    method: Option<PaymentMethod>,
    card_id: Option<String>,
    payment_id: Option<i64>,
    paid_at: Option<DateTime<Utc>>,
    refunded: MoneyView,
    refunded_at: Option<DateTime<Utc>>,
}

/// A booking of any product, as the API shows it.
#[derive(Serialize)]
#[serde(untagged)]
pub enum AnyBookingView {
    Flight(Box<BookingView>),
    Other(Box<ProductView>),
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProductView {
    booking_id: i64,
    reference: String,
    user_id: i64,
    product: Product,
    #[serde(skip_serializing_if = "Option::is_none")]
    trip_id: Option<i64>,
    status: BookingStatus,
    description: String,
    starts_at: DateTime<Utc>,
    /// Hotel stays and car rentals: a cancellation before this is refunded in full; null when
    /// not refundable.
    #[serde(skip_serializing_if = "Option::is_none")]
    refundable_until: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    stay: Option<StayView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    rental: Option<RentalView>,
    /// A trip's items, each a booking of its own.
    #[serde(skip_serializing_if = "Option::is_none")]
    items: Option<Vec<AnyBookingView>>,
    price: MoneyView,
    payment: ProductPayment,
    hold_expires_at: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
    cancelled_at: Option<DateTime<Utc>>,
    cancel_reason: Option<CancelReason>,
}

impl From<ProductBooking> for ProductView {
    fn from(b: ProductBooking) -> Self {
        let holding = b.status == BookingStatus::PendingPayment;
        Self {
            booking_id: b.id,
            reference: b.reference,
            user_id: b.user_id,
            product: b.product,
            trip_id: b.trip_id,
            status: b.status,
            description: b.description,
            starts_at: b.starts_at,
            refundable_until: b.refundable_until,
            stay: b.stay.map(|s| StayView {
                nights: (s.check_out - s.check_in).num_days(),
                hotel_id: s.hotel_id,
                hotel_name: s.hotel_name,
                city: s.city,
                room_type_id: s.room_type_id,
                room_type_name: s.room_type_name,
                rate_plan_id: s.rate_plan_id,
                check_in: s.check_in,
                check_out: s.check_out,
                rooms: s.rooms,
                guests: s.guests,
            }),
            rental: b.rental.map(|r| RentalView {
                days: (r.end - r.start).num_days(),
                car_id: r.car_id,
                car_type: r.car_type,
                car: r.car,
                location_code: r.location_code,
                start_date: r.start,
                end_date: r.end,
            }),
            items: None,
            price: Money::stored(b.amount_minor, &b.currency).into(),
            payment: ProductPayment {
                method: b.payment_method,
                card_id: b.payment_card_id,
                payment_id: b.payment_id,
                paid_at: b.paid_at,
                refunded: Money::stored(b.refunded_minor, &b.currency).into(),
                refunded_at: b.refunded_at,
            },
            hold_expires_at: b.hold_expires_at.filter(|_| holding),
            created_at: b.created_at,
            cancelled_at: b.cancelled_at,
            cancel_reason: b.cancel_reason,
        }
    }
}

/// A hotel, car or trip booking with, for a trip, its items in the order they were booked.
pub async fn product_view(
    state: &AppState,
    booking: ProductBooking,
) -> Result<ProductView, BookingError> {
    let trip = (booking.product == Product::Trip).then_some(booking.id);
    let mut view = ProductView::from(booking);
    if let Some(trip) = trip {
        let (flights, others) = state.bookings.trip_items(trip).await?;
        let mut items: Vec<(i64, AnyBookingView)> = flights
            .into_iter()
            .map(|f| (f.id, AnyBookingView::Flight(Box::new(f.into()))))
            .chain(
                others
                    .into_iter()
                    .map(|o| (o.id, AnyBookingView::Other(Box::new(o.into())))),
            )
            .collect();
        items.sort_by_key(|(id, _)| *id);
        view.items = Some(items.into_iter().map(|(_, v)| v).collect());
    }
    Ok(view)
}

/// The booking `id` as the caller may see it, whatever its product.
pub async fn any_view(
    state: &AppState,
    caller: &Caller,
    id: i64,
) -> Result<AnyBookingView, BookingError> {
    match crate::store::products::kind(&state.bookings.db, id).await? {
        Some((Product::Flight, _)) => Ok(AnyBookingView::Flight(Box::new(
            state.bookings.get(caller, id).await?.into(),
        ))),
        Some(_) => {
            let booking = state.bookings.get_product(caller, id).await?;
            Ok(AnyBookingView::Other(Box::new(
                product_view(state, booking).await?,
            )))
        }
        None => Err(BookingError::BookingNotFound),
    }
}

/// 201 with the booking; a replay answers the same booking with `Idempotent-Replayed: true`.
pub async fn ordered(
    state: &AppState,
    caller: &Caller,
    headers: &HeaderMap,
    request: OrderRequest,
) -> Result<Response, BookingError> {
    let key = platform::http::idempotency_key(headers)?;
    let (id, replayed) = match state
        .bookings
        .order(caller, request, key.as_deref(), waits_for_payment(headers))
        .await?
    {
        Ordered::New(id) => (id, false),
        Ordered::Replayed(id) => (id, true),
    };
    let booking = state.bookings.get_product(caller, id).await?;
    Ok(created(product_view(state, booking).await?, replayed))
}

async fn create(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Json(body): Json<TripBody>,
) -> Result<Response, BookingError> {
    let request = body.parse()?;
    ordered(&state, &caller, &headers, request).await
}

async fn trip(state: &AppState, caller: &Caller, id: i64) -> Result<ProductBooking, BookingError> {
    let booking = state.bookings.get_product(caller, id).await?;
    if booking.product != Product::Trip {
        return Err(BookingError::BookingNotFound);
    }
    Ok(booking)
}

async fn one(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> Result<JsonResponse<ProductView>, BookingError> {
    let booking = trip(&state, &caller, id).await?;
    Ok(JsonResponse(product_view(&state, booking).await?))
}

async fn cancel(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> Result<JsonResponse<ProductView>, BookingError> {
    trip(&state, &caller, id).await?;
    let booking = state.bookings.cancel_product(&caller, id).await?;
    Ok(JsonResponse(product_view(&state, booking).await?))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ListQuery {
    page: Option<u32>,
    page_size: Option<u32>,
}

async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Query(query): Query<ListQuery>,
) -> Result<JsonResponse<Paged<ProductView>>, BookingError> {
    let page = PageRequest::new(query.page, query.page_size)?;
    let (ids, total) = crate::store::products::list_trips(
        &state.bookings.db,
        caller.user_id,
        page.limit(),
        page.offset(),
    )
    .await?;
    let mut views = Vec::with_capacity(ids.len());
    for id in ids {
        let booking = state.bookings.get_product(&caller, id).await?;
        views.push(product_view(&state, booking).await?);
    }
    Ok(JsonResponse(Paged::new(views, page, total)))
}
