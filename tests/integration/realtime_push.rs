//! Real-time targets end to end over loopback: a user created, updated or deleted in tenant
//! `acme` (SCIM v2, SCIM v1, CSV import) is pushed by acme's `RealTimeTarget` to acme's own
//! real-time provisioning API (source system `realtime`), which delivers it to a SCIM target
//! system: `scim2-server`. All in one `idrelay serve` started with a config directory.
//!
//! Also: Basic and OAuth authentication of the pushes, loop prevention (a user written with
//! the provisioning-job marker is never pushed, and the skip is in the real-time log), the
//! status of the RealTimeTarget (Ready, Provisioned with `<n> users provisioned`), and the
//! initial Provision of users that existed before the target.

use crate::support;

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::{ALL_DIRECTORY_PERMISSIONS, Idrelay, Scim, Scim2Server, TestConfig, http_client};

const SOURCE_ID: &str = "3f6c8e2a-5b7d-4c9e-8f1a-2b3c4d5e6f70";
const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";

/// Target (write) transformation into scim2-server.
const TARGET_TRANSFORMATION: &str = r#"{
  "user": {"mappings": [
    {"constant": ["urn:ietf:params:scim:schemas:core:2.0:User"], "targetPath": "$.schemas"},
    {"sourcePath": "$.userName", "targetPath": "$.userName"},
    {"sourcePath": "$.displayName", "targetPath": "$.displayName", "optional": true},
    {"sourcePath": "$.title", "targetPath": "$.title", "optional": true},
    {"sourcePath": "$.name", "targetPath": "$.name", "optional": true},
    {"sourcePath": "$.emails", "targetPath": "$.emails", "optional": true, "preserveArrayWithSingleElement": true}
  ]},
  "group": {"mappings": [
    {"constant": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "targetPath": "$.schemas"},
    {"sourcePath": "$.displayName", "targetPath": "$.displayName"}
  ]}
}"#;
const SOURCE_TRANSFORMATION: &str = r#"{"user": {"mappings": [{"sourcePath": "$", "targetPath": "$"}]}, "group": {"mappings": [{"sourcePath": "$", "targetPath": "$"}]}}"#;

struct Setup {
    idrelay: Idrelay,
    target: Scim2Server,
}

/// `basic` or `oauth` authentication of the real-time target.
async fn start(auth: &str) -> Setup {
    start_with_permissions(auth, ALL_DIRECTORY_PERMISSIONS).await
}

