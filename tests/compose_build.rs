//! Compose's side of building, end to end on the fixture images (run
//! through scripts/with-registry): `up` builds a missing image and serves
//! it, `up --build` rebuilds after an edit with the steps before the COPY
//! cached, `wharf build` runs several services' builds at once and a shared
//! definition once, `pull_policy: build`, a failing build that leaves
//! nothing behind, the samples, keys that are refused by file and line,
//! `convert --push` (build, push, manifests naming the pushed image) and
//! `push [SERVICE…]`.

#[path = "support/harness.rs"]
mod harness;
#[path = "support/stack.rs"]
mod stack;

use harness::Run;
use stack::{free_port, http_get, Setup, Stack};

fn rig(compose: &str) -> Option<Stack> {
    Stack::with(
        Setup {
            root_prefix: "wharf-cbuild-",
            dir_prefix: "cb",
            out_dir: false,
        },
        compose,
    )
}

/// Writes a file of the project; `{{python}}`/`{{busybox}}` become the
/// fixture images.
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

/// The titles of the `#N` steps that ended with `status` (`CACHED`, or
/// `DONE` for those that ran).
fn steps(stderr: &str, status: &str) -> Vec<String> {
    let mut titles = std::collections::BTreeMap::new();
    let mut out = Vec::new();
    for l in stderr.lines() {
        let Some((n, text)) = l.strip_prefix('#').and_then(|r| r.split_once(' ')) else {
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

/// The image id `images` lists for `name`.
fn image_id(s: &Stack, name: &str) -> Option<String> {
    let listed: serde_json::Value =
        serde_json::from_str(&s.store(&["images", "--format", "json"]).ok().stdout)
            .expect("images json");
    listed.as_array()?.iter().find_map(|i| {
        let names = i["Repository"].as_array()?;
        names
            .iter()
            .any(|n| n.as_str().is_some_and(|n| n.contains(name)))
            .then(|| i["ID"].as_str().unwrap_or_default().to_string())
    })
}

const SITE_DOCKERFILE: &str = "\
FROM {{python}}
WORKDIR /site
RUN echo prepared > /prepared.txt
COPY . .
CMD [\"python3\", \"-m\", \"http.server\", \"8000\"]
";

#[test]
fn up_builds_a_missing_image_and_up_build_rebuilds_only_after_the_copy() {
    let port = free_port();
    let Some(s) = rig(&format!(
        "services:\n  web:\n    build: ./site\n    ports: [\"127.0.0.1:{port}:8000\"]\n"
    )) else {
        return;
    };
    write(&s, "site/Dockerfile", SITE_DOCKERFILE);
    write(&s, "site/index.html", "version one\n");
    write(&s, "site/.dockerignore", "Dockerfile\n");
    let up = s.wharf(&["up", "-d"]).ok();
    // Missing, so built, and named as Compose names it.
    assert!(
        steps(&up.stderr, "DONE")
            .iter()
            .any(|t| t.contains("RUN echo prepared")),
        "{}",
        up.stderr
    );
    let image = format!("{}-web", s.project());
    let first = image_id(&s, &image).expect("the built image is listed");
    assert_eq!(http_get(port), "version one\n");

    // Present: a second up builds nothing.
    let again = s.wharf(&["up", "-d"]).ok();
    assert!(steps(&again.stderr, "DONE").is_empty(), "{}", again.stderr);

    write(&s, "site/index.html", "version two\n");
    let rebuilt = s.wharf(&["up", "-d", "--build"]).ok();
    let cached = steps(&rebuilt.stderr, "CACHED");
    assert!(
        cached.iter().any(|t| t.contains("RUN echo prepared")),
        "the RUN before the COPY is cached: {}",
        rebuilt.stderr
    );
    assert!(
        steps(&rebuilt.stderr, "DONE")
            .iter()
            .any(|t| t.contains("COPY . .")),
        "{}",
        rebuilt.stderr
    );
    assert_ne!(image_id(&s, &image), Some(first));
    // The container was recreated on the new image: the edit is served.
    assert_eq!(http_get(port), "version two\n");
}

#[test]
fn build_runs_services_at_once_and_a_shared_definition_once() {
    // a's RUN waits for a connection that only b's RUN makes: built one
    // after the other, the first would give up after 60 s and fail.
    let port = free_port();
    let Some(s) = rig(
        "services:\n  a:\n    build:\n      context: ./a\n      network: host\n  b:\n    build:\n      context: ./b\n      network: host\n  c:\n    build:\n      context: ./a\n      network: host\n",
    ) else {
        return;
    };
    write(
        &s,
        "a/Dockerfile",
        // A stray connection from another test (a port chosen free can be
        // taken again) is not b's greeting: listen again until it comes.
        &format!("FROM {{{{busybox}}}}\nRUN for i in 1 2 3 4 5; do timeout 60 nc -l -p {port} > /greeting; grep -q hello /greeting && exit 0; done; exit 1\n"),
    );
    write(
        &s,
        "b/Dockerfile",
        &format!("FROM {{{{busybox}}}}\nRUN for i in $(seq 300); do echo hello | nc 127.0.0.1 {port} && exit 0; sleep 0.2; done; exit 1\n"),
    );
    let built = s.wharf(&["build", "--progress", "plain"]).ok();
    let project = s.project();
    let a = image_id(&s, &format!("{project}-a")).expect("a built");
    let b = image_id(&s, &format!("{project}-b")).expect("b built");
    let c = image_id(&s, &format!("{project}-c")).expect("c built");
    assert_eq!(a, c, "a and c share their build definition");
    assert_ne!(a, b);
    // One build for a and c: its RUN ran once, titled with both services.
    let ran = steps(&built.stderr, "DONE");
    let listens: Vec<&String> = ran.iter().filter(|t| t.contains("nc -l")).collect();
    assert_eq!(listens.len(), 1, "{}", built.stderr);
    assert!(listens[0].starts_with("[a, c "), "{listens:?}");
    let greeting = s
        .store(&["run", "--rm", &format!("{project}-a"), "cat", "/greeting"])
        .ok()
        .stdout;
    assert_eq!(greeting, "hello\n");
}

#[test]
fn additional_contexts_give_directories_images_and_services_built_first() {
    let Some(s) = rig(
        "services:\n  base:\n    build: ./base\n  web:\n    build:\n      context: ./webapp\n      additional_contexts:\n        shared: ./shared\n        base: service:base\n        tools: docker-image://{{busybox}}\n",
    ) else {
        return;
    };
    write(
        &s,
        "base/Dockerfile",
        "FROM {{busybox}}\nRUN echo from-base > /from-base\n",
    );
    write(&s, "shared/note.txt", "shared note\n");
    write(
        &s,
        "webapp/Dockerfile",
        "FROM base\nCOPY --from=shared note.txt /note.txt\nCOPY --from=tools /bin/busybox /tools/busybox\nCMD [\"sh\", \"-c\", \"cat /from-base /note.txt && test -x /tools/busybox && echo tools\"]\n",
    );
    // Only web is named: its service: context is built first, as Compose does.
    let built = s.wharf(&["build", "--progress", "plain", "web"]).ok();
    let ran = steps(&built.stderr, "DONE");
    let position = |needle: &str| ran.iter().position(|t| t.contains(needle));
    let base_run = position("RUN echo from-base").expect("base built");
    let web_copy = position("COPY --from=shared").expect("web built");
    assert!(base_run < web_copy, "{}", built.stderr);
    let project = s.project();
    assert_eq!(
        s.store(&["run", "--rm", &format!("{project}-web")])
            .ok()
            .stdout,
        "from-base\nshared note\ntools\n"
    );
}

#[test]
fn build_ssh_keys_reach_run_mounts_through_an_agent_that_ends_with_the_build() {
    let Some(s) = rig(
        "services:\n  app:\n    build:\n      context: ./app\n      ssh:\n        - deploy=./id_deploy\n",
    ) else {
        return;
    };
    let keygen = std::process::Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(s.dir.path().join("id_deploy"))
        .status()
        .expect("ssh-keygen");
    assert!(keygen.success());
    write(
        &s,
        "app/Dockerfile",
        "FROM {{busybox}}\nRUN --mount=type=ssh,id=deploy,required=true test -S \"$SSH_AUTH_SOCK\" && echo agent > /seen\n",
    );
    s.wharf(&["build", "--progress", "plain"]).ok();
    let project = s.project();
    assert_eq!(
        s.store(&["run", "--rm", &format!("{project}-app"), "cat", "/seen"])
            .ok()
            .stdout,
        "agent\n"
    );
    // No ssh-agent of the build is left (its socket was under the data root).
    let root = s.root.path().to_string_lossy().into_owned();
    let agents: Vec<String> = std::fs::read_dir("/proc")
        .expect("/proc")
        .flatten()
        .filter_map(|e| std::fs::read(e.path().join("cmdline")).ok())
        .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
        .filter(|c| c.starts_with("ssh-agent") && c.contains(&root))
        .collect();
    assert!(agents.is_empty(), "{agents:?}");
}

#[test]
fn pull_policy_build_builds_and_a_failing_build_leaves_nothing() {
    let Some(s) = rig(
        "services:\n  app:\n    image: example.invalid/app:1\n    pull_policy: build\n    build: ./app\n    command: [\"sleep\", \"300\"]\n",
    ) else {
        return;
    };
    write(
        &s,
        "app/Dockerfile",
        "FROM {{busybox}}\nRUN echo made > /made\n",
    );
    // The image is nowhere to pull from: it is built.
    s.wharf(&["up", "-d"]).ok();
    let ps = s.ps();
    assert_eq!(ps.len(), 1, "{ps:#?}");
    assert_eq!(s.exec("app-1", "cat /made").trim(), "made");
    s.wharf(&["down", "-t", "0"]).ok();

    s.write(
        "services:\n  app:\n    build: ./broken\n  db:\n    image: {{busybox}}\n    command: [\"sleep\", \"300\"]\n",
    );
    write(
        &s,
        "broken/Dockerfile",
        "FROM {{busybox}}\nRUN echo about to fail && exit 3\n",
    );
    let failed = s.wharf(&["up", "-d"]);
    assert_ne!(failed.code, 0, "{}", failed.stderr);
    assert!(failed.stderr.contains("exit code: 3"), "{}", failed.stderr);
    assert!(failed.stderr.contains("about to fail"), "{}", failed.stderr);
    assert!(failed.stderr.contains("Dockerfile:2"), "{}", failed.stderr);
    // Nothing of the project was made: no container, no network.
    assert!(s.ps().is_empty(), "{:#?}", s.ps());
    let nets = s.store(&["network", "ls"]).ok().stdout;
    assert!(
        !nets.contains(&format!("{}_default", s.project())),
        "{nets}"
    );
}

#[test]
fn build_keys_wharf_cannot_apply_are_refused_by_file_line_and_key() {
    let Some(s) = rig("services:\n  web:\n    build:\n      context: .\n      privileged: true\n")
    else {
        return;
    };
    write(&s, "Dockerfile", "FROM {{busybox}}\n");
    for verb in [&["build"][..], &["up", "-d"][..]] {
        let out: Run = s.wharf(verb);
        assert_ne!(out.code, 0, "{verb:?}: {}", out.stderr);
        assert!(
            out.stderr
                .contains("compose.yaml:5: services.web.build.privileged: not supported yet"),
            "{verb:?}: {}",
            out.stderr
        );
    }
    s.write("services:\n  web:\n    build: https://github.com/docker/welcome-to-docker.git\n");
    let out = s.wharf(&["build"]);
    assert_ne!(out.code, 0);
    assert!(
        out.stderr.contains("services.web.build.context")
            && out.stderr.contains("not supported yet"),
        "{}",
        out.stderr
    );
    assert!(s.ps().is_empty());
}

#[test]
fn node_sample_builds_and_serves() {
    let Some(s) = rig("services: {}\n") else {
        return;
    };
    s.copy_sample("node-backend");
    let port = free_port();
    let up = s
        .cmd(&["up", "-d", "--build"])
        .env("WEB_PORT", port.to_string())
        .env("WHARF_REGISTRY", format!("{}/wharf-fixtures", s.registry))
        .output()
        .expect("up");
    let up = Run::from(up).ok();
    let ran = steps(&up.stderr, "DONE");
    assert!(
        ran.iter().any(|t| t.contains("RUN npm install")),
        "{}",
        up.stderr
    );
    assert!(
        ran.iter().any(|t| t.contains("RUN npm run build")),
        "{}",
        up.stderr
    );
    let page = http_get(port);
    assert!(page.contains("Hello from wharf"), "{page}");

    // An edit to the code: npm install is cached, the change is served.
    let server = s.dir.path().join("backend/src/server.js");
    let text = std::fs::read_to_string(&server).expect("server.js");
    std::fs::write(&server, text.replace("Hello from wharf", "Hello again")).expect("edit");
    let rebuilt = s
        .cmd(&["up", "-d", "--build"])
        .env("WEB_PORT", port.to_string())
        .env("WHARF_REGISTRY", format!("{}/wharf-fixtures", s.registry))
        .output()
        .expect("up --build");
    let rebuilt = Run::from(rebuilt).ok();
    assert!(
        steps(&rebuilt.stderr, "CACHED")
            .iter()
            .any(|t| t.contains("RUN npm install")),
        "{}",
        rebuilt.stderr
    );
    let page = http_get(port);
    assert!(page.contains("Hello again"), "{page}");
}

#[test]
fn convert_push_builds_and_pushes_the_images_the_manifests_name() {
    let Some(registry) = harness::registry() else {
        return;
    };
    let image = format!("{registry}/cbpush/app:1");
    let Some(s) = rig(&format!(
        "services:\n  app:\n    image: {image}\n    build: ./app\n    command: [\"sleep\", \"300\"]\n"
    )) else {
        return;
    };
    write(
        &s,
        "app/Dockerfile",
        "FROM {{busybox}}\nRUN echo pushed > /pushed\n",
    );
    let out = s.wharf(&["convert", "--to", "kubernetes", "--push"]).ok();
    assert!(out.stdout.contains(&image), "{}", out.stdout);
    // The registry has it: removed here, it is pulled back and runs.
    s.store(&["rmi", &image]).ok();
    s.store(&["pull", &image]).ok();
    let made = s
        .store(&["run", "--rm", &image, "cat", "/pushed"])
        .ok()
        .stdout;
    assert_eq!(made, "pushed\n");
}

/// `push [SERVICE…]` in a project, as Compose v2.40.3's: its lines and exit
/// codes were recorded from the real binary (a private engine, the loopback
/// registry, the same compose file shape). The images of the services with
/// a build section and an `image:` name go; the others say `Skipped`;
/// dependencies only with `--include-deps`; a failure ends the push with
/// exit 1, unless `--ignore-push-failures` turns it into a `Pushing
/// SERVICE: …` line and exit 0; `-q` prints nothing.
#[test]
fn push_sends_the_built_images_of_the_services_named() {
    let Some(registry) = harness::registry() else {
        return;
    };
    let web = format!("{registry}/cbpushp/web:1");
    let db = format!("{registry}/cbpushp/db:1");
    // Nothing listens on loopback port 1: that push fails.
    let bad = "127.0.0.1:1/cbpushp/bad:1";
    let Some(s) = rig(&format!(
        "services:
  web:
    image: {web}
    build: ./web
    depends_on: [db]
  db:
    image: {db}
    build: ./db
  cache:
    image: {{{{busybox}}}}
  bad:
    image: {bad}
    build: ./db
    profiles: [bad]
"
    )) else {
        return;
    };
    write(
        &s,
        "web/Dockerfile",
        "FROM {{busybox}}\nRUN echo web > /made\n",
    );
    write(
        &s,
        "db/Dockerfile",
        "FROM {{busybox}}\nRUN echo db > /made\n",
    );
    s.wharf(&["--profile", "bad", "build"]).ok();

    let only_web = s.wharf(&["push", "web"]).ok();
    assert!(
        only_web.stderr.contains(&format!(" Pushing {web}: ")),
        "{}",
        only_web.stderr
    );
    assert!(!only_web.stderr.contains(&db), "{}", only_web.stderr);
    assert!(!only_web.stderr.contains("cache"), "{}", only_web.stderr);
    let with_deps = s.wharf(&["push", "--include-deps", "web"]).ok();
    assert!(
        with_deps.stderr.contains(&format!(" Pushing {db}: ")),
        "{}",
        with_deps.stderr
    );
    // db's base layers are in the registry already: mounted, and named by
    // their repository's path as the engine does (`Mounted from a/b`).
    assert!(
        with_deps.stderr.contains(" Mounted from ")
            && !with_deps
                .stderr
                .contains(&format!("Mounted from {registry}")),
        "{}",
        with_deps.stderr
    );
    // All services: the one without a build section is skipped; the blobs
    // are in the registry by now.
    let all = s.wharf(&["push"]).ok();
    assert!(all.stderr.contains(" cache Skipped"), "{}", all.stderr);
    assert!(
        all.stderr.contains(&format!(" Pushing {web}: ")),
        "{}",
        all.stderr
    );
    assert!(
        all.stderr.contains("Layer already exists"),
        "{}",
        all.stderr
    );
    let quiet = s.wharf(&["push", "-q"]).ok();
    assert_eq!((quiet.stdout.as_str(), quiet.stderr.as_str()), ("", ""));

    let failed = s.wharf(&["--profile", "bad", "push", "bad"]);
    assert_eq!(failed.code, 1, "{}", failed.stderr);
    assert!(failed.stderr.contains("127.0.0.1:1"), "{}", failed.stderr);
    let failed_quietly = s.wharf(&["--profile", "bad", "push", "-q", "bad"]);
    assert_eq!(failed_quietly.code, 1, "{}", failed_quietly.stderr);
    assert!(
        failed_quietly.stderr.contains("127.0.0.1:1"),
        "{}",
        failed_quietly.stderr
    );
    let ignored = s
        .wharf(&[
            "--profile",
            "bad",
            "push",
            "--ignore-push-failures",
            "bad",
            "web",
        ])
        .ok();
    assert!(
        ignored.stderr.contains("Pushing bad: "),
        "{}",
        ignored.stderr
    );
    assert!(
        ignored.stderr.contains(&format!(" Pushing {web}: ")),
        "{}",
        ignored.stderr
    );

    // Under a fresh data root, each image comes back from the registry and
    // runs what its own build made.
    let fresh = tempfile::Builder::new()
        .prefix("wharf-cbpush-")
        .tempdir()
        .expect("tempdir");
    let in_fresh = |args: &[&str]| {
        Run::from(
            std::process::Command::new(env!("CARGO_BIN_EXE_wharf"))
                .arg("--root")
                .arg(fresh.path())
                .args(args)
                .current_dir(fresh.path())
                .env("HOME", fresh.path())
                .output()
                .expect("run wharf"),
        )
    };
    for (image, made) in [(&web, "web\n"), (&db, "db\n")] {
        in_fresh(&["pull", image]).ok();
        let out = in_fresh(&["run", "--rm", "--network", "none", image, "cat", "/made"]).ok();
        assert_eq!(out.stdout, made, "{image}");
    }
    harness::remove_networks(fresh.path());
}
