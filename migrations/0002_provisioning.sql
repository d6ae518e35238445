-- Provisioning: real-time events accepted by the real-time provisioning API, their fan-out to
-- target systems (the outbox), source -> target id mappings, and the real-time logs.
-- Timestamps are RFC 3339 UTC with milliseconds (lexicographic order = time order).

CREATE TABLE provisioning_events (
    seq              INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant           TEXT NOT NULL,
    source_system_id TEXT NOT NULL,
    entity_type      TEXT NOT NULL CHECK (entity_type IN ('user', 'group')),
    entity_id        TEXT NOT NULL,
    operation        TEXT NOT NULL CHECK (operation IN ('upsert', 'delete')),
    -- The body as received (upserts); NULL for deletes.
    payload          TEXT,
    accepted_at      TEXT NOT NULL
);
CREATE INDEX provisioning_events_by_tenant ON provisioning_events (tenant, seq);

CREATE TABLE deliveries (
    seq              INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant           TEXT    NOT NULL,
    target_system_id TEXT    NOT NULL,
    event_seq        INTEGER NOT NULL REFERENCES provisioning_events (seq),
    entity_type      TEXT    NOT NULL CHECK (entity_type IN ('user', 'group')),
    entity_id        TEXT    NOT NULL,
    state            TEXT    NOT NULL
        CHECK (state IN ('pending', 'delivered', 'failed', 'superseded')),
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  TEXT    NOT NULL,
    last_error       TEXT,
    updated_at       TEXT    NOT NULL
);
-- Per entity and target (coalescing, strict order) and the outbox scan in seq order.
CREATE INDEX deliveries_by_entity
    ON deliveries (state, tenant, target_system_id, entity_type, entity_id, seq);
CREATE INDEX deliveries_by_state ON deliveries (state, seq);
CREATE INDEX deliveries_by_target ON deliveries (tenant, target_system_id, state);
CREATE INDEX deliveries_by_event ON deliveries (event_seq);

CREATE TABLE id_mappings (
    tenant           TEXT    NOT NULL,
    target_system_id TEXT    NOT NULL,
    entity_type      TEXT    NOT NULL CHECK (entity_type IN ('user', 'group')),
    source_id        TEXT    NOT NULL,
    target_id        TEXT    NOT NULL,
    existed_before   INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant, target_system_id, entity_type, source_id)
);

CREATE TABLE realtime_logs (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant             TEXT NOT NULL,
    started_at         TEXT NOT NULL,
    source_system      TEXT NOT NULL,
    source_system_name TEXT NOT NULL,
    entity_type        TEXT NOT NULL CHECK (entity_type IN ('user', 'group')),
    entity_id_source   TEXT,
    entity_id_target   TEXT,
    status             TEXT NOT NULL
        CHECK (status IN ('Finished Successfully', 'Finished with Error')),
    message            TEXT,
    -- JSON array of {system, role: source|target, operation, state, additionalInformation, reason}.
    details            TEXT NOT NULL,
    -- The entity content; only stored when an ips.trace.* property asks for it.
    content            TEXT
);
CREATE INDEX realtime_logs_by_tenant ON realtime_logs (tenant, started_at);
CREATE INDEX realtime_logs_by_system ON realtime_logs (tenant, source_system, started_at);
