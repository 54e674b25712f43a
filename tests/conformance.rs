//! Compose conformance: runs `wharf <args> config <config-args>` on every case under
//! `tests/conformance/cases/` and checks it against what Docker Compose v2.40.3 printed
//! (goldens made by `scripts/conformance-goldens`).
//!
//! A case directory holds the compose project and:
//! - `args`: global CLI args before `config`, one per line;
//! - `config-args`: args after `config` (default `--format json`);
//! - `env`: KEY=VALUE lines, the only variables besides PATH and HOME;
//! - `cwd`: subdirectory to run in;
//! - `expected.json` (success) or `expected.err` (`exit N`, then the reference's stderr);
//! - `expect-stderr`: substrings wharf's stderr must contain, one per line (required for
//!   error cases: the file:line and key path wharf should name).
//!
//! `$CASE_DIR` in args, config-args, env, goldens and expect-stderr stands for the case
//! directory's absolute path, `$HOME` in goldens for HOME.
//!
//! Environment:
//! - `WHARF_CONFORMANCE_FILTER=substring`: run only cases whose name contains it.
//! - `WHARF_CONFORMANCE_BIN=/path/to/docker-compose`: run another binary instead of wharf,
//!   in "reference mode": the error cases then must reproduce the golden exit code and
//!   stderr exactly (the reference does not name lines and key paths, so `expect-stderr`
//!   is not applied to error cases). Used to check the harness against the oracle itself.
//! - `WHARF_CONFORMANCE_MODE=wharf|reference`: force the mode (default: `reference` when
//!   `WHARF_CONFORMANCE_BIN` is set, else `wharf`), e.g. to try a wrapper binary as wharf.

use std::fmt::Write as _;
use std::fs;
use std::io::Write as _;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::Value;

/// Written by the goldens script when the reference hit its memory/time cap (it has no
/// alias-expansion limit). The reference cannot be re-run on such a case.
const RESOURCE_LIMIT_MARKER: &str = "reference exceeded its resource limits";
const RUN_TIMEOUT: Duration = Duration::from_secs(60);
const MAX_DIFF_LINES: usize = 25;

struct Case {
    name: String,
    dir: PathBuf,
}

enum Outcome {
    Pass,
    Skip,
    Fail(String),
}

struct RunOutput {
    status: Option<i32>,
    stdout: String,
    stderr: String,
    timed_out: bool,
}

struct Harness {
    binary: PathBuf,
    reference_mode: bool,
    home: String,
    path: String,
}

fn cases_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/conformance/cases")
}

fn list_cases(filter: Option<&str>) -> Vec<Case> {
    let root = cases_root();
    let mut cases: Vec<Case> = fs::read_dir(&root)
        .unwrap_or_else(|e| panic!("reading {}: {e}", root.display()))
        .filter_map(|entry| entry.ok())
        .filter(|entry| entry.path().is_dir())
        .map(|entry| Case {
            name: entry.file_name().to_string_lossy().into_owned(),
            dir: entry.path(),
        })
        .filter(|case| filter.is_none_or(|f| case.name.contains(f)))
        .collect();
    cases.sort_by(|a, b| a.name.cmp(&b.name));
    cases
}

/// Lines of an optional case file, blank lines skipped, `$CASE_DIR` expanded.
fn read_lines(case: &Case, file: &str) -> Option<Vec<String>> {
    let text = fs::read_to_string(case.dir.join(file)).ok()?;
    let dir = case.dir.to_string_lossy();
    Some(
        text.lines()
            .filter(|line| !line.is_empty())
            .map(|line| line.replace("$CASE_DIR", &dir))
            .collect(),
    )
}

