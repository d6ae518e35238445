//! The CEL validation rules of the CRDs (`x-kubernetes-validations`), evaluated client-side with
//! kube's CEL validator (`Kind::validate_cel` / `validate_cel_update`, from `#[kube(cel)]`), so
//! every rule is tested without an API server.
//!
//! Each case starts from a valid object of its kind, applies one change and expects either no
//! error or exactly one error with the given message. A final check makes sure every rule in the
//! generated CRDs has at least one failing case here, and that the rules stay within the API
//! server's cost budget (kube-cel's static estimate).

use std::collections::BTreeSet;

use idrelay::api::{RealTimeTarget, SourceSystem, TargetSystem, TechnicalAdmin, Tenant};
use kube::core::cel::{ScopeContext, ValidationErrors, WarningKind, analyze_rule, compile_schema};
use serde_json::{Value, json};

/// A kind whose CEL rules can be checked client-side.
trait Cel: serde::de::DeserializeOwned {
    fn create(&self) -> Result<(), ValidationErrors>;
    fn update(&self, old: &Self) -> Result<(), ValidationErrors>;
}

macro_rules! cel_kind {
    ($($kind:ty),*) => {$(
        impl Cel for $kind {
            fn create(&self) -> Result<(), ValidationErrors> {
                self.validate_cel()
            }
            fn update(&self, old: &Self) -> Result<(), ValidationErrors> {
                self.validate_cel_update(old)
            }
        }
    )*};
}
cel_kind!(
    Tenant,
    TechnicalAdmin,
    SourceSystem,
    TargetSystem,
    RealTimeTarget
);

fn object(kind: &str, spec: Value) -> Value {
    json!({
        "apiVersion": "idrelay.dev/v1alpha1",
        "kind": kind,
        "metadata": {"name": "x", "namespace": "default"},
        "spec": spec,
    })
}

fn tenant() -> Value {
    object("Tenant", json!({"hosts": ["acme.example.com"]}))
}

fn admin() -> Value {
    object(
        "TechnicalAdmin",
        json!({
            "tenantRef": {"name": "acme"},
            "displayName": "Push admin",
            "permissions": ["AccessRealTimeProvisioningAPI"],
            "secrets": [{"secretRef": {"name": "admin-secret", "key": "secret"}}],
        }),
    )
}

fn source() -> Value {
    object(
        "SourceSystem",
        json!({"tenantRef": {"name": "acme"}, "displayName": "IAS source"}),
    )
}

fn target() -> Value {
    object(
        "TargetSystem",
        json!({
            "tenantRef": {"name": "acme"},
            "displayName": "Apps",
            "type": "SCIM",
            "url": "https://apps.example.com/scim",
            "authentication": {"bearerToken": {"tokenRef": {"name": "apps", "key": "token"}}},
            "sourceSystemRefs": [{"name": "ias"}],
        }),
    )
}

fn realtime() -> Value {
    object(
        "RealTimeTarget",
        json!({
            "tenantRef": {"name": "acme"},
            "displayName": "Push to apps",
            "sourceSystemRef": {"name": "ias"},
            "authentication": {"basic": {"clientId": "c", "secretRef": {"name": "s", "key": "k"}}},
        }),
    )
}

fn certificate(common_name: &str, output: &str, admin: &str) -> Value {
    json!({"certificate": {
        "commonName": common_name,
        "technicalAdminRef": {"name": admin},
        "passwordRef": {"name": "p12", "key": "password"},
        "outputSecretName": output,
    }})
}

fn oauth() -> Value {
    json!({"clientId": "c", "clientSecretRef": {"name": "s", "key": "k"}})
}

