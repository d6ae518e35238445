-- The directory keeps its order (seq) in memory; the store reads a tenant's users and groups in
-- seq order only when it loads the tenant (a sort at start-up). The (tenant, seq) indexes cost
-- one more B-tree insert per create on the commit path for that one read, so they go.
DROP INDEX IF EXISTS users_by_seq;
DROP INDEX IF EXISTS groups_by_seq;
