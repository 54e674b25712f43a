//! `wharf build` end to end, on the fixture images of the loopback
//! registry (run through scripts/with-registry): a multi-stage build that
//! `wharf run` then runs, the cache (what runs again after an edit, and
//! what does not), failures that say what failed, and nothing left behind.

#[path = "support/harness.rs"]
mod harness;
#[path = "support/stack.rs"]
mod stack;

use harness::Run;
use stack::{Setup, Stack};
use std::path::{Path, PathBuf};

/// A data root and a context directory; the compose file is only there
/// for the rig's teardown checks.
fn rig() -> Option<Stack> {
    Stack::with(
        Setup {
            root_prefix: "wharf-build-",
            dir_prefix: "bld",
            out_dir: false,
        },
        "services:\n  unused:\n    image: {{busybox}}\n",
    )
}

fn write(s: &Stack, name: &str, content: &str) {
    let p = s.dir.path().join(name);
    if let Some(parent) = p.parent() {
        std::fs::create_dir_all(parent).expect("mkdir");
    }
    let text = content
        .replace("{{busybox}}", &s.busybox())
        .replace("{{python}}", &s.image("python"));
    std::fs::write(p, text).expect("write");
}

fn build(s: &Stack, extra: &[&str]) -> Run {
    let mut args = vec!["build", "--progress", "plain"];
    args.extend_from_slice(extra);
    args.push(".");
    s.wharf(&args)
}

/// `#N CACHED` lines, by the title their step printed.
fn step_titles(stderr: &str, status: &str) -> Vec<String> {
    let mut titles = std::collections::BTreeMap::new();
    let mut out = Vec::new();
    for l in stderr.lines() {
        let Some(rest) = l.strip_prefix('#') else {
            continue;
        };
        let Some((n, text)) = rest.split_once(' ') else {
            continue;
        };
        if text.starts_with('[') {
            titles.insert(n.to_string(), text.to_string());
        } else if text == status || (status == "DONE" && text.starts_with("DONE ")) {
            if let Some(t) = titles.get(n) {
                out.push(t.clone());
            }
        }
    }
    out
}

/// The diff ids of an image, bottom first.
fn layers(s: &Stack, image: &str) -> Vec<String> {
    let v: serde_json::Value =
        serde_json::from_str(&s.store(&["image", "inspect", image]).ok().stdout).expect("json");
    let record = if v.is_array() { v[0].clone() } else { v };
    record["layers"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|l| l["diff_id"].as_str().unwrap_or_default().to_string())
                .collect()
        })
        .unwrap_or_default()
}

