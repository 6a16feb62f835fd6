//! Booking notices for trips: one for the trip, none for each of its items, except an item
//! cancelled on its own.

use contracts::events::{
    BookingSnapshot, FlightBooking, InventorySnapshot, MoneyAmount, RentalSnapshot, StaySnapshot,
    topics, types,
};
use contracts::states::{BookingStatus, Cabin, CancelReason, CarType, Product};
use platform::events::{Envelope, EventBus, Message};
use platform::testing::TestDatabase;

use super::{registered, start, webhook};

fn trip_booking(booking_id: i64, product: Product, trip_id: Option<i64>) -> BookingSnapshot {
    let starts_at = "2026-12-01T09:00:00Z".parse().unwrap();
    let (flight, stay, rental) = match product {
        Product::Flight => (
            Some(FlightBooking {
                flight_id: 1,
                flight_code: "IT101-20261201".into(),
                departure_at: starts_at,
                cabin: Cabin::Economy,
                seats: vec!["14C".into()],
                passengers: vec!["Jane Doe".into()],
                inventory: InventorySnapshot {
                    flight_id: 1,
                    cabin: Cabin::Economy,
                    capacity: 10,
                    seats_left: 9,
                    version: 1,
                },
            }),
            None,
            None,
        ),
        Product::Hotel => (
            None,
            Some(StaySnapshot {
                hotel_id: uuid::Uuid::new_v4(),
                hotel_name: "Hotel Lumière".into(),
                city: "Paris".into(),
                room_type_id: uuid::Uuid::new_v4(),
                room_type_name: "Deluxe double".into(),
                rate_plan_id: uuid::Uuid::new_v4(),
                check_in: "2026-12-01".parse().unwrap(),
                check_out: "2026-12-04".parse().unwrap(),
                rooms: 1,
                guests: 1,
            }),
            None,
        ),
        Product::Car => (
            None,
            None,
            Some(RentalSnapshot {
                car_id: uuid::Uuid::new_v4(),
                car_type: CarType::Suv,
                car: "Toyota RAV4".into(),
                location_code: "CDG".into(),
                start_date: "2026-12-01".parse().unwrap(),
                end_date: "2026-12-04".parse().unwrap(),
            }),
        ),
        Product::Trip => (None, None, None),
    };
    BookingSnapshot {
        booking_id,
        reference: format!("REF{booking_id}"),
        user_id: 42,
        product,
        trip_id,
        description: "Flight IT101-20261201; Hotel Lumière, 3 nights; Toyota RAV4, 3 days".into(),
        starts_at,
        refundable_until: None,
        flight,
        stay,
        rental,
        items: Vec::new(),
        price: MoneyAmount {
            amount_minor: 10_000,
            currency: "USD".into(),
        },
        status: BookingStatus::Confirmed,
        payment_method: None,
        payment_card_id: None,
        previous_status: None,
        cancel_reason: None,
    }
}

/// Trip 100 and its items 101 (flight), 102 (stay), 103 (rental).
fn trip() -> Vec<BookingSnapshot> {
    let mut trip = vec![trip_booking(100, Product::Trip, None)];
    for (id, product) in [
        (101, Product::Flight),
        (102, Product::Hotel),
        (103, Product::Car),
    ] {
        trip.push(trip_booking(id, product, Some(100)));
    }
    trip
}

fn event(kind: &str, booking: &BookingSnapshot) -> Message {
    let id = booking.booking_id.to_string();
    Message {
        topic: topics::BOOKINGS.into(),
        key: id.clone(),
        envelope: Envelope::new("booking", kind, id, serde_json::to_value(booking).unwrap()),
    }
}

fn cancelled(booking: &BookingSnapshot) -> Message {
    let cancelled = BookingSnapshot {
        status: BookingStatus::Cancelled,
        previous_status: Some(BookingStatus::Confirmed),
        cancel_reason: Some(CancelReason::Customer),
        ..booking.clone()
    };
    event(types::BOOKING_CANCELLED, &cancelled)
}

/// The subjects of user 42's in-app notices of `kind`, oldest first.
async fn notices(db: &sqlx::PgPool, kind: &str) -> Vec<String> {
    sqlx::query_scalar(
        "SELECT subject FROM notifications WHERE user_id = 42 AND channel = 'in_app' AND kind = $1 \
         ORDER BY id",
    )
    .bind(kind)
    .fetch_all(db)
    .await
    .unwrap()
}

#[tokio::test]
async fn a_trip_is_confirmed_and_cancelled_with_one_notice_and_an_item_on_its_own_with_one() {
    let database = TestDatabase::new("notification");
    let (url, _received) = webhook(0).await;
    let (bus, shutdown) = start(&database, &url).await;
    let db = sqlx::PgPool::connect(&database.url).await.unwrap();
    bus.publish(&[registered(42, "jane")]).await.unwrap();
    let trip = trip();

    // Booking creates and confirms the trip and its items together.
    for kind in [types::BOOKING_CREATED, types::BOOKING_CONFIRMED] {
        let events: Vec<_> = trip.iter().map(|b| event(kind, b)).collect();
        bus.publish(&events).await.unwrap();
    }
    assert_eq!(
        notices(&db, "booking-confirmed").await,
        ["Your booking REF100 is confirmed"],
        "one notice for the trip, none per item"
    );
    let body: String = sqlx::query_scalar(
        "SELECT body FROM notifications WHERE kind = 'booking-confirmed' AND channel = 'in_app'",
    )
    .fetch_one(&db)
    .await
    .unwrap();
    assert!(
        body.contains("Toyota RAV4, 3 days"),
        "the items are named: {body}"
    );

    // The customer cancels the stay alone: it is announced, naming the hotel.
    bus.publish(&[cancelled(&trip[2])]).await.unwrap();
    assert_eq!(
        notices(&db, "booking-cancelled").await,
        ["Your booking REF102 is cancelled"]
    );

    // Then the whole trip: its event and its other items' in one batch, and an item late in a
    // batch of its own. One notice, for the trip.
    bus.publish(&[cancelled(&trip[0]), cancelled(&trip[1])])
        .await
        .unwrap();
    bus.publish(&[cancelled(&trip[3])]).await.unwrap();
    assert_eq!(
        notices(&db, "booking-cancelled").await,
        [
            "Your booking REF102 is cancelled",
            "Your booking REF100 is cancelled"
        ]
    );
    shutdown.cancel();
}
