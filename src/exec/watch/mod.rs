//! `watch` and `up --watch`: file changes under the services'
//! `develop.watch` paths, batched as Compose batches them
//! ([`debounce`]), become syncs into the running containers (through the
//! root-confined writer of `runtime::sync`), restarts, `exec`s, and
//! rebuilds — in that order per batch, as in Compose's `handleWatchBatch`:
//! rebuild first, then sync, then restart, then exec.

pub mod debounce;
pub mod notifier;
pub mod rules;

use super::{project_containers, Env, ExecError, Progress, ProjectContainer};
use crate::build::context::{ContextError, ContextFilter};
use crate::compose::types::{Project, VolumeType, WatchAction};
use crate::plan::container as pc;
use crate::runtime::copy::ContainerFs;
use crate::runtime::sync::{sync_path, Owner, SyncError, Synced};
use crate::supervise::control;
use debounce::{Input, Next};
use rules::{DockerIgnore, Mapping, RuleError, WatchRule};
use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, Sender};
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum WatchError {
    #[error(transparent)]
    Rule(#[from] RuleError),
    #[error("service {service:?}: reading the build context's ignore file")]
    DockerIgnore {
        service: String,
        #[source]
        source: Box<ContextError>,
    },
    #[error(transparent)]
    Notify(#[from] Box<notifier::NotifyError>),
    #[error("{0}")]
    Failed(String),
    #[error("none of the selected services is configured for watch, consider setting a 'develop' section")]
    NothingToWatch,
    #[error(transparent)]
    Exec(#[from] Box<ExecError>),
}

impl From<ExecError> for WatchError {
    fn from(e: ExecError) -> Self {
        WatchError::Exec(Box::new(e))
    }
}

pub type Result<T> = std::result::Result<T, WatchError>;

/// What the watch loop asks of its caller.
pub trait WatchHooks: Progress {
    /// One of Compose's watch messages (`Syncing service "web" after 3
    /// changes were detected`), for the foreground.
    fn log(&self, line: &str);
    /// Builds the images of `services` and recreates those services (only
    /// them: dependents keep running).
    fn rebuild(&self, services: &[String]) -> std::result::Result<(), String>;
}

/// A running watch: its rules and the file watcher feeding the loop.
pub struct Watch {
    rules: Vec<WatchRule>,
    _files: notifier::FileWatcher,
}

/// The rules of `services` (all when empty), in service order. A sync
/// rule whose path a bind mount already shares is left out with Compose's
/// warning, since the container sees the change anyway.
pub fn rules(project: &Project, services: &[String], log: &dyn Fn(&str)) -> Result<Vec<WatchRule>> {
    let mut out = Vec::new();
    for (name, svc) in &project.services {
        if !services.is_empty() && !services.contains(name) {
            continue;
        }
        let Some(develop) = &svc.develop else {
            continue;
        };
        let docker_ignore = match &svc.build {
            Some(b) => {
                let context = PathBuf::from(b.context.as_deref().unwrap_or("."));
                let dockerfile = b.dockerfile.as_deref().map(|d| context.join(d));
                let filter =
                    ContextFilter::load(&context, dockerfile.as_deref()).map_err(|source| {
                        WatchError::DockerIgnore {
                            service: name.clone(),
                            source: Box::new(source),
                        }
                    })?;
                Some(DockerIgnore { context, filter })
            }
            None => None,
        };
        for (i, trigger) in develop.watch.iter().enumerate() {
            let path = PathBuf::from(&trigger.path);
            let rule = WatchRule::new(name, i, trigger, path.clone(), docker_ignore.clone())?;
            let bound = svc.volumes.iter().any(|v| {
                v.volume_type == VolumeType::Bind
                    && v.source.as_deref().is_some_and(|s| path.starts_with(s))
            });
            if rule.is_sync() && bound {
                log(&format!(
                    "path '{}' also declared by a bind mount volume, this path won't be monitored!",
                    trigger.path
                ));
                continue;
            }
            out.push(rule);
        }
    }
    Ok(out)
}

impl Watch {
    /// Runs the initial syncs the rules ask for, then starts watching
    /// their paths; events go to `tx`.
    pub fn start(
        env: &Env,
        project: &Project,
        rules: Vec<WatchRule>,
        tx: Sender<Input>,
        hooks: &dyn WatchHooks,
    ) -> Result<Watch> {
        if rules.is_empty() {
            return Err(WatchError::NothingToWatch);
        }
        for rule in rules.iter().filter(|r| r.initial_sync && r.is_sync()) {
            let mut all = Vec::new();
            walk(rule, &rule.path, &mut all);
            sync_service(env, &project.name, &rule.service, &all, hooks)?;
        }
        let paths: Vec<PathBuf> = rules
            .iter()
            .map(|r| r.path.clone())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let files = notifier::start(&paths, tx).map_err(Box::new)?;
        hooks.log("Watch enabled");
        Ok(Watch {
            rules,
            _files: files,
        })
    }

    /// Handles batches until [`Input::Stop`] (or the senders are gone).
    /// A batch that fails is reported and the watch goes on, as Compose's;
    /// a watcher that fails ends it, since changes would be missed.
    pub fn run(
        &self,
        env: &Env,
        project: &Project,
        rx: &Receiver<Input>,
        hooks: &dyn WatchHooks,
        quiet: Duration,
    ) -> Result<()> {
        let mut held = None;
        loop {
            match debounce::next(rx, quiet, &mut held) {
                Next::Stop => {
                    hooks.log("Watch disabled");
                    return Ok(());
                }
                Next::Failed(msg) => return Err(WatchError::Failed(msg)),
                Next::Batch(paths) => {
                    if paths.len() > 1000 {
                        hooks.log("Large batch of file changes detected. If you just switched branches, this is expected.");
                    }
                    if let Err(e) = self.handle(env, project, &paths, hooks) {
                        hooks.log(&format!("Error handling changed files: {}", chain(&e)));
                    }
                }
            }
        }
    }

    fn handle(
        &self,
        env: &Env,
        project: &Project,
        batch: &[PathBuf],
        hooks: &dyn WatchHooks,
    ) -> Result<()> {
        let plan = plan_batch(&self.rules, batch);
        if !plan.rebuild.is_empty() {
            let services: Vec<String> = plan.rebuild.iter().cloned().collect();
            hooks.log(&format!(
                "Rebuilding service(s) {services:?} after changes were detected..."
            ));
            hooks.rebuild(&services).map_err(WatchError::Failed)?;
            hooks.log(&format!("service(s) {services:?} successfully built"));
        }
        for (service, mappings) in &plan.sync {
            hooks.log(&format!(
                "Syncing service {service:?} after {} changes were detected",
                mappings.len()
            ));
            let mut all = Vec::new();
            for (rule, m) in mappings {
                expand(&self.rules[*rule], m, &mut all);
            }
            sync_service(env, &project.name, service, &all, hooks)?;
        }
        if !plan.restart.is_empty() {
            let services: Vec<String> = plan.restart.iter().cloned().collect();
            super::restart(env, &project.name, &services, true, None, hooks)?;
            hooks.log(&format!("service(s) {services:?} restarted"));
        }
        for (service, rules) in &plan.exec {
            for &i in rules {
                exec_rule(env, &project.name, service, &self.rules[i], hooks)?;
            }
        }
        Ok(())
    }
}

/// What one batch asks for, per service.
#[derive(Debug, Default, PartialEq)]
struct BatchPlan {
    rebuild: BTreeSet<String>,
    /// (rule index, mapping) per service, in path order.
    sync: BTreeMap<String, Vec<(usize, Mapping)>>,
    restart: BTreeSet<String>,
    /// Rule indexes whose command runs, once each.
    exec: BTreeMap<String, BTreeSet<usize>>,
}

fn plan_batch(rules: &[WatchRule], batch: &[PathBuf]) -> BatchPlan {
    let mut plan = BatchPlan::default();
    for path in batch {
        for (i, rule) in rules.iter().enumerate() {
            let Some(m) = rule.matches(path) else {
                continue;
            };
            let svc = rule.service.clone();
            match rule.action {
                WatchAction::Rebuild => {
                    plan.rebuild.insert(svc);
                }
                WatchAction::Restart => {
                    plan.restart.insert(svc);
                }
                WatchAction::Sync => plan.sync.entry(svc).or_default().push((i, m)),
                WatchAction::SyncRestart => {
                    plan.sync.entry(svc.clone()).or_default().push((i, m));
                    plan.restart.insert(svc);
                }
                WatchAction::SyncExec => {
                    plan.sync.entry(svc.clone()).or_default().push((i, m));
                    plan.exec.entry(svc).or_default().insert(i);
                }
            }
        }
    }
    plan
}

/// A mapping, plus everything below it when it is a directory (a new
/// directory's entries may have been made before its watch was).
fn expand(rule: &WatchRule, m: &Mapping, out: &mut Vec<Mapping>) {
    out.push(m.clone());
    if std::fs::symlink_metadata(&m.host).is_ok_and(|md| md.is_dir()) {
        walk(rule, &m.host, out);
    }
}

/// Everything below `dir` the rule takes (skipping what it ignores,
/// directories included), parents before children.
fn walk(rule: &WatchRule, dir: &Path, out: &mut Vec<Mapping>) {
    if !dir.is_dir() {
        if let Some(m) = rule.matches(dir) {
            out.push(m);
        }
        return;
    }
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut names: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    names.sort();
    for p in names {
        let Some(m) = rule.matches(&p) else { continue };
        let is_dir = std::fs::symlink_metadata(&p).is_ok_and(|m| m.is_dir());
        out.push(m);
        if is_dir {
            walk(rule, &p, out);
        }
    }
}

/// The running containers of a service.
fn running(env: &Env, project: &str, service: &str) -> Result<Vec<ProjectContainer>> {
    Ok(project_containers(&env.containers, project)?
        .into_iter()
        .filter(|c| c.service == service && !c.oneoff && c.running())
        .collect())
}

/// Syncs every mapping into each running container of `service`.
fn sync_service(
    env: &Env,
    project: &str,
    service: &str,
    mappings: &[Mapping],
    hooks: &dyn WatchHooks,
) -> Result<()> {
    for c in running(env, project, service)? {
        let fs = ContainerFs::open(&env.containers, &env.store, &c.record)
            .map_err(|e| WatchError::Failed(chain(&e)))?;
        let owner = c.state.pid.and_then(|pid| {
            let m = std::fs::metadata(format!("/proc/{pid}")).ok()?;
            Some(Owner {
                uid: m.uid(),
                gid: m.gid(),
            })
        });
        for m in mappings {
            let Some(target) = &m.target else { continue };
            match sync_path(&fs, &m.host, target, owner) {
                Ok(Synced::Written | Synced::Directory | Synced::Removed | Synced::Nothing) => {}
                Err(e @ (SyncError::RelativeTarget { .. } | SyncError::OutsideRoot { .. })) => {
                    hooks.log(&format!("{e}: not synced"));
                }
                Err(e) => return Err(WatchError::Failed(chain(&e))),
            }
        }
    }
    Ok(())
}

/// A `sync+exec` rule's command in each running container of `service`.
fn exec_rule(
    env: &Env,
    project: &str,
    service: &str,
    rule: &WatchRule,
    hooks: &dyn WatchHooks,
) -> Result<()> {
    let opts = pc::hook_exec(&rule.exec);
    for c in running(env, project, service)? {
        let code = control::exec(&env.containers, &c.record.id, &opts, false, false)
            .map_err(ExecError::from)?;
        if code != 0 {
            hooks.log(&format!(
                "{}: exec {:?} exited with code {code}",
                c.record.name, opts.args
            ));
        }
    }
    Ok(())
}

/// An error and its causes on one line.
fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(c) = src {
        let t = c.to_string();
        if !s.contains(&t) {
            s.push_str(": ");
            s.push_str(&t);
        }
        src = c.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compose::types::{ServiceHook, Trigger};

    fn rule(service: &str, path: &str, action: WatchAction, target: Option<&str>) -> WatchRule {
        let t = Trigger {
            path: path.into(),
            action,
            target: target.map(String::from),
            exec: ServiceHook::default(),
            include: Vec::new(),
            ignore: Vec::new(),
            initial_sync: false,
            extensions: Default::default(),
        };
        WatchRule::new(service, 0, &t, PathBuf::from(path), None).expect("rule")
    }

    #[test]
    fn one_batch_groups_actions_per_service_as_compose() {
        let rules = vec![
            rule("web", "/p/web", WatchAction::Sync, Some("/app")),
            rule("web", "/p/web/requirements.txt", WatchAction::Rebuild, None),
            rule("api", "/p/api", WatchAction::SyncRestart, Some("/srv")),
            rule("api", "/p/api/hooks", WatchAction::SyncExec, Some("/hooks")),
        ];
        let batch: Vec<PathBuf> = [
            "/p/web/a.py",
            "/p/web/b.py",
            "/p/web/.a.py.swp",
            "/p/web/requirements.txt",
            "/p/api/x",
            "/p/api/hooks/h1",
            "/p/api/hooks/h2",
            "/p/other",
        ]
        .iter()
        .map(PathBuf::from)
        .collect();
        let plan = plan_batch(&rules, &batch);
        assert_eq!(plan.rebuild, BTreeSet::from(["web".to_string()]));
        assert_eq!(plan.restart, BTreeSet::from(["api".to_string()]));
        // requirements.txt is under the sync rule's path too: synced as well.
        let web: Vec<_> = plan.sync["web"]
            .iter()
            .map(|(_, m)| m.target.clone().unwrap_or_default())
            .collect();
        assert_eq!(web, ["/app/a.py", "/app/b.py", "/app/requirements.txt"]);
        // The hooks files match both api rules; the exec rule runs once.
        assert_eq!(plan.sync["api"].len(), 5);
        assert_eq!(plan.exec["api"], BTreeSet::from([3]));
    }

    #[test]
    fn a_new_directory_brings_its_entries_but_not_the_ignored_ones() {
        let t = tempfile::tempdir().expect("tmp");
        let root = t.path().join("src");
        std::fs::create_dir_all(root.join("pkg/sub/.git")).expect("mkdir");
        std::fs::write(root.join("pkg/sub/m.py"), "x").expect("write");
        std::fs::write(root.join("pkg/sub/.git/HEAD"), "x").expect("write");
        std::fs::write(root.join("pkg/4913"), "").expect("write");
        let r = rule(
            "web",
            &root.display().to_string(),
            WatchAction::Sync,
            Some("/app"),
        );
        let m = r.matches(&root.join("pkg")).expect("taken");
        let mut all = Vec::new();
        expand(&r, &m, &mut all);
        let targets: Vec<_> = all
            .iter()
            .map(|m| m.target.clone().unwrap_or_default())
            .collect();
        assert_eq!(targets, ["/app/pkg", "/app/pkg/sub", "/app/pkg/sub/m.py"]);
    }
}
