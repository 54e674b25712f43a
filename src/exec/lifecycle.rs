//! The verbs on a project's existing containers: `stop`, `start`,
//! `restart`, `pause`/`unpause`, in dependency order rebuilt from labels.

use super::containers::stop_container;
use super::{project_containers, Env, ExecError, Kind, Progress, ProjectContainer, Result};
use crate::plan::container as pc;
use crate::plan::graph::{Edge, EdgeKind, ServiceGraph};
use crate::runtime::container::Status;
use crate::supervise::control;
use std::collections::BTreeSet;
use std::time::Duration;

/// The project's services as a graph rebuilt from the containers' labels
/// (`com.docker.compose.depends_on`), so stop order holds without the
/// compose file.
fn graph_from_labels(list: &[ProjectContainer]) -> Result<ServiceGraph> {
    let services: BTreeSet<String> = list.iter().map(|c| c.service.clone()).collect();
    let mut edges = Vec::new();
    let mut seen = BTreeSet::new();
    for c in list {
        if !seen.insert(c.service.clone()) {
            continue;
        }
        for dep in c
            .label(pc::LABEL_DEPENDS_ON)
            .unwrap_or("")
            .split(',')
            .filter(|d| !d.is_empty())
        {
            let dep = dep.split(':').next().unwrap_or(dep);
            if services.contains(dep) && dep != c.service {
                edges.push(Edge::new(c.service.clone(), dep, EdgeKind::Links));
            }
        }
    }
    Ok(ServiceGraph::new(services, edges)?)
}

/// Applies `f` to the project's containers service by service, dependents
/// before their dependencies, containers of one service in parallel.
pub(super) fn reverse_walk(
    list: &[ProjectContainer],
    services: &[String],
    max_parallel: usize,
    f: &(dyn Fn(&ProjectContainer) -> Result<()> + Sync),
) -> Result<()> {
    let graph = graph_from_labels(list)?;
    let outcome = graph.walk(true, max_parallel, |service| -> Result<()> {
        if !services.is_empty() && !services.iter().any(|s| s == service) {
            return Ok(());
        }
        let mine: Vec<&ProjectContainer> = list.iter().filter(|c| c.service == service).collect();
        std::thread::scope(|s| {
            let handles: Vec<_> = mine.iter().map(|c| s.spawn(move || f(c))).collect();
            let mut first = Ok(());
            for h in handles {
                let r = h.join().unwrap_or_else(|_| {
                    Err(ExecError::WorkerPanicked {
                        service: service.to_string(),
                    })
                });
                if first.is_ok() {
                    first = r;
                }
            }
            first
        })
    });
    outcome.first_error()
}

/// `restart [SERVICE…]`, as Compose: the services named (all by default)
/// and, transitively, every service that depends on one of them with
/// `restart: true`; dependencies first. Each container runs its
/// `pre_stop` hooks, is stopped and started again (stopped ones too), then
/// runs its `post_start` hooks. `with_dependents` false (`--no-deps`):
/// the services named only.
pub fn restart(
    env: &Env,
    project: &str,
    services: &[String],
    with_dependents: bool,
    timeout: Option<Duration>,
    progress: &dyn Progress,
) -> Result<()> {
    let list: Vec<ProjectContainer> = project_containers(&env.containers, project)?
        .into_iter()
        .filter(|c| !c.oneoff)
        .collect();
    let chosen = if with_dependents || services.is_empty() {
        restart_set(&list, services)
    } else {
        services.iter().cloned().collect()
    };
    let graph = graph_from_labels(&list)?;
    let outcome = graph.walk(false, env.parallel, |service| -> Result<()> {
        if !chosen.contains(service) {
            return Ok(());
        }
        for c in list.iter().filter(|c| c.service == service) {
            progress.event(Kind::Container, &c.record.name, "Restarting", false);
            if env.dry_run {
                progress.event(Kind::Container, &c.record.name, "Started", true);
                continue;
            }
            let state = env.containers.state(&c.record.id)?;
            if matches!(
                state.status,
                Status::Running | Status::Paused | Status::Restarting
            ) {
                stop_container(env, c, timeout)?;
            }
            control::start_detached(&env.containers, &c.record.id)?;
            env.post_start_reported(&c.record, service, progress)?;
        }
        Ok(())
    });
    outcome.first_error()
}

