//! OCI distribution client: pull and push manifests and blobs, against Docker Hub for
//! users and the loopback registry in tests.
//!
//! Built on `reqwest` 0.12 (rustls + ring, system roots) rather than `oci-client` 0.18,
//! because oci-client: (1) needs reqwest 0.13, whose `rustls` feature pulls aws-lc-rs
//! (cmake); the no-provider variant would make us install ring and a platform verifier
//! ourselves anyway; (2) has no retries, backoff or Retry-After handling; (3) takes
//! credentials as a fixed `RegistryAuth` per call (Anonymous/Basic/Bearer) with no
//! lookup hook and no identity-token (OAuth refresh token) flow, which Docker's
//! config.json uses after `docker login` with SSO; (4) wants its own `Reference` type and
//! its own error strings, where wharf has its own reference type and needs messages
//! that name the registry and say what to do. What it does give (streaming verified
//! blobs, index handling, mount, chunked push) is a few hundred lines here on top of
//! reqwest and the oci-spec types we already use.

use crate::image::digest::Digest;
use oci_spec::image::ImageIndex;
use reqwest::header::{HeaderMap, HeaderValue, AUTHORIZATION, CONTENT_TYPE, LOCATION};
use reqwest::{Method, StatusCode, Url};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

mod ops;
mod wire;

pub use wire::{
    backoff_delay, parse_retry_after, parse_www_authenticate, registry_base_url, token_request,
    use_plain_http, Challenge, TokenRequest,
};
use wire::{innermost_cause, registry_message, TokenResponse};

/// Manifest and index media types wharf accepts, in Accept-header order.
pub const MEDIA_OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const MEDIA_OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const MEDIA_DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const MEDIA_DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
const MEDIA_DOCKER_SCHEMA1: &str = "application/vnd.docker.distribution.manifest.v1";

const DOCKER_HUB: &str = "docker.io";
const DOCKER_HUB_ENDPOINT: &str = "registry-1.docker.io";

/// Longest Retry-After we are willing to sleep through; beyond it we report the limit.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);
const BACKOFF_BASE: Duration = Duration::from_millis(250);
const BACKOFF_MAX: Duration = Duration::from_secs(8);
const MAX_REDIRECTS: usize = 10;
/// Manifests are small; a registry sending more is broken or hostile.
pub(crate) const MAX_MANIFEST_BYTES: usize = 4 << 20;

#[derive(Clone, PartialEq, Eq)]
pub enum Credentials {
    Basic {
        username: String,
        password: String,
    },
    /// An OAuth refresh token (`identitytoken` in ~/.docker/config.json).
    IdentityToken(String),
}

impl std::fmt::Debug for Credentials {
    // Secrets never reach logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Credentials::Basic { username, .. } => write!(f, "Basic({username}, ***)"),
            Credentials::IdentityToken(_) => write!(f, "IdentityToken(***)"),
        }
    }
}

/// Looks up credentials by registry host as the user wrote it (`docker.io`, `ghcr.io`,
/// `127.0.0.1:5001`).
/// What `~/.docker/config.json` (or a credential helper) holds, as sent.
impl From<super::auth::Credentials> for Credentials {
    fn from(c: super::auth::Credentials) -> Self {
        match c.identity_token {
            Some(token) => Credentials::IdentityToken(token),
            None => Credentials::Basic {
                username: c.username,
                password: c.password,
            },
        }
    }
}

pub type CredentialLookup = Arc<dyn Fn(&str) -> Option<Credentials> + Send + Sync>;

