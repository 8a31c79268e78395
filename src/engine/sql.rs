//! Running a SQL step: its statements one by one, in one transaction that a
//! dry run rolls back.
//!
//! Each statement goes to the server on its own (simple query protocol), so
//! the log shows what runs, rows can be captured and verified, and an error
//! is mapped to a line of the step's SQL. Statements PostgreSQL refuses to run
//! inside a transaction block are skipped with a visible note under a dry run;
//! live, what came before is committed and they run on their own. The script's
//! own `BEGIN`/`COMMIT`/`ROLLBACK` never end the runner's transaction behind
//! its back: `BEGIN` is already true, `COMMIT` commits only when live (and is
//! skipped with a note under a dry run), `ROLLBACK` rolls back.

use std::pin::pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_postgres::error::SqlState;
use tokio_postgres::error::{DbError, ErrorPosition, Severity};
use tokio_postgres::{Client, Config, SimpleQueryMessage, SimpleQueryStream};
use tokio_util::sync::CancellationToken;

use super::{OutputChunk, OutputLine, OutputSender, Stopper, locks};
use crate::connect::{self, Connected};
use crate::journal::event::{Observed, Outcome, Stream};
use crate::sql_split::{self, Statement, TxControl};

/// Rows kept (and logged) per result; the rest are counted.
pub const MAX_ROWS: usize = 1_000;
/// How long to wait for the server to give up a cancelled statement before
/// closing the connection instead.
const CANCEL_GRACE: Duration = Duration::from_secs(5);
/// A cancel request is repeated this often during the grace period, in case
/// the first one reached the server between two statements.
const CANCEL_RETRY: Duration = Duration::from_secs(1);
/// How long one cancel request may take to reach the server.
const CANCEL_REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// Lines of the failing statement shown with an error.
const ERROR_CONTEXT_LINES: usize = 5;
/// Longest statement line echoed in the log.
const ECHO_CHARS: usize = 160;

/// What to run, and where.
#[derive(Debug, Clone)]
pub struct SqlRequest {
    pub config: Config,
    pub sql: String,
    /// `SET lock_timeout` for the step's statements: a lock not granted in
    /// time fails the statement with SQLSTATE 55P03 instead of waiting.
    pub lock_timeout: Option<Duration>,
    /// Roll everything back at the end, and skip what cannot be rolled back.
    pub dry_run: bool,
    /// A check: decide `passed` from the rows returned.
    pub verify: bool,
    /// Changes nothing (a check, or `{readonly}`): its transaction ends with
    /// `ROLLBACK`, so the log never claims a commit of a read-only step.
    pub read_only: bool,
}

/// How a SQL step ended.
#[derive(Debug, Clone, PartialEq)]
pub struct SqlResult {
    pub outcome: Outcome,
    /// One sentence, e.g. `ERROR 42P01 at line 3: relation "foo" does not exist`.
    pub error: Option<String>,
    /// The rows of the last statement that returned rows (for a failing
    /// check, of the first statement that made it fail).
    pub observed: Option<Observed>,
    /// For a check: whether every statement returning rows returned none, or a single `true`.
    pub passed: Option<bool>,
}

/// A session's connection to its database, kept from one SQL step to the
/// next: connecting (a server process, TLS, authentication) cost far more
/// than a short step. A step takes it, and gives it back only when it ended
/// cleanly (no transaction left open, not stopped, still connected), after
/// sending `DISCARD ALL` so that no setting, temporary table, advisory lock
/// or `LISTEN` of one step is seen by the next. A connection that was lost
/// meanwhile is replaced by a new one at the next step.
#[derive(Clone, Default)]
pub struct SqlSession {
    kept: Arc<Mutex<Option<Kept>>>,
}

struct Kept {
    config: Config,
    connected: Connected,
    /// The server process serving it (for the lock watcher), asked once.
    backend_pid: Option<i32>,
}

