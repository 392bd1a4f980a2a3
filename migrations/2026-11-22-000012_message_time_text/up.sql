-- A message's `createdAt` as the API prints it, computed once when the row
-- is written instead of on every read: formatting 50 timestamps was about a
-- fifth of PostgreSQL's work for a compiled page of 50 messages
-- (BENCHMARKS.md, "Reads: timestamps formatted once").
-- The same text as confab_rfc3339, from the UTC wall-clock time, on which
-- to_char with these patterns and extract depend on nothing else: so it
-- may be IMMUTABLE, as a generated column requires.
CREATE FUNCTION confab_rfc3339_utc(t timestamp) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT to_char(t, 'YYYY-MM-DD"T"HH24:MI:SS')
        || CASE
               WHEN extract(microseconds FROM t)::bigint % 1000000 = 0 THEN ''
               WHEN extract(microseconds FROM t)::bigint % 1000 = 0
                   THEN '.' || lpad((extract(microseconds FROM t)::bigint % 1000000 / 1000)::text, 3, '0')
               ELSE '.' || lpad((extract(microseconds FROM t)::bigint % 1000000)::text, 6, '0')
           END
        || '+00:00'
$$;

ALTER TABLE messages
    ADD COLUMN created_at_rfc3339 text NOT NULL
        GENERATED ALWAYS AS (confab_rfc3339_utc(created_at AT TIME ZONE 'UTC')) STORED;
