DROP TABLE audit_log;
DROP TABLE revoked_tokens;
