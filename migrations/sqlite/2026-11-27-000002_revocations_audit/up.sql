-- Revoked access tokens (RFC 7009): their jti until the token would have expired anyway.
CREATE TABLE revoked_tokens (
    jti TEXT PRIMARY KEY NOT NULL,
    client_id TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    revoked_at BIGINT NOT NULL
);
CREATE INDEX revoked_tokens_expires_at ON revoked_tokens (expires_at);

-- Who changed what, when: client, user and key administration and revocations.
-- Never a secret.
CREATE TABLE audit_log (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    at BIGINT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    details TEXT NOT NULL
);
CREATE INDEX audit_log_at ON audit_log (at);
