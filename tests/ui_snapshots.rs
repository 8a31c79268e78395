//! The TUI without a terminal: screens drawn on ratatui's `TestBackend`
//! from states built by folding hand-made journal records (snapshots with
//! insta), the pure `update` transitions, and the driver loop run against a
//! fake engine.

use std::path::PathBuf;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use crossterm::event::{Event as TermEvent, KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::style::Color;
use runsheet::journal::event::ShellState;
use runsheet::journal::event::{
    Event, FORMAT_VERSION, Header, Mode, Observed, Outcome, Record, Signature, Stream,
};
use runsheet::journal::postgres::ReplicaStatus;
use runsheet::runbook::model::{Estimate, Gate, PhaseKind, Step, StepKind};
use runsheet::runbook::plan::{Plan, PlanPhase};
use runsheet::seat::Seat;
use runsheet::session::{ChoiceKind, SessionState, choices};
use runsheet::session::{Command, Refusal, Update};
use runsheet::ui::{
    App, AppSetup, Channels, Effect, LOG_WINDOW, Modal, Msg, Pane, QueryKind, Reference, RowKey, SignOffKind,
    Theme, drive, view,
};
use tokio::sync::mpsc;

// ---------------------------------------------------------------------------
// Fixtures: a small plan and a journal written by hand.

fn step(id: &str, title: &str, kind: StepKind, verify: bool) -> Step {
    let body = match &kind {
        StepKind::Manual => format!("{title}.\n\n- check it *carefully*\n- write down who was told"),
        StepKind::Shell { script } => format!("{title}:\n\n```sh\n{script}\n```"),
        StepKind::Sql { sql } => format!("{title}:\n\n```sql\n{sql}\n```"),
        StepKind::Gate { .. } => "A completed, successful, live session in **staging** first.".to_string(),
    };
    Step {
        body,
        verify,
        ..Step::new(id, title, kind)
    }
}

fn shell(script: &str) -> StepKind {
    StepKind::Shell {
        script: script.to_string(),
    }
}

fn sql(text: &str) -> StepKind {
    StepKind::Sql {
        sql: text.to_string(),
    }
}

fn phase(kind: PhaseKind, title: &str, steps: Vec<Step>) -> PlanPhase {
    PlanPhase {
        kind,
        title: title.to_string(),
        steps,
        depth: 0,
        notes: Vec::new(),
    }
}

/// The shared prerequisites; production also has a promotion gate.
fn prerequisites(production: bool) -> Vec<Step> {
    let mut steps = vec![step(
        "prerequisites.1",
        "Rollback plan reviewed",
        StepKind::Manual,
        false,
    )];
    if production {
        let gate = Gate::Session {
            environment: "staging".into(),
            rollback: false,
        };
        steps.push(step(
            "gate.requires.staging",
            "Gate: staging went well",
            StepKind::Gate { gate },
            false,
        ));
    }
    steps
}

/// The CryoProtect-like plan of one environment.
fn plan(environment: &str) -> Plan {
    let production = environment == "production";
    Plan {
        runbook_title: "CryoProtect v2 - Database Remediation".to_string(),
        environment: environment.to_string(),
        phases: vec![
            phase(
                PhaseKind::Prerequisites,
                "Prerequisites for All Environments",
                prerequisites(production),
            ),
            phase(
                PhaseKind::Preparation,
                "Preparation",
                vec![
                    step("prep.notify", "Notify the developers", StepKind::Manual, false),
                    step(
                        "prep.backup",
                        "Back up the database",
                        shell("pg_dump \"$RUNSHEET_DATABASE_URL\" > backup.sql"),
                        false,
                    ),
                ],
            ),
            phase(
                PhaseKind::Execution,
                "Execution",
                vec![
                    step(
                        "exec.rls",
                        "Phase 1: enable row-level security",
                        sql("ALTER TABLE molecule ENABLE ROW LEVEL SECURITY;"),
                        false,
                    ),
                    step(
                        "exec.rename",
                        "Phase 2: plural table names",
                        sql("ALTER TABLE molecule RENAME TO molecules;"),
                        false,
                    ),
                ],
            ),
            phase(
                PhaseKind::Validation,
                "Validation",
                vec![
                    step(
                        "check.rls",
                        "Every table has row-level security",
                        sql(
                            "SELECT relname, relrowsecurity FROM pg_class WHERE relkind = 'r' AND NOT relrowsecurity;",
                        ),
                        true,
                    ),
                    step(
                        "check.smoke",
                        "API smoke test",
                        shell("curl -fsS localhost:8080/health"),
                        true,
                    ),
                ],
            ),
            phase(
                PhaseKind::PostDeployment,
                "Post-Deployment",
                vec![step(
                    "post.announce",
                    "Announce the new schema",
                    StepKind::Manual,
                    false,
                )],
            ),
        ],
        rollback: vec![
            step(
                "rollback.1",
                "Restore the pre-remediation backup",
                shell("psql < backup.sql"),
                false,
            ),
            step("rollback.2", "Restart the API servers", StepKind::Manual, false),
        ],
        confirm: production,
        signoffs: if production { 2 } else { 1 },
        min_backups: 0,
        estimate: Some(if production {
            Estimate {
                min: Duration::from_secs(6 * 3600),
                max: Duration::from_secs(8 * 3600),
            }
        } else {
            Estimate {
                min: Duration::from_secs(3600),
                max: Duration::from_secs(2 * 3600),
            }
        }),
        ..Plan::default()
    }
}

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 3, 1, 9, 0, 0)
        .single()
        .expect("a valid time")
}

/// A journal being written by hand: each event `secs` after the start.
struct Journal {
    records: Vec<Record>,
}

