-- A client's own API as tokens name it in `aud` (space-separated, like `audiences`):
-- token exchange accepts a subject token whose `aud` has the client id or one of these.
ALTER TABLE clients ADD COLUMN resource_uris TEXT NOT NULL DEFAULT '';
