-- Real-time targets (spec/domain.md §1.7, architecture §4): the per-target cursor into the
-- tenant's change log (advanced only after the target acknowledged everything up to it) and the
-- resumable cursor of a Provision run. Loop prevention reads the change log itself (a user is
-- managed by a provisioning job once any change record of it has origin `job:<id>`), hence the
-- per-entity index.
CREATE TABLE realtime_cursors (
    tenant          TEXT    NOT NULL,
    -- `namespace/name` of the RealTimeTarget resource.
    target          TEXT    NOT NULL,
    -- Last change seq acknowledged by the target.
    change_seq      INTEGER NOT NULL DEFAULT 0,
    -- The provisionRequest token of the last finished Provision (NULL: never provisioned).
    provisioned_request TEXT,
    -- Provision in progress: its request token and the last user id pushed (users go in id order).
    provision_request   TEXT,
    provision_after     TEXT,
    provisioned_count   INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant, target)
);

CREATE INDEX changes_by_entity ON changes (tenant, kind, entity_id);
