DROP TABLE server_meta;
DROP TABLE signing_keys;
DROP TABLE clients;
