//! What `up` does with a project's containers, decided from plain data:
//! the services as the compose file wants them, the containers as found.
//! No I/O here, so the rules ("why was my container recreated?") are
//! tested without root or containers; `exec` applies the actions in order.

use std::collections::BTreeSet;

/// The project as `up` wants it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Desired {
    /// Every service of the project: a container of any other is an orphan.
    pub project_services: BTreeSet<String>,
    /// The services `up` converges, in start order (dependencies first).
    pub services: Vec<DesiredService>,
}

/// A service as the project wants it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DesiredService {
    pub name: String,
    /// Containers to run: `--scale`, else `scale`/`deploy.replicas`.
    pub replicas: u32,
    /// `plan::config_hash` of the service, as in the containers' label.
    pub config_hash: String,
    /// The id of the stored image the service names (`sha256:…`); `None`
    /// when it is not in the store.
    pub image_digest: Option<String>,
    /// The services it depends on with `restart: true`: when one of them
    /// is recreated, this one is stopped first and started again after.
    pub restart_with: Vec<String>,
    /// The services whose namespaces it joins (`network_mode`, `ipc`,
    /// `pid`: `service:NAME`): a container of it still points at the
    /// replaced container once one of them is recreated.
    pub shares_with: Vec<String>,
    /// Named on the command line, or nothing was named: the recreate
    /// flags apply to it as given, else as to a dependency.
    pub targeted: bool,
}

/// A container of the project, as found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ObservedContainer {
    pub id: String,
    pub name: String,
    pub service: String,
    /// `com.docker.compose.container-number` (0 when absent or unreadable).
    pub number: u32,
    /// `com.docker.compose.config-hash`.
    pub config_hash: Option<String>,
    /// The id of the image it was created from.
    pub image_digest: String,
    /// Running, paused or between two runs of its restart policy.
    pub running: bool,
    /// A `run` container: never touched by converge.
    pub oneoff: bool,
}

/// When an existing container is replaced (Compose's recreate strategy).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Recreate {
    /// When it no longer matches the service.
    #[default]
    Diverged,
    /// Always (`--force-recreate`).
    Force,
    /// Never (`--no-recreate`).
    Never,
}

/// The `up` flags converge reads.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ConvergeOptions {
    /// For the targeted services.
    pub recreate: Recreate,
    /// For the services only brought up as dependencies.
    pub recreate_dependencies: Recreate,
    /// `--remove-orphans`.
    pub remove_orphans: bool,
    /// False with `--no-start`: containers are created, not started.
    pub start: bool,
}

impl ConvergeOptions {
    /// The recreate strategy of `up`'s flags, as Compose derives it: for the
    /// services named (or all when none is), `--no-recreate` wins over
    /// `--force-recreate`; dependencies are forced by
    /// `--always-recreate-deps` (Compose's `dependenciesRecreateStrategy`),
    /// whatever `--force-recreate` says.
    pub fn from_flags(
        force_recreate: bool,
        no_recreate: bool,
        always_recreate_deps: bool,
        remove_orphans: bool,
        no_start: bool,
    ) -> ConvergeOptions {
        let recreate = if no_recreate {
            Recreate::Never
        } else if force_recreate {
            Recreate::Force
        } else {
            Recreate::Diverged
        };
        let recreate_dependencies = if no_recreate {
            Recreate::Never
        } else if always_recreate_deps {
            Recreate::Force
        } else {
            Recreate::Diverged
        };
        ConvergeOptions {
            recreate,
            recreate_dependencies,
            remove_orphans,
            start: !no_start,
        }
    }
}

/// Why a container is replaced, for the user who asks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecreateReason {
    /// The service's configuration differs from the container's label.
    ConfigChanged,
    /// The service's image now names another image (pulled or built
    /// since).
    ImageChanged,
    /// A service whose namespaces it joins is recreated.
    SharedNamespaceRecreated,
    /// `--force-recreate` (or `--always-recreate-deps` for a dependency).
    Forced,
}

