//! The rules that decide how much of a payment a customer's cancellation gives back: the fare
//! rule for flights, free cancellation until a deadline for hotel stays and car rentals; and the
//! quote of what a cancellation now would give back, by the same rules.

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

/// One booking a payment is for: the booking it paid, or an item of the trip it paid.
#[derive(Clone, Copy, Debug)]
pub struct Booked {
    pub product: Product,
    pub terms: CancellationTerms,
    pub price_minor: i64,
}

/// What cancelling now would give back, and by which rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Quote {
    /// The price of what would be cancelled (nothing before the payment succeeded).
    pub paid_minor: i64,
    pub refund: Refund,
    /// One sentence a traveller understands.
    pub rule: String,
    /// Until when cancelling gives everything back: `None` once it no longer does, or when it
    /// never did.
    pub refundable_until: Option<DateTime<Utc>>,
}

impl Quote {
    /// A booking whose payment has not succeeded yet: nothing was taken, nothing goes back.
    pub fn unpaid() -> Self {
        Self {
            paid_minor: 0,
            refund: Refund::full(0),
            rule: "Nothing has been charged yet, so cancelling now costs nothing and there is \
                   nothing to refund."
                .into(),
            refundable_until: None,
        }
    }
}

impl RefundPolicy {
    /// What cancelling `bookings` at `at` would give back of a payment of which `left_minor` has
    /// not been refunded yet: each booking as its refund would be (by its own terms on its own
    /// price, at most what is left of the payment), in the order given.
    pub fn quote(&self, bookings: &[Booked], left_minor: i64, at: DateTime<Utc>) -> Quote {
        let mut left_minor = left_minor;
        let mut refund = Refund::full(0);
        for booked in bookings {
            let each = self
                .by_terms(booked.terms, booked.price_minor, at)
                .at_most(left_minor);
            left_minor -= each.amount_minor;
            refund.amount_minor += each.amount_minor;
            refund.fee_minor += each.fee_minor;
        }
        let refundable_until = if refund.fee_minor == 0 {
            bookings
                .iter()
                .map(|booked| self.full_refund_until(booked.terms))
                .collect::<Option<Vec<_>>>()
                .and_then(|deadlines| deadlines.into_iter().min())
                .filter(|&until| until >= at)
        } else {
            None
        };
        Quote {
            paid_minor: bookings.iter().map(|booked| booked.price_minor).sum(),
            refund,
            rule: self.rule(bookings),
            refundable_until,
        }
    }

    /// Until when a cancellation under `terms` gives everything back; `None`: never.
    fn full_refund_until(&self, terms: CancellationTerms) -> Option<DateTime<Utc>> {
        match terms {
            CancellationTerms::FareRule { departure_at } => {
                Some(departure_at - self.full_refund_before)
            }
            CancellationTerms::FreeUntil(until) => until,
        }
    }

    /// The rule of one booking in a traveller's words, or of a trip's items, each by its own.
    fn rule(&self, bookings: &[Booked]) -> String {
        match bookings {
            [booked] => match booked.terms {
                CancellationTerms::FreeUntil(None) => {
                    "Non-refundable: cancelling gives nothing back.".into()
                }
                terms => {
                    let mut rule = self.rule_of(terms);
                    rule[..1].make_ascii_uppercase();
                    rule + "."
                }
            },
            _ => {
                let items: Vec<String> = bookings
                    .iter()
                    .map(|booked| format!("{}: {}", booked.product, self.rule_of(booked.terms)))
                    .collect();
                format!(
                    "Each item is refunded by its own rule ({}).",
                    items.join("; ")
                )
            }
        }
    }

    /// The rule of `terms`, as a clause in lower case.
    fn rule_of(&self, terms: CancellationTerms) -> String {
        match terms {
            CancellationTerms::FareRule { .. } => format!(
                "full refund until {} h before departure, {} % fee after that",
                self.full_refund_before.num_hours(),
                self.late_fee_percent.min(100)
            ),
            CancellationTerms::FreeUntil(Some(until)) => format!(
                "full refund until {}, nothing after that",
                until.format("%-d %b %Y %H:%M UTC")
            ),
            CancellationTerms::FreeUntil(None) => "non-refundable".into(),
        }
    }

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

    fn flight(departure_at: DateTime<Utc>, price_minor: i64) -> Booked {
        Booked {
            product: Product::Flight,
            terms: CancellationTerms::FareRule { departure_at },
            price_minor,
        }
    }

    fn stay(product: Product, until: Option<DateTime<Utc>>, price_minor: i64) -> Booked {
        Booked {
            product,
            terms: CancellationTerms::FreeUntil(until),
            price_minor,
        }
    }

