//! Loopback tests of client-certificate authentication (mTLS) on the tenant listener: the
//! runtime serves HTTPS with a test server certificate; client certificates are issued by the
//! tenant CAs (`idrelay::auth::certificates`).
//!
//! What they show: a certificate issued for acme's technical admin authenticates it on SCIM and
//! on the real-time API (no Authorization header); an Authorization header wins over the
//! certificate; a certificate of another tenant's CA, an expired one, or one of a CA no tenant
//! has is refused (401, or the handshake fails); without a certificate Basic still works; a
//! tenant added at runtime is trusted for new connections without a restart.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use idrelay::api::Permission;
use idrelay::auth::certificates::{TenantCa, Validity, issue_client_certificate};
use idrelay::runtime::{
    AdminConfig, AdminSecret, Runtime, RuntimeConfig, RuntimeOptions, TenantConfig,
};
use idrelay::server::{AppOptions, TlsMode, bind, serve_listener};
use reqwest::StatusCode;
use tokio::sync::oneshot;

const SECRET: &str = "mtls-test-secret-0123456789";
const CLIENT_ID: &str = "11111111-1111-4111-8111-111111111111";
const USER_ID: &str = "P000123";

fn admin(client_id: &str, user_id: &str) -> (String, AdminConfig) {
    (
        client_id.to_string(),
        AdminConfig {
            resource: format!("default/{client_id}"),
            display_name: "Provisioner".into(),
            client_id: client_id.to_string(),
            user_id: user_id.to_string(),
            permissions: [
                Permission::ReadUsers,
                Permission::AccessRealTimeProvisioningAPI,
            ]
            .into_iter()
            .collect::<BTreeSet<_>>(),
            secrets: vec![AdminSecret {
                value: SECRET.into(),
                expires_at: None,
            }],
            lock_after_failed_logons: false,
        },
    )
}

fn tenant(name: &str) -> (String, TenantConfig) {
    (
        name.to_string(),
        TenantConfig {
            name: name.into(),
            admins: BTreeMap::from([admin(CLIENT_ID, USER_ID)]),
            ..TenantConfig::default()
        },
    )
}

// `..Default` keeps this test compiling when the configuration gains fields.
#[allow(clippy::needless_update)]
fn config(tenants: &[&str]) -> RuntimeConfig {
    RuntimeConfig {
        tenants: tenants.iter().map(|t| tenant(t)).collect(),
        ..RuntimeConfig::default()
    }
}

struct Server {
    base: String,
    server_cert_pem: String,
    runtime: Arc<Runtime>,
    _stop: oneshot::Sender<()>,
    _dir: tempfile::TempDir,
}

