//! Compose's command-line flags on real stacks (issue #16): the global
//! `--dry-run`, `--parallel`, `--progress`/`--ansi`, and the verb flags
//! `up --abort-on-container-failure --attach-dependencies`, `pull SERVICE
//! --include-deps --ignore-buildable --policy`, `restart --no-deps`,
//! `kill --remove-orphans`, `ps --orphans`, `stats -a --no-trunc`,
//! `wait --down-project`, `create --scale --no-recreate`, `volumes`,
//! `config --resolve-image-digests --lock-image-digests`, `--compatibility` —
//! each checked by what a user sees: output lines, `ps`, exit codes.
//!
//! The dry-run lines follow Docker Compose v2.40.3's, recorded from the real
//! binary against a private engine (`DRY-RUN MODE -` before each progress
//! line); wharf's order is its own executor's (each service created and
//! started in its turn), where Compose creates all, then starts all.
//!
//! Needs root and the loopback registry: run through `scripts/with-registry`.

#[path = "support/harness.rs"]
mod harness;
#[path = "support/pty.rs"]
mod pty;
#[path = "support/stack.rs"]
mod stack;
use pty::Pty;
use stack::Stack;
use std::path::Path;
use yaml_rust2::{Yaml, YamlLoader};

const TWO: &str = r#"
services:
  db:
    image: {{busybox}}
    command: ["sleep", "1000"]
    volumes: [data:/data]
    stop_grace_period: 1s
  web:
    image: {{busybox}}
    command: ["sleep", "1000"]
    depends_on: [db]
    stop_grace_period: 1s
volumes:
  data: {}
"#;

/// The lines of `text` that carry Compose's dry-run prefix, without it.
fn dry_lines(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| l.strip_prefix(" DRY-RUN MODE - "))
        .map(|l| l.trim().to_string())
        .collect()
}

fn has(lines: &[String], want: &str) -> bool {
    lines.iter().any(|l| l == want)
}

#[test]
fn dry_run_reports_each_action_and_changes_nothing() {
    let Some(s) = Stack::new(TWO) else {
        return;
    };
    let p = s.project();
    // Before anything exists: pulls, the volume, the network, both containers.
    let up = s.wharf(&["--dry-run", "up", "-d"]).ok();
    let lines = dry_lines(&up.stderr);
    for want in [
        "db Pulling".to_string(),
        "db Pulled".to_string(),
        format!("Volume {p}_data  Creating"),
        format!("Network {p}_default  Created"),
        format!("Container {p}-db-1  Creating"),
        format!("Container {p}-db-1  Started"),
        format!("Container {p}-web-1  Created"),
        format!("Container {p}-web-1  Started"),
    ] {
        assert!(has(&lines, &want), "no {want:?} in\n{}", up.stderr);
    }
    // Nothing was made: no container, volume, network or image.
    assert!(s.ps().is_empty(), "{:?}", s.ps());
    assert_eq!(s.wharf(&["volume", "ls", "-q"]).ok().stdout.trim(), "");
    assert!(s.net_ids().is_empty());
    assert_eq!(s.wharf(&["images", "-q"]).ok().stdout.trim(), "");
    // `create` and `pull` the same; the flag may follow the verb too.
    let create = s.wharf(&["create", "--dry-run"]).ok();
    assert!(has(
        &dry_lines(&create.stderr),
        &format!("Container {p}-web-1  Created")
    ));
    assert!(!create.stderr.contains("Starting"), "{}", create.stderr);
    let pull = s.wharf(&["--dry-run", "pull"]).ok();
    assert!(
        has(
            &dry_lines(&pull.stderr),
            "web Skipped - Image is already being pulled by db"
        ),
        "{}",
        pull.stderr
    );
    assert!(s.ps().is_empty());
    assert_eq!(s.wharf(&["images", "-q"]).ok().stdout.trim(), "");

    // On a running stack: every verb says what it would do, nothing moves.
    s.wharf(&["up", "-d"]).ok();
    let ids = |s: &Stack| -> Vec<String> {
        let mut v: Vec<String> = s
            .ps()
            .iter()
            .map(|c| format!("{} {}", c["ID"], c["State"]))
            .collect();
        v.sort();
        v
    };
    let before = ids(&s);
    assert_eq!(before.len(), 2, "{before:?}");
    for (verb, want) in [
        (vec!["up", "-d"], format!("Container {p}-db-1  Running")),
        (
            vec!["up", "-d", "--force-recreate"],
            format!("Container {p}-web-1  Recreated"),
        ),
        (vec!["stop"], format!("Container {p}-web-1  Stopped")),
        (vec!["restart"], format!("Container {p}-db-1  Restarting")),
        (vec!["kill"], format!("Container {p}-db-1  Killed")),
        (vec!["pause"], format!("Container {p}-web-1  Paused")),
        (vec!["rm", "-sf"], format!("Container {p}-db-1  Removed")),
        (vec!["down", "-v"], format!("Volume {p}_data  Removed")),
    ] {
        let mut args = vec!["--dry-run"];
        args.extend(verb.iter());
        let out = s.wharf(&args).ok();
        assert!(
            has(&dry_lines(&out.stderr), &want),
            "wharf {args:?}: no {want:?} in\n{}",
            out.stderr
        );
        assert_eq!(ids(&s), before, "wharf {args:?} changed the containers");
    }
    assert_eq!(
        s.wharf(&["volume", "ls", "-q"]).ok().stdout.trim(),
        format!("{p}_data")
    );
    // Verbs without a dry run refuse it, naming the flag, and do nothing.
    let run = s.wharf(&["--dry-run", "run", "web", "true"]);
    assert_ne!(run.code, 0);
    assert!(run.stderr.contains("--dry-run"), "{}", run.stderr);
    let stop = s.wharf(&["--dry-run", "stop", &s.name("db-1")]);
    assert_ne!(stop.code, 0);
    assert!(stop.stderr.contains("--dry-run"), "{}", stop.stderr);
    assert_eq!(ids(&s), before);
}

