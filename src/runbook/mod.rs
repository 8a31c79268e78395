//! Runbooks: the model, the Markdown loader and its diagnostics.

pub mod model;
pub mod plan;
pub mod check;
pub mod diagnostic;
pub mod duration;
mod fence;
mod frontmatter;
mod headings;
pub mod loader;
mod markdown;
mod source;
mod steps;
