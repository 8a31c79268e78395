//! Outliving the terminal: the driver's terminal hangs up during a long
//! shell step; the step completes, the session keeps its lock, and the
//! driver waits without a screen at the next manual step. `runsheet
//! attach` in another pseudo-terminal picks the driver's seat up over the
//! control socket and finishes the session; a socket left by a crashed
//! driver is not trusted.

mod common;

use std::time::Duration;

use common::pty::Tui;
use common::runsheet::{Fixture, text, wait_until};
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use runsheet::journal::event::{Event, Outcome, Record, SessionOutcome};
use runsheet::journal::reader::read_journal;

/// How long a condition of the session may take.
const DEADLINE: Duration = Duration::from_secs(30);

/// A shell step that runs until the test creates `release`, then a manual step.
const RUNBOOK: &str = "# Detach\n\n## Development\n\n### Execution\n\n\
1. Long step\n   ```sh\n   echo started; while [ ! -e release ]; do sleep 0.05; done; echo finished\n   ```\n\
2. Check the dashboards\n";

fn records(fx: &Fixture) -> Vec<Record> {
    let read = read_journal(&fx.journal()).expect("read the journal");
    assert!(read.integrity.is_verified(), "{:?}", read.integrity);
    read.records
}

/// Whether the journal (once it has its header) holds an event `pred` matches.
fn has(fx: &Fixture, pred: impl Fn(&Event) -> bool) -> bool {
    let journal = fx.state_dir().join("sessions");
    std::fs::read_dir(&journal).is_ok_and(|d| d.count() > 0)
        && read_journal(&fx.journal()).is_ok_and(|read| read.records.iter().any(|r| pred(&r.event)))
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
    let pid = tui.pid();

    // The hang-up is journaled, and the step runs to its end.
    assert!(
        wait_until(DEADLINE, || has(&fx, |e| matches!(
            e,
            Event::DriverDetached { who, reason, .. } if who == "ana" && reason == "SIGHUP received"
        ))),
        "the driver's detach was not journaled"
    );
    // Without a terminal the driver idles: it does not spin on the input it lost.
    let before = cpu_ticks(pid);
    std::thread::sleep(Duration::from_secs(1));
    let used = cpu_ticks(pid) - before;
    assert!(
        used < 30,
        "the detached driver used {used} ticks of CPU in a second"
    );
    // `sessions` shows the driver detached, running the step.
    let listed = sessions(&fx);
    assert!(
        listed.contains(&format!("detached: running development.execution.1 (pid {pid})")),
        "{listed}"
    );
    release(&fx);
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
    let listed = sessions(&fx);
    assert!(
        listed.contains(&format!(
            "detached: awaiting sign-off development.execution.2 (pid {pid})"
        )),
        "{listed}"
    );

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

/// `runsheet attach SESSION --operator NAME` on a new pseudo-terminal.
fn attach(fx: &Fixture, id: &str, operator: &str) -> Tui {
    let state = fx.state_dir();
    let args = [
        "--state-dir",
        state.to_str().expect("utf-8 path"),
        "attach",
        id,
        "--operator",
        operator,
    ];
    Tui::spawn(&args, fx.dir.path(), 120, 40)
}

/// Live processes whose environment carries `RUNSHEET_SESSION=<id>`, as
/// every process of a step does.
fn processes_of(session: &str) -> Vec<i32> {
    let marker = format!("RUNSHEET_SESSION={session}");
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").expect("/proc").flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse::<i32>().ok()) else {
            continue;
        };
        let live = std::fs::read_to_string(entry.path().join("stat"))
            .ok()
            .and_then(|s| {
                s.rsplit_once(')')
                    .map(|(_, r)| !r.trim_start().starts_with(['Z', 'X']))
            })
            .unwrap_or(false);
        let ours = std::fs::read(entry.path().join("environ"))
            .is_ok_and(|env| env.split(|&b| b == 0).any(|v| v == marker.as_bytes()));
        if live && ours {
            out.push(pid);
        }
    }
    out
}

/// CPU time a process has used, in clock ticks (user + system, all threads).
fn cpu_ticks(pid: i32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("read /proc stat");
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .expect("a stat line")
        .1
        .split_whitespace()
        .collect();
    // utime and stime are fields 14 and 15, the 12th and 13th after the name.
    fields[11].parse::<u64>().expect("utime") + fields[12].parse::<u64>().expect("stime")
}

