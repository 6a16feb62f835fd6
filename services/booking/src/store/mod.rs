//! Booking's tables. SQL lives here and nowhere else in the service.

pub mod bookings;
pub mod flights;
pub mod inventory;
pub mod listings;
pub mod products;
pub mod rentals;
pub mod stays;

use contracts::states::{Cabin, CancelReason, PaymentMethod, UnknownCode};

/// A nullable text column, read as text and then parsed into a wire code (`Option<code>`
/// implements `TryFrom<NullableText>`, for `#[sqlx(try_from = "NullableText")]`).
#[derive(sqlx::Type)]
#[sqlx(transparent)]
pub struct NullableText(Option<String>);

macro_rules! nullable_codes {
    ($($code:ty),+) => {
        $(impl TryFrom<NullableText> for Option<$code> {
            type Error = UnknownCode;

            fn try_from(text: NullableText) -> Result<Self, UnknownCode> {
                text.0.map(<$code>::try_from).transpose()
            }
        })+
    };
}

nullable_codes!(Cabin, CancelReason, PaymentMethod);
