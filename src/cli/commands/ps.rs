//! The listing verbs: `ps`, `top`, `stats`, `port` (on containers, or on
//! the services of the compose project).

use super::common::{self, fail, open};
use crate::cli::args::container::{PsArgs, StatsArgs};
use crate::cli::args::ListFormat;
use crate::cli::render::{
    ago, command_column, command_text, created_at, human_bytes, human_size, labels_text,
    port_lines, ports_column, print_table, print_template, short_id, status_text,
};
use crate::cli::resolve::{Project, Settings, Target};
use crate::cli::template::Fields;
use crate::exec::{self, ProjectContainer};
use crate::runtime::container::{ContainerRecord, ContainerState, Containers, Status};
use crate::runtime::spec::PortBinding;
use anyhow::{bail, Context as _};
use std::io::Write as _;
use std::process::ExitCode;
use std::time::Duration;

/// What `ps --filter`/`--status` keep.
#[derive(Debug, Default)]
pub struct PsFilter {
    statuses: Vec<String>,
    services: Vec<String>,
    names: Vec<String>,
}

pub fn ps(settings: &Settings, target: &Target, args: &PsArgs) -> anyhow::Result<ExitCode> {
    // Docker's -n/-l: the newest containers in any state.
    let last = if args.latest { Some(1) } else { args.last };
    if let Some((project, services)) = target.project() {
        // Docker's own flags: `docker ps -l` in a project's directory is
        // Docker's listing, which takes no names.
        match (last, services.is_empty()) {
            (None, _) => return ps_services(settings, project, args),
            (Some(_), false) => bail!(
                "ps -n/--last and -l/--latest list containers, not a compose project's services"
            ),
            (Some(_), true) => {}
        }
    }
    if !args.orphans {
        bail!("ps --orphans: only for the services of a compose project");
    }
    let filter = PsFilter::parse(args)?;
    let all = args.all || filter.implies_all() || last.is_some();
    let (containers, store) = open(settings)?;
    let mut rows = Vec::new();
    for r in containers.list_records()?.into_iter().rev() {
        if last.is_some_and(|n| rows.len() >= n) {
            break;
        }
        let state = containers.state(&r.id)?;
        if !all && !matches!(state.status, Status::Running | Status::Paused) {
            continue;
        }
        if !filter.keeps(&r, state.status) {
            continue;
        }
        rows.push((r, state));
    }
    if args.quiet {
        for (r, _) in &rows {
            println!("{}", short_id(&r.id, args.no_trunc));
        }
        return Ok(ExitCode::SUCCESS);
    }
    // Docker reads the sizes when asked, or when the template shows them.
    let sized = args.size || matches!(&args.format, ListFormat::Template(f) if f.contains(".Size"));
    let size_of = |r: &ContainerRecord| -> anyhow::Result<String> {
        let (rw, rootfs) = container_size(&containers, &store, r)?;
        Ok(format!(
            "{} (virtual {})",
            human_size(rw),
            human_size(rootfs)
        ))
    };
    if let ListFormat::Template(format) = &args.format {
        let mut out = Vec::new();
        for (r, s) in &rows {
            let mut row = container_row(r, s, &store, args.no_trunc);
            if sized {
                row["Size"] = serde_json::json!(size_of(r)?);
            }
            out.push(row);
        }
        let rows = out;
        print_template(format, &rows, PS_TITLES, Fields::Strict)?;
        return Ok(ExitCode::SUCCESS);
    }
    if args.format == ListFormat::Json {
        for (r, s) in &rows {
            let line = serde_json::json!({
                "ID": &r.id[..12],
                "Names": r.name,
                "Image": r.image,
                "Command": command_text(&r.command_line(&store)),
                "CreatedAt": r.created,
                "State": s.status.as_str(),
                "Status": status_text(s),
                "ExitCode": s.exit_code,
                "Labels": r.spec.labels,
                "Ports": ports_column(&s.ports),
            });
            println!("{line}");
        }
        return Ok(ExitCode::SUCCESS);
    }
    let mut table = vec![vec![
        "CONTAINER ID".to_string(),
        "IMAGE".into(),
        "COMMAND".into(),
        "CREATED".into(),
        "STATUS".into(),
        "PORTS".into(),
        "NAMES".into(),
    ]];
    if sized {
        table[0].push("SIZE".into());
    }
    for (r, s) in &rows {
        let mut row = vec![
            short_id(&r.id, args.no_trunc).to_string(),
            r.image.clone(),
            command_column(&r.command_line(&store), args.no_trunc),
            ago(&r.created),
            status_text(s),
            ports_column(&s.ports),
            r.name.clone(),
        ];
        if sized {
            row.push(size_of(r)?);
        }
        table.push(row);
    }
    print_table(&table);
    Ok(ExitCode::SUCCESS)
}