/// Let the long step end.
fn release(fx: &Fixture) {
    std::fs::write(fx.dir.path().join("release"), "").expect("release the step");
}

/// What `runsheet sessions` prints.
fn sessions(fx: &Fixture) -> String {
    let out = fx.command(&["sessions"]).output().expect("sessions");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn socket(fx: &Fixture) -> std::path::PathBuf {
    fx.journal().with_extension("sock")
}

/// The attached terminal signs the manual step that waits, sees the
/// session completed and leaves.
fn sign_and_leave(attached: &mut Tui) {
    attached.keys("s");
    attached.wait_text("Ctrl+S sign");
    attached.send(b"\x13");
    attached.wait_text("SESSION COMPLETED");
    attached.keys("q");
    assert_eq!(attached.exit_code(), 0, "{}", attached.screen());
}

#[test]
fn attach_after_a_hangup_takes_the_drivers_seat_and_finishes_the_session() {
    let fx = Fixture::new(RUNBOOK);
    let mut driver = driver_running_the_long_step(&fx);
    let id = fx.state().header.session_id;
    assert!(socket(&fx).exists(), "the driver serves no control socket");
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(socket(&fx)).expect("socket").permissions(),
    );
    assert_eq!(mode & 0o777, 0o600, "the control socket is {mode:o}");
    driver.hang_up();
    release(&fx);
    assert!(
        wait_until(DEADLINE, || has(&fx, |e| matches!(
            e,
            Event::StepFinished {
                outcome: Outcome::Succeeded,
                ..
            }
        ))),
        "the long step did not complete after the hang-up"
    );

    let mut attached = attach(&fx, &id, "bo");
    attached.wait_text("Waits for sign-off");
    // The driver's terminal is gone: the attached terminal takes its seat, journaled.
    assert!(
        wait_until(DEADLINE, || has(&fx, |e| matches!(
            e,
            Event::DriverAttached { who, seat } if who == "bo" && seat.os_user.is_some()
        ))),
        "the seat change was not journaled"
    );
    sign_and_leave(&mut attached);

    // The driver ends with its session: sealed, verified, nothing left behind.
    assert_eq!(driver.exit_code(), 0);
    let all = records(&fx);
    let signed = all.iter().find_map(|r| match &r.event {
        Event::SignedOff { signature, .. } => Some(signature.clone()),
        _ => None,
    });
    assert_eq!(signed.map(|s| s.who), Some("bo".to_string()));
    assert!(matches!(all.last().map(|r| &r.event), Some(Event::Seal { .. })));
    assert_eq!(
        fx.state().outcome.map(|(o, _)| o),
        Some(SessionOutcome::Completed)
    );
    let verified = fx.command(&["verify", &id]).output().expect("verify");
    assert_eq!(verified.status.code(), Some(0), "{}", text(&verified));
    assert!(!socket(&fx).exists(), "the control socket was left behind");
    assert!(
        processes_of(&id).is_empty(),
        "left running: {:?}",
        processes_of(&id)
    );
}

/// An attached terminal that took the seat and leaves gives it up
/// (journaled); the driver finishes the step without a screen, ends the
/// session and exits, leaving no process of the session behind.
#[test]
fn the_attached_terminal_leaves_and_the_driver_finishes_alone() {
    let fx = Fixture::new(
        "# Alone\n\n## Development\n\n### Execution\n\n\
         1. Long step\n   ```sh\n   echo started; sleep 3; echo finished\n   ```\n",
    );
    let mut tui = fx.checklist(&["--operator", "ana"], 120, 40);
    tui.wait_text("Checklist 0/1");
    tui.keys("r");
    assert!(wait_until(DEADLINE, || has(&fx, |e| matches!(
        e,
        Event::StepProcess { .. }
    ))));
    let id = fx.state().header.session_id;
    tui.hang_up();
    let mut attached = attach(&fx, &id, "bo");
    assert!(
        wait_until(DEADLINE, || has(&fx, |e| matches!(
            e,
            Event::DriverAttached { .. }
        ))),
        "the attached terminal did not take the seat"
    );
    attached.wait_text("started");
    attached.keys("q");
    assert_eq!(attached.exit_code(), 0, "{}", attached.screen());
    assert!(
        wait_until(DEADLINE, || has(&fx, |e| matches!(
            e,
            Event::DriverDetached { reason, .. } if reason == "the attached terminal left"
        ))),
        "leaving did not give the seat up"
    );
    assert_eq!(
        tui.exit_code(),
        0,
        "the driver did not finish the session by itself"
    );
    assert_eq!(
        fx.state().outcome.map(|(o, _)| o),
        Some(SessionOutcome::Completed)
    );
    assert!(
        processes_of(&id).is_empty(),
        "left running: {:?}",
        processes_of(&id)
    );
    assert!(!socket(&fx).exists());
}

