//! The lifecycle verbs on containers, or on services of the compose
//! project: `start`, `stop`, `restart`, `kill`, `rm`, `pause`/`unpause`, `wait`.

use super::common::{self, exit, fail, need_args, open};
use crate::cli::args::container::{
    KillArgs, RenameArgs, RestartArgs, RmArgs, StartArgs, StopArgs, UpdateArgs, WaitArgs,
};
use crate::cli::progress::{progress_event, Progress};
use crate::cli::resolve::{Project, Settings, Target};
use crate::exec;
use crate::image::store::ImageStore;
use crate::runtime::container::{ContainerRecord, Containers, Status};
use crate::supervise::control::{self, ControlError};
use crate::supervise::monitor;
use anyhow::{bail, Context as _};
use std::process::ExitCode;
use std::time::Duration;

/// Docker's container verbs have no dry run: refused, not run for real.
fn refuse_dry_run(settings: &Settings) -> anyhow::Result<()> {
    if settings.dry_run {
        bail!("--dry-run: only for the services of a compose project (these are containers)");
    }
    Ok(())
}

pub fn start(settings: &Settings, target: &Target, args: &StartArgs) -> anyhow::Result<ExitCode> {
    if let Some((project, services)) = target.project() {
        if args.interactive {
            bail!("start -i attaches to a container, not to a compose project's services");
        }
        let env = common::env_for(settings, project)?;
        let progress = Progress::of(settings);
        exec::start(&env, project.name(), services, &progress)?;
        return Ok(ExitCode::SUCCESS);
    }
    let names = target.containers();
    need_args(names, "start")?;
    refuse_dry_run(settings)?;
    let keys = match super::attach::parse_keys(args.detach_keys.as_deref()) {
        Ok(k) => k,
        Err(e) => return Ok(fail(e, 1)),
    };
    let (containers, store) = open(settings)?;
    let mut code = ExitCode::SUCCESS;
    for q in names {
        let record = match containers.find(q) {
            Ok(r) => r,
            Err(e) => {
                eprintln!("Error response from daemon: {e}");
                code = ExitCode::from(1);
                continue;
            }
        };
        if args.interactive && record.spec.tty && record.spec.stdin_open {
            return Ok(
                match super::attach::foreground(&containers, &record, keys) {
                    Ok(ended) => super::run::ended_run(ended),
                    Err(e) => fail(&e, e.exit_code()),
                },
            );
        }
        if args.attach || args.interactive {
            let attach = monitor::Attach::output(args.interactive);
            return match monitor::run(&containers, &store, &record.id, attach, None) {
                Ok(c) => Ok(exit(c)),
                Err(e) => Ok(fail(&e, e.exit_code())),
            };
        }
        match control::start_detached(&containers, &record.id) {
            Ok(()) => println!("{q}"),
            Err(e) => {
                eprintln!("Error response from daemon: {e}");
                code = ExitCode::from(1);
            }
        }
    }
    Ok(code)
}

/// Runs `f` on each named container, Docker's way: the name on success,
/// the daemon's error otherwise, and exit code 1 if any failed.
fn each(
    settings: &Settings,
    names: &[String],
    mut f: impl FnMut(&Containers, &ImageStore, &ContainerRecord) -> Result<(), ControlError>,
) -> anyhow::Result<ExitCode> {
    refuse_dry_run(settings)?;
    let (containers, store) = open(settings)?;
    let mut code = ExitCode::SUCCESS;
    for q in names {
        let result = containers
            .find(q)
            .map_err(ControlError::from)
            .and_then(|r| f(&containers, &store, &r));
        match result {
            Ok(()) => println!("{q}"),
            Err(e) => {
                eprintln!("Error response from daemon: {e}");
                code = ExitCode::from(1);
            }
        }
    }
    Ok(code)
}

pub fn stop(settings: &Settings, target: &Target, args: &StopArgs) -> anyhow::Result<ExitCode> {
    let signal = args
        .signal
        .as_deref()
        .map(control::parse_signal)
        .transpose()?;
    if let Some((project, services)) = target.project() {
        if signal.is_some() {
            bail!("stop -s/--signal: Compose stops services with their stop_signal; name containers to choose one");
        }
        let env = common::env_for(settings, project)?;
        let progress = Progress::of(settings);
        exec::stop(
            &env,
            project.name(),
            services,
            args.time.map(Duration::from_secs),
            &progress,
        )?;
        return Ok(ExitCode::SUCCESS);
    }
    need_args(target.containers(), "stop")?;
    each(settings, target.containers(), |c, _, r| {
        let secs = args.time.or(r.spec.stop_timeout).unwrap_or(10);
        control::stop_with(c, &r.id, Duration::from_secs(secs), signal)
    })
}

