//! Backups belong to this session and this target: the CryoProtect backup
//! helpers (runbooks/cryoprotect/backups.sh) count only dumps this session
//! made of this server's cluster, read back with `pg_restore --list`, and a
//! failed dump leaves no partial file and says what pg_dump said. Real bash,
//! real pg_dump, the real server.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::{ScratchDb, server_url, url_with_database};
use tempfile::TempDir;

fn runbooks() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("runbooks")
}

/// `backups.sh` sourced, then `call`, as a step of session `session` runs it.
fn helper(url: &str, backups: &Path, session: &str, call: &str) -> Output {
    Command::new("bash")
        .arg("-c")
        .arg(format!("source cryoprotect/backups.sh\n{call}"))
        .current_dir(runbooks())
        .env("RUNSHEET_DATABASE_URL", url)
        .env("RUNSHEET_ENV", "production")
        .env("RUNSHEET_SESSION", session)
        .env("RUNSHEET_STEP", "production.backup-1")
        .env("CRYO_BACKUP_DIR", backups)
        .env_remove("RUNSHEET_SYSTEM_IDENTIFIER")
        .output()
        .expect("run bash")
}

fn said(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn dumps(backups: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(backups.join("production"))
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

fn system_identifier(db: &ScratchDb) -> String {
    db.query("SELECT system_identifier::text FROM pg_control_system()")
        .remove(0)
}

#[test]
fn a_stale_dump_of_an_earlier_session_is_not_counted() {
    let db = ScratchDb::create("backup_stale");
    db.execute("CREATE TABLE molecule (id int)");
    let dir = TempDir::new().expect("temp dir");
    // An earlier session left a good, readable dump of the same database.
    let out = helper(&db.url, dir.path(), "20260101-000000-old000", "create_backup");
    assert!(out.status.success(), "{}", said(&out));
    let stale = dumps(dir.path());
    assert_eq!(stale.len(), 1, "{stale:?}");
    assert!(
        stale[0].contains(&system_identifier(&db)),
        "named after its cluster: {stale:?}"
    );

    // A new session does not take it for its own backup: it makes one.
    let out = helper(&db.url, dir.path(), "20260102-000000-new000", "ensure_backup");
    assert!(out.status.success(), "{}", said(&out));
    assert!(said(&out).contains("making one"), "{}", said(&out));
    let now = dumps(dir.path());
    assert_eq!(now.len(), 2, "{now:?}");
    assert!(
        now.iter().any(|n| n.contains("-20260102-000000-new000-")),
        "{now:?}"
    );

    // Nor does the rollback-readiness check count the stale one.
    let fresh = TempDir::new().expect("temp dir");
    std::fs::create_dir_all(fresh.path().join("production")).expect("mkdir");
    std::fs::copy(
        dir.path().join("production").join(&stale[0]),
        fresh.path().join("production").join(&stale[0]),
    )
    .expect("copy the stale dump");
    let out = helper(
        &db.url,
        fresh.path(),
        "20260102-000000-new000",
        "check_rollback_ready",
    );
    assert!(
        !out.status.success(),
        "a stale dump made it ready: {}",
        said(&out)
    );
    assert!(said(&out).contains("made in this session"), "{}", said(&out));
}

#[test]
fn a_dump_of_another_cluster_is_not_counted_even_by_the_same_session() {
    let db = ScratchDb::create("backup_cluster");
    let dir = TempDir::new().expect("temp dir");
    let session = "20260103-000000-abc000";
    let other = dir.path().join("production");
    std::fs::create_dir_all(&other).expect("mkdir");
    // A readable archive, but named as a dump of another cluster.
    let out = helper(&db.url, dir.path(), session, "create_backup");
    assert!(out.status.success(), "{}", said(&out));
    let made = dumps(dir.path()).remove(0);
    let renamed = made.replace(&system_identifier(&db), "1234567890123456789");
    std::fs::rename(other.join(&made), other.join(&renamed)).expect("rename");
    let out = helper(&db.url, dir.path(), session, "ensure_backup");
    assert!(said(&out).contains("making one"), "{}", said(&out));
}

#[test]
fn a_failed_dump_leaves_no_partial_file_and_says_what_pg_dump_said() {
    let dir = TempDir::new().expect("temp dir");
    let missing = url_with_database(&server_url(), "runsheet_test_no_such_database");
    // The target's identity is known (runsheet passes it), the database is not there.
    let out = Command::new("bash")
        .arg("-c")
        .arg("source cryoprotect/backups.sh\ncreate_backup")
        .current_dir(runbooks())
        .env("RUNSHEET_DATABASE_URL", &missing)
        .env("RUNSHEET_ENV", "production")
        .env("RUNSHEET_SESSION", "20260104-000000-def000")
        .env("RUNSHEET_SYSTEM_IDENTIFIER", "7000000000000000000")
        .env("CRYO_BACKUP_DIR", dir.path())
        .output()
        .expect("run bash");
    let text = said(&out);
    assert!(!out.status.success(), "{text}");
    assert!(
        text.contains("pg_dump failed") && text.contains("does not exist"),
        "{text}"
    );
    assert!(!text.contains("unbound variable"), "{text}");
    assert_eq!(dumps(dir.path()), Vec::<String>::new(), "nothing left behind");
}