impl Journal {
    fn new(environment: &str, mode: Mode) -> Journal {
        let header = Header {
            format: FORMAT_VERSION,
            session_id: "20250301-090000-a1b2".to_string(),
            runbook_path: "/srv/runbooks/cryoprotect.md".to_string(),
            runbook_sha256: "0".repeat(64),
            environment: environment.to_string(),
            mode,
            operator: "alice".to_string(),
            host: "ops-laptop".to_string(),
            seat: None,
            runsheet_version: "0.1.0".to_string(),
            targets: Vec::new(),
            only: None,
            rollback_only: false,
            plan: plan(environment),
            team_journal: None,
        };
        let mut j = Journal { records: Vec::new() };
        j.push(0, Event::Header(Box::new(header)));
        j
    }

    fn push(&mut self, secs: i64, event: Event) -> &mut Journal {
        let seq = self.records.len() as u64;
        self.records.push(Record {
            seq,
            ts: t0() + chrono::Duration::seconds(secs),
            event,
            origin: None,
        });
        self
    }

    /// A sign-off as journals before seats were recorded have them.
    fn sign(&mut self, secs: i64, step: &str, who: &str) -> &mut Journal {
        self.sign_at(secs, step, who, None)
    }

    fn sign_at(&mut self, secs: i64, step: &str, who: &str, seat: Option<Seat>) -> &mut Journal {
        let signature = Signature {
            who: who.to_string(),
            role: "DBA".to_string(),
            note: format!("{who} checked it"),
            preapproved: false,
            seat,
        };
        self.push(
            secs,
            Event::SignedOff {
                step: step.to_string(),
                signature,
            },
        )
    }

    fn output(&mut self, secs: i64, step: &str, stream: Stream, lines: &[&str]) -> &mut Journal {
        let lines = lines.iter().map(|l| l.to_string()).collect();
        self.push(
            secs,
            Event::Output {
                step: step.to_string(),
                attempt: 1,
                stream,
                lines,
            },
        )
    }

    fn run(&mut self, secs: i64, step: &str, took: u64) -> &mut Journal {
        self.push(
            secs,
            Event::StepStarted {
                step: step.to_string(),
                attempt: 1,
            },
        );
        self.push(
            secs + took as i64,
            Event::StepFinished {
                step: step.to_string(),
                attempt: 1,
                outcome: Outcome::Succeeded,
                exit_code: None,
                duration_ms: took * 1000,
                error: None,
            },
        )
    }

    fn state(&self) -> SessionState {
        SessionState::from_records(&self.records).expect("the journal starts with a header")
    }
}

fn references() -> Vec<Reference> {
    vec![
        Reference {
            title: "Communication Plan".into(),
            markdown: "### Production Deployment\n\n1. Notify **all users** 1 week in advance\n2. Send a reminder 1 day before".into(),
        },
        Reference { title: "Timeline".into(), markdown: "| Environment | When |\n|---|---|\n| Production | Week 3 |".into() },
    ]
}

fn app(state: SessionState, now_secs: i64, size: (u16, u16)) -> App {
    let setup = AppSetup {
        operator: "alice".to_string(),
        references: references(),
        journal_path: PathBuf::from("/nonexistent/journal.jsonl"),
        theme: Theme::colored(),
        now: t0() + chrono::Duration::seconds(now_secs),
        size,
        notices: Vec::new(),
    };
    App {
        seat: desk(),
        ..App::new(state, setup)
    }
}

/// The seat the drawn checklist sits at, the same on every machine.
fn desk() -> Seat {
    Seat {
        os_user: Some("alice".into()),
        host: "desk".into(),
        terminal: Some("/dev/pts/1".into()),
    }
}

fn key(code: KeyCode) -> Msg {
    Msg::Key(KeyEvent::new(code, KeyModifiers::NONE))
}

fn ch(c: char) -> Msg {
    let mods = if c.is_ascii_uppercase() {
        KeyModifiers::SHIFT
    } else {
        KeyModifiers::NONE
    };
    Msg::Key(KeyEvent::new(KeyCode::Char(c), mods))
}

fn ctrl(c: char) -> Msg {
    Msg::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL))
}

fn typed(app: &mut App, text: &str) {
    for c in text.chars() {
        app.update(ch(c));
    }
}

fn draw(app: &App) -> Terminal<TestBackend> {
    let mut terminal = Terminal::new(TestBackend::new(app.size.0, app.size.1)).expect("test terminal");
    terminal.draw(|f| view(app, f)).expect("draw");
    terminal
}

// ---------------------------------------------------------------------------
// The states of the acceptance list.

/// Builds the app in one state at a terminal size.
type Build = fn((u16, u16)) -> App;

const SIZES: [(u16, u16); 3] = [(80, 24), (120, 40), (200, 60)];

fn fresh(size: (u16, u16)) -> App {
    app(Journal::new("development", Mode::Live).state(), 12, size)
}

/// A development session whose backup step started at 70 s.
fn backup_started() -> Journal {
    let mut j = Journal::new("development", Mode::Live);
    j.sign(30, "prerequisites.1", "alice")
        .sign(60, "prep.notify", "alice");
    j.push(
        70,
        Event::StepStarted {
            step: "prep.backup".into(),
            attempt: 1,
        },
    );
    j
}

fn running(size: (u16, u16)) -> App {
    let mut j = backup_started();
    j.output(
        71,
        "prep.backup",
        Stream::Info,
        &["bash: pg_dump \"$RUNSHEET_DATABASE_URL\" > backup.sql"],
    );
    let dumped: Vec<String> = (1..=30)
        .map(|i| format!("pg_dump: dumping contents of table \"public.table_{i:02}\""))
        .collect();
    let dumped: Vec<&str> = dumped.iter().map(String::as_str).collect();
    j.output(72, "prep.backup", Stream::Stdout, &dumped);
    j.output(
        73,
        "prep.backup",
        Stream::Stderr,
        &["pg_dump: warning: there are circular foreign-key constraints"],
    );
    j.output(
        74,
        "prep.backup",
        Stream::Stdout,
        &["pg_dump: dumping contents of table \"public.predictions\""],
    );
    let mut a = app(j.state(), 95, size);
    a.spinner = 3;
    a
}

