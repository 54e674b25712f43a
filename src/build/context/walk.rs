//! The context's entries, the walk that lists them (no symlink followed,
//! never out of the context), and COPY/ADD source resolution on [`Context`].
use super::hash_cache::{ContentHashCache, FileStamp};
use super::ignore::{ContextFilter, Glob};
use super::{clean_path, io_error, ContextError, MissingSource};
use crate::image::digest::{Algorithm, Digest, Hasher};
use sha2::{Digest as _, Sha256};
use std::collections::HashMap;
use std::fs;
use std::io::Read;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// What a context entry is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryKind {
    File,
    Dir,
    /// A symlink, with its target as written (never followed).
    Symlink(String),
    Fifo,
    Socket,
    CharDevice,
    BlockDevice,
}

impl EntryKind {
    fn tag(&self) -> &'static str {
        match self {
            EntryKind::File => "file",
            EntryKind::Dir => "dir",
            EntryKind::Symlink(_) => "symlink",
            EntryKind::Fifo => "fifo",
            EntryKind::Socket => "socket",
            EntryKind::CharDevice => "char",
            EntryKind::BlockDevice => "block",
        }
    }
}

/// One included path of a context (or of a source tree).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Relative to the context root, `/`-separated, cleaned (never `.`).
    pub path: String,
    pub kind: EntryKind,
    /// Permission bits with setuid/setgid/sticky (`st_mode & 0o7777`).
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    /// Bytes for files, 0 otherwise.
    pub size: u64,
    /// Seconds since the epoch; copied to the image, never hashed.
    pub mtime: i64,
    /// Device and inode, to spot hard links and to key content caches.
    pub dev: u64,
    pub ino: u64,
    pub nlink: u64,
    /// For char/block devices.
    pub rdev: u64,
    /// What tells, without reading it, that a file has not changed.
    pub stamp: FileStamp,
}

fn entry_from(path: String, meta: &fs::Metadata, full: &Path) -> Result<Entry, ContextError> {
    let file_type = meta.file_type();
    let kind = if file_type.is_symlink() {
        let target = fs::read_link(full).map_err(io_error(full))?;
        EntryKind::Symlink(target.to_string_lossy().into_owned())
    } else if file_type.is_dir() {
        EntryKind::Dir
    } else if file_type.is_file() {
        EntryKind::File
    } else if file_type.is_fifo() {
        EntryKind::Fifo
    } else if file_type.is_socket() {
        EntryKind::Socket
    } else if file_type.is_char_device() {
        EntryKind::CharDevice
    } else {
        EntryKind::BlockDevice
    };
    Ok(Entry {
        size: if kind == EntryKind::File {
            meta.len()
        } else {
            0
        },
        path,
        kind,
        mode: meta.permissions().mode() & 0o7777,
        uid: meta.uid(),
        gid: meta.gid(),
        mtime: meta.mtime(),
        dev: meta.dev(),
        ino: meta.ino(),
        nlink: meta.nlink(),
        rdev: meta.rdev(),
        stamp: FileStamp::of(meta),
    })
}

fn join_rel(dir: &str, name: &str) -> String {
    if dir.is_empty() {
        name.to_string()
    } else {
        format!("{dir}/{name}")
    }
}

struct Walk<'a> {
    root: &'a Path,
    filter: &'a ContextFilter,
    limit: Option<u64>,
    size: u64,
    entries: Vec<Entry>,
    dirs_read: usize,
}