#[derive(Clone)]
pub struct ClientOptions {
    /// Hosts (`host` or `host:port`) reached over plain HTTP besides loopback.
    pub insecure_registries: Vec<String>,
    pub user_agent: String,
    /// Extra attempts after the first on connect errors, 5xx and 429.
    pub retries: u32,
    pub credentials: CredentialLookup,
    /// Blobs larger than this are pushed in PATCH chunks of this size.
    pub chunk_size: usize,
    /// How long the registry may keep us waiting for response headers or
    /// for the next piece of a body. Only time spent waiting on the network
    /// counts: reqwest arms the timer when the body is next polled, so a
    /// slow sink (the unpacker) between two reads never trips it.
    pub read_timeout: Duration,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            insecure_registries: Vec::new(),
            user_agent: format!("wharf/{}", env!("CARGO_PKG_VERSION")),
            retries: 3,
            credentials: Arc::new(|_| None),
            chunk_size: 16 << 20,
            read_timeout: Duration::from_secs(120),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("cannot reach registry {registry}: {reason}")]
    Unreachable { registry: String, reason: String },
    #[error("unauthorized: authentication required for {name} — run wharf login")]
    AuthRequired { name: String },
    #[error(
        "unauthorized: {registry} rejected the credentials for {name} — run wharf login {registry}"
    )]
    CredentialsRejected { registry: String, name: String },
    #[error("denied: {registry}/{repo}: {message}")]
    Denied {
        registry: String,
        repo: String,
        message: String,
    },
    #[error("manifest unknown: {name} not found")]
    ManifestUnknown { name: String },
    #[error("blob unknown: {registry}/{repo}@{digest} not found")]
    BlobUnknown {
        registry: String,
        repo: String,
        digest: Digest,
    },
    #[error("rate limited by {registry}, retry after {seconds} s")]
    RateLimited { registry: String, seconds: u64 },
    #[error("{url}: HTTP {status}: {message}")]
    Http {
        url: String,
        status: StatusCode,
        message: String,
    },
    #[error("{url}: {reason}")]
    Transport { url: String, reason: String },
    #[error(
        "{name}: digest mismatch: expected {expected}, registry sent content with digest {actual}"
    )]
    DigestMismatch {
        name: String,
        expected: Digest,
        actual: Digest,
    },
    #[error("{name}: invalid Docker-Content-Digest header {value:?}")]
    BadDigestHeader { name: String, value: String },
    #[error("{name}: manifest is larger than {MAX_MANIFEST_BYTES} bytes")]
    ManifestTooLarge { name: String },
    #[error("{name} uses the Docker schema 1 manifest format (deprecated since 2017), which wharf does not support; push it again with a current Docker or another tool")]
    Schema1 { name: String },
    #[error("{name}: unsupported manifest media type {media_type:?}")]
    UnsupportedMediaType { name: String, media_type: String },
    #[error("{name}: blob is {actual} bytes, expected {expected}")]
    SizeMismatch {
        name: String,
        expected: u64,
        actual: u64,
    },
    #[error("token service {realm}: {reason}")]
    Token { realm: String, reason: String },
    #[error("{registry}: {reason}")]
    Protocol { registry: String, reason: String },
    #[error("{name}: {source}")]
    Io {
        name: String,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid image index: {0}")]
    InvalidIndex(#[source] oci_spec::OciSpecError),
    #[error("cannot build HTTP client: {0}")]
    Client(#[source] reqwest::Error),
}

pub type Result<T> = std::result::Result<T, RegistryError>;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FetchedManifest {
    pub digest: Digest,
    pub media_type: String,
    pub bytes: Vec<u8>,
}

/// One entry of an image index / manifest list, for platform selection by the caller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IndexEntry {
    pub digest: Digest,
    pub media_type: String,
    pub os: Option<String>,
    pub architecture: Option<String>,
    pub variant: Option<String>,
}

/// Parses an OCI index or Docker manifest list (same JSON shape) into its entries.
pub fn parse_index(bytes: &[u8]) -> Result<Vec<IndexEntry>> {
    let index = ImageIndex::from_reader(bytes).map_err(RegistryError::InvalidIndex)?;
    let mut out = Vec::new();
    for m in index.manifests() {
        let digest: Digest = m.digest().to_string().parse().map_err(|e| {
            RegistryError::InvalidIndex(oci_spec::OciSpecError::Other(format!("{e}")))
        })?;
        let p = m.platform().as_ref();
        out.push(IndexEntry {
            digest,
            media_type: m.media_type().to_string(),
            os: p.map(|p| p.os().to_string()),
            architecture: p.map(|p| p.architecture().to_string()),
            variant: p.and_then(|p| p.variant().clone()),
        });
    }
    Ok(out)
}

/// Is this manifest media type an index / manifest list?
pub fn is_index_media_type(media_type: &str) -> bool {
    media_type == MEDIA_OCI_INDEX || media_type == MEDIA_DOCKER_LIST
}

// ---------------------------------------------------------------------------------------
// The client.

struct CachedToken {
    token: String,
    expires: Instant,
}

/// A request kept in memory so that it can be re-sent on retry, redirect or auth.
#[derive(Clone)]
struct Req {
    method: Method,
    url: Url,
    headers: HeaderMap,
    body: Option<bytes_body::Body>,
}

mod bytes_body {
    /// Shared request body: cloning for a retry copies a pointer, not the chunk.
    pub type Body = std::sync::Arc<Vec<u8>>;
}

pub struct RegistryClient {
    http: reqwest::Client,
    opts: ClientOptions,
    challenges: Mutex<HashMap<String, Challenge>>,
    tokens: Mutex<HashMap<(String, String), CachedToken>>,
}

impl RegistryClient {
    pub fn new(opts: ClientOptions) -> Result<Self> {
        let http = reqwest::Client::builder()
            .user_agent(opts.user_agent.clone())
            // Redirects are followed by hand: only for GET/HEAD, dropping credentials
            // when the target is another origin (blob storage).
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(30))
            .read_timeout(opts.read_timeout)
            .build()
            .map_err(RegistryError::Client)?;
        Ok(RegistryClient {
            http,
            opts,
            challenges: Mutex::new(HashMap::new()),
            tokens: Mutex::new(HashMap::new()),
        })
    }

    fn url(&self, registry: &str, path: &str) -> Result<Url> {
        let base = registry_base_url(registry, &self.opts.insecure_registries);
        Url::parse(&format!("{base}{path}")).map_err(|e| RegistryError::Protocol {
            registry: registry.to_string(),
            reason: format!("invalid URL {base}{path}: {e}"),
        })
    }

    // -----------------------------------------------------------------------------------
    // Plumbing.

    fn req(&self, method: Method, url: Url) -> Req {
        Req {
            method,
            url,
            headers: HeaderMap::new(),
            body: None,
        }
    }

    fn location(&self, registry: &str, resp: &reqwest::Response) -> Result<Url> {
        let loc = resp
            .headers()
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| RegistryError::Protocol {
                registry: registry.to_string(),
                reason: format!("{} answered without a Location header", resp.url()),
            })?;
        resp.url().join(loc).map_err(|e| RegistryError::Protocol {
            registry: registry.to_string(),
            reason: format!("invalid Location {loc:?}: {e}"),
        })
    }

    /// Maps non-success statuses to errors that say what to do.
    async fn expect_success(
        &self,
        resp: reqwest::Response,
        repo: &str,
    ) -> Result<reqwest::Response> {
        let status = resp.status();
        if status.is_success() {
            return Ok(resp);
        }
        let url = resp.url().to_string();
        let body = resp.bytes().await.unwrap_or_default();
        let message = registry_message(&body).unwrap_or_else(|| {
            status
                .canonical_reason()
                .unwrap_or("unexpected status")
                .to_string()
        });
        if status == StatusCode::FORBIDDEN {
            return Err(RegistryError::Denied {
                registry: url_registry(&url),
                repo: repo.to_string(),
                message,
            });
        }
        Err(RegistryError::Http {
            url,
            status,
            message,
        })
    }

    /// Sends with the auth this registry asked for, answering one 401 challenge.
    async fn send_authed(
        &self,
        registry: &str,
        repo: &str,
        scopes: &[String],
        req: Req,
    ) -> Result<reqwest::Response> {
        let creds = (self.opts.credentials)(registry);
        let known = self.challenge(registry);
        let mut first = req.clone();
        if let Some(ch) = &known {
            if let Some(v) = self
                .authorization(registry, ch, scopes, creds.as_ref())
                .await?
            {
                first.headers.insert(AUTHORIZATION, v);
            }
        }
        let resp = self.send(registry, first).await?;
        if resp.status() != StatusCode::UNAUTHORIZED {
            return Ok(resp);
        }
        let challenge = resp
            .headers()
            .get_all(reqwest::header::WWW_AUTHENTICATE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find_map(parse_www_authenticate);
        let unauthorized = || {
            if creds.is_some() {
                RegistryError::CredentialsRejected {
                    registry: registry.to_string(),
                    name: target(registry, repo),
                }
            } else {
                RegistryError::AuthRequired {
                    name: target(registry, repo),
                }
            }
        };
        let Some(challenge) = challenge else {
            return Err(unauthorized());
        };
        // A challenge we already answered (same scheme, token still cached) failing again
        // means the credentials are wrong or insufficient; the token cache is dropped so
        // that a later call asks afresh.
        if known.as_ref() == Some(&challenge) {
            self.forget_tokens(registry);
        }
        self.set_challenge(registry, challenge.clone());
        let Some(auth) = self
            .authorization(registry, &challenge, scopes, creds.as_ref())
            .await?
        else {
            return Err(unauthorized());
        };
        let mut second = req;
        second.headers.insert(AUTHORIZATION, auth);
        let resp = self.send(registry, second).await?;
        if resp.status() == StatusCode::UNAUTHORIZED {
            self.forget_tokens(registry);
            return Err(unauthorized());
        }
        Ok(resp)
    }

    fn challenge(&self, registry: &str) -> Option<Challenge> {
        self.challenges
            .lock()
            .ok()
            .and_then(|m| m.get(registry).cloned())
    }

    fn set_challenge(&self, registry: &str, ch: Challenge) {
        if let Ok(mut m) = self.challenges.lock() {
            m.insert(registry.to_string(), ch);
        }
    }

    fn forget_tokens(&self, registry: &str) {
        if let Ok(mut t) = self.tokens.lock() {
            t.retain(|(r, _), _| r != registry);
        }
    }

    /// The Authorization value for a challenge, fetching (or reusing) a bearer token.
    async fn authorization(
        &self,
        registry: &str,
        challenge: &Challenge,
        scopes: &[String],
        creds: Option<&Credentials>,
    ) -> Result<Option<HeaderValue>> {
        match challenge {
            Challenge::Basic => match creds {
                Some(Credentials::Basic { username, password }) => {
                    Ok(Some(basic_header(username, password)))
                }
                _ => Ok(None),
            },
            Challenge::Bearer { realm, service, .. } => {
                let key = (registry.to_string(), scopes.join(" "));
                if let Ok(t) = self.tokens.lock() {
                    if let Some(c) = t.get(&key) {
                        if c.expires > Instant::now() {
                            return Ok(Some(header_value(&format!("Bearer {}", c.token))));
                        }
                    }
                }
                let (token, ttl) = self
                    .fetch_token(registry, realm, service.as_deref(), scopes, creds)
                    .await?;
                let value = header_value(&format!("Bearer {token}"));
                if let Ok(mut t) = self.tokens.lock() {
                    // Renew 10 s early so a request does not race the expiry.
                    let ttl = ttl.saturating_sub(Duration::from_secs(10));
                    t.insert(
                        key,
                        CachedToken {
                            token,
                            expires: Instant::now() + ttl,
                        },
                    );
                }
                Ok(Some(value))
            }
        }
    }

    async fn fetch_token(
        &self,
        registry: &str,
        realm: &str,
        service: Option<&str>,
        scopes: &[String],
        creds: Option<&Credentials>,
    ) -> Result<(String, Duration)> {
        let terr = |reason: String| RegistryError::Token {
            realm: realm.to_string(),
            reason,
        };
        let tr = token_request(realm, service, scopes, creds).map_err(terr)?;
        let mut req = self.req(tr.method, tr.url);
        if let Some((u, p)) = &tr.basic {
            req.headers.insert(AUTHORIZATION, basic_header(u, p));
        }
        if !tr.form.is_empty() {
            let body = serde_urlencoded_pairs(&tr.form);
            req.headers.insert(
                CONTENT_TYPE,
                HeaderValue::from_static("application/x-www-form-urlencoded"),
            );
            req.body = Some(Arc::new(body.into_bytes()));
        }
        let resp = self.send(registry, req).await?;
        let status = resp.status();
        if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
            let repo = scopes
                .first()
                .and_then(|s| s.split(':').nth(1))
                .unwrap_or("")
                .to_string();
            return Err(if creds.is_some() {
                RegistryError::CredentialsRejected {
                    registry: registry.to_string(),
                    name: target(registry, &repo),
                }
            } else {
                RegistryError::AuthRequired {
                    name: target(registry, &repo),
                }
            });
        }
        if !status.is_success() {
            return Err(terr(format!("HTTP {status}")));
        }
        let body = resp.bytes().await.map_err(|e| terr(innermost_cause(&e)))?;
        let parsed: TokenResponse = serde_json::from_slice(&body)
            .map_err(|e| terr(format!("invalid token response: {e}")))?;
        let token = parsed
            .token
            .or(parsed.access_token)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| terr("token response has no token".to_string()))?;
        // The spec's default lifetime is 60 s when none is given.
        let ttl = Duration::from_secs(parsed.expires_in.unwrap_or(60).max(60));
        Ok((token, ttl))
    }

    /// One logical request: retries (connect errors, 5xx, 429) and redirects (GET/HEAD).
    async fn send(&self, registry: &str, req: Req) -> Result<reqwest::Response> {
        let mut attempt: u32 = 0;
        loop {
            let outcome = self.send_following(registry, req.clone()).await;
            let retry_after = match &outcome {
                Ok(resp) => {
                    let s = resp.status();
                    if !(s.is_server_error() || s == StatusCode::TOO_MANY_REQUESTS) {
                        return outcome;
                    }
                    resp.headers()
                        .get(reqwest::header::RETRY_AFTER)
                        .and_then(|v| v.to_str().ok())
                        .and_then(parse_retry_after)
                }
                Err(RegistryError::Unreachable { .. }) => None,
                Err(_) => return outcome,
            };
            let too_long = retry_after.is_some_and(|r| r > MAX_RETRY_AFTER);
            if attempt >= self.opts.retries || too_long {
                return match outcome {
                    Ok(resp) if resp.status() == StatusCode::TOO_MANY_REQUESTS => {
                        Err(RegistryError::RateLimited {
                            registry: registry.to_string(),
                            seconds: retry_after.map(|d| d.as_secs()).unwrap_or(60),
                        })
                    }
                    other => other,
                };
            }
            let delay = backoff_delay(attempt, retry_after);
            tracing::debug!(registry, attempt, ?delay, "retrying registry request");
            tokio::time::sleep(delay).await;
            attempt += 1;
        }
    }

    async fn send_following(&self, registry: &str, mut req: Req) -> Result<reqwest::Response> {
        for _ in 0..=MAX_REDIRECTS {
            let mut b = self
                .http
                .request(req.method.clone(), req.url.clone())
                .headers(req.headers.clone());
            if let Some(body) = &req.body {
                b = b.body(body.as_ref().clone());
            }
            let resp = b.send().await.map_err(|e| {
                if e.is_connect() || e.is_timeout() {
                    RegistryError::Unreachable {
                        registry: registry.to_string(),
                        reason: innermost_cause(&e),
                    }
                } else {
                    transport(&req.url, &e)
                }
            })?;
            let follow = resp.status().is_redirection()
                && (req.method == Method::GET || req.method == Method::HEAD);
            if !follow {
                return Ok(resp);
            }
            let Some(loc) = resp.headers().get(LOCATION).and_then(|v| v.to_str().ok()) else {
                return Ok(resp);
            };
            let next = req.url.join(loc).map_err(|e| RegistryError::Protocol {
                registry: registry.to_string(),
                reason: format!("invalid redirect {loc:?}: {e}"),
            })?;
            if next.origin() != req.url.origin() {
                // Storage backends (S3, CDNs) get signed URLs, never our credentials.
                req.headers.remove(AUTHORIZATION);
            }
            req.url = next;
        }
        Err(RegistryError::Protocol {
            registry: registry.to_string(),
            reason: format!("more than {MAX_REDIRECTS} redirects from {}", req.url),
        })
    }
}

