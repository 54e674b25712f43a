//! The file watcher: inotify through the `notify` crate, its events turned
//! into [`Input`]s for the watch loop. It sleeps in the kernel between
//! events (no polling).

use super::debounce::Input;
use notify::{Config, ErrorKind, Event, EventKind, RecommendedWatcher, RecursiveMode, Watcher};
use std::path::{Path, PathBuf};
use std::sync::mpsc::Sender;

/// Where the kernel's limit on inotify watches is read and set.
const MAX_WATCHES: &str = "/proc/sys/fs/inotify/max_user_watches";
/// The same limit as a user namespace sets it for itself (a container's
/// may be lower than the machine's; both apply).
const NAMESPACE_MAX_WATCHES: &str = "/proc/sys/user/max_inotify_watches";

#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    #[error("watching {}: the tree has more directories than the inotify watch limit allows (fs.inotify.max_user_watches = {limit}); raise it, e.g. `sysctl fs.inotify.max_user_watches=524288` (persist it in /etc/sysctl.d/), and start watch again", path.display())]
    WatchLimit { path: PathBuf, limit: String },
    #[error("watching {}", path.display())]
    Watch {
        path: PathBuf,
        #[source]
        source: notify::Error,
    },
    #[error("starting the file watcher")]
    Start(#[source] notify::Error),
}

/// Watching stops when this is dropped.
pub struct FileWatcher {
    _watcher: RecommendedWatcher,
}

/// The kernel's current limit, for messages; and the user namespace's
/// own when it is the lower one, since then it is the one that was hit.
fn watch_limit() -> String {
    let read =
        |path: &str| -> Option<u64> { std::fs::read_to_string(path).ok()?.trim().parse().ok() };
    match (read(MAX_WATCHES), read(NAMESPACE_MAX_WATCHES)) {
        (Some(machine), Some(ns)) if ns < machine => {
            format!("{machine}; this user namespace's user.max_inotify_watches = {ns}")
        }
        (Some(machine), _) => machine.to_string(),
        (None, _) => "unknown".to_string(),
    }
}

fn limit_message(path: &str) -> String {
    NotifyError::WatchLimit {
        path: path.into(),
        limit: watch_limit(),
    }
    .to_string()
}

/// Watches `paths`: a directory with everything below it; a file (or a
/// path that does not exist yet) through its directory, so that an
/// editor's save by rename, which replaces the file, is still seen.
pub fn start(paths: &[PathBuf], tx: Sender<Input>) -> Result<FileWatcher, NotifyError> {
    let handler_tx = tx.clone();
    // The kernel does not say which directory it refused: the roots, then.
    let roots = paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ");
    let mut watcher = RecommendedWatcher::new(
        move |res: notify::Result<Event>| {
            let input = match res {
                Ok(ev) if matches!(ev.kind, EventKind::Access(_)) => return,
                Ok(ev) => Input::Changed(ev.paths),
                Err(e) if matches!(e.kind, ErrorKind::MaxFilesWatch) => {
                    let path = e
                        .paths
                        .first()
                        .map_or(roots.clone(), |p| p.display().to_string());
                    Input::Failed(limit_message(&path))
                }
                Err(e) => Input::Failed(format!("file watcher: {e}")),
            };
            let _ = handler_tx.send(input);
        },
        Config::default().with_follow_symlinks(false),
    )
    .map_err(NotifyError::Start)?;
    let mut watched: Vec<PathBuf> = Vec::new();
    for p in paths {
        let (at, mode) = if p.is_dir() {
            (p.clone(), RecursiveMode::Recursive)
        } else {
            // The nearest directory that exists.
            let mut dir = p.parent().map(Path::to_path_buf).unwrap_or_default();
            while !dir.is_dir() {
                match dir.parent() {
                    Some(up) => dir = up.to_path_buf(),
                    None => break,
                }
            }
            (dir, RecursiveMode::NonRecursive)
        };
        if watched.contains(&at) {
            continue;
        }
        watcher
            .watch(&at, mode)
            .map_err(|source| match source.kind {
                ErrorKind::MaxFilesWatch => NotifyError::WatchLimit {
                    path: at.clone(),
                    limit: watch_limit(),
                },
                _ => NotifyError::Watch {
                    path: at.clone(),
                    source,
                },
            })?;
        watched.push(at);
    }
    Ok(FileWatcher { _watcher: watcher })
}
