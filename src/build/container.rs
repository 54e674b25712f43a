//! A container's filesystem as image material: what its upper dir changed
//! against its image's layers (`docker diff`), the whole merged tree as one
//! tar (`docker export`), and the paths `docker commit` and `diff` leave
//! out because Docker keeps them in a container's init layer.

use crate::build::tree::{is_opaque, is_whiteout, MergedView};
use std::ffi::OsString;
use std::fs;
use std::io::{self, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

/// What Docker puts in a container's init layer, below its writable layer
/// (moby's `initlayer`): mount points for the runtime's own mounts. They
/// never show in `docker diff` nor in a committed image. wharf's runtime
/// makes them in the upper dir when the image lacks them.
pub const INIT_PATHS: &[&str] = &[
    "dev/pts",
    "dev/shm",
    "dev/console",
    "proc",
    "sys",
    ".dockerenv",
    "etc/resolv.conf",
    "etc/hosts",
    "etc/hostname",
    "etc/mtab",
];

/// [`INIT_PATHS`] as relative paths, for `LayerOptions::skip_stubs`.
pub fn init_paths() -> Vec<PathBuf> {
    INIT_PATHS.iter().map(PathBuf::from).collect()
}

#[derive(Debug, thiserror::Error)]
pub enum ContainerFsError {
    #[error("reading {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("writing the tar of {path}: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

type Result<T> = std::result::Result<T, ContainerFsError>;

fn read_err(path: &Path) -> impl FnOnce(io::Error) -> ContainerFsError + '_ {
    move |source| ContainerFsError::Read {
        path: path.to_path_buf(),
        source,
    }
}

/// `A`, `C` or `D`, as `docker diff` prints them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChangeKind {
    Added,
    Changed,
    Deleted,
}

impl ChangeKind {
    pub fn letter(self) -> char {
        match self {
            ChangeKind::Added => 'A',
            ChangeKind::Changed => 'C',
            ChangeKind::Deleted => 'D',
        }
    }
}

/// One line of `docker diff`: the kind and the absolute path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    pub kind: ChangeKind,
    pub path: String,
}

/// Docker's rule for a directory found in both: unchanged when size, mode
/// and mtime agree (nanoseconds compared only when both have them).
fn same_dir(a: &fs::Metadata, b: &fs::Metadata) -> bool {
    let nanos_agree =
        a.mtime_nsec() == b.mtime_nsec() || a.mtime_nsec() == 0 || b.mtime_nsec() == 0;
    a.size() == b.size() && a.mode() == b.mode() && a.mtime() == b.mtime() && nanos_agree
}

/// A directory that holds init-layer paths (`/etc`, `/dev`): wharf's
/// runtime may have touched it only to make those, so its own mtime does
/// not count; its owner and mode, and changes below it, do.
fn holds_init_paths(rel: &str) -> bool {
    INIT_PATHS
        .iter()
        .any(|p| p.strip_prefix(rel).is_some_and(|r| r.starts_with('/')))
}

struct Walk<'a> {
    lower: &'a MergedView,
    out: Vec<Change>,
}

/// What the upper dir `upper` changed against the image's layers `lower`,
/// as `docker diff` lists it (recorded from Docker 28:
/// tests/data/docker-verbs/diff.txt): in each directory the added and
/// changed entries (by name), then the deleted ones; a directory that
/// differs, or holds a change, is `C` before what is in it.
pub fn changes(upper: &Path, lower: &MergedView) -> Result<Vec<Change>> {
    let mut walk = Walk {
        lower,
        out: Vec::new(),
    };
    walk.dir(upper, "")?;
    Ok(walk.out)
}