impl Harness {
    fn run(&self, case: &Case) -> Result<RunOutput, String> {
        let args = read_lines(case, "args").unwrap_or_default();
        let config_args = read_lines(case, "config-args")
            .unwrap_or_else(|| vec!["--format".into(), "json".into()]);
        let env = read_lines(case, "env").unwrap_or_default();
        let workdir = match read_lines(case, "cwd") {
            Some(lines) if !lines.is_empty() => case.dir.join(&lines[0]),
            _ => case.dir.clone(),
        };

        let scratch = tempfile::tempdir().map_err(|e| format!("tempdir: {e}"))?;
        let stdout_path = scratch.path().join("stdout");
        let stderr_path = scratch.path().join("stderr");
        let stdout_file = fs::File::create(&stdout_path).map_err(|e| e.to_string())?;
        let stderr_file = fs::File::create(&stderr_path).map_err(|e| e.to_string())?;

        let mut command = Command::new(&self.binary);
        command
            .args(&args)
            .arg("config")
            .args(&config_args)
            .env_clear()
            .env("PATH", &self.path)
            .env("HOME", &self.home)
            .current_dir(&workdir)
            .stdin(Stdio::null())
            .stdout(stdout_file)
            .stderr(stderr_file);
        for line in &env {
            let (key, value) = line
                .split_once('=')
                .ok_or_else(|| format!("env: not KEY=VALUE: {line}"))?;
            command.env(key, value);
        }

        // Own process group, so a timeout also ends anything the binary started.
        command.process_group(0);
        let mut child = command
            .spawn()
            .map_err(|e| format!("cannot run {}: {e}", self.binary.display()))?;
        let started = Instant::now();
        let mut timed_out = false;
        let status = loop {
            match child.try_wait().map_err(|e| e.to_string())? {
                Some(status) => break status,
                None if started.elapsed() > RUN_TIMEOUT => {
                    let _ = Command::new("kill")
                        .args(["-KILL", "--", &format!("-{}", child.id())])
                        .status();
                    let _ = child.kill();
                    timed_out = true;
                    break child.wait().map_err(|e| e.to_string())?;
                }
                None => std::thread::sleep(Duration::from_millis(5)),
            }
        };
        Ok(RunOutput {
            status: status.code(),
            stdout: String::from_utf8_lossy(&fs::read(&stdout_path).unwrap_or_default())
                .into_owned(),
            stderr: String::from_utf8_lossy(&fs::read(&stderr_path).unwrap_or_default())
                .into_owned(),
            timed_out,
        })
    }

    fn check(&self, case: &Case) -> Outcome {
        let expected_json = case.dir.join("expected.json");
        let expected_err = case.dir.join("expected.err");
        let golden_err = fs::read_to_string(&expected_err).ok();
        if self.reference_mode
            && golden_err
                .as_deref()
                .is_some_and(|g| g.contains(RESOURCE_LIMIT_MARKER))
        {
            return Outcome::Skip;
        }
        let expect_stderr = read_lines(case, "expect-stderr").unwrap_or_default();
        if golden_err.is_some() && expect_stderr.is_empty() {
            return Outcome::Fail("error case without an expect-stderr file".into());
        }

        let output = match self.run(case) {
            Ok(output) => output,
            Err(e) => return Outcome::Fail(e),
        };
        if output.timed_out {
            return Outcome::Fail(format!("killed after {}s", RUN_TIMEOUT.as_secs()));
        }
        if output.stderr.contains("panicked at") {
            return Outcome::Fail(format!("panicked:\n{}", indent(&output.stderr)));
        }

        if let Some(golden) = golden_err {
            self.check_error(case, &golden, &expect_stderr, &output)
        } else if expected_json.is_file() {
            self.check_json(case, &expected_json, &expect_stderr, &output)
        } else {
            Outcome::Fail(
                "no expected.json or expected.err (run scripts/conformance-goldens)".into(),
            )
        }
    }

    fn check_json(
        &self,
        case: &Case,
        expected_path: &Path,
        expect_stderr: &[String],
        output: &RunOutput,
    ) -> Outcome {
        if output.status != Some(0) {
            return Outcome::Fail(format!(
                "expected success, got exit {}:\n{}",
                describe_status(output.status),
                indent(&output.stderr)
            ));
        }
        let expected: Value = match fs::read_to_string(expected_path)
            .map_err(|e| e.to_string())
            .and_then(|text| serde_json::from_str(&text).map_err(|e| e.to_string()))
        {
            Ok(value) => self.expand_placeholders(case, value),
            Err(e) => return Outcome::Fail(format!("bad expected.json: {e}")),
        };
        let actual: Value = match serde_json::from_str(&output.stdout) {
            Ok(value) => self.canonical_paths(case, value),
            Err(e) => {
                return Outcome::Fail(format!(
                    "stdout is not JSON ({e}):\n{}",
                    indent(&truncate(&output.stdout, 2000))
                ))
            }
        };
        let mut problems = Vec::new();
        json_diff("", &expected, &actual, &mut problems);
        problems.extend(missing_substrings(case, expect_stderr, &output.stderr));
        if problems.is_empty() {
            Outcome::Pass
        } else {
            Outcome::Fail(limit_lines(problems))
        }
    }