impl RecreateReason {
    pub fn as_str(self) -> &'static str {
        match self {
            RecreateReason::ConfigChanged => "configuration changed",
            RecreateReason::ImageChanged => "image changed",
            RecreateReason::SharedNamespaceRecreated => {
                "a service whose namespaces it joins is recreated"
            }
            RecreateReason::Forced => "recreate forced",
        }
    }
}

/// One step of `up`. `exec` applies them in the order given; the actions
/// of a service run when the service graph's walker reaches it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Containers of services the project no longer has, left in place:
    /// Compose's warning names them.
    WarnOrphans { containers: Vec<String> },
    /// A container of a service the project no longer has, stopped and
    /// removed (`--remove-orphans`).
    RemoveOrphan { container: ObservedContainer },
    /// A replica beyond the service's scale (outdated ones first, then
    /// the highest numbers), stopped and removed.
    ScaleDown { container: ObservedContainer },
    /// A running container of a service that depends with `restart: true`
    /// on `dependency`, stopped before `dependency` is recreated; it is
    /// started again in its own service's turn. Applied in the turn of
    /// `dependency`.
    StopDependent {
        container: ObservedContainer,
        dependency: String,
    },
    /// Replaced by a new container of the same number, started after
    /// unless `start` is false.
    Recreate {
        container: ObservedContainer,
        reason: RecreateReason,
        start: bool,
    },
    /// Up to date and running: left alone.
    KeepRunning { container: ObservedContainer },
    /// Up to date, not running, and `--no-start`: left stopped.
    KeepStopped { container: ObservedContainer },
    /// Up to date, not running: started.
    Start { container: ObservedContainer },
    /// A new replica, started after unless `start` is false.
    Create {
        service: String,
        number: u32,
        start: bool,
    },
}

impl Action {
    /// The service whose turn on the walker applies this action; `None`
    /// for the orphans, handled before any service.
    pub fn service(&self) -> Option<&str> {
        match self {
            Action::WarnOrphans { .. } | Action::RemoveOrphan { .. } => None,
            Action::StopDependent { dependency, .. } => Some(dependency),
            Action::ScaleDown { container }
            | Action::Recreate { container, .. }
            | Action::KeepRunning { container }
            | Action::KeepStopped { container }
            | Action::Start { container } => Some(&container.service),
            Action::Create { service, .. } => Some(service),
        }
    }
}

/// The actions that bring `observed` to `desired`: orphans first, then
/// each desired service in the order given (the walker's start order).
pub fn converge(
    desired: &Desired,
    observed: &[ObservedContainer],
    options: &ConvergeOptions,
) -> Vec<Action> {
    let mut actions = orphans(desired, observed, options);
    // Containers this plan stops before they are reached: not running by
    // the time their own service's turn comes.
    let mut stopped = BTreeSet::new();
    // Services with a container recreated by this plan.
    let mut recreated = BTreeSet::new();
    for service in &desired.services {
        let parent_recreated = service.shares_with.iter().any(|s| recreated.contains(s));
        let mut mine = converge_service(service, observed, options, &stopped, parent_recreated);
        if let Some(first) = mine
            .iter()
            .position(|a| matches!(a, Action::Recreate { .. }))
        {
            recreated.insert(service.name.clone());
            let stops = stop_dependents(desired, service, observed, &mut stopped);
            mine.splice(first..first, stops);
        }
        actions.extend(mine);
    }
    actions
}

/// Compose's `stopDependentContainers`: before `service` is recreated, the
/// running containers of the services that depend on it with `restart:
/// true` are stopped (each once); their own turn starts them again.
fn stop_dependents(
    desired: &Desired,
    service: &DesiredService,
    observed: &[ObservedContainer],
    stopped: &mut BTreeSet<String>,
) -> Vec<Action> {
    let dependents: BTreeSet<&str> = desired
        .services
        .iter()
        .filter(|d| d.restart_with.contains(&service.name))
        .map(|d| d.name.as_str())
        .collect();
    observed
        .iter()
        .filter(|c| !c.oneoff && c.running && dependents.contains(c.service.as_str()))
        .filter(|c| stopped.insert(c.id.clone()))
        .map(|c| Action::StopDependent {
            container: c.clone(),
            dependency: service.name.clone(),
        })
        .collect()
}