impl Walk<'_> {
    fn dir(&mut self, host: &Path, rel: &str) -> Result<()> {
        let mut names: Vec<(bool, OsString)> = Vec::new();
        for e in fs::read_dir(host).map_err(read_err(host))? {
            let e = e.map_err(read_err(host))?;
            let meta = e.metadata().map_err(read_err(&e.path()))?;
            names.push((is_whiteout(&meta), e.file_name()));
        }
        // Deletions after the rest; each group by name.
        names.sort_by(|(wa, a), (wb, b)| wa.cmp(wb).then_with(|| a.as_bytes().cmp(b.as_bytes())));
        for (_, name) in names {
            let child_rel = if rel.is_empty() {
                name.to_string_lossy().into_owned()
            } else {
                format!("{rel}/{}", name.to_string_lossy())
            };
            self.entry(&host.join(&name), &child_rel)?;
        }
        Ok(())
    }

    fn push(&mut self, kind: ChangeKind, rel: &str) {
        self.out.push(Change {
            kind,
            path: format!("/{rel}"),
        });
    }

    fn entry(&mut self, host: &Path, rel: &str) -> Result<()> {
        if INIT_PATHS.contains(&rel) {
            return Ok(());
        }
        let meta = fs::symlink_metadata(host).map_err(read_err(host))?;
        let below = self.lower.metadata(rel);
        if is_whiteout(&meta) {
            // A whiteout of nothing hides nothing.
            if below.is_some() {
                self.push(ChangeKind::Deleted, rel);
            }
            return Ok(());
        }
        let Some(below) = below else {
            self.push(ChangeKind::Added, rel);
            if meta.is_dir() {
                self.dir(host, rel)?;
            }
            return Ok(());
        };
        if !(meta.is_dir() && below.is_dir()) {
            self.push(ChangeKind::Changed, rel);
            return Ok(());
        }
        if is_opaque(host) {
            // Emptied and filled again: what was there is gone.
            self.push(ChangeKind::Deleted, rel);
            return self.dir(host, rel);
        }
        let changed_itself = if holds_init_paths(rel) {
            below.mode() != meta.mode() || below.uid() != meta.uid() || below.gid() != meta.gid()
        } else {
            !same_dir(&meta, &below)
        };
        let at = self.out.len();
        self.dir(host, rel)?;
        if changed_itself || self.out.len() > at {
            self.out.insert(
                at,
                Change {
                    kind: ChangeKind::Changed,
                    path: format!("/{rel}"),
                },
            );
        }
        Ok(())
    }
}

/// Writes the merged tree of `view` (a container's upper dir over its
/// image's layers) as one tar, as `docker export` does: entries named from
/// the root down (`bin/sh`, directories with a trailing `/`), owners,
/// modes and mtimes kept, whiteouts applied, symlinks as links.
pub fn write_tar(view: &MergedView, out: impl Write) -> Result<()> {
    let mut tar = tar::Builder::new(out);
    tar.follow_symlinks(false);
    tar_dir(&mut tar, view, "")?;
    let write_err = |source| ContainerFsError::Write {
        path: PathBuf::from("/"),
        source,
    };
    tar.into_inner()
        .and_then(|mut w| w.flush())
        .map_err(write_err)
}

