//! Container lifecycle in a compose project, on real containers from the
//! fixture images: `post_start`/`pre_stop` hooks, optional and restarting
//! dependencies, `pause`/`unpause`, `down --rmi`, and the `ps` filters,
//! `images` and `top` of a project — checked as a user would, through
//! files the containers write, `ps`, `inspect` and exit codes.
//!
//! Needs root and the loopback registry: run through `scripts/with-registry`
//! (private network and mount namespace). Without it the tests say SKIPPED.

use std::time::Duration;

#[path = "support/harness.rs"]
mod harness;
#[path = "support/stack.rs"]
mod stack;
use stack::{Setup, Stack};

/// Project directories `life…` with an `out/` directory the containers
/// write to (bind-mounted at /out).
fn life() -> Setup {
    Setup {
        root_prefix: "wharf-life-",
        dir_prefix: "life",
        out_dir: true,
    }
}

/// `post_start` runs like `exec` with its own user, environment and
/// working directory; `pre_stop` runs on `stop` before the container's
/// process gets its stop signal, and not for a container that ended by
/// itself.
#[test]
fn hooks_run_as_configured_and_pre_stop_comes_before_sigterm() {
    let Some(s) = Stack::with(
        life(),
        r#"
services:
  app:
    image: {{busybox}}
    user: "1000"
    volumes: [./out:/out]
    stop_grace_period: 10s
    command: ["sh", "-c", "trap 'if [ -f /out/pre_stop ]; then echo after-hook > /out/term; else echo before-hook > /out/term; fi; exit 0' TERM; while true; do sleep 0.1; done"]
    post_start:
      - command: ["sh", "-c", "echo \"$$(id -u) $$HOOK_VAR $$(pwd)\" > /out/post_start"]
        user: root
        working_dir: /tmp
        environment: {HOOK_VAR: from-hook}
    pre_stop:
      - command: ["sh", "-c", "id -u > /out/pre_stop"]
  oneshot:
    image: {{busybox}}
    volumes: [./out:/out]
    command: ["true"]
    pre_stop:
      - command: ["touch", "/out/oneshot_pre_stop"]
"#,
    ) else {
        return;
    };
    s.wharf(&["up", "-d"]).ok();
    // The hook ran as root (not the service's 1000), with its env and cwd,
    // and `up` returned only once it had.
    assert_eq!(s.read("post_start").as_deref(), Some("0 from-hook /tmp"));
    assert_eq!(s.read("pre_stop"), None);

    s.wharf(&["stop", "app"]).ok();
    // The hook ran with the service's user, before SIGTERM reached the
    // process, which then ended on its own (exit 0, not SIGKILL's 137).
    assert_eq!(s.read("pre_stop").as_deref(), Some("1000"));
    assert_eq!(s.read("term").as_deref(), Some("after-hook"));
    let app = s.inspect(&s.name("app-1"));
    assert_eq!(app["State"]["Status"], "exited");
    assert_eq!(app["State"]["ExitCode"], 0);

    // `start` runs post_start again.
    std::fs::remove_file(s.out().join("post_start")).expect("rm");
    s.wharf(&["start", "app"]).ok();
    assert_eq!(s.read("post_start").as_deref(), Some("0 from-hook /tmp"));

    s.until("oneshot to exit", || {
        s.inspect(&s.name("oneshot-1"))["State"]["Status"] == "exited"
    });
    s.wharf(&["down", "-t", "5"]).ok();
    assert_eq!(
        s.read("oneshot_pre_stop"),
        None,
        "pre_stop ran on an exited container"
    );
}

/// A failing `post_start` fails the command with Compose's message; the
/// container itself keeps running, as in Compose.
#[test]
fn failing_post_start_hook_fails_up() {
    let Some(s) = Stack::with(
        life(),
        r#"
services:
  bad:
    image: {{busybox}}
    command: ["sleep", "1000"]
    post_start:
      - command: ["sh", "-c", "exit 3"]
"#,
    ) else {
        return;
    };
    let out = s.wharf(&["up", "-d"]);
    assert_ne!(out.code, 0);
    assert!(
        out.stderr.contains("bad hook exited with status 3"),
        "{}",
        out.stderr
    );
    assert_eq!(s.inspect(&s.name("bad-1"))["State"]["Status"], "running");
}

