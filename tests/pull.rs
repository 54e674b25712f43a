//! `wharf pull` / `images` / `rmi` against the loopback registry with the
//! fixture images built from Debian packages (run through
//! `scripts/with-registry`, which sets WHARF_TEST_REGISTRY inside a private
//! network and mount namespace). Without it these tests say so and skip.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

fn registry() -> Option<String> {
    match std::env::var("WHARF_TEST_REGISTRY") {
        Ok(r) if !r.is_empty() => Some(r),
        _ => {
            eprintln!(
                "SKIPPED: WHARF_TEST_REGISTRY is not set (run through scripts/with-registry)"
            );
            None
        }
    }
}

fn fixtures() -> PathBuf {
    PathBuf::from(
        std::env::var("WHARF_FIXTURES_CACHE")
            .unwrap_or_else(|_| "/var/cache/wharf-fixtures".into()),
    )
    .join("oci")
}

struct Run {
    ok: bool,
    stdout: String,
    stderr: String,
}

fn wharf(root: &Path, args: &[&str]) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_wharf"))
        .arg("--root")
        .arg(root)
        .args(args)
        .env("HOME", root)
        .output()
        .expect("run wharf");
    Run {
        ok: out.status.success(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn sh(cmd: &mut Command) -> String {
    let out = cmd.output().expect("spawn");
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// What a user would compare between two root filesystems: per path the
/// type, mode, owner, size, link target and a content hash.
fn tree(root: &Path) -> BTreeMap<String, String> {
    let out = sh(Command::new("find")
        .arg(".")
        .args(["-printf", "%P|%y|%m|%U:%G|%s|%l\\n"])
        .current_dir(root));
    let mut map = BTreeMap::new();
    for line in out.lines().filter(|l| !l.starts_with('|')) {
        let mut parts = line.splitn(2, '|');
        let path = parts.next().unwrap_or_default().to_string();
        let mut rest = parts.next().unwrap_or_default().to_string();
        // Directory sizes depend on the file system, not the image.
        if rest.starts_with("d|") {
            let fields: Vec<&str> = rest.split('|').collect();
            rest = format!("{}|{}|{}", fields[0], fields[1], fields[2]);
        }
        map.insert(path, rest);
    }
    map
}

/// Mounts the image's layers as overlayfs (as the runtime will) and lists it.
fn image_tree(root: &Path, image: &str, mountpoint: &Path) -> BTreeMap<String, String> {
    let run = wharf(root, &["image", "inspect", image]);
    assert!(run.ok, "{}", run.stderr);
    let records: serde_json::Value = serde_json::from_str(&run.stdout).expect("inspect JSON");
    let layers_by_diff = root.join("layers/by-diff-id");
    let mut lower = Vec::new();
    for layer in records[0]["layers"].as_array().expect("layers") {
        let diff_id = layer["diff_id"]
            .as_str()
            .expect("diff_id")
            .replace(':', "-");
        let short = std::fs::read_to_string(layers_by_diff.join(diff_id)).expect("layer short id");
        lower.push(root.join("layers").join(short.trim()).join("diff"));
    }
    // A read-only overlay needs two lower dirs; one layer is the tree itself.
    if lower.len() == 1 {
        return tree(&lower[0]);
    }
    // overlayfs lists the top layer first.
    lower.reverse();
    let opts = format!(
        "lowerdir={}",
        lower
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(":")
    );
    std::fs::create_dir_all(mountpoint).expect("mkdir");
    sh(Command::new("mount")
        .args(["-t", "overlay", "overlay", "-o", &opts])
        .arg(mountpoint));
    let t = tree(mountpoint);
    sh(Command::new("umount").arg(mountpoint));
    t
}

fn assert_same_tree(
    image: &str,
    ours: &BTreeMap<String, String>,
    reference: &BTreeMap<String, String>,
) {
    let mut diffs = Vec::new();
    for (path, want) in reference {
        match ours.get(path) {
            Some(got) if got == want => {}
            Some(got) => diffs.push(format!("{path}: want {want}, got {got}")),
            None => diffs.push(format!("{path}: missing")),
        }
    }
    for path in ours.keys().filter(|p| !reference.contains_key(*p)) {
        diffs.push(format!("{path}: unexpected"));
    }
    assert!(
        diffs.is_empty(),
        "{image}: {} differences, first: {:?}",
        diffs.len(),
        &diffs[..diffs.len().min(10)]
    );
}

#[test]
fn pulled_images_unpack_to_exactly_the_source_tree() {
    let Some(reg) = registry() else { return };
    let tmp = tempfile::Builder::new()
        .prefix("wharf-pull")
        .tempdir()
        .expect("tmp");
    let root = tmp.path().join("root");
    let images = [
        "busybox",
        "whiteout",
        "busybox-zstd",
        "busybox-uncompressed",
        "busybox-docker",
        "redis",
    ];
    let refs: Vec<String> = images
        .iter()
        .map(|i| format!("{reg}/wharf-fixtures/{i}"))
        .collect();
    let mut args = vec!["pull"];
    args.extend(refs.iter().map(String::as_str));
    let run = wharf(&root, &args);
    assert!(run.ok, "pull failed: {}", run.stderr);

    // Every stored blob still hashes to its name.
    for entry in std::fs::read_dir(root.join("blobs/sha256")).expect("blobs") {
        let path = entry.expect("entry").path();
        let sum = sh(Command::new("sha256sum").arg(&path));
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        assert!(
            sum.starts_with(&name),
            "{} does not match its digest",
            path.display()
        );
    }

    for (image, r) in images.iter().zip(&refs) {
        let reference_dir = tmp.path().join(format!("ref-{image}"));
        sh(Command::new("python3")
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/fixtures/oci-layer.py"))
            .arg("unpack")
            .arg(fixtures().join(image))
            .arg(&reference_dir));
        let ours = image_tree(&root, r, &tmp.path().join(format!("mnt-{image}")));
        let reference = tree(&reference_dir);
        assert!(
            reference.len() > 10,
            "{image}: reference tree is suspiciously small"
        );
        assert_same_tree(image, &ours, &reference);
    }
}

#[test]
fn concurrent_pulls_share_layers_and_rmi_removes_only_what_is_unused() {
    let Some(reg) = registry() else { return };
    let tmp = tempfile::Builder::new()
        .prefix("wharf-pull")
        .tempdir()
        .expect("tmp");
    let root = tmp.path().join("root");
    let redis = format!("{reg}/wharf-fixtures/redis");
    let postgres = format!("{reg}/wharf-fixtures/postgres");
    let run = wharf(&root, &["pull", &redis, &postgres]);
    assert!(run.ok, "{}", run.stderr);
    // The shared Debian base is downloaded once, however many images use it.
    let downloads: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| l.ends_with(": downloaded"))
        .collect();
    let mut unique = downloads.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(
        downloads.len(),
        unique.len(),
        "a blob was downloaded twice:\n{}",
        run.stderr
    );
    assert_eq!(
        downloads.len(),
        3,
        "base + redis + postgres layers:\n{}",
        run.stderr
    );

    let layer_dirs = |root: &Path| -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(root.join("layers"))
            .expect("layers")
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n != "by-diff-id")
            .collect();
        v.sort();
        v
    };
    assert_eq!(layer_dirs(&root).len(), 3);
    let listed = wharf(&root, &["images", "--format", "json"]);
    let rows: serde_json::Value = serde_json::from_str(&listed.stdout).expect("images JSON");
    assert_eq!(rows.as_array().map(Vec::len), Some(2));

    // History lists the build steps newest first, with the layer sizes.
    let hist = wharf(&root, &["image", "history", &redis]);
    assert!(hist.ok, "{}", hist.stderr);
    let rows: Vec<&str> = hist.stdout.lines().skip(1).collect();
    assert!(
        rows.first().is_some_and(|r| r.contains("CMD")),
        "{}",
        hist.stdout
    );
    assert!(
        rows.last()
            .is_some_and(|r| r.contains("mmdebstrap") && r.ends_with("MB")),
        "{}",
        hist.stdout
    );
    // Prune without --all keeps tagged images.
    assert!(wharf(&root, &["image", "prune"])
        .stdout
        .contains("Deleted 0 images"));

    let rm = wharf(&root, &["rmi", &redis]);
    assert!(rm.ok, "{}", rm.stderr);
    assert!(rm.stdout.contains("Untagged:"), "{}", rm.stdout);
    // Only redis's own layer went; the base postgres uses stays.
    assert_eq!(layer_dirs(&root).len(), 2);
    let pg = wharf(&root, &["image", "inspect", &postgres]);
    assert!(pg.ok, "{}", pg.stderr);

    let rm = wharf(&root, &["rmi", &postgres]);
    assert!(rm.ok, "{}", rm.stderr);
    assert!(layer_dirs(&root).is_empty());
    let blobs = std::fs::read_dir(root.join("blobs/sha256"))
        .map(|d| d.count())
        .unwrap_or(0);
    assert_eq!(blobs, 0, "blobs left after removing every image");
    let gone = wharf(&root, &["rmi", &postgres]);
    assert!(!gone.ok);
}

