//! `wharf config` as a user runs it: the bundled samples, the listing flags,
//! the graph, and hostile or broken input that must end in a clear error
//! (file, line, key) — never a panic or a hang.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

struct Output {
    code: i32,
    stdout: String,
    stderr: String,
}

/// Runs wharf with a clean environment; kills it after `limit` so a hang
/// fails the test instead of the suite.
fn wharf_in(dir: &Path, args: &[&str], stdin: Option<&str>, limit: Duration) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_wharf"));
    cmd.args(args)
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", dir)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn wharf");
    if let Some(input) = stdin {
        let mut pipe = child.stdin.take().expect("stdin");
        pipe.write_all(input.as_bytes()).expect("write stdin");
    }
    // Drain the pipes while waiting, or a large output would block wharf.
    let mut out_pipe = child.stdout.take().expect("stdout");
    let mut err_pipe = child.stderr.take().expect("stderr");
    let out_reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = std::io::Read::read_to_end(&mut out_pipe, &mut buf);
        buf
    });
    let err_reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = std::io::Read::read_to_end(&mut err_pipe, &mut buf);
        buf
    });
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            panic!("wharf {args:?} did not finish within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Output {
        code: status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out_reader.join().expect("stdout reader")).into_owned(),
        stderr: String::from_utf8_lossy(&err_reader.join().expect("stderr reader")).into_owned(),
    }
}

fn wharf(dir: &Path, args: &[&str]) -> Output {
    wharf_in(dir, args, None, Duration::from_secs(60))
}

fn project(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::Builder::new()
        .prefix("wharf-cli")
        .tempdir()
        .expect("tempdir");
    for (name, content) in files {
        let p = dir.path().join(name);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).expect("mkdir");
        }
        std::fs::write(p, content).expect("write");
    }
    dir
}

fn samples() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("compose-samples");
    let mut out: Vec<PathBuf> = std::fs::read_dir(&root)
        .expect("compose-samples")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("compose.yaml").is_file())
        .collect();
    out.sort();
    out
}

fn json(out: &Output) -> serde_json::Value {
    assert_eq!(out.code, 0, "stderr: {}", out.stderr);
    serde_json::from_str(&out.stdout).expect("valid JSON on stdout")
}

#[test]
fn every_sample_stack_loads_cleanly() {
    let samples = samples();
    assert!(samples.len() >= 3, "expected at least 3 samples");
    for dir in samples {
        let out = wharf(&dir, &["config", "--format", "json"]);
        let v = json(&out);
        let services = v["services"].as_object().expect("services");
        assert!(!services.is_empty(), "{}: no services", dir.display());
        assert!(
            out.stderr.is_empty(),
            "{}: unexpected warnings: {}",
            dir.display(),
            out.stderr
        );
    }
}

#[test]
fn classic_stack_has_app_mongo_and_admin_ui_in_order() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("compose-samples/mongo-express");
    let v = json(&wharf(&dir, &["config", "--format", "json"]));
    assert_eq!(v["name"], "mongo-express-demo");
    assert_eq!(
        v["services"]["app"]["depends_on"]["mongo"]["condition"],
        "service_healthy"
    );
    assert_eq!(
        v["volumes"]["mongo-data"]["name"],
        "mongo-express-demo_mongo-data"
    );
    assert_eq!(
        v["services"]["mongo-express"]["ports"][0]["host_ip"],
        "127.0.0.1"
    );
    let graph = wharf(&dir, &["config", "--graph", "mermaid"]);
    assert_eq!(graph.code, 0, "{}", graph.stderr);
    assert!(graph.stdout.contains("app"), "{}", graph.stdout);
    assert!(graph.stdout.contains("mongo"), "{}", graph.stdout);
}

#[test]
fn profiles_hide_services_until_selected() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("compose-samples/dev-workflow");
    let names = wharf(&dir, &["config", "--services"]);
    assert_eq!(names.code, 0, "{}", names.stderr);
    assert!(
        !names.stdout.lines().any(|l| l == "debug"),
        "{}",
        names.stdout
    );
    let with = wharf(&dir, &["--profile", "debug", "config", "--services"]);
    assert!(with.stdout.lines().any(|l| l == "debug"), "{}", with.stdout);
    let profiles = wharf(&dir, &["config", "--profiles"]);
    assert_eq!(profiles.stdout, "debug\n");
}