/// Container ids the data root's event log saw created.
fn created_containers(root: &Path) -> Vec<String> {
    std::fs::read_to_string(root.join("events.log"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|e| e["Action"] == "create")
        .filter_map(|e| e["id"].as_str().map(str::to_string))
        .collect()
}

/// After the builds: no build container, cgroup, scratch dir or unnamed
/// intermediate image is left.
fn assert_clean(s: &Stack) {
    let ids = created_containers(s.root.path());
    assert!(!ids.is_empty(), "RUN steps ran as containers");
    let left = s.wharf(&["ps", "-a", "-q"]).ok().stdout;
    assert!(left.trim().is_empty(), "build containers left: {left}");
    let cgroups = harness::cgroups_of(&ids);
    assert!(cgroups.is_empty(), "cgroups left: {cgroups:?}");
    let scratch: Vec<_> = std::fs::read_dir(s.root.path().join("build-tmp"))
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    assert!(scratch.is_empty(), "build scratch left: {scratch:?}");
    // Every built image was removed by its test: what is left is the
    // fixture images (no unnamed images the RUN steps ran on).
    let listed: serde_json::Value =
        serde_json::from_str(&s.store(&["images", "--format", "json"]).ok().stdout)
            .expect("images json");
    let others: Vec<&serde_json::Value> = listed
        .as_array()
        .expect("a list")
        .iter()
        .filter(|i| !i["Repository"].to_string().contains("wharf-fixtures"))
        .collect();
    assert!(others.is_empty(), "images left: {others:#?}");
}

const MULTI_STAGE: &str = "\
FROM {{busybox}} AS base
RUN echo built > /built.txt

FROM {{busybox}}
WORKDIR /app
COPY --from=base /built.txt ./
COPY hello.txt .
RUN cat built.txt hello.txt > combined.txt
CMD [\"cat\", \"/app/combined.txt\"]
";

#[test]
fn multi_stage_build_runs_and_rebuilds_only_what_changed() {
    let Some(s) = rig() else { return };
    write(&s, "Dockerfile", MULTI_STAGE);
    write(&s, "hello.txt", "hello\n");

    let first = build(&s, &["-t", "app:1"]).ok();
    assert!(
        step_titles(&first.stderr, "CACHED").is_empty(),
        "a cold build has nothing cached:\n{}",
        first.stderr
    );
    let out = s.store(&["run", "--rm", "app:1"]).ok().stdout;
    assert_eq!(out, "built\nhello\n");
    let layers_1 = layers(&s, "app:1");

    // No change: nothing runs, the same layers come back.
    let again = build(&s, &["-t", "app:1"]).ok();
    let ran = step_titles(&again.stderr, "DONE");
    assert!(
        ran.iter()
            .all(|t| !t.contains("RUN") && !t.contains("COPY")),
        "a no-change rebuild ran {ran:?}:\n{}",
        again.stderr
    );
    assert_eq!(
        step_titles(&again.stderr, "CACHED").len(),
        5,
        "{}",
        again.stderr
    );
    assert_eq!(layers(&s, "app:1"), layers_1);

    // One source changes: its COPY and what follows run again, the rest is cached.
    write(&s, "hello.txt", "hello again\n");
    let edited = build(&s, &["-t", "app:2"]).ok();
    let cached = step_titles(&edited.stderr, "CACHED");
    let ran = step_titles(&edited.stderr, "DONE");
    assert!(
        cached.iter().any(|t| t.contains("RUN echo built")),
        "{cached:?}"
    );
    assert!(
        cached.iter().any(|t| t.contains("COPY --from=base")),
        "{cached:?}"
    );
    assert!(ran.iter().any(|t| t.contains("COPY hello.txt")), "{ran:?}");
    assert!(ran.iter().any(|t| t.contains("RUN cat")), "{ran:?}");
    let layers_2 = layers(&s, "app:2");
    assert_eq!(layers_2.len(), layers_1.len());
    let same = layers_1
        .iter()
        .zip(&layers_2)
        .take_while(|(a, b)| a == b)
        .count();
    assert_eq!(same, layers_1.len() - 2, "only the last two layers differ");
    assert_eq!(
        s.store(&["run", "--rm", "app:2"]).ok().stdout,
        "built\nhello again\n"
    );

    // --no-cache runs everything.
    let fresh = build(&s, &["--no-cache", "-t", "app:3"]).ok();
    assert!(
        step_titles(&fresh.stderr, "CACHED").is_empty(),
        "{}",
        fresh.stderr
    );
    assert_eq!(
        s.store(&["run", "--rm", "app:3"]).ok().stdout,
        "built\nhello again\n"
    );
    for t in ["app:1", "app:2", "app:3"] {
        s.store(&["rmi", t]).ok();
    }
    assert_clean(&s);

    // `builder prune` empties the cache: the next build runs every step,
    // and once its image is gone too no layer is left but the base's.
    s.store(&["builder", "prune", "-f"]).ok();
    let after = build(&s, &["-t", "app:4"]).ok();
    assert!(
        step_titles(&after.stderr, "CACHED").is_empty(),
        "{}",
        after.stderr
    );
    s.store(&["rmi", "app:4"]).ok();
    s.store(&["builder", "prune", "-f"]).ok();
    let layer_dirs = std::fs::read_dir(s.root.path().join("layers"))
        .map(|d| d.count())
        .unwrap_or(0);
    // by-diff-id plus the busybox fixture's one layer.
    assert_eq!(layer_dirs, 1 + layers(&s, &s.busybox()).len());
}

#[test]
fn image_config_and_history_follow_the_dockerfile() {
    let Some(s) = rig() else { return };
    write(
        &s,
        "Dockerfile",
        "FROM {{busybox}}\nENV GREETING=hi\nARG WHO=world\nRUN echo \"$GREETING $WHO\" > /msg\n\
         RUN grep -q '10.1.2.3.*myhost' /etc/hosts\n\
         EXPOSE 8080\nLABEL org.example.kind=test\nUSER 65534\nENTRYPOINT [\"cat\"]\nCMD [\"/msg\"]\n",
    );
    let iid = s.dir.path().join("iid");
    let iid_arg = iid.to_string_lossy().into_owned();
    build(
        &s,
        &[
            "-t",
            "cfg:1",
            "--build-arg",
            "WHO=you",
            "--iidfile",
            &iid_arg,
            "--add-host",
            "myhost:10.1.2.3",
        ],
    )
    .ok();
    let id = std::fs::read_to_string(&iid).expect("iidfile");
    assert!(id.starts_with("sha256:"), "{id}");
    assert_eq!(s.store(&["run", "--rm", "cfg:1"]).ok().stdout, "hi you\n");
    let history = s
        .store(&["image", "history", "--no-trunc", "cfg:1"])
        .ok()
        .stdout;
    assert!(history.contains("EXPOSE map[8080/tcp:{}]"), "{history}");
    assert!(history.contains("|1 WHO=you /bin/sh -c echo"), "{history}");
    s.store(&["rmi", "cfg:1"]).ok();
    assert_clean(&s);
}

#[test]
fn a_failing_run_names_its_command_exit_code_and_output() {
    let Some(s) = rig() else { return };
    write(
        &s,
        "Dockerfile",
        "FROM {{busybox}}\nRUN echo about to fail && echo on stderr >&2 && exit 3\n",
    );
    let r = build(&s, &["-t", "bad:1"]);
    assert_ne!(r.code, 0);
    assert!(r.stderr.contains("Dockerfile:2"), "{}", r.stderr);
    assert!(r.stderr.contains("exit code: 3"), "{}", r.stderr);
    assert!(r.stderr.contains("about to fail"), "{}", r.stderr);
    assert!(r.stderr.contains("on stderr"), "{}", r.stderr);
    assert_ne!(
        s.store(&["image", "inspect", "bad:1"]).code,
        0,
        "no image made"
    );
    assert_clean(&s);
}

#[test]
fn a_missing_copy_source_is_named() {
    let Some(s) = rig() else { return };
    write(&s, "Dockerfile", "FROM {{busybox}}\nCOPY nothere.txt /x\n");
    let r = build(&s, &[]);
    assert_ne!(r.code, 0);
    assert!(r.stderr.contains("Dockerfile:2"), "{}", r.stderr);
    assert!(r.stderr.contains("nothere.txt"), "{}", r.stderr);
}

#[test]
fn dockerignore_keeps_files_out_of_the_image_and_of_the_cache_key() {
    let Some(s) = rig() else { return };
    write(
        &s,
        "Dockerfile",
        "FROM {{busybox}}\nCOPY . /src/\nCMD [\"ls\", \"-A\", \"/src\"]\n",
    );
    write(&s, ".dockerignore", "secret.txt\nnode_modules\n");
    write(&s, "keep.txt", "kept\n");
    write(&s, "secret.txt", "do not ship\n");
    write(&s, "node_modules/dep/index.js", "1\n");
    build(&s, &["-t", "ctx:1"]).ok();
    let listed = s.store(&["run", "--rm", "ctx:1"]).ok().stdout;
    let mut names: Vec<&str> = listed.lines().collect();
    names.sort();
    // compose.yaml is the rig's own file in the context.
    assert_eq!(
        names,
        vec![".dockerignore", "Dockerfile", "compose.yaml", "keep.txt"]
    );

    // An ignored file changes: the COPY stays cached.
    write(&s, "node_modules/dep/index.js", "2\n");
    let again = build(&s, &["-t", "ctx:1"]).ok();
    assert!(
        step_titles(&again.stderr, "CACHED")
            .iter()
            .any(|t| t.contains("COPY . /src/")),
        "{}",
        again.stderr
    );

    // Naming an ignored file says so.
    write(&s, "Dockerfile", "FROM {{busybox}}\nCOPY secret.txt /\n");
    let r = build(&s, &[]);
    assert_ne!(r.code, 0);
    assert!(r.stderr.contains("secret.txt"), "{}", r.stderr);
    assert!(r.stderr.contains(".dockerignore"), "{}", r.stderr);
    s.store(&["rmi", "ctx:1"]).ok();
}

#[test]
fn run_mounts_cache_persists_secrets_and_tmpfs_stay_out_of_the_image() {
    let Some(s) = rig() else { return };
    let secret = s.dir.path().join("token.txt");
    std::fs::write(&secret, "s3cr3t").expect("secret");
    write(&s, ".dockerignore", "token.txt\n");
    write(
        &s,
        "Dockerfile",
        "FROM {{busybox}}\n\
         ARG RUN_ID\n\
         RUN --mount=type=cache,target=/var/cache/app echo \"$RUN_ID\" >> /var/cache/app/runs && cat /var/cache/app/runs > /runs-seen\n\
         RUN --mount=type=secret,id=token cat /run/secrets/token > /token-len-check && wc -c < /run/secrets/token > /token-len && rm /token-len-check\n\
         RUN --mount=type=tmpfs,target=/scratch echo temp > /scratch/t && ls /scratch > /scratch-seen\n\
         RUN --network=none sh -c 'ip link 2>/dev/null | grep -c \"^[0-9]\" > /links || cat /proc/net/dev | tail -n +3 | wc -l > /links'\n\
         CMD [\"sh\", \"-c\", \"cat /runs-seen /token-len /scratch-seen /links; for p in /run/secrets /scratch /var/cache/app /token-len-check; do test -e $p && echo present:$p; done; true\"]\n",
    );
    let secret_arg = format!("id=token,src={}", secret.display());
    build(
        &s,
        &[
            "-t",
            "mnt:1",
            "--build-arg",
            "RUN_ID=one",
            "--secret",
            &secret_arg,
        ],
    )
    .ok();
    build(
        &s,
        &[
            "-t",
            "mnt:2",
            "--build-arg",
            "RUN_ID=two",
            "--secret",
            &secret_arg,
        ],
    )
    .ok();
    let out = s.store(&["run", "--rm", "mnt:2"]).ok().stdout;
    let lines: Vec<&str> = out.lines().collect();
    // The cache mount kept the first build's line; the image has none of the mounts.
    assert_eq!(&lines[..3], &["one", "two", "6"], "{out}");
    assert_eq!(lines[3], "t", "{out}");
    assert_eq!(lines[4], "1", "only loopback with --network=none: {out}");
    assert_eq!(lines.len(), 5, "mount points left in the image: {out}");
    let history = s
        .store(&["image", "history", "--no-trunc", "mnt:2"])
        .ok()
        .stdout;
    assert!(!history.contains("s3cr3t"), "{history}");

    // A required secret that is not given is an error naming it.
    write(
        &s,
        "Dockerfile",
        "FROM {{busybox}}\nRUN --mount=type=secret,id=absent,required cat /run/secrets/absent\n",
    );
    let r = build(&s, &[]);
    assert_ne!(r.code, 0);
    assert!(r.stderr.contains("absent"), "{}", r.stderr);
    for t in ["mnt:1", "mnt:2"] {
        s.store(&["rmi", t]).ok();
    }
    assert_clean(&s);
}

#[test]
fn source_date_epoch_makes_builds_on_fresh_roots_identical() {
    let Some(a) = rig() else { return };
    let Some(b) = rig() else { return };
    let dockerfile = "FROM {{busybox}}\nCOPY app.txt /app/\nRUN echo made > /app/made.txt && mkdir -p /app/sub\nENV MODE=repro\n";
    let mut ids = Vec::new();
    for s in [&a, &b] {
        write(s, "Dockerfile", dockerfile);
        write(s, "app.txt", "same content\n");
        let iid = s.dir.path().join("iid");
        let iid_arg = iid.to_string_lossy().into_owned();
        build(
            s,
            &[
                "--source-date-epoch",
                "1700000000",
                "--iidfile",
                &iid_arg,
                "-t",
                "repro:1",
            ],
        )
        .ok();
        ids.push(std::fs::read_to_string(&iid).expect("iid"));
        s.store(&["rmi", "repro:1"]).ok();
    }
    assert_eq!(ids[0], ids[1], "same inputs, same image");
}

#[test]
fn heredocs_and_onbuild_triggers_run_as_buildkit_runs_them() {
    let Some(s) = rig() else { return };
    write(
        &s,
        "Dockerfile",
        "FROM {{busybox}}\n\
         COPY <<EOF /etc/greeting\n\
         hello from a heredoc\n\
         EOF\n\
         RUN <<EOF\n\
         echo script line one > /script.txt\n\
         echo script line two >> /script.txt\n\
         EOF\n\
         RUN cat <<NOTE > /note.txt\n\
         noted\n\
         NOTE\n\
         ONBUILD RUN echo triggered > /onbuild.txt\n",
    );
    build(&s, &["-t", "parent:1"]).ok();
    write(&s, "Dockerfile", "FROM parent:1\nCMD [\"cat\", \"/etc/greeting\", \"/script.txt\", \"/note.txt\", \"/onbuild.txt\"]\n");
    let child = build(&s, &["-t", "child:1"]).ok();
    assert!(
        child.stderr.contains("RUN echo triggered"),
        "{}",
        child.stderr
    );
    assert_eq!(
        s.store(&["run", "--rm", "child:1"]).ok().stdout,
        "hello from a heredoc\nscript line one\nscript line two\nnoted\ntriggered\n"
    );
    for t in ["child:1", "parent:1"] {
        s.store(&["rmi", t]).ok();
    }
    assert_clean(&s);
}

/// Serves `body` to every HTTP request on a loopback port, for `count` requests.
fn serve(body: &'static str, count: usize) -> u16 {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(count) {
            let Ok(mut stream) = stream else { continue };
            let mut buf = [0u8; 4096];
            let _ = stream.read(&mut buf);
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    port
}

#[test]
fn add_fetches_urls_and_checks_their_checksum() {
    let Some(s) = rig() else { return };
    let port = serve("fetched body\n", 2);
    // sha256 of "fetched body\n".
    let sum = format!("sha256:{}", sha256_hex(b"fetched body\n"));
    write(
        &s,
        "Dockerfile",
        &format!("FROM {{{{busybox}}}}\nADD --checksum={sum} http://127.0.0.1:{port}/files/data.txt /srv/\nCMD [\"sh\", \"-c\", \"cat /srv/data.txt; stat -c %a /srv/data.txt\"]\n"),
    );
    build(&s, &["-t", "url:1"]).ok();
    assert_eq!(
        s.store(&["run", "--rm", "url:1"]).ok().stdout,
        "fetched body\n600\n"
    );

    let wrong = format!("sha256:{}", "0".repeat(64));
    write(
        &s,
        "Dockerfile",
        &format!("FROM {{{{busybox}}}}\nADD --checksum={wrong} http://127.0.0.1:{port}/files/data.txt /srv/\n"),
    );
    let r = build(&s, &[]);
    assert_ne!(r.code, 0);
    assert!(r.stderr.contains("digest mismatch"), "{}", r.stderr);
    s.store(&["rmi", "url:1"]).ok();
}

fn sha256_hex(data: &[u8]) -> String {
    let out = std::process::Command::new("sha256sum")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin.take().expect("stdin").write_all(data)?;
            c.wait_with_output()
        })
        .expect("sha256sum");
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_string()
}