#[test]
fn platform_selection_and_clear_errors() {
    let Some(reg) = registry() else { return };
    let tmp = tempfile::Builder::new()
        .prefix("wharf-pull")
        .tempdir()
        .expect("tmp");
    let root = tmp.path().join("root");
    let multi = format!("{reg}/wharf-fixtures/multiarch");
    let run = wharf(&root, &["pull", "--platform", "linux/arm64", &multi]);
    assert!(run.ok, "{}", run.stderr);
    let inspect: serde_json::Value =
        serde_json::from_str(&wharf(&root, &["image", "inspect", &multi]).stdout).expect("json");
    assert_eq!(inspect[0]["platform"]["architecture"], "arm64");
    assert!(inspect[0]["index_digest"].is_string());

    let bad = wharf(&root, &["pull", "--platform", "linux/s390x", &multi]);
    assert!(!bad.ok);
    assert!(
        bad.stderr.contains("no image for platform linux/s390x"),
        "{}",
        bad.stderr
    );

    let missing = wharf(&root, &["pull", &format!("{reg}/wharf-fixtures/nope")]);
    assert!(!missing.ok);
    assert!(missing.stderr.contains("not found"), "{}", missing.stderr);
    let unreachable = wharf(&root, &["pull", "127.0.0.1:5999/x"]);
    assert!(!unreachable.ok);
    assert!(
        unreachable
            .stderr
            .contains("cannot reach registry 127.0.0.1:5999"),
        "{}",
        unreachable.stderr
    );
    let invalid = wharf(&root, &["pull", "Upper/Case"]);
    assert!(!invalid.ok);
    assert!(
        invalid.stderr.contains("must be lowercase"),
        "{}",
        invalid.stderr
    );
}

