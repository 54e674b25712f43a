//! Images: references, registry client, content-addressed store, layer
//! unpacking. Never imports `compose` or `plan` (see DESIGN.md).

pub mod digest;
pub mod unpack;
