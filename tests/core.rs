//! The pure core: `rules::decide` for every command in the states where it
//! is allowed and refused, `rules::choices` and the headless hints drawn
//! from it, and the engine core's transitions (`machine::step`). No tokio,
//! no file system, no clock: states are folds of hand-written events.

use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use runsheet::journal::event::{
    Event, FORMAT_VERSION, Header, Mode, Observed, Outcome, Record, SessionOutcome, ShellState, Signature,
    Stream,
};
use runsheet::runbook::model::{AttachRight, Estimate, Gate, Hold, PhaseKind, Step, StepKind};
use runsheet::runbook::plan::{Plan, PlanPhase};
use runsheet::seat::Seat;
use runsheet::session::machine::{self, DEFAULT_TIMEOUT, Effect, Input, StepResult, Stop, Timer};
use runsheet::session::rules::{self, headless_hint};
use runsheet::session::{
    ChoiceKind, Command, ESTIMATE_EXCEEDED, Flag, Next, Refusal, SessionState, StepStatus, choices, decide,
};

// ---------------------------------------------------------------------------
// Plans, events, states.

fn step(id: &str, kind: StepKind) -> Step {
    Step::new(id, format!("Step {id}"), kind)
}

fn shell(id: &str) -> Step {
    step(
        id,
        StepKind::Shell {
            script: "true".into(),
        },
    )
}

fn sql(id: &str) -> Step {
    step(
        id,
        StepKind::Sql {
            sql: "select 1".into(),
        },
    )
}

fn manual(id: &str) -> Step {
    step(id, StepKind::Manual)
}

fn gate(id: &str) -> Step {
    step(
        id,
        StepKind::Gate {
            gate: Gate::Session {
                environment: "staging".into(),
                rollback: false,
            },
        },
    )
}

fn backups_gate(id: &str, min: u32) -> Step {
    step(
        id,
        StepKind::Gate {
            gate: Gate::Backups { min },
        },
    )
}

fn plan(steps: Vec<Step>) -> Plan {
    Plan {
        runbook_title: "Core".into(),
        environment: "production".into(),
        phases: vec![PlanPhase {
            kind: PhaseKind::Execution,
            title: "Execution".into(),
            steps,
            depth: 0,
            notes: Vec::new(),
        }],
        rollback: vec![shell("rb.1")],
        signoffs: 1,
        ..Plan::default()
    }
}

/// A SQL check (`{verify}`).
fn check(id: &str) -> Step {
    Step {
        verify: true,
        ..sql(id)
    }
}

/// A production plan held phase by phase: phase 1 runs `p1` and checks it
/// with `v1` and `v1b`, phase 2 runs `p2`.
fn phased() -> Plan {
    let phase = |title: &str, steps| PlanPhase {
        kind: PhaseKind::Execution,
        title: title.into(),
        steps,
        depth: 0,
        notes: Vec::new(),
    };
    Plan {
        phases: vec![
            phase("Phase 1", vec![sql("p1"), check("v1"), check("v1b")]),
            phase("Phase 2", vec![sql("p2")]),
        ],
        hold: Hold::Phase,
        ..plan(Vec::new())
    }
}

fn hold_released(after: &str, who: &str, preapproved: bool) -> Event {
    Event::HoldReleased {
        after: after.into(),
        who: who.into(),
        preapproved,
    }
}

/// The plan most tests use: a shell step, a manual step, a SQL change, a gate.
fn standard() -> Plan {
    plan(vec![shell("a"), manual("b"), sql("c"), gate("g")])
}

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 9, 0, 0)
        .single()
        .expect("a time")
}

fn now() -> DateTime<Utc> {
    t0() + chrono::Duration::minutes(5)
}

/// Fold `events` after a header, one second apart.
fn fold(plan: Plan, events: &[Event]) -> SessionState {
    fold_seated(plan, None, events)
}

/// [`fold`] of a session started from `seat` (journals before seats were
/// recorded have none).
fn fold_seated(plan: Plan, seat: Option<Seat>, events: &[Event]) -> SessionState {
    let header = Header {
        format: FORMAT_VERSION,
        session_id: "s1".into(),
        runbook_path: "r.md".into(),
        runbook_sha256: "00".into(),
        environment: plan.environment.clone(),
        mode: Mode::Live,
        operator: "alice".into(),
        host: "h".into(),
        seat,
        runsheet_version: "0".into(),
        targets: Vec::new(),
        only: None,
        rollback_only: false,
        plan,
        team_journal: None,
    };
    let record = |seq: usize, event: Event| Record {
        seq: seq as u64,
        ts: t0() + chrono::Duration::seconds(seq as i64),
        event,
        origin: None,
    };
    let mut state = SessionState::new(&record(0, Event::Header(Box::new(header)))).expect("header");
    for (i, e) in events.iter().enumerate() {
        state.apply(&record(i + 1, e.clone()));
    }
    state
}

/// Fold events produced by the core into `state`, as the engine does, one
/// second after its last event.
fn journal(state: &mut SessionState, events: impl IntoIterator<Item = Event>) {
    for event in events {
        let record = Record {
            seq: state.last_seq + 1,
            ts: state.last_event + chrono::Duration::seconds(1),
            event,
            origin: None,
        };
        state.apply(&record);
    }
}

/// Perform the core's effects on `state` as the engine would: journal
/// events, and return every other effect.
fn perform(state: &mut SessionState, effects: Vec<Effect>) -> Vec<Effect> {
    let mut rest = Vec::new();
    for effect in effects {
        match effect {
            Effect::Journal(event) => journal(state, [event]),
            other => rest.push(other),
        }
    }
    rest
}

fn run() -> Event {
    Event::Run { who: "alice".into() }
}

fn started(id: &str, attempt: u32) -> Event {
    Event::StepStarted {
        step: id.into(),
        attempt,
    }
}

fn finished(id: &str, attempt: u32, outcome: Outcome) -> Event {
    Event::StepFinished {
        step: id.into(),
        attempt,
        outcome,
        exit_code: None,
        duration_ms: 10,
        error: None,
    }
}

fn done(id: &str) -> Vec<Event> {
    vec![started(id, 1), finished(id, 1, Outcome::Succeeded)]
}

fn awaiting(id: &str) -> Event {
    Event::AwaitingSignOff { step: id.into() }
}

fn signed(id: &str, who: &str) -> Event {
    Event::SignedOff {
        step: id.into(),
        signature: signature(who, "", ""),
    }
}

fn signature(who: &str, role: &str, note: &str) -> Signature {
    Signature {
        who: who.into(),
        role: role.into(),
        note: note.into(),
        preapproved: false,
        seat: None,
    }
}

fn sign_off(id: &str, who: &str) -> Command {
    Command::SignOff {
        step: id.into(),
        signature: signature(who, "", ""),
    }
}

/// A seat: OS user `ops` on host `h` at terminal `tty`.
fn seat(tty: &str) -> Seat {
    Seat {
        os_user: Some("ops".into()),
        host: "h".into(),
        terminal: Some(tty.into()),
    }
}

/// The seat the walk tests look from.
fn desk() -> Seat {
    seat("/dev/pts/1")
}

/// `who`'s signature given at seat `at`.
fn signature_at(who: &str, at: &Seat) -> Signature {
    Signature {
        seat: Some(at.clone()),
        ..signature(who, "", "")
    }
}

fn sign_off_from(id: &str, who: &str, at: &Seat) -> Command {
    Command::SignOff {
        step: id.into(),
        signature: signature_at(who, at),
    }
}

fn signed_from(id: &str, who: &str, at: &Seat) -> Event {
    Event::SignedOff {
        step: id.into(),
        signature: signature_at(who, at),
    }
}

fn mark_done(id: &str, who: &str) -> Command {
    Command::MarkDone {
        step: id.into(),
        signature: signature(who, "", ""),
    }
}

fn override_(id: &str, role: &str, note: &str) -> Command {
    Command::Override {
        step: id.into(),
        signature: signature("alice", role, note),
    }
}

fn retry(id: &str) -> Command {
    Command::Retry { step: id.into() }
}

fn skip(id: &str, reason: &str) -> Command {
    Command::Skip {
        step: id.into(),
        who: "alice".into(),
        reason: reason.into(),
    }
}

fn abort(reason: &str) -> Command {
    Command::Abort {
        who: "alice".into(),
        reason: reason.into(),
    }
}

fn confirm(typed: &str) -> Command {
    Command::Confirm {
        who: "alice".into(),
        typed: typed.into(),
    }
}

fn rollback(reason: &str) -> Command {
    Command::StartRollback {
        who: "alice".into(),
        reason: reason.into(),
    }
}

fn detach() -> Command {
    Command::Detach { who: "alice".into() }
}

fn note(text: &str) -> Command {
    Command::Note {
        who: "alice".into(),
        text: text.into(),
    }
}

fn refused(state: &SessionState, command: &Command) -> Refusal {
    decide(state, command, now()).expect_err("refused")
}

fn accepted(state: &SessionState, command: &Command) -> Vec<Event> {
    decide(state, command, now()).unwrap_or_else(|r| panic!("{command:?} refused: {r}"))
}

/// Carry out an accepted command on `state`.
fn act(state: &mut SessionState, command: &Command) {
    let events = accepted(state, command);
    journal(state, events);
}

/// Feed `input` to the engine core and perform its effects on `state`.
fn feed(state: &mut SessionState, input: Input<'_>) -> Vec<Effect> {
    let effects = machine::step(state, input);
    perform(state, effects)
}

