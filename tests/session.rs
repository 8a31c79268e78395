//! The session fold: pure transitions from events to state, and what
//! `next()` says the session waits for.

use chrono::{DateTime, Duration, TimeZone, Utc};
use runsheet::journal::event::{
    Event, FORMAT_VERSION, Header, Mode, Observed, Outcome, Record, SessionOutcome, Signature,
};
use runsheet::runbook::model::{Estimate, PhaseKind, Step, StepKind};
use runsheet::runbook::plan::{Plan, PlanPhase};
use runsheet::session::{Next, SessionState, StepStatus};

fn step(id: &str, kind: StepKind) -> Step {
    Step::new(id, format!("Step {id}"), kind)
}

fn plan(signoffs: u32, confirm: bool) -> Plan {
    Plan {
        runbook_title: "T".into(),
        environment: "production".into(),
        phases: vec![PlanPhase {
            kind: PhaseKind::Execution,
            title: "Execution".into(),
            steps: vec![
                step(
                    "a",
                    StepKind::Shell {
                        script: "true".into(),
                    },
                ),
                step("b", StepKind::Manual),
                step(
                    "c",
                    StepKind::Sql {
                        sql: "select 1".into(),
                    },
                ),
            ],
            depth: 0,
            notes: Vec::new(),
        }],
        rollback: vec![step(
            "r",
            StepKind::Shell {
                script: "true".into(),
            },
        )],
        confirm,
        signoffs,
        min_backups: 0,
        estimate: Some(Estimate {
            min: std::time::Duration::from_secs(3600),
            max: std::time::Duration::from_secs(7200),
        }),
        ..Plan::default()
    }
}

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 24, 2, 0, 0)
        .single()
        .expect("valid time")
}

/// Fold `events` after a header, one second apart.
fn fold(plan: Plan, events: Vec<Event>) -> SessionState {
    let header = Header {
        format: FORMAT_VERSION,
        session_id: "s".into(),
        runbook_path: "r.md".into(),
        runbook_sha256: "00".into(),
        environment: "production".into(),
        mode: Mode::Live,
        operator: "ana".into(),
        host: "h".into(),
        seat: None,
        runsheet_version: "0".into(),
        targets: Vec::new(),
        only: None,
        rollback_only: false,
        plan,
        team_journal: None,
    };
    let records = std::iter::once(Event::Header(Box::new(header)))
        .chain(events)
        .enumerate()
        .map(|(i, event)| Record {
            seq: i as u64,
            ts: t0() + Duration::seconds(i as i64),
            event,
            origin: None,
        })
        .collect::<Vec<_>>();
    SessionState::from_records(&records).expect("fold")
}

fn finished(step: &str, outcome: Outcome) -> Event {
    Event::StepFinished {
        step: step.into(),
        attempt: 1,
        outcome,
        exit_code: Some(0),
        duration_ms: 10,
        error: None,
    }
}

fn sign(step: &str, who: &str) -> Event {
    Event::SignedOff {
        step: step.into(),
        signature: Signature {
            who: who.into(),
            role: "dba".into(),
            note: String::new(),
            preapproved: false,
            seat: None,
        },
    }
}

#[test]
fn a_fresh_session_starts_with_the_first_step() {
    let state = fold(plan(1, false), vec![]);
    assert!(matches!(state.next(), Next::Start(s) if s.id == "a"));
    assert_eq!(state.progress(), (0, 3));
}

#[test]
fn typed_confirmation_comes_before_the_first_state_changing_step() {
    let state = fold(plan(1, true), vec![]);
    assert!(matches!(state.next(), Next::Confirm(s) if s.id == "a"));
    let state = fold(
        plan(1, true),
        vec![Event::EnvironmentConfirmed { who: "ana".into() }],
    );
    assert!(matches!(state.next(), Next::Start(s) if s.id == "a"));
}

#[test]
fn a_manual_step_needs_as_many_distinct_names_as_the_plan_asks() {
    let base = vec![
        Event::StepStarted {
            step: "a".into(),
            attempt: 1,
        },
        finished("a", Outcome::Succeeded),
        Event::AwaitingSignOff { step: "b".into() },
        sign("b", "ana"),
    ];
    let state = fold(plan(2, false), base.clone());
    assert_eq!(state.step("b").status(), StepStatus::AwaitingSignOff);
    assert!(matches!(state.next(), Next::SignOff { step: s, signed: 1, needed: 2 } if s.id == "b"));
    let mut both = base;
    both.push(sign("b", "ben"));
    let state = fold(plan(2, false), both);
    assert_eq!(state.step("b").status(), StepStatus::SignedOff);
    assert!(matches!(state.next(), Next::Start(s) if s.id == "c"));
}

