//! Runbooks: the model, the Markdown loader and its diagnostics.

pub mod check;
pub mod diagnostic;
pub mod duration;
mod fence;
mod frontmatter;
mod headings;
pub mod loader;
mod markdown;
pub mod model;
pub mod plan;
mod source;
mod steps;
