//! The CryoProtect remediation scripts in `runbooks/cryoprotect/`, run against
//! a real PostgreSQL server: the starting database has the defects, each
//! phase fixes what its verification checks, phases refuse to run twice or
//! out of order without changing anything, a dry run of all five leaves no
//! trace, and the rollbacks bring back the starting structure.
//!
//! Every test loads its own scratch database (see `tests/common`).

mod common;

use std::path::PathBuf;

use common::ScratchDb;

fn asset(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("runbooks/cryoprotect")
        .join(name)
}

const ALL_FILES: [&str; 17] = [
    "starting-database.sql",
    "phase1-security.sql",
    "phase1-verify.sql",
    "phase1-rollback.sql",
    "phase2-schema.sql",
    "phase2-verify.sql",
    "phase2-rollback.sql",
    "phase3-relationships.sql",
    "phase3-verify.sql",
    "phase3-rollback.sql",
    "phase4-data-migration.sql",
    "phase4-verify.sql",
    "phase5-performance.sql",
    "phase5-verify.sql",
    "phase5-rollback.sql",
    "rollback-verify.sql",
    "privileges-check.sql",
];

/// Forward script of phase `n` (1-based).
fn forward(n: usize) -> &'static str {
    [
        "phase1-security.sql",
        "phase2-schema.sql",
        "phase3-relationships.sql",
        "phase4-data-migration.sql",
        "phase5-performance.sql",
    ][n - 1]
}

fn verify_file(n: usize) -> String {
    format!("phase{n}-verify.sql")
}

fn rollback_file(n: usize) -> String {
    assert_ne!(n, 4, "phase 4 has no rollback script");
    format!("phase{n}-rollback.sql")
}

/// A scratch database holding the CryoProtect starting database.
fn starting_db(label: &str) -> ScratchDb {
    let db = ScratchDb::create(label);
    apply(&db, "starting-database.sql");
    db
}

/// Run a script in one transaction, as runsheet does; it must succeed.
fn apply(db: &ScratchDb, file: &str) {
    if let Err(e) = db.psql_file(&asset(file), true) {
        panic!("{file} failed: {e}");
    }
}

/// Run a script statement by statement with autocommit; it must fail
/// with a message containing `expected`, and the database must be exactly
/// as before (so the refusal came before the first change).
fn assert_refuses(db: &ScratchDb, file: &str, expected: &str) {
    let before = db.fingerprint();
    match db.psql_file(&asset(file), false) {
        Ok(_) => panic!("{file} ran, but it should have refused with {expected:?}"),
        Err(e) => assert!(
            e.contains(expected),
            "{file} failed, but not with {expected:?}:\n{e}"
        ),
    }
    assert_eq!(
        before,
        db.fingerprint(),
        "{file} refused but changed the database"
    );
}

/// The rows of a query result, each as its columns joined by " | ".
type Rows = Vec<String>;

/// Run SQL through tokio-postgres's simple query protocol and return the
/// rows of every statement separately.
async fn statement_results(client: &tokio_postgres::Client, sql: &str) -> Result<Vec<Rows>, String> {
    let messages = client
        .simple_query(sql)
        .await
        .map_err(|e| match e.as_db_error() {
            Some(db) => format!("{}: {}", db.severity(), db.message()),
            None => e.to_string(),
        })?;
    let mut statements = Vec::new();
    let mut rows = Rows::new();
    for message in messages {
        match message {
            tokio_postgres::SimpleQueryMessage::Row(row) => {
                let columns: Vec<&str> = (0..row.len()).map(|i| row.get(i).unwrap_or("NULL")).collect();
                rows.push(columns.join(" | "));
            }
            tokio_postgres::SimpleQueryMessage::CommandComplete(_) => {
                statements.push(std::mem::take(&mut rows))
            }
            _ => {}
        }
    }
    Ok(statements)
}

