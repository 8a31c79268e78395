//! Shared test support: scratch PostgreSQL databases on the real server.
//!
//! Each test creates its own uniquely named database and drops it on drop.
//! The server comes from `RUNSHEET_TEST_DATABASE_URL`. The benchmarks
//! include this module too (`#[path]`), so one copy serves both.
#![allow(dead_code)]

pub mod browser;
pub mod fold;
pub mod journals;
pub mod outline;
pub mod peak;
pub mod pty;
pub mod report_json;
pub mod runsheet;

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// A stopper that times a step out after `after`, as the engine's timer does.
pub fn times_out_after(after: std::time::Duration) -> ::runsheet::engine::Stopper {
    let stop = ::runsheet::engine::Stopper::new();
    let timer = stop.clone();
    tokio::spawn(async move {
        tokio::time::sleep(after).await;
        timer.stop(::runsheet::engine::Halt::TimedOut(after));
    });
    stop
}

/// `operator` at a seat that is not this process's: OS user `bea` on host
/// `qa-box`, terminal `/dev/pts/7`.
pub fn elsewhere(operator: &str) -> ::runsheet::seat::Origin {
    ::runsheet::seat::Origin {
        operator: operator.to_string(),
        seat: ::runsheet::seat::Seat {
            os_user: Some("bea".into()),
            host: "qa-box".into(),
            terminal: Some("/dev/pts/7".into()),
        },
    }
}

pub const DEFAULT_SERVER: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// The maintenance connection URL of the test server.
pub fn server_url() -> String {
    std::env::var("RUNSHEET_TEST_DATABASE_URL").unwrap_or_else(|_| DEFAULT_SERVER.to_string())
}

/// A database created for one test and dropped when it goes out of scope.
pub struct ScratchDb {
    pub name: String,
    /// A URL that connects to the scratch database.
    pub url: String,
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// Run SQL on the server's maintenance database (not inside a transaction).
fn admin_execute(sql: &str) {
    let url = server_url();
    runtime().block_on(async move {
        let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
            .await
            .unwrap_or_else(|e| panic!("cannot reach the test server {url}: {e}"));
        let task = tokio::spawn(conn);
        client
            .batch_execute(sql)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
        drop(client);
        let _ = task.await;
    });
}

/// Replace the database name in a `postgres://` URL.
pub fn url_with_database(url: &str, db: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let base = match base[scheme_end..].find('/') {
        Some(slash) => &base[..scheme_end + slash],
        None => base,
    };
    match query {
        Some(q) => format!("{base}/{db}?{q}"),
        None => format!("{base}/{db}"),
    }
}

impl ScratchDb {
    /// Create a fresh, empty database named after `label`.
    pub fn create(label: &str) -> ScratchDb {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let label: String = label
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_lowercase()
                } else {
                    '_'
                }
            })
            .collect();
        let name = format!(
            "runsheet_test_{label}_{}_{}_{nanos}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        admin_execute(&format!("CREATE DATABASE \"{name}\""));
        let url = url_with_database(&server_url(), &name);
        ScratchDb { name, url }
    }

    /// Run SQL in the scratch database and return the first column of every row as text.
    pub fn query(&self, sql: &str) -> Vec<String> {
        let url = self.url.clone();
        let sql = sql.to_string();
        runtime().block_on(async move {
            let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
                .await
                .expect("connect");
            let task = tokio::spawn(conn);
            let mut out = Vec::new();
            for msg in client
                .simple_query(&sql)
                .await
                .unwrap_or_else(|e| panic!("{sql}: {e}"))
            {
                if let tokio_postgres::SimpleQueryMessage::Row(row) = msg {
                    out.push(row.get(0).unwrap_or("NULL").to_string());
                }
            }
            drop(client);
            let _ = task.await;
            out
        })
    }

    /// Run SQL in the scratch database, ignoring results.
    pub fn execute(&self, sql: &str) {
        self.query(sql);
    }
}

