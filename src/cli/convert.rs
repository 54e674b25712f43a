//! `wharf convert`: the compose project as Kubernetes manifests, a kustomize
//! directory or a Helm chart.

use super::{print_warnings, GlobalArgs};
use crate::compose::load;
use crate::convert::{self, Expose, Options, PullPolicy, Target};
use anyhow::{bail, Context as _};
use clap::{ArgAction, Args, ValueEnum};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

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

pub fn run(global: &GlobalArgs, args: &ConvertArgs) -> anyhow::Result<ExitCode> {
    let target = match args.to {
        ToArg::Kubernetes => Target::Kubernetes,
        ToArg::Kustomize => Target::Kustomize,
        ToArg::Helm => Target::Helm,
    };
    let to_stdout = match &args.output {
        None => target == Target::Kubernetes,
        Some(p) => p.as_os_str() == "-",
    };
    if target != Target::Kubernetes && (to_stdout || args.output.is_none()) {
        bail!("--to {} writes a directory: give -o DIR", target.name());
    }
    if target == Target::Helm && args.namespace.is_some() {
        bail!(
            "--namespace does not apply to --to helm: the release's namespace is helm install's -n"
        );
    }
    // Refuse before loading, so a bad -o costs nothing and leaves nothing.
    if let Some(dir) = args.output.as_deref().filter(|_| !to_stdout) {
        check_output_dir(dir)?;
    }
    let mut opts = global.load_options()?;
    opts.services = args.services.clone();
    let loaded = load::load(&opts).map_err(anyhow::Error::new)?;
    print_warnings(&loaded.warnings);

    let defaults = Options::default();
    let options = Options {
        target,
        namespace: args.namespace.clone(),
        image_pull_policy: args.image_pull_policy.map(|p| match p {
            PullPolicyArg::Always => PullPolicy::Always,
            PullPolicyArg::IfNotPresent => PullPolicy::IfNotPresent,
            PullPolicyArg::Never => PullPolicy::Never,
        }),
        expose: match args.expose {
            ExposeArg::Loadbalancer => Expose::LoadBalancer,
            ExposeArg::Nodeport => Expose::NodePort,
            ExposeArg::None => Expose::None,
        },
        storage_class: args.storage_class.clone(),
        volume_size: args.volume_size.clone(),
        replicas_from_deploy: args.replicas_from_deploy,
        strict: args.strict,
        wait_timeout_secs: args.wait_timeout,
        wait_image: args.wait_image.clone().unwrap_or(defaults.wait_image),
        kubectl_image: args.kubectl_image.clone().unwrap_or(defaults.kubectl_image),
    };
    let conversion = convert::convert(&loaded, &options).map_err(anyhow::Error::new)?;
    let warnings: Vec<String> = conversion
        .warnings
        .iter()
        .map(ToString::to_string)
        .collect();
    print_warnings(&warnings);

    if to_stdout {
        let mut stdout = std::io::stdout().lock();
        stdout
            .write_all(conversion.stream().as_bytes())
            .context("writing to stdout")?;
        return Ok(ExitCode::SUCCESS);
    }
    let dir = args.output.clone().unwrap_or_default();
    let files = conversion.render();
    write_dir(&dir, &files)?;
    eprintln!(
        "wrote {} files for {} to {}",
        files.len(),
        target.name(),
        dir.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// The output directory must not exist yet, or be empty: converting again
/// into a directory with older files would mix two conversions.
fn check_output_dir(dir: &Path) -> anyhow::Result<()> {
    match std::fs::read_dir(dir) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                bail!(
                    "-o {}: the directory is not empty; remove it or choose another",
                    dir.display()
                );
            }
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e).with_context(|| format!("-o {}", dir.display())),
    }
}

/// Writes every file, or (on failure) removes what it wrote.
fn write_dir(dir: &Path, files: &[convert::RenderedFile]) -> anyhow::Result<()> {
    let existed = dir.exists();
    let result = (|| -> anyhow::Result<()> {
        for file in files {
            let path = dir.join(&file.path);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)
                    .with_context(|| format!("creating {}", parent.display()))?;
            }
            std::fs::write(&path, file.content.as_bytes())
                .with_context(|| format!("writing {}", path.display()))?;
        }
        Ok(())
    })();
    if result.is_err() {
        if existed {
            for file in files {
                let _ = std::fs::remove_file(dir.join(&file.path));
            }
            let _ = std::fs::remove_dir(dir.join("templates"));
        } else {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
    result
}
