//! The engine: runs steps and emits events.
