//! What several commands share: opening the stores, exit codes, the
//! containers of a project, and the time and tail flags of the log verbs.

use crate::cli::resolve::{Project, Settings};
use crate::exec::{self, Env, ProjectContainer};
use crate::image::store::ImageStore;
use crate::runtime::container::Containers;
use crate::supervise::control::ControlError;
use crate::supervise::logs;
use anyhow::{bail, Context as _};
use std::process::ExitCode;
use std::time::SystemTime;

/// The container and image stores under the data root.
pub fn open(settings: &Settings) -> anyhow::Result<(Containers, ImageStore)> {
    let root = settings.root();
    let containers = Containers::open(root)
        .with_context(|| format!("opening the container store under {}", root.display()))?;
    Ok((containers, open_store(settings)?))
}

/// The image store under the data root.
pub fn open_store(settings: &Settings) -> anyhow::Result<ImageStore> {
    let root = settings.root();
    ImageStore::open(root)
        .with_context(|| format!("opening the image store under {}", root.display()))
}

/// A variable of wharf's own environment (`-e KEY` copies it).
pub fn host_env(key: &str) -> Option<String> {
    std::env::var(key).ok()
}

/// Docker's exit code for an error of wharf itself is 125.
pub fn fail(e: impl std::fmt::Display, code: i32) -> ExitCode {
    eprintln!("wharf: {e}");
    exit(code)
}

pub fn exit(code: i32) -> ExitCode {
    ExitCode::from(u8::try_from(code.clamp(0, 255)).unwrap_or(125))
}

pub fn control_fail(e: ControlError) -> ExitCode {
    let code = e.exit_code();
    fail(e, code)
}

/// Docker's complaint when a container verb gets no container.
pub fn need_args(args: &[String], verb: &str) -> anyhow::Result<()> {
    if args.is_empty() {
        bail!("\"wharf {verb}\" requires at least 1 argument (a container, or run it in a compose project)");
    }
    Ok(())
}

/// `--since` and `--until`, each parsed by `parse` (which names the flag
/// in its error).
pub fn time_window(
    since: Option<&str>,
    until: Option<&str>,
    parse: fn(&str, &str) -> anyhow::Result<SystemTime>,
) -> anyhow::Result<(Option<SystemTime>, Option<SystemTime>)> {
    Ok((
        since.map(|v| parse("since", v)).transpose()?,
        until.map(|v| parse("until", v)).transpose()?,
    ))
}

/// `--since`/`--until`: an RFC 3339 time or a duration ago, as Docker takes them.
pub fn parse_when(flag: &str, v: &str) -> anyhow::Result<SystemTime> {
    if let Some(t) = crate::time::parse_rfc3339(v) {
        return Ok(t);
    }
    let d = crate::compose::convert::parse_duration(v)
        .map_err(|e| anyhow::anyhow!("invalid --{flag} {v:?}: {e}"))?;
    Ok(SystemTime::now() - d)
}

/// The lines of a container's log between `since` and `until`, last `tail`.
pub fn select_lines(
    lines: Vec<logs::LogLine>,
    since: Option<SystemTime>,
    until: Option<SystemTime>,
    tail: Option<usize>,
) -> Vec<logs::LogLine> {
    let kept: Vec<logs::LogLine> = lines
        .into_iter()
        .filter(|l| {
            let t = crate::time::parse_rfc3339(&l.time);
            since.is_none_or(|s| t.is_some_and(|t| t >= s))
                && until.is_none_or(|u| t.is_some_and(|t| t < u))
        })
        .collect();
    let skip = tail.map(|t| kept.len().saturating_sub(t)).unwrap_or(0);
    kept.into_iter().skip(skip).collect()
}

/// `--tail N`: `all` (or -1) is every line.
pub fn parse_tail(t: &str) -> anyhow::Result<Option<usize>> {
    match t {
        "all" | "-1" => Ok(None),
        n => Ok(Some(
            n.parse().with_context(|| format!("invalid --tail {n:?}"))?,
        )),
    }
}

