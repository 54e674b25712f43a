//! COPY/ADD without a container: the sources are staged into a fresh tree
//! laid out as the destination will be in the image (parent directories
//! carrying the metadata they already have below, so the layer does not
//! change them), which then becomes the layer. Also the content hash of a
//! staged tree (the COPY part of a cache key) and the RUN request the
//! runtime side executes.

use crate::build::tree::{components, MergedView};
use crate::image::digest::{Algorithm, Digest, Hasher};
use std::ffi::{OsStr, OsString};
use std::fs;
use std::io::{self, Read};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum StepError {
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{instruction}: source {source_path:?} not found in {place}")]
    MissingSource {
        instruction: &'static str,
        source_path: String,
        place: String,
    },
    #[error("{instruction}: when copying several sources, the destination {dest:?} must be a directory and end with a /")]
    DestNotDir {
        instruction: &'static str,
        dest: String,
    },
}

fn io_err<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> StepError + 'a {
    move |source| StepError::Io {
        op,
        path: path.to_path_buf(),
        source,
    }
}

type Result<T> = std::result::Result<T, StepError>;

/// Where a COPY reads: the context on the host, or another stage's (or
/// image's) layers.
pub enum SourceRoot<'a> {
    Host(&'a Path),
    Layers(&'a MergedView),
}

impl SourceRoot<'_> {
    fn host_path(&self, rel: &Path) -> Option<PathBuf> {
        match self {
            SourceRoot::Host(root) => {
                let p = root.join(rel);
                fs::symlink_metadata(&p).ok().map(|_| p)
            }
            SourceRoot::Layers(view) => view.lookup(&rel.to_string_lossy()),
        }
    }

    fn list(&self, rel: &Path) -> io::Result<Vec<OsString>> {
        match self {
            SourceRoot::Host(root) => {
                let mut names: Vec<OsString> = fs::read_dir(root.join(rel))?
                    .map(|e| e.map(|e| e.file_name()))
                    .collect::<io::Result<_>>()?;
                names.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
                Ok(names)
            }
            SourceRoot::Layers(view) => view.read_dir(&rel.to_string_lossy()),
        }
    }
}

/// One source of a COPY: a path relative to its root.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CopySource {
    pub rel: PathBuf,
    /// `COPY --parents`: the path the source gets below the destination
    /// (see [`parents_path`]); `None`: only its name is kept.
    pub below_dest: Option<PathBuf>,
}

/// `COPY --parents` (BuildKit's): a matched source keeps its path below the
/// destination — relative to the root, or to the `/./` pivot written in the
/// source (`./src/./app/main.go` keeps `app/main.go`).
pub fn parents_path(written: &str, matched: &Path) -> PathBuf {
    let written = written.strip_prefix("./").unwrap_or(written);
    if let Some(i) = written.find("/./") {
        let pivot: PathBuf = components(&written[..i]).iter().collect();
        if let Ok(rest) = matched.strip_prefix(&pivot) {
            return rest.to_path_buf();
        }
    }
    matched.to_path_buf()
}

/// A COPY/ADD after its words are expanded and its sources resolved.
pub struct CopyPlan<'a> {
    pub instruction: &'static str,
    pub root: SourceRoot<'a>,
    pub sources: Vec<CopySource>,
    /// Absolute path in the image (WORKDIR applied), as written: a trailing
    /// `/` says "a directory".
    pub dest: String,
    /// `--chown` resolved to numbers; `None`: 0:0 from the context, the
    /// owners kept from a stage.
    pub chown: Option<(u32, u32)>,
    pub chmod: Option<u32>,
    /// Clamp mtimes (SOURCE_DATE_EPOCH).
    pub epoch: Option<u64>,
    /// ADD: local tar archives (plain, gzip, zstd) are extracted into the
    /// destination directory instead of copied.
    pub extract_archives: bool,
    /// From the context: the paths .dockerignore lets through (relative to
    /// the root); entries of a copied directory not in it are left out.
    pub included: Option<std::collections::HashSet<PathBuf>>,
}

