//! How idrelay authenticates when it calls a system (a target, or a remote source directory):
//! exactly one of Basic, bearer token, OAuth 2.0 client credentials or client certificate, every
//! secret part taken from a `v1/Secret` key (spec/kubernetes.md §3.1, ESO's "exactly one
//! provider").
//!
//! Invariants: the schema allows exactly one method (`minProperties: 1`, `maxProperties: 1`, and
//! the CEL rule [`OUTBOUND_ONE_OF_RULE`] with a readable message), and reconcile checks the same
//! (the files driver has no API server); a resource holds only references, never a secret value.

use kube::KubeSchema;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::refs::SecretKeyRef;
use super::source_system::{HTTP_URL_MESSAGE, HTTP_URL_RULE};

/// CEL rule: exactly one of the four methods is set.
pub const OUTBOUND_ONE_OF_RULE: &str = "(has(self.basic) ? 1 : 0) + (has(self.bearerToken) ? 1 : 0) + \
     (has(self.oauth) ? 1 : 0) + (has(self.clientCertificate) ? 1 : 0) == 1";
/// Message of [`OUTBOUND_ONE_OF_RULE`].
pub const OUTBOUND_ONE_OF_MESSAGE: &str =
    "set exactly one of basic, bearerToken, oauth and clientCertificate";

/// Authentication for outbound calls: set exactly one method.
#[derive(KubeSchema, Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("minProperties" = 1, "maxProperties" = 1))]
#[x_kube(validation = Rule::new(OUTBOUND_ONE_OF_RULE).message(OUTBOUND_ONE_OF_MESSAGE))]
pub struct OutboundAuthentication {
    /// HTTP Basic authentication (for an Identity Authentication tenant: user = client id,
    /// password = client secret of a technical administrator).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub basic: Option<BasicAuth>,
    /// A static bearer token sent as `Authorization: Bearer <token>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bearer_token: Option<BearerTokenAuth>,
    /// OAuth 2.0 client credentials grant: a token is fetched from `tokenUrl` and cached.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oauth: Option<OAuthClientCredentials>,
    /// Mutual TLS with a client certificate and its private key (PEM).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_certificate: Option<ClientCertificateAuth>,
}

/// HTTP Basic authentication.
#[derive(JsonSchema, Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BasicAuth {
    /// The user name (for Identity Authentication: the technical administrator's client id).
    #[schemars(length(min = 1, max = 256))]
    pub username: String,
    /// The Secret key holding the password (client secret).
    pub password_ref: SecretKeyRef,
}

/// A static bearer token.
#[derive(JsonSchema, Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BearerTokenAuth {
    /// The Secret key holding the token.
    pub token_ref: SecretKeyRef,
}

/// OAuth 2.0 client credentials grant.
#[derive(KubeSchema, Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OAuthClientCredentials {
    /// The token endpoint (`https://…/oauth2/token`).
    #[schemars(length(min = 1, max = 2048))]
    #[x_kube(validation = Rule::new(HTTP_URL_RULE).message(HTTP_URL_MESSAGE))]
    pub token_url: String,
    /// The OAuth client id.
    #[schemars(length(min = 1, max = 256))]
    pub client_id: String,
    /// The Secret key holding the client secret.
    pub client_secret_ref: SecretKeyRef,
}

/// Client certificate (mutual TLS).
#[derive(JsonSchema, Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClientCertificateAuth {
    /// The Secret key holding the certificate chain (PEM).
    pub certificate_ref: SecretKeyRef,
    /// The Secret key holding the private key (PEM).
    pub private_key_ref: SecretKeyRef,
}

impl OutboundAuthentication {
    /// How many methods are set (valid: exactly one).
    pub fn method_count(&self) -> usize {
        [
            self.basic.is_some(),
            self.bearer_token.is_some(),
            self.oauth.is_some(),
            self.client_certificate.is_some(),
        ]
        .into_iter()
        .filter(|set| *set)
        .count()
    }

    /// Every Secret reference, with its field path relative to the authentication object
    /// (`basic.passwordRef`, …), in a stable order.
    pub fn secret_refs(&self) -> Vec<(&'static str, &SecretKeyRef)> {
        let mut out = Vec::new();
        if let Some(b) = &self.basic {
            out.push(("basic.passwordRef", &b.password_ref));
        }
        if let Some(b) = &self.bearer_token {
            out.push(("bearerToken.tokenRef", &b.token_ref));
        }
        if let Some(o) = &self.oauth {
            out.push(("oauth.clientSecretRef", &o.client_secret_ref));
        }
        if let Some(c) = &self.client_certificate {
            out.push(("clientCertificate.certificateRef", &c.certificate_ref));
            out.push(("clientCertificate.privateKeyRef", &c.private_key_ref));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(name: &str) -> SecretKeyRef {
        SecretKeyRef {
            name: name.into(),
            key: "k".into(),
        }
    }

    #[test]
    fn counts_methods_and_lists_refs() {
        let mut a = OutboundAuthentication::default();
        assert_eq!(a.method_count(), 0);
        a.client_certificate = Some(ClientCertificateAuth {
            certificate_ref: r("c"),
            private_key_ref: r("p"),
        });
        assert_eq!(a.method_count(), 1);
        a.bearer_token = Some(BearerTokenAuth { token_ref: r("t") });
        assert_eq!(a.method_count(), 2);
        let paths: Vec<_> = a.secret_refs().into_iter().map(|(p, _)| p).collect();
        assert_eq!(
            paths,
            [
                "bearerToken.tokenRef",
                "clientCertificate.certificateRef",
                "clientCertificate.privateKeyRef"
            ]
        );
    }

    #[test]
    fn schema_allows_exactly_one_method() {
        let schema = serde_json::to_value(schemars::schema_for!(OutboundAuthentication)).unwrap();
        assert_eq!(schema["minProperties"], 1);
        assert_eq!(schema["maxProperties"], 1);
    }
}
