//! Making the relative paths of a compose document absolute, as Compose does
//! before it prints or uses a project.
//!
//! Relative paths are joined to the project directory (or, for a service
//! pulled in through `extends.file`, to that file's directory) and cleaned
//! lexically the way Go's `filepath.Join` does; a leading `~` is replaced by
//! the home directory. Both short and long syntaxes are handled, so this can
//! run before or after canonicalization. Named volumes, remote build
//! contexts (URLs, git references, `service:` / `docker-image://` contexts)
//! and empty values are left untouched.

use super::error::LoadError;
use super::merge::split_short_volume;
use super::yaml::{pattern_matches, Node, Value};
use std::path::{Path, PathBuf};

/// How the value at a path is resolved.
#[derive(Clone, Copy, Debug)]
enum PathRule {
    /// `services.*.build`: a context string, or a mapping with `context`,
    /// `additional_contexts` and `ssh`.
    Build,
    /// `env_file`: a path, a list of paths or of `{path, required}`.
    EnvFile,
    /// A path or a list of paths.
    PathOrList,
    /// A single path.
    Path,
    /// A path whose symlink is resolved too (`develop.watch.*.path`).
    SymlinkPath,
    /// `services.*.volumes`: bind sources in either syntax.
    ServiceVolumes,
    /// `volumes.*`: the device of a local bind volume.
    VolumeDevice,
    /// `include`: a list of paths or of `{path, env_file, project_directory}`.
    Include,
}

/// Path patterns → resolution rule; `*` matches any one key (or index).
const PATH_RULES: &[(&str, PathRule)] = &[
    ("services.*.build", PathRule::Build),
    ("services.*.env_file", PathRule::EnvFile),
    ("services.*.label_file", PathRule::PathOrList),
    ("services.*.extends.file", PathRule::Path),
    ("services.*.develop.watch.*.path", PathRule::SymlinkPath),
    ("services.*.volumes", PathRule::ServiceVolumes),
    ("configs.*.file", PathRule::Path),
    ("secrets.*.file", PathRule::Path),
    ("volumes.*", PathRule::VolumeDevice),
    ("include", PathRule::Include),
];

struct Resolver<'a> {
    base_dir: &'a Path,
    home: Option<&'a Path>,
}

/// Makes every path of `doc` absolute against `base_dir` (the project
/// directory). `home` replaces a leading `~`; without it `~` paths are kept.
///
/// Compose runs this once, on the merged document: paths written in a later
/// `-f` file in another directory are relative to the project directory too.
/// Only services taken from an `extends.file` are resolved earlier, against
/// their own file's directory (see [`super::extends`]).
pub fn resolve_relative_paths(
    doc: &mut Node,
    base_dir: &Path,
    home: Option<&Path>,
) -> Result<(), LoadError> {
    let r = Resolver { base_dir, home };
    r.walk(doc, &mut Vec::new())
}

