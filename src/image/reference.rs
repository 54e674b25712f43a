//! Image references parsed exactly as Docker does (distribution/reference's
//! `ParseNormalizedNamed` followed by `TagNameOnly`): `mongo` is
//! `docker.io/library/mongo:latest`, a tag and a digest may both be given,
//! and the error messages are Docker's so users recognise them.

use crate::image::digest::Digest;
use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

const DEFAULT_DOMAIN: &str = "docker.io";
const LEGACY_DEFAULT_DOMAIN: &str = "index.docker.io";
/// Docker Hub's actual registry API endpoint.
const DEFAULT_API_HOST: &str = "registry-1.docker.io";
const OFFICIAL_PREFIX: &str = "library/";
const DEFAULT_TAG: &str = "latest";
const MAX_PATH_LEN: usize = 255;
const MAX_TAG_LEN: usize = 128;

/// A normalised, named image reference: registry domain, repository path,
/// and a tag, a digest or both (never neither: `latest` is added).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Reference {
    domain: String,
    path: String,
    tag: Option<String>,
    digest: Option<Digest>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReferenceError {
    /// The string does not follow the reference grammar.
    #[error("invalid reference format: {reference:?}")]
    InvalidFormat { reference: String },
    /// Docker's check on the repository part before anything else.
    #[error("invalid reference format: repository name ({repository}) must be lowercase")]
    Uppercase {
        reference: String,
        repository: String,
    },
    /// Upper case where the grammar's lower-case retry would succeed.
    #[error("invalid reference {reference:?}: repository name must be lowercase")]
    NameContainsUppercase { reference: String },
    #[error("invalid repository name ({reference}), cannot specify 64-byte hexadecimal strings")]
    HexIdentifier { reference: String },
    #[error(
        "invalid reference {reference:?}: repository name must not be more than {MAX_PATH_LEN} characters"
    )]
    NameTooLong { reference: String },
    #[error("invalid reference {reference:?}: unsupported digest algorithm")]
    UnsupportedDigest { reference: String },
    #[error("invalid reference {reference:?}: invalid checksum digest length")]
    DigestLength { reference: String },
    #[error("invalid reference {reference:?}: invalid checksum digest format")]
    DigestFormat { reference: String },
    #[error("invalid tag format {tag:?} for {reference}")]
    InvalidTag { reference: String, tag: String },
}

impl Reference {
    /// Parses a reference the way `docker pull` does.
    pub fn parse(s: &str) -> Result<Reference, ReferenceError> {
        if is_hex_identifier(s) {
            return Err(ReferenceError::HexIdentifier {
                reference: s.to_string(),
            });
        }
        let (domain, remainder) = split_docker_domain(s);
        // Docker checks case on everything up to the first ':' of the
        // remainder, before the grammar, so `Mongo` gets this message.
        let remote = remainder.split(':').next().unwrap_or_default();
        if remote.to_lowercase() != remote {
            return Err(ReferenceError::Uppercase {
                reference: s.to_string(),
                repository: remote.to_string(),
            });
        }
        let full = format!("{domain}/{remainder}");
        let parts = parse_grammar(&full).map_err(|e| e.with_reference(s))?;
        // Docker accepts a first component containing '.' or ':' as a domain
        // even when the grammar then reads the whole name as a path (e.g.
        // `ex_ample.com/x`, which leaves no domain at all); a reference
        // without a registry is unusable for pulling, so it is refused.
        if parts.domain != domain {
            return Err(ReferenceError::InvalidFormat {
                reference: s.to_string(),
            });
        }
        let mut tag = parts.tag.map(str::to_string);
        let digest = match parts.digest {
            Some(d) => Some(parse_digest(s, d)?),
            None => None,
        };
        if tag.is_none() && digest.is_none() {
            tag = Some(DEFAULT_TAG.to_string());
        }
        Ok(Reference {
            domain: parts.domain.to_string(),
            path: parts.path.to_string(),
            tag,
            digest,
        })
    }

    /// The registry domain, normalised (`index.docker.io` becomes
    /// `docker.io`), with its port if one was written.
    pub fn registry(&self) -> &str {
        &self.domain
    }

    /// The host to send registry API requests to.
    pub fn api_host(&self) -> &str {
        if self.domain == DEFAULT_DOMAIN {
            DEFAULT_API_HOST
        } else {
            &self.domain
        }
    }

