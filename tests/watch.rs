//! `wharf watch` and `up --watch` on real containers from the fixture
//! images, used as a developer would: edit files in the project and look
//! at what the running container serves and sees.
//!
//! Needs root and the loopback registry: run through `scripts/with-registry`
//! (private network and mount namespace). Without it the tests say SKIPPED.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[path = "support/harness.rs"]
mod harness;
#[path = "support/stack.rs"]
mod stack;
use stack::{free_port, http_get, until, Stack};

/// A web server on the synced directory, and redis beside it (which a
/// watch of `web` must leave alone).
const STACK: &str = r#"
services:
  web:
    image: {{busybox}}
    command: ["sh", "-c", "mkdir -p /app; echo serving; exec httpd -f -p 127.0.0.1:8000 -h /app"]
    stop_grace_period: 1s
    develop:
      watch:
        - path: ./app
          action: sync
          target: /app
          initial_sync: true
          ignore:
            - "*.tmp"
            - build/
  redis:
    image: {{redis}}
    stop_grace_period: 1s
"#;

/// A `wharf watch` (or `up --watch`) in the background, its standard
/// output collected line by line. Killed if a test fails half-way.
struct Watching {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
}

impl Watching {
    fn start(s: &Stack, args: &[&str]) -> Watching {
        Watching::spawn(s.cmd(args))
    }

    /// Started, and watching.
    fn spawn(cmd: Command) -> Watching {
        let mut w = Watching::launch(cmd);
        // `up` first pulls (or builds) the images: minutes on a busy machine.
        until(Duration::from_secs(900), "Watch enabled", || {
            if let Ok(Some(status)) = w.child.try_wait() {
                panic!("wharf ended before watching ({status}): {:#?}", w.lines());
            }
            w.count("Watch enabled") >= 1
        });
        w
    }

    /// Started only.
    fn launch(mut cmd: Command) -> Watching {
        let mut child = cmd
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn wharf watch");
        let out = child.stdout.take().expect("stdout");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let l = Arc::clone(&lines);
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                l.lock().expect("lines").push(line);
            }
        });
        Watching { child, lines }
    }

    /// Waits for wharf to end by itself (60 s at most): its exit code and
    /// its standard error, when that was piped.
    fn ended(&mut self) -> (Option<i32>, String) {
        let mut status = None;
        until(Duration::from_secs(60), "wharf to end by itself", || {
            status = self.child.try_wait().expect("wait");
            status.is_some()
        });
        let mut stderr = String::new();
        if let Some(mut e) = self.child.stderr.take() {
            use std::io::Read;
            e.read_to_string(&mut stderr).expect("stderr");
        }
        (status.and_then(|s| s.code()), stderr)
    }

    fn lines(&self) -> Vec<String> {
        self.lines.lock().expect("lines").clone()
    }

    /// How many lines contain `text`.
    fn count(&self, text: &str) -> usize {
        self.lines().iter().filter(|l| l.contains(text)).count()
    }

    /// Waits until `n` lines contain `text`.
    fn wait_for(&self, text: &str, n: usize) {
        until(
            Duration::from_secs(120),
            &format!("{n} × {text:?}"),
            || self.count(text) >= n,
        );
    }

    /// Ctrl-C, and the exit code.
    fn interrupt(&mut self) -> i32 {
        // SAFETY: a plain kill(2) of our own child.
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGINT);
        }
        let status = self.child.wait().expect("wait");
        status.code().unwrap_or(-1)
    }
}

impl Drop for Watching {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn app(s: &Stack) -> PathBuf {
    s.dir.path().join("app")
}

/// `GET /PATH` from the server in the web container.
fn served(s: &Stack, path: &str) -> String {
    let script = format!("wget -qO- http://127.0.0.1:8000/{path} || echo ERR");
    s.wharf(&["exec", &s.name("web-1"), "sh", "-c", &script])
        .stdout
}

/// `sh -c` in the web container, its output.
fn in_web(s: &Stack, script: &str) -> String {
    s.wharf(&["exec", &s.name("web-1"), "sh", "-c", script])
        .stdout
}

fn write(path: &Path, text: &str) {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).expect("mkdir");
    }
    std::fs::write(path, text).expect("write");
}

