//! `wharf up` / `down` and the project verbs on real containers from the
//! fixture images, checked the way a user would: `ps --format json`,
//! `logs`, exit codes, what is left after `down`.
//!
//! Needs root and the loopback registry: run through `scripts/with-registry`
//! (private network and mount namespace). Without it the tests say SKIPPED.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[path = "support/harness.rs"]
mod harness;
#[path = "support/pty.rs"]
mod pty;
#[path = "support/stack.rs"]
mod stack;
use harness::Run;
use pty::Pty;
use stack::{free_port, http_get, Stack};

const STACK: &str = r#"
services:
  db:
    image: {{busybox}}
    command: ["sh", "-c", "echo db up; echo $$(( $$(cat /data/boots 2>/dev/null || echo 0) + 1 )) > /data/boots; exec sleep 1000"]
    volumes: [data:/data]
    stop_grace_period: 1s
  migrate:
    image: {{busybox}}
    command: ["sh", "-c", "sleep 0.5; echo migrated > /data/migrated; echo migration done"]
    volumes: [data:/data]
    depends_on: [db]
  web:
    image: {{busybox}}
    command: ["sh", "-c", "echo web sees $$(cat /data/migrated); exec sleep 1000"]
    volumes: [data:/data]
    depends_on:
      migrate: {condition: service_completed_successfully}
    deploy: {replicas: 2}
volumes:
  data: {}
"#;

#[test]
fn up_starts_in_order_is_idempotent_recreates_changes_and_down_cleans_up() {
    let Some(s) = Stack::new(STACK) else { return };
    s.wharf(&["up", "-d"]).ok();
    let ps = s.ps();
    assert_eq!(ps.len(), 4, "{ps:#?}");
    let db = Stack::container(&ps, &s.name("db-1"));
    assert_eq!(db["State"], "running");
    assert_eq!(db["Service"], "db");
    assert_eq!(
        db["Labels"]["com.docker.compose.project"],
        s.project().as_str()
    );
    let migrate = Stack::container(&ps, &s.name("migrate-1"));
    assert_eq!(migrate["State"], "exited");
    assert_eq!(migrate["ExitCode"], 0);
    for n in ["web-1", "web-2"] {
        assert_eq!(Stack::container(&ps, &s.name(n))["State"], "running");
    }
    // web started only after the migration had written its file.
    let logs = s.wharf(&["logs", "web"]).ok().stdout;
    assert!(logs.contains("web-1 | web sees migrated"), "{logs}");
    assert!(logs.contains("web-2 | web sees migrated"), "{logs}");
    let all = s.wharf(&["logs", "--no-log-prefix"]).ok().stdout;
    assert!(
        all.contains("db up") && all.contains("migration done"),
        "{all}"
    );

    // Unchanged: nothing is recreated.
    let ids = |ps: &[serde_json::Value], n: &str| Stack::container(ps, n)["ID"].clone();
    s.wharf(&["up", "-d"]).ok();
    let again = s.ps();
    assert_eq!(ids(&ps, &s.name("db-1")), ids(&again, &s.name("db-1")));
    assert_eq!(ids(&ps, &s.name("web-1")), ids(&again, &s.name("web-1")));

    // A changed service is recreated; the others stay.
    s.write(&STACK.replace("echo web sees", "echo web v2 sees"));
    let out = s.wharf(&["up", "-d"]).ok();
    assert!(out.stderr.contains("Recreated"), "{}", out.stderr);
    let changed = s.ps();
    assert_eq!(ids(&ps, &s.name("db-1")), ids(&changed, &s.name("db-1")));
    assert_ne!(ids(&ps, &s.name("web-1")), ids(&changed, &s.name("web-1")));
    assert!(s
        .wharf(&["logs", "web"])
        .ok()
        .stdout
        .contains("web v2 sees migrated"));

    // Scale down removes the highest numbers.
    s.wharf(&["up", "-d", "--scale", "web=1"]).ok();
    let scaled = s.ps();
    assert!(scaled.iter().all(|c| c["Name"] != s.name("web-2").as_str()));

    // stop / start keep the containers; the named volume keeps data.
    s.wharf(&["stop"]).ok();
    assert!(s.ps().iter().all(|c| c["State"] == "exited"));
    s.wharf(&["start", "db"]).ok();
    assert_eq!(
        Stack::container(&s.ps(), &s.name("db-1"))["State"],
        "running"
    );

    // down removes the containers but keeps the named volume: the next
    // up's db sees its earlier boots.
    s.wharf(&["down", "-t", "0"]).ok();
    assert!(s.ps().is_empty());
    s.wharf(&["up", "-d", "db"]).ok();
    let boots = s
        .wharf(&["exec", &s.name("db-1"), "cat", "/data/boots"])
        .ok()
        .stdout;
    assert_eq!(boots.trim(), "3", "db boots counted in the named volume");
}

#[test]
fn failed_one_shot_fails_up_naming_service_and_code() {
    let Some(s) = Stack::new(
        r#"
services:
  migrate:
    image: {{busybox}}
    command: ["sh", "-c", "echo failing; exit 3"]
  app:
    image: {{busybox}}
    command: ["sleep", "1000"]
    depends_on:
      migrate: {condition: service_completed_successfully}
"#,
    ) else {
        return;
    };
    let out = s.wharf(&["up", "-d"]);
    assert_ne!(out.code, 0);
    assert!(
        out.stderr.contains("migrate") && out.stderr.contains("exit 3"),
        "{}",
        out.stderr
    );
    // The dependent was never created.
    assert!(s.ps().iter().all(|c| c["Service"] != "app"));
}

#[test]
fn down_by_project_name_works_without_the_compose_file() {
    let Some(s) =
        Stack::new("services:\n  a:\n    image: {{busybox}}\n    command: [sleep, '1000']\n")
    else {
        return;
    };
    s.wharf(&["up", "-d"]).ok();
    std::fs::remove_file(s.dir.path().join("compose.yaml")).expect("rm compose.yaml");
    let ls = s.wharf(&["ls", "--format", "json"]).ok().stdout;
    assert!(ls.contains(&s.project()), "{ls}");
    s.wharf(&["-p", &s.project(), "down", "-t", "0"]).ok();
    assert!(s.wharf(&["ps", "-a", "-q"]).stdout.trim().is_empty());
    s.write("services: {}\n");
}