#[test]
fn abort_on_container_failure_stops_on_a_failure_not_on_success() {
    let Some(s) = Stack::new(
        r#"
services:
  ok:
    image: {{busybox}}
    command: ["sh", "-c", "echo ok done"]
  bad:
    image: {{busybox}}
    command: ["sh", "-c", "sleep 1; echo failing; exit 3"]
  side:
    image: {{busybox}}
    command: ["sleep", "1000"]
    stop_grace_period: 1s
"#,
    ) else {
        return;
    };
    let out = s.wharf(&["up", "--abort-on-container-failure", "--no-color"]);
    // `ok` exiting 0 first did not stop the stack; `bad` exiting 3 did.
    assert_eq!(out.code, 3, "{}\n{}", out.stdout, out.stderr);
    assert!(
        out.stdout.contains("ok-1 exited with code 0"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("bad-1  | failing"), "{}", out.stdout);
    assert!(
        s.ps().iter().all(|c| c["State"] == "exited"),
        "{:?}",
        s.ps()
    );
    // Compose's refusals, naming the flags.
    let both = s.wharf(&[
        "up",
        "--abort-on-container-failure",
        "--abort-on-container-exit",
    ]);
    assert_ne!(both.code, 0);
    assert!(
        both.stderr.contains(
            "--abort-on-container-failure cannot be combined with --abort-on-container-exit"
        ),
        "{}",
        both.stderr
    );
    let detached = s.wharf(&["up", "-d", "--abort-on-container-failure"]);
    assert_ne!(detached.code, 0);
    assert!(detached.stderr.contains("--detach cannot be combined"));
}

#[test]
fn up_service_attaches_to_it_alone_unless_attach_dependencies() {
    let Some(s) = Stack::new(
        r#"
services:
  db:
    image: {{busybox}}
    command: ["sh", "-c", "echo db speaks; sleep 1"]
  web:
    image: {{busybox}}
    command: ["sh", "-c", "sleep 0.5; echo web speaks"]
    depends_on: [db]
"#,
    ) else {
        return;
    };
    let alone = s.wharf(&["up", "web", "--no-color", "-y"]).ok();
    assert!(
        alone.stdout.contains("Attaching to web-1\n"),
        "{}",
        alone.stdout
    );
    assert!(alone.stdout.contains("web speaks"), "{}", alone.stdout);
    assert!(!alone.stdout.contains("db speaks"), "{}", alone.stdout);
    s.wharf(&["down", "-t", "0"]).ok();
    let deps = s
        .wharf(&["up", "web", "--attach-dependencies", "--no-color"])
        .ok();
    assert!(
        deps.stdout.contains("Attaching to db-1, web-1"),
        "{}",
        deps.stdout
    );
    assert!(deps.stdout.contains("db-1  | db speaks"), "{}", deps.stdout);
    s.wharf(&["down", "-t", "0"]).ok();
    // Without a terminal `--menu` is the plain attached `up` (Compose's
    // rule: the menu needs one).
    let plain = s.wharf(&["up", "--menu", "web", "--no-color"]).ok();
    assert!(plain.stdout.contains("web speaks"), "{}", plain.stdout);
    assert!(!plain.stdout.contains("Detach"), "{}", plain.stdout);
}

#[test]
fn pull_selects_services_like_compose() {
    let Some(s) = Stack::new(
        r#"
services:
  db:
    image: {{redis}}
  web:
    image: {{busybox}}
    depends_on: [db]
  app:
    image: {{python}}
    build: .
"#,
    ) else {
        return;
    };
    std::fs::write(s.dir.path().join("Dockerfile"), "FROM scratch\n").expect("Dockerfile");
    // `pull web`: the service alone (a service name, not an image).
    let web = s.wharf(&["pull", "web"]).ok();
    assert!(web.stderr.contains(" web Pulled"), "{}", web.stderr);
    assert!(!web.stderr.contains(" db "), "{}", web.stderr);
    // With its dependency.
    let deps = s.wharf(&["pull", "--include-deps", "web"]).ok();
    assert!(deps.stderr.contains(" db Pulled"), "{}", deps.stderr);
    // Buildable services skipped; present images skipped with --policy missing.
    let rest = s
        .wharf(&["pull", "--ignore-buildable", "--policy", "missing"])
        .ok();
    for want in [
        " app Skipped - Image can be built",
        " web Skipped - Image is already present locally",
        " db Skipped - Image is already present locally",
    ] {
        assert!(rest.stderr.contains(want), "no {want:?} in {}", rest.stderr);
    }
    let always = s.wharf(&["pull", "--policy", "always", "web"]).ok();
    assert!(always.stderr.contains(" web Pulled"), "{}", always.stderr);
    let bad = s.wharf(&["pull", "--policy", "never"]);
    assert_ne!(bad.code, 0);
    assert!(bad.stderr.contains("--policy"), "{}", bad.stderr);
}

#[test]
fn restart_no_deps_leaves_restart_true_dependents_alone() {
    let Some(s) = Stack::new(
        r#"
services:
  db:
    image: {{busybox}}
    command: ["sleep", "1000"]
    stop_grace_period: 1s
  api:
    image: {{busybox}}
    command: ["sleep", "1000"]
    stop_grace_period: 1s
    depends_on:
      db: {condition: service_started, restart: true}
"#,
    ) else {
        return;
    };
    let p = s.project();
    s.wharf(&["up", "-d"]).ok();
    let with = s.wharf(&["--progress", "plain", "restart", "db"]).ok();
    assert!(
        with.stderr
            .contains(&format!("Container {p}-api-1  Restarting")),
        "{}",
        with.stderr
    );
    let without = s
        .wharf(&["--progress", "plain", "restart", "--no-deps", "db"])
        .ok();
    assert!(
        without
            .stderr
            .contains(&format!("Container {p}-db-1  Restarting")),
        "{}",
        without.stderr
    );
    assert!(!without.stderr.contains("api-1"), "{}", without.stderr);
}

#[test]
fn orphans_are_killed_and_listed_only_when_asked() {
    let Some(s) = Stack::new(
        r#"
services:
  keep:
    image: {{busybox}}
    command: ["sleep", "1000"]
  gone:
    image: {{busybox}}
    command: ["sleep", "1000"]
"#,
    ) else {
        return;
    };
    s.wharf(&["up", "-d"]).ok();
    s.write(
        r#"
services:
  keep:
    image: {{busybox}}
    command: ["sleep", "1000"]
"#,
    );
    let gone = s.name("gone-1");
    let keep = s.name("keep-1");
    assert_eq!(s.names(&["-a"]), [gone.clone(), keep.clone()]);
    assert_eq!(s.names(&["-a", "--orphans=false"]), vec![keep.clone()]);
    // Without --remove-orphans, kill leaves the orphan running.
    s.wharf(&["kill"]).ok();
    let state = |name: &str| Stack::container(&s.ps(), name)["State"].clone();
    s.until("keep is killed", || state(&keep) == "exited");
    assert_eq!(state(&gone), "running");
    s.wharf(&["kill", "--remove-orphans"]).ok();
    s.until("the orphan is killed", || state(&gone) == "exited");
    s.wharf(&["down", "--remove-orphans", "-t", "0"]).ok();
}

#[test]
fn stats_all_lists_stopped_containers_with_full_ids() {
    let Some(s) = Stack::new(
        r#"
services:
  up:
    image: {{busybox}}
    command: ["sleep", "1000"]
  done:
    image: {{busybox}}
    command: ["true"]
"#,
    ) else {
        return;
    };
    s.wharf(&["up", "-d"]).ok();
    s.until("done exits", || {
        Stack::container(&s.ps(), &s.name("done-1"))["State"] == "exited"
    });
    let fmt = ["--no-stream", "--format", "{{.ID}} {{.Name}} {{.MemUsage}}"];
    let running: Vec<String> = s
        .wharf(&[&["stats"][..], &fmt[..]].concat())
        .ok()
        .stdout
        .lines()
        .map(str::to_string)
        .collect();
    assert_eq!(running.len(), 1, "{running:?}");
    assert!(running[0].contains(&s.name("up-1")));
    assert_eq!(running[0].split(' ').next().map(str::len), Some(12));
    let all = s
        .wharf(&[&["stats", "-a", "--no-trunc"][..], &fmt[..]].concat())
        .ok()
        .stdout;
    let done = all
        .lines()
        .find(|l| l.contains(&s.name("done-1")))
        .unwrap_or_else(|| panic!("no stopped container in {all}"));
    assert_eq!(done.split(' ').next().map(str::len), Some(64), "{done}");
    assert!(done.ends_with("0B / 0B"), "{done}");
    // NET I/O counts the container's own interfaces (loopback aside): the
    // replies of a ping to its gateway show there; Docker's columns.
    let gw = s.exec("up-1", "ip route | awk '/^default/ {print $3}'");
    s.exec(
        "up-1",
        &format!("ping -c 2 -W 2 {} >/dev/null; true", gw.trim()),
    );
    let io = s
        .wharf(&[
            "stats",
            "--no-stream",
            "--format",
            "{{.NetIO}}|{{.BlockIO}}",
            &s.name("up-1"),
        ])
        .ok()
        .stdout;
    let (net, block) = io.trim().split_once('|').expect("two fields");
    assert!(!net.starts_with("0B /") && net.contains(" / "), "{io}");
    assert!(block.contains(" / "), "{io}");
    let table = s.wharf(&["stats", "--no-stream"]).ok().stdout;
    let header = table.lines().next().unwrap_or_default();
    for column in ["CPU %", "MEM USAGE / LIMIT", "NET I/O", "BLOCK I/O", "PIDS"] {
        assert!(header.contains(column), "{header}");
    }
}

#[test]
fn wait_down_project_takes_the_stack_down_after_the_first_exit() {
    let Some(s) = Stack::new(
        r#"
services:
  job:
    image: {{busybox}}
    command: ["sh", "-c", "sleep 1; exit 4"]
  side:
    image: {{busybox}}
    command: ["sleep", "1000"]
    stop_grace_period: 1s
"#,
    ) else {
        return;
    };
    s.wharf(&["up", "-d"]).ok();
    let out = s.wharf(&["wait", "--down-project", "job"]);
    assert_eq!(out.code, 4, "{}\n{}", out.stdout, out.stderr);
    assert!(s.ps().is_empty(), "{:?}", s.ps());
    assert!(s.net_ids().is_empty());
}

#[test]
fn create_takes_compose_flags_and_volumes_lists_the_project_volumes() {
    let Some(s) = Stack::new(TWO) else {
        return;
    };
    let p = s.project();
    s.wharf(&["create", "--scale", "web=2", "-y"]).ok();
    assert_eq!(
        s.names(&["-a"]),
        [
            format!("{p}-db-1"),
            format!("{p}-web-1"),
            format!("{p}-web-2")
        ]
    );
    assert!(s.ps().iter().all(|c| c["State"] == "created"));
    let ids: Vec<String> = s.ps().iter().map(|c| c["ID"].to_string()).collect();
    // --no-recreate keeps them even with a changed config.
    s.write(&TWO.replace("\"1000\"]\n    volumes", "\"999\"]\n    volumes"));
    s.wharf(&["create", "--no-recreate", "--scale", "web=2"])
        .ok();
    let again: Vec<String> = s.ps().iter().map(|c| c["ID"].to_string()).collect();
    assert_eq!(ids, again);
    let docker_flag = s.store(&["create", "--scale", "x=2", &s.busybox()]);
    assert_ne!(docker_flag.code, 0);
    assert!(
        docker_flag.stderr.contains("--scale"),
        "{}",
        docker_flag.stderr
    );

    assert_eq!(
        s.wharf(&["volumes", "-q"]).ok().stdout.trim(),
        format!("{p}_data")
    );
    let table = s.wharf(&["volumes"]).ok().stdout;
    assert_eq!(
        table,
        format!("DRIVER    VOLUME NAME\nlocal     {p}_data\n")
    );
    assert_eq!(s.wharf(&["volumes", "-q", "web"]).ok().stdout.trim(), "");
    assert_eq!(
        s.wharf(&["volumes", "-q", "db"]).ok().stdout.trim(),
        format!("{p}_data")
    );
}

#[test]
fn global_progress_ansi_and_parallel_apply() {
    let Some(s) = Stack::new(TWO) else {
        return;
    };
    let p = s.project();
    // --progress json: one JSON object per event.
    let json = s
        .wharf(&["--progress", "json", "--parallel", "1", "up", "-d"])
        .ok();
    let event = json
        .stderr
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| v["id"] == format!("Container {p}-db-1") && v["status"] == "Started");
    assert!(event.is_some(), "{}", json.stderr);
    // --progress quiet: nothing.
    let quiet = s.wharf(&["--progress", "quiet", "stop"]).ok();
    assert!(!quiet.stderr.contains("Stopped"), "{}", quiet.stderr);
    // --ansi never: plain lines; with --progress tty, Compose's refusal.
    let plain = s.wharf(&["--ansi", "never", "start"]).ok();
    assert!(
        plain
            .stderr
            .contains(&format!(" Container {p}-db-1  Started")),
        "{}",
        plain.stderr
    );
    let clash = s.wharf(&["--ansi", "never", "--progress", "tty", "ps"]);
    assert_ne!(clash.code, 0);
    assert!(
        clash
            .stderr
            .contains("can't use --progress tty while ANSI support is disabled"),
        "{}",
        clash.stderr
    );
}

