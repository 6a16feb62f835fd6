-- Hotels with their room types and rate plans (what catalog publishes as `listing.*`), and the
-- stays booking reports (the availability read model search counts rooms from).

CREATE TABLE hotels (
    id                  UUID PRIMARY KEY,
    name                TEXT             NOT NULL,
    city                TEXT             NOT NULL,
    address             TEXT             NOT NULL,
    latitude            DOUBLE PRECISION NOT NULL CHECK (latitude BETWEEN -90 AND 90),
    longitude           DOUBLE PRECISION NOT NULL CHECK (longitude BETWEEN -180 AND 180),
    -- The nearest airport; the hotel's time zone is the airport's.
    airport_code        CHAR(3)          NOT NULL REFERENCES airports (iata),
    stars               SMALLINT         NOT NULL CHECK (stars BETWEEN 1 AND 5),
    amenities           TEXT[]           NOT NULL DEFAULT '{}',
    -- [{"url": "https://...", "caption": "..."}]
    photos              JSONB            NOT NULL DEFAULT '[]',
    description         TEXT             NOT NULL DEFAULT '',
    check_in_time       TEXT             NOT NULL CHECK (check_in_time ~ '^[0-2][0-9]:[0-5][0-9]$'),
    currency            CHAR(3)          NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    tax_basis_points    INTEGER          NOT NULL CHECK (tax_basis_points >= 0),
    fee_per_night_minor BIGINT           NOT NULL CHECK (fee_per_night_minor >= 0),
    -- The review summary, kept in the transaction that adds a review.
    rating_total        BIGINT           NOT NULL DEFAULT 0,
    review_count        INTEGER          NOT NULL DEFAULT 0,
    -- Grows with every change; `listing.*` events carry it.
    version             BIGINT           NOT NULL DEFAULT 1,
    -- Set by DELETE: the hotel is gone from every read and cannot be booked; stays remain.
    deleted_at          TIMESTAMPTZ,
    created_at          TIMESTAMPTZ      NOT NULL DEFAULT now(),
    updated_at          TIMESTAMPTZ      NOT NULL DEFAULT now()
);
CREATE INDEX hotels_city_idx ON hotels (lower(city)) WHERE deleted_at IS NULL;
CREATE INDEX hotels_airport_idx ON hotels (airport_code) WHERE deleted_at IS NULL;
CREATE INDEX hotels_listing_idx ON hotels (created_at, id) WHERE deleted_at IS NULL;

-- A PUT replaces a hotel's room types: the ones it no longer names are deleted here (booking
-- learns it from `listing.updated`); stays keep their room type id.
CREATE TABLE room_types (
    id       UUID    PRIMARY KEY,
    hotel_id UUID    NOT NULL REFERENCES hotels (id),
    position INTEGER NOT NULL,
    name     TEXT    NOT NULL,
    capacity INTEGER NOT NULL CHECK (capacity > 0),
    beds     TEXT    NOT NULL,
    rooms    INTEGER NOT NULL CHECK (rooms >= 0)
);
CREATE INDEX room_types_hotel_idx ON room_types (hotel_id, position);

CREATE TABLE rate_plans (
    id                      UUID    PRIMARY KEY,
    room_type_id            UUID    NOT NULL REFERENCES room_types (id) ON DELETE CASCADE,
    position                INTEGER NOT NULL,
    name                    TEXT    NOT NULL,
    refundable              BOOLEAN NOT NULL,
    free_cancellation_hours INTEGER NOT NULL CHECK (free_cancellation_hours >= 0),
    weekday_minor           BIGINT  NOT NULL CHECK (weekday_minor >= 0),
    weekend_minor           BIGINT  NOT NULL CHECK (weekend_minor >= 0),
    -- {"2026-12-24": 30000}: nights priced apart from the weekday/weekend rule.
    prices                  JSONB   NOT NULL DEFAULT '{}'
);
CREATE INDEX rate_plans_room_type_idx ON rate_plans (room_type_id, position);

-- Stays as booking last reported them. A status only moves forward (see stay_status_rank), so a
-- late or repeated event never brings back rooms that were given up, or takes them again.
CREATE TABLE hotel_stays (
    booking_id   BIGINT  PRIMARY KEY,
    hotel_id     UUID    NOT NULL,
    room_type_id UUID    NOT NULL,
    user_id      BIGINT  NOT NULL,
    check_in     DATE    NOT NULL,
    check_out    DATE    NOT NULL,
    rooms        INTEGER NOT NULL,
    status       TEXT    NOT NULL
        CHECK (status IN ('PENDING_PAYMENT', 'CONFIRMED', 'CANCELLED', 'EXPIRED')),
    CHECK (check_out > check_in)
);
-- Rooms held on a night: the stays of a room type that cover it.
CREATE INDEX hotel_stays_held_idx ON hotel_stays (room_type_id, check_in, check_out)
    WHERE status IN ('PENDING_PAYMENT', 'CONFIRMED');
-- Review eligibility: a guest's stays at a hotel.
CREATE INDEX hotel_stays_guest_idx ON hotel_stays (hotel_id, user_id);

CREATE FUNCTION stay_status_rank(status TEXT) RETURNS INTEGER
    LANGUAGE sql IMMUTABLE AS
$$ SELECT CASE status WHEN 'PENDING_PAYMENT' THEN 0 WHEN 'CONFIRMED' THEN 1 ELSE 2 END $$;
