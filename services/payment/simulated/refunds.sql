-- Refunds of the simulated processor's charges, keyed like them by the caller's idempotency key.

CREATE TABLE IF NOT EXISTS simulated_refunds (
    id              TEXT        PRIMARY KEY,
    idempotency_key TEXT        NOT NULL UNIQUE,
    charge_id       TEXT        NOT NULL REFERENCES simulated_charges (id),
    amount_minor    BIGINT      NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now()
);