fn new_stack() -> Option<Stack> {
    let s = Stack::new(STACK)?;
    write(&app(&s).join("index.html"), "version 1\n");
    write(&app(&s).join("pkg/mod.py"), "X = 1\n");
    Some(s)
}

#[test]
fn edits_adds_and_deletes_reach_the_container_and_ignored_files_do_not() {
    let Some(s) = new_stack() else { return };
    let mut w = Watching::start(&s, &["watch", "web"]);
    // initial_sync put the tree there before the watch began.
    until(Duration::from_secs(60), "the first page", || {
        served(&s, "index.html") == "version 1\n"
    });
    assert_eq!(in_web(&s, "cat /app/pkg/mod.py"), "X = 1\n");

    // Edit: the served page changes.
    write(&app(&s).join("index.html"), "version 2\n");
    until(Duration::from_secs(30), "the edited page", || {
        served(&s, "index.html") == "version 2\n"
    });

    // Add a file in a new directory, with a mode to keep; then delete it.
    let added = app(&s).join("new/deep/tool.sh");
    write(&added, "#!/bin/sh\necho hi\n");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&added, std::fs::Permissions::from_mode(0o751)).expect("chmod");
    until(Duration::from_secs(30), "the added file", || {
        in_web(&s, "/app/new/deep/tool.sh 2>&1") == "hi\n"
    });
    assert_eq!(in_web(&s, "stat -c %a /app/new/deep/tool.sh"), "751\n");
    std::fs::remove_file(&added).expect("rm");
    until(Duration::from_secs(30), "the deleted file gone", || {
        in_web(
            &s,
            "test -e /app/new/deep/tool.sh && echo there || echo gone",
        ) == "gone\n"
    });

    // Ignored files (the rule's `ignore`, editor swap files, .git) never
    // go, even when a real change in the same batch does.
    let syncs = w.count("Syncing service \"web\"");
    write(&app(&s).join("scratch.tmp"), "x");
    write(&app(&s).join("build/out.o"), "x");
    write(&app(&s).join(".index.html.swp"), "x");
    write(&app(&s).join(".git/HEAD"), "ref: x");
    write(&app(&s).join("marker.txt"), "m");
    w.wait_for("Syncing service \"web\" after 1 changes were detected", 1);
    until(Duration::from_secs(30), "the marker", || {
        in_web(&s, "cat /app/marker.txt 2>/dev/null") == "m"
    });
    assert_eq!(
        w.count("Syncing service \"web\""),
        syncs + 1,
        "{:#?}",
        w.lines()
    );
    assert_eq!(
        in_web(
            &s,
            "ls -a /app | grep -E 'scratch|build|swp|git' || echo none"
        ),
        "none\n"
    );

    // Only ignored changes: no sync at all. The marker after them is the
    // next sync, counting one change.
    let syncs = w.count("Syncing service \"web\"");
    write(&app(&s).join("other.tmp"), "x");
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(
        w.count("Syncing service \"web\""),
        syncs,
        "{:#?}",
        w.lines()
    );

    // Ctrl-C ends the watch and leaves the stack as `up web` left it:
    // web running, redis (not asked for) never started.
    assert_eq!(w.interrupt(), 0);
    w.wait_for("Watch disabled", 1);
    assert_eq!(s.names(&[]), vec![s.name("web-1")]);
}