/// A driver SIGKILLed mid-step leaves its socket behind: `attach` sees
/// that nobody holds the session's lock and does not trust it.
#[test]
fn a_socket_left_by_a_crashed_driver_is_refused() {
    let fx = Fixture::new(RUNBOOK);
    let mut child = fx.spawn_headless();
    assert!(wait_until(DEADLINE, || has(&fx, |e| matches!(
        e,
        Event::StepProcess { .. }
    ))));
    let id = fx.state().header.session_id;
    assert!(socket(&fx).exists());
    child.kill().expect("SIGKILL the driver");
    child.wait().expect("reap");
    let pgid = records(&fx)
        .iter()
        .find_map(|r| match r.event {
            Event::StepProcess { pgid, .. } => Some(pgid),
            _ => None,
        })
        .expect("a process group");
    assert!(socket(&fx).exists(), "a SIGKILLed driver leaves its socket");
    // Nobody drives it: listed as resumable, as any stopped session.
    let listed = sessions(&fx);
    assert!(
        listed.contains(&format!("{id} ")) && listed.contains(" unfinished "),
        "{listed}"
    );
    assert!(!listed.contains("detached:"), "{listed}");

    let refused = fx
        .command(&["attach", &id, "--operator", "bo"])
        .output()
        .expect("attach");
    let _ = killpg(Pid::from_raw(pgid), Signal::SIGKILL);
    assert_eq!(refused.status.code(), Some(5), "{}", text(&refused));
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(
        err.contains("was left by a driver of session") && err.contains("is not used"),
        "{err}"
    );
    assert!(err.contains(&format!("--resume {id}")), "{err}");
}

