-- Outside token issuers whose JWTs authenticate federated clients (Kubernetes
-- service accounts, GitHub Actions, SPIFFE trust domains, any OIDC provider).
-- Keys come from jwks (inline), jwks_uri, or, with neither, the jwks_uri of the
-- issuer's OIDC discovery document. created_by: "cli" or "apply".
CREATE TABLE trusted_issuers (
    name TEXT PRIMARY KEY NOT NULL,
    issuer TEXT NOT NULL UNIQUE,
    jwks_uri TEXT,
    jwks TEXT,
    spiffe_trust_domain TEXT UNIQUE,
    max_token_age BIGINT NOT NULL,
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
-- A federated client is bound to an issuer, a subject (exact, or a prefix ending in *)
-- and claims that must be equal (a JSON object of strings).
ALTER TABLE clients ADD COLUMN federated_issuer TEXT;
ALTER TABLE clients ADD COLUMN federated_subject TEXT;
ALTER TABLE clients ADD COLUMN federated_claims TEXT;
CREATE INDEX clients_federated_issuer ON clients (federated_issuer);
