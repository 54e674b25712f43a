//! Terminal progress: Compose's per-object lines (or spinners) for the
//! executor, and `docker pull`'s per-layer lines (or bars). indicatif lives
//! here only; the layers report through their small traits.

use super::args::compose::ProgressMode;
use crate::build::progress::{BuildProgress, StepName};
use crate::exec::{self, Kind};
use crate::image::pull::{PullEvent, PullProgress};
use std::collections::BTreeMap;
use std::io::{IsTerminal, Write as _};
use std::sync::Mutex;
use std::time::Duration;

/// Compose's progress lines, or indicatif spinners on a terminal.
pub struct Progress {
    mode: ProgressMode,
    /// `--dry-run`: every line says so, as Compose's do.
    dry_run: bool,
    multi: indicatif::MultiProgress,
    bars: Mutex<BTreeMap<String, indicatif::ProgressBar>>,
}

pub fn progress_event(p: &Progress, name: &str, status: &str, done: bool) {
    exec::Progress::event(p, Kind::Container, name, status, done);
}

impl Progress {
    pub fn new(mode: ProgressMode) -> Progress {
        let mode = match mode {
            ProgressMode::Auto if std::io::stderr().is_terminal() => ProgressMode::Tty,
            ProgressMode::Auto => ProgressMode::Plain,
            m => m,
        };
        Progress {
            mode,
            dry_run: false,
            multi: indicatif::MultiProgress::with_draw_target(
                indicatif::ProgressDrawTarget::stderr(),
            ),
            bars: Mutex::new(BTreeMap::new()),
        }
    }
}

/// What Compose puts before each progress line of a dry run.
pub const DRY_RUN_PREFIX: &str = " DRY-RUN MODE - ";

impl Progress {
    /// The progress the settings ask for (`--progress`, `--ansi`,
    /// `--dry-run`).
    pub fn of(settings: &crate::cli::resolve::Settings) -> Progress {
        Progress {
            dry_run: settings.dry_run,
            ..Progress::new(settings.progress)
        }
    }

    fn prefix(&self) -> &'static str {
        if self.dry_run {
            DRY_RUN_PREFIX
        } else {
            ""
        }
    }
}

impl exec::Progress for Progress {
    fn event(&self, kind: Kind, name: &str, status: &str, done: bool) {
        match self.mode {
            ProgressMode::Quiet => {}
            ProgressMode::Plain | ProgressMode::Auto => {
                eprintln!("{} {} {name}  {status}", self.prefix(), kind.as_str())
            }
            ProgressMode::Json => {
                let line = serde_json::json!({
                    "id": format!("{} {name}", kind.as_str()),
                    "status": status,
                    "done": done,
                });
                eprintln!("{line}");
            }
            ProgressMode::Tty => {
                let key = format!("{}{} {name}", self.prefix(), kind.as_str());
                let Ok(mut bars) = self.bars.lock() else {
                    return;
                };
                let bar = bars.entry(key.clone()).or_insert_with(|| {
                    let b = self.multi.add(indicatif::ProgressBar::new_spinner());
                    b.enable_steady_tick(Duration::from_millis(100));
                    b
                });
                if done {
                    let mark = if status == "Error" { "✘" } else { "✔" };
                    bar.set_style(
                        indicatif::ProgressStyle::with_template("{msg}")
                            .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
                    );
                    bar.finish_with_message(format!(" {mark} {key}  {status}"));
                } else {
                    bar.set_message(format!("{key}  {status}"));
                }
            }
        }
    }
}

/// One plain line per layer event (what CI logs and pipes want).
pub struct LineProgress {
    pub quiet: bool,
}

fn short_id(d: &crate::image::digest::Digest) -> String {
    d.hex().chars().take(12).collect()
}

impl PullProgress for LineProgress {
    fn event(&self, e: PullEvent) {
        if self.quiet {
            return;
        }
        let short = short_id;
        match e {
            PullEvent::Resolved { reference, digest } => {
                eprintln!("{reference}: resolved to {digest}")
            }
            PullEvent::LayerExists { digest } => eprintln!("{}: already exists", short(&digest)),
            PullEvent::Downloaded { digest } => eprintln!("{}: downloaded", short(&digest)),
            PullEvent::Extracted { digest } => eprintln!("{}: extracted", short(&digest)),
            PullEvent::Downloading { .. } => {}
            PullEvent::Done { reference, digest } => {
                eprintln!("{reference}: pulled {digest}")
            }
        }
    }
}