async fn start_with_permissions(auth: &str, permissions: &[&str]) -> Setup {
    let target = Scim2Server::start("target-token").await;
    let config = TestConfig::new(&["acme"], permissions);
    let idrelay = Idrelay::start_with(config, None, true).await;
    let admin = idrelay.admin("acme").clone();
    // A user that exists before the real-time target: sent by the initial Provision.
    let reply = idrelay
        .scim_basic("acme")
        .post("/Users", &user_body("before", "Before"))
        .await;
    reply.expect(201);
    let authentication = match auth {
        "basic" => format!(
            "{{basic: {{clientId: {}, secretRef: {{name: acme-admin-secret, key: secret}}}}}}",
            admin.client_id
        ),
        _ => format!(
            "{{oauth: {{clientId: {}, clientSecretRef: {{name: acme-admin-secret, key: secret}}}}}}",
            admin.client_id
        ),
    };
    let systems = format!(
        "\
apiVersion: v1
kind: Secret
metadata: {{name: target-secret}}
stringData: {{token: target-token}}
---
apiVersion: idrelay.dev/v1alpha1
kind: SourceSystem
metadata: {{name: realtime}}
spec:
  tenantRef: {{name: acme}}
  displayName: ACME real-time
  type: IdentityAuthentication
  systemId: {SOURCE_ID}
  properties: {{ias.api.version: \"2\"}}
  transformation: {source_tr}
---
apiVersion: idrelay.dev/v1alpha1
kind: TargetSystem
metadata: {{name: apps}}
spec:
  tenantRef: {{name: acme}}
  displayName: Apps
  type: SCIM
  url: {target_url}
  sourceSystemRefs: [{{name: realtime}}]
  authentication: {{bearerToken: {{tokenRef: {{name: target-secret, key: token}}}}}}
  properties: {{ips.failed.request.retry.backoff.cap: 1s, scim.support.patch.operation: \"false\"}}
  transformation: {target_tr}
---
apiVersion: idrelay.dev/v1alpha1
kind: RealTimeTarget
metadata: {{name: push}}
spec:
  tenantRef: {{name: acme}}
  displayName: ACME push
  sourceSystemRef: {{name: realtime}}
  runtimeUrl: {runtime_url}
  version: 2
  authentication: {authentication}
",
        source_tr = serde_json::to_string(SOURCE_TRANSFORMATION).unwrap(),
        target_url = target.base_url(),
        target_tr = serde_json::to_string(TARGET_TRANSFORMATION).unwrap(),
        runtime_url = idrelay.base_url(),
    );
    std::fs::write(idrelay.config.path().join("systems.yaml"), systems).unwrap();
    let setup = Setup { idrelay, target };
    setup
        .wait_for("the initial Provision", async |s: &Setup| {
            s.user_in_target("before").await.is_some()
        })
        .await;
    setup
}

fn user_body(user_name: &str, title: &str) -> Value {
    json!({
        "schemas": [USER],
        "userName": user_name,
        "title": title,
        "name": {"givenName": user_name, "familyName": "Example"},
        "emails": [{"value": format!("{user_name}@example.org"), "primary": true}],
    })
}

impl Setup {
    fn acme(&self) -> Scim {
        self.idrelay.scim_basic("acme")
    }

    async fn user_in_target(&self, user_name: &str) -> Option<Value> {
        let reply = self
            .target
            .scim()
            .get(&support::with_query(
                "/Users",
                &[("filter", &format!("userName eq \"{user_name}\""))],
            ))
            .await;
        reply.expect(200);
        reply.body["Resources"].as_array()?.first().cloned()
    }

    async fn wait_for(&self, what: &str, check: impl AsyncFn(&Setup) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !check(self).await {
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}\nreal-time log: {}\nstatus: {}\nidrelay log:\n{}",
                self.acme_api()
                    .get("/ipsproxy/service/api/v1/logs/realtime")
                    .await
                    .body,
                self.status().await,
                self.idrelay.log()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn wait_user(&self, user_name: &str, title: Option<&str>) {
        let what = format!("{user_name} with title {title:?} in the target");
        self.wait_for(&what, async |s: &Setup| {
            match s.user_in_target(user_name).await {
                Some(u) => title.is_none_or(|t| u["title"] == t),
                None => false,
            }
        })
        .await;
    }

    async fn wait_gone(&self, user_name: &str) {
        let what = format!("{user_name} deleted in the target");
        self.wait_for(&what, async |s: &Setup| {
            s.user_in_target(user_name).await.is_none()
        })
        .await;
    }

    async fn status(&self) -> Value {
        self.idrelay.status().await.unwrap_or(Value::Null)
    }

    async fn realtime_status(&self) -> Value {
        let status = self.status().await;
        status
            .as_array()
            .into_iter()
            .flatten()
            .find(|e| e["kind"] == "RealTimeTarget")
            .map(|e| e["status"].clone())
            .unwrap_or(Value::Null)
    }
}

fn condition<'a>(status: &'a Value, type_: &str) -> &'a Value {
    status["conditions"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["type"] == type_))
        .unwrap_or(&Value::Null)
}

async fn create_update_delete_through_every_api(setup: &Setup) {
    // SCIM v2: create, update (PUT), delete.
    let reply = setup
        .acme()
        .post("/Users", &user_body("v2user", "One"))
        .await;
    reply.expect(201);
    let id = reply.id();
    setup.wait_user("v2user", Some("One")).await;
    setup
        .acme()
        .put(&format!("/Users/{id}"), &user_body("v2user", "Two"))
        .await
        .expect(200);
    setup.wait_user("v2user", Some("Two")).await;
    setup
        .acme()
        .delete(&format!("/Users/{id}"))
        .await
        .expect(204);
    setup.wait_gone("v2user").await;

    // SCIM v1: create, then delete.
    let v1 = Scim::new(
        format!("{}/tenants/acme/service/scim", setup.idrelay.base_url()),
        setup.idrelay.admin("acme").basic_auth(),
    );
    let reply = v1
        .post(
            "/Users",
            &json!({
                "schemas": ["urn:scim:schemas:core:1.0"],
                "userName": "v1user",
                "title": "V1",
                "name": {"givenName": "V", "familyName": "One"},
                "emails": [{"value": "v1user@example.org", "primary": true}],
            }),
        )
        .await;
    reply.expect(201);
    let v1_id = reply.id();
    setup.wait_user("v1user", None).await;
    v1.delete(&format!("/Users/{v1_id}")).await.expect(204);
    setup.wait_gone("v1user").await;

    // CSV import: create, then update by a second import.
    let admin = setup.idrelay.admin("acme").clone();
    for file in [
        "userName,mail,lastName,displayName\ncsvuser,csvuser@example.org,Csv,First\n",
        "userName,mail,lastName,displayName\ncsvuser,csvuser@example.org,Csv,Second\n",
    ] {
        let response = http_client()
            .post(format!(
                "{}/tenants/acme/import/users",
                setup.idrelay.base_url()
            ))
            .basic_auth(&admin.client_id, Some(&admin.secret))
            .header("Content-Type", "text/csv")
            .body(file)
            .send()
            .await
            .unwrap();
        assert!(
            response.status().is_success(),
            "{:?}",
            response.text().await
        );
    }
    setup
        .wait_for("csvuser with displayName Second", async |s: &Setup| {
            s.user_in_target("csvuser")
                .await
                .is_some_and(|u| u["displayName"] == "Second")
        })
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn basic_pushes_every_change_and_prevents_loops() {
    let setup = start("basic").await;
    create_update_delete_through_every_api(&setup).await;

    // Loop prevention: a write marked as a provisioning job's is never pushed, not even a
    // later direct update of the same user ("then or later").
    let reply = setup
        .acme()
        .send_with(
            reqwest::Method::POST,
            "/Users",
            Some(&user_body("fromjob", "Job")),
            &[("X-IdRelay-Provisioning-Job", "scim-source-1")],
        )
        .await;
    reply.expect(201);
    let job_user = reply.id();
    setup
        .acme()
        .put(
            &format!("/Users/{job_user}"),
            &user_body("fromjob", "Later"),
        )
        .await
        .expect(200);
    // A direct user created after it is pushed, so the job user was already considered.
    setup
        .acme()
        .post("/Users", &user_body("direct", "D"))
        .await
        .expect(201);
    setup.wait_user("direct", Some("D")).await;
    assert!(setup.user_in_target("fromjob").await.is_none());
    let logs = setup
        .acme_api()
        .get(&format!(
            "/ipsproxy/service/api/v1/logs/realtime?entityId={job_user}"
        ))
        .await;
    assert!(
        logs.body.to_string().contains("loop prevention"),
        "no skip in the real-time log: {}",
        logs.body
    );

    // Status: Ready, Provisioned, DeliveryHealthy, counters, URL, auth column.
    setup
        .wait_for("Provisioned in status", async |s: &Setup| {
            let st = s.realtime_status().await;
            condition(&st, "Provisioned")["status"] == "True"
        })
        .await;
    let status = setup.realtime_status().await;
    assert_eq!(condition(&status, "Ready")["status"], "True", "{status}");
    assert_eq!(
        condition(&status, "Provisioned")["message"],
        "1 users provisioned",
        "{status}"
    );
    assert_eq!(status["authentication"], "Basic");
    assert!(status["url"].as_str().unwrap().ends_with(&format!(
        "/tenants/acme/ipsproxy/service/api/v1/systems/{SOURCE_ID}/entities/user"
    )));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oauth_pushes_every_change() {
    let setup = start("oauth").await;
    create_update_delete_through_every_api(&setup).await;
    let status = setup.realtime_status().await;
    assert_eq!(status["authentication"], "OAuth");
}

impl Setup {
    fn acme_api(&self) -> Scim {
        Scim::new(
            format!("{}/tenants/acme", self.idrelay.base_url()),
            self.idrelay.admin("acme").basic_auth(),
        )
    }
}

/// Each Test Connection reason from a real failing setup (and the success message).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_connection_names_the_leaf_cause() {
    let config = TestConfig::new(&["acme"], ALL_DIRECTORY_PERMISSIONS);
    let idrelay = Idrelay::start_with(config, None, true).await;
    let admin = idrelay.admin("acme").clone();
    let base = idrelay.base_url();
    let dead = format!("http://127.0.0.1:{}", support::free_port());
    let entities = |root: &str, system: &str| {
        format!("{root}/tenants/acme/ipsproxy/service/api/v1/systems/{system}/entities/user")
    };
    let target = |name: &str, url_part: &str, version: u8, auth: &str| {
        format!(
            "---
apiVersion: idrelay.dev/v1alpha1
kind: RealTimeTarget
metadata: {{name: {name}}}
spec:
  tenantRef: {{name: acme}}
  displayName: {name}
  {url_part}
  version: {version}
  authentication: {auth}
"
        )
    };
    let basic = |client: &str, key: &str| {
        format!("{{basic: {{clientId: {client}, secretRef: {{name: tc-secrets, key: {key}}}}}}}")
    };
    let mut yaml = format!(
        "\
apiVersion: v1
kind: Secret
metadata: {{name: tc-secrets}}
stringData: {{good: \"{good}\", nopush: \"nopush-secret-0123456789\", wrong: \"not-the-secret-0123\", other: \"other-secret-0123456789\"}}
---
apiVersion: idrelay.dev/v1alpha1
kind: TechnicalAdmin
metadata: {{name: nopush}}
spec:
  tenantRef: {{name: acme}}
  displayName: no push
  clientId: 7e000000-0000-4000-8000-0000000000a1
  permissions: [ReadUsers]
  secrets: [{{secretRef: {{name: tc-secrets, key: nopush}}}}]
---
apiVersion: idrelay.dev/v1alpha1
kind: TechnicalAdmin
metadata: {{name: other}}
spec:
  tenantRef: {{name: acme}}
  displayName: other
  clientId: 7e000000-0000-4000-8000-0000000000a2
  permissions: [AccessRealTimeProvisioningAPI]
  secrets: [{{secretRef: {{name: tc-secrets, key: other}}}}]
---
apiVersion: idrelay.dev/v1alpha1
kind: SourceSystem
metadata: {{name: realtime}}
spec:
  tenantRef: {{name: acme}}
  displayName: ACME real-time
  type: IdentityAuthentication
  systemId: {SOURCE_ID}
  properties: {{ias.api.version: \"2\"}}
",
        good = admin.secret
    );
    let good = basic(&admin.client_id, "good");
    let ok_url = format!("scimUrl: {}", entities(&base, SOURCE_ID));
    yaml += &target("ok", &ok_url, 2, &good);
    yaml += &target(
        "wrong-secret",
        &ok_url,
        2,
        &basic("7e000000-0000-4000-8000-0000000000a2", "wrong"),
    );
    yaml += &target(
        "forbidden",
        &ok_url,
        2,
        &basic("7e000000-0000-4000-8000-0000000000a1", "nopush"),
    );
    yaml += &target(
        "no-system",
        &format!(
            "scimUrl: {}",
            entities(&base, "00000000-0000-4000-8000-000000000000")
        ),
        2,
        &good,
    );
    yaml += &target("version", &ok_url, 1, &good);
    yaml += &target(
        "dead",
        &format!("scimUrl: {}", entities(&dead, SOURCE_ID)),
        2,
        &good,
    );
    std::fs::write(idrelay.config.path().join("targets.yaml"), yaml).unwrap();
    let setup = Setup {
        idrelay,
        target: Scim2Server::start("unused").await,
    };
    let expected = [
        ("ok", "Connected"),
        ("wrong-secret", "Unauthorized"),
        ("forbidden", "Forbidden"),
        ("no-system", "SystemNotFound"),
        ("version", "VersionMismatch"),
        ("dead", "ConnectError"),
    ];
    let reasons = async |s: &Setup| -> Vec<(String, String, String)> {
        let status = s.status().await;
        status
            .as_array()
            .into_iter()
            .flatten()
            .filter(|e| e["kind"] == "RealTimeTarget")
            .map(|e| {
                let c = condition(&e["status"], "ConnectionVerified");
                (
                    e["metadata"]["name"].as_str().unwrap_or("").to_string(),
                    c["reason"].as_str().unwrap_or("").to_string(),
                    c["message"].as_str().unwrap_or("").to_string(),
                )
            })
            .collect()
    };
    setup
        .wait_for("every Test Connection result", async |s: &Setup| {
            let got = reasons(s).await;
            expected
                .iter()
                .all(|(n, r)| got.iter().any(|(gn, gr, _)| gn == n && gr == r))
        })
        .await;
    let got = reasons(&setup).await;
    let ok = got.iter().find(|(n, _, _)| n == "ok").unwrap();
    assert_eq!(
        ok.2,
        "Connection to the selected target system was established successfully."
    );
}

/// Loop prevention with a real provisioning job: a SCIM source system's Read job writes a user
/// into acme (origin `job:<id>`); it is not pushed on, while a user created in acme directly is.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_written_by_a_provisioning_job_are_not_pushed() {
    const JOB_SOURCE: &str = "5a1b2c3d-0000-4000-8000-00000000b001";
    let mut permissions = ALL_DIRECTORY_PERMISSIONS.to_vec();
    permissions.push("AccessIdentityProvisioningTenantAdminAPI");
    let setup = start_with_permissions("basic", &permissions).await;
    let source = Scim2Server::start("source-token").await;
    let admin = setup.idrelay.admin("acme").clone();
    let jobs = format!(
        "\
apiVersion: v1
kind: Secret
metadata: {{name: job-secrets}}
stringData: {{token: source-token, password: \"{password}\"}}
---
apiVersion: idrelay.dev/v1alpha1
kind: SourceSystem
metadata: {{name: scim-source}}
spec:
  tenantRef: {{name: acme}}
  displayName: SCIM source
  type: SCIM
  systemId: {JOB_SOURCE}
  url: {source_url}
  authentication: {{bearerToken: {{tokenRef: {{name: job-secrets, key: token}}}}}}
  transformation: {source_tr}
---
apiVersion: idrelay.dev/v1alpha1
kind: TargetSystem
metadata: {{name: acme-directory}}
spec:
  tenantRef: {{name: acme}}
  displayName: ACME directory
  type: IdentityAuthentication
  url: {acme_url}
  sourceSystemRefs: [{{name: scim-source}}]
  authentication: {{basic: {{username: {client_id}, passwordRef: {{name: job-secrets, key: password}}}}}}
  transformation: {target_tr}
",
        password = admin.secret,
        source_url = source.base_url(),
        source_tr = serde_json::to_string(SOURCE_TRANSFORMATION).unwrap(),
        acme_url = setup.idrelay.scim_url("acme"),
        client_id = admin.client_id,
        target_tr = serde_json::to_string(TARGET_TRANSFORMATION).unwrap(),
    );
    std::fs::write(setup.idrelay.config.path().join("jobs.yaml"), jobs).unwrap();
    source
        .scim()
        .post("/Users", &user_body("jobuser", "FromJob"))
        .await
        .expect(201);
    // Start the Read job once the source is configured.
    let deadline = Instant::now() + Duration::from_secs(30);
    let job_id = loop {
        let reply = setup
            .acme_api()
            .send(
                reqwest::Method::POST,
                &format!("/ips/service/publicapi/v1/startJob/{JOB_SOURCE}/jobs/READ"),
                None,
            )
            .await;
        if reply.status == 202 {
            break reply.body["jobId"].as_str().unwrap().to_string();
        }
        assert!(
            Instant::now() < deadline,
            "job not accepted: {}",
            reply.body
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    setup
        .wait_for("the job user in acme", async |s: &Setup| {
            let reply = s
                .acme()
                .get(&support::with_query(
                    "/Users",
                    &[("filter", "userName eq \"jobuser\"")],
                ))
                .await;
            reply.body["totalResults"] == 1
        })
        .await;
    // A direct user created after the job's user: once it is pushed, the job user was seen.
    setup
        .acme()
        .post("/Users", &user_body("direct", "D"))
        .await
        .expect(201);
    setup.wait_user("direct", Some("D")).await;
    assert!(
        setup.user_in_target("jobuser").await.is_none(),
        "job {job_id}: the job's user was pushed"
    );
    let logs = setup
        .acme_api()
        .get("/ipsproxy/service/api/v1/logs/realtime")
        .await;
    assert!(
        logs.body
            .to_string()
            .contains(&format!("written by provisioning job {JOB_SOURCE}")),
        "{}",
        logs.body
    );
}
