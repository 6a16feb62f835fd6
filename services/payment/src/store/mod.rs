//! Payment's tables. SQL lives here and nowhere else in the service, except the simulated
//! processor's own ledger, which stands for a separate system.

pub mod cards;
pub mod jobs;
pub mod payments;
pub mod refunds;
pub mod terms;
pub mod wallet;

use contracts::states::{PaymentFailure, UnknownCode};

pub use payments::{COLUMNS, PaymentRow};

/// A nullable text column, read as text and then parsed into a wire code.
#[derive(sqlx::Type)]
#[sqlx(transparent)]
pub struct NullableText(Option<String>);

impl TryFrom<NullableText> for Option<PaymentFailure> {
    type Error = UnknownCode;

    fn try_from(text: NullableText) -> Result<Self, UnknownCode> {
        text.0.map(PaymentFailure::try_from).transpose()
    }
}
