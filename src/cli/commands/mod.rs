//! The commands, one file per verb family. Each takes the resolved
//! `Settings`, the `Target` when it can work on a compose project, and its
//! own flags.

pub mod attach;
pub mod build;
pub mod common;
pub mod compose_build;
pub mod config;
pub mod container_fs;
pub mod convert;
pub mod cp;
pub mod events;
pub mod exec;
pub mod image;
pub mod info;
pub mod inspect;
pub mod lifecycle;
pub mod logs;
pub mod menu;
pub mod monitor;
pub mod network;
pub mod project;
pub mod prune;
pub mod ps;
pub mod run;
pub mod up;
pub mod volume;
pub mod watch;