fn failed_sql(size: (u16, u16)) -> App {
    let mut j = Journal::new("development", Mode::Live);
    j.sign(30, "prerequisites.1", "alice")
        .sign(60, "prep.notify", "alice")
        .run(70, "prep.backup", 42);
    j.push(
        120,
        Event::StepStarted {
            step: "exec.rls".into(),
            attempt: 1,
        },
    );
    j.output(
        121,
        "exec.rls",
        Stream::Info,
        &["ALTER TABLE molecule ENABLE ROW LEVEL SECURITY;"],
    );
    j.output(
        121,
        "exec.rls",
        Stream::Error,
        &["ERROR: relation \"molecule\" does not exist (SQLSTATE 42P01)"],
    );
    j.output(121, "exec.rls", Stream::Info, &["transaction rolled back"]);
    j.push(
        121,
        Event::StepFinished {
            step: "exec.rls".into(),
            attempt: 1,
            outcome: Outcome::Failed,
            exit_code: None,
            duration_ms: 412,
            error: Some("relation \"molecule\" does not exist (SQLSTATE 42P01)".into()),
        },
    );
    app(j.state(), 140, size)
}

fn verification_failed(size: (u16, u16)) -> App {
    let mut j = Journal::new("development", Mode::Live);
    j.sign(30, "prerequisites.1", "alice")
        .sign(60, "prep.notify", "alice")
        .run(70, "prep.backup", 42);
    j.run(120, "exec.rls", 3).run(130, "exec.rename", 2);
    j.push(
        140,
        Event::StepStarted {
            step: "check.rls".into(),
            attempt: 1,
        },
    );
    let observed = Observed {
        columns: vec!["relname".into(), "relrowsecurity".into()],
        rows: vec![
            vec!["experiments".into(), "f".into()],
            vec!["predictions".into(), "f".into()],
        ],
        text: String::new(),
    };
    j.push(
        141,
        Event::Verification {
            step: "check.rls".into(),
            attempt: 1,
            name: "Every table has row-level security".into(),
            passed: false,
            observed,
        },
    );
    j.push(
        141,
        Event::StepFinished {
            step: "check.rls".into(),
            attempt: 1,
            outcome: Outcome::Failed,
            exit_code: None,
            duration_ms: 80,
            error: Some("the verification did not pass".into()),
        },
    );
    // A check that passed earlier in the session, to sort below the failure.
    j.push(
        100,
        Event::Verification {
            step: "prep.backup".into(),
            attempt: 1,
            name: "Backup file is not empty".into(),
            passed: true,
            observed: Observed {
                text: "backup.sql 1.2M".into(),
                ..Observed::default()
            },
        },
    );
    let mut a = app(j.state(), 150, size);
    a.update(ch('v'));
    a
}

fn sign_off_dialog(size: (u16, u16)) -> App {
    let mut j = Journal::new("development", Mode::Live);
    j.push(
        10,
        Event::AwaitingSignOff {
            step: "prerequisites.1".into(),
        },
    );
    let mut a = app(j.state(), 40, size);
    a.update(ch('s'));
    a.update(key(KeyCode::Tab));
    typed(&mut a, "DBA on call");
    a.update(key(KeyCode::Enter));
    typed(&mut a, "Read the rollback plan");
    a.update(key(KeyCode::Enter));
    typed(&mut a, "with Bob.");
    a
}

fn help_overlay(size: (u16, u16)) -> App {
    let mut a = fresh(size);
    a.update(ch('?'));
    a
}

fn production_confirm(size: (u16, u16)) -> App {
    let mut j = Journal::new("production", Mode::Live);
    j.sign(60, "prerequisites.1", "alice")
        .sign(90, "prerequisites.1", "bob");
    j.run(100, "gate.requires.staging", 1);
    j.sign(120, "prep.notify", "alice")
        .sign(150, "prep.notify", "bob");
    let mut a = app(j.state(), 300, size);
    let effects = a.update(ch('r'));
    assert!(effects.contains(&Effect::Send(Command::Run { who: "alice".into() })));
    typed(&mut a, "prod");
    a
}

/// Every state of the acceptance list at every size.
#[test]
fn main_screen_snapshots() {
    let states: [(&str, Build); 7] = [
        ("fresh", fresh),
        ("running", running),
        ("failed_sql", failed_sql),
        ("verification_failed", verification_failed),
        ("sign_off_dialog", sign_off_dialog),
        ("help_overlay", help_overlay),
        ("production_confirm", production_confirm),
    ];
    for (name, build) in states {
        for size in SIZES {
            let terminal = draw(&build(size));
            insta::assert_snapshot!(format!("{name}_{}x{}", size.0, size.1), terminal.backend());
        }
    }
}

/// The smallest screen that still shows the panes.
#[test]
fn minimum_size() {
    let terminal = draw(&failed_sql((60, 20)));
    insta::assert_snapshot!("failed_sql_60x20", terminal.backend());
    let terminal = draw(&sign_off_dialog((60, 20)));
    insta::assert_snapshot!("sign_off_dialog_60x20", terminal.backend());
}

#[test]
fn too_small_notice() {
    for size in [(59, 20), (80, 12)] {
        let terminal = draw(&fresh(size));
        insta::assert_snapshot!(format!("too_small_{}x{}", size.0, size.1), terminal.backend());
    }
}

