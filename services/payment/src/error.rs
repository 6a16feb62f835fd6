//! Every way a payment request can fail, and the problem+json each becomes.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use contracts::states::PaymentStatus;
use platform::Problem;

use crate::processor::ProcessorError;

#[derive(Debug, thiserror::Error)]
pub enum PaymentError {
    #[error("{0}")]
    Invalid(String),
    #[error("Card not found")]
    CardNotFound,
    #[error("No saved card: save one first with POST /api/payments/cards")]
    NoSavedCard,
    #[error("At most {0} cards can be saved; remove one before adding another")]
    TooManyCards(i64),
    #[error("Payment not found")]
    PaymentNotFound,
    /// No payment of the caller's is for this booking.
    #[error("Booking not found")]
    BookingNotFound,
    /// A refund quote for a booking already cancelled (and refunded), or ended unpaid.
    #[error("Booking {0} is already cancelled or has ended; there is nothing more to refund")]
    BookingEnded(i64),
    #[error(
        "Payment {payment_id} is {status} and does not wait for a card or the wallet; only a \
         payment made with no card on file is paid this way"
    )]
    NotAwaitingPayment {
        payment_id: i64,
        status: PaymentStatus,
    },
    #[error("The wallet's balance in this currency does not cover the payment; top it up first")]
    InsufficientFunds,
    #[error("Payment {payment_id} is {status}; receipts exist for successful payments only")]
    NoReceipt {
        payment_id: i64,
        status: PaymentStatus,
    },
    /// The card processor declined a charge, did not answer in time, or failed.
    #[error(transparent)]
    Processor(#[from] ProcessorError),
    #[error(transparent)]
    Refused(#[from] Problem),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
}

impl IntoResponse for PaymentError {
    fn into_response(self) -> Response {
        let detail = self.to_string();
        match self {
            Self::Invalid(_) => Problem::bad_request(detail),
            Self::CardNotFound | Self::PaymentNotFound | Self::BookingNotFound => {
                Problem::not_found(detail)
            }
            Self::BookingEnded(_) => Problem::conflict(detail).with_type("booking-ended"),
            Self::NoReceipt { .. } => Problem::conflict(detail),
            Self::NoSavedCard => Problem::conflict(detail).with_type("no-saved-card"),
            Self::NotAwaitingPayment { .. } => Problem::conflict(detail).with_type("not-payable"),
            Self::InsufficientFunds => Problem::new(StatusCode::PAYMENT_REQUIRED, detail)
                .with_type("insufficient-funds")
                .with_extension("reason", "insufficient_funds"),
            Self::TooManyCards(_) => Problem::conflict(detail).with_type("too-many-cards"),
            Self::Processor(ProcessorError::Declined(code)) => Problem::new(
                StatusCode::PAYMENT_REQUIRED,
                format!("The card was declined ({code})"),
            )
            .with_type("card-declined")
            .with_extension("reason", code),
            Self::Processor(ProcessorError::Timeout) => Problem::new(
                StatusCode::GATEWAY_TIMEOUT,
                "The card processor did not answer in time; try again with the same Idempotency-Key",
            )
            .with_extension("retryable", true),
            Self::Processor(ProcessorError::Unavailable(cause)) => {
                Problem::dependency_unavailable("card processor", cause)
            }
            Self::Refused(problem) => problem,
            Self::Database(e) => Problem::database(&e),
        }
        .into_response()
    }
}
