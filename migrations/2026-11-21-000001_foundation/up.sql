-- Tenants, their members and credentials, and contacts.
-- Every table carries organization_id and every index leads with it, so a
-- tenant's rows stay together and tenants can later be sharded apart.
-- Rows have a compact internal bigint key (joins, keyset cursors) and a
-- public, type-prefixed id that is unique within the organization.

CREATE TABLE organizations (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    public_id   text        NOT NULL UNIQUE,
    name        text        NOT NULL UNIQUE,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE users (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    organization_id bigint      NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    public_id       text        NOT NULL,
    name            text        NOT NULL,
    email           text        NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (organization_id, public_id),
    UNIQUE (organization_id, email)
);

-- An organization-level credential. Only the SHA-256 of the token is kept.
CREATE TABLE api_keys (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    organization_id bigint      NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    public_id       text        NOT NULL,
    name            text        NOT NULL,
    token_hash      bytea       NOT NULL UNIQUE,
    created_at      timestamptz NOT NULL DEFAULT now(),
    revoked_at      timestamptz,
    UNIQUE (organization_id, public_id)
);

-- A bearer token that acts as one user.
CREATE TABLE user_tokens (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    organization_id bigint      NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    user_id         bigint      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token_hash      bytea       NOT NULL UNIQUE,
    created_at      timestamptz NOT NULL DEFAULT now(),
    revoked_at      timestamptz
);
CREATE INDEX user_tokens_user ON user_tokens (organization_id, user_id);

CREATE TABLE contacts (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    organization_id bigint      NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    public_id       text        NOT NULL,
    first_name      text        NOT NULL,
    last_name       text,
    nickname        text,
    email           text,
    phone           text,
    avatar_url      text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (organization_id, public_id)
);
-- Keyset pagination walks (organization_id, id).
CREATE INDEX contacts_page ON contacts (organization_id, id);
