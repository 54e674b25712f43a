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
    assert!(wharf(&root, &["image", "prune", "-f"])
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
    let pruned = wharf(&root, &["system", "prune", "--all", "-f"]);
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
    // The pull dropped the compressed layers, so the archive holds the
    // layer tars rebuilt from the trees: same config and diff ids (a new
    // manifest, so a new image digest), same files.
    let diff_ids = |v: &serde_json::Value| -> Vec<serde_json::Value> {
        v[0]["layers"]
            .as_array()
            .expect("layers")
            .iter()
            .map(|l| l["diff_id"].clone())
            .collect()
    };
    for (i, name) in [&busybox, &redis].into_iter().enumerate() {
        let (a, b) = (inspect(&root, name), inspect(&root2, name));
        assert_eq!(b[0]["config_digest"], a[0]["config_digest"], "{name}");
        assert_eq!(diff_ids(&b), diff_ids(&a), "{name}");
        assert_same_tree(
            name,
            &image_tree(&root2, name, &tmp.path().join(format!("mnt2-{i}"))),
            &image_tree(&root, name, &tmp.path().join(format!("mnt1-{i}"))),
        );
    }
    // Saved from a store that kept its blobs, an image keeps its digest.
    let root_kept = tmp.path().join("root-kept");
    assert!(wharf(&root_kept, &["pull", "--keep-layer-blobs", &busybox]).ok);
    for l in inspect(&root_kept, &busybox)[0]["layers"]
        .as_array()
        .expect("layers")
    {
        assert_eq!(l["blob_stored"], true, "{l}");
    }
    let kept_archive = tmp.path().join("kept.tar");
    assert!(
        wharf(
            &root_kept,
            &["save", "-o", kept_archive.to_str().expect("utf8"), &busybox]
        )
        .ok
    );
    let root_kept2 = tmp.path().join("root-kept2");
    assert!(
        wharf(
            &root_kept2,
            &["load", "-i", kept_archive.to_str().expect("utf8")]
        )
        .ok
    );
    assert_eq!(
        inspect(&root_kept2, &busybox)[0]["manifest_digest"],
        inspect(&root_kept, &busybox)[0]["manifest_digest"]
    );

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
    assert_eq!(diff_ids(&old), diff_ids(&inspect(&root, &busybox)));
    let leftovers: Vec<_> = std::fs::read_dir(std::env::temp_dir())
        .expect("tmp")
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with("wharf-load-"))
        .collect();
    assert!(leftovers.is_empty(), "load left its work dir behind");
}

fn inspect_json(root: &Path, name: &str) -> serde_json::Value {
    let run = wharf(root, &["image", "inspect", name]);
    assert!(run.ok, "{}", run.stderr);
    serde_json::from_str(&run.stdout).expect("inspect JSON")
}

/// Bytes of regular files and symlinks under `dir`, hard links once: what
/// `du --apparent-size` counts for files (it also counts directories).
fn file_bytes(dir: &Path) -> u64 {
    let out = sh(Command::new("find").arg(dir).args([
        "(", "-type", "f", "-o", "-type", "l", ")", "-printf", "%i %s\\n",
    ]));
    let mut seen = std::collections::HashSet::new();
    out.lines()
        .filter_map(|l| l.split_once(' '))
        .filter(|(ino, _)| seen.insert(ino.to_string()))
        .map(|(_, size)| size.parse::<u64>().expect("size"))
        .sum()
}

