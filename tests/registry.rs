//! The registry client against the real loopback registries of scripts/fixtures
//! (`registry start --auth && registry push-all`). Skipped, with the reason printed, when
//! WHARF_TEST_REGISTRY is unset. WHARF_TEST_REGISTRY_AUTH names the basic-auth instance
//! (default: the same host, port + 1, as the script starts them).

use std::path::PathBuf;
use std::sync::Arc;
use wharf::image::digest::Digest;
use wharf::image::registry::{
    parse_index, ClientOptions, Credentials, RegistryClient, RegistryError, MEDIA_OCI_MANIFEST,
};

fn registry() -> Option<String> {
    match std::env::var("WHARF_TEST_REGISTRY") {
        Ok(r) if !r.is_empty() => Some(r),
        _ => {
            // Written past libtest's capture so that the skip shows in a passing run.
            use std::io::Write;
            let _ = writeln!(
                std::io::stderr(),
                "SKIPPED: WHARF_TEST_REGISTRY is unset (scripts/fixtures/registry start --auth && push-all, then e.g. WHARF_TEST_REGISTRY=127.0.0.1:5000)"
            );
            None
        }
    }
}

fn auth_registry(plain: &str) -> String {
    std::env::var("WHARF_TEST_REGISTRY_AUTH").unwrap_or_else(|_| {
        let (host, port) = plain
            .rsplit_once(':')
            .expect("WHARF_TEST_REGISTRY is host:port");
        format!("{host}:{}", port.parse::<u16>().expect("port") + 1)
    })
}

fn layouts() -> PathBuf {
    let cache = std::env::var("WHARF_FIXTURES_CACHE")
        .unwrap_or_else(|_| "/var/cache/wharf-fixtures".to_string());
    PathBuf::from(cache).join("oci")
}

fn client(creds: Option<Credentials>) -> RegistryClient {
    RegistryClient::new(ClientOptions {
        retries: 0,
        credentials: Arc::new(move |_| creds.clone()),
        ..ClientOptions::default()
    })
    .unwrap()
}

/// The digest the layout's index.json gives for `latest`.
fn layout_digest(name: &str) -> Digest {
    let index = std::fs::read(layouts().join(name).join("index.json")).unwrap_or_else(|e| {
        panic!("fixture layout {name}: {e} (run scripts/fixtures/build-images)")
    });
    parse_index(&index).unwrap()[0].digest.clone()
}

fn layout_blob(name: &str, d: &Digest) -> Vec<u8> {
    std::fs::read(
        layouts()
            .join(name)
            .join("blobs")
            .join("sha256")
            .join(d.hex()),
    )
    .unwrap()
}

async fn fetch(c: &RegistryClient, reg: &str, repo: &str, d: &Digest) -> Vec<u8> {
    let mut out = Vec::new();
    let seen = std::sync::atomic::AtomicU64::new(0);
    let n = c
        .fetch_blob(reg, repo, d, &mut out, &|p| {
            seen.store(p, std::sync::atomic::Ordering::Relaxed)
        })
        .await
        .unwrap_or_else(|e| panic!("{repo}@{d}: {e}"));
    assert_eq!(n, out.len() as u64);
    assert_eq!(
        seen.load(std::sync::atomic::Ordering::Relaxed),
        n,
        "progress reached the end"
    );
    assert_eq!(&Digest::sha256_of(&out), d);
    out
}

const FIXTURES: &[&str] = &[
    "busybox",
    "busybox-docker",
    "busybox-uncompressed",
    "busybox-zstd",
    "whiteout",
    "multiarch",
    "debian",
    "redis",
    "postgres",
    "python",
];

