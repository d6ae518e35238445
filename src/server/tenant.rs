//! Tenant routing: which tenant a request is for, and the request's [`TenantRequest`].
//!
//! A request reaches a tenant either by path (`/tenants/{name}/…`, on any host) or by host (its
//! `Host`, without port, is one of the tenant's `hosts`; then the root paths `/scim/…`,
//! `/oauth2/token`, … belong to that tenant). Resolution rewrites the URI to the tenant-relative
//! path before routing, so tenant routers never see the `/tenants/{name}` prefix.
//!
//! Invariants: only configured tenants resolve; path routing wins over host routing; the host
//! placed in `base_url` is validated (no characters that could inject into headers or URLs).

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::extract::Request;
use http::header::HOST;
use http::request::Parts;
use http::uri::PathAndQuery;
use http::{Uri, uri};

use super::listener::ConnectionInfo;
use crate::runtime::Runtime;
use crate::scim::error::ScimError;

/// The path prefix of path routing.
pub const TENANTS_PREFIX: &str = "/tenants/";

/// The tenant a request is for, set as a request extension by tenant routing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantRequest {
    /// Tenant name.
    pub tenant: String,
    /// `scheme://host[:port]/tenants/{name}` (path routing) or `scheme://host[:port]` (host
    /// routing). The SCIM base is `base_url + "/scim"`.
    pub base_url: String,
}

impl TenantRequest {
    /// The SCIM 2.0 base URL (`Location` and `meta.location` are built from it).
    pub fn scim_base(&self) -> String {
        format!("{}/scim", self.base_url)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for TenantRequest {
    type Rejection = ScimError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<TenantRequest>()
            .cloned()
            .ok_or_else(|| ScimError::not_found("unknown tenant"))
    }
}

/// The result of resolving a request to a tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    pub tenant: TenantRequest,
    /// The tenant-relative path and query to route.
    pub path_and_query: String,
}

/// Resolves a request (`path_and_query`, its authority, whether it came over TLS) to a tenant.
/// `tenant_exists` says whether a tenant name is configured; `tenant_for_host` maps a
/// lower-case host name without port to its tenant.
pub fn resolve_tenant(
    path_and_query: &str,
    authority: Option<&str>,
    tls: bool,
    tenant_exists: impl Fn(&str) -> bool,
    tenant_for_host: impl Fn(&str) -> Option<String>,
) -> Option<Resolved> {
    let scheme = if tls { "https" } else { "http" };
    let authority = authority.filter(|a| is_valid_authority(a));
    let origin = format!("{scheme}://{}", authority.unwrap_or("localhost"));
    if let Some(rest) = path_and_query.strip_prefix(TENANTS_PREFIX) {
        let end = rest.find(['/', '?']).unwrap_or(rest.len());
        let (name, tail) = rest.split_at(end);
        if name.is_empty() || !tenant_exists(name) {
            return None;
        }
        let path_and_query = if tail.starts_with('/') {
            tail.to_string()
        } else {
            format!("/{tail}")
        };
        return Some(Resolved {
            tenant: TenantRequest {
                tenant: name.to_string(),
                base_url: format!("{origin}/tenants/{name}"),
            },
            path_and_query,
        });
    }
    let host = host_name(authority?);
    let tenant = tenant_for_host(&host).filter(|t| tenant_exists(t))?;
    Some(Resolved {
        tenant: TenantRequest {
            tenant,
            base_url: origin,
        },
        path_and_query: path_and_query.to_string(),
    })
}

/// The lower-case host name of an authority, without port and trailing dot.
pub fn host_name(authority: &str) -> String {
    let host = if authority.starts_with('[') {
        // IPv6 literal: keep the brackets, drop the port.
        authority.split_inclusive(']').next().unwrap_or(authority)
    } else {
        authority.split(':').next().unwrap_or(authority)
    };
    host.trim_end_matches('.').to_ascii_lowercase()
}

/// A conservative check of `host[:port]`: letters, digits, `.-_:[]`, at most 255 characters.
fn is_valid_authority(authority: &str) -> bool {
    !authority.is_empty()
        && authority.len() <= 255
        && authority.bytes().all(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b':' | b'[' | b']')
        })
}

