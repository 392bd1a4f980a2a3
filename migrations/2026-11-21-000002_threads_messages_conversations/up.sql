-- Threads with their subscribers, messages with reactions, and conversations.

CREATE TABLE threads (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    organization_id bigint      NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    -- thrd_<random>, or thrd_<resource_id> for a thread about a resource.
    public_id       text        NOT NULL,
    name            text,
    subject         text,
    original_sender text,
    channel         text,
    identifier      text,
    chatbot_paused  boolean     NOT NULL DEFAULT false,
    is_resolved     boolean     NOT NULL DEFAULT false,
    resource_id     text,
    location_id     text,
    contact_id      bigint      REFERENCES contacts (id) ON DELETE SET NULL,
    last_message_at timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT threads_identifier_needs_channel CHECK (identifier IS NULL OR channel IS NOT NULL),
    CONSTRAINT threads_public_id_unique UNIQUE (organization_id, public_id)
);
-- Recrubo: channel + identifier is unique per organization.
CREATE UNIQUE INDEX threads_channel_identifier_unique
    ON threads (organization_id, channel, identifier) WHERE identifier IS NOT NULL;
CREATE UNIQUE INDEX threads_resource_unique
    ON threads (organization_id, resource_id) WHERE resource_id IS NOT NULL;
-- Listing newest first walks (organization_id, id); the interval filters
-- and the contact filter have their own.
CREATE INDEX threads_page ON threads (organization_id, id);
CREATE INDEX threads_created ON threads (organization_id, created_at);
CREATE INDEX threads_updated ON threads (organization_id, updated_at);
CREATE INDEX threads_contact ON threads (organization_id, contact_id, id) WHERE contact_id IS NOT NULL;

-- Membership of one user, api key or contact in a thread, with read state.
-- Removing a subscriber archives the row, so old messages keep their author.
CREATE TABLE thread_subscribers (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    organization_id bigint      NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    public_id       text        NOT NULL,
    thread_id       bigint      NOT NULL REFERENCES threads (id) ON DELETE CASCADE,
    user_id         bigint      REFERENCES users (id) ON DELETE CASCADE,
    api_key_id      bigint      REFERENCES api_keys (id) ON DELETE CASCADE,
    contact_id      bigint      REFERENCES contacts (id) ON DELETE CASCADE,
    viewed_at       timestamptz,
    unread_count    integer     NOT NULL DEFAULT 0,
    is_archived     boolean     NOT NULL DEFAULT false,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT thread_subscribers_one_member CHECK (num_nonnulls(user_id, api_key_id, contact_id) = 1),
    CONSTRAINT thread_subscribers_public_id_unique UNIQUE (organization_id, public_id)
);
CREATE UNIQUE INDEX thread_subscribers_user ON thread_subscribers (thread_id, user_id) WHERE user_id IS NOT NULL;
CREATE UNIQUE INDEX thread_subscribers_api_key ON thread_subscribers (thread_id, api_key_id) WHERE api_key_id IS NOT NULL;
CREATE UNIQUE INDEX thread_subscribers_contact ON thread_subscribers (thread_id, contact_id) WHERE contact_id IS NOT NULL;
CREATE INDEX thread_subscribers_thread ON thread_subscribers (organization_id, thread_id);
-- A contact's threads (contact tokens see only these).
CREATE INDEX thread_subscribers_contact_threads ON thread_subscribers (organization_id, contact_id, thread_id)
    WHERE contact_id IS NOT NULL;

-- Monica: a logged conversation with one contact, on a channel kind, on a date.
CREATE TABLE conversations (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    organization_id bigint      NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    public_id       text        NOT NULL,
    contact_id      bigint      NOT NULL REFERENCES contacts (id) ON DELETE CASCADE,
    channel         text        NOT NULL,
    happened_at     date        NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT conversations_public_id_unique UNIQUE (organization_id, public_id)
);
CREATE INDEX conversations_page ON conversations (organization_id, id);
CREATE INDEX conversations_contact ON conversations (organization_id, contact_id, id);

-- A message belongs to exactly one thread or one conversation.
CREATE TABLE messages (
    id                   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    organization_id      bigint      NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    public_id            text        NOT NULL,
    thread_id            bigint      REFERENCES threads (id) ON DELETE CASCADE,
    conversation_id      bigint      REFERENCES conversations (id) ON DELETE CASCADE,
    kind                 text        NOT NULL DEFAULT 'text',
    body                 text        NOT NULL,
    event                text,
    author_subscriber_id bigint      REFERENCES thread_subscribers (id) ON DELETE SET NULL,
    media_urls           text[]      NOT NULL DEFAULT '{}',
    resource_id          text,
    client_message_id    text,
    written_at           timestamptz,
    written_by_me        boolean,
    created_at           timestamptz NOT NULL DEFAULT now(),
    edited_at            timestamptz,
    CONSTRAINT messages_one_container CHECK (num_nonnulls(thread_id, conversation_id) = 1),
    CONSTRAINT messages_kind CHECK (kind IN ('text', 'meta', 'tracking_update', 'pickup_reminder')),
    CONSTRAINT messages_public_id_unique UNIQUE (organization_id, public_id)
);
-- Keyset pages of one thread's or conversation's messages.
CREATE INDEX messages_thread_page ON messages (organization_id, thread_id, id) WHERE thread_id IS NOT NULL;
CREATE INDEX messages_conversation_page ON messages (organization_id, conversation_id, id)
    WHERE conversation_id IS NOT NULL;
-- Sending the same client message id twice returns the first message.
CREATE UNIQUE INDEX messages_client_message_id ON messages (thread_id, client_message_id)
    WHERE client_message_id IS NOT NULL;
CREATE INDEX messages_author ON messages (author_subscriber_id) WHERE author_subscriber_id IS NOT NULL;

-- An emoji by a subscriber on a message.
CREATE TABLE message_reactions (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    organization_id bigint      NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    message_id      bigint      NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    subscriber_id   bigint      NOT NULL REFERENCES thread_subscribers (id) ON DELETE CASCADE,
    emoji           text        NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT message_reactions_once UNIQUE (message_id, subscriber_id, emoji)
);
CREATE INDEX message_reactions_subscriber ON message_reactions (subscriber_id);

-- A bearer token that acts as one contact: it sees only the threads the
-- contact subscribes to.
CREATE TABLE contact_tokens (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    organization_id bigint      NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    contact_id      bigint      NOT NULL REFERENCES contacts (id) ON DELETE CASCADE,
    token_hash      bytea       NOT NULL UNIQUE,
    created_at      timestamptz NOT NULL DEFAULT now(),
    revoked_at      timestamptz
);
CREATE INDEX contact_tokens_contact ON contact_tokens (organization_id, contact_id);