/// States a session goes through, with a name for failure messages.
fn states() -> Vec<(&'static str, SessionState)> {
    let p = standard();
    let a_done = done("a");
    let b_signed = [a_done.clone(), vec![awaiting("b"), signed("b", "alice")]].concat();
    let c_done = [b_signed.clone(), done("c")].concat();
    let gate_failed = [
        c_done.clone(),
        vec![started("g", 1), finished("g", 1, Outcome::Failed)],
    ]
    .concat();
    let all_done = [c_done.clone(), done("g")].concat();
    let mut confirm_plan = standard();
    confirm_plan.confirm = true;
    let mut four_eyes = standard();
    four_eyes.signoffs = 2;
    let phase_done = [vec![run()], done("p1"), done("v1"), done("v1b")].concat();
    vec![
        ("held after phase 1", fold(phased(), &phase_done)),
        (
            "hold released",
            fold(
                phased(),
                &[phase_done.clone(), vec![hold_released("v1b", "alice", false)]].concat(),
            ),
        ),
        ("fresh, paused", fold(p.clone(), &[])),
        ("fresh, running", fold(p.clone(), &[run()])),
        ("a running", fold(p.clone(), &[run(), started("a", 1)])),
        (
            "a failed",
            fold(p.clone(), &[started("a", 1), finished("a", 1, Outcome::Failed)]),
        ),
        (
            "a timed out",
            fold(p.clone(), &[started("a", 1), finished("a", 1, Outcome::TimedOut)]),
        ),
        (
            "a cancelled",
            fold(
                p.clone(),
                &[started("a", 1), finished("a", 1, Outcome::Cancelled)],
            ),
        ),
        (
            "a interrupted",
            fold(
                p.clone(),
                &[
                    started("a", 1),
                    Event::StepInterrupted {
                        step: "a".into(),
                        attempt: 1,
                    },
                ],
            ),
        ),
        ("b pending sign-off", fold(p.clone(), &a_done)),
        (
            "b awaiting sign-off",
            fold(p.clone(), &[a_done.clone(), vec![awaiting("b")]].concat()),
        ),
        (
            "b, one of two signed",
            fold(
                four_eyes.clone(),
                &[a_done.clone(), vec![awaiting("b"), signed("b", "alice")]].concat(),
            ),
        ),
        (
            "b, one of two signed at this desk",
            fold(
                four_eyes.clone(),
                &[
                    a_done.clone(),
                    vec![awaiting("b"), signed_from("b", "alice", &desk())],
                ]
                .concat(),
            ),
        ),
        (
            "b, one of two signed at another desk",
            fold(
                four_eyes.clone(),
                &[
                    a_done.clone(),
                    vec![awaiting("b"), signed_from("b", "alice", &seat("/dev/pts/9"))],
                ]
                .concat(),
            ),
        ),
        ("c to confirm", fold(confirm_plan, &b_signed)),
        ("c next", fold(p.clone(), &b_signed)),
        ("gate failed", fold(p.clone(), &gate_failed)),
        ("all done", fold(p.clone(), &all_done)),
        (
            "rolling back",
            fold(
                p.clone(),
                &[Event::RollbackStarted {
                    who: "alice".into(),
                    reason: "slow".into(),
                }],
            ),
        ),
        (
            "ended",
            fold(
                p.clone(),
                &[Event::SessionEnded {
                    outcome: SessionOutcome::Aborted,
                    reason: None,
                }],
            ),
        ),
        (
            "detached",
            fold(p.clone(), &[Event::Detached { who: "alice".into() }]),
        ),
    ]
}

fn state(name: &str) -> SessionState {
    states()
        .into_iter()
        .find(|(n, _)| *n == name)
        .map(|(_, s)| s)
        .unwrap_or_else(|| panic!("no state {name}"))
}

/// One command of every kind, with valid arguments, aimed at `step`.
fn every_command(step: &str, environment: &str) -> Vec<Command> {
    vec![
        Command::Run { who: "alice".into() },
        Command::Pause { who: "alice".into() },
        sign_off_from(step, "bob", &desk()),
        mark_done(step, "bob"),
        override_(step, "DBA", "checked by hand"),
        retry(step),
        skip(step, "not needed"),
        Command::Cancel,
        abort("stop"),
        note("hello"),
        confirm(environment),
        release_hold("alice", false),
        rollback("responses 60% slower"),
        detach(),
    ]
}

/// The command a choice stands for, with valid arguments.
fn command_for(kind: ChoiceKind, step: &str, environment: &str) -> Command {
    match kind {
        ChoiceKind::Run => Command::Run { who: "alice".into() },
        ChoiceKind::ConfirmEnv => confirm(environment),
        ChoiceKind::SignOff => sign_off_from(step, "bob", &desk()),
        ChoiceKind::MarkDone => mark_done(step, "bob"),
        ChoiceKind::Override => override_(step, "DBA", "checked by hand"),
        ChoiceKind::Retry => retry(step),
        ChoiceKind::Skip => skip(step, "not needed"),
        ChoiceKind::Cancel => Command::Cancel,
        ChoiceKind::Abort => abort(""),
        ChoiceKind::ReleaseHold => release_hold("alice", false),
    }
}

fn release_hold(who: &str, preapproved: bool) -> Command {
    Command::ReleaseHold {
        who: who.into(),
        preapproved,
    }
}

/// The kind of choice a command answers, if it answers one.
fn kind_of(command: &Command) -> Option<ChoiceKind> {
    Some(match command {
        Command::SignOff { .. } => ChoiceKind::SignOff,
        Command::MarkDone { .. } => ChoiceKind::MarkDone,
        Command::Override { .. } => ChoiceKind::Override,
        Command::Retry { .. } => ChoiceKind::Retry,
        Command::Skip { .. } => ChoiceKind::Skip,
        Command::Cancel => ChoiceKind::Cancel,
        Command::Confirm { .. } => ChoiceKind::ConfirmEnv,
        Command::ReleaseHold { .. } => ChoiceKind::ReleaseHold,
        _ => return None,
    })
}

// ---------------------------------------------------------------------------
// decide: run, pause, notes.

#[test]
fn run_journals_a_run_event_only_when_paused() {
    assert_eq!(
        accepted(&state("fresh, paused"), &Command::Run { who: "alice".into() }),
        [run()]
    );
    assert!(accepted(&state("fresh, running"), &Command::Run { who: "alice".into() }).is_empty());
    let mut s = state("fresh, paused");
    journal(&mut s, [run()]);
    assert!(s.auto, "the fold holds the run");
}

#[test]
fn pause_journals_a_pause_event_only_while_running() {
    let pause = Command::Pause { who: "bob".into() };
    assert_eq!(
        accepted(&state("a running"), &pause),
        [Event::Pause { who: "bob".into() }]
    );
    assert!(accepted(&state("fresh, paused"), &pause).is_empty());
    let mut s = state("a running");
    act(&mut s, &pause);
    assert!(!s.auto);
    assert_eq!(
        s.step("a").status(),
        StepStatus::Running,
        "the running step goes on"
    );
}

#[test]
fn a_started_step_a_rollback_and_a_resume_set_the_run_and_leaving_clears_it() {
    assert!(fold(standard(), &[started("a", 1)]).auto);
    let s = fold(
        standard(),
        &[Event::RollbackStarted {
            who: "a".into(),
            reason: "r".into(),
        }],
    );
    assert!(s.auto);
    assert!(!fold(standard(), &[run(), Event::Detached { who: "a".into() }]).auto);
    let resumed = |run: bool| Event::Resumed {
        operator: "bob".into(),
        host: "h".into(),
        seat: None,
        runbook_sha256: "00".into(),
        plan: None,
        run,
        taken_over_from: None,

        targets: None,
    };
    assert!(!fold(standard(), &[run(), resumed(false)]).auto);
    assert!(fold(standard(), &[resumed(true)]).auto);
}

#[test]
fn every_command_is_refused_once_the_session_ended() {
    let s = state("ended");
    for command in every_command("a", "production") {
        assert_eq!(refused(&s, &command), Refusal::Ended, "{command:?}");
    }
}

#[test]
fn every_command_is_refused_once_the_session_was_left() {
    let s = state("detached");
    for command in every_command("a", "production") {
        assert_eq!(refused(&s, &command), Refusal::Detached, "{command:?}");
    }
}

#[test]
fn a_note_needs_text() {
    let s = state("a running");
    assert_eq!(refused(&s, &note("  \n ")), Refusal::EmptyNote);
    assert!(refused(&s, &note("")).needs_input());
    assert_eq!(
        accepted(&s, &note("DBA paged")),
        [Event::Note {
            who: "alice".into(),
            text: "DBA paged".into()
        }]
    );
}

// ---------------------------------------------------------------------------
// decide: sign-offs, four eyes, mark done, override.

#[test]
fn the_waiting_manual_step_is_signed_with_a_trimmed_name() {
    for name in ["b pending sign-off", "b awaiting sign-off"] {
        let s = state(name);
        assert_eq!(
            accepted(&s, &sign_off("b", "  bob ")),
            [Event::SignedOff {
                step: "b".into(),
                signature: signature("bob", "", "")
            }],
            "{name}"
        );
    }
}

#[test]
fn a_sign_off_needs_a_name() {
    let s = state("b awaiting sign-off");
    let r = refused(&s, &sign_off("b", "   "));
    assert_eq!(r, Refusal::MissingName);
    assert!(r.needs_input());
}

#[test]
fn four_eyes_need_two_different_names() {
    let s = state("b, one of two signed");
    assert!(matches!(
        s.next(),
        Next::SignOff {
            signed: 1,
            needed: 2,
            ..
        }
    ));
    assert_eq!(
        refused(&s, &sign_off("b", "alice")),
        Refusal::AlreadySigned {
            who: "alice".into(),
            step: "b".into(),
            needed: 2
        }
    );
    assert!(
        refused(&s, &sign_off("b", " alice "))
            .to_string()
            .contains("already signed")
    );
    let mut s = s;
    act(&mut s, &sign_off("b", "bob"));
    assert_eq!(s.step("b").status(), StepStatus::SignedOff);
}

