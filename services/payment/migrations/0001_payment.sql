-- Saved cards, wallets and their ledger, payments for bookings, refunds, and the simulated card
-- processor's own ledger. A card number is never stored: only its brand, last four digits and the
-- processor's token.

CREATE TABLE cards (
    id              TEXT        PRIMARY KEY,
    user_id         BIGINT      NOT NULL,
    brand           TEXT        NOT NULL,
    last4           CHAR(4)     NOT NULL,
    exp_month       SMALLINT    NOT NULL CHECK (exp_month BETWEEN 1 AND 12),
    exp_year        SMALLINT    NOT NULL,
    processor_token TEXT        NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    deleted_at      TIMESTAMPTZ
);
CREATE INDEX cards_user_idx ON cards (user_id, created_at DESC) WHERE deleted_at IS NULL;

-- One balance per user and currency; it never goes negative.
CREATE TABLE wallets (
    user_id       BIGINT  NOT NULL,
    currency      CHAR(3) NOT NULL,
    balance_minor BIGINT  NOT NULL DEFAULT 0 CHECK (balance_minor >= 0),
    PRIMARY KEY (user_id, currency)
);

-- Every movement of a wallet; their sum is the balance.
CREATE TABLE wallet_entries (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id      BIGINT      NOT NULL,
    currency     CHAR(3)     NOT NULL,
    amount_minor BIGINT      NOT NULL CHECK (amount_minor <> 0),
    kind         TEXT        NOT NULL CHECK (kind IN ('top_up', 'payment', 'refund')),
    payment_id   BIGINT,
    -- A top-up's idempotency key: the same top-up request never credits twice.
    request_key  TEXT,
    processor_reference TEXT,
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX wallet_entries_user_idx ON wallet_entries (user_id, id DESC);
CREATE UNIQUE INDEX wallet_entries_request_key ON wallet_entries (user_id, request_key) WHERE request_key IS NOT NULL;

-- One payment per booking. Jobs (charging, refunding) are claimed with a lease, so that a worker
-- that dies mid-call leaves the job to another after the lease; the processor's idempotency key
-- makes the retry harmless.
CREATE TABLE payments (
    id                  BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    booking_id          BIGINT      NOT NULL UNIQUE,
    booking_reference   TEXT        NOT NULL,
    user_id             BIGINT      NOT NULL,
    method              TEXT        NOT NULL CHECK (method IN ('credit_card', 'debit_card', 'wallet')),
    card_id             TEXT,
    card_brand          TEXT,
    card_last4          CHAR(4),
    -- The processor's token for the card (never the number).
    card_token          TEXT,
    amount_minor        BIGINT      NOT NULL CHECK (amount_minor >= 0),
    currency            CHAR(3)     NOT NULL,
    departure_at        TIMESTAMPTZ NOT NULL,
    description         TEXT        NOT NULL,
    status              TEXT        NOT NULL
        CHECK (status IN ('PENDING', 'PROCESSING', 'SUCCEEDED', 'FAILED', 'VOIDED')),
    failure_reason      TEXT,
    -- Set when the booking was cancelled or expired while the charge was in flight.
    void_requested      BOOLEAN     NOT NULL DEFAULT false,
    idempotency_key     TEXT        NOT NULL UNIQUE,
    processor_reference TEXT,
    attempts            INTEGER     NOT NULL DEFAULT 0,
    next_attempt_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    lease_until         TIMESTAMPTZ,
    refunded_minor      BIGINT      NOT NULL DEFAULT 0 CHECK (refunded_minor >= 0 AND refunded_minor <= amount_minor),
    created_at          TIMESTAMPTZ NOT NULL DEFAULT now(),
    completed_at        TIMESTAMPTZ
);
CREATE INDEX payments_user_idx ON payments (user_id, id DESC);
CREATE INDEX payments_due_idx ON payments (next_attempt_at) WHERE status IN ('PENDING', 'PROCESSING');

-- At most one refund per payment (a booking is cancelled once).
CREATE TABLE refunds (
    id                  BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    payment_id          BIGINT      NOT NULL UNIQUE REFERENCES payments (id),
    amount_minor        BIGINT      NOT NULL CHECK (amount_minor >= 0),
    fee_minor           BIGINT      NOT NULL CHECK (fee_minor >= 0),
    reason              TEXT        NOT NULL,
    status              TEXT        NOT NULL CHECK (status IN ('PENDING', 'PROCESSING', 'SUCCEEDED')),
    processor_reference TEXT,
    attempts            INTEGER     NOT NULL DEFAULT 0,
    next_attempt_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    lease_until         TIMESTAMPTZ,
    created_at          TIMESTAMPTZ NOT NULL DEFAULT now(),
    completed_at        TIMESTAMPTZ
);
CREATE INDEX refunds_due_idx ON refunds (next_attempt_at) WHERE status IN ('PENDING', 'PROCESSING');

-- The simulated processor's ledger: what a real processor would hold on its side. Charges are
-- keyed by the caller's idempotency key, so a retried charge returns the first one.
CREATE TABLE simulated_charges (
    id              TEXT        PRIMARY KEY,
    idempotency_key TEXT        NOT NULL UNIQUE,
    card_token      TEXT        NOT NULL,
    amount_minor    BIGINT      NOT NULL,
    currency        CHAR(3)     NOT NULL,
    refunded_minor  BIGINT      NOT NULL DEFAULT 0 CHECK (refunded_minor >= 0 AND refunded_minor <= amount_minor),
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE simulated_refunds (
    id              TEXT        PRIMARY KEY,
    idempotency_key TEXT        NOT NULL UNIQUE,
    charge_id       TEXT        NOT NULL REFERENCES simulated_charges (id),
    amount_minor    BIGINT      NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now()
);
