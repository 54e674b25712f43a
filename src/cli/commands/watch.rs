//! The watch loop of `watch [SERVICE…]` and `up --watch` (both verbs are
//! in up.rs): sync, restart or rebuild services as their `develop.watch`
//! rules say while files change, until told to stop.

use super::common;
use crate::cli::args::compose::ProgressMode;
use crate::cli::progress::Progress;
use crate::cli::resolve::Settings;
use crate::compose::load::Loaded;
use crate::exec::watch::debounce::{Input, QUIET_PERIOD};
use crate::exec::watch::{self as w, Watch, WatchHooks};
use crate::exec::{self, Kind};
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
    };
    let rules = w::rules(project, services, &|line| hooks.log(line))?;
    let watch = Watch::start(&env, project, rules, tx, &hooks)?;
    watch.run(&env, project, rx, &hooks, QUIET_PERIOD)?;
    Ok(())
}

/// The foreground side of a watch: its messages on standard output, where
/// the attached logs of `up --watch` go too (one whole line at a time).
struct CliWatch {
    progress: Progress,
    /// `--quiet`: no build output.
    #[allow(dead_code)]
    quiet: bool,
}

impl exec::Progress for CliWatch {
    fn event(&self, kind: Kind, name: &str, status: &str, done: bool) {
        exec::Progress::event(&self.progress, kind, name, status, done);
    }
}

impl WatchHooks for CliWatch {
    fn log(&self, line: &str) {
        println!("{line}");
    }

    fn rebuild(&self, services: &[String]) -> Result<(), String> {
        Err(format!(
            "rebuilding {services:?} needs compose `build:` support in `up`, which this wharf does not have yet"
        ))
    }
}
