//! Differential tests: the same SCIM requests go to idrelay and to the reference server
//! `scim2-server` (PyPI, in memory), and the answers are compared where RFC 7643/7644 fix
//! them.
//!
//! Both servers first get the same data set (users with names, emails, active flags,
//! titles and enterprise fields; groups with members), created in the same order. Then a
//! fixed sequence of cases runs against both: filters, sorting, index paging, `.search`,
//! attribute projection, PATCH (checked by reading back the touched fields) and errors.
//!
//! Invariants of the comparison:
//! - Server-chosen values are normalised away: `id`, `meta`, `schemas`, and the `$ref`,
//!   `display` and `type` of references; ids inside values become `<id:NAME>` so that
//!   references compare.
//! - Multi-valued attributes compare as sets (RFC 7643 §2.4: no order is defined); lists
//!   compare in order only when the request has `sortBy`.
//! - Successful writes compare by exact status, except that 200 and 204 are the same after
//!   PATCH (RFC 7644 §3.5.2); errors by exact status, the body's `status` (a string,
//!   §3.12) and `scimType`.
//! - Where the two legitimately differ, the difference is excluded with its reason next to
//!   the exclusion (see [`normalise`]).

use crate::support;

use std::collections::BTreeMap;
use std::fmt::Write as _;

use reqwest::Method;
use serde_json::{Map, Value, json};
use support::{ALL_DIRECTORY_PERMISSIONS, Idrelay, Scim, Scim2Server, with_query};

const CORE_USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const CORE_GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
const SEARCH_REQUEST: &str = "urn:ietf:params:scim:api:messages:2.0:SearchRequest";

/// A server under comparison, with the ids it assigned (by userName / displayName).
struct Side {
    label: &'static str,
    scim: Scim,
    ids: BTreeMap<String, String>,
}

impl Side {
    fn new(label: &'static str, scim: Scim) -> Side {
        Side {
            label,
            scim,
            ids: BTreeMap::new(),
        }
    }

    /// Replaces every `{id:NAME}` in `template` (also percent-encoded, as in a query
    /// string) by the id this side gave NAME.
    fn fill(&self, template: &str) -> String {
        let mut out = template.to_string();
        for (name, id) in &self.ids {
            let placeholder = format!("{{id:{name}}}");
            out = out.replace(&support::encode_query_value(&placeholder), id);
            out = out.replace(&placeholder, id);
        }
        assert!(
            !out.contains("{id:") && !out.contains("%7Bid%3A"),
            "unknown name in template {template}"
        );
        out
    }

    fn fill_json(&self, template: &Value) -> Value {
        serde_json::from_str(&self.fill(&template.to_string())).unwrap()
    }

    fn name_of(&self, id: &str) -> Option<&str> {
        self.ids
            .iter()
            .find(|(_, v)| v.as_str() == id)
            .map(|(k, _)| k.as_str())
    }
}

// ---------------------------------------------------------------------------------------
// The data set
// ---------------------------------------------------------------------------------------