#[test]
fn four_eyes_need_two_seats_whatever_name_is_typed() {
    let s = state("b, one of two signed at this desk");
    let why = refused(&s, &sign_off_from("b", "bob", &desk()));
    assert_eq!(
        why,
        Refusal::SeatAlreadySigned {
            step: "b".into(),
            signer: "alice".into(),
            seat: "ops@h pts/1".into(),
            session: "s1".into(),
        }
    );
    let text = why.to_string();
    assert!(
        text.contains("needs a second signer at another terminal: `runsheet attach s1 --operator NAME`")
            && text.contains("or a resume from that seat"),
        "{text}"
    );
    assert!(!why.needs_input(), "no name typed makes it acceptable");
    // The same person from another seat is still one person.
    assert!(matches!(
        refused(&s, &sign_off_from("b", "Alice", &seat("/dev/pts/2"))),
        Refusal::AlreadySigned { .. }
    ));
    // Another person at another terminal of the same OS user and host is another seat.
    let mut s = s;
    act(&mut s, &sign_off_from("b", "bob", &seat("/dev/pts/2")));
    assert_eq!(s.step("b").status(), StepStatus::SignedOff);
}

#[test]
fn a_seat_is_os_user_host_and_terminal() {
    let s = state("b, one of two signed at this desk");
    let other_host = Seat {
        host: "h2".into(),
        ..desk()
    };
    let other_user = Seat {
        os_user: Some("bob".into()),
        ..desk()
    };
    for at in [other_host, other_user] {
        assert!(
            decide(&s, &sign_off_from("b", "bob", &at), now()).is_ok(),
            "{at:?} is another seat"
        );
    }
    // Without a terminal, two processes of one OS user on one host are one seat.
    let pipe = Seat {
        terminal: None,
        ..desk()
    };
    let piped = fold(
        s.plan.clone(),
        &[done("a"), vec![awaiting("b"), signed_from("b", "alice", &pipe)]].concat(),
    );
    assert!(matches!(
        refused(&piped, &sign_off_from("b", "bob", &pipe)),
        Refusal::SeatAlreadySigned { seat, .. } if seat == "ops@h (no terminal)"
    ));
    // A process without a terminal could be any terminal of its OS user and
    // host: it is the seat of one that signed, and one that signed without
    // a terminal is every terminal's.
    assert!(matches!(
        refused(&s, &sign_off_from("b", "bob", &pipe)),
        Refusal::SeatAlreadySigned { .. }
    ));
    assert!(matches!(
        refused(&piped, &sign_off_from("b", "bob", &seat("/dev/pts/2"))),
        Refusal::SeatAlreadySigned { .. }
    ));
    assert!(rules::same_seat(&pipe, &desk()) && !rules::same_seat(&seat("/dev/pts/2"), &desk()));
}

#[test]
fn pre_approvals_from_one_seat_count_once() {
    let s = state("b, one of two signed at this desk");
    let preapproved = |who: &str| Command::SignOff {
        step: "b".into(),
        signature: Signature {
            preapproved: true,
            seat: Some(desk()),
            ..signature(who, "", "pre-approved on the command line (--approve b)")
        },
    };
    let mut fresh = fold(s.plan.clone(), &[done("a"), vec![awaiting("b")]].concat());
    act(&mut fresh, &preapproved("alice"));
    assert!(matches!(
        refused(&fresh, &preapproved("bob")),
        Refusal::SeatAlreadySigned { .. }
    ));
    assert_eq!(fresh.step("b").status(), StepStatus::AwaitingSignOff);
}

#[test]
fn a_seat_that_signed_is_offered_no_sign_off_and_told_where_to_sign() {
    let s = state("b, one of two signed at this desk");
    let kinds: Vec<ChoiceKind> = choices(&s, &desk()).iter().map(|c| c.kind).collect();
    assert_eq!(kinds, [ChoiceKind::Skip]);
    let elsewhere: Vec<ChoiceKind> = choices(&s, &seat("/dev/pts/2")).iter().map(|c| c.kind).collect();
    assert_eq!(elsewhere, [ChoiceKind::SignOff, ChoiceKind::Skip]);
    let hint = headless_hint(&s, &desk()).unwrap_or_default();
    let resume = rules::resume_command(&s.header);
    assert_eq!(
        hint,
        format!(
            "manual step b has 1 of 2 sign-offs and this seat (ops@h pts/1) has given its one; it needs a \
             second signer at another terminal: `runsheet attach s1 --operator NAME`, or a resume from \
             that seat: {resume} --headless --operator NAME --approve b"
        )
    );
    // Signed at another seat, this one may sign: the usual hint.
    let other = state("b, one of two signed at another desk");
    assert!(
        headless_hint(&other, &desk())
            .unwrap_or_default()
            .starts_with("manual step b needs a sign-off"),
    );
}

/// Journals written before seats were recorded fold, replay and report as
/// they did: a sign-off without a seat counts by its name, and matches no seat.
#[test]
fn a_sign_off_without_a_seat_counts_by_its_name() {
    let old = state("b, one of two signed");
    assert!(old.step("b").signoffs()[0].signature.seat.is_none());
    assert_eq!(
        choices(&old, &desk())[0].kind,
        ChoiceKind::SignOff,
        "any seat may give the second"
    );
    assert!(matches!(
        refused(&old, &sign_off_from("b", "alice", &desk())),
        Refusal::AlreadySigned { .. }
    ));
    let mut old = old;
    act(&mut old, &sign_off_from("b", "bob", &desk()));
    assert_eq!(old.step("b").status(), StepStatus::SignedOff);
    // A journal that recorded two names from one seat (before the rule) folds as signed.
    let mut four_eyes = standard();
    four_eyes.signoffs = 2;
    let recorded = fold(
        four_eyes,
        &[
            done("a"),
            vec![
                awaiting("b"),
                signed_from("b", "alice", &desk()),
                signed_from("b", "bob", &desk()),
            ],
        ]
        .concat(),
    );
    assert_eq!(recorded.step("b").status(), StepStatus::SignedOff);
}

/// Separation of duties: `a` (shell) and `c` (SQL) run, `b` and `v` are
/// manual, each after a step someone ran.
fn separated() -> Plan {
    Plan {
        separation_of_duties: true,
        ..plan(vec![shell("a"), manual("b"), sql("c"), manual("m"), manual("v")])
    }
}

fn resumed(who: &str) -> Event {
    Event::Resumed {
        operator: who.into(),
        host: "h".into(),
        seat: None,
        runbook_sha256: "00".into(),
        plan: None,
        run: false,
        targets: None,
        taken_over_from: None,
    }
}

#[test]
fn separation_of_duties_keeps_who_ran_the_step_before_from_signing() {
    let s = fold(
        separated(),
        &[vec![run()], done("a"), vec![awaiting("b")]].concat(),
    );
    assert_eq!(
        rules::ran_before(&s, "b").map(|(st, ran)| (st.id.as_str(), ran.operator.as_str())),
        Some(("a", "alice"))
    );
    let why = refused(&s, &sign_off_from("b", " ALICE ", &desk()));
    assert_eq!(
        why,
        Refusal::SignerRanPreviousStep {
            who: "ALICE".into(),
            step: "b".into(),
            ran: "a".into(),
            session: "s1".into(),
        }
    );
    assert!(
        why.to_string().contains("separation of duties") && why.to_string().contains("runsheet attach s1")
    );
    assert!(decide(&s, &sign_off_from("b", "bob", &desk()), now()).is_ok());
    // Without the option the driver signs her own change.
    let mut open = s.clone();
    open.plan.separation_of_duties = false;
    assert!(decide(&open, &sign_off_from("b", "alice", &desk()), now()).is_ok());
}

/// Under separation of duties the seat that ran the step before does not
/// sign it either, whatever name is typed there: the driver typing "bob" is
/// still the driver. A resume from another seat moves who ran what.
#[test]
fn separation_of_duties_keeps_the_seat_that_ran_the_step_before_from_signing() {
    let s = fold_seated(
        separated(),
        Some(desk()),
        &[vec![run()], done("a"), vec![awaiting("b")]].concat(),
    );
    let why = refused(&s, &sign_off_from("b", "bob", &desk()));
    assert_eq!(
        why,
        Refusal::SeatRanPreviousStep {
            step: "b".into(),
            ran: "a".into(),
            operator: "alice".into(),
            seat: "ops@h pts/1".into(),
            session: "s1".into(),
        }
    );
    assert!(
        why.to_string().contains("another person at another seat"),
        "{why}"
    );
    // Not offered there, and told where to sign instead.
    let kinds: Vec<ChoiceKind> = choices(&s, &desk()).iter().map(|c| c.kind).collect();
    assert_eq!(kinds, [ChoiceKind::Skip]);
    assert_eq!(rules::seat_cannot_sign(&s, "b", &desk()), Some(why.clone()));
    let hint = headless_hint(&s, &desk()).unwrap_or_default();
    assert!(
        hint.starts_with(&why.to_string()) && hint.ends_with("--headless --operator NAME --approve b"),
        "{hint}"
    );
    assert_eq!(
        choices(&s, &seat("/dev/pts/2"))[0].kind,
        ChoiceKind::SignOff,
        "another seat may"
    );
    // The same OS user and host without a terminal could be that terminal.
    let pipe = Seat {
        terminal: None,
        ..desk()
    };
    assert!(matches!(
        refused(&s, &sign_off_from("b", "bob", &pipe)),
        Refusal::SeatRanPreviousStep { .. }
    ));
    assert!(decide(&s, &sign_off_from("b", "bob", &seat("/dev/pts/2")), now()).is_ok());
    // Resumed at pts/2, c is run from there: pts/2 does not sign m, the desk may.
    let mut from_two = resumed("carol");
    if let Event::Resumed { seat: at, .. } = &mut from_two {
        *at = Some(seat("/dev/pts/2"));
    }
    let events = [
        vec![run()],
        done("a"),
        vec![
            awaiting("b"),
            signed_from("b", "bob", &seat("/dev/pts/3")),
            from_two,
        ],
        done("c"),
        vec![awaiting("m")],
    ]
    .concat();
    let s = fold_seated(separated(), Some(desk()), &events);
    assert!(matches!(
        refused(&s, &sign_off_from("m", "dave", &seat("/dev/pts/2"))),
        Refusal::SeatRanPreviousStep { ran, .. } if ran == "c"
    ));
    assert!(decide(&s, &sign_off_from("m", "dave", &desk()), now()).is_ok());
}