    /// The repository path inside the registry, e.g. `library/mongo`.
    pub fn repository(&self) -> &str {
        &self.path
    }

    /// `registry/repository`, e.g. `docker.io/library/mongo`.
    pub fn name(&self) -> String {
        format!("{}/{}", self.domain, self.path)
    }

    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    /// When both a tag and a digest are given the digest decides what is
    /// pulled and Docker records no tag (moby#33214, `ParseDockerRef`); the
    /// tag is only a reminder of what was resolved. See `without_tag`.
    pub fn digest(&self) -> Option<&Digest> {
        self.digest.as_ref()
    }

    /// What goes after `/v2/<name>/manifests/`: the digest if there is one,
    /// else the tag.
    pub fn manifest_reference(&self) -> String {
        match (&self.digest, &self.tag) {
            (Some(d), _) => d.to_string(),
            (None, Some(t)) => t.clone(),
            (None, None) => DEFAULT_TAG.to_string(),
        }
    }

    /// The short form Docker shows: `mongo:latest`, `user/app:1`,
    /// `ghcr.io/o/r@sha256:…`.
    pub fn familiar(&self) -> String {
        let mut out = self.familiar_name();
        self.write_suffix(&mut out);
        out
    }

    /// The familiar repository name without tag or digest (`mongo`).
    pub fn familiar_name(&self) -> String {
        if self.domain != DEFAULT_DOMAIN {
            return self.name();
        }
        match self.path.strip_prefix(OFFICIAL_PREFIX) {
            // Only one level below library/ is shortened, as in Docker.
            Some(rest) if !rest.contains('/') => rest.to_string(),
            _ => self.path.clone(),
        }
    }

    /// The same repository with `tag`, keeping any digest.
    pub fn with_tag(&self, tag: &str) -> Result<Reference, ReferenceError> {
        if !is_tag(tag) {
            return Err(ReferenceError::InvalidTag {
                reference: self.to_string(),
                tag: tag.to_string(),
            });
        }
        Ok(Reference {
            tag: Some(tag.to_string()),
            ..self.clone()
        })
    }

    /// The same repository with `digest`, keeping any tag.
    pub fn with_digest(&self, digest: Digest) -> Reference {
        Reference {
            digest: Some(digest),
            ..self.clone()
        }
    }

    /// The repository with only the digest (what a digest pull records).
    pub fn without_tag(&self) -> Reference {
        match &self.digest {
            Some(_) => Reference {
                tag: None,
                ..self.clone()
            },
            None => self.clone(),
        }
    }

    /// Whether the registry is on the loopback interface (`localhost`,
    /// `127.x.x.x`, `[::1]`, any port); such registries may be spoken to
    /// over plain HTTP.
    pub fn is_loopback(&self) -> bool {
        is_loopback_host(&self.domain)
    }

    fn write_suffix(&self, out: &mut String) {
        if let Some(t) = &self.tag {
            out.push(':');
            out.push_str(t);
        }
        if let Some(d) = &self.digest {
            out.push('@');
            out.push_str(&d.to_string());
        }
    }
}

/// Whether a registry `host[:port]` is a loopback address.
pub fn is_loopback_host(domain: &str) -> bool {
    let host = if let Some(rest) = domain.strip_prefix('[') {
        match rest.split_once(']') {
            Some((h, _)) => {
                return h
                    .parse::<std::net::Ipv6Addr>()
                    .is_ok_and(|a| a.is_loopback())
            }
            None => return false,
        }
    } else {
        domain.split(':').next().unwrap_or_default()
    };
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<Ipv4Addr>().is_ok_and(|a| a.is_loopback())
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = self.name();
        self.write_suffix(&mut out);
        f.write_str(&out)
    }
}

impl FromStr for Reference {
    type Err = ReferenceError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Reference::parse(s)
    }
}

