//! The PostgreSQL journal against the real server: the same lines and
//! hashes as the file, no fork with two writers, nothing lost when the
//! journal database's connections are killed, one driver per session,
//! the follower, commands, and the schema's migrations.

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use common::ScratchDb;
use common::runsheet::wait_until;
use tempfile::TempDir;

use runsheet::journal::event::{Event, FORMAT_VERSION, Header, Mode, Outcome, SessionOutcome, Stream};
use runsheet::journal::file::{journal_path, new_session_id};
use runsheet::journal::postgres::commands::{CommandStatus, Settlement};
use runsheet::journal::postgres::follow::Follower;
use runsheet::journal::postgres::lock::{Claim, Origin};
use runsheet::journal::postgres::{JournalDb, PgError, PgJournal, ReplicaStatus, schema};
use runsheet::journal::reader::read_journal;
use runsheet::journal::store::SessionStatus;
use runsheet::journal::tee::TeeJournal;
use runsheet::journal::{JournalError, JournalSink};
use runsheet::runbook::plan::Plan;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// Run an async block on a fresh runtime.
fn block_on<T>(f: impl std::future::Future<Output = T>) -> T {
    runtime().block_on(f)
}

fn journal_db(db: &ScratchDb) -> JournalDb {
    JournalDb::from_url(&db.url).expect("journal URL")
}

/// A scratch database and a new session journalled only there.
fn pg_session(label: &str) -> (ScratchDb, JournalDb, String, PgJournal) {
    let scratch = ScratchDb::create(label);
    let db = journal_db(&scratch);
    let id = new_session_id();
    let journal = PgJournal::create(&db, header(&id), None).unwrap();
    (scratch, db, id, journal)
}

/// A scratch database and a new session driven by Ana through a tee, its
/// local journal in a temporary state directory.
fn tee_session(label: &str) -> (ScratchDb, JournalDb, TempDir, String, TeeJournal) {
    let scratch = ScratchDb::create(label);
    let db = journal_db(&scratch);
    let state = TempDir::new().unwrap();
    let id = new_session_id();
    let tee = TeeJournal::create(state.path(), header(&id), &db, &Origin::here("Ana")).unwrap();
    (scratch, db, state, id, tee)
}

fn header(id: &str) -> Header {
    Header {
        format: FORMAT_VERSION,
        session_id: id.to_string(),
        runbook_path: "runbooks/remediation.md".into(),
        runbook_sha256: "cd".repeat(32),
        environment: "staging".into(),
        mode: Mode::Live,
        operator: "Ana".into(),
        host: "deploy-box".into(),
        seat: None,
        runsheet_version: "0.1.0".into(),
        targets: Vec::new(),
        only: None,
        rollback_only: false,
        plan: Plan {
            runbook_title: "Remediation".into(),
            environment: "staging".into(),
            phases: vec![],
            signoffs: 2,
            ..Plan::default()
        },
        team_journal: None,
    }
}

fn output(text: &str) -> Event {
    Event::Output {
        step: "staging.execution.1".into(),
        attempt: 1,
        stream: Stream::Stdout,
        lines: vec![text.into()],
    }
}

fn started(step: &str) -> Event {
    Event::StepStarted {
        step: step.into(),
        attempt: 1,
    }
}

fn finished(step: &str) -> Event {
    Event::StepFinished {
        step: step.into(),
        attempt: 1,
        outcome: Outcome::Succeeded,
        exit_code: Some(0),
        duration_ms: 5,
        error: None,
    }
}

fn note(text: &str) -> Event {
    Event::Note {
        who: "Ana".into(),
        text: text.into(),
    }
}

/// A session's stored lines in seq order, read straight from the table.
fn stored_lines(db: &ScratchDb, session: &str) -> Vec<String> {
    db.query(&format!(
        "SELECT line FROM runsheet.records WHERE session = '{session}' ORDER BY seq"
    ))
}

/// A journal file's lines, without their newlines.
fn file_lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .expect("read the journal")
        .lines()
        .map(str::to_string)
        .collect()
}

/// Verify `session` in the journal database and return how many records it has.
fn verified_events(db: &JournalDb, session: &str) -> u64 {
    let verdict = block_on(async { db.connect().await?.verify(session).await }).expect("verify");
    assert_eq!(
        verdict.broken, None,
        "the chain in the journal database is broken"
    );
    verdict.events
}

