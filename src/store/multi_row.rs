//! Multi-row INSERT statements for the directory writes of a batch (resource upserts,
//! membership additions, change records), so that a batch of N creates costs a few statements
//! instead of 2N.
//!
//! Invariants:
//! - A [`Segment`] only takes writes that commute across tables: `Upsert`, `AddMember` and
//!   `Change` touch different tables and read nothing another of them writes (no triggers), so
//!   flushing a segment as "user upserts, group upserts, memberships, changes", each in batch
//!   order, leaves the same rows as applying the writes one by one. Resource rows go before
//!   memberships (the membership foreign key needs its group row). Any other write ends the
//!   segment: the caller flushes it first and then adds that write's statements.
//! - Chunks have 64, 32, …, 1 rows (at most 448 variables, far below SQLite's limit), so each
//!   table uses at most seven distinct SQL texts and the write connection's prepared-statement
//!   cache keeps reusing them.
//! - Segments only build statements: they are flushed into the batch's [`Script`], which the
//!   write connection runs in one transaction.

use std::sync::OnceLock;

use super::rows::{RowWrite, format_timestamp};
use super::script::{Bind, Script};
use crate::directory::Kind;

/// The largest chunk (rows per statement).
pub(super) const MAX_CHUNK: usize = 64;
/// The chunk sizes: 64, 32, 16, 8, 4, 2, 1.
const CHUNK_SIZES: [usize; 7] = [
    MAX_CHUNK,
    MAX_CHUNK / 2,
    MAX_CHUNK / 4,
    MAX_CHUNK / 8,
    MAX_CHUNK / 16,
    MAX_CHUNK / 32,
    1,
];

/// The tables a segment inserts into, in flush order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Table {
    Users,
    Groups,
    Memberships,
    Changes,
}

impl Table {
    const ALL: [Table; 4] = [
        Table::Users,
        Table::Groups,
        Table::Memberships,
        Table::Changes,
    ];

    fn index(self) -> usize {
        self as usize
    }

    fn columns(self) -> usize {
        match self {
            Table::Users | Table::Groups => 7,
            Table::Changes => 6,
            Table::Memberships => 4,
        }
    }

    fn head(self) -> &'static str {
        match self {
            Table::Users => {
                "INSERT INTO users (tenant, id, seq, version, created, last_modified, body) VALUES "
            }
            Table::Groups => {
                "INSERT INTO groups (tenant, id, seq, version, created, last_modified, body) VALUES "
            }
            Table::Memberships => {
                "INSERT INTO memberships (tenant, group_id, member_id, member_type) VALUES "
            }
            Table::Changes => {
                "INSERT INTO changes (tenant, kind, entity_id, operation, origin, at) VALUES "
            }
        }
    }

    fn tail(self) -> &'static str {
        match self {
            Table::Users | Table::Groups => {
                " ON CONFLICT (tenant, id) DO UPDATE SET version = excluded.version, \
                 last_modified = excluded.last_modified, body = excluded.body"
            }
            Table::Memberships => {
                " ON CONFLICT (tenant, group_id, member_id) DO UPDATE SET \
                 member_type = excluded.member_type"
            }
            Table::Changes => "",
        }
    }
}

/// The table a segment inserts `write` into; `None` for writes a segment does not take.
fn table_of(write: &RowWrite) -> Option<Table> {
    Some(match write {
        RowWrite::Upsert {
            kind: Kind::User, ..
        } => Table::Users,
        RowWrite::Upsert {
            kind: Kind::Group, ..
        } => Table::Groups,
        RowWrite::AddMember { .. } => Table::Memberships,
        RowWrite::Change { .. } => Table::Changes,
        _ => return None,
    })
}

/// The statement inserting `rows` rows (one of [`CHUNK_SIZES`]) into `table`.
fn statement(table: Table, rows: usize) -> &'static str {
    static TEXTS: OnceLock<Vec<Vec<String>>> = OnceLock::new();
    let texts = TEXTS.get_or_init(|| {
        Table::ALL
            .iter()
            .map(|t| CHUNK_SIZES.iter().map(|n| statement_text(*t, *n)).collect())
            .collect()
    });
    let size = CHUNK_SIZES.iter().position(|n| *n == rows).unwrap_or(0);
    &texts[table.index()][size]
}

