//! `run` and `create`: a container from an image with Docker's flags, or
//! (in a compose project) a one-off container of a service.

use super::common::{exit, fail, host_env, open};
use crate::cli::args::container::{CreateArgs, CreateCommandArgs, RunArgs};
use crate::cli::progress::Progress;
use crate::cli::resolve::{Project, Settings, Target};
use crate::compose::load::Loaded;
use crate::exec::{self, Env};
use crate::image::platform::Platform;
use crate::image::store::ImageStore;
use crate::plan::container::ProjectContext;
use crate::plan::docker_run::{self, LookupError, RunLookup, RunOptions, ShortVolume, VolumeFound};
use crate::runtime::container::{ContainerRecord, Containers};
use crate::runtime::spec::MountSpec;
use crate::supervise::{control, monitor};
use anyhow::{bail, Context as _};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

pub fn run(settings: &Settings, target: &Target, args: &RunArgs) -> anyhow::Result<ExitCode> {
    if args.create.image.is_empty() {
        return Ok(fail("\"wharf run\" requires at least 1 argument", 1));
    }
    // `run SERVICE` in a compose project is Compose's one-off run.
    if let Some((Project::Loaded(l), _)) = target.project() {
        return run_service(settings, l, args);
    }
    if args.service_ports
        || args.no_deps
        || args.use_aliases
        || args.create.build
        || args.create.no_build
    {
        return Ok(fail(
            format!(
                "--service-ports, --no-deps, --use-aliases, --build and --no-build need a service of a compose project ({:?} is none)",
                args.create.image
            ),
            125,
        ));
    }
    // Refused before anything is made (Docker's engine refuses them at
    // attach, after the create).
    let keys = match super::attach::parse_keys(args.detach_keys.as_deref()) {
        Ok(k) => k,
        Err(e) => return Ok(fail(e, 125)),
    };
    let streams = match attached_streams(&args.create) {
        Ok(s) => s,
        Err(e) => return Ok(fail(e, 125)),
    };
    if args.detach && streams.is_some() {
        return Ok(fail("Conflicting options: -a and -d", 125));
    }
    let rm = args.create.rm;
    let (containers, store) = open(settings)?;
    let record = match create_container(settings, &store, &args.create) {
        Ok(r) => r,
        Err(e) => return Ok(fail(format!("{e:#}"), 125)),
    };
    if args.detach {
        if let Err(e) = control::start_detached(&containers, &record.id) {
            let code = e.exit_code();
            cleanup_failed(&containers, &store, &record, rm);
            return Ok(fail(e, code));
        }
        println!("{}", record.id);
        return Ok(ExitCode::SUCCESS);
    }
    // A terminal with stdin: detachable with the keys. --sig-proxy=false:
    // Docker's CLI leaves signals alone, so a Ctrl-C ends `run` and the
    // container runs on. Both run under a detached monitor `run` follows.
    let terminal = record.spec.tty && record.spec.stdin_open;
    let unproxied = !args.sig_proxy && !args.create.interactive && streams.is_none();
    if terminal || unproxied {
        return Ok(
            match super::attach::foreground(&containers, &record, keys) {
                Ok(ended) => ended_run(ended),
                Err(e) => {
                    let code = e.exit_code();
                    cleanup_failed(&containers, &store, &record, rm);
                    fail(e, code)
                }
            },
        );
    }
    // Docker attaches the streams -a names, else stdout and stderr (and
    // stdin with -i).
    let attach = match streams {
        Some(s) => monitor::Attach {
            stdin: s.stdin && args.create.interactive,
            ..s
        },
        None => monitor::Attach::output(args.create.interactive),
    };
    let attach = monitor::Attach {
        keep_signals: !args.sig_proxy,
        ..attach
    };
    let result = monitor::run(&containers, &store, &record.id, attach, None);
    let code = match result {
        Ok(code) => code,
        Err(e) => {
            let code = e.exit_code();
            cleanup_failed(&containers, &store, &record, rm);
            return Ok(fail(e, code));
        }
    };
    if rm {
        if let Err(e) = control::remove_auto(&containers, &store, &record.id) {
            eprintln!("wharf: removing {}: {e}", record.name);
        }
    }
    Ok(exit(code))
}

