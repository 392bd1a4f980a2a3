ALTER TABLE messages DROP COLUMN created_at_rfc3339;
DROP FUNCTION confab_rfc3339_utc(timestamp);