impl serde::Serialize for Reference {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Reference {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Reference::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// distribution/reference's `splitDockerDomain`: decides whether the first
/// path element is a registry, and adds `docker.io` / `library/`.
fn split_docker_domain(s: &str) -> (&str, String) {
    let Some((first, rest)) = s.split_once('/') else {
        return (DEFAULT_DOMAIN, format!("{OFFICIAL_PREFIX}{s}"));
    };
    let (domain, remote) = if first == "localhost" {
        (first, rest)
    } else if first == LEGACY_DEFAULT_DOMAIN {
        (DEFAULT_DOMAIN, rest)
    } else if first.contains(['.', ':']) {
        (first, rest)
    } else if first.to_lowercase() != first {
        // Repository components are lower case, so an upper-case first
        // element can only be a registry name.
        (first, rest)
    } else {
        (DEFAULT_DOMAIN, s)
    };
    if domain == DEFAULT_DOMAIN && !remote.contains('/') {
        (domain, format!("{OFFICIAL_PREFIX}{remote}"))
    } else {
        (domain, remote.to_string())
    }
}

struct Parts<'a> {
    domain: &'a str,
    path: &'a str,
    tag: Option<&'a str>,
    digest: Option<&'a str>,
}

/// Grammar failures before the input string is attached.
enum GrammarError {
    Format,
    Uppercase,
    TooLong,
}

impl GrammarError {
    fn with_reference(self, s: &str) -> ReferenceError {
        let reference = s.to_string();
        match self {
            GrammarError::Format => ReferenceError::InvalidFormat { reference },
            GrammarError::Uppercase => ReferenceError::NameContainsUppercase { reference },
            GrammarError::TooLong => ReferenceError::NameTooLong { reference },
        }
    }
}

/// distribution/reference's `Parse`: the anchored reference grammar
/// `name [":" tag] ["@" digest]`, then the path length limit.
fn parse_grammar(s: &str) -> Result<Parts<'_>, GrammarError> {
    match match_reference(s) {
        Some(p) if p.path.len() > MAX_PATH_LEN => Err(GrammarError::TooLong),
        Some(p) => Ok(p),
        None => {
            let lower = s.to_lowercase();
            if lower != s && match_reference(&lower).is_some() {
                Err(GrammarError::Uppercase)
            } else {
                Err(GrammarError::Format)
            }
        }
    }
}

fn match_reference(s: &str) -> Option<Parts<'_>> {
    // Neither names nor tags contain '@', and digests contain no '@'.
    let (rest, digest) = match s.split_once('@') {
        Some((r, d)) => (r, Some(d)),
        None => (s, None),
    };
    if let Some(d) = digest {
        if !is_digest_syntax(d) {
            return None;
        }
    }
    // A ':' after the last '/' can only start a tag: repository paths
    // have no ':' and a port belongs to the domain, before the first '/'.
    let last_slash = rest.rfind('/');
    let (name, tag) = match rest.rfind(':') {
        Some(c) if last_slash.is_none_or(|sl| c > sl) => (&rest[..c], Some(&rest[c + 1..])),
        _ => (rest, None),
    };
    if let Some(t) = tag {
        if !is_tag(t) {
            return None;
        }
    }
    let (domain, path) = match_name(name)?;
    Some(Parts {
        domain,
        path,
        tag,
        digest,
    })
}

/// `[domain "/"] remote-name`, preferring a domain when the first element
/// is one (the grammar's optional group is greedy).
fn match_name(name: &str) -> Option<(&str, &str)> {
    if let Some((first, rest)) = name.split_once('/') {
        if is_domain_and_port(first) && is_remote_name(rest) {
            return Some((first, rest));
        }
    }
    is_remote_name(name).then_some(("", name))
}

fn is_remote_name(s: &str) -> bool {
    s.split('/').all(is_path_component)
}

