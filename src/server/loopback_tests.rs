//! Loopback tests of the tenant listener: TLS (self-signed and PEM), HTTP/2 by ALPN, the token
//! endpoint, the Principal extractor, path and host routing, body limit, graceful shutdown.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use http::{Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::Value;
use tokio::sync::oneshot;
use tower::ServiceExt;

use super::*;
use crate::api::Permission;
use crate::auth::Principal;
use crate::runtime::{AdminConfig, AdminSecret, RuntimeConfig, RuntimeOptions, TenantConfig};

const CLIENT: &str = "0b7e5c1a-3f59-4c7e-9a55-1c2d3e4f5a6b";
const SECRET: &str = "correct horse battery staple";

fn config() -> RuntimeConfig {
    let admin = AdminConfig {
        resource: "default/provisioner".into(),
        display_name: "Provisioner".into(),
        client_id: CLIENT.into(),
        user_id: "P000001".into(),
        permissions: [Permission::ManageUsers].into_iter().collect(),
        secrets: vec![AdminSecret {
            value: SECRET.into(),
            expires_at: None,
        }],
        lock_after_failed_logons: true,
    };
    let acme = TenantConfig {
        name: "acme".into(),
        hosts: vec!["acme.test".into()],
        admins: BTreeMap::from([(CLIENT.to_string(), admin)]),
        ..TenantConfig::default()
    };
    RuntimeConfig {
        tenants: BTreeMap::from([("acme".to_string(), acme)]),
        ..RuntimeConfig::default()
    }
}

async fn runtime(dir: &tempfile::TempDir) -> Arc<Runtime> {
    let runtime = Runtime::open(RuntimeOptions {
        data_dir: dir.path().to_path_buf(),
    })
    .await
    .unwrap();
    runtime.apply(config()).await.unwrap();
    runtime
}

struct Running {
    addr: SocketAddr,
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<Result<(), ServerError>>,
}

async fn start(runtime: Arc<Runtime>, tls: TlsMode, options: AppOptions) -> Running {
    let (listener, addr) = bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(serve_listener(listener, runtime, tls, options, async {
        let _ = stopped.await;
    }));
    Running { addr, stop, task }
}

impl Running {
    async fn shutdown(self) {
        let _ = self.stop.send(());
        self.task.await.unwrap().unwrap();
    }
}

fn client_builder() -> reqwest::ClientBuilder {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
}

async fn json(response: reqwest::Response) -> Value {
    response.json().await.unwrap()
}

