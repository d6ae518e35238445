-- Provisioning jobs (spec/domain.md §3.6): the runs with their statistics and failed entities
-- (the job log), the per-source delta state (watermark and delta read counter), and what each
-- job provisioned per target (content hash, for "only new or changed" and for deletes).
-- "Existed before" flags live in id_mappings.existed_before (migration 0002).
-- Timestamps are RFC 3339 UTC with milliseconds (lexicographic order = time order).

CREATE TABLE job_runs (
    id               TEXT PRIMARY KEY,
    tenant           TEXT NOT NULL,
    source_system_id TEXT NOT NULL,
    job_type         TEXT NOT NULL CHECK (job_type IN ('READ', 'RESYNC')),
    trigger_type     TEXT NOT NULL CHECK (trigger_type IN ('IMMEDIATE', 'REPEAT')),
    -- 'Full Read' | 'Delta Read'; NULL while queued.
    read_mode        TEXT,
    status           TEXT NOT NULL,
    triggered_by     TEXT NOT NULL,
    created_at       TEXT NOT NULL,
    started_at       TEXT,
    finished_at      TEXT,
    -- JSON array of {systemId, system, role, read, created, updated, deleted, skipped, failed}.
    statistics       TEXT NOT NULL,
    -- JSON array (at most 10) of {system, entityType, entityId, operation, reason}.
    failed_entities  TEXT NOT NULL,
    message          TEXT
);
CREATE INDEX job_runs_by_source ON job_runs (tenant, source_system_id, created_at);

CREATE TABLE job_source_state (
    tenant                 TEXT    NOT NULL,
    source_system_id       TEXT    NOT NULL,
    -- Start time of the last successful run: a delta read asks for entities changed after it.
    watermark              TEXT,
    -- Scheduled delta reads since the last full read (ips.full.read.force.count).
    delta_reads_since_full INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant, source_system_id)
);

CREATE TABLE job_entities (
    tenant           TEXT NOT NULL,
    source_system_id TEXT NOT NULL,
    target_system_id TEXT NOT NULL,
    entity_type      TEXT NOT NULL CHECK (entity_type IN ('user', 'group')),
    source_id        TEXT NOT NULL,
    -- Hash of the source entity as last written to the target.
    content_hash     TEXT NOT NULL,
    PRIMARY KEY (tenant, source_system_id, target_system_id, entity_type, source_id)
);
