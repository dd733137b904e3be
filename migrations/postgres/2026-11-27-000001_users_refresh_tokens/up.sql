-- Users of the password grant. `username` is stored case-normalised (lower case), so
-- the UNIQUE constraint is case-insensitive; `id` is the stable `sub` of their tokens.
CREATE TABLE users (
    id TEXT PRIMARY KEY NOT NULL,
    username TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    disabled BOOLEAN NOT NULL DEFAULT FALSE,
    password_changed_at BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- One row per login: the rotation chain of refresh tokens it starts shares this row, so
-- revoking the family is one UPDATE that every later use sees, whatever the replica.
CREATE TABLE refresh_families (
    id TEXT PRIMARY KEY NOT NULL,
    client_id TEXT NOT NULL REFERENCES clients (client_id) ON DELETE CASCADE,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    scope TEXT NOT NULL,
    dpop_jkt TEXT,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    revoked_at BIGINT
);
CREATE INDEX refresh_families_user_id ON refresh_families (user_id);
CREATE INDEX refresh_families_client_id ON refresh_families (client_id);
CREATE INDEX refresh_families_expires_at ON refresh_families (expires_at);

-- Refresh tokens, stored only as the hex SHA-256 of the token. `used_at` is set by the
-- one rotation that wins (a conditional UPDATE); used rows stay until their family
-- ends, so a replay is recognised as reuse.
CREATE TABLE refresh_tokens (
    token_hash TEXT PRIMARY KEY NOT NULL,
    family_id TEXT NOT NULL REFERENCES refresh_families (id) ON DELETE CASCADE,
    parent_hash TEXT,
    issued_at BIGINT NOT NULL,
    used_at BIGINT
);
CREATE INDEX refresh_tokens_family_id ON refresh_tokens (family_id);

-- Failed password logins per username ("user:…") and per client address ("addr:…"),
-- in fixed windows; shared by every replica.
CREATE TABLE login_failures (
    throttle_key TEXT PRIMARY KEY NOT NULL,
    failures BIGINT NOT NULL,
    window_start BIGINT NOT NULL
);
