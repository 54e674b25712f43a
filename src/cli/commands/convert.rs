//! `wharf convert`: the loaded project as Kubernetes manifests, a kustomize
//! directory or a Helm chart.

use crate::cli::args::convert::{ConvertArgs, ExposeArg, PullPolicyArg, ToArg};
use crate::cli::resolve::{print_warnings, Settings};
use crate::compose::load;
use crate::convert::{self, Expose, Options, PullPolicy, Target};
use anyhow::{bail, Context as _};
use std::io::Write as _;
use std::path::Path;
use std::process::ExitCode;

pub fn run(settings: &Settings, args: &ConvertArgs) -> anyhow::Result<ExitCode> {
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
    let mut opts = settings.load_options()?;
    opts.services = args.services.clone();
    let loaded = load::load(&opts).map_err(anyhow::Error::new)?;
    print_warnings(&loaded.warnings);

    if args.push {
        push_built_images(settings, &loaded)?;
    }

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

/// `--push`: builds the images of the services with a build section and
/// pushes them; each must name its image (`image:`), the name the cluster
/// pulls.
fn push_built_images(settings: &Settings, loaded: &load::Loaded) -> anyhow::Result<()> {
    let built: Vec<String> = loaded
        .project
        .services
        .iter()
        .filter(|(_, s)| s.build.is_some())
        .map(|(name, _)| name.clone())
        .collect();
    let unnamed: Vec<&str> = built
        .iter()
        .filter(|n| loaded.project.services[n.as_str()].image.is_none())
        .map(String::as_str)
        .collect();
    if !unnamed.is_empty() {
        bail!(
            "--push: {} build an image without `image:`; name the registry image each pushes to",
            unnamed.join(", ")
        );
    }
    if built.is_empty() {
        return Ok(());
    }
    let interrupts = super::common::catch_interrupts()?;
    let opts = super::compose_build::ComposeBuildOptions {
        push: true,
        ..Default::default()
    };
    super::compose_build::build_services(settings, loaded, &built, &opts, &|| {
        interrupts.load(std::sync::atomic::Ordering::SeqCst) > 0
    })?;
    Ok(())
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
