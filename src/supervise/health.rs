//! Healthchecks, Docker's state machine: a `starting` container turns
//! `healthy` on the first passing probe and `unhealthy` after `retries`
//! failures in a row; failures inside `start_period` do not count. The
//! probes run inside the container like `exec`, from a small process of
//! their own (`wharf container-health ID`, a child of the monitor that dies
//! with it) so their exits are never raced by the monitor's reaper.

use crate::runtime::bundle::ExecOptions;
use crate::runtime::container::{Containers, Health, HealthResult, Status};
use crate::runtime::spec::HealthSpec;
use crate::time::rfc3339_nanos;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

const DEFAULT_INTERVAL: Duration = Duration::from_secs(30);
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
const DEFAULT_START_INTERVAL: Duration = Duration::from_secs(5);
const DEFAULT_RETRIES: u32 = 3;
/// Docker keeps this many results and this much output per result.
const KEEP_RESULTS: usize = 5;
pub const MAX_OUTPUT: usize = 4096;

/// Whether `spec` asks for probes at all (`NONE` and an empty test do not).
pub fn active(spec: &Option<HealthSpec>) -> bool {
    spec.as_ref()
        .and_then(|h| h.test.first())
        .is_some_and(|t| t == "CMD" || t == "CMD-SHELL")
}

/// The longest a running healthcheck can say "starting": every failure in
/// the start period is forgiven, then `retries` failures in a row, each
/// taking up to interval + timeout, make it unhealthy. Past this (plus a
/// little for the prober itself to start) no verdict will come.
pub fn verdict_within(spec: &HealthSpec) -> Duration {
    let retries = if spec.retries == 0 {
        DEFAULT_RETRIES
    } else {
        spec.retries
    };
    let round = dur(spec.interval, DEFAULT_INTERVAL) + dur(spec.timeout, DEFAULT_TIMEOUT);
    Duration::from_nanos(spec.start_period) + round * (retries + 1) + Duration::from_secs(5)
}

fn dur(ns: u64, default: Duration) -> Duration {
    if ns == 0 {
        default
    } else {
        Duration::from_nanos(ns)
    }
}

/// The command a probe runs.
pub fn probe_args(test: &[String]) -> Vec<String> {
    match test.first().map(String::as_str) {
        Some("CMD-SHELL") => vec![
            "/bin/sh".into(),
            "-c".into(),
            test.get(1..).unwrap_or_default().join(" "),
        ],
        Some("CMD") => test[1..].to_vec(),
        _ => Vec::new(),
    }
}

/// The next state after one probe result (Docker's rules).
pub fn next(mut h: Health, result: HealthResult, in_start_period: bool, retries: u32) -> Health {
    let passed = result.exit_code == 0;
    h.log.push(result);
    if h.log.len() > KEEP_RESULTS {
        let drop = h.log.len() - KEEP_RESULTS;
        h.log.drain(..drop);
    }
    if passed {
        h.status = "healthy".into();
        h.failing_streak = 0;
    } else if !in_start_period {
        h.failing_streak += 1;
        if h.failing_streak >= retries {
            h.status = "unhealthy".into();
        }
    }
    h
}

