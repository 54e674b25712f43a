//! `wharf convert`: the loaded compose project as Kubernetes manifests, with
//! the stack's semantics kept where Kubernetes has a way to say them
//! (`depends_on` conditions as init containers, healthchecks as probes,
//! one-shots as Jobs, networks as NetworkPolicies), and a warning naming
//! file, line and key for everything it has not.
//!
//! Reads only the compose model (and `plan` for the service graph): no
//! daemon, no cluster, no image store. [`convert`] builds the resources;
//! [`Conversion::render`] lays them out for a target (one stream, a
//! kustomize directory or a Helm chart).

mod kube;
pub mod names;
mod render;
pub mod yaml;

use crate::compose::load::Loaded;
use crate::plan::graph::GraphError;
use serde_json::Value;
use std::fmt;
use std::path::PathBuf;

pub use render::RenderedFile;

/// What to write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// Plain manifests: one multi-document stream, or one file per resource.
    Kubernetes,
    /// Manifests plus a `kustomization.yaml` that lists them.
    Kustomize,
    /// A Helm chart: `Chart.yaml`, `values.yaml` (images, replicas, pull
    /// policies) and the manifests as templates.
    Helm,
}

impl Target {
    pub fn name(self) -> &'static str {
        match self {
            Target::Kubernetes => "kubernetes",
            Target::Kustomize => "kustomize",
            Target::Helm => "helm",
        }
    }
}

/// How published ports (`ports:` with a host port) reach the cluster's outside.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expose {
    LoadBalancer,
    NodePort,
    /// Published ports stay inside the cluster (the service's own Service only).
    None,
}

/// `imagePullPolicy` for every container, overriding each service's `pull_policy`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PullPolicy {
    Always,
    IfNotPresent,
    Never,
}

impl PullPolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            PullPolicy::Always => "Always",
            PullPolicy::IfNotPresent => "IfNotPresent",
            PullPolicy::Never => "Never",
        }
    }
}

/// Everything `wharf convert` was asked for, already parsed.
#[derive(Clone, Debug)]
pub struct Options {
    pub target: Target,
    pub namespace: Option<String>,
    pub image_pull_policy: Option<PullPolicy>,
    pub expose: Expose,
    pub storage_class: Option<String>,
    /// Size requested by each PersistentVolumeClaim (compose volumes have none).
    pub volume_size: String,
    /// Replicas from `scale`/`deploy.replicas` (else 1 for every service).
    pub replicas_from_deploy: bool,
    /// Refuse the conversion when anything cannot be converted.
    pub strict: bool,
    /// Image of the init containers that wait for a dependency's Service.
    pub wait_image: String,
    /// Image with `kubectl`, for init containers that wait for a Job.
    pub kubectl_image: String,
    /// How long an init container waits for its dependency.
    pub wait_timeout_secs: u64,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            target: Target::Kubernetes,
            namespace: None,
            image_pull_policy: None,
            expose: Expose::LoadBalancer,
            storage_class: None,
            volume_size: "1Gi".into(),
            replicas_from_deploy: true,
            strict: false,
            wait_image: "busybox:1.37".into(),
            kubectl_image: "registry.k8s.io/kubectl:v1.34.1".into(),
            wait_timeout_secs: 300,
        }
    }
}

/// Something in the compose file that the manifests do not carry, or carry
/// differently enough that the user must know.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Warning {
    /// `file:line` of the key (just `file`, or empty, when unknown).
    pub location: String,
    /// The key's path, `services.web.volumes[0]`.
    pub key: String,
    pub message: String,
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.location.is_empty() {
            write!(f, "{}: ", self.location)?;
        }
        write!(f, "{}: {}", self.key, self.message)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConvertError {
    #[error("{source}")]
    Graph {
        #[source]
        source: GraphError,
    },
    /// Two compose names that become the same Kubernetes name.
    #[error("{kind} names {first:?} and {second:?} both become {name:?} in Kubernetes; rename one of them")]
    NameCollision {
        kind: &'static str,
        name: String,
        first: String,
        second: String,
    },
    /// A compose name with nothing left to build a DNS-1123 name from.
    #[error("{location}: {key}: {what} name {name:?} has no letters or digits to make a Kubernetes (DNS-1123) name from")]
    UnusableName {
        location: String,
        key: String,
        what: &'static str,
        name: String,
    },
    /// Two generated objects of one kind with one name.
    #[error("two {kind} objects would be named {name:?} (from {first} and {second}); rename one of the compose entries")]
    DuplicateObject {
        kind: String,
        name: String,
        first: String,
        second: String,
    },
    #[error("{key}: reading {}: {source}", path.display())]
    ReadFile {
        key: String,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("--namespace {0:?} is not a valid namespace name (a DNS-1123 label: lower-case letters, digits and '-')")]
    InvalidNamespace(String),
    #[error("--volume-size {0:?} is not a Kubernetes quantity (e.g. 1Gi, 500Mi)")]
    InvalidVolumeSize(String),
    #[error("{} cannot be converted (--strict):\n{}", plural(.warnings.len()), list(.warnings))]
    Strict { warnings: Vec<Warning> },
}

fn plural(n: usize) -> String {
    if n == 1 {
        "1 key".into()
    } else {
        format!("{n} keys")
    }
}

fn list(warnings: &[Warning]) -> String {
    warnings
        .iter()
        .map(|w| format!("  {w}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// One generated object.
#[derive(Clone, Debug, PartialEq)]
pub struct Resource {
    pub kind: &'static str,
    pub name: String,
    /// What made it (`services.web`), for collision messages.
    pub origin: String,
    /// Comment lines written above the object: choices a reader should know.
    pub comments: Vec<String>,
    pub manifest: Value,
    /// Fields a Helm chart takes from its values: JSON pointer into the
    /// manifest → (service, values key).
    pub templated: Vec<Templated>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Templated {
    pub pointer: String,
    pub service: String,
    pub key: &'static str,
}

/// The converted project.
#[derive(Clone, Debug)]
pub struct Conversion {
    pub project: String,
    /// In apply order: namespace, access, data, storage, network, workloads.
    pub resources: Vec<Resource>,
    pub warnings: Vec<Warning>,
    /// Compose names changed to be valid Kubernetes names: (key, from, to).
    pub renamed: Vec<(String, String, String)>,
    /// Values a Helm chart exposes, per service: image, replicas, pull policy.
    pub values: Value,
    pub options: Options,
}

/// Converts the loaded project (all its services; select them with the
/// loader's `services` option).
pub fn convert(loaded: &Loaded, options: &Options) -> Result<Conversion, ConvertError> {
    let conversion = kube::convert(loaded, options)?;
    if options.strict && !conversion.warnings.is_empty() {
        return Err(ConvertError::Strict {
            warnings: conversion.warnings,
        });
    }
    Ok(conversion)
}

impl Conversion {
    /// The files of the chosen target, relative to the output directory.
    pub fn render(&self) -> Vec<RenderedFile> {
        render::files(self)
    }

    /// Every resource in one multi-document YAML stream.
    pub fn stream(&self) -> String {
        render::stream(self)
    }
}