/// Creates `path` in the staging tree with the metadata the image already
/// has there, or 0755 root for a new directory.
fn stage_dir(
    staging: &Path,
    rel: &Path,
    lower: &MergedView,
    owner: Option<(u32, u32)>,
) -> Result<()> {
    let p = staging.join(rel);
    if p.is_dir() {
        return Ok(());
    }
    fs::create_dir(&p).map_err(io_err("creating", &p))?;
    let existing = lower
        .metadata(&rel.to_string_lossy())
        .filter(|m| m.is_dir());
    let (mode, uid, gid, mtime) = match &existing {
        Some(m) => (m.mode() & 0o7777, m.uid(), m.gid(), Some(m.mtime())),
        None => {
            let (u, g) = owner.unwrap_or((0, 0));
            (0o755, u, g, None)
        }
    };
    std::os::unix::fs::lchown(&p, Some(uid), Some(gid)).map_err(io_err("chown", &p))?;
    fs::set_permissions(&p, fs::Permissions::from_mode(mode)).map_err(io_err("chmod", &p))?;
    if let Some(t) = mtime {
        set_mtime(&p, t)?;
    }
    Ok(())
}

fn set_mtime(p: &Path, secs: i64) -> Result<()> {
    let t = nix::sys::time::TimeSpec::new(secs, 0);
    nix::sys::stat::utimensat(
        nix::fcntl::AT_FDCWD,
        p,
        &t,
        &t,
        nix::sys::stat::UtimensatFlags::NoFollowSymlink,
    )
    .map_err(|e| StepError::Io {
        op: "setting the mtime of",
        path: p.to_path_buf(),
        source: io::Error::from(e),
    })
}

/// Whether the destination names a directory: it ends with `/`, or it is
/// one in the image already.
pub fn dest_is_dir(dest: &str, lower: &MergedView) -> bool {
    dest.ends_with('/') || dest.ends_with("/.") || lower.is_dir(dest)
}

