DROP INDEX clients_name;
ALTER TABLE clients DROP COLUMN secret_created_at;
DROP TABLE token_outcomes;
DROP INDEX client_usage_day;
DROP TABLE client_usage;
