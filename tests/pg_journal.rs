//! The PostgreSQL journal against the real server: the same lines and
//! hashes as the file, no fork with two writers, nothing lost when the
//! journal database's connections are killed, one driver per session,
//! the follower, commands, and the schema's migrations.

mod common;

use std::path::Path;
use std::sync::{Arc, Barrier};

use common::ScratchDb;
use tempfile::TempDir;

use runsheet::journal::event::{Event, FORMAT_VERSION, Header, Mode, Outcome, SessionOutcome, Stream};
use runsheet::journal::file::new_session_id;
use runsheet::journal::postgres::lock::Origin;
use runsheet::journal::postgres::{JournalDb, PgError, PgJournal, ReplicaStatus};
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
        runsheet_version: "0.1.0".into(),
        only: None,
        plan: Plan {
            runbook_title: "Remediation".into(),
            environment: "staging".into(),
            phases: vec![],
            signoffs: 2,
            ..Plan::default()
        },
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
    let scratch = ScratchDb::create("pg_round_trip");
    let db = journal_db(&scratch);
    let state = TempDir::new().unwrap();
    let id = new_session_id();
    let mut tee = TeeJournal::create(state.path(), header(&id), &db, &Origin::current("Ana")).unwrap();
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
    let scratch = ScratchDb::create("pg_only");
    let db = journal_db(&scratch);
    let id = new_session_id();
    let mut journal = PgJournal::create(&db, header(&id), None).unwrap();
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
