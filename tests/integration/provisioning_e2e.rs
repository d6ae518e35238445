//! End-to-end provisioning on loopback: the `idrelay` binary with a config directory (tenant
//! `acme`, an Identity Authentication v2 source system with SAP's default read transformation, a
//! SCIM target system) and `scim2-server` (the reference SCIM server) as the real target. Every
//! change enters through the real-time provisioning API over HTTP and is checked in the target.
//!
//! What `tests/integration/delivery.rs` and `tests/integration/realtime_api.rs` already show (and this file does not
//! repeat): the delivery engine driven in-process (events committed directly), failures,
//! retries, the SIGKILL burst (users only), and the API's refusals with a target that is never
//! reached. What this file adds:
//! - users AND groups created, updated and deleted through the real-time API appear in (or
//!   vanish from) `scim2-server`, with group members resolved to the target's ids;
//! - SAP's documented transformation examples (spec/domain.md §4.5; the engine's unit tests in
//!   `src/provisioning/transform/tests.rs` check them in isolation) change what `scim2-server`
//!   holds as documented: entity condition (skip), `concatString`, two-key `valueMapping`,
//!   `toUpperCaseString`, `replaceAllString` chained, `scope: createEntity`, `resolveEntityIds`
//!   for the manager, the `assignGroup` variable, and `scope: deleteEntity` (deactivate instead
//!   of delete).
//!
//! SAP's generic SCIM target default ignores groups and passes the SAP extensions through
//! (which `scim2-server` refuses); the target transformations here are what a user would write
//! from that default: groups enabled, SAP extensions removed.

use crate::support;

use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use support::{AdminCredentials, Idrelay, Scim2Server, TestConfig, admin_client_id, http_client};

use idrelay::store::{LogStatus, RealtimeLogFilter, RealtimeLogRecord, Store};

const TENANT: &str = "acme";
/// The source system id (set in its spec).
const SOURCE: &str = "5e1f0000-0000-4000-8000-0000000000e2";
const TARGET_TOKEN: &str = "target-token-e2e";

const CORE_USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const CORE_GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
const SAP_USER: &str = "urn:ietf:params:scim:schemas:extension:sap:2.0:User";
const CUSTOM_GROUP: &str = "urn:sap:cloud:scim:schemas:extension:custom:2.0:Group";

/// The user mappings of SAP's generic SCIM target default [SCIM-TGT], plus the removal of the
/// SAP extensions the Identity Authentication v2 read transformation passes through.
fn user_base_mappings() -> Vec<Value> {
    vec![
        json!({"sourcePath": "$", "targetPath": "$"}),
        json!({"targetPath": "$.id", "type": "remove"}),
        json!({"sourceVariable": "entityIdTargetSystem", "targetPath": "$.id"}),
        json!({"condition": "$.emails[0].length() > 0", "targetPath": "$.emails[0].primary", "constant": true}),
        json!({"type": "remove", "targetPath": format!("$['{ENTERPRISE}']")}),
        json!({"type": "remove", "targetPath": format!("$['{SAP_USER}']")}),
        json!({"type": "remove", "targetPath": "$['urn:sap:cloud:scim:schemas:extension:custom:2.0:User']"}),
        json!({"constant": [CORE_USER], "targetPath": "$.schemas"}),
    ]
}

/// The group mappings of SAP's generic SCIM target default, without `"ignore": true`, and
/// the custom group extension removed.
fn group_base_mappings() -> Vec<Value> {
    vec![
        json!({"sourcePath": "$", "targetPath": "$"}),
        json!({"targetPath": "$.id", "type": "remove"}),
        json!({"sourceVariable": "entityIdTargetSystem", "targetPath": "$.id"}),
        json!({"targetPath": "$.members", "type": "remove"}),
        json!({"sourcePath": "$.members[*].value", "preserveArrayWithSingleElement": true, "optional": true,
               "targetPath": "$.members[?(@.value)]", "functions": [{"type": "resolveEntityIds"}]}),
        json!({"type": "remove", "targetPath": format!("$['{CUSTOM_GROUP}']")}),
        json!({"constant": [CORE_GROUP], "targetPath": "$.schemas"}),
    ]
}

/// The target transformation of the plain flow: SAP's SCIM default with groups enabled.
fn plain_transformation() -> Value {
    json!({
        "user": {"mappings": user_base_mappings()},
        "group": {"mappings": group_base_mappings()},
    })
}