/// Containers (one-offs aside) whose service is not in the project.
fn orphans(
    desired: &Desired,
    observed: &[ObservedContainer],
    options: &ConvergeOptions,
) -> Vec<Action> {
    let found: Vec<&ObservedContainer> = observed
        .iter()
        .filter(|c| !c.oneoff && !desired.project_services.contains(&c.service))
        .collect();
    if found.is_empty() {
        return Vec::new();
    }
    if options.remove_orphans {
        found
            .into_iter()
            .map(|c| Action::RemoveOrphan {
                container: c.clone(),
            })
            .collect()
    } else {
        vec![Action::WarnOrphans {
            containers: found.iter().map(|c| c.name.clone()).collect(),
        }]
    }
}

/// One service, as Compose's `ensureService`: up-to-date containers are
/// kept before outdated ones and low numbers before high ones; whatever
/// is beyond the service's scale goes (highest first), the rest is kept,
/// started or recreated, and missing replicas get new numbers after the
/// highest one found (a number is not reused while a container has it,
/// nor filled in when a replica was removed by hand).
fn converge_service(
    service: &DesiredService,
    observed: &[ObservedContainer],
    options: &ConvergeOptions,
    stopped: &BTreeSet<String>,
    parent_recreated: bool,
) -> Vec<Action> {
    let strategy = if service.targeted {
        options.recreate
    } else {
        options.recreate_dependencies
    };
    let mut mine: Vec<(&ObservedContainer, Option<RecreateReason>)> = observed
        .iter()
        .filter(|c| c.service == service.name && !c.oneoff)
        .map(|c| (c, recreate_reason(service, c, strategy, parent_recreated)))
        .collect();
    mine.sort_by(|(a, ra), (b, rb)| {
        (ra.is_some(), a.number, &a.name).cmp(&(rb.is_some(), b.number, &b.name))
    });
    let wanted = usize::try_from(service.replicas).unwrap_or(usize::MAX);
    let (kept, surplus) = mine.split_at(wanted.min(mine.len()));
    let mut actions: Vec<Action> = surplus
        .iter()
        .rev()
        .map(|(c, _)| Action::ScaleDown {
            container: (*c).clone(),
        })
        .collect();
    let mut kept = kept.to_vec();
    kept.sort_by(|(a, _), (b, _)| (a.number, &a.name).cmp(&(b.number, &b.name)));
    for (c, reason) in kept {
        let container = c.clone();
        actions.push(match reason {
            Some(reason) => Action::Recreate {
                container,
                reason,
                start: options.start,
            },
            None if c.running && !stopped.contains(&c.id) => Action::KeepRunning { container },
            None if options.start => Action::Start { container },
            None => Action::KeepStopped { container },
        });
    }
    let next = mine.iter().map(|(c, _)| c.number).max().unwrap_or(0) + 1;
    let missing = service
        .replicas
        .saturating_sub(u32::try_from(mine.len()).unwrap_or(u32::MAX));
    actions.extend((next..next + missing).map(|number| Action::Create {
        service: service.name.clone(),
        number,
        start: options.start,
    }));
    actions
}