#[test]
fn tag_push_login_and_pull_back_keep_the_digest() {
    let Some(reg) = registry() else { return };
    let auth_reg =
        std::env::var("WHARF_TEST_REGISTRY_AUTH").unwrap_or_else(|_| "127.0.0.1:5001".into());
    let tmp = tempfile::Builder::new()
        .prefix("wharf-push")
        .tempdir()
        .expect("tmp");
    let root = tmp.path().join("root");
    let src = format!("{reg}/wharf-fixtures/busybox");
    assert!(wharf(&root, &["pull", &src]).ok);
    let original: serde_json::Value =
        serde_json::from_str(&wharf(&root, &["image", "inspect", &src]).stdout).expect("json");

    // Push under a new name to the plain registry, then pull into a fresh root.
    let unique = format!("{reg}/wharf-test/pushed-{}:v1", std::process::id());
    assert!(wharf(&root, &["tag", &src, &unique]).ok);
    let pushed = wharf(&root, &["push", &unique]);
    assert!(pushed.ok, "{}", pushed.stderr);
    let digest = original[0]["manifest_digest"].as_str().expect("digest");
    assert!(
        pushed.stdout.contains(digest),
        "push keeps the digest: {}",
        pushed.stdout
    );
    let again = wharf(&root, &["push", &unique]);
    assert!(
        again.stderr.contains("already exists") && !again.stderr.contains(": pushed"),
        "{}",
        again.stderr
    );
    let root2 = tmp.path().join("root2");
    let back = wharf(&root2, &["pull", &unique]);
    assert!(back.ok, "{}", back.stderr);
    let pulled: serde_json::Value =
        serde_json::from_str(&wharf(&root2, &["image", "inspect", &unique]).stdout).expect("json");
    assert_eq!(pulled[0]["manifest_digest"], original[0]["manifest_digest"]);

    // The auth registry refuses anonymous pushes, accepts after login.
    let private = format!("{auth_reg}/wharf-test/private-{}:v1", std::process::id());
    assert!(wharf(&root, &["tag", &src, &private]).ok);
    let denied = wharf(&root, &["push", &private]);
    assert!(!denied.ok);
    assert!(denied.stderr.contains("wharf login"), "{}", denied.stderr);
    let wrong = wharf(
        &root,
        &["login", &auth_reg, "-u", "wharf", "--password", "nope"],
    );
    assert!(!wrong.ok, "a wrong password must not be stored");
    let ok = wharf(
        &root,
        &[
            "login",
            &auth_reg,
            "-u",
            "wharf",
            "--password",
            "wharf-secret",
        ],
    );
    assert!(ok.ok, "{}", ok.stderr);
    assert!(root.join(".docker/config.json").is_file());
    let allowed = wharf(&root, &["push", &private]);
    assert!(allowed.ok, "{}", allowed.stderr);
    assert!(wharf(&root, &["logout", &auth_reg])
        .stdout
        .contains("Removing login credentials"));
    let denied_again = wharf(&root, &["push", &private]);
    assert!(!denied_again.ok);

    // Disk usage and prune: untag everything, prune frees it all.
    let df = wharf(&root, &["system", "df"]);
    assert!(df.ok && df.stdout.contains("Images"), "{}", df.stdout);
    for name in [&src, &unique, &private] {
        assert!(wharf(&root, &["rmi", name]).ok);
    }
    let pruned = wharf(&root, &["system", "prune", "--all"]);
    assert!(pruned.ok, "{}", pruned.stderr);
    let blobs = std::fs::read_dir(root.join("blobs/sha256"))
        .map(|d| d.count())
        .unwrap_or(0);
    assert_eq!(blobs, 0);
}