#[test]
fn outputs_write_the_filesystem_or_the_image_and_push_reaches_the_registry() {
    let Some(s) = rig() else { return };
    write(
        &s,
        "Dockerfile",
        "FROM {{busybox}}\nRUN echo made > /made.txt && ln -s made.txt /link && rm /bin/true\n",
    );
    let out = s.dir.path().join("out");
    build(&s, &["-o", "out"]).ok();
    assert_eq!(
        std::fs::read_to_string(out.join("made.txt")).expect("made.txt"),
        "made\n"
    );
    assert_eq!(
        std::fs::read_link(out.join("link")).expect("link"),
        PathBuf::from("made.txt")
    );
    assert!(out.join("bin/busybox").is_file(), "the base image's files");
    assert!(
        std::fs::symlink_metadata(out.join("bin/true")).is_err(),
        "a file the build deleted is not written out"
    );

    // A tar of the same tree, named from the root down.
    let fs_tar = s.dir.path().join("fs.tar");
    build(&s, &["--output", "type=tar,dest=fs.tar"]).ok();
    let listing = std::process::Command::new("tar")
        .arg("-tf")
        .arg(&fs_tar)
        .output()
        .expect("tar -tf");
    let names = String::from_utf8_lossy(&listing.stdout).into_owned();
    assert!(names.lines().any(|l| l == "made.txt"), "{names}");
    assert!(names.lines().any(|l| l == "bin/busybox"), "{names}");

    // The image as an OCI archive, and pushed: pulled back, it runs.
    let name = format!("{}/wharf-test/built-output:1", s.registry);
    build(
        &s,
        &["-t", &name, "--output", "type=oci,dest=image.tar", "--push"],
    )
    .ok();
    let listing = std::process::Command::new("tar")
        .arg("-tf")
        .arg(s.dir.path().join("image.tar"))
        .output()
        .expect("tar -tf");
    let names = String::from_utf8_lossy(&listing.stdout).into_owned();
    assert!(
        names.lines().any(|l| l == "index.json") && names.lines().any(|l| l == "oci-layout"),
        "{names}"
    );
    s.store(&["rmi", &name]).ok();
    s.store(&["pull", &name]).ok();
    assert_eq!(
        s.store(&["run", "--rm", &name, "cat", "/made.txt"])
            .ok()
            .stdout,
        "made\n"
    );
    s.store(&["rmi", &name]).ok();
    assert_clean(&s);
}