#[test]
fn a_rename_based_save_syncs_once_and_a_burst_is_one_batch() {
    let Some(s) = new_stack() else { return };
    std::fs::create_dir_all(app(&s).join("burst")).expect("mkdir");
    let mut w = Watching::start(&s, &["watch"]);

    // vim's way: probe file, backup by rename, write anew, drop the backup.
    let syncs = w.count("Syncing service \"web\"");
    let page = app(&s).join("index.html");
    write(&app(&s).join("4913"), "");
    std::fs::remove_file(app(&s).join("4913")).expect("rm");
    std::fs::rename(&page, app(&s).join("index.html~")).expect("rename");
    write(&page, "saved by rename\n");
    std::fs::remove_file(app(&s).join("index.html~")).expect("rm");
    until(Duration::from_secs(30), "the renamed save", || {
        served(&s, "index.html") == "saved by rename\n"
    });
    w.wait_for("Syncing service \"web\" after 1 changes were detected", 1);
    assert_eq!(
        w.count("Syncing service \"web\""),
        syncs + 1,
        "{:#?}",
        w.lines()
    );
    assert_eq!(
        in_web(&s, "ls -a /app | grep -E '4913|~' || echo none"),
        "none\n"
    );

    // A checkout-style burst: 500 files at once arrive whole, in one sync.
    let syncs = w.count("Syncing service \"web\"");
    for i in 0..500 {
        write(
            &app(&s).join(format!("burst/f{i:03}.txt")),
            &format!("{i}\n"),
        );
    }
    w.wait_for("Syncing service \"web\" after 500 changes were detected", 1);
    until(Duration::from_secs(30), "500 files", || {
        in_web(&s, "ls /app/burst | wc -l").trim() == "500"
    });
    assert_eq!(in_web(&s, "cat /app/burst/f499.txt"), "499\n");
    assert_eq!(
        w.count("Syncing service \"web\""),
        syncs + 1,
        "{:#?}",
        w.lines()
    );
    assert_eq!(w.interrupt(), 0);
}

#[test]
fn up_watch_interleaves_logs_and_ctrl_c_stops_the_stack() {
    let Some(s) = new_stack() else { return };
    let mut w = Watching::start(&s, &["up", "--watch", "--no-color"]);
    write(&app(&s).join("index.html"), "from up --watch\n");
    until(Duration::from_secs(30), "the edited page", || {
        served(&s, "index.html") == "from up --watch\n"
    });
    // The service's output and the watch's own lines share the output.
    w.wait_for("Syncing service \"web\"", 1);
    until(Duration::from_secs(30), "web's own output", || {
        w.lines()
            .iter()
            .any(|l| l.starts_with("web-1") && l.ends_with("serving"))
    });
    let code = w.interrupt();
    assert_eq!(code, 130);
    let running = s.names(&[]);
    assert!(running.is_empty(), "still running: {running:?}");
}

#[test]
fn bad_rules_are_refused_with_file_line_and_key() {
    let Some(s) = Stack::new(
        r#"
services:
  web:
    image: {{busybox}}
    develop:
      watch:
        - path: ./src
          action: rebuild
"#,
    ) else {
        return;
    };
    let out = s.wharf(&["watch", "--no-up"]);
    assert_ne!(out.code, 0);
    assert!(
        out.stderr.contains("compose.yaml:8: services.web.develop.watch[0].action: can't watch service \"web\" with action rebuild without a build context"),
        "{}",
        out.stderr
    );
    s.write(
        r#"
services:
  web:
    image: {{busybox}}
    develop:
      watch:
        - path: ./src
          action: sync
          target: app/src
"#,
    );
    let out = s.wharf(&["watch", "--no-up"]);
    assert_ne!(out.code, 0);
    assert!(
        out.stderr
            .contains("compose.yaml:9: services.web.develop.watch[0].target"),
        "{}",
        out.stderr
    );
    // As in Compose: a watch without builds is refused.
    let out = s.wharf(&["up", "--watch", "--no-build"]);
    assert_ne!(out.code, 0);
    assert!(
        out.stderr
            .contains("--no-build and --watch are incompatible"),
        "{}",
        out.stderr
    );
    // Nothing was started.
    assert!(s.names(&["-a"]).is_empty());
}