/// The documented examples on top of the default (see the module doc). `group_id` is a group
/// that already exists in the target (the `assignGroup` example assigns every new user to it).
fn documented_transformation(group_id: &str) -> Value {
    let mut user = user_base_mappings();
    // The base wrote schemas = [core]; the manager example writes the enterprise extension.
    user.pop();
    user.extend([
        json!({"constant": [CORE_USER, ENTERPRISE], "targetPath": "$.schemas"}),
        // concatString [TR-FUNC]: "ips_" + userName + 123.
        json!({"sourcePath": "$.userName", "targetPath": "$.userName",
               "functions": [{"function": "concatString", "prefix": "ips_", "suffix": 123}]}),
        // Two-key valueMapping [TR-FUNC] with a default.
        json!({"sourcePaths": ["$.addresses[0].country", "$.addresses[0].locality"], "defaultValue": "UTC",
               "targetPath": "$.timezone", "type": "valueMapping", "valueMappings": [
                   {"key": ["US", "New York"], "mappedValue": "EST"},
                   {"key": ["US", "Dallas"], "mappedValue": "CST"},
                   {"key": ["Germany", "Berlin"], "mappedValue": "CET"}]}),
        // toUpperCaseString [TR-FUNC].
        json!({"sourcePath": "$.displayName", "targetPath": "$.displayName", "optional": true,
               "functions": [{"function": "toUpperCaseString", "locale": "en_EN"}]}),
        // scope createEntity [TR-EXPR]: only on create.
        json!({"scope": "createEntity", "targetPath": "$.title", "constant": "New hire"}),
        // resolveEntityIds for the manager [TR-FUNC]: written only if it exists in the target.
        json!({"sourcePath": format!("$['{ENTERPRISE}']['manager']['value']"),
               "targetPath": format!("$['{ENTERPRISE}']['manager']['value']"), "optional": true,
               "functions": [{"function": "resolveEntityIds"}]}),
        // assignGroup [TR-VAR].
        json!({"condition": "($.emails EMPTY false)", "constant": [{"id": group_id}], "targetVariable": "assignGroup"}),
        // scope deleteEntity [TR-EXPR]: a delete deactivates (attribute form; the PatchOp
        // form of SAP's example is `patchop_delete_entity_example_deactivates`).
        json!({"constant": false, "targetPath": "$.active", "scope": "deleteEntity"}),
    ]);
    let mut group = group_base_mappings();
    // Functions chain [TR-FUNC]: punctuation and blanks to "_", then upper case.
    group.push(
        json!({"sourcePath": "$.displayName", "targetPath": "$.displayName", "functions": [
        {"function": "replaceAllString", "regex": "[\\s\\p{Punct}]", "replacement": "_"},
        {"function": "toUpperCaseString"}]}),
    );
    json!({
        // Entity condition [TR-COND]: only users with an @example.com address are written.
        "user": {"condition": "$.emails[0].value =~ /.*@example.com/", "mappings": user},
        "group": {"mappings": group},
    })
}

/// The config documents (YAML is a superset of JSON, so each document is written as JSON).
fn write_config(target_url: &str, transformation: &Value) -> TestConfig {
    let dir = tempfile::Builder::new()
        .prefix("idrelay-config-")
        .tempdir()
        .unwrap();
    let admin = AdminCredentials {
        tenant: TENANT.into(),
        client_id: admin_client_id(0),
        secret: "s3cr3t-e2e-value-0123456789".into(),
    };
    let documents = [
        json!({"apiVersion": "idrelay.dev/v1alpha1", "kind": "Tenant", "metadata": {"name": TENANT},
               "spec": {"displayName": "acme e2e", "realTimeRateLimit": 100_000}}),
        json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "acme-secrets"},
               "stringData": {"secret": admin.secret, "token": TARGET_TOKEN}}),
        json!({"apiVersion": "idrelay.dev/v1alpha1", "kind": "TechnicalAdmin", "metadata": {"name": "acme-admin"},
               "spec": {"tenantRef": {"name": TENANT}, "displayName": "acme provisioning admin",
                        "clientId": admin.client_id, "permissions": ["AccessRealTimeProvisioningAPI"],
                        "secrets": [{"secretRef": {"name": "acme-secrets", "key": "secret"}}]}}),
        json!({"apiVersion": "idrelay.dev/v1alpha1", "kind": "SourceSystem", "metadata": {"name": "acme-ias"},
               "spec": {"tenantRef": {"name": TENANT}, "displayName": "acme directory",
                        "type": "IdentityAuthentication", "systemId": SOURCE,
                        "properties": {"ias.api.version": "2"}}}),
        json!({"apiVersion": "idrelay.dev/v1alpha1", "kind": "TargetSystem", "metadata": {"name": "acme-apps"},
               "spec": {"tenantRef": {"name": TENANT}, "displayName": "acme apps", "type": "SCIM",
                        "url": target_url, "sourceSystemRefs": [{"name": "acme-ias"}],
                        "authentication": {"bearerToken": {"tokenRef": {"name": "acme-secrets", "key": "token"}}},
                        "properties": {"ips.failed.request.retry.backoff.cap": "1s"},
                        "transformation": transformation.to_string()}}),
    ];
    let text = documents
        .iter()
        .map(|d| serde_json::to_string_pretty(d).unwrap())
        .collect::<Vec<_>>()
        .join("\n---\n");
    std::fs::write(dir.path().join("acme.yaml"), text).unwrap();
    TestConfig {
        dir,
        admins: vec![admin],
    }
}