pub fn kill(settings: &Settings, target: &Target, args: &KillArgs) -> anyhow::Result<ExitCode> {
    if let Some((project, services)) = target.project() {
        return kill_services(settings, project, services, args);
    }
    if args.remove_orphans {
        bail!("kill --remove-orphans: only for the services of a compose project");
    }
    need_args(target.containers(), "kill")?;
    let signal = control::parse_signal(&args.signal)?;
    each(settings, target.containers(), |c, _, r| {
        control::kill_and_wait(c, &r.id, signal)
    })
}

/// `kill [SERVICE…]`: the signal to every running container of the
/// project's services; with `--remove-orphans`, to those of services the
/// compose file no longer has too (Compose's flag keeps them in the kill;
/// it removes nothing).
fn kill_services(
    settings: &Settings,
    project: &Project,
    services: &[String],
    args: &KillArgs,
) -> anyhow::Result<ExitCode> {
    let env = common::env_for(settings, project)?;
    let sig = control::parse_signal(&args.signal)?;
    let progress = Progress::of(settings);
    for c in common::containers_of(&env, project, services)? {
        if !args.remove_orphans && common::is_orphan(project, &c) {
            continue;
        }
        if !matches!(c.state.status, Status::Running | Status::Paused) {
            continue;
        }
        progress_event(&progress, &c.record.name, "Killing", false);
        if !settings.dry_run {
            control::kill_and_wait(&env.containers, &c.record.id, sig)?;
        }
        progress_event(&progress, &c.record.name, "Killed", true);
    }
    Ok(ExitCode::SUCCESS)
}

pub fn restart(
    settings: &Settings,
    target: &Target,
    restart_args: &RestartArgs,
) -> anyhow::Result<ExitCode> {
    let args = &restart_args.stop;
    let signal = args
        .signal
        .as_deref()
        .map(control::parse_signal)
        .transpose()?;
    if let Some((project, services)) = target.project() {
        if signal.is_some() {
            bail!("restart -s/--signal: Compose stops services with their stop_signal; name containers to choose one");
        }
        let env = common::env_for(settings, project)?;
        let progress = Progress::of(settings);
        exec::restart(
            &env,
            project.name(),
            services,
            !restart_args.no_deps,
            args.time.map(Duration::from_secs),
            &progress,
        )?;
        // Docker's engine records a restart after the start.
        for c in common::containers_of(&env, project, services)?
            .iter()
            .filter(|c| !c.oneoff)
        {
            crate::runtime::events::emit(env.containers.root(), &c.record, "restart", &[]);
        }
        return Ok(ExitCode::SUCCESS);
    }
    if restart_args.no_deps {
        bail!("restart --no-deps: only for the services of a compose project");
    }
    need_args(target.containers(), "restart")?;
    each(settings, target.containers(), |c, _, r| {
        let secs = args.time.or(r.spec.stop_timeout).unwrap_or(10);
        control::stop_with(c, &r.id, Duration::from_secs(secs), signal)?;
        control::start_detached(c, &r.id)?;
        crate::runtime::events::emit(c.root(), r, "restart", &[]);
        Ok(())
    })
}

pub fn rm(settings: &Settings, target: &Target, args: &RmArgs) -> anyhow::Result<ExitCode> {
    if let Some((project, services)) = target.project() {
        return rm_services(settings, project, services, args);
    }
    need_args(target.containers(), "rm")?;
    each(settings, target.containers(), |c, s, r| {
        if args.volumes {
            control::remove_with_volumes(c, s, &r.id, args.force)
        } else {
            control::remove(c, s, &r.id, args.force)
        }
    })
}

