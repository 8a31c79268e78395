//! Decisions given in advance on the command line: each must name a step
//! of the run, and a `--skip` is honoured in a new session too.

mod common;

use common::runsheet::{Fixture, text};
use runsheet::journal::event::Event;
use runsheet::journal::reader::read_journal;
use runsheet::session::StepStatus;

const RUNBOOK: &str = "# Decisions\n\n## Development\n\n### Execution\n\n\
    1. Change\n   ```sh\n   echo ran > changed\n   ```\n\
    2. Look\n   Check the dashboard.\n\
    3. After\n   ```sh\n   echo after\n   ```\n";

#[test]
fn a_skip_given_for_a_new_session_skips_the_step_before_it_runs() {
    let fx = Fixture::new(RUNBOOK);
    let out = fx.run(&[
        "--skip",
        "development.execution.1=done by hand yesterday",
        "--skip",
        "development.execution.2=dashboard is down",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(!fx.dir.path().join("changed").exists(), "the skipped step ran");
    let state = fx.state();
    assert_eq!(
        state.step("development.execution.1").status(),
        StepStatus::Skipped
    );
    assert_eq!(
        state.step("development.execution.2").status(),
        StepStatus::Skipped
    );
    assert_eq!(
        state.step("development.execution.3").status(),
        StepStatus::Succeeded
    );
    let records = read_journal(&fx.journal()).expect("read").records;
    let reasons: Vec<&str> = records
        .iter()
        .filter_map(|r| match &r.event {
            Event::Skipped { reason, .. } => Some(reason.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(reasons, ["done by hand yesterday", "dashboard is down"]);
    assert!(
        !records.iter().any(
            |r| matches!(&r.event, Event::StepStarted { step, .. } if step == "development.execution.1")
        )
    );
}

#[test]
fn a_decision_for_a_step_the_run_does_not_have_is_refused() {
    for flags in [
        &["--skip", "development.execution.9=typo"][..],
        &["--approve", "development.executoin.2"],
        &["--retry", "nosuch"],
        &["--override", "gate.requires.nowhere=why not"],
        &["--skip", "all=everything"],
    ] {
        let fx = Fixture::new(RUNBOOK);
        let out = fx.run(flags);
        assert_eq!(out.status.code(), Some(2), "{flags:?}: {}", text(&out));
        let err = String::from_utf8_lossy(&out.stderr);
        let step = flags[1].split('=').next().unwrap_or_default();
        assert!(
            err.contains(&format!("{} {step} names no step of this run", flags[0])),
            "{flags:?}: {err}"
        );
        assert!(
            !fx.state_dir().join("sessions").exists()
                || std::fs::read_dir(fx.state_dir().join("sessions"))
                    .expect("dir")
                    .next()
                    .is_none(),
            "{flags:?}: a session was started"
        );
    }
    // `all` stays a word for approvals and retries.
    let fx = Fixture::new(RUNBOOK);
    let out = fx.run(&["--approve", "all", "--retry", "all"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
}

/// Pre-approvals come from one seat: two `--operator`s in one process sign
/// a step of `signoffs = 2` once, and the run stops saying how to get the
/// second; the same seat resuming with another name is no second pair of
/// eyes; a resume from another terminal is.
#[test]
fn pre_approvals_from_one_seat_count_once() {
    let fx = Fixture::new(&format!(
        "+++\n[environments.development]\nsignoffs = 2\n+++\n{}",
        &RUNBOOK[RUNBOOK.find("## Development").expect("section")..]
    ));
    let approve = ["--approve", "all", "--operator", "alice", "--operator", "bob"];
    let alices = common::pty::OtherTerminal::open();
    let out = fx.run_at(&approve, &alices);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let state = fx.state();
    let id = state.header.session_id.clone();
    let told = text(&out);
    assert!(
        told.contains("manual step development.execution.2 has 1 of 2 sign-offs and this seat")
            && told.contains(&format!(
                "it needs a second signer at another terminal: `runsheet attach {id} --operator NAME`, or a resume from that seat: "
            ))
            && told.contains(&format!("--resume {id} --headless --operator NAME --approve development.execution.2")),
        "{told}"
    );
    assert_eq!(state.step("development.execution.2").signers(), ["alice"]);
    // The same seat under another name: still one seat.
    let as_bob = ["--resume", &id, "--approve", "all", "--operator", "bob"];
    let out = fx.run_at(&as_bob, &alices);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("needs a second signer at another terminal"));
    assert_eq!(fx.state().step("development.execution.2").signers(), ["alice"]);
    // Bob at a terminal of his own.
    let bobs = common::pty::OtherTerminal::open();
    let out = fx.run_at(&as_bob, &bobs);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let state = fx.state();
    let seats: Vec<Option<String>> = state
        .step("development.execution.2")
        .signoffs()
        .iter()
        .map(|s| s.signature.seat.as_ref().and_then(|seat| seat.terminal.clone()))
        .collect();
    assert_eq!(
        seats,
        [
            Some(alices.path.display().to_string()),
            Some(bobs.path.display().to_string())
        ]
    );
    assert_eq!(
        state.step("development.execution.3").status(),
        StepStatus::Succeeded
    );
}

/// One person at one terminal is one seat, whatever they make standard
/// input (another terminal's device, `/dev/tty`, nothing) and with no
/// terminal at all (`setsid`): the seat is the controlling terminal, and a
/// process without one counts as every terminal of its OS user and host.
#[test]
fn one_terminal_is_one_seat_whatever_stdin_is() {
    use std::os::unix::process::CommandExt;
    let fx = Fixture::new(&format!(
        "+++\n[environments.development]\nsignoffs = 2\n+++\n{}",
        &RUNBOOK[RUNBOOK.find("## Development").expect("section")..]
    ));
    let alices = common::pty::OtherTerminal::open();
    let out = fx.run_at(&["--approve", "all", "--operator", "alice"], &alices);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let id = fx.state().header.session_id;
    let runbook = fx.runbook();
    let as_bob = [
        "run",
        runbook.to_str().expect("utf-8 path"),
        "--headless",
        "--resume",
        &id,
        "--approve",
        "all",
        "--operator",
        "bob",
    ];
    // At alice's terminal, with another terminal's device as stdin.
    let elsewhere = common::pty::OtherTerminal::open();
    let other_stdin = std::fs::File::open(&elsewhere.path).expect("open the other terminal");
    let out = alices
        .seat(&mut fx.command(&as_bob))
        .stdin(other_stdin)
        .output()
        .expect("run runsheet");
    assert_eq!(
        out.status.code(),
        Some(1),
        "stdin from another terminal: {}",
        text(&out)
    );
    assert!(
        text(&out).contains("needs a second signer at another terminal"),
        "{}",
        text(&out)
    );
    // Leaving the terminal: a session of its own, without one.
    let mut detached = fx.command(&as_bob);
    // SAFETY: only setsid between fork and exec.
    unsafe {
        detached.pre_exec(|| {
            if libc::setsid() < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let out = detached.output().expect("run runsheet");
    assert_eq!(out.status.code(), Some(1), "without a terminal: {}", text(&out));
    assert!(
        text(&out).contains("needs a second signer at another terminal"),
        "{}",
        text(&out)
    );
    assert_eq!(fx.state().step("development.execution.2").signers(), ["alice"]);
}

/// Separation of duties through the binary: whoever ran the change does not
/// sign the look after it, even pre-approved, nor does anyone at their seat
/// under another name; another operator resuming at another terminal does.
#[test]
fn separation_of_duties_stops_the_operator_who_ran_the_step_before() {
    let fx = Fixture::new(&format!(
        "+++\n[environments.development]\nseparation_of_duties = true\n+++\n{}",
        &RUNBOOK[RUNBOOK.find("## Development").expect("section")..]
    ));
    let alices = common::pty::OtherTerminal::open();
    let out = fx.run_at(&["--approve", "all", "--operator", "alice"], &alices);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let state = fx.state();
    let id = state.header.session_id.clone();
    assert!(
        text(&out).contains(&format!(
            "alice ran development.execution.1, the step before development.execution.2: separation of duties \
             needs another person to sign it (`runsheet attach {id} --operator NAME`"
        )),
        "{}",
        text(&out)
    );
    assert!(state.step("development.execution.2").signers().is_empty());
    let as_bob = ["--resume", &id, "--approve", "all", "--operator", "bob"];
    let out = fx.run_at(&as_bob, &alices);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains(&format!(
            "development.execution.1, the step before development.execution.2, was run from this seat ({}) by alice",
            runsheet::seat::Seat {
                terminal: Some(alices.path.display().to_string()),
                ..runsheet::seat::Seat::here()
            }
            .short()
        )),
        "{}",
        text(&out)
    );
    assert!(fx.state().step("development.execution.2").signers().is_empty());
    let out = fx.run_at(&as_bob, &common::pty::OtherTerminal::open());
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(fx.state().step("development.execution.2").signers(), ["bob"]);
}
