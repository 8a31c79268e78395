//! Runbooks: the model, the Markdown loader and its diagnostics.

pub mod model;
pub mod plan;
