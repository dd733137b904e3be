-- People who sign in to the admin console: accounts of their own, never users of the
-- password grant. `username` is kept as typed (Unicode, case preserved) and unique.
CREATE TABLE operators (
    id TEXT PRIMARY KEY NOT NULL,
    username TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    disabled BOOLEAN NOT NULL DEFAULT FALSE,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- Console sessions, server-side so every replica sees the same ones. `id_hash` is the
-- hex SHA-256 of the cookie value (the cookie itself is never stored).
CREATE TABLE console_sessions (
    id_hash TEXT PRIMARY KEY NOT NULL,
    operator_id TEXT NOT NULL REFERENCES operators (id) ON DELETE CASCADE,
    csrf TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL
);
CREATE INDEX console_sessions_operator_id ON console_sessions (operator_id);
CREATE INDEX console_sessions_last_seen_at ON console_sessions (last_seen_at);

-- One-time links that create the first operator, stored as the hex SHA-256 of the code;
-- `used_at` is set by the one use that wins (a conditional UPDATE).
CREATE TABLE console_setup_codes (
    code_hash TEXT PRIMARY KEY NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT
);