/// Stages the COPY into `staging` (an empty directory).
pub fn stage_copy(plan: &CopyPlan<'_>, lower: &MergedView, staging: &Path) -> Result<()> {
    // Only wildcards that matched nothing leave no source: BuildKit then copies
    // nothing and does not make the destination either.
    if plan.sources.is_empty() {
        return Ok(());
    }
    let dest_comps = components(&plan.dest);
    let dest_rel: PathBuf = dest_comps.iter().collect();
    let parents_kept = plan.sources.iter().any(|s| s.below_dest.is_some());
    let into_dir = dest_is_dir(&plan.dest, lower) || plan.sources.len() > 1 || parents_kept;
    if plan.sources.len() > 1 && !(plan.dest.ends_with('/') || lower.is_dir(&plan.dest)) {
        return Err(StepError::DestNotDir {
            instruction: plan.instruction,
            dest: plan.dest.clone(),
        });
    }
    // Parents of the destination (and the destination directory itself).
    let mut rel = PathBuf::new();
    let parents = if into_dir {
        dest_comps.len()
    } else {
        dest_comps.len().saturating_sub(1)
    };
    for c in &dest_comps[..parents] {
        rel.push(c);
        stage_dir(staging, &rel, lower, plan.chown)?;
    }
    for src in &plan.sources {
        let host = plan
            .root
            .host_path(&src.rel)
            .ok_or_else(|| StepError::MissingSource {
                instruction: plan.instruction,
                source_path: src.rel.to_string_lossy().into_owned(),
                place: match plan.root {
                    SourceRoot::Host(p) => format!("the build context {}", p.display()),
                    SourceRoot::Layers(_) => "the source stage".to_string(),
                },
            })?;
        // A source symlink itself is followed, as Docker does for COPY's arguments.
        let meta = fs::metadata(&host).map_err(io_err("reading", &host))?;
        if let Some(below) = &src.below_dest {
            // --parents: the directories between the destination and the
            // source are made as new directories are (or kept as they are).
            let target = dest_rel.join(below);
            let mut rel = dest_rel.clone();
            let parent_comps: Vec<_> = below
                .parent()
                .map(|p| p.components().collect())
                .unwrap_or_default();
            for c in parent_comps {
                rel.push(c);
                stage_dir(staging, &rel, lower, plan.chown)?;
            }
            if meta.is_dir() {
                if !below.as_os_str().is_empty() {
                    stage_dir(staging, &target, lower, plan.chown)?;
                }
                copy_dir_contents(plan, &src.rel, &target, staging)?;
            } else {
                copy_entry(plan, &host, &meta, &staging.join(&target))?;
            }
            continue;
        }
        if meta.is_dir() {
            let target = dest_rel.clone();
            if !target.as_os_str().is_empty() {
                stage_dir(staging, &target, lower, plan.chown)?;
            }
            copy_dir_contents(plan, &src.rel, &target, staging)?;
        } else {
            let name = src
                .rel
                .file_name()
                .map(OsStr::to_os_string)
                .unwrap_or_default();
            if plan.extract_archives && meta.is_file() {
                if let Some(tar) = open_archive(&host)? {
                    // An archive always unpacks into a directory.
                    let mut rel = PathBuf::new();
                    for c in &dest_comps[parents..] {
                        rel.push(c);
                        stage_dir(staging, &rel, lower, plan.chown)?;
                    }
                    let dir = staging.join(&dest_rel);
                    let fd = nix::fcntl::open(
                        &dir,
                        nix::fcntl::OFlag::O_DIRECTORY | nix::fcntl::OFlag::O_CLOEXEC,
                        nix::sys::stat::Mode::empty(),
                    )
                    .map_err(|e| StepError::Io {
                        op: "opening",
                        path: dir.clone(),
                        source: io::Error::from(e),
                    })?;
                    let opts = crate::image::unpack::UnpackOptions {
                        allow_devices: true,
                        preserve_owners: true,
                    };
                    crate::image::unpack::extract_at(tar, fd, &opts).map_err(|e| {
                        StepError::Io {
                            op: "extracting",
                            path: host.clone(),
                            source: io::Error::other(e.to_string()),
                        }
                    })?;
                    continue;
                }
            }
            let target = if into_dir {
                dest_rel.join(name)
            } else {
                dest_rel.clone()
            };
            copy_entry(plan, &host, &meta, &staging.join(&target))?;
        }
    }
    Ok(())
}

/// A reader of the tar inside `path` if it is a tar archive (plain, gzip or
/// zstd), as ADD recognizes them; `None` for any other file.
fn open_archive(path: &Path) -> Result<Option<Box<dyn Read>>> {
    let open = || fs::File::open(path).map_err(io_err("reading", path));
    let mut head = Vec::with_capacity(512);
    open()?
        .take(512)
        .read_to_end(&mut head)
        .map_err(io_err("reading", path))?;
    let (media_type, compressed) = if head.starts_with(&[0x1f, 0x8b]) {
        (crate::image::unpack::OCI_LAYER_GZIP, true)
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        (crate::image::unpack::OCI_LAYER_ZSTD, true)
    } else {
        (crate::image::unpack::OCI_LAYER_TAR, false)
    };
    // A tar has "ustar" at offset 257 of its first header.
    let is_tar = |block: &[u8]| block.len() >= 262 && &block[257..262] == b"ustar";
    if compressed {
        let Ok(mut r) = crate::image::unpack::decompress(media_type, open()?) else {
            return Ok(None);
        };
        let mut block = Vec::with_capacity(512);
        if (&mut r).take(512).read_to_end(&mut block).is_err() || !is_tar(&block) {
            return Ok(None);
        }
    } else if !is_tar(&head) {
        return Ok(None);
    }
    crate::image::unpack::decompress(media_type, open()?)
        .map(Some)
        .map_err(|e| StepError::Io {
            op: "reading",
            path: path.to_path_buf(),
            source: io::Error::other(e.to_string()),
        })
}