#[tokio::test]
async fn fixture_manifests_configs_and_layers_verify() {
    let Some(reg) = registry() else { return };
    let c = client(None);
    c.ping(&reg).await.unwrap();
    for name in FIXTURES {
        let repo = format!("wharf-fixtures/{name}");
        let m = c.get_manifest(&reg, &repo, "latest").await.unwrap();
        assert_eq!(m.digest, layout_digest(name), "{name}: digest by tag");
        assert_eq!(m.digest, Digest::sha256_of(&m.bytes));
        // By digest too: the requested digest is checked against the bytes.
        let again = c
            .get_manifest(&reg, &repo, &m.digest.to_string())
            .await
            .unwrap();
        assert_eq!(again, m);
        if *name == "multiarch" {
            continue;
        }
        let manifest = oci_spec::image::ImageManifest::from_reader(&m.bytes[..]).unwrap();
        let config: Digest = manifest.config().digest().to_string().parse().unwrap();
        let bytes = fetch(&c, &reg, &repo, &config).await;
        assert_eq!(bytes, layout_blob(name, &config), "{name}: config");
        if name.starts_with("busybox") {
            for l in manifest.layers() {
                let d: Digest = l.digest().to_string().parse().unwrap();
                let bytes = fetch(&c, &reg, &repo, &d).await;
                assert_eq!(bytes.len() as u64, l.size());
            }
        }
    }
    let docker = c
        .get_manifest(&reg, "wharf-fixtures/busybox-docker", "latest")
        .await
        .unwrap();
    assert_eq!(
        docker.media_type,
        "application/vnd.docker.distribution.manifest.v2+json"
    );
}

