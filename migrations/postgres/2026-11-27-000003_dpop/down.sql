ALTER TABLE clients DROP COLUMN require_dpop;
DROP TABLE used_jtis;
