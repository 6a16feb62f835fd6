-- A revoked signing key leaves the JWKS at once (a retired one stays published until its tokens
-- expire), never signs again, and loses its private half.
ALTER TABLE signing_keys ADD COLUMN revoked_at TIMESTAMPTZ;

-- Login throttling by growing delays, per account and address together, per address, and per
-- account (to which each address contributes a bounded number of failures), in place of the hard
-- locks that anyone could put on any account. The old counters are only throttling state.
DROP TABLE login_failures;
CREATE TABLE login_throttles (
    scope           TEXT        NOT NULL CHECK (scope IN ('account', 'address', 'account-address')),
    subject         TEXT        NOT NULL,
    -- Attempts let through and not (yet) known to have succeeded.
    failures        INTEGER     NOT NULL CHECK (failures >= 0),
    last_failure_at TIMESTAMPTZ NOT NULL,
    -- No attempt is let through before this time.
    blocked_until   TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (scope, subject)
);
CREATE INDEX login_throttles_last_failure_idx ON login_throttles (last_failure_at);
