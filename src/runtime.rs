//! The running runtime: what the drivers (files, operator) configure and what the HTTP server
//! serves. It holds the desired configuration (tenants, technical admins, source and target
//! systems) computed by `reconcile`, the store, and one
//! [`Directory`](crate::directory::Directory) per tenant.
//!
//! Invariant (architecture §5.4): configuration comes only from the resources; the store holds
//! data. Applying the same [`RuntimeConfig`] twice is a no-op.

use std::collections::BTreeMap;
use std::collections::BTreeSet;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use arc_swap::ArcSwap;

use crate::api::Permission;
use crate::auth::{AuthError, AuthState};
use crate::directory::{Directory, WriterHandle};
use crate::store::{Store, StoreError};

/// How to open the runtime.
#[derive(Debug, Clone)]
pub struct RuntimeOptions {
    /// Where the store (`idrelay.db`) and the token key live.
    pub data_dir: PathBuf,
}

/// Errors opening or configuring the runtime.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error("store: {0}")]
    Store(#[from] StoreError),
    #[error("auth: {0}")]
    Auth(#[from] AuthError),
}

/// What the runtime currently serves: the configuration, its directories and host routes.
struct Serving {
    config: Arc<RuntimeConfig>,
    directories: BTreeMap<String, Arc<Directory>>,
    /// Lowercased host name -> tenant name.
    hosts: HashMap<String, String>,
}

/// The running runtime: the store, the directory writer, one [`Directory`] per configured
/// tenant, and the authentication state.
pub struct Runtime {
    store: Store,
    writer: WriterHandle,
    pub auth: AuthState,
    serving: ArcSwap<Serving>,
    /// Every directory opened so far, also of tenants no longer configured (their data stays
    /// in the store; a tenant that comes back is served from the same state).
    opened: tokio::sync::Mutex<BTreeMap<String, Arc<Directory>>>,
    /// Woken after new deliveries are committed (the delivery engine waits on it).
    delivery_wakeup: Arc<tokio::sync::Notify>,
    /// The outbox consumer: delivers accepted events to the target systems.
    delivery: crate::delivery::DeliveryEngine,
    /// Real-time targets: push directory changes as they are committed.
    realtime: crate::realtime::Pusher,
    /// This runtime (the push tasks hold it weakly).
    me: std::sync::Weak<Runtime>,
}

impl Runtime {
    /// Opens the store in `options.data_dir`, starts the directory writer and loads the auth
    /// state. Serves no tenant until [`Runtime::apply`].
    pub async fn open(options: RuntimeOptions) -> Result<Arc<Runtime>, RuntimeError> {
        let store = Store::open(&options.data_dir).await?;
        let writer = WriterHandle::start(&store).await?;
        let auth = AuthState::load_or_create(&options.data_dir)?;
        let delivery_wakeup = Arc::new(tokio::sync::Notify::new());
        // Picks up the deliveries left pending in the store (recovery after a restart).
        let delivery = crate::delivery::DeliveryEngine::start(
            store.clone(),
            writer.clone(),
            delivery_wakeup.clone(),
        );
        Ok(Arc::new_cyclic(|me| Runtime {
            me: me.clone(),
            store,
            writer,
            auth,
            serving: ArcSwap::from_pointee(Serving {
                config: Arc::new(RuntimeConfig::default()),
                directories: BTreeMap::new(),
                hosts: HashMap::new(),
            }),
            opened: tokio::sync::Mutex::new(BTreeMap::new()),
            delivery_wakeup,
            delivery,
            realtime: crate::realtime::Pusher::new(),
        }))
    }

    /// The configuration being served.
    pub fn config(&self) -> Arc<RuntimeConfig> {
        self.serving.load().config.clone()
    }

    /// Serves `config`: opens a directory for each new tenant (loading its state from the
    /// store), stops serving removed tenants (keeping their data). A no-op when unchanged.
    pub async fn apply(&self, config: RuntimeConfig) -> Result<(), RuntimeError> {
        let mut opened = self.opened.lock().await;
        if *self.serving.load().config == config {
            return Ok(());
        }
        let mut directories = BTreeMap::new();
        let mut hosts = HashMap::new();
        for (name, tenant) in &config.tenants {
            let directory = match opened.get(name) {
                Some(directory) => directory.clone(),
                None => {
                    let directory =
                        Arc::new(Directory::open(&self.store, self.writer.clone(), name).await?);
                    tracing::info!(tenant = %name, users = directory.count(crate::directory::Kind::User),
                        groups = directory.count(crate::directory::Kind::Group), "tenant directory opened");
                    opened.insert(name.clone(), directory.clone());
                    directory
                }
            };
            directories.insert(name.clone(), directory);
            for host in &tenant.hosts {
                hosts.insert(normalize_host(host).to_string(), name.clone());
            }
        }
        let config = Arc::new(config);
        self.serving.store(Arc::new(Serving {
            config: config.clone(),
            directories,
            hosts,
        }));
        self.delivery.configure(config.clone());
        self.realtime
            .configure(self.me.clone(), &config.realtime_targets);
        Ok(())
    }

    /// The directory of a served tenant.
    pub fn directory(&self, tenant: &str) -> Option<Arc<Directory>> {
        self.serving.load().directories.get(tenant).cloned()
    }

    /// The tenant whose `hosts` list `host` (a `Host` header; port and case ignored).
    pub fn tenant_for_host(&self, host: &str) -> Option<String> {
        self.serving
            .load()
            .hosts
            .get(&normalize_host(host))
            .cloned()
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The writer task (group commit) every store write goes through.
    pub fn writer(&self) -> &WriterHandle {
        &self.writer
    }

    /// Tells the delivery engine that new deliveries were committed (a stored permit when it
    /// is not waiting, so no wake-up is lost).
    pub fn notify_delivery(&self) {
        self.delivery_wakeup.notify_one();
    }

    /// The delivery engine (health of target systems, wake-ups).
    pub fn delivery(&self) -> &crate::delivery::DeliveryEngine {
        &self.delivery
    }

    /// The real-time push tasks (health and counters of each real-time target).
    pub fn realtime(&self) -> &crate::realtime::Pusher {
        &self.realtime
    }

    /// What the delivery engine waits on between polls (see [`Runtime::notify_delivery`]).
    pub fn delivery_wakeup(&self) -> &Arc<tokio::sync::Notify> {
        &self.delivery_wakeup
    }
}

/// `Host` header value -> lowercased host name without port (IPv6 brackets kept).
fn normalize_host(host: &str) -> String {
    let host = host.trim().trim_end_matches('.');
    let without_port = if host.starts_with('[') {
        host.find(']').map_or(host, |end| &host[..=end])
    } else if host.matches(':').count() == 1 {
        host.split(':').next().unwrap_or(host)
    } else {
        host
    };
    without_port.trim_end_matches('.').to_ascii_lowercase()
}

/// Everything the runtime needs to serve, computed by reconcile from the resources.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RuntimeConfig {
    /// By tenant name (the `/tenants/{name}` path segment).
    pub tenants: BTreeMap<String, TenantConfig>,
    /// Real-time targets of every tenant (pushed by [`crate::realtime::Pusher`]).
    pub realtime_targets: Vec<Arc<crate::realtime::RealTimeTargetConfig>>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TenantConfig {
    pub name: String,
    /// Host names that reach this tenant at the root paths (`https://<host>/scim/Users`).
    pub hosts: Vec<String>,
    /// Technical admins by client id.
    pub admins: BTreeMap<String, AdminConfig>,
    /// Source systems by system id.
    pub source_systems: BTreeMap<String, Arc<SourceSystemConfig>>,
    /// Target systems by target system id.
    pub target_systems: BTreeMap<String, Arc<TargetSystemConfig>>,
    /// Real-time API requests per second allowed for the tenant (token bucket, burst = 2 × rate).
    pub realtime_rate_per_second: u32,
}

impl Default for TenantConfig {
    /// An unnamed tenant without hosts, admins or systems, at the default real-time rate.
    fn default() -> Self {
        TenantConfig {
            name: String::new(),
            hosts: Vec::new(),
            admins: BTreeMap::new(),
            source_systems: BTreeMap::new(),
            target_systems: BTreeMap::new(),
            realtime_rate_per_second: crate::api::tenant::DEFAULT_REAL_TIME_RATE_LIMIT,
        }
    }
}

impl TenantConfig {
    /// The enabled target systems connected to source system `source_id`, in id order.
    pub fn targets_of<'a>(
        &'a self,
        source_id: &'a str,
    ) -> impl Iterator<Item = &'a Arc<TargetSystemConfig>> + 'a {
        self.target_systems
            .values()
            .filter(move |t| t.enabled && t.source_system_ids.iter().any(|s| s == source_id))
    }
}

/// The kind of back end a system connects to (`IdentityAuthentication` or `Scim`).
pub use crate::api::SystemType;
/// A parsed transformation (the engine of `crate::provisioning::transform`).
pub use crate::reconcile::transformation::Transformation;

/// A source system as the runtime uses it (real-time API, jobs).
#[derive(Debug, Clone, PartialEq)]
pub struct SourceSystemConfig {
    /// `namespace/name` of the resource.
    pub resource: String,
    /// System id (UUID v5 of `namespace/name` unless `spec.systemId`).
    pub id: String,
    pub display_name: String,
    pub system_type: SystemType,
    /// `None` for `IdentityAuthentication` = the tenant's own directory.
    pub url: Option<String>,
    /// `OutboundAuth::None` for the tenant's own directory.
    pub auth: OutboundAuth,
    /// With defaults filled (`ias.api.version` = `2`, …).
    pub properties: BTreeMap<String, String>,
    /// 1 or 2 (from `ias.api.version`; 2 for SCIM systems).
    pub api_version: u8,
    /// Parsed; the default transformation when the spec has none.
    pub transformation: Arc<Transformation>,
    pub enabled: bool,
}

/// A target system as the delivery engine uses it.
#[derive(Debug, Clone, PartialEq)]
pub struct TargetSystemConfig {
    /// `namespace/name` of the resource.
    pub resource: String,
    /// Target system id (UUID v5 of `namespace/name/target`).
    pub id: String,
    pub display_name: String,
    /// Ids of the connected source systems that exist in the tenant.
    pub source_system_ids: Vec<String>,
    pub system_type: SystemType,
    /// Base URL of the SCIM API (`/Users`, `/Groups` are appended).
    pub url: String,
    pub auth: OutboundAuth,
    /// With defaults filled.
    pub properties: BTreeMap<String, String>,
    /// 1 or 2 (from `ias.api.version`; 2 for SCIM systems).
    pub api_version: u8,
    /// Parsed; the default transformation when the spec has none.
    pub transformation: Arc<Transformation>,
    pub enabled: bool,
}

/// Resolved outbound credentials (from Secret references). `Debug` never shows a secret.
#[derive(Clone, PartialEq, Eq, Default)]
pub enum OutboundAuth {
    /// No authentication (the tenant's own directory).
    #[default]
    None,
    Basic {
        username: String,
        password: String,
    },
    BearerToken {
        token: String,
    },
    OAuthClientCredentials {
        token_url: String,
        client_id: String,
        client_secret: String,
    },
    ClientCertificate {
        certificate_pem: String,
        private_key_pem: String,
    },
}

impl std::fmt::Debug for OutboundAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        const R: &str = "<redacted>";
        match self {
            OutboundAuth::None => f.write_str("None"),
            OutboundAuth::Basic { username, .. } => f
                .debug_struct("Basic")
                .field("username", username)
                .field("password", &R)
                .finish(),
            OutboundAuth::BearerToken { .. } => {
                f.debug_struct("BearerToken").field("token", &R).finish()
            }
            OutboundAuth::OAuthClientCredentials {
                token_url,
                client_id,
                ..
            } => f
                .debug_struct("OAuthClientCredentials")
                .field("token_url", token_url)
                .field("client_id", client_id)
                .field("client_secret", &R)
                .finish(),
            OutboundAuth::ClientCertificate { .. } => f
                .debug_struct("ClientCertificate")
                .field("certificate_pem", &R)
                .field("private_key_pem", &R)
                .finish(),
        }
    }
}

