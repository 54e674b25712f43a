//! `develop.watch` rules as the watcher applies them: which changed host
//! paths a rule takes (its `path`, `include`, `ignore`, the build
//! context's `.dockerignore`, Compose's built-in ignores) and where each
//! lands in the container.

use crate::build::context::ContextFilter;
use crate::compose::types::{ServiceHook, WatchAction};
use std::path::{Path, PathBuf};

/// What Compose always ignores: `.git`, and the files editors make while
/// saving (vim's swap and backup files and its `4913` probe, emacs lock
/// and autosave files, JetBrains' safe-write files, kate's swap file, the
/// go tool's umask probe).
const BUILT_IN_IGNORES: &[&str] = &[
    "**/.git",
    "**/4913",
    "**/*~",
    "**/.*.swp",
    "**/.*.swx",
    "**/.*.swo",
    "**/.*.swn",
    "**/.*.kate-swp",
    "**/*___jb_old___",
    "**/*___jb_tmp___",
    "**/.idea",
    "**/.#*",
    "**/#*#",
    "**/*-go-tmp-umask",
];

/// A `.dockerignore` and the directory its patterns are relative to.
#[derive(Clone, Debug)]
pub struct DockerIgnore {
    pub context: PathBuf,
    pub filter: ContextFilter,
}

/// One `develop.watch` rule of one service, ready to match paths.
#[derive(Clone, Debug)]
pub struct WatchRule {
    pub service: String,
    /// Its place in the service's list (a `sync+exec` command runs once
    /// per rule and batch).
    pub index: usize,
    pub action: WatchAction,
    /// Absolute host path.
    pub path: PathBuf,
    pub target: Option<String>,
    pub exec: ServiceHook,
    pub initial_sync: bool,
    include: Option<ContextFilter>,
    ignore: ContextFilter,
    built_in: ContextFilter,
    docker_ignore: Option<DockerIgnore>,
}

/// A changed host path and where a sync puts it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mapping {
    pub host: PathBuf,
    /// `None` for rules without a target (rebuild, restart).
    pub target: Option<String>,
}

#[derive(Debug, thiserror::Error)]
#[error("services.{service}.develop.watch[{index}].{key}: {source}")]
pub struct RuleError {
    pub service: String,
    pub index: usize,
    pub key: &'static str,
    #[source]
    pub source: Box<crate::build::context::ContextError>,
}

impl WatchRule {
    pub fn new(
        service: &str,
        index: usize,
        trigger: &crate::compose::types::Trigger,
        path: PathBuf,
        docker_ignore: Option<DockerIgnore>,
    ) -> Result<WatchRule, RuleError> {
        let err = |key| {
            move |source| RuleError {
                service: service.to_string(),
                index,
                key,
                source: Box::new(source),
            }
        };
        let include = if trigger.include.is_empty() {
            None
        } else {
            Some(
                ContextFilter::from_patterns(&trigger.include, "include")
                    .map_err(err("include"))?,
            )
        };
        let ignore =
            ContextFilter::from_patterns(&trigger.ignore, "ignore").map_err(err("ignore"))?;
        let built_in: Vec<String> = BUILT_IN_IGNORES.iter().map(|s| s.to_string()).collect();
        let built_in =
            ContextFilter::from_patterns(&built_in, "built-in ignores").map_err(err("path"))?;
        Ok(WatchRule {
            service: service.to_string(),
            index,
            action: trigger.action,
            path,
            target: trigger.target.clone(),
            exec: trigger.exec.clone(),
            initial_sync: trigger.initial_sync,
            include,
            ignore,
            built_in,
            docker_ignore,
        })
    }

    pub fn is_sync(&self) -> bool {
        matches!(
            self.action,
            WatchAction::Sync | WatchAction::SyncRestart | WatchAction::SyncExec
        )
    }