#[test]
fn all_resources_makes_the_volumes_and_networks_no_service_uses() {
    let Some(s) = Stack::new(
        r#"
services:
  web:
    image: {{busybox}}
    command: ["sleep", "1000"]
    stop_grace_period: 1s
volumes:
  spare: {}
networks:
  extra: {}
"#,
    ) else {
        return;
    };
    let p = s.project();
    s.wharf(&["up", "-d"]).ok();
    assert_eq!(s.wharf(&["volume", "ls", "-q"]).ok().stdout.trim(), "");
    let nets = s
        .wharf(&["network", "ls", "--format", "{{.Name}}"])
        .ok()
        .stdout;
    assert!(!nets.contains(&format!("{p}_extra")), "{nets}");
    s.wharf(&["--all-resources", "up", "-d"]).ok();
    assert_eq!(
        s.wharf(&["volume", "ls", "-q"]).ok().stdout.trim(),
        format!("{p}_spare")
    );
    let nets = s
        .wharf(&["network", "ls", "--format", "{{.Name}}"])
        .ok()
        .stdout;
    assert!(nets.contains(&format!("{p}_extra")), "{nets}");
}

/// The file `path` in the tar at `tar`, if the tar holds it.
fn file_in_tar(tar: &std::path::Path, path: &str) -> Option<String> {
    let file = std::fs::File::open(tar).expect("open tar");
    let mut archive = tar::Archive::new(file);
    for entry in archive.entries().expect("tar entries") {
        let mut entry = entry.expect("tar entry");
        let name = entry
            .path()
            .expect("entry path")
            .to_string_lossy()
            .into_owned();
        if name.trim_start_matches("./") == path {
            let mut text = String::new();
            std::io::Read::read_to_string(&mut entry, &mut text).expect("read entry");
            return Some(text);
        }
    }
    None
}

