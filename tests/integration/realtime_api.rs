//! Loopback tests of the real-time provisioning API (`…/ipsproxy/service/api/v1/systems/{id}/
//! entities/{user|group}`) and the real-time log endpoint, against the `idrelay` binary
//! started with a config directory holding SourceSystem and TargetSystem documents.
//!
//! What they show: every refusal (401, 403, 404, 400 malformed / wrong version, 413, 429 with
//! `Retry-After`) queues nothing (rows counted in the store); a success commits the event and
//! one delivery per enabled connected target; a source without targets records the event and a
//! "no target system connected" log entry; the logs are readable with the right permission.

use crate::support;

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use support::{Idrelay, TestConfig, http_client};

/// The system id of the v2 source system (set in its spec).
const SRC_V2: &str = "11111111-2222-4333-8444-555555555555";
const SRC_V1: &str = "22222222-2222-4333-8444-555555555555";
const SRC_LONELY: &str = "33333333-2222-4333-8444-555555555555";
const SRC_OFF: &str = "44444444-2222-4333-8444-555555555555";
const USER_ID: &str = "2819c223-7f76-453a-919d-413861904646";

/// Source systems (v2, v1, one without targets, one disabled) and targets (one enabled
/// connected to the v2 and v1 sources, one disabled) of tenant `name`.
fn systems_yaml(name: &str) -> String {
    let source = |meta: &str, id: &str, version: &str, enabled: bool| {
        format!(
            "\
---
apiVersion: idrelay.dev/v1alpha1
kind: SourceSystem
metadata: {{name: {meta}}}
spec:
  tenantRef: {{name: {name}}}
  displayName: {meta} system
  type: IdentityAuthentication
  systemId: {id}
  enabled: {enabled}
  properties: {{ias.api.version: \"{version}\", ips.trace.skipped.entity.content: \"true\"}}
"
        )
    };
    let target = |meta: &str, enabled: bool| {
        format!(
            "\
---
apiVersion: idrelay.dev/v1alpha1
kind: TargetSystem
metadata: {{name: {meta}}}
spec:
  tenantRef: {{name: {name}}}
  displayName: {meta} system
  type: SCIM
  url: http://127.0.0.1:9/scim
  enabled: {enabled}
  sourceSystemRefs: [{{name: {name}-src-v2}}, {{name: {name}-src-v1}}]
  authentication: {{bearerToken: {{tokenRef: {{name: {name}-admin-secret, key: token}}}}}}
"
        )
    };
    [
        source(&format!("{name}-src-v2"), SRC_V2, "2", true),
        source(&format!("{name}-src-v1"), SRC_V1, "1", true),
        source(&format!("{name}-lonely"), SRC_LONELY, "2", true),
        source(&format!("{name}-off"), SRC_OFF, "2", false),
        target(&format!("{name}-target"), true),
        target(&format!("{name}-target-off"), false),
    ]
    .concat()
}

/// Tenants `acme` (provisioning admin, rate 1000), `noperm` (admin without
/// AccessRealTimeProvisioningAPI) and `slow` (rate 1 per second).
async fn start() -> Idrelay {
    let dir = tempfile::Builder::new()
        .prefix("idrelay-config-")
        .tempdir()
        .unwrap();
    let mut admins = Vec::new();
    for (index, (name, permissions, rate)) in [
        ("acme", "AccessRealTimeProvisioningAPI", 1000),
        ("noperm", "ManageUsers, ReadUsers", 1000),
        ("slow", "AccessRealTimeProvisioningAPI", 1),
    ]
    .into_iter()
    .enumerate()
    {
        let (yaml, admin) = support::tenant_yaml(
            name,
            index,
            permissions,
            &format!(", realTimeRateLimit: {rate}, hosts: [{name}.idrelay.test]"),
            ", token: \"target-token\"",
        );
        let yaml = yaml + &systems_yaml(name);
        std::fs::write(dir.path().join(format!("{name}.yaml")), yaml).unwrap();
        admins.push(admin);
    }
    Idrelay::start_with(TestConfig { dir, admins }, None, true).await
}

fn entities_url(server: &Idrelay, tenant: &str, system: &str, entity: &str) -> String {
    format!(
        "{}/tenants/{tenant}/ipsproxy/service/api/v1/systems/{system}/entities/{entity}",
        server.base_url()
    )
}

struct Answer {
    status: StatusCode,
    retry_after: Option<String>,
    body: Value,
}

async fn send(
    server: &Idrelay,
    method: reqwest::Method,
    url: &str,
    tenant: &str,
    body: Option<Vec<u8>>,
) -> Answer {
    let mut request = http_client()
        .request(method, url)
        .header("Authorization", server.admin(tenant).basic_auth())
        .timeout(Duration::from_secs(30));
    if let Some(body) = body {
        request = request
            .header("Content-Type", "application/scim+json")
            .body(body);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let retry_after = response
        .headers()
        .get("Retry-After")
        .map(|v| v.to_str().unwrap().to_string());
    let text = response.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    Answer {
        status,
        retry_after,
        body,
    }
}

async fn post(server: &Idrelay, tenant: &str, system: &str, entity: &str, body: &Value) -> Answer {
    let url = entities_url(server, tenant, system, entity);
    send(
        server,
        reqwest::Method::POST,
        &url,
        tenant,
        Some(body.to_string().into_bytes()),
    )
    .await
}

fn v2_user(id: &str) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "id": id,
        "userName": "alice",
        "emails": [{"value": "alice@example.org", "primary": true}],
        "name": {"familyName": "Liddell", "givenName": "Alice"},
    })
}

