//! Folding a journal the way the front ends use the fold: after every
//! record, ask it everything they ask. Shared by the property tests and the
//! fuzz targets (which include this file by path), so a panic anywhere in
//! the fold or its queries shows. Uses nothing but the runsheet crate.

use runsheet::journal::event::Record;
use runsheet::session::SessionState;

/// Ask the fold everything the front ends ask it, so a panic anywhere in its
/// queries shows.
pub fn query(state: &SessionState) {
    let now = state.last_event;
    let _ = state.next();
    let _ = state.progress();
    let _ = state.elapsed(now);
    let _ = state.eta(now);
    let _ = state.verified_backups();
    let _ = state.operators();
    let _ = state.rolling_back();
    for (phase, _) in state.plan.phases.iter().enumerate() {
        let _ = state.phase_progress(phase);
        let _ = state.phase_timing(phase);
    }
    for step in state.active_steps() {
        let s = state.step(&step.id);
        let _ = (s.status(), s.signers(), s.attempts(), s.signoffs());
    }
}

/// Fold `records`, querying after every one: every prefix is folded.
pub fn fold_every_prefix(records: &[Record]) -> Option<SessionState> {
    let (first, rest) = records.split_first()?;
    let mut state = SessionState::new(first).ok()?;
    query(&state);
    for record in rest {
        state.apply(record);
        query(&state);
    }
    Some(state)
}

/// Write the report of `state` in every format, as `runsheet report` would.
pub fn report_every_format(state: &SessionState) {
    use runsheet::journal::reader::Integrity;
    use runsheet::report::{Report, html, json, markdown};
    let report = Report::new(state, &Integrity::Verified, &[]);
    let _ = (
        markdown::render(&report),
        html::render(&report, false),
        html::render(&report, true),
        json::render(&report),
    );
}
