//! wharf: a daemonless, compose-first multi-container orchestrator.
//!
//! Data flows one way: `compose` (files → `Project`) → `plan` (service graph,
//! actions) → executor → image store / runtime / network. See DESIGN.md.

pub mod build;
pub mod cli;
pub mod compose;
pub mod convert;
pub mod exec;
pub mod image;
pub mod net;
pub mod plan;
pub mod runtime;
pub mod supervise;
pub mod sys;
pub mod time;