#[test]
fn editing_requirements_rebuilds_and_replaces_only_that_service() {
    let Some(s) = Stack::new(
        r#"
services:
  web:
    build: ./web
    command: ["httpd", "-f", "-p", "127.0.0.1:8000", "-h", "/srv"]
    stop_grace_period: 1s
    depends_on: [redis]
    develop:
      watch:
        - path: ./web/requirements.txt
          action: rebuild
  redis:
    image: {{redis}}
    stop_grace_period: 1s
"#,
    ) else {
        return;
    };
    let web = s.dir.path().join("web");
    write(
        &web.join("Dockerfile"),
        &format!(
            "FROM {}\nCOPY requirements.txt /srv/requirements.txt\n",
            s.busybox()
        ),
    );
    write(&web.join("requirements.txt"), "flask==1\n");
    let mut w = Watching::start(&s, &["watch"]);
    until(Duration::from_secs(60), "the first image served", || {
        served(&s, "requirements.txt") == "flask==1\n"
    });
    let id = |name: &str| {
        s.inspect(&s.name(name))["Id"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };
    let (web_before, redis_before) = (id("web-1"), id("redis-1"));
    let image_before = s.inspect(&s.name("web-1"))["Image"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(!image_before.is_empty());

    write(&web.join("requirements.txt"), "flask==2\n");
    w.wait_for("successfully built", 1);
    until(Duration::from_secs(120), "the rebuilt image served", || {
        served(&s, "requirements.txt") == "flask==2\n"
    });
    assert_ne!(id("web-1"), web_before, "web was not recreated");
    assert_eq!(id("redis-1"), redis_before, "redis was replaced");
    let redis = s.inspect(&s.name("redis-1"));
    assert_eq!(redis["State"]["Running"], true, "{redis:#}");
    // `--prune` (the default): the image the rebuild replaced is gone.
    let images = s.store(&["images", "-q", "--no-trunc"]).ok().stdout;
    let old = image_before.trim_start_matches("sha256:");
    assert!(
        !images.contains(old),
        "{old} is still in the store:\n{images}"
    );
    assert_eq!(w.interrupt(), 0);

    // Edited while nobody watched: the next `watch` builds web anew (as
    // Compose's does for a service with `build:` and `develop:`) and
    // replaces it; redis, unchanged, keeps its container.
    write(&web.join("requirements.txt"), "flask==3\n");
    let web_before = id("web-1");
    let mut w = Watching::start(&s, &["watch"]);
    until(Duration::from_secs(60), "the image built at start", || {
        served(&s, "requirements.txt") == "flask==3\n"
    });
    assert_ne!(id("web-1"), web_before, "web was not recreated");
    assert_eq!(id("redis-1"), redis_before, "redis was replaced");
    assert_eq!(w.interrupt(), 0);
}

/// The README's sample (compose-samples/python-postgres-redis) with the
/// `develop.watch` rules it ships: `sync+restart` of the app's code,
/// `rebuild` on requirements.txt. Used as its developer would: edit, look
/// at the page, and at what redis and postgres do meanwhile (nothing).
#[test]
fn the_sample_app_follows_edits_and_rebuilds_on_requirements() {
    let Some(s) = Stack::new("services: {}\n") else {
        return;
    };
    s.copy_sample("python-postgres-redis");
    let port = free_port();
    let mut cmd = s.cmd(&["watch"]);
    cmd.env("WEB_PORT", port.to_string())
        .env("WHARF_REGISTRY", format!("{}/wharf-fixtures", s.registry));
    let mut w = Watching::spawn(cmd);
    let app = s.dir.path().join("app");
    // The sample names its project: `counter`.
    let id = |name: &str| {
        s.inspect(name)["Id"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };
    let in_app = |script: &str| {
        s.wharf(&["exec", "counter-web-1", "sh", "-c", script])
            .stdout
    };
    let (redis, db) = (id("counter-redis-1"), id("counter-db-1"));
    let web = id("counter-web-1");
    assert!(http_get(port).starts_with("visits: "));

    // Edit the code: synced, web restarted (the same container), and the
    // page says what the new code says.
    let code = std::fs::read_to_string(app.join("app.py")).expect("read app.py");
    assert!(code.contains("f\"visits: {"), "{code}");
    write(
        &app.join("app.py"),
        &code.replace("f\"visits: {", "f\"hits: {"),
    );
    w.wait_for("Syncing service \"web\" after 1 changes were detected", 1);
    w.wait_for("service(s) [\"web\"] restarted", 1);
    until(Duration::from_secs(60), "the edited page", || {
        http_get(port).starts_with("hits: ")
    });
    assert_eq!(id("counter-web-1"), web, "restarted, not recreated");

    // Add a file, then delete it: the container sees both.
    write(&app.join("static/note.txt"), "hello\n");
    until(Duration::from_secs(60), "the added file", || {
        in_app("cat /app/static/note.txt 2>/dev/null") == "hello\n"
    });
    std::fs::remove_file(app.join("static/note.txt")).expect("rm");
    until(Duration::from_secs(60), "the deleted file gone", || {
        in_app("test -e /app/static/note.txt && echo there || echo gone") == "gone\n"
    });

    // Ignored files (the build context's .dockerignore, editor swap files)
    // go nowhere: the marker written after them is a batch of one change.
    w.wait_for("service(s) [\"web\"] restarted", 3);
    let syncs = w.count("Syncing service \"web\"");
    write(&app.join("__pycache__/app.cpython-311.pyc"), "x");
    write(&app.join(".app.py.swp"), "x");
    write(&app.join("marker.txt"), "m");
    until(Duration::from_secs(60), "the marker", || {
        in_app("cat /app/marker.txt 2>/dev/null") == "m"
    });
    assert_eq!(
        w.count("Syncing service \"web\""),
        syncs + 1,
        "{:#?}",
        w.lines()
    );
    let last_sync = w
        .lines()
        .into_iter()
        .rfind(|l| l.contains("Syncing service \"web\""))
        .unwrap_or_default();
    assert!(
        last_sync.ends_with("after 1 changes were detected"),
        "{last_sync}"
    );
    // The marker's sync restarts web (sync+restart): exec once it is back,
    // not in the moment it is stopped.
    w.wait_for("service(s) [\"web\"] restarted", 4);
    assert_eq!(
        in_app("ls -a /app | grep -E 'pycache|swp' || echo none"),
        "none\n"
    );

    // A vim-style save of app.py (probe file, backup by rename, write anew,
    // drop the backup) is one sync of the final content.
    let syncs = w.count("Syncing service \"web\"");
    let saved = format!(
        "{}\n# saved by rename\n",
        code.replace("f\"visits: {", "f\"hits: {")
    );
    write(&app.join("4913"), "");
    std::fs::remove_file(app.join("4913")).expect("rm 4913");
    std::fs::rename(app.join("app.py"), app.join("app.py~")).expect("backup");
    write(&app.join("app.py"), &saved);
    std::fs::remove_file(app.join("app.py~")).expect("rm backup");
    until(Duration::from_secs(60), "the renamed save", || {
        in_app("cat /app/app.py") == saved
    });
    w.wait_for("service(s) [\"web\"] restarted", 5);
    assert_eq!(
        w.count("Syncing service \"web\""),
        syncs + 1,
        "{:#?}",
        w.lines()
    );
    assert_eq!(
        in_app("ls -a /app | grep -E '4913|~' || echo none"),
        "none\n"
    );

    // requirements.txt: web is built again and replaced (its new image has
    // the edited code); redis and postgres keep their containers.
    let mut reqs = std::fs::read_to_string(app.join("requirements.txt")).expect("read");
    reqs.push_str("# pinned nothing yet\n");
    write(&app.join("requirements.txt"), &reqs);
    w.wait_for("successfully built", 1);
    until(Duration::from_secs(120), "web replaced", || {
        id("counter-web-1") != web
    });
    assert_eq!(in_app("cat /app/requirements.txt"), reqs);
    until(Duration::from_secs(60), "the rebuilt app's page", || {
        http_get(port).starts_with("hits: ")
    });
    assert_eq!(id("counter-redis-1"), redis, "redis was replaced");
    assert_eq!(id("counter-db-1"), db, "db was replaced");

    // Ctrl-C: the stack stays as it is.
    let running: Vec<String> = ["counter-web-1", "counter-redis-1", "counter-db-1"]
        .iter()
        .map(|n| id(n))
        .collect();
    assert_eq!(w.interrupt(), 0);
    w.wait_for("Watch disabled", 1);
    let ps = s.ps();
    assert_eq!(ps.len(), 3, "{ps:#?}");
    assert!(ps.iter().all(|c| c["State"] == "running"), "{ps:#?}");
    for (name, before) in ["counter-web-1", "counter-redis-1", "counter-db-1"]
        .iter()
        .zip(&running)
    {
        assert_eq!(&id(name), before, "{name}");
    }
}

/// `sync+exec`: the command runs after the files are in place, as the
/// rule's user, in its working directory, with its environment.
#[test]
fn sync_exec_runs_the_command_after_the_sync_as_its_user_where_it_says() {
    let Some(s) = Stack::new(
        r#"
services:
  web:
    image: {{busybox}}
    command: ["sh", "-c", "mkdir -p /out && chmod 777 /out && exec sleep 86400"]
    stop_grace_period: 1s
    develop:
      watch:
        - path: ./conf
          target: /etc/app
          action: sync+exec
          exec:
            command: ["sh", "-c", "echo \"$$(id -u)|$$(id -g)|$$(pwd)|$$GREETING|$$(cat /etc/app/level)\" > /out/seen"]
            user: "1000:1001"
            working_dir: /etc/app
            environment:
              GREETING: hello
"#,
    ) else {
        return;
    };
    let conf = s.dir.path().join("conf");
    write(&conf.join("level"), "1");
    let mut w = Watching::start(&s, &["watch"]);
    let seen = || in_web(&s, "cat /out/seen 2>/dev/null");
    for level in ["2", "3"] {
        write(&conf.join("level"), level);
        until(
            Duration::from_secs(60),
            &format!("the exec after level {level}"),
            || seen().trim_end().ends_with(&format!("|{level}")),
        );
        let out = seen();
        let fields: Vec<&str> = out.trim_end().split('|').collect();
        assert_eq!(fields.len(), 5, "{out:?}");
        assert_eq!(fields[0], "1000", "user: {out:?}");
        assert_eq!(fields[1], "1001", "group: {out:?}");
        assert_eq!(fields[2], "/etc/app", "working_dir: {out:?}");
        assert_eq!(fields[3], "hello", "environment: {out:?}");
        // The command read the content the sync had just written.
        assert_eq!(fields[4], level, "{out:?}");
    }
    assert_eq!(w.interrupt(), 0);
}

/// A tree with more directories than inotify may watch is refused with
/// the limit's name and how to raise it; a directory made past the limit
/// while watching ends the watch the same way. Never a silent miss. The
/// limit is lowered only in a user namespace of the watcher's own
/// (`user.max_inotify_watches`), so the machine's stays as it is.
#[test]
fn a_tree_past_the_inotify_limit_is_refused_naming_the_limit() {
    let Some(s) = Stack::new(
        r#"
services:
  web:
    image: {{busybox}}
    develop:
      watch:
        - path: ./tree
          target: /app
          action: sync
"#,
    ) else {
        return;
    };
    let machine_limit =
        std::fs::read_to_string("/proc/sys/fs/inotify/max_user_watches").expect("read the limit");
    let tree = s.dir.path().join("tree");
    for d in 0..40 {
        std::fs::create_dir_all(tree.join(format!("d{d:02}"))).expect("mkdir");
    }
    // wharf watch --no-up, with a watch limit of 16 in its own namespace.
    let limited = || {
        let wharf = s.cmd(&["watch", "--no-up"]);
        let mut c = Command::new("unshare");
        c.args(["--user", "--map-root-user", "--", "sh", "-c"])
            .arg("echo 16 > /proc/sys/user/max_inotify_watches && exec \"$0\" \"$@\"")
            .arg(wharf.get_program())
            .args(wharf.get_args())
            .current_dir(s.dir.path())
            .env("HOME", s.root.path());
        c
    };
    let mut cmd = limited();
    cmd.stderr(Stdio::piped());
    let (code, stderr) = Watching::launch(cmd).ended();
    assert_ne!(code, Some(0), "{stderr}");
    for part in [
        format!("watching {}", tree.display()),
        "fs.inotify.max_user_watches".to_string(),
        "user.max_inotify_watches = 16".to_string(),
        "sysctl fs.inotify.max_user_watches=".to_string(),
    ] {
        assert!(stderr.contains(&part), "{part:?} not in: {stderr}");
    }

    // Within the limit it starts; a burst of new directories past it ends
    // the watch with the same message.
    for d in 4..40 {
        std::fs::remove_dir(tree.join(format!("d{d:02}"))).expect("rmdir");
    }
    let mut cmd = limited();
    cmd.stderr(Stdio::piped());
    let mut w = Watching::spawn(cmd);
    for d in 4..40 {
        std::fs::create_dir(tree.join(format!("d{d:02}"))).expect("mkdir");
    }
    let (code, stderr) = w.ended();
    assert_ne!(code, Some(0), "{stderr}");
    assert!(
        stderr.contains("fs.inotify.max_user_watches")
            && stderr.contains("sysctl fs.inotify.max_user_watches="),
        "{stderr}"
    );
    // The machine's limit is as it was.
    assert_eq!(
        std::fs::read_to_string("/proc/sys/fs/inotify/max_user_watches").expect("read"),
        machine_limit
    );
}

/// `watch web` brings up what web depends on but, as Compose's watch,
/// keeps a dependency's container even when its configuration changed
/// since it was made (where a plain `up web` recreates it).
#[test]
fn watch_keeps_the_containers_of_dependencies_as_they_are() {
    let compose = |level: &str| {
        format!(
            r#"
services:
  web:
    image: {{{{busybox}}}}
    command: ["sleep", "86400"]
    stop_grace_period: 1s
    depends_on: [redis]
    develop:
      watch:
        - path: ./app
          action: sync
          target: /app
  redis:
    image: {{{{redis}}}}
    stop_grace_period: 1s
    environment:
      LEVEL: "{level}"
"#
        )
    };
    let Some(s) = Stack::new(&compose("1")) else {
        return;
    };
    std::fs::create_dir_all(app(&s)).expect("mkdir");
    s.wharf(&["up", "-d"]).ok();
    let id = |name: &str| {
        s.inspect(&s.name(name))["Id"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };
    let level = || {
        s.inspect(&s.name("redis-1"))["Config"]["Env"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|e| e.as_str())
            .find_map(|e| e.strip_prefix("LEVEL="))
            .unwrap_or_default()
            .to_string()
    };
    let (web, redis) = (id("web-1"), id("redis-1"));
    s.write(&compose("2"));
    let mut w = Watching::start(&s, &["watch", "web"]);
    assert_eq!(id("redis-1"), redis, "the dependency was recreated");
    assert_eq!(level(), "1");
    assert_eq!(id("web-1"), web, "web had not changed");
    assert_eq!(w.interrupt(), 0);
    // What `up web` does with the same change.
    s.wharf(&["up", "-d", "web"]).ok();
    assert_ne!(id("redis-1"), redis);
    assert_eq!(level(), "2");
}
