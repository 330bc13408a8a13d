//! Clients written by others against a real `Server` on real sockets: the `oauth2` crate
//! obtains, introspects and revokes tokens knowing only the RFC 8414 metadata document, and
//! `jsonwebtoken` verifies them knowing only the JWKS the metadata points to.

use std::time::Duration;

use oauth2::basic::BasicClient;
use oauth2::{
    AuthType, ClientId, ClientSecret, IntrospectionUrl, RevocationUrl, Scope,
    StandardRevocableToken, TokenIntrospectionResponse, TokenResponse, TokenUrl,
};
use serde_json::{Value, json};
use warden_crypto::AccessClaims;
use warden_server::{ConfigLayer, Server, Settings};

const ADMIN: &str = "standard-client-test-admin-token-0123456789abcdef";

struct Running {
    base: String,
    gateway: String,
    http: reqwest::Client,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    _dir: tempfile::TempDir,
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

async fn start() -> Running {
    let dir = tempfile::tempdir().unwrap();
    let layer = ConfigLayer {
        data_dir: Some(dir.path().join("data")),
        api_listen: "127.0.0.1:0".parse().ok(),
        gateway_listen: "127.0.0.1:0".parse().ok(),
        ..Default::default()
    };
    let settings = Settings::resolve(layer, Some(warden_crypto::Secret::new(ADMIN.into())));
    let server = Server::start(settings).await.unwrap();
    let base = format!("http://{}", server.api_addr().unwrap());
    let gateway = format!("http://{}", server.gateway_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(server.run(async move {
        let _ = stopped.await;
    }));
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    Running {
        base,
        gateway,
        http,
        stop: Some(stop),
        _dir: dir,
    }
}

impl Running {
    async fn admin(&self, path: &str, body: Value) -> Value {
        let response = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(ADMIN)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert!(
            response.status().is_success(),
            "{path}: {}",
            response.status()
        );
        response.json().await.unwrap()
    }

    async fn get(&self, url: &str) -> Value {
        self.http
            .get(url)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }
}

/// The HTTP transport the `oauth2` crate asks its caller for, over reqwest.
async fn send(request: oauth2::HttpRequest) -> Result<oauth2::HttpResponse, std::io::Error> {
    let io = |error: reqwest::Error| std::io::Error::other(error.to_string());
    let client = reqwest::Client::new();
    let (parts, body) = request.into_parts();
    let mut outgoing = client
        .request(
            parts.method.as_str().parse().unwrap(),
            parts.uri.to_string(),
        )
        .body(body);
    for (name, value) in &parts.headers {
        outgoing = outgoing.header(name.as_str(), value.as_bytes());
    }
    let response = outgoing.send().await.map_err(io)?;
    let mut builder = oauth2::http::Response::builder().status(response.status().as_u16());
    for (name, value) in response.headers() {
        builder = builder.header(name.as_str(), value.as_bytes());
    }
    let bytes = response.bytes().await.map_err(io)?;
    builder
        .body(bytes.to_vec())
        .map_err(|error| std::io::Error::other(error.to_string()))
}

/// What a resource server does with nothing but the JWKS.
fn decode(jwks: &Value, token: &str, issuer: &str, audience: &str) -> AccessClaims {
    let set: jsonwebtoken::jwk::JwkSet = serde_json::from_value(jwks.clone()).unwrap();
    let header = jsonwebtoken::decode_header(token).unwrap();
    assert_eq!(header.typ.as_deref(), Some("at+jwt"));
    let jwk = set.find(&header.kid.unwrap()).unwrap();
    let key = jsonwebtoken::DecodingKey::from_jwk(jwk).unwrap();
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::EdDSA);
    validation.set_audience(&[audience]);
    validation.set_issuer(&[issuer]);
    jsonwebtoken::decode::<AccessClaims>(token, &key, &validation)
        .unwrap()
        .claims
}

#[tokio::test]
async fn the_oauth2_crate_gets_introspects_and_revokes_tokens_from_the_metadata_alone() {
    let warden = start().await;
    warden
        .admin(
            "/v1/owners",
            json!({"email": "alice@example.com", "name": "Alice"}),
        )
        .await;
    warden
        .admin(
            "/v1/upstreams",
            json!({"name": "github", "kind": "http", "url": "https://github.example.com", "auth": "bearer"}),
        )
        .await;
    warden
        .admin(
            "/v1/identities",
            json!({"kind": "agent", "name": "support-bot", "owner": "alice@example.com"}),
        )
        .await;
    let issued = warden
        .admin(
            "/v1/identities/agent:support-bot/credentials",
            json!({"scope": "tickets:read tickets:write"}),
        )
        .await;
    let client_id = issued["client_id"].as_str().unwrap().to_string();
    let secret = issued["client_secret"].as_str().unwrap().to_string();

    // Discovery: everything below comes from this one document.
    let metadata = warden
        .get(&format!(
            "{}/.well-known/oauth-authorization-server",
            warden.base
        ))
        .await;
    let issuer = metadata["issuer"].as_str().unwrap().to_string();
    assert_eq!(issuer, warden.base);
    let url = |key: &str| metadata[key].as_str().unwrap().to_string();

    let client = BasicClient::new(ClientId::new(client_id.clone()))
        .set_client_secret(ClientSecret::new(secret.clone()))
        .set_auth_type(AuthType::BasicAuth)
        .set_token_uri(TokenUrl::new(url("token_endpoint")).unwrap())
        .set_introspection_url(IntrospectionUrl::new(url("introspection_endpoint")).unwrap())
        .set_revocation_url(RevocationUrl::new(url("revocation_endpoint")).unwrap());
    let audience = format!("{}/github", warden.gateway);
    let token = client
        .exchange_client_credentials()
        .add_scope(Scope::new("tickets:read".into()))
        .add_extra_param("resource", audience.clone())
        .request_async(&send)
        .await
        .unwrap();
    assert_eq!(
        token.expires_in(),
        Some(Duration::from_secs(300)),
        "five minutes by default"
    );
    let access = token.access_token().secret().clone();

    let jwks = warden.get(&url("jwks_uri")).await;
    let claims = decode(&jwks, &access, &issuer, &audience);
    assert_eq!(claims.client_id, client_id);
    assert_eq!(claims.sub, client_id);
    assert_eq!(claims.scope.as_deref(), Some("tickets:read"));

    let introspection = client
        .introspect(token.access_token())
        .request_async(&send)
        .await
        .unwrap();
    assert!(introspection.active());

    // The crate refuses to revoke over plain HTTP (RFC 7009 asks for TLS), which this test
    // server does not speak; the RFC 7009 request is one form post.
    assert!(matches!(
        client.revoke_token(StandardRevocableToken::AccessToken(
            token.access_token().clone()
        )),
        Err(oauth2::ConfigurationError::InsecureUrl(_))
    ));
    let revoked = warden
        .http
        .post(url("revocation_endpoint"))
        .basic_auth(&client_id, Some(&secret))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(serde_urlencoded::to_string([("token", access.as_str())]).unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), reqwest::StatusCode::OK);
    let introspection = client
        .introspect(token.access_token())
        .request_async(&send)
        .await
        .unwrap();
    assert!(
        !introspection.active(),
        "refused from the moment revoke returned"
    );