impl SqlSession {
    /// The kept connection and its server process, if it is to the same
    /// database and still open.
    fn take(&self, config: &Config) -> Option<(Connected, Option<i32>)> {
        let kept = self.kept.lock().ok()?.take()?;
        let open = !kept.connected.client.is_closed() && !kept.connected.driver.is_finished();
        (open && kept.config == *config).then_some((kept.connected, kept.backend_pid))
    }

    fn keep(&self, config: Config, connected: Connected, backend_pid: Option<i32>) {
        if let Ok(mut slot) = self.kept.lock() {
            *slot = Some(Kept {
                config,
                connected,
                backend_pid,
            });
        }
    }
}

/// Run a SQL step on a connection of its own (see [`run_sql_in`]), its
/// output line by line.
pub async fn run_sql(req: SqlRequest, halt: Stopper, out: mpsc::Sender<OutputLine>) -> SqlResult {
    let (tx, mut rx) = mpsc::channel::<OutputChunk>(64);
    let forward = tokio::spawn(async move {
        while let Some(chunk) = rx.recv().await {
            out.send_lines(chunk.stream, chunk.lines).await;
        }
    });
    let result = run_sql_in(&SqlSession::default(), req, halt, tx).await;
    let _ = forward.await;
    result
}

/// Run a SQL step on the session's connection (opening one if there is none
/// yet or it was lost), streaming statements, rows, notices and errors to `out`.
///
/// `out` is bounded on purpose (back-pressure); if its receiver is gone the
/// step still runs to its end and the lines are dropped. When the engine stops it (a cancel, its timeout)
/// the running statement is cancelled on the server and the transaction rolled
/// back; a lost connection fails the step with the server's reason.
pub async fn run_sql_in(
    session: &SqlSession,
    req: SqlRequest,
    halt: Stopper,
    out: mpsc::Sender<OutputChunk>,
) -> SqlResult {
    let log = Log { out };
    let statements = sql_split::split(&req.sql);
    let verdict = |outcome, error: Option<String>| SqlResult {
        outcome,
        error,
        observed: None,
        passed: req.verify.then_some(false),
    };
    if statements.is_empty() {
        log.info("the step has no SQL statements".into()).await;
        return SqlResult {
            passed: req.verify.then_some(true),
            ..verdict(Outcome::Succeeded, None)
        };
    }

    let target = connect::describe_target(&req.config);
    // An empty query (one round trip) finds a connection the server closed
    // between steps; the step then connects anew instead of failing.
    let kept = match session.take(&req.config) {
        Some(kept) if kept.0.client.simple_query("").await.is_ok() => Some(kept),
        _ => None,
    };
    let mut backend_pid = None;
    let connected = match kept {
        Some((kept, pid)) => {
            log.info(format!("connected to {target} (the session's connection)"))
                .await;
            backend_pid = pid;
            kept
        }
        None => {
            let connected = tokio::select! {
                r = connect::connect(&req.config) => r,
                h = halt.stopped() => return verdict(h.outcome(), Some(format!("{} while connecting", h.why()))),
            };
            match connected {
                Ok(c) => {
                    log.info(format!("connected to {target}")).await;
                    c
                }
                Err(e) => {
                    log.line(Stream::Error, e.to_string()).await;
                    return verdict(Outcome::Failed, Some(e.to_string()));
                }
            }
        }
    };
    let Connected {
        client,
        driver,
        mut notices,
    } = connected;
    if let Some(limit) = req.lock_timeout
        && let Err(e) = set_lock_timeout(&client, limit, &log).await
    {
        let sentence = format!("cannot set lock_timeout: {}", describe_error(&e));
        log.line(Stream::Error, sentence.clone()).await;
        return verdict(Outcome::Failed, Some(sentence));
    }
    if backend_pid.is_none() {
        backend_pid = locks::backend_pid(&client).await;
    }
    // Dropped with the step: the watcher stops when the step does.
    let _lock_watch = backend_pid.map(|pid| locks::watch(&req.config, pid, log.out.clone()));

    let stop = CancellationToken::new();
    let token = client.cancel_token();
    let mut stopped: Option<Stop> = None;
    let mut exec = Box::pin(execute(&client, &req, &statements, &mut notices, &log, &stop));
    let finished = loop {
        tokio::select! {
            r = &mut exec => break Ok(r),
            h = halt.stopped(), if stopped.is_none() => {
                stopped = Some(Stop::new(h.outcome(), h.why()));
            }
            () = sleep_or_never(stopped.as_ref().map(|s| s.retry_at)) => {}
            Some(stop) = give_up(stopped.as_ref()) => break Err(stop),
        }
        if let Some(stopping) = &mut stopped {
            if !stop.is_cancelled() {
                stop.cancel();
                let why = &stopping.why;
                log.info(format!(
                    "{why}: asking the server to cancel the running statement"
                ))
                .await;
            }
            // A cancel request reaching the server between two statements does nothing: repeat it.
            spawn_cancel_request(token.clone(), log.clone());
            stopping.retry_at = Instant::now() + CANCEL_RETRY;
        }
    };
    drop(exec);
    let reusable =
        stopped.is_none() && finished.as_ref().is_ok_and(|done| done.ended_cleanly) && !client.is_closed();
    let driver = if reusable {
        // Sent now, answered while the engine journals the step: the next
        // step's first statement queues behind it.
        let _ = client.simple_query_raw("DISCARD ALL").await;
        session.keep(
            req.config.clone(),
            Connected {
                client,
                driver,
                notices,
            },
            backend_pid,
        );
        None
    } else {
        drop(client);
        Some(driver)
    };

    let lost_silently = finished.as_ref().is_ok_and(|done| done.lost_silently);
    let mut result = match (finished, stopped) {
        (Ok(done), None) => done.into_result(),
        (Ok(done), Some(Stop { outcome, why, .. })) if done.outcome != Outcome::Succeeded => {
            let what = if done.committed_any {
                "statements committed before it stay committed; the open transaction was rolled back"
            } else {
                "the transaction was rolled back"
            };
            SqlResult {
                outcome,
                error: Some(format!("{why}; {what}")),
                ..done.into_result()
            }
        }
        (Ok(done), Some(_)) => {
            log.info("the step finished before it could be stopped".into())
                .await;
            done.into_result()
        }
        (Err(Stop { outcome, why, .. }), _) => {
            let error = format!(
                "{why}; the server did not stop the statement within {CANCEL_GRACE:?}, so the connection was closed \
                 (the server rolls the transaction back)"
            );
            log.line(Stream::Error, error.clone()).await;
            verdict(outcome, Some(error))
        }
    };
    // A connection that died without a word from the server: say what the driver saw.
    if lost_silently
        && let Some(driver) = driver
        && let Ok(Ok(Err(e))) = tokio::time::timeout(Duration::from_secs(1), driver).await
        && let Some(error) = &mut result.error
    {
        error.push_str(&format!(" ({})", connect::error_text(&e)));
    }
    if req.verify && result.outcome != Outcome::Succeeded {
        result.passed = Some(false);
    }
    result
}