/// The protocol itself, from a plain socket client: while the driver's
/// terminal is there, an attached client's run is refused (it is not the
/// driver) and its sign-off is carried out, journaled with the seat the
/// socket's peer credentials show (a terminal it declares is not believed).
#[test]
fn an_attached_client_signs_while_the_driver_is_present_and_may_not_drive() {
    use std::io::{BufRead, BufReader, Write};
    use std::os::unix::net::UnixStream;

    let fx = Fixture::new(
        "# Present\n\n## Development\n\n### Execution\n\n1. Look at the dashboards\n2. Then\n   ```sh\n   echo then\n   ```\n",
    );
    let mut tui = fx.checklist(&["--operator", "ana"], 120, 40);
    tui.wait_text("Checklist 0/2");
    tui.keys("r");
    assert!(wait_until(DEADLINE, || has(&fx, |e| matches!(
        e,
        Event::AwaitingSignOff { .. }
    ))));
    let stream = UnixStream::connect(socket(&fx)).expect("connect to the control socket");
    stream.set_read_timeout(Some(DEADLINE)).expect("a read timeout");
    let mut lines = BufReader::new(stream.try_clone().expect("clone"));
    let mut write = stream;
    let mut say = |line: &str| {
        write.write_all(line.as_bytes()).expect("write");
        write.write_all(b"\n").expect("write");
    };
    let mut next = || {
        let mut line = String::new();
        lines.read_line(&mut line).expect("read a line");
        serde_json::from_str::<serde_json::Value>(&line).unwrap_or_else(|e| panic!("{e}: {line:?}"))
    };
    say(r#"{"hello": {"operator": "bo", "terminal": "/dev/pts/99"}}"#);
    let welcome = next();
    assert_eq!(welcome["welcome"]["pid"], tui.pid(), "{welcome}");
    // Every record so far, from the header on, in order.
    let mut seq = 0;
    loop {
        let message = next();
        let record = &message["record"];
        assert_eq!(record["seq"], seq, "{message}");
        seq += 1;
        if record["type"] == "awaiting_sign_off" {
            break;
        }
    }
    say(r#"{"command": {"id": 1, "command": {"type": "run", "who": "bo"}}}"#);
    let refused = next();
    assert_eq!(refused["answer"]["id"], 1, "{refused}");
    assert_eq!(
        refused["answer"]["refusal"]["refusal"], "driver_present",
        "{refused}"
    );
    say(
        r#"{"command": {"id": 2, "command": {"type": "sign_off", "step": "development.execution.1",
            "signature": {"who": "bo", "role": "QA", "note": "dashboards green"}}}}"#
            .replace('\n', " ")
            .as_str(),
    );
    // Its answer, and the record it caused (in either order).
    let (mut signed, mut consumed) = (None, None);
    while signed.is_none() || consumed.is_none() {
        let message = next();
        if message["record"]["type"] == "signed_off" {
            signed = Some(message);
        } else if message["answer"]["id"] == 2 {
            consumed = Some(message);
        }
    }
    let (signed, consumed) = (signed.expect("signed"), consumed.expect("answered"));
    assert!(consumed["answer"].get("refusal").is_none(), "{consumed}");
    let os_user = nix::unistd::User::from_uid(nix::unistd::getuid())
        .expect("user")
        .expect("a user name")
        .name;
    let record = &signed["record"];
    assert_eq!(record["signature"]["who"], "bo", "{signed}");
    assert_eq!(
        record["signature"]["seat"]["os_user"],
        os_user.as_str(),
        "{signed}"
    );
    // The terminal it declared is not believed: the seat is the connecting
    // process's own controlling terminal (this test's, or none).
    assert_eq!(
        record["signature"]["seat"]["terminal"].as_str(),
        runsheet::seat::terminal().as_deref(),
        "{signed}"
    );
    assert_eq!(record["origin"]["operator"], "bo", "{signed}");
    tui.wait_text("SESSION COMPLETED");
    tui.keys("q");
    assert_eq!(tui.exit_code(), 0);
}

/// A socket at the session's path served by another process than the one
/// holding the session's lock is not trusted.
#[test]
fn a_socket_served_by_another_process_is_not_trusted() {
    let fx = Fixture::new(RUNBOOK);
    let mut tui = driver_running_the_long_step(&fx);
    let id = fx.state().header.session_id;
    std::fs::remove_file(socket(&fx)).expect("remove the driver's socket");
    let _impostor = std::os::unix::net::UnixListener::bind(socket(&fx)).expect("bind an impostor");
    let refused = fx
        .command(&["attach", &id, "--operator", "bo"])
        .output()
        .expect("attach");
    assert_eq!(refused.status.code(), Some(5), "{}", text(&refused));
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(
        err.contains("it is not trusted")
            && err.contains(&format!("pid {} holds the session's lock", tui.pid())),
        "{err}"
    );
    release(&fx);
    nix::sys::signal::kill(Pid::from_raw(tui.pid()), Signal::SIGTERM).expect("SIGTERM the driver");
    assert_eq!(tui.exit_code(), 143);
}

/// A team session's driver keeps its driver lock in the journal database
/// after its terminal hangs up: a second driver is refused naming it, the
/// team journal lists it as connected and records the detach, and the
/// session ends there as in the local file.
/// A team session's checklist (journal database `db`) whose first step
/// runs, its terminal hung up and the detach journaled; and the session id.
fn team_driver_hung_up(fx: &Fixture, db: &common::ScratchDb, checklist: &str) -> (Tui, String) {
    let mut tui = fx.checklist(&["--operator", "ana", "--journal", &db.url], 120, 40);
    tui.wait_text(checklist);
    tui.keys("r");
    assert!(wait_until(DEADLINE, || has(fx, |e| matches!(
        e,
        Event::StepProcess { .. }
    ))));
    let id = fx.state().header.session_id;
    tui.hang_up();
    assert!(wait_until(DEADLINE, || has(fx, |e| matches!(
        e,
        Event::DriverDetached { .. }
    ))));
    (tui, id)
}