/// Ten users. userNames are unique even ignoring case and mix case (to exercise
/// caseExact=false ordering and matching); givenNames are unique (a sort key without
/// ties); familyNames repeat (filters); every user has `active` and `userType`.
fn users() -> Vec<Value> {
    #[allow(clippy::type_complexity)]
    let rows: [(
        &str,
        &str,
        &str,
        bool,
        Option<&str>,
        &str,
        &str,
        Option<(&str, &str)>,
    ); 10] = [
        (
            "alice@example.com",
            "Alice",
            "Smith",
            true,
            Some("Engineer"),
            "Employee",
            "ext-1",
            Some(("1001", "Engineering")),
        ),
        (
            "Bob@Example.com",
            "Bob",
            "Jones",
            true,
            Some("Manager"),
            "Employee",
            "ext-2",
            Some(("1002", "Sales")),
        ),
        (
            "carol@example.org",
            "Carol",
            "Smith",
            false,
            None,
            "Contractor",
            "ext-3",
            Some(("", "Sales")),
        ),
        (
            "dave@example.org",
            "Dave",
            "Brown",
            true,
            Some("Engineer"),
            "Employee",
            "EXT-4",
            Some(("1004", "Engineering")),
        ),
        (
            "Erin@example.net",
            "Erin",
            "White",
            false,
            Some("Sales Rep"),
            "Employee",
            "ext-5",
            Some(("1005", "Sales")),
        ),
        (
            "frank@example.com",
            "Frank",
            "Smithers",
            true,
            None,
            "Contractor",
            "ext-6",
            None,
        ),
        (
            "grace@example.net",
            "Grace",
            "Hopper",
            true,
            Some("Admiral"),
            "Employee",
            "ext-7",
            Some(("1007", "")),
        ),
        (
            "heidi@example.com",
            "Heidi",
            "Adams",
            true,
            Some("Engineer"),
            "Employee",
            "ext-8",
            None,
        ),
        (
            "ivan@example.org",
            "Ivan",
            "Petrov",
            false,
            None,
            "Contractor",
            "ext-9",
            None,
        ),
        (
            "judy@example.com",
            "Judy",
            "Smith",
            true,
            Some("Manager"),
            "Employee",
            "ext-10",
            None,
        ),
    ];
    rows.iter()
        .map(|(user_name, given, family, active, title, user_type, external_id, enterprise)| {
            let local = user_name.split('@').next().unwrap().to_lowercase();
            let mut user = json!({
                "schemas": [CORE_USER],
                "userName": user_name,
                "externalId": external_id,
                "name": {"givenName": given, "familyName": family, "formatted": format!("{given} {family}")},
                "displayName": format!("{given} {family}"),
                "active": active,
                "userType": user_type,
            });
            // Frank has no email at all; some users have a home address too.
            if local != "frank" {
                let mut emails = vec![json!({"type": "work", "value": user_name.to_lowercase(), "primary": true})];
                if ["alice", "dave", "ivan"].contains(&local.as_str()) {
                    emails.push(json!({"type": "home", "value": format!("{local}@home.net")}));
                }
                user["emails"] = Value::Array(emails);
            }
            if let Some(title) = title {
                user["title"] = json!(title);
            }
            if let Some((number, department)) = enterprise {
                let mut ext = Map::new();
                if !number.is_empty() {
                    ext.insert("employeeNumber".into(), json!(number));
                }
                if !department.is_empty() {
                    ext.insert("department".into(), json!(department));
                }
                user["schemas"] = json!([CORE_USER, ENTERPRISE]);
                user[ENTERPRISE] = Value::Object(ext);
            }
            user
        })
        .collect()
}

/// Groups by displayName with their members' userNames.
fn groups() -> Vec<(&'static str, Vec<&'static str>)> {
    vec![
        (
            "Engineering",
            vec!["alice@example.com", "dave@example.org", "heidi@example.com"],
        ),
        (
            "Sales",
            vec!["Bob@Example.com", "carol@example.org", "Erin@example.net"],
        ),
        (
            "All Staff",
            vec![
                "alice@example.com",
                "Bob@Example.com",
                "frank@example.com",
                "judy@example.com",
            ],
        ),
        ("empty", vec![]),
    ]
}

/// Creates the data set on `side`, recording the ids it assigns.
async fn load(side: &mut Side) {
    for user in users() {
        let reply = side.scim.post("/Users", &user).await;
        assert_eq!(
            reply.status.as_u16(),
            201,
            "[{}] create user: {}",
            side.label,
            reply.describe()
        );
        side.ids
            .insert(user["userName"].as_str().unwrap().to_string(), reply.id());
    }
    for (name, members) in groups() {
        let members: Vec<Value> = members
            .iter()
            .map(|m| json!({"value": side.ids[*m]}))
            .collect();
        let body = json!({"schemas": [CORE_GROUP], "displayName": name, "members": members});
        let reply = side.scim.post("/Groups", &body).await;
        assert_eq!(
            reply.status.as_u16(),
            201,
            "[{}] create group: {}",
            side.label,
            reply.describe()
        );
        side.ids.insert(name.to_string(), reply.id());
    }
}

// ---------------------------------------------------------------------------------------
// Cases
// ---------------------------------------------------------------------------------------

/// What part of an answer the RFC fixes, and so what is compared.
enum Compare {
    /// A ListResponse: status, totalResults, startIndex, itemsPerPage and the resources'
    /// names (userName or displayName) — in order when `ordered` (a `sortBy` request),
    /// else as a set.
    List { ordered: bool },
    /// A ListResponse's counts only (no sortBy, and a page of an unordered list).
    Counts,
    /// A ListResponse or resource with its normalised resources in full (projection).
    Resources,
    /// A write: status class for success, else the error; then the listed fields of
    /// the resource read back after it.
    Write {
        read_back: String,
        fields: &'static [&'static str],
    },
    /// Only the status (class for 2xx) and, on errors, the error fields.
    Status,
}

