//! A read-only merged view of unpacked layers, resolved the way overlayfs
//! resolves them (top layer first, whiteouts hide, opaque directories stop
//! the lookup), without mounting anything: what COPY --from, WORKDIR and
//! COPY's "is the destination a directory" need.

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::fs;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Component, Path, PathBuf};

/// The xattr overlayfs marks an opaque directory with (value `y`).
pub(crate) const OPAQUE_XATTR: &[u8] = b"trusted.overlay.opaque";

/// Layer directories, top first.
#[derive(Clone, Debug, Default)]
pub struct MergedView {
    lowers: Vec<PathBuf>,
}

/// The components of an absolute or relative container path, `.`/`..` folded
/// lexically (never above the root).
pub fn components(path: &str) -> Vec<OsString> {
    let mut out: Vec<OsString> = Vec::new();
    for c in Path::new(path).components() {
        match c {
            Component::Normal(n) => out.push(n.to_os_string()),
            Component::ParentDir => {
                out.pop();
            }
            _ => {}
        }
    }
    out
}

/// An overlayfs whiteout: a 0/0 character device.
pub(crate) fn is_whiteout(meta: &fs::Metadata) -> bool {
    meta.file_type().is_char_device() && meta.rdev() == 0
}

/// Whether overlayfs marked `dir` opaque (it hides what lies below).
pub(crate) fn is_opaque(dir: &Path) -> bool {
    let Ok(f) = fs::File::open(dir) else {
        return false;
    };
    crate::sys::xattr::Node::Fd(std::os::fd::AsFd::as_fd(&f))
        .get(OPAQUE_XATTR)
        .is_ok_and(|v| v == b"y")
}

impl MergedView {
    pub fn new(lowers_top_first: Vec<PathBuf>) -> MergedView {
        MergedView {
            lowers: lowers_top_first,
        }
    }

    /// The same view under one more layer on top (a container's upper dir).
    pub fn with_top(mut self, top: PathBuf) -> MergedView {
        self.lowers.insert(0, top);
        self
    }

    /// The host path of `path` in the topmost layer that has it, or `None`
    /// when no layer has it or a whiteout hides it. Symlinks are not
    /// followed (a symlinked parent directory hides what is below it).
    pub fn lookup(&self, path: &str) -> Option<PathBuf> {
        let comps = components(path);
        if comps.is_empty() {
            return self.lowers.first().cloned();
        }
        'layers: for layer in &self.lowers {
            let mut p = layer.clone();
            for (i, c) in comps.iter().enumerate() {
                p.push(c);
                match fs::symlink_metadata(&p) {
                    Ok(m) if is_whiteout(&m) => return None,
                    Ok(m) if i + 1 == comps.len() => {
                        let _ = m;
                        return Some(p);
                    }
                    Ok(m) if m.is_dir() => {
                        if is_opaque(&p) {
                            // Lower layers are hidden below this directory.
                            let rest: PathBuf = comps[i + 1..].iter().collect();
                            let full = p.join(rest);
                            return match fs::symlink_metadata(&full) {
                                Ok(m) if !is_whiteout(&m) => Some(full),
                                _ => None,
                            };
                        }
                    }
                    Ok(_) => return None, // a file where a directory was expected
                    Err(_) => continue 'layers,
                }
            }
        }
        None
    }

    pub fn metadata(&self, path: &str) -> Option<fs::Metadata> {
        self.lookup(path).and_then(|p| fs::symlink_metadata(p).ok())
    }

    pub fn is_dir(&self, path: &str) -> bool {
        self.metadata(path).is_some_and(|m| m.is_dir())
    }

    /// The names in directory `path`, merged across layers, sorted.
    pub fn read_dir(&self, path: &str) -> io::Result<Vec<OsString>> {
        let comps = components(path);
        let rel: PathBuf = comps.iter().collect();
        let mut names = BTreeSet::new();
        let mut hidden = BTreeSet::new();
        for layer in &self.lowers {
            let dir = layer.join(&rel);
            let Ok(meta) = fs::symlink_metadata(&dir) else {
                continue;
            };
            if is_whiteout(&meta) || !meta.is_dir() {
                break;
            }
            for e in fs::read_dir(&dir)? {
                let e = e?;
                let name = e.file_name();
                let m = e.metadata()?;
                if is_whiteout(&m) {
                    hidden.insert(name);
                } else if !hidden.contains(&name) {
                    names.insert(name);
                }
            }
            if is_opaque(&dir) {
                break;
            }
        }
        let mut out: Vec<OsString> = names.into_iter().collect();
        out.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn components_fold_dots_and_stay_under_the_root() {
        assert_eq!(components("/a/./b/../c"), vec!["a", "c"]);
        assert_eq!(components("../../x"), vec!["x"]);
        assert!(components("/").is_empty());
    }

    #[test]
    fn upper_layers_win_and_directories_merge() {
        let tmp = tempfile::tempdir().expect("tmp");
        let top = tmp.path().join("top");
        let bottom = tmp.path().join("bottom");
        fs::create_dir_all(top.join("etc")).expect("top");
        fs::create_dir_all(bottom.join("etc")).expect("bottom");
        fs::write(top.join("etc/a"), b"top").expect("a");
        fs::write(bottom.join("etc/a"), b"bottom").expect("a");
        fs::write(bottom.join("etc/b"), b"b").expect("b");
        let v = MergedView::new(vec![top.clone(), bottom]);
        assert_eq!(v.lookup("/etc/a"), Some(top.join("etc/a")));
        assert!(v.lookup("/etc/b").is_some());
        assert!(v.lookup("/etc/c").is_none());
        assert!(v.is_dir("etc"));
        assert_eq!(v.read_dir("/etc").expect("ls"), vec!["a", "b"]);
    }
}