#[test]
fn bad_output_and_push_flags_are_refused_before_building() {
    let Some(s) = rig() else { return };
    write(&s, "Dockerfile", "FROM {{busybox}}\nRUN echo never\n");
    for (flags, says) in [
        (&["--push"][..], "--push needs a name"),
        (&["--output", "type=local"][..], "type=local needs dest="),
        (&["--output", "type=ftp,dest=x"][..], "type \"ftp\""),
        (&["--no-cache-filter", "nosuch"][..], "no such stage"),
    ] {
        let r = build(&s, flags);
        assert_ne!(r.code, 0, "{flags:?}");
        assert!(r.stderr.contains(says), "{flags:?}: {}", r.stderr);
        assert!(
            !r.stderr.contains("RUN echo never"),
            "{flags:?} built: {}",
            r.stderr
        );
    }
}

#[test]
fn pull_takes_the_registry_s_base_and_no_cache_filter_reruns_one_stage() {
    let Some(s) = rig() else { return };
    // A base in the registry, then replaced there by another image.
    let base = format!("{}/wharf-test/pull-base:1", s.registry);
    write(
        &s,
        "Dockerfile",
        "FROM {{busybox}}\nRUN echo one > /version\n",
    );
    build(&s, &["-t", &base, "--push"]).ok();
    write(
        &s,
        "Dockerfile",
        "FROM {{busybox}}\nRUN echo two > /version\n",
    );
    let second = format!("{}/wharf-test/pull-base-next:1", s.registry);
    build(&s, &["-t", &second]).ok();
    // The store still has version one under the base's name; the registry gets two.
    s.store(&["tag", &second, &base]).ok();
    s.store(&["push", &base]).ok();
    s.store(&["rmi", &base]).ok();
    write(
        &s,
        "Dockerfile",
        "FROM {{busybox}}\nRUN echo one > /version\n",
    );
    build(&s, &["-t", &base]).ok();

    write(
        &s,
        "Dockerfile",
        &format!(
            "FROM {base} AS first\nRUN cat /version > /seen\n\nFROM {{{{busybox}}}}\nCOPY --from=first /seen /seen\nRUN echo final\nCMD [\"cat\", \"/seen\"]\n"
        ),
    );
    build(&s, &["-t", "pulled:1"]).ok();
    assert_eq!(s.store(&["run", "--rm", "pulled:1"]).ok().stdout, "one\n");
    let r = build(&s, &["-t", "pulled:1", "--pull"]).ok();
    assert_eq!(
        s.store(&["run", "--rm", "pulled:1"]).ok().stdout,
        "two\n",
        "--pull used the registry's image: {}",
        r.stderr
    );

    // --no-cache-filter: the named stage runs again, the other stays cached.
    let r = build(&s, &["-t", "pulled:1", "--no-cache-filter", "first"]).ok();
    let ran = step_titles(&r.stderr, "DONE");
    let cached = step_titles(&r.stderr, "CACHED");
    assert!(
        ran.iter().any(|t| t.contains("RUN cat /version")),
        "{}",
        r.stderr
    );
    assert!(
        cached.iter().any(|t| t.contains("RUN echo final")),
        "{}",
        r.stderr
    );
    for t in ["pulled:1", &base, &second] {
        s.store(&["rmi", t]).ok();
    }
    // The images the moved tags left unnamed.
    s.store(&["image", "prune", "-f"]).ok();
    assert_clean(&s);
}