/// Four eyes in the checklist: the step shows who signed from which seat
/// and what is awaited; the seat that signed is offered no second sign-off
/// and told where it comes from; another seat is offered it.
#[test]
fn a_step_awaiting_a_second_seat_shows_who_signed_where() {
    let awaiting = |seat: Seat, size| {
        let mut j = Journal::new("production", Mode::Live);
        j.push(
            10,
            Event::AwaitingSignOff {
                step: "prerequisites.1".into(),
            },
        )
        .sign_at(60, "prerequisites.1", "alice", Some(seat));
        app(j.state(), 120, size)
    };
    // Wide, the row says it all.
    let wide = draw(&awaiting(desk(), (200, 60)));
    insta::assert_snapshot!("four_eyes_signed_here_200x60", wide.backend());
    cells_with(&wide, "1/2 ☑ alice (pts/1) · +1 other seat");
    cells_with(&wide, "from alice@desk pts/1");
    let mut here = awaiting(desk(), (120, 40));
    let terminal = draw(&here);
    insta::assert_snapshot!("four_eyes_signed_here_120x40", terminal.backend());
    cells_with(&terminal, "1/2 ☑ alice (pts/1)");
    cells_with(&terminal, "it needs a second signer at");
    assert!(
        !choices(&here.session, &here.seat)
            .iter()
            .any(|c| c.kind == ChoiceKind::SignOff),
        "no sign-off offered"
    );
    assert!(here.update(ch('s')).is_empty());
    assert!(here.modal.is_none(), "no sign-off dialog at the seat that signed");
    let told = here.message.as_ref().map(|m| m.text.clone()).unwrap_or_default();
    assert!(
        told.contains("`runsheet attach 20250301-090000-a1b2 --operator NAME`"),
        "{told}"
    );

    let mut elsewhere = awaiting(
        Seat {
            terminal: Some("/dev/pts/2".into()),
            ..desk()
        },
        (120, 40),
    );
    let terminal = draw(&elsewhere);
    insta::assert_snapshot!("four_eyes_signed_elsewhere_120x40", terminal.backend());
    cells_with(&terminal, "1/2 ☑ alice (pts/2)");
    cells_with(&terminal, "each from its own seat");
    elsewhere.update(ch('s'));
    assert!(matches!(elsewhere.modal, Some(Modal::SignOff(_))));
}

#[test]
fn dry_run_overtime_and_references() {
    let mut j = Journal::new("staging", Mode::DryRun);
    j.sign(30, "prerequisites.1", "alice");
    // Five hours in, against a 1h-2h estimate: past twice the estimate.
    let a = app(j.state(), 5 * 3600, (80, 24));
    insta::assert_snapshot!("dry_run_overtime_80x24", draw(&a).backend());
    let mut a = app(j.state(), 60, (100, 30));
    a.update(ch('o'));
    a.update(key(KeyCode::Tab));
    insta::assert_snapshot!("reference_overlay_100x30", draw(&a).backend());
}

// ---------------------------------------------------------------------------
// Colour: loud production, NO_COLOR honoured.

fn cells_with(terminal: &Terminal<TestBackend>, text: &str) -> Vec<ratatui::buffer::Cell> {
    let buffer = terminal.backend().buffer();
    for y in 0..buffer.area.height {
        let row: String = (0..buffer.area.width)
            .map(|x| buffer[(x, y)].symbol().to_string())
            .collect();
        if let Some(at) = row.find(text) {
            let x0 = row[..at].chars().count() as u16;
            return (x0..x0 + text.chars().count() as u16)
                .map(|x| buffer[(x, y)].clone())
                .collect();
        }
    }
    panic!("{text:?} is not on the screen");
}

#[test]
fn production_is_loud_and_dry_run_unmistakable() {
    let terminal = draw(&production_confirm((120, 40)));
    assert!(
        cells_with(&terminal, " PRODUCTION ")
            .iter()
            .all(|c| c.bg == Color::Red)
    );
    let a = app(Journal::new("staging", Mode::DryRun).state(), 5, (120, 40));
    let terminal = draw(&a);
    assert!(
        cells_with(&terminal, " DRY-RUN ")
            .iter()
            .all(|c| c.bg == Color::Yellow)
    );
    // The banner says it in words too.
    cells_with(&terminal, "this session is not evidence");
}

#[test]
fn no_color_draws_without_colours_but_keeps_words_and_glyphs() {
    let mut a = failed_sql((120, 40));
    a.theme = Theme::monochrome();
    let terminal = draw(&a);
    let buffer = terminal.backend().buffer();
    assert!(
        buffer
            .content()
            .iter()
            .all(|c| c.fg == Color::Reset && c.bg == Color::Reset)
    );
    cells_with(&terminal, "✗ Phase 1: enable row-level");
    cells_with(&terminal, "failed");
}

// ---------------------------------------------------------------------------
// Transitions of the pure update.

#[test]
fn sign_off_sends_the_typed_signature_and_closes_on_the_record() {
    let mut a = sign_off_dialog((120, 40));
    let effects = a.update(ctrl('s'));
    let expected = Command::SignOff {
        step: "prerequisites.1".into(),
        signature: Signature {
            who: "alice".into(),
            role: "DBA on call".into(),
            note: "Read the rollback plan\nwith Bob.".into(),
            preapproved: false,
            seat: Some(desk()),
        },
    };
    assert_eq!(effects, vec![Effect::Send(expected)]);
    assert!(
        matches!(a.modal, Some(Modal::SignOff(_))),
        "stays open until the engine answers"
    );
    a.update(Msg::Engine(Update::Refused(Refusal::AlreadySigned {
        who: "alice".into(),
        step: "prerequisites.1".into(),
        needed: 1,
    })));
    let Some(Modal::SignOff(d)) = &a.modal else {
        panic!("the dialog closed on a refusal")
    };
    assert!(d.error.as_deref().is_some_and(|e| e.contains("already signed")));
    assert!(
        a.message
            .as_ref()
            .is_some_and(|m| m.text.contains("already signed")),
        "shown in the message line"
    );
    a.update(ctrl('s'));
    let signature = Signature {
        who: "alice".into(),
        role: String::new(),
        note: String::new(),
        preapproved: false,
        seat: None,
    };
    let record = Record {
        seq: 2,
        ts: t0(),
        event: Event::SignedOff {
            step: "prerequisites.1".into(),
            signature,
        },
        origin: None,
    };
    a.update(Msg::Engine(Update::Record(record)));
    assert!(a.modal.is_none());
}