    #[test]
    fn a_quote_of_one_booking_is_its_refund_with_its_rule_and_deadline() {
        let policy = RefundPolicy::default();
        let now: DateTime<Utc> = "2026-11-20T08:00:00Z".parse().unwrap();
        let departure_at = now + chrono::Duration::days(3);
        let early = policy.quote(&[flight(departure_at, 19_999)], 19_999, now);
        assert_eq!(
            early,
            Quote {
                paid_minor: 19_999,
                refund: Refund::full(19_999),
                rule: "Full refund until 24 h before departure, 25 % fee after that.".into(),
                refundable_until: Some(departure_at - chrono::Duration::hours(24)),
            }
        );
        let late = policy.quote(
            &[flight(departure_at, 19_999)],
            19_999,
            departure_at - chrono::Duration::hours(2),
        );
        assert_eq!(
            (late.refund, late.refundable_until),
            (
                policy.on_cancellation(
                    19_999,
                    departure_at,
                    departure_at - chrono::Duration::hours(2)
                ),
                None
            )
        );

        let until: DateTime<Utc> = "2026-12-01T14:00:00Z".parse().unwrap();
        let hotel = policy.quote(&[stay(Product::Hotel, Some(until), 42_000)], 42_000, now);
        assert_eq!(hotel.refund, Refund::full(42_000));
        assert_eq!(hotel.refundable_until, Some(until));
        assert_eq!(
            hotel.rule,
            "Full refund until 1 Dec 2026 14:00 UTC, nothing after that."
        );
        let saver = policy.quote(&[stay(Product::Hotel, None, 42_000)], 42_000, now);
        assert_eq!(saver.refund, Refund::none(42_000));
        assert_eq!(saver.refundable_until, None);
        assert_eq!(saver.rule, "Non-refundable: cancelling gives nothing back.");
        assert_eq!(Quote::unpaid().refund, Refund::full(0));
    }

    #[test]
    fn a_trips_quote_adds_up_its_items_each_by_its_rule_and_never_more_than_is_left() {
        let policy = RefundPolicy::default();
        let now: DateTime<Utc> = "2026-11-20T08:00:00Z".parse().unwrap();
        let car_until: DateTime<Utc> = "2026-11-25T10:00:00Z".parse().unwrap();
        let items = [
            flight(now + chrono::Duration::hours(2), 20_000),
            stay(Product::Hotel, None, 30_000),
            stay(Product::Car, Some(car_until), 10_000),
        ];
        let quote = policy.quote(&items, 60_000, now);
        assert_eq!(quote.paid_minor, 60_000);
        assert_eq!(
            quote.refund,
            Refund {
                amount_minor: 15_000 + 10_000,
                fee_minor: 5_000 + 30_000
            }
        );
        assert_eq!(quote.refundable_until, None, "two items lose already");
        assert_eq!(
            quote.rule,
            "Each item is refunded by its own rule (flight: full refund until 24 h before \
             departure, 25 % fee after that; hotel: non-refundable; car: full refund until \
             25 Nov 2026 10:00 UTC, nothing after that)."
        );
        // Everything back until the first deadline of its items.
        let departure_at = now + chrono::Duration::days(10);
        let in_time = [
            flight(departure_at, 20_000),
            stay(Product::Car, Some(car_until), 10_000),
        ];
        assert_eq!(
            policy.quote(&in_time, 30_000, now).refundable_until,
            Some(car_until)
        );
        // 12,000 left of the payment: the car gets what the flight left.
        let capped = policy.quote(&in_time, 12_000, now);
        assert_eq!(
            capped.refund,
            Refund {
                amount_minor: 12_000,
                fee_minor: 18_000
            }
        );
        assert_eq!(capped.refundable_until, None);
    }

    proptest! {
        #[test]
        fn a_quotes_refund_and_fee_add_up_to_the_price_and_the_refund_to_at_most_what_is_left(
            prices in proptest::collection::vec(
                (prop_oneof![Just(0i64), 1i64..1_000_000], -72i64..72, 0usize..3),
                1..6,
            ),
            left in -1_000i64..3_000_000,
        ) {
            let policy = RefundPolicy::default();
            let now = Utc::now();
            let bookings: Vec<Booked> = prices
                .iter()
                .map(|&(price, hours, kind)| {
                    let at = now + chrono::Duration::hours(hours);
                    match kind {
                        0 => flight(at, price),
                        1 => stay(Product::Hotel, Some(at), price),
                        _ => stay(Product::Car, None, price),
                    }
                })
                .collect();
            let quote = policy.quote(&bookings, left, now);
            prop_assert_eq!(quote.refund.amount_minor + quote.refund.fee_minor, quote.paid_minor);
            prop_assert!(quote.refund.amount_minor >= 0 && quote.refund.amount_minor <= left.max(0));
            // A deadline only while everything would go back, and not one already past.
            prop_assert!(quote
                .refundable_until
                .is_none_or(|until| quote.refund.fee_minor == 0 && until >= now));
        }

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