/// Rewrites a request for its tenant (URI made tenant-relative, [`TenantRequest`] inserted).
/// A request that resolves to no tenant passes unchanged (and meets the root routes only).
pub fn route_tenant(runtime: &Arc<Runtime>, mut request: Request) -> Request {
    let tls = request
        .extensions()
        .get::<ConnectionInfo>()
        .is_some_and(|c| c.tls);
    let authority = request
        .uri()
        .authority()
        .map(|a| a.as_str().to_string())
        .or_else(|| {
            request
                .headers()
                .get(HOST)
                .and_then(|h| h.to_str().ok())
                .map(str::to_string)
        });
    let path_and_query = request
        .uri()
        .path_and_query()
        .map(PathAndQuery::as_str)
        .unwrap_or("/");
    let config = runtime.config();
    let resolved = resolve_tenant(
        path_and_query,
        authority.as_deref(),
        tls,
        |name| config.tenants.contains_key(name),
        |host| runtime.tenant_for_host(host),
    );
    let Some(resolved) = resolved else {
        return request;
    };
    if let Some(uri) = with_path_and_query(request.uri(), &resolved.path_and_query) {
        *request.uri_mut() = uri;
        request.extensions_mut().insert(resolved.tenant);
    }
    request
}

fn with_path_and_query(uri: &Uri, path_and_query: &str) -> Option<Uri> {
    let mut parts = uri::Parts::from(uri.clone());
    parts.path_and_query = Some(PathAndQuery::try_from(path_and_query).ok()?);
    Uri::from_parts(parts).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exists(name: &str) -> bool {
        matches!(name, "acme" | "beta")
    }

    fn by_host(host: &str) -> Option<String> {
        (host == "acme.example.com").then(|| "acme".to_string())
    }

    #[test]
    fn path_routing_strips_prefix_and_keeps_query() {
        let r = resolve_tenant(
            "/tenants/acme/scim/Users?filter=x",
            Some("example.org:8443"),
            true,
            exists,
            by_host,
        )
        .unwrap();
        assert_eq!(r.tenant.tenant, "acme");
        assert_eq!(r.tenant.base_url, "https://example.org:8443/tenants/acme");
        assert_eq!(
            r.tenant.scim_base(),
            "https://example.org:8443/tenants/acme/scim"
        );
        assert_eq!(r.path_and_query, "/scim/Users?filter=x");
        assert_eq!(
            resolve_tenant("/tenants/acme", None, false, exists, by_host)
                .unwrap()
                .path_and_query,
            "/"
        );
        let r = resolve_tenant("/tenants/acme?x=1", None, false, exists, by_host).unwrap();
        assert_eq!(r.path_and_query, "/?x=1");
        assert_eq!(r.tenant.base_url, "http://localhost/tenants/acme");
    }

    #[test]
    fn unknown_tenant_does_not_resolve() {
        assert_eq!(
            resolve_tenant("/tenants/nope/scim/Users", None, false, exists, by_host),
            None
        );
        assert_eq!(
            resolve_tenant("/tenants//scim", None, false, exists, by_host),
            None
        );
        assert_eq!(
            resolve_tenant(
                "/scim/Users",
                Some("other.example.com"),
                false,
                exists,
                by_host
            ),
            None
        );
        assert_eq!(
            resolve_tenant("/scim/Users", None, false, exists, by_host),
            None
        );
    }

    #[test]
    fn host_routing_uses_host_without_port_case_insensitively() {
        let r = resolve_tenant(
            "/scim/Users",
            Some("ACME.example.com:8443"),
            true,
            exists,
            by_host,
        )
        .unwrap();
        assert_eq!(r.tenant.tenant, "acme");
        assert_eq!(r.tenant.base_url, "https://ACME.example.com:8443");
        assert_eq!(r.path_and_query, "/scim/Users");
        // Path routing wins on a tenant host.
        let r = resolve_tenant(
            "/tenants/beta/scim",
            Some("acme.example.com"),
            true,
            exists,
            by_host,
        )
        .unwrap();
        assert_eq!(r.tenant.tenant, "beta");
    }

    #[test]
    fn invalid_host_is_not_reflected() {
        let r = resolve_tenant(
            "/tenants/acme/scim",
            Some("evil\"host"),
            false,
            exists,
            by_host,
        )
        .unwrap();
        assert_eq!(r.tenant.base_url, "http://localhost/tenants/acme");
    }

    #[test]
    fn host_name_strips_port_and_dot() {
        assert_eq!(host_name("Example.COM.:443"), "example.com");
        assert_eq!(host_name("[::1]:8443"), "[::1]");
        assert_eq!(host_name("127.0.0.1"), "127.0.0.1");
    }
}