#[test]
fn a_second_sign_off_needs_a_different_name() {
    let mut j = Journal::new("production", Mode::Live);
    j.sign(60, "prerequisites.1", "alice");
    let mut a = app(j.state(), 90, (120, 40));
    a.update(ch('s'));
    let Some(Modal::SignOff(d)) = &a.modal else {
        panic!("no sign-off dialog")
    };
    assert_eq!(d.need, 2);
    assert!(
        d.fields[0].lines()[0].is_empty(),
        "alice already signed: the name is not prefilled"
    );
    assert!(a.update(ctrl('s')).is_empty(), "no name, nothing sent");
    typed(&mut a, "alice");
    assert!(
        a.update(ctrl('s')).is_empty(),
        "the same name twice is refused locally"
    );
    for _ in 0..5 {
        a.update(key(KeyCode::Backspace));
    }
    typed(&mut a, "bob");
    assert!(matches!(
        a.update(ctrl('s')).as_slice(),
        [Effect::Send(Command::SignOff { .. })]
    ));
}

/// A failed gate cannot be skipped; overriding it needs a role and a reason.
#[test]
fn a_failed_gate_is_overridden_only_with_role_and_reason() {
    let mut j = Journal::new("production", Mode::Live);
    j.sign(60, "prerequisites.1", "alice")
        .sign(90, "prerequisites.1", "bob");
    j.push(
        100,
        Event::StepStarted {
            step: "gate.requires.staging".into(),
            attempt: 1,
        },
    );
    j.push(
        101,
        Event::StepFinished {
            step: "gate.requires.staging".into(),
            attempt: 1,
            outcome: Outcome::Failed,
            exit_code: None,
            duration_ms: 5,
            error: Some("no completed live session of this runbook in staging".into()),
        },
    );
    let mut a = app(j.state(), 120, (120, 40));
    assert!(a.update(ch('S')).is_empty());
    assert!(a.modal.is_none(), "no skip dialog for a gate");
    assert!(
        a.message
            .as_ref()
            .is_some_and(|m| m.text.contains("cannot be skipped"))
    );
    assert_eq!(
        a.update(ch('R')),
        vec![Effect::Send(Command::Retry {
            step: "gate.requires.staging".into()
        })]
    );
    a.update(ch('s'));
    assert!(matches!(&a.modal, Some(Modal::SignOff(d)) if d.kind == SignOffKind::GateOverride));
    assert!(a.update(ctrl('s')).is_empty(), "no role, no reason: nothing sent");
    typed(&mut a, "CTO");
    a.update(key(KeyCode::Tab));
    typed(&mut a, "staging was verified by hand");
    let effects = a.update(ctrl('s'));
    let signature = Signature {
        who: "alice".into(),
        role: "CTO".into(),
        note: "staging was verified by hand".into(),
        preapproved: false,
        seat: Some(desk()),
    };
    assert_eq!(
        effects,
        vec![Effect::Send(Command::Override {
            step: "gate.requires.staging".into(),
            signature
        })]
    );
}

#[test]
fn production_guard_sends_the_typed_name() {
    let mut a = production_confirm((120, 40));
    typed(&mut a, "uction");
    let effects = a.update(key(KeyCode::Enter));
    assert_eq!(
        effects,
        vec![Effect::Send(Command::Confirm {
            who: "alice".into(),
            typed: "production".into()
        })]
    );
    a.update(Msg::Engine(Update::Record(Record {
        seq: 5,
        ts: t0(),
        event: Event::EnvironmentConfirmed { who: "alice".into() },
        origin: None,
    })));
    assert!(a.modal.is_none());
}

#[test]
fn quitting_asks_while_a_step_runs_then_detaches() {
    let mut a = running((120, 40));
    assert!(a.update(ch('q')).is_empty());
    assert!(matches!(a.modal, Some(Modal::Question(_))));
    assert!(a.update(ch('n')).is_empty(), "n keeps going");
    assert!(a.modal.is_none() && !a.quitting);
    a.update(ch('q'));
    let effects = a.update(ch('y'));
    assert_eq!(
        effects,
        vec![
            Effect::Send(Command::Detach { who: "alice".into() }),
            Effect::Quit
        ]
    );
    assert!(a.quitting);
}

#[test]
fn quitting_an_idle_session_needs_no_question() {
    let mut a = fresh((80, 24));
    assert_eq!(
        a.update(ch('q')),
        vec![
            Effect::Send(Command::Detach { who: "alice".into() }),
            Effect::Quit
        ]
    );
}

#[test]
fn skip_needs_a_reason_and_abort_asks_first() {
    let mut a = failed_sql((120, 40));
    assert!(a.update(ch('S')).is_empty());
    assert!(
        a.update(key(KeyCode::Enter)).is_empty(),
        "an empty reason is not sent"
    );
    typed(&mut a, "fixed by hand");
    assert_eq!(
        a.update(key(KeyCode::Enter)),
        vec![Effect::Send(Command::Skip {
            step: "exec.rls".into(),
            who: "alice".into(),
            reason: "fixed by hand".into()
        })]
    );
    assert!(a.update(ch('A')).is_empty());
    assert!(
        a.update(key(KeyCode::Esc)).is_empty() && a.modal.is_none(),
        "Esc keeps the session going"
    );
    a.update(ch('A'));
    assert_eq!(
        a.update(key(KeyCode::Enter)),
        vec![Effect::Send(Command::Abort {
            who: "alice".into(),
            reason: String::new()
        })]
    );
    assert_eq!(
        a.update(ch('R')),
        vec![Effect::Send(Command::Retry {
            step: "exec.rls".into()
        })]
    );
}

#[test]
fn notes_and_rollback_are_recorded_with_the_operator() {
    let mut a = fresh((120, 40));
    a.update(ch('m'));
    typed(&mut a, "DBA paged");
    a.update(key(KeyCode::Enter));
    typed(&mut a, "ok");
    assert_eq!(
        a.update(ctrl('s')),
        vec![Effect::Send(Command::Note {
            who: "alice".into(),
            text: "DBA paged\nok".into()
        })]
    );
    a.update(ch('B'));
    typed(&mut a, "responses 60% slower");
    assert_eq!(
        a.update(key(KeyCode::Enter)),
        vec![Effect::Send(Command::StartRollback {
            who: "alice".into(),
            reason: "responses 60% slower".into()
        })]
    );
}

