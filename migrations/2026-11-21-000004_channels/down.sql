DROP INDEX events_channel;
ALTER TABLE events DROP COLUMN channel_id;
ALTER TABLE messages
    DROP CONSTRAINT messages_channel_needs_thread,
    DROP COLUMN channel_position,
    DROP COLUMN published_at,
    DROP COLUMN publish_to_channel_at,
    DROP COLUMN channel_id;
DROP SEQUENCE channel_message_positions;
DROP TABLE channel_publishers;
DROP TABLE channel_members;
DROP TABLE channels;
