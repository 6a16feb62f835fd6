-- The simulated processor's ledger: what a real processor would hold on its side. Charges are
-- keyed by the caller's idempotency key, so a retried charge returns the first one.
--
-- Run (idempotently) when the simulated processor is installed, not by the payment service's
-- migrations. Databases migrated before this file existed already have these tables, created by
-- migrations/0001_payment.sql with the same definitions; there nothing happens.

CREATE TABLE IF NOT EXISTS simulated_charges (
    id              TEXT        PRIMARY KEY,
    idempotency_key TEXT        NOT NULL UNIQUE,
    card_token      TEXT        NOT NULL,
    amount_minor    BIGINT      NOT NULL,
    currency        CHAR(3)     NOT NULL,
    refunded_minor  BIGINT      NOT NULL DEFAULT 0 CHECK (refunded_minor >= 0 AND refunded_minor <= amount_minor),
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now()
);
