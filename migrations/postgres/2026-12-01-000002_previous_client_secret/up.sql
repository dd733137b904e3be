-- Secret rotation with overlap (`client rotate-secret --keep-old SECS`): the secret
-- before the current one keeps working until previous_secret_expires_at (Unix seconds).
ALTER TABLE clients ADD COLUMN previous_secret_hash TEXT;
ALTER TABLE clients ADD COLUMN previous_secret_expires_at BIGINT;