/// `export SERVICE` and `commit SERVICE [REPO[:TAG]]` are Compose's forms
/// (v2.40.3's export.go/commit.go): the service's running container, the
/// first unless `--index N`; commit tells the new id in its progress line,
/// not on stdout. Errors are Compose's words (exit 1) for a service with no
/// running container; a name that is no service is a container name, as
/// for `exec`.
#[test]
fn export_and_commit_take_a_service_and_its_replica() {
    let Some(s) = Stack::new(
        r#"
services:
  web:
    image: {{busybox}}
    command: ["sh", "-c", "echo one > /marker; sleep 1000"]
    scale: 2
    stop_grace_period: 1s
"#,
    ) else {
        return;
    };
    s.wharf(&["up", "-d"]).ok();
    s.until("both replicas wrote /marker", || {
        ["1", "2"].iter().all(|i| {
            s.wharf(&["exec", "--index", i, "web", "cat", "/marker"])
                .stdout
                .trim()
                == "one"
        })
    });
    s.wharf(&[
        "exec",
        "--index",
        "2",
        "web",
        "sh",
        "-c",
        "echo two > /marker",
    ])
    .ok();

    let first = s.dir.path().join("first.tar");
    let second = s.dir.path().join("second.tar");
    let path = |p: &std::path::Path| p.to_str().expect("utf-8").to_string();
    let out = s.wharf(&["export", "-o", &path(&first), "web"]).ok();
    assert!(out.stdout.is_empty(), "{}", out.stdout);
    assert_eq!(file_in_tar(&first, "marker").as_deref(), Some("one\n"));
    s.wharf(&["export", "--index", "2", "--output", &path(&second), "web"])
        .ok();
    assert_eq!(file_in_tar(&second, "marker").as_deref(), Some("two\n"));

    let committed = s
        .wharf(&[
            "--progress",
            "plain",
            "commit",
            "-m",
            "from web",
            "web",
            "webimg:v1",
        ])
        .ok();
    assert!(committed.stdout.is_empty(), "{}", committed.stdout);
    let line = format!("Container {}  Committed as sha256:", s.name("web-1"));
    assert!(committed.stderr.contains(&line), "{}", committed.stderr);
    s.wharf(&["commit", "--index", "2", "web", "webimg:v2"])
        .ok();
    for (tag, want) in [("webimg:v1", "one"), ("webimg:v2", "two")] {
        let run = s
            .wharf(&["run", "--rm", "--network", "none", tag, "cat", "/marker"])
            .ok();
        assert_eq!(run.stdout.trim(), want, "{tag}");
    }

    let no_replica = s.wharf(&["export", "-o", &path(&first), "--index", "3", "web"]);
    assert_eq!(no_replica.code, 1);
    assert!(
        no_replica
            .stderr
            .contains("service \"web\" is not running container #3"),
        "{}",
        no_replica.stderr
    );
    let unknown = s.wharf(&["commit", "nosuch"]);
    assert_eq!(unknown.code, 1);
    assert!(unknown.stderr.contains("nosuch"), "{}", unknown.stderr);

    s.wharf(&["stop"]).ok();
    let stopped = std::fs::metadata(&first).expect("first.tar").modified();
    for args in [
        &["export", "-o", &path(&first), "web"][..],
        &["commit", "web"],
    ] {
        let refused = s.wharf(args);
        assert_eq!(refused.code, 1, "{args:?}");
        assert!(
            refused.stderr.contains("service \"web\" is not running"),
            "{args:?}: {}",
            refused.stderr
        );
    }
    // The refused export left the earlier file alone.
    assert_eq!(
        std::fs::metadata(&first)
            .expect("first.tar")
            .modified()
            .ok(),
        stopped.ok()
    );
}

