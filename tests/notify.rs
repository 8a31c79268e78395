//! Notifications through the real binary: a real command (a script writing
//! what it is fed to a file) and a real webhook (a `TcpListener` in the
//! test), the payload's fields and kinds, a secret that never appears in
//! one, and failing or hanging notifiers that never stop the session.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::runsheet::{Fixture, text};
use runsheet::journal::event::{Event, SessionOutcome};
use serde_json::Value;

/// The secret the runbook reads from the environment (and, to prove the
/// redactor, also names in the manual step's title).
const TOKEN: &str = "tok-7f3a9c-hunter2";

/// A runbook with `front` in its front matter: a phase with a shell step
/// and a manual one, then a phase whose step `fails` or not.
fn runbook(front: &str, fails: bool) -> String {
    let last = if fails {
        "echo \"$API_TOKEN\" >&2; exit 3"
    } else {
        "sleep 0.5; echo done"
    };
    format!(
        "+++\ntitle = \"Notify\"\n{front}\n[variables]\nAPI_TOKEN = {{ env = \"NOTIFY_TEST_TOKEN\", secret = true }}\n+++\n# Notify\n\n\
         ## Preparation\n\n\
         1. Rotate the key\n   ```sh {{id=rotate}}\n   echo rotating\n   ```\n\
         2. Confirm the rotation of {TOKEN}\n\n\
         ## Execution\n\n\
         1. Apply\n   ```sh {{id=apply}}\n   {last}\n   ```\n"
    )
}

/// `runsheet run --headless --approve all ARGS…` with the secret in the environment.
fn run_with(fx: &Fixture, args: &[&str]) -> std::process::Output {
    let runbook = fx.runbook();
    let mut all = vec!["run", runbook.to_str().unwrap(), "--headless", "--approve", "all"];
    all.extend_from_slice(args);
    fx.command(&all)
        .env("NOTIFY_TEST_TOKEN", TOKEN)
        .output()
        .expect("run runsheet")
}

fn run(fx: &Fixture) -> std::process::Output {
    run_with(fx, &[])
}

fn kinds(payloads: &[Value]) -> Vec<&str> {
    payloads
        .iter()
        .map(|p| p["kind"].as_str().unwrap_or("?"))
        .collect()
}

fn journal_events(fx: &Fixture) -> Vec<Event> {
    let read = runsheet::journal::reader::read_journal(&fx.journal()).expect("journal");
    read.records.into_iter().map(|r| r.event).collect()
}

fn notify_warnings(fx: &Fixture) -> Vec<String> {
    journal_events(fx)
        .into_iter()
        .filter_map(|e| match e {
            Event::Warning { code, message } if code == "notify-failed" => Some(message),
            _ => None,
        })
        .collect()
}

fn ended(fx: &Fixture) -> Option<SessionOutcome> {
    journal_events(fx).into_iter().find_map(|e| match e {
        Event::SessionEnded { outcome, .. } => Some(outcome),
        _ => None,
    })
}

#[test]
fn a_command_is_fed_each_event_of_the_session_and_no_secret() {
    let fx = Fixture::new("");
    let script = fx.dir.path().join("notifier.sh");
    std::fs::write(
        &script,
        "#!/bin/sh\n{ cat; echo; } >> notifications.jsonl\necho \"$RUNSHEET_NOTIFY_KIND\" >> kinds.txt\n",
    )
    .unwrap();
    std::fs::write(
        fx.runbook(),
        runbook(&format!("notify = \"sh {}\"", script.display()), true),
    )
    .unwrap();
    let out = run(&fx);
    // A failed step leaves a headless session unfinished, for a decision.
    assert_eq!(ended(&fx), None, "{}", text(&out));
    // Written in the runbook's folder (where the command runs); complete
    // once runsheet has exited, since it waits for the last ones.
    let written = std::fs::read_to_string(fx.dir.path().join("notifications.jsonl")).expect("notified");
    assert!(
        !written.contains(TOKEN),
        "a secret reached a notification: {written}"
    );
    let payloads: Vec<Value> = written
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert_eq!(
        kinds(&payloads),
        ["session_started", "signoff_awaited", "phase_done", "step_failed"],
        "{written}"
    );
    let kinds_file = std::fs::read_to_string(fx.dir.path().join("kinds.txt")).unwrap();
    assert_eq!(kinds_file.lines().collect::<Vec<_>>(), kinds(&payloads));
    let id = fx.journal().file_stem().unwrap().to_str().unwrap().to_string();
    for p in &payloads {
        assert_eq!(p["version"], 1);
        assert_eq!(p["session"], id.as_str());
        assert_eq!(p["environment"], "default");
        assert_eq!(p["mode"], "live");
        assert_eq!(p["operator"], "tester");
        assert_eq!(p["runbook"]["title"], "Notify");
        assert!(p["time"].as_str().is_some_and(|t| t.starts_with("20")), "{p}");
    }
    let [started, awaited, phase, failed] = &payloads[..] else {
        unreachable!()
    };
    assert_eq!(started["seq"], Value::Null);
    assert_eq!(started["resumed"], false);
    assert_eq!(awaited["step"]["title"], "Confirm the rotation of ***");
    assert_eq!(awaited["message"], "0 of 1 sign-off(s) given");
    assert_eq!(phase["phase"]["number"], 1);
    assert_eq!(phase["phase"]["title"], "Preparation");
    assert_eq!(phase["progress"]["done"], 2);
    assert_eq!(phase["progress"]["total"], 3);
    assert_eq!(failed["step"]["id"], "apply");
    assert_eq!(failed["outcome"], "failed");
    assert_eq!(failed["message"], "exited with status 3");
    assert_eq!(failed["phase"]["title"], "Execution");
    assert!(
        payloads[1..].iter().all(|p| p["seq"].as_u64().is_some()),
        "{written}"
    );
    assert!(notify_warnings(&fx).is_empty(), "{:?}", notify_warnings(&fx));
}

