//! The container runtime: a [`spec::ContainerSpec`] plus an image become an
//! OCI bundle (an overlayfs rootfs and a `config.json`), which an OCI runtime
//! runs: the built-in one (libcontainer, in a single-threaded re-exec of
//! wharf) or an installed `crun`/`runc`, driven through the same CLI.

pub mod apparmor;
pub mod bundle;
pub mod cdi;
pub mod cgroup_update;
pub mod cgroups;
pub mod container;
pub mod copy;
pub mod etc;
pub mod events;
pub mod init;
pub mod log_forward;
pub mod native;
pub mod oci_cli;
pub mod rootfs;
pub mod sealed;
pub mod seccomp;
pub mod spec;
pub mod sync;
pub mod user;
pub mod volume;