#[test]
fn the_cursor_follows_the_active_step_until_moved() {
    let mut a = running((120, 40));
    assert_eq!(a.selected_step().map(|s| s.id.as_str()), Some("prep.backup"));
    a.update(key(KeyCode::Up));
    assert_eq!(a.selected_step().map(|s| s.id.as_str()), Some("prep.notify"));
    assert!(!a.follow);
    let finished = Event::StepFinished {
        step: "prep.backup".into(),
        attempt: 1,
        outcome: Outcome::Succeeded,
        exit_code: Some(0),
        duration_ms: 30_000,
        error: None,
    };
    a.update(Msg::Engine(Update::Record(Record {
        seq: 20,
        ts: t0(),
        event: finished,
        origin: None,
    })));
    assert_eq!(
        a.selected_step().map(|s| s.id.as_str()),
        Some("prep.notify"),
        "moved by hand: stays"
    );
    a.update(ch('f'));
    assert_eq!(
        a.selected_step().map(|s| s.id.as_str()),
        Some("exec.rls"),
        "f follows the active step again"
    );
}

#[test]
fn phases_collapse_and_expand() {
    let mut a = fresh((120, 40));
    a.update(key(KeyCode::Left));
    assert!(a.rows().len() < fresh((120, 40)).rows().len());
    a.update(key(KeyCode::Enter));
    assert_eq!(a.rows().len(), fresh((120, 40)).rows().len());
}

/// A resumed session's step has more output than the fold keeps and the
/// (tall) log pane shows: the first update asks the journal for the rest.
#[test]
fn older_output_of_a_resumed_session_is_read_back() {
    let mut j = Journal::new("development", Mode::Live);
    j.push(
        10,
        Event::StepStarted {
            step: "prerequisites.1".into(),
            attempt: 1,
        },
    );
    let lines: Vec<String> = (1..=100).map(|i| format!("line {i}")).collect();
    let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
    j.output(11, "prerequisites.1", Stream::Stdout, &lines);
    let mut a = app(j.state(), 20, (200, 60));
    let effects = a.update(Msg::Tick(t0() + chrono::Duration::seconds(21)));
    let asked = effects
        .iter()
        .any(|e| matches!(e, Effect::ReadLog(q) if q.step == "prerequisites.1"));
    assert!(asked, "{effects:?}");
}

/// A flood of output keeps a bounded window; scrolling up past it asks the
/// journal; the log follows again at End.
#[test]
fn the_log_window_stays_bounded_under_a_flood() {
    let mut a = running((120, 40));
    a.update(ch('l'));
    for (seq, batch) in (100..).zip(0..500u64) {
        let lines = (0..2_000)
            .map(|i| format!("line {}", batch * 2_000 + i))
            .collect();
        let record = Record {
            seq,
            ts: t0(),
            event: Event::Output {
                step: "prep.backup".into(),
                attempt: 1,
                stream: Stream::Stdout,
                lines,
            },
            origin: None,
        };

        assert!(
            a.update(Msg::Engine(Update::Record(record))).is_empty(),
            "following needs no read-back"
        );
    }
    assert_eq!(a.output_lines("prep.backup"), 1_000_033);
    assert!(a.log.window_len() <= LOG_WINDOW);
    assert_eq!(a.log.get(1_000_032).map(|l| l.text.as_str()), Some("line 999999"));
    let effects = a.update(key(KeyCode::Home));
    let asked = effects
        .iter()
        .any(|e| matches!(e, Effect::ReadLog(q) if matches!(q.kind, QueryKind::Range { from: 0, .. })));
    assert!(
        asked,
        "lines at the top are read back from the journal: {effects:?}"
    );
    assert!(!a.log.follow);
    a.update(key(KeyCode::End));
    assert!(a.log.follow);
}

// ---------------------------------------------------------------------------
// The driver loop, end to end against a fake engine.

#[tokio::test]
async fn the_driver_folds_updates_draws_and_leaves_after_detaching() {
    let mut j = Journal::new("development", Mode::Live);
    j.push(
        10,
        Event::AwaitingSignOff {
            step: "prerequisites.1".into(),
        },
    );
    let mut a = app(Journal::new("development", Mode::Live).state(), 5, (100, 30));
    let (commands, mut command_rx) =
        runsheet::engine::inbox::Inbox::channel(runsheet::seat::Origin::here("tester"));
    let (update_tx, updates) = mpsc::channel(8);
    let (_signal_tx, signals) = mpsc::channel(1);
    let signals = runsheet::signals::Signals::from_receiver(signals);
    let record = j.records[1].clone();
    // The fake engine: one record, then it waits for the detach and stops.
    let engine = tokio::spawn(async move {
        let _ = update_tx.send(Update::Record(record)).await;
        while let Some(envelope) = command_rx.recv().await {
            if let Command::Detach { who } = envelope.command {
                let detached = Record {
                    seq: 2,
                    ts: t0(),
                    event: Event::Detached { who },
                    origin: None,
                };
                let _ = update_tx.send(Update::Record(detached)).await;
                return Ok(());
            }
        }
        Err("commands closed".to_string())
    });
    let (key_tx, key_rx) = mpsc::unbounded_channel::<std::io::Result<TermEvent>>();
    let events = tokio_stream_from(key_rx);
    let channels = Channels {
        commands,
        updates,
        engine,
        signals,
        journal_path: PathBuf::from("/nonexistent"),
    };
    let mut terminal = Terminal::new(TestBackend::new(100, 30)).expect("terminal");
    key_tx
        .send(Ok(TermEvent::Key(KeyEvent::new(
            KeyCode::Char('?'),
            KeyModifiers::NONE,
        ))))
        .expect("send");
    key_tx
        .send(Ok(TermEvent::Key(KeyEvent::new(
            KeyCode::Esc,
            KeyModifiers::NONE,
        ))))
        .expect("send");
    key_tx
        .send(Ok(TermEvent::Key(KeyEvent::new(
            KeyCode::Char('q'),
            KeyModifiers::NONE,
        ))))
        .expect("send");
    let result = tokio::time::timeout(
        Duration::from_secs(10),
        drive(&mut terminal, &mut a, events, channels),
    )
    .await
    .expect("the loop ends");
    assert_eq!(result, Ok(()));
    assert!(a.session.detached, "the detach was folded before leaving");
    assert!(a.modal.is_none());
    let screen = terminal.backend().to_string();
    assert!(screen.contains("Checklist"), "{screen}");
}