impl Resolver<'_> {
    fn walk(&self, node: &mut Node, path: &mut Vec<String>) -> Result<(), LoadError> {
        if let Some((_, rule)) = PATH_RULES
            .iter()
            .find(|(p, _)| pattern_matches(p, path.iter().map(|k| Some(k.as_str()))))
        {
            return self.apply(*rule, node, path);
        }
        match &mut node.value {
            Value::Map(m) => {
                for (k, v) in m.iter_mut() {
                    path.push(k.clone());
                    let r = self.walk(v, path);
                    path.pop();
                    r?;
                }
            }
            Value::Seq(s) => {
                for (i, v) in s.iter_mut().enumerate() {
                    path.push(i.to_string());
                    let r = self.walk(v, path);
                    path.pop();
                    r?;
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn apply(&self, rule: PathRule, node: &mut Node, path: &[String]) -> Result<(), LoadError> {
        match rule {
            PathRule::Path => self.abs_node(node),
            PathRule::SymlinkPath => {
                self.abs_node(node);
                if let Value::Str(s) = &mut node.value {
                    *s = resolve_symlink(s);
                }
            }
            PathRule::PathOrList => match &mut node.value {
                Value::Seq(items) => items.iter_mut().for_each(|n| self.abs_node(n)),
                _ => self.abs_node(node),
            },
            PathRule::EnvFile => match &mut node.value {
                Value::Seq(items) => {
                    for item in items {
                        match &mut item.value {
                            Value::Map(m) => {
                                if let Some(p) = m.get_mut("path") {
                                    self.abs_node(p);
                                }
                            }
                            _ => self.abs_node(item),
                        }
                    }
                }
                _ => self.abs_node(node),
            },
            PathRule::Build => self.build(node),
            PathRule::ServiceVolumes => {
                if let Value::Seq(items) = &mut node.value {
                    for (i, item) in items.iter_mut().enumerate() {
                        self.service_volume(item, path, i)?;
                    }
                }
            }
            PathRule::VolumeDevice => {
                let is_local = node.get("driver").and_then(Node::as_str) == Some("local");
                let opts = node
                    .as_map_mut()
                    .and_then(|m| m.get_mut("driver_opts"))
                    .filter(|_| is_local);
                if let Some(opts) = opts {
                    if opts.get("o").and_then(Node::as_str) == Some("bind") {
                        if let Some(device) = opts.as_map_mut().and_then(|m| m.get_mut("device")) {
                            // Compose joins "" to the project directory too.
                            if device.as_str() == Some("") {
                                device.value = Value::Str(self.base_dir.display().to_string());
                            }
                            self.abs_node(device);
                        }
                    }
                }
            }
            PathRule::Include => {
                if let Value::Seq(items) = &mut node.value {
                    for item in items {
                        match &mut item.value {
                            Value::Map(m) => {
                                for key in ["path", "env_file"] {
                                    if let Some(Node {
                                        value: Value::Seq(list),
                                        ..
                                    }) = m.get_mut(key)
                                    {
                                        list.iter_mut().for_each(|n| self.abs_node(n));
                                    } else if let Some(n) = m.get_mut(key) {
                                        self.abs_node(n);
                                    }
                                }
                                if let Some(n) = m.get_mut("project_directory") {
                                    self.abs_node(n);
                                }
                            }
                            _ => self.abs_node(item),
                        }
                    }
                }
            }
        }
        Ok(())
    }

    fn build(&self, node: &mut Node) {
        match &mut node.value {
            Value::Str(_) => self.context(node),
            Value::Map(m) => {
                if let Some(c) = m.get_mut("context") {
                    self.context(c);
                }
                if let Some(extra) = m.get_mut("additional_contexts") {
                    match &mut extra.value {
                        Value::Map(ctx) => ctx.values_mut().for_each(|c| self.context(c)),
                        Value::Seq(items) => {
                            for item in items {
                                self.map_key_value(item, |s| {
                                    if is_remote_context(s) {
                                        s.to_string()
                                    } else {
                                        self.abs(s)
                                    }
                                });
                            }
                        }
                        _ => {}
                    }
                }
                if let Some(ssh) = m.get_mut("ssh") {
                    match &mut ssh.value {
                        Value::Map(keys) => keys.values_mut().for_each(|k| self.abs_node(k)),
                        Value::Seq(items) => {
                            for item in items {
                                self.map_key_value(item, |s| self.abs(s));
                            }
                        }
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }

    /// Rewrites the value part of a `key=value` string.
    fn map_key_value(&self, node: &mut Node, f: impl Fn(&str) -> String) {
        if let Value::Str(s) = &mut node.value {
            if let Some((k, v)) = s.split_once('=') {
                if !v.is_empty() {
                    *s = format!("{k}={}", f(v));
                }
            }
        }
    }

    fn context(&self, node: &mut Node) {
        if let Value::Str(s) = &node.value {
            if is_remote_context(s) {
                return;
            }
        }
        self.abs_node(node);
    }

    fn service_volume(&self, item: &mut Node, path: &[String], i: usize) -> Result<(), LoadError> {
        match &mut item.value {
            Value::Map(m) => {
                if m.get("type").and_then(Node::as_str) != Some("bind") {
                    return Ok(());
                }
                match m.get_mut("source") {
                    Some(source) => self.abs_node(source),
                    None => return Err(LoadError::invalid(
                        &item.pos,
                        format!("{}[{i}]", path.join(".")),
                        "invalid mount config for type \"bind\": field Source must not be empty",
                    )),
                }
            }
            Value::Str(spec) => {
                let parts = split_short_volume(spec);
                if parts.len() < 2 || !is_file_path(parts[0]) {
                    return Ok(());
                }
                let source = self.abs(parts[0]);
                let rest = parts[1..].join(":");
                *spec = format!("{source}:{rest}");
            }
            _ => {}
        }
        Ok(())
    }

    fn abs_node(&self, node: &mut Node) {
        if let Value::Str(s) = &mut node.value {
            if !s.is_empty() {
                *s = self.abs(s);
            }
        }
    }

    /// `~` expansion, then join to the base directory unless absolute
    /// (Unix or Windows).
    fn abs(&self, p: &str) -> String {
        let expanded = match (p.strip_prefix('~'), self.home) {
            (Some(rest), Some(home)) => join_clean(home, rest),
            (Some(_), None) => return p.to_string(),
            (None, _) => p.to_string(),
        };
        if expanded.starts_with('/') || is_windows_abs(&expanded) {
            return expanded;
        }
        join_clean(self.base_dir, &expanded)
    }
}

/// What Compose treats as a host path in a short volume spec; anything else
/// is a named volume.
fn is_file_path(source: &str) -> bool {
    source.starts_with('.')
        || source.starts_with('/')
        || source.starts_with('~')
        || is_windows_abs(source)
}

fn is_windows_abs(p: &str) -> bool {
    let b = p.as_bytes();
    (b.len() >= 3 && b[0].is_ascii_alphabetic() && b[1] == b':' && (b[2] == b'\\' || b[2] == b'/'))
        || p.starts_with("\\\\")
}

/// Build contexts that are not local directories (buildkit's rules).
pub fn is_remote_context(s: &str) -> bool {
    s.contains("://")
        || s.starts_with("service:")
        || [
            "https://",
            "http://",
            "git://",
            "ssh://",
            "github.com/",
            "git@",
        ]
        .iter()
        .any(|p| s.starts_with(p))
}

/// Go's `path.Clean`: lexical, slash-separated — `.` and empty segments
/// dropped, `..` resolved (never above `/`). The one cleaner of the loader.
pub fn clean(p: &str) -> String {
    if p.is_empty() {
        return ".".into();
    }
    let rooted = p.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for seg in p.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|l| *l != "..") {
                    parts.pop();
                } else if !rooted {
                    parts.push("..");
                }
            }
            s => parts.push(s),
        }
    }
    let body = parts.join("/");
    match (rooted, body.is_empty()) {
        (true, _) => format!("/{body}"),
        (false, true) => ".".into(),
        (false, false) => body,
    }
}

/// Go's `filepath.Join(base, rel)`: `rel` is appended even when it starts
/// with `/`, then the whole is cleaned.
pub fn join_clean(base: &Path, rel: &str) -> String {
    clean(&format!("{}/{rel}", base.to_string_lossy()))
}

/// `p` made absolute against `base` (kept as is when already absolute),
/// then cleaned: where a relative file name given by the user points.
pub fn resolve(base: &Path, p: &Path) -> PathBuf {
    let joined = if p.is_absolute() {
        p.to_path_buf()
    } else {
        base.join(p)
    };
    PathBuf::from(clean(&joined.to_string_lossy()))
}

/// A symlink is replaced by what it points to; anything else is kept.
fn resolve_symlink(p: &str) -> String {
    let path = PathBuf::from(p);
    match std::fs::symlink_metadata(&path) {
        Ok(meta) if meta.file_type().is_symlink() => std::fs::canonicalize(&path)
            .map(|t| t.to_string_lossy().into_owned())
            .unwrap_or_else(|_| p.to_string()),
        _ => p.to_string(),
    }
}

#[cfg(test)]
mod tests {
    //! Expected values come from `docker compose config --format json`
    //! (v2.40.3) run in /tmp/mx4 with HOME=/root.
    use super::*;
    use crate::compose::yaml::parse;
    use serde_json::json;

    fn resolved(src: &str) -> serde_json::Value {
        let mut doc = parse(src, "compose.yaml").unwrap();
        resolve_relative_paths(&mut doc, Path::new("/tmp/mx4"), Some(Path::new("/root"))).unwrap();
        doc.to_json()
    }

    #[test]
    fn build_context_string_and_mapping() {
        let d = resolved(
            "services: {a: {build: ./ctx}, b: {build: {context: ctx2}}, c: {build: {context: .}}}",
        );
        assert_eq!(d["services"]["a"]["build"], "/tmp/mx4/ctx");
        assert_eq!(d["services"]["b"]["build"]["context"], "/tmp/mx4/ctx2");
        assert_eq!(d["services"]["c"]["build"]["context"], "/tmp/mx4");
    }

    #[test]
    fn remote_build_contexts_are_kept() {
        // reference: github.com/x/y and git@github.com:x/y.git printed as written
        let d = resolved(
            "services: {a: {build: github.com/x/y}, b: {build: 'git@github.com:x/y.git'}, c: {build: {context: 'https://h/r.git#main'}}}",
        );
        assert_eq!(d["services"]["a"]["build"], "github.com/x/y");
        assert_eq!(d["services"]["b"]["build"], "git@github.com:x/y.git");
        assert_eq!(
            d["services"]["c"]["build"]["context"],
            "https://h/r.git#main"
        );
    }

    #[test]
    fn additional_contexts_both_forms() {
        // reference: {"a": "/tmp/mx4/actx", "b": "docker-image://foo", "c": "https://x/y.git"}
        let d = resolved(
            "services: {a: {build: {context: ., additional_contexts: [a=./actx, 'b=docker-image://foo', 'c=https://x/y.git']}}, b: {build: {additional_contexts: {x: ../y, s: 'service:base'}}}}",
        );
        assert_eq!(
            d["services"]["a"]["build"]["additional_contexts"],
            json!([
                "a=/tmp/mx4/actx",
                "b=docker-image://foo",
                "c=https://x/y.git"
            ])
        );
        assert_eq!(
            d["services"]["b"]["build"]["additional_contexts"],
            json!({"x": "/tmp/y", "s": "service:base"})
        );
    }

    #[test]
    fn build_ssh_key_paths() {
        // reference (yaml output): ssh: ['k: /tmp/mx4/key']
        let d = resolved("services: {a: {build: {context: ., ssh: [default, k=./key]}}}");
        assert_eq!(
            d["services"]["a"]["build"]["ssh"],
            json!(["default", "k=/tmp/mx4/key"])
        );
    }

    #[test]
    fn env_file_all_forms() {
        let d = resolved(
            "services: {a: {env_file: a.env}, b: {env_file: [./b.env, /abs.env]}, c: {env_file: [{path: ./e.env, required: false}]}}",
        );
        assert_eq!(d["services"]["a"]["env_file"], "/tmp/mx4/a.env");
        assert_eq!(
            d["services"]["b"]["env_file"],
            json!(["/tmp/mx4/b.env", "/abs.env"])
        );
        assert_eq!(
            d["services"]["c"]["env_file"],
            json!([{"path": "/tmp/mx4/e.env", "required": false}])
        );
    }

    #[test]
    fn label_file_and_extends_file() {
        let d = resolved(
            "services: {a: {label_file: ./l.env, extends: {file: sub/other.yaml, service: s}}, b: {label_file: [x, /y]}}",
        );
        assert_eq!(d["services"]["a"]["label_file"], "/tmp/mx4/l.env");
        assert_eq!(
            d["services"]["a"]["extends"]["file"],
            "/tmp/mx4/sub/other.yaml"
        );
        assert_eq!(
            d["services"]["b"]["label_file"],
            json!(["/tmp/mx4/x", "/y"])
        );
    }

    #[test]
    fn short_volume_bind_sources() {
        // reference: /tmp/mx4/d, /root/h, named, /abs, /tmp/mx4 (for "."), /anon
        let d = resolved(
            "services: {a: {volumes: ['./d:/d', '~/h:/h:ro', 'named:/n', '/abs:/abs', '.:/dot', /anon, '../up:/up']}}",
        );
        assert_eq!(
            d["services"]["a"]["volumes"],
            json!([
                "/tmp/mx4/d:/d",
                "/root/h:/h:ro",
                "named:/n",
                "/abs:/abs",
                "/tmp/mx4:/dot",
                "/anon",
                "/tmp/up:/up"
            ])
        );
    }

    #[test]
    fn long_volume_bind_sources_only() {
        // reference: bind "rel" → /tmp/mx4/rel; volume "vol" untouched
        let d = resolved(
            "services: {a: {volumes: [{type: bind, source: rel, target: /rel}, {type: volume, source: vol, target: /vol}]}}",
        );
        assert_eq!(
            d["services"]["a"]["volumes"],
            json!([
                {"type": "bind", "source": "/tmp/mx4/rel", "target": "/rel"},
                {"type": "volume", "source": "vol", "target": "/vol"}
            ])
        );
    }

    #[test]
    fn bind_without_source_is_an_error() {
        let mut doc = parse(
            "services:\n  a:\n    volumes:\n      - type: bind\n        target: /x\n",
            "c.yaml",
        )
        .unwrap();
        let err = resolve_relative_paths(&mut doc, Path::new("/p"), None)
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("c.yaml:4: services.a.volumes[0]:"), "{err}");
    }

    #[test]
    fn secrets_configs_and_local_bind_volume_device() {
        // reference: "device": "/tmp/mx4/dev", secret file ~/bs → /root/bs
        let d = resolved(
            "secrets: {s: {file: ./s}, bs: {file: ~/bs}, e: {environment: X}}\nconfigs: {c: {file: c}}\nvolumes: {vol: {driver: local, driver_opts: {o: bind, device: ./dev, type: none}}, other: {driver_opts: {o: bind, device: ./dev}}}",
        );
        assert_eq!(d["secrets"]["s"]["file"], "/tmp/mx4/s");
        assert_eq!(d["secrets"]["bs"]["file"], "/root/bs");
        assert_eq!(d["secrets"]["e"], json!({"environment": "X"}));
        assert_eq!(d["configs"]["c"]["file"], "/tmp/mx4/c");
        assert_eq!(d["volumes"]["vol"]["driver_opts"]["device"], "/tmp/mx4/dev");
        assert_eq!(d["volumes"]["other"]["driver_opts"]["device"], "./dev");
    }

    #[test]
    fn develop_watch_paths() {
        // reference: "path": "/tmp/mx4/src"
        let d = resolved(
            "services: {a: {develop: {watch: [{path: ./src, action: sync, target: /src}]}}}",
        );
        assert_eq!(
            d["services"]["a"]["develop"]["watch"][0]["path"],
            "/tmp/mx4/src"
        );
        assert_eq!(d["services"]["a"]["develop"]["watch"][0]["target"], "/src");
    }

    #[test]
    fn include_entries() {
        let d = resolved(
            "include: [a.yaml, {path: [b.yaml, /c.yaml], env_file: e.env, project_directory: ../p}]",
        );
        assert_eq!(
            d["include"],
            json!(["/tmp/mx4/a.yaml", {"path": ["/tmp/mx4/b.yaml", "/c.yaml"], "env_file": "/tmp/mx4/e.env", "project_directory": "/tmp/p"}])
        );
    }

    #[test]
    fn tilde_without_home_is_kept_and_other_keys_untouched() {
        let mut doc = parse(
            "services: {a: {image: ./x, working_dir: rel, volumes: ['~/h:/h']}}",
            "c.yaml",
        )
        .unwrap();
        resolve_relative_paths(&mut doc, Path::new("/p"), None).unwrap();
        let d = doc.to_json();
        assert_eq!(d["services"]["a"]["volumes"], json!(["~/h:/h"]));
        assert_eq!(d["services"]["a"]["image"], "./x");
        assert_eq!(d["services"]["a"]["working_dir"], "rel");
    }

    #[test]
    fn join_cleans_like_go() {
        assert_eq!(join_clean(Path::new("/a/b"), "./c/../d//e/"), "/a/b/d/e");
        assert_eq!(join_clean(Path::new("/a"), "../../x"), "/x");
        assert_eq!(join_clean(Path::new("/a"), ""), "/a");
        assert_eq!(join_clean(Path::new("/a"), "/b"), "/a/b");
    }

    #[test]
    fn clean_matches_go_path_clean() {
        for (input, want) in [
            ("", "."),
            ("/data/", "/data"),
            ("/a/./b/../c", "/a/c"),
            ("a//b", "a/b"),
            ("../x", "../x"),
            ("/..", "/"),
            ("a/../..", ".."),
            ("/", "/"),
            ("/../a", "/a"),
            ("./", "."),
            ("a//b/./c/..", "a/b"),
            ("c:\\x", "c:\\x"),
        ] {
            assert_eq!(clean(input), want, "{input:?}");
        }
        assert_eq!(
            resolve(Path::new("/w"), Path::new("c/../d.yaml")),
            PathBuf::from("/w/d.yaml")
        );
        assert_eq!(
            resolve(Path::new("/w"), Path::new("/x/./y")),
            PathBuf::from("/x/y")
        );
    }
}
