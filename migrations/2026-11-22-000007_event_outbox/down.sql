ALTER TABLE event_sequences ADD COLUMN last_sequence bigint NOT NULL DEFAULT 0;
INSERT INTO event_sequences (organization_id, last_sequence)
    SELECT organization_id, max(position) FROM events GROUP BY organization_id
    ON CONFLICT (organization_id) DO UPDATE SET last_sequence = excluded.last_sequence;
ALTER TABLE events DROP COLUMN xid;
ALTER TABLE events RENAME COLUMN position TO sequence;