/// An unbounded receiver as a `Stream` of terminal events.
fn tokio_stream_from(
    mut rx: mpsc::UnboundedReceiver<std::io::Result<TermEvent>>,
) -> impl futures_util::Stream<Item = std::io::Result<TermEvent>> + Unpin {
    Box::pin(futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx)))
}

#[test]
fn pane_focus_cycles_and_shows_the_shared_pane() {
    let mut a = fresh((80, 24));
    for expected in [Pane::Detail, Pane::Log, Pane::Checks, Pane::Checklist] {
        a.update(key(KeyCode::Tab));
        assert_eq!(a.focus, expected);
    }
    assert_eq!(
        a.bottom,
        Pane::Checks,
        "focusing the checks showed them in the shared pane"
    );
}

/// No key, click, paste or size makes the app panic, in any of the states.
#[test]
fn no_input_or_size_panics() {
    use crossterm::event::{MouseButton, MouseEvent, MouseEventKind};
    let mut seed: u64 = 0x5eed;
    let mut next = move |n: u64| {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (seed >> 33) % n
    };
    let codes = [
        KeyCode::Up,
        KeyCode::Down,
        KeyCode::Left,
        KeyCode::Right,
        KeyCode::PageUp,
        KeyCode::PageDown,
        KeyCode::Home,
        KeyCode::End,
        KeyCode::Enter,
        KeyCode::Esc,
        KeyCode::Tab,
        KeyCode::BackTab,
        KeyCode::Backspace,
    ];
    let chars: Vec<char> = "rsRSpcmABoflv/nNw?qyjkgG x\u{1b}é".chars().collect();
    let states: [Build; 7] = [
        fresh,
        running,
        failed_sql,
        verification_failed,
        sign_off_dialog,
        help_overlay,
        production_confirm,
    ];
    for build in states {
        let mut a = build((80, 24));
        for _ in 0..400 {
            let msg = match next(10) {
                0..=3 => ch(chars[next(chars.len() as u64) as usize]),
                4..=6 => key(codes[next(codes.len() as u64) as usize]),
                7 => ctrl(['s', 'c', 'u', 'd'][next(4) as usize]),
                8 => Msg::Mouse(MouseEvent {
                    kind: [
                        MouseEventKind::Down(MouseButton::Left),
                        MouseEventKind::ScrollDown,
                        MouseEventKind::ScrollUp,
                    ][next(3) as usize],
                    column: next(230) as u16,
                    row: next(80) as u16,
                    modifiers: KeyModifiers::NONE,
                }),
                _ => {
                    let (w, h) = (1 + next(220) as u16, 1 + next(70) as u16);
                    Msg::Resize(w, h)
                }
            };
            if matches!(&msg, Msg::Key(k) if k.code == KeyCode::Char('q')) {
                continue;
            }
            a.update(msg);
            a.update(Msg::Paste("pasted\nline\r".into()));
            draw(&a);
        }
    }
}

// ---------------------------------------------------------------------------
// Shell state carried between shell steps.

/// The backup step left a directory, a variable, a secret and an unset; the
/// selected check (next to run) shows them by name, values never drawn.
#[test]
fn the_detail_pane_shows_what_a_shell_step_inherits() {
    let mut j = Journal::new("development", Mode::Live);
    j.sign(10, "prerequisites.1", "alice")
        .sign(20, "prep.notify", "alice");
    j.push(
        30,
        Event::StepStarted {
            step: "prep.backup".into(),
            attempt: 1,
        },
    );
    let state = ShellState {
        cwd: Some("/srv/backups/2025-03-01".into()),
        vars: [("BACKUP_FILE".to_string(), "molecule.sql".to_string())].into(),
        unset: ["http_proxy".to_string()].into(),
        withheld: ["PGPASSWORD".to_string()].into(),
    };
    j.push(
        40,
        Event::ShellState {
            step: "prep.backup".into(),
            attempt: 1,
            state,
        },
    );
    j.push(
        40,
        Event::StepFinished {
            step: "prep.backup".into(),
            attempt: 1,
            outcome: Outcome::Succeeded,
            exit_code: Some(0),
            duration_ms: 10_000,
            error: None,
        },
    );
    let mut a = app(j.state(), 45, (120, 44));
    a.follow = false;
    a.selected = Some(RowKey::Step("check.smoke".into()));
    insta::assert_snapshot!("inherits_shell_state_120x44", draw(&a).backend());
    let text = format!("{:?}", draw(&a).backend());
    assert!(!text.contains("molecule.sql"), "values are not drawn");

    // The step that ran shows what it started with: nothing carried then.
    a.selected = Some(RowKey::Step("prep.backup".into()));
    let text = format!("{:?}", draw(&a).backend());
    assert!(!text.contains("Inherit"), "{text}");

    // An isolated step says it inherits nothing.
    a.session.plan.phases[3].steps[1].isolated = true;
    a.selected = Some(RowKey::Step("check.smoke".into()));
    let text = format!("{:?}", draw(&a).backend());
    assert!(text.contains("Isolated: runs in the runbook's folder"), "{text}");
    assert!(!text.contains("Inherits"), "{text}");
}

#[test]
fn the_sign_off_dialog_offers_the_name_and_role_last_signed_with_here() {
    let mut a = sign_off_dialog((120, 40));
    a.update(ctrl('s'));
    assert_eq!(
        a.last_signer,
        Some(("alice".to_string(), "DBA on call".to_string()))
    );
    a.update(key(KeyCode::Esc));
    assert!(a.modal.is_none());
    // Someone else is the session's operator now; this terminal still remembers alice.
    a.operator = "carol".into();
    a.update(ch('s'));
    let Some(Modal::SignOff(d)) = &a.modal else {
        panic!("no sign-off dialog")
    };
    assert_eq!(d.fields[0].lines(), ["alice"]);
    assert_eq!(d.fields[1].lines(), ["DBA on call"]);
}