/// `required: false`: a dependency that is not enabled (its profile is
/// off) or that fails its condition only warns; the service starts.
#[test]
fn optional_dependencies_are_skipped_with_a_warning() {
    let Some(s) = Stack::with(
        life(),
        r#"
services:
  app:
    image: {{busybox}}
    command: ["sleep", "1000"]
    depends_on:
      debug: {condition: service_started, required: false}
      init: {condition: service_completed_successfully, required: false}
  init:
    image: {{busybox}}
    command: ["sh", "-c", "exit 3"]
  debug:
    image: {{busybox}}
    command: ["sleep", "1000"]
    profiles: [debug]
"#,
    ) else {
        return;
    };
    let out = s.wharf(&["up", "-d"]).ok();
    assert!(
        out.stderr.contains("optional dependency \"debug\"") && out.stderr.contains("not enabled"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("optional dependency \"init\"") && out.stderr.contains("exit 3"),
        "{}",
        out.stderr
    );
    assert_eq!(s.inspect(&s.name("app-1"))["State"]["Status"], "running");
    assert!(s.names(&["-a"]).iter().all(|n| !n.contains("debug")));

    // The same dependency, required, stops the dependent.
    s.wharf(&["down", "-t", "0"]).ok();
    s.write(
        r#"
services:
  app:
    image: {{busybox}}
    command: ["sleep", "1000"]
    depends_on:
      init: {condition: service_completed_successfully}
  init:
    image: {{busybox}}
    command: ["sh", "-c", "exit 3"]
"#,
    );
    assert_ne!(s.wharf(&["up", "-d"]).code, 0);
    assert!(s.names(&["-a"]).iter().all(|n| !n.contains("app")));
}

/// `restart: true`: `restart db` restarts db and whoever depends on it
/// with `restart: true`, not the other dependents.
#[test]
fn restart_true_restarts_dependents_too() {
    let Some(s) = Stack::with(
        life(),
        r#"
services:
  db:
    image: {{busybox}}
    command: ["sleep", "1000"]
  app:
    image: {{busybox}}
    command: ["sleep", "1000"]
    depends_on:
      db: {condition: service_started, restart: true}
  other:
    image: {{busybox}}
    command: ["sleep", "1000"]
    depends_on:
      db: {condition: service_started}
"#,
    ) else {
        return;
    };
    s.wharf(&["up", "-d"]).ok();
    let started = |svc: &str| {
        s.inspect(&s.name(&format!("{svc}-1")))["State"]["StartedAt"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };
    let before: Vec<String> = ["db", "app", "other"].iter().map(|n| started(n)).collect();
    s.wharf(&["restart", "-t", "0", "db"]).ok();
    let after: Vec<String> = ["db", "app", "other"].iter().map(|n| started(n)).collect();
    assert_ne!(before[0], after[0], "db was not restarted");
    assert_ne!(before[1], after[1], "app (restart: true) was not restarted");
    assert_eq!(before[2], after[2], "other (restart: false) was restarted");
    for n in ["db-1", "app-1", "other-1"] {
        assert_eq!(s.inspect(&s.name(n))["State"]["Status"], "running");
    }
}

/// `up` recreating a service (its file changed) first stops the services
/// that depend on it with `restart: true`, then starts them again: same
/// container, new start. A dependent without `restart: true` is left
/// running, as Compose does.
#[test]
fn up_recreating_a_dependency_restarts_its_restart_true_dependents() {
    let file = r#"
services:
  db:
    image: {{busybox}}
    command: ["sleep", "1000"]
  app:
    image: {{busybox}}
    command: ["sleep", "1000"]
    depends_on:
      db: {condition: service_started, restart: true}
  other:
    image: {{busybox}}
    command: ["sleep", "1000"]
    depends_on:
      db: {condition: service_started}
"#;
    let Some(s) = Stack::with(life(), file) else {
        return;
    };
    s.wharf(&["up", "-d"]).ok();
    let seen = |svc: &str| {
        let c = s.inspect(&s.name(&format!("{svc}-1")));
        let field = |v: &serde_json::Value| v.as_str().unwrap_or_default().to_string();
        (field(&c["Id"]), field(&c["State"]["StartedAt"]))
    };
    let before: Vec<(String, String)> = ["db", "app", "other"].iter().map(|n| seen(n)).collect();
    s.write(&file.replacen(r#"["sleep", "1000"]"#, r#"["sleep", "1001"]"#, 1));
    let out = s.wharf(&["up", "-d", "-t", "0"]).ok();
    assert!(out.stderr.contains("Recreated"), "{}", out.stderr);
    let after: Vec<(String, String)> = ["db", "app", "other"].iter().map(|n| seen(n)).collect();
    assert_ne!(before[0].0, after[0].0, "db was not recreated");
    assert_eq!(before[1].0, after[1].0, "app was recreated, not restarted");
    assert_ne!(
        before[1].1, after[1].1,
        "app (restart: true) was not restarted"
    );
    assert_eq!(before[2], after[2], "other (restart: false) was touched");
    for n in ["db-1", "app-1", "other-1"] {
        assert_eq!(s.inspect(&s.name(n))["State"]["Status"], "running");
    }
}

/// A service whose image name now points at another image (pulled or
/// tagged since) is recreated by `up`, as Compose does; an `up` with the
/// same image keeps the container.
#[test]
fn up_recreates_a_container_whose_image_changed() {
    let Some(s) = Stack::with(
        life(),
        r#"
services:
  app:
    build: .
    command: ["sleep", "1000"]
"#,
    ) else {
        return;
    };
    let local = format!("{}-app", s.project());
    let python = s.image("python");
    s.store(&["pull", &s.busybox()]).ok();
    s.store(&["pull", &python]).ok();
    s.store(&["tag", &s.busybox(), &local]).ok();
    s.wharf(&["up", "-d"]).ok();
    let app = s.name("app-1");
    let id = || {
        s.inspect(&app)["Id"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };
    let first = id();
    // Debian's marker: in the python image, not in busybox.
    let debian = || {
        s.wharf(&["exec", &app, "test", "-e", "/etc/debian_version"])
            .code
    };
    assert_ne!(debian(), 0);

    s.wharf(&["up", "-d"]).ok();
    assert_eq!(id(), first, "same image: recreated anyway");

    s.store(&["tag", &python, &local]).ok();
    let out = s.wharf(&["up", "-d", "-t", "0"]).ok();
    assert!(out.stderr.contains("Recreated"), "{}", out.stderr);
    assert_ne!(id(), first, "new image: not recreated");
    assert_eq!(debian(), 0, "the new container does not run the new image");
}

/// A recreate that cannot create the new container (its image is not
/// there) fails `up` naming the image and leaves the old container
/// running, as Compose's create-then-replace does.
#[test]
fn failed_recreate_keeps_the_old_container() {
    let file = r#"
services:
  app:
    image: {{busybox}}
    command: ["sleep", "1000"]
"#;
    let Some(s) = Stack::with(life(), file) else {
        return;
    };
    s.wharf(&["up", "-d"]).ok();
    let app = s.name("app-1");
    let id = s.inspect(&app)["Id"].clone();
    s.write(&file.replace(
        "    image: {{busybox}}\n",
        "    image: wharf-test/not-there:1\n    pull_policy: never\n",
    ));
    let out = s.wharf(&["up", "-d", "-t", "0"]);
    assert_ne!(out.code, 0);
    assert!(
        out.stderr.contains("wharf-test/not-there:1"),
        "{}",
        out.stderr
    );
    let kept = s.inspect(&app);
    assert_eq!(kept["Id"], id, "the old container was replaced");
    assert_eq!(kept["State"]["Status"], "running");
}

/// A service that counts up in /out/count, 20 times a second.
const COUNTER: &str = r#"
services:
  counter:
    image: {{busybox}}
    volumes: [./out:/out]
    command: ["sh", "-c", "i=0; while true; do i=$$((i+1)); echo $$i > /out/count.tmp; mv /out/count.tmp /out/count; sleep 0.05; done"]
"#;

/// What the COUNTER service has counted so far.
fn counted(s: &Stack) -> u64 {
    s.read("count")
        .and_then(|c| c.parse().ok())
        .unwrap_or_default()
}

/// `pause` freezes every process (a counter stops), `ps`/`inspect` say
/// paused, `exec` is refused; `unpause` resumes; `down` of a paused stack
/// cleans everything up.
#[test]
fn pause_freezes_unpause_resumes_and_down_takes_paused_containers() {
    let Some(s) = Stack::with(
        life(),
        &(COUNTER.to_owned()
            + r#"  idle:
    image: {{busybox}}
    command: ["sleep", "1000"]
"#),
    ) else {
        return;
    };
    s.wharf(&["up", "-d"]).ok();
    let count = || counted(&s);
    s.until("the counter to count", || count() > 3);

    s.wharf(&["pause", "counter"]).ok();
    let c = s.inspect(&s.name("counter-1"));
    assert_eq!(c["State"]["Status"], "paused");
    assert_eq!(c["State"]["Paused"], true);
    assert_eq!(s.names(&["--status", "paused"]), vec![s.name("counter-1")]);
    let frozen = count();
    std::thread::sleep(Duration::from_millis(800));
    assert_eq!(count(), frozen, "a paused container kept counting");
    let exec = s.wharf(&["exec", &s.name("counter-1"), "true"]);
    assert_ne!(exec.code, 0);
    assert!(exec.stderr.contains("is paused"), "{}", exec.stderr);
    // Pausing twice is an error, as in Docker; by container name works too.
    assert_ne!(s.wharf(&["pause", &s.name("counter-1")]).code, 0);

    s.wharf(&["unpause", &s.name("counter-1")]).ok();
    assert_eq!(
        s.inspect(&s.name("counter-1"))["State"]["Status"],
        "running"
    );
    s.until("the counter to resume", || count() > frozen + 3);

    // The whole project, then down while paused.
    s.wharf(&["pause"]).ok();
    assert_eq!(
        s.names(&["--filter", "status=paused"]),
        vec![s.name("counter-1"), s.name("idle-1")]
    );
    s.wharf(&["down", "-t", "1"]).ok();
    assert!(s.names(&["-a"]).is_empty());
}

/// `down --rmi local` removes only the images Compose named itself
/// (`<project>-<service>`, a service built without `image:`); `--rmi all`
/// every service image.
#[test]
fn down_rmi_local_and_all() {
    let Some(s) = Stack::with(
        life(),
        r#"
services:
  built:
    build: .
    command: ["sleep", "1000"]
  pulled:
    image: {{busybox}}
    command: ["sleep", "1000"]
"#,
    ) else {
        return;
    };
    let local = format!("{}-built", s.project());
    let images = || -> Vec<String> {
        let out = s.store(&["images", "--format", "json"]).ok().stdout;
        let v: Vec<serde_json::Value> = serde_json::from_str(&out).expect("images json");
        let mut names: Vec<String> = v
            .iter()
            .flat_map(|i| i["Repository"].as_array().cloned().unwrap_or_default())
            .filter_map(|r| r.as_str().map(str::to_string))
            .collect();
        names.sort();
        names
    };
    let tagged_local = |names: &[String]| names.iter().any(|n| n.contains(&local));
    let has_busybox = |names: &[String]| names.iter().any(|n| n.contains("fixtures/busybox"));
    s.store(&["pull", &s.busybox()]).ok();
    s.store(&["tag", &s.busybox(), &local]).ok();
    s.wharf(&["up", "-d"]).ok();

    let listed = s.wharf(&["images"]).ok().stdout;
    let header: Vec<&str> = listed
        .lines()
        .next()
        .unwrap_or_default()
        .split("  ")
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .collect();
    assert_eq!(
        header,
        ["CONTAINER", "REPOSITORY", "TAG", "IMAGE ID", "SIZE"],
        "{listed}"
    );
    assert!(
        listed
            .lines()
            .any(|l| l.starts_with(&s.name("built-1")) && l.contains(&local)),
        "{listed}"
    );
    assert!(
        listed
            .lines()
            .any(|l| l.starts_with(&s.name("pulled-1")) && l.contains("busybox")),
        "{listed}"
    );

    s.wharf(&["down", "--rmi", "local", "-t", "0"]).ok();
    let after_local = images();
    assert!(!tagged_local(&after_local), "{after_local:?}");
    assert!(has_busybox(&after_local), "{after_local:?}");

    s.store(&["tag", &s.busybox(), &local]).ok();
    s.wharf(&["up", "-d"]).ok();
    let out = s.wharf(&["down", "--rmi", "all", "-t", "0"]).ok();
    assert!(out.stderr.contains("Removed"), "{}", out.stderr);
    let after_all = images();
    assert!(after_all.is_empty(), "{after_all:?}");
}

/// `ps --status`, `--filter status=|service=`, `--services`, and the
/// project's `top`.
#[test]
fn ps_filters_services_and_top() {
    let Some(s) = Stack::with(
        life(),
        r#"
services:
  a:
    image: {{busybox}}
    command: ["sleep", "1001"]
  b:
    image: {{busybox}}
    command: ["sleep", "1002"]
  c:
    image: {{busybox}}
    command: ["true"]
"#,
    ) else {
        return;
    };
    s.wharf(&["up", "-d"]).ok();
    s.until("c to exit", || {
        s.inspect(&s.name("c-1"))["State"]["Status"] == "exited"
    });
    s.wharf(&["pause", "b"]).ok();
    assert_eq!(s.names(&["--status", "running"]), vec![s.name("a-1")]);
    assert_eq!(s.names(&["--filter", "status=paused"]), vec![s.name("b-1")]);
    assert_eq!(s.names(&["--status", "exited"]), vec![s.name("c-1")]);
    assert_eq!(
        s.names(&["--status", "running", "--status", "exited"]),
        vec![s.name("a-1"), s.name("c-1")]
    );
    assert_eq!(
        s.names(&["-a", "--filter", "service=c"]),
        vec![s.name("c-1")]
    );
    // Paused containers are up: listed without -a.
    assert_eq!(s.names(&[]), vec![s.name("a-1"), s.name("b-1")]);
    assert_eq!(s.wharf(&["ps", "--services"]).ok().stdout, "a\nb\n");
    assert_eq!(
        s.wharf(&["ps", "--services", "-a"]).ok().stdout,
        "a\nb\nc\n"
    );
    assert_eq!(
        s.wharf(&["ps", "--services", "--status", "exited"])
            .ok()
            .stdout,
        "c\n"
    );
    let bad = s.wharf(&["ps", "--filter", "color=red"]);
    assert_ne!(bad.code, 0);
    assert!(
        bad.stderr.contains("unknown filter color"),
        "{}",
        bad.stderr
    );

    let top = s.wharf(&["top"]).ok().stdout;
    let a_at = top.find(&s.name("a-1")).expect("a in top");
    let b_at = top.find(&s.name("b-1")).expect("b in top");
    assert!(top[a_at..b_at].contains("sleep 1001"), "{top}");
    assert!(top[b_at..].contains("sleep 1002"), "{top}");
    assert!(!top.contains(&s.name("c-1")), "{top}");
    let only_a = s.wharf(&["top", "a"]).ok().stdout;
    assert!(
        only_a.contains("sleep 1001") && !only_a.contains("sleep 1002"),
        "{only_a}"
    );
}

/// The freezer through each OCI runtime's own `pause`/`resume` (runc, and
/// crun with its hybrid-host wrapper), and `kill` of a paused container
/// (Docker thaws it so the signal lands).
#[test]
fn pause_through_runc_and_crun_and_kill_while_paused() {
    let Some(s) = Stack::with(life(), COUNTER) else {
        return;
    };
    let count = || counted(&s);
    for runtime in ["runc", "crun"] {
        let _ = std::fs::remove_file(s.out().join("count"));
        s.wharf(&["up", "-d", "--runtime", runtime]).ok();
        s.until("the counter to count", || count() > 3);
        s.wharf(&["pause"]).ok();
        let frozen = count();
        std::thread::sleep(Duration::from_millis(500));
        assert_eq!(
            count(),
            frozen,
            "{runtime}: a paused container kept counting"
        );
        s.wharf(&["unpause"]).ok();
        s.until("the counter to resume", || count() > frozen + 3);
        s.wharf(&["pause"]).ok();
        s.wharf(&["kill", "-s", "KILL"]).ok();
        s.until("the kill to land", || {
            s.inspect(&s.name("counter-1"))["State"]["Status"] == "exited"
        });
        assert_eq!(s.inspect(&s.name("counter-1"))["State"]["ExitCode"], 137);
        s.wharf(&["down", "-t", "0"]).ok();
    }
}