#[test]
fn separation_of_duties_names_the_operator_of_the_last_step_run() {
    // Bob resumed and ran c; manual m and v come after it: bob signs neither,
    // and alice (who ran only a) may.
    let events = [
        vec![run()],
        done("a"),
        vec![awaiting("b"), signed("b", "carol"), resumed("bob")],
        done("c"),
        vec![awaiting("m")],
    ]
    .concat();
    let mut s = fold(separated(), &events);
    assert!(matches!(
        refused(&s, &sign_off_from("m", "bob", &desk())),
        Refusal::SignerRanPreviousStep { ran, .. } if ran == "c"
    ));
    act(&mut s, &sign_off_from("m", "alice", &desk()));
    journal(&mut s, [awaiting("v")]);
    assert!(matches!(
        refused(&s, &sign_off_from("v", "bob", &seat("/dev/pts/4"))),
        Refusal::SignerRanPreviousStep { ran, .. } if ran == "c"
    ));
    assert!(decide(&s, &sign_off_from("v", "carol", &seat("/dev/pts/4")), now()).is_ok());
    // Nothing ran before the first step: no one is kept from signing it.
    let first = fold(
        Plan {
            separation_of_duties: true,
            ..plan(vec![manual("m")])
        },
        &[awaiting("m")],
    );
    assert_eq!(rules::ran_before(&first, "m"), None);
    assert!(decide(&first, &sign_off_from("m", "alice", &desk()), now()).is_ok());
}

#[test]
fn a_sign_off_of_a_step_that_does_not_wait_for_one_is_refused() {
    assert_eq!(
        refused(&state("b awaiting sign-off"), &sign_off("c", "bob")),
        Refusal::NotWaitingForSignOff { step: "c".into() }
    );
    assert_eq!(
        refused(&state("c next"), &sign_off("c", "bob")),
        Refusal::NoSignOffDue
    );
    assert_eq!(
        refused(&state("a running"), &sign_off("a", "bob")),
        Refusal::StepRunning { step: "a".into() }
    );
}

#[test]
fn a_failed_or_interrupted_step_is_marked_done_by_one_name() {
    for name in ["a failed", "a timed out", "a cancelled", "a interrupted"] {
        let mut s = state(name);
        s.plan.signoffs = 2;
        act(&mut s, &mark_done("a", "bob"));
        assert_eq!(
            s.step("a").status(),
            StepStatus::SignedOff,
            "{name}: counts at once"
        );
    }
}

#[test]
fn a_failed_gate_is_overridden_not_marked_done() {
    let s = state("gate failed");
    assert_eq!(
        refused(&s, &mark_done("g", "bob")),
        Refusal::GateMarkedDone { step: "g".into() }
    );
    assert_eq!(
        refused(&s, &override_("g", "", "checked")),
        Refusal::OverrideNeedsRoleAndReason
    );
    assert_eq!(
        refused(&s, &override_("g", "CTO", " ")),
        Refusal::OverrideNeedsRoleAndReason
    );
    let events = accepted(&s, &override_("g", "CTO", "staging verified by hand"));
    assert_eq!(
        events,
        [Event::SignedOff {
            step: "g".into(),
            signature: signature("alice", "CTO", "staging verified by hand")
        }]
    );
}

#[test]
fn a_failed_automated_step_may_be_overridden_too() {
    let s = state("a failed");
    assert_eq!(
        accepted(&s, &override_("a", "override", "fixed by hand")).len(),
        1
    );
}

#[test]
fn mark_done_and_override_need_a_step_that_waits_for_a_decision() {
    assert_eq!(
        refused(&state("c next"), &mark_done("c", "bob")),
        Refusal::NothingToDecide
    );
    assert_eq!(
        refused(&state("gate failed"), &override_("a", "DBA", "x")),
        Refusal::NotWaitingForDecision { step: "a".into() }
    );
    assert_eq!(
        refused(&state("a running"), &mark_done("a", "bob")),
        Refusal::StepRunning { step: "a".into() }
    );
}

// ---------------------------------------------------------------------------
// decide: retry, skip, cancel, abort.

#[test]
fn a_retry_starts_the_next_attempt() {
    for name in ["a failed", "a timed out", "a cancelled", "a interrupted"] {
        assert_eq!(accepted(&state(name), &retry("a")), [started("a", 2)], "{name}");
    }
}

#[test]
fn a_failed_gate_is_checked_again() {
    assert_eq!(accepted(&state("gate failed"), &retry("g")), [started("g", 2)]);
}

#[test]
fn a_retry_is_refused_when_nothing_failed_or_the_step_is_manual() {
    assert_eq!(refused(&state("c next"), &retry("c")), Refusal::NothingToDecide);
    assert_eq!(
        refused(&state("a running"), &retry("a")),
        Refusal::StepRunning { step: "a".into() }
    );
    assert_eq!(
        refused(&state("a failed"), &retry("c")),
        Refusal::NotWaitingForDecision { step: "c".into() }
    );
    let s = fold(
        standard(),
        &[
            Event::StepInterrupted {
                step: "a".into(),
                attempt: 1,
            },
            Event::StepInterrupted {
                step: "b".into(),
                attempt: 1,
            },
        ],
    );
    let mut s = s;
    act(&mut s, &mark_done("a", "x"));
    assert_eq!(
        refused(&s, &retry("b")),
        Refusal::ManualStepRuns { step: "b".into() }
    );
}

#[test]
fn the_next_step_may_be_skipped_in_every_state_that_waits() {
    for (name, id) in [
        ("fresh, paused", "a"),
        ("a failed", "a"),
        ("b pending sign-off", "b"),
        ("b awaiting sign-off", "b"),
        ("c to confirm", "c"),
        ("c next", "c"),
    ] {
        let s = state(name);
        assert_eq!(
            accepted(&s, &skip(id, "not needed")),
            [Event::Skipped {
                step: id.into(),
                who: "alice".into(),
                reason: "not needed".into()
            }],
            "{name}"
        );
    }
}

#[test]
fn a_skip_needs_a_reason_and_the_next_step() {
    let s = state("c next");
    let r = refused(&s, &skip("c", " "));
    assert_eq!(
        r,
        Refusal::MissingReason {
            what: rules::Reasoned::Skip
        }
    );
    assert!(r.needs_input() && r.to_string() == "a skip needs a reason");
    assert_eq!(
        refused(&s, &skip("a", "x")),
        Refusal::NotNext { step: "a".into() }
    );
    assert_eq!(
        refused(&state("a running"), &skip("a", "x")),
        Refusal::StepRunning { step: "a".into() }
    );
    assert_eq!(refused(&state("all done"), &skip("", "x")), Refusal::NothingLeft);
}

#[test]
fn a_gate_cannot_be_skipped_failed_or_not() {
    let mut s = state("c next");
    journal(&mut s, done("c"));
    assert!(matches!(s.next(), Next::Start(g) if g.id == "g"));
    for s in [s, state("gate failed")] {
        let r = refused(&s, &skip("g", "in a hurry"));
        assert_eq!(r, Refusal::GateCannotBeSkipped { step: "g".into() });
        assert!(r.to_string().contains("a gate cannot be skipped"));
    }
}

#[test]
fn only_a_running_step_can_be_cancelled() {
    assert!(accepted(&state("a running"), &Command::Cancel).is_empty());
    for name in ["fresh, running", "a failed", "b awaiting sign-off"] {
        assert_eq!(
            refused(&state(name), &Command::Cancel),
            Refusal::NothingRunning,
            "{name}"
        );
    }
}

#[test]
fn an_abort_ends_the_session_with_its_reason() {
    let s = state("a failed");
    assert_eq!(
        accepted(&s, &abort("responses too slow")),
        [Event::SessionEnded {
            outcome: SessionOutcome::Aborted,
            reason: Some("responses too slow".into())
        }]
    );
    assert_eq!(
        accepted(&s, &abort("")),
        [Event::SessionEnded {
            outcome: SessionOutcome::Aborted,
            reason: Some("aborted by alice".into())
        }]
    );
}

#[test]
fn an_abort_during_the_rollback_ends_the_rollback_first() {
    let events = accepted(&state("rolling back"), &abort("x"));
    assert_eq!(
        events[0],
        Event::RollbackFinished {
            outcome: SessionOutcome::Aborted
        }
    );
    assert!(matches!(events[1], Event::SessionEnded { .. }));
}

#[test]
fn an_abort_or_a_detach_while_a_step_runs_waits_for_the_step() {
    let s = state("a running");
    assert!(accepted(&s, &abort("x")).is_empty());
    assert!(accepted(&s, &detach()).is_empty());
    assert_eq!(
        accepted(&state("a failed"), &detach()),
        [Event::Detached { who: "alice".into() }]
    );
}

// ---------------------------------------------------------------------------
// decide: the production guard and the rollback.

#[test]
fn the_environment_is_confirmed_by_its_exact_name_once() {
    let s = state("c to confirm");
    assert!(matches!(s.next(), Next::Confirm(c) if c.id == "c"));
    let r = refused(&s, &confirm(" "));
    assert!(r.needs_input() && r.to_string() == "type production to confirm");
    assert_eq!(
        refused(&s, &confirm("prod")),
        Refusal::WrongEnvironmentName {
            typed: "prod".into(),
            environment: "production".into()
        }
    );
    let mut s = s;
    act(&mut s, &confirm(" production "));
    assert_eq!(s.confirmed_by.as_deref(), Some("alice"));
    assert!(matches!(s.next(), Next::Start(c) if c.id == "c"));
    assert_eq!(refused(&s, &confirm("production")), Refusal::AlreadyConfirmed);
}