/// Why and since when the step is being stopped.
#[derive(Debug, Clone)]
struct Stop {
    outcome: Outcome,
    why: String,
    /// When to repeat the cancel request.
    retry_at: Instant,
    /// When to stop waiting for the server and close the connection.
    give_up_at: Instant,
}

impl Stop {
    fn new(outcome: Outcome, why: String) -> Stop {
        let now = Instant::now();
        Stop {
            outcome,
            why,
            retry_at: now,
            give_up_at: now + CANCEL_GRACE,
        }
    }
}

/// The stop, once its grace period is over; `None` at once when there is no
/// stop, which disables its `select!` branch.
async fn give_up(stop: Option<&Stop>) -> Option<Stop> {
    let stop = stop?;
    tokio::time::sleep_until(stop.give_up_at).await;
    Some(stop.clone())
}

fn spawn_cancel_request(token: tokio_postgres::CancelToken, log: Log) {
    tokio::spawn(async move {
        // Bounded, so that an unreachable server does not keep the output channel open.
        let why = match tokio::time::timeout(CANCEL_REQUEST_TIMEOUT, connect::cancel_query(&token)).await {
            Ok(Ok(())) => return,
            Ok(Err(e)) => e.to_string(),
            Err(_) => "no answer from the server".to_string(),
        };
        log.line(
            Stream::Notice,
            format!("could not send the cancel request: {why}"),
        )
        .await;
    });
}