#[tokio::test]
async fn multiarch_index_lists_amd64_and_arm64() {
    let Some(reg) = registry() else { return };
    let c = client(None);
    let repo = "wharf-fixtures/multiarch";
    let m = c.get_manifest(&reg, repo, "latest").await.unwrap();
    assert_eq!(m.media_type, "application/vnd.oci.image.index.v1+json");
    let entries = parse_index(&m.bytes).unwrap();
    let plats: Vec<_> = entries
        .iter()
        .map(|e| {
            (
                e.os.as_deref().unwrap_or(""),
                e.architecture.as_deref().unwrap_or(""),
                e.variant.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        plats,
        vec![("linux", "amd64", None), ("linux", "arm64", Some("v8"))]
    );
    for e in &entries {
        let child = c
            .get_manifest(&reg, repo, &e.digest.to_string())
            .await
            .unwrap();
        assert_eq!(child.digest, e.digest);
        assert_eq!(child.media_type, MEDIA_OCI_MANIFEST);
    }
}

#[tokio::test]
async fn basic_auth_registry() {
    let Some(reg) = registry() else { return };
    let auth = auth_registry(&reg);
    let repo = "wharf-fixtures/busybox";

    let err = client(None)
        .get_manifest(&auth, repo, "latest")
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("unauthorized: authentication required for {auth}/{repo} — run wharf login")
    );

    let wrong = client(Some(Credentials::Basic {
        username: "wharf".into(),
        password: "nope".into(),
    }));
    assert_eq!(
        wrong.ping(&auth).await.unwrap_err().to_string(),
        format!(
            "unauthorized: {auth} rejected the credentials for {auth} — run wharf login {auth}"
        )
    );
    assert_eq!(
        client(None).ping(&auth).await.unwrap_err().to_string(),
        format!("unauthorized: authentication required for {auth} — run wharf login")
    );

    let c = client(Some(Credentials::Basic {
        username: "wharf".into(),
        password: "wharf-secret".into(),
    }));
    c.ping(&auth).await.unwrap();
    let m = c.get_manifest(&auth, repo, "latest").await.unwrap();
    assert_eq!(m.digest, layout_digest("busybox"));
    let manifest = oci_spec::image::ImageManifest::from_reader(&m.bytes[..]).unwrap();
    let layer: Digest = manifest.layers()[0].digest().to_string().parse().unwrap();
    fetch(&c, &auth, repo, &layer).await;
}

fn unique(prefix: &str) -> String {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("wharf-test/{prefix}-{}-{t}", std::process::id())
}

/// Pushes a config + one layer (chunked when larger than the client's chunk size) and a
/// manifest, reads everything back.
async fn push_round_trip(c: &RegistryClient, reg: &str, layer_size: usize) {
    let repo = unique("push");
    let layer: Vec<u8> = (0..layer_size).map(|i| (i * 7 % 251) as u8).collect();
    let layer_d = Digest::sha256_of(&layer);
    let config =
        br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#;
    let config_d = Digest::sha256_of(config);
    assert!(!c.blob_exists(reg, &repo, &layer_d).await.unwrap());
    c.push_blob(reg, &repo, &layer_d, layer.len() as u64, &mut &layer[..])
        .await
        .unwrap();
    c.push_blob(reg, &repo, &config_d, config.len() as u64, &mut &config[..])
        .await
        .unwrap();
    assert!(c.blob_exists(reg, &repo, &layer_d).await.unwrap());
    let manifest = format!(
        r#"{{"schemaVersion":2,"mediaType":"{MEDIA_OCI_MANIFEST}","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{config_d}","size":{}}},"layers":[{{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"{layer_d}","size":{}}}]}}"#,
        config.len(),
        layer.len()
    );
    let md = c
        .put_manifest(reg, &repo, "v1", MEDIA_OCI_MANIFEST, manifest.as_bytes())
        .await
        .unwrap();
    assert_eq!(md, Digest::sha256_of(manifest.as_bytes()));
    let back = c.get_manifest(reg, &repo, "v1").await.unwrap();
    assert_eq!(back.bytes, manifest.as_bytes());
    assert_eq!(back.digest, md);
    assert_eq!(fetch(c, reg, &repo, &layer_d).await, layer);
    assert_eq!(fetch(c, reg, &repo, &config_d).await, config);

    // Cross-repository mount.
    let other = unique("mount");
    assert!(!c.blob_exists(reg, &other, &layer_d).await.unwrap());
    assert!(c.mount_blob(reg, &other, &layer_d, &repo).await.unwrap());
    assert!(c.blob_exists(reg, &other, &layer_d).await.unwrap());
    // A blob the source does not have is not mounted: the caller pushes it instead.
    let absent = Digest::sha256_of(b"never pushed");
    assert!(!c.mount_blob(reg, &other, &absent, &repo).await.unwrap());
}

#[tokio::test]
async fn push_round_trip_monolithic_and_chunked() {
    let Some(reg) = registry() else { return };
    // Default 16 MiB chunks: a 300 KiB layer goes in one PUT.
    push_round_trip(&client(None), &reg, 300 << 10).await;
    // 64 KiB chunks: 300 KiB + 5 bytes is five PATCHes and a PUT.
    let chunked = RegistryClient::new(ClientOptions {
        retries: 0,
        chunk_size: 64 << 10,
        ..ClientOptions::default()
    })
    .unwrap();
    push_round_trip(&chunked, &reg, (300 << 10) + 5).await;
    // Exactly a multiple of the chunk size.
    push_round_trip(&chunked, &reg, 128 << 10).await;
}

#[tokio::test]
async fn push_with_basic_auth() {
    let Some(reg) = registry() else { return };
    let c = client(Some(Credentials::Basic {
        username: "wharf".into(),
        password: "wharf-secret".into(),
    }));
    push_round_trip(&c, &auth_registry(&reg), 1000).await;
}

#[tokio::test]
async fn push_of_lying_content_is_refused() {
    let Some(reg) = registry() else { return };
    let c = client(None);
    let repo = unique("lie");
    let claimed = Digest::sha256_of(b"the truth");
    let err = c
        .push_blob(&reg, &repo, &claimed, 5, &mut &b"a lie"[..])
        .await
        .unwrap_err();
    assert!(matches!(err, RegistryError::DigestMismatch { .. }), "{err}");
    assert!(!c.blob_exists(&reg, &repo, &claimed).await.unwrap());
}

#[tokio::test]
async fn not_found_and_unreachable_messages() {
    let Some(reg) = registry() else { return };
    let c = client(None);
    let err = c.get_manifest(&reg, "nope", "latest").await.unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("manifest unknown: {reg}/nope:latest not found")
    );
    let d = Digest::sha256_of(b"missing");
    let err = c
        .fetch_blob(&reg, "wharf-fixtures/busybox", &d, &mut Vec::new(), &|_| {})
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("blob unknown: {reg}/wharf-fixtures/busybox@{d} not found")
    );

    // A port nobody listens on: bind, note it, close.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dead = format!("127.0.0.1:{port}");
    let err = c.get_manifest(&dead, "x", "latest").await.unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("cannot reach registry {dead}: connection refused")
    );
}

