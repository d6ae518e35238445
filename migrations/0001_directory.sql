-- The identity directory: users, groups, memberships, and the change log that real-time
-- provisioning consumes. Bodies are the SCIM JSON without id, meta, groups and members.
CREATE TABLE users (
    tenant        TEXT    NOT NULL,
    id            TEXT    NOT NULL,
    seq           INTEGER NOT NULL,
    version       INTEGER NOT NULL,
    created       TEXT    NOT NULL,
    last_modified TEXT    NOT NULL,
    body          TEXT    NOT NULL,
    PRIMARY KEY (tenant, id)
);
CREATE INDEX users_by_seq ON users (tenant, seq);

CREATE TABLE groups (
    tenant        TEXT    NOT NULL,
    id            TEXT    NOT NULL,
    seq           INTEGER NOT NULL,
    version       INTEGER NOT NULL,
    created       TEXT    NOT NULL,
    last_modified TEXT    NOT NULL,
    body          TEXT    NOT NULL,
    PRIMARY KEY (tenant, id)
);
CREATE INDEX groups_by_seq ON groups (tenant, seq);

CREATE TABLE memberships (
    tenant      TEXT NOT NULL,
    group_id    TEXT NOT NULL,
    member_id   TEXT NOT NULL,
    member_type TEXT NOT NULL CHECK (member_type IN ('User', 'Group')),
    PRIMARY KEY (tenant, group_id, member_id),
    FOREIGN KEY (tenant, group_id) REFERENCES groups (tenant, id) ON DELETE CASCADE
);
CREATE INDEX memberships_by_member ON memberships (tenant, member_id);

CREATE TABLE changes (
    seq       INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant    TEXT NOT NULL,
    kind      TEXT NOT NULL CHECK (kind IN ('User', 'Group')),
    entity_id TEXT NOT NULL,
    operation TEXT NOT NULL CHECK (operation IN ('create', 'update', 'delete')),
    origin    TEXT NOT NULL,
    at        TEXT NOT NULL,
    body      TEXT
);
CREATE INDEX changes_by_tenant ON changes (tenant, seq);
