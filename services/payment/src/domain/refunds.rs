//! The rules that decide how much of a payment a customer's cancellation gives back: the fare
//! rule for flights, free cancellation until a deadline for hotel stays and car rentals.

use chrono::{DateTime, Utc};
use contracts::states::Product;

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

    /// Nothing back: the whole price is kept.
    pub fn none(paid_minor: i64) -> Self {
        Self {
            amount_minor: 0,
            fee_minor: paid_minor,
        }
    }

    /// At most `left_minor` back (what the payment has not yet given back); what is held back
    /// counts as kept.
    pub fn at_most(self, left_minor: i64) -> Self {
        let amount_minor = self.amount_minor.min(left_minor.max(0));
        Self {
            amount_minor,
            fee_minor: self.fee_minor + (self.amount_minor - amount_minor),
        }
    }
}

/// What a booking's customer agreed to about cancelling it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CancellationTerms {
    /// A flight: the fare rule, counted from its departure.
    FareRule { departure_at: DateTime<Utc> },
    /// A hotel stay or car rental: everything back before the deadline, nothing after; no
    /// deadline is a non-refundable rate.
    FreeUntil(Option<DateTime<Utc>>),
}

impl CancellationTerms {
    /// The terms of a booking of `product` that starts at `starts_at`: flights (and trips, and
    /// bookings made before there were other products) the fare rule counted from the start;
    /// stays and rentals their deadline.
    pub fn of(
        product: Product,
        starts_at: DateTime<Utc>,
        refundable_until: Option<DateTime<Utc>>,
    ) -> Self {
        match product {
            Product::Hotel | Product::Car => Self::FreeUntil(refundable_until),
            Product::Flight | Product::Trip => Self::FareRule {
                departure_at: starts_at,
            },
        }
    }
}

impl RefundPolicy {
    /// The refund of a confirmed booking costing `paid_minor` under `terms`, cancelled by the
    /// customer at `at`.
    pub fn by_terms(&self, terms: CancellationTerms, paid_minor: i64, at: DateTime<Utc>) -> Refund {
        match terms {
            CancellationTerms::FareRule { departure_at } => {
                self.on_cancellation(paid_minor, departure_at, at)
            }
            CancellationTerms::FreeUntil(Some(until)) if at < until => Refund::full(paid_minor),
            CancellationTerms::FreeUntil(_) => Refund::none(paid_minor),
        }
    }

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

    #[test]
    fn a_stay_or_rental_is_free_to_cancel_until_its_deadline_and_not_after() {
        let policy = RefundPolicy::default();
        let until = Utc::now() + chrono::Duration::days(2);
        let terms = CancellationTerms::FreeUntil(Some(until));
        let second = chrono::Duration::seconds(1);
        assert_eq!(
            policy.by_terms(terms, 42_000, until - second),
            Refund::full(42_000)
        );
        assert_eq!(policy.by_terms(terms, 42_000, until), Refund::none(42_000));
        // A non-refundable rate: nothing back, however early.
        assert_eq!(
            policy.by_terms(
                CancellationTerms::FreeUntil(None),
                42_000,
                until - chrono::Duration::days(30)
            ),
            Refund::none(42_000)
        );
        // A flight keeps its fare rule.
        let departure_at = until;
        assert_eq!(
            policy.by_terms(
                CancellationTerms::FareRule { departure_at },
                19_999,
                departure_at - chrono::Duration::hours(2)
            ),
            policy.on_cancellation(
                19_999,
                departure_at,
                departure_at - chrono::Duration::hours(2)
            )
        );
    }

    #[test]
    fn a_refund_never_gives_back_more_than_is_left() {
        assert_eq!(Refund::full(10_000).at_most(20_000), Refund::full(10_000));
        assert_eq!(
            Refund::full(10_000).at_most(4_000),
            Refund {
                amount_minor: 4_000,
                fee_minor: 6_000
            }
        );
        assert_eq!(Refund::full(10_000).at_most(-5), Refund::none(10_000));
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
