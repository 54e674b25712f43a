//! The compose verbs: `up`, `down`, and the project forms of `ps`, `logs`,
//! `stop`, `start`, `restart`, `rm`. A project is what `-f`/`-p` name, or
//! the compose file found from the current directory; with none, the
//! container verbs of src/cli/container.rs answer instead.

use super::{print_warnings, GlobalArgs};
use crate::compose::load::{self, Loaded};
use crate::exec::{self, Env, Kind, ProjectContainer, UpOptions};
use crate::plan::container::ProjectContext;
use crate::runtime::container::Status;
use crate::supervise::logs::{Follower, LogLine, Stream};
use anyhow::{bail, Context as _};
use clap::{Args, ValueEnum};
use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum PullPolicy {
    Always,
    Missing,
    Never,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ProgressMode {
    Auto,
    Tty,
    Plain,
    Quiet,
    Json,
}

#[derive(Args, Debug)]
pub struct UpArgs {
    /// Services to start (with their dependencies); all by default
    pub services: Vec<String>,
    /// Detached mode: start the containers and return
    #[arg(short = 'd', long)]
    pub detach: bool,
    /// Recreate containers even if their configuration is unchanged
    #[arg(long = "force-recreate", conflicts_with = "no_recreate")]
    pub force_recreate: bool,
    /// Never recreate existing containers
    #[arg(long = "no-recreate")]
    pub no_recreate: bool,
    /// Recreate dependent containers too (with --force-recreate)
    #[arg(long = "always-recreate-deps")]
    pub always_recreate_deps: bool,
    /// Recreate anonymous volumes instead of keeping the previous containers' data
    #[arg(short = 'V', long = "renew-anon-volumes")]
    pub renew_anon_volumes: bool,
    /// Create the containers but do not start them
    #[arg(long = "no-start")]
    pub no_start: bool,
    /// Remove containers of services no longer in the compose file
    #[arg(long = "remove-orphans")]
    pub remove_orphans: bool,
    /// Do not start linked services
    #[arg(long = "no-deps")]
    pub no_deps: bool,
    /// Scale SERVICE to NUM instances (SERVICE=NUM, repeatable)
    #[arg(long, value_name = "SERVICE=NUM")]
    pub scale: Vec<String>,
    /// Seconds to wait for containers to stop when recreating or stopping
    #[arg(short = 't', long = "timeout")]
    pub timeout: Option<u64>,
    /// Pull images before starting: always, missing (default) or never
    #[arg(long, value_enum, default_value = "missing")]
    pub pull: PullPolicy,
    /// Pull without printing progress
    #[arg(long = "quiet-pull")]
    pub quiet_pull: bool,
    /// Progress output: auto, tty, plain, quiet, json
    #[arg(long, value_enum, default_value = "auto")]
    pub progress: ProgressMode,
    /// Produce monochrome output
    #[arg(long = "no-color")]
    pub no_color: bool,
    /// Do not prefix log lines with the container name
    #[arg(long = "no-log-prefix")]
    pub no_log_prefix: bool,
    /// Show timestamps
    #[arg(long)]
    pub timestamps: bool,
    /// Attach only to these services' output (repeatable)
    #[arg(long)]
    pub attach: Vec<String>,
    /// Do not attach to these services' output (repeatable)
    #[arg(long = "no-attach")]
    pub no_attach: Vec<String>,
    /// Stop all containers if any container exits
    #[arg(long = "abort-on-container-exit")]
    pub abort_on_container_exit: bool,
    /// Return the exit code of this service's container (implies --abort-on-container-exit)
    #[arg(long = "exit-code-from", value_name = "SERVICE")]
    pub exit_code_from: Option<String>,
    /// Wait for services to be running and healthy (one-shots: exited 0); implies -d
    #[arg(long)]
    pub wait: bool,
    /// Give up --wait after this many seconds
    #[arg(long = "wait-timeout", value_name = "SECONDS")]
    pub wait_timeout: Option<u64>,
    /// Container runtime: builtin, crun, runc or a path (also WHARF_RUNTIME)
    #[arg(long, env = "WHARF_RUNTIME", default_value = "builtin")]
    pub runtime: String,
}

#[derive(Args, Debug)]
pub struct DownArgs {
    /// Remove named volumes declared in the compose file and anonymous volumes
    #[arg(short = 'v', long)]
    pub volumes: bool,
    /// Also remove one-off (`run`) containers; containers of services no longer in the compose file are always removed
    #[arg(long = "remove-orphans")]
    pub remove_orphans: bool,
    /// Seconds to wait for containers to stop
    #[arg(short = 't', long = "timeout")]
    pub timeout: Option<u64>,
    /// Progress output: auto, tty, plain, quiet, json
    #[arg(long, value_enum, default_value = "auto")]
    pub progress: ProgressMode,
    /// Remove images used by services: "local" only those without a custom tag, "all" every one
    #[arg(long, value_enum, value_name = "TYPE")]
    pub rmi: Option<RmiMode>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum RmiMode {
    Local,
    All,
}

/// The project a verb works on.
pub enum Selected {
    /// Loaded from its compose file.
    Loaded(Box<Loaded>),
    /// Only a name (`-p NAME` with no compose file): found by labels.
    Named(String),
}

impl Selected {
    pub fn name(&self) -> &str {
        match self {
            Selected::Loaded(l) => &l.project.name,
            Selected::Named(n) => n,
        }
    }
}

fn not_found(e: &crate::compose::error::LoadError) -> bool {
    e.to_string().contains("no configuration file provided")
}

/// The project named by the flags or found from the current directory;
/// `None` when there is none (the container verbs take over).
pub fn select(global: &GlobalArgs) -> anyhow::Result<Option<Selected>> {
    let explicit_name = global.project_name.clone().or_else(|| {
        std::env::var("COMPOSE_PROJECT_NAME")
            .ok()
            .filter(|s| !s.is_empty())
    });
    let opts = global.load_options()?;
    match load::load(&opts) {
        Ok(l) => {
            print_warnings(&l.warnings);
            Ok(Some(Selected::Loaded(Box::new(l))))
        }
        Err(e) if not_found(&e) && global.file.is_empty() => {
            Ok(explicit_name.map(|n| Selected::Named(load::normalize_project_name(&n))))
        }
        Err(e) => Err(anyhow::Error::new(e)),
    }
}

/// For a verb that takes containers or services: the project when the
/// names are all its services (or none are given and there is a project).
pub fn project_mode(global: &GlobalArgs, names: &[String]) -> anyhow::Result<Option<Selected>> {
    if names.is_empty() {
        return select(global);
    }
    let Ok(Some(sel)) = select(global) else {
        return Ok(None);
    };
    let env = Env::open(global.root(), "builtin")?;
    match services_of(&sel, &env, names) {
        Ok(_) => Ok(Some(sel)),
        Err(_) => Ok(None),
    }
}

/// The executor's layers for a selected project, with its lifecycle hooks
/// when the compose file is at hand.
fn env_for(global: &GlobalArgs, sel: &Selected) -> anyhow::Result<Env> {
    let env = Env::open(global.root(), "builtin")?;
    Ok(match sel {
        Selected::Loaded(l) => env.with_hooks(&l.project),
        Selected::Named(_) => env,
    })
}

fn require_loaded(global: &GlobalArgs) -> anyhow::Result<Box<Loaded>> {
    match select(global)? {
        Some(Selected::Loaded(l)) => Ok(l),
        _ => bail!("no configuration file provided: not found"),
    }
}

/// Compose's progress lines, or indicatif spinners on a terminal.
pub struct Progress {
    mode: ProgressMode,
    multi: indicatif::MultiProgress,
    bars: Mutex<BTreeMap<String, indicatif::ProgressBar>>,
}

impl Progress {
    pub fn new(mode: ProgressMode) -> Progress {
        let mode = match mode {
            ProgressMode::Auto if std::io::stderr().is_terminal() => ProgressMode::Tty,
            ProgressMode::Auto => ProgressMode::Plain,
            m => m,
        };
        Progress {
            mode,
            multi: indicatif::MultiProgress::with_draw_target(
                indicatif::ProgressDrawTarget::stderr(),
            ),
            bars: Mutex::new(BTreeMap::new()),
        }
    }
}

impl exec::Progress for Progress {
    fn event(&self, kind: Kind, name: &str, status: &str, done: bool) {
        match self.mode {
            ProgressMode::Quiet => {}
            ProgressMode::Plain | ProgressMode::Auto => {
                eprintln!(" {} {name}  {status}", kind.as_str())
            }
            ProgressMode::Json => {
                let line = serde_json::json!({
                    "id": format!("{} {name}", kind.as_str()),
                    "status": status,
                    "done": done,
                });
                eprintln!("{line}");
            }
            ProgressMode::Tty => {
                let key = format!("{} {name}", kind.as_str());
                let Ok(mut bars) = self.bars.lock() else {
                    return;
                };
                let bar = bars.entry(key.clone()).or_insert_with(|| {
                    let b = self.multi.add(indicatif::ProgressBar::new_spinner());
                    b.enable_steady_tick(Duration::from_millis(100));
                    b
                });
                if done {
                    let mark = if status == "Error" { "✘" } else { "✔" };
                    bar.set_style(
                        indicatif::ProgressStyle::with_template("{msg}")
                            .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
                    );
                    bar.finish_with_message(format!(" {mark} {key}  {status}"));
                } else {
                    bar.set_message(format!("{key}  {status}"));
                }
            }
        }
    }
}

fn parse_scale(list: &[String]) -> anyhow::Result<BTreeMap<String, u32>> {
    let mut out = BTreeMap::new();
    for s in list {
        let (svc, n) = s
            .split_once('=')
            .with_context(|| format!("--scale {s:?}: expected SERVICE=NUM"))?;
        let n: u32 = n
            .parse()
            .with_context(|| format!("--scale {s:?}: {n:?} is not a number"))?;
        out.insert(svc.to_string(), n);
    }
    Ok(out)
}

/// Blocks SIGINT and SIGTERM in this thread (and so in every thread it
/// starts) and turns them into a count a watcher thread keeps, so Ctrl-C
/// can mean "stop gracefully" once and "kill" twice.
fn catch_interrupts() -> anyhow::Result<Arc<std::sync::atomic::AtomicUsize>> {
    use nix::sys::signal::{SigSet, Signal};
    let mut mask = SigSet::empty();
    mask.add(Signal::SIGINT);
    mask.add(Signal::SIGTERM);
    mask.thread_block().context("blocking SIGINT")?;
    let count = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let c = count.clone();
    std::thread::spawn(move || loop {
        if mask.wait().is_ok() {
            c.fetch_add(1, Ordering::SeqCst);
        }
    });
    Ok(count)
}

/// `create [SERVICE…]`: Compose's `up --no-start`.
pub fn create(global: &GlobalArgs, services: &[String]) -> anyhow::Result<ExitCode> {
    #[derive(clap::Parser)]
    struct Up {
        #[command(flatten)]
        args: UpArgs,
    }
    let argv = ["up", "--no-start"]
        .into_iter()
        .map(String::from)
        .chain(services.iter().cloned());
    let up = <Up as clap::Parser>::try_parse_from(argv)?;
    self::up(global, &up.args)
}

pub fn up(global: &GlobalArgs, args: &UpArgs) -> anyhow::Result<ExitCode> {
    let loaded = require_loaded(global)?;
    let project = &loaded.project;
    for s in &args.services {
        if !project.services.contains_key(s) {
            bail!("no such service: {s}");
        }
    }
    let interrupts = catch_interrupts()?;
    let env = Env::open(global.root(), &args.runtime)?.with_hooks(project);
    let selected = crate::plan::service_graph(project)?.select(&args.services, !args.no_deps)?;
    super::image::pull_for_up(global, project, &selected, args.pull, args.quiet_pull)?;

    let ctx = ProjectContext {
        working_dir: loaded.working_dir.clone(),
        config_files: loaded.config_files.clone(),
    };
    let cancel = Arc::new(AtomicBool::new(false));
    let opts = UpOptions {
        services: args.services.clone(),
        no_deps: args.no_deps,
        force_recreate: args.force_recreate,
        no_recreate: args.no_recreate,
        always_recreate_deps: args.always_recreate_deps,
        renew_anon_volumes: args.renew_anon_volumes,
        no_start: args.no_start,
        remove_orphans: args.remove_orphans,
        scale: parse_scale(&args.scale)?,
        timeout: args.timeout.map(Duration::from_secs),
        wait_timeout: None,
        cancel: Some(cancel.clone()),
    };
    let progress = Progress::new(args.progress);
    let result = std::thread::scope(|s| {
        // The worker says when it is done, so `up` returns at once rather
        // than at the next tick of the watch for Ctrl+C.
        let (done, finished) = std::sync::mpsc::channel::<()>();
        let (env, ctx, opts, progress) = (&env, &ctx, &opts, &progress);
        let worker = s.spawn(move || {
            let r = exec::up(env, project, ctx, opts, progress);
            let _ = done.send(());
            r
        });
        while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) =
            finished.recv_timeout(Duration::from_millis(20))
        {
            if interrupts.load(Ordering::SeqCst) > 0 {
                cancel.store(true, Ordering::SeqCst);
            }
        }
        worker.join()
    });
    let started = match result {
        Ok(Ok(list)) => list,
        Ok(Err(exec::ExecError::Cancelled)) => {
            eprintln!("Gracefully stopping... (press Ctrl+C again to force)");
            exec::stop(
                &env,
                &project.name,
                &[],
                args.timeout.map(Duration::from_secs),
                &progress,
            )?;
            return Ok(ExitCode::from(130));
        }
        Ok(Err(e)) => return Err(e.into()),
        Err(_) => bail!("up: a worker thread panicked"),
    };
    if args.wait {
        return wait_ready(
            &env,
            &started,
            args.wait_timeout.map(Duration::from_secs),
            &interrupts,
            &progress,
        );
    }
    if args.detach || args.no_start {
        return Ok(ExitCode::SUCCESS);
    }
    attach(&env, project.name.as_str(), started, args, &interrupts)
}

/// `up --wait`: every container running (healthy, when it has a check)
/// or, for one-shots, exited 0. Anything else fails with its name.
fn wait_ready(
    env: &Env,
    started: &[ProjectContainer],
    timeout: Option<Duration>,
    interrupts: &std::sync::atomic::AtomicUsize,
    progress: &Progress,
) -> anyhow::Result<ExitCode> {
    let deadline = timeout.map(|t| std::time::Instant::now() + t);
    let mut pending: Vec<&ProjectContainer> = started.iter().collect();
    for c in &pending {
        exec::Progress::event(progress, Kind::Container, &c.record.name, "Waiting", false);
    }
    while !pending.is_empty() {
        let mut still = Vec::new();
        for c in pending {
            let st = env.containers.state(&c.record.id)?;
            let name = &c.record.name;
            let checked = crate::supervise::health::active(&c.record.spec.healthcheck);
            let health = st.health.as_ref().map(|h| h.status.as_str());
            match st.status {
                Status::Running if !checked || health == Some("healthy") => {
                    let word = if checked { "Healthy" } else { "Running" };
                    exec::Progress::event(progress, Kind::Container, name, word, true);
                }
                Status::Running if health == Some("unhealthy") => {
                    exec::Progress::event(progress, Kind::Container, name, "Error", true);
                    bail!("container {name} is unhealthy");
                }
                Status::Exited | Status::Dead => {
                    let code = st.exit_code.unwrap_or(-1);
                    if code != 0 {
                        exec::Progress::event(progress, Kind::Container, name, "Error", true);
                        bail!("container {name} exited ({code})");
                    }
                    exec::Progress::event(progress, Kind::Container, name, "Exited", true);
                }
                _ => still.push(c),
            }
        }
        pending = still;
        if pending.is_empty() {
            break;
        }
        if interrupts.load(Ordering::SeqCst) > 0 {
            return Ok(ExitCode::from(130));
        }
        if deadline.is_some_and(|d| std::time::Instant::now() >= d) {
            let names: Vec<&str> = pending.iter().map(|c| c.record.name.as_str()).collect();
            bail!(
                "timed out after {} s waiting for {} to be ready",
                timeout.map(|t| t.as_secs()).unwrap_or(0),
                names.join(", ")
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(ExitCode::SUCCESS)
}

/// Compose's log colors, in its order.
const COLORS: [&str; 10] = ["36", "33", "32", "35", "34", "96", "93", "92", "95", "94"];

/// `web-1`: the container name without the project prefix, as Compose
/// prints it.
fn prefix_name(c: &ProjectContainer, project: &str) -> String {
    let name = c.record.name.as_str();
    name.strip_prefix(&format!("{project}-"))
        .unwrap_or(name)
        .to_string()
}

/// Prints containers' log lines the way Compose does: each container's
/// short name, padded to the longest, in its service's color.
struct Printer {
    names: Vec<String>,
    colors: Vec<&'static str>,
    width: usize,
    color: bool,
    prefix: bool,
    timestamps: bool,
}

impl Printer {
    /// Colors go by service, in the order services first appear.
    fn new(
        list: &[ProjectContainer],
        project: &str,
        no_color: bool,
        no_prefix: bool,
        timestamps: bool,
    ) -> Printer {
        let mut services: Vec<&str> = Vec::new();
        let colors = list
            .iter()
            .map(|c| {
                let i = match services.iter().position(|s| *s == c.service) {
                    Some(i) => i,
                    None => {
                        services.push(&c.service);
                        services.len() - 1
                    }
                };
                COLORS[i % COLORS.len()]
            })
            .collect();
        let names: Vec<String> = list.iter().map(|c| prefix_name(c, project)).collect();
        Printer {
            width: names.iter().map(|n| n.chars().count()).max().unwrap_or(0),
            names,
            colors,
            color: !no_color && std::io::stdout().is_terminal(),
            prefix: !no_prefix,
            timestamps,
        }
    }

    /// One line of container `i`.
    fn line(&self, i: usize, l: &LogLine) {
        let (name, color) = (&self.names[i], self.colors[i]);
        let mut text = l.log.clone();
        if !text.ends_with('\n') {
            text.push('\n');
        }
        if self.timestamps {
            text = format!("{} {text}", l.time);
        }
        let out = if !self.prefix {
            text
        } else if self.color {
            format!("\x1b[{color}m{name:<w$} |\x1b[0m {text}", w = self.width)
        } else {
            format!("{name:<w$} | {text}", w = self.width)
        };
        let _ = match l.stream {
            Stream::Stdout => std::io::stdout().write_all(out.as_bytes()),
            Stream::Stderr => std::io::stderr().write_all(out.as_bytes()),
        };
    }

    /// Compose's own lines about container `i` (`web-1 exited with code 0`).
    fn note(&self, i: usize, text: &str) {
        let (name, color) = (&self.names[i], self.colors[i]);
        if self.color {
            println!("\x1b[{color}m{name}\x1b[0m {text}");
        } else {
            println!("{name} {text}");
        }
    }
}

/// Foreground `up`: every attached container's output with a colored
/// prefix until all have exited; Ctrl-C stops the project (twice: kills).
fn attach(
    env: &Env,
    project: &str,
    started: Vec<ProjectContainer>,
    args: &UpArgs,
    interrupts: &std::sync::atomic::AtomicUsize,
) -> anyhow::Result<ExitCode> {
    let abort = args.abort_on_container_exit || args.exit_code_from.is_some();
    let attached: Vec<ProjectContainer> = started
        .into_iter()
        .filter(|c| args.attach.is_empty() || args.attach.contains(&c.service))
        .filter(|c| !args.no_attach.contains(&c.service))
        .collect();
    let printer = Printer::new(
        &attached,
        project,
        args.no_color,
        args.no_log_prefix,
        args.timestamps,
    );
    println!("Attaching to {}", printer.names.join(", "));
    let mut followers: Vec<Follower> = attached
        .iter()
        .map(|c| Follower::new(&env.containers.dir(&c.record.id).log(), false))
        .collect();
    let mut exited: Vec<Option<i32>> = vec![None; attached.len()];
    let mut stopping = 0usize;
    let mut stopper: Option<std::thread::JoinHandle<()>> = None;
    let mut aborted_by: Option<usize> = None;
    let progress = Progress::new(ProgressMode::Plain);
    let timeout = args.timeout.map(Duration::from_secs);
    loop {
        for (i, c) in attached.iter().enumerate() {
            for l in followers[i].poll() {
                printer.line(i, &l);
            }
            if exited[i].is_none() {
                let st = env.containers.state(&c.record.id)?;
                if !matches!(
                    st.status,
                    Status::Running | Status::Paused | Status::Created
                ) {
                    // Whatever the container wrote last is read before its
                    // exit is announced.
                    for l in followers[i].poll() {
                        printer.line(i, &l);
                    }
                    let code = st.exit_code.unwrap_or(-1);
                    printer.note(i, &format!("exited with code {code}"));
                    exited[i] = Some(code);
                    if abort && aborted_by.is_none() && stopping == 0 {
                        aborted_by = Some(i);
                    }
                }
            }
        }
        if exited.iter().all(Option::is_some) {
            break;
        }
        let n = interrupts.load(Ordering::SeqCst);
        let want_stop = n > stopping || (aborted_by.is_some() && stopper.is_none());
        if want_stop && stopper.is_none() {
            stopping = n.max(1);
            if aborted_by.is_some() && n == 0 {
                println!("Aborting on container exit...");
            } else {
                eprintln!("Gracefully stopping... (press Ctrl+C again to force)");
            }
            let root = env.containers.root().to_path_buf();
            let project = project.to_string();
            let runtime = env.runtime.clone();
            let hooks = env.hooks.clone();
            stopper = Some(std::thread::spawn(move || {
                if let Ok(mut env) = Env::open(&root, &runtime) {
                    env.hooks = hooks;
                    let _ = exec::stop(
                        &env,
                        &project,
                        &[],
                        timeout,
                        &Progress::new(ProgressMode::Plain),
                    );
                }
            }));
        } else if n > stopping && stopper.is_some() {
            stopping = n;
            for c in &attached {
                let _ = crate::supervise::control::kill(
                    &env.containers,
                    &c.record.id,
                    nix::sys::signal::Signal::SIGKILL,
                );
                exec::Progress::event(&progress, Kind::Container, &c.record.name, "Killed", true);
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    if let Some(h) = stopper {
        let _ = h.join();
    }
    if let Some(svc) = &args.exit_code_from {
        let code = attached
            .iter()
            .zip(&exited)
            .find(|(c, _)| &c.service == svc)
            .and_then(|(_, e)| *e)
            .unwrap_or(0);
        return Ok(ExitCode::from(code.clamp(0, 255) as u8));
    }
    if stopping > 0 && aborted_by.is_none() {
        return Ok(ExitCode::from(130));
    }
    if let Some(i) = aborted_by {
        let code = exited[i].unwrap_or(0);
        return Ok(ExitCode::from(code.clamp(0, 255) as u8));
    }
    Ok(ExitCode::SUCCESS)
}

pub fn down(global: &GlobalArgs, args: &DownArgs) -> anyhow::Result<ExitCode> {
    let Some(sel) = select(global)? else {
        bail!("no configuration file provided: not found");
    };
    let env = env_for(global, &sel)?;
    let declared: Vec<String> = match &sel {
        Selected::Loaded(l) => l
            .project
            .volumes
            .iter()
            .filter(|(_, v)| !v.external)
            .map(|(k, v)| {
                v.name
                    .clone()
                    .unwrap_or_else(|| format!("{}_{k}", l.project.name))
            })
            .collect(),
        Selected::Named(_) => Vec::new(),
    };
    let images = match args.rmi {
        None => Vec::new(),
        Some(mode) => {
            let mode = match mode {
                RmiMode::Local => exec::RemoveImages::Local,
                RmiMode::All => exec::RemoveImages::All,
            };
            let list = exec::project_containers(&env.containers, sel.name())?;
            let project = match &sel {
                Selected::Loaded(l) => Some(&l.project),
                Selected::Named(_) => None,
            };
            exec::images_to_remove(project, &list, sel.name(), mode)
        }
    };
    let opts = exec::DownOptions {
        volumes: args.volumes,
        images,
        timeout: args.timeout.map(Duration::from_secs),
        services: Vec::new(),
        remove_orphans: args.remove_orphans,
    };
    exec::down(
        &env,
        sel.name(),
        &declared,
        &opts,
        &Progress::new(args.progress),
    )?;
    Ok(ExitCode::SUCCESS)
}

/// `ps` for a project: Compose's columns, or one JSON object per line.
pub fn ps(
    global: &GlobalArgs,
    sel: &Selected,
    args: &super::container::PsArgs,
) -> anyhow::Result<ExitCode> {
    let env = Env::open(global.root(), "builtin")?;
    let filter = super::container::PsFilter::parse(args)?;
    let all = args.all || filter.implies_all();
    let list: Vec<ProjectContainer> = exec::project_containers(&env.containers, sel.name())?
        .into_iter()
        .filter(|c| all || c.running())
        // One-off containers only with -a, as Compose lists them.
        .filter(|c| args.all || !c.oneoff)
        .filter(|c| args.services.is_empty() || args.services.contains(&c.service))
        .filter(|c| filter.keeps(&c.record, c.state.status))
        .collect();
    if args.services_only {
        // Compose's: the services of the containers that pass (running
        // ones unless -a or a status filter), each once.
        let mut names: Vec<&str> = list.iter().map(|c| c.service.as_str()).collect();
        names.dedup();
        for n in names {
            println!("{n}");
        }
        return Ok(ExitCode::SUCCESS);
    }
    if args.quiet {
        for c in &list {
            println!(
                "{}",
                if args.no_trunc {
                    &c.record.id[..]
                } else {
                    &c.record.id[..12]
                }
            );
        }
        return Ok(ExitCode::SUCCESS);
    }
    if args.format == super::image::ListFormat::Json {
        for c in &list {
            let line = serde_json::json!({
                "Command": format!("\"{}\"", super::container::command_text(&c.record)),
                "CreatedAt": c.record.created,
                "ExitCode": c.state.exit_code.unwrap_or(0),
                "Health": c.state.health.as_ref().map(|h| h.status.clone()).unwrap_or_default(),
                "ID": c.record.id,
                "Image": c.record.image,
                "Labels": c.record.spec.labels,
                "Name": c.record.name,
                "Names": c.record.name,
                "Ports": super::container::ports_column(&c.state.ports),
                "Publishers": c.state.ports.iter().map(|b| serde_json::json!({
                    "URL": b.host_ip.map(crate::net::ports::show_ip).unwrap_or_else(|| "0.0.0.0".into()),
                    "TargetPort": b.container_port,
                    "PublishedPort": b.host_port,
                    "Protocol": format!("{:?}", b.protocol).to_lowercase(),
                })).collect::<Vec<_>>(),
                "Project": sel.name(),
                "Service": c.service,
                "State": c.state.status.as_str(),
                "Status": super::container::status_text(&c.state),
            });
            println!("{line}");
        }
        return Ok(ExitCode::SUCCESS);
    }
    let mut table = vec![vec![
        "NAME".to_string(),
        "IMAGE".into(),
        "COMMAND".into(),
        "SERVICE".into(),
        "CREATED".into(),
        "STATUS".into(),
        "PORTS".into(),
    ]];
    for c in &list {
        let mut cmd = super::container::command_text(&c.record);
        if !args.no_trunc && cmd.chars().count() > 20 {
            cmd = format!("{}…", cmd.chars().take(19).collect::<String>());
        }
        let created = crate::time::parse_rfc3339(&c.record.created)
            .and_then(|t| std::time::SystemTime::now().duration_since(t).ok())
            .map(|d| format!("{} ago", crate::time::human_duration(d)))
            .unwrap_or_default();
        table.push(vec![
            c.record.name.clone(),
            c.record.image.clone(),
            format!("\"{cmd}\""),
            c.service.clone(),
            created,
            super::container::status_text(&c.state),
            super::container::ports_column(&c.state.ports),
        ]);
    }
    super::container::print_table(&table);
    Ok(ExitCode::SUCCESS)
}

/// `top [SERVICE…]` for a project: each running container's processes
/// under its name, as `docker compose top` prints them.
pub fn top(global: &GlobalArgs, sel: &Selected, services: &[String]) -> anyhow::Result<ExitCode> {
    let (env, services) = open_services(global, sel, services)?;
    let mut ok = true;
    for c in containers_of(&env, sel, &services)? {
        if !matches!(c.state.status, Status::Running | Status::Paused) {
            continue;
        }
        println!("{}", c.record.name);
        std::io::stdout().flush()?;
        ok &= super::container::print_top(&c.record.id)?;
        println!();
    }
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// `images [SERVICE…]` for a project: the image of each container, in
/// Compose's columns (CONTAINER REPOSITORY TAG IMAGE ID SIZE).
pub fn images(
    global: &GlobalArgs,
    sel: &Selected,
    args: &super::image::ImagesArgs,
) -> anyhow::Result<ExitCode> {
    use crate::image::reference::Reference;
    let (env, services) = open_services(global, sel, &args.services)?;
    let mut rows = Vec::new();
    for c in containers_of(&env, sel, &services)? {
        let (repo, tag) = match Reference::parse(&c.record.image) {
            Ok(r) => (
                r.familiar_name(),
                r.tag()
                    .unwrap_or(if r.digest().is_some() {
                        "<none>"
                    } else {
                        "latest"
                    })
                    .to_string(),
            ),
            Err(_) => (c.record.image.clone(), "<none>".to_string()),
        };
        let size = env
            .store
            .resolve(&c.record.image_id.to_string())?
            .map(|i| i.size)
            .unwrap_or(0);
        rows.push((
            c.record.name.clone(),
            repo,
            tag,
            c.record.image_id.hex().to_string(),
            size,
        ));
    }
    if args.quiet {
        let mut ids: Vec<&str> = rows.iter().map(|r| r.3.as_str()).collect();
        ids.sort();
        ids.dedup();
        for id in ids {
            println!("sha256:{id}");
        }
        return Ok(ExitCode::SUCCESS);
    }
    if args.format == super::image::ListFormat::Json {
        let v: Vec<serde_json::Value> = rows
            .iter()
            .map(|(name, repo, tag, id, size)| {
                serde_json::json!({
                    "ID": format!("sha256:{id}"),
                    "ContainerName": name,
                    "Repository": repo,
                    "Tag": tag,
                    "Size": size,
                })
            })
            .collect();
        println!("{}", serde_json::Value::Array(v));
        return Ok(ExitCode::SUCCESS);
    }
    let mut table = vec![vec![
        "CONTAINER".to_string(),
        "REPOSITORY".into(),
        "TAG".into(),
        "IMAGE ID".into(),
        "SIZE".into(),
    ]];
    for (name, repo, tag, id, size) in rows {
        table.push(vec![
            name,
            repo,
            tag,
            id.chars().take(12).collect(),
            super::image::human_size(size),
        ]);
    }
    super::container::print_table(&table);
    Ok(ExitCode::SUCCESS)
}

/// `logs [SERVICE…]` for a project: every container's lines with the
/// service prefix; `-f` follows until interrupted.
pub fn logs(
    global: &GlobalArgs,
    sel: &Selected,
    args: &super::container::LogsArgs,
) -> anyhow::Result<ExitCode> {
    let env = Env::open(global.root(), "builtin")?;
    let list: Vec<ProjectContainer> = exec::project_containers(&env.containers, sel.name())?
        .into_iter()
        .filter(|c| args.targets.is_empty() || args.targets.contains(&c.service))
        .filter(|c| args.index.is_none_or(|i| c.number == i))
        .collect();
    let printer = Printer::new(
        &list,
        sel.name(),
        args.no_color,
        args.no_log_prefix,
        args.timestamps,
    );
    let tail = super::container::parse_tail(&args.tail)?;
    use super::container::{parse_when, select_lines, time_window};
    let (since, until) = time_window(args.since.as_deref(), args.until.as_deref(), parse_when)?;
    let mut followers: Vec<Follower> = Vec::new();
    for (i, c) in list.iter().enumerate() {
        let path = env.containers.dir(&c.record.id).log();
        let (lines, follower) = crate::supervise::logs::read_and_follow(&path)?;
        followers.push(follower);
        for l in &select_lines(lines, since, until, tail) {
            printer.line(i, l);
        }
    }
    if args.follow {
        loop {
            let mut any_running = false;
            for (i, c) in list.iter().enumerate() {
                for l in &select_lines(followers[i].poll(), since, until, None) {
                    printer.line(i, l);
                }
                any_running |= matches!(
                    env.containers.state(&c.record.id)?.status,
                    Status::Running | Status::Paused
                );
            }
            if !any_running || until.is_some_and(|u| std::time::SystemTime::now() >= u) {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Services of a selected project named on the command line; an unknown
/// name is an error, as in Compose.
fn services_of(sel: &Selected, env: &Env, names: &[String]) -> anyhow::Result<Vec<String>> {
    let known: Vec<String> = match sel {
        Selected::Loaded(l) => l.project.services.keys().cloned().collect(),
        Selected::Named(n) => exec::project_containers(&env.containers, n)?
            .into_iter()
            .map(|c| c.service)
            .collect(),
    };
    for n in names {
        if !known.contains(n) {
            bail!("no such service: {n}");
        }
    }
    Ok(names.to_vec())
}

/// Where a project verb on `[SERVICE…]` starts: the data root (with the
/// project's hooks, known only when its file is loaded) and the services
/// named, checked against the project.
fn open_services(
    global: &GlobalArgs,
    sel: &Selected,
    services: &[String],
) -> anyhow::Result<(Env, Vec<String>)> {
    let env = env_for(global, sel)?;
    let services = services_of(sel, &env, services)?;
    Ok((env, services))
}

/// The project's containers of `services` (all of them when none is named).
fn containers_of(
    env: &Env,
    sel: &Selected,
    services: &[String],
) -> anyhow::Result<Vec<ProjectContainer>> {
    Ok(exec::project_containers(&env.containers, sel.name())?
        .into_iter()
        .filter(|c| services.is_empty() || services.contains(&c.service))
        .collect())
}

pub fn stop(
    global: &GlobalArgs,
    sel: &Selected,
    services: &[String],
    timeout: Option<u64>,
) -> anyhow::Result<ExitCode> {
    let (env, services) = open_services(global, sel, services)?;
    let progress = Progress::new(ProgressMode::Auto);
    exec::stop(
        &env,
        sel.name(),
        &services,
        timeout.map(Duration::from_secs),
        &progress,
    )?;
    Ok(ExitCode::SUCCESS)
}

pub fn start(global: &GlobalArgs, sel: &Selected, services: &[String]) -> anyhow::Result<ExitCode> {
    let (env, services) = open_services(global, sel, services)?;
    let progress = Progress::new(ProgressMode::Auto);
    exec::start(&env, sel.name(), &services, &progress)?;
    Ok(ExitCode::SUCCESS)
}

pub fn restart(
    global: &GlobalArgs,
    sel: &Selected,
    services: &[String],
    timeout: Option<u64>,
) -> anyhow::Result<ExitCode> {
    let (env, services) = open_services(global, sel, services)?;
    let progress = Progress::new(ProgressMode::Auto);
    exec::restart(
        &env,
        sel.name(),
        &services,
        timeout.map(Duration::from_secs),
        &progress,
    )?;
    // Docker's engine records a restart after the start.
    for c in containers_of(&env, sel, &services)?
        .iter()
        .filter(|c| !c.oneoff)
    {
        crate::runtime::events::emit(env.containers.root(), &c.record, "restart", &[]);
    }
    Ok(ExitCode::SUCCESS)
}

/// `pause`/`unpause [SERVICE…]` for a project.
pub fn pause(
    global: &GlobalArgs,
    sel: &Selected,
    services: &[String],
    freeze: bool,
) -> anyhow::Result<ExitCode> {
    let (env, services) = open_services(global, sel, services)?;
    let progress = Progress::new(ProgressMode::Auto);
    exec::pause(&env, sel.name(), &services, freeze, &progress)?;
    Ok(ExitCode::SUCCESS)
}

/// `rm [SERVICE…]`: stopped containers of the project (`-f` also running
/// ones, `-s` stops them first, `-v` their anonymous volumes).
pub fn rm(
    global: &GlobalArgs,
    sel: &Selected,
    services: &[String],
    force: bool,
    stop_first: bool,
    volumes: bool,
) -> anyhow::Result<ExitCode> {
    let (env, services) = open_services(global, sel, services)?;
    let progress = Progress::new(ProgressMode::Auto);
    if stop_first {
        exec::stop(&env, sel.name(), &services, None, &progress)?;
    }
    for c in containers_of(&env, sel, &services)? {
        if c.running() && !force && !stop_first {
            continue;
        }
        exec::remove_container(&env, &c, volumes, None, &progress)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// `kill [SERVICE…]`: the signal to every running container of the project.
pub fn kill(
    global: &GlobalArgs,
    sel: &Selected,
    services: &[String],
    signal: &str,
) -> anyhow::Result<ExitCode> {
    let (env, services) = open_services(global, sel, services)?;
    let sig = crate::supervise::control::parse_signal(signal)?;
    let progress = Progress::new(ProgressMode::Auto);
    for c in containers_of(&env, sel, &services)? {
        if !matches!(c.state.status, Status::Running | Status::Paused) {
            continue;
        }
        progress_event(&progress, &c.record.name, "Killing", false);
        crate::supervise::control::kill(&env.containers, &c.record.id, sig)?;
        progress_event(&progress, &c.record.name, "Killed", true);
    }
    Ok(ExitCode::SUCCESS)
}

fn progress_event(p: &Progress, name: &str, status: &str, done: bool) {
    exec::Progress::event(p, Kind::Container, name, status, done);
}

/// `wharf ls`: projects that have containers, Compose's columns.
pub fn ls(
    global: &GlobalArgs,
    all: bool,
    format: super::image::ListFormat,
) -> anyhow::Result<ExitCode> {
    let env = Env::open(global.root(), "builtin")?;
    let mut rows = Vec::new();
    for (name, list) in exec::projects(&env.containers)? {
        let running = list.iter().filter(|c| c.running()).count();
        if running == 0 && !all {
            continue;
        }
        let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
        for c in &list {
            *counts.entry(c.state.status.as_str()).or_default() += 1;
        }
        let status: Vec<String> = counts.iter().map(|(s, n)| format!("{s}({n})")).collect();
        let files = exec::project_origin(&list)
            .map(|(_, f)| {
                f.iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(",")
            })
            .unwrap_or_default();
        rows.push((name, status.join(", "), files));
    }
    if format == super::image::ListFormat::Json {
        let v: Vec<serde_json::Value> = rows
            .iter()
            .map(|(n, s, f)| serde_json::json!({"Name": n, "Status": s, "ConfigFiles": f}))
            .collect();
        println!("{}", serde_json::Value::Array(v));
        return Ok(ExitCode::SUCCESS);
    }
    let mut table = vec![vec![
        "NAME".to_string(),
        "STATUS".into(),
        "CONFIG FILES".into(),
    ]];
    for (n, s, f) in rows {
        table.push(vec![n, s, f]);
    }
    super::container::print_table(&table);
    Ok(ExitCode::SUCCESS)
}

/// `run SERVICE [COMMAND…]`: a one-off container from the service's
/// configuration, after its dependencies are up; its exit code is ours.
pub fn run(
    global: &GlobalArgs,
    loaded: &Loaded,
    args: &super::container::RunArgs,
) -> anyhow::Result<ExitCode> {
    let c = &args.create;
    let project = &loaded.project;
    let service = c.image.as_str();
    if args.service_ports && !c.publish.is_empty() {
        bail!("--service-ports and --publish are incompatible");
    }
    let mut labels = Vec::new();
    for l in &c.label {
        let (k, v) = l
            .split_once('=')
            .with_context(|| format!("label {l:?} must be set as KEY=VALUE"))?;
        labels.push((k.to_string(), v.to_string()));
    }
    let mut publish = Vec::new();
    for p in &c.publish {
        publish.extend(
            crate::plan::container::parse_publish(p)
                .map_err(|e| anyhow::anyhow!("invalid -p {p:?}: {e}"))?,
        );
    }
    let mut mounts = Vec::new();
    for v in &c.volume {
        mounts.push(oneoff_volume(project, v)?);
    }
    let entrypoint = c
        .entrypoint
        .as_deref()
        .map(|e| {
            crate::compose::convert::split_command(e)
                .map_err(|m| anyhow::anyhow!("--entrypoint {e:?}: {m}"))
        })
        .transpose()?;
    // Compose allocates a terminal when both ends are one, unless -T.
    let on_terminal = std::io::stdin().is_terminal() && std::io::stdout().is_terminal();
    let tty = c.tty || (!args.no_tty && on_terminal);
    // Compose's -i is on by default (and cannot be turned off): stdin
    // reaches the one-off.
    let interactive = true;
    let oneoff = crate::plan::container::OneOff {
        name: c.name.clone(),
        command: (!c.command.is_empty()).then(|| c.command.clone()),
        entrypoint,
        // `-e KEY` takes KEY from here; unset, it is left out (Compose).
        env: c
            .env
            .iter()
            .map(|e| super::container::expand_env(e))
            .filter(|e| e.contains('='))
            .collect(),
        user: c.user.clone(),
        working_dir: c.workdir.clone(),
        tty,
        interactive,
        service_ports: args.service_ports,
        publish,
        mounts,
        labels,
        use_aliases: args.use_aliases,
        no_deps: args.no_deps,
        auto_remove: args.rm,
    };
    let selected =
        crate::plan::service_graph(project)?.select(&[service.to_string()], !args.no_deps)?;
    super::image::pull_for_up(
        global,
        project,
        &selected,
        PullPolicy::Missing,
        args.quiet_pull,
    )?;
    let env = Env::open(global.root(), &c.runtime)?;
    let ctx = ProjectContext {
        working_dir: loaded.working_dir.clone(),
        config_files: loaded.config_files.clone(),
    };
    let progress = Progress::new(ProgressMode::Auto);
    let created = exec::create_oneoff(&env, project, &ctx, service, &oneoff, &progress)?;
    let id = created.record.id.clone();
    if args.detach {
        if let Err(e) = crate::supervise::control::start_detached(&env.containers, &id) {
            if args.rm {
                let _ = crate::supervise::control::remove_auto(&env.containers, &env.store, &id);
            }
            return Ok(super::container::fail(e, 125));
        }
        println!("{id}");
        return Ok(ExitCode::SUCCESS);
    }
    let attach = crate::supervise::monitor::Attach {
        output: true,
        stdin: interactive,
    };
    let result = crate::supervise::monitor::run(&env.containers, &env.store, &id, attach, None);
    if args.rm {
        if let Err(e) = crate::supervise::control::remove_auto(&env.containers, &env.store, &id) {
            eprintln!("wharf: removing {}: {e}", created.record.name);
        }
    }
    match result {
        Ok(code) => Ok(super::container::exit(code)),
        Err(e) => {
            let code = e.exit_code();
            Ok(super::container::fail(e, code))
        }
    }
}

/// `-v` of `run SERVICE`, compose's short syntax: a path (absolute, or
/// relative to here) is a bind mount; a name is the project's volume of
/// that name when it declares one, else a volume of that very name; a
/// lone target is an anonymous volume. Volumes are made by the executor.
fn oneoff_volume(
    project: &crate::compose::types::Project,
    v: &str,
) -> anyhow::Result<crate::runtime::spec::MountSpec> {
    let short = super::container::ShortVolume::parse(v)?;
    match short.src {
        Some(s) if s.starts_with('/') || s.starts_with('.') || s.starts_with('~') => {
            let s = match s.strip_prefix('~') {
                Some(rest) => format!("{}{rest}", std::env::var("HOME").unwrap_or_default()),
                None => s.to_string(),
            };
            short.bind(&s)
        }
        src => {
            let name = src
                .map(|n| match project.volumes.get(n) {
                    Some(decl) => decl
                        .name
                        .clone()
                        .unwrap_or_else(|| format!("{}_{n}", project.name)),
                    None => n.to_string(),
                })
                .unwrap_or_default();
            Ok(short.volume(name, std::path::PathBuf::new()))
        }
    }
}

/// The running container of `service` that `exec`/`attach` act on:
/// replica `index`, else the lowest-numbered, one-offs last (Compose's
/// choice). The inner error is Compose's message for none.
pub fn running_container(
    env: &Env,
    sel: &Selected,
    service: &str,
    index: Option<u32>,
) -> anyhow::Result<Result<ProjectContainer, String>> {
    let mut list: Vec<ProjectContainer> = exec::project_containers(&env.containers, sel.name())?
        .into_iter()
        .filter(|c| c.service == service && c.running())
        .filter(|c| index.is_none_or(|i| !c.oneoff && c.number == i))
        .collect();
    list.sort_by_key(|c| (c.oneoff, c.number));
    Ok(match list.into_iter().next() {
        Some(c) => Ok(c),
        None => Err(match index {
            Some(i) => format!("service {service:?} is not running container #{i}"),
            None => format!("service {service:?} is not running"),
        }),
    })
}

/// `exec SERVICE COMMAND…`: the command in a running container of the
/// service (`--index N`, else the lowest-numbered; one-offs last), with a
/// terminal when stdin and stdout are one (unless -T), as Compose does.
pub fn exec(
    global: &GlobalArgs,
    sel: &Selected,
    args: &super::container::ExecArgs,
) -> anyhow::Result<ExitCode> {
    let env = Env::open(global.root(), "builtin")?;
    let target = match running_container(&env, sel, &args.container, args.index)? {
        Ok(t) => t,
        Err(msg) => return Ok(super::container::fail(msg, 1)),
    };
    let on_terminal = std::io::stdin().is_terminal() && std::io::stdout().is_terminal();
    let tty = !args.detach && (args.tty || (!args.no_tty && on_terminal));
    let opts = crate::runtime::bundle::ExecOptions {
        args: args.command.clone(),
        env: args
            .env
            .iter()
            .map(|e| super::container::expand_env(e))
            .collect(),
        user: args.user.clone(),
        working_dir: args.workdir.clone(),
        tty,
        privileged: args.privileged,
        group_add: Vec::new(),
    };
    // Compose's exec keeps stdin open by default (-i is on).
    match crate::supervise::control::exec(
        &env.containers,
        &target.record.id,
        &opts,
        args.detach,
        true,
    ) {
        Ok(code) => Ok(super::container::exit(code)),
        Err(e) => {
            let code = e.exit_code();
            Ok(super::container::fail(e, code))
        }
    }
}

#[derive(Args, Debug)]
pub struct ScaleArgs {
    /// SERVICE=REPLICAS pairs
    #[arg(required = true, value_name = "SERVICE=REPLICAS")]
    pub scale: Vec<String>,
    /// Do not start the services they depend on
    #[arg(long = "no-deps")]
    pub no_deps: bool,
}

/// `scale SERVICE=N…`: Compose's `scale`, an `up -d` of those services
/// with their replica counts replaced (changed containers are recreated,
/// as Compose's scale does).
pub fn scale(global: &GlobalArgs, args: &ScaleArgs) -> anyhow::Result<ExitCode> {
    let loaded = require_loaded(global)?;
    let project = &loaded.project;
    let scale = parse_scale(&args.scale)?;
    for s in scale.keys() {
        if !project.services.contains_key(s) {
            bail!("no such service: {s}");
        }
    }
    let services: Vec<String> = scale.keys().cloned().collect();
    let env = Env::open(global.root(), "builtin")?;
    let selected = crate::plan::service_graph(project)?.select(&services, !args.no_deps)?;
    super::image::pull_for_up(global, project, &selected, PullPolicy::Missing, false)?;
    let ctx = ProjectContext {
        working_dir: loaded.working_dir.clone(),
        config_files: loaded.config_files.clone(),
    };
    let opts = UpOptions {
        services,
        no_deps: args.no_deps,
        scale,
        ..UpOptions::default()
    };
    exec::up(
        &env,
        project,
        &ctx,
        &opts,
        &Progress::new(ProgressMode::Auto),
    )?;
    Ok(ExitCode::SUCCESS)
}