#[test]
fn a_session_round_trips_through_the_journal_database_and_its_file_copy_with_identical_hashes() {
    let (scratch, db, _state, id, mut tee) = tee_session("pg_round_trip");
    tee.append(started("staging.execution.1")).unwrap();
    for i in 0..500 {
        tee.append(output(&format!("row {i}: naïve “quotes” \" and \\ backslashes")))
            .unwrap();
    }
    tee.append(finished("staging.execution.1")).unwrap();
    tee.append(note("all good: ✓")).unwrap();
    tee.append(Event::SessionEnded {
        outcome: SessionOutcome::Completed,
        reason: None,
    })
    .unwrap();
    assert_eq!(tee.status(), ReplicaStatus::InSync { unconfirmed: 0 });
    assert!(!tee.is_degraded());
    let path = tee.path().to_path_buf();
    drop(tee);

    let file = read_journal(&path).unwrap();
    assert!(file.integrity.is_verified());
    assert_eq!(file.records.len(), 505);
    assert_eq!(
        stored_lines(&scratch, &id),
        file_lines(&path),
        "the same bytes in both copies"
    );
    assert_eq!(
        scratch.query(&format!(
            "SELECT last_hash FROM runsheet.sessions WHERE id = '{id}'"
        )),
        vec![file.last_hash.clone()]
    );
    assert_eq!(verified_events(&db, &id), 505);

    let (records, listed) = block_on(async {
        let conn = db.connect().await.unwrap();
        let mut stream = conn.records(&id);
        let mut records = Vec::new();
        while let Some(r) = stream.next().await {
            records.push(r.unwrap().record);
        }
        (records, conn.list_sessions().await.unwrap())
    });
    assert_eq!(records, file.records, "the records read back are the file's");
    assert_eq!(listed.len(), 1);
    let s = &listed[0];
    assert_eq!(
        (
            s.id.as_str(),
            s.environment.as_str(),
            s.operator.as_str(),
            s.mode,
            s.outcome,
            s.events
        ),
        (
            id.as_str(),
            "staging",
            "Ana",
            Mode::Live,
            SessionStatus::Ended(SessionOutcome::Completed),
            505
        )
    );
    assert_eq!(s.started, file.records[0].ts);
    assert_eq!(s.runbook_path, "runbooks/remediation.md");
    assert!(
        scratch.query("SELECT count(*) FROM runsheet.drivers") == vec!["0"],
        "a driver that closed cleanly gives its lock back"
    );
}

#[test]
fn a_session_kept_only_in_the_journal_database_resumes_and_verifies() {
    let (scratch, db, id, mut journal) = pg_session("pg_only");
    journal.append(started("s1")).unwrap();
    for i in 0..50 {
        journal.append(output(&format!("line {i}"))).unwrap();
    }
    journal.flush().unwrap();
    assert_eq!(
        scratch.query(&format!(
            "SELECT count(*) FROM runsheet.records WHERE session = '{id}'"
        )),
        vec!["52"]
    );
    drop(journal);

    let (mut journal, records) = PgJournal::open_append(&db, &id, None).unwrap();
    assert_eq!(records.len(), 52);
    let record = journal.append(finished("s1")).unwrap();
    assert_eq!(record.seq, 52);
    assert!(matches!(
        journal.append(Event::Header(Box::new(header(&id)))),
        Err(JournalError::MisplacedHeader { .. })
    ));
    drop(journal);
    assert_eq!(verified_events(&db, &id), 53);

    let err = PgJournal::create(&db, header(&id), None)
        .err()
        .expect("a second session with the same id");
    assert!(err.to_string().contains("already exists"), "{err}");
}

#[test]
fn two_writers_on_one_session_never_fork_the_chain() {
    let scratch = ScratchDb::create("pg_two_writers");
    let db = journal_db(&scratch);
    let id = new_session_id();
    let first = PgJournal::create(&db, header(&id), None).unwrap();
    let (second, _) = PgJournal::open_append(&db, &id, None).unwrap();
    let barrier = Arc::new(Barrier::new(2));
    let writers: Vec<_> = [("first", first), ("second", second)]
        .into_iter()
        .map(|(name, mut journal)| {
            let barrier = Arc::clone(&barrier);
            std::thread::spawn(move || {
                barrier.wait();
                for i in 0..200 {
                    if let Err(e) = journal.append(note(&format!("{name} {i}"))) {
                        return (name, i, Some(e));
                    }
                }
                (name, 200, None)
            })
        })
        .collect();
    let results: Vec<_> = writers.into_iter().map(|w| w.join().unwrap()).collect();
    let refused: Vec<_> = results.iter().filter(|(_, _, e)| e.is_some()).collect();
    assert_eq!(refused.len(), 1, "exactly one writer is refused: {results:?}");
    let (loser, written, error) = refused[0];
    let error = error.as_ref().unwrap();
    assert!(
        matches!(error, JournalError::Postgres(PgError::ChainConflict { .. })),
        "{error}"
    );
    assert!(
        error.to_string().contains("another runsheet is writing it"),
        "{error}"
    );
    assert_eq!(
        *written, 0,
        "the loser's first append already finds the chain moved on"
    );
    let winner = results.iter().find(|(n, _, _)| n != loser).unwrap().0;

    assert_eq!(verified_events(&db, &id), 201);
    let lines = stored_lines(&scratch, &id);
    for (i, line) in lines[1..].iter().enumerate() {
        assert!(line.contains(&format!("\"text\":\"{winner} {i}\"")), "{line}");
    }
}

