//! The build context: `.dockerignore` filtering (Docker's pattern
//! semantics), a walk that never follows symlinks and never leaves the
//! context, a size limit, COPY/ADD source resolution, and content hashing.
//!
//! A symlink in the context is content (its target string), never a way out:
//! the walk uses `symlink_metadata` only, and a source path whose components
//! are symlinks is resolved inside the context as if the context were `/`.

use crate::image::digest::{Algorithm, Digest, Hasher};
use sha2::{Digest as _, Sha256};
use std::collections::HashMap;
use std::fs;
use std::io::{self, Read};
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// The default context size limit (only included files count).
pub const DEFAULT_SIZE_LIMIT: u64 = 2 << 30;

/// Errors about the context, each naming the path it is about.
#[derive(Debug, thiserror::Error)]
pub enum ContextError {
    #[error("{path}: cannot read the build context: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{file}:{line}: invalid .dockerignore pattern {pattern:?}: {message}")]
    Pattern {
        file: PathBuf,
        line: usize,
        pattern: String,
        message: String,
    },
    #[error("{dir}: the build context is larger than the limit of {limit} bytes (at least {size} bytes are included; exclude what the build does not need in .dockerignore)")]
    TooLarge { dir: PathBuf, limit: u64, size: u64 },
    #[error("{0}")]
    MissingSource(MissingSource),
    #[error("{path}: {message}")]
    Source { path: String, message: String },
}

/// A COPY/ADD source that matches nothing.
#[derive(Debug)]
pub struct MissingSource {
    /// The source as written.
    pub source: String,
    /// Where the path exists but `.dockerignore` excludes it: (file, line).
    pub excluded_by: Option<(PathBuf, usize)>,
}

impl std::fmt::Display for MissingSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.excluded_by {
            Some((file, line)) => write!(
                f,
                "{:?}: not found: the path is in the build context but excluded by {}:{line}",
                self.source,
                file.display()
            ),
            None => write!(f, "{:?}: not found in the build context", self.source),
        }
    }
}

fn io_error(path: &Path) -> impl FnOnce(io::Error) -> ContextError + '_ {
    move |source| ContextError::Io {
        path: path.to_path_buf(),
        source,
    }
}

// ---------------------------------------------------------------------------
// Paths and glob patterns

/// Go's `path.Clean` on `/`-separated paths.
pub fn clean_path(path: &str) -> String {
    if path.is_empty() {
        return ".".to_string();
    }
    let rooted = path.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|p| *p != "..") {
                    parts.pop();
                } else if !rooted {
                    parts.push("..");
                }
            }
            _ => parts.push(part),
        }
    }
    let joined = parts.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".to_string(),
        (false, false) => joined,
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum GlobToken {
    Literal(char),
    /// `?`: one character other than `/`.
    One,
    /// `*`: any run of characters other than `/`.
    Star,
    /// `**/` or `**` inside a pattern: nothing, or anything ending in `/`.
    AnyDirs,
    /// `**` at the end: anything.
    Rest,
    /// `[...]`.
    Class {
        negated: bool,
        ranges: Vec<(char, char)>,
    },
}

/// A compiled glob: `*`, `?`, `[...]`, `\` escapes, and with `double_star`
/// the `**` forms of `.dockerignore`.
#[derive(Debug, Clone)]
struct Glob {
    tokens: Vec<GlobToken>,
    /// No wildcard or escape: a plain string compare will do.
    literal: bool,
}

impl Glob {
    fn compile(pattern: &str, double_star: bool) -> Result<Glob, String> {
        let chars: Vec<char> = pattern.chars().collect();
        let mut tokens = Vec::new();
        let mut literal = true;
        let mut i = 0;
        while i < chars.len() {
            let ch = chars[i];
            i += 1;
            match ch {
                '*' if double_star && chars.get(i) == Some(&'*') => {
                    literal = false;
                    i += 1;
                    if chars.get(i) == Some(&'/') {
                        i += 1;
                    }
                    tokens.push(if i == chars.len() {
                        GlobToken::Rest
                    } else {
                        GlobToken::AnyDirs
                    });
                }
                '*' => {
                    literal = false;
                    if tokens.last() != Some(&GlobToken::Star) {
                        tokens.push(GlobToken::Star);
                    }
                }
                '?' => {
                    literal = false;
                    tokens.push(GlobToken::One);
                }
                '\\' => {
                    literal = false;
                    match chars.get(i) {
                        Some(next) => {
                            tokens.push(GlobToken::Literal(*next));
                            i += 1;
                        }
                        None => return Err("syntax error in pattern (trailing \\)".to_string()),
                    }
                }
                '[' => {
                    literal = false;
                    let (token, next) = Self::class(&chars, i)?;
                    tokens.push(token);
                    i = next;
                }
                _ => tokens.push(GlobToken::Literal(ch)),
            }
        }
        Ok(Glob { tokens, literal })
    }