#[test]
fn a_resumed_session_says_so_and_phases_done_before_are_not_announced_again() {
    let fx = Fixture::new("");
    std::fs::write(
        fx.runbook(),
        runbook("notify = \"{ cat; echo; } >> notifications.jsonl\"", true),
    )
    .unwrap();
    let first = run(&fx);
    assert_eq!(ended(&fx), None, "{}", text(&first));
    let id = fx.journal().file_stem().unwrap().to_str().unwrap().to_string();
    let out = run_with(&fx, &["--resume", &id, "--skip", "apply=applied by hand"]);
    assert_eq!(ended(&fx), Some(SessionOutcome::Completed), "{}", text(&out));
    let written = std::fs::read_to_string(fx.dir.path().join("notifications.jsonl")).unwrap();
    let payloads: Vec<Value> = written
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let resumed = &payloads[4..];
    assert_eq!(
        kinds(resumed),
        ["session_started", "phase_done", "session_ended"],
        "{written}"
    );
    assert_eq!(resumed[0]["resumed"], true);
    assert_eq!(resumed[1]["phase"]["title"], "Execution");
    assert_eq!(resumed[2]["outcome"], "completed");
    assert!(resumed.iter().all(|p| p["session"] == id.as_str()));
}

/// What a webhook was sent: each request's head and body.
type Received = Arc<Mutex<Vec<(String, String)>>>;

/// A webhook on 127.0.0.1 answering each POST with `status`, in a thread.
fn webhook(status: &'static str) -> (u16, Received) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let received: Received = Arc::default();
    let keep = received.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut head = String::new();
            let mut length = 0;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some(n) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = n.trim().parse().unwrap_or(0);
                }
                head.push_str(&line);
            }
            let mut body = vec![0; length];
            let _ = reader.read_exact(&mut body);
            keep.lock()
                .unwrap()
                .push((head, String::from_utf8_lossy(&body).into_owned()));
            let _ = write!(
                stream,
                "HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            );
        }
    });
    (port, received)
}

#[test]
fn a_webhook_is_posted_the_same_payloads() {
    let (port, received) = webhook("204 No Content");
    let fx = Fixture::new(&runbook(
        &format!("notify_url = \"http://127.0.0.1:{port}/hooks/T0K3N?x=1\""),
        false,
    ));
    let out = run(&fx);
    assert_eq!(ended(&fx), Some(SessionOutcome::Completed), "{}", text(&out));
    let got = received.lock().unwrap().clone();
    let payloads: Vec<Value> = got
        .iter()
        .map(|(_, b)| serde_json::from_str(b).unwrap())
        .collect();
    assert_eq!(
        kinds(&payloads),
        [
            "session_started",
            "signoff_awaited",
            "phase_done",
            "phase_done",
            "session_ended"
        ]
    );
    assert_eq!(payloads[4]["outcome"], "completed");
    assert_eq!(payloads[3]["phase"]["title"], "Execution");
    for (head, body) in &got {
        assert!(head.starts_with("POST /hooks/T0K3N?x=1 HTTP/1.1\r\n"), "{head}");
        assert!(head.contains(&format!("Host: 127.0.0.1:{port}\r\n")), "{head}");
        assert!(head.contains("Content-Type: application/json\r\n"), "{head}");
        assert!(!body.contains(TOKEN), "{body}");
    }
    assert!(notify_warnings(&fx).is_empty(), "{:?}", notify_warnings(&fx));
}

#[test]
fn failing_notifiers_are_journaled_and_the_session_goes_on() {
    // A command that fails, and a webhook that answers 500.
    let (port, received) = webhook("500 Internal Server Error");
    let fx = Fixture::new(&runbook(
        &format!("notify = \"echo hook down >&2; exit 7\"\nnotify_url = \"http://127.0.0.1:{port}/h\""),
        false,
    ));
    let out = run(&fx);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(ended(&fx), Some(SessionOutcome::Completed));
    let warnings = notify_warnings(&fx);
    assert!(
        warnings
            .iter()
            .any(|w| w
                == "session_started notification by `notify` failed: the command ended with exit status: 7: hook down"),
        "{warnings:?}"
    );
    assert!(
        warnings.iter().any(|w| w.starts_with(&format!(
            "session_started notification to notify_url (127.0.0.1:{port}) failed: the server answered HTTP 500"
        ))),
        "{warnings:?}"
    );
    assert_eq!(received.lock().unwrap().len(), 5, "every event was still posted");
    // The end's failures come after the seal: on stderr, not in the journal.
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("runsheet: session_ended notification by `notify` failed"),
        "{stderr}"
    );
}