struct Case {
    /// What is checked and which RFC rule fixes the answer.
    why: &'static str,
    method: Method,
    /// Path with `{id:NAME}` placeholders.
    path: String,
    body: Option<Value>,
    compare: Compare,
}

fn get(why: &'static str, path: String, compare: Compare) -> Case {
    Case {
        why,
        method: Method::GET,
        path,
        body: None,
        compare,
    }
}

fn users_filter(filter: &str) -> String {
    with_query("/Users", &[("filter", filter), ("sortBy", "userName")])
}

fn patch_user(
    why: &'static str,
    user: &'static str,
    ops: Value,
    fields: &'static [&'static str],
) -> Case {
    patch_resource(why, "Users", user, ops, fields)
}

fn patch_resource(
    why: &'static str,
    kind: &'static str,
    name: &'static str,
    ops: Value,
    fields: &'static [&'static str],
) -> Case {
    let path = format!("/{kind}/{{id:{name}}}");
    Case {
        why,
        method: Method::PATCH,
        path: path.clone(),
        body: Some(support::patch_op(ops)),
        compare: Compare::Write {
            read_back: path,
            fields,
        },
    }
}

const UNKNOWN_ID: &str = "0b7a5d6e-1c2f-4e3a-9b8c-7d6e5f4a3b2c";