    fn check_error(
        &self,
        case: &Case,
        golden: &str,
        expect_stderr: &[String],
        output: &RunOutput,
    ) -> Outcome {
        let (status_line, golden_stderr) = golden.split_once('\n').unwrap_or((golden, ""));
        let golden_status: Option<i32> = status_line
            .strip_prefix("exit ")
            .and_then(|n| n.trim().parse().ok());
        if output.status == Some(0) {
            return Outcome::Fail(format!(
                "expected failure ({status_line}: {}), got success; stdout:\n{}",
                first_line(golden_stderr),
                indent(&truncate(&output.stdout, 1500))
            ));
        }
        let mut problems = Vec::new();
        if self.reference_mode {
            if output.status != golden_status {
                problems.push(format!(
                    "exit {} instead of {status_line}",
                    describe_status(output.status)
                ));
            }
            let actual = self.normalize_stderr(case, &output.stderr);
            if actual.trim_end() != golden_stderr.trim_end() {
                problems.push(format!(
                    "stderr differs:\n  expected:\n{}\n  actual:\n{}",
                    indent(golden_stderr.trim_end()),
                    indent(actual.trim_end())
                ));
            }
        } else {
            problems.extend(missing_substrings(case, expect_stderr, &output.stderr));
            if !problems.is_empty() {
                problems.push(format!(
                    "reference said: {}\nwharf said:\n{}",
                    first_line(golden_stderr),
                    indent(&truncate(&output.stderr, 1500))
                ));
            }
        }
        if problems.is_empty() {
            Outcome::Pass
        } else {
            Outcome::Fail(problems.join("\n"))
        }
    }

    /// Golden → this machine: `$CASE_DIR`, `$CASES_DIR` (the directory of
    /// all cases, for paths that leave a case) and `$HOME` in every string and key.
    fn expand_placeholders(&self, case: &Case, value: Value) -> Value {
        let dir = case.dir.to_string_lossy().into_owned();
        let root = case
            .dir
            .parent()
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_default();
        map_strings(value, &|s: &str| {
            s.replace("$CASE_DIR", &dir)
                .replace("$CASES_DIR", &root)
                .replace("$HOME", &self.home)
        })
    }

    /// The binary may resolve symlinks in the case path; compare against the path as given.
    fn canonical_paths(&self, case: &Case, value: Value) -> Value {
        let given = case.dir.to_string_lossy().into_owned();
        match case.dir.canonicalize() {
            Ok(real) if real != case.dir => {
                let real = real.to_string_lossy().into_owned();
                map_strings(value, &|s: &str| s.replace(&real, &given))
            }
            _ => value,
        }
    }

    /// This machine → golden form, as the goldens script writes it.
    fn normalize_stderr(&self, case: &Case, stderr: &str) -> String {
        let mut text = stderr.to_string();
        if let Ok(real) = case.dir.canonicalize() {
            text = text.replace(&*real.to_string_lossy(), "$CASE_DIR");
        }
        text = text.replace(&*case.dir.to_string_lossy(), "$CASE_DIR");
        if !self.home.is_empty() && self.home != "/" {
            text = text.replace(&self.home, "$HOME");
        }
        text.lines()
            .map(strip_log_timestamp)
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// `time="2024-01-01T00:00:00Z" level=warning msg=...` → `level=warning msg=...`
fn strip_log_timestamp(line: &str) -> &str {
    if let Some(rest) = line.strip_prefix("time=\"") {
        if let Some(end) = rest.find("\" ") {
            return &rest[end + 2..];
        }
    }
    line
}

fn missing_substrings(case: &Case, wanted: &[String], stderr: &str) -> Vec<String> {
    let dir = case.dir.to_string_lossy();
    wanted
        .iter()
        .map(|w| w.replace("$CASE_DIR", &dir))
        .filter(|w| !stderr.contains(w.as_str()))
        .map(|w| format!("stderr does not mention {w:?}"))
        .collect()
}

fn map_strings(value: Value, f: &dyn Fn(&str) -> String) -> Value {
    match value {
        Value::String(s) => Value::String(f(&s)),
        Value::Array(items) => Value::Array(items.into_iter().map(|v| map_strings(v, f)).collect()),
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| (f(&k), map_strings(v, f)))
                .collect(),
        ),
        other => other,
    }
}

fn child_path(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_string()
    } else {
        format!("{parent}.{key}")
    }
}