/// Foreground `up`: prefixed output of every container; Ctrl-C stops the
/// stack (exit 130) and leaves the containers stopped, not removed.
#[test]
fn foreground_up_streams_prefixed_logs_and_ctrl_c_stops() {
    let Some(s) = Stack::new(
        r#"
services:
  talker:
    image: {{busybox}}
    command: ["sh", "-c", "trap 'echo got TERM; exit 0' TERM; i=0; while true; do i=$$((i+1)); echo line $$i; sleep 0.2; done"]
  quiet:
    image: {{busybox}}
    command: ["sleep", "1000"]
"#,
    ) else {
        return;
    };
    let mut child = s
        .cmd(&["up", "--no-color"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn up");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut seen = Vec::new();
    while Instant::now() < deadline {
        let Some(Ok(l)) = lines.next() else { break };
        seen.push(l.clone());
        if l.starts_with("talker-1 | line 3") {
            break;
        }
    }
    assert!(
        seen.iter().any(|l| l.starts_with("Attaching to")),
        "{seen:#?}"
    );
    assert!(
        seen.iter().any(|l| l == "talker-1 | line 3"),
        "padded prefix: {seen:#?}"
    );
    nix_kill(child.id(), libc::SIGINT);
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    let status = child.wait().expect("wait up");
    assert_eq!(status.code(), Some(130), "{rest:#?}");
    assert!(
        rest.iter().any(|l| l == "talker-1 | got TERM"),
        "the stop signal reached the app: {rest:#?}"
    );
    let ps = s.ps();
    assert_eq!(ps.len(), 2);
    assert!(ps.iter().all(|c| c["State"] == "exited"), "{ps:#?}");
}

#[test]
fn exit_code_from_returns_that_services_code() {
    let Some(s) = Stack::new(
        r#"
services:
  job:
    image: {{busybox}}
    command: ["sh", "-c", "sleep 0.3; echo finishing; exit 7"]
  side:
    image: {{busybox}}
    command: ["sleep", "1000"]
"#,
    ) else {
        return;
    };
    let out = s.wharf(&["up", "--exit-code-from", "job", "--no-color"]);
    assert_eq!(out.code, 7, "{}\n{}", out.stdout, out.stderr);
    assert!(out.stdout.contains("job-1  | finishing"), "{}", out.stdout);
    assert!(
        out.stdout.contains("job-1 exited with code 7"),
        "{}",
        out.stdout
    );
    // --abort-on-container-exit stopped the rest.
    assert!(s.ps().iter().all(|c| c["State"] == "exited"));
}

/// Ctrl-C while `up` waits on a dependency: nothing keeps running, the
/// exit code is 130, and `down` still cleans everything.
#[test]
fn ctrl_c_in_the_middle_of_up_leaves_nothing_running() {
    let Some(s) = Stack::new(
        r#"
services:
  slow:
    image: {{busybox}}
    command: ["sh", "-c", "sleep 30"]
    stop_grace_period: 1s
  after:
    image: {{busybox}}
    command: ["sleep", "1000"]
    depends_on:
      slow: {condition: service_completed_successfully}
"#,
    ) else {
        return;
    };
    let mut child = s
        .cmd(&["up", "-d", "--progress", "plain"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn up");
    let stderr = child.stderr.take().expect("stderr");
    let mut lines = BufReader::new(stderr).lines();
    for l in lines.by_ref() {
        let l = l.expect("line");
        if l.contains("Waiting") {
            break;
        }
    }
    nix_kill(child.id(), libc::SIGINT);
    let _rest: Vec<String> = lines.map_while(Result::ok).collect();
    let status = child.wait().expect("wait");
    assert_eq!(status.code(), Some(130));
    let ps = s.ps();
    assert!(ps.iter().all(|c| c["State"] != "running"), "{ps:#?}");
    assert!(ps.iter().all(|c| c["Service"] != "after"), "{ps:#?}");
}

fn nix_kill(pid: u32, sig: i32) {
    // SAFETY: plain kill(2) on our own child.
    unsafe {
        libc::kill(pid as i32, sig);
    }
}

/// A dependency's healthcheck gates its dependents: when `up -d` returns,
/// the dependency is healthy (it took several probes to get there).
#[test]
fn service_healthy_waits_for_the_healthcheck() {
    let Some(s) = Stack::new(
        r#"
services:
  db:
    image: {{busybox}}
    command: ["sh", "-c", "sleep 1; touch /tmp/ready; exec sleep 1000"]
    healthcheck:
      test: ["CMD-SHELL", "test -f /tmp/ready && echo ready"]
      interval: 200ms
      retries: 30
      start_period: 60s
      start_interval: 200ms
  app:
    image: {{busybox}}
    command: ["sleep", "1000"]
    depends_on:
      db: {condition: service_healthy}
"#,
    ) else {
        return;
    };
    s.wharf(&["up", "-d"]).ok();
    let ps = s.ps();
    let db = Stack::container(&ps, &s.name("db-1"));
    assert_eq!(db["Health"], "healthy", "{db:#}");
    assert!(db["Status"]
        .as_str()
        .is_some_and(|t| t.ends_with("(healthy)")));
    assert_eq!(Stack::container(&ps, &s.name("app-1"))["State"], "running");
    let log = s.inspect(&s.name("db-1"))["State"]["Health"]["Log"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(
        log.iter().any(|l| l["ExitCode"] != 0),
        "it was unhealthy first: {log:#?}"
    );
    assert!(
        log.iter()
            .any(|l| l["ExitCode"] == 0 && l["Output"] == "ready\n"),
        "probe output kept: {log:#?}"
    );
}

#[test]
fn unhealthy_dependency_fails_up_and_wait() {
    let Some(s) = Stack::new(
        r#"
services:
  db:
    image: {{busybox}}
    command: ["sleep", "1000"]
    healthcheck:
      test: ["CMD", "false"]
      interval: 100ms
      retries: 2
  app:
    image: {{busybox}}
    command: ["sleep", "1000"]
    depends_on:
      db: {condition: service_healthy}
"#,
    ) else {
        return;
    };
    let out = s.wharf(&["up", "-d"]);
    assert_ne!(out.code, 0);
    assert!(
        out.stderr.contains("db") && out.stderr.contains("unhealthy"),
        "{}",
        out.stderr
    );
    assert!(s.ps().iter().all(|c| c["Service"] != "app"));
    let out = s.wharf(&["up", "-d", "--wait", "db"]);
    assert_ne!(out.code, 0);
    assert!(out.stderr.contains("unhealthy"), "{}", out.stderr);
}

/// `--wait` counts a one-shot that exited 0 as done and returns once the
/// rest is healthy; a hopeless wait ends at --wait-timeout.
#[test]
fn up_wait_accepts_completed_one_shots_and_times_out() {
    let Some(s) = Stack::new(
        r#"
services:
  init:
    image: {{busybox}}
    command: ["true"]
  web:
    image: {{busybox}}
    command: ["sh", "-c", "sleep 0.5; touch /tmp/ok; exec sleep 1000"]
    healthcheck:
      test: ["CMD", "test", "-f", "/tmp/ok"]
      interval: 100ms
      # Failures before the app is ready must not count, however slow
      # the machine: a start period, probed every 100 ms.
      start_period: 60s
      start_interval: 100ms
  never:
    image: {{busybox}}
    command: ["sleep", "1000"]
    healthcheck:
      test: ["CMD", "false"]
      interval: 100ms
      retries: 1000
    profiles: [slow]
"#,
    ) else {
        return;
    };
    s.wharf(&["up", "-d", "--wait"]).ok();
    let ps = s.ps();
    assert_eq!(Stack::container(&ps, &s.name("web-1"))["Health"], "healthy");
    assert_eq!(Stack::container(&ps, &s.name("init-1"))["ExitCode"], 0);
    let out = s.wharf(&[
        "--profile",
        "slow",
        "up",
        "-d",
        "--wait",
        "--wait-timeout",
        "2",
        "never",
    ]);
    assert_ne!(out.code, 0);
    assert!(out.stderr.contains("timed out"), "{}", out.stderr);
}

/// `on-failure:3` restarts three times with back-off, then gives up;
/// `always` keeps coming back until a user stops it, and then stays down.
#[test]
fn restart_policies_retry_back_off_and_respect_stop() {
    let Some(s) = Stack::new(
        r#"
services:
  flaky:
    image: {{busybox}}
    command: ["sh", "-c", "echo attempt; exit 1"]
    restart: on-failure:3
  steady:
    image: {{busybox}}
    command: ["sh", "-c", "echo round; sleep 0.2"]
    restart: always
"#,
    ) else {
        return;
    };
    s.wharf(&["up", "-d"]).ok();
    let flaky = s.name("flaky-1");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let i = s.inspect(&flaky);
        if i["State"]["Status"] == "exited" && i["RestartCount"] == 3 {
            break;
        }
        assert!(Instant::now() < deadline, "never gave up: {i:#}");
        std::thread::sleep(Duration::from_millis(100));
    }
    // It stays down: no fourth restart.
    std::thread::sleep(Duration::from_millis(1500));
    let i = s.inspect(&flaky);
    assert_eq!(i["RestartCount"], 3, "{i:#}");
    assert_eq!(i["State"]["ExitCode"], 1);
    let attempts = s
        .wharf(&["logs", "flaky"])
        .ok()
        .stdout
        .matches("attempt")
        .count();
    assert_eq!(attempts, 4, "one run plus three restarts");

    let steady = s.name("steady-1");
    let deadline = Instant::now() + Duration::from_secs(30);
    while s.inspect(&steady)["RestartCount"].as_u64().unwrap_or(0) < 2 {
        assert!(Instant::now() < deadline, "always did not restart");
        std::thread::sleep(Duration::from_millis(100));
    }
    s.wharf(&["stop", "steady"]).ok();
    let count = s.inspect(&steady)["RestartCount"].clone();
    std::thread::sleep(Duration::from_millis(1500));
    let i = s.inspect(&steady);
    assert_eq!(i["State"]["Status"], "exited", "{i:#}");
    assert_eq!(i["RestartCount"], count, "a manual stop is respected");
}

/// The bridges and nft tables of these networks (by id) that still exist.
/// Other tests run at the same time, so only the stack's own count.
fn net_objects_of(ids: &[String]) -> Vec<String> {
    net_objects()
        .into_iter()
        .filter(|o| ids.iter().any(|id| o.contains(&id[..12])))
        .collect()
}

/// Bridges, veths and nft tables that wharf made, as `ip`/`nft` show them.
fn net_objects() -> Vec<String> {
    let links = Command::new("ip")
        .args(["-o", "link", "show"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    let mut out: Vec<String> = links
        .lines()
        .filter_map(|l| l.split(": ").nth(1))
        .map(|n| n.split('@').next().unwrap_or(n).to_string())
        .filter(|n| n.starts_with("br-") || n.starts_with("veth") || n.starts_with("wharf"))
        .collect();
    let tables = Command::new("nft")
        .args(["list", "tables"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    out.extend(
        tables
            .lines()
            .filter(|l| l.contains("wharf"))
            .map(str::to_string),
    );
    out
}

/// The whole product on the bundled sample: a python app counting visits
/// in redis (found by service name), postgres with a named volume and a
/// healthcheck gating the app, the app's port published on 127.0.0.1.
#[test]
fn sample_stack_up_serves_keeps_data_across_down_and_cleans_up() {
    let Some(s) = Stack::new("services: {}\n") else {
        return;
    };
    let sample =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("compose-samples/python-postgres-redis");
    for entry in [
        "compose.yaml",
        "app/Dockerfile",
        "app/.dockerignore",
        "app/app.py",
        "app/healthcheck.py",
    ] {
        let to = s.dir.path().join(entry);
        std::fs::create_dir_all(to.parent().expect("parent")).expect("mkdir");
        std::fs::copy(sample.join(entry), &to).expect("copy sample");
    }
    let port = free_port();
    let up = |s: &Stack| {
        let out = s
            .cmd(&["up", "-d", "--wait"])
            .env("WEB_PORT", port.to_string())
            .env("WHARF_REGISTRY", format!("{}/wharf-fixtures", s.registry))
            .output()
            .expect("up");
        Run::from(out).ok();
    };
    let psql = |s: &Stack, sql: &str| -> Run {
        s.wharf(&[
            "exec",
            "counter-db-1",
            "psql",
            "-U",
            "counter",
            "-d",
            "counter",
            "-tAc",
            sql,
        ])
    };
    up(&s);
    let nets = s.net_ids();
    let ps = s.ps();
    assert_eq!(ps.len(), 3, "{ps:#?}");
    assert!(ps.iter().all(|c| c["State"] == "running"), "{ps:#?}");
    assert_eq!(Stack::container(&ps, "counter-db-1")["Health"], "healthy");
    // --wait returned once web's own healthcheck passed: it serves at once.
    assert_eq!(Stack::container(&ps, "counter-web-1")["Health"], "healthy");
    // COMMAND is what runs, the image's entrypoint and cmd where compose
    // gives none, as Docker shows it: in full in JSON, cut at 20 in the table.
    assert_eq!(
        Stack::container(&ps, "counter-db-1")["Command"],
        "\"docker-entrypoint.sh postgres\""
    );
    assert_eq!(
        Stack::container(&ps, "counter-redis-1")["Command"],
        "\"redis-server --protected-mode no\""
    );
    let table = s.wharf(&["ps"]).ok().stdout;
    assert!(table.contains("\"docker-entrypoint.s…\""), "{table}");
    let full = s.wharf(&["ps", "--no-trunc"]).ok().stdout;
    assert!(full.contains("\"docker-entrypoint.sh postgres\""), "{full}");
    assert_eq!(http_get(port), "visits: 1\n");
    assert_eq!(http_get(port), "visits: 2\n");
    psql(
        &s,
        "CREATE TABLE notes(x int); INSERT INTO notes VALUES (42)",
    )
    .ok();
    // http.server logs each request on stderr.
    let logs = s.wharf(&["logs", "web"]).ok().stderr;
    assert!(logs.contains("\"GET / HTTP/1.0\" 200"), "{logs}");
    assert!(
        !logs.contains("/healthz"),
        "healthcheck requests logged: {logs}"
    );

    // down keeps named volumes: both stores remember.
    s.wharf(&["down"]).ok();
    assert!(s.ps().is_empty());
    assert_eq!(
        net_objects_of(&nets),
        [] as [String; 0],
        "down left network objects"
    );
    up(&s);
    let nets = s.net_ids();
    assert_eq!(http_get(port), "visits: 3\n");
    assert_eq!(psql(&s, "SELECT x FROM notes").ok().stdout.trim(), "42");

    // down -v forgets everything.
    s.wharf(&["down", "-v"]).ok();
    assert_eq!(
        net_objects_of(&nets),
        [] as [String; 0],
        "down -v left network objects"
    );
    up(&s);
    let nets = s.net_ids();
    assert_eq!(http_get(port), "visits: 1\n");
    let gone = psql(&s, "SELECT x FROM notes");
    assert_ne!(gone.code, 0, "the table survived down -v: {}", gone.stdout);
    s.wharf(&["down", "-v"]).ok();
    assert_eq!(net_objects_of(&nets), [] as [String; 0]);
    // The project's compose file stays for Drop's own `down -v`.
}

/// Services find each other by name on the project's default network;
/// a scaled service's name answers with every replica; a second project
/// cannot reach the first.
#[test]
fn services_talk_by_name_replicas_resolve_and_projects_are_isolated() {
    let Some(s) = Stack::new(
        r#"
services:
  server:
    image: {{busybox}}
    command: ["sh", "-c", "while true; do echo pong | nc -l -p 7777; done"]
    stop_grace_period: 1s
  client:
    image: {{busybox}}
    command: ["sleep", "1000"]
"#,
    ) else {
        return;
    };
    s.wharf(&["up", "-d"]).ok();
    let client = s.name("client-1");
    let ask = |s: &Stack| {
        s.wharf(&[
            "exec",
            &client,
            "sh",
            "-c",
            "nc -w 5 server 7777 </dev/null",
        ])
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let r = ask(&s);
        if r.stdout.trim() == "pong" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no pong by name: {} {}",
            r.stdout,
            r.stderr
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    s.wharf(&["up", "-d", "--scale", "server=3"]).ok();
    let look = s
        .wharf(&["exec", &client, "nslookup", "server"])
        .ok()
        .stdout;
    let addrs: Vec<&str> = look
        .lines()
        .filter(|l| l.starts_with("Address") && !l.contains("127.0.0.11"))
        .collect();
    assert_eq!(addrs.len(), 3, "three replicas: {look}");

    // Another project: its own network, and no route to this one.
    let Some(other) =
        Stack::new("services:\n  probe:\n    image: {{busybox}}\n    command: [sleep, '1000']\n")
    else {
        return;
    };
    other.wharf(&["up", "-d"]).ok();
    let server_ip = look
        .lines()
        .rev()
        .find(|l| l.starts_with("Address") && !l.contains("127.0.0.11"))
        .and_then(|l| l.split_whitespace().last())
        .unwrap_or_default()
        .to_string();
    let r = other.wharf(&[
        "exec",
        &other.name("probe-1"),
        "sh",
        "-c",
        &format!("nc -w 2 {server_ip} 7777 </dev/null; nslookup server"),
    ]);
    assert!(
        !r.stdout.contains("pong"),
        "project isolation broken: {}",
        r.stdout
    );
}

/// The addresses `name` resolves to inside `container` (python image).
fn resolve(s: &Stack, container: &str, name: &str) -> Vec<String> {
    let out = s.wharf(&["exec", container, "python3", "/net.py", "resolve", name]);
    let mut v: Vec<String> = out.stdout.split_whitespace().map(str::to_string).collect();
    v.sort();
    v
}

fn ip_on(s: &Stack, container: &str, network: &str) -> String {
    s.inspect(container)["NetworkSettings"]["Networks"][network]["IPAddress"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// A little network tool for the python containers: resolve a name,
/// connect over TCP, send a UDP datagram, or serve UDP into /tmp/udp.
const NET_PY: &str = r#"
import socket, sys
cmd = sys.argv[1]
if cmd == "resolve":
    try:
        print(" ".join(sorted({a[4][0] for a in socket.getaddrinfo(sys.argv[2], None, socket.AF_INET)})))
    except socket.gaierror:
        sys.exit(1)
elif cmd == "tcp":
    socket.create_connection((sys.argv[2], int(sys.argv[3])), timeout=2).close()
elif cmd == "udp-send":
    socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(sys.argv[4].encode() + b"\n", (sys.argv[2], int(sys.argv[3])))
elif cmd == "udp-serve":
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("0.0.0.0", int(sys.argv[2])))
    while True:
        d, _ = s.recvfrom(512)
        with open("/tmp/udp", "ab") as f:
            f.write(d)
"#;

/// Aliases, two networks and what each side can see; UDP by name; a
/// recreated container's name follows it; published UDP on 127.0.0.1 and
/// a random host port as `port` and `ps` report them; a taken host port
/// fails `up` naming the service and the port; `down` leaves no network.
#[test]
fn networks_aliases_udp_recreate_and_published_ports() {
    let Some(s) = Stack::new(
        r#"
services:
  api:
    image: {{python}}
    command: ["python3", "/net.py", "udp-serve", "9999"]
    volumes: ["./net.py:/net.py:ro"]
    networks:
      front: {aliases: [api-alias]}
      back: {}
    ports: ["127.0.0.1::9999/udp", "8000"]
    stop_grace_period: 1s
  web:
    image: {{python}}
    command: ["sleep", "1000"]
    volumes: ["./net.py:/net.py:ro"]
    networks: [front]
  db:
    image: {{busybox}}
    command: ["sh", "-c", "while true; do echo hi | nc -l -p 7000; done"]
    networks: [back]
networks:
  front: {}
  back: {}
"#,
    ) else {
        return;
    };
    std::fs::write(s.dir.path().join("net.py"), NET_PY).expect("net.py");
    s.wharf(&["up", "-d"]).ok();
    let (api, web, db) = (s.name("api-1"), s.name("web-1"), s.name("db-1"));
    let front = format!("{}_front", s.project());
    let back = format!("{}_back", s.project());
    let api_front = ip_on(&s, &api, &front);
    assert!(!api_front.is_empty());
    assert_eq!(resolve(&s, &web, "api"), vec![api_front.clone()]);
    assert_eq!(resolve(&s, &web, "api-alias"), vec![api_front.clone()]);
    // web is not on `back`: db's name does not resolve and its address is
    // unreachable; api (on both) reaches it by name and address.
    assert!(resolve(&s, &web, "db").is_empty());
    let db_ip = ip_on(&s, &db, &back);
    assert_eq!(resolve(&s, &api, "db"), vec![db_ip.clone()]);
    let tcp = |from: &str| {
        s.wharf(&["exec", from, "python3", "/net.py", "tcp", &db_ip, "7000"])
            .code
    };
    assert_ne!(tcp(&web), 0, "web reached a network it is not on");
    assert_eq!(tcp(&api), 0, "api should reach db on back");

    // UDP by name, and published UDP on 127.0.0.1 at the port `wharf
    // port` reports.
    s.wharf(&[
        "exec", &web, "python3", "/net.py", "udp-send", "api", "9999", "by-name",
    ])
    .ok();
    let udp = s.wharf(&["port", &api, "9999/udp"]).ok().stdout;
    let udp_addr: std::net::SocketAddr = udp.trim().parse().expect("port output");
    assert_eq!(udp_addr.ip().to_string(), "127.0.0.1");
    let sock = std::net::UdpSocket::bind("127.0.0.1:0").expect("udp");
    sock.send_to(b"from-host\n", udp_addr).expect("send");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let got = s.wharf(&["exec", &api, "cat", "/tmp/udp"]).stdout;
        if got.contains("by-name") && got.contains("from-host") {
            break;
        }
        assert!(Instant::now() < deadline, "UDP never arrived: {got:?}");
        std::thread::sleep(Duration::from_millis(200));
    }
    // A random host port for 8000/tcp, shown by `port` and `ps`.
    let tcp_port = s.wharf(&["port", &api, "8000"]).ok().stdout;
    let host_port: u16 = tcp_port
        .lines()
        .next()
        .and_then(|l| l.rsplit(':').next())
        .and_then(|p| p.trim().parse().ok())
        .expect("a host port");
    assert!(host_port > 0);
    let ps = s.ps();
    let ports = Stack::container(&ps, &api)["Ports"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        ports.contains(&format!(":{host_port}->8000/tcp")),
        "{ports}"
    );

    // Recreated: the name follows the new container, no stale answer.
    s.wharf(&["up", "-d", "--force-recreate", "--no-deps", "api"])
        .ok();
    let new_ip = ip_on(&s, &api, &front);
    assert_eq!(resolve(&s, &web, "api"), vec![new_ip]);

    // A host port that is taken fails up, naming the service and the port,
    // and leaves no rules behind.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = taken.local_addr().expect("addr").port();
    s.write(&format!(
        "services:\n  blocked:\n    image: {{{{busybox}}}}\n    command: [sleep, '1000']\n    ports: ['127.0.0.1:{port}:80']\n"
    ));
    let out = s.wharf(&["up", "-d", "--remove-orphans"]);
    assert_ne!(out.code, 0);
    assert!(
        out.stderr.contains("blocked") && out.stderr.contains(&port.to_string()),
        "{}",
        out.stderr
    );
    assert!(s
        .ps()
        .iter()
        .all(|c| c["State"] != "running" || c["Service"] != "blocked"));
    let tables = Command::new("nft")
        .args(["list", "tables"])
        .output()
        .expect("nft");
    assert!(
        !String::from_utf8_lossy(&tables.stdout).contains("wharf-ports"),
        "a failed publish left rules"
    );
    drop(taken);
    s.wharf(&["down", "-v"]).ok();
    let nets = s.wharf(&["network", "ls", "-q"]).ok().stdout;
    assert!(nets.trim().is_empty(), "networks left after down: {nets}");
}

/// `logs --since/--until` cut by the lines' own timestamps; `kill -s`
/// reaches the project's containers.
#[test]
fn logs_since_until_and_project_kill() {
    let Some(s) = Stack::new(
        r#"
services:
  talk:
    image: {{busybox}}
    command: ["sh", "-c", "echo early; sleep 1; echo late; exec sleep 1000"]
"#,
    ) else {
        return;
    };
    s.wharf(&["up", "-d"]).ok();
    let deadline = Instant::now() + Duration::from_secs(20);
    let stamped = loop {
        let out = s.wharf(&["logs", "-t", "--no-log-prefix"]).ok().stdout;
        if out.contains("late") {
            break out;
        }
        assert!(Instant::now() < deadline, "no late line: {out}");
        std::thread::sleep(Duration::from_millis(100));
    };
    let late_time = stamped
        .lines()
        .find(|l| l.ends_with(" late"))
        .and_then(|l| l.split_whitespace().next())
        .expect("timestamp")
        .to_string();
    let since = s.wharf(&["logs", "--since", &late_time]).ok().stdout;
    assert!(
        since.contains("late") && !since.contains("early"),
        "{since}"
    );
    let until = s.wharf(&["logs", "--until", &late_time]).ok().stdout;
    assert!(
        until.contains("early") && !until.contains("late"),
        "{until}"
    );
    let tail = s.wharf(&["logs", "--tail", "1"]).ok().stdout;
    assert!(tail.contains("late") && !tail.contains("early"), "{tail}");

    s.wharf(&["kill", "-s", "KILL", "talk"]).ok();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let c = Stack::container(&s.ps(), &s.name("talk-1")).clone();
        if c["State"] == "exited" {
            assert_eq!(c["ExitCode"], 137);
            break;
        }
        assert!(Instant::now() < deadline, "kill did not land: {c:#}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `logging.options` max-size/max-file rotate the json-file log as
/// Docker's driver does: at most max-file files, the newest lines kept.
#[test]
fn logging_options_rotate_the_log() {
    let Some(s) = Stack::new(
        r#"
services:
  chatty:
    image: {{busybox}}
    command: ["sh", "-c", "i=0; while [ $$i -lt 300 ]; do i=$$((i+1)); echo line $$i padding-padding-padding; done"]
    logging:
      driver: json-file
      options: {max-size: 2k, max-file: "3"}
"#,
    ) else {
        return;
    };
    s.wharf(&["up", "-d"]).ok();
    let id = loop {
        let c = Stack::container(&s.ps(), &s.name("chatty-1")).clone();
        if c["State"] == "exited" {
            break c["ID"].as_str().unwrap_or_default().to_string();
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let dir = s.root.path().join("containers").join(&id);
    let logs: Vec<String> = std::fs::read_dir(&dir)
        .expect("container dir")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("-json.log"))
        .collect();
    assert_eq!(logs.len(), 3, "max-file 3: {logs:?}");
    for f in &logs {
        let size = std::fs::metadata(dir.join(f)).expect("size").len();
        assert!(size <= 2048 + 200, "{f} is {size} bytes");
    }
    let out = s.wharf(&["logs", "--no-log-prefix"]).ok().stdout;
    assert!(out.ends_with("line 300 padding-padding-padding\n"), "{out}");
    assert!(
        !out.contains("line 1 padding"),
        "old lines rotated away: {out}"
    );
}

/// `logging.driver: syslog` sends each line to `syslog-address` (here udp
/// to a listener the test owns) with Docker's priorities (daemon.info for
/// stdout, daemon.err for stderr), `syslog-format` and `tag`, and keeps the
/// local log, so `logs` still reads (Docker's dual logging). `driver: none`
/// keeps nothing: `logs` of that container fails as Docker's engine does,
/// and the project's `logs` warns and goes on, as Compose does (both
/// messages recorded from docker.io and Compose v2.40.3 in a private engine,
/// `start_dockerd` of scripts/bench/dockerd.sh, running `docker logs` and
/// `compose logs` on such a container).
/// `cgroup_parent` puts the container's cgroup under that parent.
#[test]
fn syslog_and_none_log_drivers_and_cgroup_parent() {
    use wharf::runtime::cgroups;
    let server = std::net::UdpSocket::bind("127.0.0.1:0").expect("udp listener");
    server
        .set_read_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");
    let port = server.local_addr().expect("addr").port();
    let parent = format!("wharf-test-parent-{}", std::process::id());
    let Some(s) = Stack::new(
        &r#"
services:
  talk:
    image: {{busybox}}
    command: ["sh", "-c", "echo to-stdout; echo to-stderr >&2"]
    logging:
      driver: syslog
      options:
        syslog-address: "udp://127.0.0.1:PORT"
        syslog-format: rfc5424
        tag: "{{.Name}}/x"
  quiet:
    image: {{busybox}}
    command: ["sh", "-c", "echo hidden; sleep 60"]
    cgroup_parent: /PARENT
    logging: {driver: none}
"#
        .replace("PORT", &port.to_string())
        .replace("PARENT", &parent),
    ) else {
        return;
    };
    s.wharf(&["up", "-d"]).ok();
    let mut got = Vec::new();
    let mut buf = [0u8; 2048];
    for _ in 0..2 {
        let n = server.recv(&mut buf).expect("a syslog message");
        got.push(String::from_utf8_lossy(&buf[..n]).into_owned());
    }
    got.sort();
    let tag = format!("{}/x", s.name("talk-1"));
    // <27> = daemon(3)*8 + err(3); <30> = daemon*8 + info(6).
    assert!(got[0].starts_with("<27>1 "), "{got:?}");
    assert!(
        got[0].ends_with(&format!(" {tag} - to-stderr\n")),
        "{got:?}"
    );
    assert!(got[1].starts_with("<30>1 "), "{got:?}");
    assert!(
        got[1].ends_with(&format!(" {tag} - to-stdout\n")),
        "{got:?}"
    );
    let logs = s.wharf(&["logs", "--no-log-prefix", "talk"]).ok().stdout;
    assert!(logs.contains("to-stdout"), "{logs}");
    let log_config = &s.inspect(&s.name("talk-1"))["HostConfig"]["LogConfig"];
    assert_eq!(log_config["Type"], "syslog");
    assert_eq!(log_config["Config"]["syslog-format"], "rfc5424");

    let quiet = s.name("quiet-1");
    s.until("quiet runs", || {
        Stack::container(&s.ps(), &quiet)["State"] == "running"
    });
    let single = s.wharf_in(s.root.path(), &["logs", &quiet]);
    assert_eq!(single.code, 1, "{}", single.stderr);
    assert_eq!(
        single.stderr,
        "Error response from daemon: configured logging driver does not support reading\n"
    );
    let project = s.wharf(&["logs", "quiet"]).ok();
    assert!(!project.stdout.contains("hidden"), "{}", project.stdout);
    assert!(
        project.stderr.contains(
            "Can't retrieve logs for \"QUIET\": Error response from daemon: configured logging driver does not support reading"
                .replace("QUIET", &quiet)
                .as_str()
        ),
        "{}",
        project.stderr
    );

    let id = Stack::container(&s.ps(), &quiet)["ID"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let full = s.inspect(&quiet)["Id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let host_config = &s.inspect(&quiet)["HostConfig"];
    assert_eq!(host_config["LogConfig"]["Type"], "none");
    assert_eq!(host_config["CgroupParent"], format!("/{parent}"));
    assert!(full.starts_with(&id), "{full} / {id}");
    let pids = cgroups::procs(
        Path::new(cgroups::DEFAULT_ROOT),
        &format!("/{parent}/{full}"),
    )
    .expect("the container's cgroup under its parent");
    assert!(!pids.is_empty(), "no process in /{parent}/{full}");
    s.wharf(&["down", "-t", "0"]).ok();
    // The container's cgroup goes; the parent stays, as under Docker (it is
    // this test's to remove).
    harness::remove_cgroup_parent(&parent, &full);
}

/// `logging.driver: none` keeps no log, but the output still reaches a
/// foreground `up`, as Compose's attach streams it from Docker (the attach
/// API does not go through the log driver); `logs` still refuses.
#[test]
fn none_log_driver_still_streams_to_a_foreground_up() {
    let Some(s) = Stack::new(
        r#"
services:
  quiet:
    image: {{busybox}}
    command: ["sh", "-c", "echo seen-while-attached; echo on-stderr >&2"]
    logging: {driver: none}
"#,
    ) else {
        return;
    };
    let up = s.wharf(&["up", "--no-color"]);
    assert_eq!(up.code, 0, "{}", up.stderr);
    // Container stderr goes to up's stderr, as Compose's log consumer does.
    for (line, out) in [
        ("quiet-1 | seen-while-attached", &up.stdout),
        ("quiet-1 | on-stderr", &up.stderr),
    ] {
        assert!(out.lines().any(|l| l == line), "{line:?} in {out}");
    }
    let logs = s.wharf(&["logs", "quiet"]);
    assert!(
        !logs.stdout.contains("seen-while-attached"),
        "{}",
        logs.stdout
    );
    assert!(
        logs.stderr.contains("does not support reading"),
        "{}",
        logs.stderr
    );
}

/// GPUs through CDI: a spec the test writes (WHARF_CDI_SPEC_DIRS) exposes
/// /dev/null as `nvidia.com/gpu=0` with an environment variable; `gpus:`
/// and a CDI name under `devices:` give the container that node and
/// variable. Without a spec, `up` refuses naming the key and makes nothing.
#[test]
fn gpus_and_cdi_devices_come_from_cdi_specs() {
    let Some(s) = Stack::new(
        r#"
services:
  train:
    image: {{busybox}}
    command: ["sh", "-c", "ls -ln /dev/nvidia0 /dev/fpga; echo mark=$$GPU_MARK"]
    gpus: all
    devices: ["example.com/fpga=a"]
"#,
    ) else {
        return;
    };
    let cdi = tempfile::tempdir().expect("cdi dir");
    std::fs::write(
        cdi.path().join("gpu.yaml"),
        "cdiVersion: 0.6.0\nkind: nvidia.com/gpu\ndevices:\n  - name: \"0\"\n    containerEdits:\n      deviceNodes: [{path: /dev/nvidia0, hostPath: /dev/null}]\ncontainerEdits:\n  env: [GPU_MARK=from-cdi]\n",
    )
    .expect("gpu spec");
    std::fs::write(
        cdi.path().join("fpga.json"),
        r#"{"cdiVersion": "0.6.0", "kind": "example.com/fpga", "devices": [{"name": "a", "containerEdits": {"deviceNodes": [{"path": "/dev/fpga", "hostPath": "/dev/zero"}]}}]}"#,
    )
    .expect("fpga spec");

    let none = Run::from(
        s.cmd(&["up", "-d"])
            .env("WHARF_CDI_SPEC_DIRS", cdi.path().join("missing"))
            .output()
            .expect("up"),
    );
    assert_ne!(none.code, 0, "{}", none.stdout);
    assert!(
        none.stderr
            .contains("services.train.gpus: no GPU on this host"),
        "{}",
        none.stderr
    );
    assert!(s.ps().is_empty(), "nothing made: {:?}", s.ps());
    let nets = s.wharf(&["network", "ls"]).ok().stdout;
    assert!(!nets.contains(&s.project()), "no network made: {nets}");

    Run::from(
        s.cmd(&["up", "-d"])
            .env("WHARF_CDI_SPEC_DIRS", cdi.path())
            .output()
            .expect("up"),
    )
    .ok();
    let name = s.name("train-1");
    s.until("train exits", || {
        Stack::container(&s.ps(), &name)["State"] == "exited"
    });
    let out = s.wharf(&["logs", "--no-log-prefix"]).ok().stdout;
    // /dev/null is char 1,3 and /dev/zero 1,5, whatever name they have.
    let line = |dev: &str| {
        out.lines()
            .find(|l| l.ends_with(dev))
            .unwrap_or_else(|| panic!("no {dev} in {out}"))
            .to_string()
    };
    // `crw-rw-rw- 1 0 0 1, 3 … /dev/nvidia0`: type, then major and minor.
    let node = |dev: &str| {
        let l = line(dev);
        let t: Vec<&str> = l.split_whitespace().collect();
        let major = t.iter().position(|w| w.ends_with(',')).expect("major,");
        (
            l.chars().next(),
            t[major].to_string(),
            t[major + 1].to_string(),
        )
    };
    assert_eq!(
        node("/dev/nvidia0"),
        (Some('c'), "1,".into(), "3".into()),
        "{out}"
    );
    assert_eq!(
        node("/dev/fpga"),
        (Some('c'), "1,".into(), "5".into()),
        "{out}"
    );
    assert!(out.contains("mark=from-cdi\n"), "{out}");
}

/// `platform:` pulls that platform's manifest from an index (the
/// `multiarch` fixture: amd64 and arm64 entries); a foreign architecture
/// this host cannot run (no binfmt_misc handler) is refused at `up`,
/// naming file, line and key, before anything is made; the host's own
/// platform replaces a stored image of another platform and runs.
#[test]
fn platform_pulls_that_manifest_and_refuses_a_foreign_arch() {
    let (native, foreign) = match std::env::consts::ARCH {
        "aarch64" => ("linux/arm64", "linux/amd64"),
        _ => ("linux/amd64", "linux/arm64"),
    };
    let Some(s) = Stack::new("services: {}\n") else {
        return;
    };
    let multi = s.image("multiarch");
    let compose = |platform: &str| {
        format!("services:\n  app:\n    image: {multi}\n    platform: {platform}\n    command: [\"true\"]\n")
    };
    let arch = || -> String {
        let v: serde_json::Value =
            serde_json::from_str(&s.store(&["image", "inspect", &multi]).ok().stdout)
                .expect("inspect json");
        v[0]["platform"]["architecture"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };
    s.write(&compose(foreign));
    s.wharf(&["pull"]).ok();
    assert_eq!(format!("linux/{}", arch()), foreign);
    let qemu = if foreign == "linux/arm64" {
        "qemu-aarch64"
    } else {
        "qemu-x86_64"
    };
    let emulated = std::fs::read_dir("/proc/sys/fs/binfmt_misc")
        .into_iter()
        .flatten()
        .flatten()
        .any(|e| e.file_name().to_string_lossy().starts_with(qemu));
    if emulated {
        eprintln!("this host emulates {foreign}: the refusal is not checked");
    } else {
        let up = s.wharf(&["up", "-d"]);
        assert_ne!(up.code, 0, "{}", up.stdout);
        assert!(
            up.stderr.contains(&format!(
                "compose.yaml:4: services.app.platform: {foreign}: this {native} host has no enabled binfmt_misc handler for {qemu}"
            )),
            "{}",
            up.stderr
        );
        assert!(s.ps().is_empty(), "nothing made: {:?}", s.ps());
    }
    s.write(&compose(native));
    s.wharf(&["up", "-d"]).ok();
    assert_eq!(format!("linux/{}", arch()), native);
    let name = s.name("app-1");
    s.until("app exits", || {
        Stack::container(&s.ps(), &name)["State"] == "exited"
    });
    assert_eq!(Stack::container(&s.ps(), &name)["ExitCode"], 0);
}

/// `ipc: shareable` with `ipc: service:x`, `pid: service:x`, `uts: host`
/// and `userns_mode: host` (no user namespace: wharf's default), as Docker
/// runs them: b shares a's IPC and PID namespaces, a has the host's name.
#[test]
fn shared_ipc_pid_and_host_uts_namespaces() {
    let Some(s) = Stack::new(
        r#"
services:
  a:
    image: {{busybox}}
    command: ["sleep", "1000"]
    stop_grace_period: 1s
    ipc: shareable
    uts: host
    userns_mode: host
  b:
    image: {{busybox}}
    command: ["sleep", "1001"]
    stop_grace_period: 1s
    ipc: service:a
    pid: service:a
"#,
    ) else {
        return;
    };
    s.wharf(&["up", "-d"]).ok();
    let ns = |svc: &str, kind: &str| s.exec(svc, &format!("readlink /proc/self/ns/{kind}"));
    assert_eq!(
        ns("a-1", "ipc"),
        ns("b-1", "ipc"),
        "b joins a's IPC namespace"
    );
    assert_eq!(
        ns("a-1", "pid"),
        ns("b-1", "pid"),
        "b joins a's PID namespace"
    );
    let own_ipc = std::fs::read_link("/proc/self/ns/ipc").expect("own ipc ns");
    assert_ne!(
        ns("a-1", "ipc").trim(),
        own_ipc.to_string_lossy(),
        "a has its own"
    );
    let seen = s.exec("b-1", "ps -o args");
    assert!(seen.contains("sleep 1000"), "b sees a's process: {seen}");
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").expect("hostname");
    assert_eq!(s.exec("a-1", "hostname"), host, "uts: host");
    assert_eq!(
        ns("a-1", "uts").trim(),
        std::fs::read_link("/proc/self/ns/uts")
            .expect("uts")
            .to_string_lossy()
    );
}

/// `ipc: service:x` when x's IPC is private (Docker's default): Compose
/// v2.40.3 against a private engine starts x, creates the joiner, then
/// fails its start with the engine's words and exit 1 (recorded by hand:
/// `Error response from daemon: can't join IPC of container <x's id>:
/// non-shareable IPC (hint: use IpcMode:shareable for the donor
/// container)`; wharf has no daemon, so no "Error response" prefix).
#[test]
fn joining_a_private_ipc_namespace_is_refused_as_docker_refuses_it() {
    let Some(s) = Stack::new(
        r#"
services:
  donor:
    image: {{busybox}}
    command: ["sleep", "1000"]
    stop_grace_period: 1s
  user:
    image: {{busybox}}
    command: ["sleep", "1001"]
    stop_grace_period: 1s
    ipc: service:donor
"#,
    ) else {
        return;
    };
    let up = s.wharf(&["up", "-d"]);
    assert_eq!(up.code, 1, "{}", up.stderr);
    let donor = s.name("donor-1");
    let id = s.inspect(&donor)["Id"]
        .as_str()
        .expect("donor id")
        .to_string();
    let want = format!("can't join IPC of container {id}: non-shareable IPC (hint: use IpcMode:shareable for the donor container)");
    assert!(up.stderr.contains(&want), "{want:?} not in {}", up.stderr);
    let ps = s.ps();
    assert_eq!(Stack::container(&ps, &donor)["State"], "running");
    assert_eq!(Stack::container(&ps, &s.name("user-1"))["State"], "created");
}

/// GPUs without a CDI spec: as Docker falls back to it, the
/// nvidia-container-toolkit hook found on PATH runs at prestart with the
/// OCI state on its standard input, and the container gets
/// NVIDIA_VISIBLE_DEVICES and NVIDIA_DRIVER_CAPABILITIES. This machine has
/// no GPU: the hook is a script that records how it was called.
#[test]
fn gpus_without_cdi_specs_run_the_nvidia_hook() {
    let Some(s) = Stack::new(
        r#"
services:
  train:
    image: {{busybox}}
    command: ["sh", "-c", "echo visible=$$NVIDIA_VISIBLE_DEVICES caps=$$NVIDIA_DRIVER_CAPABILITIES"]
    deploy:
      resources:
        reservations:
          devices: [{capabilities: [gpu, utility], count: 2}]
"#,
    ) else {
        return;
    };
    let bin = tempfile::tempdir().expect("bin dir");
    let hook = bin.path().join("nvidia-container-runtime-hook");
    let calls = bin.path().join("calls");
    std::fs::write(
        &hook,
        format!(
            "#!/bin/sh\necho \"$@\" >> {0}\ncat > {0}.state\n",
            calls.display()
        ),
    )
    .expect("hook");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let path = format!(
        "{}:{}",
        bin.path().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    Run::from(
        s.cmd(&["up", "-d"])
            .env("PATH", &path)
            .env("WHARF_CDI_SPEC_DIRS", bin.path().join("no-cdi"))
            .output()
            .expect("up"),
    )
    .ok();
    let name = s.name("train-1");
    s.until("train exits", || {
        Stack::container(&s.ps(), &name)["State"] == "exited"
    });
    let out = s.wharf(&["logs", "--no-log-prefix"]).ok().stdout;
    assert_eq!(out, "visible=0,1 caps=utility\n");
    assert_eq!(
        std::fs::read_to_string(&calls).expect("the hook ran"),
        "prestart\n"
    );
    let state: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(calls.with_extension("state")).expect("state"),
    )
    .expect("OCI state on stdin");
    assert!(state["pid"].as_u64().is_some_and(|p| p > 0), "{state}");
}

fn sigkill(pid: u32) {
    nix_kill(pid, 9);
    let deadline = Instant::now() + Duration::from_secs(10);
    while Path::new(&format!("/proc/{pid}")).exists()
        && !std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .unwrap_or_default()
            .contains(") Z")
    {
        assert!(Instant::now() < deadline, "{pid} survived SIGKILL");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// No daemon: every container has a monitor process. SIGKILL them all and
/// the containers keep running; the next wharf command has new monitors
/// take over, so `ps`, `logs` (nothing lost meanwhile), DNS, the published
/// port, the restart policy and `down` all work as before.
#[test]
fn killed_monitors_are_replaced_and_nothing_is_lost() {
    let port = free_port();
    let Some(s) = Stack::new(&format!(
        r#"
services:
  counter:
    image: {{{{busybox}}}}
    command: ["sh", "-c", "i=0; while :; do i=$$((i+1)); echo line $$i; sleep 0.02; done"]
    stop_grace_period: 1s
  web:
    image: {{{{busybox}}}}
    command: ["sh", "-c", "mkdir -p /srv && echo served > /srv/index.html && exec httpd -f -p 8000 -h /srv"]
    ports: ["{port}:8000", "8001"]
    stop_grace_period: 1s
  keeper:
    image: {{{{busybox}}}}
    command: ["sleep", "1000"]
    restart: always
"#
    )) else {
        return;
    };
    s.wharf(&["up", "-d"]).ok();
    assert!(http_get(port).contains("served"));
    let names = ["counter-1", "web-1", "keeper-1"].map(|n| s.name(n));
    let before: Vec<(String, u32)> = names
        .iter()
        .map(|n| {
            let i = s.inspect(n);
            let id = i["Id"].as_str().expect("id").to_string();
            let pid = i["State"]["Pid"].as_u64().expect("pid") as u32;
            (id, pid)
        })
        .collect();
    let random_port = s.wharf(&["port", "web", "8001"]).ok().stdout;
    let old_monitors: Vec<u32> = before
        .iter()
        .flat_map(|(id, _)| harness::monitors_of(id))
        .collect();
    assert_eq!(old_monitors.len(), 3, "one monitor per container");
    for m in &old_monitors {
        sigkill(*m);
    }
    // Nobody reads the counter's output for a while; it must wait in its
    // FIFO, and the containers must not notice.
    std::thread::sleep(Duration::from_millis(1500));
    for (_, pid) in &before {
        assert!(
            Path::new(&format!("/proc/{pid}")).exists(),
            "container {pid} died with its monitor"
        );
    }

    let ps = s.ps();
    for n in &names {
        assert_eq!(Stack::container(&ps, n)["State"], "running", "{ps:#?}");
    }
    for (id, pid) in &before {
        let now = harness::monitors_of(id);
        assert_eq!(now.len(), 1, "one new monitor for {id}: {now:?}");
        assert!(!old_monitors.contains(&now[0]));
        assert_eq!(
            s.inspect(id)["State"]["Pid"],
            *pid,
            "the same container process"
        );
    }
    // The published ports (the random one unchanged) and the embedded DNS
    // are back.
    assert!(http_get(port).contains("served"));
    assert_eq!(s.wharf(&["port", "web", "8001"]).ok().stdout, random_port);
    let resolved = s.wharf(&["exec", &names[1], "nslookup", "counter"]);
    assert_eq!(resolved.code, 0, "{}{}", resolved.stdout, resolved.stderr);

    // Every line, once and in order, across the monitor's death.
    std::thread::sleep(Duration::from_millis(300));
    let logs = s.wharf(&["logs", "--no-log-prefix", "counter"]).ok().stdout;
    let numbers: Vec<u64> = logs
        .lines()
        .filter_map(|l| l.strip_prefix("line "))
        .map(|n| n.trim().parse().expect("number"))
        .collect();
    assert!(numbers.len() > 50, "{} lines", numbers.len());
    let expected: Vec<u64> = (1..=numbers.len() as u64).collect();
    assert_eq!(numbers, expected, "lines lost or repeated");

    // The restart policy is the new monitor's now: kill the container...
    let keeper = &names[2];
    sigkill(before[2].1);
    let wait_restarts = |n: u64| {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let i = s.inspect(keeper);
            if i["RestartCount"] == n && i["State"]["Status"] == "running" {
                return i;
            }
            assert!(Instant::now() < deadline, "no restart {n}: {i:#}");
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    let i = wait_restarts(1);
    // ...and both it and its monitor: the next command cleans up after
    // them and brings it back.
    let id = before[2].0.clone();
    let monitor = harness::monitors_of(&id);
    assert_eq!(monitor.len(), 1);
    sigkill(monitor[0]);
    sigkill(i["State"]["Pid"].as_u64().expect("pid") as u32);
    wait_restarts(2);

    let nets = s.net_ids();
    s.wharf(&["down", "-t", "1"]).ok();
    for (id, pid) in &before {
        assert!(
            harness::monitors_of(id).is_empty(),
            "a monitor of {id} outlived down"
        );
        assert!(
            !Path::new(&format!("/proc/{pid}")).exists()
                || std::fs::read_to_string(format!("/proc/{pid}/stat"))
                    .unwrap_or_default()
                    .contains(") Z")
        );
    }
    assert_eq!(net_objects_of(&nets), [] as [String; 0]);
}

/// Two `up` at once on one project: one waits for the other, and the
/// project ends up with one container per service, all running.
#[test]
fn concurrent_ups_on_one_project_serialize() {
    let Some(s) = Stack::new(
        r#"
services:
  a:
    image: {{busybox}}
    command: ["sleep", "1000"]
    stop_grace_period: 1s
  b:
    image: {{busybox}}
    command: ["sleep", "1000"]
    depends_on: [a]
    deploy: {replicas: 2}
    stop_grace_period: 1s
"#,
    ) else {
        return;
    };
    let ups: Vec<std::process::Child> = (0..3)
        .map(|_| {
            s.cmd(&["up", "-d"])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("spawn up")
        })
        .collect();
    for up in ups {
        let out = Run::from(up.wait_with_output().expect("up"));
        assert_eq!(out.code, 0, "{}", out.stderr);
    }
    let ps = s.ps();
    let mut names: Vec<&str> = ps.iter().filter_map(|c| c["Name"].as_str()).collect();
    names.sort();
    let p = s.project();
    assert_eq!(
        names,
        [format!("{p}-a-1"), format!("{p}-b-1"), format!("{p}-b-2")]
    );
    assert!(ps.iter().all(|c| c["State"] == "running"), "{ps:#?}");
}

/// An `up` that fails half-way (an image that does not exist, after other
/// services were created) exits non-zero naming the image, and `down`
/// removes everything it made.
#[test]
fn up_failing_half_way_leaves_nothing_down_cannot_remove() {
    let Some(s) = Stack::new(
        r#"
services:
  ok:
    image: {{busybox}}
    command: ["sleep", "1000"]
    stop_grace_period: 1s
    volumes: [data:/data]
  broken:
    image: {{busybox}}-does-not-exist
    depends_on: [ok]
volumes:
  data: {}
"#,
    ) else {
        return;
    };
    let up = s.wharf(&["up", "-d"]);
    let nets = s.net_ids();
    assert_ne!(up.code, 0);
    assert!(
        up.stderr.contains("busybox:latest-does-not-exist"),
        "{}",
        up.stderr
    );
    s.wharf(&["down", "-v"]).ok();
    assert!(s.ps().is_empty());
    assert_eq!(net_objects_of(&nets), [] as [String; 0]);
}

/// What a container run leaves on the host under the stack's root:
/// container dirs, mounts, network namespaces, volumes.
fn footprint(s: &Stack) -> (usize, usize, usize, usize) {
    let count = |p: std::path::PathBuf| std::fs::read_dir(p).map(|d| d.count()).unwrap_or(0);
    let root = s.root.path().to_string_lossy().into_owned();
    let mounts = std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains(&root))
        .count();
    (
        count(s.root.path().join("containers")),
        mounts,
        count(s.root.path().join("run").join("netns")),
        count(s.root.path().join("volumes")),
    )
}

const ONEOFF: &str = r#"
services:
  db:
    image: {{busybox}}
    command: [sleep, "1000"]
    stop_grace_period: 1s
  web:
    image: {{busybox}}
    command: [sleep, "1000"]
    environment: {GREETING: hello}
    depends_on: [db]
    ports: ["127.0.0.1:PORT:80"]
    stop_grace_period: 1s
"#;

/// `run --rm SERVICE`: its dependency is started, the command's exit code
/// is wharf's, and nothing of the one-off is left (container, mounts,
/// netns, its anonymous volume).
#[test]
fn run_rm_starts_deps_passes_the_exit_code_and_leaves_nothing() {
    let Some(s) = Stack::new(&ONEOFF.replace("PORT", &free_port().to_string())) else {
        return;
    };
    s.wharf(&["up", "-d", "db"]).ok();
    let before = footprint(&s);
    let out = s.wharf(&[
        "run",
        "--rm",
        "-v",
        "/scratch",
        "-e",
        "EXTRA=x",
        "web",
        "sh",
        "-c",
        "echo $GREETING $EXTRA; touch /scratch/f && exit 3",
    ]);
    assert_eq!(out.code, 3, "{}", out.stderr);
    assert!(out.stdout.contains("hello x"), "{}", out.stdout);
    assert_eq!(footprint(&s), before, "run --rm left something behind");
    assert!(
        s.ps().iter().all(|c| c["Service"] != "web"),
        "{:#?}",
        s.ps()
    );

    // Without a running db, run starts it first (and only it).
    s.wharf(&["stop", "-t", "0"]).ok();
    let out = s.wharf(&["run", "--rm", "web", "true"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let ps = s.ps();
    assert_eq!(ps.len(), 1, "{ps:#?}");
    assert_eq!(Stack::container(&ps, &s.name("db-1"))["State"], "running");
    // --no-deps leaves a stopped dependency stopped.
    s.wharf(&["stop", "-t", "0"]).ok();
    s.wharf(&["run", "--rm", "--no-deps", "web", "true"]).ok();
    assert_eq!(
        Stack::container(&s.ps(), &s.name("db-1"))["State"],
        "exited"
    );
}

/// A one-off carries Compose's labels and name, is listed only by `ps -a`,
/// survives a plain `down` (as in Compose) and goes with `down
/// --remove-orphans`; `run -d --rm` removes itself when it exits.
#[test]
fn oneoff_labels_ps_and_down_remove_orphans() {
    let Some(s) = Stack::new(&ONEOFF.replace("PORT", &free_port().to_string())) else {
        return;
    };
    let id = s
        .wharf(&["run", "-d", "-l", "purpose=test", "web"])
        .ok()
        .stdout
        .trim()
        .to_string();
    assert_eq!(id.len(), 64, "run -d prints the id: {id}");
    let visible = s.wharf(&["ps", "--format", "json"]).ok().stdout;
    assert!(
        !visible.contains(&id),
        "ps without -a lists no one-off: {visible}"
    );
    let ps = s.ps();
    let oneoff = ps
        .iter()
        .find(|c| c["ID"] == id.as_str())
        .expect("in ps -a");
    let name = oneoff["Name"].as_str().unwrap_or_default();
    let prefix = format!("{}-web-run-", s.project());
    let suffix = name
        .strip_prefix(&prefix)
        .unwrap_or_else(|| panic!("{name}"));
    assert!(
        suffix.len() == 12 && suffix.chars().all(|c| c.is_ascii_hexdigit()),
        "{name}"
    );
    let labels = &oneoff["Labels"];
    assert_eq!(labels["com.docker.compose.oneoff"], "True");
    assert_eq!(labels["com.docker.compose.service"], "web");
    assert_eq!(labels["purpose"], "test");
    let slug = labels["com.docker.compose.slug"]
        .as_str()
        .unwrap_or_default();
    assert!(slug.len() == 64 && slug.starts_with(suffix), "{slug}");
    assert!(labels.get("com.docker.compose.container-number").is_none());
    assert_eq!(oneoff["State"], "running");
    assert_eq!(oneoff["Publishers"], serde_json::json!([]));

    s.wharf(&["down", "-t", "0"]).ok();
    let left = s.ps();
    assert_eq!(left.len(), 1, "plain down keeps the one-off: {left:#?}");
    assert_eq!(left[0]["ID"], id.as_str());
    s.wharf(&["down", "--remove-orphans", "-t", "0"]).ok();
    assert!(s.ps().is_empty());

    // -d --rm: the monitor removes the one-off once it exits.
    let before = footprint(&s);
    s.wharf(&[
        "run",
        "-d",
        "--rm",
        "--no-deps",
        "web",
        "sh",
        "-c",
        "sleep 0.5",
    ])
    .ok();
    // `ps` forgets it first (the record goes first); its files follow.
    let deadline = Instant::now() + Duration::from_secs(30);
    while !s.ps().is_empty() || footprint(&s) != before {
        assert!(
            Instant::now() < deadline,
            "run -d --rm never removed itself: {:?} left, {:?} before",
            footprint(&s),
            before
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Reads what `port` answers (the one-off's `nc` server says "pong").
fn tcp_read(port: u16) -> std::io::Result<String> {
    use std::io::Read;
    let mut c = std::net::TcpStream::connect(("127.0.0.1", port))?;
    c.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut out = String::new();
    c.read_to_string(&mut out)?;
    Ok(out)
}

/// `run` publishes nothing by default; `--service-ports` publishes the
/// service's ports and `-p` its own.
#[test]
fn run_publishes_ports_only_with_service_ports_or_p() {
    let port = free_port();
    let Some(s) = Stack::new(&ONEOFF.replace("PORT", &port.to_string())) else {
        return;
    };
    let serve = ["sh", "-c", "while true; do echo pong | nc -l -p 80; done"];
    let plain = s.wharf(&[&["run", "-d", "--no-deps", "web"][..], &serve].concat());
    let plain = plain.ok().stdout.trim().to_string();
    std::thread::sleep(Duration::from_millis(500));
    assert!(tcp_read(port).is_err(), "published without --service-ports");
    let ps = s.ps();
    let c = ps.iter().find(|c| c["ID"] == plain.as_str()).expect("ps");
    assert_eq!(c["Publishers"], serde_json::json!([]));
    s.wharf(&["down", "--remove-orphans", "-t", "0"]).ok();

    let with = s
        .wharf(
            &[
                &["run", "-d", "--no-deps", "--service-ports", "web"][..],
                &serve,
            ]
            .concat(),
        )
        .ok()
        .stdout;
    let deadline = Instant::now() + Duration::from_secs(20);
    let answer = loop {
        match tcp_read(port) {
            Ok(a) if a.contains("pong") => break a,
            other => {
                assert!(Instant::now() < deadline, "no answer on {port}: {other:?}");
                std::thread::sleep(Duration::from_millis(200));
            }
        }
    };
    assert_eq!(answer.trim(), "pong");
    let ps = s.ps();
    let c = ps.iter().find(|c| c["ID"] == with.trim()).expect("ps");
    assert_eq!(c["Publishers"][0]["PublishedPort"], port);

    let other = free_port();
    let p = format!("127.0.0.1:{other}:80");
    let out = s.wharf(&["run", "-d", "--no-deps", "--service-ports", "-p", &p, "web"]);
    assert_ne!(out.code, 0, "--service-ports with -p is refused");
    s.wharf(&[&["run", "-d", "--no-deps", "-p", &p, "web"][..], &serve].concat())
        .ok();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !tcp_read(other).is_ok_and(|a| a.contains("pong")) {
        assert!(Instant::now() < deadline, "-p {p} does not answer");
        std::thread::sleep(Duration::from_millis(200));
    }
    s.wharf(&["down", "--remove-orphans", "-t", "0"]).ok();
}

/// `exec` on a service from a terminal: a tty of its own with our window
/// size, Ctrl-C interrupts the container's foreground command, the
/// shell's exit code is wharf's.
#[test]
fn exec_it_on_a_service_through_a_pty() {
    let Some(s) = Stack::new(&ONEOFF.replace("PORT", &free_port().to_string())) else {
        return;
    };
    s.wharf(&["up", "-d"]).ok();
    let mut pty = Pty::open(33, 101);
    let cmd = s.cmd(&["exec", "web", "sh"]);
    let mut child = pty.spawn(cmd);
    let wait = Duration::from_secs(30);
    pty.send(b"tty\n");
    let at = pty.expect("/dev/pts/", 0, wait);
    pty.send(b"stty size\n");
    let at = pty.expect("33 101", at, wait);
    pty.send(b"sleep 100\n");
    std::thread::sleep(Duration::from_millis(800));
    let sent = Instant::now();
    pty.send(&[0x03]);
    // The interrupt flushes the terminal's pending input: type on after it.
    std::thread::sleep(Duration::from_millis(500));
    pty.send(b"echo rc=$?\n");
    pty.expect("rc=130", at, wait);
    assert!(
        sent.elapsed() < Duration::from_secs(60),
        "Ctrl-C did not stop sleep"
    );
    pty.send(b"exit 7\n");
    let deadline = Instant::now() + wait;
    let status = loop {
        if let Some(st) = child.try_wait().expect("wait exec") {
            break st;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("exec did not end: {:?}", pty.seen());
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(status.code(), Some(7));
}

/// `scale` adds and removes replicas; `exec --index` picks one of them.
#[test]
fn scale_up_and_down_and_exec_index() {
    let Some(s) = Stack::new(&ONEOFF.replace("    ports: [\"127.0.0.1:PORT:80\"]\n", "")) else {
        return;
    };
    s.wharf(&["up", "-d"]).ok();
    s.wharf(&["scale", "web=3"]).ok();
    let ps = s.ps();
    for n in ["web-1", "web-2", "web-3"] {
        assert_eq!(Stack::container(&ps, &s.name(n))["State"], "running");
    }
    let id2 = Stack::container(&ps, &s.name("web-2"))["ID"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let host = s
        .wharf(&["exec", "-T", "--index", "2", "web", "hostname"])
        .ok()
        .stdout;
    assert_eq!(host.trim(), &id2[..12]);
    let missing = s.wharf(&["exec", "-T", "--index", "5", "web", "true"]);
    assert_eq!(missing.code, 1);
    assert!(
        missing.stderr.contains("not running container #5"),
        "{}",
        missing.stderr
    );

    s.wharf(&["scale", "web=1"]).ok();
    let ps = s.ps();
    let web: Vec<&serde_json::Value> = ps.iter().filter(|c| c["Service"] == "web").collect();
    assert_eq!(web.len(), 1, "{ps:#?}");
    assert_eq!(web[0]["Name"], s.name("web-1").as_str());
    // Exit code through exec without a terminal.
    let out = s.wharf(&["exec", "web", "sh", "-c", "exit 4"]);
    assert_eq!(out.code, 4, "{}", out.stderr);
}

/// `attach SERVICE`: the running container's output from now on; a
/// signal to wharf reaches the container, whose exit code is wharf's.
#[test]
fn attach_streams_output_and_proxies_signals() {
    let Some(s) = Stack::new(
        r#"
services:
  ticker:
    image: {{busybox}}
    command: ["sh", "-c", "trap 'echo bye; exit 5' TERM; i=0; while true; do i=$$((i+1)); echo tick $$i; sleep 0.2; done"]
"#,
    ) else {
        return;
    };
    s.wharf(&["up", "-d"]).ok();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !s.wharf(&["logs", "ticker"]).stdout.contains("tick 5\n") {
        assert!(Instant::now() < deadline, "ticker does not tick");
        std::thread::sleep(Duration::from_millis(100));
    }
    let mut child = s
        .cmd(&["attach", "ticker"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn attach");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let first = lines.next().and_then(Result::ok).unwrap_or_default();
    assert!(first.starts_with("tick "), "{first}");
    let n: u32 = first[5..].parse().expect("tick number");
    assert!(
        n > 5,
        "attach starts from now, not the log's start: {first}"
    );
    let second = lines.next().and_then(Result::ok).unwrap_or_default();
    assert_eq!(second, format!("tick {}", n + 1));
    nix_kill(child.id(), libc::SIGTERM);
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    let status = child.wait().expect("wait attach");
    assert!(rest.iter().any(|l| l == "bye"), "{rest:?}");
    assert_eq!(status.code(), Some(5));
    assert_eq!(
        Stack::container(&s.ps(), &s.name("ticker-1"))["State"],
        "exited"
    );
    let stopped = s.wharf(&["attach", "ticker"]);
    assert_eq!(stopped.code, 1, "{}", stopped.stderr);
}

/// `create` makes the project's containers without starting them (Compose's
/// `up --no-start`); `port SERVICE PRIVATE_PORT` names the host address.
#[test]
fn create_then_start_and_port_of_a_service() {
    let port = free_port();
    let Some(s) = Stack::new(&format!(
        r#"
services:
  web:
    image: {{{{busybox}}}}
    command: ["sleep", "1000"]
    ports: ["127.0.0.1:{port}:8000", "8001/udp"]
    stop_grace_period: 1s
"#
    )) else {
        return;
    };
    s.wharf(&["create"]).ok();
    let web = s.name("web-1");
    assert_eq!(Stack::container(&s.ps(), &web)["State"], "created");
    s.wharf(&["start"]).ok();
    assert_eq!(Stack::container(&s.ps(), &web)["State"], "running");
    assert_eq!(
        s.wharf(&["port", "web", "8000"]).ok().stdout,
        format!("127.0.0.1:{port}\n")
    );
    let udp = s
        .wharf(&["port", "--protocol", "udp", "web", "8001"])
        .ok()
        .stdout;
    let host_port: u16 = udp
        .trim()
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("{udp:?}"));
    assert_ne!(host_port, 0);
    assert_ne!(s.wharf(&["port", "web", "9999"]).code, 0);
    // Outside a project, create still needs an image.
    let bare = Run::from(
        Command::new(env!("CARGO_BIN_EXE_wharf"))
            .arg("--root")
            .arg(s.root.path())
            .arg("create")
            .current_dir(s.root.path())
            .output()
            .expect("wharf"),
    );
    assert_eq!(bare.code, 1);
    assert!(
        bare.stderr.contains("requires at least 1 argument"),
        "{}",
        bare.stderr
    );
}

/// A dependency whose healthcheck can give no verdict (here: paused in its
/// start period) fails `up` once no verdict can come, naming it; no hang.
#[test]
fn a_healthcheck_without_verdict_fails_up_instead_of_hanging() {
    let Some(s) = Stack::new(
        r#"
services:
  db:
    image: {{busybox}}
    command: ["sleep", "1000"]
    healthcheck:
      test: ["CMD", "false"]
      interval: 100ms
      timeout: 100ms
      retries: 1
      start_period: 2s
      start_interval: 100ms
    stop_grace_period: 1s
  app:
    image: {{busybox}}
    command: ["sleep", "1000"]
    depends_on:
      db: {condition: service_healthy}
    stop_grace_period: 1s
"#,
    ) else {
        return;
    };
    s.wharf(&["up", "-d", "db"]).ok();
    s.wharf(&["pause", "db"]).ok();
    let up = s.wharf(&["up", "-d", "app"]);
    assert_ne!(up.code, 0);
    assert!(
        up.stderr.contains("healthcheck gave no verdict within 7 s"),
        "{}",
        up.stderr
    );
    assert!(up.stderr.contains(&s.name("db-1")), "{}", up.stderr);
    s.wharf(&["unpause", "db"]).ok();
}

/// A monitor killed while its container waits out a restart back-off: the
/// next command has a new one restart it, so the policy goes on.
#[test]
fn a_monitor_killed_during_a_restart_back_off_is_replaced() {
    let Some(s) = Stack::new(
        r#"
services:
  flappy:
    image: {{busybox}}
    command: ["sh", "-c", "sleep 0.2; exit 1"]
    restart: always
"#,
    ) else {
        return;
    };
    s.wharf(&["up", "-d"]).ok();
    let name = s.name("flappy-1");
    let id = s.inspect(&name)["Id"].as_str().expect("id").to_string();
    // The back-off doubles from 100 ms; by the fourth restart it is long
    // enough to catch the container restarting.
    let deadline = Instant::now() + Duration::from_secs(60);
    let count = loop {
        let i = s.inspect(&name);
        let n = i["RestartCount"].as_u64().unwrap_or(0);
        if i["State"]["Status"] == "restarting" && n >= 4 {
            break n;
        }
        assert!(Instant::now() < deadline, "never restarting: {i:#}");
        std::thread::sleep(Duration::from_millis(20));
    };
    let monitors = harness::monitors_of(&id);
    assert_eq!(monitors.len(), 1, "{monitors:?}");
    sigkill(monitors[0]);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        // Each inspect is a wharf command that may take it over.
        let i = s.inspect(&name);
        if i["RestartCount"].as_u64().unwrap_or(0) > count {
            break;
        }
        assert!(Instant::now() < deadline, "the restarts stopped: {i:#}");
        std::thread::sleep(Duration::from_millis(100));
    }
    let now = harness::monitors_of(&id);
    assert_eq!(now.len(), 1, "{now:?}");
    assert_ne!(now[0], monitors[0]);
    s.wharf(&["stop", "flappy"]).ok();
    assert_eq!(s.inspect(&name)["State"]["Status"], "exited");
}

/// Processes whose command line is `wharf container-shim …/ID …`.
fn shims_of(id: &str) -> Vec<u32> {
    harness::processes_where(|args| {
        args.get(1) == Some(&&b"container-shim"[..])
            && args.iter().any(|a| a.ends_with(id.as_bytes()))
    })
}

/// The container's state file as wharf wrote it: read without running a
/// wharf command, so nothing but the container's own processes acts.
fn state_file(s: &Stack, id: &str) -> serde_json::Value {
    let path = s.root.path().join("containers").join(id).join("state.json");
    serde_json::from_str(&std::fs::read_to_string(&path).expect("state.json")).expect("state json")
}

/// A detached container's exit code survives the SIGKILL of its monitor:
/// 0 and 3 are recorded as such (not 255), `on-failure` leaves the one that
/// exited 0 alone, and a `tty: true` container keeps its terminal, its
/// output after the monitor died reaching the log.
#[test]
fn exit_codes_survive_a_killed_monitor() {
    let wait_go = "while [ ! -e /out/go ]; do sleep 0.05; done";
    let Some(s) = Stack::with(
        stack::Setup {
            out_dir: true,
            ..Default::default()
        },
        &format!(
            r#"
services:
  zero:
    image: {{{{busybox}}}}
    command: ["sh", "-c", "{wait_go}; exit 0"]
    volumes: ["./out:/out"]
    restart: on-failure
  three:
    image: {{{{busybox}}}}
    command: ["sh", "-c", "{wait_go}; exit 3"]
    volumes: ["./out:/out"]
  term:
    image: {{{{busybox}}}}
    tty: true
    command: ["sh", "-c", "{wait_go}; echo after the monitor; exit 5"]
    volumes: ["./out:/out"]
"#
        ),
    ) else {
        return;
    };
    s.wharf(&["up", "-d"]).ok();
    let ids: Vec<(String, String)> = ["zero-1", "three-1", "term-1"]
        .iter()
        .map(|n| {
            let name = s.name(n);
            let id = s.inspect(&name)["Id"].as_str().expect("id").to_string();
            (name, id)
        })
        .collect();
    for (_, id) in &ids {
        assert_eq!(shims_of(id).len(), 1, "one shim for {id}");
        let monitors = harness::monitors_of(id);
        assert_eq!(monitors.len(), 1, "one monitor for {id}: {monitors:?}");
        sigkill(monitors[0]);
    }
    std::fs::write(s.out().join("go"), "").expect("go");
    for ((name, id), code) in ids.iter().zip([0, 3, 5]) {
        stack::until(Duration::from_secs(30), &format!("{name} to exit"), || {
            state_file(&s, id)["status"] == "exited"
        });
        let i = s.inspect(name);
        assert_eq!(i["State"]["ExitCode"], code, "{i:#}");
        assert_eq!(i["RestartCount"], 0, "{i:#}");
    }
    let ps = s.wharf(&["ps", "-a"]).ok().stdout;
    assert!(ps.contains("Exited (3)"), "{ps}");
    assert!(!ps.contains("Exited (255)"), "{ps}");
    let logs = s.wharf(&["logs", "--no-log-prefix", "term"]).ok().stdout;
    assert!(logs.contains("after the monitor"), "{logs}");

    s.wharf(&["down"]).ok();
    for (_, id) in &ids {
        stack::until(Duration::from_secs(10), "the shims to exit", || {
            shims_of(id).is_empty() && harness::monitors_of(id).is_empty()
        });
    }
}

/// A restart policy acts with no wharf command run: the monitor of a
/// `restart: always` container is killed, then the container; its shim
/// starts a new monitor, which brings the container back.
#[test]
fn restart_policies_act_without_a_command_after_the_monitor_died() {
    let Some(s) = Stack::new(
        r#"
services:
  keeper:
    image: {{busybox}}
    command: ["sleep", "1000"]
    restart: always
"#,
    ) else {
        return;
    };
    s.wharf(&["up", "-d"]).ok();
    let i = s.inspect(&s.name("keeper-1"));
    let id = i["Id"].as_str().expect("id").to_string();
    let pid = i["State"]["Pid"].as_u64().expect("pid") as u32;
    let monitors = harness::monitors_of(&id);
    assert_eq!(monitors.len(), 1, "{monitors:?}");
    sigkill(monitors[0]);
    sigkill(pid);
    stack::until(Duration::from_secs(30), "the restart", || {
        let st = state_file(&s, &id);
        st["restart_count"] == 1 && st["status"] == "running"
    });
    let st = state_file(&s, &id);
    assert_ne!(st["pid"], pid, "a new process: {st:#}");
    // The exit that caused it was SIGKILL's, not an unknown one.
    let events = std::fs::read_to_string(s.root.path().join("events.log")).expect("events");
    let codes: Vec<serde_json::Value> = events
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|e| e["Action"] == "die")
        .map(|e| e["Actor"]["Attributes"]["exitCode"].clone())
        .collect();
    assert_eq!(codes, ["137"], "{events}");
}

/// A reboot, simulated: every wharf process and container is killed, the
/// runtime root, the mounts, the bridges and firewall tables go. `system
/// restore` brings back the `always` and `unless-stopped` containers (with
/// their network and published port), and not the `restart: no` one nor
/// the `unless-stopped` one a user had stopped.
#[test]
fn system_restore_brings_back_what_docker_would_after_a_reboot() {
    let port = free_port();
    let Some(s) = Stack::new(&format!(
        r#"
services:
  web:
    image: {{{{busybox}}}}
    command: ["sh", "-c", "mkdir -p /srv && echo served > /srv/index.html && exec httpd -f -p 8000 -h /srv"]
    ports: ["{port}:8000"]
    restart: always
  unless:
    image: {{{{busybox}}}}
    command: ["sleep", "1000"]
    restart: unless-stopped
  stopped:
    image: {{{{busybox}}}}
    command: ["sleep", "1000"]
    restart: unless-stopped
  never:
    image: {{{{busybox}}}}
    command: ["sleep", "1000"]
"#
    )) else {
        return;
    };
    s.wharf(&["up", "-d"]).ok();
    assert!(http_get(port).contains("served"));
    s.wharf(&["stop", "-t", "0", "stopped"]).ok();
    let names = ["web-1", "unless-1", "stopped-1", "never-1"].map(|n| s.name(n));
    let ids: Vec<String> = names
        .iter()
        .map(|n| s.inspect(n)["Id"].as_str().expect("id").to_string())
        .collect();
    let nets = s.net_ids();

    // The power goes: shims first, so none starts a monitor again.
    for id in &ids {
        for p in shims_of(id) {
            sigkill(p);
        }
    }
    for id in &ids {
        for p in harness::monitors_of(id) {
            sigkill(p);
        }
        if let Some(pid) = state_file(&s, id)["pid"].as_u64() {
            sigkill(pid as u32);
        }
    }
    let root = s.root.path().to_string_lossy().into_owned();
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").expect("mountinfo");
    let mut mounts: Vec<&str> = mountinfo
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .filter(|m| m.starts_with(&root))
        .collect();
    mounts.sort_by_key(|m| std::cmp::Reverse(m.len()));
    for m in mounts {
        let out = Command::new("umount")
            .args(["-l", m])
            .output()
            .expect("umount");
        assert!(out.status.success(), "umount {m}");
    }
    std::fs::remove_dir_all(s.root.path().join("run")).expect("drop the run root");
    for o in net_objects_of(&nets) {
        let done = match o.strip_prefix("table ") {
            Some(table) => Command::new("sh")
                .args(["-c", &format!("nft delete table {table}")])
                .status(),
            None => Command::new("ip").args(["link", "delete", &o]).status(),
        };
        assert!(done.expect("delete").success(), "deleting {o}");
    }
    for id in &ids {
        let _ = Command::new("nft")
            .args([
                "delete",
                "table",
                "inet",
                &format!("wharf-ports-{}", &id[..12]),
            ])
            .stderr(Stdio::null())
            .status();
        let cgroup = Path::new("/sys/fs/cgroup/wharf").join(id);
        if cgroup.exists() {
            std::fs::remove_dir(&cgroup).expect("rmdir cgroup");
        }
    }

    // The boot: the first wharf command is the hook.
    s.wharf(&["system", "restore"]).ok();
    let state = |n: &str| {
        s.inspect(n)["State"]["Status"]
            .as_str()
            .unwrap_or("")
            .to_string()
    };
    assert_eq!(state(&names[0]), "running");
    assert_eq!(state(&names[1]), "running");
    assert_eq!(state(&names[2]), "exited");
    assert_eq!(state(&names[3]), "exited");
    // It died with the host: Docker's 255.
    assert_eq!(s.inspect(&names[3])["State"]["ExitCode"], 255);
    assert!(http_get(port).contains("served"));
    for id in &ids[..2] {
        assert_eq!(shims_of(id).len(), 1, "a shim for {id}");
    }
}

/// Issue 16: secrets and configs land where Compose puts them — file-backed
/// ones bound read-only (the host file's owner and mode), `environment:`
/// and `content:` ones written into the container with `uid`/`gid`/`mode`
/// (0444 and root by default) — and `host-gateway` names the host's side of
/// the container's network; `volumes_from: [SERVICE:ro]` shares that
/// service's mounts with their own modes (Compose drops the `:ro`); a
/// `links` alias resolves to its service; `driver_opts` volumes bind their
/// device or mount a sized tmpfs. The stack and the probe commands are
/// tests/data/compose-probe/{compose.yaml,probes}; what the real Docker
/// engine (Debian docker.io) and Docker Compose v2.40.3 printed for them is
/// tests/data/compose-probe/recorded.txt, written by
/// `scripts/record-compose-probe`, and wharf must print the same, addresses
/// aside (they are the engine's to choose). One difference is kept on
/// purpose: Docker resolves `host-gateway` to docker0's address (172.17.0.1
/// there, while the default route was 172.18.0.1); wharf has no docker0, so
/// it gives the gateway of the container's own network, which is the host
/// too.
#[test]
fn secrets_configs_host_gateway_and_volumes_from_as_compose_sets_them_up() {
    let data = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/compose-probe");
    let read = |name: &str| std::fs::read_to_string(data.join(name)).expect("probe data");
    let Some(s) = Stack::new(&read("compose.yaml")) else {
        return;
    };
    use std::os::unix::fs::PermissionsExt;
    let pw = s.dir.path().join("pw.txt");
    std::fs::write(&pw, "hunter2").expect("write pw");
    std::fs::set_permissions(&pw, std::fs::Permissions::from_mode(0o640)).expect("chmod");
    std::fs::write(s.dir.path().join("conf.txt"), "from=file").expect("write conf");
    std::fs::create_dir(s.dir.path().join("shared")).expect("mkdir shared");
    std::fs::write(s.dir.path().join("shared/hello"), "hello").expect("write hello");
    std::fs::create_dir(s.dir.path().join("bindsrc")).expect("mkdir bindsrc");
    std::fs::write(s.dir.path().join("bindsrc/f"), "bound").expect("write f");
    let up = s
        .cmd(&["up", "-d"])
        .env("PROBE_TOKEN", "s3cret")
        .output()
        .expect("up");
    Run::from(up).ok();

    let probes = read("probes");
    let lines: Vec<&str> = probes.lines().collect();
    let mut seen = String::new();
    for pair in lines.chunks(2) {
        seen.push_str(pair[0]);
        seen.push('\n');
        seen.push_str(&s.exec("probe-1", pair[1]));
    }
    let mask = |text: &str| -> String {
        text.lines()
            .map(|l| match l.parse::<std::net::Ipv4Addr>() {
                Ok(_) => "ADDRESS",
                Err(_) => l,
            })
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert_eq!(
        mask(&seen),
        mask(&read("recorded.txt")),
        "wharf saw:\n{seen}"
    );

    let section = |title: &str| -> Vec<String> {
        seen.split("## ")
            .find(|s| s.starts_with(title))
            .map(|s| s.lines().skip(1).map(str::to_string).collect())
            .unwrap_or_default()
    };
    // host-gateway is the container's default gateway: the host.
    let gw = section("gateway");
    assert_eq!(gw[0], gw[1], "host.docker.internal is the gateway: {gw:?}");
    // A link alias answers in the embedded DNS with the service's address.
    let dns = section("datastore");
    assert_eq!(dns[0], dns[1], "datastore is data: {dns:?}");
}

/// Issue 16: a key `up` cannot apply is refused before anything is made,
/// naming file, line and key; one it only skips is warned about.
#[test]
fn unapplied_keys_are_refused_or_warned_with_file_line_and_key() {
    let Some(s) = Stack::new(
        "services:\n  web:\n    image: {{busybox}}\n    command: [sleep, '1000']\n    stop_grace_period: 1s\n    storage_opt: {size: 1G}\n",
    ) else {
        return;
    };
    let out = s.wharf(&["up", "-d"]);
    assert_ne!(out.code, 0);
    assert!(
        out.stderr
            .contains("compose.yaml:6: services.web.storage_opt: not supported"),
        "{}",
        out.stderr
    );
    assert!(s.wharf(&["ps", "-a", "-q"]).ok().stdout.trim().is_empty());
    assert!(s.net_ids().is_empty(), "no network made");

    s.write(
        "services:\n  web:\n    image: {{busybox}}\n    command: [sleep, '1000']\n    stop_grace_period: 1s\n    use_api_socket: true\n",
    );
    let out = s.wharf(&["up", "-d"]).ok();
    assert!(
        out.stderr
            .contains("compose.yaml:6: services.web.use_api_socket: not applied"),
        "{}",
        out.stderr
    );
}

/// Issue 16: what `up` used to refuse only once networks and volumes were
/// made is refused by the pre-flight, naming file, line and key, and
/// nothing of the project is left: no container, network or volume.
#[test]
fn refusals_come_before_anything_is_made() {
    // A network and a named volume that `up` would make first.
    let base = "services:\n  web:\n    image: {{busybox}}\n    command: [sleep, '1000']\n    networks: [front]\n    volumes: [data:/data]\n";
    let tail = "volumes:\n  data:\nnetworks:\n  front:\n";
    let cases = [
        (
            format!("{base}  img:\n    image: {{{{busybox}}}}\n    volumes:\n      - type: image\n        source: {{{{busybox}}}}\n        target: /i\n{tail}"),
            "compose.yaml:10: services.img.volumes[0].type: volume type \"image\" is not supported",
        ),
        (
            format!("{base}  u:\n    image: {{{{busybox}}}}\n    uts: \"container:web\"\n{tail}"),
            "compose.yaml:9: services.u.uts: \"container:web\" is not supported",
        ),
        (
            format!("{base}  b:\n    image: {{{{busybox}}}}\n    networks: [back]\n{tail}  back:\n    driver: overlay\n"),
            "compose.yaml:15: networks.back.driver: network driver \"overlay\" is not supported",
        ),
        (
            // No CDI spec and no nvidia hook on the test host.
            format!("{base}  gpu:\n    image: {{{{busybox}}}}\n    gpus: all\n{tail}"),
            "compose.yaml:9: services.gpu.gpus:",
        ),
    ];
    let Some(s) = Stack::new(&cases[0].0) else {
        return;
    };
    for (yaml, want) in &cases {
        s.write(yaml);
        let out = s.wharf(&["up", "-d"]);
        assert_ne!(out.code, 0, "{yaml}");
        assert!(out.stderr.contains(want), "want {want}\n{}", out.stderr);
        assert!(s.wharf(&["ps", "-a", "-q"]).ok().stdout.trim().is_empty());
        assert!(s.net_ids().is_empty(), "no network made: {yaml}");
        let vols = s.wharf(&["volume", "ls", "-q"]).ok().stdout;
        assert!(vols.trim().is_empty(), "no volume made: {vols}");
        assert!(s.wharf(&["ls", "-a", "-q"]).ok().stdout.trim().is_empty());
    }
}

/// `ipc: none` runs, as Docker runs it: an IPC namespace of its own and no
/// /dev/shm mount (from moby's source: its spec leaves /dev/shm out for IpcMode none).
#[test]
fn ipc_none_runs_without_dev_shm() {
    let Some(s) = Stack::new(
        "services:\n  web:\n    image: {{busybox}}\n    command: [sleep, '1000']\n    stop_grace_period: 1s\n    ipc: none\n",
    ) else {
        return;
    };
    s.wharf(&["up", "-d"]).ok();
    let shm = s.exec(
        "web-1",
        "awk '$2 == \"/dev/shm\"' /proc/mounts | wc -l; readlink /proc/1/ns/ipc",
    );
    let lines: Vec<&str> = shm.lines().collect();
    assert_eq!(lines.first().map(|l| l.trim()), Some("0"), "{shm}");
    let host_ipc = std::fs::read_link("/proc/self/ns/ipc").expect("own ipc ns");
    assert_ne!(lines.get(1).copied(), host_ipc.to_str(), "{shm}");
    s.wharf(&["down"]).ok();
}

/// Issue 16: `blkio_config.weight` where the v1 blkio controller has no
/// weight file: discarded with Docker's warning, and the stack runs.
#[test]
fn blkio_weight_is_discarded_with_a_warning_where_unsupported() {
    let v1 = Path::new("/sys/fs/cgroup/blkio");
    if !v1.is_dir() || v1.join("blkio.weight").exists() || v1.join("blkio.bfq.weight").exists() {
        return;
    }
    let Some(s) = Stack::new(
        "services:\n  web:\n    image: {{busybox}}\n    command: [sleep, '1000']\n    stop_grace_period: 1s\n    blkio_config:\n      weight: 300\n",
    ) else {
        return;
    };
    let out = s.wharf(&["up", "-d"]).ok();
    assert!(
        out.stderr.contains("Your kernel does not support Block I/O weight or the cgroup is not mounted. Weight discarded."),
        "{}",
        out.stderr
    );
    assert_eq!(s.exec("web-1", "echo up"), "up\n");
    s.wharf(&["down"]).ok();
}

/// The CLI surface of #16 on a running stack: `ls -q`/`--filter`,
/// `--format` templates in both `ps` modes, `inspect -f`, and Docker's
/// `container …`/`image …` forms.
#[test]
fn ls_filters_and_format_templates_on_a_running_stack() {
    let Some(s) = Stack::new(
        r#"
services:
  a:
    image: {{busybox}}
    command: [sleep, '1000']
  t:
    image: {{busybox}}
    command: ["sh", "-c", "trap 'exit 7' USR1; trap 'exit 5' TERM; touch /tmp/traps-set; while true; do sleep 0.1; done"]
    profiles: [traps]
"#,
    ) else {
        return;
    };
    s.wharf(&["up", "-d"]).ok();
    let project = s.project();
    let name = s.name("a-1");
    let ls = s.wharf(&["ls", "-q"]).ok().stdout;
    assert!(ls.lines().any(|l| l == project), "{ls}");
    let ls = s
        .wharf(&["ls", "-q", "--filter", &format!("name={project}")])
        .ok()
        .stdout;
    assert_eq!(ls, format!("{project}\n"));
    let ls = s
        .wharf(&["ls", "-q", "--filter", "name=no-such-project-here"])
        .ok()
        .stdout;
    assert_eq!(ls, "");
    // Compose's ps: its fields, and a table headed by Docker's titles.
    let out = s
        .wharf(&["ps", "--format", "{{.Service}} {{.State}} {{.Name}}"])
        .ok();
    assert_eq!(out.stdout, format!("a running {name}\n"));
    let out = s
        .wharf(&["ps", "--format", "table {{.Service}}\\t{{.State}}"])
        .ok();
    assert_eq!(out.stdout, "SERVICE   STATE\na         running\n");
    // Docker's ps, outside the project directory.
    let root = Path::new("/");
    let out = s
        .wharf_in(
            root,
            &[
                "ps",
                "--filter",
                &format!("name={name}"),
                "--format",
                "{{.Names}}|{{.State}}|{{.Command}}|{{.Networks}}",
            ],
        )
        .ok();
    assert_eq!(
        out.stdout,
        format!("{name}|running|\"sleep 1000\"|{project}_default\n")
    );
    let latest = s
        .wharf_in(root, &["ps", "-l", "--format", "{{.Names}}"])
        .ok()
        .stdout;
    assert_eq!(latest, format!("{name}\n"));
    let last = s
        .wharf_in(root, &["ps", "-n", "5", "--format", "{{.Names}}"])
        .ok()
        .stdout;
    assert_eq!(last, latest);
    // In the project directory too: -n is Docker's (`alias docker=wharf`),
    // and with a service named, refused.
    let here = s
        .wharf(&["ps", "-n", "1", "--format", "{{.Names}}"])
        .ok()
        .stdout;
    assert_eq!(here, latest);
    let refused = s.wharf(&["ps", "-n", "1", "a"]);
    assert_ne!(refused.code, 0);
    assert!(refused.stderr.contains("-n/--last"), "{}", refused.stderr);
    // `exec --env-file` (then -e, which wins), with Compose's `--no-tty`.
    let env_file = s.dir.path().join("exec.env");
    std::fs::write(&env_file, "FROM_FILE=yes\n# comment\n\nBOTH=file\n").expect("env file");
    let env_file = env_file.to_str().expect("utf-8 path");
    let show = ["sh", "-c", "echo $FROM_FILE $BOTH"];
    let mut args = vec![
        "exec",
        "--no-tty",
        "--env-file",
        env_file,
        "-e",
        "BOTH=flag",
        "a",
    ];
    args.extend(show);
    assert_eq!(s.wharf(&args).ok().stdout, "yes flag\n");
    let mut args = vec!["exec", "--env-file", env_file, name.as_str()];
    args.extend(show);
    assert_eq!(s.wharf_in(root, &args).ok().stdout, "yes file\n");
    let missing = s.wharf_in(root, &["exec", "--env-file", "/no/such.env", &name, "true"]);
    assert_ne!(missing.code, 0);
    assert!(
        missing.stderr.contains("/no/such.env"),
        "{}",
        missing.stderr
    );
    // `stop -s`: the named signal instead of the container's stop signal.
    s.wharf(&["--profile", "traps", "up", "-d", "t"]).ok();
    let trapper = s.name("t-1");
    s.until("the traps are set", || {
        s.wharf_in(root, &["exec", &trapper, "test", "-f", "/tmp/traps-set"])
            .code
            == 0
    });
    s.wharf_in(root, &["stop", "-s", "USR1", &trapper]).ok();
    let code = s
        .wharf_in(root, &["inspect", "-f", "{{.State.ExitCode}}", &trapper])
        .ok();
    assert_eq!(code.stdout, "7\n");
    let refused = s.wharf(&["stop", "-s", "KILL"]);
    assert_ne!(refused.code, 0);
    assert!(refused.stderr.contains("-s/--signal"), "{}", refused.stderr);
    // `start -i`: standard input reaches the container.
    let reader = format!("{project}-reader");
    s.wharf_in(
        root,
        &[
            "create",
            "-i",
            "--name",
            &reader,
            &s.busybox(),
            "sh",
            "-c",
            "read line; echo got $line",
        ],
    )
    .ok();
    let mut start = s
        .cmd_in(root, &["start", "-i", &reader])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn start -i");
    std::io::Write::write_all(&mut start.stdin.take().expect("stdin"), b"hello\n")
        .expect("write stdin");
    let started = start.wait_with_output().expect("start -i");
    assert_eq!(String::from_utf8_lossy(&started.stdout), "got hello\n");
    assert!(started.status.success());
    s.wharf_in(root, &["rm", "-f", &reader]).ok();
    // `events --format`: Docker's fields by their Go names.
    let events = s
        .wharf_in(
            root,
            &[
                "events",
                "--since",
                "10m",
                "--until",
                "0s",
                "--format",
                "{{.Type}} {{.Action}} {{.Actor.Attributes.name}}",
            ],
        )
        .ok()
        .stdout;
    assert!(
        events
            .lines()
            .any(|l| l == format!("container start {name}")),
        "{events}"
    );
    let listed = s.wharf_in(root, &["container", "ls", "-q"]).ok().stdout;
    assert_eq!(listed, s.wharf_in(root, &["ps", "-q"]).ok().stdout);
    let out = s
        .wharf_in(
            root,
            &[
                "inspect",
                "-f",
                "{{.State.Status}} {{.Name}} {{.Nope}}",
                &name,
            ],
        )
        .ok();
    assert_eq!(out.stdout, format!("running /{name} <no value>\n"));
    let images = s
        .wharf_in(
            root,
            &["image", "ls", "--format", "{{.Repository}}:{{.Tag}}"],
        )
        .ok()
        .stdout;
    let busybox = s.busybox();
    // images --filter/--no-trunc/--digests
    let ids = s
        .wharf_in(
            root,
            &[
                "images",
                "-q",
                "--no-trunc",
                "--filter",
                "reference=*/*/busybox",
            ],
        )
        .ok()
        .stdout;
    assert!(
        ids.lines().count() == 1 && ids.starts_with("sha256:") && ids.trim().len() == 71,
        "{ids}"
    );
    let none = s
        .wharf_in(
            root,
            &["images", "-q", "--filter", "reference=no-such-image"],
        )
        .ok()
        .stdout;
    assert_eq!(none, "");
    let dangling = s
        .wharf_in(root, &["images", "-q", "--filter", "dangling=true"])
        .ok()
        .stdout;
    assert_eq!(dangling, "");
    let table = s.wharf_in(root, &["images", "--digests"]).ok().stdout;
    let header: Vec<&str> = table
        .lines()
        .next()
        .unwrap_or_default()
        .split("   ")
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .collect();
    assert_eq!(
        header,
        ["REPOSITORY", "TAG", "DIGEST", "IMAGE ID", "CREATED", "SIZE"]
    );
    assert!(table.contains("sha256:"), "{table}");
    assert!(
        images.lines().any(|l| l == busybox),
        "{busybox} not in {images}"
    );
    s.wharf(&["--profile", "traps", "down", "-t", "0"]).ok();
}

/// Issue 16: `external_links` names a container that is not the project's
/// (it answers under the alias in the embedded DNS), and `volumes_from:
/// container:NAME` mounts that container's volumes, as Compose runs them:
/// with their own modes, the entry's `:ro` dropped (Compose v2 resolves
/// `container:NAME:MODE` to `NAME` alone: pkg/compose/convergence.go,
/// `service.VolumesFrom[i] = spec[1]`).
#[test]
fn external_links_and_volumes_from_a_container() {
    let Some(s) = Stack::new(
        r#"
services:
  app:
    image: {{busybox}}
    command: ["sleep", "1000"]
    stop_grace_period: 1s
    external_links: ["ext16-c:extalias"]
    volumes_from: ["container:data16-c:ro"]
networks:
  default:
    name: ext16-net
    external: true
"#,
    ) else {
        return;
    };
    let image = s.busybox();
    s.wharf(&["network", "create", "ext16-net"]).ok();
    s.wharf(&[
        "run",
        "-d",
        "--name",
        "ext16-c",
        "--network",
        "ext16-net",
        &image,
        "sleep",
        "1000",
    ])
    .ok();
    s.wharf(&[
        "run",
        "-d",
        "--name",
        "data16-c",
        "--network",
        "none",
        "-v",
        "/data",
        &image,
        "sh",
        "-c",
        "echo kept > /data/f; exec sleep 1000",
    ])
    .ok();
    s.wharf(&["up", "-d"]).ok();
    let ext = s.wharf(&["exec", "ext16-c", "hostname", "-i"]).ok().stdout;
    let seen = s.exec(
        "app-1",
        "nslookup extalias 127.0.0.11 | awk '/^Address/ {a=$2} END {print a}'; cat /data/f; touch /data/g && echo writable",
    );
    assert_eq!(
        seen.lines().collect::<Vec<_>>(),
        [ext.trim(), "kept", "writable"],
        "{seen}"
    );
    s.wharf(&["down", "-t", "0"]).ok();
    s.wharf(&["rm", "-f", "-v", "ext16-c", "data16-c"]).ok();
    s.wharf(&["network", "rm", "ext16-net"]).ok();
}

/// Issue 16: a `driver: local` volume of another file system type is
/// mounted with mount(2) from its device with the options of `o`, as
/// Docker's local driver does (nfs the same way: `type: nfs, o: addr=…`;
/// no NFS server is here, so ramfs stands in), for compose and for
/// `volume create -o`.
#[test]
fn a_local_volume_of_another_type_is_mounted_with_its_options() {
    let Some(s) = Stack::new(
        r#"
services:
  app:
    image: {{busybox}}
    command: ["sleep", "1000"]
    network_mode: none
    stop_grace_period: 1s
    volumes: ["ram:/ram"]
volumes:
  ram:
    driver_opts: {type: ramfs, device: ramfs, o: "mode=0750"}
"#,
    ) else {
        return;
    };
    s.wharf(&["up", "-d"]).ok();
    let seen = s.exec(
        "app-1",
        "awk '$2 == \"/ram\" {print $1, $3}' /proc/mounts; stat -c %a /ram",
    );
    assert_eq!(
        seen.lines().collect::<Vec<_>>(),
        ["ramfs ramfs", "750"],
        "{seen}"
    );
    s.wharf(&["down", "-v", "-t", "0"]).ok();

    let image = s.busybox();
    s.wharf(&[
        "volume",
        "create",
        "-d",
        "local",
        "-o",
        "type=ramfs",
        "-o",
        "device=ramfs",
        "-o",
        "o=mode=0700",
        "ram16",
    ])
    .ok();
    let out = s
        .wharf(&[
            "run",
            "--rm",
            "--network",
            "none",
            "-v",
            "ram16:/r:ro",
            &image,
            "sh",
            "-c",
            "awk '$2 == \"/r\" {print $3, substr($4, 1, 2)}' /proc/mounts; stat -c %a /r",
        ])
        .ok()
        .stdout;
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        ["ramfs ro", "700"],
        "{out}"
    );
    s.wharf(&["volume", "rm", "ram16"]).ok();
}
