-- `tessera apply`: clients it created are marked, so `--prune` only ever deletes those
-- (never a client made by hand or the bootstrap admin).
ALTER TABLE clients ADD COLUMN managed_by TEXT;
