//! Which images must be pulled: before `up`/`run` (the `--pull` policy and
//! each service's `pull_policy`), and for `pull` without arguments (each
//! distinct image once, as `docker compose pull` decides). Pure decisions:
//! the caller says which images the store already has and does the pulling.

use crate::compose::types::Project;

/// `up --pull`: always, missing (the default) or never.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PullPolicy {
    Always,
    Missing,
    Never,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum PullPlanError {
    #[error(transparent)]
    Spec(#[from] crate::plan::container::SpecError),
    #[error("service {service:?}: image {image:?} is not in the store and there is no image to pull (build it: `wharf build {service}`, or `up` without --no-build)")]
    MustBuild { service: String, image: String },
}

/// One selected service as the pull decision sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceImage {
    pub service: String,
    /// The image the service's containers run (`image:`, else the name a
    /// build would give it).
    pub image: String,
    /// The `image:` key as written, when there is one (what can be pulled).
    pub declared: Option<String>,
    /// The service's `pull_policy`.
    pub policy: Option<String>,
    /// The service's `platform` (`linux/arm64`), pulled instead of the host's.
    pub platform: Option<String>,
}

/// The images of the `selected` services, in that order.
pub fn service_images(
    project: &Project,
    selected: &[String],
) -> Result<Vec<ServiceImage>, PullPlanError> {
    let mut out = Vec::new();
    for name in selected {
        let Some(svc) = project.services.get(name) else {
            continue;
        };
        out.push(ServiceImage {
            service: name.clone(),
            image: crate::plan::container::image_name(project, svc)?,
            declared: svc.image.clone(),
            policy: svc.pull_policy.clone(),
            platform: svc.platform.clone().filter(|p| !p.is_empty()),
        });
    }
    Ok(out)
}

/// A pull to do before `up`: which service asks for it and the reference
/// to pull (`image`), shown as the service declared it (`declared`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UpPull {
    pub service: String,
    pub image: String,
    pub declared: String,
    /// The platform to pull, when the service names one.
    pub platform: Option<String>,
}

/// Before `up`/`run`: the pulls `policy` and each service's `pull_policy`
/// ask for, each declared image once. `present` says whether the store
/// has an image. A service with no image to pull and none stored cannot
/// start.
pub fn pulls_for_up(
    services: &[ServiceImage],
    policy: PullPolicy,
    present: &dyn Fn(&str) -> bool,
) -> Result<Vec<UpPull>, PullPlanError> {
    let mut jobs: Vec<UpPull> = Vec::new();
    for s in services {
        let present = present(&s.image);
        let declared = s.declared.is_some();
        let pull = match (policy, s.policy.as_deref()) {
            // `build`: the image comes from the service's build, never a registry.
            (PullPolicy::Never, _) | (_, Some("never" | "build")) => false,
            (PullPolicy::Always, _) | (_, Some("always")) => declared,
            _ => !present && declared,
        };
        if !present && (!declared || s.policy.as_deref() == Some("build")) {
            return Err(PullPlanError::MustBuild {
                service: s.service.clone(),
                image: s.image.clone(),
            });
        }
        if !pull || jobs.iter().any(|j| j.declared == s.image) {
            continue;
        }
        jobs.push(UpPull {
            service: s.service.clone(),
            image: s.image.clone(),
            declared: s.declared.clone().unwrap_or_default(),
            platform: s.platform.clone(),
        });
    }
    Ok(jobs)
}

