//! A lock wait is visible: a SQL step blocked by another session's lock
//! says, within two seconds, which relation it waits for and which backend
//! holds it; with `lock_timeout` it fails with SQLSTATE 55P03 instead of
//! waiting. The real server, a real second session holding the lock.

mod common;

use std::time::{Duration, Instant};

use common::ScratchDb;
use runsheet::connect;
use runsheet::engine::sql::{SqlRequest, run_sql};
use runsheet::engine::{OutputLine, Stopper};
use runsheet::journal::event::{LOCK_WAIT_ENDED, Outcome, Stream};
use runsheet::runbook::model::{DatabaseSource, ValueSource};
use tokio::sync::mpsc;

fn request(db: &ScratchDb, sql: &str, lock_timeout: Option<Duration>) -> SqlRequest {
    SqlRequest {
        config: connect::resolve(&DatabaseSource::Url(ValueSource::Literal(db.url.clone()))).expect("config"),
        sql: sql.to_string(),
        lock_timeout,
        dry_run: false,
        verify: false,
        read_only: false,
    }
}

/// Another session that takes an exclusive lock on `marks` and keeps it
/// until `release` is sent; its backend pid.
async fn hold_lock(db: &ScratchDb) -> (i32, tokio_postgres::Client) {
    let url = format!("{}?application_name=lock-holder", db.url);
    let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .expect("holder connects");
    tokio::spawn(connection);
    let row = client
        .query_one("SELECT pg_backend_pid()", &[])
        .await
        .expect("pid");
    client
        .batch_execute("BEGIN; LOCK TABLE marks IN ACCESS EXCLUSIVE MODE")
        .await
        .expect("lock taken");
    (row.get(0), client)
}

/// The next line of `stream`, within `limit`.
async fn next_line(rx: &mut mpsc::Receiver<OutputLine>, stream: Stream, limit: Duration) -> Option<String> {
    tokio::time::timeout(limit, async {
        while let Some(line) = rx.recv().await {
            if line.stream == stream {
                return Some(line.text);
            }
        }
        None
    })
    .await
    .ok()
    .flatten()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

#[test]
fn a_lock_held_by_another_session_is_shown_with_its_holder_within_two_seconds() {
    let db = ScratchDb::create("lock_wait");
    db.execute("CREATE TABLE marks (id int)");
    runtime().block_on(lock_wait_is_shown(&db));
}

async fn lock_wait_is_shown(db: &ScratchDb) {
    let (holder_pid, holder) = hold_lock(db).await;

    let (tx, mut rx) = mpsc::channel(256);
    let started = Instant::now();
    let step = tokio::spawn(run_sql(
        request(db, "SELECT count(*) FROM marks", None),
        Stopper::new(),
        tx,
    ));
    let line = next_line(&mut rx, Stream::Lock, Duration::from_secs(2))
        .await
        .expect("a lock line within 2 s");
    assert!(started.elapsed() < Duration::from_secs(2));
    assert!(line.contains("marks"), "the relation: {line}");
    assert!(
        line.contains(&format!("pid {holder_pid}")),
        "the holder's pid: {line}"
    );
    assert!(line.contains("LOCK TABLE marks"), "the holder's query: {line}");
    assert!(
        line.contains("lock-holder") && line.contains("idle in transaction"),
        "{line}"
    );

    // Once per change: the same wait is not reported again while it lasts.
    assert_eq!(
        next_line(&mut rx, Stream::Lock, Duration::from_millis(1200)).await,
        None
    );
    holder.batch_execute("COMMIT").await.expect("release");
    // The step goes on at once; the end of the wait is said when the watcher
    // sees it before the step ends (the fold clears the wait at the end anyway).
    while let Some(line) = next_line(&mut rx, Stream::Lock, Duration::from_secs(5)).await {
        assert!(line.starts_with(LOCK_WAIT_ENDED), "only the end follows: {line}");
    }
    let result = step.await.expect("step task");
    assert_eq!(result.outcome, Outcome::Succeeded, "{:?}", result.error);
}

#[test]
fn lock_timeout_fails_the_step_with_55p03() {
    let db = ScratchDb::create("lock_timeout");
    db.execute("CREATE TABLE marks (id int)");
    runtime().block_on(lock_timeout_fails(&db));
    assert_eq!(db.query("SELECT count(*) FROM marks"), ["0"]);
}

async fn lock_timeout_fails(db: &ScratchDb) {
    let (_pid, holder) = hold_lock(db).await;
    let (tx, mut rx) = mpsc::channel(256);
    let started = Instant::now();
    let req = request(
        db,
        "INSERT INTO marks VALUES (1)",
        Some(Duration::from_millis(300)),
    );
    let collect = tokio::spawn(async move {
        let mut lines = Vec::new();
        while let Some(line) = rx.recv().await {
            lines.push(line);
        }
        lines
    });
    let result = run_sql(req, Stopper::new(), tx).await;
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "it did not wait for the step timeout"
    );
    assert_eq!(result.outcome, Outcome::Failed);
    let error = result.error.unwrap_or_default();
    assert!(
        error.contains("55P03") && error.contains("lock_timeout"),
        "{error}"
    );
    let lines = collect.await.expect("lines");
    assert!(
        lines
            .iter()
            .any(|l| l.text.starts_with("SET lock_timeout = '300ms'")),
        "{lines:?}"
    );
    drop(holder);
}