/// The containers of `project`, of `services` (all when empty),
/// one-offs left out, in service then number order.
pub fn project_list(
    settings: &Settings,
    project: &Project,
    services: &[String],
) -> anyhow::Result<Vec<ProjectContainer>> {
    let env = Env::open(settings.root(), &settings.runtime)?;
    let mut list: Vec<_> = exec::project_containers(&env.containers, project.name())?
        .into_iter()
        .filter(|c| !c.oneoff && (services.is_empty() || services.contains(&c.service)))
        .collect();
    list.sort_by(|a, b| (&a.service, a.number).cmp(&(&b.service, b.number)));
    Ok(list)
}

/// The executor's layers.
pub fn env(settings: &Settings) -> anyhow::Result<Env> {
    Ok(Env::open(settings.root(), &settings.runtime)?
        .with_parallel(settings.parallel)
        .with_dry_run(settings.dry_run))
}

/// The executor's layers for a project, with its lifecycle hooks when the
/// compose file is at hand.
pub fn env_for(settings: &Settings, project: &Project) -> anyhow::Result<Env> {
    let env = env(settings)?;
    Ok(match project {
        Project::Loaded(l) => env.with_hooks(&l.project),
        Project::Named(_) => env,
    })
}

/// The project's containers of `services` (all of them when none is named).
pub fn containers_of(
    env: &Env,
    project: &Project,
    services: &[String],
) -> anyhow::Result<Vec<ProjectContainer>> {
    Ok(exec::project_containers(&env.containers, project.name())?
        .into_iter()
        .filter(|c| services.is_empty() || services.contains(&c.service))
        .collect())
}

/// Whether `c` belongs to a service the compose file no longer has (a
/// project known only by name has no file to tell: never).
pub fn is_orphan(project: &Project, c: &ProjectContainer) -> bool {
    match project {
        Project::Loaded(l) => !l.project.services.contains_key(&c.service),
        Project::Named(_) => false,
    }
}

/// The running container of `service` that `exec`/`attach` act on:
/// replica `index`, else the lowest-numbered, one-offs last (Compose's
/// choice). The inner error is Compose's message for none.
pub fn running_container(
    env: &Env,
    project: &Project,
    service: &str,
    index: Option<u32>,
) -> anyhow::Result<Result<ProjectContainer, String>> {
    let mut list: Vec<ProjectContainer> =
        exec::project_containers(&env.containers, project.name())?
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

/// Blocks SIGINT and SIGTERM in this thread (and so in every thread it
/// starts) and turns them into a count a watcher thread keeps, so Ctrl-C
/// can mean "stop gracefully" once and "kill" twice.
pub fn catch_interrupts() -> anyhow::Result<std::sync::Arc<std::sync::atomic::AtomicUsize>> {
    catch_interrupts_then(None)
}

/// [`catch_interrupts`], calling `on_signal` after each signal (a watch
/// loop waiting for file events is woken so).
pub fn catch_interrupts_then(
    on_signal: Option<Box<dyn Fn() + Send>>,
) -> anyhow::Result<std::sync::Arc<std::sync::atomic::AtomicUsize>> {
    use nix::sys::signal::{SigSet, Signal};
    let mut mask = SigSet::empty();
    mask.add(Signal::SIGINT);
    mask.add(Signal::SIGTERM);
    mask.thread_block().context("blocking SIGINT")?;
    let count = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let c = count.clone();
    std::thread::spawn(move || loop {
        if mask.wait().is_ok() {
            c.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            if let Some(f) = &on_signal {
                f();
            }
        }
    });
    Ok(count)
}

/// The `bridge` network, made on first use.
pub fn default_bridge(root: &std::path::Path) -> anyhow::Result<String> {
    use crate::net::store::DEFAULT_BRIDGE;
    let store = crate::net::store::Networks::open(root)?;
    if let Ok(n) = store.find(DEFAULT_BRIDGE) {
        return Ok(n.name);
    }
    let opts = crate::net::store::NetworkOptions {
        name: DEFAULT_BRIDGE.into(),
        ..Default::default()
    };
    if let Err(e) = crate::net::attach::create_network(root, &opts) {
        // Another wharf may have made it meanwhile.
        if store.find(DEFAULT_BRIDGE).is_err() {
            return Err(e).context("creating the default bridge network");
        }
    }
    Ok(DEFAULT_BRIDGE.into())
}