/// Whether process `pid` runs: not gone, nor a zombie nobody has reaped yet.
fn running(pid: i32) -> bool {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    stat.rsplit(") ")
        .next()
        .is_some_and(|rest| !rest.is_empty() && !rest.starts_with('Z'))
}

#[test]
fn a_hanging_notifier_neither_slows_the_session_nor_outlives_runsheet() {
    // More phases than the queue holds, while the first notification hangs;
    // the last step gives the engine time to journal the drops.
    let mut many =
        String::from("+++\nnotify = \"echo $$ > notifier.pid; exec sleep 600\"\n+++\n# Many phases\n\n");
    for n in 1..=40 {
        many.push_str(&format!(
            "## Phase {n}\n\n1. Step {n}\n   ```sh\n   true\n   ```\n\n"
        ));
    }
    many.push_str("## Last\n\n1. Linger\n   ```sh\n   sleep 0.5\n   ```\n");
    let fx = Fixture::new(&many);
    let began = Instant::now();
    let out = run(&fx);
    let took = began.elapsed();
    assert_eq!(ended(&fx), Some(SessionOutcome::Completed), "{}", text(&out));
    // The steps ran at their own pace while the first notification hung.
    let read = runsheet::journal::reader::read_journal(&fx.journal()).unwrap();
    let (first, last) = (read.records.first().unwrap().ts, read.records.last().unwrap().ts);
    let session = (last - first).to_std().unwrap();
    assert!(session < Duration::from_secs(5), "the session took {session:?}");
    // runsheet waits for the last notifications at most the timeout after the end.
    assert!(took < Duration::from_secs(25), "runsheet took {took:?} to exit");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("did not finish within 10 s and was killed"),
        "{stderr}"
    );
    // The queue is bounded: what did not fit was dropped, and that is
    // journaled. Of 42 after the first (41 phases, the end), 32 fit.
    let dropped: usize = notify_warnings(&fx)
        .iter()
        .map(|w| {
            let (n, rest) = w.split_once(' ').unwrap();
            assert_eq!(
                rest,
                "notification(s) dropped: the notifier is slower than the session (at most 32 wait)"
            );
            n.parse::<usize>().unwrap()
        })
        .sum();
    assert!((1..=10).contains(&dropped), "{dropped} dropped");
    let pid: i32 = std::fs::read_to_string(fx.dir.path().join("notifier.pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(!running(pid), "the hanging notifier {pid} was left running");
}

#[test]
fn an_https_webhook_that_does_not_speak_tls_is_a_journaled_handshake_failure() {
    // A plain HTTP server behind an https:// URL: it answers the TLS
    // client hello with text, which no TLS client accepts.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
        }
    });
    let fx = Fixture::new(&runbook(
        &format!("notify_url = \"https://127.0.0.1:{port}/h\""),
        false,
    ));
    let out = run(&fx);
    assert_eq!(ended(&fx), Some(SessionOutcome::Completed), "{}", text(&out));
    let warnings = notify_warnings(&fx);
    assert!(
        warnings.iter().any(|w| w.starts_with(&format!(
            "session_started notification to notify_url (127.0.0.1:{port}) failed: TLS handshake failed"
        ))),
        "{warnings:?}"
    );
}

/// A command that writes a lot to stderr, or leaves a process behind that
/// holds its stderr, succeeds when it exits 0, at once: its stderr is read
/// as it runs and not waited on past its exit; and what it left in its
/// process group is killed with it.
#[test]
fn a_chatty_or_forking_notifier_succeeds_when_it_exits_and_leaves_nothing_running() {
    let fx = Fixture::new(&runbook("notify = \"sh notify.sh\"", false));
    std::fs::write(
        fx.dir.path().join("notify.sh"),
        "cat > /dev/null\n\
         head -c 300000 /dev/zero | tr '\\0' x >&2\n\
         sleep 60 &\n\
         echo $! >> left.pids\n\
         echo last words >&2\n\
         exit 0\n",
    )
    .unwrap();
    let began = Instant::now();
    let out = run(&fx);
    let took = began.elapsed();
    assert_eq!(ended(&fx), Some(SessionOutcome::Completed), "{}", text(&out));
    assert_eq!(notify_warnings(&fx), Vec::<String>::new());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("notification"), "{stderr}");
    assert!(took < Duration::from_secs(8), "runsheet took {took:?}");
    let pids = std::fs::read_to_string(fx.dir.path().join("left.pids")).unwrap();
    assert_eq!(pids.lines().count(), 5, "one per notification: {pids}");
    for pid in pids.lines() {
        assert!(
            !running(pid.parse().unwrap()),
            "the notifier's {pid} was left running"
        );
    }
}
