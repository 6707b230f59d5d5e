//! Serving a simulator on a local port, and the request as the simulators see it.

use std::net::SocketAddr;
use std::sync::Mutex;

use axum::Router;
use axum::body::Bytes;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderMap, Method, header};
use base64::Engine as _;
use tokio::sync::oneshot;

/// Stops the server task when the last simulator handle is dropped.
#[derive(Debug)]
pub(crate) struct ServerGuard {
    shutdown: Mutex<Option<oneshot::Sender<()>>>,
}

impl Drop for ServerGuard {
    fn drop(&mut self) {
        let sender = self
            .shutdown
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .take();
        if let Some(sender) = sender {
            // The server may already be gone; nothing to do then.
            let _ = sender.send(());
        }
    }
}

/// Bind `127.0.0.1:0`; returns the listener and the base URL `http://127.0.0.1:PORT`.
pub(crate) async fn bind() -> std::io::Result<(tokio::net::TcpListener, String)> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let address: SocketAddr = listener.local_addr()?;
    Ok((listener, format!("http://{address}")))
}

/// Serve `router` on `listener` in a tokio task until the returned guard is dropped.
pub(crate) fn serve(listener: tokio::net::TcpListener, router: Router) -> ServerGuard {
    let (sender, receiver) = oneshot::channel::<()>();
    let app = router.layer(DefaultBodyLimit::disable());
    tokio::spawn(async move {
        let server = axum::serve(listener, app).with_graceful_shutdown(async move {
            let _ = receiver.await;
        });
        if let Err(error) = server.await {
            tracing::warn!(%error, "simulator server stopped with an error");
        }
    });
    ServerGuard {
        shutdown: Mutex::new(Some(sender)),
    }
}

/// An HTTP request, fully read.
#[derive(Debug)]
pub(crate) struct IncomingRequest {
    pub(crate) method: Method,
    pub(crate) path: String,
    pub(crate) raw_query: Option<String>,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
}

impl IncomingRequest {
    pub(crate) async fn read(request: axum::extract::Request) -> Result<Self, axum::Error> {
        let (parts, body) = request.into_parts();
        let body = axum::body::to_bytes(body, usize::MAX).await?;
        Ok(Self {
            method: parts.method,
            path: parts.uri.path().to_string(),
            raw_query: parts.uri.query().map(str::to_string),
            headers: parts.headers,
            body,
        })
    }

    /// The first value of a query parameter, percent-decoded.
    pub(crate) fn query_param(&self, name: &str) -> Option<String> {
        let raw = self.raw_query.as_deref()?;
        url::form_urlencoded::parse(raw.as_bytes())
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.into_owned())
    }

    /// The path plus query string, as the client sent it.
    pub(crate) fn path_and_query(&self) -> String {
        match &self.raw_query {
            Some(query) => format!("{}?{}", self.path, query),
            None => self.path.clone(),
        }
    }

    /// Form fields of an `application/x-www-form-urlencoded` body.
    pub(crate) fn form_field(&self, name: &str) -> Option<String> {
        url::form_urlencoded::parse(&self.body)
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.into_owned())
    }

    /// The token of an `Authorization: Bearer <token>` header (scheme case-insensitive).
    pub(crate) fn bearer_token(&self) -> Option<String> {
        let value = self.headers.get(header::AUTHORIZATION)?.to_str().ok()?;
        let (scheme, token) = value.trim().split_once(' ')?;
        scheme
            .eq_ignore_ascii_case("bearer")
            .then(|| token.trim().to_string())
            .filter(|token| !token.is_empty())
    }

    /// The `(user, password)` of an `Authorization: Basic` header.
    pub(crate) fn basic_credentials(&self) -> Option<(String, String)> {
        let value = self.headers.get(header::AUTHORIZATION)?.to_str().ok()?;
        let (scheme, encoded) = value.trim().split_once(' ')?;
        if !scheme.eq_ignore_ascii_case("basic") {
            return None;
        }
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(encoded.trim())
            .ok()?;
        let decoded = String::from_utf8(decoded).ok()?;
        let (user, password) = decoded.split_once(':')?;
        Some((user.to_string(), password.to_string()))
    }
}

/// The response with its body broken as `broken` says (status and other headers kept).
pub(crate) async fn break_body(
    response: axum::response::Response,
    broken: crate::fault::BrokenBody,
) -> axum::response::Response {
    let (mut parts, body) = response.into_parts();
    let real = axum::body::to_bytes(body, usize::MAX)
        .await
        .unwrap_or_default();
    let (bytes, content_type) = broken.apply(&real);
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.insert(
        header::CONTENT_TYPE,
        axum::http::HeaderValue::from_static(content_type),
    );
    axum::response::Response::from_parts(parts, axum::body::Body::from(bytes))
}
