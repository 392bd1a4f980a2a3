-- Search buckets: each message's organization and hour in one number, so
-- that a search for common words can take an organization's newest hours
-- first, each hour an exact GIN key beside the words (see
-- src/domain/search/model.rs), instead of visiting every match to sort it.
-- `organization_id << 24` leaves 24 bits for hours since 2000 (to the year
-- 3900); the difference of two timestamptz is immutable, unlike extracting
-- fields from one.
ALTER TABLE messages ADD COLUMN search_bucket bigint NOT NULL GENERATED ALWAYS AS (
    (organization_id << 24)
    + floor(extract(epoch FROM created_at - timestamptz '2000-01-01 00:00:00+00') / 3600)::bigint
) STORED;

-- The words, and the words within given hours of one organization.
DROP INDEX messages_search;
CREATE INDEX messages_search ON messages USING gin (search_bucket, search_vector);

-- The walk from the newest message of given hours, for words so common
-- that checking the newest messages one by one finds enough soonest.
DROP INDEX messages_recent;
CREATE INDEX messages_recent ON messages (search_bucket, created_at, id);