/// The streams `-a` names (Docker's STDIN, STDOUT, STDERR in any case),
/// `None` without `-a`.
fn attached_streams(args: &CreateArgs) -> Result<Option<monitor::Attach>, String> {
    if args.attach.is_empty() {
        return Ok(None);
    }
    let mut streams = monitor::Attach::default();
    for a in &args.attach {
        match a.to_ascii_lowercase().as_str() {
            "stdin" => streams.stdin = true,
            "stdout" => streams.stdout = true,
            "stderr" => streams.stderr = true,
            _ => {
                return Err(format!(
                    "invalid argument {a:?} for \"-a, --attach\" flag: valid streams are STDIN, STDOUT and STDERR"
                ))
            }
        }
    }
    Ok(Some(streams))
}

/// `docker run -it` (and `start -ai`) end silently with 0 on a detach:
/// the container runs on; otherwise with its exit code.
pub fn ended_run(ended: super::attach::Ended) -> ExitCode {
    match ended {
        super::attach::Ended::Exited(code) => exit(code),
        super::attach::Ended::Detached => ExitCode::SUCCESS,
    }
}

/// A container that never started is removed again under `--rm`, and
/// otherwise kept in `created` state, as Docker does.
fn cleanup_failed(containers: &Containers, store: &ImageStore, record: &ContainerRecord, rm: bool) {
    if rm {
        let _ = control::remove(containers, store, &record.id, true);
    }
}