/// `docker ps -s`/`inspect -s`: the bytes of the container's writable
/// layer (`SizeRw`) and of its whole filesystem (`SizeRootFs`: that plus
/// its image's layers).
pub fn container_size(
    containers: &Containers,
    store: &crate::image::store::ImageStore,
    r: &ContainerRecord,
) -> anyhow::Result<(u64, u64)> {
    let upper = crate::runtime::rootfs::upper_dir(&containers.dir(&r.id).path);
    let rw = if upper.is_dir() {
        crate::image::store::tree_size(&upper)?
    } else {
        0
    };
    let image = store
        .resolve(&r.image_id.to_string())?
        .map_or(0, |i| i.size);
    Ok((rw, rw + image))
}

/// The columns' titles of `ps --format 'table …'`, as Docker's.
const PS_TITLES: &[(&str, &str)] = &[
    ("Command", "COMMAND"),
    ("CreatedAt", "CREATED AT"),
    ("ID", "CONTAINER ID"),
    ("Image", "IMAGE"),
    ("Labels", "LABELS"),
    ("LocalVolumes", "LOCAL VOLUMES"),
    ("Mounts", "MOUNTS"),
    ("Name", "NAME"),
    ("Names", "NAMES"),
    ("Networks", "NETWORKS"),
    ("Ports", "PORTS"),
    ("Project", "PROJECT"),
    ("RunningFor", "CREATED"),
    ("Size", "SIZE"),
    ("Service", "SERVICE"),
    ("State", "STATE"),
    ("Status", "STATUS"),
];

/// A container as `docker ps --format` sees it: Docker's fields and their
/// text (`{{json .}}` prints them, keys sorted as Docker's are).
pub fn container_row(
    r: &ContainerRecord,
    s: &ContainerState,
    store: &crate::image::store::ImageStore,
    no_trunc: bool,
) -> serde_json::Value {
    use crate::runtime::spec::MountSpec;
    let mounts: Vec<String> = r
        .spec
        .mounts
        .iter()
        .filter_map(|m| match m {
            MountSpec::Volume { name, .. } => Some(name.clone()),
            MountSpec::Bind { source, .. } => Some(source.display().to_string()),
            MountSpec::Filesystem { device, .. } => Some(device.clone()),
            MountSpec::Tmpfs { .. } => None,
        })
        .collect();
    let local_volumes = r
        .spec
        .mounts
        .iter()
        .filter(|m| matches!(m, MountSpec::Volume { .. }))
        .count();
    let networks: Vec<&str> = r.spec.networks.iter().map(|n| n.network.as_str()).collect();
    serde_json::json!({
        "Command": command_column(&r.command_line(store), no_trunc),
        "CreatedAt": created_at(&r.created),
        "ID": short_id(&r.id, no_trunc),
        "Image": r.image,
        "Labels": labels_text(&r.spec.labels),
        "LocalVolumes": local_volumes.to_string(),
        "Mounts": mounts.join(","),
        "Names": r.name,
        "Networks": networks.join(","),
        "Ports": ports_column(&s.ports),
        "RunningFor": ago(&r.created),
        "State": s.status.as_str(),
        "Status": status_text(s),
    })
}

