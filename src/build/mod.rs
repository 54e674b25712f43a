//! Image builds: Dockerfile frontend (parse, substitute, context, stage graph) and executor.

pub mod builder;
pub mod cache;
pub mod context;
pub mod dockerfile;
pub mod image;
pub mod layer;
pub mod progress;
pub mod stages;
pub mod step;
pub mod tree;
