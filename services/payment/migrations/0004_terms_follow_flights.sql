-- A flight's fare rule counts from its departure, and a flight can be moved after it is booked:
-- the terms of a flight booking name their flight, and payment follows catalog's flight events
-- to keep `starts_at` at the flight's departure. Terms recorded before name none and keep the
-- departure they were booked with.
ALTER TABLE booking_terms ADD COLUMN flight_id BIGINT;
CREATE INDEX booking_terms_flight_idx ON booking_terms (flight_id) WHERE flight_id IS NOT NULL;