// ---------------------------------------------------------------------------------------
// What a well-behaved registry never does (lie, redirect to storage, rate-limit, fail,
// serve schema 1) and the Bearer token flow (the loopback registry only does Basic): a
// few lines of HTTP/1.1 on 127.0.0.1:0 and 127.0.0.2:0 (a second origin for redirects).

mod hostile {
    use super::*;
    use std::collections::HashMap;
    use std::sync::Mutex;
    use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
    use tokio::net::TcpListener;

    #[derive(Clone, Debug)]
    pub struct Seen {
        pub path: String,
        pub authorization: Option<String>,
    }

    pub struct Server {
        pub registry: String,
        pub storage: String,
        pub seen: Arc<Mutex<Vec<Seen>>>,
        tasks: Vec<tokio::task::JoinHandle<()>>,
    }

    impl Drop for Server {
        fn drop(&mut self) {
            for t in &self.tasks {
                t.abort();
            }
        }
    }

    pub const GOOD: &[u8] = b"good content from storage";
    pub const BASIC_OK: &str = "Basic dTpw"; // u:p

    type Handler = dyn Fn(&str, &str, Option<&str>, &[u8]) -> (u16, Vec<(String, String)>, Vec<u8>)
        + Send
        + Sync;

    pub async fn start() -> Server {
        let main = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let store = TcpListener::bind("127.0.0.2:0").await.unwrap();
        let registry = main.local_addr().unwrap().to_string();
        let storage = store.local_addr().unwrap().to_string();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let counters = Arc::new(Mutex::new(HashMap::<String, u32>::new()));
        let good = Digest::sha256_of(GOOD);
        let lie = Digest::sha256_of(b"what was asked for");
        let (reg2, sto2) = (registry.clone(), storage.clone());
        let handler: Arc<Handler> = Arc::new(move |method, path, auth, body| {
            let h = |k: &str, v: &str| (k.to_string(), v.to_string());
            let challenge = |scope: &str| {
                (
                    401,
                    vec![h(
                        "WWW-Authenticate",
                        &format!(
                            r#"Bearer realm="http://{reg2}/token",service="fake",scope="{scope}""#
                        ),
                    )],
                    br#"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}"#
                        .to_vec(),
                )
            };
            let n = {
                let mut c = counters.lock().unwrap();
                let e = c.entry(path.to_string()).or_insert(0);
                *e += 1;
                *e
            };
            if let Some(rest) = path.strip_prefix("/token") {
                if method == "POST" {
                    // OAuth refresh-token grant (identity tokens).
                    let form = String::from_utf8_lossy(body);
                    return if form.contains("grant_type=refresh_token")
                        && form.contains("refresh_token=rt-ok")
                        && form.contains("scope=repository%3Apriv%3Apull")
                    {
                        (200, vec![], br#"{"access_token":"tok-user"}"#.to_vec())
                    } else {
                        (401, vec![], vec![])
                    };
                }
                return match auth {
                    None => (200, vec![], br#"{"token":"tok-anon"}"#.to_vec()),
                    Some(BASIC_OK) => {
                        assert!(rest.contains("account=u"), "{rest}");
                        (
                            200,
                            vec![],
                            br#"{"access_token":"tok-user","expires_in":300}"#.to_vec(),
                        )
                    }
                    Some(_) => (401, vec![], vec![]),
                };
            }
            if path.starts_with("/storage/") {
                return (200, vec![], GOOD.to_vec());
            }
            let Some(rest) = path.strip_prefix("/v2/") else {
                return (404, vec![], vec![]);
            };
            let repo = rest.split('/').next().unwrap_or("");
            let need_user = repo == "priv";
            match auth {
                Some("Bearer tok-user") => {}
                Some("Bearer tok-anon") if !need_user => {}
                _ => return challenge(&format!("repository:{repo}:pull")),
            }
            match rest.split_once('/').map(|x| x.1).unwrap_or("") {
                "" => (200, vec![], b"{}".to_vec()),
                p if p == format!("blobs/{good}") => (
                    307,
                    vec![h(
                        "Location",
                        &format!("http://{sto2}/storage/{}", good.hex()),
                    )],
                    vec![],
                ),
                p if p == format!("blobs/{lie}") => (200, vec![], b"not what was asked".to_vec()),
                p if p == format!("manifests/{lie}") => (
                    200,
                    vec![h("Content-Type", MEDIA_OCI_MANIFEST)],
                    br#"{"schemaVersion":2,"layers":[]}"#.to_vec(),
                ),
                "manifests/schema1" => (
                    200,
                    vec![h(
                        "Content-Type",
                        "application/vnd.docker.distribution.manifest.v1+prettyjws",
                    )],
                    br#"{"schemaVersion":1,"fsLayers":[]}"#.to_vec(),
                ),
                "manifests/badheader" => (
                    200,
                    vec![
                        h("Content-Type", MEDIA_OCI_MANIFEST),
                        h("Docker-Content-Digest", &lie.to_string()),
                    ],
                    br#"{"schemaVersion":2,"layers":[]}"#.to_vec(),
                ),
                "manifests/flaky" if n == 1 => (503, vec![], vec![]),
                "manifests/flaky" => (
                    200,
                    vec![h("Content-Type", MEDIA_OCI_MANIFEST)],
                    br#"{"schemaVersion":2,"layers":[]}"#.to_vec(),
                ),
                "manifests/limited" => (429, vec![h("Retry-After", "7")], vec![]),
                _ => (404, vec![], vec![]),
            }
        });
        let mut tasks = Vec::new();
        for l in [main, store] {
            let (handler, seen) = (handler.clone(), seen.clone());
            tasks.push(tokio::spawn(async move {
                while let Ok((sock, _)) = l.accept().await {
                    let (handler, seen) = (handler.clone(), seen.clone());
                    tokio::spawn(async move {
                        let (r, mut w) = sock.into_split();
                        let mut r = BufReader::new(r);
                        loop {
                            let mut line = String::new();
                            if r.read_line(&mut line).await.unwrap_or(0) == 0 {
                                return;
                            }
                            let mut parts = line.split_whitespace();
                            let method = parts.next().unwrap_or("").to_string();
                            let path = parts.next().unwrap_or("").to_string();
                            let (mut auth, mut len) = (None, 0usize);
                            loop {
                                let mut hl = String::new();
                                r.read_line(&mut hl).await.unwrap();
                                let hl = hl.trim_end();
                                if hl.is_empty() {
                                    break;
                                }
                                let (k, v) = hl.split_once(':').unwrap();
                                if k.eq_ignore_ascii_case("authorization") {
                                    auth = Some(v.trim().to_string());
                                }
                                if k.eq_ignore_ascii_case("content-length") {
                                    len = v.trim().parse().unwrap();
                                }
                            }
                            let mut body = vec![0; len];
                            r.read_exact(&mut body).await.unwrap();
                            seen.lock().unwrap().push(Seen {
                                path: path.clone(),
                                authorization: auth.clone(),
                            });
                            let (status, headers, body) =
                                handler(&method, &path, auth.as_deref(), &body);
                            let mut resp = format!("HTTP/1.1 {status} X\r\n");
                            for (k, v) in headers {
                                resp.push_str(&format!("{k}: {v}\r\n"));
                            }
                            resp.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
                            let mut bytes = resp.into_bytes();
                            if method != "HEAD" {
                                bytes.extend_from_slice(&body);
                            }
                            if w.write_all(&bytes).await.is_err() {
                                return;
                            }
                        }
                    });
                }
            }));
        }
        Server {
            registry,
            storage,
            seen,
            tasks,
        }
    }
}

#[tokio::test]
async fn bearer_flow_redirect_and_token_cache() {
    let s = hostile::start().await;
    let c = client(None);
    let good = Digest::sha256_of(hostile::GOOD);
    assert_eq!(fetch(&c, &s.registry, "pub", &good).await, hostile::GOOD);
    assert_eq!(fetch(&c, &s.registry, "pub", &good).await, hostile::GOOD);
    let seen = s.seen.lock().unwrap().clone();
    let tokens: Vec<_> = seen
        .iter()
        .filter(|r| r.path.starts_with("/token"))
        .collect();
    assert_eq!(tokens.len(), 1, "token cached: {seen:?}");
    assert_eq!(
        tokens[0].path,
        "/token?service=fake&scope=repository%3Apub%3Apull"
    );
    let storage: Vec<_> = seen
        .iter()
        .filter(|r| r.path.starts_with("/storage/"))
        .collect();
    assert_eq!(storage.len(), 2, "{seen:?}");
    assert!(
        storage.iter().all(|r| r.authorization.is_none()),
        "credentials must not follow a redirect to {}: {seen:?}",
        s.storage
    );
    let blob_gets: Vec<_> = seen.iter().filter(|r| r.path.contains("/blobs/")).collect();
    assert_eq!(
        blob_gets.last().unwrap().authorization.as_deref(),
        Some("Bearer tok-anon")
    );

    // A repository that needs an account.
    let err = c
        .get_manifest(&s.registry, "priv", "flaky")
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "unauthorized: authentication required for {}/priv — run wharf login",
            s.registry
        )
    );
    let wrong = client(Some(Credentials::Basic {
        username: "u".into(),
        password: "bad".into(),
    }));
    let err = wrong
        .get_manifest(&s.registry, "priv", "x")
        .await
        .unwrap_err();
    assert!(
        matches!(err, RegistryError::CredentialsRejected { .. }),
        "{err}"
    );
    let user = client(Some(Credentials::Basic {
        username: "u".into(),
        password: "p".into(),
    }));
    user.ping(&s.registry).await.unwrap();
    let err = user
        .get_manifest(&s.registry, "priv", "x")
        .await
        .unwrap_err();
    assert!(
        matches!(err, RegistryError::ManifestUnknown { .. }),
        "authenticated, then 404: {err}"
    );

