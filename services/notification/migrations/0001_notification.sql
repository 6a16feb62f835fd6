-- Contact data kept from identity's events, and every notification with its delivery state.

CREATE TABLE contacts (
    user_id    BIGINT      PRIMARY KEY,
    username   TEXT        NOT NULL,
    email      TEXT        NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE notifications (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id         BIGINT      NOT NULL,
    kind            TEXT        NOT NULL,
    channel         TEXT        NOT NULL CHECK (channel IN ('email', 'in_app', 'webhook')),
    subject         TEXT        NOT NULL,
    body            TEXT        NOT NULL,
    status          TEXT        NOT NULL CHECK (status IN ('pending', 'sent', 'failed')),
    recipient       TEXT,
    attempts        INTEGER     NOT NULL DEFAULT 0,
    last_error      TEXT,
    next_attempt_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    -- The event and channel a notification comes from: one notification per event and channel,
    -- however often the event is delivered.
    dedupe_key      TEXT        NOT NULL UNIQUE,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    sent_at         TIMESTAMPTZ,
    read_at         TIMESTAMPTZ
);
CREATE INDEX notifications_due_idx ON notifications (next_attempt_at) WHERE status = 'pending';
CREATE INDEX notifications_inbox_idx ON notifications (user_id, id DESC) WHERE channel = 'in_app';
