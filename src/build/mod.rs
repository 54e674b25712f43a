//! Image builds: Dockerfile frontend (parse, substitute, context, stage graph) and executor.

pub mod context;
pub mod dockerfile;
pub mod stages;
