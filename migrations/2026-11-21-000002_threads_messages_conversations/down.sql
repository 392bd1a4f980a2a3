DROP TABLE contact_tokens;
DROP TABLE message_reactions;
DROP TABLE messages;
DROP TABLE conversations;
DROP TABLE thread_subscribers;
DROP TABLE threads;
