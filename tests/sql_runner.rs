//! The SQL step runner against the real PostgreSQL test server, one scratch
//! database per test.

mod common;

use std::future::Future;
use std::time::{Duration, Instant};

use common::ScratchDb;
use runsheet::connect;
use runsheet::engine::sql::{SqlRequest, SqlResult, SqlSession, run_sql, run_sql_in};
use runsheet::engine::{Halt, OutputLine, Stopper};
use runsheet::journal::event::{Outcome, Stream};
use runsheet::runbook::model::{DatabaseSource, ValueSource};
use tokio::sync::mpsc;
use tokio_postgres::config::SslMode;

fn block_on<F: Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(f)
}

fn config(url: &str) -> tokio_postgres::Config {
    connect::resolve(&DatabaseSource::Url(ValueSource::Literal(url.to_string()))).expect("config")
}

fn request(db: &ScratchDb, sql: &str) -> SqlRequest {
    SqlRequest {
        config: config(&db.url),
        sql: sql.to_string(),
        lock_timeout: None,
        dry_run: false,
        verify: false,
        read_only: false,
    }
}

/// Run a step to its end, collecting its output.
async fn run_async(req: SqlRequest, cancel: Stopper) -> (SqlResult, Vec<OutputLine>) {
    let (tx, mut rx) = mpsc::channel(64);
    let collector = tokio::spawn(async move {
        let mut lines = Vec::new();
        while let Some(line) = rx.recv().await {
            lines.push(line);
        }
        lines
    });
    let result = run_sql(req, cancel, tx).await;
    (result, collector.await.expect("collector"))
}

fn run(req: SqlRequest) -> (SqlResult, Vec<OutputLine>) {
    block_on(run_async(req, Stopper::new()))
}

fn texts(lines: &[OutputLine], stream: Stream) -> Vec<String> {
    lines
        .iter()
        .filter(|l| l.stream == stream)
        .map(|l| l.text.clone())
        .collect()
}

fn has(lines: &[OutputLine], stream: Stream, needle: &str) -> bool {
    lines
        .iter()
        .any(|l| l.stream == stream && l.text.contains(needle))
}

/// Everything a step could change: the schema and the data of every table.
fn snapshot(db: &ScratchDb) -> Vec<String> {
    let mut all = db.query(
        "select c.relkind::text || ' ' || c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace \
         where n.nspname = 'public' order by 1",
    );
    all.extend(db.query(
        "select table_name || '.' || column_name || ' ' || data_type from information_schema.columns \
         where table_schema = 'public' order by 1",
    ));
    all.extend(db.query("select string_agg(id || '=' || name, ',' order by id) from molecules"));
    all
}

fn with_molecules(label: &str) -> ScratchDb {
    let db = ScratchDb::create(label);
    db.execute(
        "create table molecules (id int primary key, name text not null); \
         insert into molecules values (1, 'glycerol'), (2, 'trehalose');",
    );
    db
}

/// Run a query on the server's maintenance database.
async fn admin_query(sql: &str) -> Vec<String> {
    let (client, conn) = tokio_postgres::connect(&common::server_url(), tokio_postgres::NoTls)
        .await
        .expect("admin connect");
    let task = tokio::spawn(conn);
    let mut out = Vec::new();
    for msg in client.simple_query(sql).await.expect("admin query") {
        if let tokio_postgres::SimpleQueryMessage::Row(row) = msg {
            out.push(row.get(0).unwrap_or("NULL").to_string());
        }
    }
    drop(client);
    let _ = task.await;
    out
}