    // A wrong secret is an RFC 6749 error the library understands.
    let wrong = BasicClient::new(ClientId::new(client_id.clone()))
        .set_client_secret(ClientSecret::new("warden_cs_wrong".into()))
        .set_auth_type(AuthType::RequestBody)
        .set_token_uri(TokenUrl::new(url("token_endpoint")).unwrap());
    let error = wrong
        .exchange_client_credentials()
        .add_extra_param("resource", "github")
        .request_async(&send)
        .await
        .unwrap_err();
    assert!(
        matches!(
            &error,
            oauth2::RequestTokenError::ServerResponse(response)
                if *response.error() == oauth2::basic::BasicErrorResponseType::InvalidClient
        ),
        "{error:?}"
    );

    // Token exchange (RFC 8693), which the oauth2 crate has no call for: a plain form post
    // of the agent's own token, verified again with only the JWKS.
    let second = client
        .exchange_client_credentials()
        .add_extra_param("resource", "github")
        .request_async(&send)
        .await
        .unwrap();
    let exchanged: Value = warden
        .http
        .post(url("token_endpoint"))
        .basic_auth(&client_id, Some(&secret))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(
            serde_urlencoded::to_string([
                (
                    "grant_type",
                    "urn:ietf:params:oauth:grant-type:token-exchange",
                ),
                ("subject_token", second.access_token().secret()),
                (
                    "subject_token_type",
                    "urn:ietf:params:oauth:token-type:access_token",
                ),
                ("resource", "github"),
            ])
            .unwrap(),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let exchanged = exchanged["access_token"].as_str().unwrap();
    let claims = decode(&jwks, exchanged, &issuer, &audience);
    assert_eq!(claims.act.map(|act| act.sub), Some(client_id));
}
