//! Shared setup of the `realtime_*` test modules (`crate::realtime_common`): the
//! real-time chain acme → acme's real-time provisioning API (source system `realtime`) →
//! TargetSystem `apps` → `scim2-server`, driven by a RealTimeTarget `push`; an `idrelay serve`
//! over HTTPS with a given server certificate (and, for the pusher, a trusted CA file); waits
//! and status look-ups.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::{ChildGuard, Idrelay, Scim, Scim2Server, TestConfig, free_port, http_client};

pub const SOURCE_ID: &str = "3f6c8e2a-5b7d-4c9e-8f1a-2b3c4d5e6f70";
pub const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub const GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";

/// Target (write) transformation into scim2-server.
pub const TARGET_TRANSFORMATION: &str = r#"{
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
pub const SOURCE_TRANSFORMATION: &str = r#"{"user": {"mappings": [{"sourcePath": "$", "targetPath": "$"}]}, "group": {"mappings": [{"sourcePath": "$", "targetPath": "$"}]}}"#;

/// The Secret, SourceSystem `realtime` and TargetSystem `apps` (to `target_url`) of the chain.
pub fn systems_yaml(target_url: &str) -> String {
    format!(
        "\
apiVersion: v1
kind: Secret
metadata: {{name: target-secret}}
stringData: {{token: target-token, p12: keystore-pass-0123}}
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
",
        source_tr = serde_json::to_string(SOURCE_TRANSFORMATION).unwrap(),
        target_tr = serde_json::to_string(TARGET_TRANSFORMATION).unwrap(),
    )
}

/// A RealTimeTarget `name` of acme to the real-time API of `realtime` at `runtime_url`;
/// `extra` is appended to its spec (indented lines, e.g. `"  groups: true\n"`).
pub fn target_yaml(name: &str, runtime_url: &str, authentication: &str, extra: &str) -> String {
    format!(
        "\
---
apiVersion: idrelay.dev/v1alpha1
kind: RealTimeTarget
metadata: {{name: {name}}}
spec:
  tenantRef: {{name: acme}}
  displayName: ACME {name}
  sourceSystemRef: {{name: realtime}}
  runtimeUrl: {runtime_url}
  version: 2
  authentication: {authentication}
{extra}"
    )
}

/// Basic authentication as acme's technical admin.
pub fn basic_auth(client_id: &str) -> String {
    format!(
        "{{basic: {{clientId: {client_id}, secretRef: {{name: acme-admin-secret, key: secret}}}}}}"
    )
}

/// Certificate authentication for acme's technical admin (`acme-admin`).
pub fn certificate_auth(common_name: &str, output_secret: &str) -> String {
    format!(
        "{{certificate: {{commonName: \"{common_name}\", technicalAdminRef: {{name: acme-admin}}, passwordRef: {{name: target-secret, key: p12}}, outputSecretName: {output_secret}}}}}"
    )
}

/// A server certificate for `localhost` and `127.0.0.1`, written as `server.crt` and
/// `server.key` into `dir`; returns both paths.
pub fn server_certificate(dir: &Path) -> (PathBuf, PathBuf) {
    let key = rcgen::KeyPair::generate().unwrap();
    let cert =
        rcgen::CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
    let cert_path = dir.join("server.crt");
    let key_path = dir.join("server.key");
    std::fs::write(&cert_path, cert.pem()).unwrap();
    std::fs::write(&key_path, key.serialize_pem()).unwrap();
    (cert_path, key_path)
}

/// How to start idrelay over HTTPS.
pub struct Https<'a> {
    /// `--tls-cert` / `--tls-key` (else a generated self-signed certificate).
    pub identity: Option<(&'a Path, &'a Path)>,
    /// `SSL_CERT_FILE` of the process: the CA certificates its outbound clients trust.
    pub trust: Option<&'a Path>,
}