fn copy_dir_contents(
    plan: &CopyPlan<'_>,
    src_rel: &Path,
    dst_rel: &Path,
    staging: &Path,
) -> Result<()> {
    let names = plan
        .root
        .list(src_rel)
        .map_err(io_err("listing", src_rel))?;
    for n in names {
        let s = src_rel.join(&n);
        if plan.included.as_ref().is_some_and(|inc| !inc.contains(&s)) {
            continue;
        }
        let d = dst_rel.join(&n);
        let Some(host) = plan.root.host_path(&s) else {
            continue;
        };
        let meta = fs::symlink_metadata(&host).map_err(io_err("reading", &host))?;
        let out = staging.join(&d);
        if meta.is_dir() {
            if !out.is_dir() {
                fs::create_dir(&out).map_err(io_err("creating", &out))?;
            }
            copy_dir_contents(plan, &s, &d, staging)?;
            apply_meta(plan, &meta, &out)?;
        } else {
            copy_entry(plan, &host, &meta, &out)?;
        }
    }
    Ok(())
}

fn copy_entry(plan: &CopyPlan<'_>, host: &Path, meta: &fs::Metadata, out: &Path) -> Result<()> {
    if out.exists() || fs::symlink_metadata(out).is_ok() {
        if out.is_dir() && !meta.is_dir() {
            crate::image::unpack::remove_tree(out).map_err(|e| StepError::Io {
                op: "replacing",
                path: out.to_path_buf(),
                source: io::Error::other(e.to_string()),
            })?;
        } else if !out.is_dir() {
            fs::remove_file(out).map_err(io_err("replacing", out))?;
        }
    }
    let ft = meta.file_type();
    if ft.is_symlink() {
        let target = fs::read_link(host).map_err(io_err("reading", host))?;
        std::os::unix::fs::symlink(&target, out).map_err(io_err("creating", out))?;
    } else if ft.is_file() {
        fs::copy(host, out).map_err(io_err("copying", host))?;
    } else if ft.is_dir() {
        fs::create_dir_all(out).map_err(io_err("creating", out))?;
    } else {
        // Devices, FIFOs and sockets in a context are not copied (Docker
        // refuses sockets; devices need a stage, not a context).
        return Ok(());
    }
    apply_meta(plan, meta, out)
}

/// Owner, mode and mtime of a copied entry.
fn apply_meta(plan: &CopyPlan<'_>, meta: &fs::Metadata, out: &Path) -> Result<()> {
    let (uid, gid) = match (plan.chown, &plan.root) {
        (Some(o), _) => o,
        (None, SourceRoot::Host(_)) => (0, 0),
        (None, SourceRoot::Layers(_)) => (meta.uid(), meta.gid()),
    };
    std::os::unix::fs::lchown(out, Some(uid), Some(gid)).map_err(io_err("chown", out))?;
    if !meta.file_type().is_symlink() {
        let mode = plan.chmod.unwrap_or(meta.mode() & 0o7777);
        fs::set_permissions(out, fs::Permissions::from_mode(mode)).map_err(io_err("chmod", out))?;
    }
    let mtime = meta.mtime();
    let mtime = match plan.epoch {
        Some(e) => mtime.min(e as i64),
        None => mtime,
    };
    set_mtime(out, mtime)
}

/// sha256 over every entry of `dir`: path, type, mode, owner, size,
/// content and link target — not mtimes, so touching a file without
/// changing it keeps the cache.
pub fn tree_hash(dir: &Path) -> Result<Digest> {
    let mut h = Hasher::new(Algorithm::Sha256);
    hash_dir(dir, Path::new(""), &mut h)?;
    Ok(h.finish())
}