async fn start() -> Server {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().unwrap();
    let runtime = Runtime::open(RuntimeOptions {
        data_dir: dir.path().to_path_buf(),
    })
    .await
    .unwrap();
    runtime.apply(config(&["acme", "apps"])).await.unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["localhost".to_string()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let (listener, addr) = bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(serve_listener(
        listener,
        runtime.clone(),
        TlsMode::Pem {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        },
        AppOptions::default(),
        async {
            let _ = stopped.await;
        },
    ));
    Server {
        base: format!("https://localhost:{}", addr.port()),
        server_cert_pem: cert.pem(),
        runtime,
        _stop: stop,
        _dir: dir,
    }
}

impl Server {
    /// A client trusting the server, presenting `identity` (key + certificate PEM) if given.
    fn client(&self, identity: Option<(&str, &str)>) -> reqwest::Client {
        let mut builder =
            reqwest::Client::builder()
                .tls_certs_only([
                    reqwest::Certificate::from_pem(self.server_cert_pem.as_bytes()).unwrap(),
                ]);
        if let Some((key_pem, cert_pem)) = identity {
            let pem = format!("{key_pem}\n{cert_pem}");
            builder = builder.identity(reqwest::Identity::from_pem(pem.as_bytes()).unwrap());
        }
        builder.build().unwrap()
    }

    fn ca(&self, tenant: &str) -> Arc<TenantCa> {
        self.runtime.auth.cas.get(tenant).unwrap()
    }

    /// GET `path` of `tenant`: the status, or `None` when the connection failed (handshake).
    async fn get(
        &self,
        client: &reqwest::Client,
        tenant: &str,
        path: &str,
        basic: Option<&str>,
    ) -> Option<StatusCode> {
        let mut request = client.get(format!("{}/tenants/{tenant}{path}", self.base));
        if let Some(secret) = basic {
            request = request.basic_auth(CLIENT_ID, Some(secret));
        }
        request.send().await.ok().map(|r| r.status())
    }
}

const USERS: &str = "/scim/Users";
const REALTIME_LOGS: &str = "/ipsproxy/service/api/v1/logs/realtime";

fn now() -> jiff::Timestamp {
    jiff::Timestamp::now()
}

#[tokio::test]
async fn admin_certificate_authenticates_on_scim_and_real_time_api() {
    let server = start().await;
    let issued = issue_client_certificate(
        &server.ca("acme"),
        "RealTimeTarget",
        USER_ID,
        Validity::starting(now(), 30),
    )
    .unwrap();
    let client = server.client(Some((&issued.key_pem, &issued.cert_pem)));
    assert_eq!(
        server.get(&client, "acme", USERS, None).await,
        Some(StatusCode::OK)
    );
    assert_eq!(
        server.get(&client, "acme", REALTIME_LOGS, None).await,
        Some(StatusCode::OK)
    );
    // An Authorization header wins over the certificate.
    assert_eq!(
        server
            .get(&client, "acme", USERS, Some("wrong-secret-0123456789"))
            .await,
        Some(StatusCode::UNAUTHORIZED)
    );
    // The same certificate at another tenant (whose CA did not issue it).
    assert_eq!(
        server.get(&client, "apps", USERS, None).await,
        Some(StatusCode::UNAUTHORIZED)
    );
}

#[tokio::test]
async fn foreign_expired_and_unknown_certificates_are_refused() {
    let server = start().await;
    // Issued by apps' CA for a user id that is also an admin of acme.
    let other_tenant = issue_client_certificate(
        &server.ca("apps"),
        "RT",
        USER_ID,
        Validity::starting(now(), 30),
    )
    .unwrap();
    let client = server.client(Some((&other_tenant.key_pem, &other_tenant.cert_pem)));
    assert_eq!(
        server.get(&client, "acme", USERS, None).await,
        Some(StatusCode::UNAUTHORIZED)
    );

    let expired = issue_client_certificate(
        &server.ca("acme"),
        "RT",
        USER_ID,
        Validity {
            not_before: now() - jiff::SignedDuration::from_hours(48),
            not_after: now() - jiff::SignedDuration::from_hours(24),
        },
    )
    .unwrap();
    let client = server.client(Some((&expired.key_pem, &expired.cert_pem)));
    let status = server.get(&client, "acme", USERS, None).await;
    assert!(
        status.is_none() || status == Some(StatusCode::UNAUTHORIZED),
        "{status:?}"
    );

    // A CA that no tenant has: refused at the handshake.
    let stranger_ca = TenantCa::generate("elsewhere", now()).unwrap();
    let stranger =
        issue_client_certificate(&stranger_ca, "RT", USER_ID, Validity::starting(now(), 30))
            .unwrap();
    let client = server.client(Some((&stranger.key_pem, &stranger.cert_pem)));
    let status = server.get(&client, "acme", USERS, None).await;
    assert!(
        status.is_none() || status == Some(StatusCode::UNAUTHORIZED),
        "{status:?}"
    );

    // A certificate of acme's CA naming no admin of acme.
    let nobody = issue_client_certificate(
        &server.ca("acme"),
        "RT",
        "P999999",
        Validity::starting(now(), 30),
    )
    .unwrap();
    let client = server.client(Some((&nobody.key_pem, &nobody.cert_pem)));
    assert_eq!(
        server.get(&client, "acme", USERS, None).await,
        Some(StatusCode::UNAUTHORIZED)
    );
}

#[tokio::test]
async fn without_certificate_basic_still_works() {
    let server = start().await;
    let client = server.client(None);
    assert_eq!(
        server.get(&client, "acme", USERS, Some(SECRET)).await,
        Some(StatusCode::OK)
    );
    assert_eq!(
        server.get(&client, "acme", USERS, None).await,
        Some(StatusCode::UNAUTHORIZED)
    );
}

#[tokio::test]
async fn a_tenant_added_at_runtime_is_trusted_without_restart() {
    let server = start().await;
    server
        .runtime
        .apply(config(&["acme", "apps", "beta"]))
        .await
        .unwrap();
    let issued = issue_client_certificate(
        &server.ca("beta"),
        "RT",
        USER_ID,
        Validity::starting(now(), 30),
    )
    .unwrap();
    let client = server.client(Some((&issued.key_pem, &issued.cert_pem)));
    assert_eq!(
        server.get(&client, "beta", USERS, None).await,
        Some(StatusCode::OK)
    );
}