/// On a terminal: one line per layer with a byte bar, as `docker pull` draws
/// them (Downloading, Extracting, Pull complete).
pub struct BarProgress {
    multi: indicatif::MultiProgress,
    bars: std::sync::Mutex<std::collections::HashMap<String, indicatif::ProgressBar>>,
    bytes: indicatif::ProgressStyle,
    text: indicatif::ProgressStyle,
}

impl BarProgress {
    fn new() -> Self {
        let style = |t: &str| {
            indicatif::ProgressStyle::with_template(t)
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
                .progress_chars("=> ")
        };
        BarProgress {
            multi: indicatif::MultiProgress::with_draw_target(
                indicatif::ProgressDrawTarget::stderr(),
            ),
            bars: std::sync::Mutex::new(std::collections::HashMap::new()),
            bytes: style("{prefix}: {msg:<16} [{bar:40}] {bytes}/{total_bytes}"),
            text: style("{prefix}: {msg}"),
        }
    }

    /// The layer's line, made on first use.
    fn bar(&self, digest: &crate::image::digest::Digest) -> indicatif::ProgressBar {
        let mut bars = match self.bars.lock() {
            Ok(b) => b,
            Err(poisoned) => poisoned.into_inner(),
        };
        bars.entry(digest.to_string())
            .or_insert_with(|| {
                let pb = self.multi.add(indicatif::ProgressBar::new(0));
                pb.set_style(self.text.clone());
                pb.set_prefix(short_id(digest));
                pb
            })
            .clone()
    }
}

impl PullProgress for BarProgress {
    fn event(&self, e: PullEvent) {
        match e {
            PullEvent::Resolved { reference, .. } => {
                let _ = self.multi.println(format!("{reference}: Pulling"));
            }
            PullEvent::LayerExists { digest } => {
                let pb = self.bar(&digest);
                pb.set_style(self.text.clone());
                pb.finish_with_message("Already exists");
            }
            PullEvent::Downloading {
                digest,
                done,
                total,
            } => {
                let pb = self.bar(&digest);
                if pb.length() != Some(total) {
                    pb.set_style(self.bytes.clone());
                    pb.set_length(total);
                    pb.set_message("Downloading");
                }
                pb.set_position(done);
            }
            PullEvent::Downloaded { digest } => {
                let pb = self.bar(&digest);
                pb.set_style(self.text.clone());
                pb.set_message("Extracting");
            }
            PullEvent::Extracted { digest } => {
                let pb = self.bar(&digest);
                pb.set_style(self.text.clone());
                pb.finish_with_message("Pull complete");
            }
            PullEvent::Done { reference, digest } => {
                let _ = self
                    .multi
                    .println(format!("{reference}: Pulled (digest: {digest})"));
            }
        }
    }
}

/// How `pull` reports: bars on a terminal, lines otherwise, nothing with -q.
pub fn pull_progress(quiet: bool) -> Box<dyn PullProgress + Send> {
    if !quiet && std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        Box::new(BarProgress::new())
    } else {
        Box::new(LineProgress { quiet })
    }
}

/// How `wharf build` reports its steps (`--progress`, `auto` resolved).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BuildProgressMode {
    Plain,
    Tty,
    Quiet,
}

pub fn build_progress(mode: BuildProgressMode) -> Box<dyn BuildProgress + Send> {
    match mode {
        BuildProgressMode::Tty => Box::new(BuildTree::new()),
        m => Box::new(BuildLines {
            quiet: m == BuildProgressMode::Quiet,
            out: Mutex::new(()),
        }),
    }
}

/// BuildKit's plain progress: `#N [2/4] RUN …`, its output, `#N DONE 1.2s`
/// or `#N CACHED`.
struct BuildLines {
    quiet: bool,
    /// One step's lines at a time.
    out: Mutex<()>,
}

impl BuildLines {
    fn print(&self, lines: &[String]) {
        if self.quiet {
            return;
        }
        let _guard = self.out.lock();
        let mut err = std::io::stderr().lock();
        for l in lines {
            let _ = writeln!(err, "{l}");
        }
    }
}