    /// Where `host` goes, if this rule takes it.
    pub fn matches(&self, host: &Path) -> Option<Mapping> {
        let rel = host.strip_prefix(&self.path).ok()?;
        let rel_str = rel.to_str()?;
        // The rule's own path (a watched file) is judged by its name.
        let name = if rel_str.is_empty() {
            host.file_name()?.to_str()?
        } else {
            rel_str
        };
        if self.built_in.excludes(name) {
            return None;
        }
        if !rel_str.is_empty() {
            if self.include.as_ref().is_some_and(|i| !i.excludes(rel_str)) {
                return None;
            }
            if self.ignore.excludes(rel_str) {
                return None;
            }
        }
        if let Some(d) = &self.docker_ignore {
            if let Some(in_context) = host.strip_prefix(&d.context).ok().and_then(Path::to_str) {
                if !in_context.is_empty() && d.filter.excludes(in_context) {
                    return None;
                }
            }
        }
        let target = self.target.as_ref().map(|t| {
            if rel_str.is_empty() {
                t.clone()
            } else {
                format!("{}/{rel_str}", t.trim_end_matches('/'))
            }
        });
        Some(Mapping {
            host: host.to_path_buf(),
            target,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compose::types::Trigger;

    fn trigger(
        action: WatchAction,
        target: Option<&str>,
        include: &[&str],
        ignore: &[&str],
    ) -> Trigger {
        Trigger {
            path: "/src".into(),
            action,
            target: target.map(String::from),
            exec: ServiceHook::default(),
            include: include.iter().map(|s| s.to_string()).collect(),
            ignore: ignore.iter().map(|s| s.to_string()).collect(),
            initial_sync: false,
            extensions: Default::default(),
        }
    }

    fn rule(include: &[&str], ignore: &[&str], dockerignore: &str) -> WatchRule {
        let t = trigger(WatchAction::Sync, Some("/app/"), include, ignore);
        let d = DockerIgnore {
            context: PathBuf::from("/"),
            filter: ContextFilter::parse(dockerignore, Path::new("/.dockerignore")).expect("parse"),
        };
        WatchRule::new("web", 0, &t, PathBuf::from("/src"), Some(d)).expect("rule")
    }

    fn target(r: &WatchRule, p: &str) -> Option<String> {
        r.matches(Path::new(p))
            .map(|m| m.target.unwrap_or_default())
    }

    #[test]
    fn a_path_below_the_rule_lands_below_the_target() {
        let r = rule(&[], &[], "");
        assert_eq!(target(&r, "/src/a/b.py").as_deref(), Some("/app/a/b.py"));
        assert_eq!(target(&r, "/src").as_deref(), Some("/app/"));
        assert_eq!(target(&r, "/srcx/a.py"), None);
        assert_eq!(target(&r, "/other/a.py"), None);
    }

    #[test]
    fn editor_files_and_git_are_ignored() {
        let r = rule(&[], &[], "");
        for p in [
            "/src/4913",
            "/src/pkg/4913",
            "/src/a.py~",
            "/src/.a.py.swp",
            "/src/pkg/.a.py.swx",
            "/src/.git/index",
            "/src/.git",
            "/src/sub/.git/HEAD",
            "/src/.#a.py",
            "/src/#a.py#",
            "/src/a.py___jb_tmp___",
        ] {
            assert_eq!(target(&r, p), None, "{p}");
        }
        assert!(target(&r, "/src/49130").is_some());
        assert!(target(&r, "/src/a.swp").is_some());
    }

    #[test]
    fn ignore_include_and_dockerignore_decide() {
        let r = rule(&[], &["node_modules/", "*.log"], "src/secret\n");
        assert_eq!(target(&r, "/src/node_modules/x/y.js"), None);
        assert_eq!(target(&r, "/src/debug.log"), None);
        assert_eq!(target(&r, "/src/secret/key"), None);
        assert!(target(&r, "/src/app.py").is_some());
        let r = rule(&["*.py"], &[], "");
        assert!(target(&r, "/src/app.py").is_some());
        assert_eq!(target(&r, "/src/app.txt"), None);
    }
}
