-- The payment side of a booking: the card chosen, the payment that confirmed it, what was
-- refunded, and why a booking was cancelled. Holds awaiting payment are found by expiry.

ALTER TABLE bookings
    ADD COLUMN payment_card_id TEXT,
    ADD COLUMN payment_id      BIGINT,
    ADD COLUMN paid_at         TIMESTAMPTZ,
    ADD COLUMN refunded_minor  BIGINT NOT NULL DEFAULT 0 CHECK (refunded_minor >= 0),
    ADD COLUMN refunded_at     TIMESTAMPTZ,
    ADD COLUMN cancel_reason   TEXT;

CREATE INDEX bookings_hold_idx ON bookings (hold_expires_at) WHERE status = 'PENDING_PAYMENT';
