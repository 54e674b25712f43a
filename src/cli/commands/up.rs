//! `up`, `create SERVICE…` (Compose's `up --no-start`), `scale` and `watch`: bring
//! the project to its desired state; in the foreground, follow its output
//! until it exits or Ctrl-C stops it.

use super::common;
use super::watch::WatchChannel;
use crate::cli::args::compose::WatchArgs;
use crate::cli::args::compose::{ProgressMode, PullPolicy, ScaleArgs, UpArgs};
use crate::cli::args::container::ComposeCreateArgs;
use crate::cli::progress::Progress;
use crate::cli::render::Printer;
use crate::cli::resolve::Settings;
use crate::compose::load::Loaded;
use crate::exec::watch::debounce::Input;
use crate::exec::{self, Env, Kind, ProjectContainer, UpOptions};
use crate::plan::container::ProjectContext;
use crate::runtime::container::Status;
use crate::supervise::logs::Follower;
use anyhow::{bail, Context as _};
use std::collections::BTreeMap;
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

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

/// `create [SERVICE…]`: Compose's `up --no-start` (with its `--build`,
/// `--no-build` and the flags of [`ComposeCreateArgs`]).
pub fn create(
    settings: &Settings,
    loaded: &Loaded,
    services: &[String],
    build: bool,
    no_build: bool,
    pull: Option<&str>,
    compose: &ComposeCreateArgs,
) -> anyhow::Result<ExitCode> {
    #[derive(clap::Parser)]
    struct Up {
        #[command(flatten)]
        args: UpArgs,
    }
    let mut argv: Vec<String> = vec!["up".into(), "--no-start".into()];
    let flags = [
        (build, "--build"),
        (no_build && !build, "--no-build"),
        (compose.force_recreate, "--force-recreate"),
        (compose.no_recreate, "--no-recreate"),
        (compose.quiet_pull, "--quiet-pull"),
        (compose.remove_orphans, "--remove-orphans"),
    ];
    argv.extend(
        flags
            .iter()
            .filter(|(on, _)| *on)
            .map(|(_, f)| f.to_string()),
    );
    if let Some(p) = pull {
        // Compose's create also takes `build`: build the images, pull none.
        if p == "build" {
            argv.extend(["--build".into(), "--pull=never".into()]);
        } else {
            argv.push(format!("--pull={p}"));
        }
    }
    for s in &compose.scale {
        argv.extend(["--scale".into(), s.clone()]);
    }
    argv.extend(services.iter().cloned());
    let up = <Up as clap::Parser>::try_parse_from(argv)?;
    self::up(settings, loaded, &up.args)
}

/// Flags `up` refuses before doing anything, with Compose's messages.
fn check_up_flags(args: &UpArgs) -> anyhow::Result<()> {
    if args.menu == Some(true) {
        bail!("--menu: wharf has no interactive shortcuts (leave it off, or --menu=false)");
    }
    let cascade_stop = args.abort_on_container_exit
        || (args.exit_code_from.is_some() && !args.abort_on_container_failure);
    if cascade_stop && args.abort_on_container_failure {
        bail!("--abort-on-container-failure cannot be combined with --abort-on-container-exit");
    }
    let attaching = args.attach_dependencies || !args.attach.is_empty();
    if args.wait && (attaching || cascade_stop) {
        bail!("--wait cannot be combined with --abort-on-container-exit, --attach or --attach-dependencies");
    }
    if (args.detach || args.wait) && (attaching || cascade_stop || args.abort_on_container_failure)
    {
        if args.wait {
            bail!("--wait cannot be combined with --abort-on-container-exit, --abort-on-container-failure, --attach, --attach-dependencies or --watch");
        }
        bail!("--detach cannot be combined with --abort-on-container-exit, --abort-on-container-failure, --attach, --attach-dependencies or --watch");
    }
    Ok(())
}

/// The services whose output a foreground `up` shows, as Compose picks
/// them: `--attach`'s (each must be in the project), else the services
/// named (all when none; with `--attach-dependencies` their dependencies
/// too) that do not say `attach: false`; minus `--no-attach`'s.
fn attached_services(
    project: &crate::compose::types::Project,
    args: &UpArgs,
) -> anyhow::Result<Vec<String>> {
    let mut set: Vec<String> = if !args.attach.is_empty() {
        let unknown: Vec<&str> = args
            .attach
            .iter()
            .filter(|s| !project.services.contains_key(*s))
            .map(String::as_str)
            .collect();
        if !unknown.is_empty() {
            bail!(
                "cannot attach to services not included in up: {}",
                unknown.join(", ")
            );
        }
        args.attach.clone()
    } else {
        let graph = crate::plan::service_graph(project)?;
        let chosen = if args.services.is_empty() {
            project.services.keys().cloned().collect()
        } else if args.attach_dependencies {
            graph.select(&args.services, true)?
        } else {
            args.services.clone()
        };
        chosen
            .into_iter()
            .filter(|s| {
                project
                    .services
                    .get(s)
                    .is_none_or(|c| c.attach != Some(false))
            })
            .collect()
    };
    set.retain(|s| !args.no_attach.contains(s));
    Ok(set)
}