/// What [`execute`] found.
struct Executed {
    outcome: Outcome,
    error: Option<String>,
    observed: Option<Observed>,
    passed: Option<bool>,
    /// Whether anything was committed (live, before a statement that cannot
    /// run in a transaction, or at a `COMMIT` of the script).
    committed_any: bool,
    /// The connection was lost without the server saying why.
    lost_silently: bool,
    /// No transaction is left open: the connection can serve the next step.
    ended_cleanly: bool,
}

impl Executed {
    fn into_result(self) -> SqlResult {
        SqlResult {
            outcome: self.outcome,
            error: self.error,
            observed: self.observed,
            passed: self.passed,
        }
    }
}

/// The runner's view of the session: whether a transaction is open.
struct Session<'a> {
    client: &'a Client,
    notices: &'a mut mpsc::Receiver<DbError>,
    log: &'a Log,
    in_tx: bool,
    /// `BEGIN` is announced but not sent: it goes with the next statement.
    begin_pending: bool,
    committed_any: bool,
    lost_silently: bool,
    /// The connection broke (or the server ended it) during the step.
    connection_gone: bool,
}

impl Session<'_> {
    /// Run one statement, forwarding the server's notices as they come.
    async fn run(&mut self, sql: &str, echo: Echo) -> Result<Vec<ResultSet>, tokio_postgres::Error> {
        // Sending only queues the request, so BEGIN and the statement share
        // one round trip; BEGIN's answer is read first.
        let begin = if std::mem::take(&mut self.begin_pending) {
            Some(self.client.simple_query_raw("BEGIN").await?)
        } else {
            None
        };
        let mut query = pin!(collect(self.client, sql, begin, self.log, echo));
        let result = loop {
            tokio::select! {
                biased;
                Some(notice) = self.notices.recv() => self.log.notice(&notice).await,
                r = &mut query => break r,
            }
        };
        // Notices precede the end of their statement: whatever is queued belongs to it.
        while let Ok(notice) = self.notices.try_recv() {
            self.log.notice(&notice).await;
        }
        result
    }

    /// Transaction control issued by the runner itself, echoed in the log.
    async fn control(&mut self, sql: &str, why: &str) -> Result<(), tokio_postgres::Error> {
        self.log.info(format!("{sql}{why}")).await;
        self.run(sql, Echo::Quiet).await?;
        match sql {
            "BEGIN" => self.in_tx = true,
            "COMMIT" => {
                self.in_tx = false;
                self.committed_any = true;
            }
            _ => self.in_tx = false,
        }
        Ok(())
    }

    /// `ROLLBACK` of a step that changed nothing, sent without waiting for
    /// the answer: nothing of the step is kept either way, so the answer
    /// cannot change its outcome, and whatever uses the connection next
    /// (the next step's check that it is still open) queues behind it and
    /// finds a connection that broke. One round trip less per check.
    async fn rollback_unanswered(&mut self, why: &str) -> Result<(), tokio_postgres::Error> {
        self.log.info(format!("ROLLBACK{why}")).await;
        drop(self.client.simple_query_raw("ROLLBACK").await?);
        self.in_tx = false;
        Ok(())
    }

    /// Open the transaction with the next statement (announced now, sent with it).
    async fn ensure_tx(&mut self) {
        if !self.in_tx {
            self.log.info("BEGIN".into()).await;
            self.in_tx = true;
            self.begin_pending = true;
        }
    }
}