/// `du -sb` of the given paths together (apparent bytes, hard links once).
fn du_bytes(paths: &[PathBuf]) -> u64 {
    if paths.is_empty() {
        return 0;
    }
    let out = sh(Command::new("du")
        .args(["-cb", "--apparent-size"])
        .args(paths));
    out.lines()
        .last()
        .and_then(|l| l.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .expect("du total")
}

#[test]
fn pulled_layers_keep_no_compressed_blob_and_system_df_matches_du() {
    let Some(reg) = registry() else { return };
    let tmp = tempfile::Builder::new()
        .prefix("wharf-df")
        .tempdir()
        .expect("tmp");
    let root = tmp.path().join("root");
    let images: Vec<String> = ["redis", "busybox-zstd", "whiteout"]
        .iter()
        .map(|i| format!("{reg}/wharf-fixtures/{i}"))
        .collect();
    let mut args = vec!["pull"];
    args.extend(images.iter().map(String::as_str));
    let run = wharf(&root, &args);
    assert!(run.ok, "{}", run.stderr);

    // Only manifests and configs are left in blobs/; every layer can give
    // its tar back (tar split).
    let mut expected_blobs = std::collections::BTreeSet::new();
    for image in &images {
        let rec = &inspect_json(&root, image)[0];
        expected_blobs.insert(rec["manifest_digest"].as_str().expect("m").to_string());
        expected_blobs.insert(rec["config_digest"].as_str().expect("c").to_string());
        for l in rec["layers"].as_array().expect("layers") {
            let blob = l["blob_digest"].as_str().expect("blob");
            assert_eq!(l["blob_stored"], false, "{image}: inspect says {l}");
            let hex = blob.trim_start_matches("sha256:");
            assert!(
                !root.join("blobs/sha256").join(hex).exists(),
                "{image}: layer blob {blob} kept after unpacking"
            );
            let diff = l["diff_id"].as_str().expect("diff").replace(':', "-");
            let short =
                std::fs::read_to_string(root.join("layers/by-diff-id").join(diff)).expect("short");
            assert!(
                root.join("layers")
                    .join(short.trim())
                    .join("tar-split.gz")
                    .is_file(),
                "{image}: layer without tar split"
            );
        }
    }
    let stored: std::collections::BTreeSet<String> = std::fs::read_dir(root.join("blobs/sha256"))
        .expect("blobs")
        .map(|e| format!("sha256:{}", e.expect("e").file_name().to_string_lossy()))
        .collect();
    assert_eq!(stored, expected_blobs);

    // system df: exact bytes, checked against the files on disk.
    let df = wharf(&root, &["system", "df", "--format", "json"]);
    assert!(df.ok, "{}", df.stderr);
    let df: serde_json::Value = serde_json::from_str(&df.stdout).expect("df JSON");
    let blob_files: Vec<PathBuf> = std::fs::read_dir(root.join("blobs/sha256"))
        .expect("blobs")
        .map(|e| e.expect("e").path())
        .collect();
    assert_eq!(df["Blobs"]["Size"], du_bytes(&blob_files));
    assert_eq!(df["Blobs"]["TotalCount"], blob_files.len() as u64);
    let mut layer_bytes = 0;
    let mut layer_count = 0u64;
    for entry in std::fs::read_dir(root.join("layers")).expect("layers") {
        let dir = entry.expect("e").path();
        if dir.ends_with("by-diff-id") {
            continue;
        }
        layer_count += 1;
        layer_bytes += file_bytes(&dir.join("diff"));
        let meta: Vec<PathBuf> = ["tar-split.gz", "blobs.json"]
            .iter()
            .map(|f| dir.join(f))
            .filter(|p| p.exists())
            .collect();
        layer_bytes += du_bytes(&meta);
    }
    assert_eq!(df["Layers"]["TotalCount"], layer_count);
    assert_eq!(df["Layers"]["Size"], layer_bytes);
    // Disk use: the unpacked trees and little else (Docker keeps no
    // compressed copy either): manifests + configs + tar splits stay
    // under 2 % of the layers.
    let unpacked: u64 = df["Images"]["Size"].as_u64().expect("images size");
    let overhead = df["Blobs"]["Size"].as_u64().expect("b") + layer_bytes - unpacked;
    assert!(
        overhead * 50 < unpacked,
        "{overhead} bytes besides {unpacked} bytes of layers"
    );
    let table = wharf(&root, &["system", "df"]);
    assert!(
        table.ok && table.stdout.contains("Layers"),
        "{}",
        table.stdout
    );

    // rmi and prune still account for everything: nothing is left.
    for image in &images {
        assert!(wharf(&root, &["rmi", image]).ok);
    }
    let df = wharf(&root, &["system", "df", "--format", "json"]);
    let df: serde_json::Value = serde_json::from_str(&df.stdout).expect("df JSON");
    assert_eq!(df["Layers"]["TotalCount"], 0, "{df}");
    assert_eq!(df["Blobs"]["TotalCount"], 0, "{df}");
}

#[test]
fn push_rebuilds_dropped_layer_blobs_and_pulls_back_to_the_same_tree() {
    let Some(reg) = registry() else { return };
    let tmp = tempfile::Builder::new()
        .prefix("wharf-rebuild")
        .tempdir()
        .expect("tmp");
    let root = tmp.path().join("root");
    // Another name for the same registry: nothing the store knows about it,
    // so no blob can be mounted and every layer is made again from its tree.
    let port = reg.rsplit_once(':').map(|(_, p)| p).expect("host:port");
    let other = format!("localhost:{port}");
    for (n, image) in ["whiteout", "busybox-zstd"].iter().enumerate() {
        let src = format!("{reg}/wharf-fixtures/{image}");
        assert!(wharf(&root, &["pull", &src]).ok);
        let target = format!(
            "{other}/wharf-test/rebuilt-{image}-{}:v1",
            std::process::id()
        );
        assert!(wharf(&root, &["tag", &src, &target]).ok);
        let pushed = wharf(&root, &["push", &target]);
        assert!(pushed.ok, "{image}: {}", pushed.stderr);
        assert!(
            pushed.stderr.contains(": pushed"),
            "{image}: {}",
            pushed.stderr
        );
        let original = &inspect_json(&root, &src)[0];
        let root2 = tmp.path().join(format!("fresh-{n}"));
        let back = wharf(&root2, &["pull", &target]);
        assert!(back.ok, "{image}: {}", back.stderr);
        let pulled = &inspect_json(&root2, &target)[0];
        // Same config, so the same diff ids: the rebuilt tars are exact.
        assert_eq!(
            pulled["config_digest"], original["config_digest"],
            "{image}"
        );
        let diffs = |v: &serde_json::Value| -> Vec<String> {
            v["layers"]
                .as_array()
                .expect("layers")
                .iter()
                .map(|l| l["diff_id"].as_str().expect("d").to_string())
                .collect()
        };
        assert_eq!(diffs(pulled), diffs(original), "{image}");
        // New gzip blobs, so a new manifest.
        assert_ne!(pulled["manifest_digest"], original["manifest_digest"]);
        for l in pulled["layers"].as_array().expect("layers") {
            assert!(
                l["media_type"].as_str().expect("mt").ends_with("gzip"),
                "{l}"
            );
        }
        assert_same_tree(
            image,
            &image_tree(&root2, &target, &tmp.path().join(format!("mnt-b-{n}"))),
            &image_tree(&root, &src, &tmp.path().join(format!("mnt-a-{n}"))),
        );
        // Pushing again finds the blobs made last time: nothing to upload.
        let again = wharf(&root, &["push", &target]);
        assert!(again.ok, "{}", again.stderr);
        assert!(!again.stderr.contains(": pushed"), "{}", again.stderr);
    }
}

#[test]
fn pull_output_plain_quiet_and_on_a_terminal() {
    let Some(reg) = registry() else { return };
    let tmp = tempfile::Builder::new()
        .prefix("wharf-progress")
        .tempdir()
        .expect("tmp");
    let image = format!("{reg}/wharf-fixtures/busybox");
    let full = format!("{image}:latest");

    // Not a terminal: one line per layer event, the reference on stdout.
    let root = tmp.path().join("plain");
    let run = wharf(&root, &["pull", &image]);
    assert!(run.ok, "{}", run.stderr);
    let lines: Vec<&str> = run.stderr.lines().collect();
    assert!(
        lines[0].starts_with(&format!("{full}: resolved to sha256:")),
        "{}",
        run.stderr
    );
    assert!(
        lines.iter().any(|l| l.ends_with(": downloaded")),
        "{}",
        run.stderr
    );
    assert!(
        lines.iter().any(|l| l.ends_with(": extracted")),
        "{}",
        run.stderr
    );
    assert!(lines
        .last()
        .is_some_and(|l| l.starts_with(&format!("{full}: pulled sha256:"))));
    assert_eq!(run.stdout, format!("{full}\n"));
    // Again: the layer is there.
    let again = wharf(&root, &["pull", &image]);
    assert!(
        again.stderr.contains(": already exists"),
        "{}",
        again.stderr
    );

    // -q: nothing but the reference.
    let quiet = wharf(&tmp.path().join("quiet"), &["pull", "-q", &image]);
    assert!(quiet.ok);
    assert_eq!(quiet.stderr, "");
    assert_eq!(quiet.stdout, format!("{full}\n"));
    let bad = wharf(
        &tmp.path().join("quiet"),
        &["pull", "-q", &format!("{reg}/wharf-fixtures/nope")],
    );
    assert!(!bad.ok);
    assert!(bad.stderr.contains("not found"), "{}", bad.stderr);

    // A terminal (a pty from script(1)): bars, ending with the layer's
    // "Pull complete" and the image's "Pulled".
    let root = tmp.path().join("tty");
    let cmd = format!(
        "{} --root {} pull {image}",
        env!("CARGO_BIN_EXE_wharf"),
        root.display()
    );
    let out = Command::new("script")
        .args(["-qec", &cmd, "/dev/null"])
        .env("HOME", &root)
        .env("TERM", "xterm")
        .output()
        .expect("script");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("Pull complete"), "{text}");
    assert!(text.contains(&format!("{full}: Pulled")), "{text}");
    assert!(!text.contains("panicked"), "{text}");
    assert!(!inspect_json(&root, &image)[0].is_null());
}