pub fn up(settings: &Settings, loaded: &Loaded, args: &UpArgs) -> anyhow::Result<ExitCode> {
    check_up_flags(args)?;
    if settings.dry_run && args.watch {
        bail!("--dry-run cannot be combined with --watch");
    }
    if !args.watch {
        let interrupts = common::catch_interrupts()?;
        return up_with(settings, loaded, args, &interrupts, false);
    }
    if args.wait {
        bail!("--wait cannot be combined with --abort-on-container-exit, --abort-on-container-failure, --attach, --attach-dependencies or --watch");
    }
    if args.detach {
        bail!("--detach cannot be combined with --abort-on-container-exit, --abort-on-container-failure, --attach, --attach-dependencies or --watch");
    }
    // A rebuild rule could not do its work (Compose's check, for all rules).
    if args.no_build {
        bail!("--no-build and --watch are incompatible");
    }
    crate::compose::develop::check_watch(&loaded.model, &loaded.project, &args.services)?;
    let (tx, rx) = std::sync::mpsc::channel();
    let stop = tx.clone();
    let interrupts = common::catch_interrupts_then(Some(Box::new(move || {
        let _ = stop.send(Input::Stop);
    })))?;
    let watch = WatchChannel { tx, rx };
    up_watching(settings, loaded, args, &interrupts, Some(watch), false)
}

/// `up` with the interrupt count of the caller's `common::catch_interrupts`;
/// `keep_dependencies` for `watch`'s (see [`UpOptions::keep_dependencies`]).
fn up_with(
    settings: &Settings,
    loaded: &Loaded,
    args: &UpArgs,
    interrupts: &Arc<AtomicUsize>,
    keep_dependencies: bool,
) -> anyhow::Result<ExitCode> {
    up_watching(settings, loaded, args, interrupts, None, keep_dependencies)
}

fn up_watching(
    settings: &Settings,
    loaded: &Loaded,
    args: &UpArgs,
    interrupts: &Arc<AtomicUsize>,
    watch: Option<WatchChannel>,
    keep_dependencies: bool,
) -> anyhow::Result<ExitCode> {
    let project = &loaded.project;
    for s in &args.services {
        if !project.services.contains_key(s) {
            bail!("no such service: {s}");
        }
    }
    let env = common::env(settings)?.with_hooks(project);
    let selected = crate::plan::service_graph(project)?.select(&args.services, !args.no_deps)?;
    // Built first: a service may run the image another one builds.
    super::compose_build::prepare_services(
        settings,
        loaded,
        &selected,
        super::compose_build::up_build(args.build, args.no_build),
        args.quiet_build,
        &|| interrupts.load(Ordering::SeqCst) > 0,
    )?;
    super::image::pull_for_up(
        settings,
        project,
        &selected,
        pull_policy(args.pull),
        args.quiet_pull,
    )?;

    let ctx = ProjectContext::of(loaded);
    let opts = UpOptions {
        services: args.services.clone(),
        no_deps: args.no_deps,
        force_recreate: args.force_recreate,
        no_recreate: args.no_recreate,
        always_recreate_deps: args.always_recreate_deps,
        keep_dependencies,
        renew_anon_volumes: args.renew_anon_volumes,
        no_start: args.no_start,
        remove_orphans: args.remove_orphans,
        scale: parse_scale(&args.scale)?,
        timeout: args.timeout.map(Duration::from_secs),
        all_resources: settings.all_resources,
        // The cancel flag is the interrupt worker's (exec::interrupt).
        ..UpOptions::default()
    };
    let progress = Progress::of(settings);
    let result =
        exec::interrupt::up_until_interrupted(&env, project, &ctx, &opts, &progress, interrupts);
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
            interrupts,
            &progress,
        );
    }
    // A dry run started nothing to wait for or to follow.
    if args.detach || args.no_start || settings.dry_run {
        return Ok(ExitCode::SUCCESS);
    }
    let attach_to = attached_services(project, args)?;
    let follow = || {
        attach(
            settings,
            &env,
            project.name.as_str(),
            started,
            &attach_to,
            args,
            interrupts,
        )
    };
    let Some(watch) = watch else {
        return follow();
    };
    // The watch runs beside the attached logs, its messages interleaved
    // with them; it ends when the stack is stopped (Ctrl-C), and a watch
    // that fails stops the stack, as Compose's `up --watch` does.
    let stop = watch.tx.clone();
    std::thread::scope(|scope| {
        let WatchChannel { tx, rx } = watch;
        let services = &args.services;
        let watcher = scope.spawn(move || {
            let opts = super::watch::WatchOptions {
                quiet: false,
                prune: true,
            };
            let r = super::watch::run_watch(settings, loaded, services, opts, tx, &rx);
            if let Err(e) = &r {
                eprintln!("{e:#}");
                interrupts.fetch_add(1, Ordering::SeqCst);
            }
        });
        let code = follow();
        let _ = stop.send(Input::Stop);
        let _ = watcher.join();
        code
    })
}