    /// Parses a `[...]` class whose body starts at `i`; returns the token and
    /// the index after `]`.
    fn class(chars: &[char], mut i: usize) -> Result<(GlobToken, usize), String> {
        let bad = || "syntax error in pattern (bad [...] class)".to_string();
        let negated = chars.get(i) == Some(&'^');
        if negated {
            i += 1;
        }
        let mut ranges = Vec::new();
        // As Go's filepath.Match: an unescaped `-` or `]` where a character
        // is expected is a bad pattern.
        let read_char = |i: &mut usize| -> Result<char, String> {
            let mut ch = *chars.get(*i).ok_or_else(bad)?;
            match ch {
                '\\' => {
                    *i += 1;
                    ch = *chars.get(*i).ok_or_else(bad)?;
                }
                '-' | ']' => return Err(bad()),
                _ => {}
            }
            *i += 1;
            Ok(ch)
        };
        loop {
            match chars.get(i) {
                None => return Err(bad()),
                Some(']') if !ranges.is_empty() => {
                    return Ok((GlobToken::Class { negated, ranges }, i + 1))
                }
                Some(_) => {
                    let low = read_char(&mut i)?;
                    let high = if chars.get(i) == Some(&'-') {
                        i += 1;
                        read_char(&mut i)?
                    } else {
                        low
                    };
                    if high < low {
                        return Err(bad());
                    }
                    ranges.push((low, high));
                }
            }
        }
    }

    fn matches(&self, text: &str) -> bool {
        let text: Vec<char> = text.chars().collect();
        // memo[t * (tokens + 1) + p]: whether text[t..] matches tokens[p..].
        let mut memo = vec![None; (text.len() + 1) * (self.tokens.len() + 1)];
        self.match_at(0, 0, &text, &mut memo)
    }

    fn match_at(&self, t: usize, p: usize, text: &[char], memo: &mut [Option<bool>]) -> bool {
        let slot = t * (self.tokens.len() + 1) + p;
        if let Some(known) = memo[slot] {
            return known;
        }
        let result = match self.tokens.get(p) {
            None => t == text.len(),
            Some(GlobToken::Literal(c)) => {
                text.get(t) == Some(c) && self.match_at(t + 1, p + 1, text, memo)
            }
            Some(GlobToken::One) => {
                text.get(t).is_some_and(|c| *c != '/') && self.match_at(t + 1, p + 1, text, memo)
            }
            Some(GlobToken::Class { negated, ranges }) => {
                text.get(t).is_some_and(|c| {
                    *c != '/' && ranges.iter().any(|(lo, hi)| lo <= c && c <= hi) != *negated
                }) && self.match_at(t + 1, p + 1, text, memo)
            }
            Some(GlobToken::Star) => {
                let mut end = t;
                loop {
                    if self.match_at(end, p + 1, text, memo) {
                        break true;
                    }
                    if end >= text.len() || text[end] == '/' {
                        break false;
                    }
                    end += 1;
                }
            }
            Some(GlobToken::AnyDirs) => {
                self.match_at(t, p + 1, text, memo)
                    || (t..text.len())
                        .filter(|i| text[*i] == '/')
                        .any(|slash| self.match_at(slash + 1, p + 1, text, memo))
            }
            Some(GlobToken::Rest) => true,
        };
        memo[slot] = Some(result);
        result
    }
}

// ---------------------------------------------------------------------------
// .dockerignore

/// How a `.dockerignore` pattern is matched (moby/patternmatcher's kinds).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MatchKind {
    Exact,
    /// `foo/**`: any path under `foo/`.
    Prefix,
    /// `**/foo` (or `**foo`): any path ending so.
    Suffix,
    Glob,
}

#[derive(Debug, Clone)]
struct IgnorePattern {
    /// Cleaned, without the leading `!`.
    pattern: String,
    exclusion: bool,
    line: usize,
    kind: MatchKind,
    glob: Glob,
}

