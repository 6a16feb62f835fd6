//! `/api/listings/{hotels,cars}/{id}/reviews`: anyone reads a listing's reviews; a signed-in guest
//! with a completed stay (or rental) writes one, once.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json as JsonResponse, Router};
use chrono::{DateTime, NaiveDate, Utc};
use contracts::states::Product;
use platform::Problem;
use platform::auth::Caller;
use platform::http::{Json, PageRequest, Paged, Path, Query};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::AppState;
use crate::domain::hotels::text;
use crate::error::CatalogError;
use crate::hotels::rating_tenths;
use crate::store;
use crate::store::reviews::{Review, ReviewDocument};

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/api/listings/hotels/{hotel_id}/reviews",
            get(hotel_reviews).post(review_hotel),
        )
        .route(
            "/api/listings/cars/{car_id}/reviews",
            get(car_reviews).post(review_car),
        )
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ReviewView {
    id: i64,
    rating: i16,
    title: String,
    text: String,
    author: String,
    /// Check-in and check-out (hotels), or pick-up and drop-off (cars).
    from: NaiveDate,
    until: NaiveDate,
    created_at: DateTime<Utc>,
}

impl From<Review> for ReviewView {
    fn from(review: Review) -> Self {
        let d = review.document.0;
        Self {
            id: review.id,
            rating: review.rating,
            title: d.title,
            text: d.text,
            author: d.author,
            from: d.from,
            until: d.until,
            created_at: review.created_at,
        }
    }
}

/// A page of reviews and the listing's summary.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ReviewsView {
    #[serde(flatten)]
    page: Paged<ReviewView>,
    /// The average rating, one decimal; `null` without reviews.
    rating: Option<f64>,
    review_count: i64,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct PageQuery {
    page: Option<u32>,
    page_size: Option<u32>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ReviewBody {
    rating: i64,
    title: String,
    text: String,
}

/// A review's rating and words, checked.
fn parse(body: ReviewBody) -> Result<(i16, String, String), CatalogError> {
    if !(1..=5).contains(&body.rating) {
        return Err(CatalogError::Invalid(format!(
            "rating must be a whole number from 1 to 5, not {}",
            body.rating
        )));
    }
    Ok((
        body.rating as i16,
        text(&body.title, "title", 1, 120).map_err(CatalogError::Invalid)?,
        text(&body.text, "text", 1, 4_000).map_err(CatalogError::Invalid)?,
    ))
}

async fn reviews(
    state: &AppState,
    product: Product,
    listing_id: Uuid,
    query: PageQuery,
) -> Result<ReviewsView, CatalogError> {
    let request = PageRequest::new(query.page, query.page_size)?;
    let mut conn = state.catalog.db.acquire().await?;
    let (reviews, total) = store::reviews::page(
        &mut conn,
        product.as_str(),
        listing_id,
        request.limit(),
        request.offset(),
    )
    .await?;
    let (sum, count) = store::reviews::summary(&mut *conn, product.as_str(), listing_id).await?;
    Ok(ReviewsView {
        page: Paged::new(
            reviews.into_iter().map(ReviewView::from).collect(),
            request,
            total,
        ),
        rating: rating_tenths(sum, count).map(|tenths| tenths as f64 / 10.0),
        review_count: count,
    })
}

async fn hotel_reviews(
    State(state): State<AppState>,
    Path(hotel_id): Path<Uuid>,
    Query(query): Query<PageQuery>,
) -> Result<JsonResponse<ReviewsView>, CatalogError> {
    crate::hotels::find(&state.catalog.db, hotel_id).await?;
    Ok(JsonResponse(
        reviews(&state, Product::Hotel, hotel_id, query).await?,
    ))
}

async fn car_reviews(
    State(state): State<AppState>,
    Path(car_id): Path<Uuid>,
    Query(query): Query<PageQuery>,
) -> Result<JsonResponse<ReviewsView>, CatalogError> {
    if !store::reviews::car_exists(&state.catalog.db, car_id).await? {
        return Err(CatalogError::NotFound("Car not found".into()));
    }
    Ok(JsonResponse(
        reviews(&state, Product::Car, car_id, query).await?,
    ))
}

fn already_reviewed(e: sqlx::Error, what: &str) -> CatalogError {
    if platform::db::is_unique_violation(&e) {
        CatalogError::Conflict(format!("You have already reviewed this {what}"))
    } else {
        e.into()
    }
}

async fn review_hotel(
    State(state): State<AppState>,
    caller: Caller,
    Path(hotel_id): Path<Uuid>,
    Json(body): Json<ReviewBody>,
) -> Result<(StatusCode, JsonResponse<ReviewView>), CatalogError> {
    let (rating, title, text) = parse(body)?;
    let mut tx = state.catalog.db.begin().await?;
    if !store::hotels::lock(&mut tx, hotel_id).await? {
        return Err(crate::hotels::not_found());
    }
    let Some((booking_id, from, until)) =
        store::hotels::completed_stay(&mut *tx, hotel_id, caller.user_id).await?
    else {
        return Err(Problem::forbidden(
            "Only guests who stayed at this hotel can review it: a confirmed booking whose check-out date has passed",
        )
        .into());
    };
    let review = document(&caller, title, text, (booking_id, from, until));
    record(tx, Product::Hotel, hotel_id, &caller, rating, review).await
}

async fn review_car(
    State(state): State<AppState>,
    caller: Caller,
    Path(car_id): Path<Uuid>,
    Json(body): Json<ReviewBody>,
) -> Result<(StatusCode, JsonResponse<ReviewView>), CatalogError> {
    let (rating, title, text) = parse(body)?;
    let mut tx = state.catalog.db.begin().await?;
    if !store::reviews::car_exists(&mut *tx, car_id).await? {
        return Err(CatalogError::NotFound("Car not found".into()));
    }
    let Some((booking_id, from, until)) =
        store::reviews::completed_rental(&mut *tx, car_id, caller.user_id).await?
    else {
        return Err(Problem::forbidden(
            "Only renters of this car can review it: a confirmed rental whose drop-off date has passed",
        )
        .into());
    };
    let review = document(&caller, title, text, (booking_id, from, until));
    record(tx, Product::Car, car_id, &caller, rating, review).await
}

/// What `caller` wrote of the stay or rental `(booking, from, until)`.
fn document(
    caller: &Caller,
    title: String,
    text: String,
    (booking_id, from, until): (i64, NaiveDate, NaiveDate),
) -> ReviewDocument {
    ReviewDocument {
        title,
        text,
        author: caller.username.clone(),
        booking_id,
        from,
        until,
    }
}

/// Stores a review the caller may write, and the listing's new rating, in `tx`; search shows the
/// rating, so its cached answers go.
async fn record(
    mut tx: sqlx::Transaction<'_, sqlx::Postgres>,
    product: Product,
    listing_id: Uuid,
    caller: &Caller,
    rating: i16,
    document: ReviewDocument,
) -> Result<(StatusCode, JsonResponse<ReviewView>), CatalogError> {
    let review = store::reviews::insert(
        &mut tx,
        product.as_str(),
        listing_id,
        caller.user_id,
        rating,
        &document,
    )
    .await
    .map_err(|e| already_reviewed(e, product.as_str()))?;
    store::reviews::add_rating(&mut *tx, product, listing_id, rating).await?;
    crate::search_cache::changed(&mut tx).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, JsonResponse(review.into())))
}
