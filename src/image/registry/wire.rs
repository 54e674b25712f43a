//! Pure helpers of the distribution protocol: scheme choice, `WWW-Authenticate`
//! and `Retry-After` parsing, backoff, token requests, registry error bodies.

use super::{Credentials, BACKOFF_BASE, BACKOFF_MAX, DOCKER_HUB, DOCKER_HUB_ENDPOINT};
use reqwest::{Method, Url};
use std::net::IpAddr;
use std::time::Duration;

/// The host part of `host[:port]` / `[v6]:port`, without brackets.
pub(super) fn host_only(registry: &str) -> &str {
    if let Some(rest) = registry.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match registry.rsplit_once(':') {
        Some((h, port)) if !h.contains(':') && port.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => registry,
    }
}

/// Plain HTTP only for loopback or hosts the user listed as insecure.
pub fn use_plain_http(registry: &str, insecure: &[String]) -> bool {
    let host = host_only(registry);
    if host.eq_ignore_ascii_case("localhost") {
        return true;
    }
    if let Ok(ip) = host.parse::<IpAddr>() {
        if ip.is_loopback() {
            return true;
        }
    }
    insecure
        .iter()
        .any(|i| i.eq_ignore_ascii_case(registry) || i.eq_ignore_ascii_case(host))
}

/// Base URL (`scheme://endpoint`) for a registry host as the user wrote it.
pub fn registry_base_url(registry: &str, insecure: &[String]) -> String {
    let endpoint = if registry == DOCKER_HUB || registry == "index.docker.io" {
        DOCKER_HUB_ENDPOINT
    } else {
        registry
    };
    let scheme = if use_plain_http(registry, insecure) {
        "http"
    } else {
        "https"
    };
    format!("{scheme}://{endpoint}")
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Challenge {
    Basic,
    Bearer {
        realm: String,
        service: Option<String>,
        scope: Option<String>,
    },
}

/// Parses one `WWW-Authenticate` value: `Bearer realm="…",service="…",scope="…"` or
/// `Basic realm="…"`. Unknown schemes give `None`.
pub fn parse_www_authenticate(value: &str) -> Option<Challenge> {
    let value = value.trim();
    let (scheme, rest) = value.split_once(char::is_whitespace).unwrap_or((value, ""));
    if scheme.eq_ignore_ascii_case("basic") {
        return Some(Challenge::Basic);
    }
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let params = parse_auth_params(rest);
    let get = |k: &str| {
        params
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(k))
            .map(|(_, v)| v.clone())
    };
    Some(Challenge::Bearer {
        realm: get("realm")?,
        service: get("service"),
        scope: get("scope"),
    })
}

/// `k=v, k="quoted, \"escaped\""` pairs (RFC 7235 auth-param).
fn parse_auth_params(s: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut chars = s.chars().peekable();
    loop {
        while matches!(chars.peek(), Some(c) if c.is_whitespace() || *c == ',') {
            chars.next();
        }
        let mut key = String::new();
        while let Some(&c) = chars.peek() {
            if c == '=' || c == ',' {
                break;
            }
            key.push(c);
            chars.next();
        }
        if key.is_empty() && chars.peek().is_none() {
            break;
        }
        let mut value = String::new();
        if chars.peek() == Some(&'=') {
            chars.next();
            if chars.peek() == Some(&'"') {
                chars.next();
                while let Some(c) = chars.next() {
                    match c {
                        '\\' => {
                            if let Some(n) = chars.next() {
                                value.push(n)
                            }
                        }
                        '"' => break,
                        c => value.push(c),
                    }
                }
            } else {
                while let Some(&c) = chars.peek() {
                    if c == ',' {
                        break;
                    }
                    value.push(c);
                    chars.next();
                }
                value = value.trim().to_string();
            }
        }
        out.push((key.trim().to_string(), value));
    }
    out
}

/// `Retry-After` in seconds (the HTTP-date form is rare on registries and ignored).
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    value.trim().parse::<u64>().ok().map(Duration::from_secs)
}