#[test]
fn a_failure_waits_for_a_decision_and_a_retry_is_a_new_attempt() {
    let state = fold(
        plan(1, false),
        vec![
            Event::StepStarted {
                step: "a".into(),
                attempt: 1,
            },
            finished("a", Outcome::Failed),
        ],
    );
    assert!(matches!(state.next(), Next::Decide(s) if s.id == "a"));
    let state = fold(
        plan(1, false),
        vec![
            Event::StepStarted {
                step: "a".into(),
                attempt: 1,
            },
            finished("a", Outcome::TimedOut),
            Event::StepStarted {
                step: "a".into(),
                attempt: 2,
            },
        ],
    );
    assert_eq!(state.step("a").status(), StepStatus::Running);
    assert_eq!(state.step("a").attempts().len(), 2);
    assert_eq!(state.step("a").attempts()[0].outcome, Some(Outcome::TimedOut));
}

#[test]
fn an_interrupted_step_is_marked_done_by_one_signature_or_skipped_with_a_reason() {
    let interrupted = vec![
        Event::StepStarted {
            step: "a".into(),
            attempt: 1,
        },
        Event::Resumed {
            operator: "ben".into(),
            host: "h".into(),
            seat: None,
            runbook_sha256: "00".into(),
            plan: None,
            run: false,
            taken_over_from: None,
            targets: None,
        },
        Event::StepInterrupted {
            step: "a".into(),
            attempt: 1,
        },
    ];
    let state = fold(plan(2, false), interrupted.clone());
    assert_eq!(state.step("a").status(), StepStatus::Interrupted);
    assert!(state.step("a").attempts()[0].interrupted);
    assert!(matches!(state.next(), Next::Decide(s) if s.id == "a"));
    assert_eq!(state.operators(), vec!["ana", "ben"]);

    let mut marked = interrupted.clone();
    marked.push(sign("a", "ben"));
    assert_eq!(
        fold(plan(2, false), marked).step("a").status(),
        StepStatus::SignedOff
    );

    let mut skipped = interrupted;
    skipped.push(Event::Skipped {
        step: "a".into(),
        who: "ben".into(),
        reason: "done by hand".into(),
    });
    let state = fold(plan(2, false), skipped);
    assert_eq!(state.step("a").status(), StepStatus::Skipped);
    assert_eq!(
        state
            .step("a")
            .get()
            .and_then(|s| s.skip.as_ref())
            .map(|s| s.reason.as_str()),
        Some("done by hand")
    );
}

#[test]
fn verification_results_output_tails_and_timings_are_kept() {
    let state = fold(
        plan(1, false),
        vec![
            Event::StepStarted {
                step: "a".into(),
                attempt: 1,
            },
            Event::Output {
                step: "a".into(),
                attempt: 1,
                stream: runsheet::journal::event::Stream::Stdout,
                lines: (0..100).map(|i| format!("line {i}")).collect(),
            },
            Event::Verification {
                step: "a".into(),
                attempt: 1,
                name: "check".into(),
                passed: false,
                observed: Observed {
                    columns: vec!["problem".into()],
                    rows: vec![vec!["x".into()]],
                    text: String::new(),
                },
            },
            finished("a", Outcome::Failed),
        ],
    );
    let a = state.step("a").get().expect("step state");
    assert_eq!(a.output_lines, 100);
    assert_eq!(a.tail.len(), runsheet::session::TAIL_LINES);
    assert_eq!(a.tail.back().map(|l| l.1.as_str()), Some("line 99"));
    assert_eq!(state.verifications.len(), 1);
    assert!(!state.verifications[0].passed);
    let (planned, actual) = state.phase_timing(0);
    assert_eq!(planned, Some(std::time::Duration::from_secs(7200)));
    assert_eq!(actual, Some(std::time::Duration::from_secs(3)));
}

#[test]
fn a_rollback_drives_the_rollback_steps_and_then_the_session_can_end() {
    let state = fold(
        plan(1, false),
        vec![Event::RollbackStarted {
            who: "ana".into(),
            reason: "broken".into(),
        }],
    );
    assert!(state.rolling_back());
    assert!(matches!(state.next(), Next::Start(s) if s.id == "r"));
    let state = fold(
        plan(1, false),
        vec![
            Event::RollbackStarted {
                who: "ana".into(),
                reason: "broken".into(),
            },
            Event::StepStarted {
                step: "r".into(),
                attempt: 1,
            },
            finished("r", Outcome::Succeeded),
        ],
    );
    assert!(matches!(state.next(), Next::AllDone));
    let state = fold(
        plan(1, false),
        vec![
            Event::RollbackStarted {
                who: "ana".into(),
                reason: "broken".into(),
            },
            Event::RollbackFinished {
                outcome: SessionOutcome::Completed,
            },
            Event::SessionEnded {
                outcome: SessionOutcome::RolledBack,
                reason: None,
            },
        ],
    );
    assert!(matches!(state.next(), Next::Ended));
    assert!(!state.rolling_back());
}

#[test]
fn folding_is_deterministic() {
    let events = vec![
        Event::StepStarted {
            step: "a".into(),
            attempt: 1,
        },
        finished("a", Outcome::Succeeded),
        Event::Note {
            who: "ana".into(),
            text: "all quiet".into(),
        },
    ];
    let one = fold(plan(1, false), events.clone());
    let two = fold(plan(1, false), events);
    assert_eq!(one.steps, two.steps);
    assert_eq!(one.notes, two.notes);
    assert_eq!(one.last_seq, 3);
}
