DROP TABLE console_setup_codes;
DROP TABLE console_sessions;
DROP TABLE operators;
