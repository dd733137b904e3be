DROP TABLE login_failures;
DROP TABLE refresh_tokens;
DROP TABLE refresh_families;
DROP TABLE users;