#[test]
fn the_rollback_starts_once_with_a_reason_and_nothing_running() {
    assert_eq!(
        refused(&state("a failed"), &rollback(" ")).to_string(),
        "say which rollback criterion is met"
    );
    assert_eq!(
        refused(&state("a running"), &rollback("x")),
        Refusal::RollbackWhileRunning
    );
    assert_eq!(
        refused(&state("rolling back"), &rollback("x")),
        Refusal::RollbackStarted
    );
    let mut no_steps = standard();
    no_steps.rollback.clear();
    assert_eq!(
        refused(&fold(no_steps, &[]), &rollback("x")),
        Refusal::NoRollbackSteps
    );
    let mut s = state("a failed");
    act(&mut s, &rollback("responses 60% slower"));
    assert!(s.rolling_back() && s.auto);
    assert!(matches!(s.next(), Next::Start(r) if r.id == "rb.1"));
}

// ---------------------------------------------------------------------------
// choices, and the hints drawn from them.

#[test]
fn the_choices_of_each_state() {
    use ChoiceKind as K;
    let kinds =
        |name: &str| -> Vec<ChoiceKind> { choices(&state(name), &desk()).iter().map(|c| c.kind).collect() };
    assert_eq!(kinds("fresh, paused"), [K::Run]);
    assert_eq!(kinds("a running"), [K::Cancel]);
    assert_eq!(kinds("a failed"), [K::Retry, K::MarkDone, K::Skip, K::Abort]);
    assert_eq!(kinds("b awaiting sign-off"), [K::SignOff, K::Skip]);
    assert_eq!(kinds("c to confirm"), [K::ConfirmEnv]);
    assert_eq!(kinds("gate failed"), [K::Retry, K::Override, K::Abort]);
    for name in ["all done", "ended", "detached"] {
        assert!(kinds(name).is_empty(), "{name}");
    }
    let labels: Vec<&str> = choices(&state("gate failed"), &desk())
        .iter()
        .map(|c| c.label)
        .collect();
    assert_eq!(labels, ["check again", "override (signed)", "abort"]);
}

/// The consistency the checklist, headless and the engine rely on: every
/// decision offered (and every headless flag hinted) is accepted by
/// `decide`, and every command `decide` refuses is not offered.
#[test]
fn every_choice_offered_is_accepted_and_every_refusal_is_not_offered() {
    let mut checked = 0;
    for (name, s) in states() {
        let env = s.plan.environment.clone();
        let offered = choices(&s, &desk());
        for choice in &offered {
            let command = command_for(choice.kind, &choice.step, &env);
            assert!(
                decide(&s, &command, now()).is_ok(),
                "{name}: {:?} is offered, but {command:?} is refused: {:?}",
                choice.kind,
                decide(&s, &command, now())
            );
            checked += 1;
        }
        let step = s.next().step().map(|st| st.id.clone()).unwrap_or_default();
        for command in every_command(&step, &env) {
            if let (Err(why), Some(kind)) = (decide(&s, &command, now()), kind_of(&command)) {
                assert!(
                    !offered.iter().any(|c| c.kind == kind && c.step == step),
                    "{name}: {command:?} is refused ({why}) but offered"
                );
                checked += 1;
            }
        }
    }
    assert!(checked > 60, "only {checked} checks");
}

#[test]
fn every_headless_flag_hinted_is_accepted() {
    for (name, s) in states() {
        let env = s.plan.environment.clone();
        for choice in choices(&s, &desk()).iter().filter(|c| c.headless.is_some()) {
            // What headless sends for each flag.
            let command = match choice.headless {
                Some(Flag::Approve) => Command::SignOff {
                    step: choice.step.clone(),
                    signature: Signature {
                        preapproved: true,
                        seat: Some(desk()),
                        ..signature("bob", "", "pre-approved")
                    },
                },
                Some(Flag::Retry) => retry(&choice.step),
                Some(Flag::Skip) => skip(&choice.step, "REASON"),
                Some(Flag::Override) => override_(&choice.step, "override", "REASON"),
                Some(Flag::ConfirmEnv) => confirm(&env),
                Some(Flag::ApproveHold) => release_hold("alice", true),
                None => unreachable!(),
            };
            assert!(
                decide(&s, &command, now()).is_ok(),
                "{name}: {:?} hinted, {command:?} refused",
                choice.headless
            );
        }
    }
}

/// The resume command in every hint pastes into a shell as it is: the
/// runbook's path, the environment and the mode, quoted.
#[test]
fn the_resume_command_is_pasteable() {
    let mut header = state("a failed").header;
    header.runbook_path = "/srv/run books/it's \"odd\".md".into();
    header.environment = "prod eu".into();
    header.mode = Mode::DryRun;
    let words = shell_words::split(&rules::resume_command(&header)).expect("shell words");
    assert_eq!(
        words,
        [
            "runsheet",
            "run",
            "/srv/run books/it's \"odd\".md",
            "--env",
            "prod eu",
            "--dry-run",
            "--resume",
            header.session_id.as_str()
        ]
    );
}

#[test]
fn the_headless_hints_name_the_flags_that_go_on() {
    let hint = |name: &str| headless_hint(&state(name), &desk()).unwrap_or_default();
    let go_on = |name: &str| format!("{} --headless", rules::resume_command(&state(name).header));
    assert_eq!(
        hint("a failed"),
        format!(
            "step a is failed; decide: {} --retry a (or --skip a=REASON)",
            go_on("a failed")
        )
    );
    assert_eq!(
        hint("gate failed"),
        format!(
            "step g is failed; decide: {} --retry g (or --override g=REASON)",
            go_on("gate failed")
        )
    );
    assert_eq!(
        hint("b awaiting sign-off"),
        format!(
            "manual step b needs a sign-off; sign it in the TUI, or pre-approve it: {} --approve b",
            go_on("b awaiting sign-off")
        )
    );
    assert_eq!(
        hint("c to confirm"),
        "environment production needs typed confirmation before step c changes anything; pass --confirm-env production"
    );
    assert_eq!(headless_hint(&state("a running"), &desk()), None);
}

// ---------------------------------------------------------------------------
// The engine core: machine::step.

#[test]
fn opening_sets_the_estimate_timer_at_twice_the_estimate() {
    let mut p = standard();
    p.estimate = Some(Estimate {
        min: Duration::from_secs(3600),
        max: Duration::from_secs(7200),
    });
    let s = fold(p, &[]);
    let fx = machine::step(&s, Input::Opened { now: t0() });
    let [
        Effect::Timer {
            at,
            timer: Timer::Estimate,
        },
    ] = fx.as_slice()
    else {
        panic!("{fx:?}")
    };
    assert_eq!(
        *at,
        t0() + chrono::Duration::hours(4) + chrono::Duration::milliseconds(1)
    );
    assert!(machine::step(&fold(standard(), &[]), Input::Opened { now: t0() }).is_empty());
}

#[test]
fn the_estimate_warning_is_raised_once_when_its_timer_goes_off_late_enough() {
    let mut p = standard();
    p.estimate = Some(Estimate {
        min: Duration::from_secs(60),
        max: Duration::from_secs(60),
    });
    let mut s = fold(p, &[]);
    // Early (a clock that jumped): the timer is set again.
    let early = machine::step(
        &s,
        Input::Timer {
            timer: Timer::Estimate,
            now: t0() + chrono::Duration::seconds(90),
        },
    );
    assert!(matches!(early.as_slice(), [Effect::Timer { .. }]), "{early:?}");
    let late = Input::Timer {
        timer: Timer::Estimate,
        now: t0() + chrono::Duration::seconds(121),
    };
    let fx = feed(&mut s, late.clone());
    assert!(fx.is_empty());
    assert_eq!(s.warnings.len(), 1);
    assert_eq!(s.warnings[0].code, ESTIMATE_EXCEEDED);
    assert!(
        s.warnings[0].message.contains("twice the estimate (1m)"),
        "{}",
        s.warnings[0].message
    );
    assert!(machine::step(&s, late).is_empty(), "once");
    assert!(machine::step(&s, Input::Opened { now: now() }).is_empty());
}

#[test]
fn nothing_starts_while_the_session_is_paused() {
    assert!(machine::step(&state("fresh, paused"), Input::Idle { now: now() }).is_empty());
    let paused = [done("a"), vec![Event::Pause { who: "bob".into() }]].concat();
    assert!(machine::step(&fold(standard(), &paused), Input::Idle { now: now() }).is_empty());
}

#[test]
fn a_running_session_starts_the_next_step_and_its_timeout() {
    let fx = machine::step(&state("fresh, running"), Input::Idle { now: now() });
    assert_eq!(fx.len(), 3, "{fx:?}");
    assert_eq!(fx[0], Effect::Journal(started("a", 1)));
    assert!(matches!(&fx[1], Effect::Spawn { step, attempt: 1 } if step.id == "a"));
    assert_eq!(
        fx[2],
        Effect::Timer {
            at: now() + chrono::Duration::from_std(DEFAULT_TIMEOUT).expect("a duration"),
            timer: Timer::StepTimeout {
                step: "a".into(),
                attempt: 1,
                after: DEFAULT_TIMEOUT
            }
        }
    );
    let mut p = plan(vec![shell("a")]);
    p.phases[0].steps[0].timeout = Some(Duration::from_secs(90));
    let fx = machine::step(&fold(p, &[run()]), Input::Idle { now: now() });
    assert!(matches!(
        &fx[2],
        Effect::Timer { at, timer: Timer::StepTimeout { after, .. } }
            if *after == Duration::from_secs(90) && *at == now() + chrono::Duration::seconds(90)
    ));
}