impl ScratchDb {
    /// End every connection to the scratch database, as a dropped network
    /// or a restarted server would (`pg_terminate_backend`); returns how many.
    pub fn terminate_connections(&self) -> usize {
        let url = server_url();
        let sql = format!(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
             WHERE datname = '{}' AND pid <> pg_backend_pid()",
            self.name
        );
        runtime().block_on(async move {
            let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
                .await
                .unwrap_or_else(|e| panic!("cannot reach the test server {url}: {e}"));
            let task = tokio::spawn(conn);
            let n: i64 = client
                .query_one(&sql, &[])
                .await
                .unwrap_or_else(|e| panic!("{sql}: {e}"))
                .get(0);
            drop(client);
            let _ = task.await;
            usize::try_from(n).unwrap_or_default()
        })
    }

    /// Let connections to the scratch database in, or keep them out (as an
    /// unreachable server would), without touching the connections it has.
    pub fn allow_connections(&self, allow: bool) {
        admin_execute(&format!(
            "ALTER DATABASE \"{}\" WITH ALLOW_CONNECTIONS {allow}",
            self.name
        ));
    }
}

impl Drop for ScratchDb {
    fn drop(&mut self) {
        let sql = format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.name);
        if std::panic::catch_unwind(|| admin_execute(&sql)).is_err() {
            eprintln!("could not drop scratch database {}", self.name);
        }
    }
}

