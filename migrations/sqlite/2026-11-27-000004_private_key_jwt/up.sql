-- private_key_jwt (RFC 7523): a client's public keys, inline as a JWK Set or by the
-- URL where the client publishes them. At most one of the two is set, and only for
-- clients whose auth_method is private_key_jwt (which have no secret_hash).
ALTER TABLE clients ADD COLUMN jwks TEXT;
ALTER TABLE clients ADD COLUMN jwks_uri TEXT;