#[test]
fn a_step_still_running_at_its_timeout_is_stopped_as_timed_out() {
    let s = state("a running");
    let timeout = |attempt| Input::Timer {
        timer: Timer::StepTimeout {
            step: "a".into(),
            attempt,
            after: Duration::from_secs(600),
        },
        now: now(),
    };
    assert_eq!(
        machine::step(&s, timeout(1)),
        [Effect::Stop {
            step: "a".into(),
            attempt: 1,
            why: Stop::TimedOut {
                after: Duration::from_secs(600)
            }
        }]
    );
    assert!(
        machine::step(&s, timeout(2)).is_empty(),
        "another attempt's timer"
    );
    assert!(
        machine::step(&state("a failed"), timeout(1)).is_empty(),
        "it ended before"
    );
}

#[test]
fn a_manual_step_is_asked_for_once() {
    let mut s = fold(standard(), &[[vec![run()], done("a")].concat()].concat());
    let fx = feed(&mut s, Input::Idle { now: now() });
    assert!(fx.is_empty());
    assert_eq!(s.step("b").status(), StepStatus::AwaitingSignOff);
    assert!(
        machine::step(&s, Input::Idle { now: now() }).is_empty(),
        "asked once"
    );
}

#[test]
fn a_session_whose_steps_are_done_completes() {
    let mut s = state("all done");
    let fx = feed(&mut s, Input::Idle { now: now() });
    assert!(fx.is_empty());
    assert_eq!(s.outcome, Some((SessionOutcome::Completed, None)));
    assert_eq!(machine::step(&s, Input::Idle { now: now() }), [Effect::Exit]);
}

#[test]
fn a_rollback_run_to_its_end_rolls_the_session_back() {
    let mut s = state("rolling back");
    journal(&mut s, done("rb.1"));
    feed(&mut s, Input::Idle { now: now() });
    assert_eq!(
        s.rollback.as_ref().and_then(|r| r.finished).map(|f| f.1),
        Some(SessionOutcome::Completed)
    );
    assert_eq!(s.outcome.as_ref().map(|o| o.0), Some(SessionOutcome::RolledBack));
}

#[test]
fn a_session_that_was_left_stops_the_engine() {
    assert_eq!(
        machine::step(&state("detached"), Input::Idle { now: now() }),
        [Effect::Exit]
    );
    assert_eq!(
        machine::step(&state("ended"), Input::Idle { now: now() }),
        [Effect::Exit]
    );
}

#[test]
fn the_backups_gate_is_decided_from_the_session_without_a_process() {
    let mut backup = shell("backup");
    backup.backup = true;
    let p = plan(vec![backup, backups_gate("gate.backups", 1)]);
    let mut s = fold(p.clone(), &[run()]);
    journal(&mut s, done("backup"));
    let fx = feed(&mut s, Input::Idle { now: now() });
    assert!(fx.is_empty(), "no process: {fx:?}");
    assert_eq!(s.step("gate.backups").status(), StepStatus::Succeeded);
    assert!(s.verifications[0].passed);

    let mut s = fold(p, &[run()]);
    journal(
        &mut s,
        [started("backup", 1), finished("backup", 1, Outcome::Failed)],
    );
    act(&mut s, &skip("backup", "disk full"));
    feed(&mut s, Input::Idle { now: now() });
    let gate = s.step("gate.backups");
    assert_eq!(gate.status(), StepStatus::Failed);
    assert!(
        gate.attempts()[0]
            .error
            .as_deref()
            .is_some_and(|e| e.contains("0 of 1 required backups"))
    );
}

#[test]
fn a_promotion_gate_looks_at_the_saved_sessions_in_a_process() {
    let mut s = fold(plan(vec![gate("g")]), &[run()]);
    let fx = feed(&mut s, Input::Idle { now: now() });
    assert!(matches!(fx.as_slice(), [Effect::Spawn { step, attempt: 1, .. }] if step.id == "g"));
}

fn result(outcome: Outcome) -> StepResult {
    StepResult {
        outcome,
        exit_code: Some(if outcome == Outcome::Succeeded { 0 } else { 3 }),
        error: (outcome != Outcome::Succeeded).then(|| "exited with status 3".into()),
        observed: None,
        passed: None,
        shell: None,
    }
}

fn exited<'a>(step: &'a str, attempt: u32, result: StepResult, stops: &'a [Stop]) -> Input<'a> {
    Input::Exited {
        step,
        attempt,
        result,
        elapsed: Duration::from_millis(1500),
        stops,
    }
}

#[test]
fn a_step_that_exits_zero_succeeds_and_the_next_one_starts() {
    let mut s = state("a running");
    let fx = feed(&mut s, exited("a", 1, result(Outcome::Succeeded), &[]));
    assert!(fx.is_empty());
    let a = s.step("a");
    assert_eq!(a.status(), StepStatus::Succeeded);
    assert_eq!(a.attempts()[0].duration, Some(Duration::from_millis(1500)));
    assert_eq!(
        machine::step(&s, Input::Idle { now: now() }),
        [Effect::Journal(awaiting("b"))]
    );
}

#[test]
fn a_failed_step_waits_for_a_decision() {
    let mut s = state("a running");
    feed(&mut s, exited("a", 1, result(Outcome::Failed), &[]));
    assert!(matches!(s.next(), Next::Decide(a) if a.id == "a"));
    assert!(
        machine::step(&s, Input::Idle { now: now() }).is_empty(),
        "nothing re-runs by itself"
    );
}

#[test]
fn a_timed_out_step_says_so_and_waits_for_a_decision() {
    let mut s = state("a running");
    let stops = [Stop::TimedOut {
        after: Duration::from_secs(1800),
    }];
    let timed_out = StepResult {
        outcome: Outcome::TimedOut,
        exit_code: None,
        error: Some("timed out after 30m; its processes were stopped (SIGTERM)".into()),
        observed: None,
        passed: None,
        shell: None,
    };
    feed(&mut s, exited("a", 1, timed_out, &stops));
    assert_eq!(s.step("a").status(), StepStatus::TimedOut);
    assert_eq!(s.step("a").status().label(), "timed out");
    let kinds: Vec<ChoiceKind> = choices(&s, &desk()).iter().map(|c| c.kind).collect();
    assert_eq!(kinds[0], ChoiceKind::Retry);
    assert_eq!(accepted(&s, &retry("a")), [started("a", 2)]);
}

#[test]
fn a_check_that_did_not_pass_fails_its_step() {
    let mut p = plan(vec![shell("check")]);
    p.phases[0].steps[0].verify = true;
    let mut s = fold(p, &[run(), started("check", 1)]);
    let check = StepResult {
        outcome: Outcome::Succeeded,
        exit_code: None,
        error: None,
        observed: Some(Observed {
            columns: vec!["problem".into()],
            rows: vec![vec!["orphan".into()]],
            text: String::new(),
        }),
        passed: Some(false),
        shell: None,
    };
    feed(&mut s, exited("check", 1, check, &[]));
    assert_eq!(s.verifications.len(), 1);
    assert!(!s.verifications[0].passed);
    let attempt = &s.step("check").attempts()[0];
    assert_eq!(attempt.outcome, Some(Outcome::Failed));
    assert_eq!(attempt.error.as_deref(), Some("the verification did not pass"));
}

#[test]
fn cancelling_stops_the_process_and_the_step_waits_for_a_decision() {
    let mut s = state("a running");
    let fx = machine::step(
        &s,
        Input::Decided {
            command: &Command::Cancel,
            now: now(),
        },
    );
    assert_eq!(
        fx,
        [Effect::Stop {
            step: "a".into(),
            attempt: 1,
            why: Stop::Cancel
        }]
    );
    let stops = [Stop::Cancel];
    feed(&mut s, exited("a", 1, result(Outcome::Cancelled), &stops));
    assert_eq!(s.step("a").status(), StepStatus::Cancelled);
    assert!(s.outcome.is_none());
}

#[test]
fn leaving_while_a_step_runs_records_it_as_interrupted() {
    let mut s = state("a running");
    let command = detach();
    let fx = machine::step(
        &s,
        Input::Decided {
            command: &command,
            now: now(),
        },
    );
    assert!(matches!(
        fx.as_slice(),
        [Effect::Stop {
            why: Stop::Detach { .. },
            ..
        }]
    ));
    let stops = [Stop::Detach { who: "alice".into() }];
    feed(&mut s, exited("a", 1, result(Outcome::Cancelled), &stops));
    assert_eq!(s.step("a").status(), StepStatus::Interrupted);
    assert!(s.detached);
    assert_eq!(machine::step(&s, Input::Idle { now: now() }), [Effect::Exit]);
}

#[test]
fn aborting_while_a_step_runs_ends_the_session_after_the_step() {
    let mut s = state("a running");
    let command = abort("too slow");
    let fx = machine::step(
        &s,
        Input::Decided {
            command: &command,
            now: now(),
        },
    );
    assert!(matches!(
        fx.as_slice(),
        [Effect::Stop {
            why: Stop::Abort { .. },
            ..
        }]
    ));
    let stops = [Stop::Abort {
        who: "alice".into(),
        reason: "too slow".into(),
    }];
    feed(&mut s, exited("a", 1, result(Outcome::Cancelled), &stops));
    assert_eq!(
        s.step("a").status(),
        StepStatus::Cancelled,
        "the step's end first"
    );
    assert_eq!(
        s.outcome,
        Some((SessionOutcome::Aborted, Some("too slow".into())))
    );
}

#[test]
fn an_accepted_retry_spawns_the_new_attempt() {
    let mut s = state("a failed");
    let command = retry("a");
    act(&mut s, &command);
    let fx = machine::step(
        &s,
        Input::Decided {
            command: &command,
            now: now(),
        },
    );
    assert!(
        matches!(fx.as_slice(), [Effect::Spawn { step, attempt: 2 }, Effect::Timer { .. }] if step.id == "a")
    );
    assert!(s.auto, "a retry carries on");
}

#[test]
fn commands_without_a_process_to_act_on_ask_nothing_of_the_engine() {
    let s = state("b awaiting sign-off");
    for command in [note("x"), sign_off("b", "bob"), Command::Run { who: "a".into() }] {
        assert!(
            machine::step(
                &s,
                Input::Decided {
                    command: &command,
                    now: now()
                }
            )
            .is_empty()
        );
    }
}