#[tokio::test]
async fn token_over_self_signed_tls_with_http2() {
    let dir = tempfile::tempdir().unwrap();
    let running = start(
        runtime(&dir).await,
        TlsMode::SelfSigned,
        AppOptions::default(),
    )
    .await;
    let client = client_builder()
        .danger_accept_invalid_certs(true)
        .build()
        .unwrap();
    let base = format!("https://127.0.0.1:{}/tenants/acme", running.addr.port());

    let response = client
        .post(format!("{base}/oauth2/token"))
        .basic_auth(CLIENT, Some(SECRET))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.version(), http::Version::HTTP_2);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let body = json(response).await;
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 3600);
    let token = body["access_token"].as_str().unwrap().to_string();
    assert!(!token.is_empty());

    // The token opens the SCIM API of the tenant.
    let response = client
        .get(format!("{base}/scim/Users"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(json(response).await["totalResults"], 0);
    let response = client
        .get(format!("{base}/scim/Users"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        response.headers()["www-authenticate"],
        crate::auth::extract::WWW_AUTHENTICATE_CHALLENGE
    );

    // Form-field client authentication works too.
    let response = client
        .post(format!("{base}/oauth2/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", CLIENT),
            ("client_secret", SECRET),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);

    // Wrong secret: RFC 6749 invalid_client with a challenge.
    let response = client
        .post(format!("{base}/oauth2/token"))
        .basic_auth(CLIENT, Some("wrong"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(response.headers().contains_key("www-authenticate"));
    assert_eq!(response.headers()["cache-control"], "no-store");
    assert_eq!(json(response).await["error"], "invalid_client");

    // Unsupported grant type.
    let response = client
        .post(format!("{base}/oauth2/token"))
        .basic_auth(CLIENT, Some(SECRET))
        .form(&[("grant_type", "password")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(json(response).await["error"], "unsupported_grant_type");

    // Health under the tenant prefix and at the root.
    let response = client.get(format!("{base}/healthz")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let response = client
        .get(format!("https://127.0.0.1:{}/healthz", running.addr.port()))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);

    // Unknown tenant: 404 SCIM error.
    let response = client
        .get(format!(
            "https://127.0.0.1:{}/tenants/nope/scim/Users",
            running.addr.port()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_eq!(response.headers()["content-type"], SCIM_CONTENT_TYPE);
    assert_eq!(json(response).await["detail"], "unknown tenant");

    running.shutdown().await;
}

#[tokio::test]
async fn host_routing_with_trusted_pem_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["acme.test".to_string()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let tls = TlsMode::Pem {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    };
    let running = start(
        runtime(&dir).await,
        tls,
        AppOptions {
            max_body_bytes: 1024,
        },
    )
    .await;
    let client = client_builder()
        .tls_certs_only([reqwest::Certificate::from_der(cert.der()).unwrap()])
        .resolve("acme.test", running.addr)
        .resolve("other.test", running.addr)
        .build()
        .unwrap();
    let port = running.addr.port();

    // The tenant host reaches the tenant at the root paths.
    let response = client
        .post(format!("https://acme.test:{port}/oauth2/token"))
        .basic_auth(CLIENT, Some(SECRET))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);

    // A user created through the tenant host gets a Location on that host, without prefix.
    let response = client
        .post(format!("https://acme.test:{port}/scim/Users"))
        .basic_auth(CLIENT, Some(SECRET))
        .header("content-type", "application/scim+json")
        .body(r#"{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"jdoe"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let location = response.headers()["location"].to_str().unwrap().to_string();
    assert!(
        location.starts_with(&format!("https://acme.test:{port}/scim/Users/")),
        "{location}"
    );

    // Over the limit: 413 SCIM error.
    let response = client
        .post(format!("https://acme.test:{port}/oauth2/token"))
        .basic_auth(CLIENT, Some(SECRET))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!(
            "grant_type=client_credentials&pad={}",
            "x".repeat(2048)
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(json(response).await["status"], "413");

    running.shutdown().await;
}

/// Principal extractor, exercised through the real tenant resolution on an in-process router.
#[tokio::test]
async fn principal_extractor_basic_bearer_and_lock() {
    let dir = tempfile::tempdir().unwrap();
    let runtime = runtime(&dir).await;
    let whoami = Router::new()
        .route(
            "/whoami",
            get(|p: Principal| async move {
                match p.require_any(&[Permission::ManageGroups]) {
                    Ok(()) => p.client_id,
                    Err(e) => e.detail,
                }
            }),
        )
        .with_state(runtime.clone());
    let rt = runtime.clone();
    let call = move |auth: Option<String>, host: &str, path: &str| {
        let mut builder = Request::get(path).header("host", host);
        if let Some(auth) = auth {
            builder = builder.header("authorization", auth);
        }
        let request = tenant::route_tenant(&rt, builder.body(Body::empty()).unwrap());
        whoami.clone().oneshot(request)
    };
    let basic = |secret: &str| {
        use base64::Engine;
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{CLIENT}:{secret}"))
        )
    };

    let response = call(Some(basic(SECRET)), "localhost", "/tenants/acme/whoami")
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let text = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(text, "technical admin lacks ManageGroups");

    let response = call(None, "localhost", "/tenants/acme/whoami")
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        response.headers()["www-authenticate"],
        crate::auth::extract::WWW_AUTHENTICATE_CHALLENGE
    );
    assert_eq!(response.headers()["content-type"], SCIM_CONTENT_TYPE);

    // A bearer token from the token key works on the tenant host.
    let config = runtime.config();
    let admin = &config.tenants["acme"].admins[CLIENT];
    let token = runtime
        .auth
        .issue_token("acme", admin, SECRET, jiff::Timestamp::now())
        .unwrap();
    let bearer = format!("Bearer {}", token.access_token);
    let response = call(Some(bearer.clone()), "acme.test:8443", "/whoami")
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let response = call(Some(format!("{bearer}x")), "acme.test", "/whoami")
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);

    // Five wrong secrets lock the client id: the right secret is refused, the token still works.
    for _ in 0..5 {
        let response = call(Some(basic("wrong")), "localhost", "/tenants/acme/whoami")
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    }
    let response = call(Some(basic(SECRET)), "localhost", "/tenants/acme/whoami")
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let response = call(Some(bearer), "localhost", "/tenants/acme/whoami")
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn plain_http_serves_and_shuts_down() {
    let dir = tempfile::tempdir().unwrap();
    let running = start(runtime(&dir).await, TlsMode::Plain, AppOptions::default()).await;
    let client = client_builder().build().unwrap();
    let response = client
        .get(format!("http://{}/tenants/acme/healthz", running.addr))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let response = client
        .get(format!("http://{}/nothing", running.addr))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_eq!(json(response).await["detail"], "no such endpoint");
    // Shutdown completes although the client keeps its keep-alive connection open.
    tokio::time::timeout(std::time::Duration::from_secs(5), running.shutdown())
        .await
        .unwrap();
}