/// Wait for `tee`'s copy to report `want`, up to `deadline`.
fn wait_for_status(
    tee: &TeeJournal,
    deadline: Duration,
    want: impl Fn(&ReplicaStatus) -> bool,
) -> ReplicaStatus {
    let mut last = tee.status();
    let reached = wait_until(deadline, || {
        last = tee.status();
        want(&last)
    });
    assert!(reached, "the journal database's copy stayed {last:?}");
    last
}

#[test]
fn killed_journal_connections_lose_nothing_the_file_buffers_and_the_chain_holds() {
    let (scratch, db, _state, id, mut tee) = tee_session("pg_killed");
    tee.append(started("staging.execution.1")).unwrap();
    for i in 0..100 {
        tee.append(output(&format!("before {i}"))).unwrap();
    }
    tee.flush().unwrap();
    assert!(tee.sync_replica(Duration::from_secs(10)).unwrap());

    // Killed once, reachable again at once: the next events simply go on.
    assert!(scratch.terminate_connections() >= 1, "the tee holds a connection");
    tee.append(note("after the first kill")).unwrap();
    for i in 0..100 {
        tee.append(output(&format!("between {i}"))).unwrap();
    }
    tee.flush().unwrap();
    assert!(
        tee.sync_replica(Duration::from_secs(10)).unwrap(),
        "{:?}",
        tee.status()
    );

    // Killed and kept out: appends still succeed, promptly, into the file.
    scratch.allow_connections(false);
    scratch.terminate_connections();
    let cut = Instant::now();
    tee.append(note("the journal database is gone")).unwrap();
    let status = wait_for_status(&tee, Duration::from_secs(10), ReplicaStatus::is_degraded);
    assert!(tee.is_degraded());
    assert!(matches!(status, ReplicaStatus::Buffering { .. }), "{status:?}");
    for i in 0..1_000 {
        tee.append(output(&format!("while away {i}"))).unwrap();
    }
    tee.append(finished("staging.execution.1")).unwrap();
    tee.append(started("staging.execution.2")).unwrap();
    tee.flush().unwrap();
    assert!(
        cut.elapsed() < Duration::from_secs(5),
        "appending while the database is away does not wait for it ({:?})",
        cut.elapsed()
    );
    let ReplicaStatus::Buffering { events, reason, .. } = tee.status() else {
        panic!("still away: {:?}", tee.status());
    };
    assert!(events >= 1_003, "{events} events buffered");
    assert!(!reason.is_empty());
    let shown = tee.status().to_string();
    assert!(
        shown.contains("only in the local journal, sent in order"),
        "{shown}"
    );

    scratch.allow_connections(true);
    assert!(
        tee.sync_replica(Duration::from_secs(30)).unwrap(),
        "{:?}",
        tee.status()
    );
    wait_for_status(&tee, Duration::from_secs(5), |s| !s.is_degraded());
    tee.append(finished("staging.execution.2")).unwrap();
    let path = tee.path().to_path_buf();
    drop(tee);

    let lines = file_lines(&path);
    assert_eq!(lines.len(), 1 + 1 + 100 + 1 + 100 + 1 + 1_000 + 3);
    assert_eq!(
        stored_lines(&scratch, &id),
        lines,
        "every line reached the database, in order"
    );
    assert!(read_journal(&path).unwrap().integrity.is_verified());
    assert_eq!(verified_events(&db, &id), lines.len() as u64);
}

