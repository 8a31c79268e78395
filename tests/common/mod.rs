//! Shared test support: scratch PostgreSQL databases on the real server.
//!
//! Each test creates its own uniquely named database and drops it on drop.
//! The server comes from `RUNSHEET_TEST_DATABASE_URL`.
#![allow(dead_code)]

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

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
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio runtime")
}

/// Run SQL on the server's maintenance database (not inside a transaction).
fn admin_execute(sql: &str) {
    let url = server_url();
    runtime().block_on(async move {
        let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
            .await
            .unwrap_or_else(|e| panic!("cannot reach the test server {url}: {e}"));
        let task = tokio::spawn(conn);
        client.batch_execute(sql).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
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
        let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
        let label: String =
            label.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '_' }).collect();
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
            let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await.expect("connect");
            let task = tokio::spawn(conn);
            let mut out = Vec::new();
            for msg in client.simple_query(&sql).await.unwrap_or_else(|e| panic!("{sql}: {e}")) {
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

impl Drop for ScratchDb {
    fn drop(&mut self) {
        let sql = format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.name);
        if std::panic::catch_unwind(|| admin_execute(&sql)).is_err() {
            eprintln!("could not drop scratch database {}", self.name);
        }
    }
}
