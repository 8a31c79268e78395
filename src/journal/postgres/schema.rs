//! runsheet's schema in the journal database: created and migrated by
//! runsheet itself, one numbered migration at a time, recorded in
//! `runsheet.schema_version`.
//!
//! Every connection checks the version first, with one query that needs no
//! privilege beyond reading the schema: at the current version nothing else
//! happens. Otherwise the migrations run in one transaction under a
//! transaction-scoped advisory lock, so two runsheets starting together
//! migrate once. A schema newer than this runsheet knows is refused (an
//! older runsheet must not write tables whose rules it does not know).
//! Nothing outside the `runsheet` schema is created, changed or dropped.

use super::{JournalConnection, PgError};

/// The migrations, in order; the version of the schema is the number of the
/// last one applied. Never edit a published migration: add the next one.
const MIGRATIONS: &[(i32, &str)] = &[
    (1, include_str!("migrations/001_journal.sql")),
    (2, include_str!("migrations/002_presence.sql")),
];

/// The schema version this runsheet writes.
pub const VERSION: i32 = MIGRATIONS[MIGRATIONS.len() - 1].0;

/// Advisory lock key (transaction-scoped) serialising migrations: "runsheet" in ASCII.
const MIGRATION_LOCK: i64 = 0x7275_6e73_6865_6574;

/// What [`migrate`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Migrated {
    /// The schema's version now.
    pub version: i32,
    /// The migrations this call applied (none when the schema was current).
    pub applied: Vec<i32>,
}

/// The version recorded in the database, `None` if runsheet's schema is not there.
async fn recorded_version(conn: &JournalConnection) -> Result<Option<i32>, PgError> {
    let row = conn
        .client()
        .query_one(
            "SELECT CASE WHEN to_regclass('runsheet.schema_version') IS NULL THEN NULL \
             ELSE (SELECT coalesce(max(version), 0) FROM runsheet.schema_version) END",
            &[],
        )
        .await;
    match row {
        Ok(row) => Ok(row.get(0)),
        // The table was checked for just before: a race with its creation
        // reads as "not there", and the locked path below decides.
        Err(e) if e.as_db_error().is_some_and(|d| d.code().code() == "42P01") => Ok(None),
        Err(e) => Err(conn.error("read the journal schema's version", &e)),
    }
}

fn too_new(conn: &JournalConnection, found: i32) -> PgError {
    PgError::SchemaTooNew {
        target: conn.target().to_string(),
        found,
        known: VERSION,
    }
}

/// Bring runsheet's schema to [`VERSION`]; refused if it is newer.
pub async fn migrate(conn: &mut JournalConnection) -> Result<Migrated, PgError> {
    match recorded_version(conn).await? {
        Some(v) if v == VERSION => {
            return Ok(Migrated {
                version: v,
                applied: Vec::new(),
            });
        }
        Some(v) if v > VERSION => return Err(too_new(conn, v)),
        _ => {}
    }
    let target = conn.target().to_string();
    let err = |action: &'static str| {
        let target = &target;
        move |e: tokio_postgres::Error| super::error::query_error(target, action, &e)
    };
    let tx = conn
        .client_mut()
        .transaction()
        .await
        .map_err(err("start migrating the journal schema"))?;
    tx.query_one("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await
        .map_err(err("lock the journal schema for migration"))?;
    // CREATE SCHEMA IF NOT EXISTS checks the CREATE privilege even when the
    // schema exists, so it only runs when the schema is missing.
    tx.batch_execute(
        "DO $$ BEGIN \
           IF to_regnamespace('runsheet') IS NULL THEN CREATE SCHEMA runsheet; END IF; \
         END $$; \
         CREATE TABLE IF NOT EXISTS runsheet.schema_version ( \
           version integer PRIMARY KEY, \
           applied_at timestamptz NOT NULL DEFAULT now(), \
           runsheet_version text NOT NULL)",
    )
    .await
    .map_err(err("create the journal schema"))?;
    let current: i32 = tx
        .query_one(
            "SELECT coalesce(max(version), 0) FROM runsheet.schema_version",
            &[],
        )
        .await
        .map_err(err("read the journal schema's version"))?
        .get(0);
    if current > VERSION {
        return Err(PgError::SchemaTooNew {
            target,
            found: current,
            known: VERSION,
        });
    }
    let mut applied = Vec::new();
    for (version, sql) in MIGRATIONS.iter().filter(|(v, _)| *v > current) {
        tx.batch_execute(sql)
            .await
            .map_err(err("migrate the journal schema"))?;
        tx.execute(
            "INSERT INTO runsheet.schema_version (version, runsheet_version) VALUES ($1, $2)",
            &[version, &env!("CARGO_PKG_VERSION")],
        )
        .await
        .map_err(err("record the journal schema's version"))?;
        applied.push(*version);
    }
    tx.commit()
        .await
        .map_err(err("commit the journal schema's migration"))?;
    Ok(Migrated {
        version: VERSION,
        applied,
    })
}
