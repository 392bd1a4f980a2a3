-- A message search ranks the newest matches of its query (see
-- src/domain/search/model.rs). For a query of common words PostgreSQL walks
-- an organization's messages newest first, checking each against the query,
-- and stops once it has enough; this index is that walk.
CREATE INDEX messages_recent ON messages (organization_id, created_at, id);
