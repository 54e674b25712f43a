//! What a build reports as it goes; the CLI renders it (plain lines as
//! BuildKit prints them, or quiet). Steps are numbered from 1 in the
//! order they start, like BuildKit's `#N`.

use std::time::Duration;

/// One vertex of the build as the user sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StepName {
    /// `#N`.
    pub number: usize,
    /// `[stage 2/4] RUN pip install …` without the brackets' stage when unnamed.
    pub title: String,
}

pub trait BuildProgress: Sync {
    fn started(&self, step: &StepName);
    /// The step's result came from the cache; nothing ran.
    fn cached(&self, step: &StepName);
    /// One line the step printed (RUN output).
    fn output(&self, step: &StepName, line: &str);
    fn done(&self, step: &StepName, took: Duration);
    fn failed(&self, step: &StepName, message: &str);
    /// A note not tied to a step (a `# syntax=` ignored, a warning).
    fn note(&self, message: &str);
}

/// Reports nothing (`-q`, tests).
pub struct Quiet;

impl BuildProgress for Quiet {
    fn started(&self, _: &StepName) {}
    fn cached(&self, _: &StepName) {}
    fn output(&self, _: &StepName, _: &str) {}
    fn done(&self, _: &StepName, _: Duration) {}
    fn failed(&self, _: &StepName, _: &str) {}
    fn note(&self, _: &str) {}
}