/// runsheet's verification rule: a statement passes when it returns no rows
/// or a single row with a single column that is true. The rows of the
/// statements that fail are the problems.
fn problems(statements: Vec<Rows>) -> Rows {
    statements
        .into_iter()
        .filter(|rows| !(rows.is_empty() || rows.len() == 1 && rows[0] == "t"))
        .flatten()
        .collect()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

async fn connect(url: &str) -> tokio_postgres::Client {
    let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .expect("connect");
    tokio::spawn(conn);
    client
}

/// Run a verification file in a read-only session after `setup`; `Ok` holds
/// the problems it reports (empty: the verification passes), `Err` the error
/// that stopped it (which fails a verification too).
fn verify_as(db: &ScratchDb, setup: &str, file: &str) -> Result<Rows, String> {
    let sql = std::fs::read_to_string(asset(file)).expect("read verify file");
    runtime().block_on(async {
        let client = connect(&db.url).await;
        client
            .batch_execute("set default_transaction_read_only = on")
            .await
            .expect("read-only session");
        client.batch_execute(setup).await.expect("setup");
        statement_results(&client, &sql).await.map(problems)
    })
}

fn verify(db: &ScratchDb, file: &str) -> Result<Rows, String> {
    verify_as(db, "", file)
}

fn assert_passes(db: &ScratchDb, file: &str) {
    match verify(db, file) {
        Ok(p) if p.is_empty() => {}
        Ok(p) => panic!("{file} reports problems:\n{}", p.join("\n")),
        Err(e) => panic!("{file} failed: {e}"),
    }
}

/// The verification must fail by reporting problems (not by an error), and
/// among them one containing each of `expected`.
fn assert_reports(db: &ScratchDb, file: &str, expected: &[&str]) {
    let found = match verify(db, file) {
        Ok(p) => p,
        Err(e) => panic!("{file} should report problems as rows, but failed: {e}"),
    };
    assert!(!found.is_empty(), "{file} passes, but it should detect a defect");
    for want in expected {
        assert!(
            found.iter().any(|p| p.contains(want)),
            "{file} does not report {want:?}; it reports:\n{}",
            found.join("\n")
        );
    }
}

/// The verification fails, by problem rows or by an error.
fn assert_fails(db: &ScratchDb, file: &str) {
    if let Ok(p) = verify(db, file) {
        assert!(!p.is_empty(), "{file} passes, but it should fail here");
    }
}

fn count(db: &ScratchDb, sql: &str) -> i64 {
    let rows = db.query(sql);
    rows[0]
        .parse()
        .unwrap_or_else(|_| panic!("{sql}: not a number: {rows:?}"))
}

/// A description of the database structure that a rollback must restore.
/// Data is out of scope: phases 2 and 4 delete rows that only the backup
/// brings back.
fn structure(db: &ScratchDb) -> String {
    db.catalog_fingerprint()
}

#[test]
fn scripts_are_plain_sql_that_runsheet_can_run_in_a_transaction() {
    for file in ALL_FILES {
        let sql = std::fs::read_to_string(asset(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
        for (i, line) in sql.lines().enumerate() {
            let code = line.split("--").next().unwrap_or("").trim().to_ascii_lowercase();
            let at = format!("{file}:{}", i + 1);
            assert!(!code.starts_with('\\'), "{at}: psql meta-command: {line}");
            for word in [
                "begin;",
                "commit",
                "rollback;",
                "start transaction",
                "concurrently",
                "vacuum",
            ] {
                assert!(
                    !code.starts_with(word) && !code.contains(&format!(" {word}")),
                    "{at}: {word} in {line}"
                );
            }
        }
    }
    assert!(
        asset("README.md").exists(),
        "runbooks/cryoprotect/README.md is missing"
    );
}

#[test]
fn starting_database_loads_with_the_defects() {
    let db = starting_db("cp_start");

    // A few thousand rows.
    let rows = count(
        &db,
        "select (select count(*) from user_profile) + (select count(*) from property_type) \
         + (select count(*) from molecule) + (select count(*) from mixture) \
         + (select count(*) from mixture_component) + (select count(*) from experiment) \
         + (select count(*) from prediction)",
    );
    assert!((3000..20000).contains(&rows), "{rows} rows");

    // Duplicates, orphans, wrong units.
    assert!(
        count(&db, "select count(*) - count(distinct id) from molecule") > 0,
        "no duplicate molecule rows"
    );
    assert!(
        count(
            &db,
            "select count(*) - count(distinct smiles) from (select distinct id, smiles from molecule) m"
        ) > 0
    );
    assert!(count(&db, "select count(*) - count(distinct id) from experiment") > 0);
    assert!(
        count(
            &db,
            "select count(*) from mixture_component c where not exists (select 1 from mixture m where m.id = c.mixture_id)"
        ) > 0
    );
    assert!(
        count(
            &db,
            "select count(*) from prediction p where not exists (select 1 from mixture m where m.id = p.mixture_id)"
        ) > 0
    );
    assert!(count(&db, "select count(*) from experiment where temperature_k < 0") > 0);
    assert!(count(&db, "select count(*) from prediction where confidence > 1") > 0);

    // The fan trap: the experiment's molecule and its mixture's molecules disagree,
    // and a mixture fanned out to components and experiments multiplies rows.
    assert!(
        count(
            &db,
            "select count(*) from experiment e where e.mixture_id is not null and not exists \
             (select 1 from mixture_component c where c.mixture_id = e.mixture_id and c.molecule_id = e.molecule_id)"
        ) > 0
    );
    let fanned = count(
        &db,
        "select count(*) from mixture x join mixture_component c on c.mixture_id = x.id \
         join experiment e on e.mixture_id = x.id",
    );
    let experiments = count(
        &db,
        "select count(*) from experiment e join mixture x on x.id = e.mixture_id",
    );
    assert!(
        fanned > 2 * experiments,
        "{fanned} joined rows for {experiments} experiments"
    );

    // Every phase's verification detects what the phase is there to fix.
    assert_reports(
        &db,
        "phase1-verify.sql",
        &["row-level security is not enabled on table molecule", "no policy"],
    );
    assert_reports(
        &db,
        "phase2-verify.sql",
        &[
            "table molecule has not been renamed to molecules",
            "table molecule has no primary key",
        ],
    );
    assert_reports(
        &db,
        "phase3-verify.sql",
        &[
            "table molecule_experiments does not exist",
            "experiment.molecule_id still exists",
            "experiment.property_name",
        ],
    );
    assert_fails(&db, "phase4-verify.sql");
    assert_reports(
        &db,
        "phase5-verify.sql",
        &["index idx_predictions_mixture_property does not exist"],
    );

    // It is the shape the rollbacks must return to.
    assert_passes(&db, "rollback-verify.sql");
}

#[test]
fn phases_applied_in_order_each_pass_their_verification() {
    let db = starting_db("cp_in_order");
    let defects: [&[&str]; 5] = [
        &["row-level security is not enabled on table mixture_component"],
        &[
            "has not been renamed to experiments",
            "table prediction has no primary key",
            "column molecules.smiles allows NULL",
        ],
        &[
            "table molecule_experiments does not exist",
            "experiments.molecule_id still exists",
            "no foreign key from mixture_components.molecule_id",
        ],
        &[
            "legacy_molecule_id still exists",
            "is not validated",
            "mixture_components rows point at a missing mixture or molecule",
            "molecule Glycerol is registered 2 times",
            "are linked to no molecule",
            "values are out of range",
            "are owned by a user that does not exist",
        ],
        &[
            "index idx_predictions_mixture_property does not exist",
            "has no index on its columns",
        ],
    ];
    for n in 1..=5 {
        // Just before phase n, its verification sees the defect...
        assert_reports(&db, &verify_file(n), defects[n - 1]);
        apply(&db, forward(n));
        // ...and after it, that verification and all earlier ones pass.
        for m in 1..=n {
            assert_passes(&db, &verify_file(m));
        }
    }

    // The data came through whole: nothing lost beyond duplicates and orphans.
    assert_eq!(count(&db, "select count(*) from molecules"), 297);
    assert_eq!(count(&db, "select count(*) from experiments"), 2000);
    assert_eq!(count(&db, "select count(*) from predictions"), 1500);
    assert_eq!(
        count(
            &db,
            "select count(*) from molecule_experiments where role = 'subject'"
        ),
        2000
    );
    assert!(
        count(
            &db,
            "select count(*) from molecule_experiments where role = 'component'"
        ) > 1000
    );
    // The structure is no longer the starting one.
    assert_fails(&db, "rollback-verify.sql");
    // Row-level security is live for an ordinary role: without app.user_id nothing private shows.
    let visible = runtime().block_on(async {
        let client = connect(&db.url).await;
        client
            .batch_execute("begin; set local role pg_read_all_data; set local app.user_id = ''")
            .await
            .expect("become an ordinary role");
        let rows = statement_results(
            &client,
            "select count(*) from experiments; select count(*) from molecules",
        )
        .await;
        client.batch_execute("rollback").await.expect("rollback");
        rows.expect("count")
    });
    assert_eq!(
        visible,
        vec![vec!["0".to_string()], vec!["297".to_string()]],
        "experiments private, molecules public"
    );
}

#[test]
fn running_a_phase_twice_refuses_and_changes_nothing() {
    let db = starting_db("cp_twice");
    let names = [
        "security lockdown",
        "schema standardisation",
        "relationship remediation",
        "data migration",
        "performance",
    ];
    for n in 1..=5 {
        apply(&db, forward(n));
        assert_refuses(
            &db,
            forward(n),
            &format!("phase {n} ({}) is already applied", names[n - 1]),
        );
        assert_passes(&db, &verify_file(n));
    }
    assert_refuses(
        &db,
        "phase2-schema.sql",
        "phase 2 (schema standardisation) is already applied: table molecules exists",
    );
    // The same for rollbacks: a second run finds nothing to roll back.
    for n in [5, 3, 2, 1] {
        apply(&db, &rollback_file(n));
        assert_refuses(
            &db,
            &rollback_file(n),
            &format!("phase {n} ({}) is not applied", names[n - 1]),
        );
    }
    assert_passes(&db, "rollback-verify.sql");
}

#[test]
fn phases_out_of_order_refuse_and_change_nothing() {
    let db = starting_db("cp_order");
    // Nothing applied: only phase 1 may run, nothing may be rolled back.
    assert_refuses(
        &db,
        forward(2),
        "phase 2 (schema standardisation) needs phase 1 (security lockdown) first",
    );
    assert_refuses(
        &db,
        forward(3),
        "phase 3 (relationship remediation) needs phase 2 (schema standardisation) first",
    );
    assert_refuses(
        &db,
        forward(4),
        "phase 4 (data migration) needs phase 3 (relationship remediation) first",
    );
    assert_refuses(
        &db,
        forward(5),
        "phase 5 (performance) needs phase 4 (data migration) first",
    );
    for n in [1, 2, 3, 5] {
        assert_refuses(&db, &rollback_file(n), "is not applied");
    }

    apply(&db, forward(1));
    assert_refuses(&db, forward(3), "needs phase 2");
    assert_refuses(&db, forward(5), "needs phase 4");
    apply(&db, forward(2));
    assert_refuses(&db, forward(4), "needs phase 3");
    assert_refuses(&db, &rollback_file(1), "roll back phase 2 first");
    apply(&db, forward(3));
    assert_refuses(
        &db,
        forward(5),
        "needs phase 4 (data migration) first: column experiments.legacy_molecule_id still exists",
    );
    assert_refuses(&db, &rollback_file(2), "roll back phase 3 first");
    apply(&db, forward(4));
    apply(&db, forward(5));

    // Everything applied: rollbacks other than phase 5's wait for their turn.
    assert_refuses(&db, &rollback_file(3), "roll back phase 5 first");
    assert_refuses(&db, &rollback_file(2), "roll back phase 3 first");
    assert_refuses(&db, &rollback_file(1), "roll back phase 2 first");
    for n in 1..=5 {
        assert_passes(&db, &verify_file(n));
    }
}

#[test]
fn dry_run_of_all_five_phases_in_one_transaction_changes_nothing() {
    let db = starting_db("cp_dry_run");
    let before = db.fingerprint();
    let scripts: Vec<(String, String)> = (1..=5)
        .flat_map(|n| [forward(n).to_string(), verify_file(n)])
        .map(|f| {
            let sql = std::fs::read_to_string(asset(&f)).expect("read script");
            (f, sql)
        })
        .collect();
    // Twice: a dry run must leave nothing behind that trips the next one.
    for round in 1..=2 {
        let outcome: Vec<(String, Rows)> = runtime().block_on(async {
            let client = connect(&db.url).await;
            client.batch_execute("begin").await.expect("begin");
            let mut outcome = Vec::new();
            for (file, sql) in &scripts {
                let result = statement_results(&client, sql)
                    .await
                    .unwrap_or_else(|e| panic!("round {round}: {file}: {e}"));
                outcome.push((file.clone(), problems(result)));
            }
            client.batch_execute("rollback").await.expect("rollback");
            outcome
        });
        for (file, found) in outcome {
            // Forward scripts return no rows; verifications, run inside the dry run, pass.
            assert!(
                found.is_empty(),
                "round {round}: {file} inside the dry run reports:\n{}",
                found.join("\n")
            );
        }
        assert_eq!(
            before,
            db.fingerprint(),
            "round {round}: the dry run changed the database"
        );
    }
    assert_passes(&db, "rollback-verify.sql");
    assert_reports(&db, "phase1-verify.sql", &["row-level security is not enabled"]);
}

#[test]
fn rollbacks_in_reverse_order_restore_the_starting_structure() {
    let db = starting_db("cp_rollback");
    let start = structure(&db);
    for n in 1..=5 {
        apply(&db, forward(n));
    }
    apply(&db, &rollback_file(5));
    assert_reports(
        &db,
        "phase5-verify.sql",
        &["index idx_predictions_mixture_property does not exist"],
    );
    for n in 1..=4 {
        assert_passes(&db, &verify_file(n));
    }
    apply(&db, &rollback_file(3));
    assert_reports(
        &db,
        "phase3-verify.sql",
        &["table molecule_experiments does not exist"],
    );
    assert_passes(&db, "phase2-verify.sql");
    assert_passes(&db, "phase1-verify.sql");
    apply(&db, &rollback_file(2));
    assert_passes(&db, "phase1-verify.sql");
    apply(&db, &rollback_file(1));

    assert_passes(&db, "rollback-verify.sql");
    assert_eq!(
        start,
        structure(&db),
        "the rolled-back structure differs from the starting one"
    );
    // The molecule of every experiment came back from molecule_experiments.
    assert_eq!(
        count(&db, "select count(*) from experiment where molecule_id is null"),
        0
    );
    assert_eq!(
        count(&db, "select count(*) from experiment where property_name is null"),
        0
    );
    // And the remediation can run again from there.
    for n in 1..=5 {
        apply(&db, forward(n));
        assert_passes(&db, &verify_file(n));
    }
}

#[test]
fn rollbacks_without_phase_four_restore_the_starting_structure() {
    let db = starting_db("cp_rollback_no4");
    let start = structure(&db);
    let links = "select md5(string_agg(distinct id || ':' || molecule_id, ',' order by id || ':' || molecule_id)) from experiment";
    let molecule_links = db.query(links);
    for n in 1..=3 {
        apply(&db, forward(n));
    }
    for n in [3, 2, 1] {
        apply(&db, &rollback_file(n));
    }
    assert_passes(&db, "rollback-verify.sql");
    assert_eq!(
        start,
        structure(&db),
        "the rolled-back structure differs from the starting one"
    );
    // Without phase 4 the legacy column was only renamed: its values are intact.
    assert_eq!(molecule_links, db.query(links));
}

#[test]
fn privileges_check_passes_for_the_superuser_and_not_for_an_ordinary_role() {
    let db = starting_db("cp_privileges");
    assert_passes(&db, "privileges-check.sql");
    // An empty database (before the starting schema is loaded) is fine too.
    let empty = ScratchDb::create("cp_privileges_empty");
    assert_passes(&empty, "privileges-check.sql");
    // A built-in role that owns nothing: the check says so for each table.
    let found =
        verify_as(&db, "set role pg_read_all_data", "privileges-check.sql").expect("privileges-check runs");
    assert!(
        found
            .iter()
            .any(|p| p.contains("role pg_read_all_data is not a superuser and does not own table molecule")),
        "{found:?}"
    );
}

#[test]
fn fingerprint_sees_every_kind_of_change() {
    let db = starting_db("cp_fingerprint");
    let changes = [
        "update molecule set name = name || ' ' where id = 1",
        "delete from prediction where id = 7",
        "select nextval('mixture_id_seq')",
        "alter table mixture alter column description set not null",
        "alter table experiment alter column notes type varchar(200)",
        "alter table molecule rename column formula to sum_formula",
        "alter table mixture add constraint mixture_name_check check (name <> '') not valid",
        "alter table mixture validate constraint mixture_name_check",
        "create index on molecule (name)",
        "alter table prediction enable row level security",
        "create policy p on prediction using (true)",
        "grant select on molecule to pg_read_all_data",
        "alter table property_type rename to property_kind",
        "create schema extra",
        "create table extra.t (x int)",
        "create function extra.f() returns int language sql as 'select 1'",
    ];
    let mut seen = vec![db.fingerprint()];
    for change in changes {
        db.execute(change);
        let now = db.fingerprint();
        assert!(!seen.contains(&now), "the fingerprint does not see: {change}");
        seen.push(now);
    }
    assert_eq!(
        seen.last(),
        Some(&db.fingerprint()),
        "the fingerprint is not stable"
    );
}
