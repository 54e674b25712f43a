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
            eprintln!("SKIPPED: WHARF_TEST_REGISTRY is unset (start scripts/fixtures/registry and set it, e.g. 127.0.0.1:5000)");
            None
        }
    }
}

fn auth_registry(plain: &str) -> String {
    std::env::var("WHARF_TEST_REGISTRY_AUTH").unwrap_or_else(|_| {
        let (host, port) = plain.rsplit_once(':').expect("WHARF_TEST_REGISTRY is host:port");
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
    let index = std::fs::read(layouts().join(name).join("index.json"))
        .unwrap_or_else(|e| panic!("fixture layout {name}: {e} (run scripts/fixtures/build-images)"));
    parse_index(&index).unwrap()[0].digest.clone()
}

fn layout_blob(name: &str, d: &Digest) -> Vec<u8> {
    std::fs::read(layouts().join(name).join("blobs").join("sha256").join(d.hex())).unwrap()
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
    assert_eq!(seen.load(std::sync::atomic::Ordering::Relaxed), n, "progress reached the end");
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
    assert!(matches!(
        wrong.ping(&auth).await,
        Err(RegistryError::CredentialsRejected { .. })
    ));

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
    let config = br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#;
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
