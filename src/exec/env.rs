//! The layers the executor drives, and the project's lifecycle hooks.

use super::{ExecError, Kind, Progress, Result};
use crate::compose::types::Project;
use crate::image::store::ImageStore;
use crate::plan::container as pc;
use crate::runtime::bundle::ExecOptions;
use crate::runtime::container::{lock_file, ContainerRecord, Containers};
use crate::runtime::volume::Volumes;
use crate::supervise::control;
use std::collections::BTreeMap;
use std::time::Duration;

/// The layers the executor drives, opened once per command.
pub struct Env {
    pub containers: Containers,
    pub store: ImageStore,
    pub volumes: Volumes,
    /// `builtin`, `crun`, `runc` or a path.
    pub runtime: String,
    /// Lifecycle hooks by service. Only known with the compose file at
    /// hand: a project found by its labels alone runs none, as in Compose.
    pub hooks: BTreeMap<String, ServiceHooks>,
    /// How many services are worked on at once (`--parallel`); 0: no limit.
    pub parallel: usize,
    /// `--dry-run`: the verbs report what they would do and change
    /// nothing (containers, volumes, networks, images stay as they are).
    pub dry_run: bool,
}

/// A service's `post_start` and `pre_stop` hooks, ready to exec.
#[derive(Clone, Debug, Default)]
pub struct ServiceHooks {
    pub post_start: Vec<ExecOptions>,
    pub pre_stop: Vec<ExecOptions>,
}

/// How long a hook may run. Compose sets no limit; a day keeps a hung
/// hook from holding a `down` forever.
const HOOK_TIMEOUT: Duration = Duration::from_secs(24 * 3600);

impl Env {
    pub fn open(root: &std::path::Path, runtime: &str) -> Result<Env> {
        Ok(Env {
            containers: Containers::open(root)?,
            store: ImageStore::open(root)?,
            volumes: Volumes::open(root)?,
            runtime: runtime.to_string(),
            hooks: BTreeMap::new(),
            parallel: 0,
            dry_run: false,
        })
    }

    /// Reports instead of acting (`--dry-run`).
    pub fn with_dry_run(mut self, dry_run: bool) -> Env {
        self.dry_run = dry_run;
        self
    }

    /// At most `n` services at once (0: no limit).
    pub fn with_parallel(mut self, n: usize) -> Env {
        self.parallel = n;
        self
    }

    /// The project's lifecycle hooks, for the verbs that start and stop.
    pub fn with_hooks(mut self, project: &Project) -> Env {
        self.hooks = project
            .services
            .iter()
            .filter(|(_, s)| !s.post_start.is_empty() || !s.pre_stop.is_empty())
            .map(|(name, s)| {
                let hooks = ServiceHooks {
                    post_start: s.post_start.iter().map(pc::hook_exec).collect(),
                    pre_stop: s.pre_stop.iter().map(pc::hook_exec).collect(),
                };
                (name.clone(), hooks)
            })
            .collect();
        self
    }

    /// Runs hooks in a running container, one after the other, like
    /// `exec`; the first that fails ends the run with Compose's error.
    pub(super) fn run_hooks(
        &self,
        service: &str,
        record: &ContainerRecord,
        hooks: &[ExecOptions],
    ) -> Result<()> {
        if hooks.is_empty() {
            return Ok(());
        }
        // The exec'd process is re-parented to us once the runtime returns.
        crate::runtime::oci_cli::become_subreaper().map_err(|source| ExecError::Subreaper {
            container: record.name.clone(),
            source,
        })?;
        for hook in hooks {
            let mut opts = hook.clone();
            opts.group_add = record.spec.group_add.clone();
            let (code, output) =
                control::exec_captured(&self.containers, &record.id, &opts, HOOK_TIMEOUT)?;
            for line in output.lines() {
                tracing::info!("{} -> | {line}", record.name);
            }
            if code != 0 {
                for line in output.lines() {
                    tracing::warn!("{} -> | {line}", record.name);
                }
                return Err(ExecError::Hook {
                    service: service.to_string(),
                    code,
                });
            }
        }
        Ok(())
    }

    /// Runs a started container's `post_start` hooks. Compose reports a
    /// container started once its hooks have run; a failed hook fails the
    /// command and leaves the container running.
    pub(super) fn post_start_reported(
        &self,
        c: &ContainerRecord,
        service: &str,
        progress: &dyn Progress,
    ) -> Result<()> {
        if self.dry_run {
            progress.event(Kind::Container, &c.name, "Started", true);
            return Ok(());
        }
        let ran = match self.hooks.get(service) {
            Some(h) => self.run_hooks(service, c, &h.post_start),
            None => Ok(()),
        };
        let status = if ran.is_ok() { "Started" } else { "Error" };
        progress.event(Kind::Container, &c.name, status, true);
        ran
    }

    /// Serializes commands on one project: two `up`s or an `up` and a
    /// `down` never interleave their changes.
    pub fn lock_project(&self, project: &str) -> Result<impl Drop> {
        let dir = self.containers.root().join("projects");
        std::fs::create_dir_all(&dir).map_err(|source| ExecError::CreateDir {
            path: dir.clone(),
            source,
        })?;
        Ok(lock_file(&dir.join(format!("{project}.lock")))?)
    }
}
