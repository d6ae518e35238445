//! Schema migrations, embedded in the binary so that it is self-contained.
//!
//! Invariants: migrations are applied in version order, all pending ones in ONE transaction at
//! open; an applied migration is recorded in `schema_migrations` and never applied again; a
//! database newer than this binary (an unknown applied version) is refused.

use sqlx::{Connection, Row, SqliteConnection};

use super::StoreError;

/// `(version, name, SQL)` in ascending version order.
pub const MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        1,
        "directory",
        include_str!("../../migrations/0001_directory.sql"),
    ),
    (
        2,
        "provisioning",
        include_str!("../../migrations/0002_provisioning.sql"),
    ),
    (3, "jobs", include_str!("../../migrations/0003_jobs.sql")),
    (
        4,
        "realtime_targets",
        include_str!("../../migrations/0004_realtime_targets.sql"),
    ),
    (
        5,
        "no_seq_indexes",
        include_str!("../../migrations/0005_no_seq_indexes.sql"),
    ),
];

/// Applies every pending migration in one transaction.
pub async fn apply(conn: &mut SqliteConnection) -> Result<Vec<i64>, StoreError> {
    let mut tx = conn
        .begin()
        .await
        .map_err(StoreError::sql("begin migrations"))?;
    sqlx::query(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
            version    INTEGER PRIMARY KEY,
            name       TEXT NOT NULL,
            applied_at TEXT NOT NULL
        )",
    )
    .execute(&mut *tx)
    .await
    .map_err(StoreError::sql("create schema_migrations"))?;
    let applied: Vec<i64> = sqlx::query("SELECT version FROM schema_migrations ORDER BY version")
        .fetch_all(&mut *tx)
        .await
        .map_err(StoreError::sql("read schema_migrations"))?
        .iter()
        .map(|row| row.try_get::<i64, _>("version"))
        .collect::<Result<_, _>>()
        .map_err(StoreError::sql("read schema_migrations"))?;
    if let Some(unknown) = applied
        .iter()
        .find(|v| !MIGRATIONS.iter().any(|(m, _, _)| m == *v))
    {
        return Err(StoreError::SchemaTooNew { version: *unknown });
    }
    let mut newly = Vec::new();
    for (version, name, sql) in MIGRATIONS {
        if applied.contains(version) {
            continue;
        }
        sqlx::raw_sql(*sql)
            .execute(&mut *tx)
            .await
            .map_err(StoreError::sql("apply migration"))?;
        sqlx::query("INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)")
            .bind(version)
            .bind(*name)
            .bind(jiff::Timestamp::now().to_string())
            .execute(&mut *tx)
            .await
            .map_err(StoreError::sql("record migration"))?;
        newly.push(*version);
    }
    tx.commit()
        .await
        .map_err(StoreError::sql("commit migrations"))?;
    Ok(newly)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_ascend_without_gaps() {
        for (i, (version, _, sql)) in MIGRATIONS.iter().enumerate() {
            assert_eq!(*version, i as i64 + 1);
            assert!(!sql.trim().is_empty());
        }
    }
}
