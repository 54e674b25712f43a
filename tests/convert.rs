//! `wharf convert`: goldens for a few stacks (the bundled sample among them),
//! the semantics a user would look for in them (init containers for
//! depends_on, probes, the Job of a one-shot, NetworkPolicies), validation of
//! everything it writes (`kubernetes-validate` for a current Kubernetes,
//! `kubectl kustomize`, `helm lint` and `helm template` by Helm's own SDK), the whole
//! conformance corpus, and bad input.
//!
//! The validators come from `scripts/convert-tools` (run here, once per test
//! binary; it installs kubernetes-validate and helm-python-sdk into a cached
//! venv when missing).
//! A missing tool fails the tests; no test is skipped for want of one.
//!
//! `WHARF_CONVERT_BLESS=1` rewrites the goldens (see `scripts/convert-goldens`).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use yaml_rust2::{Yaml, YamlLoader};

/// The Kubernetes release whose schemas the manifests are checked against.
const KUBERNETES_VERSION: &str = "1.37.0";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn data() -> PathBuf {
    root().join("tests/data/convert")
}

/// Runs wharf in `dir` with only PATH and HOME set (and `env`).
fn wharf(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    // Conversion reads nothing from HOME (only `~` in paths expands to it),
    // so it need not exist and the tests leave no directory behind.
    let home = "/nonexistent/wharf-convert-home";
    Command::new(env!("CARGO_BIN_EXE_wharf"))
        .args(args)
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", home)
        .envs(env.iter().copied())
        .output()
        .expect("running wharf")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn succeed(dir: &Path, args: &[&str]) -> Output {
    let out = wharf(dir, args, &[]);
    assert!(
        out.status.success(),
        "wharf {args:?} in {} failed:\n{}",
        dir.display(),
        text(&out.stderr)
    );
    out
}

/// Where scripts/convert-tools put the validators.
fn tools() -> &'static Path {
    static TOOLS: OnceLock<PathBuf> = OnceLock::new();
    TOOLS.get_or_init(|| {
        let out = Command::new(root().join("scripts/convert-tools"))
            .output()
            .expect("running scripts/convert-tools");
        assert!(
            out.status.success(),
            "scripts/convert-tools failed (the validators are required, not optional):\n{}",
            text(&out.stderr)
        );
        PathBuf::from(text(&out.stdout).trim())
    })
}

/// Validates manifest files (multi-document YAML) against the schemas of
/// [`KUBERNETES_VERSION`], rejecting unknown fields too.
fn kubernetes_validate(files: &[PathBuf]) {
    assert!(!files.is_empty(), "nothing to validate");
    // Many files per run: the validator's start-up dominates.
    for chunk in files.chunks(100) {
        let out = Command::new(tools().join("kubernetes-validate"))
            .args(["--strict", "--quiet", "-k", KUBERNETES_VERSION])
            .args(chunk)
            .output()
            .expect("running kubernetes-validate");
        assert!(
            out.status.success(),
            "kubernetes-validate rejected the output:\n{}{}",
            text(&out.stdout),
            text(&out.stderr)
        );
    }
}

fn docs(stream: &str) -> Vec<Yaml> {
    YamlLoader::load_from_str(stream)
        .unwrap_or_else(|e| panic!("output is not YAML: {e}\n{stream}"))
        .into_iter()
        .filter(|d| !d.is_null())
        .collect()
}

fn find<'a>(docs: &'a [Yaml], kind: &str, name: &str) -> &'a Yaml {
    docs.iter()
        .find(|d| d["kind"].as_str() == Some(kind) && d["metadata"]["name"].as_str() == Some(name))
        .unwrap_or_else(|| panic!("no {kind} {name} in the output"))
}

