DROP INDEX messages_recent;
DROP INDEX messages_search;
ALTER TABLE messages DROP COLUMN search_bucket;
CREATE INDEX messages_search ON messages USING gin (organization_id, search_vector);
CREATE INDEX messages_recent ON messages (organization_id, created_at, id);
