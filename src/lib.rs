//! wharf: a daemonless, compose-first multi-container orchestrator.
//!
//! Data flows one way: `cli` (flags → settings and a target) → `compose`
//! (files → `Project`) → `plan` (service graph, container specs, converge
//! actions) → `exec` → `build` / `image` / `net` / `runtime` / `supervise`.
//! ARCHITECTURE.md, at the repository's root, has the layers, what may
//! import what (enforced by tests/architecture.rs), where state lives and
//! the life of a container from `up` to `down`.

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
