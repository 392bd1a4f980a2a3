DROP FUNCTION confab_rfc3339(timestamptz);
