-- A timestamp as the GraphQL API prints it (chrono's RFC 3339: UTC as
-- +00:00, and 0, 3 or 6 fraction digits, the fewest that keep the value),
-- so that reads answered in SQL (src/domain/reads) match the resolvers'.
-- STABLE like to_char, so that PostgreSQL inlines it.
CREATE FUNCTION confab_rfc3339(t timestamptz) RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS')
        || CASE
               WHEN extract(microseconds FROM t)::bigint % 1000000 = 0 THEN ''
               WHEN extract(microseconds FROM t)::bigint % 1000 = 0
                   THEN '.' || lpad((extract(microseconds FROM t)::bigint % 1000000 / 1000)::text, 3, '0')
               ELSE '.' || lpad((extract(microseconds FROM t)::bigint % 1000000)::text, 6, '0')
           END
        || '+00:00'
$$;