#[test]
fn ssh_forwards_the_agent_socket_into_run_mounts_only() {
    let Some(s) = rig() else { return };
    let agent_dir = tempfile::tempdir().expect("tmp");
    let socket = agent_dir.path().join("agent.sock");
    let _listener = std::os::unix::net::UnixListener::bind(&socket).expect("bind");
    write(
        &s,
        "Dockerfile",
        "FROM {{busybox}}\nRUN --mount=type=ssh test -S \"$SSH_AUTH_SOCK\" && echo \"$SSH_AUTH_SOCK\" > /seen\nRUN --mount=type=ssh,id=deploy,target=/agent,required=true test -S /agent\nCMD [\"sh\", \"-c\", \"cat /seen; if test -e /run/buildkit -o -e /agent; then echo leaked; fi\"]\n",
    );
    let spec = format!("deploy={}", socket.display());
    let mut cmd = s.cmd(&[
        "build",
        "--progress",
        "plain",
        "--ssh",
        "default",
        "--ssh",
        &spec,
        "-t",
        "ssh:1",
        ".",
    ]);
    cmd.env("SSH_AUTH_SOCK", &socket);
    let r = harness::Run::from(cmd.output().expect("wharf build"));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        s.store(&["run", "--rm", "ssh:1"]).ok().stdout,
        "/run/buildkit/ssh_agent.0\n",
        "the socket is not part of the image"
    );

    // Without the id a required mount is an error naming it.
    let mut cmd = s.cmd(&[
        "build",
        "--progress",
        "plain",
        "--no-cache",
        "--ssh",
        "default",
        ".",
    ]);
    cmd.env("SSH_AUTH_SOCK", &socket);
    let r = harness::Run::from(cmd.output().expect("wharf build"));
    assert_ne!(r.code, 0);
    assert!(
        r.stderr.contains("Dockerfile:3") && r.stderr.contains("--ssh deploy"),
        "{}",
        r.stderr
    );
    // A key file is refused with what to do instead.
    write(&s, "id_ed25519", "not a socket\n");
    let r = build(&s, &["--ssh", "default=id_ed25519"]);
    assert_ne!(r.code, 0);
    assert!(r.stderr.contains("ssh-add"), "{}", r.stderr);
    s.store(&["rmi", "ssh:1"]).ok();
    assert_clean(&s);
}

#[test]
fn copy_parents_keeps_paths_and_add_extracts_local_archives() {
    let Some(s) = rig() else { return };
    write(&s, "svc/a/go.mod", "module a\n");
    write(&s, "svc/b/go.mod", "module b\n");
    write(&s, "svc/b/main.go", "package main\n");
    write(&s, "payload/inner/file.txt", "from the archive\n");
    let tar = std::process::Command::new("tar")
        .args(["czf", "payload.tar.gz", "-C", "payload", "inner"])
        .current_dir(s.dir.path())
        .status()
        .expect("tar");
    assert!(tar.success());
    write(
        &s,
        "Dockerfile",
        "FROM {{busybox}}\n\
         COPY --parents svc/*/go.mod /all/\n\
         COPY --parents ./svc/./b/main.go /pivot/\n\
         ADD payload.tar.gz /unpacked/\n\
         COPY payload.tar.gz /copied/\n\
         CMD [\"sh\", \"-c\", \"cd / && find all pivot unpacked copied -type f | sort\"]\n",
    );
    build(&s, &["-t", "parents:1"]).ok();
    assert_eq!(
        s.store(&["run", "--rm", "parents:1"]).ok().stdout,
        "all/svc/a/go.mod\nall/svc/b/go.mod\ncopied/payload.tar.gz\npivot/b/main.go\nunpacked/inner/file.txt\n"
    );
    s.store(&["rmi", "parents:1"]).ok();
}

/// `build-cache/*.json` entries of the data root.
fn cache_entries(s: &Stack) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(s.root.path().join("build-cache"))
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.ends_with(".json") && !n.starts_with("context-"))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

#[test]
fn ctrl_c_during_a_run_stops_the_build_and_leaves_no_partial_cache_entry() {
    use std::io::BufRead;
    let Some(s) = rig() else { return };
    write(
        &s,
        "Dockerfile",
        "FROM {{busybox}}\nRUN echo a > /a\nRUN sleep 300 && echo b > /b\n",
    );
    let mut child = s
        .cmd(&["build", "--progress", "plain", "-t", "interrupted:1", "."])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("wharf build");
    let stderr = child.stderr.take().expect("stderr");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut seen: Vec<String> = Vec::new();
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            if line.contains("RUN sleep 300") && !seen.iter().any(|l| l.contains("RUN sleep 300")) {
                let _ = tx.send(None);
            }
            seen.push(line);
        }
        let _ = tx.send(Some(seen.join("\n")));
    });
    assert_eq!(
        rx.recv().expect("the build reaches the long RUN"),
        None,
        "the long RUN started"
    );
    // The step's container is running before the interrupt.
    s.until("the RUN container runs", || {
        !s.store(&["ps", "-q"]).stdout.trim().is_empty()
    });
    let before = cache_entries(&s);
    let kill = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(kill.success());
    let status = child.wait().expect("wait");
    let output = rx.recv().expect("stderr").unwrap_or_default();
    assert_eq!(status.code(), Some(130), "{output}");
    assert!(output.contains("build interrupted"), "{output}");
    assert_eq!(
        cache_entries(&s),
        before,
        "no entry for the interrupted step"
    );
    assert_ne!(
        s.store(&["image", "inspect", "interrupted:1"]).code,
        0,
        "no image made"
    );

    // The cache still works: the first RUN is reused, the edited one runs.
    write(
        &s,
        "Dockerfile",
        "FROM {{busybox}}\nRUN echo a > /a\nRUN echo b > /b\n",
    );
    let r = build(&s, &["-t", "interrupted:1"]).ok();
    assert_eq!(
        step_titles(&r.stderr, "CACHED"),
        vec!["[2/3] RUN echo a > /a"]
    );
    s.store(&["rmi", "interrupted:1"]).ok();
    assert_clean(&s);
}