/// `[a-z0-9]+ ((\.|_|__|-+) [a-z0-9]+)*`
fn is_path_component(s: &str) -> bool {
    let b = s.as_bytes();
    let alnum = |c: u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    if b.is_empty() || !alnum(b[0]) || !alnum(b[b.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if alnum(b[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && !alnum(b[i]) {
            i += 1;
        }
        let sep = &s[start..i];
        let ok = sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|c| c == b'-');
        if !ok {
            return false;
        }
    }
    true
}

/// `host [":" port]` where host is a DNS-like name, dotted IPv4, or a
/// bracketed IPv6 address without zone.
fn is_domain_and_port(s: &str) -> bool {
    let (host_ok, port) = if let Some(rest) = s.strip_prefix('[') {
        let Some((inner, after)) = rest.split_once(']') else {
            return false;
        };
        let ok = !inner.is_empty() && inner.bytes().all(|c| c.is_ascii_hexdigit() || c == b':');
        (ok, after)
    } else {
        let (host, port) = match s.find(':') {
            Some(i) => (&s[..i], &s[i..]),
            None => (s, ""),
        };
        (
            !host.is_empty() && host.split('.').all(is_domain_component),
            port,
        )
    };
    let port_ok = port.is_empty()
        || port
            .strip_prefix(':')
            .is_some_and(|p| !p.is_empty() && p.bytes().all(|c| c.is_ascii_digit()));
    host_ok && port_ok
}

/// `[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]`
fn is_domain_component(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-')
}

/// `[\w][\w.-]{0,127}`
fn is_tag(s: &str) -> bool {
    let word = |c: u8| c.is_ascii_alphanumeric() || c == b'_';
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= MAX_TAG_LEN
        && word(b[0])
        && b.iter().all(|c| word(*c) || *c == b'.' || *c == b'-')
}

/// The grammar's digest shape: `algo(+algo)*:` then 32+ hex digits.
fn is_digest_syntax(s: &str) -> bool {
    let Some((algo, hex)) = s.split_once(':') else {
        return false;
    };
    let algo_ok = !algo.is_empty()
        && algo.split(['-', '_', '+', '.']).all(|c| {
            let b = c.as_bytes();
            !b.is_empty()
                && b[0].is_ascii_alphabetic()
                && b.iter().all(|x| x.is_ascii_alphanumeric())
        });
    algo_ok && hex.len() >= 32 && hex.bytes().all(|c| c.is_ascii_hexdigit())
}

/// go-digest's checks after the grammar, with its error messages.
fn parse_digest(reference: &str, d: &str) -> Result<Digest, ReferenceError> {
    let reference = reference.to_string();
    let (algo, hex) = d.split_once(':').unwrap_or((d, ""));
    let want = match algo {
        "sha256" => 64,
        "sha512" => 128,
        _ => return Err(ReferenceError::UnsupportedDigest { reference }),
    };
    if hex.len() != want {
        return Err(ReferenceError::DigestLength { reference });
    }
    d.parse()
        .map_err(|_| ReferenceError::DigestFormat { reference })
}

fn is_hex_identifier(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c))
}

#[cfg(test)]
mod tests {
    use super::*;

    const D256: &str = "sha256:ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff";

    fn p(s: &str) -> Reference {
        match Reference::parse(s) {
            Ok(r) => r,
            Err(e) => panic!("{s:?} should parse: {e}"),
        }
    }

