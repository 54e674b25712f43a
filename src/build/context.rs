//! The build context: `.dockerignore` filtering, walking, source resolution and hashing.