/// `attach --detach-keys` from a terminal (Compose's form; it runs docker
/// attach's code): what is typed reaches the service's shell, a partial
/// sequence followed by other bytes is passed on unchanged, the whole
/// sequence detaches with "read escape sequence" and exit code 1 while the
/// container runs on (recorded from Compose v2.40.3 and Docker CLI 28.2.2
/// against a private engine through a pty). A spec moby's term.ToBytes does
/// not read is refused (exit 1) before anything is attached.
#[test]
fn attach_detach_keys_leave_the_service_running() {
    let Some(s) = Stack::new(
        r#"
services:
  shell:
    image: {{busybox}}
    command: ["sh"]
    tty: true
    stdin_open: true
    network_mode: none
    stop_grace_period: 1s
"#,
    ) else {
        return;
    };
    s.wharf(&["up", "-d"]).ok();
    let bad = s.wharf(&["attach", "--detach-keys", "ctrl-P", "shell"]);
    assert_eq!(bad.code, 1);
    assert!(
        bad.stderr.contains("Invalid detach keys (ctrl-P) provided"),
        "{}",
        bad.stderr
    );

    let mut pty = Pty::open(24, 80);
    let mut child = pty.spawn(s.cmd(&["attach", "--detach-keys", "x,y", "shell"]));
    let wait = std::time::Duration::from_secs(30);
    // "x" then " ": the partial sequence goes on, so the file holds "ax";
    // the quotes keep the echo of the typed line from matching "ready".
    pty.send(b"echo ax > /typed; echo re''ady\r");
    pty.expect("ready\r\n", 0, wait);
    pty.send(b"xy");
    let status = pty.wait(&mut child, wait);
    assert_eq!(status.code(), Some(1), "{:?}", pty.seen());
    assert!(
        pty.seen().contains("read escape sequence"),
        "{:?}",
        pty.seen()
    );
    let name = s.name("shell-1");
    assert_eq!(Stack::container(&s.ps(), &name)["State"], "running");
    let typed = s.wharf(&["exec", "-T", "shell", "cat", "/typed"]).ok();
    assert_eq!(typed.stdout, "ax\n");
    s.wharf(&["down", "-t", "0"]).ok();
}

