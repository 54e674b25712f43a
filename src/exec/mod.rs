//! The executor: turns a loaded project into running containers (`up`) and
//! takes a project away again (`down`, `stop`, `start`, `rm`), driving the
//! layers below. Services are visited on the service graph's walker, each
//! as soon as the services it depends on are done — no level barriers.
//!
//! Everything `down`/`ps` needs is found through the containers' Compose
//! labels, so a project whose compose file changed or vanished is still
//! found whole (`down -p NAME`).
//!
//! `up` asks `plan::converge` what to do with each service's containers and
//! applies its actions (`up.rs`); the building blocks that act on one
//! container are in `containers.rs`, volumes and networks in
//! `resources.rs`, the verbs on existing containers in `lifecycle.rs` and
//! `down.rs`.

mod containers;
mod down;
mod env;
pub mod interrupt;
mod lifecycle;
mod resources;
mod up;
pub mod watch;

pub use containers::{create_container, remove_container};
pub use down::{down, images_to_remove, DownOptions, RemoveImages};
pub use env::{Env, ServiceHooks};
pub use lifecycle::{pause, restart, start, stop};
pub use up::{create_oneoff, up, UpOptions};

use crate::plan::container as pc;
use crate::runtime::container::{ContainerRecord, ContainerState, Containers, Status};
use crate::supervise::control;
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    #[error(transparent)]
    Container(#[from] crate::runtime::container::ContainerError),
    #[error(transparent)]
    Control(#[from] Box<control::ControlError>),
    #[error(transparent)]
    Volume(#[from] crate::runtime::volume::VolumeError),
    #[error(transparent)]
    Image(#[from] crate::image::store::StoreError),
    #[error(transparent)]
    Spec(#[from] pc::SpecError),
    #[error(transparent)]
    Graph(#[from] crate::plan::graph::GraphError),
    #[error("service {service:?}: image {image:?} is not in the image store (pull it first)")]
    MissingImage { service: String, image: String },
    /// A service that cannot go on, in Compose's words (a dependency that
    /// failed, a wait that timed out).
    #[error("service {service:?}: {message}")]
    Service { service: String, message: String },
    #[error("{verb}: no such service: {service}")]
    NoSuchService { verb: &'static str, service: String },
    #[error("service {service:?}")]
    CreateContainer {
        service: String,
        #[source]
        source: Box<control::ControlError>,
    },
    #[error("service {service:?}: starting {container}")]
    StartContainer {
        service: String,
        container: String,
        #[source]
        source: Box<control::ControlError>,
    },
    #[error(transparent)]
    Network(#[from] Box<crate::net::attach::AttachError>),
    #[error("network {0} declared as external, but could not be found")]
    ExternalNetwork(String),
    #[error("external volume {0:?} not found")]
    ExternalVolume(String),
    #[error("canceled")]
    Cancelled,
    /// Compose's words for a lifecycle hook that failed.
    #[error("{service} hook exited with status {code}")]
    Hook { service: String, code: i32 },
    #[error("running the hooks of {container}")]
    Subreaper {
        container: String,
        #[source]
        source: std::io::Error,
    },
    #[error("creating {}", path.display())]
    CreateDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Writing a `content:`/`environment:` secret or config into the
    /// container before its start.
    #[error("service {service:?}: writing {target} into {container}")]
    InjectFile {
        service: String,
        container: String,
        target: String,
        #[source]
        source: Box<crate::runtime::copy::CopyError>,
    },
    #[error("{service}: a worker panicked")]
    WorkerPanicked { service: String },
}

pub type Result<T> = std::result::Result<T, ExecError>;

impl From<crate::net::attach::AttachError> for ExecError {
    fn from(e: crate::net::attach::AttachError) -> Self {
        ExecError::Network(Box::new(e))
    }
}

impl From<crate::net::store::StoreError> for ExecError {
    fn from(e: crate::net::store::StoreError) -> Self {
        ExecError::Network(Box::new(e.into()))
    }
}

impl From<control::ControlError> for ExecError {
    fn from(e: control::ControlError) -> Self {
        ExecError::Control(Box::new(e))
    }
}

/// What kind of object a progress line is about (Compose's first word).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Container,
    Network,
    Volume,
    Image,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Container => "Container",
            Kind::Network => "Network",
            Kind::Volume => "Volume",
            Kind::Image => "Image",
        }
    }
}

/// Progress reaches the CLI through this, so the layers stay free of
/// terminal handling. `status` is Compose's word (`Creating`, `Started`…);
/// `done` says whether it is a final state for that object.
pub trait Progress: Sync {
    fn event(&self, kind: Kind, name: &str, status: &str, done: bool);
}

/// Progress that goes nowhere.
pub struct Silent;

impl Progress for Silent {
    fn event(&self, _: Kind, _: &str, _: &str, _: bool) {}
}

/// A container of a project, with its Compose labels read out.
#[derive(Clone, Debug)]
pub struct ProjectContainer {
    pub record: ContainerRecord,
    pub state: ContainerState,
    pub service: String,
    pub number: u32,
    pub oneoff: bool,
}

impl ProjectContainer {
    pub fn label(&self, key: &str) -> Option<&str> {
        self.record.spec.labels.get(key).map(String::as_str)
    }

    /// Up (paused counts: its processes exist), or between two runs of its
    /// restart policy (Docker lists all three as running).
    pub fn running(&self) -> bool {
        matches!(
            self.state.status,
            Status::Running | Status::Paused | Status::Restarting
        )
    }
}

/// Every container labelled with `project`, by service then number.
pub fn project_containers(containers: &Containers, project: &str) -> Result<Vec<ProjectContainer>> {
    let mut out = Vec::new();
    for record in containers.list_records()? {
        let labels = &record.spec.labels;
        if labels.get(pc::LABEL_PROJECT).map(String::as_str) != Some(project) {
            continue;
        }
        let state = containers.state(&record.id)?;
        out.push(ProjectContainer {
            service: labels.get(pc::LABEL_SERVICE).cloned().unwrap_or_default(),
            number: labels
                .get(pc::LABEL_NUMBER)
                .and_then(|n| n.parse().ok())
                .unwrap_or(0),
            oneoff: labels.get(pc::LABEL_ONEOFF).map(String::as_str) == Some("True"),
            record,
            state,
        });
    }
    out.sort_by(|a, b| {
        (&a.service, a.number, &a.record.name).cmp(&(&b.service, b.number, &b.record.name))
    });
    Ok(out)
}

/// Every project that has containers, with them.
pub fn projects(containers: &Containers) -> Result<BTreeMap<String, Vec<ProjectContainer>>> {
    let mut names = BTreeSet::new();
    for r in containers.list_records()? {
        if let Some(p) = r.spec.labels.get(pc::LABEL_PROJECT) {
            names.insert(p.clone());
        }
    }
    let mut out = BTreeMap::new();
    for n in names {
        let list = project_containers(containers, &n)?;
        out.insert(n, list);
    }
    Ok(out)
}

/// Where a project's compose files were, from its containers' labels.
pub fn project_origin(list: &[ProjectContainer]) -> Option<(PathBuf, Vec<PathBuf>)> {
    let c = list.first()?;
    let dir = PathBuf::from(c.label(pc::LABEL_WORKING_DIR)?);
    let files = c
        .label(pc::LABEL_CONFIG_FILES)
        .unwrap_or("")
        .split(',')
        .filter(|f| !f.is_empty())
        .map(PathBuf::from)
        .collect();
    Some((dir, files))
}

/// A container record with the labels `up` gives a service's replica.
#[cfg(test)]
pub(crate) mod testing {
    use super::*;
    use crate::runtime::spec::ContainerSpec;

    pub fn container(service: &str, image: &str, depends_on: &str) -> ProjectContainer {
        let mut spec = ContainerSpec::default();
        spec.labels
            .insert(pc::LABEL_DEPENDS_ON.into(), depends_on.into());
        ProjectContainer {
            record: ContainerRecord {
                id: format!("{service:0>64}"),
                name: format!("demo-{service}-1"),
                created: String::new(),
                image: image.into(),
                image_id: crate::image::digest::Digest::sha256_of(image.as_bytes()),
                spec,
                runtime: "builtin".into(),
                auto_remove: false,
            },
            state: ContainerState::default(),
            service: service.into(),
            number: 1,
            oneoff: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The CLI prints an error with its chain (`{:#}`): a wrapped failure
    /// reads as it did when it was flattened into a string, and the
    /// cause stays reachable.
    #[test]
    fn wrapped_errors_keep_their_cause_and_read_as_before() {
        let e = ExecError::StartContainer {
            service: "web".into(),
            container: "demo-web-1".into(),
            source: Box::new(control::ControlError::NotRunning("demo-web-1".into())),
        };
        let cause = std::error::Error::source(&e).map(|s| s.to_string());
        assert_eq!(
            cause.as_deref(),
            Some("Container demo-web-1 is not running")
        );
        assert_eq!(
            format!("{:#}", anyhow::Error::from(e)),
            "service \"web\": starting demo-web-1: Container demo-web-1 is not running"
        );
        let e = ExecError::CreateContainer {
            service: "web".into(),
            source: Box::new(control::ControlError::NoCommand),
        };
        assert_eq!(
            format!("{:#}", anyhow::Error::from(e)),
            "service \"web\": no command specified"
        );
    }
}