impl IgnorePattern {
    fn new(raw: &str, line: usize) -> Result<IgnorePattern, String> {
        let (exclusion, body) = match raw.strip_prefix('!') {
            Some(rest) => (true, rest.trim()),
            None => (false, raw),
        };
        if exclusion && body.is_empty() {
            return Err("illegal exclusion pattern: \"!\"".to_string());
        }
        let mut pattern = clean_path(body);
        if pattern.len() > 1 {
            if let Some(stripped) = pattern.strip_prefix('/') {
                pattern = stripped.to_string();
            }
        }
        let glob = Glob::compile(&pattern, true)?;
        let kind =
            if pattern.starts_with("**") && !pattern[2..].contains(['*', '?', '[', ']', '\\']) {
                MatchKind::Suffix
            } else if glob.literal {
                MatchKind::Exact
            } else if pattern.ends_with("**")
                && !pattern[..pattern.len() - 2].contains(['*', '?', '[', ']', '\\'])
            {
                MatchKind::Prefix
            } else {
                MatchKind::Glob
            };
        Ok(IgnorePattern {
            pattern,
            exclusion,
            line,
            kind,
            glob,
        })
    }

    fn matches(&self, path: &str) -> bool {
        match self.kind {
            MatchKind::Exact => path == self.pattern,
            MatchKind::Prefix => path.starts_with(&self.pattern[..self.pattern.len() - 2]),
            MatchKind::Suffix => {
                let suffix = &self.pattern[2..];
                path.ends_with(suffix) || suffix.strip_prefix('/').is_some_and(|rest| path == rest)
            }
            MatchKind::Glob => self.glob.matches(path),
        }
    }

    /// Whether the pattern could match `dir` or something below it.
    fn could_match_below(&self, dir: &str) -> bool {
        let pattern_parts: Vec<&str> = self.pattern.split('/').collect();
        for (i, dir_part) in dir.split('/').enumerate() {
            let Some(part) = pattern_parts.get(i) else {
                // The pattern names an ancestor of `dir`.
                return true;
            };
            if part.contains("**") {
                return true;
            }
            let matches = Glob::compile(part, false)
                .map(|g| g.matches(dir_part))
                .unwrap_or(true);
            if !matches {
                return false;
            }
        }
        true
    }
}

/// `.dockerignore` patterns: a path is excluded when the last pattern that
/// matches it or one of its parent directories is not a `!` exception.
#[derive(Debug, Clone, Default)]
pub struct ContextFilter {
    patterns: Vec<IgnorePattern>,
    /// The file the patterns came from (for messages).
    file: Option<PathBuf>,
}

impl ContextFilter {
    /// A filter that excludes nothing.
    pub fn none() -> ContextFilter {
        ContextFilter::default()
    }

    /// Parses `.dockerignore` text; `file` names it in errors.
    pub fn parse(text: &str, file: &Path) -> Result<ContextFilter, ContextError> {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let mut patterns = Vec::new();
        for (index, line) in text.lines().enumerate() {
            if line.starts_with('#') {
                continue;
            }
            let trimmed = line.trim();
            if trimmed.is_empty() {
                continue;
            }
            let pattern = IgnorePattern::new(trimmed, index + 1).map_err(|message| {
                ContextError::Pattern {
                    file: file.to_path_buf(),
                    line: index + 1,
                    pattern: trimmed.to_string(),
                    message,
                }
            })?;
            patterns.push(pattern);
        }
        Ok(ContextFilter {
            patterns,
            file: Some(file.to_path_buf()),
        })
    }

    /// Patterns given directly (`COPY --exclude=...`); `origin` names them in errors.
    pub fn from_patterns(patterns: &[String], origin: &str) -> Result<ContextFilter, ContextError> {
        let text = patterns.join("\n");
        let mut filter = ContextFilter::parse(&text, Path::new(origin))?;
        filter.file = None;
        Ok(filter)
    }

    /// The ignore file BuildKit uses for `dockerfile` in `context_dir`:
    /// `<Dockerfile name>.dockerignore` next to the Dockerfile wins over the
    /// context's `.dockerignore`; neither means nothing is excluded.
    pub fn load(
        context_dir: &Path,
        dockerfile: Option<&Path>,
    ) -> Result<ContextFilter, ContextError> {
        let mut candidates = Vec::new();
        if let Some(dockerfile) = dockerfile {
            if let Some(name) = dockerfile.file_name() {
                let mut specific = name.to_os_string();
                specific.push(".dockerignore");
                candidates.push(dockerfile.with_file_name(specific));
            }
        }
        candidates.push(context_dir.join(".dockerignore"));
        for candidate in candidates {
            match fs::read_to_string(&candidate) {
                Ok(text) => return ContextFilter::parse(&text, &candidate),
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(io_error(&candidate)(e)),
            }
        }
        Ok(ContextFilter::none())
    }