/// Delay before retry number `attempt` (0-based): exponential from 250 ms, capped at 8 s;
/// a server's Retry-After wins when longer.
pub fn backoff_delay(attempt: u32, retry_after: Option<Duration>) -> Duration {
    let exp = BACKOFF_BASE
        .checked_mul(1u32.checked_shl(attempt).unwrap_or(u32::MAX))
        .unwrap_or(BACKOFF_MAX)
        .min(BACKOFF_MAX);
    match retry_after {
        Some(r) if r > exp => r,
        _ => exp,
    }
}

/// The token request for a Bearer challenge: GET with query for anonymous and basic
/// credentials, POST form (OAuth refresh-token grant) for identity tokens.
#[derive(Debug, PartialEq, Eq)]
pub struct TokenRequest {
    pub method: Method,
    pub url: Url,
    /// Form body for POST.
    pub form: Vec<(String, String)>,
    pub basic: Option<(String, String)>,
}

pub fn token_request(
    realm: &str,
    service: Option<&str>,
    scopes: &[String],
    creds: Option<&Credentials>,
) -> std::result::Result<TokenRequest, String> {
    let mut url = Url::parse(realm).map_err(|e| format!("invalid realm {realm:?}: {e}"))?;
    if url.scheme() != "https" && url.scheme() != "http" {
        return Err(format!("invalid realm {realm:?}: not http(s)"));
    }
    match creds {
        Some(Credentials::IdentityToken(token)) => {
            let mut form = vec![
                ("grant_type".to_string(), "refresh_token".to_string()),
                ("refresh_token".to_string(), token.clone()),
                ("client_id".to_string(), "wharf".to_string()),
            ];
            if let Some(s) = service {
                form.push(("service".to_string(), s.to_string()));
            }
            if !scopes.is_empty() {
                form.push(("scope".to_string(), scopes.join(" ")));
            }
            Ok(TokenRequest {
                method: Method::POST,
                url,
                form,
                basic: None,
            })
        }
        other => {
            {
                let mut q = url.query_pairs_mut();
                if let Some(s) = service {
                    q.append_pair("service", s);
                }
                for s in scopes {
                    q.append_pair("scope", s);
                }
            }
            let basic = match other {
                Some(Credentials::Basic { username, password }) => {
                    // `account` lets Docker Hub attribute pulls; harmless elsewhere.
                    url.query_pairs_mut().append_pair("account", username);
                    Some((username.clone(), password.clone()))
                }
                _ => None,
            };
            Ok(TokenRequest {
                method: Method::GET,
                url,
                form: Vec::new(),
                basic,
            })
        }
    }
}

#[derive(serde::Deserialize)]
pub(super) struct TokenResponse {
    pub(super) token: Option<String>,
    pub(super) access_token: Option<String>,
    pub(super) expires_in: Option<u64>,
}

/// The registry's own error message (`{"errors":[{"code":…,"message":…}]}`), if any.
pub(super) fn registry_message(body: &[u8]) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Errors {
        errors: Vec<ErrorItem>,
    }
    #[derive(serde::Deserialize)]
    struct ErrorItem {
        code: Option<String>,
        message: Option<String>,
    }
    let e: Errors = serde_json::from_slice(body).ok()?;
    let first = e.errors.into_iter().next()?;
    match (first.code, first.message) {
        (Some(c), Some(m)) => Some(format!("{}: {m}", c.to_lowercase().replace('_', " "))),
        (Some(c), None) => Some(c.to_lowercase().replace('_', " ")),
        (None, Some(m)) => Some(m),
        (None, None) => None,
    }
}

pub(super) fn innermost_cause(err: &(dyn std::error::Error + 'static)) -> String {
    let mut cur = err;
    while let Some(next) = cur.source() {
        if let Some(io) = next.downcast_ref::<std::io::Error>() {
            return match io.kind() {
                std::io::ErrorKind::ConnectionRefused => "connection refused".to_string(),
                std::io::ErrorKind::TimedOut => "connection timed out".to_string(),
                _ => io.to_string(),
            };
        }
        cur = next;
    }
    cur.to_string()
}
