-- Channels (Threads and Channels API): a space for one exact set of
-- subscribers, which threads publish messages into, now or on schedule.

CREATE TABLE channels (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    organization_id bigint      NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    public_id       text        NOT NULL,
    name            text        NOT NULL,
    -- SHA-256 of the sorted member ids: exactly one channel per set.
    subscriber_hash text        NOT NULL,
    last_message_at timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT channels_public_id_unique UNIQUE (organization_id, public_id),
    CONSTRAINT channels_subscriber_hash_unique UNIQUE (organization_id, subscriber_hash)
);
CREATE INDEX channels_page ON channels (organization_id, id);

CREATE TABLE channel_members (
    organization_id bigint NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    channel_id      bigint NOT NULL REFERENCES channels (id) ON DELETE CASCADE,
    position        integer NOT NULL,
    user_id         bigint REFERENCES users (id) ON DELETE CASCADE,
    api_key_id      bigint REFERENCES api_keys (id) ON DELETE CASCADE,
    contact_id      bigint REFERENCES contacts (id) ON DELETE CASCADE,
    PRIMARY KEY (channel_id, position),
    CONSTRAINT channel_members_one_member CHECK (num_nonnulls(user_id, api_key_id, contact_id) = 1)
);
CREATE INDEX channel_members_contact ON channel_members (organization_id, contact_id) WHERE contact_id IS NOT NULL;

-- The threads (and their resources) that publish into a channel.
CREATE TABLE channel_publishers (
    organization_id bigint      NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    channel_id      bigint      NOT NULL REFERENCES channels (id) ON DELETE CASCADE,
    thread_id       bigint      NOT NULL REFERENCES threads (id) ON DELETE CASCADE,
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (channel_id, thread_id)
);

-- Where a published message sits in its channel, in publishing order.
CREATE SEQUENCE channel_message_positions;

ALTER TABLE messages
    ADD COLUMN channel_id            bigint REFERENCES channels (id) ON DELETE SET NULL,
    ADD COLUMN publish_to_channel_at timestamptz,
    ADD COLUMN published_at          timestamptz,
    ADD COLUMN channel_position      bigint,
    ADD CONSTRAINT messages_channel_needs_thread CHECK (channel_id IS NULL OR thread_id IS NOT NULL);
CREATE INDEX messages_channel_page ON messages (organization_id, channel_id, channel_position)
    WHERE channel_position IS NOT NULL;
CREATE INDEX messages_channel_pending ON messages (organization_id, channel_id, publish_to_channel_at)
    WHERE channel_id IS NOT NULL AND published_at IS NULL;
-- The scheduler's queue spans every tenant: only pending messages are indexed.
CREATE INDEX messages_publish_due ON messages (publish_to_channel_at)
    WHERE channel_id IS NOT NULL AND published_at IS NULL;

ALTER TABLE events ADD COLUMN channel_id bigint;
CREATE INDEX events_channel ON events (organization_id, channel_id, sequence) WHERE channel_id IS NOT NULL;
