-- Webhooks: HTTPS endpoints an organization registers to receive its events,
-- each with its own cursor in the event log, and the deliveries made to them.

CREATE TABLE webhooks (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    organization_id bigint      NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    public_id       text        NOT NULL,
    url             text        NOT NULL,
    description     text,
    -- The event kinds delivered (stored names); NULL delivers every kind.
    event_kinds     text[],
    -- The HMAC-SHA256 signing key (shown once; needed to sign, so not hashed).
    secret          text        NOT NULL,
    -- The api key that created it: deliveries render events as it sees them.
    api_key_id      bigint      NOT NULL,
    -- The event log position read through: events after it are not yet
    -- turned into deliveries.
    event_cursor    bigint      NOT NULL,
    -- Set when the endpoint kept failing; nothing is delivered until re-enabled.
    disabled_at     timestamptz,
    disabled_reason text,
    -- Not claimed for delivery before this (the head delivery's next retry).
    next_attempt_at timestamptz,
    -- The delivery lease: one server instance at a time delivers to an endpoint.
    lease_token     text,
    lease_until     timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT webhooks_public_id_unique UNIQUE (organization_id, public_id),
    CONSTRAINT webhooks_url_length CHECK (char_length(url) <= 2048),
    CONSTRAINT webhooks_event_kinds_not_empty CHECK (event_kinds IS NULL OR cardinality(event_kinds) > 0)
);
CREATE INDEX webhooks_page ON webhooks (organization_id, id);
-- What the delivery workers scan for: enabled endpoints, by when they are due.
CREATE INDEX webhooks_due ON webhooks (next_attempt_at NULLS FIRST) WHERE disabled_at IS NULL;

CREATE TABLE webhook_deliveries (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    organization_id bigint      NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    webhook_id      bigint      NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    public_id       text        NOT NULL,
    -- The event's cursor: the idempotency key the receiver sees.
    event_cursor    text        NOT NULL,
    event_kind      text        NOT NULL,
    -- The JSON body, fixed when the delivery is made (retries send the same).
    body            text        NOT NULL,
    status          text        NOT NULL DEFAULT 'pending',
    attempts        integer     NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    last_attempt_at timestamptz,
    response_status integer,
    last_error      text,
    delivered_at    timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT webhook_deliveries_public_id_unique UNIQUE (organization_id, public_id),
    CONSTRAINT webhook_deliveries_status CHECK (status IN ('pending', 'succeeded', 'failed'))
);
-- A webhook's deliveries newest first, and its pending ones oldest first.
CREATE INDEX webhook_deliveries_page ON webhook_deliveries (organization_id, webhook_id, id);
CREATE INDEX webhook_deliveries_pending ON webhook_deliveries (webhook_id, id) WHERE status = 'pending';
