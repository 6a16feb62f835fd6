-- Users, their refresh tokens, the token signing keys, and login-failure counters.

CREATE TABLE users (
    id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    username      TEXT        NOT NULL,
    email         TEXT        NOT NULL,
    password_hash TEXT        NOT NULL,
    role          TEXT        NOT NULL DEFAULT 'customer' CHECK (role IN ('customer', 'ops', 'admin')),
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at    TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- Usernames and emails are unique regardless of case.
CREATE UNIQUE INDEX users_username_key ON users (lower(username));
CREATE UNIQUE INDEX users_email_key ON users (lower(email));

-- Opaque refresh tokens, stored as SHA-256 hashes. Each use rotates the token: the used row gets
-- `used_at` and a new row joins the same family. Presenting a used token again means it was stolen,
-- and the whole family is revoked.
CREATE TABLE refresh_tokens (
    id          UUID        PRIMARY KEY,
    user_id     BIGINT      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    family      UUID        NOT NULL,
    token_hash  BYTEA       NOT NULL UNIQUE,
    expires_at  TIMESTAMPTZ NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    used_at     TIMESTAMPTZ,
    revoked_at  TIMESTAMPTZ
);
CREATE INDEX refresh_tokens_user_idx ON refresh_tokens (user_id);
CREATE INDEX refresh_tokens_family_idx ON refresh_tokens (family);

-- Ed25519 keys that sign access tokens. The newest unretired key signs; retired keys stay published
-- in the JWKS until every token they signed has expired.
CREATE TABLE signing_keys (
    kid         TEXT        PRIMARY KEY,
    private_key BYTEA       NOT NULL,
    public_key  BYTEA       NOT NULL CHECK (length(public_key) = 32),
    created_at  TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp(),
    retired_at  TIMESTAMPTZ
);

-- Failed logins per account and per client address, for brute-force slowing.
CREATE TABLE login_failures (
    scope             TEXT        NOT NULL CHECK (scope IN ('account', 'address')),
    subject           TEXT        NOT NULL,
    failures          INTEGER     NOT NULL,
    window_started_at TIMESTAMPTZ NOT NULL,
    locked_until      TIMESTAMPTZ,
    PRIMARY KEY (scope, subject)
);