/// Run every statement; on error roll back and stop. Returns when done, or at
/// the first statement boundary after `stop` fires.
async fn execute(
    client: &Client,
    req: &SqlRequest,
    statements: &[Statement],
    notices: &mut mpsc::Receiver<DbError>,
    log: &Log,
    stop: &CancellationToken,
) -> Executed {
    let mut s = Session {
        client,
        notices,
        log,
        in_tx: false,
        begin_pending: false,
        committed_any: false,
        lost_silently: false,
        connection_gone: false,
    };
    let mut checks = Checks::default();
    if req.dry_run {
        log.info("dry run: the whole step runs in one transaction that is rolled back at the end".into())
            .await;
    }
    for stmt in statements {
        let echo = echo(&stmt.text);
        if stop.is_cancelled() {
            return finish_failed(
                &mut s,
                &checks,
                format!("stopped before the statement at line {}", stmt.line),
            )
            .await;
        }
        let outcome = match sql_split::transaction_control(&stmt.text) {
            Some(TxControl::Begin) => {
                log.info(format!(
                    "skipped: {echo} (the step already runs in a transaction)"
                ))
                .await;
                continue;
            }
            Some(TxControl::Commit) if req.dry_run => {
                log.line(
                    Stream::Notice,
                    format!("skipped under dry-run: {echo} (nothing is committed)"),
                )
                .await;
                continue;
            }
            Some(TxControl::Commit) => {
                if s.in_tx {
                    s.control("COMMIT", " (the script commits here)")
                        .await
                        .map(|()| Vec::new())
                } else {
                    continue;
                }
            }
            Some(TxControl::Rollback) => {
                if s.in_tx {
                    s.control("ROLLBACK", " (the script rolls back here)")
                        .await
                        .map(|()| Vec::new())
                } else {
                    continue;
                }
            }
            None if sql_split::needs_no_transaction(&stmt.text) => {
                if req.dry_run {
                    let note = format!("skipped under dry-run: cannot run inside a transaction: {echo}");
                    log.line(Stream::Notice, note).await;
                    continue;
                }
                let mut r = Ok(());
                if s.in_tx {
                    r = s
                        .control("COMMIT", " (the next statement cannot run inside a transaction)")
                        .await;
                }
                match r {
                    Ok(()) => {
                        log.info(format!("> {echo}    (outside a transaction)")).await;
                        s.run(&stmt.text, Echo::Results).await
                    }
                    Err(e) => Err(e),
                }
            }
            None => {
                s.ensure_tx().await;
                log.info(format!("> {echo}")).await;
                s.run(&stmt.text, Echo::Results).await
            }
        };
        match outcome {
            Ok(results) => {
                for set in results {
                    checks.add(set);
                }
            }
            Err(e) => {
                let mut sentence = report_error(log, &req.sql, stmt, &e).await;
                let fatal = e.as_db_error().is_some_and(|db| {
                    matches!(db.parsed_severity(), Some(Severity::Fatal | Severity::Panic))
                });
                if fatal || e.is_closed() || client.is_closed() {
                    // Nothing to roll back from here: the server does it as the session ends.
                    s.in_tx = false;
                    s.connection_gone = true;
                    s.lost_silently = e.as_db_error().is_none();
                    log.info("the connection is gone; the server rolls back the open transaction".into())
                        .await;
                }
                if s.committed_any {
                    sentence.push_str(" (statements before it were committed)");
                }
                return finish_failed(&mut s, &checks, sentence).await;
            }
        }
    }
    if stop.is_cancelled() {
        return finish_failed(&mut s, &checks, "stopped before the end of the step".into()).await;
    }
    if s.in_tx {
        let end = if req.dry_run {
            s.control("ROLLBACK", " (dry run: no change is kept)").await
        } else if req.read_only {
            s.rollback_unanswered(" (read-only: nothing to keep)").await
        } else {
            s.control("COMMIT", "").await
        };
        if let Err(e) = end {
            let sentence = format!("the transaction could not end: {}", describe_error(&e));
            log.line(Stream::Error, sentence.clone()).await;
            return finish_failed(&mut s, &checks, sentence).await;
        }
    } else if req.dry_run {
        log.info("dry run: nothing to roll back".into()).await;
    }
    Executed {
        outcome: Outcome::Succeeded,
        error: None,
        passed: req.verify.then_some(checks.passed),
        observed: checks.observed(),
        committed_any: s.committed_any,
        lost_silently: s.lost_silently,
        ended_cleanly: !s.in_tx && !s.connection_gone,
    }
}