impl BuildProgress for BuildLines {
    fn started(&self, step: &StepName) {
        self.print(&[format!("#{} {}", step.number, step.title)]);
    }

    fn cached(&self, step: &StepName) {
        self.print(&[format!("#{} CACHED", step.number), String::new()]);
    }

    fn output(&self, step: &StepName, line: &str) {
        self.print(&[format!("#{} {line}", step.number)]);
    }

    fn done(&self, step: &StepName, took: Duration) {
        self.print(&[
            format!("#{} DONE {:.1}s", step.number, took.as_secs_f64()),
            String::new(),
        ]);
    }

    fn failed(&self, step: &StepName, message: &str) {
        let mut lines: Vec<String> = message
            .lines()
            .map(|l| format!("#{} {l}", step.number))
            .collect();
        lines.push(format!("#{} ERROR", step.number));
        lines.push(String::new());
        self.print(&lines);
    }

    fn note(&self, message: &str) {
        self.print(&[format!("WARN: {message}")]);
    }
}

/// On a terminal, BuildKit's live tree: one line per step (`=> [2/4] RUN …`
/// with a spinner and its time, `=> CACHED …`), the running step's last
/// output line below it, and a failed step's whole output kept on screen.
struct BuildTree {
    multi: indicatif::MultiProgress,
    /// Per step: its line, the line of its latest output, all its output.
    steps: Mutex<BTreeMap<usize, TreeStep>>,
}

struct TreeStep {
    line: indicatif::ProgressBar,
    tail: Option<indicatif::ProgressBar>,
    output: Vec<String>,
    title: String,
}

impl BuildTree {
    fn new() -> BuildTree {
        BuildTree {
            multi: indicatif::MultiProgress::with_draw_target(
                indicatif::ProgressDrawTarget::stderr(),
            ),
            steps: Mutex::new(BTreeMap::new()),
        }
    }

    fn style(template: &str) -> indicatif::ProgressStyle {
        indicatif::ProgressStyle::with_template(template)
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner())
    }

    fn with_step(&self, step: &StepName, f: impl FnOnce(&mut TreeStep)) {
        let mut steps = match self.steps.lock() {
            Ok(s) => s,
            Err(poisoned) => poisoned.into_inner(),
        };
        let entry = steps.entry(step.number).or_insert_with(|| {
            let line = self.multi.add(indicatif::ProgressBar::new_spinner());
            line.set_style(Self::style("{spinner} => {msg} {elapsed:>4}"));
            line.set_message(step.title.clone());
            line.enable_steady_tick(Duration::from_millis(100));
            TreeStep {
                line,
                tail: None,
                output: Vec::new(),
                title: step.title.clone(),
            }
        });
        f(entry);
    }

    fn finish(s: &mut TreeStep, text: String) {
        if let Some(t) = s.tail.take() {
            t.finish_and_clear();
        }
        s.line.set_style(Self::style("{msg}"));
        s.line.finish_with_message(text);
    }
}

impl BuildProgress for BuildTree {
    fn started(&self, step: &StepName) {
        self.with_step(step, |_| {});
    }

    fn cached(&self, step: &StepName) {
        self.with_step(step, |s| {
            let text = format!("=> CACHED {}", s.title);
            Self::finish(s, text);
        });
    }

    fn output(&self, step: &StepName, line: &str) {
        self.with_step(step, |s| {
            s.output.push(line.to_string());
            let tail = s.tail.get_or_insert_with(|| {
                let t = self
                    .multi
                    .insert_after(&s.line, indicatif::ProgressBar::new_spinner());
                t.set_style(Self::style("   {msg}"));
                t
            });
            tail.set_message(line.to_string());
        });
    }

    fn done(&self, step: &StepName, took: Duration) {
        self.with_step(step, |s| {
            let text = format!("=> {} {:.1}s", s.title, took.as_secs_f64());
            Self::finish(s, text);
        });
    }

    fn failed(&self, step: &StepName, message: &str) {
        self.with_step(step, |s| {
            let text = format!("=> ERROR {}", s.title);
            Self::finish(s, text);
            for l in &s.output {
                let _ = self.multi.println(format!("   {l}"));
            }
            for l in message.lines() {
                let _ = self.multi.println(format!("   {l}"));
            }
        });
    }

    fn note(&self, message: &str) {
        let _ = self.multi.println(format!("WARN: {message}"));
    }
}