    fn err(s: &str) -> String {
        match Reference::parse(s) {
            Ok(r) => panic!("{s:?} should be refused, got {r}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn official_image_gets_docker_io_library_and_latest() {
        let r = p("mongo");
        assert_eq!(r.to_string(), "docker.io/library/mongo:latest");
        assert_eq!(r.registry(), "docker.io");
        assert_eq!(r.api_host(), "registry-1.docker.io");
        assert_eq!(r.repository(), "library/mongo");
        assert_eq!(r.tag(), Some("latest"));
        assert_eq!(r.digest(), None);
        assert_eq!(r.familiar(), "mongo:latest");
    }

    #[test]
    fn user_repository_with_tag() {
        let r = p("user/app:1");
        assert_eq!(r.to_string(), "docker.io/user/app:1");
        assert_eq!(r.repository(), "user/app");
        assert_eq!(r.tag(), Some("1"));
        assert_eq!(r.familiar(), "user/app:1");
    }

    #[test]
    fn other_registry_with_digest_has_no_default_tag() {
        let s = format!("ghcr.io/o/r@{D256}");
        let r = p(&s);
        assert_eq!(r.registry(), "ghcr.io");
        assert_eq!(r.api_host(), "ghcr.io");
        assert_eq!(r.repository(), "o/r");
        assert_eq!(r.tag(), None);
        assert_eq!(r.digest().map(|d| d.to_string()).as_deref(), Some(D256));
        assert_eq!(r.to_string(), s);
        assert_eq!(r.familiar(), s);
        assert_eq!(r.manifest_reference(), D256);
    }

    #[test]
    fn localhost_is_always_a_registry() {
        let r = p("localhost:5000/x");
        assert_eq!(r.registry(), "localhost:5000");
        assert_eq!(r.repository(), "x");
        assert_eq!(r.to_string(), "localhost:5000/x:latest");
        let r = p("localhost/x");
        assert_eq!(r.registry(), "localhost");
        assert_eq!(r.familiar(), "localhost/x:latest");
    }

    #[test]
    fn fixture_registry_reference() {
        let r = p("127.0.0.1:5000/wharf-fixtures/busybox");
        assert_eq!(r.registry(), "127.0.0.1:5000");
        assert_eq!(r.api_host(), "127.0.0.1:5000");
        assert_eq!(r.repository(), "wharf-fixtures/busybox");
        assert_eq!(r.tag(), Some("latest"));
        assert!(r.is_loopback());
    }

    #[test]
    fn tag_and_digest_together_are_both_kept() {
        let s = format!("busybox:latest@{D256}");
        let r = p(&s);
        assert_eq!(r.to_string(), format!("docker.io/library/{s}"));
        assert_eq!(r.familiar(), s);
        assert_eq!(r.tag(), Some("latest"));
        assert!(r.digest().is_some());
        assert_eq!(r.manifest_reference(), D256);
        assert_eq!(
            r.without_tag().to_string(),
            format!("docker.io/library/busybox@{D256}")
        );
    }

    #[test]
    fn uppercase_repository_has_dockers_message() {
        assert_eq!(
            err("Mongo"),
            "invalid reference format: repository name (library/Mongo) must be lowercase"
        );
        assert_eq!(
            err("docker/Docker"),
            "invalid reference format: repository name (docker/Docker) must be lowercase"
        );
        assert_eq!(
            err("test:5000/Uppercase/lowercase:tag"),
            "invalid reference format: repository name (Uppercase/lowercase) must be lowercase"
        );
    }

    #[test]
    fn uppercase_first_component_is_taken_as_a_registry() {
        // Docker's documented quirk: "Foo/bar" is domain Foo.
        let r = p("Foo/bar");
        assert_eq!(r.registry(), "Foo");
        assert_eq!(r.repository(), "bar");
        assert_eq!(r.familiar(), "Foo/bar:latest");
        assert_eq!(p("DOCKER/docker").registry(), "DOCKER");
    }

    #[test]
    fn uppercase_tag_is_allowed() {
        assert_eq!(p("lowercase:Uppercase").tag(), Some("Uppercase"));
    }

    #[test]
    fn tag_limit_is_128_characters() {
        let ok = format!("x:{}", "a".repeat(128));
        assert_eq!(p(&ok).tag().map(str::len), Some(128));
        let long = format!("x:{}", "a".repeat(129));
        assert!(err(&long).starts_with("invalid reference format"));
    }

    #[test]
    fn tag_syntax() {
        assert_eq!(p("x:_under").tag(), Some("_under"));
        assert_eq!(p("x:1.0-rc_1").tag(), Some("1.0-rc_1"));
        for bad in ["x:", "x:-foo", "x:.foo", "x:a+b", ":justtag"] {
            assert!(err(bad).starts_with("invalid reference format"), "{bad}");
        }
    }

    #[test]
    fn docker_hub_spellings_normalise_to_one_reference() {
        let want = "docker.io/library/ubuntu:latest";
        for s in [
            "ubuntu",
            "library/ubuntu",
            "docker.io/ubuntu",
            "docker.io/library/ubuntu",
            "index.docker.io/ubuntu",
            "index.docker.io/library/ubuntu",
        ] {
            assert_eq!(p(s).to_string(), want, "{s}");
            assert_eq!(p(s).familiar(), "ubuntu:latest", "{s}");
        }
        assert_eq!(
            p("index.docker.io/fooo/bar").to_string(),
            "docker.io/fooo/bar:latest"
        );
    }

    #[test]
    fn library_prefix_is_only_added_on_docker_hub() {
        assert_eq!(p("example.com/privatebase").repository(), "privatebase");
        assert_eq!(p("127.0.0.1:8000/privatebase").repository(), "privatebase");
        assert_eq!(p("docker.io/foo").repository(), "library/foo");
    }

    #[test]
    fn familiar_keeps_nested_library_paths_and_other_registries() {
        assert_eq!(
            p("docker.io/library/foo/bar").familiar_name(),
            "library/foo/bar"
        );
        assert_eq!(p("store/foo/bar").familiar_name(), "store/foo/bar");
        assert_eq!(p("other/library").familiar_name(), "other/library");
        assert_eq!(
            p("example.com:8000/private/moonbase").familiar_name(),
            "example.com:8000/private/moonbase"
        );
        assert_eq!(p("ubuntu-12.04-base").familiar_name(), "ubuntu-12.04-base");
    }

    #[test]
    fn first_component_without_dot_or_colon_is_a_namespace() {
        let r = p("test_com/foo");
        assert_eq!(r.registry(), "docker.io");
        assert_eq!(r.repository(), "test_com/foo");
        let r = p("docker/migrator");
        assert_eq!(r.registry(), "docker.io");
        assert_eq!(r.repository(), "docker/migrator");
    }

    #[test]
    fn domains_with_ports_and_punycode() {
        for (s, domain, path) in [
            ("test.com/foo", "test.com", "foo"),
            ("test.com:8080/foo", "test.com:8080", "foo"),
            ("test-com:8080/foo", "test-com:8080", "foo"),
            ("xn--n3h.com/foo", "xn--n3h.com", "foo"),
            ("xn--n3h.com:18080/foo", "xn--n3h.com:18080", "foo"),
            (
                "sub-dom1.foo.com/bar/baz/quux",
                "sub-dom1.foo.com",
                "bar/baz/quux",
            ),
            ("192.168.1.1/repo", "192.168.1.1", "repo"),
            ("192.168.1.1:5000/repo", "192.168.1.1:5000", "repo"),
        ] {
            let r = p(s);
            assert_eq!((r.registry(), r.repository()), (domain, path), "{s}");
        }
    }

    #[test]
    fn host_and_port_without_slash_is_name_and_tag() {
        // Docker reads "test.com:5000" as repository test.com, tag 5000.
        let r = p("test.com:5000");
        assert_eq!(r.to_string(), "docker.io/library/test.com:5000");
        let r = p("192.168.1.1:5000");
        assert_eq!(r.repository(), "library/192.168.1.1");
        assert_eq!(r.tag(), Some("5000"));
        let r = p("localhost:5000");
        assert_eq!(r.repository(), "library/localhost");
        assert_eq!(r.tag(), Some("5000"));
    }

    #[test]
    fn tags_that_look_like_domains() {
        let r = p("b.gcr.io/test.example.com/my-app:test.example.com");
        assert_eq!(r.registry(), "b.gcr.io");
        assert_eq!(r.repository(), "test.example.com/my-app");
        assert_eq!(r.tag(), Some("test.example.com"));
        let r = p("192.168.1.1:5000/repo:5050");
        assert_eq!(r.tag(), Some("5050"));
    }

    #[test]
    fn ipv6_registries() {
        for (s, domain) in [
            ("[2001:db8::1]/repo", "[2001:db8::1]"),
            ("[2001:db8::1]:5000/repo", "[2001:db8::1]:5000"),
            ("[2001:db8:1:2:3:4:5:6]/repo:tag", "[2001:db8:1:2:3:4:5:6]"),
            ("[::1]:5000/repo", "[::1]:5000"),
        ] {
            assert_eq!(p(s).registry(), domain, "{s}");
        }
        let r = p(&format!("[2001:db8::1]:5000/repo:tag@{D256}"));
        assert_eq!(r.tag(), Some("tag"));
        assert!(r.digest().is_some());
    }

    #[test]
    fn invalid_ipv6_forms() {
        for s in [
            "[2001:db8::1]",
            "[2001:db8::1]:5000",
            "[2001:db8::1]:tag",
            "[fe80::1%eth0]:5000/repo",
            "[fe80::1%@invalidzone]:5000/repo",
            "[2001:db8:3:4::192.0.2.33]:5000/debian",
            "fc00::1:5000/debian",
        ] {
            assert!(Reference::parse(s).is_err(), "{s} should be refused");
        }
    }

    #[test]
    fn invalid_names() {
        for s in [
            "",
            "https://github.com/docker/docker",
            "-docker",
            "-docker/docker",
            "-docker.io/docker/docker",
            "docker///docker",
            "docker.io/docker///docker",
            "docker-/docker",
            "-docker-/docker",
            "____/____",
            "_docker/_docker",
            "dock..er/docker",
            "dock_.er/docker",
            "dock-.er/docker",
            "docker/",
            "aa/asdf$$^/aa",
            "a:b:c",
            "a@b",
        ] {
            assert!(Reference::parse(s).is_err(), "{s:?} should be refused");
        }
    }

    #[test]
    fn empty_reference_is_invalid_format() {
        assert_eq!(err(""), "invalid reference format: \"\"");
    }

    #[test]
    fn valid_names_from_distribution() {
        for s in [
            "docker/docker",
            "thisisthesongthatneverendsitgoesonandonandonthisisthesongthatnev",
            "docker-rules/docker",
            "docker---rules/docker",
            "doc/docker",
            "d/docker",
            "jess/t",
            "dock__er/docker",
            "192.168.0.1",
            "192.168.0.1:80",
            "192.168.0.1:8/debian",
            "[fc00::1]:5000/docker/docker",
            "docker.io/1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3a",
        ] {
            assert!(Reference::parse(s).is_ok(), "{s:?} should parse");
        }
    }

    #[test]
    fn hex_identifier_alone_is_refused() {
        let id = "1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3a";
        assert_eq!(
            err(id),
            format!("invalid repository name ({id}), cannot specify 64-byte hexadecimal strings")
        );
        // 63 hex digits are an ordinary name.
        assert_eq!(p(&id[1..]).repository(), format!("library/{}", &id[1..]));
    }

    #[test]
    fn path_longer_than_255_is_refused() {
        let s = format!("{}a:tag", "a/".repeat(128));
        assert!(err(&s).contains("must not be more than 255 characters"));
        let ok = format!("{}a:tag-puts-this-over-max", "a/".repeat(127));
        assert_eq!(p(&ok).repository().len(), 255);
    }

    #[test]
    fn digest_errors_match_go_digest() {
        assert!(err("repo@sha256:ffffffffffffffffffffffffffffffffff")
            .contains("invalid checksum digest length"));
        assert!(err(&format!("validname@invaliddigest:{}", "f".repeat(64)))
            .contains("unsupported digest algorithm"));
        assert!(err(&format!("repo@sha256:{}", "F".repeat(64)))
            .contains("invalid checksum digest format"));
        assert!(err("repo@sha256:abc").starts_with("invalid reference format"));
    }

    #[test]
    fn sha512_digest() {
        let d = format!("sha512:{}", "f".repeat(128));
        let r = p(&format!("xn--7o8h.com/myimage:xn--7o8h.com@{d}"));
        assert_eq!(r.digest().map(|x| x.to_string()), Some(d));
        assert_eq!(r.tag(), Some("xn--7o8h.com"));
    }

    #[test]
    fn display_round_trips() {
        for s in [
            "mongo",
            "user/app:1",
            "localhost:5000/x",
            "[::1]:5000/a/b:c",
            &format!("busybox:1@{D256}"),
            &format!("ghcr.io/o/r@{D256}"),
        ] {
            let r = p(s);
            assert_eq!(p(&r.to_string()), r, "{s}");
            assert_eq!(p(&r.familiar()), r, "{s}");
        }
    }

    #[test]
    fn with_tag_keeps_digest_and_validates() {
        let r = p(&format!("ghcr.io/o/r@{D256}")).with_tag("v2").unwrap();
        assert_eq!(r.to_string(), format!("ghcr.io/o/r:v2@{D256}"));
        let r = p("test.com:8000/foo").with_tag("TAG5").unwrap();
        assert_eq!(r.to_string(), "test.com:8000/foo:TAG5");
        let e = p("busybox").with_tag("-foo").unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid tag format \"-foo\" for docker.io/library/busybox:latest"
        );
        assert!(p("busybox").with_tag(&"a".repeat(129)).is_err());
    }

    #[test]
    fn with_digest_keeps_tag() {
        let d: Digest = D256.parse().unwrap();
        let r = p("test.com/foo:1").with_digest(d.clone());
        assert_eq!(r.to_string(), format!("test.com/foo:1@{D256}"));
        assert_eq!(r.digest(), Some(&d));
    }

    #[test]
    fn loopback_registries() {
        for s in [
            "localhost/x",
            "localhost:5000/x",
            "127.0.0.1/x",
            "127.0.0.1:5000/x",
            "127.1.2.3:80/x",
            "[::1]/x",
            "[::1]:5000/x",
        ] {
            assert!(p(s).is_loopback(), "{s}");
        }
        for s in [
            "mongo",
            "ghcr.io/o/r",
            "192.168.1.1:5000/x",
            "128.0.0.1/x",
            "[2001:db8::1]:5000/x",
            "localhost.example.com/x",
        ] {
            assert!(!p(s).is_loopback(), "{s}");
        }
    }

    #[test]
    fn index_docker_io_is_only_normalised_as_a_domain() {
        // As a tag-less single element it is a repository name.
        let r = p("index.docker.io");
        assert_eq!(r.repository(), "library/index.docker.io");
        let r = p("index.docker.io/library/busybox:1");
        assert_eq!(r.registry(), "docker.io");
        assert_eq!(r.api_host(), "registry-1.docker.io");
    }

    #[test]
    fn first_element_with_dot_but_invalid_domain_is_refused() {
        // Docker would return a reference without any registry here.
        assert!(Reference::parse("ex_ample.com/foo").is_err());
    }

    #[test]
    fn uppercase_domain_part_of_grammar_retry() {
        // An upper-case first element is a domain; a following upper-case
        // path element is caught by Docker's pre-check.
        assert!(err("Foo/Bar").contains("repository name (Bar) must be lowercase"));
        // An upper-case domain that is not a valid host name fails the
        // grammar, and lower-casing would fix it.
        assert_eq!(
            err("FOO_X/bar"),
            "invalid reference \"FOO_X/bar\": repository name must be lowercase"
        );
    }

    #[test]
    fn uppercase_digest_algorithm_hits_the_case_precheck() {
        // Docker checks everything before the first ':' for case.
        assert!(err(&format!("foo@SHA256:{}", "f".repeat(64)))
            .contains("repository name (library/foo@SHA256) must be lowercase"));
    }

    #[test]
    fn multiple_separators() {
        assert!(p("a__b/c").repository() == "a__b/c");
        assert!(p("a---b/c").repository() == "a---b/c");
        assert!(Reference::parse("a___b/c").is_err());
        assert!(Reference::parse("a._b/c").is_err());
    }

    #[test]
    fn serde_uses_the_full_string() {
        let r = p("user/app:1");
        let json = serde_json::to_string(&r).unwrap();
        assert_eq!(json, "\"docker.io/user/app:1\"");
        let back: Reference = serde_json::from_str(&json).unwrap();
        assert_eq!(back, r);
        assert!(serde_json::from_str::<Reference>("\"Mongo\"").is_err());
    }

    #[test]
    fn name_is_registry_and_repository() {
        assert_eq!(p("mongo:7").name(), "docker.io/library/mongo");
        assert_eq!(p("localhost:5000/x:1").name(), "localhost:5000/x");
    }

    #[test]
    fn manifest_reference_is_the_tag_without_digest() {
        assert_eq!(p("mongo").manifest_reference(), "latest");
        assert_eq!(p("mongo:7.0").manifest_reference(), "7.0");
    }

    #[test]
    fn digest_only_hub_reference_is_familiar_without_tag() {
        let s = format!("redis@{D256}");
        let r = p(&s);
        assert_eq!(r.tag(), None);
        assert_eq!(r.familiar(), s);
        assert_eq!(r, p(&format!("docker.io/library/redis@{D256}")));
        assert_eq!(r.to_string(), format!("docker.io/library/redis@{D256}"));
    }

    #[test]
    fn from_str_is_parse() {
        let r: Reference = "user/app:1".parse().unwrap();
        assert_eq!(r, p("user/app:1"));
        assert_eq!(
            "Mongo".parse::<Reference>().unwrap_err(),
            Reference::parse("Mongo").unwrap_err()
        );
    }

    #[test]
    fn loopback_host_strings() {
        assert!(is_loopback_host("127.0.0.1:5000"));
        assert!(is_loopback_host("LOCALHOST:5000"));
        assert!(is_loopback_host("[::1]"));
        assert!(!is_loopback_host("[::2]:5000"));
        assert!(!is_loopback_host("[::1"));
        assert!(!is_loopback_host("10.0.0.1"));
    }

    #[test]
    fn registry_keeps_the_port_and_case_as_written() {
        let r = p("Registry.Example.com:443/team/app");
        assert_eq!(r.registry(), "Registry.Example.com:443");
        assert_eq!(r.api_host(), "Registry.Example.com:443");
        assert_eq!(r.repository(), "team/app");
    }
}
