-- A message's `createdAt` as the API prints it, computed once when the row
-- is written instead of on every read: formatting 50 timestamps was about a
-- fifth of PostgreSQL's work for a compiled page of 50 messages
-- (BENCHMARKS.md, "Reads: queries admitted by cores, timestamps formatted
-- once").
-- A generated column needs an IMMUTABLE expression. confab_rfc3339 is
-- STABLE only because it takes a timestamptz; given the UTC wall time, what
-- it prints depends on nothing else (to_char's patterns here use no locale,
-- and zone offsets are whole seconds, so the fraction is the same in any).
-- PL/pgSQL, not SQL: a SQL function in a generated column is planned again
-- for every INSERT statement, a PL/pgSQL one once per connection (pgbench,
-- single-row inserts: 14,000 a second against 25,500; 30,000 without the
-- column).
CREATE FUNCTION confab_rfc3339_utc(t timestamp) RETURNS text
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
BEGIN
    RETURN confab_rfc3339(t AT TIME ZONE 'UTC');
END
$$;

ALTER TABLE messages
    ADD COLUMN created_at_rfc3339 text NOT NULL
        GENERATED ALWAYS AS (confab_rfc3339_utc(created_at AT TIME ZONE 'UTC')) STORED;
