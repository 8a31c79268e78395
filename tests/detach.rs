//! Outliving the terminal: the driver's terminal hangs up during a long
//! shell step; the step completes, the session keeps its lock, and the
//! driver waits without a screen at the next manual step.

mod common;

use std::time::Duration;

use common::pty::Tui;
use common::runsheet::{Fixture, text, wait_until};
use runsheet::journal::event::{Event, Outcome, Record};
use runsheet::journal::reader::read_journal;

/// How long a condition of the session may take.
const DEADLINE: Duration = Duration::from_secs(30);

/// A shell step long enough to hang up during, then a manual step.
const RUNBOOK: &str = "# Detach\n\n## Development\n\n### Execution\n\n\
1. Long step\n   ```sh\n   echo started; [ -e release ] || sleep 3; echo finished\n   ```\n\
2. Check the dashboards\n";

fn records(fx: &Fixture) -> Vec<Record> {
    let read = read_journal(&fx.journal()).expect("read the journal");
    assert!(read.integrity.is_verified(), "{:?}", read.integrity);
    read.records
}

fn has(fx: &Fixture, pred: impl Fn(&Event) -> bool) -> bool {
    std::fs::read_dir(fx.state_dir().join("sessions")).is_ok() && records(fx).iter().any(|r| pred(&r.event))
}

/// The checklist started on a pseudo-terminal and its first step running.
fn driver_running_the_long_step(fx: &Fixture) -> Tui {
    let mut tui = fx.checklist(&["--operator", "ana"], 120, 40);
    tui.wait_text("Checklist 0/2");
    tui.keys("r");
    assert!(
        wait_until(DEADLINE, || has(fx, |e| matches!(e, Event::StepProcess { .. }))),
        "the long step never started"
    );
    tui
}

#[test]
fn a_hangup_leaves_the_step_running_and_the_session_locked() {
    let fx = Fixture::new(RUNBOOK);
    let mut tui = driver_running_the_long_step(&fx);
    tui.hang_up();

    // The hang-up is journaled, and the step runs to its end.
    assert!(
        wait_until(DEADLINE, || has(&fx, |e| matches!(
            e,
            Event::DriverDetached { who, reason, .. } if who == "ana" && reason == "SIGHUP received"
        ))),
        "the driver's detach was not journaled"
    );
    assert!(
        wait_until(DEADLINE, || has(&fx, |e| matches!(
            e,
            Event::StepFinished { step, outcome: Outcome::Succeeded, .. } if step == "development.execution.1"
        ))),
        "the long step did not complete after the hang-up: {:#?}",
        records(&fx)
            .iter()
            .map(|r| format!("{:?}", r.event).chars().take(150).collect::<String>())
            .collect::<Vec<_>>()
    );
    assert!(
        wait_until(DEADLINE, || has(&fx, |e| matches!(
            e,
            Event::AwaitingSignOff { .. }
        ))),
        "the manual step is not awaited"
    );
    // Nothing stopped it: no interruption, no detach of the session.
    let all = records(&fx);
    assert!(
        !all.iter()
            .any(|r| matches!(r.event, Event::StepInterrupted { .. } | Event::Detached { .. })),
        "{all:#?}"
    );
    assert!(tui.running(), "the driver exited after the hang-up");

    // The session is still locked by its driver: a resume is refused.
    let id = fx.state().header.session_id;
    let refused = fx.run(&["--resume", &id]);
    assert_eq!(refused.status.code(), Some(3), "{}", text(&refused));
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("open in another runsheet process"),
        "{}",
        text(&refused)
    );

    // SIGTERM still stops it, as before: the session left resumable, exit 143.
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(tui.pid()),
        nix::sys::signal::Signal::SIGTERM,
    )
    .expect("SIGTERM the driver");
    assert_eq!(tui.exit_code(), 143);
    assert!(
        records(&fx)
            .iter()
            .any(|r| matches!(r.event, Event::Detached { .. }))
    );
}