/// A technical administrator as the runtime authenticates it.
#[derive(Clone, PartialEq)]
pub struct AdminConfig {
    /// `namespace/name` of the resource.
    pub resource: String,
    pub display_name: String,
    pub client_id: String,
    pub user_id: String,
    pub permissions: BTreeSet<Permission>,
    /// Resolved secrets (at most 2).
    pub secrets: Vec<AdminSecret>,
    /// Lock the client id for 60 minutes after 5 failed logons with secrets.
    pub lock_after_failed_logons: bool,
}

impl std::fmt::Debug for AdminConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminConfig")
            .field("resource", &self.resource)
            .field("display_name", &self.display_name)
            .field("client_id", &self.client_id)
            .field("user_id", &self.user_id)
            .field("permissions", &self.permissions)
            .field("secrets", &self.secrets.len())
            .field("lock_after_failed_logons", &self.lock_after_failed_logons)
            .finish()
    }
}

/// One admin secret: the value and when it stops being accepted.
#[derive(Clone, PartialEq)]
pub struct AdminSecret {
    pub value: String,
    /// `None` = never expires.
    pub expires_at: Option<jiff::Timestamp>,
}

impl std::fmt::Debug for AdminSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminSecret")
            .field("value", &"<redacted>")
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::directory::{Kind, ListQuery, Origin, Paging};
    use serde_json::json;

    fn tenant(name: &str, hosts: &[&str]) -> (String, TenantConfig) {
        let config = TenantConfig {
            name: name.to_string(),
            hosts: hosts.iter().map(|h| h.to_string()).collect(),
            ..TenantConfig::default()
        };
        (name.to_string(), config)
    }

    fn config(tenants: &[(&str, &[&str])]) -> RuntimeConfig {
        RuntimeConfig {
            tenants: tenants.iter().map(|(n, h)| tenant(n, h)).collect(),
            ..RuntimeConfig::default()
        }
    }

    #[test]
    fn outbound_auth_debug_redacts() {
        let all = [
            OutboundAuth::Basic {
                username: "u".into(),
                password: "hunter2".into(),
            },
            OutboundAuth::BearerToken {
                token: "hunter2".into(),
            },
            OutboundAuth::OAuthClientCredentials {
                token_url: "https://t".into(),
                client_id: "c".into(),
                client_secret: "hunter2".into(),
            },
            OutboundAuth::ClientCertificate {
                certificate_pem: "hunter2".into(),
                private_key_pem: "hunter2".into(),
            },
        ];
        for a in all {
            let d = format!("{a:?}");
            assert!(!d.contains("hunter2") && d.contains("<redacted>"), "{d}");
        }
        assert_eq!(TenantConfig::default().realtime_rate_per_second, 200);
    }

    #[test]
    fn hosts_are_normalised() {
        assert_eq!(normalize_host("Acme.Example.com:8443"), "acme.example.com");
        assert_eq!(normalize_host("acme.example.com."), "acme.example.com");
        assert_eq!(normalize_host("[::1]:8443"), "[::1]");
    }

    #[tokio::test]
    async fn apply_serves_tenants_and_routes_hosts() {
        let dir = tempfile::tempdir().unwrap();
        let rt = Runtime::open(RuntimeOptions {
            data_dir: dir.path().to_path_buf(),
        })
        .await
        .unwrap();
        assert!(rt.directory("acme").is_none());
        rt.apply(config(&[("acme", &["id.acme.test"]), ("beta", &[])]))
            .await
            .unwrap();
        let acme = rt.directory("acme").unwrap();
        assert_eq!(acme.tenant(), "acme");
        assert_eq!(
            rt.tenant_for_host("ID.ACME.test:443").as_deref(),
            Some("acme")
        );
        assert_eq!(rt.tenant_for_host("other.test"), None);
        acme.create(Kind::User, json!({"userName": "a"}), Origin::ScimV2)
            .await
            .unwrap();
        // Same config: no-op, same directory.
        rt.apply(config(&[("acme", &["id.acme.test"]), ("beta", &[])]))
            .await
            .unwrap();
        assert!(Arc::ptr_eq(&acme, &rt.directory("acme").unwrap()));
        // Removing a tenant stops serving it; adding it back serves the same data.
        rt.apply(config(&[("beta", &[])])).await.unwrap();
        assert!(rt.directory("acme").is_none());
        assert_eq!(rt.tenant_for_host("id.acme.test"), None);
        rt.apply(config(&[("acme", &[]), ("beta", &[])]))
            .await
            .unwrap();
        assert_eq!(rt.directory("acme").unwrap().count(Kind::User), 1);
        assert_eq!(rt.directory("beta").unwrap().count(Kind::User), 0);
        assert_eq!(rt.config().tenants.len(), 2);
    }

    #[tokio::test]
    async fn data_survives_restart() {
        let dir = tempfile::tempdir().unwrap();
        let (user_id, group_id) = {
            let rt = Runtime::open(RuntimeOptions {
                data_dir: dir.path().to_path_buf(),
            })
            .await
            .unwrap();
            rt.apply(config(&[("acme", &[])])).await.unwrap();
            let d = rt.directory("acme").unwrap();
            let u = d
                .create(
                    Kind::User,
                    json!({"userName": "alice", "emails": [{"value": "a@x.org"}]}),
                    Origin::ScimV2,
                )
                .await
                .unwrap();
            d.create(Kind::User, json!({"userName": "bob"}), Origin::ScimV2)
                .await
                .unwrap();
            let g = d
                .create(
                    Kind::Group,
                    json!({"displayName": "Admins", "members": [{"value": u.id}]}),
                    Origin::ScimV2,
                )
                .await
                .unwrap();
            (u.id, g.id)
        };
        let rt = Runtime::open(RuntimeOptions {
            data_dir: dir.path().to_path_buf(),
        })
        .await
        .unwrap();
        rt.apply(config(&[("acme", &[])])).await.unwrap();
        let d = rt.directory("acme").unwrap();
        assert_eq!(d.count(Kind::User), 2);
        let user = d
            .get(Kind::User, &user_id)
            .unwrap()
            .to_json("https://h/scim");
        assert_eq!(user["emails"][0]["value"], "a@x.org");
        assert_eq!(user["groups"][0]["value"], group_id.as_str());
        assert_eq!(user["groups"][0]["display"], "Admins");
        let group = d
            .get(Kind::Group, &group_id)
            .unwrap()
            .to_json("https://h/scim");
        assert_eq!(group["members"][0]["value"], user_id.as_str());
        // Listing order survives too.
        let page = d
            .list(
                Kind::User,
                &ListQuery {
                    filter: None,
                    sort: None,
                    paging: Paging::Index {
                        start_index: 1,
                        count: 10,
                    },
                },
            )
            .unwrap();
        let names: Vec<_> = page
            .resources
            .iter()
            .map(|r| r.to_json("")["userName"].clone())
            .collect();
        assert_eq!(names, vec![json!("alice"), json!("bob")]);
        // New writes continue the sequence.
        let c = d
            .create(Kind::User, json!({"userName": "carol"}), Origin::ScimV2)
            .await
            .unwrap();
        assert!(c.seq() > page.resources[1].seq());
    }
}