/// The screen's rows as text.
fn screen_rows(terminal: &Terminal<TestBackend>) -> Vec<String> {
    let buf = terminal.backend().buffer();
    (0..buf.area.height)
        .map(|y| (0..buf.area.width).map(|x| buf[(x, y)].symbol()).collect())
        .collect()
}

#[test]
fn gate_evidence_in_a_narrow_pane_is_key_value_lines_and_no_rows_is_no_problems_found() {
    let mut j = Journal::new("production", Mode::Live);
    let evidence = Observed {
        columns: ["session", "operator", "started", "mode", "outcome", "counts", "why not"]
            .map(String::from)
            .to_vec(),
        rows: vec![
            ["20250228-101500-c3d4e5", "bob", "2025-02-28 10:15:00", "partial (verify only)", "completed", "no"]
                .map(String::from)
                .into_iter()
                .chain(["a partial (verify only) session ran part of the plan (--only verify) and never counts as evidence".to_string()])
                .collect(),
        ],
        text: String::new(),
    };
    j.push(
        10,
        Event::Verification {
            step: "gate.requires.staging".into(),
            attempt: 1,
            name: "staging went well with this runbook".into(),
            passed: false,
            observed: evidence,
        },
    );
    j.push(
        11,
        Event::Verification {
            step: "check.rls".into(),
            attempt: 1,
            name: "Every table has row-level security".into(),
            passed: true,
            observed: Observed {
                columns: vec!["problem".into()],
                ..Observed::default()
            },
        },
    );
    let mut narrow = app(j.state(), 20, (80, 24));
    narrow.update(ch('v'));
    let rows = screen_rows(&draw(&narrow)).join("\n");
    assert!(rows.contains("session: 20250228-101500-c3d4e5"), "{rows}");
    assert!(rows.contains("counts: no"), "{rows}");
    assert!(!rows.contains("session │ operator"), "no wrapped table:\n{rows}");

    let mut wide = app(j.state(), 20, (200, 60));
    wide.update(ch('v'));
    let rows = screen_rows(&draw(&wide)).join("\n");
    assert!(rows.contains("no problems found"), "{rows}");
    assert!(!rows.contains("no rows (problem)"), "{rows}");
    // (Tables that fit stay tables: see the verification_failed snapshots.)
}

#[test]
fn slash_starts_a_new_search_on_the_row_above_the_hints() {
    let mut a = running((120, 40));
    a.update(ch('/'));
    typed(&mut a, "disk");
    a.update(key(KeyCode::Enter));
    assert_eq!(a.log.search.as_deref(), Some("disk"));
    a.update(ch('/'));
    let Some(Modal::Search(field)) = &a.modal else {
        panic!("no search prompt")
    };
    assert_eq!(field.lines(), [""], "a new search, not the last one to edit");
    let rows = screen_rows(&draw(&a));
    let footer = &rows[rows.len() - 1];
    assert!(footer.contains("quit"), "the hints stay: {footer}");
    assert!(rows[rows.len() - 2].contains("Search log: /"), "{rows:#?}");
}

#[test]
fn a_completed_session_says_what_comes_next() {
    let mut j = Journal::new("staging", Mode::Live);
    j.push(
        30,
        Event::SessionEnded {
            outcome: runsheet::journal::event::SessionOutcome::Completed,
            reason: None,
        },
    );
    let mut a = app(j.state(), 40, (200, 60));
    a.next_after =
        Some("next: a successful session of production: runsheet run rb.md --env production".into());
    let rows = screen_rows(&draw(&a)).join("\n");
    assert!(
        rows.contains("SESSION COMPLETED · next: a successful session of production: runsheet run rb.md --env production"),
        "{rows}"
    );
}

#[test]
fn the_journal_database_away_is_a_banner_until_it_is_back() {
    let mut a = running((120, 40));
    a.update(Msg::Engine(Update::Replica(ReplicaStatus::Buffering {
        since: t0(),
        events: 3,
        reason: "connection terminated".into(),
    })));
    let away = cells_with(&draw(&a), "JOURNAL DATABASE AWAY");
    assert!(away.iter().all(|c| c.bg == away[0].bg), "one banner");
    // A key clears messages, not the banner.
    a.update(key(KeyCode::Down));
    cells_with(
        &draw(&a),
        "changes anything starts until it is back · 3 events only in the local journal",
    );
    a.update(Msg::Engine(Update::Replica(ReplicaStatus::InSync {
        unconfirmed: 0,
    })));
    assert!(a.banners().iter().all(|(_, text)| !text.contains("AWAY")));
    cells_with(&draw(&a), "journal database back");
}

#[test]
fn a_lock_wait_is_on_the_status_line_until_it_ends() {
    let mut j = backup_started();
    let wait = "waiting 1.2s for AccessShareLock on marks, held by pid 4242 (user ops, application psql, \
                state idle in transaction, query started 2025-03-01 09:01:00 UTC): LOCK TABLE marks";
    j.output(72, "prep.backup", Stream::Lock, &[wait]);
    let footer = |j: &Journal| {
        let terminal = draw(&app(j.state(), 80, (200, 40)));
        let buffer = terminal.backend().buffer();
        let y = buffer.area.height - 1;
        (0..buffer.area.width)
            .map(|x| buffer[(x, y)].symbol().to_string())
            .collect::<String>()
    };
    let shown = footer(&j);
    assert!(
        shown.contains("⧖ prep.backup waiting 1.2s") && shown.contains("held by pid 4242"),
        "{shown}"
    );
    j.output(
        75,
        "prep.backup",
        Stream::Lock,
        &["lock wait ended after about 3s (on marks, held by pid 4242)"],
    );
    let shown = footer(&j);
    assert!(
        !shown.contains("held by pid"),
        "the status line lets go of an ended wait: {shown}"
    );
}