/// The sequence, in order (later cases see the writes of earlier ones).
fn cases() -> Vec<Case> {
    use Compare::*;
    let mut cases = Vec::new();

    // --- Filters (RFC 7644 §3.4.2.2). All with sortBy=userName so the order is fixed too.
    let filters: &[(&str, &str)] = &[
        ("eq on userName", r#"userName eq "alice@example.com""#),
        (
            "userName is caseExact=false: eq ignores case (RFC 7643 §4.1.1)",
            r#"userName eq "BOB@EXAMPLE.COM""#,
        ),
        (
            "attribute names are case-insensitive (RFC 7643 §2.1)",
            r#"UserName eq "alice@example.com""#,
        ),
        (
            "operators are case-insensitive (§3.4.2.2)",
            r#"userName EQ "alice@example.com""#,
        ),
        ("sw ignores case on caseExact=false", r#"userName sw "A""#),
        ("co", r#"userName co "example.org""#),
        ("ew ignores case", r#"userName ew ".NET""#),
        (
            "no match is an empty ListResponse",
            r#"userName eq "nobody@example.com""#,
        ),
        ("sub-attribute path", r#"name.familyName eq "Smith""#),
        (
            "sw on a sub-attribute, case-insensitive",
            r#"name.familyName sw "smith""#,
        ),
        ("boolean eq", "active eq false"),
        ("and", r#"active eq true and title eq "Engineer""#),
        ("or", r#"title eq "Engineer" or title eq "Manager""#),
        (
            "and binds tighter than or",
            r#"userName sw "a" or userName sw "b" and active eq false"#,
        ),
        (
            "grouping overrides precedence",
            r#"(userName sw "a" or userName sw "b") and active eq true"#,
        ),
        ("not", "not (active eq true)"),
        ("pr", "title pr"),
        ("not pr: absent attributes", "not (title pr)"),
        (
            "ne on an attribute every user has",
            r#"userType ne "Employee""#,
        ),
        (
            "gt on strings compares case-insensitively for caseExact=false",
            r#"name.givenName gt "f""#,
        ),
        ("le on strings", r#"name.givenName le "Bob""#),
        ("complex value filter", r#"emails[type eq "home"]"#),
        (
            "complex value filter with and",
            r#"emails[type eq "work" and value co "example.org"]"#,
        ),
        (
            "multi-valued sub-attribute matches any value",
            r#"emails.value ew "home.net""#,
        ),
        (
            "externalId is caseExact: exact match",
            r#"externalId eq "ext-1""#,
        ),
        (
            "externalId is caseExact: other case does not match",
            r#"externalId eq "EXT-1""#,
        ),
        (
            "externalId is caseExact: stored upper case",
            r#"externalId eq "ext-4""#,
        ),
        (
            "URN-qualified extension attribute",
            &format!(r#"{ENTERPRISE}:employeeNumber eq "1002""#),
        ),
        (
            "extension attribute, caseExact=false",
            &format!(r#"{ENTERPRISE}:department eq "sales""#),
        ),
        ("dateTime gt", r#"meta.created gt "2000-01-01T00:00:00Z""#),
        (
            "dateTime lt",
            r#"meta.lastModified lt "2000-01-01T00:00:00Z""#,
        ),
    ];
    for (why, filter) in filters {
        cases.push(get(why, users_filter(filter), List { ordered: true }));
    }
    let group_filters: &[(&str, &str)] = &[
        ("group displayName eq", r#"displayName eq "Sales""#),
        (
            "group members.value eq",
            r#"members.value eq "{id:alice@example.com}""#,
        ),
        (
            "group members value filter",
            r#"members[value eq "{id:carol@example.org}"]"#,
        ),
    ];
    for (why, filter) in group_filters {
        cases.push(get(
            why,
            with_query("/Groups", &[("filter", filter), ("sortBy", "displayName")]),
            List { ordered: true },
        ));
    }

    // --- Bad filters: 400 invalidFilter (RFC 7644 §3.4.2.2, §3.12).
    for filter in [
        "userName eq",
        r#"userName xx "a""#,
        r#"(userName eq "a""#,
        r#"userName eq "a" and"#,
        // gt/ge/lt/le on a boolean SHALL fail with invalidFilter (§3.4.2.2).
        "active gt true",
    ] {
        cases.push(get(
            "malformed filter: 400 invalidFilter",
            with_query("/Users", &[("filter", filter)]),
            Status,
        ));
    }
    // Excluded: a filter on an attribute no schema defines (`foo eq "x"`): the RFC does not
    // say whether that is invalidFilter or simply matches nothing.

    // --- Sorting (§3.4.2.3): ascending by default; caseExact=false strings sort ignoring case.
    cases.push(get(
        "sortBy userName",
        "/Users?sortBy=userName".into(),
        List { ordered: true },
    ));
    cases.push(get(
        "sortBy descending",
        "/Users?sortBy=userName&sortOrder=descending".into(),
        List { ordered: true },
    ));
    cases.push(get(
        "sortBy a sub-attribute",
        "/Users?sortBy=name.givenName&sortOrder=ascending".into(),
        List { ordered: true },
    ));
    cases.push(get(
        "sort groups",
        "/Groups?sortBy=displayName".into(),
        List { ordered: true },
    ));
    // Excluded: sorting on an attribute some resources lack (title): where absent values
    // go is not fixed by the RFC.

    // --- Index paging (§3.4.2.4): 1-based startIndex, count is a maximum.
    for (why, query) in [
        ("a middle page", "sortBy=userName&startIndex=3&count=4"),
        (
            "filter + sort + page",
            "filter=active%20eq%20true&sortBy=userName&startIndex=2&count=3",
        ),
        (
            "startIndex < 1 is treated as 1",
            "sortBy=userName&startIndex=0&count=2",
        ),
        (
            "count=0 returns only totalResults",
            "sortBy=userName&count=0",
        ),
        ("negative count is treated as 0", "sortBy=userName&count=-3"),
        ("the last item", "sortBy=userName&startIndex=10&count=5"),
        (
            "startIndex past the end: empty page, same totalResults",
            "sortBy=userName&startIndex=11",
        ),
    ] {
        cases.push(get(why, format!("/Users?{query}"), List { ordered: true }));
    }
    cases.push(get(
        "paging without sortBy: counts only (order not fixed)",
        "/Users?startIndex=4&count=3".into(),
        Counts,
    ));

    // --- POST .search (§3.4.3) answers like GET.
    cases.push(Case {
        why: "POST /Users/.search with filter, sort and page",
        method: Method::POST,
        path: "/Users/.search".into(),
        body: Some(json!({
            "schemas": [SEARCH_REQUEST],
            "filter": "userName sw \"a\" or userName co \"example.com\"",
            "sortBy": "userName",
            "sortOrder": "descending",
            "startIndex": 2,
            "count": 3,
        })),
        compare: List { ordered: true },
    });

    // --- attributes / excludedAttributes (§3.4.2.5, §3.9).
    cases.push(get(
        "attributes=userName returns only it (plus id/schemas)",
        with_query(
            "/Users",
            &[
                ("filter", r#"userName eq "alice@example.com""#),
                ("attributes", "userName"),
            ],
        ),
        Resources,
    ));
    cases.push(get(
        "attributes with a sub-attribute and a multi-valued attribute",
        with_query(
            "/Users",
            &[
                ("filter", r#"userName eq "dave@example.org""#),
                ("attributes", "name.givenName,emails"),
            ],
        ),
        Resources,
    ));
    cases.push(get(
        "excludedAttributes",
        with_query(
            "/Users",
            &[
                ("filter", r#"userName eq "alice@example.com""#),
                ("excludedAttributes", "emails,name"),
            ],
        ),
        Resources,
    ));
    cases.push(get(
        "attributes on GET by id",
        "/Users/{id:grace@example.net}?attributes=userName,title".into(),
        Resources,
    ));
    cases.push(get(
        "excludedAttributes=members on groups (Entra)",
        with_query(
            "/Groups",
            &[
                ("filter", r#"displayName eq "Sales""#),
                ("excludedAttributes", "members"),
            ],
        ),
        Resources,
    ));
    cases.push(get(
        "GET a group by id",
        "/Groups/{id:Engineering}".into(),
        Resources,
    ));
    cases.push(get(
        "GET a user by id",
        "/Users/{id:alice@example.com}".into(),
        Resources,
    ));

    // --- PATCH (§3.5.2), checked by reading back the touched fields.
    let dave = "dave@example.org";
    cases.push(patch_user(
        "replace a sub-attribute",
        dave,
        json!([{"op": "replace", "path": "name.givenName", "value": "David"}]),
        &["name"],
    ));
    cases.push(patch_user(
        "replace a complex attribute: unspecified sub-attributes stay (§3.5.2.3)",
        dave,
        json!([{"op": "replace", "path": "name", "value": {"familyName": "Browne"}}]),
        &["name"],
    ));
    cases.push(patch_user(
        "add to a multi-valued attribute appends (§3.5.2.1)",
        dave,
        json!([{"op": "add", "path": "emails", "value": [{"type": "other", "value": "dave@other.io"}]}]),
        &["emails"],
    ));
    cases.push(patch_user(
        "remove with a value filter removes only the matches (§3.5.2.2)",
        dave,
        json!([{"op": "remove", "path": "emails[type eq \"home\"]"}]),
        &["emails"],
    ));
    cases.push(patch_user(
        "replace through a value path with a sub-attribute",
        dave,
        json!([{"op": "replace", "path": "emails[type eq \"work\"].value", "value": "dave@work.example"}]),
        &["emails"],
    ));
    cases.push(patch_user(
        "replace without a path: value holds the attributes",
        dave,
        json!([{"op": "replace", "value": {"displayName": "Dave B", "title": "Lead"}}]),
        &["displayName", "title"],
    ));
    cases.push(patch_user(
        "add a single-valued attribute that was absent",
        dave,
        json!([{"op": "add", "path": "nickName", "value": "D"}]),
        &["nickName"],
    ));
    cases.push(patch_user(
        "remove a single-valued attribute",
        dave,
        json!([{"op": "remove", "path": "title"}]),
        &["title"],
    ));
    cases.push(patch_user(
        "remove a sub-attribute",
        dave,
        json!([{"op": "remove", "path": "name.formatted"}]),
        &["name"],
    ));
    cases.push(patch_user(
        "replace a boolean",
        dave,
        json!([{"op": "replace", "path": "active", "value": false}]),
        &["active"],
    ));
    cases.push(patch_user(
        "URN-qualified path into the enterprise extension",
        dave,
        json!([{"op": "replace", "path": format!("{ENTERPRISE}:department"), "value": "Support"}]),
        &[ENTERPRISE],
    ));
    cases.push(patch_user(
        "several operations apply in order",
        "judy@example.com",
        json!([
            {"op": "add", "path": "emails", "value": [{"type": "home", "value": "judy@home.net"}]},
            {"op": "replace", "path": "emails[type eq \"home\"].value", "value": "judy@home.org"},
            {"op": "replace", "path": "title", "value": "Director"}
        ]),
        &["emails", "title"],
    ));
    cases.push(patch_user(
        "replace with a value filter that matches nothing: 400 noTarget (§3.5.2.3)",
        dave,
        json!([{"op": "replace", "path": "emails[type eq \"fax\"].value", "value": "x"}]),
        &["emails"],
    ));
    cases.push(patch_user(
        "remove without a path: 400 noTarget (§3.5.2.2)",
        dave,
        json!([{"op": "remove"}]),
        &["emails", "name"],
    ));
    cases.push(patch_user(
        "replace a readOnly attribute: 400 mutability (§3.5.2)",
        dave,
        json!([{"op": "replace", "path": "id", "value": "abc"}]),
        &["userName"],
    ));
    cases.push(patch_user(
        "operations are atomic: a failing op leaves nothing applied (§3.5.2)",
        dave,
        json!([
            {"op": "replace", "path": "displayName", "value": "Should Not Stick"},
            {"op": "remove"}
        ]),
        &["displayName"],
    ));
    // Excluded: replace on a path no schema defines (`nonexistent`): invalidPath or ignored
    // is not fixed by the RFC.

    // Group membership.
    cases.push(patch_resource(
        "add members",
        "Groups",
        "Engineering",
        json!([{"op": "add", "path": "members", "value": [
            {"value": "{id:grace@example.net}"}, {"value": "{id:judy@example.com}"}
        ]}]),
        &["members"],
    ));
    cases.push(patch_resource(
        "remove one member by value filter",
        "Groups",
        "Engineering",
        json!([{"op": "remove", "path": "members[value eq \"{id:alice@example.com}\"]"}]),
        &["members"],
    ));
    cases.push(patch_resource(
        "replace all members",
        "Groups",
        "Sales",
        json!([{"op": "replace", "path": "members", "value": [{"value": "{id:ivan@example.org}"}]}]),
        &["members"],
    ));
    cases.push(patch_resource(
        "rename a group",
        "Groups",
        "All Staff",
        json!([{"op": "replace", "path": "displayName", "value": "Everyone"}]),
        &["displayName"],
    ));
    cases.push(patch_resource(
        "remove all members (remove without filter empties a multi-valued attribute)",
        "Groups",
        "All Staff",
        json!([{"op": "remove", "path": "members"}]),
        &["members"],
    ));
    cases.push(get(
        "a filter sees the PATCHed values",
        users_filter(r#"emails.value eq "dave@work.example" or title eq "Director""#),
        List { ordered: true },
    ));

    // --- PUT replaces the resource (§3.5.1).
    cases.push(Case {
        why: "PUT replaces all writable attributes",
        method: Method::PUT,
        path: "/Users/{id:heidi@example.com}".into(),
        body: Some(json!({
            "schemas": [CORE_USER],
            "userName": "heidi@example.com",
            "name": {"givenName": "Heidi", "familyName": "Adams-Lee"},
            "active": false,
            "userType": "Employee",
        })),
        compare: Write {
            read_back: "/Users/{id:heidi@example.com}".into(),
            fields: &[
                "name",
                "active",
                "title",
                "emails",
                "displayName",
                "userType",
            ],
        },
    });

    // --- Errors (§3.12): unknown ids 404, uniqueness 409, missing required 400.
    for (method, kind) in [
        (Method::GET, "Users"),
        (Method::GET, "Groups"),
        (Method::DELETE, "Users"),
    ] {
        cases.push(Case {
            why: "unknown id: 404",
            method,
            path: format!("/{kind}/{UNKNOWN_ID}"),
            body: None,
            compare: Status,
        });
    }
    cases.push(Case {
        why: "PATCH an unknown id: 404",
        method: Method::PATCH,
        path: format!("/Users/{UNKNOWN_ID}"),
        body: Some(support::patch_op(
            json!([{"op": "replace", "path": "title", "value": "x"}]),
        )),
        compare: Status,
    });
    cases.push(Case {
        why: "PUT an unknown id: 404",
        method: Method::PUT,
        path: format!("/Users/{UNKNOWN_ID}"),
        body: Some(json!({"schemas": [CORE_USER], "userName": "ghost@example.com"})),
        compare: Status,
    });
    cases.push(Case {
        why: "duplicate userName: 409 uniqueness",
        method: Method::POST,
        path: "/Users".into(),
        body: Some(json!({"schemas": [CORE_USER], "userName": "alice@example.com"})),
        compare: Status,
    });
    cases.push(Case {
        why: "duplicate userName in another case (caseExact=false): 409 uniqueness",
        method: Method::POST,
        path: "/Users".into(),
        body: Some(json!({"schemas": [CORE_USER], "userName": "ALICE@example.COM"})),
        compare: Status,
    });
    cases.push(Case {
        why: "PUT taking another user's userName: 409 uniqueness",
        method: Method::PUT,
        path: "/Users/{id:Bob@Example.com}".into(),
        body: Some(json!({"schemas": [CORE_USER], "userName": "alice@example.com"})),
        compare: Write {
            read_back: "/Users/{id:Bob@Example.com}".into(),
            fields: &["userName", "name"],
        },
    });
    cases.push(Case {
        why: "missing required userName: 400 invalidValue",
        method: Method::POST,
        path: "/Users".into(),
        body: Some(json!({"schemas": [CORE_USER], "displayName": "No Name"})),
        compare: Status,
    });

    // --- DELETE (§3.6): 204, then the resource is gone and out of lists and groups.
    cases.push(Case {
        why: "DELETE a user: 204",
        method: Method::DELETE,
        path: "/Users/{id:carol@example.org}".into(),
        body: None,
        compare: Status,
    });
    cases.push(get(
        "a deleted user is 404",
        "/Users/{id:carol@example.org}".into(),
        Status,
    ));
    cases.push(get(
        "lists no longer show a deleted user",
        "/Users?sortBy=userName".into(),
        List { ordered: true },
    ));
    cases
}

// ---------------------------------------------------------------------------------------
// Running and normalising
// ---------------------------------------------------------------------------------------

/// Whether `object` is a reference to a resource of this side (a member, a manager, …):
/// an object whose `value` is one of the ids this side assigned.
fn is_reference(object: &Map<String, Value>, side: &Side) -> bool {
    object
        .get("value")
        .and_then(Value::as_str)
        .is_some_and(|v| side.name_of(v).is_some())
}

/// Normalises a resource (or any JSON inside one) for comparison.
fn normalise(value: &Value, side: &Side) -> Value {
    match value {
        Value::Object(map) => {
            let reference = is_reference(map, side);
            // Keys sorted, so that the text of equal objects is equal (arrays sort by it).
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            let mut out = Map::new();
            for key in keys {
                // Server-assigned or server-formatted values.
                if ["id", "meta", "schemas"].contains(&key.as_str()) {
                    continue;
                }
                // `$ref`, `display` and `type` of a reference are filled in by the server
                // (idrelay fills them; scim2-server keeps what was sent); RFC 7643 §4.1.2
                // and §4.2 make them optional.
                if reference && ["$ref", "display", "type"].contains(&key.as_str()) {
                    continue;
                }
                // idrelay's SAP extensions (userUuid, custom attributes, …) exist only on
                // idrelay: the reference server has no such schemas.
                if key.starts_with("urn:ietf:params:scim:schemas:extension:sap:")
                    || key.starts_with("urn:sap:")
                {
                    continue;
                }
                // `groups` on a user is readOnly and computed by the server; scim2-server
                // 0.8.3 does not compute it, idrelay does (RFC 7643 §4.1.2).
                if key == "groups" {
                    continue;
                }
                let v = normalise(&map[key], side);
                // null and [] mean "no value" (RFC 7643 §2.5).
                if v.is_null() || v.as_array().is_some_and(Vec::is_empty) {
                    continue;
                }
                out.insert(key.clone(), v);
            }
            if out.is_empty() {
                Value::Null
            } else {
                Value::Object(out)
            }
        }
        Value::Array(items) => {
            // Multi-valued attributes are unordered (RFC 7643 §2.4).
            let mut items: Vec<Value> = items.iter().map(|v| normalise(v, side)).collect();
            items.sort_by_key(Value::to_string);
            Value::Array(items)
        }
        Value::String(s) => match side.name_of(s) {
            Some(name) => Value::String(format!("<id:{name}>")),
            None => value.clone(),
        },
        other => other.clone(),
    }
}

/// The error fields the RFC fixes: status, the JSON type of the body's `status`
/// (a string), and scimType.
fn error_outcome(reply: &support::Reply) -> Value {
    json!({
        "status": reply.status.as_u16(),
        "body.status": reply.body.get("status").cloned().unwrap_or(Value::Null),
        "scimType": reply.body.get("scimType").cloned().unwrap_or(Value::Null),
    })
}

/// The status of a success (200 and 204 are the same after PATCH), or the error.
fn status_outcome(reply: &support::Reply) -> Value {
    if reply.status.is_success() {
        // PATCH may answer 200 with the resource or 204 (§3.5.2); POST is 201 (§3.3),
        // PUT 200 (§3.5.1), DELETE 204 (§3.6).
        let code = reply.status.as_u16();
        let status = if reply.method == Method::PATCH && (code == 200 || code == 204) {
            "200/204".to_string()
        } else {
            code.to_string()
        };
        json!({ "status": status })
    } else {
        error_outcome(reply)
    }
}

fn resource_name(resource: &Value) -> String {
    resource["userName"]
        .as_str()
        .or_else(|| resource["displayName"].as_str())
        .unwrap_or("<no name>")
        .to_string()
}

async fn run_case(side: &Side, case: &Case) -> Value {
    let path = side.fill(&case.path);
    let body = case.body.as_ref().map(|b| side.fill_json(b));
    let reply = side
        .scim
        .send(case.method.clone(), &path, body.as_ref())
        .await;
    if !reply.status.is_success() {
        let mut out = error_outcome(&reply);
        if let Compare::Write { read_back, fields } = &case.compare {
            out["after"] = read_fields(side, read_back, fields).await;
        }
        return out;
    }
    match &case.compare {
        Compare::Status => status_outcome(&reply),
        Compare::Counts | Compare::List { .. } => {
            let list = &reply.body;
            let mut names: Vec<String> = list["Resources"]
                .as_array()
                .map(|r| r.iter().map(resource_name).collect())
                .unwrap_or_default();
            let mut out = json!({
                "status": reply.status.as_u16(),
                "totalResults": list["totalResults"],
                "startIndex": list["startIndex"],
                "itemsPerPage": list["itemsPerPage"],
                "resources": names.len(),
            });
            if let Compare::List { ordered } = case.compare {
                if !ordered {
                    names.sort();
                }
                out["names"] = json!(names);
            }
            out
        }
        Compare::Resources => {
            let resources = match reply.body.get("Resources") {
                Some(list) => list.clone(),
                None => json!([reply.body.clone()]),
            };
            json!({
                "status": reply.status.as_u16(),
                "resources": resources
                    .as_array()
                    .map(|r| r.iter().map(|v| normalise(v, side)).collect::<Vec<_>>())
                    .unwrap_or_default(),
            })
        }
        Compare::Write { read_back, fields } => {
            let mut out = status_outcome(&reply);
            out["after"] = read_fields(side, read_back, fields).await;
            out
        }
    }
}

/// GETs `path` and keeps the named top-level `fields`, normalised.
async fn read_fields(side: &Side, path: &str, fields: &[&str]) -> Value {
    let reply = side.scim.get(&side.fill(path)).await;
    if !reply.status.is_success() {
        return error_outcome(&reply);
    }
    let mut out = Map::new();
    for field in fields {
        let value = reply
            .body
            .as_object()
            .and_then(|o| {
                o.iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(field))
                    .map(|(_, v)| v)
            })
            .map(|v| normalise(v, side))
            .unwrap_or(Value::Null);
        out.insert((*field).to_string(), value);
    }
    Value::Object(out)
}

/// Runs every case on both sides (in the same order) and returns the mismatch report.
async fn compare(reference: &mut Side, subject: &mut Side) -> (usize, String) {
    load(reference).await;
    load(subject).await;
    let cases = cases();
    let mut report = String::new();
    let mut mismatches = 0;
    for (index, case) in cases.iter().enumerate() {
        let expected = run_case(reference, case).await;
        let actual = run_case(subject, case).await;
        if std::env::var_os("IDRELAY_DIFF_DUMP").is_some() {
            // Inspection aid: print every outcome, not only the mismatches.
            eprintln!(
                "#{index} {} | {} {}\n   {expected}",
                case.why, case.method, case.path
            );
        }
        if expected != actual {
            mismatches += 1;
            let body = case
                .body
                .as_ref()
                .map(|b| format!("\n   body: {b}"))
                .unwrap_or_default();
            write!(
                report,
                "\n#{index} {why}\n   {method} {path}{body}\n   {rl}: {expected}\n   {sl}: {actual}\n",
                why = case.why,
                method = case.method,
                path = case.path,
                rl = reference.label,
                sl = subject.label,
            )
            .unwrap();
        }
    }
    (mismatches, report)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idrelay_answers_like_scim2_server_where_the_rfc_fixes_the_answer() {
    let reference = Scim2Server::start("differential-token").await;
    let idrelay = Idrelay::start(&["acme"], ALL_DIRECTORY_PERMISSIONS).await;
    let mut reference_side = Side::new("scim2-server", reference.scim());
    let mut idrelay_side = Side::new("idrelay", idrelay.scim("acme").await);

    let (mismatches, report) = compare(&mut reference_side, &mut idrelay_side).await;
    assert!(
        mismatches == 0,
        "{mismatches} of {} cases differ:\n{report}\n--- idrelay log (tail) ---\n{}",
        cases().len(),
        tail(&idrelay.log(), 60)
    );
}

/// The harness itself: two reference servers must agree on every case, so the
/// normalisation removes everything server-assigned and the cases are deterministic.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn harness_sees_no_difference_between_two_reference_servers() {
    let first = Scim2Server::start("first-token").await;
    let second = Scim2Server::start("second-token").await;
    let mut a = Side::new("scim2-server #1", first.scim());
    let mut b = Side::new("scim2-server #2", second.scim());
    let (mismatches, report) = compare(&mut a, &mut b).await;
    assert!(mismatches == 0, "{mismatches} differences:\n{report}");
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}