impl Walk<'_> {
    /// Walks the directory `rel` (relative, "" for the root), adding the
    /// included entries below it in path order. A directory that is
    /// excluded itself is added only when something inside it is included.
    fn dir(&mut self, rel: &str) -> Result<(), ContextError> {
        let full = self.root.join(rel);
        self.dirs_read += 1;
        let mut names: Vec<String> = Vec::new();
        for item in fs::read_dir(&full).map_err(io_error(&full))? {
            let item = item.map_err(io_error(&full))?;
            names.push(item.file_name().to_string_lossy().into_owned());
        }
        names.sort();
        for name in names {
            let child = join_rel(rel, &name);
            let child_full = self.root.join(&child);
            let meta = fs::symlink_metadata(&child_full).map_err(io_error(&child_full))?;
            let excluded = self.filter.excludes(&child);
            if meta.is_dir() {
                if excluded && !self.filter.may_include_below(&child) {
                    continue;
                }
                let at = self.entries.len();
                self.entries
                    .push(entry_from(child.clone(), &meta, &child_full)?);
                self.dir(&child)?;
                if excluded && self.entries.len() == at + 1 {
                    self.entries.truncate(at);
                }
                continue;
            }
            if excluded {
                continue;
            }
            let entry = entry_from(child, &meta, &child_full)?;
            self.size += entry.size;
            if let Some(limit) = self.limit {
                if self.size > limit {
                    return Err(ContextError::TooLarge {
                        dir: self.root.to_path_buf(),
                        limit,
                        size: self.size,
                    });
                }
            }
            self.entries.push(entry);
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------
// The context

/// The paths a COPY/ADD source word resolved to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedSource {
    /// The source as written (after substitution).
    pub source: String,
    /// The matched path (a glob gives one per match), relative to the root.
    pub path: String,
    /// The entry at `path` (symlinks along it and at it followed inside the
    /// root, as COPY follows a source symlink) and, for a directory, every
    /// included entry below it, in path order.
    pub entries: Vec<Entry>,
}

/// A build context (or any source tree: a stage's root filesystem) with its
/// filter, its included entries and a memo of file content hashes.
#[derive(Debug)]
pub struct Context {
    root: PathBuf,
    filter: ContextFilter,
    /// Every included entry, in path order.
    entries: Vec<Entry>,
    /// Included bytes (regular files).
    size: u64,
    /// Directories the walk listed (excluded ones it could skip are not).
    dirs_read: usize,
    content_hashes: Mutex<HashMap<String, [u8; 32]>>,
    hash_cache: Option<std::sync::Arc<dyn ContentHashCache>>,
}

impl Context {
    /// Walks `dir` through `filter`, refusing more than `size_limit` bytes of
    /// included files. Excluded directories that no `!` exception can reach
    /// into are not entered at all.
    pub fn open(
        dir: &Path,
        filter: ContextFilter,
        size_limit: u64,
    ) -> Result<Context, ContextError> {
        Self::walk(dir, filter, Some(size_limit))
    }

    /// A tree with no filter and no limit (e.g. a stage's root for `COPY --from`).
    pub fn open_tree(dir: &Path) -> Result<Context, ContextError> {
        Self::walk(dir, ContextFilter::none(), None)
    }

    fn walk(
        dir: &Path,
        filter: ContextFilter,
        limit: Option<u64>,
    ) -> Result<Context, ContextError> {
        let root = fs::canonicalize(dir).map_err(io_error(dir))?;
        let meta = fs::metadata(&root).map_err(io_error(&root))?;
        if !meta.is_dir() {
            return Err(ContextError::Source {
                path: dir.display().to_string(),
                message: "the build context is not a directory".to_string(),
            });
        }
        let mut walk = Walk {
            root: &root,
            filter: &filter,
            limit,
            size: 0,
            entries: Vec::new(),
            dirs_read: 0,
        };
        walk.dir("")?;
        let (entries, size, dirs_read) = (walk.entries, walk.size, walk.dirs_read);
        Ok(Context {
            root,
            filter,
            entries,
            size,
            dirs_read,
            content_hashes: Mutex::new(HashMap::new()),
            hash_cache: None,
        })
    }

    /// Reuses and records file hashes in `cache` (kept across builds).
    pub fn with_hash_cache(mut self, cache: std::sync::Arc<dyn ContentHashCache>) -> Context {
        self.hash_cache = Some(cache);
        self
    }

    /// The context directory (canonical).
    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn filter(&self) -> &ContextFilter {
        &self.filter
    }

    /// Every included entry, in path order.
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// Bytes of included regular files.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// How many directories the walk listed: an excluded directory that no
    /// `!` exception reaches into is never listed.
    pub fn dirs_read(&self) -> usize {
        self.dirs_read
    }

    /// The entry at `path` (cleaned, relative), if included.
    pub fn entry(&self, path: &str) -> Option<&Entry> {
        // The walk's order compares component by component (`a/b` before
        // `a.b`), not as whole strings: the search must compare the same way.
        self.entries
            .binary_search_by(|e| e.path.split('/').cmp(path.split('/')))
            .ok()
            .map(|i| &self.entries[i])
    }

    /// Entries strictly below directory `dir` ("" for all), in path order.
    fn below(&self, dir: &str) -> impl Iterator<Item = &Entry> + '_ {
        let prefix = if dir.is_empty() {
            String::new()
        } else {
            format!("{dir}/")
        };
        self.entries
            .iter()
            .filter(move |e| e.path.starts_with(&prefix))
    }

    /// The full path of an entry on disk.
    pub fn full_path(&self, entry: &Entry) -> PathBuf {
        self.root.join(&entry.path)
    }

    /// Opens a regular file entry for reading, checking that it is still the
    /// file that was walked (not swapped for a symlink or another file).
    pub fn open_file(&self, entry: &Entry) -> Result<fs::File, ContextError> {
        let full = self.full_path(entry);
        let file = fs::File::open(&full).map_err(io_error(&full))?;
        let meta = file.metadata().map_err(io_error(&full))?;
        if meta.dev() != entry.dev || meta.ino() != entry.ino || !meta.is_file() {
            return Err(ContextError::Source {
                path: entry.path.clone(),
                message: "changed while the build was reading the context".to_string(),
            });
        }
        Ok(file)
    }

    /// Resolves COPY/ADD source words: a leading `/` is the context root;
    /// symlinks on the way are followed inside the context; globs (`*`, `?`,
    /// `[...]`) match per path component and may match nothing (as in
    /// BuildKit); a plain path that is missing is an error saying whether
    /// `.dockerignore` excluded it. `exclude` (`COPY --exclude`) patterns are
    /// matched against paths relative to each matched source.
    pub fn resolve_sources(
        &self,
        sources: &[String],
        exclude: &[String],
    ) -> Result<Vec<ResolvedSource>, ContextError> {
        let exclude = ContextFilter::from_patterns(exclude, "--exclude")?;
        let mut resolved = Vec::new();
        for source in sources {
            let cleaned = clean_path(&format!("/{source}"));
            let relative = cleaned.trim_start_matches('/');
            let is_glob = relative.contains(['*', '?', '[']) || relative.contains('\\');
            if is_glob {
                let glob =
                    Glob::compile(relative, false).map_err(|message| ContextError::Source {
                        path: source.clone(),
                        message,
                    })?;
                let matched: Vec<String> = self
                    .entries
                    .iter()
                    .filter(|e| glob.matches(&e.path))
                    .map(|e| e.path.clone())
                    .collect();
                for path in matched {
                    resolved.push(self.source_at(source, &path, &exclude)?);
                }
                continue;
            }
            let path = self.follow(relative, source)?;
            if !path.is_empty() && self.entry(&path).is_none() {
                return Err(ContextError::MissingSource(MissingSource {
                    source: source.clone(),
                    excluded_by: self.excluded_existing(&path),
                }));
            }
            resolved.push(self.source_at(source, &path, &exclude)?);
        }
        Ok(resolved)
    }

    /// Where a path exists on disk but the filter excludes it: the ignore
    /// file and the line of the pattern.
    fn excluded_existing(&self, path: &str) -> Option<(PathBuf, usize)> {
        let full = self.root.join(path);
        fs::symlink_metadata(&full).ok()?;
        let pattern = self.filter.deciding_pattern(path)?;
        Some((self.filter.file.clone().unwrap_or_default(), pattern.line))
    }

    /// Follows symlinks along `path` inside the root (as if it were `/`);
    /// returns the resolved relative path ("" for the root itself).
    fn follow(&self, path: &str, source: &str) -> Result<String, ContextError> {
        let mut resolved: Vec<String> = Vec::new();
        let mut pending: Vec<String> = path
            .split('/')
            .filter(|p| !p.is_empty())
            .rev()
            .map(str::to_string)
            .collect();
        let mut hops = 0;
        while let Some(part) = pending.pop() {
            match part.as_str() {
                "." => continue,
                ".." => {
                    resolved.pop();
                    continue;
                }
                _ => {}
            }
            resolved.push(part);
            let rel = resolved.join("/");
            let Some(entry) = self.entry(&rel) else {
                // Missing or excluded: the caller reports it.
                pending.reverse();
                resolved.extend(pending);
                return Ok(resolved.join("/"));
            };
            if let EntryKind::Symlink(target) = &entry.kind {
                hops += 1;
                if hops > 255 {
                    return Err(ContextError::Source {
                        path: source.to_string(),
                        message: "too many levels of symbolic links".to_string(),
                    });
                }
                resolved.pop();
                if target.starts_with('/') {
                    resolved.clear();
                }
                for piece in target.split('/').filter(|p| !p.is_empty()).rev() {
                    pending.push(piece.to_string());
                }
            }
        }
        Ok(resolved.join("/"))
    }

    fn source_at(
        &self,
        source: &str,
        path: &str,
        exclude: &ContextFilter,
    ) -> Result<ResolvedSource, ContextError> {
        let mut entries = Vec::new();
        if let Some(entry) = self.entry(path) {
            entries.push(entry.clone());
        }
        let is_dir = path.is_empty() || self.entry(path).is_some_and(|e| e.kind == EntryKind::Dir);
        if is_dir {
            let prefix_len = if path.is_empty() { 0 } else { path.len() + 1 };
            entries.extend(
                self.below(path)
                    .filter(|e| exclude.is_empty() || !exclude.excludes(&e.path[prefix_len..]))
                    .cloned(),
            );
        } else if !exclude.is_empty() {
            let name = path.rsplit('/').next().unwrap_or(path);
            if exclude.excludes(name) {
                entries.clear();
            }
        }
        Ok(ResolvedSource {
            source: source.to_string(),
            path: path.to_string(),
            entries,
        })
    }

    /// sha256 of a regular file's content (memoized for this context).
    pub fn content_hash(&self, entry: &Entry) -> Result<[u8; 32], ContextError> {
        if let Ok(memo) = self.content_hashes.lock() {
            if let Some(hash) = memo.get(&entry.path) {
                return Ok(*hash);
            }
        }
        if let Some(hash) = self
            .hash_cache
            .as_ref()
            .and_then(|cache| cache.get(&entry.path, &entry.stamp))
        {
            return Ok(hash);
        }
        let mut file = self.open_file(entry)?;
        let full = self.full_path(entry);
        let mut hasher = Sha256::new();
        let mut buffer = vec![0u8; 64 * 1024];
        loop {
            let n = file.read(&mut buffer).map_err(io_error(&full))?;
            if n == 0 {
                break;
            }
            hasher.update(&buffer[..n]);
        }
        let hash: [u8; 32] = hasher.finalize().into();
        if let Ok(mut memo) = self.content_hashes.lock() {
            memo.insert(entry.path.clone(), hash);
        }
        if let Some(cache) = &self.hash_cache {
            cache.put(&entry.path, &entry.stamp, hash);
        }
        Ok(hash)
    }

    /// The digest of a COPY/ADD source set: sha256 over each entry's
    /// relative path, type, mode, uid, gid, size, content hash and link
    /// target, in order. Modification times do not count.
    pub fn hash_entries(&self, entries: &[Entry]) -> Result<Digest, ContextError> {
        self.prefetch_hashes(entries.iter())?;
        let mut hasher = Hasher::new(Algorithm::Sha256);
        for entry in entries {
            self.hash_entry(&mut hasher, entry)?;
        }
        Ok(hasher.finish())
    }

    /// [`Context::hash_entries`] over resolved sources, each source's word
    /// and matched path included so `COPY a b` and `COPY b a` differ.
    pub fn hash_sources(&self, sources: &[ResolvedSource]) -> Result<Digest, ContextError> {
        self.prefetch_hashes(sources.iter().flat_map(|s| s.entries.iter()))?;
        let mut hasher = Hasher::new(Algorithm::Sha256);
        for source in sources {
            hasher.update(format!("source {:?} {:?}\0", source.source, source.path).as_bytes());
            for entry in &source.entries {
                self.hash_entry(&mut hasher, entry)?;
            }
        }
        Ok(hasher.finish())
    }

    /// Hashes the files of a large set on several threads (reading and
    /// hashing is most of a cold `COPY . .`); the digest is then folded in
    /// order from the memo.
    fn prefetch_hashes<'a>(
        &self,
        entries: impl Iterator<Item = &'a Entry>,
    ) -> Result<(), ContextError> {
        let files: Vec<&Entry> = entries.filter(|e| e.kind == EntryKind::File).collect();
        let bytes: u64 = files.iter().map(|e| e.size).sum();
        let threads = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
            .min(8);
        if threads < 2 || (files.len() < 64 && bytes < 8 << 20) {
            return Ok(());
        }
        let chunk = files.len().div_ceil(threads);
        std::thread::scope(|scope| {
            let workers: Vec<_> = files
                .chunks(chunk)
                .map(|part| {
                    scope.spawn(move || {
                        part.iter()
                            .try_for_each(|entry| self.content_hash(entry).map(|_| ()))
                    })
                })
                .collect();
            workers.into_iter().try_for_each(|worker| {
                worker.join().unwrap_or_else(|_| {
                    Err(ContextError::Source {
                        path: self.root.display().to_string(),
                        message: "a hashing thread panicked".to_string(),
                    })
                })
            })
        })
    }

    pub(super) fn hash_entry(
        &self,
        hasher: &mut Hasher,
        entry: &Entry,
    ) -> Result<(), ContextError> {
        hasher.update(entry.path.as_bytes());
        hasher.update(&[0]);
        let header = format!(
            "{} {:o} {} {} {}",
            entry.kind.tag(),
            entry.mode,
            entry.uid,
            entry.gid,
            entry.size
        );
        hasher.update(header.as_bytes());
        match &entry.kind {
            EntryKind::File => {
                hasher.update(b" ");
                hasher.update(&self.content_hash(entry)?);
            }
            EntryKind::Symlink(target) => {
                hasher.update(b" ");
                hasher.update(target.as_bytes());
            }
            EntryKind::CharDevice | EntryKind::BlockDevice => {
                hasher.update(format!(" {}", entry.rdev).as_bytes());
            }
            EntryKind::Dir | EntryKind::Fifo | EntryKind::Socket => {}
        }
        hasher.update(&[0]);
        Ok(())
    }
}