#[test]
fn a_team_sessions_driver_keeps_its_driver_lock_after_a_hangup() {
    let db = common::ScratchDb::create("detach_team");
    let fx = Fixture::new(
        "# Team detach\n\n## Development\n\n### Execution\n\n\
         1. Long step\n   ```sh\n   echo started; while [ ! -e release ]; do sleep 0.05; done\n   ```\n",
    );
    let (mut tui, id) = team_driver_hung_up(&fx, &db, "Checklist 0/1");
    let in_db = || {
        db.query(&format!(
            "SELECT count(*) FROM runsheet.records WHERE session = '{id}' AND line LIKE '%\"type\":\"driver_detached\"%'"
        ))
    };
    assert!(
        wait_until(DEADLINE, || in_db() == ["1"]),
        "the detach never reached the journal database"
    );

    let runbook = fx.runbook();
    let second = fx
        .command(&[
            "run",
            runbook.to_str().expect("utf-8 path"),
            "--headless",
            "--resume",
            &id,
            "--journal",
            &db.url,
        ])
        .output()
        .expect("a second driver");
    assert_eq!(second.status.code(), Some(5), "{}", text(&second));
    assert!(
        text(&second).contains("is being driven by ana"),
        "{}",
        text(&second)
    );
    let listed = fx
        .command(&["sessions", "--journal", &db.url])
        .output()
        .expect("sessions");
    let listed = String::from_utf8_lossy(&listed.stdout).into_owned();
    assert!(listed.contains(&format!("(pid {})", tui.pid())), "{listed}");

    release(&fx);
    assert!(
        wait_until(DEADLINE, || has(&fx, |e| matches!(e, Event::Seal { .. }))),
        "the session did not end: {:?}",
        records(&fx)
            .iter()
            .map(|r| format!("{:?}", r.event).chars().take(90).collect::<String>())
            .collect::<Vec<_>>()
    );
    assert_eq!(tui.exit_code(), 0);
    assert_eq!(
        db.query(&format!("SELECT status FROM runsheet.sessions WHERE id = '{id}'")),
        ["completed"]
    );
    assert!(db.query("SELECT session FROM runsheet.drivers").is_empty());
}

/// The checklist on a pseudo-terminal whose other end this test really
/// closes, as a terminal window that is shut: its output is drained by a
/// thread that uses the master's one descriptor without owning it, so
/// dropping the master hangs the terminal up.
struct Window {
    child: Box<dyn portable_pty::Child + Send + Sync>,
    master: Option<Box<dyn portable_pty::MasterPty + Send>>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    drain: Option<std::thread::JoinHandle<()>>,
}

impl Window {
    fn open(fx: &Fixture, args: &[&str]) -> Window {
        use portable_pty::{CommandBuilder, PtySize, native_pty_system};
        let pair = native_pty_system()
            .openpty(PtySize {
                rows: 40,
                cols: 120,
                pixel_width: 0,
                pixel_height: 0,
            })
            .expect("open a pty");
        let mut cmd = CommandBuilder::new(env!("CARGO_BIN_EXE_runsheet"));
        cmd.arg("--state-dir");
        cmd.arg(fx.state_dir());
        cmd.args(args);
        cmd.cwd(fx.dir.path());
        cmd.env("TERM", "xterm-256color");
        cmd.env_remove("RUNSHEET_STATE_DIR");
        let child = pair.slave.spawn_command(cmd).expect("spawn runsheet");
        drop(pair.slave);
        let fd = pair.master.as_raw_fd().expect("the master's descriptor");
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let stopping = std::sync::Arc::clone(&stop);
        let drain = std::thread::spawn(move || {
            let mut buf = [0u8; 65536];
            while !stopping.load(std::sync::atomic::Ordering::SeqCst) {
                let mut poll = libc::pollfd {
                    fd,
                    events: libc::POLLIN,
                    revents: 0,
                };
                // SAFETY: one valid pollfd; the master outlives this thread (joined before it is dropped).
                if unsafe { libc::poll(&mut poll, 1, 20) } > 0 {
                    // SAFETY: reading into a buffer of its own length.
                    if unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) } <= 0 {
                        return;
                    }
                }
            }
        });
        Window {
            child,
            master: Some(pair.master),
            stop,
            drain: Some(drain),
        }
    }

    fn key(&self, key: u8) {
        let fd = self
            .master
            .as_ref()
            .and_then(|m| m.as_raw_fd())
            .expect("an open master");
        // SAFETY: writing one byte from a local.
        assert_eq!(unsafe { libc::write(fd, (&key as *const u8).cast(), 1) }, 1);
    }

    /// Close the terminal's other end: the kernel hangs it up.
    fn close(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        if let Some(drain) = self.drain.take() {
            drain.join().expect("the drain thread");
        }
        self.master = None;
    }
}