fn statement_text(table: Table, rows: usize) -> String {
    let tuple = format!("({})", vec!["?"; table.columns()].join(", "));
    format!(
        "{}{}{}",
        table.head(),
        vec![tuple; rows].join(", "),
        table.tail()
    )
}

/// Splits `n` rows into chunk sizes from [`CHUNK_SIZES`] (largest first).
fn chunks(mut n: usize) -> impl Iterator<Item = usize> {
    std::iter::from_fn(move || {
        let size = CHUNK_SIZES.iter().copied().find(|c| *c <= n)?;
        n -= size;
        Some(size)
    })
}

/// The directory writes of a batch waiting to be inserted, per table in batch order.
#[derive(Debug, Default)]
pub(super) struct Segment<'w> {
    rows: [Vec<&'w RowWrite>; 4],
}

impl<'w> Segment<'w> {
    /// Takes `write` when it is one a segment batches; `false` (nothing taken) otherwise.
    pub(super) fn take(&mut self, write: &'w RowWrite) -> bool {
        let Some(table) = table_of(write) else {
            return false;
        };
        self.rows[table.index()].push(write);
        true
    }

    /// Adds the inserts of everything taken to `script`, table by table (each in batch
    /// order, as chunk statements), and empties the segment.
    pub(super) fn flush(&mut self, script: &mut Script) {
        for table in Table::ALL {
            let rows = std::mem::take(&mut self.rows[table.index()]);
            let mut rest = rows.as_slice();
            for size in chunks(rows.len()) {
                let (chunk, tail) = rest.split_at(size);
                rest = tail;
                script.statement_with(statement(table, size), |binds| {
                    for write in chunk {
                        push_row_binds(write, binds);
                    }
                });
            }
        }
    }
}

/// Adds the binds of one row, in the order of [`Table::head`] (none for writes a segment does
/// not take: `Segment::take` admits only the three kinds below).
fn push_row_binds(write: &RowWrite, binds: &mut Vec<Bind>) {
    match write {
        RowWrite::Upsert {
            tenant,
            id,
            seq,
            version,
            created,
            last_modified,
            body,
            ..
        } => binds.extend([
            Bind::shared(tenant),
            Bind::shared(id),
            Bind::Int(*seq),
            Bind::Int(*version),
            Bind::Owned(format_timestamp(*created)),
            Bind::Owned(format_timestamp(*last_modified)),
            Bind::shared(body),
        ]),
        RowWrite::AddMember {
            tenant,
            group_id,
            member_id,
            member_type,
        } => binds.extend([
            Bind::shared(tenant),
            Bind::shared(group_id),
            Bind::shared(member_id),
            Bind::Word(member_type.name()),
        ]),
        RowWrite::Change {
            tenant,
            kind,
            entity_id,
            operation,
            origin,
            at,
        } => binds.extend([
            Bind::shared(tenant),
            Bind::Word(kind.name()),
            Bind::shared(entity_id),
            Bind::Word(operation.as_str()),
            Bind::Owned(origin.as_stored()),
            Bind::Owned(format_timestamp(*at)),
        ]),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_are_powers_of_two_up_to_the_maximum() {
        assert_eq!(chunks(0).count(), 0);
        assert_eq!(chunks(1).collect::<Vec<_>>(), vec![1]);
        assert_eq!(chunks(7).collect::<Vec<_>>(), vec![4, 2, 1]);
        assert_eq!(chunks(64).collect::<Vec<_>>(), vec![64]);
        assert_eq!(chunks(200).collect::<Vec<_>>(), vec![64, 64, 64, 8]);
        assert!(chunks(1000).all(|c| c <= MAX_CHUNK));
        assert_eq!(chunks(1000).sum::<usize>(), 1000);
    }

    #[test]
    fn statements_have_one_placeholder_per_column_and_row() {
        for table in Table::ALL {
            for size in CHUNK_SIZES {
                let sql = statement(table, size);
                assert_eq!(sql.matches('?').count(), size * table.columns(), "{sql}");
            }
        }
        assert!(statement(Table::Users, 2).ends_with("body = excluded.body"));
        assert!(statement(Table::Changes, 1).ends_with("(?, ?, ?, ?, ?, ?)"));
    }
}