#[test]
fn a_driver_that_ends_while_the_database_is_away_leaves_the_rest_for_the_next_run() {
    let scratch = ScratchDb::create("pg_left_behind");
    let db = journal_db(&scratch);
    let state = TempDir::new().unwrap();
    let id = new_session_id();
    let origin = Origin::here("Ana");
    let mut tee = TeeJournal::create(state.path(), header(&id), &db, &origin).unwrap();
    scratch.allow_connections(false);
    scratch.terminate_connections();
    tee.append(note("written while away")).unwrap();
    for i in 0..10 {
        tee.append(output(&format!("away {i}"))).unwrap();
    }
    tee.append(Event::Detached { who: "Ana".into() }).unwrap();
    let path = tee.path().to_path_buf();
    drop(tee);
    scratch.allow_connections(true);
    assert_eq!(stored_lines(&scratch, &id).len(), 1, "only the header got there");

    // Its lock went with its connection, but its row stayed: the next run
    // must say it takes over, and then sends what the database lacks first.
    let err = TeeJournal::open_append(&path, &db, &origin, Claim::Acquire)
        .err()
        .expect("a stale holder");
    assert!(
        matches!(err, JournalError::Postgres(PgError::DriverStale { .. })),
        "{err}"
    );
    let (mut tee, read) = TeeJournal::open_append(&path, &db, &origin, Claim::TakeOver).unwrap();
    assert_eq!(read.records.len(), 13);
    assert!(tee.driver_lock().taken_over_from.is_some());
    tee.append(note("resumed")).unwrap();
    assert!(
        tee.sync_replica(Duration::from_secs(10)).unwrap(),
        "{:?}",
        tee.status()
    );
    drop(tee);
    assert_eq!(stored_lines(&scratch, &id), file_lines(&path));
    assert_eq!(verified_events(&db, &id), 14);
}

/// Environment variables that turn the test below into the child driver.
const CHILD_URL: &str = "RUNSHEET_TEST_CHILD_JOURNAL_URL";
const CHILD_STATE: &str = "RUNSHEET_TEST_CHILD_STATE_DIR";

/// Run by `a_second_driver_is_refused_and_a_killed_one_is_taken_over_only_explicitly`
/// in a child process of this test binary: drive a session, say so, and
/// wait to be killed.
#[test]
#[ignore = "the child process of the driver lock test; does nothing on its own"]
fn child_driver_holds_a_session_until_killed() {
    let (Ok(url), Ok(state)) = (std::env::var(CHILD_URL), std::env::var(CHILD_STATE)) else {
        return;
    };
    let db = JournalDb::from_url(&url).unwrap();
    let id = new_session_id();
    let mut tee = TeeJournal::create(Path::new(&state), header(&id), &db, &Origin::here("Bea")).unwrap();
    tee.append(started("staging.execution.1")).unwrap();
    println!("HOLDING {id}");
    loop {
        std::thread::park();
    }
}

/// A child process that is killed if the test fails before it does.
struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn a_second_driver_is_refused_and_a_killed_one_is_taken_over_only_explicitly() {
    let scratch = ScratchDb::create("pg_driver_lock");
    let db = journal_db(&scratch);
    let state = TempDir::new().unwrap();
    let mut child = Child(
        Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "child_driver_holds_a_session_until_killed",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_URL, &scratch.url)
            .env(CHILD_STATE, state.path())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap(),
    );
    let child_pid = child.0.id();
    let stdout = child.0.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            // The harness may have written the test's name on the same line.
            if let Some((_, id)) = line.split_once("HOLDING ") {
                let _ = tx.send(id.trim().to_string());
            }
        }
    });
    let id = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("the child driver started its session");
    let path = journal_path(state.path(), &id);
    let me = Origin::here("Cleo");

    for claim in [Claim::Acquire, Claim::TakeOver] {
        let err = TeeJournal::open_append(&path, &db, &me, claim)
            .err()
            .expect("a live driver");
        let JournalError::Postgres(PgError::DriverBusy {
            holder: Some(holder), ..
        }) = &err
        else {
            panic!("{err}");
        };
        assert_eq!(holder.origin.operator, "Bea");
        assert_eq!(holder.pid, child_pid, "the holder is the child process");
        assert!(
            err.to_string().contains("is being driven by Bea (OS user"),
            "{err}"
        );
        assert!(err.to_string().contains(" since "), "{err}");
    }

    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(i32::try_from(child_pid).unwrap()),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    child.0.wait().unwrap();
    let rt = runtime();
    let conn = rt.block_on(db.connect()).unwrap();
    assert!(
        wait_until(Duration::from_secs(20), || {
            rt.block_on(conn.driver_of(&id))
                .unwrap()
                .is_some_and(|(_, live)| !live)
        }),
        "the server released the killed driver's lock"
    );

    let err = TeeJournal::open_append(&path, &db, &me, Claim::Acquire)
        .err()
        .expect("a stale driver");
    let JournalError::Postgres(PgError::DriverStale { holder, .. }) = &err else {
        panic!("{err}");
    };
    assert_eq!((holder.origin.operator.as_str(), holder.pid), ("Bea", child_pid));
    assert!(err.to_string().contains("--take-over"), "{err}");

    let (mut tee, read) = TeeJournal::open_append(&path, &db, &me, Claim::TakeOver).unwrap();
    assert_eq!(read.records.len(), 2);
    let lock = tee.driver_lock().clone();
    let previous = lock
        .taken_over_from
        .clone()
        .expect("the take-over names whom it took over from");
    assert_eq!(previous.pid, child_pid);
    assert_eq!(lock.holder.origin.operator, "Cleo");
    assert_eq!(lock.holder.pid, std::process::id());
    let (holder, live) = rt.block_on(conn.driver_of(&id)).unwrap().unwrap();
    assert!(live);
    assert_eq!(holder.origin.operator, "Cleo");
    assert_eq!(
        scratch.query(&format!(
            "SELECT taken_over_from->>'operator' || ' ' || (taken_over_from->>'pid') FROM runsheet.drivers WHERE session = '{id}'"
        )),
        vec![format!("Bea {}", child_pid)]
    );
    // The caller journals the take-over.
    tee.append(Event::Warning {
        code: "driver-taken-over".into(),
        message: format!("taken over from {previous}"),
    })
    .unwrap();
    drop(tee);
    assert_eq!(verified_events(&db, &id), 3);
    assert_eq!(stored_lines(&scratch, &id), file_lines(&path));
    assert_eq!(
        rt.block_on(conn.driver_of(&id)).unwrap(),
        None,
        "released at the end"
    );
}