/// Roll back what is open (if the connection is still there) and fail.
async fn finish_failed(s: &mut Session<'_>, checks: &Checks, error: String) -> Executed {
    if s.in_tx
        && !s.client.is_closed()
        && let Err(e) = s.control("ROLLBACK", "").await
    {
        s.log
            .line(Stream::Error, format!("ROLLBACK failed: {}", describe_error(&e)))
            .await;
    }
    Executed {
        outcome: Outcome::Failed,
        error: Some(error),
        observed: checks.observed(),
        passed: Some(false),
        committed_any: s.committed_any,
        lost_silently: s.lost_silently,
        ended_cleanly: !s.in_tx && !s.connection_gone,
    }
}

/// The rows of one statement that returned rows.
struct ResultSet {
    columns: Vec<String>,
    /// At most [`MAX_ROWS`].
    rows: Vec<Vec<String>>,
    /// How many rows the statement returned in all.
    total: u64,
}

impl ResultSet {
    /// The verify rule: no rows, or exactly one row of one column that is true.
    fn passes(&self) -> bool {
        match (self.total, self.columns.len(), self.rows.first()) {
            (0, _, _) => true,
            (1, 1, Some(row)) => row.first().is_some_and(|v| matches!(v.as_str(), "t" | "true")),
            _ => false,
        }
    }
}

/// The verify verdict and the evidence kept for it.
struct Checks {
    passed: bool,
    last: Option<ResultSet>,
    first_failure: Option<ResultSet>,
}

impl Default for Checks {
    fn default() -> Self {
        Checks {
            passed: true,
            last: None,
            first_failure: None,
        }
    }
}

impl Checks {
    fn add(&mut self, set: ResultSet) {
        if !set.passes() {
            self.passed = false;
            if self.first_failure.is_none() {
                self.first_failure = Some(set);
                return;
            }
        }
        self.last = Some(set);
    }

    fn observed(&self) -> Option<Observed> {
        let set = self.first_failure.as_ref().or(self.last.as_ref())?;
        Some(Observed {
            columns: set.columns.clone(),
            rows: set.rows.clone(),
            text: String::new(),
        })
    }
}

/// Whether a statement's rows and row count are logged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Echo {
    Results,
    /// The runner's own BEGIN/COMMIT/ROLLBACK, already announced.
    Quiet,
}

