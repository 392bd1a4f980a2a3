DROP INDEX contacts_name_trigrams;
DROP INDEX threads_name_trigrams;
DROP INDEX messages_search;
DROP TRIGGER messages_search_config ON messages;
DROP FUNCTION messages_search_config();
ALTER TABLE messages DROP COLUMN search_vector, DROP COLUMN search_config;
ALTER TABLE organizations DROP COLUMN search_language;
DROP EXTENSION btree_gin;
DROP EXTENSION pg_trgm;