/// `watch [SERVICE…]`: Compose's `watch` — `up -d` the services (unless
/// `--no-up`), building those it develops, then the watch loop until
/// Ctrl-C, which leaves the stack as `up` left it.
pub fn watch(settings: &Settings, loaded: &Loaded, args: &WatchArgs) -> anyhow::Result<ExitCode> {
    let project = &loaded.project;
    for s in &args.services {
        if !project.services.contains_key(s) {
            bail!("no such service: {s}");
        }
    }
    crate::compose::develop::check_watch(&loaded.model, project, &args.services)?;
    let (tx, rx) = std::sync::mpsc::channel();
    let stop = tx.clone();
    let interrupts = common::catch_interrupts_then(Some(Box::new(move || {
        let _ = stop.send(Input::Stop);
    })))?;
    if !args.no_up {
        #[derive(clap::Parser)]
        struct Up {
            #[command(flatten)]
            args: UpArgs,
        }
        let quiet = args.quiet.then_some("--quiet-pull");
        let argv = ["up", "--detach"]
            .into_iter()
            .chain(quiet)
            .map(String::from)
            .chain(args.services.iter().cloned());
        let up = <Up as clap::Parser>::try_parse_from(argv)?;
        // As Compose's watch: developed services are built anew, and the
        // containers of dependencies are kept as they are.
        let mut building = loaded.clone();
        crate::compose::develop::build_watched_services(&mut building.project);
        let code = up_with(settings, &building, &up.args, &interrupts, true)?;
        if code != ExitCode::SUCCESS {
            return Ok(code);
        }
    }
    let channel = WatchChannel { tx, rx };
    let opts = super::watch::WatchOptions {
        quiet: args.quiet,
        prune: args.prune,
    };
    super::watch::run_watch(
        settings,
        loaded,
        &args.services,
        opts,
        channel.tx,
        &channel.rx,
    )?;
    Ok(ExitCode::SUCCESS)
}

/// `up --wait`: every container running (healthy, when it has a check)
/// or, for one-shots, exited 0. Anything else fails with its name.
fn wait_ready(
    env: &Env,
    started: &[ProjectContainer],
    timeout: Option<Duration>,
    interrupts: &AtomicUsize,
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

/// Foreground `up`: every attached container's output with a colored
/// prefix until all have exited; Ctrl-C stops the project (twice: kills).
fn attach(
    settings: &Settings,
    env: &Env,
    project: &str,
    started: Vec<ProjectContainer>,
    attach_to: &[String],
    args: &UpArgs,
    interrupts: &AtomicUsize,
) -> anyhow::Result<ExitCode> {
    let abort = args.abort_on_container_exit || args.exit_code_from.is_some();
    let attached: Vec<ProjectContainer> = started
        .into_iter()
        .filter(|c| attach_to.contains(&c.service))
        .collect();
    let printer = Printer::new(
        &attached,
        project,
        settings.colors(args.no_color),
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
                    let failed = args.abort_on_container_failure && code != 0;
                    if (abort || failed) && aborted_by.is_none() && stopping == 0 {
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
            stopper = Some(exec::interrupt::stop_in_background(
                env,
                project,
                timeout,
                Box::new(Progress::new(ProgressMode::Plain)),
            ));
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

/// `scale SERVICE=N…`: Compose's `scale`, an `up -d` of those services
/// with their replica counts replaced (changed containers are recreated,
/// as Compose's scale does).
pub fn scale(settings: &Settings, loaded: &Loaded, args: &ScaleArgs) -> anyhow::Result<ExitCode> {
    let project = &loaded.project;
    let scale = parse_scale(&args.scale)?;
    for s in scale.keys() {
        if !project.services.contains_key(s) {
            bail!("no such service: {s}");
        }
    }
    let services: Vec<String> = scale.keys().cloned().collect();
    let env = common::env(settings)?;
    let selected = crate::plan::service_graph(project)?.select(&services, !args.no_deps)?;
    super::image::pull_for_up(
        settings,
        project,
        &selected,
        crate::plan::pull::PullPolicy::Missing,
        false,
    )?;
    let ctx = ProjectContext::of(loaded);
    let opts = UpOptions {
        services,
        no_deps: args.no_deps,
        scale,
        ..UpOptions::default()
    };
    exec::up(&env, project, &ctx, &opts, &Progress::of(settings))?;
    Ok(ExitCode::SUCCESS)
}

/// `--pull` as the pull decision takes it.
fn pull_policy(p: PullPolicy) -> crate::plan::pull::PullPolicy {
    match p {
        PullPolicy::Always => crate::plan::pull::PullPolicy::Always,
        PullPolicy::Missing => crate::plan::pull::PullPolicy::Missing,
        PullPolicy::Never => crate::plan::pull::PullPolicy::Never,
    }
}
