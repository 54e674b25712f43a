//! The build conformance corpus (tests/build-conformance/cases/*): every
//! case is built by wharf and compared with what Docker's BuildKit built
//! (scripts/build-goldens): the image config subset and the final file tree,
//! both described by scripts/build-manifest.py. Cases BuildKit rejected must
//! be rejected. Also: reproducible builds under SOURCE_DATE_EPOCH, and a
//! built image that other tools (registry, skopeo, umoci) accept.
//! Run through scripts/with-registry: the cases' FROM lines name the
//! loopback registry's fixtures.

#[path = "support/harness.rs"]
mod harness;
#[path = "support/stack.rs"]
mod stack;

use harness::Run;
use stack::{Setup, Stack};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The registry the cases' Dockerfiles name.
const CORPUS_REGISTRY: &str = "127.0.0.1:5000";

fn rig(prefix: &'static str) -> Option<Stack> {
    let s = Stack::with(
        Setup {
            root_prefix: prefix,
            dir_prefix: "bldc",
            out_dir: false,
        },
        "services:\n  unused:\n    image: {{busybox}}\n",
    )?;
    if s.registry != CORPUS_REGISTRY {
        eprintln!(
            "SKIPPED: the corpus names {CORPUS_REGISTRY}, the harness runs {}",
            s.registry
        );
        return None;
    }
    Some(s)
}

fn cases_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/build-conformance/cases")
}

/// The config subset and tree of a saved image, as scripts/build-manifest.py prints them.
fn describe(archive: &Path) -> serde_json::Value {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/build-manifest.py");
    let out = Command::new("python3")
        .arg(script)
        .arg(archive)
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "build-manifest.py: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("manifest json")
}