/// `run SERVICE` from a terminal gets one (Compose's default) and is
/// attached as `docker run -it` is: the prompt shows before any newline,
/// ctrl-p,ctrl-q detach it with exit code 0 (Compose runs docker's
/// `start` code, which takes the detach as a success) and the one-off runs
/// on; `attach` then types into it and takes its exit code.
#[test]
fn run_from_a_terminal_detaches_and_runs_on() {
    let Some(s) = Stack::new(
        r#"
services:
  shell:
    image: {{busybox}}
    command: ["sh"]
    network_mode: none
    stop_grace_period: 1s
"#,
    ) else {
        return;
    };
    let wait = std::time::Duration::from_secs(30);
    let mut pty = Pty::open(24, 80);
    let mut child = pty.spawn(s.cmd(&["run", "--name", "oneoff-it", "shell"]));
    pty.expect("/ # ", 0, wait);
    pty.send(b"\x10\x11");
    let status = pty.wait(&mut child, wait);
    assert_eq!(status.code(), Some(0), "{:?}", pty.seen());
    let state = s
        .wharf(&["inspect", "-f", "{{.State.Status}}", "oneoff-it"])
        .ok()
        .stdout;
    assert_eq!(state.trim(), "running");
    let mut pty = Pty::open(24, 80);
    let mut child = pty.spawn(s.cmd(&["attach", "oneoff-it"]));
    pty.send(b"exit 5\r");
    let status = pty.wait(&mut child, wait);
    assert_eq!(status.code(), Some(5), "{:?}", pty.seen());
    s.wharf(&["down", "--remove-orphans", "-t", "0"]).ok();
    s.wharf(&["rm", "-f", "oneoff-it"]);
}

/// `up --menu` in a terminal: Compose's navigation menu under the logs
/// ("w Enable Watch   d Detach", its v2.40.3 text without the Docker
/// Desktop entries); `w` starts the watch (its initial sync copies the
/// file in) and stops it, `d` detaches with exit code 0 and the
/// containers running.
#[test]
fn up_menu_toggles_the_watch_and_detaches() {
    let Some(s) = Stack::new(
        r#"
services:
  web:
    image: {{busybox}}
    command: ["sh", "-c", "mkdir -p /app; echo serving; exec sleep 86400"]
    stop_grace_period: 1s
    develop:
      watch:
        - path: ./app
          action: sync
          target: /app
          initial_sync: true
"#,
    ) else {
        return;
    };
    std::fs::create_dir(s.dir.path().join("app")).expect("mkdir app");
    std::fs::write(s.dir.path().join("app/hello"), "hi\n").expect("write");
    let mut term = Pty::open(24, 120);
    let mut child = term.spawn(s.cmd(&["up", "--menu"]));
    let wait = std::time::Duration::from_secs(60);
    let at = term.expect("serving", 0, wait);
    let at = term.expect("Enable Watch", at, wait);
    term.send(b"w");
    let at = term.expect("Disable Watch", at, wait);
    s.until("the watch synced app/hello", || {
        s.wharf(&["exec", "-T", "web", "cat", "/app/hello"]).stdout == "hi\n"
    });
    term.send(b"w");
    term.expect("Enable Watch", at, wait);
    term.send(b"d");
    let status = term.wait(&mut child, wait);
    assert_eq!(status.code(), Some(0), "{:?}", term.seen());
    assert_eq!(
        Stack::container(&s.ps(), &s.name("web-1"))["State"],
        "running"
    );
    s.wharf(&["down", "-t", "0"]).ok();
}

