//! Runbooks: the model, the Markdown loader and its diagnostics.

pub mod check;
pub mod diagnostic;
pub mod duration;
mod fence;
mod frontmatter;
mod headings;
mod include;
pub(crate) mod inline;
pub mod loader;
mod markdown;
pub mod model;
pub mod plan;
mod prompts;
mod sections;
mod source;
mod steps;
