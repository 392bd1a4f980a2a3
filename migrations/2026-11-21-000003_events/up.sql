-- The event log: an append-only record of every change, the source of
-- subscriptions and of resuming them.
--
-- Sequences are per organization and handed out by a row lock on
-- event_sequences that is held until the writing transaction commits, so an
-- organization's events become visible in sequence order: a reader that has
-- seen sequence N has seen everything before it. Tenants never contend.

CREATE TABLE event_sequences (
    organization_id bigint PRIMARY KEY REFERENCES organizations (id) ON DELETE CASCADE,
    last_sequence   bigint NOT NULL DEFAULT 0,
    -- Events up to here were pruned by retention; older cursors must refetch.
    pruned_through  bigint NOT NULL DEFAULT 0
);

CREATE TABLE events (
    organization_id bigint      NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    sequence        bigint      NOT NULL,
    kind            text        NOT NULL,
    -- No foreign keys: events outlive what they describe (a deleted thread).
    thread_id       bigint,
    conversation_id bigint,
    payload         jsonb       NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (organization_id, sequence)
);
CREATE INDEX events_thread ON events (organization_id, thread_id, sequence) WHERE thread_id IS NOT NULL;
CREATE INDEX events_conversation ON events (organization_id, conversation_id, sequence)
    WHERE conversation_id IS NOT NULL;
CREATE INDEX events_created ON events (created_at);
