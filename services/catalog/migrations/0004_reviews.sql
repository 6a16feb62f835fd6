-- Reviews of any listing (hotels, cars), one per guest and listing.

CREATE TABLE reviews (
    id         BIGINT      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    product    TEXT        NOT NULL CHECK (product IN ('hotel', 'car')),
    listing_id UUID        NOT NULL,
    user_id    BIGINT      NOT NULL,
    rating     SMALLINT    NOT NULL CHECK (rating BETWEEN 1 AND 5),
    -- {"title", "text", "author", "bookingId", "from", "until"}
    document   JSONB       NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (product, listing_id, user_id)
);
-- A listing's reviews, newest first.
CREATE INDEX reviews_listing_idx ON reviews (product, listing_id, created_at DESC, id DESC);