fn hash_dir(dir: &Path, rel: &Path, h: &mut Hasher) -> Result<()> {
    let mut names: Vec<OsString> = fs::read_dir(dir)
        .map_err(io_err("listing", dir))?
        .map(|e| e.map(|e| e.file_name()))
        .collect::<io::Result<_>>()
        .map_err(io_err("listing", dir))?;
    names.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
    for n in names {
        let p = dir.join(&n);
        let r = rel.join(&n);
        let m = fs::symlink_metadata(&p).map_err(io_err("reading", &p))?;
        h.update(r.as_os_str().as_bytes());
        h.update(format!("\0{:o}\0{}\0{}\0{}\0", m.mode(), m.uid(), m.gid(), m.len()).as_bytes());
        if m.file_type().is_symlink() {
            let t = fs::read_link(&p).map_err(io_err("reading", &p))?;
            h.update(t.as_os_str().as_bytes());
        } else if m.is_file() {
            let mut f = fs::File::open(&p).map_err(io_err("reading", &p))?;
            let mut buf = vec![0u8; 64 << 10];
            loop {
                let n = f.read(&mut buf).map_err(io_err("reading", &p))?;
                if n == 0 {
                    break;
                }
                h.update(&buf[..n]);
            }
        }
        h.update(b"\n");
        if m.is_dir() {
            hash_dir(&p, &r, h)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn is_root() -> bool {
        nix::unistd::geteuid().is_root()
    }

    fn plan<'a>(root: &'a Path, sources: &[&str], dest: &str) -> CopyPlan<'a> {
        CopyPlan {
            instruction: "COPY",
            root: SourceRoot::Host(root),
            sources: sources
                .iter()
                .map(|s| CopySource {
                    rel: PathBuf::from(s),
                    below_dest: None,
                })
                .collect(),
            dest: dest.to_string(),
            chown: None,
            chmod: None,
            epoch: None,
            extract_archives: false,
            included: None,
        }
    }

    fn listing(dir: &Path) -> Vec<String> {
        let mut out = Vec::new();
        let mut stack = vec![PathBuf::new()];
        while let Some(rel) = stack.pop() {
            for e in fs::read_dir(dir.join(&rel)).expect("ls") {
                let e = e.expect("e");
                let r = rel.join(e.file_name());
                let m = fs::symlink_metadata(e.path()).expect("m");
                out.push(format!(
                    "{}{} {:o} {}:{}",
                    r.display(),
                    if m.is_dir() { "/" } else { "" },
                    m.mode() & 0o7777,
                    m.uid(),
                    m.gid()
                ));
                if m.is_dir() {
                    stack.push(r);
                }
            }
        }
        out.sort();
        out
    }

    #[test]
    fn copy_follows_dockers_directory_rules() {
        if !is_root() {
            eprintln!("skipped: needs root (chown)");
            return;
        }
        let tmp = tempfile::tempdir().expect("tmp");
        let ctx = tmp.path().join("ctx");
        fs::create_dir_all(ctx.join("src/sub")).expect("ctx");
        fs::write(ctx.join("app.py"), b"print(1)").expect("app");
        fs::write(ctx.join("src/sub/m.py"), b"m").expect("m");
        fs::set_permissions(ctx.join("app.py"), fs::Permissions::from_mode(0o751)).expect("chmod");
        let lower_dir = tmp.path().join("lower");
        fs::create_dir_all(lower_dir.join("usr")).expect("usr");
        fs::set_permissions(lower_dir.join("usr"), fs::Permissions::from_mode(0o700))
            .expect("chmod");
        let lower = MergedView::new(vec![lower_dir]);

        // A file to a new name; a directory's contents into a new dir.
        let s1 = tmp.path().join("s1");
        fs::create_dir(&s1).expect("s1");
        stage_copy(&plan(&ctx, &["app.py"], "/usr/app.py"), &lower, &s1).expect("copy");
        assert_eq!(listing(&s1), vec!["usr/ 700 0:0", "usr/app.py 751 0:0"]);

        let s2 = tmp.path().join("s2");
        fs::create_dir(&s2).expect("s2");
        let mut p = plan(&ctx, &["src"], "/app/");
        p.chown = Some((1000, 1000));
        p.chmod = Some(0o640);
        stage_copy(&p, &lower, &s2).expect("copy");
        assert_eq!(
            listing(&s2),
            vec![
                "app/ 755 1000:1000",
                "app/sub/ 640 1000:1000",
                "app/sub/m.py 640 1000:1000"
            ]
        );

        // Several sources need a directory destination.
        let s3 = tmp.path().join("s3");
        fs::create_dir(&s3).expect("s3");
        let e = stage_copy(&plan(&ctx, &["app.py", "src"], "/x"), &lower, &s3).unwrap_err();
        assert!(e.to_string().contains("must be a directory"), "{e}");

        // A missing source names itself.
        let s4 = tmp.path().join("s4");
        fs::create_dir(&s4).expect("s4");
        let e = stage_copy(&plan(&ctx, &["nope.txt"], "/x"), &lower, &s4).unwrap_err();
        assert!(e.to_string().contains("\"nope.txt\""), "{e}");
    }

    #[test]
    fn parents_keep_the_path_from_the_root_or_from_the_pivot() {
        assert_eq!(
            parents_path("./a/b/*.txt", Path::new("a/b/c.txt")),
            PathBuf::from("a/b/c.txt")
        );
        assert_eq!(
            parents_path("./src/./app/main.go", Path::new("src/app/main.go")),
            PathBuf::from("app/main.go")
        );
        assert_eq!(
            parents_path("src/./*/go.mod", Path::new("src/x/go.mod")),
            PathBuf::from("x/go.mod")
        );
    }

    #[test]
    fn copy_with_parents_lays_sources_out_below_the_destination() {
        if !is_root() {
            eprintln!("skipped: needs root (chown)");
            return;
        }
        let tmp = tempfile::tempdir().expect("tmp");
        let ctx = tmp.path().join("ctx");
        fs::create_dir_all(ctx.join("x/y")).expect("ctx");
        fs::create_dir_all(ctx.join("d/e")).expect("ctx");
        fs::write(ctx.join("x/y/a.txt"), b"a").expect("a");
        fs::write(ctx.join("d/e/b.txt"), b"b").expect("b");
        let mut p = plan(&ctx, &["x/y/a.txt", "d"], "/app/");
        for s in &mut p.sources {
            s.below_dest = Some(s.rel.clone());
        }
        let staging = tmp.path().join("s");
        fs::create_dir(&staging).expect("s");
        stage_copy(&p, &MergedView::default(), &staging).expect("copy");
        let got: Vec<String> = listing(&staging)
            .into_iter()
            .map(|l| l.split(' ').next().unwrap_or_default().to_string())
            .collect();
        assert_eq!(
            got,
            vec![
                "app/",
                "app/d/",
                "app/d/e/",
                "app/d/e/b.txt",
                "app/x/",
                "app/x/y/",
                "app/x/y/a.txt"
            ]
        );
    }

    #[test]
    fn a_copy_without_sources_makes_no_destination() {
        let tmp = tempfile::tempdir().expect("tmp");
        let staging = tmp.path().join("staging");
        fs::create_dir(&staging).expect("staging");
        stage_copy(
            &plan(tmp.path(), &[], "/x/"),
            &MergedView::default(),
            &staging,
        )
        .expect("copy");
        assert!(listing(&staging).is_empty(), "{:?}", listing(&staging));
    }

    #[test]
    fn tree_hash_ignores_mtimes_but_not_content_or_mode() {
        let tmp = tempfile::tempdir().expect("tmp");
        fs::write(tmp.path().join("a"), b"1").expect("a");
        let first = tree_hash(tmp.path()).expect("hash");
        set_mtime(&tmp.path().join("a"), 12345).expect("touch");
        assert_eq!(tree_hash(tmp.path()).expect("hash"), first);
        fs::write(tmp.path().join("a"), b"2").expect("a");
        let changed = tree_hash(tmp.path()).expect("hash");
        assert_ne!(changed, first);
        fs::set_permissions(tmp.path().join("a"), fs::Permissions::from_mode(0o600))
            .expect("chmod");
        assert_ne!(tree_hash(tmp.path()).expect("hash"), changed);
    }
}
