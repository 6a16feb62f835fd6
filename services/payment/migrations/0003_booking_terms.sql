-- The terms of each booking a payment is for, as `booking.created` gave them: the booking the
-- payment is for, or each item of the trip it is for (a trip's `booking.created` lists them). A
-- refund quote applies the refund rules to these, the rules a cancellation's refund follows: a
-- flight the fare rule counted from `starts_at`, a hotel stay or car rental everything before
-- `refundable_until` (nothing without one), each on its own price.

CREATE TABLE booking_terms (
    booking_id       BIGINT      PRIMARY KEY,
    payment_id       BIGINT      NOT NULL REFERENCES payments (id),
    product          TEXT        NOT NULL CHECK (product IN ('flight', 'hotel', 'car', 'trip')),
    price_minor      BIGINT      NOT NULL CHECK (price_minor >= 0),
    starts_at        TIMESTAMPTZ NOT NULL,
    refundable_until TIMESTAMPTZ
);
CREATE INDEX booking_terms_payment_idx ON booking_terms (payment_id);

-- Payments recorded before this kept only a departure: their bookings go by the fare rule.
INSERT INTO booking_terms (booking_id, payment_id, product, price_minor, starts_at)
SELECT booking_id, id, 'flight', amount_minor, departure_at FROM payments;
