-- The event log as a transactional outbox: appending no longer takes a
-- per-organization lock, so one organization's writers commit side by side.
--
-- An event's position is its transaction id (xid8) times 65,536 plus its
-- place among the organization's events of that transaction. Positions
-- therefore order events by transaction id, and every transaction that can
-- still commit has an id at or above the oldest one running, the horizon
-- `pg_snapshot_xmin(pg_current_snapshot())`. Readers take only events below
-- it: that part of the log is final, so a reader that has seen position N
-- has seen everything before it, whatever order transactions committed in.
-- (A plain bigserial handed out at append would not do: a transaction with a
-- lower id may take a higher number, commit first, and let a reader move past
-- a lower number still to commit.)
--
-- Existing events keep their per-organization sequence as their position
-- (below every new one, checked here), so cursors issued before this
-- migration keep their meaning.

ALTER TABLE events RENAME COLUMN sequence TO position;
-- A constant default adds the column without rewriting the table; existing
-- events count as long committed.
ALTER TABLE events ADD COLUMN xid xid8 NOT NULL DEFAULT '0';
ALTER TABLE events ALTER COLUMN xid SET DEFAULT pg_current_xact_id();

DO $$
BEGIN
    IF (SELECT max(position) FROM events) >= pg_current_xact_id()::text::bigint * 65536 THEN
        RAISE EXCEPTION 'existing event positions overlap the new ones';
    END IF;
END
$$;

-- Only retention is left of the per-organization row: how far it pruned.
ALTER TABLE event_sequences DROP COLUMN last_sequence;