/// A TCP proxy that logs every HTTP request line (method and path) it
/// forwards, to see what a client asked of the registry behind it.
struct RequestLog {
    addr: String,
    lines: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

fn request_log(upstream: &str) -> RequestLog {
    use std::io::{BufRead, BufReader, Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    let lines = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let (log, upstream) = (lines.clone(), upstream.to_string());
    // Threads end with the test process; they only ever touch loopback.
    std::thread::spawn(move || {
        for client in listener.incoming() {
            let Ok(client) = client else { continue };
            let Ok(server) = std::net::TcpStream::connect(&upstream) else {
                continue;
            };
            let (mut c_w, mut s_r) = (
                client.try_clone().expect("clone"),
                server.try_clone().expect("clone"),
            );
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut s_r, &mut c_w);
                let _ = c_w.shutdown(std::net::Shutdown::Both);
            });
            let log = log.clone();
            std::thread::spawn(move || {
                let mut r = BufReader::new(client);
                let mut w = server;
                loop {
                    let mut line = String::new();
                    if r.read_line(&mut line).unwrap_or(0) == 0 {
                        break;
                    }
                    log.lock().expect("log").push(line.trim_end().to_string());
                    let mut head = line;
                    let mut len = 0usize;
                    loop {
                        let mut h = String::new();
                        if r.read_line(&mut h).unwrap_or(0) == 0 {
                            return;
                        }
                        if let Some((k, v)) = h.split_once(':') {
                            if k.eq_ignore_ascii_case("content-length") {
                                len = v.trim().parse().unwrap_or(0);
                            }
                        }
                        head.push_str(&h);
                        if h == "\r\n" {
                            break;
                        }
                    }
                    let mut body = vec![0u8; len];
                    if r.read_exact(&mut body).is_err() {
                        return;
                    }
                    if w.write_all(head.as_bytes())
                        .and_then(|()| w.write_all(&body))
                        .is_err()
                    {
                        return;
                    }
                }
                let _ = w.shutdown(std::net::Shutdown::Write);
            });
        }
    });
    RequestLog { addr, lines }
}

