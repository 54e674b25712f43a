//! The stage graph: dependencies between stages, `--target` pruning, build order.