#[test]
fn driver_locks_on_connections_refuse_a_second_holder_until_released() {
    let scratch = ScratchDb::create("pg_lock_api");
    let db = journal_db(&scratch);
    block_on(async {
        let first = db.connect().await.unwrap();
        let second = db.connect().await.unwrap();
        let ana = Origin::here("Ana");
        let lock = first
            .acquire_driver_lock("s-1", &ana, Claim::Acquire)
            .await
            .unwrap();
        assert_eq!(lock.taken_over_from, None);
        assert_eq!(lock.holder.backend_pid, first.backend_pid().await.unwrap());
        let err = second
            .acquire_driver_lock("s-1", &Origin::here("Bea"), Claim::Acquire)
            .await
            .unwrap_err();
        assert!(
            matches!(&err, PgError::DriverBusy { holder: Some(h), .. } if h.origin.operator == "Ana"),
            "{err}"
        );
        // Another session is another lock.
        second
            .acquire_driver_lock("s-2", &Origin::here("Bea"), Claim::Acquire)
            .await
            .unwrap();
        first.release_driver_lock(&lock).await.unwrap();
        let again = second
            .acquire_driver_lock("s-1", &Origin::here("Bea"), Claim::Acquire)
            .await
            .unwrap();
        assert_eq!(
            again.taken_over_from, None,
            "a released lock leaves nothing to take over"
        );
    });
}

#[test]
fn the_follower_sees_every_record_in_order_within_a_second_of_its_commit() {
    const LINES: usize = 100_000;
    const CHUNK: usize = 1_000;
    let (_scratch, db, id, mut journal) = pg_session("pg_follow");
    journal.append(started("s1")).unwrap();

    // The follower, from a seq in the middle of what is there already.
    let follow_db = db.clone();
    let follow_id = id.clone();
    let total = 2 + LINES as u64 + 1;
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let follower = std::thread::spawn(move || {
        runtime().block_on(async {
            let mut follower = Follower::start(&follow_db, &follow_id, 1).await.unwrap();
            ready_tx.send(()).unwrap();
            let mut seen = Vec::new();
            while follower.next_seq() < total {
                let record = follower.next().await.unwrap();
                seen.push((record.record.seq, Instant::now()));
            }
            seen
        })
    });
    ready_rx.recv().unwrap();

    // A burst, committed a chunk at a time: each chunk's commit happens
    // after `before` (so `seen - before` is at least the real latency).
    let mut commits = Vec::new();
    for chunk in 0..LINES / CHUNK {
        for i in 0..CHUNK {
            journal.append(output(&format!("burst {chunk}.{i}"))).unwrap();
        }
        let before = Instant::now();
        journal.flush().unwrap();
        commits.push(before);
    }
    journal.append(finished("s1")).unwrap();
    let done = Instant::now();
    let seen = follower.join().unwrap();

    let seqs: Vec<u64> = seen.iter().map(|(s, _)| *s).collect();
    assert_eq!(
        seqs,
        (1..total).collect::<Vec<_>>(),
        "every record once, in order"
    );
    let mut worst = Duration::ZERO;
    for (seq, at) in &seen[1..LINES + 1] {
        let chunk = usize::try_from(seq - 2).unwrap() / CHUNK;
        worst = worst.max(at.saturating_duration_since(commits[chunk]));
    }
    let last = seen.last().unwrap().1.saturating_duration_since(done);
    assert!(
        worst < Duration::from_secs(1),
        "a record reached the follower {worst:?} after its commit"
    );
    assert!(
        last < Duration::from_secs(1),
        "the last record reached the follower {last:?} after its commit"
    );
}