#[test]
fn push_to_another_repository_mounts_blobs_instead_of_uploading() {
    let Some(reg) = registry() else { return };
    let tmp = tempfile::Builder::new()
        .prefix("wharf-mount")
        .tempdir()
        .expect("tmp");
    let root = tmp.path().join("root");
    let proxy = request_log(&reg);
    let src = format!("{}/wharf-fixtures/whiteout", proxy.addr);
    let pulled = wharf(&root, &["pull", &src]);
    assert!(pulled.ok, "{}", pulled.stderr);
    let target = format!("{}/wharf-test/mounted-{}:1", proxy.addr, std::process::id());
    assert!(wharf(&root, &["tag", &src, &target]).ok);
    proxy.lines.lock().expect("log").clear();
    let pushed = wharf(&root, &["push", &target]);
    assert!(pushed.ok, "{}", pushed.stderr);
    let requests = proxy.lines.lock().expect("log").clone();
    let uploads: Vec<&String> = requests
        .iter()
        .filter(|l| {
            (l.starts_with("PATCH ") || l.starts_with("PUT ")) && l.contains("/blobs/uploads/")
        })
        .collect();
    assert!(uploads.is_empty(), "blob data was uploaded: {requests:#?}");
    let mounts = requests
        .iter()
        .filter(|l| {
            l.starts_with("POST ")
                && l.contains("mount=sha256")
                && l.contains("from=wharf-fixtures%2Fwhiteout")
        })
        .count();
    // Both layers and the config.
    assert_eq!(mounts, 3, "{requests:#?}");
    assert_eq!(
        pushed.stderr.matches("mounted from").count(),
        3,
        "{}",
        pushed.stderr
    );
    // Nothing changed, so the manifest was pushed as it was.
    let original = &inspect_json(&root, &src)[0];
    assert!(
        pushed
            .stdout
            .contains(original["manifest_digest"].as_str().expect("digest")),
        "{}",
        pushed.stdout
    );
    let root2 = tmp.path().join("root2");
    let direct = format!("{reg}/wharf-test/mounted-{}:1", std::process::id());
    let back = wharf(&root2, &["pull", &direct]);
    assert!(back.ok, "{}", back.stderr);
    assert_eq!(
        inspect_json(&root2, &direct)[0]["manifest_digest"],
        original["manifest_digest"]
    );
}