fn pull_scope(repo: &str) -> String {
    format!("repository:{repo}:pull")
}

fn push_scope(repo: &str) -> String {
    format!("repository:{repo}:pull,push")
}

/// `registry/repo`, or the registry alone for registry-wide requests (ping).
fn target(registry: &str, repo: &str) -> String {
    if repo.is_empty() {
        registry.to_string()
    } else {
        format!("{registry}/{repo}")
    }
}

fn display_name(registry: &str, repo: &str, reference: &str) -> String {
    if reference.contains(':') {
        format!("{registry}/{repo}@{reference}")
    } else {
        format!("{registry}/{repo}:{reference}")
    }
}

fn url_registry(url: &str) -> String {
    Url::parse(url)
        .ok()
        .and_then(|u| {
            u.host_str()
                .map(|h| u.port().map_or(h.to_string(), |p| format!("{h}:{p}")))
        })
        .unwrap_or_else(|| url.to_string())
}

fn transport(url: &Url, e: &reqwest::Error) -> RegistryError {
    RegistryError::Transport {
        url: url.to_string(),
        reason: innermost_cause(e),
    }
}

fn header_value(s: &str) -> HeaderValue {
    // Values we build come from URLs, digests and tokens; anything unrepresentable is
    // dropped to an empty value, which the registry rejects with a clear status.
    HeaderValue::from_str(s).unwrap_or_else(|_| HeaderValue::from_static(""))
}

