-- Airports, aircraft types with their seat maps, flights with fares per cabin, and the seats left
-- per cabin as last reported by booking (the search read model).

CREATE TABLE airports (
    iata      CHAR(3) PRIMARY KEY CHECK (iata ~ '^[A-Z]{3}$'),
    name      TEXT    NOT NULL,
    city      TEXT    NOT NULL,
    country   CHAR(2) NOT NULL CHECK (country ~ '^[A-Z]{2}$'),
    time_zone TEXT    NOT NULL,
    latitude  DOUBLE PRECISION,
    longitude DOUBLE PRECISION
);
CREATE INDEX airports_city_idx ON airports (lower(city));

CREATE TABLE aircraft_types (
    id     BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    model  TEXT  NOT NULL UNIQUE,
    -- [{"cabin": "economy", "firstRow": 4, "lastRow": 30, "seatLetters": "ABCDEF"}, ...]
    cabins JSONB NOT NULL
);

CREATE TABLE flights (
    id               BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    flight_code      TEXT        NOT NULL UNIQUE,
    airline          TEXT        NOT NULL,
    origin           CHAR(3)     NOT NULL REFERENCES airports (iata),
    destination      CHAR(3)     NOT NULL REFERENCES airports (iata),
    departure_at     TIMESTAMPTZ NOT NULL,
    arrival_at       TIMESTAMPTZ NOT NULL,
    aircraft_type_id BIGINT      NOT NULL REFERENCES aircraft_types (id),
    status           TEXT        NOT NULL DEFAULT 'On Time'
        CHECK (status IN ('On Time', 'Delayed', 'Boarding', 'Departed', 'Landed', 'Cancelled')),
    gate             TEXT,
    version          BIGINT      NOT NULL DEFAULT 1,
    created_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    CHECK (origin <> destination),
    CHECK (arrival_at > departure_at)
);
-- Search: one route, a window of departures.
CREATE INDEX flights_route_idx ON flights (origin, destination, departure_at);
CREATE INDEX flights_departure_idx ON flights (departure_at);

CREATE TABLE flight_cabins (
    flight_id         BIGINT  NOT NULL REFERENCES flights (id) ON DELETE CASCADE,
    cabin             TEXT    NOT NULL CHECK (cabin IN ('economy', 'premium_economy', 'business', 'first')),
    fare_minor        BIGINT  NOT NULL CHECK (fare_minor >= 0),
    currency          CHAR(3) NOT NULL,
    capacity          INTEGER NOT NULL CHECK (capacity > 0),
    seats_left        INTEGER NOT NULL CHECK (seats_left >= 0),
    -- The booking inventory version these seats_left come from; older reports are ignored.
    inventory_version BIGINT  NOT NULL DEFAULT 0,
    PRIMARY KEY (flight_id, cabin)
);