#[test]
fn listing_flags_hash_and_output_file() {
    let dir = project(&[(
        "compose.yaml",
        "services:\n  web:\n    image: nginx\n    volumes: [data:/d]\n  worker:\n    build: .\nvolumes:\n  data: {}\n",
    )]);
    let d = dir.path();
    assert_eq!(wharf(d, &["config", "--services"]).stdout, "web\nworker\n");
    assert_eq!(wharf(d, &["config", "--volumes"]).stdout, "data\n");
    let prefix = d
        .file_name()
        .map(|n| n.to_string_lossy().to_lowercase())
        .expect("name");
    let images = wharf(d, &["config", "--images"]).stdout;
    assert_eq!(images, format!("nginx\n{prefix}-worker\n"));
    // Compose v1's `_` with --compatibility (recorded from Compose v2.40.3:
    // `-p p --compatibility config --images` prints `p_web`).
    let v1 = wharf(d, &["--compatibility", "config", "--images"]).stdout;
    assert_eq!(v1, format!("nginx\n{prefix}_worker\n"));
    let hash = wharf(d, &["config", "--hash", "web"]).stdout;
    let parts: Vec<&str> = hash.split_whitespace().collect();
    assert_eq!(parts.len(), 2, "{hash}");
    assert_eq!(parts[0], "web");
    assert_eq!(parts[1].len(), 64);
    // The hash changes when the service changes.
    std::fs::write(
        d.join("compose.yaml"),
        "services:\n  web:\n    image: nginx:2\n    volumes: [data:/d]\n  worker:\n    build: .\nvolumes:\n  data: {}\n",
    )
    .expect("rewrite");
    let hash2 = wharf(d, &["config", "--hash", "web"]).stdout;
    assert_ne!(hash, hash2);
    let out = wharf(d, &["config", "-o", "out.yaml"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let written = std::fs::read_to_string(d.join("out.yaml")).expect("out.yaml");
    assert!(written.contains("nginx:2"), "{written}");
    assert!(wharf(d, &["config", "-q"]).stdout.is_empty());
}

#[test]
fn compose_file_from_stdin() {
    let dir = project(&[]);
    let out = wharf_in(
        dir.path(),
        &["-f", "-", "-p", "piped", "config", "--format", "json"],
        Some("services:\n  s:\n    image: busybox\n"),
        Duration::from_secs(30),
    );
    let v = json(&out);
    assert_eq!(v["name"], "piped");
    assert_eq!(v["services"]["s"]["image"], "busybox");
}

/// Asserts a failing run whose message names each of `needles`.
fn assert_error(out: &Output, needles: &[&str]) {
    assert_ne!(out.code, 0, "expected failure, got: {}", out.stdout);
    for n in needles {
        assert!(out.stderr.contains(n), "stderr lacks {n:?}: {}", out.stderr);
    }
    assert!(
        !out.stderr.contains("panicked"),
        "wharf panicked: {}",
        out.stderr
    );
}

#[test]
fn malformed_yaml_names_file_and_line() {
    let dir = project(&[("compose.yaml", "services:\n  a:\n    image: x\n   bad: [\n")]);
    let out = wharf(dir.path(), &["config"]);
    assert_error(&out, &["compose.yaml:4"]);
}

#[test]
fn wrong_type_and_unknown_key_name_the_key() {
    let dir = project(&[(
        "compose.yaml",
        "services:\n  web:\n    image: x\n    ports: 80\n",
    )]);
    assert_error(
        &wharf(dir.path(), &["config"]),
        &["compose.yaml:4", "services.web.ports"],
    );
    let dir = project(&[(
        "compose.yaml",
        "services:\n  web:\n    image: x\n    imgae: y\n",
    )]);
    assert_error(
        &wharf(dir.path(), &["config"]),
        &["compose.yaml:4", "services.web", "imgae"],
    );
}

#[test]
fn invalid_port_names_file_line_key_and_value() {
    let dir = project(&[(
        "compose.yaml",
        "services:\n  web:\n    image: x\n    ports:\n      - \"8080:80\"\n      - \"80:80:80\"\n",
    )]);
    assert_error(
        &wharf(dir.path(), &["config"]),
        &["compose.yaml:6", "services.web.ports[1]", "80:80:80"],
    );
}

#[test]
fn dependency_cycle_is_named_in_order() {
    let dir = project(&[(
        "compose.yaml",
        "services:\n  a: {image: x, depends_on: [b]}\n  b: {image: x, depends_on: [c]}\n  c: {image: x, depends_on: [a]}\n",
    )]);
    assert_error(
        &wharf(dir.path(), &["config"]),
        &["a -> b -> c -> a", "compose.yaml:2"],
    );
}

#[test]
fn required_variable_message_is_shown() {
    let dir = project(&[(
        "compose.yaml",
        "services:\n  web:\n    image: ${IMAGE:?set IMAGE to the app image}\n",
    )]);
    assert_error(
        &wharf(dir.path(), &["config"]),
        &[
            "compose.yaml:3",
            "services.web.image",
            "set IMAGE to the app image",
        ],
    );
}

#[test]
fn billion_laughs_is_refused_quickly() {
    let mut doc = String::from("x-a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
    for i in 1..10 {
        let p = i - 1;
        doc.push_str(&format!(
            "x-a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
        ));
    }
    doc.push_str("services:\n  web:\n    image: x\n    command: *a9\n");
    let dir = project(&[("compose.yaml", &doc)]);
    let out = wharf_in(dir.path(), &["config"], None, Duration::from_secs(30));
    assert_error(&out, &["compose.yaml", "aliases"]);
}

#[test]
fn deep_nesting_is_refused() {
    let doc = format!(
        "services:\n  web:\n    image: x\nx-deep: {}\n",
        "[".repeat(5000)
    );
    let dir = project(&[("compose.yaml", &doc)]);
    let out = wharf_in(dir.path(), &["config"], None, Duration::from_secs(30));
    assert_error(&out, &["compose.yaml"]);
}

#[test]
fn ten_megabyte_file_loads_or_fails_cleanly() {
    // 10 MB of real services: it must load, within the time limit.
    let mut doc = String::from("services:\n");
    let mut i = 0;
    while doc.len() < 10 * 1024 * 1024 {
        doc.push_str(&format!(
            "  svc{i}:\n    image: busybox\n    environment:\n      PADDING: \"{}\"\n",
            "x".repeat(200)
        ));
        i += 1;
    }
    let dir = project(&[("compose.yaml", &doc)]);
    let out = wharf_in(
        dir.path(),
        &["config", "--services"],
        None,
        Duration::from_secs(120),
    );
    assert_eq!(out.code, 0, "{}", &out.stderr[..out.stderr.len().min(500)]);
    assert_eq!(out.stdout.lines().count(), i);

    // 10 MB of garbage: a clear error, no panic.
    let garbage: String = (0..10 * 1024 * 1024)
        .map(|n| match n % 7 {
            0 => ':',
            1 => '{',
            2 => '\n',
            3 => '-',
            _ => 'a',
        })
        .collect();
    let dir = project(&[("compose.yaml", &garbage)]);
    let out = wharf_in(dir.path(), &["config"], None, Duration::from_secs(120));
    assert_error(&out, &["compose.yaml"]);
}

#[test]
fn missing_compose_file_and_bad_project_name() {
    let dir = project(&[]);
    assert_error(
        &wharf(dir.path(), &["config"]),
        &["no configuration file provided"],
    );
    let dir = project(&[("compose.yaml", "services:\n  a:\n    image: x\n")]);
    assert_error(
        &wharf(dir.path(), &["-p", "Bad Name", "config"]),
        &["invalid project name \"Bad Name\""],
    );
}

#[test]
fn graph_as_dot_lists_edges_with_conditions() {
    let dir = project(&[(
        "compose.yaml",
        "services:\n  web:\n    image: x\n    depends_on:\n      db: {condition: service_healthy}\n  db:\n    image: y\n",
    )]);
    let out = wharf(dir.path(), &["config", "--graph", "dot"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.starts_with("digraph"), "{}", out.stdout);
    assert!(out.stdout.contains("service_healthy"), "{}", out.stdout);
}

/// `system install` writes the boot unit into the directory given (here a
/// temporary one: it is never enabled on this host), running `system
/// restore` for this binary and data root; a directory that is not there
/// is an error naming it.
#[test]
fn system_install_writes_the_restore_unit() {
    let dir = tempfile::tempdir().expect("tmp");
    let units = dir.path().join("units");
    std::fs::create_dir(&units).expect("mkdir");
    let root = dir.path().join("data root");
    let (root_s, units_s) = (root.to_string_lossy(), units.to_string_lossy());
    let out = wharf(
        dir.path(),
        &[
            "--root",
            &root_s,
            "system",
            "install",
            "--unit-dir",
            &units_s,
        ],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let unit = std::fs::read_to_string(units.join("wharf-restore.service")).expect("unit");
    let exec = format!(
        "ExecStart=\"{}\" --root \"{}\" system restore\n",
        env!("CARGO_BIN_EXE_wharf"),
        root.display()
    );
    assert!(unit.contains(&exec), "{unit}");
    assert!(
        unit.contains("[Install]\nWantedBy=multi-user.target\n"),
        "{unit}"
    );

    let missing = dir.path().join("missing");
    let out = wharf(
        dir.path(),
        &[
            "system",
            "install",
            "--unit-dir",
            &missing.to_string_lossy(),
        ],
    );
    assert_ne!(out.code, 0);
    assert!(
        out.stderr.contains(&*missing.to_string_lossy()),
        "{}",
        out.stderr
    );
    assert!(!missing.exists());
}

/// `--format` Go templates on the listings (#16), on a private data root.
#[test]
fn format_templates_on_listings() {
    let dir = project(&[]);
    let root = dir.path().join("root");
    let root = root.to_str().expect("utf-8 path");
    let run = |args: &[&str]| {
        let mut all = vec!["--root", root];
        all.extend_from_slice(args);
        wharf(dir.path(), &all)
    };
    for (name, label) in [("alpha", "tier=db"), ("beta", "tier=web")] {
        let out = run(&["volume", "create", "-l", label, name]);
        assert_eq!(out.code, 0, "stderr: {}", out.stderr);
    }
    // A table: the header row from Docker's titles, columns aligned as its tabwriter does.
    let out = run(&[
        "volume",
        "ls",
        "--format",
        "table {{.Name}}\\t{{.Driver}}\\t{{upper .Labels}}",
    ]);
    assert_eq!(out.code, 0, "stderr: {}", out.stderr);
    assert_eq!(
        out.stdout,
        "VOLUME NAME   DRIVER    LABELS\n\
         alpha         local     TIER=DB\n\
         beta          local     TIER=WEB\n"
    );
    // One line per row, filtered by label; json of one field.
    let out = run(&[
        "volume",
        "ls",
        "--filter",
        "label=tier=web",
        "--format",
        "{{.Name}}:{{json .Scope}}",
    ]);
    assert_eq!(out.stdout, "beta:\"local\"\n", "stderr: {}", out.stderr);
    let out = run(&[
        "volume",
        "ls",
        "-f",
        "dangling=true",
        "-f",
        "name=alp",
        "-q",
    ]);
    assert_eq!(out.stdout, "alpha\n", "stderr: {}", out.stderr);
    let out = run(&["volume", "ls", "-f", "color=red"]);
    assert_ne!(out.code, 0);
    assert!(out.stderr.contains("--filter color"), "{}", out.stderr);
    // An empty listing still has its header.
    let out = run(&["ps", "-a", "--format", "table {{.ID}}\\t{{.Names}}"]);
    assert_eq!(
        out.stdout, "CONTAINER ID   NAMES\n",
        "stderr: {}",
        out.stderr
    );
    let out = run(&["images", "--format", "table {{.Repository}}\\t{{.Tag}}"]);
    assert_eq!(out.stdout, "REPOSITORY   TAG\n", "stderr: {}", out.stderr);
    // A broken template is an error naming where it broke, before any work.
    let out = run(&["volume", "ls", "--format", "{{.Name}} {{.Nope}}"]);
    assert_ne!(out.code, 0);
    assert!(
        out.stderr
            .contains("template: :1:12: executing \"\" at <.Nope>: can't evaluate field Nope"),
        "{}",
        out.stderr
    );
    let out = run(&["inspect", "-f", "{{.State.Status", "nothing-here"]);
    assert_ne!(out.code, 0);
    assert!(
        out.stderr.contains("template: :1: unclosed action"),
        "{}",
        out.stderr
    );
    let out = run(&["volume", "ls", "--format", "{{lower}}"]);
    assert_ne!(out.code, 0);
    assert!(
        out.stderr.contains("wrong number of args for lower"),
        "{}",
        out.stderr
    );
}

/// `wharf compose <verb>` is the top-level verb; `version` in Compose's forms (#16).
#[test]
fn compose_alias_and_version() {
    let dir = project(&[(
        "compose.yaml",
        "services:\n  web:\n    image: busybox\n    command: sleep 1\n",
    )]);
    let direct = wharf(dir.path(), &["config", "--services"]);
    assert_eq!(direct.stdout, "web\n", "stderr: {}", direct.stderr);
    let aliased = wharf(dir.path(), &["compose", "config", "--services"]);
    assert_eq!(aliased.code, 0, "stderr: {}", aliased.stderr);
    assert_eq!(aliased.stdout, direct.stdout);
    let with_flags = wharf(
        dir.path(),
        &[
            "compose",
            "-f",
            "compose.yaml",
            "-p",
            "other",
            "config",
            "--format",
            "json",
        ],
    );
    assert_eq!(json(&with_flags)["name"], "other");

    let version = env!("CARGO_PKG_VERSION");
    let out = wharf(dir.path(), &["version"]);
    assert_eq!(out.stdout, format!("wharf version {version}\n"));
    let out = wharf(dir.path(), &["compose", "version", "--short"]);
    assert_eq!(out.stdout, format!("{version}\n"));
    let out = wharf(dir.path(), &["version", "--format", "json"]);
    assert_eq!(json(&out)["version"], version);
    let out = wharf(dir.path(), &["version", "--format", "yaml"]);
    assert_ne!(out.code, 0);
    assert!(out.stderr.contains("yaml"), "{}", out.stderr);
    // Docker's template form: wharf is its own client and server.
    let out = wharf(
        dir.path(),
        &[
            "version",
            "--format",
            "{{.Server.Version}} {{.Client.Version}} {{.Server.Os}}",
        ],
    );
    assert_eq!(
        out.stdout,
        format!("{version} {version} linux\n"),
        "{}",
        out.stderr
    );
}

/// `info` counts what the data root holds, in Docker's field names (#16).
#[test]
fn info_reports_the_data_root() {
    let dir = project(&[]);
    let root = dir.path().join("root");
    let root = root.to_str().expect("utf-8 path");
    let out = wharf(dir.path(), &["--root", root, "info", "--format", "json"]);
    let info = json(&out);
    assert_eq!(info["Containers"], 0);
    assert_eq!(info["Images"], 0);
    assert_eq!(info["DockerRootDir"], root);
    let out = wharf(
        dir.path(),
        &[
            "--root",
            root,
            "info",
            "-f",
            "{{.ContainersRunning}}/{{.OSType}}",
        ],
    );
    assert_eq!(out.stdout, "0/linux\n", "stderr: {}", out.stderr);
    // The fields scripts check: storage and cgroup drivers, the cgroup
    // version this host has, the security options (seccomp always).
    let out = wharf(
        dir.path(),
        &[
            "--root",
            root,
            "info",
            "--format",
            "{{.Driver}} {{.CgroupDriver}} {{.CgroupVersion}} {{json .SecurityOptions}}",
        ],
    );
    let v2 = std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists();
    assert!(
        out.stdout
            .starts_with(&format!("overlay2 cgroupfs {} [", if v2 { 2 } else { 1 })),
        "{} {}",
        out.stdout,
        out.stderr
    );
    assert!(
        out.stdout.contains("\"name=seccomp,profile=builtin\""),
        "{}",
        out.stdout
    );
    let out = wharf(dir.path(), &["--root", root, "info"]);
    assert!(
        out.stdout.contains(&format!(" Docker Root Dir: {root}\n")),
        "{}",
        out.stdout
    );
}

/// The compose file and `.env` the `config --variables`/`--environment`
/// expectations below were recorded with, from Docker Compose v2.40.3
/// (`env -i PATH=/usr/bin:/bin HOME=DIR docker-compose config …`).
const VARIABLES_COMPOSE: &str = r#"services:
  web:
    image: "nginx:${TAG:-latest}"
    environment:
      A: ${FOO}
      B: ${BAR:?bar is required}
      C: ${BAZ-dflt}
      D: ${QUX:+alt}
      E: $$notavar
      F: ${NESTED:-${INNER:-x}}
    ports: ["${PORT:-8080}:80"]
volumes:
  unused: {}
networks:
  spare: {}
models:
  llm:
    model: ai/smollm2
"#;

/// `config --variables` (#16): Compose's table, JSON and YAML. Compose
/// prints the table rows in Go's (random) map order; wharf sorts them by
/// name, so the expectation is the recorded rows in name order.
#[test]
fn config_variables_and_environment_as_compose_prints_them() {
    let dir = project(&[
        ("compose.yaml", VARIABLES_COMPOSE),
        (".env", "FOO=fromdotenv\nBAR=b\n"),
    ]);
    let table = wharf(dir.path(), &["config", "--variables"]);
    assert_eq!(table.code, 0, "{}", table.stderr);
    assert_eq!(
        table.stdout,
        "NAME                REQUIRED            DEFAULT VALUE       ALTERNATE VALUE\n\
         BAR                 true                                    \n\
         BAZ                 false               dflt                \n\
         FOO                 false                                   \n\
         INNER               false               x                   \n\
         NESTED              false               ${INNER:-x}         \n\
         PORT                false               8080                \n\
         QUX                 false                                   alt\n\
         TAG                 false               latest              \n"
    );
    let as_json = wharf(dir.path(), &["config", "--variables", "--format", "json"]);
    assert!(as_json.stdout.ends_with("}\n\n"), "{:?}", as_json.stdout);
    let v = json(&as_json);
    assert_eq!(
        v["NESTED"],
        serde_json::json!({"Name": "NESTED", "DefaultValue": "${INNER:-x}", "PresenceValue": "", "Required": false})
    );
    assert_eq!(v["QUX"]["PresenceValue"], "alt");
    assert_eq!(v["BAR"]["Required"], true);
    assert_eq!(v.as_object().map(|o| o.len()), Some(8));
    let yaml = wharf(dir.path(), &["config", "--variables", "--format", "yaml"]);
    assert!(
        yaml.stdout.starts_with(
            "BAR:\n    name: BAR\n    defaultvalue: \"\"\n    presencevalue: \"\"\n    required: true\n"
        ),
        "{}",
        yaml.stdout
    );
    assert!(
        yaml.stdout
            .contains("PORT:\n    name: PORT\n    defaultvalue: \"8080\"\n"),
        "{}",
        yaml.stdout
    );

    // The interpolation environment: the process's (only PATH and HOME
    // here), the .env file's, the project name and PWD, sorted.
    let env = wharf(dir.path(), &["config", "--environment"]);
    let path = std::env::var("PATH").unwrap_or_default();
    let home = dir.path().display();
    let name = dir
        .path()
        .file_name()
        .map(|n| n.to_string_lossy().to_lowercase())
        .unwrap_or_default();
    let mut want = [
        "BAR=b".to_string(),
        format!("COMPOSE_PROJECT_NAME={name}"),
        "FOO=fromdotenv".into(),
        format!("HOME={home}"),
        format!("PATH={path}"),
        format!("PWD={home}"),
    ];
    want.sort();
    assert_eq!(env.stdout, want.join("\n") + "\n", "{}", env.stderr);
}

/// `--all-resources` keeps what no service uses; `config --models`
/// prints each model's `model:` (recorded from Compose v2.40.3).
#[test]
fn all_resources_and_models() {
    let dir = project(&[
        ("compose.yaml", VARIABLES_COMPOSE),
        (".env", "FOO=x\nBAR=b\n"),
    ]);
    let lines = |args: &[&str]| wharf(dir.path(), args).stdout;
    assert_eq!(lines(&["config", "--volumes"]), "");
    assert_eq!(lines(&["config", "--networks"]), "default\n");
    assert_eq!(lines(&["config", "--models"]), "");
    assert_eq!(
        lines(&["--all-resources", "config", "--volumes"]),
        "unused\n"
    );
    assert_eq!(
        lines(&["--all-resources", "config", "--networks"]),
        "default\nspare\n"
    );
    assert_eq!(
        lines(&["--all-resources", "config", "--models"]),
        "ai/smollm2\n"
    );
}

/// Flags wharf cannot honour are refused with a message naming them,
/// never accepted and ignored (#16).
#[test]
fn unsupported_compose_flags_are_refused_by_name() {
    let dir = project(&[("compose.yaml", "services:\n  web:\n    image: busybox\n")]);
    for (args, needle) in [
        // A spec moby's term.ToBytes does not read: the engine's words.
        (
            &["attach", "--detach-keys", "ctrl-xx", "web"][..],
            "Invalid detach keys (ctrl-xx) provided",
        ),
        (&["--dry-run", "exec", "web", "true"][..], "--dry-run"),
        (
            &["--ansi", "always", "--progress", "plain", "ps"][..],
            "ANSI support is forced",
        ),
        (&["--parallel", "x", "ps"][..], "--parallel"),
        (
            &["restart", "--no-deps", "not-a-container"][..],
            "--no-deps",
        ),
    ] {
        let out = wharf(dir.path(), args);
        assert_ne!(out.code, 0, "wharf {args:?} succeeded");
        assert!(
            out.stderr.contains(needle),
            "wharf {args:?}: no {needle:?} in {}",
            out.stderr
        );
    }
    // The digest flags ask the registry (tests/compose_flags.rs has them
    // against the loopback one); one that does not answer fails naming the
    // image, in Compose's words (nothing listens on loopback port 1).
    let gone = project(&[(
        "compose.yaml",
        "services:\n  web:\n    image: 127.0.0.1:1/x:1\n",
    )]);
    for flag in ["--resolve-image-digests", "--lock-image-digests"] {
        let out = wharf(gone.path(), &["config", flag]);
        assert_ne!(out.code, 0, "config {flag} succeeded");
        assert!(
            out.stderr
                .contains("failed to resolve digest for 127.0.0.1:1/x:1: "),
            "config {flag}: {}",
            out.stderr
        );
    }
    // In compatibility mode `config` does not normalize (Compose's rule):
    // the project name Compose adds is not there.
    let out = wharf(
        dir.path(),
        &["--compatibility", "config", "--format", "json"],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let normal = json(&wharf(dir.path(), &["config", "--format", "json"]));
    assert_ne!(json(&out), normal);
}

/// Docker's `push IMAGE` outside a project takes one image, and refuses
/// Compose's `push` flags by name rather than ignoring them.
#[test]
fn push_outside_a_project_takes_one_image_and_no_compose_flags() {
    let dir = project(&[]);
    let root = dir.path().join("root");
    let root = root.to_str().expect("utf-8 path");
    for (args, needle) in [
        (&["push", "a", "b"][..], "requires exactly 1 argument"),
        (&["push", "--include-deps", "a"][..], "--include-deps"),
        (
            &["push", "--ignore-push-failures", "a"][..],
            "--ignore-push-failures",
        ),
    ] {
        let argv: Vec<&str> = ["--root", root].iter().chain(args).copied().collect();
        let out = wharf(dir.path(), &argv);
        assert_ne!(out.code, 0, "wharf {argv:?} succeeded");
        assert!(
            out.stderr.contains(needle),
            "wharf {argv:?}: no {needle:?} in {}",
            out.stderr
        );
    }
}