#[test]
fn hostile_layers_fail_cleanly_and_write_nothing_outside_the_store() {
    let Some(reg) = registry() else { return };
    let tmp = tempfile::Builder::new()
        .prefix("wharf-hostile")
        .tempdir()
        .expect("tmp");
    let root = tmp.path().join("root");
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    let probe_outside = [
        tmp.path().join("wharf-escape-probe"),
        root.join("wharf-escape-probe"),
        root.join("layers/wharf-escape-probe"),
        PathBuf::from("/etc/wharf-escape-probe"),
    ];
    let shadow_before = std::fs::metadata("/etc/shadow").ok().map(|m| m.len());
    for kind in [
        "traversal",
        "symlink",
        "hardlink",
        "whiteout",
        "lying-diff-id",
    ] {
        let layout = tmp.path().join(format!("layout-{kind}"));
        sh(Command::new("python3")
            .arg(here.join("tests/data/hostile-image.py"))
            .arg(&layout)
            .arg(kind));
        let name = format!(
            "{reg}/wharf-test/hostile-{kind}-{}:latest",
            std::process::id()
        );
        sh(Command::new("python3")
            .arg(here.join("scripts/fixtures/oci-push.py"))
            .arg(&layout)
            .arg(&name));
        let run = wharf(&root, &["pull", &name]);
        assert!(!run.ok, "{kind}: hostile image was accepted");
        assert!(
            run.stderr.contains("layer sha256:") || run.stderr.contains("diff"),
            "{kind}: {}",
            run.stderr
        );
        assert!(!run.stderr.contains("panicked"), "{kind}: {}", run.stderr);
        for p in &probe_outside {
            assert!(!p.exists(), "{kind}: wrote {}", p.display());
        }
        // Nothing half-made stays: no layer, no image, no temp files.
        let layers: Vec<_> = std::fs::read_dir(root.join("layers"))
            .map(|d| d.filter_map(|e| e.ok()).map(|e| e.file_name()).collect())
            .unwrap_or_default();
        assert!(
            layers.iter().all(|n| n == "by-diff-id"),
            "{kind}: layers left: {layers:?}"
        );
        let tmp_left = std::fs::read_dir(root.join("tmp"))
            .map(|d| d.count())
            .unwrap_or(0);
        assert_eq!(tmp_left, 0, "{kind}: temp files left in the store");
        assert!(wharf(&root, &["images", "-q"]).stdout.trim().is_empty());
    }
    assert_eq!(
        std::fs::metadata("/etc/shadow").ok().map(|m| m.len()),
        shadow_before
    );
    // The store is still usable afterwards.
    let ok = wharf(&root, &["pull", &format!("{reg}/wharf-fixtures/busybox")]);
    assert!(ok.ok, "{}", ok.stderr);
}

