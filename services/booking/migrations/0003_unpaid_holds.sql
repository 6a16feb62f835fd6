-- What a user holds awaiting payment is counted before each of their bookings; only their unpaid
-- bookings are read, however many they have made.

CREATE INDEX bookings_unpaid_user_idx ON bookings (user_id) WHERE status = 'PENDING_PAYMENT';