#[test]
fn compose_pull_pulls_each_image_once_and_names_the_failing_service() {
    let Some(reg) = registry() else { return };
    let tmp = tempfile::Builder::new()
        .prefix("wharf-compose-pull")
        .tempdir()
        .expect("tmp");
    let root = tmp.path().join("root");
    let compose = tmp.path().join("compose.yaml");
    let busybox = format!("{reg}/wharf-fixtures/busybox");
    let bad = format!("{reg}/wharf-fixtures/no-such-image");
    std::fs::write(
        &compose,
        format!(
            "services:\n  web:\n    image: {busybox}\n  worker:\n    image: {busybox}\n  \
             app:\n    image: example.invalid/app:dev\n    pull_policy: build\n    build: .\n  \
             broken:\n    image: {bad}\n"
        ),
    )
    .expect("write compose");
    let file = compose.to_str().expect("utf8");
    let run = wharf(&root, &["-f", file, "-p", "pulltest", "pull"]);
    assert!(!run.ok, "the unpullable image must fail the pull");
    let err = &run.stderr;
    assert!(
        err.contains(" web Pulling") && err.contains(" web Pulled"),
        "{err}"
    );
    assert!(
        err.contains(" worker Skipped - Image is already being pulled by web"),
        "{err}"
    );
    assert!(err.contains(" app Skipped"), "{err}");
    assert!(
        !err.contains("example.invalid"),
        "a build image was pulled: {err}"
    );
    assert!(err.contains(" broken Error"), "{err}");
    assert!(
        err.contains(&format!("service broken: pulling {bad}")) && err.contains("not found"),
        "{err}"
    );
    // Pulled once, recorded once.
    assert_eq!(err.matches(" Pulling").count(), 2, "{err}");
    assert!(!inspect_json(&root, &busybox)[0].is_null());

    let root2 = tmp.path().join("root2");
    let ignored = wharf(
        &root2,
        &[
            "-f",
            file,
            "-p",
            "pulltest",
            "pull",
            "--ignore-pull-failures",
        ],
    );
    assert!(ignored.ok, "{}", ignored.stderr);
    assert!(
        ignored.stderr.contains("service broken"),
        "{}",
        ignored.stderr
    );
    assert!(!inspect_json(&root2, &busybox)[0].is_null());
}

