//! The watch loop of `watch [SERVICE…]` and `up --watch` (both verbs are
//! in up.rs): sync, restart or rebuild services as their `develop.watch`
//! rules say while files change, until told to stop.

use super::common;
use super::compose_build::{build_services, ComposeBuildOptions};
use crate::cli::args::compose::ProgressMode;
use crate::cli::progress::Progress;
use crate::cli::resolve::Settings;
use crate::compose::load::Loaded;
use crate::exec::watch::debounce::{Input, QUIET_PERIOD};
use crate::exec::watch::{self as w, Watch, WatchHooks};
use crate::exec::{self, Kind, UpOptions};
use crate::plan::container::ProjectContext;
use std::sync::mpsc::{Receiver, Sender};

/// The events a watch reads, and their sender (for the file watcher and
/// whoever stops it).
pub struct WatchChannel {
    pub tx: Sender<Input>,
    pub rx: Receiver<Input>,
}

/// Starts watching the rules of `services` and handles their changes
/// until a [`Input::Stop`] comes on `rx`.
pub fn run_watch(
    settings: &Settings,
    loaded: &Loaded,
    services: &[String],
    quiet: bool,
    tx: Sender<Input>,
    rx: &Receiver<Input>,
) -> anyhow::Result<()> {
    let project = &loaded.project;
    let env = common::env(settings)?.with_hooks(project);
    let hooks = CliWatch {
        progress: Progress::new(ProgressMode::Plain),
        quiet,
        settings,
        loaded,
    };
    let rules = w::rules(project, services, &|line| hooks.log(line))?;
    let watch = Watch::start(&env, project, rules, tx, &hooks)?;
    watch.run(&env, project, rx, &hooks, QUIET_PERIOD)?;
    Ok(())
}

/// The foreground side of a watch: its messages on standard output, where
/// the attached logs of `up --watch` go too (one whole line at a time).
struct CliWatch<'a> {
    progress: Progress,
    /// `--quiet`: no build output.
    quiet: bool,
    settings: &'a Settings,
    loaded: &'a Loaded,
}

impl exec::Progress for CliWatch<'_> {
    fn event(&self, kind: Kind, name: &str, status: &str, done: bool) {
        exec::Progress::event(&self.progress, kind, name, status, done);
    }
}

impl WatchHooks for CliWatch<'_> {
    fn log(&self, line: &str) {
        println!("{line}");
    }

    fn rebuild(&self, services: &[String]) -> Result<(), String> {
        self.rebuild_and_recreate(services)
            .map_err(|e| format!("{e:#}"))
    }
}

impl CliWatch<'_> {
    /// The services' images built again, then only those services
    /// recreated on them (`up --no-deps --force-recreate SERVICE…`):
    /// whoever depends on them keeps running.
    fn rebuild_and_recreate(&self, services: &[String]) -> anyhow::Result<()> {
        let opts = ComposeBuildOptions {
            quiet: self.quiet,
            ..ComposeBuildOptions::default()
        };
        build_services(self.settings, self.loaded, services, &opts, &|| false)?;
        let project = &self.loaded.project;
        let env = common::env(self.settings)?.with_hooks(project);
        let ctx = ProjectContext {
            working_dir: self.loaded.working_dir.clone(),
            config_files: self.loaded.config_files.clone(),
        };
        let up = UpOptions {
            services: services.to_vec(),
            no_deps: true,
            force_recreate: true,
            ..UpOptions::default()
        };
        exec::up(&env, project, &ctx, &up, &self.progress)?;
        Ok(())
    }
}