/// One change to a valid object: set (or, with `None`, remove) the value at a JSON pointer.
struct Edit(&'static str, Option<Value>);

fn set(pointer: &'static str, value: Value) -> Edit {
    Edit(pointer, Some(value))
}

fn remove(pointer: &'static str) -> Edit {
    Edit(pointer, None)
}

fn apply(mut obj: Value, edits: &[Edit]) -> Value {
    for Edit(pointer, value) in edits {
        let (parent, key) = pointer.rsplit_once('/').unwrap();
        let parent = obj
            .pointer_mut(parent)
            .unwrap_or_else(|| panic!("{parent}"));
        match (parent, value) {
            (Value::Object(map), Some(v)) => {
                map.insert(key.to_owned(), v.clone());
            }
            (Value::Object(map), None) => {
                map.remove(key);
            }
            (Value::Array(items), Some(v)) => items[key.parse::<usize>().unwrap()] = v.clone(),
            (other, _) => panic!("cannot edit {pointer} in {other}"),
        }
    }
    obj
}

/// The messages of the failed rules, with the rules themselves (for the coverage check).
fn failures(result: Result<(), ValidationErrors>) -> Vec<(String, String, String)> {
    match result {
        Ok(()) => Vec::new(),
        Err(errors) => errors
            .into_vec()
            .into_iter()
            .map(|e| (e.field_path, e.message, e.rule))
            .collect(),
    }
}

/// Collects the rules that failed, across all cases.
#[derive(Default)]
struct Run {
    failed_rules: BTreeSet<String>,
}

impl Run {
    /// The edited object passes every rule.
    fn ok<K: Cel>(&mut self, base: Value, edits: &[Edit]) {
        let obj = apply(base, edits);
        let k: K = serde_json::from_value(obj.clone()).unwrap();
        let f = failures(k.create());
        assert!(f.is_empty(), "expected {obj} to pass, got {f:?}");
    }

    /// The edited object fails exactly one rule, at `path`, with `message`.
    fn fails<K: Cel>(&mut self, base: Value, edits: &[Edit], path: &str, message: &str) {
        let obj = apply(base, edits);
        let k: K = serde_json::from_value(obj.clone()).unwrap();
        self.expect_one(failures(k.create()), &obj, path, message);
    }

    fn expect_one(&mut self, f: Vec<(String, String, String)>, obj: &Value, path: &str, msg: &str) {
        assert_eq!(f.len(), 1, "expected one failure for {obj}, got {f:?}");
        let (field_path, message, rule) = &f[0];
        assert_eq!(field_path, path, "{obj}");
        assert_eq!(message, msg, "{obj}");
        self.failed_rules.insert(rule.clone());
    }
}

const SECRET_NAME: &str = "must be a Secret name: a DNS-1123 subdomain (lower-case letters, digits, '-' and '.', alphanumeric at both ends, at most 253 characters)";
const SECRET_KEY: &str = "must be a Secret key: one or more of letters, digits, '-', '_' and '.'";
const OBJECT_NAME: &str = "must be an object name: a DNS-1123 subdomain (lower-case letters, digits, '-' and '.', alphanumeric at both ends, at most 253 characters)";
const TENANT_NAME: &str = "must be a Tenant name: a DNS-1123 label (lower-case letters, digits and '-', alphanumeric at both ends, at most 63 characters)";
const SYSTEM_NAME: &str = "displayName: 1 to 100 characters of a-z A-Z 0-9 - _ . and space";
const URL: &str = "must be an absolute http(s) URL with a host";

fn tenant_cases(r: &mut Run) {
    r.ok::<Tenant>(tenant(), &[]);
    r.ok::<Tenant>(
        tenant(),
        &[set(
            "/spec/hosts",
            json!(["a.example.com", "b.example.com"]),
        )],
    );
    r.fails::<Tenant>(
        tenant(),
        &[set(
            "/spec/hosts",
            json!(["a.example.com", "b.example.com", "a.example.com"]),
        )],
        "spec.hosts",
        "hosts: a host is listed twice",
    );
}

fn admin_cases(r: &mut Run) {
    r.ok::<TechnicalAdmin>(admin(), &[]);
    // Immutable display name: a transition rule, checked on update only.
    let old: TechnicalAdmin = serde_json::from_value(admin()).unwrap();
    let renamed: TechnicalAdmin =
        serde_json::from_value(apply(admin(), &[set("/spec/displayName", json!("Other"))]))
            .unwrap();
    assert!(renamed.create().is_ok(), "creation has no oldSelf");
    let more_permissions: TechnicalAdmin = serde_json::from_value(apply(
        admin(),
        &[set(
            "/spec/permissions",
            json!(["AccessRealTimeProvisioningAPI", "ReadUsers"]),
        )],
    ))
    .unwrap();
    assert!(more_permissions.update(&old).is_ok());
    r.expect_one(
        failures(renamed.update(&old)),
        &json!("rename"),
        "spec.displayName",
        "displayName is immutable",
    );

    r.fails::<TechnicalAdmin>(
        admin(),
        &[set("/spec/displayName", json!("  "))],
        "spec.displayName",
        "displayName must not be blank",
    );

    // At least one permission (also when the field is left out: the schema default is []).
    r.fails::<TechnicalAdmin>(
        admin(),
        &[set("/spec/permissions", json!([]))],
        "spec.permissions",
        "permissions: at least one permission is required",
    );
    r.fails::<TechnicalAdmin>(
        admin(),
        &[remove("/spec/permissions")],
        "spec.permissions",
        "permissions: at least one permission is required",
    );

    // clientId: a UUID (every form reconcile parses).
    for id in [
        "0f6c3b4e-2a51-4d0c-9c39-2a4f2b1f7a10",
        "0F6C3B4E2A514D0C9C392A4F2B1F7A10",
        "{0f6c3b4e-2a51-4d0c-9c39-2a4f2b1f7a10}",
        "urn:uuid:0f6c3b4e-2a51-4d0c-9c39-2a4f2b1f7a10",
    ] {
        r.ok::<TechnicalAdmin>(admin(), &[set("/spec/clientId", json!(id))]);
    }
    r.fails::<TechnicalAdmin>(
        admin(),
        &[set("/spec/clientId", json!("not-a-uuid"))],
        "spec.clientId",
        "clientId must be a UUID",
    );

    // userId: a UUID or a T-user id.
    for id in [
        "T000001",
        "T0123456789",
        "0f6c3b4e-2a51-4d0c-9c39-2a4f2b1f7a10",
    ] {
        r.ok::<TechnicalAdmin>(admin(), &[set("/spec/userId", json!(id))]);
    }
    for id in ["bob", "T12345", "T01234567890", "P000001"] {
        r.fails::<TechnicalAdmin>(
            admin(),
            &[set("/spec/userId", json!(id))],
            "spec.userId",
            "userId must be a UUID or a T-user id (T followed by 6-10 digits)",
        );
    }

    // Secret reference shape.
    r.ok::<TechnicalAdmin>(
        admin(),
        &[set(
            "/spec/secrets/0/secretRef",
            json!({"name": "admin.secret-1", "key": "client-secret_1.txt"}),
        )],
    );
    r.fails::<TechnicalAdmin>(
        admin(),
        &[set("/spec/secrets/0/secretRef/name", json!("Admin_Secret"))],
        "spec.secrets[0].secretRef.name",
        SECRET_NAME,
    );
    r.fails::<TechnicalAdmin>(
        admin(),
        &[set(
            "/spec/secrets/0/secretRef/name",
            json!("a".repeat(254)),
        )],
        "spec.secrets[0].secretRef.name",
        SECRET_NAME,
    );
    r.fails::<TechnicalAdmin>(
        admin(),
        &[set("/spec/secrets/0/secretRef/key", json!("a/b"))],
        "spec.secrets[0].secretRef.key",
        SECRET_KEY,
    );
    r.fails::<TechnicalAdmin>(
        admin(),
        &[set("/spec/secrets/0/secretRef/key", json!(""))],
        "spec.secrets[0].secretRef.key",
        SECRET_KEY,
    );
    // Tenant reference shape.
    r.fails::<TechnicalAdmin>(
        admin(),
        &[set("/spec/tenantRef/name", json!("Acme"))],
        "spec.tenantRef.name",
        TENANT_NAME,
    );
    r.fails::<TechnicalAdmin>(
        admin(),
        &[set("/spec/tenantRef/name", json!("acme.example"))],
        "spec.tenantRef.name",
        TENANT_NAME,
    );
}

fn source_cases(r: &mut Run) {
    r.ok::<SourceSystem>(source(), &[]);
    // Display name: charset and length.
    r.ok::<SourceSystem>(
        source(),
        &[set("/spec/displayName", json!("IAS source - prod_1.eu"))],
    );
    r.ok::<SourceSystem>(
        source(),
        &[set("/spec/displayName", json!("a".repeat(100)))],
    );
    r.fails::<SourceSystem>(
        source(),
        &[set("/spec/displayName", json!("a".repeat(101)))],
        "spec.displayName",
        SYSTEM_NAME,
    );
    r.fails::<SourceSystem>(
        source(),
        &[set("/spec/displayName", json!("IAS/prod"))],
        "spec.displayName",
        SYSTEM_NAME,
    );
    r.fails::<SourceSystem>(
        source(),
        &[set("/spec/displayName", json!("naïve"))],
        "spec.displayName",
        SYSTEM_NAME,
    );
    // SCIM needs a url; authentication only with a url.
    r.ok::<SourceSystem>(
        source(),
        &[
            set("/spec/type", json!("SCIM")),
            set("/spec/url", json!("https://scim.example.com")),
            set(
                "/spec/authentication",
                json!({"bearerToken": {"tokenRef": {"name": "t", "key": "k"}}}),
            ),
        ],
    );
    r.fails::<SourceSystem>(
        source(),
        &[set("/spec/type", json!("SCIM"))],
        "spec",
        "url: required for type SCIM",
    );
    // URLs: absolute http(s) with a host.
    for url in [
        "http://localhost:8080/scim",
        "https://ias.example.com",
        "https://ias.example.com/scim?x=1#f",
    ] {
        r.ok::<SourceSystem>(source(), &[set("/spec/url", json!(url))]);
    }
    for url in [
        "ftp://ias.example.com",
        "ias.example.com/scim",
        "https:///scim",
        "https://a b",
    ] {
        r.fails::<SourceSystem>(source(), &[set("/spec/url", json!(url))], "spec.url", URL);
    }
    r.fails::<SourceSystem>(
        source(),
        &[set(
            "/spec/authentication",
            json!({"bearerToken": {"tokenRef": {"name": "t", "key": "k"}}}),
        )],
        "spec",
        "authentication: only used with url (without a url the source is this tenant's own directory)",
    );
    // Outbound authentication: exactly one method (also on a source's remote directory).
    r.fails::<SourceSystem>(
        source(),
        &[
            set("/spec/url", json!("https://ias.example.com")),
            set("/spec/authentication", json!({})),
        ],
        "spec.authentication",
        "set exactly one of basic, bearerToken, oauth and clientCertificate",
    );
    // Properties: API version 1|2, retentions 7|14|30; other properties are free.
    r.ok::<SourceSystem>(
        source(),
        &[set(
            "/spec/properties",
            json!({
                "ias.api.version": "1",
                "ips.realtime.log.retention.days": "14",
                "ips.job.log.retention.days": " 30 ",
                "custom.anything": "9",
            }),
        )],
    );
    for days in ["7", "14", "30"] {
        r.ok::<SourceSystem>(
            source(),
            &[set(
                "/spec/properties",
                json!({"ips.realtime.log.retention.days": days}),
            )],
        );
    }
    r.fails::<SourceSystem>(
        source(),
        &[set("/spec/properties", json!({"ias.api.version": "3"}))],
        "spec.properties",
        "properties[ias.api.version] must be 1 or 2",
    );
    r.fails::<SourceSystem>(
        source(),
        &[set(
            "/spec/properties",
            json!({"ips.realtime.log.retention.days": "9"}),
        )],
        "spec.properties",
        "properties[ips.realtime.log.retention.days] must be 7, 14 or 30",
    );
    r.fails::<SourceSystem>(
        source(),
        &[set(
            "/spec/properties",
            json!({"ips.job.log.retention.days": "31"}),
        )],
        "spec.properties",
        "properties[ips.job.log.retention.days] must be 7, 14 or 30",
    );
    r.fails::<SourceSystem>(
        source(),
        &[set("/spec/tenantRef/name", json!("-acme"))],
        "spec.tenantRef.name",
        TENANT_NAME,
    );
}

fn target_cases(r: &mut Run) {
    r.ok::<TargetSystem>(target(), &[]);
    // Exactly one authentication method.
    r.ok::<TargetSystem>(
        target(),
        &[set(
            "/spec/authentication",
            json!({"oauth": {"tokenUrl": "https://t/oauth2/token", "clientId": "c",
                             "clientSecretRef": {"name": "s", "key": "k"}}}),
        )],
    );
    r.fails::<TargetSystem>(
        target(),
        &[set(
            "/spec/authentication/basic",
            json!({"username": "u", "passwordRef": {"name": "s", "key": "k"}}),
        )],
        "spec.authentication",
        "set exactly one of basic, bearerToken, oauth and clientCertificate",
    );
    r.fails::<TargetSystem>(
        target(),
        &[set("/spec/authentication", json!({}))],
        "spec.authentication",
        "set exactly one of basic, bearerToken, oauth and clientCertificate",
    );
    // Secret references inside each method.
    r.fails::<TargetSystem>(
        target(),
        &[set(
            "/spec/authentication/bearerToken/tokenRef/name",
            json!("apps token"),
        )],
        "spec.authentication.bearerToken.tokenRef.name",
        SECRET_NAME,
    );
    r.fails::<TargetSystem>(
        target(),
        &[set(
            "/spec/authentication",
            json!({"clientCertificate": {
                "certificateRef": {"name": "tls", "key": "tls.crt"},
                "privateKeyRef": {"name": "tls", "key": "tls key"}}}),
        )],
        "spec.authentication.clientCertificate.privateKeyRef.key",
        SECRET_KEY,
    );
    r.fails::<TargetSystem>(
        target(),
        &[set("/spec/url", json!("apps.example.com/scim"))],
        "spec.url",
        URL,
    );
    r.fails::<TargetSystem>(
        target(),
        &[set(
            "/spec/authentication",
            json!({"oauth": {"tokenUrl": "/oauth2/token", "clientId": "c",
                             "clientSecretRef": {"name": "s", "key": "k"}}}),
        )],
        "spec.authentication.oauth.tokenUrl",
        URL,
    );
    r.ok::<TargetSystem>(
        target(),
        &[set(
            "/spec/sourceSystemRefs",
            json!([{"name": "ias"}, {"name": "hr"}]),
        )],
    );
    r.fails::<TargetSystem>(
        target(),
        &[set(
            "/spec/sourceSystemRefs",
            json!([{"name": "ias"}, {"name": "hr"}, {"name": "ias"}]),
        )],
        "spec.sourceSystemRefs",
        "sourceSystemRefs: a SourceSystem is listed twice",
    );
    r.fails::<TargetSystem>(
        target(),
        &[set("/spec/displayName", json!("Apps (prod)"))],
        "spec.displayName",
        SYSTEM_NAME,
    );
    r.ok::<TargetSystem>(
        target(),
        &[set("/spec/properties", json!({"ias.api.version": "2"}))],
    );
    r.fails::<TargetSystem>(
        target(),
        &[set("/spec/properties", json!({"ias.api.version": "v2"}))],
        "spec.properties",
        "properties[ias.api.version] must be 1 or 2",
    );
    r.fails::<TargetSystem>(
        target(),
        &[set("/spec/sourceSystemRefs/0", json!({"name": "IAS"}))],
        "spec.sourceSystemRefs[0].name",
        OBJECT_NAME,
    );
}

fn realtime_cases(r: &mut Run) {
    r.ok::<RealTimeTarget>(realtime(), &[]);
    // Exactly one of scimUrl and sourceSystemRef.
    r.ok::<RealTimeTarget>(
        realtime(),
        &[
            remove("/spec/sourceSystemRef"),
            set(
                "/spec/scimUrl",
                json!("https://x/ipsproxy/service/api/v1/systems/1/entities/user"),
            ),
        ],
    );
    r.fails::<RealTimeTarget>(
        realtime(),
        &[set("/spec/scimUrl", json!("https://x/entities/user"))],
        "spec",
        "set exactly one of scimUrl and sourceSystemRef",
    );
    r.fails::<RealTimeTarget>(
        realtime(),
        &[remove("/spec/sourceSystemRef")],
        "spec",
        "set exactly one of scimUrl and sourceSystemRef",
    );
    // URLs: absolute http(s) with a host.
    r.fails::<RealTimeTarget>(
        realtime(),
        &[
            remove("/spec/sourceSystemRef"),
            set("/spec/scimUrl", json!("x/entities/user")),
        ],
        "spec.scimUrl",
        URL,
    );
    r.ok::<RealTimeTarget>(
        realtime(),
        &[set("/spec/runtimeUrl", json!("http://127.0.0.1:8080"))],
    );
    r.fails::<RealTimeTarget>(
        realtime(),
        &[set("/spec/runtimeUrl", json!("127.0.0.1:8443"))],
        "spec.runtimeUrl",
        URL,
    );
    let mut oauth_token_url = oauth();
    oauth_token_url["tokenUrl"] = json!("token");
    r.fails::<RealTimeTarget>(
        realtime(),
        &[set(
            "/spec/authentication",
            json!({"oauth": oauth_token_url}),
        )],
        "spec.authentication.oauth.tokenUrl",
        URL,
    );
    // Version 1|2 (default 2).
    r.ok::<RealTimeTarget>(realtime(), &[set("/spec/version", json!(1))]);
    r.ok::<RealTimeTarget>(realtime(), &[set("/spec/version", json!(2))]);
    r.fails::<RealTimeTarget>(
        realtime(),
        &[set("/spec/version", json!(3))],
        "spec.version",
        "version must be 1 or 2",
    );
    // Exactly one of basic, oauth, certificate.
    r.ok::<RealTimeTarget>(
        realtime(),
        &[set("/spec/authentication", json!({"oauth": oauth()}))],
    );
    r.ok::<RealTimeTarget>(
        realtime(),
        &[set(
            "/spec/authentication",
            certificate("push", "push-cert", "admin"),
        )],
    );
    r.fails::<RealTimeTarget>(
        realtime(),
        &[set("/spec/authentication/oauth", oauth())],
        "spec.authentication",
        "set exactly one of basic, oauth and certificate",
    );
    r.fails::<RealTimeTarget>(
        realtime(),
        &[set("/spec/authentication", json!({}))],
        "spec.authentication",
        "set exactly one of basic, oauth and certificate",
    );
    // Certificate: the common name bound, the output Secret name and the admin reference.
    r.ok::<RealTimeTarget>(
        realtime(),
        &[set(
            "/spec/authentication",
            certificate(&"c".repeat(55), "push-cert", "admin"),
        )],
    );
    r.fails::<RealTimeTarget>(
        realtime(),
        &[set(
            "/spec/authentication",
            certificate(&"c".repeat(56), "push-cert", "admin"),
        )],
        "spec.authentication.certificate.commonName",
        "commonName: at most 55 characters (the certificate's subject CN <commonName>(<admin userId>) is at most 64 characters, and a user id has at least 7)",
    );
    r.fails::<RealTimeTarget>(
        realtime(),
        &[set(
            "/spec/authentication",
            certificate("push", "Push_Cert", "admin"),
        )],
        "spec.authentication.certificate.outputSecretName",
        SECRET_NAME,
    );
    r.fails::<RealTimeTarget>(
        realtime(),
        &[set(
            "/spec/authentication",
            certificate("push", "push-cert", "Admin"),
        )],
        "spec.authentication.certificate.technicalAdminRef.name",
        OBJECT_NAME,
    );
    r.fails::<RealTimeTarget>(
        realtime(),
        &[set("/spec/authentication/basic/secretRef/key", json!("k?"))],
        "spec.authentication.basic.secretRef.key",
        SECRET_KEY,
    );
    r.fails::<RealTimeTarget>(
        realtime(),
        &[set("/spec/displayName", json!("push: apps"))],
        "spec.displayName",
        SYSTEM_NAME,
    );
    r.fails::<RealTimeTarget>(
        realtime(),
        &[set("/spec/sourceSystemRef/name", json!("ias_1"))],
        "spec.sourceSystemRef.name",
        OBJECT_NAME,
    );
}

/// Every rule of every CRD, with the schema node it is attached to.
fn crd_rules() -> Vec<(String, Value)> {
    fn walk(schema: &Value, out: &mut Vec<(String, Value)>) {
        for rule in schema["x-kubernetes-validations"]
            .as_array()
            .into_iter()
            .flatten()
        {
            out.push((rule["rule"].as_str().unwrap().to_owned(), schema.clone()));
        }
        for prop in schema["properties"].as_object().into_iter().flatten() {
            walk(prop.1, out);
        }
        if schema["items"].is_object() {
            walk(&schema["items"], out);
        }
        if schema["additionalProperties"].is_object() {
            walk(&schema["additionalProperties"], out);
        }
    }
    let mut out = Vec::new();
    for crd in idrelay::api::crds::all() {
        let schema = serde_json::to_value(&crd.spec.versions[0].schema).unwrap();
        walk(&schema["openAPIV3Schema"], &mut out);
    }
    out
}

#[test]
fn every_rule_passes_and_fails_as_documented() {
    let mut run = Run::default();
    tenant_cases(&mut run);
    admin_cases(&mut run);
    source_cases(&mut run);
    target_cases(&mut run);
    realtime_cases(&mut run);
    let untested: BTreeSet<String> = crd_rules()
        .into_iter()
        .map(|(rule, _)| rule)
        .filter(|rule| !run.failed_rules.contains(rule))
        .collect();
    assert!(
        untested.is_empty(),
        "rules without a failing case: {untested:?}"
    );
}

/// The rules compile, use only `self`/`oldSelf` (and macro variables), and stay within the API
/// server's cost budget by kube-cel's estimate.
#[test]
fn rules_compile_and_fit_the_cost_budget() {
    let rules = crd_rules();
    assert!(rules.len() >= 15, "{} rules", rules.len());
    for (rule, node) in rules {
        let compiled = compile_schema(&node);
        assert!(
            !compiled.has_errors(),
            "{rule}: {:?}",
            compiled.compilation_errors()
        );
        // kube-cel's scope check also reports the variables a macro binds (`all(h, …)`); those
        // are in scope.
        let bound_by_macro = |message: &str| {
            message
                .split('\'')
                .nth(1)
                .is_some_and(|var| rule.contains(&format!("({var}, ")))
        };
        let warnings: Vec<_> = analyze_rule(&rule, &compiled, ScopeContext::CrdValidation)
            .into_iter()
            .filter(|w| match w.kind {
                WarningKind::WrongScope => !bound_by_macro(&w.message),
                WarningKind::CostExceeded => true,
                _ => false,
            })
            .collect();
        assert!(warnings.is_empty(), "{rule}: {warnings:?}");
    }
}

/// The static common name bound is the one the certificate issuer derives.
#[test]
fn common_name_bound_matches_the_issuer() {
    assert_eq!(
        idrelay::api::real_time_target::COMMON_NAME_MAX,
        idrelay::auth::certificates::STATIC_MAX_COMMON_NAME_LEN
    );
    assert_eq!(
        idrelay::api::real_time_target::COMMON_NAME_RULE,
        format!(
            "size(self) <= {}",
            idrelay::api::real_time_target::COMMON_NAME_MAX
        )
    );
}

/// Every idrelay resource in `examples/` passes the CRD rules (what `kubectl apply` would check).
#[test]
fn examples_pass_the_rules() {
    fn yaml_files(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                yaml_files(&path, out);
            } else if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
                out.push(path);
            }
        }
    }
    fn check<K: Cel>(doc: Value) -> Vec<(String, String, String)> {
        failures(serde_json::from_value::<K>(doc).unwrap().create())
    }
    let mut files = Vec::new();
    yaml_files(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples"),
        &mut files,
    );
    let mut checked = 0;
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        for doc in serde_norway::Deserializer::from_str(&text) {
            let Ok(doc) = <Value as serde::Deserialize>::deserialize(doc) else {
                continue;
            };
            if doc["apiVersion"] != "idrelay.dev/v1alpha1" {
                continue;
            }
            let f = match doc["kind"].as_str().unwrap_or_default() {
                "Tenant" => check::<Tenant>(doc),
                "TechnicalAdmin" => check::<TechnicalAdmin>(doc),
                "SourceSystem" => check::<SourceSystem>(doc),
                "TargetSystem" => check::<TargetSystem>(doc),
                "RealTimeTarget" => check::<RealTimeTarget>(doc),
                other => panic!("{}: unknown kind {other}", file.display()),
            };
            assert!(f.is_empty(), "{}: {f:?}", file.display());
            checked += 1;
        }
    }
    assert!(checked >= 10, "only {checked} example resources found");
}