/// Starts `idrelay serve` over HTTPS with `config`; returns once `/readyz` answers 200.
pub async fn start_https(config: TestConfig, https: Https<'_>) -> Idrelay {
    let work = tempfile::Builder::new()
        .prefix("idrelay-rt-")
        .tempdir()
        .unwrap();
    let data_dir = work.path().join("data");
    std::fs::create_dir_all(&data_dir).unwrap();
    let port = free_port();
    let admin_port = free_port();
    let mut command = Command::new(env!("CARGO_BIN_EXE_idrelay"));
    command
        .arg("serve")
        .arg("--config")
        .arg(config.path())
        .arg("--data-dir")
        .arg(&data_dir)
        .arg("--listen")
        .arg(format!("127.0.0.1:{port}"))
        .arg("--admin-listen")
        .arg(format!("127.0.0.1:{admin_port}"));
    if let Some((cert, key)) = https.identity {
        command
            .arg("--tls-cert")
            .arg(cert)
            .arg("--tls-key")
            .arg(key);
    }
    match https.trust {
        Some(file) => command.env("SSL_CERT_FILE", file),
        None => command.env_remove("SSL_CERT_FILE"),
    };
    if std::env::var_os("RUST_LOG").is_none() {
        command.env("RUST_LOG", "info");
    }
    let process = ChildGuard::spawn("idrelay", command, work.path().join("idrelay.log"));
    let mut idrelay = Idrelay {
        process,
        config,
        work,
        data_dir,
        port,
        admin_port,
        plain_http: false,
    };
    let url = format!("{}/readyz", idrelay.admin_url());
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        idrelay.process.assert_running();
        if let Ok(r) = http_client().get(&url).send().await
            && r.status().is_success()
        {
            return idrelay;
        }
        assert!(
            Instant::now() < deadline,
            "idrelay not ready:\n{}",
            idrelay.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

pub fn user_body(user_name: &str, title: &str) -> Value {
    json!({
        "schemas": [USER],
        "userName": user_name,
        "title": title,
        "active": true,
        "name": {"givenName": user_name, "familyName": "Example"},
        "emails": [{"value": format!("{user_name}@example.org"), "primary": true}],
    })
}

/// idrelay with acme and the chain to scim2-server.
pub struct Chain {
    pub idrelay: Idrelay,
    pub target: Scim2Server,
}

pub fn condition<'a>(status: &'a Value, type_: &str) -> &'a Value {
    status["conditions"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["type"] == type_))
        .unwrap_or(&Value::Null)
}

impl Chain {
    pub fn acme(&self) -> Scim {
        self.idrelay.scim_basic("acme")
    }

    pub fn acme_api(&self) -> Scim {
        Scim::new(
            format!("{}/tenants/acme", self.idrelay.base_url()),
            self.idrelay.admin("acme").basic_auth(),
        )
    }

    /// Writes `yaml` as `file` into the config directory (the running idrelay picks it up).
    pub fn write(&self, file: &str, yaml: &str) {
        std::fs::write(self.idrelay.config.path().join(file), yaml).unwrap();
    }

    pub async fn in_target(&self, collection: &str, attribute: &str, value: &str) -> Option<Value> {
        let reply = self
            .target
            .scim()
            .get(&crate::support::with_query(
                collection,
                &[("filter", &format!("{attribute} eq \"{value}\""))],
            ))
            .await;
        reply.expect(200);
        reply.body["Resources"].as_array()?.first().cloned()
    }

    pub async fn user_in_target(&self, user_name: &str) -> Option<Value> {
        self.in_target("/Users", "userName", user_name).await
    }

    pub async fn group_in_target(&self, display_name: &str) -> Option<Value> {
        self.in_target("/Groups", "displayName", display_name).await
    }