#[test]
fn a_context_over_the_size_limit_is_refused_unless_dockerignored() {
    let Some(s) = rig() else { return };
    write(&s, "Dockerfile", "FROM {{busybox}}\nCOPY . /src/\n");
    std::fs::create_dir_all(s.dir.path().join("data")).expect("mkdir");
    // Sparse: 3 GiB of context that costs no disk.
    std::fs::File::create(s.dir.path().join("data/huge.bin"))
        .and_then(|f| f.set_len(3 << 30))
        .expect("sparse file");
    let r = build(&s, &[]);
    assert_ne!(r.code, 0);
    assert!(
        r.stderr.contains("larger than the limit") && r.stderr.contains(".dockerignore"),
        "{}",
        r.stderr
    );
    write(&s, ".dockerignore", "data\n");
    build(&s, &["-t", "small:1"]).ok();
    s.store(&["rmi", "small:1"]).ok();
}

#[test]
fn cache_from_a_registry_image_reuses_its_run_layers_on_an_empty_cache() {
    let Some(s) = rig() else { return };
    write(
        &s,
        "Dockerfile",
        "FROM {{busybox}}\nENV STAGE=one\nRUN cat /proc/sys/kernel/random/uuid > /stamp\nRUN echo next > /next\n",
    );
    let name = format!("{}/wharf-test/cache-src:1", s.registry);
    build(&s, &["-t", &name, "--push"]).ok();
    let pushed = layers(&s, &name);
    s.store(&["rmi", &name]).ok();
    s.wharf(&["builder", "prune", "-f"]).ok();

    // The cache is empty and the image is only in the registry.
    let r = build(
        &s,
        &[
            "-t",
            "seeded:1",
            "--cache-from",
            &format!("type=registry,ref={name}"),
        ],
    )
    .ok();
    let cached = step_titles(&r.stderr, "CACHED");
    assert!(
        cached.iter().any(|t| t.contains("RUN cat /proc"))
            && cached.iter().any(|t| t.contains("RUN echo next")),
        "{}",
        r.stderr
    );
    assert_eq!(
        layers(&s, "seeded:1"),
        pushed,
        "the same layers, not new runs"
    );

    // A changed step and everything after it run again.
    write(
        &s,
        "Dockerfile",
        "FROM {{busybox}}\nENV STAGE=two\nRUN cat /proc/sys/kernel/random/uuid > /stamp\n",
    );
    s.wharf(&["builder", "prune", "-f"]).ok();
    let r = build(&s, &["-t", "seeded:2", "--cache-from", &name]).ok();
    assert!(step_titles(&r.stderr, "CACHED").is_empty(), "{}", r.stderr);
    for t in ["seeded:1", "seeded:2", &name] {
        let _ = s.store(&["rmi", t]);
    }
    assert_clean(&s);
}

#[test]
fn build_contexts_replace_stages_and_images_for_from_copy_and_run_mounts() {
    let Some(s) = rig() else { return };
    write(&s, "docs-dir/readme.txt", "read me\n");
    write(&s, "docs-dir/secret.txt", "kept out\n");
    write(&s, "docs-dir/.dockerignore", "secret.txt\n");
    write(&s, "rootfs/etc/motd", "from a directory\n");
    // BuildKit's rules (frontend/dockerfile, dockerui named contexts; 20.10's
    // BuildKit has no named contexts, so written from the reference): a
    // context named like a stage replaces the stage, and one named like an
    // image is used for it in FROM, COPY --from and RUN --mount=from.
    write(
        &s,
        "Dockerfile",
        "FROM {{busybox}} AS docs\n\
         RUN echo from-the-stage > /never\n\
         FROM rootfs AS files\n\
         FROM base\n\
         COPY --from=files /etc/motd /motd\n\
         COPY --from=docs . /docs/\n\
         RUN --mount=from=docs,target=/m cat /m/readme.txt > /mounted\n\
         CMD [\"sh\", \"-c\", \"cd / && find docs -type f | sort && cat motd mounted\"]\n",
    );
    let contexts = [
        "--build-context",
        "docs=./docs-dir",
        "--build-context",
        "rootfs=rootfs",
        "--build-context",
    ];
    let base = format!("base=docker-image://{}", s.busybox());
    let with = |extra: &[&str]| {
        let mut args: Vec<&str> = contexts.to_vec();
        args.push(&base);
        args.extend_from_slice(extra);
        build(&s, &args)
    };
    let r = with(&["-t", "named:1"]).ok();
    assert!(
        !r.stderr.contains("from-the-stage"),
        "the replaced stage ran: {}",
        r.stderr
    );
    assert_eq!(
        s.store(&["run", "--rm", "named:1"]).ok().stdout,
        // The .dockerignore itself is content, as in the main context.
        "docs/.dockerignore\ndocs/readme.txt\nfrom a directory\nread me\n",
        "only what the context's own .dockerignore lets through"
    );

    // No change: nothing runs. A changed context file: its COPY and what follows.
    let r = with(&["-t", "named:1"]).ok();
    let ran = step_titles(&r.stderr, "DONE");
    assert!(
        ran.iter().all(|t| t.contains("] FROM ")),
        "{ran:?}\n{}",
        r.stderr
    );
    write(&s, "docs-dir/readme.txt", "read me again\n");
    let r = with(&["-t", "named:2"]).ok();
    let ran = step_titles(&r.stderr, "DONE");
    assert!(
        ran.iter().any(|t| t.contains("COPY --from=docs")),
        "{}",
        r.stderr
    );
    assert!(
        step_titles(&r.stderr, "CACHED")
            .iter()
            .any(|t| t.contains("COPY --from=files")),
        "{}",
        r.stderr
    );
    assert!(s
        .store(&["run", "--rm", "named:2"])
        .ok()
        .stdout
        .ends_with("read me again\n"));

    // Values it cannot take are refused before anything is built.
    for (value, says) in [
        ("docs=https://example.com/x.git", "only a local directory"),
        ("docs=./missing", "not a directory"),
        ("=./docs-dir", "NAME=VALUE"),
    ] {
        let r = build(&s, &["--build-context", value]);
        assert_ne!(r.code, 0);
        assert!(r.stderr.contains(says), "{value}: {}", r.stderr);
    }
    for t in ["named:1", "named:2"] {
        s.store(&["rmi", t]).ok();
    }
    assert_clean(&s);
}

