DROP INDEX clients_federated_issuer;
ALTER TABLE clients DROP COLUMN federated_claims;
ALTER TABLE clients DROP COLUMN federated_subject;
ALTER TABLE clients DROP COLUMN federated_issuer;
DROP TABLE trusted_issuers;
