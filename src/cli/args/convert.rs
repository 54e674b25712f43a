//! `wharf convert`: the compose project as Kubernetes manifests, a kustomize
//! directory or a Helm chart.

use clap::{ArgAction, Args, ValueEnum};
use std::path::PathBuf;

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum ToArg {
    Kubernetes,
    Kustomize,
    Helm,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum ExposeArg {
    Loadbalancer,
    Nodeport,
    None,
}

/// Kubernetes' own spelling, with the lower-case forms as aliases.
#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum PullPolicyArg {
    #[value(name = "Always", alias = "always")]
    Always,
    #[value(name = "IfNotPresent", alias = "if-not-present")]
    IfNotPresent,
    #[value(name = "Never", alias = "never")]
    Never,
}

#[derive(Args, Debug)]
pub struct ConvertArgs {
    /// Only these services (and what they depend on)
    pub services: Vec<String>,
    /// What to write
    #[arg(long, value_enum)]
    pub to: ToArg,
    /// Output directory, one file per resource (`-`: one stream on stdout,
    /// the default for --to kubernetes)
    #[arg(short, long, value_name = "DIR")]
    pub output: Option<PathBuf>,
    /// Namespace of every object (and a Namespace object for it)
    #[arg(long, value_name = "NAME")]
    pub namespace: Option<String>,
    /// imagePullPolicy of every container (default: from each service's pull_policy)
    #[arg(long, value_enum, value_name = "POLICY")]
    pub image_pull_policy: Option<PullPolicyArg>,
    /// How published ports reach the outside of the cluster
    #[arg(long, value_enum, default_value = "loadbalancer")]
    pub expose: ExposeArg,
    /// storageClassName of the PersistentVolumeClaims (default: the cluster's default class)
    #[arg(long, value_name = "CLASS")]
    pub storage_class: Option<String>,
    /// Storage each volume's claim requests
    #[arg(long, value_name = "QUANTITY", default_value = "1Gi")]
    pub volume_size: String,
    /// Replicas from scale/deploy.replicas (false: one per service)
    #[arg(long, action = ArgAction::Set, default_value_t = true, value_name = "BOOL")]
    pub replicas_from_deploy: bool,
    /// First build the images the stack builds and push them, so the
    /// manifests name images the cluster can pull
    #[arg(long)]
    pub push: bool,
    /// Fail when anything in the compose file cannot be converted
    #[arg(long)]
    pub strict: bool,
    /// Seconds an init container waits for a dependency
    #[arg(long, value_name = "SECONDS", default_value_t = 300)]
    pub wait_timeout: u64,
    /// Image (with sh, nc, nslookup and timeout) of the init containers that wait for a Service
    #[arg(long, value_name = "IMAGE")]
    pub wait_image: Option<String>,
    /// Image with kubectl, for the init containers that wait for a Job
    #[arg(long, value_name = "IMAGE")]
    pub kubectl_image: Option<String>,
}