impl Drop for Window {
    fn drop(&mut self) {
        let _ = self.child.kill();
    }
}

/// The pseudo-terminal really closed (its master end), not only SIGHUP
/// sent: the step completes, and the driver left without its terminal
/// idles instead of spinning on the dead terminal's input.
#[test]
fn a_closed_terminal_window_leaves_the_driver_idle_and_the_step_running() {
    let fx = Fixture::new(RUNBOOK);
    let runbook = fx.runbook();
    let mut window = Window::open(
        &fx,
        &["run", runbook.to_str().expect("utf-8 path"), "--operator", "ana"],
    );
    // `r` until the step runs: a key sent before the checklist is up may be lost.
    let running = wait_until(DEADLINE, || {
        window.key(b'r');
        wait_until(Duration::from_millis(300), || {
            has(&fx, |e| matches!(e, Event::StepProcess { .. }))
        })
    });
    assert!(running, "the long step never started");
    window.close();
    assert!(
        wait_until(DEADLINE, || has(&fx, |e| matches!(
            e,
            Event::DriverDetached { .. }
        ))),
        "the closed terminal was not journaled"
    );
    let pid = window.child.process_id().expect("a pid") as i32;
    let before = cpu_ticks(pid);
    std::thread::sleep(Duration::from_secs(1));
    let used = cpu_ticks(pid) - before;
    assert!(
        used < 30,
        "the detached driver used {used} ticks of CPU in a second"
    );
    release(&fx);
    assert!(
        wait_until(DEADLINE, || has(&fx, |e| matches!(
            e,
            Event::AwaitingSignOff { .. }
        ))),
        "the step did not complete after the terminal closed"
    );
    assert!(
        window.child.try_wait().expect("wait").is_none(),
        "the driver exited"
    );
    nix::sys::signal::kill(Pid::from_raw(pid), Signal::SIGTERM).expect("SIGTERM the driver");
    let status = window.child.wait().expect("wait for the driver");
    assert_eq!(status.exit_code(), 143);
}

/// `runsheet attach --journal URL` on the machine of a team session's
/// driver, whose terminal hung up during a long step: it picks the driver's
/// seat up over the control socket (not through the journal database,
/// whose requests only sign and note) and finishes the session.
#[test]
fn attach_with_the_team_journal_on_the_drivers_machine_takes_its_seat() {
    let db = common::ScratchDb::create("detach_team_pickup");
    let fx = Fixture::new(RUNBOOK);
    let (mut driver, id) = team_driver_hung_up(&fx, &db, "Checklist 0/2");

    let state = fx.state_dir();
    let args = [
        "--state-dir",
        state.to_str().expect("utf-8 path"),
        "attach",
        &id,
        "--operator",
        "bo",
        "--journal",
        &db.url,
    ];
    let mut attached = Tui::spawn(&args, fx.dir.path(), 120, 40);
    attached.wait_text("attached to pid");
    let in_db = |kind: &str| {
        db.query(&format!(
            "SELECT count(*) FROM runsheet.records WHERE session = '{id}' AND line LIKE '%\"type\":\"{kind}\"%'"
        ))
    };
    assert!(
        wait_until(DEADLINE, || in_db("driver_attached") == ["1"]),
        "the seat change never reached the team journal: {}",
        attached.screen()
    );
    release(&fx);
    attached.wait_text("Waits for sign-off");
    sign_and_leave(&mut attached);
    assert_eq!(driver.exit_code(), 0);
    assert_eq!(
        db.query(&format!("SELECT status FROM runsheet.sessions WHERE id = '{id}'")),
        ["completed"]
    );
    assert_eq!(in_db("driver_attached"), ["1"]);
}
