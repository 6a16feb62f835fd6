//! The answers of the public API that pages show, with the fields they use (the API may add
//! more; they are ignored). Shapes are documented in `docs/api.md`.

use chrono::{DateTime, Utc};
use serde::Deserialize;

/// `{"amount": "199.99", "amountMinor": 19999, "currency": "USD"}`.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Money {
    pub amount: String,
    pub amount_minor: i64,
    pub currency: String,
}

impl std::fmt::Display for Money {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.currency, self.amount)
    }
}

/// A page of a list.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Page<T> {
    pub items: Vec<T>,
    pub page_size: i64,
    pub total: i64,
}

/// What login and refresh answer. (No `Debug`: it holds the tokens.)
#[derive(Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Tokens {
    pub token: String,
    pub refresh_token: String,
    pub expires_in: i64,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Profile {
    pub username: String,
    pub email: String,
    pub role: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AirportRef {
    pub iata: String,
    pub city: Option<String>,
}

/// A flight in search results.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FlightOffer {
    pub flight_id: i64,
    pub flight_code: String,
    pub airline: String,
    pub origin: AirportRef,
    pub destination: AirportRef,
    pub departure_at: DateTime<Utc>,
    pub departure_local: String,
    pub arrival_local: String,
    pub duration_minutes: i64,
    pub status: String,
    pub cabin: String,
    pub fare: Money,
    pub total_price: Option<Money>,
    pub seats_left: i32,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Cabin {
    pub cabin: String,
    pub fare: Money,
    pub seats_left: i32,
}

/// One flight, with its cabins.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Flight {
    pub flight_id: i64,
    pub flight_code: String,
    pub airline: String,
    pub origin: AirportRef,
    pub destination: AirportRef,
    pub departure_local: String,
    pub arrival_local: String,
    pub status: String,
    pub gate: Option<String>,
    pub cabins: Vec<Cabin>,
}