/// Why `c` must be replaced under `strategy`, if it must.
fn recreate_reason(
    service: &DesiredService,
    c: &ObservedContainer,
    strategy: Recreate,
    parent_recreated: bool,
) -> Option<RecreateReason> {
    match strategy {
        Recreate::Never => None,
        Recreate::Force => Some(RecreateReason::Forced),
        // Compose's `mustRecreate`: a recreated namespace parent, the
        // config hash, then the image.
        Recreate::Diverged => {
            if parent_recreated {
                Some(RecreateReason::SharedNamespaceRecreated)
            } else if c.config_hash.as_deref() != Some(service.config_hash.as_str()) {
                Some(RecreateReason::ConfigChanged)
            } else if service
                .image_digest
                .as_ref()
                .is_some_and(|d| *d != c.image_digest)
            {
                Some(RecreateReason::ImageChanged)
            } else {
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A service of project `demo` whose current config hash is `hash`.
    fn svc(name: &str, replicas: u32, hash: &str) -> DesiredService {
        DesiredService {
            name: name.into(),
            replicas,
            config_hash: hash.into(),
            image_digest: Some("sha256:i1".into()),
            restart_with: Vec::new(),
            shares_with: Vec::new(),
            targeted: true,
        }
    }

    fn dependency(mut s: DesiredService) -> DesiredService {
        s.targeted = false;
        s
    }

    /// Replica `number` of `service`, made from config `hash`.
    fn ctr(service: &str, number: u32, hash: &str, running: bool) -> ObservedContainer {
        ObservedContainer {
            id: format!("{service}{number}"),
            name: format!("demo-{service}-{number}"),
            service: service.into(),
            number,
            config_hash: Some(hash.into()),
            image_digest: "sha256:i1".into(),
            running,
            oneoff: false,
        }
    }

    fn oneoff(service: &str, hash: &str) -> ObservedContainer {
        ObservedContainer {
            id: format!("{service}-run"),
            name: format!("demo-{service}-run-0123456789ab"),
            number: 0,
            oneoff: true,
            ..ctr(service, 0, hash, true)
        }
    }

    /// `up`'s default flags.
    fn up() -> ConvergeOptions {
        ConvergeOptions::from_flags(false, false, false, false, false)
    }

    /// An action as a line a reader can check against the table.
    fn show(a: &Action) -> String {
        match a {
            Action::WarnOrphans { containers } => format!("warn orphans {}", containers.join(" ")),
            Action::RemoveOrphan { container } => format!("remove orphan {}", container.name),
            Action::ScaleDown { container } => format!("scale down {}", container.name),
            Action::Recreate {
                container,
                reason,
                start,
            } => format!(
                "recreate {} ({}){}",
                container.name,
                reason.as_str(),
                if *start { " and start" } else { "" }
            ),
            Action::StopDependent {
                container,
                dependency,
            } => format!("stop {} before {dependency}", container.name),
            Action::KeepRunning { container } => format!("keep running {}", container.name),
            Action::KeepStopped { container } => format!("keep stopped {}", container.name),
            Action::Start { container } => format!("start {}", container.name),
            Action::Create {
                service,
                number,
                start,
            } => format!(
                "create {service} #{number}{}",
                if *start { " and start" } else { "" }
            ),
        }
    }

    struct Case {
        name: &'static str,
        services: Vec<DesiredService>,
        observed: Vec<ObservedContainer>,
        options: ConvergeOptions,
        want: &'static [&'static str],
    }

    fn check(cases: Vec<Case>) {
        for case in cases {
            let desired = Desired {
                project_services: case.services.iter().map(|s| s.name.clone()).collect(),
                services: case.services,
            };
            let got: Vec<String> = converge(&desired, &case.observed, &case.options)
                .iter()
                .map(show)
                .collect();
            assert_eq!(got, case.want, "case {:?}", case.name);
        }
    }

    #[test]
    fn converge_follows_compose_rules() {
        check(vec![
            Case {
                name: "nothing there: create and start",
                services: vec![svc("web", 2, "h1")],
                observed: vec![],
                options: up(),
                want: &["create web #1 and start", "create web #2 and start"],
            },
            Case {
                name: "unchanged and running: kept",
                services: vec![svc("web", 1, "h1")],
                observed: vec![ctr("web", 1, "h1", true)],
                options: up(),
                want: &["keep running demo-web-1"],
            },
            Case {
                name: "config hash changed: recreated",
                services: vec![svc("web", 1, "h2")],
                observed: vec![ctr("web", 1, "h1", true)],
                options: up(),
                want: &["recreate demo-web-1 (configuration changed) and start"],
            },
            Case {
                name: "a container without a hash label counts as changed",
                services: vec![svc("web", 1, "h1")],
                observed: vec![ObservedContainer {
                    config_hash: None,
                    ..ctr("web", 1, "h1", true)
                }],
                options: up(),
                want: &["recreate demo-web-1 (configuration changed) and start"],
            },
            Case {
                name: "image digest changed (pulled since): recreated",
                services: vec![DesiredService {
                    image_digest: Some("sha256:i2".into()),
                    ..svc("web", 1, "h1")
                }],
                observed: vec![ctr("web", 1, "h1", true)],
                options: up(),
                want: &["recreate demo-web-1 (image changed) and start"],
            },
            Case {
                name: "image not in the store: no reason to recreate",
                services: vec![DesiredService {
                    image_digest: None,
                    ..svc("web", 1, "h1")
                }],
                observed: vec![ctr("web", 1, "h1", true)],
                options: up(),
                want: &["keep running demo-web-1"],
            },
            Case {
                name: "image changed but --no-recreate: kept",
                services: vec![DesiredService {
                    image_digest: Some("sha256:i2".into()),
                    ..svc("web", 1, "h1")
                }],
                observed: vec![ctr("web", 1, "h1", true)],
                options: ConvergeOptions::from_flags(false, true, false, false, false),
                want: &["keep running demo-web-1"],
            },
            Case {
                name: "stopped and unchanged: kept and started",
                services: vec![svc("web", 1, "h1")],
                observed: vec![ctr("web", 1, "h1", false)],
                options: up(),
                want: &["start demo-web-1"],
            },
            Case {
                name: "--no-start: created, not started; a stopped one stays so",
                services: vec![svc("web", 2, "h1")],
                observed: vec![ctr("web", 1, "h1", false)],
                options: ConvergeOptions::from_flags(false, false, false, false, true),
                want: &["keep stopped demo-web-1", "create web #2"],
            },
            Case {
                name: "--no-recreate: a changed container is kept",
                services: vec![svc("web", 1, "h2")],
                observed: vec![ctr("web", 1, "h1", true)],
                options: ConvergeOptions::from_flags(false, true, false, false, false),
                want: &["keep running demo-web-1"],
            },
            Case {
                name: "--no-recreate wins over --force-recreate",
                services: vec![svc("web", 1, "h1")],
                observed: vec![ctr("web", 1, "h1", false)],
                options: ConvergeOptions::from_flags(true, true, false, false, false),
                want: &["start demo-web-1"],
            },
            Case {
                name: "--force-recreate: an unchanged container is recreated",
                services: vec![svc("web", 1, "h1")],
                observed: vec![ctr("web", 1, "h1", true)],
                options: ConvergeOptions::from_flags(true, false, false, false, false),
                want: &["recreate demo-web-1 (recreate forced) and start"],
            },
            Case {
                name: "scale up: the missing numbers are created",
                services: vec![svc("web", 3, "h1")],
                observed: vec![ctr("web", 1, "h1", true)],
                options: up(),
                want: &[
                    "keep running demo-web-1",
                    "create web #2 and start",
                    "create web #3 and start",
                ],
            },
            Case {
                name: "scale down: the highest numbers go, highest first",
                services: vec![svc("web", 1, "h1")],
                observed: vec![
                    ctr("web", 1, "h1", true),
                    ctr("web", 2, "h1", true),
                    ctr("web", 3, "h1", true),
                ],
                options: up(),
                want: &[
                    "scale down demo-web-3",
                    "scale down demo-web-2",
                    "keep running demo-web-1",
                ],
            },
            Case {
                name: "scale down: outdated replicas go before up-to-date ones",
                services: vec![svc("web", 2, "h2")],
                observed: vec![
                    ctr("web", 1, "h1", true),
                    ctr("web", 2, "h2", true),
                    ctr("web", 3, "h2", true),
                ],
                options: up(),
                want: &[
                    "scale down demo-web-1",
                    "keep running demo-web-2",
                    "keep running demo-web-3",
                ],
            },
            Case {
                name: "scale up after a replica was removed by hand: numbers follow the highest",
                services: vec![svc("web", 3, "h1")],
                observed: vec![ctr("web", 1, "h1", true), ctr("web", 3, "h1", true)],
                options: up(),
                want: &[
                    "keep running demo-web-1",
                    "keep running demo-web-3",
                    "create web #4 and start",
                ],
            },
            Case {
                name: "scale to zero: every replica goes",
                services: vec![svc("web", 0, "h1")],
                observed: vec![ctr("web", 1, "h1", true), ctr("web", 2, "h1", false)],
                options: up(),
                want: &["scale down demo-web-2", "scale down demo-web-1"],
            },
            Case {
                name: "a one-off of the service is not a replica",
                services: vec![svc("web", 1, "h2")],
                observed: vec![oneoff("web", "h1"), ctr("web", 1, "h2", true)],
                options: up(),
                want: &["keep running demo-web-1"],
            },
            Case {
                name: "a one-off of a service no longer there is no orphan",
                services: vec![svc("web", 1, "h1")],
                observed: vec![oneoff("old", "h1"), ctr("web", 1, "h1", true)],
                options: ConvergeOptions::from_flags(false, false, false, true, false),
                want: &["keep running demo-web-1"],
            },
            Case {
                name: "orphans without --remove-orphans: one warning naming them",
                services: vec![svc("web", 1, "h1")],
                observed: vec![
                    ctr("old", 1, "h1", true),
                    ctr("older", 1, "h1", false),
                    ctr("web", 1, "h1", true),
                ],
                options: up(),
                want: &[
                    "warn orphans demo-old-1 demo-older-1",
                    "keep running demo-web-1",
                ],
            },
            Case {
                name: "orphans with --remove-orphans: removed first",
                services: vec![svc("web", 1, "h1")],
                observed: vec![ctr("old", 1, "h1", true), ctr("web", 1, "h1", true)],
                options: ConvergeOptions::from_flags(false, false, false, true, false),
                want: &["remove orphan demo-old-1", "keep running demo-web-1"],
            },
            Case {
                name: "--force-recreate web: its dependency db is not forced",
                services: vec![dependency(svc("db", 1, "d1")), svc("web", 1, "w1")],
                observed: vec![ctr("db", 1, "d1", true), ctr("web", 1, "w1", true)],
                options: ConvergeOptions::from_flags(true, false, false, false, false),
                want: &[
                    "keep running demo-db-1",
                    "recreate demo-web-1 (recreate forced) and start",
                ],
            },
            Case {
                name: "--always-recreate-deps web: db is recreated, web only if changed",
                services: vec![dependency(svc("db", 1, "d1")), svc("web", 1, "w1")],
                observed: vec![ctr("db", 1, "d1", true), ctr("web", 1, "w1", true)],
                options: ConvergeOptions::from_flags(false, false, true, false, false),
                want: &[
                    "recreate demo-db-1 (recreate forced) and start",
                    "keep running demo-web-1",
                ],
            },
            Case {
                name: "db recreated: app (restart: true) stopped first, started after; other kept",
                services: vec![
                    svc("db", 1, "d2"),
                    DesiredService {
                        restart_with: vec!["db".into()],
                        ..svc("app", 2, "a1")
                    },
                    svc("other", 1, "o1"),
                ],
                observed: vec![
                    ctr("app", 1, "a1", true),
                    ctr("app", 2, "a1", false),
                    ctr("db", 1, "d1", true),
                    ctr("other", 1, "o1", true),
                ],
                options: up(),
                want: &[
                    "stop demo-app-1 before db",
                    "recreate demo-db-1 (configuration changed) and start",
                    "start demo-app-1",
                    "start demo-app-2",
                    "keep running demo-other-1",
                ],
            },
            Case {
                name: "db unchanged: its restart: true dependent is left alone",
                services: vec![
                    svc("db", 1, "d1"),
                    DesiredService {
                        restart_with: vec!["db".into()],
                        ..svc("app", 1, "a1")
                    },
                ],
                observed: vec![ctr("app", 1, "a1", true), ctr("db", 1, "d1", true)],
                options: up(),
                want: &["keep running demo-db-1", "keep running demo-app-1"],
            },
            Case {
                name: "db recreated, --no-start: the stopped dependent stays stopped",
                services: vec![
                    svc("db", 1, "d2"),
                    DesiredService {
                        restart_with: vec!["db".into()],
                        ..svc("app", 1, "a1")
                    },
                ],
                observed: vec![ctr("app", 1, "a1", true), ctr("db", 1, "d1", true)],
                options: ConvergeOptions::from_flags(false, false, false, false, true),
                want: &[
                    "stop demo-app-1 before db",
                    "recreate demo-db-1 (configuration changed)",
                    "keep stopped demo-app-1",
                ],
            },
            Case {
                name: "db recreated and app changed too: app stopped once, then recreated",
                services: vec![
                    svc("db", 1, "d2"),
                    DesiredService {
                        restart_with: vec!["db".into()],
                        ..svc("app", 1, "a2")
                    },
                ],
                observed: vec![ctr("app", 1, "a1", true), ctr("db", 1, "d1", true)],
                options: up(),
                want: &[
                    "stop demo-app-1 before db",
                    "recreate demo-db-1 (configuration changed) and start",
                    "recreate demo-app-1 (configuration changed) and start",
                ],
            },
            Case {
                name: "network_mode: service:vpn, vpn recreated: app recreated too",
                services: vec![
                    svc("vpn", 1, "v2"),
                    DesiredService {
                        shares_with: vec!["vpn".into()],
                        ..svc("app", 1, "a1")
                    },
                    svc("other", 1, "o1"),
                ],
                observed: vec![
                    ctr("app", 1, "a1", true),
                    ctr("other", 1, "o1", true),
                    ctr("vpn", 1, "v1", true),
                ],
                options: up(),
                want: &[
                    "recreate demo-vpn-1 (configuration changed) and start",
                    "recreate demo-app-1 (a service whose namespaces it joins is recreated) and start",
                    "keep running demo-other-1",
                ],
            },
            Case {
                name: "network_mode: service:vpn, vpn kept: app kept",
                services: vec![
                    svc("vpn", 1, "v1"),
                    DesiredService {
                        shares_with: vec!["vpn".into()],
                        ..svc("app", 1, "a1")
                    },
                ],
                observed: vec![ctr("app", 1, "a1", true), ctr("vpn", 1, "v1", true)],
                options: up(),
                want: &["keep running demo-vpn-1", "keep running demo-app-1"],
            },
            Case {
                name: "a changed dependency is recreated even when not named",
                services: vec![dependency(svc("db", 1, "d2")), svc("web", 1, "w1")],
                observed: vec![ctr("db", 1, "d1", true), ctr("web", 1, "w1", true)],
                options: up(),
                want: &[
                    "recreate demo-db-1 (configuration changed) and start",
                    "keep running demo-web-1",
                ],
            },
        ]);
    }

    #[test]
    fn targeted_services_take_the_flags_dependencies_the_deps_flag() {
        let o = ConvergeOptions::from_flags(true, false, true, false, false);
        assert_eq!(
            (o.recreate, o.recreate_dependencies),
            (Recreate::Force, Recreate::Force)
        );
        let o = ConvergeOptions::from_flags(false, true, true, false, false);
        assert_eq!(
            (o.recreate, o.recreate_dependencies),
            (Recreate::Never, Recreate::Never)
        );
        let o = ConvergeOptions::from_flags(false, false, true, false, false);
        assert_eq!(
            (o.recreate, o.recreate_dependencies),
            (Recreate::Diverged, Recreate::Force)
        );
        assert!(!ConvergeOptions::from_flags(false, false, false, false, true).start);
    }
}