/// Poll until a backend with `app` as application name runs `pg_sleep`; its pid.
async fn sleeping_backend(app: &str) -> Option<String> {
    let sql = format!(
        "select pid from pg_stat_activity where application_name = '{app}' and state = 'active' \
         and query like '%pg_sleep%'"
    );
    let end = Instant::now() + Duration::from_secs(30);
    while Instant::now() < end {
        if let Some(pid) = admin_query(&sql).await.into_iter().next() {
            return Some(pid);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    None
}

/// Poll until no backend with `app` as application name is active.
async fn backend_gone(app: &str) -> bool {
    let sql =
        format!("select pid from pg_stat_activity where application_name = '{app}' and state = 'active'");
    let end = Instant::now() + Duration::from_secs(30);
    while Instant::now() < end {
        if admin_query(&sql).await.is_empty() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

fn app_name(label: &str) -> String {
    format!("runsheet_test_{label}_{}", std::process::id())
}

#[test]
fn a_step_is_committed() {
    let db = ScratchDb::create("commit");
    let sql = "CREATE TABLE molecules (\n  id int primary key,\n  name text\n);\n\
               INSERT INTO molecules VALUES (1, 'glycerol'), (2, 'dmso'), (3, 'trehalose');";
    let (result, lines) = run(request(&db, sql));
    assert_eq!(result.outcome, Outcome::Succeeded, "{result:?} {lines:?}");
    assert_eq!(result.error, None);
    assert_eq!(result.passed, None);
    assert_eq!(db.query("select count(*) from molecules"), ["3"]);
    let info = texts(&lines, Stream::Info);
    assert!(
        info.contains(&"> CREATE TABLE molecules ( …".to_string()),
        "{info:?}"
    );
    assert!(info.contains(&"  ok, 3 rows".to_string()), "{info:?}");
    assert_eq!(info.last().map(String::as_str), Some("COMMIT"));
}

#[test]
fn a_dry_run_leaves_the_database_unchanged() {
    let db = with_molecules("dryrun");
    let before = snapshot(&db);
    let sql = "BEGIN;\n\
               CREATE TABLE experiments (id int primary key, molecule_id int references molecules(id));\n\
               INSERT INTO experiments VALUES (1, 1);\n\
               UPDATE molecules SET name = upper(name);\n\
               ALTER TABLE molecules ADD COLUMN formula text;\n\
               CREATE INDEX idx_molecules_name ON molecules (name);\n\
               COMMIT;\n\
               SELECT count(*) FROM experiments;";
    let mut req = request(&db, sql);
    req.dry_run = true;
    let (result, lines) = run(req);
    assert_eq!(result.outcome, Outcome::Succeeded, "{result:?} {lines:?}");
    // Within the step the changes were visible...
    assert_eq!(
        result.observed.as_ref().map(|o| o.rows.clone()),
        Some(vec![vec!["1".to_string()]])
    );
    // ...and afterwards nothing of them is left.
    assert_eq!(snapshot(&db), before);
    assert!(
        has(&lines, Stream::Notice, "skipped under dry-run: COMMIT"),
        "{lines:?}"
    );
    assert!(has(&lines, Stream::Info, "ROLLBACK (dry run"), "{lines:?}");
}

#[test]
fn a_failing_statement_reports_its_sqlstate_and_line() {
    let db = ScratchDb::create("failing");
    let sql = "create table kept_only_if_committed (a int);\n\nselect *\n  from   nosuch;\nselect 2;";
    let (result, lines) = run(request(&db, sql));
    assert_eq!(result.outcome, Outcome::Failed);
    assert_eq!(
        result.error.as_deref(),
        Some("ERROR 42P01 at line 4: relation \"nosuch\" does not exist")
    );
    let errors = texts(&lines, Stream::Error);
    assert!(
        errors.contains(&"ERROR 42P01: relation \"nosuch\" does not exist".to_string()),
        "{errors:?}"
    );
    assert!(
        errors.contains(&"at line 4, column 10 of the step's SQL".to_string()),
        "{errors:?}"
    );
    assert!(errors.iter().any(|l| l.contains("3 | select *")), "{errors:?}");
    // Rolled back, and nothing after the failure ran.
    assert!(has(&lines, Stream::Info, "ROLLBACK"));
    assert!(!has(&lines, Stream::Info, "> select 2"));
    assert_eq!(
        db.query("select count(*) from pg_class where relname = 'kept_only_if_committed'"),
        ["0"]
    );
}

#[test]
fn errors_carry_detail_and_hint() {
    let db = with_molecules("detail");
    let (result, lines) = run(request(&db, "insert into molecules values (1, 'again');"));
    assert_eq!(
        result.error.as_deref(),
        Some("ERROR 23505 at line 1: duplicate key value violates unique constraint \"molecules_pkey\"")
    );
    assert!(
        has(&lines, Stream::Error, "DETAIL: Key (id)=(1) already exists."),
        "{lines:?}"
    );
    let (_, lines) = run(request(&db, "select nme from molecules"));
    assert!(has(&lines, Stream::Error, "HINT: Perhaps you meant"), "{lines:?}");
}

#[test]
fn verify_passes_on_no_rows_or_a_single_true() {
    let db = with_molecules("verify_pass");
    let mut req = request(
        &db,
        "select id from molecules where name is null;\nselect count(*) = 2 as two from molecules;",
    );
    req.verify = true;
    req.read_only = true;
    let (result, lines) = run(req);
    assert_eq!(result.outcome, Outcome::Succeeded, "{lines:?}");
    assert_eq!(result.passed, Some(true));
    let observed = result.observed.expect("observed");
    assert_eq!(observed.columns, ["two"]);
    assert_eq!(observed.rows, [["t"]]);
    let info = texts(&lines, Stream::Info);
    assert_eq!(
        info.last().map(String::as_str),
        Some("ROLLBACK (read-only: nothing to keep)"),
        "a check never claims a commit: {info:?}"
    );
}

#[test]
fn verify_fails_and_records_the_rows() {
    let db = with_molecules("verify_fail");
    let mut req = request(&db, "select id, name from molecules order by id;\nselect true;");
    req.verify = true;
    let (result, lines) = run(req);
    assert_eq!(result.outcome, Outcome::Succeeded);
    assert_eq!(result.passed, Some(false));
    let observed = result.observed.expect("observed");
    assert_eq!(observed.columns, ["id", "name"]);
    assert_eq!(observed.rows, [["1", "glycerol"], ["2", "trehalose"]]);
    assert_eq!(
        texts(&lines, Stream::Stdout),
        ["id | name", "1 | glycerol", "2 | trehalose", "?column?", "t"]
    );

    let mut req = request(&db, "select false as ok");
    req.verify = true;
    assert_eq!(run(req).0.passed, Some(false));
}

#[test]
fn large_results_are_capped() {
    let db = ScratchDb::create("cap");
    let (result, lines) = run(request(&db, "select g from generate_series(1, 1500) g"));
    assert_eq!(result.outcome, Outcome::Succeeded);
    assert_eq!(result.observed.expect("observed").rows.len(), 1000);
    assert!(
        has(&lines, Stream::Info, "1,500 rows (the first 1000 shown and kept)"),
        "{:?}",
        texts(&lines, Stream::Info)
    );
}

#[test]
fn notices_are_forwarded() {
    let db = ScratchDb::create("notices");
    let sql = "do $$ begin\n  raise notice 'hello from plpgsql; really';\n  raise warning 'careful' using hint = 'look twice';\nend $$;\nselect 1;";
    let (result, lines) = run(request(&db, sql));
    assert_eq!(result.outcome, Outcome::Succeeded, "{lines:?}");
    let notices = texts(&lines, Stream::Notice);
    assert_eq!(
        notices,
        [
            "NOTICE: hello from plpgsql; really",
            "WARNING: careful",
            "HINT: look twice"
        ]
    );
    // Each notice comes right after the statement that raised it.
    let pos = |needle: &str| lines.iter().position(|l| l.text.contains(needle)).expect(needle);
    assert!(pos("> do $$ begin") < pos("NOTICE: hello") && pos("careful") < pos("> select 1"));
}

#[test]
fn create_index_concurrently_is_skipped_under_dry_run() {
    let db = with_molecules("concurrently_dry");
    let sql = "insert into molecules values (3, 'ethylene glycol');\n\
               create index concurrently idx_molecules_name on molecules (name);";
    let mut req = request(&db, sql);
    req.dry_run = true;
    let (result, lines) = run(req);
    assert_eq!(result.outcome, Outcome::Succeeded, "{lines:?}");
    assert!(
        has(
            &lines,
            Stream::Notice,
            "skipped under dry-run: cannot run inside a transaction: create index concurrently idx_molecules_name"
        ),
        "{lines:?}"
    );
    assert_eq!(
        db.query("select count(*) from pg_indexes where indexname = 'idx_molecules_name'"),
        ["0"]
    );
    assert_eq!(db.query("select count(*) from molecules"), ["2"]);
}

#[test]
fn create_index_concurrently_runs_outside_the_transaction_live() {
    let db = with_molecules("concurrently_live");
    let sql = "insert into molecules values (3, 'ethylene glycol');\n\
               create index concurrently idx_molecules_name on molecules (name);\n\
               insert into molecules values (4, 'dmso');";
    let (result, lines) = run(request(&db, sql));
    assert_eq!(result.outcome, Outcome::Succeeded, "{lines:?}");
    assert!(has(
        &lines,
        Stream::Info,
        "COMMIT (the next statement cannot run inside a transaction)"
    ));
    assert!(has(&lines, Stream::Info, "(outside a transaction)"));
    assert_eq!(
        db.query("select count(*) from pg_indexes where indexname = 'idx_molecules_name'"),
        ["1"]
    );
    assert_eq!(
        db.query("select indisvalid::text from pg_index where indexrelid = 'idx_molecules_name'::regclass"),
        ["true"]
    );
    assert_eq!(db.query("select count(*) from molecules"), ["4"]);
}

#[test]
fn a_terminated_backend_fails_the_step_promptly() {
    let db = ScratchDb::create("terminate");
    let app = app_name("terminate");
    let mut req = request(&db, "select 1;\nselect pg_sleep(600);");
    req.config.application_name(&app);
    let (result, lines) = block_on(async {
        let step = tokio::spawn(run_async(req, Stopper::new()));
        let pid = sleeping_backend(&app).await.expect("the step's backend shows up");
        assert_eq!(
            admin_query(&format!("select pg_terminate_backend({pid})")).await,
            ["t"]
        );
        // Promptly: far sooner than the 600 s the statement would sleep.
        tokio::time::timeout(Duration::from_secs(20), step)
            .await
            .expect("ends promptly")
            .expect("no panic")
    });
    assert_eq!(result.outcome, Outcome::Failed, "{lines:?}");
    let error = result.error.expect("error");
    assert!(
        error.contains("57P01") && error.contains("terminating connection due to administrator command"),
        "{error}"
    );
    assert!(error.contains("line 2"), "{error}");
}

/// One step on the session's connection; its first kept row's first value.
async fn in_session(session: &SqlSession, req: SqlRequest) -> (SqlResult, String) {
    let (tx, mut rx) = mpsc::channel(64);
    let drain = tokio::spawn(async move { while rx.recv().await.is_some() {} });
    let result = run_sql_in(session, req, Stopper::new(), tx).await;
    drain.await.expect("drain");
    let first = result
        .observed
        .as_ref()
        .and_then(|o| o.rows.first())
        .and_then(|r| r.first())
        .cloned()
        .unwrap_or_default();
    (result, first)
}

/// Steps of a session share one connection, but nothing one step sets
/// (settings, locks, temporary tables) is seen by the next; a connection
/// the server ended between steps is replaced by a new one.
#[test]
fn steps_share_a_reset_connection_and_a_lost_one_is_replaced() {
    let db = ScratchDb::create("session_conn");
    let session = SqlSession::default();
    block_on(async {
        let step = |sql: &str| request(&db, sql);
        let (first, pid) = in_session(
            &session,
            step("SET search_path = nowhere;\nDO $$ BEGIN PERFORM pg_advisory_lock(4242); END $$;\nCREATE TEMP TABLE scratch (x int);\nSELECT pg_backend_pid();"),
        )
        .await;
        assert_eq!(first.outcome, Outcome::Succeeded, "{first:?}");
        let (second, same) = in_session(&session, step("SELECT pg_backend_pid();")).await;
        assert_eq!(second.outcome, Outcome::Succeeded, "{second:?}");
        assert_eq!(same, pid, "the second step ran on the first step's connection");
        let (third, reset) = in_session(
            &session,
            step(
                "SELECT current_setting('search_path') <> 'nowhere' AND to_regclass('scratch') IS NULL \
                 AND NOT EXISTS (SELECT FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid());",
            ),
        )
        .await;
        assert_eq!(reset, "t", "nothing of the first step is left: {third:?}");
        assert_eq!(
            admin_query(&format!("select pg_terminate_backend({pid})")).await,
            ["t"]
        );
        let gone = format!("select pid from pg_stat_activity where pid = {pid}");
        let end = Instant::now() + Duration::from_secs(30);
        while !admin_query(&gone).await.is_empty() {
            assert!(Instant::now() < end, "backend {pid} did not end");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let (after, new_pid) = in_session(&session, step("SELECT pg_backend_pid();")).await;
        assert_eq!(after.outcome, Outcome::Succeeded, "{after:?}");
        assert!(
            !new_pid.is_empty() && new_pid != pid,
            "a new connection: {new_pid} vs {pid}"
        );
    });
}

#[test]
fn a_timeout_cancels_a_long_query() {
    let db = ScratchDb::create("timeout");
    let app = app_name("timeout");
    let mut req = request(&db, "create table t (a int);\nselect pg_sleep(600);");
    req.config.application_name(&app);
    let started = Instant::now();
    // Long enough to reach the sleep even on a busy machine.
    let (result, lines) =
        block_on(async { run_async(req, common::times_out_after(Duration::from_secs(3))).await });
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "took {:?}",
        started.elapsed()
    );
    assert_eq!(result.outcome, Outcome::TimedOut, "{lines:?}");
    let error = result.error.expect("error");
    assert!(
        error.starts_with("timed out after 3s; the transaction was rolled back"),
        "{error}"
    );
    assert!(has(&lines, Stream::Error, "57014"), "{lines:?}");
    assert!(block_on(backend_gone(&app)), "the query still runs on the server");
    assert_eq!(
        db.query("select count(*) from pg_class where relname = 't'"),
        ["0"]
    );
}

#[test]
fn cancel_stops_a_running_query() {
    let db = ScratchDb::create("cancel");
    let app = app_name("cancel");
    let mut req = request(&db, "select pg_sleep(600);");
    req.config.application_name(&app);
    req.verify = true;
    let (result, _) = block_on(async {
        let cancel = Stopper::new();
        let step = tokio::spawn(run_async(req, cancel.clone()));
        sleeping_backend(&app).await.expect("the step's backend shows up");
        cancel.stop(Halt::Cancelled);
        tokio::time::timeout(Duration::from_secs(20), step)
            .await
            .expect("ends promptly")
            .expect("no panic")
    });
    assert_eq!(result.outcome, Outcome::Cancelled);
    assert_eq!(result.passed, Some(false));
    assert!(block_on(backend_gone(&app)), "the query still runs on the server");
}

#[test]
fn sslmode_require_works_against_the_local_server() {
    let ssl = block_on(admin_query("show ssl"));
    if ssl != ["on"] {
        println!("skipped: the test server has ssl = {ssl:?}, so sslmode=require cannot be tried");
        return;
    }
    let db = ScratchDb::create("ssl");
    let mut req = request(&db, "select ssl from pg_stat_ssl where pid = pg_backend_pid()");
    req.config.ssl_mode(SslMode::Require);
    req.verify = true;
    let (result, lines) = run(req);
    assert_eq!(result.outcome, Outcome::Succeeded, "{lines:?}");
    assert_eq!(result.passed, Some(true), "{:?}", result.observed);
}

#[test]
fn a_connection_failure_is_clear_and_hides_the_password() {
    let mut req = SqlRequest {
        config: config("postgres://deployer:hunter2@127.0.0.1:1/cryo?connect_timeout=5"),
        sql: "select 1".into(),
        lock_timeout: None,
        dry_run: false,
        verify: true,
        read_only: true,
    };
    req.config.ssl_mode(SslMode::Disable);
    let (result, lines) = run(req);
    assert_eq!(result.outcome, Outcome::Failed);
    assert_eq!(result.passed, Some(false));
    let error = result.error.expect("error");
    assert!(
        error.starts_with("cannot connect to 127.0.0.1:1/cryo as deployer: "),
        "{error}"
    );
    assert!(!error.contains("hunter2"));
    assert!(lines.iter().all(|l| !l.text.contains("hunter2")));
}

#[test]
fn no_database_is_a_clear_error() {
    let err = connect::resolve(&DatabaseSource::None).expect_err("none");
    assert!(err.to_string().contains("no database"), "{err}");
}

#[test]
fn a_scripts_own_commit_and_rollback_are_honoured_live() {
    let db = ScratchDb::create("txcontrol");
    let sql = "begin;\ncreate table kept (a int);\ncommit;\n\
               create table undone (a int);\nrollback;\n\
               select * from nosuch;";
    let (result, lines) = run(request(&db, sql));
    assert_eq!(result.outcome, Outcome::Failed, "{lines:?}");
    assert_eq!(
        result.error.as_deref(),
        Some(
            "ERROR 42P01 at line 6: relation \"nosuch\" does not exist (statements before it were committed)"
        )
    );
    assert!(has(
        &lines,
        Stream::Info,
        "skipped: begin (the step already runs in a transaction)"
    ));
    assert!(has(&lines, Stream::Info, "COMMIT (the script commits here)"));
    assert!(has(&lines, Stream::Info, "ROLLBACK (the script rolls back here)"));
    assert_eq!(
        db.query("select count(*) from pg_class where relname = 'kept'"),
        ["1"]
    );
    assert_eq!(
        db.query("select count(*) from pg_class where relname = 'undone'"),
        ["0"]
    );
}

#[test]
fn a_gone_receiver_does_not_stop_the_step() {
    let db = ScratchDb::create("norecv");
    let req = request(
        &db,
        "create table t (a int);\ninsert into t select generate_series(1, 100);\nselect * from t;",
    );
    let result = block_on(async {
        let (tx, rx) = mpsc::channel(1);
        drop(rx);
        run_sql(req, Stopper::new(), tx).await
    });
    assert_eq!(result.outcome, Outcome::Succeeded);
    assert_eq!(result.observed.map(|o| o.rows.len()), Some(100));
    assert_eq!(db.query("select count(*) from t"), ["100"]);
}