/// How many events the store holds for `tenant`, and how many deliveries they have.
async fn queued(server: &Idrelay, tenant: &str) -> (usize, usize) {
    let store = idrelay::store::Store::open(&server.data_dir).await.unwrap();
    let events = store.provisioning_events(tenant, 0, 100_000).await.unwrap();
    let mut deliveries = 0;
    for event in &events {
        deliveries += store.deliveries_of_event(event.seq).await.unwrap().len();
    }
    (events.len(), deliveries)
}

#[tokio::test]
async fn accepts_upserts_and_deletes_and_fans_out_to_enabled_targets() {
    let server = start().await;
    let answer = post(&server, "acme", SRC_V2, "user", &v2_user(USER_ID)).await;
    assert_eq!(
        answer.status,
        StatusCode::ACCEPTED,
        "{}\n{}",
        answer.body,
        server.log()
    );
    assert_eq!(answer.body["entityId"], USER_ID);
    assert_eq!(
        answer.body["deliveries"], 1,
        "the disabled target gets nothing"
    );
    let first = answer.body["eventId"].as_i64().unwrap();
    // The same upsert again is a new event (idempotent at the target).
    let again = post(&server, "acme", SRC_V2, "user", &v2_user(USER_ID)).await;
    assert_eq!(again.status, StatusCode::ACCEPTED);
    assert!(again.body["eventId"].as_i64().unwrap() > first);
    // A group and deletes.
    let group_id = "9b1deb4d-3b7d-4bad-9bdd-2b0d7b3dcb6d";
    let group = json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
                       "id": group_id, "displayName": "Admins",
                       "members": [{"value": USER_ID}]});
    assert_eq!(
        post(&server, "acme", SRC_V2, "group", &group).await.status,
        StatusCode::ACCEPTED
    );
    for (entity, id) in [("user", USER_ID), ("group", group_id)] {
        let url = format!("{}/{id}", entities_url(&server, "acme", SRC_V2, entity));
        let answer = send(&server, reqwest::Method::DELETE, &url, "acme", None).await;
        assert_eq!(answer.status, StatusCode::ACCEPTED, "{}", answer.body);
        assert_eq!(answer.body["entityId"], id);
        assert_eq!(answer.body["deliveries"], 1);
    }
    // v1 source: legacy ids.
    let v1_user = json!({"id": "P000123", "userName": "bob", "name": {"familyName": "B"}});
    let answer = post(&server, "acme", SRC_V1, "user", &v1_user).await;
    assert_eq!(answer.status, StatusCode::ACCEPTED, "{}", answer.body);
    let v1_group = json!({"id": "abcdefghijklmnopqrstuvwx", "displayName": "G"});
    assert_eq!(
        post(&server, "acme", SRC_V1, "group", &v1_group)
            .await
            .status,
        StatusCode::ACCEPTED
    );
    // Bearer tokens work too.
    let token = server.token("acme").await;
    let response = http_client()
        .post(entities_url(&server, "acme", SRC_V2, "user"))
        .header("Authorization", format!("Bearer {token}"))
        .header("Content-Type", "application/json")
        .body(v2_user(USER_ID).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    // Host routing: the tenant's host reaches /ipsproxy at the root.
    let response = http_client()
        .post(format!(
            "{}/ipsproxy/service/api/v1/systems/{SRC_V2}/entities/user",
            server.base_url()
        ))
        .header("Host", format!("acme.idrelay.test:{}", server.port))
        .header("Authorization", server.admin("acme").basic_auth())
        .body(v2_user(USER_ID).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::ACCEPTED);

    assert_eq!(queued(&server, "acme").await, (9, 9));
    let store = idrelay::store::Store::open(&server.data_dir).await.unwrap();
    let events = store.provisioning_events("acme", 0, 100).await.unwrap();
    assert_eq!(events[0].seq, first);
    assert_eq!(&*events[0].source_system_id, SRC_V2);
    let payload: Value = serde_json::from_str(events[0].payload.as_deref().unwrap()).unwrap();
    assert_eq!(payload["userName"], "alice");
    assert!(events[3].payload.is_none(), "a delete stores no payload");
}

