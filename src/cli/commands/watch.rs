//! The watch loop of `watch [SERVICE…]` and `up --watch` (both verbs are
//! in up.rs): sync, restart or rebuild services as their `develop.watch`
//! rules say while files change, until told to stop.

use super::common::{self, open_store};
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

/// How a watch shows builds and what it does with the images they replace.
#[derive(Clone, Copy, Debug)]
pub struct WatchOptions {
    /// `--quiet`: no build output.
    pub quiet: bool,
    /// `--prune` (Compose's default): an image a rebuild replaced is removed
    /// once nothing names or uses it.
    pub prune: bool,
}

/// Starts watching the rules of `services` and handles their changes
/// until a [`Input::Stop`] comes on `rx`.
pub fn run_watch(
    settings: &Settings,
    loaded: &Loaded,
    services: &[String],
    opts: WatchOptions,
    tx: Sender<Input>,
    rx: &Receiver<Input>,
) -> anyhow::Result<()> {
    let project = &loaded.project;
    let env = common::env(settings)?.with_hooks(project);
    let hooks = CliWatch {
        progress: Progress::new(ProgressMode::Plain),
        opts,
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
    opts: WatchOptions,
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
            quiet: self.opts.quiet,
            ..ComposeBuildOptions::default()
        };
        let store = open_store(self.settings)?;
        // The images the services run now, to prune once they are replaced.
        let mut before = Vec::new();
        for s in services {
            if let Some(svc) = self.loaded.project.services.get(s) {
                let name = crate::plan::container::image_name(&self.loaded.project, svc)?;
                if let Some(old) = store.find(&name)? {
                    before.push(old.id().to_string());
                }
            }
        }
        let built = build_services(self.settings, self.loaded, services, &opts, &|| false)?;
        let project = &self.loaded.project;
        let env = common::env(self.settings)?.with_hooks(project);
        let ctx = ProjectContext::of(self.loaded);
        let up = UpOptions {
            services: services.to_vec(),
            no_deps: true,
            force_recreate: true,
            ..UpOptions::default()
        };
        exec::up(&env, project, &ctx, &up, &self.progress)?;
        if self.opts.prune {
            let kept: Vec<String> = built.iter().map(|b| b.image.id().to_string()).collect();
            for old in before.iter().filter(|id| !kept.contains(id)) {
                // Refused while a tag or a container (its holder) still has
                // it: then it is not dangling, and stays.
                if let Ok(removed) = store.remove(old, false) {
                    if !removed.deleted_images.is_empty() {
                        self.log(&format!("Pruned the image {old} that the rebuild replaced"));
                    }
                }
            }
        }
        Ok(())
    }
}