#[test]
fn token_auth_registry_needs_login_for_pull_and_push() {
    let Some(reg) = registry() else { return };
    let Ok(tok) = std::env::var("WHARF_TEST_REGISTRY_TOKEN") else {
        eprintln!(
            "SKIPPED: WHARF_TEST_REGISTRY_TOKEN is not set (run through scripts/with-registry)"
        );
        return;
    };
    let tmp = tempfile::Builder::new()
        .prefix("wharf-token")
        .tempdir()
        .expect("tmp");
    let root = tmp.path().join("root");
    let src = format!("{reg}/wharf-fixtures/busybox");
    assert!(wharf(&root, &["pull", &src]).ok);
    let private = format!("{tok}/wharf-test/private-{}:v1", std::process::id());
    assert!(wharf(&root, &["tag", &src, &private]).ok);

    // Anonymous: the token server grants nothing, the registry says 401.
    let denied = wharf(&root, &["push", &private]);
    assert!(!denied.ok);
    assert!(
        denied.stderr.contains(&format!(
            "unauthorized: authentication required for {tok}/wharf-test/private-"
        )) && denied.stderr.contains("run wharf login"),
        "{}",
        denied.stderr
    );
    let wrong = wharf(&root, &["login", &tok, "-u", "wharf", "--password", "nope"]);
    assert!(!wrong.ok);
    assert!(
        wrong
            .stderr
            .contains(&format!("{tok} rejected the credentials")),
        "{}",
        wrong.stderr
    );
    let config = root.join(".docker/config.json");
    assert!(
        !std::fs::read_to_string(&config)
            .unwrap_or_default()
            .contains(&tok),
        "a rejected login was stored"
    );
    let ok = wharf(
        &root,
        &["login", &tok, "-u", "wharf", "--password", "wharf-secret"],
    );
    assert!(
        ok.ok && ok.stdout.contains("Login Succeeded"),
        "{}",
        ok.stderr
    );
    let pushed = wharf(&root, &["push", &private]);
    assert!(pushed.ok, "{}", pushed.stderr);

    // Another user (another HOME) without login cannot pull it…
    let root2 = tmp.path().join("root2");
    let anon = wharf(&root2, &["pull", &private]);
    assert!(!anon.ok);
    assert!(
        anon.stderr
            .contains("unauthorized: authentication required")
            && anon.stderr.contains("run wharf login"),
        "{}",
        anon.stderr
    );
    // …and can after logging in.
    assert!(
        wharf(
            &root2,
            &["login", &tok, "-u", "wharf", "--password", "wharf-secret"]
        )
        .ok
    );
    let pulled = wharf(&root2, &["pull", &private]);
    assert!(pulled.ok, "{}", pulled.stderr);
    assert_eq!(
        inspect_json(&root2, &private)[0]["config_digest"],
        inspect_json(&root, &src)[0]["config_digest"]
    );
}

/// Every file below `dir` with its bytes, for "nothing here was touched".
fn snapshot(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    for e in std::fs::read_dir(dir).expect("read_dir") {
        let p = e.expect("entry").path();
        let name = p.file_name().expect("name").to_string_lossy().into_owned();
        if p.is_dir() {
            for (k, v) in snapshot(&p) {
                out.insert(format!("{name}/{k}"), v);
            }
        } else {
            out.insert(name, std::fs::read(&p).expect("read"));
        }
    }
    out
}