pub fn create(
    settings: &Settings,
    target: &Target,
    command: &CreateCommandArgs,
) -> anyhow::Result<ExitCode> {
    let args = &command.create;
    let compose = &command.compose;
    // `create [SERVICE…]` in a compose project is Compose's: `up --no-start`.
    if let Some((Project::Loaded(l), services)) = target.project() {
        // Docker's create has --rm; Compose's does not.
        if args.rm {
            bail!("--rm: only for `wharf create IMAGE`, not for the services of a compose project");
        }
        let pull = args.pull.as_deref();
        return super::up::create(
            settings,
            l,
            services,
            args.build,
            args.no_build,
            pull,
            compose,
        );
    }
    let compose_only = [
        (args.build, "--build"),
        (args.no_build, "--no-build"),
        (compose.force_recreate, "--force-recreate"),
        (compose.no_recreate, "--no-recreate"),
        (compose.quiet_pull, "--quiet-pull"),
        (compose.remove_orphans, "--remove-orphans"),
        (!compose.scale.is_empty(), "--scale"),
        (compose.yes, "--yes"),
    ];
    if let Some((_, flag)) = compose_only.iter().find(|(on, _)| *on) {
        bail!("{flag}: only for the services of a compose project");
    }
    if settings.dry_run {
        bail!("--dry-run: only for the services of a compose project (`wharf create IMAGE` would create a container)");
    }
    if args.image.is_empty() {
        return Ok(fail("\"wharf create\" requires at least 1 argument", 1));
    }
    if let Err(e) = attached_streams(args) {
        return Ok(fail(e, 125));
    }
    let (_, store) = open(settings)?;
    match create_container(settings, &store, args) {
        Ok(r) => {
            println!("{}", r.id);
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => Ok(fail(format!("{e:#}"), 125)),
    }
}

fn create_container(
    settings: &Settings,
    store: &ImageStore,
    args: &CreateArgs,
) -> anyhow::Result<ContainerRecord> {
    // Docker refuses an existing --cidfile before anything is made.
    if let Some(f) = &args.cidfile {
        if f.exists() {
            bail!(
                "Container ID file found, make sure the other container isn't running or delete {}",
                f.display()
            );
        }
    }
    let mut opts = run_options(args);
    for f in &args.label_file {
        let text =
            std::fs::read_to_string(f).with_context(|| format!("--label-file {}", f.display()))?;
        let from_file = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(str::to_string);
        // Labels given with -l win over the file's, as Docker's.
        opts.label = from_file.chain(opts.label).collect();
    }
    // Docker's CLI reads --gpus with the other flags, before any pull.
    if let Some(g) = &args.gpus {
        docker_run::gpu_request(g)?;
    }
    let platform = args
        .platform
        .as_deref()
        .filter(|p| !p.is_empty())
        .map(|p| Platform::parse(p).with_context(|| format!("--platform {p}")))
        .transpose()?;
    let image = match args.pull.as_deref().unwrap_or("missing") {
        "missing" => super::image::ensure_image_quietly(
            settings,
            store,
            &args.image,
            platform.as_ref(),
            args.quiet,
        )?,
        "always" => {
            let reference = crate::image::reference::Reference::parse(&args.image)
                .with_context(|| format!("invalid image reference {:?}", args.image))?;
            super::image::pull_image_quietly(settings, &reference, platform.as_ref(), args.quiet)?
        }
        "never" => store
            .find(&args.image)?
            .with_context(|| format!("No such image: {} (--pull never)", args.image))?,
        other => bail!(
            "invalid pull option: '{other}': must be one of \"always\", \"missing\" or \"never\""
        ),
    };
    if let Some(p) = &platform {
        // A registry's single-platform image is pulled whatever was asked:
        // Docker's engine refuses it then, in these words.
        if !p.matches(&image.platform) {
            bail!(
                "image with reference {} was found but does not match the specified platform: wanted {p}, actual: {}",
                args.image,
                image.platform
            );
        }
        // The image is right; can this host run it (binfmt for a foreign
        // architecture), as compose's `platform:` is checked?
        p.runnable_here()
            .map_err(|why| anyhow::anyhow!("--platform {p}: {why}"))?;
    }
    if args.publish_all {
        // -P: every exposed port (the image's, then --expose's) to a random host port.
        let exposed = crate::image::config::image_config(store, &image)
            .ok()
            .and_then(|c| c.exposed_ports().clone())
            .unwrap_or_default();
        opts.publish.extend(exposed);
        opts.publish.extend(args.expose.iter().cloned());
    } else if !args.expose.is_empty() {
        bail!("--expose: wharf publishes exposed ports with -P only; give -P (or -p) with it");
    }
    let spec = docker_run::container_spec(&opts, &StoreLookup { settings })?;
    // A driver this host lacks is refused before anything is made, as `up`
    // refuses compose's `logging:`.
    if let Some(driver) = &spec.log_driver {
        let address = spec.log_options.get("syslog-address").map(String::as_str);
        if let Some(why) = crate::runtime::log_forward::host_missing(driver, address) {
            bail!("--log-driver {driver}: {why}");
        }
    }
    let env = Env::open(settings.root(), &settings.runtime)?;
    let record = exec::create_container(
        &env,
        args.name.as_deref(),
        &args.image,
        &image,
        spec,
        args.rm,
    )?;
    if let Some(f) = &args.cidfile {
        if let Err(e) = std::fs::write(f, &record.id) {
            let _ = control::remove(&env.containers, store, &record.id, true);
            return Err(e).with_context(|| format!("--cidfile {}", f.display()));
        }
    }
    Ok(record)
}

/// The flags as the conversion to a container spec takes them.
fn run_options(a: &CreateArgs) -> RunOptions {
    RunOptions {
        image: a.image.clone(),
        command: a.command.clone(),
        entrypoint: a.entrypoint.clone(),
        env: a.env.clone(),
        env_file: a.env_file.clone(),
        volume: a.volume.clone(),
        tmpfs: a.tmpfs.clone(),
        workdir: a.workdir.clone(),
        user: a.user.clone(),
        group_add: a.group_add.clone(),
        hostname: a.hostname.clone(),
        domainname: a.domainname.clone(),
        tty: a.tty,
        interactive: a.interactive,
        init: a.init,
        read_only: a.read_only,
        privileged: a.privileged,
        cap_add: a.cap_add.clone(),
        cap_drop: a.cap_drop.clone(),
        security_opt: a.security_opt.clone(),
        device: a.device.clone(),
        sysctl: a.sysctl.clone(),
        ulimit: a.ulimit.clone(),
        oom_score_adj: a.oom_score_adj,
        shm_size: a.shm_size.clone(),
        memory: a.memory.clone(),
        memory_swap: a.memory_swap.clone(),
        memory_reservation: a.memory_reservation.clone(),
        cpus: a.cpus,
        cpu_shares: a.cpu_shares,
        cpuset_cpus: a.cpuset_cpus.clone(),
        device_read_bps: a.device_read_bps.clone(),
        device_write_bps: a.device_write_bps.clone(),
        device_read_iops: a.device_read_iops.clone(),
        device_write_iops: a.device_write_iops.clone(),
        pids_limit: a.pids_limit,
        pid: a.pid.clone(),
        ipc: a.ipc.clone(),
        network: a.network.clone(),
        network_alias: a.network_alias.clone(),
        ip: a.ip,
        ip6: a.ip6,
        mac_address: a.mac_address.clone(),
        publish: a.publish.clone(),
        volumes_from: a.volumes_from.clone(),
        stop_signal: a.stop_signal.clone(),
        stop_timeout: a.stop_timeout,
        restart: a.restart.clone(),
        label: a.label.clone(),
        add_host: a.add_host.clone(),
        dns: a.dns.clone(),
        dns_search: a.dns_search.clone(),
        dns_option: a.dns_option.clone(),
        cpu_period: a.cpu_period,
        cpu_quota: a.cpu_quota,
        cpuset_mems: a.cpuset_mems.clone(),
        memory_swappiness: a.memory_swappiness,
        oom_kill_disable: a.oom_kill_disable,
        blkio_weight: a.blkio_weight,
        device_cgroup_rule: a.device_cgroup_rule.clone(),
        health_cmd: a.health_cmd.clone(),
        health_interval: a.health_interval.clone(),
        health_retries: a.health_retries,
        health_start_period: a.health_start_period.clone(),
        health_start_interval: a.health_start_interval.clone(),
        health_timeout: a.health_timeout.clone(),
        no_healthcheck: a.no_healthcheck,
        uts: a.uts.clone(),
        cgroupns: a.cgroupns.clone(),
        link: a.link.clone(),
        mount: a.mount.clone(),
        log_driver: a.log_driver.clone(),
        log_opt: a.log_opt.clone(),
        userns: a.userns.clone(),
        gpus: a.gpus.clone(),
        cgroup_parent: a.cgroup_parent.clone(),
    }
}

/// The host and the stores under the data root, as `docker run` consults
/// them (opened at each question: most runs ask none).
struct StoreLookup<'a> {
    settings: &'a Settings,
}