    /// The ignore file the patterns came from, if any.
    pub fn file(&self) -> Option<&Path> {
        self.file.as_deref()
    }

    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }

    /// Whether `path` (relative to the context, `/`-separated) is excluded.
    pub fn excludes(&self, path: &str) -> bool {
        self.deciding_pattern(path).is_some()
    }

    /// The pattern that excludes `path` (its line), if it is excluded.
    fn deciding_pattern(&self, path: &str) -> Option<&IgnorePattern> {
        let path = clean_path(path);
        let parents: Vec<&str> = match path.rfind('/') {
            Some(i) => path[..i].split('/').collect(),
            None => Vec::new(),
        };
        let mut excluded_by: Option<&IgnorePattern> = None;
        for pattern in &self.patterns {
            // An exception can only change an excluded path, an exclusion an included one.
            if pattern.exclusion != excluded_by.is_some() {
                continue;
            }
            let matched = pattern.matches(&path)
                || (1..=parents.len()).any(|n| pattern.matches(&parents[..n].join("/")));
            if matched {
                excluded_by = if pattern.exclusion {
                    None
                } else {
                    Some(pattern)
                };
            }
        }
        excluded_by
    }

    /// Whether something below the excluded directory `dir` could be
    /// brought back by a `!` exception (else the walk skips the directory).
    pub fn may_include_below(&self, dir: &str) -> bool {
        self.patterns
            .iter()
            .any(|p| p.exclusion && p.could_match_below(dir))
    }
}

// ---------------------------------------------------------------------------
// Entries and the walk

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

/// Device, inode, size, and modification and change times in nanoseconds:
/// a file whose stamp is unchanged has unchanged content (the change time
/// moves on every write and cannot be set back), so its hash can be reused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct FileStamp {
    pub dev: u64,
    pub ino: u64,
    pub size: u64,
    pub mtime_ns: i128,
    pub ctime_ns: i128,
}

impl FileStamp {
    fn of(meta: &fs::Metadata) -> FileStamp {
        let nanos = |secs: i64, nsecs: i64| i128::from(secs) * 1_000_000_000 + i128::from(nsecs);
        FileStamp {
            dev: meta.dev(),
            ino: meta.ino(),
            size: meta.len(),
            mtime_ns: nanos(meta.mtime(), meta.mtime_nsec()),
            ctime_ns: nanos(meta.ctime(), meta.ctime_nsec()),
        }
    }
}

/// Content hashes kept across builds, so an unchanged file is not read
/// again (the executor keeps one per context, e.g. with [`HashCacheFile`]).
pub trait ContentHashCache: Send + Sync + std::fmt::Debug {
    /// The sha256 of `path`'s content if it was hashed with this stamp.
    fn get(&self, path: &str, stamp: &FileStamp) -> Option<[u8; 32]>;
    fn put(&self, path: &str, stamp: &FileStamp, hash: [u8; 32]);
}

/// A [`ContentHashCache`] in a JSON file, replaced atomically on save.
#[derive(Debug, Default)]
pub struct HashCacheFile {
    path: PathBuf,
    entries: Mutex<HashMap<String, (FileStamp, String)>>,
    dirty: std::sync::atomic::AtomicBool,
}