/// `ssh-agent` processes whose socket is under `root` (the build's scratch dir).
fn agents_under(root: &Path) -> Vec<String> {
    let root = root.to_string_lossy().into_owned();
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").expect("/proc").flatten() {
        let Ok(cmdline) = std::fs::read(e.path().join("cmdline")) else {
            continue;
        };
        let text = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        if text.starts_with("ssh-agent") && text.contains(&root) {
            out.push(format!("{}: {text}", e.file_name().to_string_lossy()));
        }
    }
    out
}

#[test]
fn ssh_key_files_are_served_by_a_private_agent_that_ends_with_the_build() {
    use std::io::BufRead;
    let Some(s) = rig() else { return };
    let key = s.dir.path().join("id_deploy");
    let keygen = std::process::Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "wharf-test", "-f"])
        .arg(&key)
        .status()
        .expect("ssh-keygen");
    assert!(keygen.success());
    // The agent protocol: SSH_AGENTC_REQUEST_IDENTITIES (11) is answered
    // by SSH_AGENT_IDENTITIES_ANSWER (12) and the number of keys.
    let ask = "python3 -c \"import os,socket,struct; s=socket.socket(socket.AF_UNIX); s.connect(os.environ['SSH_AUTH_SOCK']); s.sendall(struct.pack('>IB',1,11)); f=s.makefile('rb'); n=struct.unpack('>I',f.read(4))[0]; d=f.read(n); print(d[0], struct.unpack('>I',d[1:5])[0])\"";
    write(
        &s,
        "Dockerfile",
        &format!(
            "FROM {{{{python}}}}\nRUN --mount=type=ssh,id=deploy,required=true {ask} > /identities\nCMD [\"cat\", \"/identities\"]\n"
        ),
    );
    let spec = format!("deploy={}", key.display());
    build(&s, &["--ssh", &spec, "-t", "sshkey:1"]).ok();
    assert_eq!(
        s.store(&["run", "--rm", "sshkey:1"]).ok().stdout,
        "12 1\n",
        "the container lists the one key through the socket"
    );
    assert!(agents_under(s.root.path()).is_empty(), "agent left running");

    // A failing build, and one interrupted in a RUN, leave no agent either.
    write(
        &s,
        "Dockerfile",
        "FROM {{python}}\nRUN --mount=type=ssh,id=deploy test -S \"$SSH_AUTH_SOCK\" && exit 7\n",
    );
    let r = build(&s, &["--ssh", &spec]);
    assert!(r.stderr.contains("exit code: 7"), "{}", r.stderr);
    assert!(agents_under(s.root.path()).is_empty(), "agent left running");
    write(
        &s,
        "Dockerfile",
        "FROM {{python}}\nRUN --mount=type=ssh,id=deploy sleep 300\n",
    );
    let mut child = s
        .cmd(&["build", "--progress", "plain", "--ssh", &spec, "."])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("wharf build");
    let stderr = child.stderr.take().expect("stderr");
    let mut lines = std::io::BufReader::new(stderr)
        .lines()
        .map_while(Result::ok);
    assert!(
        lines.any(|l| l.contains("RUN --mount=type=ssh,id=deploy sleep 300")),
        "the RUN started"
    );
    s.until("the RUN container runs", || {
        !s.store(&["ps", "-q"]).stdout.trim().is_empty()
    });
    assert_eq!(
        agents_under(s.root.path()).len(),
        1,
        "the agent serves the RUN"
    );
    let kill = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(kill.success());
    let status = child.wait().expect("wait");
    drop(lines);
    assert_eq!(status.code(), Some(130));
    assert!(agents_under(s.root.path()).is_empty(), "agent left running");

    // A file that is no key is refused, naming it.
    std::fs::write(s.dir.path().join("not-a-key"), "hello\n").expect("write");
    let r = build(&s, &["--ssh", "deploy=not-a-key"]);
    assert_ne!(r.code, 0);
    assert!(
        r.stderr.contains("--ssh deploy") && r.stderr.contains("not-a-key"),
        "{}",
        r.stderr
    );
    assert!(agents_under(s.root.path()).is_empty(), "agent left running");
    s.store(&["rmi", "sshkey:1"]).ok();
    assert_clean(&s);
}

#[test]
fn cache_from_on_a_fresh_root_reuses_copy_layers_only_when_their_files_match() {
    let Some(a) = rig() else { return };
    let Some(b) = rig() else { return };
    let dockerfile =
        "FROM {{busybox}}\nCOPY app.txt /app/\nRUN cat /app/app.txt > /copy\nCOPY more.txt /app/\n";
    for s in [&a, &b] {
        write(s, "Dockerfile", dockerfile);
        write(s, "app.txt", "the app\n");
        write(s, "more.txt", "more\n");
    }
    let name = format!("{}/wharf-test/copy-seed:1", a.registry);
    let iid = |s: &Stack| {
        std::fs::read_to_string(s.dir.path().join("iid"))
            .expect("iidfile")
            .trim()
            .to_string()
    };
    build(&a, &["-t", &name, "--push", "--iidfile", "iid"]).ok();
    let pushed = iid(&a);

    // Another data root, nothing cached: every step comes from the image.
    let r = build(
        &b,
        &["--cache-from", &name, "-t", "seeded:1", "--iidfile", "iid"],
    )
    .ok();
    let cached = step_titles(&r.stderr, "CACHED");
    assert_eq!(cached.len(), 3, "{}", r.stderr);
    assert!(step_titles(&r.stderr, "DONE")
        .iter()
        .all(|t| t.contains("] FROM ")));
    assert_eq!(iid(&b), pushed, "the same image");

    // A file that differs is no hit: its COPY and what follows run again,
    // the steps before stay seeded.
    write(&b, "more.txt", "changed\n");
    let r = build(&b, &["--cache-from", &name, "-t", "seeded:2"]).ok();
    let cached = step_titles(&r.stderr, "CACHED");
    assert!(
        cached.iter().any(|t| t.contains("COPY app.txt"))
            && !cached.iter().any(|t| t.contains("COPY more.txt")),
        "{}",
        r.stderr
    );
    assert_eq!(
        b.store(&["run", "--rm", "seeded:2", "cat", "/app/more.txt"])
            .ok()
            .stdout,
        "changed\n"
    );
    for t in ["seeded:1", "seeded:2", &name] {
        let _ = b.store(&["rmi", t]);
    }
    let _ = a.store(&["rmi", &name]);
    assert_clean(&a);
    assert_clean(&b);
}

