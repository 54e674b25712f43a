//! Supervision: the process that owns running containers (collects exit
//! codes, stores logs). Today one monitor per container; the per-project
//! supervisor of `up -d` builds on it.

pub mod attach;
pub mod control;
pub mod health;
pub mod logs;
pub mod monitor;
pub mod pty;
pub mod shim;
pub mod start;