impl HashCacheFile {
    /// Reads `path`; a missing or unreadable file is an empty cache (it is
    /// only an optimisation, rebuilt on the next save).
    pub fn load(path: &Path) -> HashCacheFile {
        let entries = fs::read(path)
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .unwrap_or_default();
        HashCacheFile {
            path: path.to_path_buf(),
            entries: Mutex::new(entries),
            dirty: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// Writes the cache if it changed.
    pub fn save(&self) -> Result<(), ContextError> {
        if !self.dirty.load(std::sync::atomic::Ordering::SeqCst) {
            return Ok(());
        }
        let bytes = {
            let entries = self.entries.lock().map_err(|_| ContextError::Source {
                path: self.path.display().to_string(),
                message: "the hash cache lock was poisoned".to_string(),
            })?;
            serde_json::to_vec(&*entries).map_err(|e| ContextError::Io {
                path: self.path.clone(),
                source: io::Error::other(e),
            })?
        };
        crate::sys::atomic::write(&self.path, &bytes)
            .map_err(|(_, path, source)| ContextError::Io { path, source })?;
        self.dirty.store(false, std::sync::atomic::Ordering::SeqCst);
        Ok(())
    }
}

impl ContentHashCache for HashCacheFile {
    fn get(&self, path: &str, stamp: &FileStamp) -> Option<[u8; 32]> {
        let entries = self.entries.lock().ok()?;
        let (known, hex) = entries.get(path)?;
        if known != stamp || hex.len() != 64 {
            return None;
        }
        let mut hash = [0u8; 32];
        for (i, byte) in hash.iter_mut().enumerate() {
            *byte = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
        }
        Some(hash)
    }

    fn put(&self, path: &str, stamp: &FileStamp, hash: [u8; 32]) {
        let hex: String = hash.iter().map(|b| format!("{b:02x}")).collect();
        if let Ok(mut entries) = self.entries.lock() {
            entries.insert(path.to_string(), (*stamp, hex));
            self.dirty.store(true, std::sync::atomic::Ordering::SeqCst);
        }
    }
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
        self.entries
            .binary_search_by(|e| e.path.as_str().cmp(path))
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
        let mut hasher = Hasher::new(Algorithm::Sha256);
        for entry in entries {
            self.hash_entry(&mut hasher, entry)?;
        }
        Ok(hasher.finish())
    }

    /// [`Context::hash_entries`] over resolved sources, each source's word
    /// and matched path included so `COPY a b` and `COPY b a` differ.
    pub fn hash_sources(&self, sources: &[ResolvedSource]) -> Result<Digest, ContextError> {
        let mut hasher = Hasher::new(Algorithm::Sha256);
        for source in sources {
            hasher.update(format!("source {:?} {:?}\0", source.source, source.path).as_bytes());
            for entry in &source.entries {
                self.hash_entry(&mut hasher, entry)?;
            }
        }
        Ok(hasher.finish())
    }

    fn hash_entry(&self, hasher: &mut Hasher, entry: &Entry) -> Result<(), ContextError> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn filter(patterns: &[&str]) -> ContextFilter {
        let text = patterns.join("\n");
        ContextFilter::parse(&text, Path::new(".dockerignore")).unwrap_or_else(|e| panic!("{e}"))
    }

    /// moby/patternmatcher's single-pattern expectations (a path is matched
    /// when the pattern matches it or one of its parents).
    #[test]
    fn dockerignore_pattern_table() {
        let cases: &[(&str, &str, bool)] = &[
            ("*", "fileutils.go", true),
            ("*.go", "fileutils.go", true),
            ("docs", "docs/README.md", true),
            ("docs/", "docs/README.md", true),
            ("**", "file", true),
            ("**/", "file", true),
            ("**", "dir/file", true),
            ("**/**", "dir/file", true),
            ("dir/**", "dir/file", true),
            ("dir/**", "dir/dir2/file", true),
            ("**/dir", "dir", true),
            ("**/dir", "dir/file", true),
            ("**/dir2/*", "dir/dir2/file", true),
            ("**/dir2/**", "dir/dir2/dir3/file", true),
            ("**file", "file", true),
            ("**file", "dir/file", true),
            ("**/file", "dir/file", true),
            ("**file", "dir/dir/file", true),
            ("**/file*", "dir/dir/file.txt", true),
            ("**/file*txt", "dir/dir/file.txt", true),
            ("**/**/*.txt", "dir/dir/file.txt", true),
            ("**/**/*.txt2", "dir/dir/file.txt", false),
            ("**/*.txt", "file.txt", true),
            ("**/**/*.txt", "file.txt", true),
            ("a**/*.txt", "a/file.txt", true),
            ("a**/*.txt", "a/dir/file.txt", true),
            ("a**/*.txt", "a/dir/dir/file.txt", true),
            ("a/*.txt", "a/dir/file.txt", false),
            ("a/*.txt", "a/file.txt", true),
            ("a/*.txt**", "a/file.txt", true),
            ("a[b-d]e", "ae", false),
            ("a[b-d]e", "ace", true),
            ("a[b-d]e", "aae", false),
            ("a[^b-d]e", "aze", true),
            (".*", ".foo", true),
            (".*", "foo", false),
            ("abc.def", "abcdef", false),
            ("abc.def", "abc.def", true),
            ("abc?def", "abcZdef", true),
            ("abc?def", "abcdef", false),
            ("a\\\\", "a\\", true),
            ("**/foo/bar", "foo/bar", true),
            ("**/foo/bar", "dir/dir2/foo/bar", true),
            ("abc/**", "abc", false),
            ("abc/**", "abc/def/ghi", true),
            ("**/.foo", ".foo", true),
            ("**/.foo", "bar.foo", false),
            ("a(b)c/def", "a(b)c/def", true),
            ("a(b)c/def", "a(b)c/xyz", false),
            ("a.|)$(}+{bc", "a.|)$(}+{bc", true),
            (
                "dist/*.whl",
                "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
                true,
            ),
            ("a\\*b", "a*b", true),
            ("a\\*b", "ab", false),
            ("a*/b", "abc/b", true),
            ("a*/b", "a/c/b", false),
            ("a*b*c*d*e*/f", "axbxcxdxexxx/f", true),
            ("a*b*c*d*e*/f", "axbxcxdxe/xxx/f", false),
            ("a*b?c*x", "abxbbxdbxebxczzx", true),
            ("a*b?c*x", "abxbbxdbxebxczzy", false),
            ("a?b", "a☺b", true),
            ("[a-ζ]*", "α", true),
            ("[\\]a]", "]", true),
            ("[x\\-]", "-", true),
            ("[x\\-]", "z", false),
            ("*x", "xxx", true),
            ("/abs/path", "abs/path", true),
            ("./dir/../other", "other", true),
        ];
        for (pattern, path, expected) in cases {
            assert_eq!(
                filter(&[pattern]).excludes(path),
                *expected,
                "pattern {pattern:?} path {path:?}"
            );
        }
    }

    #[test]
    fn exceptions_are_applied_in_order() {
        let cases: &[(&[&str], &str, bool)] = &[
            (&["!fileutils.go", "*.go"], "fileutils.go", true),
            (&["*.go", "!fileutils.go"], "fileutils.go", false),
            (&["docs", "!docs/README.md"], "docs/README.md", false),
            (&["docs/*", "!docs/README.md"], "docs/README.md", false),
            (&["docs", "!docs/README.md"], "docs/other.md", true),
            (&["**", "!util/docker/web"], "util/docker/web/foo", false),
            (
                &["**", "!util/docker/web", "util/docker/web/foo"],
                "util/docker/web/foo",
                true,
            ),
            (&["**", "!dist/*.whl"], "dist/proxy.whl", false),
            (
                &["*.md", "!README*.md", "README-secret.md"],
                "README-secret.md",
                true,
            ),
            (
                &["*.md", "!README*.md", "README-secret.md"],
                "README-public.md",
                false,
            ),
        ];
        for (patterns, path, expected) in cases {
            assert_eq!(
                filter(patterns).excludes(path),
                *expected,
                "{patterns:?} {path:?}"
            );
        }
    }

    #[test]
    fn ignore_file_syntax_and_bad_patterns() {
        let f = ContextFilter::parse(
            "\u{feff}# comment\n  #not a comment  \n\n  tmp/  \n! keep \n/abs\n",
            Path::new("ctx/.dockerignore"),
        )
        .unwrap();
        assert!(f.excludes("#not a comment"));
        assert!(f.excludes("tmp/x"));
        assert!(f.excludes("abs"));
        assert!(!f.excludes("keep"));
        for (text, line) in [
            ("ok\n!\n", 2),
            ("a[\n", 1),
            ("[]a]\n", 1),
            ("x\ny\n[-x]\n", 3),
            ("a\\\n", 1),
            ("[a-b-c]\n", 1),
        ] {
            let error = ContextFilter::parse(text, Path::new("ctx/.dockerignore")).unwrap_err();
            match &error {
                ContextError::Pattern { line: l, .. } => assert_eq!(*l, line, "{text:?}: {error}"),
                other => panic!("{text:?}: {other}"),
            }
            assert!(
                error
                    .to_string()
                    .starts_with(&format!("ctx/.dockerignore:{line}: ")),
                "{error}"
            );
        }
    }

    #[test]
    fn the_dockerfile_specific_ignore_file_wins() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join(".dockerignore"), "general\n").unwrap();
        fs::create_dir(dir.path().join("build")).unwrap();
        let dockerfile = dir.path().join("build/app.Dockerfile");
        fs::write(&dockerfile, "FROM a\n").unwrap();
        let f = ContextFilter::load(dir.path(), Some(&dockerfile)).unwrap();
        assert!(
            f.excludes("general") && f.file() == Some(dir.path().join(".dockerignore").as_path())
        );
        fs::write(
            dir.path().join("build/app.Dockerfile.dockerignore"),
            "specific\n",
        )
        .unwrap();
        let f = ContextFilter::load(dir.path(), Some(&dockerfile)).unwrap();
        assert!(f.excludes("specific") && !f.excludes("general"));
        let none = tempfile::tempdir().unwrap();
        assert!(ContextFilter::load(none.path(), None).unwrap().is_empty());
    }

    fn write(root: &Path, path: &str, content: &str) {
        let full = root.join(path);
        if let Some(parent) = full.parent() {
            fs::create_dir_all(parent).unwrap();
        }
        fs::write(full, content).unwrap();
    }

    fn paths(entries: &[Entry]) -> Vec<&str> {
        entries.iter().map(|e| e.path.as_str()).collect()
    }

    #[test]
    fn an_excluded_directory_is_not_walked_unless_an_exception_reaches_into_it() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        write(root, "app.js", "x");
        for i in 0..40 {
            write(root, &format!("node_modules/pkg{i}/index.js"), "module");
        }
        let ctx = Context::open(root, filter(&["node_modules"]), DEFAULT_SIZE_LIMIT).unwrap();
        assert_eq!(paths(ctx.entries()), vec!["app.js"]);
        assert_eq!(ctx.dirs_read(), 1, "only the root is listed");

        let ctx = Context::open(
            root,
            filter(&["node_modules", "!node_modules/pkg7/index.js"]),
            DEFAULT_SIZE_LIMIT,
        )
        .unwrap();
        assert_eq!(
            paths(ctx.entries()),
            vec![
                "app.js",
                "node_modules",
                "node_modules/pkg7",
                "node_modules/pkg7/index.js"
            ]
        );
        assert_eq!(ctx.size(), 1 + 6);
    }

    #[test]
    fn symlinks_are_content_and_never_lead_out() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        write(root, "sub/real.txt", "inside");
        symlink("/etc/passwd", root.join("passwd")).unwrap();
        symlink("../../..", root.join("sub/up")).unwrap();
        symlink("sub/real.txt", root.join("alias")).unwrap();
        symlink("/sub", root.join("absolute")).unwrap();
        let ctx = Context::open(root, ContextFilter::none(), DEFAULT_SIZE_LIMIT).unwrap();
        let passwd = ctx.entry("passwd").unwrap();
        assert_eq!(passwd.kind, EntryKind::Symlink("/etc/passwd".into()));
        assert_eq!(passwd.size, 0);
        // A source through a symlink is resolved inside the context.
        let resolved = ctx.resolve_sources(&["alias".into()], &[]).unwrap();
        assert_eq!(resolved[0].path, "sub/real.txt");
        let resolved = ctx
            .resolve_sources(&["absolute/real.txt".into()], &[])
            .unwrap();
        assert_eq!(resolved[0].path, "sub/real.txt");
        // `..` past the root stays at the root.
        let resolved = ctx
            .resolve_sources(&["sub/up/sub/real.txt".into()], &[])
            .unwrap();
        assert_eq!(resolved[0].path, "sub/real.txt");
        let resolved = ctx
            .resolve_sources(&["../../sub/../alias".into()], &[])
            .unwrap();
        assert_eq!(resolved[0].path, "sub/real.txt");
        // A link to /etc/passwd names the context's own etc/passwd: missing,
        // whether the link is followed or the path written directly.
        for source in ["passwd", "../../etc/passwd"] {
            let error = ctx.resolve_sources(&[source.into()], &[]).unwrap_err();
            assert!(matches!(error, ContextError::MissingSource(_)), "{error}");
        }
        let error = ctx.resolve_sources(&["passwd/x".into()], &[]).unwrap_err();
        assert!(matches!(error, ContextError::MissingSource(_)), "{error}");
    }

    #[test]
    fn the_size_limit_counts_only_included_files() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        write(root, "a", &"x".repeat(600));
        write(root, "big/b", &"x".repeat(600));
        let error = Context::open(root, ContextFilter::none(), 1000).unwrap_err();
        assert!(
            matches!(error, ContextError::TooLarge { limit: 1000, .. }),
            "{error}"
        );
        assert!(
            error
                .to_string()
                .contains("larger than the limit of 1000 bytes"),
            "{error}"
        );
        let ctx = Context::open(root, filter(&["big"]), 1000).unwrap();
        assert_eq!(ctx.size(), 600);
    }

    #[test]
    fn sources_globs_and_missing_paths() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        write(root, "a.txt", "a");
        write(root, "b.txt", "b");
        write(root, "secret.txt", "s");
        write(root, "src/c.txt", "c");
        write(root, "src/d.md", "d");
        write(root, "src/deep/e.md", "e");
        let ctx = Context::open(
            root,
            filter(&["# keep out", "secret.txt"]),
            DEFAULT_SIZE_LIMIT,
        )
        .unwrap();

        let resolved = ctx.resolve_sources(&["*.txt".into()], &[]).unwrap();
        let matched: Vec<&str> = resolved.iter().map(|r| r.path.as_str()).collect();
        assert_eq!(matched, vec!["a.txt", "b.txt"]);
        assert!(ctx
            .resolve_sources(&["*.none".into()], &[])
            .unwrap()
            .is_empty());

        let resolved = ctx
            .resolve_sources(&["./src/".into()], &["*.md".into()])
            .unwrap();
        assert_eq!(
            paths(&resolved[0].entries),
            vec!["src", "src/c.txt", "src/deep", "src/deep/e.md"]
        );
        let resolved = ctx
            .resolve_sources(&["src".into()], &["**/*.md".into()])
            .unwrap();
        assert_eq!(
            paths(&resolved[0].entries),
            vec!["src", "src/c.txt", "src/deep"]
        );
        let resolved = ctx.resolve_sources(&[".".into()], &[]).unwrap();
        assert_eq!(resolved[0].path, "");
        assert_eq!(resolved[0].entries.len(), ctx.entries().len());

        let error = ctx
            .resolve_sources(&["secret.txt".into()], &[])
            .unwrap_err();
        let message = error.to_string();
        assert!(
            message.contains("\"secret.txt\"") && message.contains("excluded by .dockerignore:2"),
            "{message}"
        );
        let error = ctx
            .resolve_sources(&["nothing.txt".into()], &[])
            .unwrap_err();
        assert_eq!(
            error.to_string(),
            "\"nothing.txt\": not found in the build context"
        );
    }

    #[test]
    fn hashes_follow_content_mode_and_names_but_not_mtimes() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        write(root, "app/main.py", "print(1)");
        write(root, "app/util.py", "x = 1");
        let digest = |root: &Path| {
            let ctx = Context::open(root, ContextFilter::none(), DEFAULT_SIZE_LIMIT).unwrap();
            let sources = ctx.resolve_sources(&["app".into()], &[]).unwrap();
            ctx.hash_sources(&sources).unwrap()
        };
        let first = digest(root);
        assert_eq!(digest(root), first, "same tree, same digest");

        let file = fs::File::options()
            .write(true)
            .open(root.join("app/main.py"))
            .unwrap();
        file.set_modified(std::time::SystemTime::UNIX_EPOCH)
            .unwrap();
        drop(file);
        assert_eq!(digest(root), first, "mtimes do not count");

        fs::set_permissions(root.join("app/main.py"), fs::Permissions::from_mode(0o755)).unwrap();
        let after_chmod = digest(root);
        assert_ne!(after_chmod, first, "mode counts");

        fs::write(root.join("app/util.py"), "x = 2").unwrap();
        let after_edit = digest(root);
        assert_ne!(after_edit, after_chmod, "content counts");

        fs::rename(root.join("app/util.py"), root.join("app/helpers.py")).unwrap();
        assert_ne!(digest(root), after_edit, "names count");
    }

    #[test]
    fn a_hash_cache_file_saves_reading_unchanged_files() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("ctx");
        write(&root, "a.txt", "one");
        write(&root, "b.txt", "two");
        let cache_path = dir.path().join("hashes.json");
        let digest_with_cache = || {
            let cache = std::sync::Arc::new(HashCacheFile::load(&cache_path));
            let ctx = Context::open(&root, ContextFilter::none(), DEFAULT_SIZE_LIMIT)
                .unwrap()
                .with_hash_cache(cache.clone());
            let digest = ctx.hash_entries(ctx.entries()).unwrap();
            cache.save().unwrap();
            digest
        };
        let first = digest_with_cache();
        let saved = fs::read_to_string(&cache_path).unwrap();
        assert!(
            saved.contains("a.txt") && saved.contains("b.txt"),
            "{saved}"
        );

        // A cached hash is used while the stamp matches: plant a wrong one to see it.
        let cache = HashCacheFile::load(&cache_path);
        let ctx = Context::open(&root, ContextFilter::none(), DEFAULT_SIZE_LIMIT).unwrap();
        let a = ctx.entry("a.txt").unwrap().clone();
        cache.put("a.txt", &a.stamp, [7u8; 32]);
        assert_eq!(cache.get("a.txt", &a.stamp), Some([7u8; 32]));
        let ctx = ctx.with_hash_cache(std::sync::Arc::new(cache));
        assert_eq!(ctx.content_hash(&a).unwrap(), [7u8; 32]);

        // An edit changes the stamp: the file is read again.
        fs::write(root.join("b.txt"), "changed").unwrap();
        let second = digest_with_cache();
        assert_ne!(second, first);
        let plain = Context::open(&root, ContextFilter::none(), DEFAULT_SIZE_LIMIT).unwrap();
        assert_eq!(
            plain.hash_entries(plain.entries()).unwrap(),
            second,
            "cached and fresh hashes agree"
        );
    }

    #[test]
    fn clean_paths_like_go() {
        let cases = [
            ("", "."),
            ("a/b/../c", "a/c"),
            ("/../a", "/a"),
            ("../a/./b/", "../a/b"),
            ("a//b", "a/b"),
            ("./", "."),
            ("/", "/"),
        ];
        for (path, expected) in cases {
            assert_eq!(clean_path(path), expected, "{path:?}");
        }
    }
}
