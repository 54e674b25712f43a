//! Image builds: Dockerfile frontend (parse, substitute, context, stage graph) and executor.

pub mod builder;
pub mod cache;
pub mod container;
pub mod context;
pub mod dockerfile;
pub mod export;
pub mod image;
pub mod layer;
pub mod progress;
pub mod stages;
pub mod step;
pub mod tree;

/// Parses `text`, expands every instruction (and RUN mount) with a made-up
/// lookup and plans the stages, dropping the results: the frontend's whole
/// pipeline on arbitrary input, for the fuzz target and the damaged-input
/// test. Whether `text` parsed.
#[doc(hidden)]
pub fn frontend_pipeline(text: &str) -> bool {
    use dockerfile::{expand_instruction, resolve_mount, Instruction};
    let Ok(dockerfile) = dockerfile::parse(text, "Dockerfile") else {
        return false;
    };
    let lookup = |name: &str| name.len().is_multiple_of(2).then(|| format!("v-{name}"));
    let escape = dockerfile.directives.escape;
    for stage in &dockerfile.stages {
        for located in &stage.instructions {
            let _ = expand_instruction(&located.value, escape, &lookup);
            if let Instruction::Run(run) = &located.value {
                for mount in &run.mounts {
                    let _ = resolve_mount(mount, escape, &lookup);
                }
            }
        }
    }
    let _ = stages::plan(&dockerfile, "Dockerfile", &stages::PlanOptions::default());
    true
}
