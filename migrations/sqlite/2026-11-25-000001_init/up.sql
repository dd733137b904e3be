-- Registered OAuth clients. Lists (scope, grant types, audiences) are space-separated
-- tokens: none of their members may contain white space.
CREATE TABLE clients (
    client_id TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL,
    secret_hash TEXT,
    auth_method TEXT NOT NULL,
    scope TEXT NOT NULL,
    grant_types TEXT NOT NULL,
    audiences TEXT NOT NULL,
    access_token_ttl BIGINT,
    refresh_token_ttl BIGINT,
    refresh_reuse_grace BIGINT,
    disabled BOOLEAN NOT NULL DEFAULT FALSE,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- Token signing keys; every replica signs and publishes from this table.
CREATE TABLE signing_keys (
    kid TEXT PRIMARY KEY NOT NULL,
    alg TEXT NOT NULL,
    state TEXT NOT NULL,
    private_key BLOB NOT NULL,
    encrypted BOOLEAN NOT NULL,
    public_jwk TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    activates_at BIGINT NOT NULL,
    retired_at BIGINT,
    expires_at BIGINT
);
CREATE INDEX signing_keys_state ON signing_keys (state);

-- Server-wide facts (bootstrap done, …) and named rows that serialise writers.
CREATE TABLE server_meta (
    name TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL
);
