-- Search: full-text search of message bodies in each organization's
-- language, and trigram matching of thread and contact names (partial
-- words, typos).

CREATE EXTENSION IF NOT EXISTS pg_trgm;
-- GIN indexes on plain columns, so organization_id can lead them.
CREATE EXTENSION IF NOT EXISTS btree_gin;

-- The text search configuration messages are indexed and queried with.
-- `simple` (no stemming, no stop words) suits multilingual chat.
ALTER TABLE organizations
    ADD COLUMN search_language regconfig NOT NULL DEFAULT 'simple';

-- Each message keeps the configuration it was indexed with, copied from its
-- organization at insert (by the trigger below), so that the generated
-- tsvector is an immutable expression of the row alone.
ALTER TABLE messages ADD COLUMN search_config regconfig NOT NULL DEFAULT 'simple';
ALTER TABLE messages ALTER COLUMN search_config DROP DEFAULT;
ALTER TABLE messages ADD COLUMN search_vector tsvector NOT NULL
    GENERATED ALWAYS AS (to_tsvector(search_config, body)) STORED;

CREATE FUNCTION messages_search_config() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    SELECT o.search_language INTO STRICT NEW.search_config
        FROM organizations o WHERE o.id = NEW.organization_id;
    RETURN NEW;
END
$$;
CREATE TRIGGER messages_search_config BEFORE INSERT ON messages
    FOR EACH ROW EXECUTE FUNCTION messages_search_config();

-- websearch_to_tsquery matches walk this, one organization at a time.
CREATE INDEX messages_search ON messages USING gin (organization_id, search_vector);

-- Names, by trigram: `word_similarity` (`<%`) finds partial words and typos.
CREATE INDEX threads_name_trigrams ON threads USING gin (organization_id, name gin_trgm_ops)
    WHERE name IS NOT NULL;
CREATE INDEX contacts_name_trigrams ON contacts USING gin (
    organization_id,
    (first_name || coalesce(' ' || last_name, '') || coalesce(' ' || nickname, '')) gin_trgm_ops
);