fn case_args(case: &Path) -> Vec<String> {
    std::fs::read_to_string(case.join("args"))
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

/// Lines of `expected` and `actual` that differ, for a readable failure.
fn diff(expected: &serde_json::Value, actual: &serde_json::Value) -> String {
    let mut out = String::new();
    if expected["config"] != actual["config"] {
        out.push_str(&format!(
            "  config: expected {}\n          wharf    {}\n",
            expected["config"], actual["config"]
        ));
    }
    let lines = |v: &serde_json::Value| -> Vec<String> {
        v["tree"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|l| l.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    };
    let (e, a) = (lines(expected), lines(actual));
    for l in e.iter().filter(|l| !a.contains(l)) {
        out.push_str(&format!("  - {l}\n"));
    }
    for l in a.iter().filter(|l| !e.contains(l)) {
        out.push_str(&format!("  + {l}\n"));
    }
    out
}

/// Builds one case; `None` when it matched its golden, else what differed.
fn check_case(s: &Stack, case: &Path) -> Option<String> {
    let name = case.file_name()?.to_string_lossy().into_owned();
    let tag = format!("corpus-{name}:latest");
    let mut args: Vec<String> = vec!["build".into(), "--progress".into(), "plain".into()];
    args.extend(["-t".into(), tag.clone()]);
    args.extend(case_args(case));
    args.push(case.join("context").to_string_lossy().into_owned());
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let built: Run = s.store(&argv);
    if case.join("expected.err").exists() {
        if built.code == 0 {
            s.store(&["rmi", &tag]);
            return Some("BuildKit rejects this case; wharf built it".into());
        }
        return None;
    }
    let golden = std::fs::read_to_string(case.join("expected.json")).unwrap_or_default();
    let Ok(expected) = serde_json::from_str::<serde_json::Value>(&golden) else {
        return Some("no readable expected.json (run scripts/build-goldens)".into());
    };
    if built.code != 0 {
        return Some(format!("wharf failed:\n{}", built.stderr));
    }
    let archive = s.dir.path().join(format!("{name}.tar"));
    let archive_arg = archive.to_string_lossy().into_owned();
    let saved = s.store(&["save", "-o", &archive_arg, &tag]);
    s.store(&["rmi", &tag]);
    if saved.code != 0 {
        return Some(format!("wharf save failed: {}", saved.stderr));
    }
    let actual = describe(&archive);
    let _ = std::fs::remove_file(&archive);
    (actual != expected).then(|| diff(&expected, &actual))
}

#[test]
fn every_case_builds_as_buildkit_built_it() {
    let Some(s) = rig("wharf-buildc-") else {
        return;
    };
    let filter = std::env::var("WHARF_BUILD_CONFORMANCE_FILTER").unwrap_or_default();
    let mut cases: Vec<PathBuf> = std::fs::read_dir(cases_dir())
        .expect("cases dir")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.join("context").is_dir())
        .filter(|p| p.to_string_lossy().contains(&filter))
        .collect();
    cases.sort();
    assert!(
        filter.is_empty() || !cases.is_empty(),
        "no case matches {filter}"
    );
    if filter.is_empty() {
        assert!(cases.len() >= 40, "the corpus has {} cases", cases.len());
    }
    let failures: Vec<String> = cases
        .iter()
        .filter_map(|c| {
            let name = c.file_name().map(|n| n.to_string_lossy().into_owned());
            check_case(&s, c).map(|d| format!("{}:\n{d}", name.unwrap_or_default()))
        })
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} cases differ from BuildKit:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

fn write(s: &Stack, name: &str, content: &str) {
    let p = s.dir.path().join(name);
    if let Some(parent) = p.parent() {
        std::fs::create_dir_all(parent).expect("mkdir");
    }
    std::fs::write(p, content.replace("{{busybox}}", &s.busybox())).expect("write");
}

/// Two stages, a RUN that writes files (their mtimes are the build's time),
/// a COPY: everything that carries a timestamp.
const REPRODUCIBLE: &str = "\
FROM {{busybox}} AS tool
RUN mkdir -p /out && echo tool > /out/tool.txt && touch /out/now
FROM {{busybox}}
COPY --from=tool /out /opt/
COPY app.txt /app/
RUN echo made > /app/made.txt && mkdir -p /app/sub && touch /app/sub/empty
ENV MODE=repro
CMD [\"cat\", \"/app/app.txt\"]
";

#[test]
fn source_date_epoch_in_the_environment_gives_the_same_image_on_fresh_roots() {
    let Some(a) = rig("wharf-buildc-repro-") else {
        return;
    };
    let Some(b) = rig("wharf-buildc-repro-") else {
        return;
    };
    let mut ids = Vec::new();
    for s in [&a, &b] {
        write(s, "Dockerfile", REPRODUCIBLE);
        write(s, "app.txt", "same content\n");
        let iid = s.dir.path().join("iid");
        let out = s
            .cmd(&["build", "--progress", "plain", "--iidfile"])
            .arg(&iid)
            .args(["-t", "repro:1", "."])
            .env("SOURCE_DATE_EPOCH", "1700000000")
            .output()
            .expect("run wharf");
        Run::from(out).ok();
        ids.push(std::fs::read_to_string(&iid).expect("iidfile"));
        let created = s.store(&["image", "inspect", "repro:1"]).ok().stdout;
        assert!(
            created.contains("\"created\": \"2023-11-14T22:13:20"),
            "the image is dated SOURCE_DATE_EPOCH: {created}"
        );
        s.store(&["rmi", "repro:1"]).ok();
    }
    assert!(ids[0].starts_with("sha256:"), "{}", ids[0]);
    assert_eq!(ids[0], ids[1], "same inputs, fresh roots, same image");
}

fn tool(program: &str, args: &[&str]) -> Run {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{program} (scripts/fixtures/install-deps installs it): {e}"));
    Run::from(out)
}

#[test]
fn a_built_image_is_pushed_pulled_run_and_read_by_skopeo_and_umoci() {
    let Some(builder) = rig("wharf-buildc-push-") else {
        return;
    };
    let Some(puller) = rig("wharf-buildc-pull-") else {
        return;
    };
    write(
        &builder,
        "Dockerfile",
        "FROM {{busybox}}\nWORKDIR /app\nCOPY greeting.txt .\nRUN echo built >> greeting.txt\n\
         ENV GREETING_FILE=/app/greeting.txt\nCMD [\"sh\", \"-c\", \"cat $GREETING_FILE\"]\n",
    );
    write(&builder, "greeting.txt", "hello\n");
    let reference = format!("{}/wharf-build-interop/app:1", builder.registry);
    builder
        .wharf(&["build", "--progress", "plain", "-t", &reference, "."])
        .ok();
    let pushed = builder.store(&["push", &reference]).ok().stdout;
    let digest = pushed
        .split_whitespace()
        .find(|w| w.starts_with("sha256:"))
        .expect("push prints the digest")
        .to_string();
    builder.store(&["rmi", &reference]).ok();

    // Another root pulls it from the registry and runs it.
    let ran = puller.store(&["run", "--rm", &reference]).ok().stdout;
    assert_eq!(ran, "hello\nbuilt\n");
    puller.store(&["rmi", &reference]).ok();

    // skopeo reads the manifest and config wharf pushed.
    let inspected = tool(
        "skopeo",
        &[
            "inspect",
            "--tls-verify=false",
            &format!("docker://{reference}"),
        ],
    )
    .ok()
    .stdout;
    let v: serde_json::Value = serde_json::from_str(&inspected).expect("skopeo json");
    assert_eq!(v["Digest"], digest.as_str(), "{inspected}");
    assert_eq!(
        v["Layers"].as_array().map(Vec::len),
        Some(4),
        "busybox's layer, WORKDIR's new directory, COPY and RUN: {inspected}"
    );
    assert!(
        v["Env"]
            .to_string()
            .contains("GREETING_FILE=/app/greeting.txt"),
        "{inspected}"
    );

    // umoci unpacks an OCI layout of it into a runtime bundle with the same files.
    let work = tempfile::Builder::new()
        .prefix("wharf-buildc-umoci-")
        .tempdir()
        .expect("tempdir");
    let layout = format!("oci:{}:app", work.path().join("layout").display());
    tool(
        "skopeo",
        &[
            "--insecure-policy",
            "copy",
            "--src-tls-verify=false",
            &format!("docker://{reference}"),
            &layout,
        ],
    )
    .ok();
    let bundle = work.path().join("bundle");
    let bundle_arg = bundle.to_string_lossy().into_owned();
    tool(
        "umoci",
        &[
            "unpack",
            "--image",
            &format!("{}:app", work.path().join("layout").display()),
            &bundle_arg,
        ],
    )
    .ok();
    assert_eq!(
        std::fs::read_to_string(bundle.join("rootfs/app/greeting.txt")).expect("unpacked file"),
        "hello\nbuilt\n"
    );
    let runtime_config =
        std::fs::read_to_string(bundle.join("config.json")).expect("bundle config.json");
    assert!(
        runtime_config.contains("cat $GREETING_FILE"),
        "{runtime_config}"
    );
}