fn tar_dir<W: Write>(tar: &mut tar::Builder<W>, view: &MergedView, rel: &str) -> Result<()> {
    let names = view
        .read_dir(rel)
        .map_err(read_err(Path::new(if rel.is_empty() { "/" } else { rel })))?;
    for name in names {
        let child = if rel.is_empty() {
            name.to_string_lossy().into_owned()
        } else {
            format!("{rel}/{}", name.to_string_lossy())
        };
        let Some(host) = view.lookup(&child) else {
            continue;
        };
        let meta = fs::symlink_metadata(&host).map_err(read_err(&host))?;
        let write_err = |source| ContainerFsError::Write {
            path: host.clone(),
            source,
        };
        let mut h = tar::Header::new_gnu();
        h.set_metadata_in_mode(&meta, tar::HeaderMode::Complete);
        let ft = meta.file_type();
        if ft.is_dir() {
            h.set_size(0);
            tar.append_data(&mut h, format!("{child}/"), io::empty())
                .map_err(write_err)?;
            tar_dir(tar, view, &child)?;
        } else if ft.is_symlink() {
            let target = fs::read_link(&host).map_err(read_err(&host))?;
            h.set_size(0);
            tar.append_link(&mut h, &child, target).map_err(write_err)?;
        } else if ft.is_file() {
            let size = meta.len();
            let file = fs::File::open(&host).map_err(read_err(&host))?;
            // Exactly `size` bytes, even if the file changed since its stat.
            let data = file.take(size).chain(io::repeat(0)).take(size);
            tar.append_data(&mut h, &child, data).map_err(write_err)?;
        } else if ft.is_char_device() || ft.is_block_device() || ft.is_fifo() {
            h.set_size(0);
            if !ft.is_fifo() {
                let rdev = meta.rdev();
                h.set_device_major(libc::major(rdev)).map_err(write_err)?;
                h.set_device_minor(libc::minor(rdev)).map_err(write_err)?;
            }
            tar.append_data(&mut h, &child, io::empty())
                .map_err(write_err)?;
        }
        // Sockets are skipped, as Docker's archiver does.
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn whiteout(path: &Path) {
        nix::sys::stat::mknod(
            path,
            nix::sys::stat::SFlag::S_IFCHR,
            nix::sys::stat::Mode::empty(),
            0,
        )
        .expect("whiteout (needs root)");
    }

    fn lines(changes: &[Change]) -> Vec<String> {
        changes
            .iter()
            .map(|c| format!("{} {}", c.kind.letter(), c.path))
            .collect()
    }

    /// A lower layer with /etc/passwd, /bin/sh, /tmp and /usr/share/doc/x;
    /// the upper adds, changes and deletes as a container would.
    #[test]
    fn changes_are_listed_as_docker_diff_lists_them() {
        if !nix::unistd::Uid::effective().is_root() {
            eprintln!("SKIPPED: whiteouts need root");
            return;
        }
        let tmp = tempfile::tempdir().expect("tmp");
        let lower = tmp.path().join("lower");
        let upper = tmp.path().join("upper");
        for d in ["etc", "bin", "tmp", "usr/share/doc"] {
            fs::create_dir_all(lower.join(d)).expect("lower dir");
        }
        fs::write(lower.join("etc/passwd"), "root").expect("passwd");
        fs::write(lower.join("bin/sh"), "sh").expect("sh");
        fs::write(lower.join("usr/share/doc/x"), "x").expect("x");
        // The upper: /etc copied up with its metadata, passwd changed, a
        // hostname stub the runtime made, /bin/sh deleted, /new added.
        fs::create_dir_all(upper.join("etc")).expect("etc");
        fs::set_permissions(upper.join("etc"), fs::Permissions::from_mode(0o755)).expect("mode");
        fs::set_permissions(lower.join("etc"), fs::Permissions::from_mode(0o755)).expect("mode");
        fs::write(upper.join("etc/passwd"), "root\nme").expect("passwd");
        fs::write(upper.join("etc/hostname"), "").expect("stub");
        fs::create_dir_all(upper.join("bin")).expect("bin");
        whiteout(&upper.join("bin/sh"));
        fs::create_dir_all(upper.join("new/deep")).expect("new");
        fs::write(upper.join("new/deep/f"), "f").expect("f");
        // A whiteout of something no layer has hides nothing.
        whiteout(&upper.join("ghost"));
        let view = MergedView::new(vec![lower.clone()]);
        let got = lines(&changes(&upper, &view).expect("changes"));
        assert_eq!(
            got,
            vec![
                "C /bin",
                "D /bin/sh",
                "C /etc",
                "C /etc/passwd",
                "A /new",
                "A /new/deep",
                "A /new/deep/f",
            ]
        );
    }

    #[test]
    fn a_directory_touched_only_for_init_paths_is_not_listed() {
        let tmp = tempfile::tempdir().expect("tmp");
        let lower = tmp.path().join("lower");
        let upper = tmp.path().join("upper");
        fs::create_dir_all(lower.join("etc")).expect("lower");
        fs::create_dir_all(upper.join("etc")).expect("upper");
        fs::write(upper.join("etc/hosts"), "").expect("stub");
        fs::create_dir_all(upper.join("proc")).expect("proc");
        let view = MergedView::new(vec![lower]);
        assert_eq!(
            lines(&changes(&upper, &view).expect("changes")),
            Vec::<String>::new()
        );
    }

    #[test]
    fn export_writes_the_merged_tree_with_the_upper_winning() {
        let tmp = tempfile::tempdir().expect("tmp");
        let lower = tmp.path().join("lower");
        let upper = tmp.path().join("upper");
        fs::create_dir_all(lower.join("etc")).expect("lower");
        fs::write(lower.join("etc/a"), "lower").expect("a");
        fs::write(lower.join("etc/b"), "b").expect("b");
        fs::create_dir_all(upper.join("etc")).expect("upper");
        fs::write(upper.join("etc/a"), "upper").expect("a");
        std::os::unix::fs::symlink("a", upper.join("etc/link")).expect("link");
        let view = MergedView::new(vec![lower]).with_top(upper);
        let mut buf = Vec::new();
        write_tar(&view, &mut buf).expect("tar");
        let mut archive = tar::Archive::new(&buf[..]);
        let mut seen = Vec::new();
        for e in archive.entries().expect("entries") {
            let mut e = e.expect("entry");
            let name = e.path().expect("path").to_string_lossy().into_owned();
            let mut text = String::new();
            if e.header().entry_type().is_file() {
                e.read_to_string(&mut text).expect("read");
            } else if let Some(l) = e.link_name().expect("link") {
                text = format!("-> {}", l.display());
            }
            seen.push(format!("{name} {text}").trim_end().to_string());
        }
        assert_eq!(
            seen,
            vec!["etc/", "etc/a upper", "etc/b b", "etc/link -> a"]
        );
    }
}
