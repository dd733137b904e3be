-- A user's id in the system they came from (a Django project's auth.user pk), set by
-- `user import --django` or `user create --external-id`; simplejwt tokens carry it as
-- `user_id`. Unique where set.
ALTER TABLE users ADD COLUMN external_id TEXT;
CREATE UNIQUE INDEX users_external_id ON users (external_id);
