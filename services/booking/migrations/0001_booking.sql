-- Flights as catalog publishes them, seat inventory per flight and cabin, bookings and the seats
-- they hold. Taking seats and recording the booking happen in one transaction.

-- The part of each flight booking needs, kept current from catalog's flight events.
CREATE TABLE flights (
    flight_id        BIGINT      PRIMARY KEY,
    flight_code      TEXT        NOT NULL UNIQUE,
    airline          TEXT        NOT NULL,
    origin           TEXT        NOT NULL,
    destination      TEXT        NOT NULL,
    departure_at     TIMESTAMPTZ NOT NULL,
    arrival_at       TIMESTAMPTZ NOT NULL,
    origin_time_zone TEXT        NOT NULL,
    status           TEXT        NOT NULL,
    version          BIGINT      NOT NULL
);

CREATE TABLE inventory (
    flight_id    BIGINT  NOT NULL REFERENCES flights (flight_id),
    cabin        TEXT    NOT NULL,
    first_row    INTEGER NOT NULL,
    last_row     INTEGER NOT NULL,
    seat_letters TEXT    NOT NULL,
    capacity     INTEGER NOT NULL CHECK (capacity > 0),
    -- Seats held or sold. The CHECK is the last line of defence against overselling.
    taken        INTEGER NOT NULL DEFAULT 0 CHECK (taken >= 0 AND taken <= capacity),
    fare_minor   BIGINT  NOT NULL CHECK (fare_minor >= 0),
    currency     CHAR(3) NOT NULL,
    version      BIGINT  NOT NULL DEFAULT 0,
    PRIMARY KEY (flight_id, cabin)
);

CREATE TABLE bookings (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    reference       TEXT        NOT NULL UNIQUE,
    user_id         BIGINT      NOT NULL,
    flight_id       BIGINT      NOT NULL REFERENCES flights (flight_id),
    cabin           TEXT        NOT NULL,
    passengers      JSONB       NOT NULL,
    seats           TEXT[]      NOT NULL,
    status          TEXT        NOT NULL
        CHECK (status IN ('PENDING_PAYMENT', 'CONFIRMED', 'CANCELLED', 'EXPIRED')),
    amount_minor    BIGINT      NOT NULL CHECK (amount_minor >= 0),
    currency        CHAR(3)     NOT NULL,
    payment_method  TEXT,
    idempotency_key TEXT,
    request_hash    BYTEA,
    hold_expires_at TIMESTAMPTZ,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    cancelled_at    TIMESTAMPTZ
);
CREATE UNIQUE INDEX bookings_idempotency_key ON bookings (user_id, idempotency_key) WHERE idempotency_key IS NOT NULL;
CREATE INDEX bookings_user_idx ON bookings (user_id, id DESC);
CREATE INDEX bookings_flight_idx ON bookings (flight_id);

-- One row per seat held or sold; the primary key makes a seat impossible to sell twice.
CREATE TABLE seat_assignments (
    flight_id  BIGINT NOT NULL,
    seat       TEXT   NOT NULL,
    booking_id BIGINT NOT NULL REFERENCES bookings (id) ON DELETE CASCADE,
    PRIMARY KEY (flight_id, seat)
);
CREATE INDEX seat_assignments_booking_idx ON seat_assignments (booking_id);