#[test]
fn the_follower_goes_on_from_where_it_was_when_its_connection_is_killed() {
    let (scratch, db, id, mut journal) = pg_session("pg_follow_kill");
    let rt = runtime();
    let mut follower = rt.block_on(Follower::start(&db, &id, 0)).unwrap();
    assert_eq!(rt.block_on(follower.next()).unwrap().record.seq, 0);
    let mut errors = 0;
    for round in 0..3 {
        journal.append(note(&format!("round {round}"))).unwrap();
        // Kill every connection but the writer's own, which reconnects as needed.
        scratch.terminate_connections();
        journal
            .append(note(&format!("round {round}, after the kill")))
            .unwrap();
        let mut got = Vec::new();
        while got.len() < 2 {
            match rt.block_on(async { tokio::time::timeout(Duration::from_secs(10), follower.next()).await })
            {
                Ok(Ok(record)) => got.push(record.record.seq),
                Ok(Err(PgError::Broken { .. })) | Err(_) => panic!("the follower stopped"),
                Ok(Err(_)) => errors += 1,
            }
        }
        assert_eq!(
            got,
            vec![1 + 2 * round, 2 + 2 * round],
            "no record skipped or repeated"
        );
    }
    assert!(errors <= 10, "{errors} passing errors");
}

#[test]
fn verify_names_the_first_bad_seq_of_a_tampered_session() {
    let (scratch, db, id, mut journal) = pg_session("pg_tamper");
    for i in 0..9 {
        journal.append(note(&format!("note {i}"))).unwrap();
    }
    drop(journal);
    assert_eq!(verified_events(&db, &id), 10);
    let verdict = || block_on(async { db.connect().await?.verify(&id).await }).unwrap();

    scratch.execute(&format!(
        "UPDATE runsheet.records SET line = replace(line, 'note 4', 'note X') WHERE session = '{id}' AND seq = 5"
    ));
    let bad = verdict().broken.expect("an edited line");
    assert_eq!(bad.seq, 5);
    assert!(bad.reason.contains("edited"), "{}", bad.reason);
    assert_eq!(verdict().events, 5);

    scratch.execute(&format!(
        "UPDATE runsheet.records SET line = replace(line, 'note X', 'note 4') WHERE session = '{id}' AND seq = 5; \
         DELETE FROM runsheet.records WHERE session = '{id}' AND seq = 3"
    ));
    let bad = verdict().broken.expect("a deleted line");
    assert_eq!(bad.seq, 3);
    assert!(
        bad.reason.contains("expected seq 3, found seq 4"),
        "{}",
        bad.reason
    );

    let other = new_session_id();
    let mut journal = PgJournal::create(&db, header(&other), None).unwrap();
    journal.append(note("one")).unwrap();
    journal.append(note("two")).unwrap();
    drop(journal);
    scratch.execute(&format!(
        "DELETE FROM runsheet.records WHERE session = '{other}' AND seq = 2"
    ));
    let verdict = block_on(async { db.connect().await?.verify(&other).await }).unwrap();
    let bad = verdict.broken.clone().expect("a cut-off tail");
    assert_eq!(bad.seq, 2);
    assert!(bad.reason.contains("missing at the end"), "{}", bad.reason);
    assert_eq!(
        verdict.integrity(),
        runsheet::journal::reader::Integrity::Broken {
            line: 3,
            reason: bad.reason.clone()
        }
    );
    let missing = block_on(async { db.connect().await?.verify("no-such-session").await }).unwrap_err();
    assert!(matches!(missing, PgError::NoSession { .. }), "{missing}");
}