impl RunLookup for StoreLookup<'_> {
    fn host_env(&self, key: &str) -> Option<String> {
        host_env(key)
    }

    fn read_env_file(&self, path: &Path) -> std::io::Result<String> {
        std::fs::read_to_string(path)
    }

    fn absolute(&self, path: &str) -> std::io::Result<PathBuf> {
        std::path::absolute(path)
    }

    fn container(&self, name: &str) -> Result<(String, Vec<MountSpec>), LookupError> {
        let record = Containers::open(self.settings.root())?.find(name)?;
        Ok((record.id, record.spec.mounts))
    }

    fn network(&self, name: &str) -> Result<String, LookupError> {
        Ok(crate::net::store::Networks::open(self.settings.root())?
            .find(name)?
            .name)
    }

    fn default_bridge(&self) -> Result<String, LookupError> {
        Ok(super::common::default_bridge(self.settings.root())?)
    }

    fn volume(&self, name: Option<&str>) -> Result<VolumeFound, LookupError> {
        let volumes = crate::runtime::volume::Volumes::open(self.settings.root())?;
        let volume = match name {
            Some(name) => volumes.ensure(name, Default::default())?,
            None => volumes.create_anonymous()?,
        };
        Ok(VolumeFound {
            name: volume.name,
            data: volume.data,
            driver_opts: volume.driver_opts,
        })
    }
}

