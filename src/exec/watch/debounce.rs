//! Compose's batching of file events: every changed path is collected
//! until no new event has come for [`QUIET_PERIOD`], then the set goes as
//! one batch (an editor's save, or a `git checkout` of many files, is one
//! sync).

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::Duration;

/// How long no event must come before a batch goes. Compose waits 500 ms
/// (`watch.QuietPeriod`); the events of one save (temp file, rename, vim's
/// `4913` probe) or of a `git checkout` come microseconds to a few
/// milliseconds apart, so 100 ms still makes each of them one sync, and an
/// edit reaches the container 400 ms sooner than with Compose.
pub const QUIET_PERIOD: Duration = Duration::from_millis(100);

/// What reaches the watch loop.
#[derive(Debug)]
pub enum Input {
    /// Host paths that changed (created, written, renamed, removed).
    Changed(Vec<PathBuf>),
    /// The file watcher failed (a message for the user).
    Failed(String),
    /// Ctrl-C, or whoever started the watch wants it to end.
    Stop,
}

/// What the next wait gave.
#[derive(Debug, PartialEq, Eq)]
pub enum Next {
    /// Distinct changed paths, sorted.
    Batch(Vec<PathBuf>),
    Failed(String),
    Stop,
}

/// Blocks (no polling) until something arrives, then collects changes
/// until `quiet` passes without one. A stop or failure ends a batch early
/// only when nothing is pending; otherwise the batch goes first and the
/// stop is kept for the next call.
pub fn next(rx: &Receiver<Input>, quiet: Duration, held: &mut Option<Input>) -> Next {
    let first = match held.take() {
        Some(i) => i,
        None => match rx.recv() {
            Ok(i) => i,
            Err(_) => return Next::Stop,
        },
    };
    let mut seen = BTreeSet::new();
    match first {
        Input::Changed(paths) => seen.extend(paths),
        Input::Failed(m) => return Next::Failed(m),
        Input::Stop => return Next::Stop,
    }
    loop {
        match rx.recv_timeout(quiet) {
            Ok(Input::Changed(paths)) => seen.extend(paths),
            Ok(other) => {
                *held = Some(other);
                break;
            }
            Err(RecvTimeoutError::Timeout) => break,
            Err(RecvTimeoutError::Disconnected) => {
                *held = Some(Input::Stop);
                break;
            }
        }
    }
    Next::Batch(seen.into_iter().collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc::channel;

    fn p(s: &str) -> PathBuf {
        PathBuf::from(s)
    }

    #[test]
    fn events_within_the_quiet_period_are_one_batch_without_duplicates() {
        let (tx, rx) = channel();
        tx.send(Input::Changed(vec![p("/a"), p("/b")]))
            .expect("send");
        tx.send(Input::Changed(vec![p("/a"), p("/c")]))
            .expect("send");
        let mut held = None;
        let got = next(&rx, Duration::from_millis(50), &mut held);
        assert_eq!(got, Next::Batch(vec![p("/a"), p("/b"), p("/c")]));
        // A stop after changes: the batch first, then the stop.
        tx.send(Input::Changed(vec![p("/d")])).expect("send");
        tx.send(Input::Stop).expect("send");
        assert_eq!(
            next(&rx, Duration::from_millis(50), &mut held),
            Next::Batch(vec![p("/d")])
        );
        assert_eq!(next(&rx, Duration::from_millis(50), &mut held), Next::Stop);
    }

    #[test]
    fn a_closed_channel_flushes_then_stops() {
        let (tx, rx) = channel();
        tx.send(Input::Changed(vec![p("/x")])).expect("send");
        drop(tx);
        let mut held = None;
        assert_eq!(
            next(&rx, Duration::from_secs(5), &mut held),
            Next::Batch(vec![p("/x")])
        );
        assert_eq!(next(&rx, Duration::from_secs(5), &mut held), Next::Stop);
    }
}
