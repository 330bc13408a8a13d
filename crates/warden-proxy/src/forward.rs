//! The client side of the gateway: one pooled HTTP client (HTTP/1.1 and HTTP/2, TLS through
//! rustls with the system's roots) and the request that goes to the upstream.

use std::time::Duration;

use axum::body::Body;
use http::uri::PathAndQuery;
use http::{HeaderMap, Method, Request, Uri};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use warden_gateway::VettedPath;

use super::catalog::BaseUrl;

pub type UpstreamClient = Client<HttpsConnector<HttpConnector>, Body>;

/// How long to wait for a TCP connection to an upstream.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The pooled client every upstream request goes through.
pub fn client() -> anyhow::Result<UpstreamClient> {
    // One crypto provider for the process; a second install is harmless.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_nodelay(true);
    http.set_connect_timeout(Some(CONNECT_TIMEOUT));
    let builder = hyper_rustls::HttpsConnectorBuilder::new();
    let builder = match builder.with_native_roots() {
        Ok(builder) => builder,
        Err(error) => {
            tracing::warn!(%error, "no system TLS roots; https upstreams will not verify");
            hyper_rustls::HttpsConnectorBuilder::new().with_tls_config(
                rustls::ClientConfig::builder()
                    .with_root_certificates(rustls::RootCertStore::empty())
                    .with_no_client_auth(),
            )
        }
    };
    let https = builder
        .https_or_http()
        .enable_http1()
        .enable_http2()
        .wrap_connector(http);
    Ok(Client::builder(TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(90))
        .pool_max_idle_per_host(1024)
        .build(https))
}

/// The upstream URI for a vetted request: the base URL's scheme and host, its path prefix
/// followed by the forwarded path, and the query as sent. `/NAME` alone is the base URL's
/// path exactly, as registered.
pub fn upstream_uri(base: &BaseUrl, vetted: &VettedPath) -> Result<Uri, http::Error> {
    let target = if vetted.forward_path.is_empty() {
        format!("{}{}", base.path, vetted.forward_target())
    } else {
        format!("{}{}", base.path_prefix, vetted.forward_target())
    };
    Uri::builder()
        .scheme(base.scheme.clone())
        .authority(base.authority.clone())
        .path_and_query(PathAndQuery::try_from(target)?)
        .build()
}

/// The request to send upstream: the agent's method and (already prepared) headers,
/// without the agent's `Host`, so the client names the upstream's.
pub fn upstream_request(
    method: Method,
    uri: Uri,
    mut headers: HeaderMap,
    body: Body,
) -> Result<Request<Body>, http::Error> {
    headers.remove(http::header::HOST);
    let mut request = Request::builder().method(method).uri(uri).body(body)?;
    *request.headers_mut() = headers;
    Ok(request)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_join_the_base_prefix_and_keep_the_query() {
        let base = BaseUrl {
            scheme: http::uri::Scheme::HTTP,
            authority: "127.0.0.1:9000".parse().unwrap_or_else(|e| panic!("{e}")),
            path_prefix: "/api".into(),
            path: "/api".into(),
        };
        let vetted =
            warden_gateway::vet("/crm/tickets/42?expand=1").unwrap_or_else(|e| panic!("{e}"));
        let uri = upstream_uri(&base, &vetted).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            uri.to_string(),
            "http://127.0.0.1:9000/api/tickets/42?expand=1"
        );
    }

    #[test]
    fn the_bare_name_is_the_base_url_exactly() {
        let uri = |base_path: &str, target: &str| {
            let base = BaseUrl {
                scheme: http::uri::Scheme::HTTP,
                authority: "127.0.0.1:9000".parse().unwrap_or_else(|e| panic!("{e}")),
                path_prefix: base_path.trim_end_matches('/').into(),
                path: base_path.into(),
            };
            let vetted = warden_gateway::vet(target).unwrap_or_else(|e| panic!("{e}"));
            upstream_uri(&base, &vetted)
                .unwrap_or_else(|e| panic!("{e}"))
                .to_string()
        };
        assert_eq!(uri("/mcp", "/docs"), "http://127.0.0.1:9000/mcp");
        assert_eq!(uri("/mcp/", "/docs"), "http://127.0.0.1:9000/mcp/");
        assert_eq!(uri("/mcp", "/docs/"), "http://127.0.0.1:9000/mcp/");
        assert_eq!(
            uri("/mcp", "/docs/rest?a=1"),
            "http://127.0.0.1:9000/mcp/rest?a=1"
        );
        assert_eq!(uri("/", "/docs"), "http://127.0.0.1:9000/");
        assert_eq!(uri("/mcp", "/docs?a=1"), "http://127.0.0.1:9000/mcp?a=1");
    }
}