/// `docker port`: every published port (`80/tcp -> 0.0.0.0:32768`), or
/// the host addresses of one (`0.0.0.0:32768`).
pub fn port(
    settings: &Settings,
    target: &Target,
    container: &str,
    private: Option<&str>,
    index: Option<u32>,
    protocol: &str,
) -> anyhow::Result<ExitCode> {
    let (containers, _store) = open(settings)?;
    if let Some((sel, _)) = target.project() {
        // Compose's `port SERVICE PRIVATE_PORT`: the first host address.
        let Some(private) = private else {
            bail!("\"wharf port\" on a service requires SERVICE and PRIVATE_PORT");
        };
        let key = if private.contains('/') {
            private.to_string()
        } else {
            format!("{private}/{protocol}")
        };
        let env = common::env(settings)?;
        let c = common::running_container(&env, sel, container, index)?
            .map_err(|e| anyhow::anyhow!(e))?;
        let first = port_lines(&c.state.ports, Some(&key))
            .ok()
            .and_then(|l| l.into_iter().next());
        return match first {
            Some(l) => {
                println!("{l}");
                Ok(ExitCode::SUCCESS)
            }
            None => bail!("no port {key} for container {}", c.record.name),
        };
    }
    let record = containers.find(container)?;
    let state = containers.state(&record.id)?;
    let live = matches!(state.status, Status::Running | Status::Paused);
    let ports: &[PortBinding] = if live { &state.ports } else { &[] };
    let lines = port_lines(ports, private).map_err(|key| {
        anyhow::anyhow!("Error: No public port '{key}' published for {container}")
    })?;
    for l in lines {
        println!("{l}");
    }
    Ok(ExitCode::SUCCESS)
}

