//! The journal: an append-only, hash-chained JSONL log of a session's events.

pub mod event;
