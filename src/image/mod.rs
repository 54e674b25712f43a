//! Images: references, registry client, content-addressed store, layer
//! unpacking. Never imports `compose` or `plan` (see DESIGN.md).

pub mod archive;
pub mod auth;
pub mod config;
pub mod digest;
pub mod platform;
pub mod pull;
pub mod push;
pub mod reference;
pub mod registry;
pub mod store;
pub mod tarsplit;
pub mod unpack;
