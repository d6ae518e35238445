//! Pure planning of real-time pushes: which entities of a batch of change records to send, and
//! with which operation (coalescing), plus the entity URLs of a target.
//!
//! Invariants: one action per entity per batch, the entity's LATEST operation (only the latest
//! state is sent; the body is read at send time); entities keep the order of their first change
//! in the batch; groups are planned only when the target asks for them.

use crate::directory::Kind;
use crate::store::{ChangeRecord, Operation};

/// What to do with one entity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedPush {
    pub kind: Kind,
    pub entity_id: String,
    /// `true`: DELETE; `false`: POST the current state.
    pub delete: bool,
}

/// Coalesces `changes` (oldest first) to one push per entity.
pub fn coalesce(changes: &[ChangeRecord], groups: bool) -> Vec<PlannedPush> {
    let mut plan: Vec<PlannedPush> = Vec::new();
    let mut index: std::collections::HashMap<(Kind, &str), usize> = Default::default();
    for change in changes {
        if change.kind == Kind::Group && !groups {
            continue;
        }
        let delete = change.operation == Operation::Delete;
        match index.get(&(change.kind, change.entity_id.as_str())) {
            Some(&i) => plan[i].delete = delete,
            None => {
                index.insert((change.kind, change.entity_id.as_str()), plan.len());
                plan.push(PlannedPush {
                    kind: change.kind,
                    entity_id: change.entity_id.clone(),
                    delete,
                });
            }
        }
    }
    plan
}

/// The entity collection URL of `kind` from the target's user URL (`…/entities/user`).
pub fn entity_url(user_url: &str, kind: Kind) -> String {
    let base = user_url.trim().trim_end_matches('/');
    match kind {
        Kind::User => base.to_string(),
        Kind::Group => match base.strip_suffix("/user") {
            Some(prefix) => format!("{prefix}/group"),
            None => format!("{base}/../group"),
        },
    }
}

/// `…/entities` (the client base) of a user URL; paths `/user`, `/group` are appended.
pub fn entities_base(user_url: &str) -> String {
    let base = user_url.trim().trim_end_matches('/');
    base.strip_suffix("/user").unwrap_or(base).to_string()
}

/// The path below [`entities_base`] of an entity collection.
pub fn kind_path(kind: Kind) -> &'static str {
    match kind {
        Kind::User => "/user",
        Kind::Group => "/group",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::directory::Origin;

    fn change(seq: i64, kind: Kind, id: &str, op: Operation) -> ChangeRecord {
        ChangeRecord {
            seq,
            tenant: "acme".into(),
            kind,
            entity_id: id.into(),
            operation: op,
            origin: Origin::ScimV2,
            at: jiff::Timestamp::now(),
        }
    }

    #[test]
    fn latest_operation_wins_and_first_order_is_kept() {
        let changes = [
            change(1, Kind::User, "a", Operation::Create),
            change(2, Kind::User, "b", Operation::Create),
            change(3, Kind::User, "a", Operation::Delete),
            change(4, Kind::Group, "g", Operation::Create),
            change(5, Kind::User, "b", Operation::Update),
        ];
        let plan = coalesce(&changes, false);
        assert_eq!(plan.len(), 2);
        assert_eq!((plan[0].entity_id.as_str(), plan[0].delete), ("a", true));
        assert_eq!((plan[1].entity_id.as_str(), plan[1].delete), ("b", false));
        let with_groups = coalesce(&changes, true);
        assert_eq!(with_groups.len(), 3);
        assert_eq!(with_groups[2].kind, Kind::Group);
    }

    #[test]
    fn recreated_entity_is_upserted() {
        let changes = [
            change(1, Kind::User, "a", Operation::Delete),
            change(2, Kind::User, "a", Operation::Create),
        ];
        assert!(!coalesce(&changes, false)[0].delete);
    }

    #[test]
    fn urls() {
        let u = "https://h/tenants/acme/ipsproxy/service/api/v1/systems/s/entities/user";
        assert_eq!(
            entity_url(u, Kind::Group),
            "https://h/tenants/acme/ipsproxy/service/api/v1/systems/s/entities/group"
        );
        assert_eq!(
            entities_base(u),
            "https://h/tenants/acme/ipsproxy/service/api/v1/systems/s/entities"
        );
    }
}