#[tokio::test]
async fn source_without_targets_records_the_event_and_a_log_entry() {
    let server = start().await;
    let answer = post(&server, "acme", SRC_LONELY, "user", &v2_user(USER_ID)).await;
    assert_eq!(answer.status, StatusCode::ACCEPTED, "{}", answer.body);
    assert_eq!(answer.body["deliveries"], 0);
    assert_eq!(queued(&server, "acme").await, (1, 0));

    let logs_url = format!(
        "{}/tenants/acme/ipsproxy/service/api/v1/logs/realtime",
        server.base_url()
    );
    let answer = send(&server, reqwest::Method::GET, &logs_url, "acme", None).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    let log = &answer.body["logs"][0];
    assert_eq!(log["sourceSystem"], SRC_LONELY);
    assert_eq!(log["sourceSystemName"], "acme-lonely system");
    assert_eq!(log["entityType"], "user");
    assert_eq!(log["entityIdSource"], USER_ID);
    assert_eq!(log["status"], "Finished Successfully");
    assert_eq!(
        log["details"][0]["additionalInformation"],
        "no target system connected"
    );
    // ips.trace.skipped.entity.content=true on the source: the content is kept.
    assert!(log["content"].as_str().unwrap().contains("alice"));
    // Filters.
    let filtered = format!("{logs_url}?status=error&entityType=user");
    let answer = send(&server, reqwest::Method::GET, &filtered, "acme", None).await;
    assert_eq!(answer.body["totalResults"], 0);
    let bad = format!("{logs_url}?entityType=device");
    assert_eq!(
        send(&server, reqwest::Method::GET, &bad, "acme", None)
            .await
            .status,
        StatusCode::BAD_REQUEST
    );
    // `idrelay logs` prints them as a table.
    let admin = server.admin("acme");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_idrelay"))
        .args(["logs", "--tenant", "acme", "--url", &server.base_url()])
        .args(["--client-id", &admin.client_id, "--entity-type", "user"])
        .env("IDRELAY_CLIENT_SECRET", &admin.secret)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.starts_with("START TIME"), "{stdout}");
    assert!(
        stdout.contains("acme-lonely system") && stdout.contains(USER_ID),
        "{stdout}"
    );
    assert!(stdout.contains("no target system connected"), "{stdout}");
    // An admin without either permission cannot read them.
    let other = format!(
        "{}/tenants/noperm/ipsproxy/service/api/v1/logs/realtime",
        server.base_url()
    );
    assert_eq!(
        send(&server, reqwest::Method::GET, &other, "noperm", None)
            .await
            .status,
        StatusCode::FORBIDDEN
    );
}

