-- Hotel stays, car rentals and trips beside flights. Hotels and cars arrive from catalog's listing
-- events; a stay takes one room of its type on each of its nights, a rental takes its car for a
-- range of days, and a trip is a booking whose items are bookings. As with seats, taking the
-- inventory and recording the booking are one transaction.

CREATE EXTENSION IF NOT EXISTS btree_gist;

-- Each hotel and car as catalog last described it (its `HotelListing` or `CarListing`): prices are
-- computed from it, with the same code search uses.
CREATE TABLE listings (
    listing_id UUID    PRIMARY KEY,
    product    TEXT    NOT NULL CHECK (product IN ('hotel', 'car')),
    listing    JSONB   NOT NULL,
    deleted    BOOLEAN NOT NULL DEFAULT false,
    version    BIGINT  NOT NULL
);

-- How many rooms of each type exist. A room type that leaves the listing keeps its row with no
-- rooms, so that nothing new is sold on it while its stays stay booked.
CREATE TABLE room_types (
    room_type_id UUID    PRIMARY KEY,
    hotel_id     UUID    NOT NULL REFERENCES listings (listing_id),
    rooms        INTEGER NOT NULL CHECK (rooms >= 0)
);

-- Rooms of a type held or sold on a night. A stay raises `taken` on each of its nights only where
-- it stays within the type's rooms, under the row's lock, so no night is ever oversold.
CREATE TABLE room_nights (
    room_type_id UUID    NOT NULL REFERENCES room_types (room_type_id),
    night        DATE    NOT NULL,
    taken        INTEGER NOT NULL DEFAULT 0 CHECK (taken >= 0),
    PRIMARY KEY (room_type_id, night)
);

ALTER TABLE bookings
    ADD COLUMN product          TEXT NOT NULL DEFAULT 'flight'
        CHECK (product IN ('flight', 'hotel', 'car', 'trip')),
    -- The trip this booking is an item of; the trip is paid, its items are not.
    ADD COLUMN trip_id          BIGINT REFERENCES bookings (id),
    ADD COLUMN description      TEXT,
    ADD COLUMN starts_at        TIMESTAMPTZ,
    ADD COLUMN refundable_until TIMESTAMPTZ,
    ALTER COLUMN flight_id DROP NOT NULL,
    ALTER COLUMN cabin DROP NOT NULL,
    ADD CONSTRAINT bookings_flight_product CHECK ((product = 'flight') = (flight_id IS NOT NULL));
CREATE INDEX bookings_trip_idx ON bookings (trip_id) WHERE trip_id IS NOT NULL;

CREATE TABLE stays (
    booking_id   BIGINT  PRIMARY KEY REFERENCES bookings (id),
    hotel_id     UUID    NOT NULL REFERENCES listings (listing_id),
    room_type_id UUID    NOT NULL REFERENCES room_types (room_type_id),
    rate_plan_id UUID    NOT NULL,
    -- As they were named when booked.
    hotel_name     TEXT  NOT NULL,
    city           TEXT  NOT NULL,
    room_type_name TEXT  NOT NULL,
    check_in     DATE    NOT NULL,
    check_out    DATE    NOT NULL,
    rooms        INTEGER NOT NULL CHECK (rooms > 0),
    guests       INTEGER NOT NULL CHECK (guests > 0),
    -- Whether the stay still holds its room-nights.
    holding      BOOLEAN NOT NULL DEFAULT true,
    CHECK (check_out > check_in)
);

-- One row per rental; the exclusion constraint makes one car impossible to rent twice for
-- overlapping days. Days are `[start, end)`: the drop-off day is free for the next renter.
CREATE TABLE rentals (
    booking_id BIGINT    PRIMARY KEY REFERENCES bookings (id),
    car_id     UUID      NOT NULL REFERENCES listings (listing_id),
    -- As it was described when booked.
    car_type      TEXT   NOT NULL,
    car           TEXT   NOT NULL,
    location_code TEXT   NOT NULL,
    days       DATERANGE NOT NULL CHECK (NOT isempty(days)),
    holding    BOOLEAN   NOT NULL DEFAULT true,
    EXCLUDE USING gist (car_id WITH =, days WITH &&) WHERE (holding)
);