#[test]
fn load_refuses_hostile_archives_and_touches_nothing_outside_the_store() {
    // No registry needed: the archives are made here.
    let tmp = tempfile::Builder::new()
        .prefix("wharf-load-hostile")
        .tempdir()
        .expect("tmp");
    let here = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let victim = tmp.path().join("victim");
    std::fs::create_dir(&victim).expect("mkdir");
    std::fs::write(victim.join("keep"), "untouched").expect("write");
    let make = |kind: &str| -> PathBuf {
        let out = tmp.path().join(format!("{kind}.tar"));
        sh(Command::new("python3")
            .arg(here.join("tests/data/hostile-archive.py"))
            .arg(kind)
            .arg(&out)
            .arg(&victim));
        out
    };
    let root = tmp.path().join("root");
    // A guard against a hang (a FIFO read as a layer), not a timing.
    let load = |archive: &Path| -> Run {
        let out = Command::new("timeout")
            .arg("120")
            .arg(env!("CARGO_BIN_EXE_wharf"))
            .arg("--root")
            .arg(&root)
            .args(["load", "-i"])
            .arg(archive)
            .env("HOME", &root)
            .output()
            .expect("run wharf");
        Run {
            ok: out.status.success(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    };
    for (kind, says) in [
        ("blobs-link", "blobs/sha256 is a symlink"),
        (
            "config-link",
            "config.json: a symlink or `..` leads out of the tree",
        ),
        (
            "layer-link",
            "layer/layer.tar: a symlink or `..` leads out of the tree",
        ),
        ("layer-fifo", "layer/layer.tar: not a regular file"),
    ] {
        let archive = make(kind);
        let before = snapshot(&victim);
        let r = load(&archive);
        assert!(!r.ok, "{kind}: loaded\n{}", r.stdout);
        assert!(r.stderr.contains(says), "{kind}: {}", r.stderr);
        assert_eq!(snapshot(&victim), before, "{kind} touched the victim dir");
        assert_eq!(
            std::fs::read_dir(root.join("tmp")).expect("tmp").count(),
            0,
            "{kind} left litter in tmp/"
        );
        let images = wharf(&root, &["images", "-q"]);
        assert!(images.stdout.trim().is_empty(), "{kind}: {}", images.stdout);
    }

    // A directory another user prepared where wharf used to extract
    // (`$TMPDIR/wharf-load-<pid>`, here a symlink to the victim; `exec`
    // keeps the shell's pid): the load neither uses nor follows it.
    let fake_tmp = tmp.path().join("fake-tmp");
    std::fs::create_dir(&fake_tmp).expect("mkdir");
    let archive = make("ok");
    let before = snapshot(&victim);
    let out = Command::new("sh")
        .arg("-c")
        .arg(r#"ln -s "$VICTIM" "$TMPDIR/wharf-load-$$" && exec "$@""#)
        .arg("sh")
        .arg(env!("CARGO_BIN_EXE_wharf"))
        .arg("--root")
        .arg(&root)
        .args(["load", "-i"])
        .arg(&archive)
        .env("TMPDIR", &fake_tmp)
        .env("VICTIM", &victim)
        .env("HOME", &root)
        .output()
        .expect("run wharf");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("Loaded image: hostile/test:ok"),
        "{stderr}"
    );
    assert_eq!(snapshot(&victim), before, "the prepared dir was used");
    assert_eq!(std::fs::read_dir(&fake_tmp).expect("fake tmp").count(), 1);
    assert_eq!(
        std::fs::read_dir(root.join("tmp")).expect("tmp").count(),
        0,
        "litter in tmp/"
    );
}

/// Bytes of the regular files below `dir`.
fn tree_bytes(dir: &Path) -> u64 {
    let mut total = 0;
    for e in std::fs::read_dir(dir).expect("read_dir") {
        let e = e.expect("entry");
        let meta = e.metadata().expect("stat");
        if meta.is_dir() {
            total += tree_bytes(&e.path());
        } else {
            total += meta.len();
        }
    }
    total
}

/// tests/data/fault-registry.py on a loopback port; killed when dropped.
struct FaultRegistry {
    server: std::process::Child,
    address: String,
}

impl FaultRegistry {
    fn start() -> FaultRegistry {
        use std::io::BufRead;
        let here = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        let mut server = Command::new("python3")
            .arg(here.join("tests/data/fault-registry.py"))
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("fault registry");
        let mut port = String::new();
        std::io::BufReader::new(server.stdout.take().expect("stdout"))
            .read_line(&mut port)
            .expect("port");
        FaultRegistry {
            server,
            address: format!("127.0.0.1:{}", port.trim()),
        }
    }
}

impl Drop for FaultRegistry {
    fn drop(&mut self) {
        let _ = self.server.kill();
        let _ = self.server.wait();
    }
}

/// `wharf --root ROOT pull IMAGE` under `ulimit -v KIB`.
fn pull_under_memory_cap(root: &Path, kib: u64, image: &str) -> std::process::Output {
    Command::new("sh")
        .arg("-c")
        .arg(format!("ulimit -v {kib} && exec \"$@\""))
        .arg("sh")
        .arg(env!("CARGO_BIN_EXE_wharf"))
        .arg("--root")
        .arg(root)
        .args(["pull", image])
        .env("HOME", root)
        // Thread stacks count against `ulimit -v`: as many on every machine.
        .env("TOKIO_WORKER_THREADS", "2")
        .output()
        .expect("run wharf")
}

#[test]
fn a_registry_sending_more_than_the_descriptor_says_fails_before_filling_the_disk() {
    let tmp = tempfile::Builder::new()
        .prefix("wharf-bomb")
        .tempdir()
        .expect("tmp");
    let server = FaultRegistry::start();
    let registry = server.address.clone();
    let root = tmp.path().join("root");
    let mut results = Vec::new();
    for (repo, says) in [
        (
            "endless-layer",
            "longer than the 10240 bytes its descriptor says",
        ),
        ("endless-config", "bytes its descriptor says"),
        (
            "huge-config",
            "1073741824 bytes, more than the 8388608 allowed",
        ),
    ] {
        // Under a memory cap: nothing of the stream is held in memory.
        let image = format!("{registry}/faults/{repo}:latest");
        let out = pull_under_memory_cap(&root, 4 << 20, &image);
        results.push((repo, says, out));
    }
    drop(server);
    for (repo, says, out) in results {
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{repo}: pulled");
        assert!(stderr.contains(says), "{repo}: {stderr}");
        assert_eq!(
            std::fs::read_dir(root.join("tmp")).expect("tmp").count(),
            0,
            "{repo}: litter in tmp/"
        );
    }
    // The server streams 256 MiB per blob; what stayed is a manifest or two.
    let kept = tree_bytes(&root);
    assert!(kept < 1 << 20, "{kept} bytes in the store");
}

/// A layer that is honest (digest and size right) but mostly what a tar
/// split must record: 32 MiB of incompressible directory payload and as
/// much after the end-of-archive blocks. Under a memory cap that the split
/// held in memory does not fit in, it is pulled: the split spills to an
/// unnamed file. The split is kept (it rebuilds the layer) and `tmp/` is
/// left clean. (Before the spill, wharf aborted here on a failed
/// allocation and left its temp blob and layer in `tmp/`.)
#[test]
fn a_layer_whose_tar_split_is_huge_is_pulled_with_bounded_memory() {
    let tmp = tempfile::Builder::new()
        .prefix("wharf-split-bomb")
        .tempdir()
        .expect("tmp");
    let server = FaultRegistry::start();
    let root = tmp.path().join("root");
    let image = format!("{}/faults/split-bomb:latest", server.address);
    let out = pull_under_memory_cap(&root, SPLIT_BOMB_VM_KIB, &image);
    drop(server);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(
        std::fs::read_dir(root.join("tmp")).expect("tmp").count(),
        0,
        "litter in tmp/"
    );
    let splits: Vec<u64> = std::fs::read_dir(root.join("layers"))
        .expect("layers")
        .flatten()
        .filter_map(|e| std::fs::metadata(e.path().join("tar-split.gz")).ok())
        .map(|m| m.len())
        .collect();
    assert_eq!(splits.len(), 1, "{splits:?}");
    assert!(splits[0] > 64 << 20, "a split of {} bytes", splits[0]);
}

/// `ulimit -v` for the split bomb, in KiB: what `wharf pull` maps for its
/// code, heap and two workers' stacks (under 80 MiB, debug build) with room
/// to work, but not for the 64 MiB split besides.
const SPLIT_BOMB_VM_KIB: u64 = 112 << 10;
