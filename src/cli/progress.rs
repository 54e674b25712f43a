//! Terminal progress: Compose's per-object lines (or spinners) for the
//! executor, and `docker pull`'s per-layer lines (or bars). indicatif lives
//! here only; the layers report through their small traits.

use super::args::compose::ProgressMode;
use crate::exec::{self, Kind};
use crate::image::pull::{PullEvent, PullProgress};
use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::Duration;

/// Compose's progress lines, or indicatif spinners on a terminal.
pub struct Progress {
    mode: ProgressMode,
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
            multi: indicatif::MultiProgress::with_draw_target(
                indicatif::ProgressDrawTarget::stderr(),
            ),
            bars: Mutex::new(BTreeMap::new()),
        }
    }
}

impl exec::Progress for Progress {
    fn event(&self, kind: Kind, name: &str, status: &str, done: bool) {
        match self.mode {
            ProgressMode::Quiet => {}
            ProgressMode::Plain | ProgressMode::Auto => {
                eprintln!(" {} {name}  {status}", kind.as_str())
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
                let key = format!("{} {name}", kind.as_str());
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
