//! The fare rule that decides how much of a payment a cancellation gives back.

use chrono::{DateTime, Utc};

#[derive(Clone, Copy, Debug)]
pub struct RefundPolicy {
    /// Cancelled at least this long before departure: everything back.
    pub full_refund_before: chrono::Duration,
    /// Cancelled later (but before departure): this share of the price is kept as a fee.
    pub late_fee_percent: u8,
}

impl Default for RefundPolicy {
    fn default() -> Self {
        Self {
            full_refund_before: chrono::Duration::hours(24),
            late_fee_percent: 25,
        }
    }
}

/// How much goes back and how much is kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Refund {
    pub amount_minor: i64,
    pub fee_minor: i64,
}

impl Refund {
    pub fn full(amount_minor: i64) -> Self {
        Self {
            amount_minor,
            fee_minor: 0,
        }
    }
}

impl RefundPolicy {
    /// The refund of a confirmed booking costing `paid_minor`, cancelled by the customer at `at`.
    pub fn on_cancellation(
        &self,
        paid_minor: i64,
        departure_at: DateTime<Utc>,
        at: DateTime<Utc>,
    ) -> Refund {
        if at >= departure_at {
            return Refund {
                amount_minor: 0,
                fee_minor: paid_minor,
            };
        }
        if departure_at - at >= self.full_refund_before {
            return Refund::full(paid_minor);
        }
        // The fee rounds down, in the customer's favour.
        let fee_minor = i64::try_from(
            i128::from(paid_minor) * i128::from(self.late_fee_percent.min(100)) / 100,
        )
        .unwrap_or(paid_minor);
        Refund {
            amount_minor: paid_minor - fee_minor,
            fee_minor,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn full_then_fee_then_nothing() {
        let policy = RefundPolicy::default();
        let departure = Utc::now() + chrono::Duration::days(10);
        let early = departure - chrono::Duration::hours(25);
        let late = departure - chrono::Duration::hours(2);
        assert_eq!(
            policy.on_cancellation(19_999, departure, early),
            Refund::full(19_999)
        );
        assert_eq!(
            policy.on_cancellation(19_999, departure, late),
            Refund {
                amount_minor: 15_000,
                fee_minor: 4_999
            }
        );
        assert_eq!(
            policy.on_cancellation(19_999, departure, departure),
            Refund {
                amount_minor: 0,
                fee_minor: 19_999
            }
        );
    }

    proptest! {
        #[test]
        fn refund_and_fee_add_up_to_the_price(paid in 0i64..1_000_000_000, hours in -48i64..48, fee in 0u8..=100) {
            let policy = RefundPolicy { full_refund_before: chrono::Duration::hours(24), late_fee_percent: fee };
            let departure = Utc::now();
            let refund = policy.on_cancellation(paid, departure, departure - chrono::Duration::hours(hours));
            prop_assert_eq!(refund.amount_minor + refund.fee_minor, paid);
            prop_assert!(refund.amount_minor >= 0 && refund.fee_minor >= 0);
        }
    }
}