/// Lists the JSON paths where `actual` differs from `expected`.
fn json_diff(path: &str, expected: &Value, actual: &Value, out: &mut Vec<String>) {
    match (expected, actual) {
        (Value::Object(e), Value::Object(a)) => {
            for (key, ev) in e {
                let p = child_path(path, key);
                match a.get(key) {
                    Some(av) => json_diff(&p, ev, av, out),
                    None => out.push(format!("{p}: missing (expected {})", compact(ev))),
                }
            }
            for (key, av) in a {
                if !e.contains_key(key) {
                    let p = child_path(path, key);
                    out.push(format!("{p}: unexpected {}", compact(av)));
                }
            }
        }
        (Value::Array(e), Value::Array(a)) => {
            for (i, (ev, av)) in e.iter().zip(a).enumerate() {
                json_diff(&format!("{path}[{i}]"), ev, av, out);
            }
            for (i, ev) in e.iter().enumerate().skip(a.len()) {
                out.push(format!("{path}[{i}]: missing (expected {})", compact(ev)));
            }
            for (i, av) in a.iter().enumerate().skip(e.len()) {
                out.push(format!("{path}[{i}]: unexpected {}", compact(av)));
            }
        }
        _ if expected == actual => {}
        _ => out.push(format!(
            "{}: expected {}, got {}",
            if path.is_empty() { "(root)" } else { path },
            compact(expected),
            compact(actual)
        )),
    }
}

fn compact(value: &Value) -> String {
    truncate(&value.to_string(), 160)
}

fn truncate(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

fn first_line(text: &str) -> &str {
    text.lines().find(|l| !l.trim().is_empty()).unwrap_or("")
}

fn indent(text: &str) -> String {
    text.lines()
        .map(|line| format!("    {line}"))
        .collect::<Vec<_>>()
        .join("\n")
}

fn limit_lines(mut lines: Vec<String>) -> String {
    if lines.len() > MAX_DIFF_LINES {
        let more = lines.len() - MAX_DIFF_LINES;
        lines.truncate(MAX_DIFF_LINES);
        lines.push(format!("… and {more} more differences"));
    }
    lines.join("\n")
}

fn describe_status(status: Option<i32>) -> String {
    status.map_or_else(|| "by signal".to_string(), |code| code.to_string())
}

#[test]
fn compose_conformance() {
    let filter = std::env::var("WHARF_CONFORMANCE_FILTER")
        .ok()
        .filter(|f| !f.is_empty());
    let override_bin = std::env::var_os("WHARF_CONFORMANCE_BIN").filter(|b| !b.is_empty());
    let reference_mode = match std::env::var("WHARF_CONFORMANCE_MODE").as_deref() {
        Ok("reference") => true,
        Ok("wharf") => false,
        Ok(other) if !other.is_empty() => {
            panic!("WHARF_CONFORMANCE_MODE must be `reference` or `wharf`, not {other:?}")
        }
        _ => override_bin.is_some(),
    };
    let harness = Harness {
        reference_mode,
        binary: override_bin
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_wharf"))),
        home: std::env::var("HOME").unwrap_or_else(|_| "/root".into()),
        path: std::env::var("PATH").unwrap_or_else(|_| "/usr/bin:/bin".into()),
    };

    let cases = list_cases(filter.as_deref());
    assert!(
        !cases.is_empty(),
        "no conformance case matches filter {filter:?}"
    );

    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<(usize, Outcome)>> = Mutex::new(Vec::new());
    let workers = std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .clamp(1, 4);
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| loop {
                let index = next.fetch_add(1, Ordering::SeqCst);
                let Some(case) = cases.get(index) else { break };
                let outcome = harness.check(case);
                results
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push((index, outcome));
            });
        }
    });
    let mut results = results.into_inner().unwrap_or_else(|e| e.into_inner());
    results.sort_by_key(|(index, _)| *index);

    let (mut passed, mut failed, mut skipped) = (0, 0, 0);
    let mut report = String::new();
    for (index, outcome) in &results {
        match outcome {
            Outcome::Pass => passed += 1,
            Outcome::Skip => skipped += 1,
            Outcome::Fail(why) => {
                failed += 1;
                let _ = writeln!(report, "\n--- {}\n{}", cases[*index].name, indent(why));
            }
        }
    }
    let summary = if skipped > 0 {
        format!("conformance: {passed} passed, {failed} failed, {skipped} skipped")
    } else {
        format!("conformance: {passed} passed, {failed} failed")
    };
    // Written straight to stderr so the summary shows even when libtest captures output.
    let _ = writeln!(std::io::stderr(), "{summary}");
    assert!(
        failed == 0,
        "{failed} of {} conformance cases failed ({}):{report}\n\n{summary}",
        results.len(),
        harness.binary.display()
    );
}
