//! The checks `watch` makes on `develop.watch` rules before it starts.
//! Compose makes them when watch starts, not when the file is loaded (so
//! `config` still prints such a file); the error names the file, line and
//! key all the same, from the canonical model the project came from.

use super::error::LoadError;
use super::types::{Project, WatchAction};
use super::yaml::{Node, Pos};

/// Refuses what Compose refuses for the rules of `services` (all when
/// empty): a `rebuild` rule on a service without `build:`, a `sync+exec`
/// rule without a command, and (wharf's own rule, as a relative one has no
/// defined meaning) a `target` that is not absolute. No rule at all among
/// them is Compose's "none of the selected services" error.
pub fn check_watch(model: &Node, project: &Project, services: &[String]) -> Result<(), LoadError> {
    let mut any = false;
    for (name, svc) in &project.services {
        if !services.is_empty() && !services.contains(name) {
            continue;
        }
        let Some(develop) = &svc.develop else {
            continue;
        };
        let rules = model
            .get("services")
            .and_then(|s| s.get(name))
            .and_then(|s| s.get("develop"))
            .and_then(|d| d.get("watch"))
            .and_then(Node::as_seq);
        let pos_of = |i: usize, key: &str| -> Pos {
            let rule = rules.and_then(|r| r.get(i));
            rule.and_then(|r| r.get(key))
                .or(rule)
                .map(|n| n.pos.clone())
                .unwrap_or_default()
        };
        for (i, rule) in develop.watch.iter().enumerate() {
            any = true;
            let key = |k: &str| format!("services.{name}.develop.watch[{i}].{k}");
            if rule.action == WatchAction::Rebuild && svc.build.is_none() {
                return Err(LoadError::invalid(
                    &pos_of(i, "action"),
                    key("action"),
                    format!(
                        "can't watch service {name:?} with action rebuild without a build context"
                    ),
                ));
            }
            if rule.action == WatchAction::SyncExec
                && rule.exec.command.as_ref().is_none_or(Vec::is_empty)
            {
                return Err(LoadError::invalid(
                    &pos_of(i, "exec"),
                    key("exec"),
                    format!(
                        "can't watch with action \"sync+exec\" on service {name} without a command"
                    ),
                ));
            }
            if let Some(t) = rule.target.as_deref().filter(|t| !t.starts_with('/')) {
                return Err(LoadError::invalid(
                    &pos_of(i, "target"),
                    key("target"),
                    format!("{t:?} is not an absolute path in the container"),
                ));
            }
        }
    }
    if !any {
        return Err(LoadError::Project(
            "none of the selected services is configured for watch, consider setting a 'develop' section"
                .to_string(),
        ));
    }
    Ok(())
}

/// What `watch` (without `--no-up`) changes before its `up`, as Compose's
/// `runWatch` does: a service with both `build:` and `develop:` gets
/// `pull_policy: build`, so its image is built again from the files as they
/// are now rather than reused from an earlier start.
pub fn build_watched_services(project: &mut Project) {
    for svc in project.services.values_mut() {
        if svc.build.is_some() && svc.develop.is_some() {
            svc.pull_policy = Some("build".to_string());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compose::load::{load, LoadOptions};

    fn check(src: &str) -> Result<(), String> {
        let dir = tempfile::tempdir().expect("tmp");
        let file = dir.path().join("compose.yaml");
        std::fs::write(&file, src).expect("write");
        let opts = LoadOptions {
            files: vec![file.display().to_string()],
            cwd: dir.path().to_path_buf(),
            ..LoadOptions::default()
        };
        let loaded = load(&opts).map_err(|e| e.to_string())?;
        check_watch(&loaded.model, &loaded.project, &[]).map_err(|e| e.to_string())
    }

    #[test]
    fn rebuild_needs_a_build_section() {
        let e = check(
            "services:\n  web:\n    image: x\n    develop:\n      watch:\n        - path: .\n          action: rebuild\n",
        )
        .expect_err("refused");
        assert!(e.contains("compose.yaml:7"), "{e}");
        assert!(e.contains("services.web.develop.watch[0].action"), "{e}");
        assert!(
            e.contains("can't watch service \"web\" with action rebuild without a build context"),
            "{e}"
        );
    }

    #[test]
    fn a_relative_target_is_refused_with_its_line() {
        let e = check(
            "services:\n  web:\n    image: x\n    develop:\n      watch:\n        - path: .\n          action: sync\n          target: app\n",
        )
        .expect_err("refused");
        assert!(e.contains("compose.yaml:8"), "{e}");
        assert!(e.contains("services.web.develop.watch[0].target"), "{e}");
    }

    #[test]
    fn sync_exec_needs_a_command_and_a_file_without_rules_is_refused() {
        let e = check(
            "services:\n  web:\n    image: x\n    develop:\n      watch:\n        - {path: ., action: sync+exec, target: /app}\n",
        )
        .expect_err("refused");
        assert!(e.contains("without a command"), "{e}");
        let e = check("services:\n  web:\n    image: x\n").expect_err("refused");
        assert!(
            e.contains("none of the selected services is configured for watch"),
            "{e}"
        );
        check(
            "services:\n  web:\n    build: .\n    develop:\n      watch:\n        - {path: ., action: rebuild}\n        - {path: ./src, action: sync, target: /src}\n",
        )
        .expect("accepted");
    }

    #[test]
    fn sync_without_target_is_refused_at_load() {
        let e = check(
            "services:\n  web:\n    image: x\n    develop:\n      watch:\n        - {path: ., action: sync}\n",
        )
        .expect_err("refused");
        assert!(e.contains("compose.yaml:6"), "{e}");
        assert!(
            e.contains("target is required for non-rebuild actions"),
            "{e}"
        );
    }

    #[test]
    fn watch_builds_the_services_it_develops_and_only_those() {
        let dir = tempfile::tempdir().expect("tmp");
        let file = dir.path().join("compose.yaml");
        std::fs::write(
            &file,
            "services:\n  web:\n    build: .\n    develop:\n      watch:\n        - {path: ., action: rebuild}\n  worker:\n    build: .\n  cache:\n    image: redis\n    develop:\n      watch:\n        - {path: ., action: restart}\n",
        )
        .expect("write");
        let opts = LoadOptions {
            files: vec![file.display().to_string()],
            cwd: dir.path().to_path_buf(),
            ..LoadOptions::default()
        };
        let mut project = load(&opts).expect("load").project;
        build_watched_services(&mut project);
        let policy = |s: &str| project.services[s].pull_policy.clone();
        assert_eq!(policy("web").as_deref(), Some("build"));
        assert_eq!(policy("worker"), None);
        assert_eq!(policy("cache"), None);
    }
}
