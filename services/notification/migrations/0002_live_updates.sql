-- Flight subscriptions (seed 002's Subscription table) and the passengers booked on each flight,
-- kept from booking events, so a flight's status change reaches everyone it concerns.

CREATE TABLE subscriptions (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id     BIGINT      NOT NULL,
    flight_code TEXT        NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (user_id, flight_code)
);
CREATE INDEX subscriptions_flight_idx ON subscriptions (flight_code);

-- One row per booking that holds or held seats; only live ones (pending payment or confirmed)
-- are told about their flight.
CREATE TABLE passengers (
    booking_id  BIGINT      PRIMARY KEY,
    user_id     BIGINT      NOT NULL,
    flight_id   BIGINT      NOT NULL,
    flight_code TEXT        NOT NULL,
    status      TEXT        NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX passengers_flight_idx ON passengers (flight_id) WHERE status IN ('PENDING_PAYMENT', 'CONFIRMED');
