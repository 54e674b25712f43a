//! The build context: `.dockerignore` filtering (Docker's pattern
//! semantics), a walk that never follows symlinks and never leaves the
//! context, a size limit, COPY/ADD source resolution, and content hashing.
//!
//! A symlink in the context is content (its target string), never a way out:
//! the walk uses `symlink_metadata` only, and a source path whose components
//! are symlinks is resolved inside the context as if the context were `/`.

mod hash_cache;
mod ignore;
mod walk;

use std::io::{self};
use std::path::{Path, PathBuf};

pub use hash_cache::{ContentHashCache, FileStamp, HashCacheFile};
pub use ignore::{ContextFilter, Glob};
pub use walk::{Context, Entry, EntryKind, ResolvedSource};

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
    #[error("saving the context hash cache: {0}")]
    HashCache(#[from] crate::sys::atomic::AtomicError),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::digest::{Algorithm, Hasher};
    use std::fs;
    use std::os::unix::fs::symlink;
    use std::os::unix::fs::PermissionsExt;

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
    fn a_file_named_like_a_directory_with_a_suffix_is_found() {
        // The walk lists `payload/inner` before `payload.tar.gz`, which sorts
        // the other way round as whole strings.
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        write(root, "payload/inner/file.txt", "x");
        write(root, "payload.tar.gz", "y");
        write(root, "svc/b/main.go", "z");
        let ctx = Context::open(root, ContextFilter::none(), DEFAULT_SIZE_LIMIT).unwrap();
        for path in [
            "payload",
            "payload/inner/file.txt",
            "payload.tar.gz",
            "svc/b/main.go",
        ] {
            assert!(ctx.entry(path).is_some(), "{path}");
        }
        let resolved = ctx
            .resolve_sources(&["payload.tar.gz".into()], &[])
            .unwrap();
        assert_eq!(resolved[0].path, "payload.tar.gz");
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
    fn large_sets_hash_the_same_on_several_threads() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for i in 0..200 {
            write(root, &format!("d{}/f{i}", i % 7), &format!("content {i}"));
        }
        let ctx = Context::open(root, ContextFilter::none(), DEFAULT_SIZE_LIMIT).unwrap();
        // Folding one entry at a time (no prefetch) gives the reference digest.
        let mut hasher = Hasher::new(Algorithm::Sha256);
        for entry in ctx.entries() {
            ctx.hash_entry(&mut hasher, entry).unwrap();
        }
        let sequential = hasher.finish();
        let fresh = Context::open(root, ContextFilter::none(), DEFAULT_SIZE_LIMIT).unwrap();
        assert_eq!(fresh.hash_entries(fresh.entries()).unwrap(), sequential);
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
