//! Feeds arbitrary text to the Dockerfile parser, then expands every
//! instruction and plans the stages: any input must give a result or an
//! error, never a panic or a hang.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wharf::build::dockerfile::{expand_instruction, parse, resolve_mount, Instruction};
use wharf::build::stages::{plan, PlanOptions};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(dockerfile) = parse(text, "Dockerfile") else {
        return;
    };
    let escape = dockerfile.directives.escape;
    let lookup = |name: &str| name.len().is_multiple_of(2).then(|| format!("v-{name}"));
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
    let _ = plan(&dockerfile, "Dockerfile", &PlanOptions::default());
});