/// What `pull` does with one service of a project, decided before pulling.
#[derive(Debug, PartialEq, Eq)]
pub enum ServicePull {
    /// Pull this image.
    Pull(String),
    /// Another service pulls the same image.
    SameAs(String),
    /// `Skipped…` as Compose says it.
    Skip(&'static str),
}

/// Per service (in file order): pull, leave to the service that pulls the
/// same image, or skip (no image; `pull_policy: build` or `never`), as
/// `docker compose pull` decides.
pub fn pulls_for_project<'a>(
    services: impl Iterator<Item = (&'a str, Option<&'a str>, Option<&'a str>)>,
) -> Vec<(String, ServicePull)> {
    let mut pulled_by: std::collections::HashMap<&str, &str> = std::collections::HashMap::new();
    let mut out = Vec::new();
    for (name, image, policy) in services {
        let what = match (image, policy) {
            (None, _) => ServicePull::Skip("Skipped - No image to be pulled"),
            (Some(_), Some("build" | "never")) => ServicePull::Skip("Skipped"),
            (Some(image), _) => match pulled_by.get(image) {
                Some(other) => ServicePull::SameAs(other.to_string()),
                None => {
                    pulled_by.insert(image, name);
                    ServicePull::Pull(image.to_string())
                }
            },
        };
        out.push((name.to_string(), what));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn project_pull_plan_skips_like_compose() {
        let plan = pulls_for_project(
            [
                ("web", Some("busybox"), None),
                ("worker", Some("busybox"), Some("always")),
                ("app", Some("app:dev"), Some("build")),
                ("local", Some("local:1"), Some("never")),
                ("built", None, None),
                ("db", Some("postgres"), Some("missing")),
            ]
            .into_iter(),
        );
        assert_eq!(
            plan,
            vec![
                ("web".to_string(), ServicePull::Pull("busybox".into())),
                ("worker".to_string(), ServicePull::SameAs("web".into())),
                ("app".to_string(), ServicePull::Skip("Skipped")),
                ("local".to_string(), ServicePull::Skip("Skipped")),
                (
                    "built".to_string(),
                    ServicePull::Skip("Skipped - No image to be pulled")
                ),
                ("db".to_string(), ServicePull::Pull("postgres".into())),
            ]
        );
    }

    fn svc(service: &str, image: &str, declared: bool, policy: Option<&str>) -> ServiceImage {
        ServiceImage {
            service: service.into(),
            image: image.into(),
            declared: declared.then(|| image.to_string()),
            policy: policy.map(str::to_string),
            platform: None,
        }
    }

    fn pulled(jobs: &[UpPull]) -> Vec<&str> {
        jobs.iter().map(|j| j.service.as_str()).collect()
    }

    #[test]
    fn up_pulls_what_the_policies_ask_for() {
        let services = [
            svc("web", "busybox", true, None),
            svc("worker", "busybox", true, None),
            svc("db", "postgres", true, Some("always")),
            svc("cache", "redis", true, Some("never")),
            svc("app", "demo-app", false, Some("build")),
        ];
        let stored = |i: &str| matches!(i, "postgres" | "redis" | "demo-app");
        let none = |_: &str| false;
        let all = |_: &str| true;
        let missing = pulls_for_up(&services, PullPolicy::Missing, &stored).expect("missing");
        // busybox once (web asks first), postgres because its policy says always.
        assert_eq!(pulled(&missing), ["web", "db"]);
        let always = pulls_for_up(&services, PullPolicy::Always, &all).expect("always");
        assert_eq!(
            pulled(&always),
            ["web", "db"],
            "never and build are not pulled"
        );
        let never = pulls_for_up(&services[..4], PullPolicy::Never, &none).expect("never");
        assert!(never.is_empty());
        let everything_stored = pulls_for_up(&services, PullPolicy::Missing, &all).expect("all");
        assert_eq!(pulled(&everything_stored), ["db"]);
    }

    #[test]
    fn pull_policy_build_never_pulls_its_declared_image() {
        let services = [svc("app", "example/app:1", true, Some("build"))];
        for policy in [PullPolicy::Missing, PullPolicy::Always] {
            assert_eq!(pulls_for_up(&services, policy, &|_| true), Ok(Vec::new()));
        }
        assert_eq!(
            pulls_for_up(&services, PullPolicy::Missing, &|_| false),
            Err(PullPlanError::MustBuild {
                service: "app".into(),
                image: "example/app:1".into()
            })
        );
    }

    #[test]
    fn up_refuses_a_service_to_build_that_is_not_stored() {
        let services = [svc("app", "demo-app", false, None)];
        assert_eq!(
            pulls_for_up(&services, PullPolicy::Missing, &|_| false),
            Err(PullPlanError::MustBuild {
                service: "app".into(),
                image: "demo-app".into()
            })
        );
        assert_eq!(
            pulls_for_up(&services, PullPolicy::Missing, &|_| true),
            Ok(Vec::new())
        );
    }
}
