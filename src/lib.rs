//! runsheet: a full-screen terminal runbook runner.
//!
//! A Markdown deployment plan ([`runbook`]) becomes a session whose every
//! event lands in a hash-chained [`journal`]; the session's state is a pure
//! fold over those events ([`session`]). The [`engine`] runs steps and emits
//! events; front ends (headless, the TUI, replay, report) only read the fold.

pub mod cli;
pub mod connect;
pub mod control;
pub mod demo;
pub mod engine;
pub mod exit;
pub mod frontend;
pub mod gates;
pub mod headless;
pub mod journal;
pub mod launch;
pub mod notify;
pub mod remote;
pub mod replay;
pub mod report;
pub mod runbook;
pub mod seat;
pub mod secrets;
pub mod session;
pub mod signals;
pub mod sql_split;
pub mod team;
pub mod text;
pub mod ui;
pub mod watch;
