//! Synthetic session journals, written a record at a time with a valid hash
//! chain, for the tests and benchmarks that need a big journal without
//! running a big session (memory bounds, replay, fold and verify speed).

use std::io::Write;
use std::path::Path;

use chrono::{DateTime, TimeZone, Utc};
use runsheet::journal::chain::{LineHash, encode_line};
use runsheet::journal::event::{
    Event, FORMAT_VERSION, Header, Mode, Observed, Outcome, Record, SessionOutcome, Signature, Stream,
};
use runsheet::runbook::model::{PhaseKind, Step, StepKind};
use runsheet::runbook::plan::{Plan, PlanPhase};

/// When every synthetic session starts.
pub fn start_time() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 3, 1, 9, 0, 0)
        .single()
        .expect("a valid time")
}

/// Milliseconds between two events (a sign-off comes after ten idle minutes).
pub const EVENT_GAP_MS: i64 = 2;
const SIGNOFF_GAP_MS: i64 = 600_000;

/// `phases` phases of `steps` steps; every fourth step manual, the last of
/// a phase a check, so a journal has starts, sign-offs and checks as well as
/// output.
pub fn plan(phases: usize, steps: usize) -> Plan {
    let phases = (1..=phases)
        .map(|p| PlanPhase {
            kind: PhaseKind::Execution,
            title: format!("Phase {p}"),
            steps: (1..=steps)
                .map(|s| {
                    let manual = s % 4 == 0;
                    let kind = if manual {
                        StepKind::Manual
                    } else {
                        StepKind::Shell {
                            script: format!("./migrate --phase {p} --step {s}"),
                        }
                    };
                    Step {
                        body: format!(
                            "Step {s} of phase {p}.\n\n```sh\n./migrate --phase {p} --step {s}\n```"
                        ),
                        verify: s == steps,
                        ..Step::new(format!("{p}.{s}"), format!("Step {s} of phase {p}"), kind)
                    }
                })
                .collect(),
            depth: 0,
            notes: Vec::new(),
        })
        .collect();
    Plan {
        runbook_title: "Synthetic session".into(),
        environment: "development".into(),
        phases,
        signoffs: 1,
        ..Plan::default()
    }
}

/// The header of a synthetic session of `plan`.
pub fn header(plan: &Plan) -> Header {
    Header {
        format: FORMAT_VERSION,
        session_id: "synthetic".into(),
        runbook_path: "/nonexistent/synthetic.md".into(),
        runbook_sha256: "0".repeat(64),
        environment: "development".into(),
        mode: Mode::Live,
        operator: "bench".into(),
        host: "bench".into(),
        seat: None,
        runsheet_version: env!("CARGO_PKG_VERSION").into(),
        targets: Vec::new(),
        only: None,
        rollback_only: false,
        plan: plan.clone(),
        team_journal: None,
    }
}

/// The events of a completed session of `plan` with about `output` output
/// events (one line each) shared among its automated steps, a few failed
/// first attempts, and every manual step signed. Handed to `emit` one at a
/// time, so nothing is held.
pub fn session_events(plan: &Plan, output: usize, mut emit: impl FnMut(Event)) {
    emit(Event::Header(Box::new(header(plan))));
    let automated = plan
        .steps()
        .filter(|s| !matches!(s.kind, StepKind::Manual))
        .count();
    let per_step = output / automated.max(1);
    for (n, step) in plan.steps().enumerate() {
        let id = step.id.clone();
        if matches!(step.kind, StepKind::Manual) {
            emit(Event::AwaitingSignOff { step: id.clone() });
            emit(Event::SignedOff {
                step: id,
                signature: Signature {
                    who: "bench".into(),
                    role: "DBA".into(),
                    note: "checked".into(),
                    preapproved: false,
                    seat: None,
                },
            });
            continue;
        }
        let attempts = if n % 7 == 3 { 2 } else { 1 };
        for attempt in 1..=attempts {
            emit(Event::StepStarted {
                step: id.clone(),
                attempt,
            });
            for i in 0..per_step / attempts as usize {
                emit(Event::Output {
                    step: id.clone(),
                    attempt,
                    stream: if i % 50 == 0 {
                        Stream::Stderr
                    } else {
                        Stream::Stdout
                    },
                    lines: vec![format!("INSERT 0 1 -- migrated row {i} of {id}")],
                });
            }
            if step.verify {
                emit(Event::Verification {
                    step: id.clone(),
                    attempt,
                    name: step.title.clone(),
                    passed: attempt == attempts,
                    observed: Observed::default(),
                });
            }
            emit(Event::StepFinished {
                step: id.clone(),
                attempt,
                outcome: if attempt == attempts {
                    Outcome::Succeeded
                } else {
                    Outcome::Failed
                },
                exit_code: Some(0),
                duration_ms: 60_000,
                error: None,
            });
        }
    }
    emit(Event::SessionEnded {
        outcome: SessionOutcome::Completed,
        reason: None,
    });
}

/// Gives events their seq, timestamp and hash, as the journal does.
pub struct Chain {
    seq: u64,
    ms: i64,
    prev: LineHash,
}

impl Default for Chain {
    fn default() -> Self {
        Chain {
            seq: 0,
            ms: 0,
            prev: LineHash::GENESIS,
        }
    }
}

impl Chain {
    /// The record of the next event, its line (with the newline) in `line`.
    pub fn encode(&mut self, event: Event, line: &mut Vec<u8>) -> Record {
        self.ms += if matches!(event, Event::SignedOff { .. }) {
            SIGNOFF_GAP_MS
        } else {
            EVENT_GAP_MS
        };
        let record = Record {
            seq: self.seq,
            ts: start_time() + chrono::Duration::milliseconds(self.ms),
            event,
            origin: None,
        };
        line.clear();
        self.prev = encode_line(&record, &self.prev, line).expect("encode a journal line");
        self.seq += 1;
        record
    }
}

/// Write the session of [`session_events`] to `path`; the number of records.
pub fn write_session(path: &Path, plan: &Plan, output: usize) -> usize {
    let file = std::fs::File::create(path).expect("create the journal");
    let mut out = std::io::BufWriter::with_capacity(1 << 20, file);
    let (mut chain, mut line, mut count) = (Chain::default(), Vec::new(), 0);
    session_events(plan, output, |event| {
        chain.encode(event, &mut line);
        out.write_all(&line).expect("write the journal");
        count += 1;
    });
    out.flush().expect("flush the journal");
    count
}

/// The records of the session of [`session_events`], in memory.
pub fn session_records(plan: &Plan, output: usize) -> Vec<Record> {
    let (mut chain, mut line, mut records) = (Chain::default(), Vec::new(), Vec::new());
    session_events(plan, output, |event| records.push(chain.encode(event, &mut line)));
    records
}