/// A terminal's output as text: escape sequences dropped, carriage returns
/// as line ends.
fn strip_terminal_codes(raw: &str) -> String {
    let mut out = String::new();
    let mut chars = raw.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\x1b' => {
                if chars.peek() == Some(&'[') {
                    chars.next();
                    // Parameters, then one final byte in @..~.
                    for p in chars.by_ref() {
                        if ('@'..='~').contains(&p) {
                            break;
                        }
                    }
                } else {
                    chars.next();
                }
            }
            '\r' => out.push('\n'),
            c => out.push(c),
        }
    }
    out
}

#[test]
fn tty_progress_draws_each_step_and_its_final_state() {
    let Some(s) = rig() else { return };
    write(
        &s,
        "Dockerfile",
        "FROM {{busybox}}\nCOPY hello.txt /\nRUN echo ran-in-a-step\n",
    );
    write(&s, "hello.txt", "hi\n");
    // `script` (util-linux's, Debian's bsdutils) gives the build a terminal.
    // indicatif pads its lines to the terminal's width and lets them wrap:
    // the text is searched as one stream, not line by line.
    let tty_build = |tag: &str| -> String {
        let command = format!(
            "{} --root {} build --progress tty -t {tag} .",
            env!("CARGO_BIN_EXE_wharf"),
            s.root.path().display()
        );
        let out = std::process::Command::new("script")
            .args(["-q", "-e", "-c", &command, "/dev/null"])
            .current_dir(s.dir.path())
            .env("HOME", s.root.path())
            .output()
            .expect("script");
        let text = strip_terminal_codes(&String::from_utf8_lossy(&out.stdout));
        assert!(out.status.success(), "{text}");
        text
    };
    // `text` shows `step` finished with its time (`… 0.1s`).
    let finished_timed = |text: &str, step: &str| {
        text.match_indices(step).any(|(at, _)| {
            let rest = &text[at + step.len()..];
            let Some(time) = rest.strip_prefix(' ') else {
                return false;
            };
            let digits: String = time
                .chars()
                .take_while(|c| c.is_ascii_digit() || *c == '.')
                .collect();
            digits.contains('.') && time[digits.len()..].starts_with('s')
        })
    };
    let first = tty_build("tty:1");
    for step in [
        "=> [2/3] COPY hello.txt /",
        "=> [3/3] RUN echo ran-in-a-step",
    ] {
        assert!(
            finished_timed(&first, step),
            "{step:?} with its time in {first}"
        );
    }
    for line in [
        "=> exporting to image",
        "=> => naming to docker.io/library/tty:1",
    ] {
        assert!(first.contains(line), "{line:?} in {first}");
    }
    // The step's output is shown while it runs (not only in its title).
    assert!(
        first.matches("ran-in-a-step").count() > first.matches("echo ran-in-a-step").count(),
        "{first}"
    );

    let again = tty_build("tty:1");
    for step in [
        "=> CACHED [2/3] COPY hello.txt /",
        "=> CACHED [3/3] RUN echo ran-in-a-step",
    ] {
        assert!(again.contains(step), "{step:?} in {again}");
    }
    assert!(
        !finished_timed(&again, "=> [3/3] RUN echo ran-in-a-step"),
        "{again}"
    );
    s.store(&["rmi", "tty:1"]).ok();
    assert_clean(&s);
}

#[test]
fn run_bind_mounts_run_again_when_what_they_show_changes() {
    let Some(s) = rig() else { return };
    write(&s, "data.txt", "one\n");
    write(&s, "docs-dir/readme.txt", "first\n");
    write(&s, "unrelated.txt", "x\n");
    write(
        &s,
        "Dockerfile",
        "FROM {{busybox}}\n\
         RUN --mount=type=bind,source=data.txt,target=/d cat /d > /from-context\n\
         RUN --mount=from=docs,target=/m cat /m/readme.txt > /from-named\n",
    );
    // Each build its own tag, so every image made is removed at the end.
    let run = |tag: &str| build(&s, &["--build-context", "docs=docs-dir", "-t", tag]).ok();
    let ran_steps = |r: &Run| -> Vec<String> {
        step_titles(&r.stderr, "DONE")
            .into_iter()
            .filter(|t| t.contains(" RUN "))
            .collect()
    };
    run("binds:1");
    // A file no mount shows changes nothing.
    write(&s, "unrelated.txt", "y\n");
    assert!(ran_steps(&run("binds:1")).is_empty());
    // The named directory's file: only its RUN.
    write(&s, "docs-dir/readme.txt", "second\n");
    let ran = ran_steps(&run("binds:2"));
    assert_eq!(ran.len(), 1, "{ran:?}");
    assert!(ran[0].contains("--mount=from=docs"), "{ran:?}");
    // The context's bound file: its RUN and the one after it.
    write(&s, "data.txt", "two\n");
    assert_eq!(ran_steps(&run("binds:3")).len(), 2);
    assert_eq!(
        s.store(&[
            "run",
            "--rm",
            "binds:3",
            "cat",
            "/from-context",
            "/from-named"
        ])
        .ok()
        .stdout,
        "two\nsecond\n"
    );
    for t in ["binds:1", "binds:2", "binds:3"] {
        s.store(&["rmi", t]).ok();
    }
    assert_clean(&s);
}