/// Booking's seat map of a flight.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SeatMap {
    pub cabins: Vec<SeatMapCabin>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SeatMapCabin {
    pub cabin: String,
    pub first_row: i32,
    pub last_row: i32,
    pub seat_letters: String,
    pub seats_left: i32,
    pub taken: Vec<String>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BookedFlight {
    pub flight_code: String,
    pub origin: String,
    pub destination: String,
    pub departure_local: Option<String>,
    pub status: String,
}

#[derive(Clone, Debug, Deserialize)]
pub struct Passenger {
    pub name: String,
    pub seat: Option<String>,
}

/// A booking of any product (a trip's items inside it).
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Booking {
    pub booking_id: i64,
    pub reference: String,
    pub user_id: i64,
    #[serde(default = "flight_product")]
    pub product: String,
    pub status: String,
    pub description: Option<String>,
    pub flight: Option<BookedFlight>,
    pub cabin: Option<String>,
    #[serde(default)]
    pub passengers: Vec<Passenger>,
    #[serde(default)]
    pub items: Vec<Booking>,
    pub price: Money,
    pub hold_expires_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub cancel_reason: Option<String>,
    pub cancelled_at: Option<DateTime<Utc>>,
    pub refundable_until: Option<DateTime<Utc>>,
}

fn flight_product() -> String {
    "flight".into()
}

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CardBrand {
    pub brand: String,
    pub last4: String,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PaymentRefund {
    pub amount: Money,
    pub fee: Money,
    pub status: String,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Payment {
    pub payment_id: i64,
    pub booking_id: i64,
    pub booking_reference: String,
    pub method: String,
    pub card: Option<CardBrand>,
    pub amount: Money,
    pub status: String,
    pub failure_reason: Option<String>,
    #[serde(default)]
    pub refunds: Vec<PaymentRefund>,
    pub description: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Payments {
    pub payments: Vec<Payment>,
    pub total: i64,
}

/// What cancelling a booking now would give back.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RefundQuote {
    pub paid: Money,
    pub refund: Money,
    pub fee: Money,
    pub rule: String,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Card {
    pub card_id: String,
    pub brand: String,
    pub last4: String,
    pub exp_month: u32,
    pub exp_year: i32,
}

#[derive(Debug, Deserialize)]
pub struct Cards {
    pub cards: Vec<Card>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WalletEntry {
    pub kind: String,
    pub amount: Money,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Deserialize)]
pub struct Wallet {
    pub balances: Vec<Money>,
    pub entries: Vec<WalletEntry>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Notification {
    pub notification_id: i64,
    pub subject: String,
    pub body: String,
    pub created_at: DateTime<Utc>,
    pub read_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Deserialize)]
pub struct Notifications {
    pub items: Vec<Notification>,
    pub total: i64,
    pub unread: i64,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Subscription {
    pub flight_code: String,
}

#[derive(Debug, Deserialize)]
pub struct Subscriptions {
    pub items: Vec<Subscription>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserRow {
    pub user_id: i64,
    pub username: String,
    pub email: String,
    pub role: String,
}

#[derive(Clone, Debug, Deserialize)]
pub struct Photo {
    pub url: String,
    pub caption: Option<String>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StayPrice {
    pub nights: i64,
    pub taxes: Money,
    pub fees: Money,
    pub total: Money,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OfferRoomType {
    pub id: String,
    pub name: String,
    pub capacity: i32,
    pub beds: String,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OfferRatePlan {
    pub id: String,
    pub name: String,
    pub refundable: bool,
}

/// A hotel in search results: its cheapest room type and rate plan for the stay.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StayOffer {
    pub id: String,
    pub name: String,
    pub address: String,
    pub stars: i16,
    pub amenities: Vec<String>,
    pub photo: Option<Photo>,
    pub rating: Option<f64>,
    pub review_count: i32,
    pub room_type: OfferRoomType,
    pub rate_plan: OfferRatePlan,
    pub price: StayPrice,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RatePlan {
    pub id: String,
    pub name: String,
    pub refundable: bool,
    pub free_cancellation_hours: i32,
    pub stay_price: Option<StayPrice>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RoomType {
    pub id: String,
    pub name: String,
    pub capacity: i32,
    pub beds: String,
    pub rooms_free: Option<i32>,
    pub rate_plans: Vec<RatePlan>,
}

/// A hotel, priced for a stay when one was asked.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Hotel {
    pub name: String,
    pub city: String,
    pub address: String,
    pub stars: i16,
    pub amenities: Vec<String>,
    pub photos: Vec<Photo>,
    pub description: String,
    pub check_in_time: String,
    pub rating: Option<f64>,
    pub review_count: i32,
    pub room_types: Vec<RoomType>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct Review {
    pub rating: i16,
    pub title: String,
    pub text: String,
    pub author: String,
}

#[derive(Debug, Deserialize)]
pub struct Reviews {
    pub items: Vec<Review>,
}

/// A rental car, in seed 003's field names.
#[derive(Clone, Debug, Deserialize)]
pub struct Car {
    pub id: String,
    pub location: String,
    #[serde(rename = "type")]
    pub car_type: String,
    pub daily_rental_price: String,
    pub currency: String,
    pub brand: String,
    pub model: String,
    pub year: i32,
    pub seats: i16,
    pub transmission: String,
    pub location_code: String,
    pub rating: Option<f64>,
    pub review_count: i32,
}

/// `GET /api/search`: flights both ways, hotels and cars at the destination.
#[derive(Debug, Deserialize)]
pub struct TripResults {
    pub outbound: Vec<FlightOffer>,
    pub inbound: Vec<FlightOffer>,
    pub hotels: Vec<StayOffer>,
    pub cars: Vec<Car>,
}

#[derive(Debug, Deserialize)]
pub struct ReceiptLine {
    pub description: String,
    pub amount: Money,
}

/// A receipt of a successful payment.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Receipt {
    pub receipt_number: String,
    pub issued_at: DateTime<Utc>,
    pub payment: Payment,
    pub lines: Vec<ReceiptLine>,
    pub total_paid: Money,
}
