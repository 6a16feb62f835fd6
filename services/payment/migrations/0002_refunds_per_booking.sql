-- A trip is paid once, and each of its items cancelled on its own is refunded from that payment:
-- a payment now has a refund per booking it is for (the booking it paid, or one of the trip's
-- items), and a redelivered event still queues nothing twice. The refunds of one payment never
-- add up to more than it: `refunds::queue` checks the sum with the payment locked, and
-- `payments.refunded_minor <= amount_minor` stays behind it.

ALTER TABLE refunds ADD COLUMN for_booking_id BIGINT;
UPDATE refunds r SET for_booking_id = p.booking_id FROM payments p WHERE p.id = r.payment_id;
ALTER TABLE refunds ALTER COLUMN for_booking_id SET NOT NULL;

ALTER TABLE refunds DROP CONSTRAINT refunds_payment_id_key;
ALTER TABLE refunds ADD CONSTRAINT refunds_payment_booking_key UNIQUE (payment_id, for_booking_id);
