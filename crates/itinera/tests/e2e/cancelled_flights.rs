//! Ops cancel a flight: booking cancels its bookings, payment refunds the paid one in full and
//! charges nothing for the unpaid one, and each passenger is told why.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Platform, Restartable, eventually};

async fn booking(platform: &Platform, token: &str, id: i64) -> Value {
    let response = platform.get_as(&format!("/api/bookings/{id}"), token).await;
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.unwrap()
}

async fn inbox_says(platform: &Platform, token: &str, text: &str) -> bool {
    let inbox: Value = platform
        .get_as("/api/notifications", token)
        .await
        .json()
        .await
        .unwrap();
    inbox.to_string().contains(text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ops_cancelling_a_flight_refunds_its_paid_booking_in_full_and_tells_each_passenger() {
    let platform = Platform::spawn().await;
    let admin = platform.admin().await;
    // Leaving in 24 h: a customer's own cancellation would keep the late fee.
    let flight = platform.small_flight(&admin, "CX100", 2, "AB").await;
    let flight_id = flight["flightId"].as_i64().unwrap();
    let code = flight["flightCode"].as_str().unwrap().to_owned();
    let (_, paid_token) = platform.customer("paidup").await;
    let (_, unpaid_token) = platform.customer("unpaid").await;
    let body = json!({"flightId": flight_id, "passengers": [{"name": "Jane Doe"}]});
    let paid: Value = platform
        .post_as("/api/bookings", &paid_token, &body)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(paid["status"], "CONFIRMED", "{paid}");
    let paid_id = paid["bookingId"].as_i64().unwrap();

    // The unpaid one is made while payment is down, so it is still awaiting payment.
    platform.stop(Restartable::Payment);
    let response = platform
        .client
        .post(platform.url("/api/bookings"))
        .bearer_auth(&unpaid_token)
        .header("prefer", "respond-async")
        .json(&body)
        .send()
        .await
        .unwrap();
    let unpaid: Value = response.json().await.unwrap();
    assert_eq!(unpaid["status"], "PENDING_PAYMENT", "{unpaid}");
    let unpaid_id = unpaid["bookingId"].as_i64().unwrap();

    let response = platform
        .client
        .patch(platform.url(&format!("/api/flights/{flight_id}")))
        .bearer_auth(&admin)
        .json(&json!({"status": "Cancelled"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    platform.start(Restartable::Payment).await;

    for (id, token) in [(paid_id, &paid_token), (unpaid_id, &unpaid_token)] {
        eventually("the booking is cancelled with its flight", || async {
            let now = booking(&platform, token, id).await;
            now["status"] == "CANCELLED" && now["cancelReason"] == "flight-cancelled"
        })
        .await;
    }
    eventually("the paid booking is refunded in full", || async {
        booking(&platform, &paid_token, paid_id).await["payment"]["refunded"]["amountMinor"]
            == 19_999
    })
    .await;
    // Payment comes back to the booking's creation and its cancellation together: it voids the
    // payment, or, if its worker charged the card between the two events, refunds it in full.
    eventually(
        "payment has settled the unpaid booking, keeping nothing",
        || async {
            sqlx::query_scalar::<_, i64>(
                "SELECT count(*) FROM payments p LEFT JOIN refunds r ON r.payment_id = p.id \
             WHERE p.booking_id = $1 AND (p.status = 'VOIDED' \
                OR (p.status = 'SUCCEEDED' AND r.status = 'SUCCEEDED' AND r.fee_minor = 0))",
            )
            .bind(unpaid_id)
            .fetch_one(&platform.payment_db)
            .await
            .unwrap()
                == 1
        },
    )
    .await;
    let kept: i64 = sqlx::query_scalar(
        "SELECT COALESCE(sum(amount_minor - refunded_minor), 0)::bigint FROM simulated_charges",
    )
    .fetch_one(&platform.payment_db)
    .await
    .unwrap();
    assert_eq!(kept, 0, "no money kept for a cancelled flight");

    let refunded =
        format!("because flight {code} has been cancelled; you will be refunded in full");
    eventually("the paid passenger is told", || {
        inbox_says(&platform, &paid_token, &refunded)
    })
    .await;
    let free = format!("because flight {code} has been cancelled; you will not be charged");
    eventually("the unpaid passenger is told", || {
        inbox_says(&platform, &unpaid_token, &free)
    })
    .await;
}