/// The services a restart of `services` takes: those, plus whoever
/// depends on one of them with `restart: true` (read from the
/// `depends_on` label, `svc:condition:restart`), transitively.
fn restart_set(list: &[ProjectContainer], services: &[String]) -> BTreeSet<String> {
    let all: BTreeSet<String> = list.iter().map(|c| c.service.clone()).collect();
    if services.is_empty() {
        return all;
    }
    let mut restart_edges: Vec<(String, String)> = Vec::new();
    for c in list {
        for dep in c
            .label(pc::LABEL_DEPENDS_ON)
            .unwrap_or("")
            .split(',')
            .filter(|d| !d.is_empty())
        {
            let mut parts = dep.split(':');
            let (Some(to), _, Some("true")) = (parts.next(), parts.next(), parts.next()) else {
                continue;
            };
            restart_edges.push((c.service.clone(), to.to_string()));
        }
    }
    let mut chosen: BTreeSet<String> = services.iter().cloned().collect();
    loop {
        let before = chosen.len();
        for (from, to) in &restart_edges {
            if chosen.contains(to) {
                chosen.insert(from.clone());
            }
        }
        if chosen.len() == before {
            return chosen;
        }
    }
}

/// `pause`/`unpause [SERVICE…]`: every running (or paused) container of
/// the services, with Compose's progress words.
pub fn pause(
    env: &Env,
    project: &str,
    services: &[String],
    freeze: bool,
    progress: &dyn Progress,
) -> Result<()> {
    for c in project_containers(&env.containers, project)? {
        if !services.is_empty() && !services.contains(&c.service) {
            continue;
        }
        let wanted = if freeze {
            Status::Running
        } else {
            Status::Paused
        };
        if c.state.status != wanted {
            continue;
        }
        if freeze {
            if !env.dry_run {
                control::pause(&env.containers, &c.record.id)?;
            }
            progress.event(Kind::Container, &c.record.name, "Paused", true);
        } else {
            if !env.dry_run {
                control::unpause(&env.containers, &c.record.id)?;
            }
            progress.event(Kind::Container, &c.record.name, "Unpaused", true);
        }
    }
    Ok(())
}

/// `stop [SERVICE…]`: dependents first.
pub fn stop(
    env: &Env,
    project: &str,
    services: &[String],
    timeout: Option<Duration>,
    progress: &dyn Progress,
) -> Result<()> {
    let list = project_containers(&env.containers, project)?;
    reverse_walk(&list, services, env.parallel, &|c| {
        if c.running() {
            progress.event(Kind::Container, &c.record.name, "Stopping", false);
            stop_container(env, c, timeout)?;
            progress.event(Kind::Container, &c.record.name, "Stopped", true);
        }
        Ok(())
    })
}

/// `start [SERVICE…]`: existing containers, dependencies first.
pub fn start(env: &Env, project: &str, services: &[String], progress: &dyn Progress) -> Result<()> {
    let list = project_containers(&env.containers, project)?;
    let graph = graph_from_labels(&list)?;
    let outcome = graph.walk(false, env.parallel, |service| -> Result<()> {
        if !services.is_empty() && !services.iter().any(|s| s == service) {
            return Ok(());
        }
        for c in list.iter().filter(|c| c.service == service && !c.oneoff) {
            if !c.running() {
                progress.event(Kind::Container, &c.record.name, "Starting", false);
                if !env.dry_run {
                    control::start_detached(&env.containers, &c.record.id)?;
                }
                env.post_start_reported(&c.record, service, progress)?;
            }
        }
        Ok(())
    });
    outcome.first_error()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exec::testing::container;

    #[test]
    fn restart_takes_dependents_with_restart_true_transitively() {
        let list = [
            container("db", "busybox", ""),
            container("api", "busybox", "db:service_healthy:true"),
            container(
                "web",
                "busybox",
                "api:service_started:true,cache:service_started:false",
            ),
            container("cache", "busybox", ""),
            container("worker", "busybox", "db:service_started:false"),
        ];
        let set = |s: &[&str]| -> Vec<String> {
            let names: Vec<String> = s.iter().map(|n| n.to_string()).collect();
            restart_set(&list, &names).into_iter().collect()
        };
        assert_eq!(set(&["db"]), ["api", "db", "web"]);
        assert_eq!(set(&["cache"]), ["cache"]);
        assert_eq!(set(&["worker"]), ["worker"]);
        assert_eq!(set(&[]).len(), 5);
    }
}
