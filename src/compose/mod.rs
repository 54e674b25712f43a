//! Compose files → a typed, normalized [`types::Project`].
//!
//! The loader is a pipeline of small phases over a position-keeping YAML
//! tree ([`yaml::Node`]): parse → interpolate → include/extends/merge →
//! schema check → canonical long forms → value conversions → normalize →
//! typed decode.

pub mod canonical;
pub mod convert;
pub mod develop;
pub mod env;
pub mod error;
pub mod extends;
pub mod interpolate;
pub mod load;
pub mod merge;
pub mod normalize;
pub mod paths;
pub mod runtime_keys;
pub mod schema;
pub mod types;
pub mod yaml;

pub use error::LoadError;