    pub async fn wait_for(&self, what: &str, check: impl AsyncFn(&Chain) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(45);
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

    pub async fn wait_user(&self, user_name: &str, title: Option<&str>) {
        let what = format!("{user_name} with title {title:?} in the target");
        self.wait_for(&what, async |s: &Chain| {
            match s.user_in_target(user_name).await {
                Some(u) => title.is_none_or(|t| u["title"] == t),
                None => false,
            }
        })
        .await;
    }

    pub async fn wait_gone(&self, user_name: &str) {
        let what = format!("{user_name} deleted in the target");
        self.wait_for(&what, async |s: &Chain| {
            s.user_in_target(user_name).await.is_none()
        })
        .await;
    }

    pub async fn status(&self) -> Value {
        self.idrelay.status().await.unwrap_or(Value::Null)
    }

    /// The status of RealTimeTarget `name` (`Null` when it is not listed).
    pub async fn realtime_status(&self, name: &str) -> Value {
        let status = self.status().await;
        status
            .as_array()
            .into_iter()
            .flatten()
            .find(|e| e["kind"] == "RealTimeTarget" && e["metadata"]["name"] == name)
            .map(|e| e["status"].clone())
            .unwrap_or(Value::Null)
    }

    /// `status.userId` of TechnicalAdmin `name`.
    pub async fn admin_user_id(&self, name: &str) -> String {
        let status = self.status().await;
        status
            .as_array()
            .into_iter()
            .flatten()
            .find(|e| e["kind"] == "TechnicalAdmin" && e["metadata"]["name"] == name)
            .and_then(|e| e["status"]["userId"].as_str())
            .unwrap_or_else(|| panic!("no userId of TechnicalAdmin {name} in {status}"))
            .to_string()
    }

    /// Waits until condition `type_` of target `name` has `status` and returns the status.
    pub async fn wait_condition(&self, name: &str, type_: &str, status: &str) -> Value {
        let what = format!("{type_}={status} on RealTimeTarget {name}");
        self.wait_for(&what, async |s: &Chain| {
            condition(&s.realtime_status(name).await, type_)["status"] == status
        })
        .await;
        self.realtime_status(name).await
    }

    /// Users created, updated and deleted through SCIM v2, SCIM v1 and CSV import in acme reach
    /// scim2-server through the chain.
    pub async fn create_update_delete_through_every_api(&self) {
        let reply = self
            .acme()
            .post("/Users", &user_body("v2user", "One"))
            .await;
        reply.expect(201);
        let id = reply.id();
        self.wait_user("v2user", Some("One")).await;
        self.acme()
            .put(&format!("/Users/{id}"), &user_body("v2user", "Two"))
            .await
            .expect(200);
        self.wait_user("v2user", Some("Two")).await;
        self.acme()
            .delete(&format!("/Users/{id}"))
            .await
            .expect(204);
        self.wait_gone("v2user").await;

        let v1 = Scim::new(
            format!("{}/tenants/acme/service/scim", self.idrelay.base_url()),
            self.idrelay.admin("acme").basic_auth(),
        );
        let reply = v1
            .post(
                "/Users",
                &json!({
                    "schemas": ["urn:scim:schemas:core:1.0"],
                    "userName": "v1user",
                    "displayName": "V1",
                    "active": true,
                    "name": {"givenName": "V", "familyName": "One"},
                    "emails": [{"value": "v1user@example.org", "primary": true}],
                }),
            )
            .await;
        reply.expect(201);
        let v1_id = reply.id();
        self.wait_user("v1user", None).await;
        let mut updated = reply.body.clone();
        updated["displayName"] = json!("V1 updated");
        v1.put(&format!("/Users/{v1_id}"), &updated)
            .await
            .expect(200);
        self.wait_for("v1user with displayName V1 updated", async |s: &Chain| {
            s.user_in_target("v1user")
                .await
                .is_some_and(|u| u["displayName"] == "V1 updated")
        })
        .await;
        v1.delete(&format!("/Users/{v1_id}")).await.expect(204);
        self.wait_gone("v1user").await;

        let admin = self.idrelay.admin("acme").clone();
        for file in [
            "userName,mail,lastName,displayName\ncsvuser,csvuser@example.org,Csv,First\n",
            "userName,mail,lastName,displayName\ncsvuser,csvuser@example.org,Csv,Second\n",
        ] {
            let response = http_client()
                .post(format!(
                    "{}/tenants/acme/import/users",
                    self.idrelay.base_url()
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
        self.wait_for("csvuser with displayName Second", async |s: &Chain| {
            s.user_in_target("csvuser")
                .await
                .is_some_and(|u| u["displayName"] == "Second")
        })
        .await;
        // CSV users are deleted through SCIM (the import only creates and updates).
        let list = self
            .acme()
            .get(&crate::support::with_query(
                "/Users",
                &[("filter", "userName eq \"csvuser\"")],
            ))
            .await;
        let csv_id = list.body["Resources"][0]["id"]
            .as_str()
            .unwrap()
            .to_string();
        self.acme()
            .delete(&format!("/Users/{csv_id}"))
            .await
            .expect(204);
        self.wait_gone("csvuser").await;
    }
}