#[tokio::test]
async fn every_refusal_queues_nothing() {
    let server = start().await;
    let user = v2_user(USER_ID);
    let check = |answer: &Answer, status: StatusCode, what: &str| {
        assert_eq!(answer.status, status, "{what}: {}", answer.body);
        assert_eq!(
            answer.body["status"],
            status.as_u16().to_string(),
            "{what}: SCIM error body"
        );
    };
    // 401: no credentials.
    let response = http_client()
        .post(entities_url(&server, "acme", SRC_V2, "user"))
        .body(user.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    // 403: no AccessRealTimeProvisioningAPI.
    let answer = post(&server, "noperm", SRC_V2, "user", &user).await;
    check(&answer, StatusCode::FORBIDDEN, "missing permission");
    assert!(
        answer.body["detail"]
            .as_str()
            .unwrap()
            .contains("AccessRealTimeProvisioningAPI")
    );
    // 404: unknown system, disabled system, unknown entity type.
    check(
        &post(&server, "acme", "nope", "user", &user).await,
        StatusCode::NOT_FOUND,
        "unknown system",
    );
    check(
        &post(&server, "acme", SRC_OFF, "user", &user).await,
        StatusCode::NOT_FOUND,
        "disabled system",
    );
    check(
        &post(&server, "acme", SRC_V2, "device", &user).await,
        StatusCode::NOT_FOUND,
        "entity type",
    );
    // 400: malformed JSON, not an object, wrong version (both ways), wrong delete id.
    let url = entities_url(&server, "acme", SRC_V2, "user");
    for (body, what) in [
        (&b"{\"id\": "[..], "malformed"),
        (b"[1, 2]", "array"),
        (b"", "empty"),
    ] {
        let answer = send(
            &server,
            reqwest::Method::POST,
            &url,
            "acme",
            Some(body.to_vec()),
        )
        .await;
        check(&answer, StatusCode::BAD_REQUEST, what);
        assert_eq!(answer.body["scimType"], "invalidSyntax");
    }
    let v1_body = json!({"id": "P000123", "userName": "bob"});
    let answer = post(&server, "acme", SRC_V2, "user", &v1_body).await;
    check(&answer, StatusCode::BAD_REQUEST, "v1 body to a v2 system");
    assert!(
        answer.body["detail"]
            .as_str()
            .unwrap()
            .contains(&format!("system {SRC_V2} expects SCIM API version 2")),
        "{}",
        answer.body
    );
    let answer = post(&server, "acme", SRC_V1, "user", &user).await;
    check(&answer, StatusCode::BAD_REQUEST, "v2 body to a v1 system");
    assert!(
        answer.body["detail"]
            .as_str()
            .unwrap()
            .contains("expects SCIM API version 1")
    );
    let url = format!("{}/P000123", entities_url(&server, "acme", SRC_V2, "user"));
    check(
        &send(&server, reqwest::Method::DELETE, &url, "acme", None).await,
        StatusCode::BAD_REQUEST,
        "v1 id deleted on a v2 system",
    );
    // 413: over the body limit (1 MiB).
    let mut big = v2_user(USER_ID);
    big["displayName"] = Value::String("x".repeat(1 << 20));
    check(
        &post(&server, "acme", SRC_V2, "user", &big).await,
        StatusCode::PAYLOAD_TOO_LARGE,
        "oversized",
    );
    assert_eq!(queued(&server, "acme").await, (0, 0));
    assert_eq!(queued(&server, "noperm").await, (0, 0));
}

#[tokio::test]
async fn over_the_rate_is_429_with_retry_after_and_queues_nothing() {
    let server = start().await;
    // Rate 1/s: a burst of 2, then 429.
    let mut accepted = 0;
    let mut refused = None;
    for _ in 0..5 {
        let answer = post(&server, "slow", SRC_V2, "user", &v2_user(USER_ID)).await;
        match answer.status {
            StatusCode::ACCEPTED => accepted += 1,
            StatusCode::TOO_MANY_REQUESTS => {
                refused = Some(answer);
                break;
            }
            other => panic!("unexpected {other}: {}", answer.body),
        }
    }
    let refused = refused.expect("the rate limit never answered 429");
    assert!(
        (2..=3).contains(&accepted),
        "accepted {accepted} before 429"
    );
    let retry_after: u64 = refused.retry_after.expect("Retry-After").parse().unwrap();
    assert!(retry_after >= 1);
    assert_eq!(refused.body["status"], "429");
    assert_eq!(queued(&server, "slow").await, (accepted, accepted));
    // Other tenants are not affected.
    assert_eq!(
        post(&server, "acme", SRC_V2, "user", &v2_user(USER_ID))
            .await
            .status,
        StatusCode::ACCEPTED
    );
    // After Retry-After the tenant is admitted again.
    tokio::time::sleep(Duration::from_secs(retry_after)).await;
    assert_eq!(
        post(&server, "slow", SRC_V2, "user", &v2_user(USER_ID))
            .await
            .status,
        StatusCode::ACCEPTED
    );
}
