//! Looking inside running projects: `wharf cp` (both ways, service and
//! container forms, running and stopped, symlinks that try to escape) and
//! `wharf events` (the sequence Docker emits for up/down and for a
//! restart-policy restart), plus `wait`/`top`/`stats` for services.
//!
//! Needs root and the loopback registry: run through `scripts/with-registry`
//! (private network and mount namespace). Without it the tests say SKIPPED.

use std::io::{BufRead, BufReader};
use std::os::unix::fs::{symlink, MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::Stdio;
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

#[path = "support/harness.rs"]
mod harness;
#[path = "support/stack.rs"]
mod stack;
use harness::Run;
use stack::{Setup, Stack};

fn inside() -> Setup {
    Setup {
        root_prefix: "wharf-in-",
        ..Setup::default()
    }
}

fn set_mtime(p: &Path, secs: i64) {
    let t = [
        libc::timespec {
            tv_sec: secs,
            tv_nsec: 0,
        },
        libc::timespec {
            tv_sec: secs,
            tv_nsec: 0,
        },
    ];
    let c = std::ffi::CString::new(p.as_os_str().as_encoded_bytes()).expect("path");
    // SAFETY: a valid C string and two timespecs; AT_SYMLINK_NOFOLLOW so a
    // link's own time is set.
    let rc = unsafe {
        libc::utimensat(
            libc::AT_FDCWD,
            c.as_ptr(),
            t.as_ptr(),
            libc::AT_SYMLINK_NOFOLLOW,
        )
    };
    assert_eq!(rc, 0, "utimensat {}", p.display());
}

fn mode(p: &Path) -> u32 {
    std::fs::symlink_metadata(p).expect("stat").mode() & 0o7777
}

const CP_STACK: &str = r#"
services:
  box:
    image: {{busybox}}
    command: ["sleep", "1000"]
    volumes: [data:/data]
    stop_grace_period: 1s
volumes:
  data: {}
"#;

#[test]
fn cp_round_trips_a_tree_and_never_escapes_the_container_root() {
    let Some(s) = Stack::with(inside(), CP_STACK) else {
        return;
    };
    s.wharf(&["up", "-d"]).ok();
    let work = tempfile::tempdir().expect("tempdir");

    // A tree with modes, an mtime, a nested file and a relative symlink.
    let src = work.path().join("tree");
    std::fs::create_dir_all(src.join("sub/deeper")).expect("mkdir");
    std::fs::write(src.join("sub/deeper/nested.txt"), "nested\n").expect("write");
    std::fs::write(src.join("run.sh"), "#!/bin/sh\necho hi\n").expect("write");
    std::fs::set_permissions(src.join("run.sh"), std::fs::Permissions::from_mode(0o755))
        .expect("chmod");
    std::fs::set_permissions(
        src.join("sub/deeper/nested.txt"),
        std::fs::Permissions::from_mode(0o604),
    )
    .expect("chmod");
    std::fs::set_permissions(src.join("sub"), std::fs::Permissions::from_mode(0o750))
        .expect("chmod");
    symlink("sub/deeper/nested.txt", src.join("link")).expect("symlink");
    set_mtime(&src.join("sub/deeper/nested.txt"), 1_000_000_000);
    set_mtime(&src.join("sub"), 1_100_000_000);

    // Host → service (the missing /tmp/tree becomes the directory).
    let out = s
        .wharf(&["cp", src.to_str().unwrap(), "box:/tmp/tree"])
        .ok();
    assert!(out.stderr.contains("Successfully copied"), "{}", out.stderr);
    let seen = s.exec(
        "box-1",
        "cd /tmp/tree && stat -c '%n %a %Y %U' sub sub/deeper/nested.txt run.sh && readlink link && cat link && ./run.sh",
    );
    assert_eq!(
        seen,
        "sub 750 1100000000 root\nsub/deeper/nested.txt 604 1000000000 root\n\
         run.sh 755 "
            .to_string()
            + &format!(
                "{} root\n",
                std::fs::metadata(src.join("run.sh")).unwrap().mtime()
            )
            + "sub/deeper/nested.txt\nnested\nhi\n",
        "{seen}"
    );

    // Owners: root owns what is copied in, unless -a keeps them.
    let owned = work.path().join("owned");
    std::fs::write(&owned, "mine\n").expect("write");
    std::os::unix::fs::chown(&owned, Some(4321), Some(4322)).expect("chown");
    s.wharf(&["cp", owned.to_str().unwrap(), "box:/tmp/plain"])
        .ok();
    s.wharf(&["cp", "-a", owned.to_str().unwrap(), "box:/tmp/kept"])
        .ok();
    assert_eq!(
        s.exec("box-1", "stat -c '%u:%g' /tmp/plain /tmp/kept"),
        "0:0\n4321:4322\n"
    );

    // Container (by name) → host, into an existing directory.
    let back = work.path().join("back");
    std::fs::create_dir(&back).expect("mkdir");
    s.wharf(&[
        "cp",
        &format!("{}:/tmp/tree", s.name("box-1")),
        back.to_str().unwrap(),
    ])
    .ok();
    let t = back.join("tree");
    assert_eq!(
        std::fs::read_to_string(t.join("sub/deeper/nested.txt")).unwrap(),
        "nested\n"
    );
    assert_eq!(mode(&t.join("sub/deeper/nested.txt")), 0o604);
    assert_eq!(mode(&t.join("sub")), 0o750);
    assert_eq!(mode(&t.join("run.sh")), 0o755);
    assert_eq!(
        std::fs::metadata(t.join("sub/deeper/nested.txt"))
            .unwrap()
            .mtime(),
        1_000_000_000
    );
    assert_eq!(
        std::fs::metadata(t.join("sub")).unwrap().mtime(),
        1_100_000_000
    );
    assert_eq!(
        std::fs::read_link(t.join("link")).unwrap(),
        Path::new("sub/deeper/nested.txt")
    );

    // `SRC/.` copies the contents; `-` streams a tar whose root is the name.
    let flat = work.path().join("flat");
    std::fs::create_dir(&flat).expect("mkdir");
    s.wharf(&["cp", "box:/tmp/tree/sub/.", flat.to_str().unwrap()])
        .ok();
    assert!(flat.join("deeper/nested.txt").is_file());
    let tar = s.cmd(&["cp", "box:/tmp/tree", "-"]).output().expect("cp -");
    assert!(tar.status.success());
    let mut names: Vec<String> = tar::Archive::new(&tar.stdout[..])
        .entries()
        .expect("tar")
        .map(|e| {
            e.expect("entry")
                .path()
                .expect("path")
                .display()
                .to_string()
        })
        .collect();
    names.sort();
    assert!(
        names.contains(&"tree/sub/deeper/nested.txt".to_string()),
        "{names:?}"
    );
    assert!(names.iter().all(|n| n.starts_with("tree")), "{names:?}");

    // A volume inside the container path: the running container's view.
    std::fs::write(work.path().join("vol.txt"), "on the volume\n").expect("write");
    s.wharf(&[
        "cp",
        work.path().join("vol.txt").to_str().unwrap(),
        "box:/data/",
    ])
    .ok();
    assert_eq!(s.exec("box-1", "cat /data/vol.txt"), "on the volume\n");

    // Symlinks planted in the container pointing at a host directory.
    let probe = tempfile::tempdir().expect("tempdir");
    std::fs::write(probe.path().join("secret"), "host secret\n").expect("write");
    let p = probe.path().to_str().unwrap();
    s.exec(
        "box-1",
        &format!("ln -s {p} /escape && ln -s ../../../../../../.. /tmp/up"),
    );
    let payload = work.path().join("payload");
    std::fs::write(&payload, "evil\n").expect("write");
    let pl = payload.to_str().unwrap();
    for dest in [
        "box:/escape/secret".to_string(),
        "box:/escape/new".to_string(),
        format!("box:/tmp/up{p}/secret"),
        format!("box:/tmp/up{p}/"),
    ] {
        let _ = s.wharf(&["cp", pl, &dest]);
    }
    // A tar through `-` that walks through the link.
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Regular);
    h.set_size(5);
    h.set_mode(0o644);
    b.append_data(&mut h, "escape/secret", &b"evil\n"[..])
        .expect("tar");
    let evil_tar = b.into_inner().expect("tar");
    let mut child = s
        .cmd(&["cp", "-", "box:/"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("cp -");
    std::io::Write::write_all(&mut child.stdin.take().expect("stdin"), &evil_tar).expect("feed");
    let refused = child.wait_with_output().expect("wait");
    assert!(
        !refused.status.success(),
        "writing through a symlink was not refused"
    );
    assert_eq!(
        std::fs::read_to_string(probe.path().join("secret")).unwrap(),
        "host secret\n"
    );
    assert_eq!(
        std::fs::read_dir(probe.path()).unwrap().count(),
        1,
        "nothing new on the host"
    );
    // Out: `/escape/secret` names nothing in the container; `/escape` is a link.
    let out = work.path().join("stolen");
    let r = s.wharf(&["cp", "box:/escape/secret", out.to_str().unwrap()]);
    assert_ne!(r.code, 0);
    assert!(r.stderr.contains("Could not find the file"), "{}", r.stderr);
    assert!(!out.exists());
    s.wharf(&["cp", "box:/escape", out.to_str().unwrap()]).ok();
    assert_eq!(std::fs::read_link(&out).unwrap(), probe.path());
    // `..` above the root lands on the root, inside the container.
    s.wharf(&["cp", pl, "box:/tmp/up/landed"]).ok();
    assert_eq!(s.exec("box-1", "cat /landed"), "evil\n");

    // Stopped: its rootfs is mounted for the copy (and unmounted after);
    // its volumes are not, so a path on one is refused.
    s.wharf(&["stop", "box"]).ok();
    s.wharf(&["cp", pl, "box:/tmp/while-stopped"]).ok();
    let r = s.wharf(&["cp", pl, "box:/data/x"]);
    assert_ne!(r.code, 0);
    assert!(r.stderr.contains("volume"), "{}", r.stderr);
    let stopped_out = work.path().join("from-stopped");
    s.wharf(&["cp", "box:/tmp/tree/run.sh", stopped_out.to_str().unwrap()])
        .ok();
    assert_eq!(mode(&stopped_out), 0o755);
    s.wharf(&["start", "box"]).ok();
    assert_eq!(s.exec("box-1", "cat /tmp/while-stopped"), "evil\n");
}

/// Out of a container onto the host, `cp` leaves out device nodes and
/// setuid/setgid bits the container made, unless `-a` asks for them.
#[test]
fn cp_to_the_host_drops_devices_and_setuid_unless_archive() {
    let Some(s) = Stack::with(inside(), CP_STACK) else {
        return;
    };
    s.wharf(&["up", "-d"]).ok();
    s.exec(
        "box-1",
        "mkdir /tmp/sp && cp /bin/busybox /tmp/sp/suid && chmod 6755 /tmp/sp/suid \
         && mknod /tmp/sp/mem c 1 1 && echo plain > /tmp/sp/plain",
    );
    let work = tempfile::tempdir().expect("tempdir");
    let safe = work.path().join("safe");
    s.wharf(&["cp", "box:/tmp/sp", safe.to_str().unwrap()]).ok();
    assert_eq!(mode(&safe.join("suid")), 0o755);
    assert!(!safe.join("mem").exists(), "a device node reached the host");
    assert_eq!(
        std::fs::read_to_string(safe.join("plain")).unwrap(),
        "plain\n"
    );
    let whole = work.path().join("whole");
    s.wharf(&["cp", "-a", "box:/tmp/sp", whole.to_str().unwrap()])
        .ok();
    assert_eq!(mode(&whole.join("suid")), 0o6755);
    assert!(std::os::unix::fs::FileTypeExt::is_char_device(
        &std::fs::symlink_metadata(whole.join("mem"))
            .unwrap()
            .file_type()
    ));
    s.wharf(&["down", "-v"]).ok();
}

/// Unix seconds with a fraction, as `--since` takes them.
fn unix_now() -> String {
    let d = SystemTime::now().duration_since(UNIX_EPOCH).expect("clock");
    format!("{}.{:09}", d.as_secs(), d.subsec_nanos())
}

/// Reads JSON lines from a child's stdout on a thread, so the test can
/// wait with a timeout and never hang.
fn lines_of(child: &mut std::process::Child) -> mpsc::Receiver<serde_json::Value> {
    let (tx, rx) = mpsc::channel();
    let out = child.stdout.take().expect("stdout");
    std::thread::spawn(move || {
        for l in BufReader::new(out).lines().map_while(Result::ok) {
            if let Ok(v) = serde_json::from_str(&l) {
                if tx.send(v).is_err() {
                    break;
                }
            }
        }
    });
    rx
}

/// Collects events until `done` says so or the deadline passes.
fn collect_until(
    rx: &mpsc::Receiver<serde_json::Value>,
    seen: &mut Vec<serde_json::Value>,
    secs: u64,
    done: impl Fn(&[serde_json::Value]) -> bool,
) -> bool {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !done(seen) {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return false;
        }
        if let Ok(v) = rx.recv_timeout(left.min(Duration::from_millis(200))) {
            seen.push(v);
        }
    }
    true
}

/// The actions of one service's container, in order.
fn actions(seen: &[serde_json::Value], service: &str) -> Vec<String> {
    seen.iter()
        .filter(|e| e["service"] == service)
        .map(|e| e["action"].as_str().unwrap_or("").to_string())
        .collect()
}

/// Whether `want` occurs in `got` in order (other actions may come between).
fn in_order(got: &[String], want: &[&str]) -> bool {
    let mut it = got.iter();
    want.iter().all(|w| it.any(|g| g == w))
}

struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn events_follow_up_restart_policy_health_and_down() {
    let Some(s) = Stack::with(
        inside(),
        r#"
services:
  flaky:
    image: {{busybox}}
    command: ["sh", "-c", "if [ -f /ran ]; then exec sleep 1000; fi; touch /ran; exit 3"]
    restart: on-failure
  app:
    image: {{busybox}}
    command: ["sleep", "1000"]
    healthcheck: {test: ["CMD", "true"], interval: 1s, start_interval: 200ms}
  job:
    image: {{busybox}}
    command: ["sh", "-c", "sleep 0.5; exit 5"]
"#,
    ) else {
        return;
    };
    let t0 = unix_now();
    // --since t0 (no race with the child's start); --until bounds it.
    let until = (SystemTime::now() + Duration::from_secs(180))
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs()
        .to_string();
    let mut follower = KillOnDrop(
        s.cmd(&["events", "--json", "--since", &t0, "--until", &until])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn events"),
    );
    let rx = lines_of(&mut follower.0);
    s.wharf(&["up", "-d"]).ok();
    let mut seen = Vec::new();
    let ok = collect_until(&rx, &mut seen, 60, |seen| {
        in_order(
            &actions(seen, "flaky"),
            &["create", "start", "die", "start"],
        ) && actions(seen, "app")
            .iter()
            .any(|a| a == "health_status: healthy")
            && actions(seen, "job").iter().any(|a| a == "die")
    });
    assert!(ok, "restart/health events missing: {seen:#?}");
    // The die of the failed attempt carries its exit code; compose labels
    // are not attributes in compose's format.
    let die = seen
        .iter()
        .find(|e| e["service"] == "flaky" && e["action"] == "die")
        .expect("die");
    assert_eq!(die["attributes"]["exitCode"], "3", "{die:#}");
    assert_eq!(die["attributes"]["name"], s.name("flaky-1").as_str());
    assert_eq!(die["type"], "container");
    assert!(die["attributes"]
        .get("com.docker.compose.service")
        .is_none());
    assert!(die["id"].as_str().is_some_and(|i| i.len() == 64), "{die:#}");

    // wait / top / stats for services.
    let w = s.wharf(&["wait", "job"]);
    assert_eq!(w.code, 5, "{} {}", w.stdout, w.stderr);
    assert!(
        w.stdout.contains("exited with status code 5"),
        "{}",
        w.stdout
    );
    let top = s.wharf(&["top", "app"]).ok().stdout;
    assert!(
        top.starts_with(&s.name("app-1")) && top.contains("sleep 1000"),
        "{top}"
    );
    let stats = s.wharf(&["stats", "--no-stream"]).ok().stdout;
    assert!(
        stats.contains(&s.name("app-1")) && stats.contains(&s.name("flaky-1")),
        "{stats}"
    );
    assert!(!stats.contains(&s.name("job-1")), "not running: {stats}");

    s.wharf(&["restart", "-t", "0", "app"]).ok();
    s.wharf(&["down", "-t", "0"]).ok();
    let ok = collect_until(&rx, &mut seen, 60, |seen| {
        in_order(
            &actions(seen, "app"),
            &[
                "create", "start", "kill", "die", "stop", "start", "restart", "kill", "die",
                "stop", "destroy",
            ],
        ) && actions(seen, "flaky").iter().any(|a| a == "destroy")
            && actions(seen, "job").iter().any(|a| a == "destroy")
    });
    assert!(ok, "up/down sequence missing: {:#?}", actions(&seen, "app"));
    drop(follower);

    // The same file, Docker's way, from outside the project: past events
    // only, bounded by --until so it returns.
    let elsewhere = tempfile::tempdir().expect("tempdir");
    let out = Run::from(
        s.cmd_in(
            elsewhere.path(),
            &[
                "events",
                "--since",
                &t0,
                "--until",
                &unix_now(),
                "--format",
                "json",
                "--filter",
                "event=die",
                "--filter",
                &format!("container={}", s.name("job-1")),
            ],
        )
        .output()
        .expect("events"),
    )
    .ok();
    let docker: Vec<serde_json::Value> = out
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("json line"))
        .collect();
    assert_eq!(docker.len(), 1, "{docker:#?}");
    let e = &docker[0];
    assert_eq!(e["Type"], "container");
    assert_eq!(e["Action"], "die");
    assert_eq!(e["Actor"]["Attributes"]["exitCode"], "5");
    assert_eq!(
        e["Actor"]["Attributes"]["com.docker.compose.service"],
        "job"
    );
    assert!(
        e["timeNano"].as_i64().unwrap_or(0) / 1_000_000_000 == e["time"].as_i64().unwrap_or(-1)
    );
}