/// Run a SQL file with `psql -X -v ON_ERROR_STOP=1 -q`, stopping at the first error.
///
/// With `single_transaction` the whole file runs in one transaction (`-1`),
/// the way runsheet runs a SQL step; without it every statement commits on
/// its own, which shows whether a script refuses before changing anything.
/// Returns psql's standard output, or its standard error when it fails.
pub fn psql_file(url: &str, file: &std::path::Path, single_transaction: bool) -> Result<String, String> {
    let mut cmd = std::process::Command::new("psql");
    cmd.args(["-X", "-v", "ON_ERROR_STOP=1", "-q"]);
    if single_transaction {
        cmd.arg("-1");
    }
    cmd.arg("-d")
        .arg(url)
        .arg("-f")
        .arg(file)
        .stdin(std::process::Stdio::null());
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run psql (is it installed?): {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    if out.status.success() {
        Ok(stdout)
    } else {
        Err(format!("{}: {stderr}", file.display()))
    }
}

/// Schemas that belong to the server rather than to the database's content.
const USER_SCHEMAS: &str =
    "n.nspname not in ('pg_catalog', 'information_schema') and n.nspname not like 'pg\\_%'";

impl ScratchDb {
    /// Run a SQL file with psql (see [`psql_file`]).
    pub fn psql_file(&self, file: &std::path::Path, single_transaction: bool) -> Result<String, String> {
        psql_file(&self.url, file, single_transaction)
    }

    /// A checksum of the catalogue of the non-system schemas, one line per
    /// kind of object: schemas, relations (kind, row-level security, owner,
    /// effective privileges), columns, constraints, indexes, policies,
    /// triggers, functions and extensions. Columns are listed by name, not
    /// position, so a column dropped and added back counts as unchanged
    /// (the row checksums of [`ScratchDb::fingerprint`] do see positions).
    /// Role membership is out of scope.
    pub fn catalog_fingerprint(&self) -> String {
        let sections = [
            (
                "schemas",
                format!(
                    "select n.nspname || ' ' || pg_get_userbyid(n.nspowner) || ' ' \
                     || coalesce(n.nspacl, acldefault('n', n.nspowner))::text \
                     from pg_namespace n where {USER_SCHEMAS}"
                ),
            ),
            (
                "relations",
                format!(
                    "select format('%I.%I %s rls=%s force=%s persistence=%s owner=%s acl=%s', n.nspname, c.relname, \
                     c.relkind, c.relrowsecurity, c.relforcerowsecurity, c.relpersistence, \
                     pg_get_userbyid(c.relowner), \
                     coalesce(c.relacl, acldefault((case c.relkind when 'S' then 's' else 'r' end)::\"char\", c.relowner))) \
                     from pg_class c join pg_namespace n on n.oid = c.relnamespace \
                     where {USER_SCHEMAS} and c.relkind not in ('i', 'I', 't')"
                ),
            ),
            (
                "columns",
                format!(
                    "select format('%I.%I.%I %s notnull=%s identity=%s generated=%s default=%s collation=%s', \
                     n.nspname, c.relname, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull, \
                     a.attidentity, a.attgenerated, pg_get_expr(d.adbin, d.adrelid), a.attcollation) \
                     from pg_attribute a join pg_class c on c.oid = a.attrelid \
                     join pg_namespace n on n.oid = c.relnamespace \
                     left join pg_attrdef d on d.adrelid = a.attrelid and d.adnum = a.attnum \
                     where {USER_SCHEMAS} and a.attnum > 0 and not a.attisdropped and c.relkind <> 't'"
                ),
            ),
            (
                "constraints",
                format!(
                    "select format('%I %s %I %s validated=%s deferrable=%s deferred=%s', \
                     n.nspname, k.conrelid::regclass, k.conname, pg_get_constraintdef(k.oid), \
                     k.convalidated, k.condeferrable, k.condeferred) \
                     from pg_constraint k join pg_namespace n on n.oid = k.connamespace where {USER_SCHEMAS}"
                ),
            ),
            (
                "indexes",
                format!(
                    "select pg_get_indexdef(i.indexrelid) || format(' valid=%s ready=%s', i.indisvalid, i.indisready) \
                     from pg_index i join pg_class c on c.oid = i.indexrelid \
                     join pg_namespace n on n.oid = c.relnamespace where {USER_SCHEMAS}"
                ),
            ),
            (
                "policies",
                "select format('%I.%I %I %s %s %s using=%s check=%s', schemaname, tablename, policyname, \
                 permissive, roles, cmd, qual, with_check) from pg_policies"
                    .to_string(),
            ),
            (
                "triggers",
                format!(
                    "select pg_get_triggerdef(t.oid) || ' enabled=' || t.tgenabled::text \
                     from pg_trigger t join pg_class c on c.oid = t.tgrelid \
                     join pg_namespace n on n.oid = c.relnamespace where {USER_SCHEMAS} and not t.tgisinternal"
                ),
            ),
            (
                "functions",
                format!(
                    "select format('%I.%I(%s) %s', n.nspname, p.proname, \
                     pg_get_function_identity_arguments(p.oid), md5(p.prosrc)) \
                     from pg_proc p join pg_namespace n on n.oid = p.pronamespace where {USER_SCHEMAS}"
                ),
            ),
            (
                "extensions",
                "select e.extname || ' ' || e.extversion || ' ' || e.extnamespace::regnamespace from pg_extension e"
                    .to_string(),
            ),
        ];
        // One statement per section, all sent at once: one row each.
        let sql: String = sections
            .iter()
            .map(|(name, lines)| {
                format!(
                    "select '{name}: ' || count(*) || ' ' \
                     || md5(coalesce(string_agg(line, E'\\n' order by line), '')) from ({lines}) as s(line);"
                )
            })
            .collect();
        self.query(&sql).into_iter().map(|line| line + "\n").collect()
    }

    /// A checksum of the whole database's content: the catalogue (see
    /// [`ScratchDb::catalog_fingerprint`]), every row of every table and the
    /// state of every sequence in the non-system schemas. Two equal
    /// fingerprints mean nothing visible changed in between.
    pub fn fingerprint(&self) -> String {
        let mut out = self.catalog_fingerprint();
        // The catalogue writes one checksum statement per table and sequence,
        // quoting the names itself.
        let statements = self.query(&format!(
            "select case when c.relkind = 'S' \
               then format($q$select %L || last_value || ' ' || is_called from %I.%I;$q$, \
                           format('sequence %I.%I: ', n.nspname, c.relname), n.nspname, c.relname) \
               else format($q$select %L || count(*) || ' rows ' \
                           || md5(coalesce(string_agg(t::text, E'\\n' order by t::text), '')) from %I.%I as t;$q$, \
                           format('table %I.%I: ', n.nspname, c.relname), n.nspname, c.relname) end \
             from pg_class c join pg_namespace n on n.oid = c.relnamespace \
             where {USER_SCHEMAS} and c.relkind in ('r', 'p', 'S') order by c.relkind, n.nspname, c.relname"
        ));
        let sql = statements.concat();
        if !sql.is_empty() {
            for line in self.query(&sql) {
                out.push_str(&line);
                out.push('\n');
            }
        }
        out
    }
}