/// Run one statement and collect (and log) the rows it returns.
async fn collect(
    client: &Client,
    sql: &str,
    before: Option<SimpleQueryStream>,
    log: &Log,
    echo: Echo,
) -> Result<Vec<ResultSet>, tokio_postgres::Error> {
    let mut stream = pin!(client.simple_query_raw(sql).await?);
    // What was sent ahead of the statement (the runner's BEGIN) answers first.
    if let Some(before) = before {
        let mut before = pin!(before);
        while let Some(message) = before.next().await {
            message?;
        }
    }
    let mut sets = Vec::new();
    let mut current: Option<ResultSet> = None;
    while let Some(message) = stream.next().await {
        match message? {
            SimpleQueryMessage::RowDescription(columns) => {
                let columns: Vec<String> = columns.iter().map(|c| c.name().to_string()).collect();
                current = Some(ResultSet {
                    columns,
                    rows: Vec::new(),
                    total: 0,
                });
            }
            SimpleQueryMessage::Row(row) => {
                let Some(set) = current.as_mut() else { continue };
                if set.total == 0 {
                    log.line(Stream::Stdout, set.columns.join(" | ")).await;
                }
                set.total += 1;
                if set.rows.len() < MAX_ROWS {
                    let values: Vec<String> = (0..row.len())
                        .map(|i| match row.try_get(i) {
                            Ok(Some(v)) => v.to_string(),
                            Ok(None) => "NULL".to_string(),
                            Err(_) => "<unreadable>".to_string(),
                        })
                        .collect();
                    log.line(Stream::Stdout, values.join(" | ")).await;
                    set.rows.push(values);
                }
            }
            SimpleQueryMessage::CommandComplete(_) if echo == Echo::Quiet => {}
            SimpleQueryMessage::CommandComplete(n) => match current.take() {
                Some(set) => {
                    if set.total == 0 {
                        log.line(Stream::Stdout, set.columns.join(" | ")).await;
                    }
                    let rows = crate::text::plural(set.total, "row");
                    let note = if set.total > MAX_ROWS as u64 {
                        format!("  {rows} (the first {MAX_ROWS} shown and kept)")
                    } else {
                        format!("  {rows}")
                    };
                    log.info(note).await;
                    sets.push(set);
                }
                None if n > 0 => log.info(format!("  ok, {}", crate::text::plural(n, "row"))).await,
                None => log.info("  ok".into()).await,
            },
            _ => {}
        }
    }
    Ok(sets)
}

/// The statement's first line, shortened, with `…` when there is more.
fn echo(text: &str) -> String {
    let mut lines = text.lines();
    let first = lines.next().unwrap_or("").trim_end();
    let mut echo: String = first.chars().take(ECHO_CHARS).collect();
    if echo.len() < first.len() || lines.next().is_some() {
        echo.push_str(" …");
    }
    echo
}

/// Log an error in full and return its one-sentence summary.
async fn report_error(log: &Log, sql: &str, stmt: &Statement, e: &tokio_postgres::Error) -> String {
    let Some(db) = e.as_db_error() else {
        let sentence = format!(
            "the statement at line {} failed: {}",
            stmt.line,
            describe_error(e)
        );
        log.line(Stream::Error, sentence.clone()).await;
        return sentence;
    };
    let code = db.code().code();
    let (line, col) = match db.position() {
        Some(ErrorPosition::Original(pos)) => position_in_script(sql, stmt, *pos),
        _ => (stmt.line, None),
    };
    let mut sentence = format!("{} {code} at line {line}: {}", db.severity(), db.message());
    if *db.code() == SqlState::LOCK_NOT_AVAILABLE {
        sentence.push_str(" (a lock was not granted within the step's lock_timeout; see the lock lines above for who held it)");
    }
    log.line(
        Stream::Error,
        format!("{} {code}: {}", db.severity(), db.message()),
    )
    .await;
    let at = match col {
        Some(col) => format!("at line {line}, column {col} of the step's SQL"),
        None => format!("in the statement at line {line} of the step's SQL"),
    };
    log.line(Stream::Error, at).await;
    for (label, value) in [
        ("DETAIL", db.detail()),
        ("HINT", db.hint()),
        ("CONTEXT", db.where_()),
    ] {
        if let Some(value) = value {
            log.line(Stream::Error, format!("{label}: {value}")).await;
        }
    }
    if let Some(ErrorPosition::Internal { position, query }) = db.position() {
        log.line(
            Stream::Error,
            format!("in an internal query, at character {position}: {query}"),
        )
        .await;
    }
    for (i, text) in stmt.text.lines().take(ERROR_CONTEXT_LINES).enumerate() {
        log.line(Stream::Error, format!("{:>5} | {text}", stmt.line as usize + i))
            .await;
    }
    if stmt.text.lines().count() > ERROR_CONTEXT_LINES {
        log.line(Stream::Error, "      | …".into()).await;
    }
    sentence
}

/// Map the server's 1-based character position in `stmt` to a line and column of the script.
fn position_in_script(sql: &str, stmt: &Statement, pos: u32) -> (u32, Option<u32>) {
    let index = (pos as usize).saturating_sub(1);
    match stmt.text.char_indices().nth(index) {
        Some((byte, _)) => {
            let (line, col) = sql_split::line_col(sql, stmt.offset + byte);
            (line, Some(col))
        }
        None => (stmt.line, None),
    }
}

