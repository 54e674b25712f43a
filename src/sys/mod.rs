//! Thin wrappers of Linux calls that std and nix lack, shared by the layers
//! that touch the file system directly (image unpacking, container rootfs).

pub mod atomic;
pub mod confined;
pub mod modes;
pub mod mountinfo;
pub mod netns_lock;
pub mod path_error;
pub mod pidfd;
pub mod xattr;
