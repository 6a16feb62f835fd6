-- Trips whose cancellation was announced: their items, cancelled with them, are not announced one
-- by one (the trip's notice covers them).
CREATE TABLE cancelled_trips (
    trip_id      BIGINT      PRIMARY KEY,
    cancelled_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