/// A tokio-postgres error as one line: the server's words when it spoke.
fn describe_error(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{} {}: {}", db.severity(), db.code().code(), db.message()),
        None => connect::error_text(e),
    }
}

/// Limit how long each statement of the step may wait for a lock.
async fn set_lock_timeout(client: &Client, limit: Duration, log: &Log) -> Result<(), tokio_postgres::Error> {
    let sql = format!("SET lock_timeout = '{}ms'", limit.as_millis());
    log.info(format!(
        "{sql}    (a lock not granted within {} fails the statement)",
        crate::text::duration(limit)
    ))
    .await;
    client.batch_execute(&sql).await
}

async fn sleep_or_never(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// The step's output channel.
#[derive(Clone)]
struct Log {
    out: mpsc::Sender<OutputChunk>,
}

impl Log {
    async fn line(&self, stream: Stream, text: String) {
        // A closed receiver only means nobody is watching: keep running.
        self.out.send_lines(stream, vec![text]).await;
    }

    async fn info(&self, text: String) {
        self.line(Stream::Info, text).await;
    }

    async fn notice(&self, notice: &DbError) {
        self.line(
            Stream::Notice,
            format!("{}: {}", notice.severity(), notice.message()),
        )
        .await;
        for (label, value) in [("DETAIL", notice.detail()), ("HINT", notice.hint())] {
            if let Some(value) = value {
                self.line(Stream::Notice, format!("{label}: {value}")).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(columns: &[&str], rows: &[&[&str]]) -> ResultSet {
        ResultSet {
            columns: columns.iter().map(|c| c.to_string()).collect(),
            rows: rows
                .iter()
                .map(|r| r.iter().map(|v| v.to_string()).collect())
                .collect(),
            total: rows.len() as u64,
        }
    }

    #[test]
    fn the_verify_rule() {
        assert!(set(&["a", "b"], &[]).passes());
        assert!(set(&["ok"], &[&["t"]]).passes());
        assert!(set(&["ok"], &[&["true"]]).passes());
        assert!(!set(&["ok"], &[&["f"]]).passes());
        assert!(!set(&["ok"], &[&["NULL"]]).passes());
        assert!(!set(&["ok", "why"], &[&["t", "x"]]).passes());
        assert!(!set(&["ok"], &[&["t"], &["t"]]).passes());
    }

    #[test]
    fn observed_is_the_first_failure_else_the_last_result() {
        let mut checks = Checks::default();
        checks.add(set(&["a"], &[&["t"]]));
        checks.add(set(&["b"], &[]));
        assert!(checks.passed);
        assert_eq!(checks.observed().unwrap().columns, ["b"]);
        checks.add(set(&["bad"], &[&["1"], &["2"]]));
        checks.add(set(&["c"], &[]));
        assert!(!checks.passed);
        assert_eq!(checks.observed().unwrap().columns, ["bad"]);
    }

    #[test]
    fn echo_shows_the_first_line() {
        assert_eq!(
            echo("CREATE TABLE molecules (\n  id int\n)"),
            "CREATE TABLE molecules ( …"
        );
        assert_eq!(echo("SELECT 1"), "SELECT 1");
        assert_eq!(echo(&"x".repeat(500)).chars().count(), ECHO_CHARS + 2);
    }

    #[test]
    fn positions_map_to_script_lines() {
        let sql = "select 1;\n\nselect *\n  from nowhere;";
        let stmts = sql_split::split(sql);
        // "from" starts at character 12 of the second statement (1-based 12 = index 11).
        assert_eq!(position_in_script(sql, &stmts[1], 12), (4, Some(3)));
        assert_eq!(position_in_script(sql, &stmts[1], 0), (3, Some(1)));
        assert_eq!(position_in_script(sql, &stmts[1], 9999), (3, None));
    }
}
