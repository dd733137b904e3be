-- Single-use JWT ids (DPoP proofs), remembered until the proof could no longer be
-- accepted anyway, so a replay on any replica is refused.
CREATE TABLE used_jtis (
    jti_key TEXT PRIMARY KEY NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX used_jtis_expires_at ON used_jtis (expires_at);

-- RFC 9449 §5.2 dpop_bound_access_tokens: the client must present a DPoP proof.
ALTER TABLE clients ADD COLUMN require_dpop BOOLEAN NOT NULL DEFAULT FALSE;