#[test]
fn save_load_round_trip_keeps_digests_and_reads_legacy_docker_archives() {
    let Some(reg) = registry() else { return };
    let tmp = tempfile::Builder::new()
        .prefix("wharf-save")
        .tempdir()
        .expect("tmp");
    let root = tmp.path().join("root");
    let busybox = format!("{reg}/wharf-fixtures/busybox");
    let redis = format!("{reg}/wharf-fixtures/redis");
    assert!(wharf(&root, &["pull", &busybox, &redis]).ok);
    let inspect = |root: &Path, name: &str| -> serde_json::Value {
        serde_json::from_str(&wharf(root, &["image", "inspect", name]).stdout).expect("inspect")
    };
    let archive = tmp.path().join("images.tar");
    let saved = wharf(
        &root,
        &[
            "save",
            "-o",
            archive.to_str().expect("utf8"),
            &busybox,
            &redis,
        ],
    );
    assert!(saved.ok, "{}", saved.stderr);
    // The archive is what docker save writes: OCI layout plus manifest.json.
    let listing = sh(Command::new("tar").arg("-tf").arg(&archive));
    for f in ["oci-layout", "index.json", "manifest.json"] {
        assert!(
            listing.lines().any(|l| l == f),
            "{f} missing from {listing}"
        );
    }

    let root2 = tmp.path().join("root2");
    let loaded = wharf(&root2, &["load", "-i", archive.to_str().expect("utf8")]);
    assert!(loaded.ok, "{}", loaded.stderr);
    assert!(loaded.stdout.contains("Loaded image:"), "{}", loaded.stdout);
    for name in [&busybox, &redis] {
        assert_eq!(
            inspect(&root2, name)[0]["manifest_digest"],
            inspect(&root, name)[0]["manifest_digest"],
            "{name}"
        );
        assert_eq!(
            inspect(&root2, name)[0]["layers"],
            inspect(&root, name)[0]["layers"]
        );
    }

    // An old-style docker-archive: <id>.json config, <id>/layer.tar plain tars.
    let legacy = tmp.path().join("legacy");
    let fixture = fixtures().join("busybox");
    let script = r#"
import json, os, sys, gzip, hashlib, shutil, tarfile
layout, out, name = sys.argv[1], sys.argv[2], sys.argv[3]
blob = lambda d: os.path.join(layout, "blobs", "sha256", d.split(":")[1])
index = json.load(open(os.path.join(layout, "index.json")))
manifest = json.load(open(blob(index["manifests"][0]["digest"])))
os.makedirs(out)
cfg = manifest["config"]["digest"].split(":")[1]
shutil.copy(blob(manifest["config"]["digest"]), os.path.join(out, cfg + ".json"))
layers = []
for l in manifest["layers"]:
    data = open(blob(l["digest"]), "rb").read()
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    d = hashlib.sha256(data).hexdigest()
    os.makedirs(os.path.join(out, d))
    open(os.path.join(out, d, "layer.tar"), "wb").write(data)
    layers.append(d + "/layer.tar")
json.dump([{"Config": cfg + ".json", "RepoTags": [name], "Layers": layers}], open(os.path.join(out, "manifest.json"), "w"))
"#;
    sh(Command::new("python3")
        .args(["-c", script])
        .arg(&fixture)
        .arg(&legacy)
        .arg("legacy/busybox:old"));
    let legacy_tar = tmp.path().join("legacy.tar");
    sh(Command::new("tar")
        .arg("-cf")
        .arg(&legacy_tar)
        .arg("-C")
        .arg(&legacy)
        .arg("."));
    let root3 = tmp.path().join("root3");
    let loaded = wharf(&root3, &["load", "-i", legacy_tar.to_str().expect("utf8")]);
    assert!(loaded.ok, "{}", loaded.stderr);
    let old = inspect(&root3, "legacy/busybox:old");
    // Same layer content, so the same diff ids as the pulled image.
    let diff = |v: &serde_json::Value| -> Vec<serde_json::Value> {
        v[0]["layers"]
            .as_array()
            .expect("layers")
            .iter()
            .map(|l| l["diff_id"].clone())
            .collect()
    };
    assert_eq!(diff(&old), diff(&inspect(&root, &busybox)));
    let leftovers: Vec<_> = std::fs::read_dir(std::env::temp_dir())
        .expect("tmp")
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with("wharf-load-"))
        .collect();
    assert!(leftovers.is_empty(), "load left its work dir behind");
}