/// A file of tests/data/config-digests/ (recorded from Docker Compose v2.40.3
/// with a private engine by scripts/config-digests-goldens), its registry,
/// fixture digests and project directory filled in.
fn digests_golden(file: &str, registry: &str, dir: &Path) -> String {
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/config-digests");
    let text = std::fs::read_to_string(data.join(file)).expect("golden");
    let cache = std::env::var("WHARF_FIXTURES_CACHE")
        .unwrap_or_else(|_| "/var/cache/wharf-fixtures".into());
    // The digest each fixture was pushed under: its layout's top manifest.
    let digest = |name: &str| -> String {
        let index = std::fs::read(Path::new(&cache).join("oci").join(name).join("index.json"))
            .expect("fixture layout");
        let index: serde_json::Value = serde_json::from_slice(&index).expect("index.json");
        index["manifests"][0]["digest"]
            .as_str()
            .expect("digest")
            .to_string()
    };
    text.replace("{{registry}}", registry)
        .replace("{{digest:busybox}}", &digest("busybox"))
        .replace("{{digest:multiarch}}", &digest("multiarch"))
        .replace("{{dir}}", &dir.display().to_string())
}

fn yaml(text: &str) -> Yaml {
    YamlLoader::load_from_str(text)
        .expect("YAML")
        .pop()
        .expect("a document")
}

#[test]
fn config_pins_images_to_the_digests_compose_resolves() {
    let Some(registry) = harness::registry() else {
        return;
    };
    let Some(s) = Stack::new("services: {}\n") else {
        return;
    };
    let dir = s.dir.path();
    s.write(&digests_golden("compose.yaml", &registry, dir));
    std::fs::write(dir.join("Dockerfile"), "FROM scratch\n").expect("Dockerfile");
    let golden = |file: &str| digests_golden(file, &registry, dir);

    // The lock files: the pinned images alone (the multi-arch image by its
    // index's digest, the pinned one without its tag, the build-only service
    // empty). JSON byte for byte, but for the newline wharf ends it with;
    // YAML as data, since wharf's emitter quotes the images Go's does not.
    for (file, args) in [
        (
            "lock.json",
            &["--lock-image-digests", "--format", "json"][..],
        ),
        (
            "lock-no-interpolate.json",
            &[
                "--no-interpolate",
                "--lock-image-digests",
                "--format",
                "json",
            ],
        ),
    ] {
        let out = s.wharf(&[&["config"], args].concat()).ok();
        assert_eq!(out.stdout.trim_end(), golden(file), "{file}");
    }
    let lock = s.wharf(&["config", "--lock-image-digests"]).ok();
    assert_eq!(yaml(&lock.stdout), yaml(&golden("lock.yaml")));
    // Resolving changes the images and nothing else.
    let resolved = yaml(&s.wharf(&["config", "--resolve-image-digests"]).ok().stdout);
    let Yaml::Hash(mut plain) = yaml(&s.wharf(&["config"]).ok().stdout) else {
        panic!("config is not a map");
    };
    let compose = yaml(&golden("resolve.yaml"));
    let services = Yaml::String("services".into());
    let Some(Yaml::Hash(svcs)) = plain.get_mut(&services) else {
        panic!("no services");
    };
    for (name, svc) in svcs.iter_mut() {
        let image = &compose["services"][name.as_str().expect("name")]["image"];
        if let Some(own) = svc
            .as_mut_hash()
            .and_then(|h| h.get_mut(&Yaml::String("image".into())))
        {
            *own = image.clone();
        }
    }
    assert_eq!(resolved, Yaml::Hash(plain));

    // A build service whose image was never pushed, and a registry that does
    // not answer: Compose's first words naming the image (the rest is the
    // engine's there, the registry client's here), exit 1, and no file
    // half-written by -o.
    for (file, flag, compose) in [
        (
            "not-pushed.txt",
            "--resolve-image-digests",
            format!("services:\n  app:\n    image: {registry}/wharf-fixtures/notpushed:1\n    build: .\n"),
        ),
        (
            "unreachable.txt",
            "--lock-image-digests",
            "services:\n  gone:\n    image: 127.0.0.1:5999/wharf-fixtures/busybox:1\n".to_string(),
        ),
    ] {
        s.write(&compose);
        let want = golden(file);
        let prefix = want
            .split(": Error response from daemon: ")
            .next()
            .expect("prefix");
        let lock_file = dir.join("lock.yaml");
        let out = s.wharf(&["config", flag, "-o", "lock.yaml"]);
        assert_eq!(out.code, 1, "{}", out.stderr);
        assert!(out.stderr.starts_with(&format!("{prefix}: ")), "{file}: {}", out.stderr);
        assert!(!lock_file.exists(), "{file}: lock.yaml was written");
    }
}

