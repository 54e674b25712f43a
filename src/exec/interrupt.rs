//! `up` under Ctrl-C. The CLI owns the signals and counts them; this turns
//! the count into what Compose does: the first interrupt cancels a running
//! `up` between steps, and the stack is stopped on a thread of its own so
//! the foreground can keep printing logs and take a second Ctrl-C as "kill".

use super::{Env, Progress, ProjectContainer, UpOptions};
use crate::compose::types::Project;
use crate::plan::container::ProjectContext;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// How often the count of interrupts is looked at while `up` works.
const POLL: Duration = Duration::from_millis(20);

/// `up` on a worker thread, cancelled once `interrupts` is above zero (no
/// new container is then created or started: `up` ends with
/// `ExecError::Cancelled`). `Err` when the worker panicked.
pub fn up_until_interrupted(
    env: &Env,
    project: &Project,
    ctx: &ProjectContext,
    opts: &UpOptions,
    progress: &dyn Progress,
    interrupts: &AtomicUsize,
) -> std::thread::Result<super::Result<Vec<ProjectContainer>>> {
    let cancel = Arc::new(AtomicBool::new(false));
    let opts = UpOptions {
        cancel: Some(cancel.clone()),
        ..opts.clone()
    };
    std::thread::scope(|s| {
        // The worker says when it is done, so `up` returns at once rather
        // than at the next look at the count.
        let (done, finished) = std::sync::mpsc::channel::<()>();
        let opts = &opts;
        let worker = s.spawn(move || {
            let r = super::up(env, project, ctx, opts, progress);
            let _ = done.send(());
            r
        });
        while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) = finished.recv_timeout(POLL) {
            if interrupts.load(Ordering::SeqCst) > 0 {
                cancel.store(true, Ordering::SeqCst);
            }
        }
        worker.join()
    })
}

/// Stops every container of `project` on a thread of its own, with the
/// lifecycle hooks `env` knows; failures are left for the next command to
/// see, as the foreground is already ending.
pub fn stop_in_background(
    env: &Env,
    project: &str,
    timeout: Option<Duration>,
    progress: Box<dyn Progress + Send>,
) -> std::thread::JoinHandle<()> {
    let root = env.containers.root().to_path_buf();
    let project = project.to_string();
    let runtime = env.runtime.clone();
    let hooks = env.hooks.clone();
    std::thread::spawn(move || {
        if let Ok(mut env) = Env::open(&root, &runtime) {
            env.hooks = hooks;
            let _ = super::stop(&env, &project, &[], timeout, progress.as_ref());
        }
    })
}