fn strings(list: &Yaml) -> Vec<String> {
    list.as_vec()
        .map(|v| {
            v.iter()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

fn names_of(list: &Yaml) -> Vec<String> {
    list.as_vec()
        .map(|v| {
            v.iter()
                .filter_map(|c| c["name"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

fn pod_spec(doc: &Yaml) -> &Yaml {
    &doc["spec"]["template"]["spec"]
}

fn bless() -> bool {
    std::env::var_os("WHARF_CONVERT_BLESS").is_some()
}

/// Compares (or with WHARF_CONVERT_BLESS rewrites) a golden file.
fn golden(path: &Path, actual: &str) {
    if bless() {
        fs::write(path, actual).expect("writing golden");
        return;
    }
    let expected = fs::read_to_string(path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (make it with scripts/convert-goldens)",
            path.display()
        )
    });
    if expected != actual {
        let diff: Vec<String> = expected
            .lines()
            .zip(actual.lines())
            .enumerate()
            .filter(|(_, (e, a))| e != a)
            .take(10)
            .map(|(i, (e, a))| format!("line {}:\n  - {e}\n  + {a}", i + 1))
            .collect();
        panic!(
            "{} differs from the output ({} vs {} lines); regenerate with scripts/convert-goldens if intended\n{}",
            path.display(),
            expected.lines().count(),
            actual.lines().count(),
            diff.join("\n")
        );
    }
}

/// Converts a stack to one stream; checks it against its golden and the schemas.
fn convert_golden(dir: &Path, golden_name: &str) -> (Vec<Yaml>, String) {
    let out = succeed(
        dir,
        &["-f", "compose.yaml", "convert", "--to", "kubernetes"],
    );
    let stream = text(&out.stdout);
    let golden_path = data().join(golden_name);
    golden(&golden_path, &stream);
    kubernetes_validate(&[golden_path]);
    (docs(&stream), text(&out.stderr))
}

#[test]
fn sample_waits_for_its_dependencies_and_isolates_by_network() {
    let dir = root().join("compose-samples/python-postgres-redis");
    let (docs, stderr) = convert_golden(&dir, "python-postgres-redis.yaml");

    // web waits for redis (started) and db (healthy) before it starts.
    let web = find(&docs, "Deployment", "web");
    let init = &pod_spec(web)["initContainers"];
    assert_eq!(names_of(init), ["wait-for-db", "wait-for-redis"]);
    let db_wait = strings(&init[0]["command"]).join(" ");
    assert!(db_wait.contains("nslookup db"), "{db_wait}");
    assert!(db_wait.contains("timeout 300"), "{db_wait}");

    // db's healthcheck is its readiness and liveness probe, with its timings.
    let db = find(&docs, "Deployment", "db");
    let container = &pod_spec(db)["containers"][0];
    for probe in ["readinessProbe", "livenessProbe"] {
        let p = &container[probe];
        assert_eq!(strings(&p["exec"]["command"])[0], "pg_isready", "{probe}");
        assert_eq!(p["periodSeconds"].as_i64(), Some(2), "{probe}");
        assert_eq!(p["timeoutSeconds"].as_i64(), Some(3), "{probe}");
        assert_eq!(p["failureThreshold"].as_i64(), Some(15), "{probe}");
    }
    assert!(
        !container["startupProbe"].is_badvalue(),
        "start_period gives a startup probe"
    );

    // db and redis have no ports: headless Services, so `db` still resolves.
    assert_eq!(
        find(&docs, "Service", "db")["spec"]["clusterIP"].as_str(),
        Some("None")
    );
    // web publishes 8080 → 8000 outside the cluster.
    let published = find(&docs, "Service", "web-published");
    assert_eq!(published["spec"]["type"].as_str(), Some("LoadBalancer"));
    assert_eq!(published["spec"]["ports"][0]["port"].as_i64(), Some(8080));
    assert_eq!(
        published["spec"]["ports"][0]["targetPort"].as_i64(),
        Some(8000)
    );

    // Everything is on the default network: one policy lets its members in.
    let policy = find(&docs, "NetworkPolicy", "counter-network-default");
    let members = &policy["spec"]["podSelector"]["matchLabels"];
    assert_eq!(members["network.wharf.io/default"].as_str(), Some("true"));
    find(&docs, "NetworkPolicy", "counter-default-deny");
    assert_eq!(
        web["spec"]["template"]["metadata"]["labels"]["network.wharf.io/default"].as_str(),
        Some("true")
    );

    // Named volumes are claims.
    find(&docs, "PersistentVolumeClaim", "db-data");
    // The app's image is built locally, which a cluster cannot pull: said,
    // with file, line and key. (The sample bind-mounted its code before it
    // built it; the bind mount warning is pinned by the bare-compose test.)
    assert!(
        stderr.contains("compose.yaml:11: services.web.build: build without image"),
        "{stderr}"
    );
}

#[test]
fn one_shot_migration_is_a_job_that_the_api_waits_for() {
    let (docs, _) = convert_golden(&data().join("shop"), "shop.yaml");

    let job = find(&docs, "Job", "migrate");
    assert_eq!(
        job["spec"]["backoffLimit"].as_i64(),
        Some(3),
        "on-failure:3"
    );
    assert_eq!(pod_spec(job)["restartPolicy"].as_str(), Some("OnFailure"));
    // The Job itself waits for the database first.
    assert_eq!(names_of(&pod_spec(job)["initContainers"]), ["wait-for-db"]);

    let api = find(&docs, "Deployment", "api");
    assert_eq!(api["spec"]["replicas"].as_i64(), Some(3));
    let init = &pod_spec(api)["initContainers"];
    assert_eq!(names_of(init), ["wait-for-db", "wait-for-migrate"]);
    let wait = strings(&init[1]["command"]);
    assert_eq!(wait[..3], ["kubectl", "wait", "--for=condition=complete"]);
    assert!(wait.contains(&"job/migrate".to_string()), "{wait:?}");
    // Reading the Job needs an account that may.
    let account = pod_spec(api)["serviceAccountName"]
        .as_str()
        .expect("account");
    let role = find(&docs, "Role", account);
    assert_eq!(strings(&role["rules"][0]["resources"]), ["jobs"]);
    find(&docs, "RoleBinding", account);

    // Probes with start_period: a startup probe holds the others back.
    let container = &pod_spec(api)["containers"][0];
    assert_eq!(
        strings(&container["readinessProbe"]["exec"]["command"])[..2],
        ["/bin/sh", "-c"]
    );
    assert_eq!(container["startupProbe"]["periodSeconds"].as_i64(), Some(5));
    assert_eq!(
        container["startupProbe"]["failureThreshold"].as_i64(),
        Some(9)
    );
    assert_eq!(
        container["resources"]["limits"]["cpu"].as_str(),
        Some("500m")
    );
    assert_eq!(
        container["resources"]["requests"]["memory"].as_str(),
        Some("128Mi")
    );
    assert_eq!(
        container["securityContext"]["runAsUser"].as_i64(),
        Some(1000)
    );
    assert_eq!(
        strings(&container["securityContext"]["capabilities"]["drop"]),
        ["ALL"]
    );
    assert_eq!(
        pod_spec(api)["terminationGracePeriodSeconds"].as_i64(),
        Some(20)
    );
    // Kubernetes would expand $(CURRENCY); the literal text survives.
    let env = container["env"].as_vec().expect("env");
    let note = env
        .iter()
        .find(|e| e["name"].as_str() == Some("PRICE_NOTE"))
        .expect("PRICE_NOTE");
    assert_eq!(note["value"].as_str(), Some("prices in $$(CURRENCY)"));

    // proxy and db share no network: no policy lets one reach the other.
    let label = |doc: &Yaml, net: &str| {
        doc["spec"]["template"]["metadata"]["labels"][format!("network.wharf.io/{net}").as_str()]
            .as_str()
            .map(str::to_string)
    };
    let proxy = find(&docs, "Deployment", "proxy");
    let db = find(&docs, "Deployment", "db");
    assert_eq!(label(proxy, "frontend").as_deref(), Some("true"));
    assert_eq!(label(proxy, "backend"), None);
    assert_eq!(label(db, "backend").as_deref(), Some("true"));
    assert_eq!(label(db, "frontend"), None);
    assert_eq!(label(api, "frontend").as_deref(), Some("true"));
    assert_eq!(label(api, "backend").as_deref(), Some("true"));
    for net in ["frontend", "backend"] {
        let policy = find(&docs, "NetworkPolicy", &format!("shop-network-{net}"));
        let from = &policy["spec"]["ingress"][0]["from"][0]["podSelector"]["matchLabels"];
        assert_eq!(
            from[format!("network.wharf.io/{net}").as_str()].as_str(),
            Some("true")
        );
    }

    // db and migrate are only on the internal backend network: they reach its
    // pods and the cluster DNS, nothing else; api is on frontend too.
    for service in ["db", "migrate"] {
        let policy = find(&docs, "NetworkPolicy", &format!("{service}-internal"));
        assert_eq!(strings(&policy["spec"]["policyTypes"]), ["Egress"]);
        let egress = policy["spec"]["egress"].as_vec().expect("egress");
        assert_eq!(
            egress[0]["to"][0]["podSelector"]["matchLabels"]["network.wharf.io/backend"].as_str(),
            Some("true")
        );
        assert_eq!(egress[1]["ports"][0]["port"].as_i64(), Some(53));
        assert_eq!(egress.len(), 2, "{service}: nothing else is let out");
    }
    assert!(!docs
        .iter()
        .any(|d| d["metadata"]["name"].as_str() == Some("api-internal")));

    // The config and the secret are embedded and mounted where compose puts them.
    let config = find(&docs, "ConfigMap", "nginx-conf");
    assert!(config["data"]["nginx_conf"]
        .as_str()
        .unwrap_or_default()
        .contains("proxy_pass"));
    let mounts = pod_spec(proxy)["containers"][0]["volumeMounts"]
        .as_vec()
        .expect("mounts")
        .clone();
    assert!(mounts
        .iter()
        .any(|m| m["mountPath"].as_str() == Some("/etc/nginx/conf.d/default.conf")));
    let secret = find(&docs, "Secret", "db-password");
    assert_eq!(
        secret["data"]["db_password"].as_str(),
        Some("bm90LWEtcmVhbC1wYXNzd29yZAo=")
    );
    let api_mounts = container["volumeMounts"].as_vec().expect("mounts");
    assert!(api_mounts
        .iter()
        .any(|m| m["mountPath"].as_str() == Some("/run/secrets/db_password")));
}

#[test]
fn what_cannot_move_is_said_with_file_line_and_key_and_strict_refuses_it() {
    let dir = data().join("legacy");
    let (docs, stderr) = convert_golden(&dir, "legacy.yaml");
    for expected in [
        "compose.yaml:7: services.my_app: service name \"my_app\" is not a DNS-1123 name; it is \"my-app\"",
        "compose.yaml:8: services.my_app.build: build without image",
        "compose.yaml:10: services.my_app.ports[0]: host_ip 127.0.0.1",
        "compose.yaml:12: services.my_app.volumes[0]: bind mount of host path",
        "compose.yaml:22: services.worker_1.devices: left out",
        "compose.yaml:24: services.worker_1.pid: left out",
        "compose.yaml:30: services.monitor.network_mode: network_mode host",
        "compose.yaml:31: services.monitor.ulimits: left out",
        "volumes.cache: mounted by 2 pods (my_app, worker_1)",
    ] {
        assert!(stderr.contains(expected), "missing {expected:?} in:\n{stderr}");
    }
    // Converted names are used everywhere, dependencies included.
    let app = find(&docs, "Deployment", "my-app");
    assert_eq!(
        names_of(&pod_spec(app)["initContainers"]),
        ["wait-for-worker-1"]
    );
    find(&docs, "Service", "worker-1");
    // Published on 127.0.0.1 only: not opened to the world on the cluster.
    assert!(!docs
        .iter()
        .any(|d| d["metadata"]["name"].as_str() == Some("my-app-published")));
    find(&docs, "Service", "my-app");
    // A variable declared without a value and unset stays unset, as in compose.
    assert!(pod_spec(app)["containers"][0]["env"].is_badvalue());

    let out = wharf(
        &dir,
        &[
            "-f",
            "compose.yaml",
            "convert",
            "--to",
            "kubernetes",
            "--strict",
        ],
        &[],
    );
    assert!(!out.status.success());
    assert!(out.stdout.is_empty(), "nothing is written with --strict");
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("cannot be converted (--strict)"),
        "{stderr}"
    );
    assert!(
        stderr.contains("compose.yaml:12: services.my_app.volumes[0]"),
        "{stderr}"
    );
}

#[test]
fn kustomize_output_builds_with_kubectl() {
    let scratch = tempfile::tempdir().expect("tempdir");
    let out_dir = scratch.path().join("shop-kustomize");
    let out = out_dir.to_string_lossy().into_owned();
    succeed(
        &data().join("shop"),
        &[
            "-f",
            "compose.yaml",
            "convert",
            "--to",
            "kustomize",
            "--namespace",
            "shop-prod",
            "-o",
            &out,
        ],
    );
    let kustomization =
        fs::read_to_string(out_dir.join("kustomization.yaml")).expect("kustomization");
    let k = &docs(&kustomization)[0];
    assert_eq!(k["namespace"].as_str(), Some("shop-prod"));
    let mut listed = strings(&k["resources"]);
    let mut present: Vec<String> = fs::read_dir(&out_dir)
        .expect("out dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| n != "kustomization.yaml")
        .collect();
    listed.sort();
    present.sort();
    assert_eq!(listed, present, "kustomization lists every file written");

    let built = Command::new("kubectl")
        .args(["kustomize"])
        .arg(&out_dir)
        .output()
        .expect("running kubectl (part of this machine kind; scripts/convert-tools checks it)");
    assert!(
        built.status.success(),
        "kubectl kustomize failed:\n{}",
        text(&built.stderr)
    );
    let built_text = text(&built.stdout);
    let built_docs = docs(&built_text);
    for doc in &built_docs {
        if doc["kind"].as_str() != Some("Namespace") {
            assert_eq!(
                doc["metadata"]["namespace"].as_str(),
                Some("shop-prod"),
                "{:?} {:?}",
                doc["kind"],
                doc["metadata"]["name"]
            );
        }
    }
    let file = scratch.path().join("built.yaml");
    fs::write(&file, &built_text).expect("write");
    kubernetes_validate(&[file]);
}

/// Runs scripts/helm-tool (Helm v4's own SDK, from the convert-tools venv).
fn helm_tool(args: &[&str]) -> Output {
    Command::new(tools().join("python"))
        .arg(root().join("scripts/helm-tool"))
        .args(args)
        .output()
        .expect("running scripts/helm-tool")
}

/// `helm template` of the chart with an optional values file, as one stream.
fn helm_template(chart: &Path, values: Option<&Path>) -> String {
    let chart = chart.to_string_lossy().into_owned();
    let mut args = vec!["template", chart.as_str(), "--name", "shop"];
    let values = values.map(|v| v.to_string_lossy().into_owned());
    if let Some(v) = &values {
        args.extend(["-f", v.as_str()]);
    }
    let out = helm_tool(&args);
    assert!(
        out.status.success(),
        "helm template failed:\n{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stdout)
}

#[test]
fn helm_chart_passes_helm_lint_and_renders_with_its_values_to_valid_manifests() {
    let scratch = tempfile::tempdir().expect("tempdir");
    let chart = scratch.path().join("shop");
    let out = chart.to_string_lossy().into_owned();
    succeed(
        &data().join("shop"),
        &["-f", "compose.yaml", "convert", "--to", "helm", "-o", &out],
    );

    let meta = &docs(&fs::read_to_string(chart.join("Chart.yaml")).expect("Chart.yaml"))[0];
    assert_eq!(meta["apiVersion"].as_str(), Some("v2"));
    assert_eq!(meta["name"].as_str(), Some("shop"));
    assert_eq!(meta["version"].as_str(), Some("0.1.0"));
    let values =
        docs(&fs::read_to_string(chart.join("values.yaml")).expect("values.yaml")).remove(0);
    assert_eq!(values["services"]["api"]["replicas"].as_i64(), Some(3));
    assert_eq!(
        values["services"]["db"]["image"].as_str(),
        Some("postgres:17")
    );

    // Helm's own linter, strict: a warning fails as an error does.
    let lint = helm_tool(&[
        "lint",
        &out,
        "--kube-version",
        &format!("v{KUBERNETES_VERSION}"),
    ]);
    assert!(
        lint.status.success(),
        "helm lint failed:\n{}{}",
        text(&lint.stdout),
        text(&lint.stderr)
    );

    // Rendered by Helm with the chart's own values: valid manifests, and the
    // values are the ones the templates use.
    let rendered = helm_template(&chart, None);
    let path = scratch.path().join("rendered.yaml");
    fs::write(&path, &rendered).expect("write");
    kubernetes_validate(&[path]);
    let objects = docs(&rendered);
    let api = find(&objects, "Deployment", "api");
    assert_eq!(api["spec"]["replicas"].as_i64(), Some(3));

    // Change the values, as a user of the chart would: Helm renders the change.
    let override_file = scratch.path().join("override.yaml");
    fs::write(
        &override_file,
        "services:\n  api:\n    replicas: 7\n    image: example.org/api:2\n",
    )
    .expect("write");
    let objects = docs(&helm_template(&chart, Some(&override_file)));
    let api = find(&objects, "Deployment", "api");
    assert_eq!(api["spec"]["replicas"].as_i64(), Some(7));
    assert_eq!(
        pod_spec(api)["containers"][0]["image"].as_str(),
        Some("example.org/api:2")
    );
    // A broken chart is caught: the check can fail.
    fs::write(chart.join("Chart.yaml"), "apiVersion: v2\nname: shop\n").expect("write");
    let lint = helm_tool(&["lint", &out]);
    assert!(!lint.status.success(), "{}", text(&lint.stdout));
}

/// The conformance case directories Compose accepts (they have a golden output).
fn accepted_cases() -> Vec<PathBuf> {
    let mut cases: Vec<PathBuf> = fs::read_dir(root().join("tests/conformance/cases"))
        .expect("conformance cases")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.join("expected.json").is_file())
        .collect();
    cases.sort();
    cases
}

fn case_lines(case: &Path, file: &str) -> Vec<String> {
    let dir = case.to_string_lossy();
    fs::read_to_string(case.join(file))
        .map(|t| {
            t.lines()
                .filter(|l| !l.is_empty())
                .map(|l| l.replace("$CASE_DIR", &dir))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn every_accepted_conformance_case_converts_to_valid_manifests() {
    let cases = accepted_cases();
    assert!(cases.len() > 150, "corpus missing? {} cases", cases.len());
    let scratch = tempfile::tempdir().expect("tempdir");
    let mut failures = Vec::new();
    let mut skipped = Vec::new();
    let mut files = Vec::new();
    for case in &cases {
        let name = case
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        let mut args = case_lines(case, "args");
        // `config` options (--format, ...) shape printing only; the services
        // a case names select what is converted.
        let config_args = case_lines(case, "config-args");
        if config_args.iter().any(|a| a == "--no-consistency") {
            // Compose accepts this project only with its consistency checks off.
            skipped.push(name);
            continue;
        }
        args.extend(["convert".into(), "--to".into(), "kubernetes".into()]);
        args.extend(
            config_args
                .iter()
                .filter(|a| !a.starts_with('-') && !is_option_value(&config_args, a))
                .cloned(),
        );
        let env_lines = case_lines(case, "env");
        let env: Vec<(&str, &str)> = env_lines.iter().filter_map(|l| l.split_once('=')).collect();
        let cwd = case_lines(case, "cwd")
            .first()
            .map(|c| case.join(c))
            .unwrap_or_else(|| case.clone());
        let arg_refs: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = wharf(&cwd, &arg_refs, &env);
        if !out.status.success() {
            failures.push(format!("{name}: {}", text(&out.stderr).trim()));
            continue;
        }
        let stream = text(&out.stdout);
        if docs(&stream).is_empty() {
            continue;
        }
        let file = scratch.path().join(format!("{name}.yaml"));
        fs::write(&file, stream).expect("write");
        files.push(file);
    }
    assert!(
        failures.is_empty(),
        "conversion failed:\n{}",
        failures.join("\n")
    );
    assert_eq!(skipped, ["279-no-consistency"], "cases left out");
    eprintln!(
        "{} accepted cases: {} converted, {} with objects validated, left out: {skipped:?}",
        cases.len(),
        cases.len() - skipped.len(),
        files.len()
    );
    assert!(
        files.len() > 150,
        "only {} cases produced manifests",
        files.len()
    );
    kubernetes_validate(&files);
}

/// Whether `arg` is the value of a preceding `config` option (`--format json`, `--hash web`).
fn is_option_value(args: &[String], arg: &String) -> bool {
    args.windows(2).any(|w| {
        &w[1] == arg
            && matches!(
                w[0].as_str(),
                "--format" | "--hash" | "-o" | "--output" | "--graph"
            )
    })
}

#[test]
fn unknown_target_is_refused_by_name() {
    let dir = data().join("shop");
    let out = wharf(
        &dir,
        &["-f", "compose.yaml", "convert", "--to", "nomad"],
        &[],
    );
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("invalid value 'nomad' for '--to"),
        "{stderr}"
    );
    assert!(stderr.contains("kubernetes, kustomize, helm"), "{stderr}");
}

#[test]
fn dependency_cycle_is_refused_and_nothing_is_written() {
    let scratch = tempfile::tempdir().expect("tempdir");
    fs::write(
        scratch.path().join("compose.yaml"),
        "services:\n  a:\n    image: busybox\n    depends_on: [b]\n  b:\n    image: busybox\n    depends_on: [a]\n",
    )
    .expect("write");
    let out = wharf(
        scratch.path(),
        &["convert", "--to", "kustomize", "-o", "out"],
        &[],
    );
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert!(stderr.contains("cycle"), "{stderr}");
    assert!(stderr.contains("a") && stderr.contains("b"), "{stderr}");
    assert!(
        !scratch.path().join("out").exists(),
        "no half-made output directory"
    );
}

#[test]
fn colliding_names_are_refused_with_the_reason() {
    let scratch = tempfile::tempdir().expect("tempdir");
    fs::write(
        scratch.path().join("compose.yaml"),
        "services:\n  my_app:\n    image: busybox\n  my-app:\n    image: busybox\n",
    )
    .expect("write");
    let out = wharf(scratch.path(), &["convert", "--to", "kubernetes"], &[]);
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("service names \"my-app\" and \"my_app\" both become \"my-app\""),
        "{stderr}"
    );
    assert!(out.stdout.is_empty());
}

#[test]
fn output_directory_must_be_new_or_empty() {
    let scratch = tempfile::tempdir().expect("tempdir");
    let busy = scratch.path().join("busy");
    fs::create_dir(&busy).expect("mkdir");
    fs::write(busy.join("mine.txt"), "keep me").expect("write");
    let target = busy.to_string_lossy().into_owned();
    let out = wharf(
        &data().join("shop"),
        &[
            "-f",
            "compose.yaml",
            "convert",
            "--to",
            "kubernetes",
            "-o",
            &target,
        ],
        &[],
    );
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("not empty"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(
        fs::read_dir(&busy).expect("dir").count(),
        1,
        "nothing added"
    );

    let out = wharf(
        &data().join("shop"),
        &["-f", "compose.yaml", "convert", "--to", "helm"],
        &[],
    );
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("give -o DIR"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn output_is_deterministic() {
    let dir = data().join("shop");
    let first = succeed(
        &dir,
        &["-f", "compose.yaml", "convert", "--to", "kubernetes"],
    );
    let second = succeed(
        &dir,
        &["-f", "compose.yaml", "convert", "--to", "kubernetes"],
    );
    assert_eq!(first.stdout, second.stdout);
}

#[test]
fn flags_set_namespace_exposure_pull_policy_and_replicas() {
    let dir = data().join("shop");
    let out = succeed(
        &dir,
        &[
            "-f",
            "compose.yaml",
            "convert",
            "--to",
            "kubernetes",
            "--namespace",
            "shop-prod",
            "--expose",
            "nodeport",
            "--image-pull-policy",
            "Always",
            "--replicas-from-deploy",
            "false",
            "--storage-class",
            "fast",
            "--wait-image",
            "registry.example.com/busybox:1",
            "--kubectl-image",
            "registry.example.com/kubectl:1",
            "--wait-timeout",
            "60",
        ],
    );
    let stream = text(&out.stdout);
    let docs = docs(&stream);
    find(&docs, "Namespace", "shop-prod");
    for doc in &docs {
        if doc["kind"].as_str() != Some("Namespace") {
            assert_eq!(doc["metadata"]["namespace"].as_str(), Some("shop-prod"));
        }
    }
    let published = find(&docs, "Service", "proxy-published");
    assert_eq!(published["spec"]["type"].as_str(), Some("NodePort"));
    let api = find(&docs, "Deployment", "api");
    assert_eq!(api["spec"]["replicas"].as_i64(), Some(1));
    assert_eq!(
        pod_spec(api)["containers"][0]["imagePullPolicy"].as_str(),
        Some("Always")
    );
    let init = &pod_spec(api)["initContainers"];
    assert_eq!(
        init[0]["image"].as_str(),
        Some("registry.example.com/busybox:1")
    );
    assert!(strings(&init[0]["command"])[2].starts_with("timeout 60 "));
    assert_eq!(
        init[1]["image"].as_str(),
        Some("registry.example.com/kubectl:1")
    );
    assert!(strings(&init[1]["command"]).contains(&"--timeout=60s".to_string()));
    let claim = find(&docs, "PersistentVolumeClaim", "pgdata");
    assert_eq!(claim["spec"]["storageClassName"].as_str(), Some("fast"));

    let scratch = tempfile::tempdir().expect("tempdir");
    let file = scratch.path().join("flags.yaml");
    fs::write(&file, &stream).expect("write");
    kubernetes_validate(&[file]);

    let bad = wharf(
        &dir,
        &[
            "-f",
            "compose.yaml",
            "convert",
            "--to",
            "kubernetes",
            "--namespace",
            "Shop_Prod",
        ],
        &[],
    );
    assert!(!bad.status.success());
    assert!(text(&bad.stderr).contains("--namespace \"Shop_Prod\" is not a valid namespace name"));
}

#[test]
fn kubernetes_directory_holds_the_stream_one_file_per_object() {
    let dir = data().join("shop");
    let stream = text(
        &succeed(
            &dir,
            &[
                "-f",
                "compose.yaml",
                "convert",
                "--to",
                "kubernetes",
                "-o",
                "-",
            ],
        )
        .stdout,
    );
    let scratch = tempfile::tempdir().expect("tempdir");
    let out_dir = scratch.path().join("manifests");
    let out = out_dir.to_string_lossy().into_owned();
    succeed(
        &dir,
        &[
            "-f",
            "compose.yaml",
            "convert",
            "--to",
            "kubernetes",
            "-o",
            &out,
        ],
    );
    let mut from_files = Vec::new();
    let mut names: Vec<String> = fs::read_dir(&out_dir)
        .expect("out dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    for name in &names {
        let doc = docs(&fs::read_to_string(out_dir.join(name)).expect("file"));
        assert_eq!(doc.len(), 1, "{name}: one object per file");
        let kind = doc[0]["kind"].as_str().expect("kind").to_ascii_lowercase();
        let object = doc[0]["metadata"]["name"].as_str().expect("name");
        assert_eq!(name, &format!("{object}-{kind}.yaml"));
        from_files.extend(doc);
    }
    let mut from_stream = docs(&stream);
    let key = |d: &Yaml| format!("{:?}/{:?}", d["kind"], d["metadata"]["name"]);
    from_stream.sort_by_key(key);
    from_files.sort_by_key(key);
    assert_eq!(from_stream, from_files);
}

/// The README's coverage table is what a user reads to learn what convert
/// does with a key: it must have a row for every service property of the
/// compose-spec schema wharf validates against.
#[test]
fn readme_coverage_table_has_a_row_for_every_service_key() {
    let readme = fs::read_to_string(root().join("README.md")).expect("README.md");
    let start = readme
        .find("## Kubernetes coverage")
        .expect("README has a Kubernetes coverage section");
    let section = &readme[start..];
    let end = section[2..].find("\n## ").map_or(section.len(), |i| i + 2);
    // Keys are the back-quoted words of each row's first cell, up to the
    // first `.`, `:` or space (`deploy.replicas`, `network_mode: host`);
    // `cpu_*` stands for every key with that prefix.
    let mut named: Vec<String> = Vec::new();
    for row in section[..end].lines().filter(|l| l.starts_with("| `")) {
        let first = row.split('|').nth(1).unwrap_or("");
        for quoted in first.split('`').skip(1).step_by(2) {
            let key = quoted.split(['.', ':', ' ']).next().unwrap_or("");
            named.push(key.to_string());
        }
    }
    let schema: serde_json::Value = serde_json::from_str(
        &fs::read_to_string(root().join("schemas/compose-spec.json")).expect("schema"),
    )
    .expect("schema is JSON");
    let props = schema["definitions"]["service"]["properties"]
        .as_object()
        .expect("service properties");
    let covered = |key: &str| {
        named.iter().any(|n| match n.strip_suffix('*') {
            Some(prefix) => key.starts_with(prefix),
            None => n == key,
        })
    };
    let missing: Vec<&String> = props.keys().filter(|k| !covered(k)).collect();
    assert!(
        missing.is_empty(),
        "README coverage table has no row for: {missing:?}"
    );
}
