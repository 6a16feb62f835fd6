-- Rental cars (seed 003's `cars` table, with the pick-up airport, seats, transmission and the
-- review summary), and the rentals booking reports (the availability read model car search reads).

CREATE TABLE cars (
    id                 UUID PRIMARY KEY,
    -- Seed 003's columns.
    location           TEXT          NOT NULL CHECK (length(location) BETWEEN 1 AND 255),
    type               TEXT          NOT NULL CHECK (type IN ('sedan', 'suv', 'luxury', 'economy')),
    -- The daily price in major units, as the seed stores it; written with `daily_price_minor`
    -- from the same amount, and what the price filters of search compare.
    daily_rental_price NUMERIC(18, 3) NOT NULL CHECK (daily_rental_price > 0),
    brand              TEXT          NOT NULL CHECK (length(brand) BETWEEN 1 AND 100),
    model              TEXT          NOT NULL CHECK (length(model) BETWEEN 1 AND 100),
    year               INTEGER       NOT NULL,
    available          BOOLEAN       NOT NULL DEFAULT TRUE,
    -- Itinera's: the price in minor units of `currency` (what booking charges), the pick-up
    -- airport (its time zone is the car's), seats and transmission.
    daily_price_minor  BIGINT        NOT NULL CHECK (daily_price_minor > 0),
    currency           CHAR(3)       NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    location_code      CHAR(3)       NOT NULL REFERENCES airports (iata),
    seats              SMALLINT      NOT NULL CHECK (seats BETWEEN 1 AND 15),
    transmission       TEXT          NOT NULL CHECK (transmission IN ('automatic', 'manual')),
    -- The review summary, kept in the transaction that adds a review.
    rating_total       BIGINT        NOT NULL DEFAULT 0,
    review_count       INTEGER       NOT NULL DEFAULT 0,
    -- Grows with every change; `listing.*` events carry it.
    version            BIGINT        NOT NULL DEFAULT 1,
    -- Set by DELETE: the car is gone from every read and cannot be booked; rentals remain.
    deleted_at         TIMESTAMPTZ,
    created_at         TIMESTAMPTZ   NOT NULL DEFAULT now(),
    updated_at         TIMESTAMPTZ   NOT NULL DEFAULT now()
);
CREATE INDEX cars_location_code_idx ON cars (location_code, daily_price_minor) WHERE deleted_at IS NULL;
CREATE INDEX cars_location_idx ON cars (lower(location)) WHERE deleted_at IS NULL;
CREATE INDEX cars_listing_idx ON cars (created_at, id) WHERE deleted_at IS NULL;

-- One row per car booking, as the last `booking.bookings` event reported it. A status only moves
-- forward (PENDING_PAYMENT, CONFIRMED, then CANCELLED or EXPIRED).
CREATE TABLE car_rentals (
    booking_id BIGINT PRIMARY KEY,
    car_id     UUID   NOT NULL,
    user_id    BIGINT NOT NULL,
    start_date DATE   NOT NULL,
    end_date   DATE   NOT NULL,
    status     TEXT   NOT NULL
);
-- Search: the rentals of a car that overlap a range.
CREATE INDEX car_rentals_car_idx ON car_rentals (car_id, start_date);