#[test]
fn output_of_the_running_attempt_is_journaled_and_nothing_else() {
    let s = state("a running");
    let output = |step: &'static str, attempt| Input::Output {
        step,
        attempt,
        stream: Stream::Stdout,
        lines: vec!["hello".into()],
    };
    assert_eq!(
        machine::step(&s, output("a", 1)),
        [Effect::Journal(Event::Output {
            step: "a".into(),
            attempt: 1,
            stream: Stream::Stdout,
            lines: vec!["hello".into()]
        })]
    );
    assert!(machine::step(&s, output("a", 2)).is_empty());
    assert!(machine::step(&s, output("c", 1)).is_empty());
}

#[test]
fn the_exit_of_an_attempt_that_no_longer_runs_is_ignored() {
    let s = state("a failed");
    assert!(machine::step(&s, exited("a", 1, result(Outcome::Succeeded), &[])).is_empty());
}

#[test]
fn after_a_pause_the_running_step_finishes_and_nothing_else_starts() {
    let mut s = state("a running");
    journal(&mut s, [Event::Pause { who: "alice".into() }]);
    feed(&mut s, exited("a", 1, result(Outcome::Succeeded), &[]));
    assert!(machine::step(&s, Input::Idle { now: now() }).is_empty());
    act(&mut s, &Command::Run { who: "bob".into() });
    assert_eq!(
        machine::step(&s, Input::Idle { now: now() }),
        [Effect::Journal(awaiting("b"))]
    );
}