#[test]
fn commands_are_numbered_in_order_and_consumed_in_order() {
    let (_scratch, db, id, _journal) = pg_session("pg_commands");
    block_on(async {
        let conn = db.connect().await.unwrap();
        let bea = common::elsewhere("Bea");
        let cleo = Origin::here("Cleo");
        let sign = serde_json::json!({"sign_off": {"step": "staging.validation.1"}});
        assert_eq!(conn.submit_command(&id, &bea, &sign).await.unwrap(), 0);
        assert_eq!(
            conn.submit_command(&id, &cleo, &serde_json::json!({"note": "hi"}))
                .await
                .unwrap(),
            1
        );
        assert_eq!(
            conn.submit_command(&id, &bea, &serde_json::json!({"pause": null}))
                .await
                .unwrap(),
            2
        );

        let first = conn.next_command(&id).await.unwrap().unwrap();
        assert_eq!((first.seq, &first.origin, &first.command), (0, &bea, &sign));
        assert_eq!(first.status, CommandStatus::Pending);
        let err = conn
            .settle_command(&id, 1, &Settlement::Consumed)
            .await
            .unwrap_err();
        assert!(err.to_string().contains("command 0 comes first"), "{err}");
        conn.settle_command(&id, 0, &Settlement::Consumed).await.unwrap();
        let err = conn
            .settle_command(&id, 0, &Settlement::Consumed)
            .await
            .unwrap_err();
        assert!(err.to_string().contains("not a pending command"), "{err}");
        assert_eq!(conn.next_command(&id).await.unwrap().unwrap().seq, 1);
        conn.settle_command(&id, 1, &Settlement::Refused("notes need an operator name".into()))
            .await
            .unwrap();

        let all = conn.commands(&id).await.unwrap();
        let statuses: Vec<_> = all.iter().map(|c| c.status.clone()).collect();
        assert_eq!(
            statuses,
            vec![
                CommandStatus::Consumed,
                CommandStatus::Refused {
                    reason: "notes need an operator name".into()
                },
                CommandStatus::Pending
            ]
        );
        assert_eq!(all[1].origin, cleo);
        let err = conn
            .submit_command("no-such-session", &bea, &sign)
            .await
            .unwrap_err();
        assert!(matches!(err, PgError::NoSession { .. }), "{err}");
    });
}

#[test]
fn migrations_run_twice_are_a_no_op_and_touch_nothing_outside_their_schema() {
    let scratch = ScratchDb::create("pg_migrate");
    scratch.execute(
        "CREATE TABLE public.orders (id int PRIMARY KEY); CREATE SCHEMA app; \
         CREATE FUNCTION app.f() RETURNS int LANGUAGE sql AS 'SELECT 1'",
    );
    let outside = || {
        scratch.query(
            "SELECT coalesce(string_agg(n.nspname || '.' || c.relname, ',' ORDER BY 1), '') \
             FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'runsheet') AND n.nspname NOT LIKE 'pg\\_%'",
        )
    };
    let before = outside();
    let db = journal_db(&scratch);
    let rt = runtime();
    let mut conn = rt.block_on(db.connect()).unwrap();
    let catalog = scratch.catalog_fingerprint();
    let again = rt.block_on(schema::migrate(&mut conn)).unwrap();
    assert_eq!(again.applied, Vec::<i32>::new());
    assert_eq!(again.version, schema::VERSION);
    assert_eq!(
        scratch.catalog_fingerprint(),
        catalog,
        "the second migration changed the catalogue"
    );
    assert_eq!(outside(), before, "objects outside the runsheet schema changed");
    assert_eq!(
        scratch.query("SELECT count(*) || ' ' || max(version) FROM runsheet.schema_version"),
        vec![format!("{0} {0}", schema::VERSION)]
    );
}

/// The error of starting a new session against `db`, which must fail.
fn new_tee_fails(state: &TempDir, db: &JournalDb) -> JournalError {
    TeeJournal::create(state.path(), header(&new_session_id()), db, &Origin::here("Ana"))
        .err()
        .expect("the session cannot start")
}