/// `run SERVICE [COMMAND…]`: a one-off container from the service's
/// configuration, after its dependencies are up; its exit code is ours.
fn run_service(settings: &Settings, loaded: &Loaded, args: &RunArgs) -> anyhow::Result<ExitCode> {
    let c = &args.create;
    let project = &loaded.project;
    let service = c.image.as_str();
    if args.service_ports && !c.publish.is_empty() {
        bail!("--service-ports and --publish are incompatible");
    }
    // Docker's flags that Compose's run does not have.
    let docker_only = [
        (c.gpus.is_some(), "--gpus"),
        (c.platform.is_some(), "--platform"),
        (c.cgroup_parent.is_some(), "--cgroup-parent"),
        (!c.attach.is_empty(), "--attach"),
        (!args.sig_proxy, "--sig-proxy"),
    ];
    if let Some((_, flag)) = docker_only.iter().find(|(on, _)| *on) {
        bail!("{flag}: only for `wharf run IMAGE`, not for a service of a compose project (set it in the compose file)");
    }
    let keys = super::attach::parse_keys(args.detach_keys.as_deref())?;
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
            .map(|e| docker_run::expand_env(e, &host_env))
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
        auto_remove: c.rm,
    };
    let selected =
        crate::plan::service_graph(project)?.select(&[service.to_string()], !args.no_deps)?;
    super::compose_build::prepare_services(
        settings,
        loaded,
        &selected,
        super::compose_build::up_build(c.build, c.no_build),
        false,
        &|| false,
    )?;
    super::image::pull_for_up(
        settings,
        project,
        &selected,
        crate::plan::pull::PullPolicy::Missing,
        args.quiet_pull,
    )?;
    let env = Env::open(settings.root(), &settings.runtime)?;
    let ctx = ProjectContext::of(loaded);
    let progress = Progress::of(settings);
    let created = exec::create_oneoff(&env, project, &ctx, service, &oneoff, &progress)?;
    let id = created.record.id.clone();
    if args.detach {
        if let Err(e) = control::start_detached(&env.containers, &id) {
            if c.rm {
                let _ = control::remove_auto(&env.containers, &env.store, &id);
            }
            return Ok(fail(e, 125));
        }
        println!("{id}");
        return Ok(ExitCode::SUCCESS);
    }
    if created.record.spec.tty && created.record.spec.stdin_open {
        return Ok(
            match super::attach::foreground(&env.containers, &created.record, keys) {
                Ok(ended) => ended_run(ended),
                Err(e) => {
                    if c.rm {
                        let _ = control::remove_auto(&env.containers, &env.store, &id);
                    }
                    let code = e.exit_code();
                    fail(e, code)
                }
            },
        );
    }
    let attach = monitor::Attach::output(interactive);
    let result = monitor::run(&env.containers, &env.store, &id, attach, None);
    if c.rm {
        if let Err(e) = control::remove_auto(&env.containers, &env.store, &id) {
            eprintln!("wharf: removing {}: {e}", created.record.name);
        }
    }
    match result {
        Ok(code) => Ok(exit(code)),
        Err(e) => {
            let code = e.exit_code();
            Ok(fail(e, code))
        }
    }
}

/// `-v` of `run SERVICE`, compose's short syntax: a path (absolute, or
/// relative to here) is a bind mount; a name is the project's volume of
/// that name when it declares one, else a volume of that very name; a
/// lone target is an anonymous volume. Volumes are made by the executor.
fn oneoff_volume(project: &crate::compose::types::Project, v: &str) -> anyhow::Result<MountSpec> {
    let short = ShortVolume::parse(v)?;
    match short.src {
        Some(s) if s.starts_with('/') || s.starts_with('.') || s.starts_with('~') => {
            let s = match s.strip_prefix('~') {
                Some(rest) => format!("{}{rest}", std::env::var("HOME").unwrap_or_default()),
                None => s.to_string(),
            };
            let source = std::path::absolute(&s).with_context(|| format!("volume source {s:?}"))?;
            Ok(short.bind(source))
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
            Ok(short.volume(name, PathBuf::new()))
        }
    }
}