#[test]
fn a_whole_session_runs_through_the_core_alone() {
    let mut p = standard();
    p.confirm = true;
    p.phases[0].steps.pop();
    let mut s = fold(p, &[]);
    let mut commands = vec![
        Command::Run { who: "alice".into() },
        confirm("production"),
        sign_off("b", "bob"),
    ]
    .into_iter();
    for _ in 0..20 {
        let before = s.last_seq;
        let fx = feed(&mut s, Input::Idle { now: now() });
        match fx.as_slice() {
            // The core journaled something by itself: ask it again.
            [] if s.last_seq != before => {}
            [Effect::Exit] => break,
            [Effect::Spawn { step, attempt }, Effect::Timer { .. }] => {
                let id = step.id.clone();
                feed(&mut s, exited(&id, *attempt, result(Outcome::Succeeded), &[]));
            }
            [] => {
                let command = commands.next().expect("a command for what waits");
                act(&mut s, &command);
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(s.outcome, Some((SessionOutcome::Completed, None)));
    assert_eq!(s.confirmed_by.as_deref(), Some("alice"));
    assert!(commands.next().is_none());
}

// ---------------------------------------------------------------------------
// Shell state carried between shell steps.

fn changes(cwd: &str, var: (&str, &str)) -> ShellState {
    ShellState {
        cwd: Some(cwd.into()),
        vars: [(var.0.to_string(), var.1.to_string())].into(),
        ..ShellState::default()
    }
}

/// A successful shell step's changes are journaled just before its end and
/// carried from then on; the next shell step starts with them.
#[test]
fn a_shell_steps_changes_carry_once_it_succeeded() {
    let mut s = fold(plan(vec![shell("a"), shell("b")]), &[run(), started("a", 1)]);
    let carried = StepResult {
        shell: Some(changes("/srv", ("FOO", "1"))),
        ..result(Outcome::Succeeded)
    };
    let fx = machine::step(&s, exited("a", 1, carried, &[]));
    let kinds: Vec<&str> = fx
        .iter()
        .map(|e| match e {
            Effect::Journal(Event::ShellState { .. }) => "shell_state",
            Effect::Journal(Event::StepFinished { .. }) => "step_finished",
            _ => "other",
        })
        .collect();
    assert_eq!(kinds, ["shell_state", "step_finished"]);
    perform(&mut s, fx);
    assert_eq!(s.shell.from.as_deref(), Some("a"));
    assert_eq!(s.shell.state.cwd.as_deref(), Some("/srv"));
    feed(&mut s, Input::Idle { now: now() });
    let inherited = s.step("b").attempts()[0]
        .inherited
        .clone()
        .expect("a shell step inherits");
    assert_eq!(inherited.state.vars["FOO"], "1");

    // b's own change is on top of a's.
    let carried = StepResult {
        shell: Some(changes("/srv/b", ("BAR", "2"))),
        ..result(Outcome::Succeeded)
    };
    feed(&mut s, exited("b", 1, carried, &[]));
    let vars: Vec<&String> = s.shell.state.vars.keys().collect();
    assert_eq!(vars, ["BAR", "FOO"]);
    assert_eq!(s.shell.state.cwd.as_deref(), Some("/srv/b"));
}

/// Nothing carries from a failed attempt, from an isolated step, or from a
/// `shell_state` whose attempt never journaled its end (a crash between the two).
#[test]
fn failed_isolated_and_unfinished_steps_carry_nothing() {
    let mut s = fold(plan(vec![shell("a")]), &[run(), started("a", 1)]);
    let failed = StepResult {
        shell: Some(changes("/tmp", ("BAD", "1"))),
        ..result(Outcome::Failed)
    };
    let fx = feed(&mut s, exited("a", 1, failed, &[]));
    assert!(fx.is_empty());
    assert!(s.shell.state.is_empty());

    let mut p = plan(vec![shell("iso")]);
    p.phases[0].steps[0].isolated = true;
    let mut s = fold(p, &[run(), started("iso", 1)]);
    assert!(s.step("iso").attempts()[0].inherited.is_none());
    let ok = StepResult {
        shell: Some(changes("/tmp", ("LEAK", "1"))),
        ..result(Outcome::Succeeded)
    };
    feed(&mut s, exited("iso", 1, ok, &[]));
    assert!(s.shell.state.is_empty());

    let pending = Event::ShellState {
        step: "a".into(),
        attempt: 1,
        state: changes("/srv", ("FOO", "1")),
    };
    let s = fold(
        plan(vec![shell("a")]),
        &[
            run(),
            started("a", 1),
            pending,
            Event::StepInterrupted {
                step: "a".into(),
                attempt: 1,
            },
        ],
    );
    assert!(s.shell.state.is_empty());
}

#[test]
fn signers_are_people_not_strings() {
    let s = state("b, one of two signed");
    // Case, spaces around and full-width forms (NFKC) do not make another person.
    for same in ["ALICE", "  alice", "Alice ", "ａｌｉｃｅ"] {
        let refusal = refused(&s, &sign_off("b", same));
        assert!(
            matches!(refusal, Refusal::AlreadySigned { .. }),
            "{same:?} is alice: {refusal:?}"
        );
    }
    assert!(runsheet::session::rules::same_person(
        "José Núñez",
        "jose\u{301} nu\u{301}n\u{303}ez"
    ));
    assert!(runsheet::session::rules::same_person(
        "Seed 0d294188 maintainers",
        " seed  0d294188 maintainers "
    ));
    assert!(!runsheet::session::rules::same_person("alice", "alicia"));
    // Characters that show nothing (zero-width space and joiners, soft
    // hyphen, word joiner, byte-order mark, variation selectors, bidi marks,
    // tags) do not make another person either.
    for invisible in [
        "alice\u{200B}",
        "al\u{00AD}ice",
        "\u{FEFF}alice",
        "ali\u{200D}ce",
        "alice\u{2060}",
        "alice\u{FE0F}",
        "\u{200E}alice\u{202C}",
        "alice\u{E0041}",
        "a\u{034F}lice",
    ] {
        let refusal = refused(&s, &sign_off("b", invisible));
        assert!(
            matches!(refusal, Refusal::AlreadySigned { .. }),
            "{invisible:?} is alice: {refusal:?}"
        );
    }
    // A name of nothing but invisible characters is no name.
    assert_eq!(
        refused(&s, &sign_off("b", "\u{200B}\u{2060}")),
        Refusal::MissingName
    );
}

// ---------------------------------------------------------------------------
// The journal database away (a team session's driver on its local file only).

#[test]
fn while_the_journal_database_is_behind_no_step_that_changes_anything_starts() {
    let mut check = sql("v");
    check.verify = true;
    let mut look = shell("l");
    look.readonly = true;
    let p = plan(vec![shell("a"), manual("b"), check, look, sql("c")]);
    let degraded = || Input::Degraded { now: now() };
    let mut s = fold(p, &[run()]);
    assert!(machine::step(&s, degraded()).is_empty(), "a changes things: held");
    let fx = machine::step(&s, Input::Idle { now: now() });
    assert_eq!(fx[0], Effect::Journal(started("a", 1)), "back: it starts");
    journal(&mut s, done("a"));
    // A manual step is asked for, a check and a read-only step run.
    let fx = machine::step(&s, degraded());
    assert_eq!(fx, [Effect::Journal(awaiting("b"))]);
    perform(&mut s, fx);
    journal(&mut s, [signed("b", "alice")]);
    let fx = machine::step(&s, degraded());
    assert_eq!(fx[0], Effect::Journal(started("v", 1)), "{fx:?}");
    journal(&mut s, done("v"));
    let fx = machine::step(&s, degraded());
    assert_eq!(fx[0], Effect::Journal(started("l", 1)), "{fx:?}");
    journal(&mut s, done("l"));
    assert!(machine::step(&s, degraded()).is_empty(), "c changes things: held");
    assert_eq!(
        machine::step(&s, Input::Idle { now: now() })[0],
        Effect::Journal(started("c", 1))
    );
    journal(&mut s, done("c"));
    // Nothing left to hold: the session ends as it would.
    assert_eq!(
        machine::step(&s, degraded()),
        machine::step(&s, Input::Idle { now: now() })
    );
}

#[test]
fn a_running_step_goes_on_and_ends_while_the_journal_database_is_behind() {
    let s = state("a running");
    assert!(machine::step(&s, Input::Degraded { now: now() }).is_empty());
    // Its output and its end are journaled as ever: only starts are held.
    let exited = Input::Exited {
        step: "a",
        attempt: 1,
        result: StepResult {
            outcome: Outcome::Succeeded,
            exit_code: Some(0),
            error: None,
            observed: None,
            passed: None,
            shell: None,
        },
        elapsed: Duration::from_secs(1),
        stops: &[],
    };
    assert!(matches!(
        machine::step(&s, exited)[..],
        [Effect::Journal(Event::StepFinished { .. })]
    ));
}

#[test]
fn while_the_journal_database_is_behind_only_a_command_starting_a_change_is_refused() {
    let mut held = 0;
    for (name, s) in states() {
        for command in every_command("a", "production")
            .into_iter()
            .chain(every_command("c", "production"))
        {
            let normal = decide(&s, &command, now());
            let degraded = rules::decide_degraded(&s, &command, now());
            let starts_change = normal.as_ref().is_ok_and(|events| {
                events.iter().any(|e| {
                    matches!(e, Event::StepStarted { step, .. }
                        if s.plan.step(step).is_some_and(rules::held_while_degraded))
                })
            });
            if starts_change {
                let Command::Retry { step } = &command else {
                    panic!("{name}: {command:?} starts a step");
                };
                assert_eq!(
                    degraded,
                    Err(Refusal::JournalAway { step: step.clone() }),
                    "{name}: {command:?}"
                );
                held += 1;
            } else {
                assert_eq!(degraded, normal, "{name}: {command:?}");
            }
        }
    }
    // The retry of a failed check is not held: it changes nothing.
    let mut check = sql("v");
    check.verify = true;
    let s = fold(
        plan(vec![check]),
        &[started("v", 1), finished("v", 1, Outcome::Failed)],
    );
    assert!(rules::decide_degraded(&s, &retry("v"), now()).is_ok());
    assert!(
        held > 3,
        "retries of a failed, timed-out, cancelled, interrupted a: {held}"
    );
}

// ---------------------------------------------------------------------------
// Holds: production runs phase by phase.

#[test]
fn a_phase_hold_stops_after_the_phase_and_its_verification_until_released() {
    let mut s = fold(phased(), &[run()]);
    // Phase 1 runs and is verified without a stop between its steps.
    assert!(matches!(s.next(), Next::Start(st) if st.id == "p1"));
    journal(&mut s, done("p1"));
    assert!(matches!(s.next(), Next::Start(st) if st.id == "v1"));
    journal(&mut s, done("v1"));
    assert!(
        matches!(s.next(), Next::Start(st) if st.id == "v1b"),
        "a check after a check is the same phase's verification"
    );
    journal(&mut s, done("v1b"));
    assert!(matches!(s.next(), Next::Hold { after, step } if after.id == "v1b" && step.id == "p2"));
    // The engine records the hold once, and starts nothing.
    let fx = machine::step(&s, Input::Idle { now: now() });
    assert_eq!(
        fx,
        [Effect::Journal(Event::HoldReached {
            after: "v1b".into(),
            title: "Step v1b".into()
        })]
    );
    perform(&mut s, fx);
    assert!(
        machine::step(&s, Input::Idle { now: now() }).is_empty(),
        "it waits"
    );
    assert!(s.holds[0].reached.is_some());
    assert_eq!(s.holds[0].released, None);
    // Going on is a decision: journaled, and the next phase starts.
    let events = decide(&s, &release_hold("bob", false), now()).expect("released");
    assert_eq!(events, [hold_released("v1b", "bob", false)]);
    journal(&mut s, events);
    assert_eq!(s.holds[0].released.as_ref().map(|r| r.who.as_str()), Some("bob"));
    let fx = feed(&mut s, Input::Idle { now: now() });
    assert!(
        fx.iter()
            .any(|e| matches!(e, Effect::Spawn { step, .. } if step.id == "p2")),
        "{fx:?}"
    );
}

#[test]
fn a_hold_is_offered_with_its_key_and_headless_flag_and_refused_elsewhere() {
    let held = state("held after phase 1");
    let offered = choices(&held, &desk());
    assert_eq!(offered[0].kind, ChoiceKind::ReleaseHold);
    assert_eq!(offered[0].step, "p2");
    assert_eq!(offered[0].headless, Some(Flag::ApproveHold));
    let hint = headless_hint(&held, &desk()).unwrap_or_default();
    assert!(
        hint.contains("v1b \"Step v1b\" passed") && hint.contains("--approve hold"),
        "{hint}"
    );
    assert_eq!(
        decide(&held, &release_hold(" ", false), now()),
        Err(Refusal::MissingName)
    );
    assert!(
        decide(&held, &skip("p2", "later"), now()).is_err(),
        "a skip does not slip past a hold"
    );
    for name in ["c next", "a running", "hold released"] {
        assert_eq!(
            decide(&state(name), &release_hold("alice", false), now()),
            Err(Refusal::NoHold),
            "{name}"
        );
    }
    // A pre-approved release is recorded as such.
    let events = decide(&held, &release_hold("ci", true), now()).expect("released");
    assert_eq!(events, [hold_released("v1b", "ci", true)]);
}

#[test]
fn no_hold_without_the_setting_and_none_during_a_rollback() {
    let mut unheld = phased();
    unheld.hold = Hold::None;
    let s = fold(
        unheld,
        &[vec![run()], done("p1"), done("v1"), done("v1b")].concat(),
    );
    assert!(matches!(s.next(), Next::Start(st) if st.id == "p2"));
    let s = fold(
        phased(),
        &[
            [vec![run()], done("p1"), done("v1"), done("v1b")].concat(),
            vec![Event::RollbackStarted {
                who: "alice".into(),
                reason: "slow".into(),
            }],
        ]
        .concat(),
    );
    assert!(matches!(s.next(), Next::Start(st) if st.id == "rb.1"));
}

// ---------------------------------------------------------------------------
// The driver's seat: a lost terminal, an attached terminal taking over.

fn driver_gone(who: &str) -> Command {
    Command::DriverGone {
        who: who.into(),
        reason: "SIGHUP received".into(),
        seat: None,
    }
}

fn take_seat(who: &str) -> Command {
    Command::TakeDriverSeat {
        who: who.into(),
        seat: runsheet::seat::Seat::default(),
    }
}

#[test]
fn a_lost_terminal_is_journaled_once_and_stops_nothing() {
    let mut s = fold(standard(), &[run(), started("a", 1)]);
    let events = decide(&s, &driver_gone("ana"), now()).expect("accepted");
    assert!(matches!(&events[..], [Event::DriverDetached { who, .. }] if who == "ana"));
    // Nothing for the engine core to do: the running step runs on.
    assert!(
        machine::step(
            &s,
            Input::Decided {
                command: &driver_gone("ana"),
                now: now()
            }
        )
        .is_empty()
    );
    journal(&mut s, events);
    assert!(s.driver_away && s.auto && !s.detached);
    assert!(matches!(s.next(), Next::Running(st) if st.id == "a"));
    // Said once: a driver already away has nothing more to go.
    assert_eq!(decide(&s, &driver_gone("ana"), now()), Ok(Vec::new()));
}

#[test]
fn the_drivers_seat_is_taken_only_once_its_terminal_is_gone() {
    let mut s = fold(standard(), &[run(), started("a", 1)]);
    assert_eq!(decide(&s, &take_seat("bo"), now()), Err(Refusal::DriverPresent));
    let gone = decide(&s, &driver_gone("ana"), now()).expect("gone");
    journal(&mut s, gone);
    assert_eq!(decide(&s, &take_seat(" "), now()), Err(Refusal::MissingName));
    let events = decide(&s, &take_seat("bo"), now()).expect("taken");
    assert!(matches!(&events[..], [Event::DriverAttached { who, .. }] if who == "bo"));
    journal(&mut s, events);
    assert!(!s.driver_away);
    assert_eq!(decide(&s, &take_seat("cy"), now()), Err(Refusal::DriverPresent));
}

#[test]
fn an_attached_terminal_signs_and_notes_until_it_holds_the_seat() {
    let sign = Command::SignOff {
        step: "b".into(),
        signature: Signature {
            who: "bo".into(),
            role: String::new(),
            note: String::new(),
            preapproved: false,
            seat: None,
        },
    };
    let note = Command::Note {
        who: "bo".into(),
        text: "looks fine".into(),
    };
    for allowed in [&sign, &note, &take_seat("bo")] {
        assert_eq!(rules::attached_may(allowed, false, &[]), Ok(()), "{allowed:?}");
    }
    let abort = Command::Abort {
        who: "bo".into(),
        reason: "no".into(),
    };
    for driving in [
        Command::Run { who: "bo".into() },
        Command::Cancel,
        abort,
        retry("a"),
    ] {
        let refused = rules::attached_may(&driving, false, &[AttachRight::Pause]);
        assert!(refused.is_err(), "{driving:?}");
        assert_eq!(rules::attached_may(&driving, true, &[]), Ok(()), "{driving:?}");
    }
}

#[test]
fn the_front_matter_lets_an_attached_terminal_without_the_seat_pause_or_abort() {
    let pause = Command::Pause { who: "bo".into() };
    let abort = Command::Abort {
        who: "bo".into(),
        reason: "no".into(),
    };
    assert_eq!(
        rules::attached_may(&pause, false, &[]),
        Err(Refusal::AttachRightMissing {
            right: "pause".into()
        })
    );
    assert!(
        Refusal::AttachRightMissing {
            right: "abort".into()
        }
        .to_string()
        .contains("attach = [\"abort\"]")
    );
    assert_eq!(rules::attached_may(&pause, false, &[AttachRight::Pause]), Ok(()));
    assert!(rules::attached_may(&abort, false, &[AttachRight::Pause]).is_err());
    assert_eq!(rules::attached_may(&abort, false, &[AttachRight::Abort]), Ok(()));
    // Holding the seat, it needs no right: it drives.
    assert_eq!(rules::attached_may(&abort, true, &[]), Ok(()));
}
