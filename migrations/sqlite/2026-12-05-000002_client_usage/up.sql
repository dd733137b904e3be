-- Usage without a write per token: each replica counts in memory and adds its counts
-- here at most every few seconds in one upsert (counts added, never overwritten, so
-- replicas sum). `day` is the Unix second at 00:00 UTC of the day counted.
-- No foreign key: a flush racing a client's deletion must not fail the whole batch;
-- deleting a client deletes its rows, and the purge removes old days.
CREATE TABLE client_usage (
    client_id TEXT NOT NULL,
    day BIGINT NOT NULL,
    tokens BIGINT NOT NULL,
    last_used_at BIGINT NOT NULL,
    PRIMARY KEY (client_id, day)
);
CREATE INDEX client_usage_day ON client_usage (day);

-- Token endpoint outcomes per minute (`minute`: Unix second at its start), for the
-- console's last hour: `issued` or an error code.
CREATE TABLE token_outcomes (
    minute BIGINT NOT NULL,
    outcome TEXT NOT NULL,
    count BIGINT NOT NULL,
    PRIMARY KEY (minute, outcome)
);

-- When the current secret was set (create, rotate, provide); NULL for clients made
-- before this column, whose secret dates from created_at.
ALTER TABLE clients ADD COLUMN secret_created_at BIGINT;

-- The clients inventory sorts by name and filters by state.
CREATE INDEX clients_name ON clients (name);