/// `rm [SERVICE…]`: stopped containers of the project (`-f` also running
/// ones, `-s` stops them first, `-v` their anonymous volumes).
fn rm_services(
    settings: &Settings,
    project: &Project,
    services: &[String],
    args: &RmArgs,
) -> anyhow::Result<ExitCode> {
    let env = common::env_for(settings, project)?;
    let progress = Progress::of(settings);
    // A dry run stops nothing, so each container's removal says it
    // would stop it first.
    if args.stop && !settings.dry_run {
        exec::stop(&env, project.name(), services, None, &progress)?;
    }
    for c in common::containers_of(&env, project, services)? {
        if c.running() && !args.force && !args.stop {
            continue;
        }
        exec::remove_container(&env, &c, args.volumes, None, &progress)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// `pause`/`unpause`: the cgroup freezer, through the container's runtime.
pub fn pause(settings: &Settings, target: &Target, freeze: bool) -> anyhow::Result<ExitCode> {
    if let Some((project, services)) = target.project() {
        let env = common::env_for(settings, project)?;
        let progress = Progress::of(settings);
        exec::pause(&env, project.name(), services, freeze, &progress)?;
        return Ok(ExitCode::SUCCESS);
    }
    need_args(
        target.containers(),
        if freeze { "pause" } else { "unpause" },
    )?;
    each(settings, target.containers(), |c, _, r| {
        if freeze {
            control::pause(c, &r.id)
        } else {
            control::unpause(c, &r.id)
        }
    })
}

pub fn wait(settings: &Settings, target: &Target, args: &WaitArgs) -> anyhow::Result<ExitCode> {
    if let Some((project, services)) = target.project() {
        return wait_services(settings, project, services, args.down_project);
    }
    if args.down_project {
        bail!("wait --down-project: only for the services of a compose project");
    }
    let (containers, _) = open(settings)?;
    let mut code = ExitCode::SUCCESS;
    for q in target.containers() {
        match containers
            .find(q)
            .map_err(ControlError::from)
            .and_then(|r| control::wait(&containers, &r.id))
        {
            Ok(c) => println!("{c}"),
            Err(e) => {
                eprintln!("Error response from daemon: {e}");
                code = ExitCode::from(1);
            }
        }
    }
    Ok(code)
}

/// `docker compose wait SERVICE…`: every container of the services, each
/// reported as it exits; the exit status is the last one's code. With
/// `--down-project`, the first exit takes the whole project down (as
/// `down` with no flags) and ends the wait with that container's code.
fn wait_services(
    settings: &Settings,
    project: &Project,
    services: &[String],
    down_project: bool,
) -> anyhow::Result<ExitCode> {
    let list = common::project_list(settings, project, services)?;
    if list.is_empty() {
        bail!("no containers for project {:?}", project.name());
    }
    let (containers, _) = open(settings)?;
    let (tx, rx) = std::sync::mpsc::channel();
    for c in list {
        let tx = tx.clone();
        let containers = containers.clone();
        std::thread::spawn(move || {
            let r = control::wait(&containers, &c.record.id);
            let _ = tx.send((c.record.id, r));
        });
    }
    drop(tx);
    let mut last = 0;
    for (id, r) in rx {
        match r {
            Ok(code) => {
                println!("container {id:?} exited with status code {code}");
                last = code;
                if down_project {
                    super::project::down_project(settings, project)?;
                    break;
                }
            }
            Err(e) => {
                eprintln!("{e}");
                return Ok(ExitCode::from(42));
            }
        }
    }
    Ok(ExitCode::from(last.clamp(0, 255) as u8))
}

/// `docker rename`: the container answers to its new name, in wharf's
/// commands and in the embedded DNS of its networks.
pub fn rename(settings: &Settings, args: &RenameArgs) -> anyhow::Result<ExitCode> {
    let (containers, _) = open(settings)?;
    let record = containers.find(&args.container)?;
    let new_name = args.new_name.trim_start_matches('/');
    if record.name == new_name {
        bail!("Error response from daemon: Renaming a container with the same name as its current name");
    }
    let _lock = containers.lock(&record.id)?;
    containers.rename(&record.id, new_name)?;
    let networks =
        crate::net::store::Networks::open(settings.root()).context("opening the network store")?;
    let locked = networks.lock()?;
    for net in networks.list()? {
        for mut ep in networks.endpoints(&net.id)? {
            if ep.container_id != record.id {
                continue;
            }
            ep.container_name = new_name.to_string();
            for n in ep.names.iter_mut().filter(|n| **n == record.name) {
                *n = new_name.to_string();
            }
            locked.write_endpoint(&ep)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `docker update`: the new limits go into the container's record (kept
/// across restarts) and, while it runs, into its cgroup at once; a new
/// restart policy applies at its next exit. Prints each container as named.
pub fn update(settings: &Settings, args: &UpdateArgs) -> anyhow::Result<ExitCode> {
    use crate::runtime::cgroups;
    use crate::runtime::spec::Resources;
    let bytes = |flag: &str, v: &Option<String>| -> anyhow::Result<Option<i64>> {
        v.as_deref()
            .map(|s| match (flag, s) {
                ("--memory-swap", "-1") => Ok(-1),
                _ => crate::compose::convert::parse_bytes(s)
                    .map_err(|e| anyhow::anyhow!("invalid {flag} {s:?}: {e}")),
            })
            .transpose()
    };
    if args
        .blkio_weight
        .is_some_and(|w| w != 0 && !(10..=1000).contains(&w))
    {
        bail!("invalid --blkio-weight: range of blkio weight is from 10 to 1000");
    }
    if args.cpus.is_some() && (args.cpu_period.is_some() || args.cpu_quota.is_some()) {
        bail!(
            "Conflicting options: --cpus and the CFS --cpu-period/--cpu-quota cannot both be set"
        );
    }
    // Docker's engine discards a weight the host cannot apply, and says so.
    let weight = args.blkio_weight.filter(|w| *w != 0);
    let weight = match weight {
        Some(_) if !crate::runtime::bundle::blkio_weights().0 => {
            tracing::warn!("{}", crate::runtime::bundle::BLKIO_WEIGHT_DISCARDED);
            None
        }
        w => w,
    };
    let changes = Resources {
        memory: bytes("--memory", &args.memory)?,
        memory_swap: bytes("--memory-swap", &args.memory_swap)?,
        memory_reservation: bytes("--memory-reservation", &args.memory_reservation)?,
        nano_cpus: args.cpus.map(|c| (c * 1e9).round() as i64),
        cpu_shares: args.cpu_shares,
        cpu_quota: args.cpu_quota,
        cpu_period: args.cpu_period,
        cpuset_cpus: args.cpuset_cpus.clone(),
        cpuset_mems: args.cpuset_mems.clone(),
        pids_limit: args.pids_limit,
        blkio_weight: weight,
        ..Resources::default()
    };
    let restart = args
        .restart
        .as_deref()
        .map(crate::plan::docker_run::parse_restart)
        .transpose()?;
    let nothing = changes == Resources::default() && restart.is_none();
    if nothing {
        bail!("you must provide one or more flags when using this command");
    }
    let (containers, _) = open(settings)?;
    let mut code = ExitCode::SUCCESS;
    for q in &args.containers {
        let result = (|| -> anyhow::Result<()> {
            let record = containers.find(q)?;
            let _lock = containers.lock(&record.id)?;
            let state = containers.state(&record.id)?;
            let old = &record.spec.resources;
            // A new memory limit above the old memory+swap limit needs a new swap limit, as Docker says.
            if let (Some(m), None, Some(sw)) =
                (changes.memory, changes.memory_swap, old.memory_swap)
            {
                if sw > 0 && m > sw {
                    bail!("Memory limit should be smaller than already set memoryswap limit, update the memoryswap at the same time");
                }
            }
            if matches!(state.status, Status::Running | Status::Paused) {
                let root = std::path::Path::new(cgroups::DEFAULT_ROOT);
                let mode = cgroups::detect(root)?;
                // v2's swap file needs the memory it is added to.
                let mut live = changes.clone();
                if live.memory_swap.is_some() && live.memory.is_none() {
                    live.memory = old.memory;
                }
                crate::runtime::cgroup_update::update(
                    root,
                    mode,
                    &record.id,
                    &record.spec.cgroups_path(&record.id),
                    &live,
                )?;
            }
            containers.update_record(&record.id, |r| {
                let res = &mut r.spec.resources;
                let c = changes.clone();
                res.memory = c.memory.or(res.memory);
                res.memory_swap = c.memory_swap.or(res.memory_swap);
                res.memory_reservation = c.memory_reservation.or(res.memory_reservation);
                if c.nano_cpus.is_some() {
                    res.nano_cpus = c.nano_cpus;
                    res.cpu_quota = None;
                    res.cpu_period = None;
                }
                res.cpu_shares = c.cpu_shares.or(res.cpu_shares);
                res.cpu_quota = c.cpu_quota.or(res.cpu_quota);
                res.cpu_period = c.cpu_period.or(res.cpu_period);
                res.cpuset_cpus = c.cpuset_cpus.or(res.cpuset_cpus.take());
                res.cpuset_mems = c.cpuset_mems.or(res.cpuset_mems.take());
                res.pids_limit = c.pids_limit.or(res.pids_limit);
                res.blkio_weight = c.blkio_weight.or(res.blkio_weight);
                if let Some(p) = restart.clone() {
                    r.spec.restart = p;
                }
            })?;
            Ok(())
        })();
        match result {
            Ok(()) => println!("{q}"),
            Err(e) => {
                eprintln!("Error response from daemon: {e:#}");
                code = ExitCode::from(1);
            }
        }
    }
    Ok(code)
}