    let idt = client(Some(Credentials::IdentityToken("rt-ok".into())));
    let err = idt
        .get_manifest(&s.registry, "priv", "x")
        .await
        .unwrap_err();
    assert!(
        matches!(err, RegistryError::ManifestUnknown { .. }),
        "identity token accepted, then 404: {err}"
    );
    let bad = client(Some(Credentials::IdentityToken("rt-expired".into())));
    let err = bad
        .get_manifest(&s.registry, "priv", "x")
        .await
        .unwrap_err();
    assert!(
        matches!(err, RegistryError::CredentialsRejected { .. }),
        "{err}"
    );
}

#[tokio::test]
async fn lies_and_failures_are_errors() {
    let s = hostile::start().await;
    let c = client(None);
    let reg = &s.registry;

    let lie = Digest::sha256_of(b"what was asked for");
    let mut sink = Vec::new();
    let err = c
        .fetch_blob(reg, "pub", &lie, &mut sink, &|_| {})
        .await
        .unwrap_err();
    assert!(matches!(err, RegistryError::DigestMismatch { .. }), "{err}");

    let err = c.get_manifest(reg, "pub", "schema1").await.unwrap_err();
    assert!(err.to_string().contains("schema 1"), "{err}");
    assert!(
        err.to_string().starts_with(&format!("{reg}/pub:schema1 ")),
        "{err}"
    );

    let err = c.get_manifest(reg, "pub", "badheader").await.unwrap_err();
    assert!(matches!(err, RegistryError::DigestMismatch { .. }), "{err}");

    // By digest, the bytes must hash to the requested digest.
    let err = c
        .get_manifest(reg, "pub", &lie.to_string())
        .await
        .unwrap_err();
    assert!(matches!(err, RegistryError::DigestMismatch { .. }), "{err}");

    let err = c.get_manifest(reg, "pub", "limited").await.unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("rate limited by {reg}, retry after 7 s")
    );

    // 503 once: an error without retries, fine with one (after 250 ms).
    let err = c.get_manifest(reg, "pub", "flaky").await.unwrap_err();
    assert!(err.to_string().contains("HTTP 503"), "{err}");
    let s2 = hostile::start().await;
    let retrying = RegistryClient::new(ClientOptions {
        retries: 1,
        ..ClientOptions::default()
    })
    .unwrap();
    let m = retrying
        .get_manifest(&s2.registry, "pub", "flaky")
        .await
        .unwrap();
    assert_eq!(m.media_type, MEDIA_OCI_MANIFEST);
}