/// Starts the health process for a container whose spec has a check.
pub fn spawn(containers: &Containers, id: &str) -> Option<Child> {
    let exe = std::env::current_exe().ok()?;
    let mut cmd = Command::new(exe);
    cmd.arg("--root")
        .arg(containers.root())
        .args(["container-health", id])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    // SAFETY: prctl is async-signal-safe; the probe process must not
    // outlive the monitor that owns the container.
    unsafe {
        std::os::unix::process::CommandExt::pre_exec(&mut cmd, || {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
    cmd.spawn().ok()
}

fn update(containers: &Containers, id: &str, f: impl FnOnce(Health) -> Health) -> bool {
    let Ok(_lock) = containers.lock(id) else {
        return false;
    };
    let Ok(mut state) = containers.state(id) else {
        return false;
    };
    // A paused container keeps its last result until it is thawed.
    if state.status == Status::Paused {
        return true;
    }
    if state.status != Status::Running {
        return false;
    }
    let before = state.health.as_ref().map(|h| h.status.clone());
    let h = f(state.health.take().unwrap_or_default());
    let changed = (before.as_deref() != Some(h.status.as_str()) && h.status != "starting")
        .then(|| format!("health_status: {}", h.status));
    state.health = Some(h);
    let ok = containers.set_state(id, &state).is_ok();
    if let (true, Some(action), Ok(record)) = (ok, changed, containers.record(id)) {
        crate::runtime::events::emit(containers.root(), &record, &action, &[]);
    }
    ok
}

/// What one probe run inside the container came to.
pub enum Probe {
    /// It ran: its exit code (-1 when it ran too long or could not run)
    /// and its output.
    Ran { code: i32, output: String },
    /// The container is paused: Docker skips the probe.
    Paused,
    /// The container is not running any more: probing ends.
    NotRunning,
}

/// Runs one probe process (these options, this time limit) in the container.
pub type ProbeFn<'a> = &'a dyn Fn(&ExecOptions, Duration) -> Probe;

/// The body of `wharf container-health ID`: probes with `probe` until the
/// container stops.
pub fn main(containers: &Containers, id: &str, probe: ProbeFn<'_>) -> i32 {
    let Ok(record) = containers.record(id) else {
        return 1;
    };
    let Some(spec) = record
        .spec
        .healthcheck
        .clone()
        .filter(|_| active(&record.spec.healthcheck))
    else {
        return 0;
    };
    // Probes are re-parented to us when the runtime's exec returns.
    if crate::runtime::oci_cli::become_subreaper().is_err() {
        return 1;
    }
    let interval = dur(spec.interval, DEFAULT_INTERVAL);
    let timeout = dur(spec.timeout, DEFAULT_TIMEOUT);
    let start_interval = dur(spec.start_interval, DEFAULT_START_INTERVAL);
    let start_period = Duration::from_nanos(spec.start_period);
    let retries = if spec.retries == 0 {
        DEFAULT_RETRIES
    } else {
        spec.retries
    };
    let started = Instant::now();
    // A new monitor that took the container over keeps its last verdict.
    if !update(containers, id, |h| {
        if h.status.is_empty() {
            Health {
                status: "starting".into(),
                ..Health::default()
            }
        } else {
            h
        }
    }) {
        return 0;
    }
    let opts = ExecOptions {
        args: probe_args(&spec.test),
        ..ExecOptions::default()
    };
    loop {
        let in_start = started.elapsed() < start_period;
        std::thread::sleep(if in_start { start_interval } else { interval });
        let begin = SystemTime::now();
        let (code, output) = match probe(&opts, timeout) {
            Probe::Ran { code, output } => (code, output),
            Probe::Paused => continue,
            Probe::NotRunning => return 0,
        };
        let result = HealthResult {
            start: rfc3339_nanos(begin),
            end: rfc3339_nanos(SystemTime::now()),
            exit_code: code,
            output,
        };
        let in_start = started.elapsed() < start_period;
        if !update(containers, id, |h| next(h, result, in_start, retries)) {
            return 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(code: i32) -> HealthResult {
        HealthResult {
            exit_code: code,
            ..HealthResult::default()
        }
    }

    #[test]
    fn docker_state_machine() {
        let h = Health {
            status: "starting".into(),
            ..Health::default()
        };
        // Failures in the start period do not count.
        let h = next(h, result(1), true, 2);
        assert_eq!((h.status.as_str(), h.failing_streak), ("starting", 0));
        let h = next(h, result(1), false, 2);
        assert_eq!((h.status.as_str(), h.failing_streak), ("starting", 1));
        let h = next(h, result(1), false, 2);
        assert_eq!(h.status, "unhealthy");
        let h = next(h, result(0), false, 2);
        assert_eq!((h.status.as_str(), h.failing_streak), ("healthy", 0));
        let mut h = h;
        for _ in 0..10 {
            h = next(h, result(0), false, 2);
        }
        assert_eq!(h.log.len(), KEEP_RESULTS);
    }

    #[test]
    fn probe_commands() {
        let s = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            probe_args(&s(&["CMD-SHELL", "pg_isready -U x"])),
            s(&["/bin/sh", "-c", "pg_isready -U x"])
        );
        assert_eq!(probe_args(&s(&["CMD", "true", "x"])), s(&["true", "x"]));
        assert!(probe_args(&s(&["NONE"])).is_empty());
        assert!(!active(&Some(HealthSpec {
            test: s(&["NONE"]),
            ..HealthSpec::default()
        })));
    }

    #[test]
    fn probes_through_the_given_exec_until_the_container_stops() {
        let dir = tempfile::tempdir().expect("tmp");
        let c = Containers::open(dir.path()).expect("open");
        let spec = crate::runtime::spec::ContainerSpec {
            healthcheck: Some(HealthSpec {
                test: vec!["CMD".into(), "check".into(), "--quick".into()],
                start_period: 60_000_000_000,
                start_interval: 1_000_000,
                ..HealthSpec::default()
            }),
            ..Default::default()
        };
        let id = c
            .create(
                Some("db"),
                "busybox",
                crate::image::digest::Digest::sha256_of(b"image"),
                spec,
                "builtin",
                false,
            )
            .expect("create")
            .id;
        let mut state = c.state(&id).expect("state");
        state.status = Status::Running;
        c.set_state(&id, &state).expect("set");

        let calls = std::cell::RefCell::new(Vec::new());
        let code = main(&c, &id, &|opts, _timeout| {
            calls.borrow_mut().push(opts.args.clone());
            if calls.borrow().len() == 1 {
                Probe::Ran {
                    code: 0,
                    output: "ok".into(),
                }
            } else {
                Probe::NotRunning
            }
        });
        assert_eq!(code, 0);
        assert_eq!(
            calls.into_inner(),
            vec![vec!["check".to_string(), "--quick".to_string()]; 2]
        );
        let health = c.state(&id).expect("state").health.expect("health");
        assert_eq!(health.status, "healthy");
        assert_eq!(health.log.len(), 1);
        assert_eq!(health.log[0].output, "ok");
    }
}