#[test]
fn a_schema_newer_than_this_runsheet_is_refused_clearly() {
    let scratch = ScratchDb::create("pg_newer");
    let db = journal_db(&scratch);
    block_on(db.connect()).unwrap();
    scratch.execute(&format!(
        "INSERT INTO runsheet.schema_version (version, runsheet_version) VALUES ({}, '9.9.9')",
        schema::VERSION + 1
    ));
    let err = block_on(db.connect()).err().expect("a newer schema");
    assert_eq!(
        err,
        PgError::SchemaTooNew {
            target: db.target(),
            found: schema::VERSION + 1,
            known: schema::VERSION
        }
    );
    assert!(
        err.to_string().contains("newer than this runsheet knows"),
        "{err}"
    );
    let state = TempDir::new().unwrap();
    let err = new_tee_fails(&state, &db);
    assert!(err.to_string().contains("use a newer runsheet"), "{err}");
    assert!(
        !state.path().join("sessions").exists(),
        "no local journal is started either"
    );
}

#[test]
fn passwords_never_reach_an_error() {
    let err = JournalDb::from_url("postgres://deploy:hunter2@db.example:notaport/journal").unwrap_err();
    assert!(!err.to_string().contains("hunter2"), "{err}");
    // Nothing listens on port 1: the connection is refused.
    let db = JournalDb::from_url("postgres://deploy:hunter2@127.0.0.1:1/journal?connect_timeout=2").unwrap();
    let err = block_on(db.connect()).err().expect("nothing listens there");
    assert!(!err.to_string().contains("hunter2"), "{err}");
    assert!(err.to_string().contains("127.0.0.1:1/journal as deploy"), "{err}");
    let state = TempDir::new().unwrap();
    let err = new_tee_fails(&state, &db);
    assert!(!err.to_string().contains("hunter2"), "{err}");
    assert!(!format!("{db:?}").contains("hunter2"));
}

/// Kill the scratch database's connections every `every` until `stop` is
/// set; returns how many kills ended at least one connection.
fn keep_killing(scratch: &ScratchDb, every: Duration, stop: &std::sync::atomic::AtomicBool) -> usize {
    let mut kills = 0;
    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
        std::thread::sleep(every);
        if scratch.terminate_connections() > 0 {
            kills += 1;
        }
    }
    kills
}

#[test]
fn connections_killed_again_and_again_mid_write_never_lose_or_repeat_a_record() {
    use std::sync::atomic::{AtomicBool, Ordering};
    let (scratch, db, _state, tee_id, mut tee) = tee_session("pg_kill_storm");
    let pg_id = format!("{tee_id}-pg");
    let mut pg = PgJournal::create(&db, header(&pg_id), None).unwrap();
    let stop = AtomicBool::new(false);
    let kills = std::thread::scope(|scope| {
        let killer = scope.spawn(|| keep_killing(&scratch, Duration::from_millis(200), &stop));
        for i in 0..900 {
            let event = if i % 3 == 0 {
                note(&format!("n{i}"))
            } else {
                output(&format!("o{i}"))
            };
            tee.append(event.clone()).unwrap();
            pg.append(event).unwrap();
        }
        stop.store(true, Ordering::Relaxed);
        killer.join().unwrap()
    });
    assert!(kills >= 3, "only {kills} kills landed");
    pg.flush().unwrap();
    assert!(
        tee.sync_replica(Duration::from_secs(30)).unwrap(),
        "{:?}",
        tee.status()
    );
    let path = tee.path().to_path_buf();
    drop(tee);
    drop(pg);
    assert_eq!(stored_lines(&scratch, &tee_id), file_lines(&path));
    assert_eq!(verified_events(&db, &tee_id), 901);
    assert_eq!(verified_events(&db, &pg_id), 901);
}

#[test]
fn a_local_journal_edited_while_the_database_was_away_is_not_sent() {
    let (scratch, db, _state, id, mut tee) = tee_session("pg_edited_buffer");
    scratch.allow_connections(false);
    scratch.terminate_connections();
    tee.append(note("the original text")).unwrap();
    tee.append(note("and another")).unwrap();
    wait_for_status(&tee, Duration::from_secs(10), ReplicaStatus::is_degraded);
    let path = tee.path().to_path_buf();
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, text.replace("the original text", "the improved text")).unwrap();

    scratch.allow_connections(true);
    let status = wait_for_status(&tee, Duration::from_secs(20), |s| {
        matches!(s, ReplicaStatus::Stopped { .. })
    });
    let ReplicaStatus::Stopped { reason } = status else {
        unreachable!()
    };
    assert!(reason.contains("disagree at seq 1"), "{reason}");
    assert!(reason.contains("edited"), "{reason}");
    let err = tee.append(note("more")).unwrap_err();
    assert!(
        matches!(err, JournalError::Postgres(PgError::Diverged { .. })),
        "{err}"
    );
    drop(tee);
    assert_eq!(
        verified_events(&db, &id),
        1,
        "the database kept only what verified"
    );
}