fn basic_header(username: &str, password: &str) -> HeaderValue {
    use base64::Engine as _;
    let enc = base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}"));
    let mut v = header_value(&format!("Basic {enc}"));
    v.set_sensitive(true);
    v
}

fn serde_urlencoded_pairs(pairs: &[(String, String)]) -> String {
    // Url's form serializer, without a direct dependency on form_urlencoded.
    let mut u = Url::parse("http://x/").unwrap_or_else(|_| unreachable!());
    {
        let mut q = u.query_pairs_mut();
        for (k, v) in pairs {
            q.append_pair(k, v);
        }
    }
    u.query().unwrap_or("").to_string()
}

fn json_schema_version(bytes: &[u8]) -> Option<u64> {
    #[derive(serde::Deserialize)]
    struct V {
        #[serde(rename = "schemaVersion")]
        schema_version: Option<u64>,
    }
    serde_json::from_slice::<V>(bytes).ok()?.schema_version
}

/// The manifest's media type: Content-Type when specific, else the document's own
/// `mediaType`, else guessed from its shape (OCI allows both to be absent).
fn manifest_media_type(content_type: Option<&str>, bytes: &[u8]) -> String {
    if let Some(ct) = content_type {
        if ct.starts_with("application/vnd.") {
            return ct.to_string();
        }
    }
    #[derive(serde::Deserialize)]
    struct M {
        #[serde(rename = "mediaType")]
        media_type: Option<String>,
        manifests: Option<serde_json::Value>,
        layers: Option<serde_json::Value>,
    }
    match serde_json::from_slice::<M>(bytes) {
        Ok(M {
            media_type: Some(m),
            ..
        }) => m,
        Ok(M {
            manifests: Some(_), ..
        }) => MEDIA_OCI_INDEX.to_string(),
        Ok(M {
            layers: Some(_), ..
        }) => MEDIA_OCI_MANIFEST.to_string(),
        _ => content_type.unwrap_or("").to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::wire::host_only;
    use super::*;
    use std::future::Future;
    use std::io;
    use std::pin::Pin;
    use tokio::io::AsyncWrite;

    /// A blob server on 127.0.0.1 that sends the body in two parts, `gap`
    /// apart.
    /// The request line and headers of one HTTP request, lower-cased;
    /// `None` when the client went away first.
    async fn request_head(conn: &mut tokio::net::TcpStream) -> Option<String> {
        use tokio::io::AsyncReadExt;
        let mut head = Vec::new();
        let mut b = [0u8; 1024];
        while !head.windows(4).any(|w| w == b"\r\n\r\n") {
            match conn.read(&mut b).await {
                Ok(0) | Err(_) => return None,
                Ok(n) => head.extend_from_slice(&b[..n]),
            }
        }
        Some(String::from_utf8_lossy(&head).to_lowercase())
    }

    async fn two_part_blob_server(body: Vec<u8>, gap: Duration) -> String {
        use tokio::io::AsyncWriteExt;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut conn, _)) = listener.accept().await {
                let body = body.clone();
                tokio::spawn(async move {
                    if request_head(&mut conn).await.is_none() {
                        return;
                    }
                    let (first, second) = body.split_at(body.len() / 2);
                    let resp = format!(
                        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nContent-Type: application/octet-stream\r\n\r\n",
                        body.len()
                    );
                    let _ = conn.write_all(resp.as_bytes()).await;
                    let _ = conn.write_all(first).await;
                    let _ = conn.flush().await;
                    tokio::time::sleep(gap).await;
                    let _ = conn.write_all(second).await;
                    let _ = conn.flush().await;
                });
            }
        });
        addr.to_string()
    }

    /// A sink that takes `delay` over every write, as a busy unpacker does.
    struct SlowSink {
        data: Vec<u8>,
        delay: Duration,
        sleep: Option<Pin<Box<tokio::time::Sleep>>>,
    }

    impl AsyncWrite for SlowSink {
        fn poll_write(
            mut self: Pin<&mut Self>,
            cx: &mut std::task::Context<'_>,
            buf: &[u8],
        ) -> std::task::Poll<io::Result<usize>> {
            let delay = self.delay;
            let sleep = self
                .sleep
                .get_or_insert_with(|| Box::pin(tokio::time::sleep(delay)));
            std::task::ready!(sleep.as_mut().poll(cx));
            self.sleep = None;
            self.data.extend_from_slice(buf);
            std::task::Poll::Ready(Ok(buf.len()))
        }
        fn poll_flush(
            self: Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<io::Result<()>> {
            std::task::Poll::Ready(Ok(()))
        }
        fn poll_shutdown(
            self: Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<io::Result<()>> {
            std::task::Poll::Ready(Ok(()))
        }
    }

    #[tokio::test]
    async fn read_timeout_counts_network_waits_not_a_slow_sink() {
        let body: Vec<u8> = (0..64 * 1024u32).map(|i| (i % 251) as u8).collect();
        let digest = Digest::sha256_of(&body);
        let client = RegistryClient::new(ClientOptions {
            retries: 0,
            read_timeout: Duration::from_millis(400),
            ..ClientOptions::default()
        })
        .unwrap();
        // The network is quick (100 ms between the parts); the sink takes
        // 600 ms per write, several times the timeout in all.
        let fast = two_part_blob_server(body.clone(), Duration::from_millis(100)).await;
        let mut sink = SlowSink {
            data: Vec::new(),
            delay: Duration::from_millis(600),
            sleep: None,
        };
        let started = std::time::Instant::now();
        let n = client
            .fetch_blob(&fast, "r", &digest, &mut sink, &|_| {})
            .await
            .unwrap();
        assert_eq!(n, body.len() as u64);
        assert_eq!(sink.data, body);
        assert!(
            started.elapsed() >= Duration::from_millis(1200),
            "the sink was not slow: {:?}",
            started.elapsed()
        );
        // The network itself stalls past the timeout: that is an error.
        let stalled = two_part_blob_server(body.clone(), Duration::from_secs(3)).await;
        let mut sink = SlowSink {
            data: Vec::new(),
            delay: Duration::ZERO,
            sleep: None,
        };
        let err = client
            .fetch_blob(&stalled, "r", &digest, &mut sink, &|_| {})
            .await
            .unwrap_err();
        assert!(matches!(err, RegistryError::Transport { .. }), "{err}");
        assert!(err.to_string().contains("timed out"), "{err}");
    }

    /// How `breaking_blob_server` answers a request after the first.
    #[derive(Clone, Copy)]
    enum Retried {
        /// A `Range: bytes=N-` request gets the rest as a 206.
        Ranges,
        /// Range is ignored: the whole body, as a 200.
        Whole,
        /// Range is ignored and the body breaks at half again.
        BreaksAgain,
    }

    /// Serves `body` in two halves over a connection that breaks after the
    /// first; what a retry gets is `retried`.
    async fn breaking_blob_server(body: Vec<u8>, retried: Retried) -> String {
        use tokio::io::AsyncWriteExt;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut conn, _)) = listener.accept().await {
                let body = body.clone();
                tokio::spawn(async move {
                    let Some(head) = request_head(&mut conn).await else {
                        return;
                    };
                    let from = head
                        .lines()
                        .find_map(|l| l.strip_prefix("range: bytes="))
                        .and_then(|r| r.trim_end_matches('-').parse::<usize>().ok());
                    let len = body.len();
                    let whole = format!("HTTP/1.1 200 OK\r\nContent-Length: {len}\r\n\r\n");
                    let (status, part): (String, &[u8]) = match (from, retried) {
                        (Some(n), Retried::Ranges) => (
                            format!(
                                "HTTP/1.1 206 Partial Content\r\nContent-Range: bytes {n}-{}/{len}\r\nContent-Length: {}\r\n\r\n",
                                len - 1,
                                len - n
                            ),
                            &body[n..],
                        ),
                        (Some(_), Retried::Whole) => (whole, &body[..]),
                        // The first request: half the body, then the connection drops.
                        (None, _) | (Some(_), Retried::BreaksAgain) => (whole, &body[..len / 2]),
                    };
                    let _ = conn.write_all(status.as_bytes()).await;
                    let _ = conn.write_all(part).await;
                    let _ = conn.flush().await;
                });
            }
        });
        addr.to_string()
    }

    #[tokio::test]
    async fn a_broken_blob_download_resumes_where_it_broke() {
        let body: Vec<u8> = (0..256 * 1024u32).map(|i| (i % 253) as u8).collect();
        let digest = Digest::sha256_of(&body);
        let client = RegistryClient::new(ClientOptions::default()).unwrap();
        let server = breaking_blob_server(body.clone(), Retried::Ranges).await;
        let mut sink = Vec::new();
        let n = client
            .fetch_blob(&server, "r", &digest, &mut sink, &|_| {})
            .await
            .unwrap();
        assert_eq!(n, body.len() as u64);
        assert_eq!(sink, body, "the resumed blob is whole and in order");
    }

    /// A registry that ignores Range sends the whole blob again: its first
    /// half, which the sink already has, is dropped rather than written
    /// twice. One that breaks every time fails after the retries, the sink
    /// holding the first half once.
    #[tokio::test]
    async fn a_broken_blob_download_restarts_where_range_is_ignored() {
        let body: Vec<u8> = (0..256 * 1024u32).map(|i| (i % 253) as u8).collect();
        let digest = Digest::sha256_of(&body);
        let client = RegistryClient::new(ClientOptions::default()).unwrap();
        let server = breaking_blob_server(body.clone(), Retried::Whole).await;
        let mut sink = Vec::new();
        let n = client
            .fetch_blob(&server, "r", &digest, &mut sink, &|_| {})
            .await
            .unwrap();
        assert_eq!(n, body.len() as u64);
        assert_eq!(sink, body, "the restarted blob is whole and in order");

        let server = breaking_blob_server(body.clone(), Retried::BreaksAgain).await;
        let mut sink = Vec::new();
        let err = client
            .fetch_blob(&server, "r", &digest, &mut sink, &|_| {})
            .await
            .unwrap_err();
        assert!(matches!(err, RegistryError::Transport { .. }), "{err}");
        assert!(err.to_string().contains("/blobs/sha256:"), "{err}");
        assert_eq!(sink, body[..body.len() / 2]);
    }

    #[test]
    fn scheme_choice() {
        let none: Vec<String> = vec![];
        assert_eq!(
            registry_base_url("127.0.0.1:5000", &none),
            "http://127.0.0.1:5000"
        );
        assert_eq!(registry_base_url("127.8.9.1", &none), "http://127.8.9.1");
        assert_eq!(
            registry_base_url("localhost:5000", &none),
            "http://localhost:5000"
        );
        assert_eq!(registry_base_url("[::1]:5000", &none), "http://[::1]:5000");
        assert_eq!(
            registry_base_url("docker.io", &none),
            "https://registry-1.docker.io"
        );
        assert_eq!(registry_base_url("ghcr.io", &none), "https://ghcr.io");
        assert_eq!(
            registry_base_url("10.0.0.5:5000", &none),
            "https://10.0.0.5:5000"
        );
        assert_eq!(
            registry_base_url("128.0.0.1", &none),
            "https://128.0.0.1",
            "outside 127/8"
        );
        let insecure = vec!["reg.lan:5000".to_string(), "other.lan".to_string()];
        assert_eq!(
            registry_base_url("reg.lan:5000", &insecure),
            "http://reg.lan:5000"
        );
        assert_eq!(
            registry_base_url("reg.lan:6000", &insecure),
            "https://reg.lan:6000"
        );
        assert_eq!(
            registry_base_url("other.lan:443", &insecure),
            "http://other.lan:443"
        );
    }

    #[test]
    fn www_authenticate_bearer() {
        let h = r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/redis:pull""#;
        assert_eq!(
            parse_www_authenticate(h),
            Some(Challenge::Bearer {
                realm: "https://auth.docker.io/token".into(),
                service: Some("registry.docker.io".into()),
                scope: Some("repository:library/redis:pull".into()),
            })
        );
        // Commas inside quotes, escapes, spaces, case-insensitive names.
        let h = r#"bearer Realm="https://t/x?a=1,b=2", scope="repository:a/b:pull,push", error="insufficient_scope \"x\"""#;
        assert_eq!(
            parse_www_authenticate(h),
            Some(Challenge::Bearer {
                realm: "https://t/x?a=1,b=2".into(),
                service: None,
                scope: Some("repository:a/b:pull,push".into()),
            })
        );
        assert_eq!(
            parse_www_authenticate(r#"Basic realm="wharf-fixtures""#),
            Some(Challenge::Basic)
        );
        assert_eq!(parse_www_authenticate("Negotiate abc"), None);
        assert_eq!(parse_www_authenticate(r#"Bearer service="x""#), None);
    }

    #[test]
    fn token_requests() {
        let scopes = vec!["repository:library/redis:pull".to_string()];
        let anon = token_request(
            "https://auth.docker.io/token",
            Some("registry.docker.io"),
            &scopes,
            None,
        )
        .unwrap();
        assert_eq!(anon.method, Method::GET);
        assert_eq!(
            anon.url.as_str(),
            "https://auth.docker.io/token?service=registry.docker.io&scope=repository%3Alibrary%2Fredis%3Apull"
        );
        assert_eq!(anon.basic, None);

        let basic = Credentials::Basic {
            username: "me".into(),
            password: "pw".into(),
        };
        let two = vec![
            "repository:a/b:pull,push".to_string(),
            "repository:c/d:pull".to_string(),
        ];
        let r = token_request("https://t.example/token?x=1", None, &two, Some(&basic)).unwrap();
        assert_eq!(
            r.url.as_str(),
            "https://t.example/token?x=1&scope=repository%3Aa%2Fb%3Apull%2Cpush&scope=repository%3Ac%2Fd%3Apull&account=me"
        );
        assert_eq!(r.basic, Some(("me".into(), "pw".into())));

        let idt = Credentials::IdentityToken("refresh".into());
        let r = token_request("https://t/token", Some("svc"), &scopes, Some(&idt)).unwrap();
        assert_eq!(r.method, Method::POST);
        assert_eq!(
            serde_urlencoded_pairs(&r.form),
            "grant_type=refresh_token&refresh_token=refresh&client_id=wharf&service=svc&scope=repository%3Alibrary%2Fredis%3Apull"
        );
        assert!(token_request("ftp://t/token", None, &scopes, None).is_err());
        assert!(token_request("not a url", None, &scopes, None).is_err());
    }

    #[test]
    fn backoff_math() {
        assert_eq!(backoff_delay(0, None), Duration::from_millis(250));
        assert_eq!(backoff_delay(1, None), Duration::from_millis(500));
        assert_eq!(backoff_delay(3, None), Duration::from_secs(2));
        assert_eq!(backoff_delay(5, None), Duration::from_secs(8));
        assert_eq!(
            backoff_delay(40, None),
            Duration::from_secs(8),
            "no overflow"
        );
        assert_eq!(
            backoff_delay(0, Some(Duration::from_secs(3))),
            Duration::from_secs(3),
            "Retry-After wins when longer"
        );
        assert_eq!(
            backoff_delay(5, Some(Duration::from_secs(1))),
            Duration::from_secs(8)
        );
        assert_eq!(parse_retry_after(" 120 "), Some(Duration::from_secs(120)));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), None);
    }

    #[test]
    fn registry_error_messages() {
        assert_eq!(
            registry_message(br#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown","detail":{}}]}"#),
            Some("manifest unknown: manifest unknown".into())
        );
        assert_eq!(registry_message(b"<html>"), None);
        let e = RegistryError::RateLimited {
            registry: "docker.io".into(),
            seconds: 30,
        };
        assert_eq!(e.to_string(), "rate limited by docker.io, retry after 30 s");
    }

    #[test]
    fn media_type_detection() {
        assert_eq!(
            manifest_media_type(Some(MEDIA_DOCKER_MANIFEST), b"{}"),
            MEDIA_DOCKER_MANIFEST
        );
        assert_eq!(
            manifest_media_type(
                Some("application/json"),
                br#"{"schemaVersion":2,"manifests":[]}"#
            ),
            MEDIA_OCI_INDEX
        );
        assert_eq!(
            manifest_media_type(None, br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","layers":[]}"#),
            MEDIA_OCI_MANIFEST
        );
        assert_eq!(
            json_schema_version(br#"{"schemaVersion":1,"fsLayers":[]}"#),
            Some(1)
        );
        assert_eq!(display_name("r", "a/b", "latest"), "r/a/b:latest");
    }

    #[test]
    fn host_parsing() {
        assert_eq!(host_only("a.b:5000"), "a.b");
        assert_eq!(host_only("[::1]:5000"), "::1");
        assert_eq!(host_only("[::1]"), "::1");
        assert_eq!(host_only("a.b"), "a.b");
    }

    #[test]
    fn credentials_debug_hides_secrets() {
        let c = Credentials::Basic {
            username: "u".into(),
            password: "secret".into(),
        };
        assert!(!format!("{c:?}").contains("secret"));
        assert!(!format!("{:?}", Credentials::IdentityToken("tok".into())).contains("tok"));
    }
}