/// `--parallel 1` works on one service at a time: each one's start has
/// ended ("Started") before the next begins ("Starting"); with room for
/// three, the three independent services (each held in its start by a
/// `post_start` hook) are started side by side.
#[test]
fn parallel_limits_how_many_services_start_at_once() {
    let Some(s) = Stack::new(
        r#"
services:
  a: &svc
    image: {{busybox}}
    command: ["sleep", "1000"]
    network_mode: none
    stop_grace_period: 1s
    post_start:
      - command: ["sleep", "1"]
  b: *svc
  c: *svc
"#,
    ) else {
        return;
    };
    // The most services between "Starting" and "Started" at any moment.
    let most_at_once = |parallel: &str| -> usize {
        let up = s
            .wharf(&["--progress", "json", "--parallel", parallel, "up", "-d"])
            .ok();
        let (mut now, mut most) = (0usize, 0usize);
        for v in up
            .stderr
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        {
            match v["status"].as_str() {
                Some("Starting") => now += 1,
                Some("Started") => now = now.saturating_sub(1),
                _ => {}
            }
            most = most.max(now);
        }
        s.wharf(&["down", "-t", "0"]).ok();
        most
    };
    assert_eq!(most_at_once("1"), 1);
    assert_eq!(most_at_once("3"), 3);
}

/// `ps -l` / `ps -n N` are Docker's flags: in a project's directory they
/// list the newest containers as `docker ps -l` does (so `alias
/// docker=wharf` holds there), not the project's services; so does
/// `container ls`.
#[test]
fn docker_ps_latest_works_in_a_project_directory() {
    let Some(s) = Stack::new(TWO) else {
        return;
    };
    s.wharf(&["up", "-d"]).ok();
    let latest = s.wharf(&["ps", "-l", "--format", "{{.Names}}"]).ok().stdout;
    assert_eq!(latest.lines().count(), 1, "{latest}");
    let two = s.wharf(&["ps", "-n", "2", "-q"]).ok().stdout;
    assert_eq!(two.lines().count(), 2, "{two}");
    let named = s.wharf(&["ps", "-l", "db"]);
    assert_ne!(named.code, 0);
    // `container ls` is Docker's listing there too (`ps` alone is Compose's).
    let docker = s.wharf(&["container", "ls"]).ok().stdout;
    assert!(docker.starts_with("CONTAINER ID"), "{docker}");
    let compose = s.wharf(&["ps"]).ok().stdout;
    assert!(compose.starts_with("NAME"), "{compose}");
    s.wharf(&["down", "-t", "0"]).ok();
}

/// `--compatibility` on every verb: Compose v1's `_` in the names of
/// containers (Compose v2.40.3 sets `api.Separator = "_"`; read from its
/// cmd/compose/compose.go and pkg/compose/convergence.go), so `up -d` makes
/// `<project>_web_1` and its log prefix is `web_1`; networks keep their
/// `<project>_default`. ps, exec, logs and down find it; down leaves nothing.
#[test]
fn compatibility_names_containers_as_compose_v1() {
    let Some(s) = Stack::new(
        r#"
services:
  web:
    image: {{busybox}}
    command: ["sh", "-c", "echo hello from web; sleep 1000"]
    stop_grace_period: 1s
"#,
    ) else {
        return;
    };
    let p = s.project();
    let v1 = format!("{p}_web_1");
    s.wharf(&["--compatibility", "up", "-d"]).ok();
    let ps = s
        .wharf(&["--compatibility", "ps", "--format", "json"])
        .ok()
        .stdout;
    let names: Vec<String> = ps
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .map(|c| c["Name"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(names, [v1.as_str()]);
    let networks = s.wharf(&["network", "ls"]).ok().stdout;
    assert!(networks.contains(&format!("{p}_default")), "{networks}");
    let by_service = s
        .wharf(&["--compatibility", "exec", "web", "hostname"])
        .ok()
        .stdout;
    let by_name = s.wharf(&["exec", &v1, "hostname"]).ok().stdout;
    assert!(!by_service.trim().is_empty());
    assert_eq!(by_service, by_name);
    s.until("web's first line", || {
        s.wharf(&["--compatibility", "logs", "web"])
            .stdout
            .contains("hello from web")
    });
    let logs = s.wharf(&["--compatibility", "logs", "web"]).ok().stdout;
    assert!(
        logs.lines()
            .any(|l| l.starts_with("web_1") && l.ends_with("| hello from web")),
        "{logs}"
    );
    // Without the flag the names are v2's, so `up` would add `{p}-web-1`;
    // `down` finds the v1 container by its labels either way.
    s.wharf(&["--compatibility", "down"]).ok();
    assert!(s.ps().is_empty(), "{:?}", s.ps());
    assert!(
        !s.wharf(&["network", "ls"])
            .ok()
            .stdout
            .contains(&format!("{p}_default")),
        "network left"
    );
}