/// `wharf top`: the container's processes (its cgroup), shown by ps(1)
/// with the columns `docker top` prints by default; in a compose project,
/// those of every running container of the services, each under its name.
pub fn top(settings: &Settings, target: &Target, targets: &[String]) -> anyhow::Result<ExitCode> {
    if let Some((project, services)) = target.project() {
        return top_services(settings, project, services);
    }
    let [container] = targets else {
        bail!("\"wharf top\" requires exactly 1 container (or services of a compose project)");
    };
    let (containers, _) = open(settings)?;
    let record = containers.find(container)?;
    let state = containers.state(&record.id)?;
    if !matches!(state.status, Status::Running | Status::Paused) {
        return Ok(fail(format!("container {} is not running", record.name), 1));
    }
    Ok(if print_top(&record)? {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// ps(1) on the processes of a container's cgroup; whether it succeeded.
pub fn print_top(record: &ContainerRecord) -> anyhow::Result<bool> {
    let pids = crate::runtime::cgroups::procs(
        std::path::Path::new("/sys/fs/cgroup"),
        &record.spec.cgroups_path(&record.id),
    )?;
    let list: Vec<String> = pids.iter().map(u32::to_string).collect();
    let status = std::process::Command::new("ps")
        .args([
            "-o",
            "uid,pid,ppid,c,stime,tty,time,cmd",
            "-p",
            &list.join(","),
        ])
        .status()
        .context("running ps")?;
    Ok(status.success())
}

/// `wharf stats`: CPU, memory and pids per container, from its cgroup.
pub fn stats(settings: &Settings, target: &Target, args: &StatsArgs) -> anyhow::Result<ExitCode> {
    use crate::runtime::cgroups;
    let (containers, _) = open(settings)?;
    let root = std::path::Path::new("/sys/fs/cgroup");
    let mut records = Vec::new();
    if let Some((project, services)) = target.project() {
        // `docker compose stats [SERVICE…]`: the project's running containers.
        for c in common::project_list(settings, project, services)? {
            if args.all || c.state.status == Status::Running {
                records.push(c.record);
            }
        }
    } else if args.containers.is_empty() {
        for r in containers.list_records()? {
            if args.all || containers.state(&r.id)?.status == Status::Running {
                records.push(r);
            }
        }
    } else {
        for q in &args.containers {
            records.push(containers.find(q)?);
        }
    }
    loop {
        // CPU % is usage over an interval, as docker computes it.
        let interval = Duration::from_millis(500);
        let before: Vec<Option<cgroups::Stats>> = records
            .iter()
            .map(|r| cgroups::stats(root, &r.spec.cgroups_path(&r.id), &r.id).ok())
            .collect();
        std::thread::sleep(interval);
        let mut table = vec![vec![
            "CONTAINER ID".to_string(),
            "NAME".into(),
            "CPU %".into(),
            "MEM USAGE / LIMIT".into(),
            "MEM %".into(),
            "NET I/O".into(),
            "BLOCK I/O".into(),
            "PIDS".into(),
        ]];
        let total_mem = host_memory();
        let mut template_rows = Vec::new();
        for (r, b) in records.iter().zip(before) {
            // A container that is not running has no cgroup: with --all it
            // is shown with zeros, as Docker does.
            let (now, stopped) = match cgroups::stats(root, &r.spec.cgroups_path(&r.id), &r.id) {
                Ok(now) => (now, false),
                Err(_) if args.all => (cgroups::Stats::default(), true),
                Err(_) => continue,
            };
            let id = if args.no_trunc {
                &r.id[..]
            } else {
                &r.id[..12]
            };
            let cpu = b
                .map(|b| {
                    now.cpu_usage_ns.saturating_sub(b.cpu_usage_ns) as f64
                        / interval.as_nanos() as f64
                        * 100.0
                })
                .unwrap_or(0.0);
            let limit = match stopped {
                true => 0,
                false => now
                    .memory_limit
                    .filter(|&l| l < total_mem)
                    .unwrap_or(total_mem),
            };
            let mem_pct = if limit > 0 {
                now.memory_usage as f64 / limit as f64 * 100.0
            } else {
                0.0
            };
            let (rx, tx) = match stopped {
                true => (0, 0),
                false => containers
                    .state(&r.id)
                    .ok()
                    .and_then(|s| s.pid)
                    .map(net_io)
                    .unwrap_or_default(),
            };
            let net = format!("{} / {}", human_size(rx), human_size(tx));
            let block = format!(
                "{} / {}",
                human_size(now.block_read),
                human_size(now.block_write)
            );
            if let ListFormat::Template(_) = &args.format {
                template_rows.push(serde_json::json!({
                    "CPUPerc": format!("{cpu:.2}%"),
                    "Container": id,
                    "ID": id,
                    "MemPerc": format!("{mem_pct:.2}%"),
                    "MemUsage": format!("{} / {}", human_bytes(now.memory_usage), human_bytes(limit)),
                    "Name": r.name,
                    "NetIO": net,
                    "BlockIO": block,
                    "PIDs": now.pids_current.to_string(),
                }));
                continue;
            }
            if args.format == ListFormat::Json {
                println!(
                    "{}",
                    serde_json::json!({
                        "ID": id, "Name": r.name, "CPUPerc": format!("{cpu:.2}%"),
                        "MemUsage": now.memory_usage, "MemLimit": limit,
                        "MemPerc": format!("{mem_pct:.2}%"), "NetIO": net, "BlockIO": block,
                        "PIDs": now.pids_current,
                    })
                );
                continue;
            }
            table.push(vec![
                id.to_string(),
                r.name.clone(),
                format!("{cpu:.2}%"),
                format!("{} / {}", human_bytes(now.memory_usage), human_bytes(limit)),
                format!("{mem_pct:.2}%"),
                net,
                block,
                now.pids_current.to_string(),
            ]);
        }
        match &args.format {
            ListFormat::Table => print_table(&table),
            ListFormat::Template(format) => {
                print_template(format, &template_rows, STATS_TITLES, Fields::Strict)?
            }
            ListFormat::Json => {}
        }
        if args.no_stream {
            return Ok(ExitCode::SUCCESS);
        }
    }
}

/// The columns' titles of `stats --format 'table …'`, as Docker's.
const STATS_TITLES: &[(&str, &str)] = &[
    ("CPUPerc", "CPU %"),
    ("Container", "CONTAINER"),
    ("ID", "CONTAINER ID"),
    ("MemPerc", "MEM %"),
    ("MemUsage", "MEM USAGE / LIMIT"),
    ("Name", "NAME"),
    ("NetIO", "NET I/O"),
    ("BlockIO", "BLOCK I/O"),
    ("PIDs", "PIDS"),
];

/// Bytes received and sent by the container's network namespace (its
/// init's `/proc/PID/net/dev`), loopback left out, as `docker stats` sums
/// its interfaces.
fn net_io(pid: u32) -> (u64, u64) {
    let text = std::fs::read_to_string(format!("/proc/{pid}/net/dev")).unwrap_or_default();
    net_dev_totals(&text)
}

fn net_dev_totals(text: &str) -> (u64, u64) {
    let mut sums = (0u64, 0u64);
    for line in text.lines() {
        let Some((name, counters)) = line.split_once(':') else {
            continue;
        };
        if name.trim() == "lo" {
            continue;
        }
        let n: Vec<u64> = counters
            .split_whitespace()
            .map(|f| f.parse().unwrap_or(0))
            .collect();
        if n.len() >= 9 {
            sums.0 = sums.0.saturating_add(n[0]);
            sums.1 = sums.1.saturating_add(n[8]);
        }
    }
    sums
}

pub fn host_memory() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map(|kb| kb * 1024)
        .unwrap_or(0)
}

impl PsFilter {
    pub fn parse(args: &PsArgs) -> anyhow::Result<PsFilter> {
        const STATUSES: &[&str] = &[
            "created",
            "restarting",
            "running",
            "removing",
            "paused",
            "exited",
            "dead",
        ];
        let mut f = PsFilter {
            statuses: args.status.clone(),
            ..PsFilter::default()
        };
        for kv in &args.filter {
            let Some((k, v)) = kv.split_once('=') else {
                bail!("arguments to --filter should be in form KEY=VAL");
            };
            match k {
                "status" => f.statuses.push(v.to_string()),
                "service" => f.services.push(v.to_string()),
                "name" => f.names.push(v.to_string()),
                other => bail!("unknown filter {other}"),
            }
        }
        if let Some(bad) = f.statuses.iter().find(|s| !STATUSES.contains(&s.as_str())) {
            bail!("Unrecognised filter value for status: {bad}");
        }
        Ok(f)
    }

    /// A status filter looks at stopped containers too, as `-a` would.
    pub fn implies_all(&self) -> bool {
        !self.statuses.is_empty()
    }

    pub fn keeps(&self, record: &ContainerRecord, status: Status) -> bool {
        let service = record
            .spec
            .labels
            .get(crate::plan::container::LABEL_SERVICE)
            .map(String::as_str)
            .unwrap_or("");
        (self.statuses.is_empty() || self.statuses.iter().any(|s| s == status.as_str()))
            && (self.services.is_empty() || self.services.iter().any(|s| s == service))
            && (self.names.is_empty() || self.names.iter().any(|n| record.name.contains(n)))
    }
}

/// `ps` for a project: Compose's columns, or one JSON object per line.
fn ps_services(settings: &Settings, sel: &Project, args: &PsArgs) -> anyhow::Result<ExitCode> {
    let env = common::env(settings)?;
    let filter = PsFilter::parse(args)?;
    let all = args.all || filter.implies_all();
    let list: Vec<ProjectContainer> = exec::project_containers(&env.containers, sel.name())?
        .into_iter()
        .filter(|c| all || c.running())
        // One-off containers only with -a, as Compose lists them.
        .filter(|c| args.all || !c.oneoff)
        .filter(|c| args.services.is_empty() || args.services.contains(&c.service))
        // `--orphans=false`: only the services the compose file declares.
        .filter(|c| args.orphans || !common::is_orphan(sel, c))
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
            println!("{}", short_id(&c.record.id, args.no_trunc));
        }
        return Ok(ExitCode::SUCCESS);
    }
    let template = match &args.format {
        ListFormat::Template(t) => Some(t),
        _ => None,
    };
    if args.format == ListFormat::Json || template.is_some() {
        let mut rows = Vec::new();
        for c in &list {
            let line = serde_json::json!({
                "Command": format!("\"{}\"", command_text(&c.record.command_line(&env.store))),
                "CreatedAt": c.record.created,
                "ExitCode": c.state.exit_code.unwrap_or(0),
                "Health": c.state.health.as_ref().map(|h| h.status.clone()).unwrap_or_default(),
                "ID": c.record.id,
                "Image": c.record.image,
                "Labels": c.record.spec.labels,
                "Name": c.record.name,
                "Names": c.record.name,
                "Ports": ports_column(&c.state.ports),
                "Publishers": c.state.ports.iter().map(|b| serde_json::json!({
                    "URL": b.host_ip.map(crate::net::ports::show_ip).unwrap_or_else(|| "0.0.0.0".into()),
                    "TargetPort": b.container_port,
                    "PublishedPort": b.host_port,
                    "Protocol": format!("{:?}", b.protocol).to_lowercase(),
                })).collect::<Vec<_>>(),
                "Project": sel.name(),
                "Service": c.service,
                "State": c.state.status.as_str(),
                "Status": status_text(&c.state),
            });
            if template.is_none() {
                println!("{line}");
            }
            rows.push(line);
        }
        if let Some(format) = template {
            // Compose's fields, and those of Docker's rows it also offers.
            for (row, c) in rows.iter_mut().zip(&list) {
                let docker = container_row(&c.record, &c.state, &env.store, args.no_trunc);
                if let Some(obj) = row.as_object_mut() {
                    for key in ["LocalVolumes", "Mounts", "Networks", "RunningFor"] {
                        obj.insert(key.into(), docker[key].clone());
                    }
                }
            }
            print_template(format, &rows, PS_TITLES, Fields::Strict)?;
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
        table.push(vec![
            c.record.name.clone(),
            c.record.image.clone(),
            command_column(&c.record.command_line(&env.store), args.no_trunc),
            c.service.clone(),
            ago(&c.record.created),
            status_text(&c.state),
            ports_column(&c.state.ports),
        ]);
    }
    print_table(&table);
    Ok(ExitCode::SUCCESS)
}

/// `top [SERVICE…]` for a project: each running container's processes
/// under its name, as `docker compose top` prints them.
fn top_services(
    settings: &Settings,
    sel: &Project,
    services: &[String],
) -> anyhow::Result<ExitCode> {
    let env = common::env_for(settings, sel)?;
    let mut ok = true;
    for c in common::containers_of(&env, sel, services)? {
        if !matches!(c.state.status, Status::Running | Status::Paused) {
            continue;
        }
        println!("{}", c.record.name);
        std::io::stdout().flush()?;
        ok &= print_top(&c.record)?;
        println!();
    }
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn net_io_sums_every_interface_but_loopback() {
        let dev = "Inter-|   Receive                                                |  Transmit\n face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n    lo:     500       5    0    0    0     0          0         0      500       5    0    0    0     0       0          0\n  eth0:    1448      12    0    0    0     0          0         0      648       8    0    0    0     0       0          0\n  eth1:      52       1    0    0    0     0          0         0        0       0    0    0    0     0       0          0\n";
        assert_eq!(super::net_dev_totals(dev), (1500, 648));
    }

    use super::*;
    use crate::runtime::spec::ContainerSpec;

    #[test]
    fn ps_filters_are_checked_and_combined() {
        use clap::Parser;
        #[derive(Parser)]
        struct P {
            #[command(flatten)]
            ps: PsArgs,
        }
        let parse = |args: &[&str]| {
            let mut all = vec!["ps"];
            all.extend_from_slice(args);
            PsFilter::parse(&P::parse_from(all).ps)
        };
        let f = parse(&[
            "--status",
            "running",
            "--filter",
            "status=paused",
            "--filter",
            "service=db",
        ])
        .expect("valid");
        assert!(f.implies_all());
        let mut record = ContainerRecord {
            id: "0".repeat(64),
            name: "demo-db-1".into(),
            created: String::new(),
            image: "x".into(),
            image_id: crate::image::digest::Digest::sha256_of(b"x"),
            spec: ContainerSpec::default(),
            runtime: "builtin".into(),
            auto_remove: false,
        };
        record
            .spec
            .labels
            .insert(crate::plan::container::LABEL_SERVICE.into(), "db".into());
        assert!(f.keeps(&record, Status::Paused));
        assert!(f.keeps(&record, Status::Running));
        assert!(!f.keeps(&record, Status::Exited));
        record
            .spec
            .labels
            .insert(crate::plan::container::LABEL_SERVICE.into(), "web".into());
        assert!(!f.keeps(&record, Status::Running));
        assert!(!parse(&[]).expect("none").implies_all());
        let bad = parse(&["--filter", "color=red"]).expect_err("unknown key");
        assert_eq!(bad.to_string(), "unknown filter color");
        let bad = parse(&["--status", "sleeping"]).expect_err("unknown status");
        assert!(bad.to_string().contains("sleeping"), "{bad}");
        assert!(parse(&["--filter", "status"]).is_err());
    }
}