/// idrelay, its target and the store (read side) it writes.
struct Env {
    target: Scim2Server,
    server: Idrelay,
    store: Store,
}

impl Env {
    async fn start_with(target: Scim2Server, transformation: Value) -> Env {
        let config = write_config(&target.base_url(), &transformation);
        let server = Idrelay::start_with(config, None, true).await;
        let store = Store::open(&server.data_dir).await.unwrap();
        Env {
            target,
            server,
            store,
        }
    }

    fn url(&self, kind: &str) -> String {
        format!(
            "{}/tenants/{TENANT}/ipsproxy/service/api/v1/systems/{SOURCE}/entities/{kind}",
            self.server.base_url()
        )
    }

    async fn call(&self, method: Method, url: String, body: Option<&Value>) {
        let mut request = http_client()
            .request(method.clone(), &url)
            .header("Authorization", self.server.admin(TENANT).basic_auth());
        if let Some(body) = body {
            request = request
                .header("Content-Type", "application/scim+json")
                .body(body.to_string());
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        assert_eq!(
            status,
            StatusCode::ACCEPTED,
            "{method} {url}: {text}\n{}",
            self.server.log()
        );
    }

    /// Pushes a user or group upsert through the real-time API (202 expected).
    async fn push(&self, kind: &str, body: &Value) {
        self.call(Method::POST, self.url(kind), Some(body)).await;
    }

    /// Pushes a delete through the real-time API (202 expected).
    async fn delete(&self, kind: &str, id: &str) {
        self.call(Method::DELETE, format!("{}/{id}", self.url(kind)), None)
            .await;
    }

    /// Every real-time log entry, oldest first.
    async fn logs(&self) -> Vec<RealtimeLogRecord> {
        let mut logs = self
            .store
            .realtime_logs(TENANT, &RealtimeLogFilter::default(), 10_000)
            .await
            .unwrap();
        logs.sort_by_key(|l| l.id);
        logs
    }

    /// Waits until `count` executions are logged; returns the log, oldest first.
    async fn settle(&self, count: usize) -> Vec<RealtimeLogRecord> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let logs = self.logs().await;
            if logs.len() >= count {
                return logs;
            }
            assert!(
                Instant::now() < deadline,
                "{} of {count} executions logged after 30 s: {logs:#?}\nidrelay log:\n{}\nscim2-server log:\n{}",
                logs.len(),
                self.server.log(),
                self.target.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The target's resources of `kind` (`Users`/`Groups`).
    async fn resources(&self, kind: &str) -> Vec<Value> {
        let reply = self.target.scim().get(&format!("/{kind}?count=1000")).await;
        reply.expect(200);
        reply.body["Resources"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    async fn user_named(&self, user_name: &str) -> Option<Value> {
        self.resources("Users")
            .await
            .into_iter()
            .find(|u| u["userName"] == user_name)
    }
}

/// A user as the Identity Directory (v2) pushes it, with `extra` attributes merged in.
fn ias_user(id: &str, user_name: &str, display_name: &str, email: &str, extra: Value) -> Value {
    let mut user = json!({
        "schemas": [CORE_USER, SAP_USER],
        "id": id,
        "userName": user_name,
        "name": {"givenName": display_name, "familyName": "Tester"},
        "displayName": display_name,
        "active": true,
        "emails": [{"value": email, "type": "work", "primary": true}],
        SAP_USER: {"userId": format!("P{}", &id[id.len() - 6..]), "userUuid": id},
    });
    if let (Some(user), Value::Object(extra)) = (user.as_object_mut(), extra) {
        user.extend(extra);
    }
    user
}

/// A group as the Identity Directory (v2) pushes it.
fn ias_group(id: &str, display_name: &str, members: &[&str]) -> Value {
    json!({
        "schemas": [CORE_GROUP, CUSTOM_GROUP],
        "id": id,
        "displayName": display_name,
        "members": members.iter().map(|m| json!({"value": m, "type": "User"})).collect::<Vec<_>>(),
        CUSTOM_GROUP: {"name": display_name.to_lowercase().replace(' ', "-")},
    })
}

fn states(logs: &[RealtimeLogRecord]) -> Vec<(String, String)> {
    logs.iter()
        .map(|l| {
            let target = l
                .details
                .last()
                .map(|d| d.state.clone())
                .unwrap_or_default();
            (l.entity_id_source.clone().unwrap_or_default(), target)
        })
        .collect()
}

fn sorted_member_values(group: &Value) -> Vec<String> {
    let mut members: Vec<String> = group["members"]
        .as_array()
        .map(|m| {
            m.iter()
                .filter_map(|m| m["value"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    members.sort();
    members
}

const ALICE: &str = "e2e00000-0000-4000-8000-0000000000a1";
const BOB: &str = "e2e00000-0000-4000-8000-0000000000b2";
const GROUP: &str = "e2e00000-0000-4000-8000-0000000000c3";

/// Users and groups: create, update, delete through the real-time API, checked in scim2-server.
#[tokio::test]
async fn users_and_groups_flow_through_the_realtime_api_to_scim2_server() {
    let target = Scim2Server::start(TARGET_TOKEN).await;
    let env = Env::start_with(target, plain_transformation()).await;

    // Create two users.
    env.push(
        "user",
        &ias_user(ALICE, "alice", "Alice", "alice@example.com", json!({})),
    )
    .await;
    env.push(
        "user",
        &ias_user(BOB, "bob", "Bob", "bob@example.com", json!({})),
    )
    .await;
    env.settle(2).await;
    let alice = env.user_named("alice").await.expect("alice in the target");
    let bob = env.user_named("bob").await.expect("bob in the target");
    // The acknowledgement latencies of the two deliveries are on /metrics.
    let metrics = reqwest::get(format!("{}/metrics", env.server.admin_url()))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let acknowledged = metrics
        .lines()
        .find(|l| l.starts_with("idrelay_delivery_latency_seconds_count{"))
        .unwrap_or_else(|| panic!("no delivery latency in /metrics:\n{metrics}"));
    let count: f64 = acknowledged.rsplit(' ').next().unwrap().parse().unwrap();
    assert!(count >= 2.0, "{acknowledged}");
    assert_eq!(alice["displayName"], "Alice");
    assert_eq!(alice["name"]["familyName"], "Tester");
    assert_eq!(alice["emails"][0]["value"], "alice@example.com");
    assert_eq!(alice["emails"][0]["primary"], true);
    assert!(
        alice.get(SAP_USER).is_none(),
        "SAP extension removed: {alice}"
    );
    let (alice_id, bob_id) = (
        alice["id"].as_str().unwrap().to_string(),
        bob["id"].as_str().unwrap().to_string(),
    );
    assert_ne!(alice_id, ALICE, "the target assigns its own ids");

    // Update alice: the same target resource changes.
    env.push(
        "user",
        &ias_user(
            ALICE,
            "alice",
            "Alice Liddell",
            "alice.liddell@example.com",
            json!({"userType": "Explorer"}),
        ),
    )
    .await;
    // Create a group with both users.
    env.push("group", &ias_group(GROUP, "Admins", &[ALICE, BOB]))
        .await;
    env.settle(4).await;
    let alice = env.user_named("alice").await.unwrap();
    assert_eq!(alice["id"], alice_id.as_str(), "updated in place");
    assert_eq!(alice["displayName"], "Alice Liddell");
    assert_eq!(alice["userType"], "Explorer");
    assert_eq!(alice["emails"][0]["value"], "alice.liddell@example.com");
    let groups = env.resources("Groups").await;
    assert_eq!(groups.len(), 1, "{groups:?}");
    let group_id = groups[0]["id"].as_str().unwrap().to_string();
    assert_eq!(groups[0]["displayName"], "Admins");
    let mut expected = vec![alice_id.clone(), bob_id.clone()];
    expected.sort();
    assert_eq!(
        sorted_member_values(&groups[0]),
        expected,
        "members are the target's user ids"
    );

    // Update the group: renamed, bob leaves.
    env.push("group", &ias_group(GROUP, "Administrators", &[ALICE]))
        .await;
    env.settle(5).await;
    let groups = env.resources("Groups").await;
    assert_eq!(groups.len(), 1);
    assert_eq!(groups[0]["id"], group_id.as_str(), "updated in place");
    assert_eq!(groups[0]["displayName"], "Administrators");
    assert_eq!(sorted_member_values(&groups[0]), vec![alice_id.clone()]);

    // Delete the group, then bob.
    env.delete("group", GROUP).await;
    env.delete("user", BOB).await;
    let logs = env.settle(7).await;
    assert!(env.resources("Groups").await.is_empty());
    let users = env.resources("Users").await;
    assert_eq!(users.len(), 1, "{users:?}");
    assert_eq!(users[0]["userName"], "alice");

    assert!(
        logs.iter()
            .all(|l| l.status == LogStatus::FinishedSuccessfully),
        "{logs:#?}"
    );
    let expected: Vec<(String, String)> = [
        (ALICE, "Entity Created"),
        (BOB, "Entity Created"),
        (ALICE, "Entity Updated"),
        (GROUP, "Entity Created"),
        (GROUP, "Entity Updated"),
        (GROUP, "Entity Deleted"),
        (BOB, "Entity Deleted"),
    ]
    .iter()
    .map(|(id, state)| (id.to_string(), state.to_string()))
    .collect();
    let mut seen = states(&logs);
    // The two creates, and the user update vs the group create, race each other; compare
    // per entity in order.
    for id in [ALICE, BOB, GROUP] {
        let of = |v: &[(String, String)]| {
            v.iter()
                .filter(|(e, _)| e == id)
                .map(|(_, s)| s.clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(of(&seen), of(&expected), "states of {id}: {logs:#?}");
    }
    seen.sort();
    assert_eq!(seen.len(), expected.len());
}

const CAROL: &str = "e2e00000-0000-4000-8000-0000000000d4";
const DAVE: &str = "e2e00000-0000-4000-8000-0000000000e5";
const EVE: &str = "e2e00000-0000-4000-8000-0000000000f6";
const TEAM: &str = "e2e00000-0000-4000-8000-0000000000a7";

/// SAP's documented transformation examples change what scim2-server holds, as documented.
#[tokio::test]
async fn documented_transformations_change_the_target_as_documented() {
    let target = Scim2Server::start(TARGET_TOKEN).await;
    // The group of the assignGroup example exists in the target before.
    let employees = target
        .scim()
        .post(
            "/Groups",
            &json!({"schemas": [CORE_GROUP], "displayName": "Employees"}),
        )
        .await;
    employees.expect(201);
    let employees_id = employees.id();
    let env = Env::start_with(target, documented_transformation(&employees_id)).await;

    // carol (Dallas, US) is created; eve has no @example.com address: skipped by the condition.
    env.push(
        "user",
        &ias_user(
            CAROL,
            "carol",
            "Carol Jones",
            "carol@example.com",
            json!({"addresses": [{"type": "work", "country": "US", "locality": "Dallas"}]}),
        ),
    )
    .await;
    env.push(
        "user",
        &ias_user(EVE, "eve", "Eve", "eve@other.org", json!({})),
    )
    .await;
    let logs = env.settle(2).await;
    let carol = env
        .user_named("ips_carol123")
        .await
        .unwrap_or_else(|| panic!("concatString: ips_carol123 expected: {logs:#?}"));
    assert_eq!(
        carol["timezone"], "CST",
        "valueMapping on (country, locality)"
    );
    assert_eq!(carol["displayName"], "CAROL JONES", "toUpperCaseString");
    assert_eq!(carol["title"], "New hire", "createEntity scope on create");
    let carol_id = carol["id"].as_str().unwrap().to_string();
    assert!(env.user_named("ips_eve123").await.is_none());
    assert!(env.user_named("eve").await.is_none());
    let eve_log = logs
        .iter()
        .find(|l| l.entity_id_source.as_deref() == Some(EVE))
        .unwrap();
    let reason = eve_log
        .details
        .iter()
        .filter_map(|d| {
            d.reason
                .clone()
                .or_else(|| d.additional_information.clone())
        })
        .chain(eve_log.message.clone())
        .collect::<Vec<_>>()
        .join(" | ");
    assert!(
        reason.contains("The condition: $.emails[0].value =~ /.*@example.com/, is not fulfilled."),
        "documented skip reason: {eve_log:#?}"
    );
    // assignGroup: carol is a member of the existing group.
    let groups = env.resources("Groups").await;
    let group = groups
        .iter()
        .find(|g| g["id"] == employees_id.as_str())
        .unwrap();
    assert_eq!(sorted_member_values(group), vec![carol_id.clone()]);

    // dave (Sofia: no value mapping -> default), managed by carol: the manager is resolved to
    // carol's id in the target.
    env.push(
        "user",
        &ias_user(
            DAVE,
            "dave",
            "Dave",
            "dave@example.com",
            json!({"addresses": [{"country": "BG", "locality": "Sofia"}],
                   ENTERPRISE: {"manager": {"value": CAROL}}}),
        ),
    )
    .await;
    env.settle(3).await;
    let dave = env.user_named("ips_dave123").await.unwrap();
    assert_eq!(dave["timezone"], "UTC", "valueMapping default");
    assert_eq!(
        dave[ENTERPRISE]["manager"]["value"],
        carol_id.as_str(),
        "resolveEntityIds: {dave}"
    );

    // Update carol: createEntity mappings do not run, so the replacement has no title.
    env.push(
        "user",
        &ias_user(
            CAROL,
            "carol",
            "Carol Smith",
            "carol@example.com",
            json!({"addresses": [{"country": "Germany", "locality": "Berlin"}]}),
        ),
    )
    .await;
    // A group name through the function chain.
    env.push("group", &ias_group(TEAM, "my group.a", &[CAROL, DAVE]))
        .await;
    env.settle(5).await;
    let carol = env.user_named("ips_carol123").await.unwrap();
    assert_eq!(carol["id"], carol_id.as_str());
    assert_eq!(carol["displayName"], "CAROL SMITH");
    assert_eq!(carol["timezone"], "CET");
    assert!(
        carol.get("title").is_none(),
        "createEntity scope skipped on update: {carol}"
    );
    let team = env
        .resources("Groups")
        .await
        .into_iter()
        .find(|g| g["displayName"] == "MY_GROUP_A")
        .expect("replaceAllString then toUpperCaseString");
    assert_eq!(sorted_member_values(&team).len(), 2);

    // Delete carol: deleteEntity mappings turn the delete into a deactivation.
    env.delete("user", CAROL).await;
    let logs = env.settle(6).await;
    let carol = env
        .user_named("ips_carol123")
        .await
        .expect("deleteEntity keeps the user");
    assert_eq!(
        carol["active"],
        false,
        "deactivated: {carol}\n{logs:#?}\n{}",
        env.target.log()
    );
    let last = logs.last().unwrap();
    assert_eq!(last.entity_id_source.as_deref(), Some(CAROL));
    assert_eq!(last.status, LogStatus::FinishedSuccessfully, "{last:#?}");
    assert_eq!(
        last.details.last().unwrap().operation.as_deref(),
        Some("PATCH"),
        "{last:#?}"
    );
}

/// SAP's documented `deleteEntity` example [TR-EXPR] writes a whole PatchOp message
/// (`schemas: [PatchOp]`, `Operations: [{op: replace, path: active, value: false}]`); a delete
/// must send it as the PATCH body and leave the user deactivated.
#[tokio::test]
async fn patchop_delete_entity_example_deactivates() {
    let mut user = user_base_mappings();
    user.extend([
        json!({"constant": "urn:ietf:params:scim:api:messages:2.0:PatchOp", "targetPath": "$.schemas[0]", "scope": "deleteEntity"}),
        json!({"constant": "replace", "targetPath": "$.Operations[0].op", "scope": "deleteEntity"}),
        json!({"constant": "active", "targetPath": "$.Operations[0].path", "scope": "deleteEntity"}),
        json!({"constant": false, "targetPath": "$.Operations[0].value", "scope": "deleteEntity"}),
    ]);
    let transformation =
        json!({"user": {"mappings": user}, "group": {"mappings": group_base_mappings()}});
    let env = Env::start_with(Scim2Server::start(TARGET_TOKEN).await, transformation).await;
    env.push(
        "user",
        &ias_user(ALICE, "alice", "Alice", "alice@example.com", json!({})),
    )
    .await;
    env.settle(1).await;
    env.delete("user", ALICE).await;
    let logs = env.settle(2).await;
    assert_eq!(logs[1].status, LogStatus::FinishedSuccessfully, "{logs:#?}");
    let alice = env.user_named("alice").await.expect("kept");
    assert_eq!(alice["active"], false, "{alice}");
}
