//! `runsheet demo`: the CryoProtect remediation on databases of its own, so a
//! newcomer sees a real checklist drive a real database within a minute.
//!
//! It creates (or, after asking, recreates) one database per environment of
//! `runbooks/cryoprotect-remediation.md` on the local server, loads the
//! defective starting database into each, points the runbook's
//! `CRYO_*_DATABASE_URL` variables at them and opens the development
//! checklist the same way `runsheet run … --env development` does.

use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use tokio_postgres::Client;

use crate::connect;
use crate::exit::{self, CliError};
use crate::frontend::{self, Drive};
use crate::launch::RunOptions;
use crate::runbook::model::{DatabaseSource, ValueSource};

/// The demo's databases are PREFIX_dev, PREFIX_staging and PREFIX_prod.
const DEFAULT_PREFIX: &str = "cryoprotect";
/// The runbook the demo opens, relative to a runsheet checkout.
const RUNBOOK: &str = "runbooks/cryoprotect-remediation.md";
/// The defective starting database, relative to the runbook's folder.
const STARTING_DATABASE: &str = "cryoprotect/starting-database.sql";
/// The server when neither `DATABASE_URL` nor a `PG*` variable names one.
const DEFAULT_SERVER: &str = "postgres://postgres@127.0.0.1:5432/postgres";
/// The variables that make libpq (and runsheet) pick a server.
const PG_VARIABLES: [&str; 4] = ["PGHOST", "PGPORT", "PGUSER", "PGDATABASE"];
/// The client tools the runbook's backup and restore steps call.
const TOOLS: [&str; 3] = ["pg_dump", "pg_restore", "psql"];
/// How long to wait for the server before saying it cannot be reached.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Each environment of the runbook, the variable its database comes from, and
/// the suffix of the demo's database for it (the runbook's defaults are
/// `cryoprotect_dev`, `cryoprotect_staging` and `cryoprotect_prod`).
const ENVIRONMENTS: [(&str, &str, &str); 3] = [
    ("development", "CRYO_DEV_DATABASE_URL", "dev"),
    ("staging", "CRYO_STAGING_DATABASE_URL", "staging"),
    ("production", "CRYO_PROD_DATABASE_URL", "prod"),
];

#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// Drop and recreate the demo databases without asking when they exist.
    #[arg(long)]
    pub yes: bool,
    /// Plain progress lines instead of the full-screen checklist.
    #[arg(long)]
    pub headless: bool,
    /// Name the databases PREFIX_dev, PREFIX_staging and PREFIX_prod.
    #[arg(long, value_name = "PREFIX", default_value = DEFAULT_PREFIX)]
    pub prefix: String,
}

/// Where the demo's server came from, which decides how its databases are named in URLs.
enum Source {
    /// `DATABASE_URL`, or the default: the same URL with another database name.
    Url { url: String, from: &'static str },
    /// The `PG*` variables: `dbname=NAME`, the rest comes from them (for runsheet and pg_dump alike).
    PgVariables,
}

impl Source {
    fn from_environment() -> Source {
        let set = |name: &str| std::env::var(name).is_ok_and(|v| !v.is_empty());
        if let Ok(url) = std::env::var("DATABASE_URL")
            && !url.is_empty()
        {
            Source::Url {
                url,
                from: "DATABASE_URL",
            }
        } else if PG_VARIABLES.iter().any(|v| set(v)) {
            Source::PgVariables
        } else {
            Source::Url {
                url: DEFAULT_SERVER.to_string(),
                from: "the default server",
            }
        }
    }

    fn describe(&self) -> &'static str {
        match self {
            Source::Url { from, .. } => from,
            Source::PgVariables => "the PG* variables",
        }
    }

    /// The server's maintenance connection (the `postgres` database unless one is named).
    fn config(&self) -> Result<tokio_postgres::Config, Failure> {
        let source = match self {
            Source::Url { url, .. } => DatabaseSource::Url(ValueSource::Literal(url.clone())),
            Source::PgVariables => DatabaseSource::PgEnv,
        };
        let mut config = connect::resolve(&source)
            .map_err(|e| CliError::usage(format!("{e}; fix it and run runsheet demo again")))?;
        if matches!(self, Source::PgVariables) && std::env::var("PGDATABASE").is_err() {
            config.dbname("postgres");
        }
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        Ok(config)
    }

    /// A connection string for database `name` on the same server.
    fn database_url(&self, name: &str) -> String {
        match self {
            Source::Url { url, .. } => with_database(url, name),
            Source::PgVariables => format!("dbname={name}"),
        }
    }
}

/// `url` naming database `name` instead: the path of a `postgres://` URL, or
/// a `dbname=` appended to a `key=value` string (the last one counts).
fn with_database(url: &str, name: &str) -> String {
    let Some(scheme_end) = url.find("://").map(|i| i + 3) else {
        return format!("{url} dbname={name}");
    };
    let rest = &url[scheme_end..];
    let authority = &url[..scheme_end + rest.find(['/', '?']).unwrap_or(rest.len())];
    let query = rest.find('?').map_or("", |q| &rest[q..]);
    format!("{authority}/{name}{query}")
}

/// A demo database: its environment, variable, name and connection string.
struct DemoDb {
    env: &'static str,
    var: &'static str,
    name: String,
    url: String,
}

/// Run the demo; the exit code of its checklist.
pub fn run(state_dir: Option<&Path>, args: DemoArgs) -> Result<u8, CliError> {
    let prepared = prepare(&args).map_err(|e| e.during("demo"))?;
    open_checklist(state_dir, &prepared, &args)
}

/// The demo's databases, ready for the checklist.
struct Prepared {
    runbook: PathBuf,
    databases: Vec<DemoDb>,
    /// Created just now: no earlier session can apply to them.
    fresh: bool,
}

/// A demo failure, printed as `runsheet demo: …`.
type Failure = CliError;

/// Everything up to a loaded set of databases, on a runtime of its own.
fn prepare(args: &DemoArgs) -> Result<Prepared, Failure> {
    let prefix = args.prefix.as_str();
    check_prefix(prefix)?;
    let runbook = find_runbook()?;
    let starting = runbook.parent().unwrap_or(Path::new(".")).join(STARTING_DATABASE);
    let starting_sql = std::fs::read_to_string(&starting).map_err(|e| {
        CliError::new(
            exit::USAGE,
            format!(
                "cannot read {} ({e}); run the demo from a complete runsheet checkout",
                starting.display()
            ),
        )
    })?;
    let source = Source::from_environment();
    let config = source.config()?;
    let databases: Vec<DemoDb> = ENVIRONMENTS
        .iter()
        .map(|&(env, var, suffix)| {
            let name = format!("{prefix}_{suffix}");
            DemoDb {
                env,
                var,
                url: source.database_url(&name),
                name,
            }
        })
        .collect();

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::new(exit::USAGE, format!("cannot start the async runtime: {e}")))?;
    let target = connect::describe_target(&config);
    let client = runtime.block_on(reach(&config, &source))?;
    check_tools()?;
    let names: Vec<String> = databases.iter().map(|d| d.name.clone()).collect();
    let existing: Vec<String> = runtime.block_on(async {
        client
            .query(
                "select datname from pg_database where datname = any($1) order by datname",
                &[&names],
            )
            .await
            .map(|rows| rows.iter().map(|r| r.get(0)).collect())
            .map_err(|e| sql_failure("cannot list the server's databases", &e))
    })?;
    if !existing.is_empty() && !args.yes && !may_recreate(&existing, &target, prefix)? {
        return Ok(Prepared {
            runbook,
            databases,
            fresh: false,
        });
    }
    runtime.block_on(async {
        for db in &databases {
            let started = Instant::now();
            create(&client, &db.name).await?;
            load(&config, &db.name, &starting_sql).await?;
            println!(
                "  {:<28} created for {:<12} with the defective starting database ({:.1}s)",
                db.name,
                db.env,
                started.elapsed().as_secs_f64()
            );
        }
        Ok::<_, Failure>(())
    })?;
    Ok(Prepared {
        runbook,
        databases,
        fresh: true,
    })
}

/// Database names are built from the prefix: only characters that need no quoting.
fn check_prefix(prefix: &str) -> Result<(), Failure> {
    let valid = prefix.len() <= 40
        && prefix.starts_with(|c: char| c.is_ascii_lowercase())
        && prefix
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if valid {
        Ok(())
    } else {
        Err(CliError::new(
            exit::USAGE,
            format!(
                "--prefix {prefix:?} must be up to 40 lowercase letters, digits or '_', starting with a letter"
            ),
        ))
    }
}

/// Connect to the server, or say exactly what to do about it.
async fn reach(config: &tokio_postgres::Config, source: &Source) -> Result<Client, Failure> {
    let connected = connect::connect(config).await.map_err(|e| {
        CliError::new(
            exit::DATABASE,
            format!(
                "{e} (server from {}); start PostgreSQL (e.g. `sudo systemctl start postgresql`), or point the demo \
                 at a running server with DATABASE_URL=postgres://USER@HOST:PORT/postgres or the PG* variables \
                 (PGHOST, PGPORT, PGUSER, PGPASSWORD), then run runsheet demo again",
                source.describe()
            ),
        )
    })?;
    // The connection's task runs until the client is dropped.
    let client = connected.client;
    let version: String = client
        .query_one("select current_setting('server_version')", &[])
        .await
        .map(|row| row.get(0))
        .map_err(|e| sql_failure("cannot ask the server for its version", &e))?;
    println!(
        "runsheet demo: PostgreSQL {version} at {} (from {})",
        connect::describe_target(config),
        source.describe()
    );
    Ok(client)
}

/// The runbook's backup and restore steps call the PostgreSQL client tools.
fn check_tools() -> Result<(), Failure> {
    let missing: Vec<&str> = TOOLS.into_iter().filter(|t| !on_path(t)).collect();
    if missing.is_empty() {
        return Ok(());
    }
    Err(CliError::new(
        exit::USAGE,
        format!(
            "{} not installed, and the runbook's backup and restore steps need them; install the PostgreSQL \
             client tools (Debian/Ubuntu: sudo apt-get install postgresql-client) and run runsheet demo again",
            missing.join(", ") + if missing.len() == 1 { " is" } else { " are" }
        ),
    ))
}

/// Whether existing demo databases are dropped (`true`) or kept: asked on a
/// terminal, refused without one (`--yes` says so in advance).
fn may_recreate(existing: &[String], target: &str, prefix: &str) -> Result<bool, Failure> {
    let list = existing.join(", ");
    let again = match prefix {
        DEFAULT_PREFIX => "runsheet demo --yes".to_string(),
        other => format!("runsheet demo --yes --prefix {other}"),
    };
    if !(std::io::stdin().is_terminal() && std::io::stderr().is_terminal()) {
        return Err(CliError::new(
            exit::USAGE,
            format!(
                "the demo databases {list} already exist on {target}; run `{again}` to drop and recreate them"
            ),
        ));
    }
    let yes = confirm(&format!(
        "The demo databases {list} already exist on {target}. Drop them and start again (y), \
         or keep them and open the checklist on them (n)? [y/N] "
    ));
    if !yes {
        eprintln!("runsheet demo: kept {list} as they are (`{again}` recreates them)");
    }
    Ok(yes)
}

/// Drop (when it exists) and create one demo database.
async fn create(client: &Client, name: &str) -> Result<(), Failure> {
    // `name` is lowercase letters, digits and '_' (see `check_prefix`): quoting it is enough.
    for sql in [
        format!("drop database if exists \"{name}\" with (force)"),
        format!("create database \"{name}\""),
    ] {
        client.batch_execute(&sql).await.map_err(|e| {
            CliError::new(
                exit::DATABASE,
                format!(
                    "cannot create database {name}: {}; connect as a role that may create databases \
                     (DATABASE_URL or PGUSER) and run runsheet demo again",
                    connect::error_text(&e)
                ),
            )
        })?;
    }
    Ok(())
}

/// Load the starting database into database `name`, in one transaction.
async fn load(config: &tokio_postgres::Config, name: &str, sql: &str) -> Result<(), Failure> {
    let mut config = config.clone();
    config.dbname(name);
    let connected = connect::connect(&config)
        .await
        .map_err(|e| CliError::new(exit::DATABASE, format!("{e}; run runsheet demo again")))?;
    connected
        .client
        .batch_execute(sql)
        .await
        .map_err(|e| sql_failure(&format!("cannot load the starting database into {name}"), &e))
}

fn sql_failure(what: &str, e: &tokio_postgres::Error) -> Failure {
    CliError::new(
        exit::DATABASE,
        format!("{what}: {}; run runsheet demo again", connect::error_text(e)),
    )
}

/// The runbook in this build's checkout, else in the current directory.
fn find_runbook() -> Result<PathBuf, Failure> {
    let built = Path::new(env!("CARGO_MANIFEST_DIR")).join(RUNBOOK);
    [built.clone(), PathBuf::from(RUNBOOK)]
        .into_iter()
        .find(|p| p.is_file())
        .ok_or_else(|| {
            CliError::new(
                exit::USAGE,
                format!(
                    "cannot find {RUNBOOK} (looked in {} and the current directory); run runsheet demo from a runsheet checkout",
                    built.parent().and_then(Path::parent).unwrap_or(Path::new(".")).display()
                ),
            )
        })
}

/// Whether an executable named `tool` is on `PATH`.
fn on_path(tool: &str) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::env::var_os("PATH").is_some_and(|path| {
        std::env::split_paths(&path).any(|dir| {
            std::fs::metadata(dir.join(tool))
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
    })
}

/// Ask a yes/no question on the terminal; anything but yes is no.
fn confirm(question: &str) -> bool {
    eprint!("{question}");
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    if std::io::stdin().lock().read_line(&mut answer).is_err() {
        return false;
    }
    matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes")
}

/// Point the runbook at the demo's databases and open its development checklist.
fn open_checklist(state_dir: Option<&Path>, prepared: &Prepared, args: &DemoArgs) -> Result<u8, CliError> {
    let Prepared {
        runbook,
        databases,
        fresh,
    } = prepared;
    print_exports(databases);
    let development = databases
        .iter()
        .find(|d| d.env == "development")
        .map_or("", |d| d.name.as_str());
    println!(
        "Opening the development checklist of {} on {development}; continue with --env staging, then --env production.",
        runbook.display()
    );
    // What `runsheet run RUNBOOK --env development` opens, on the demo's databases.
    let opts = RunOptions {
        runbook: runbook.clone(),
        env: Some("development".to_string()),
        state_dir: crate::journal::store::state_dir(state_dir)?,
        environment_values: databases
            .iter()
            .map(|db| (db.var.to_string(), db.url.clone()))
            .collect(),
        ..RunOptions::default()
    };
    let how = Drive {
        headless: args.headless,
        new: *fresh,
        ..Drive::default()
    };
    let code = frontend::drive(opts, how);
    // The checklist's screen hid the lines above; say them again where the
    // shell that runs staging next can read them.
    if !args.headless {
        print_exports(databases);
    }
    code
}

/// The `export` lines that point `--env staging` and `--env production` at
/// the demo's databases (passwords masked).
fn print_exports(databases: &[DemoDb]) {
    let shown = |url: &str| crate::secrets::redact_connection_passwords(url).into_owned();
    println!("To run staging and production on the demo's databases, set:");
    for db in databases {
        println!("  export {}={}", db.var, shell_words::quote(&shown(&db.url)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_names_replace_the_url_path_or_join_a_key_value_string() {
        assert_eq!(
            with_database("postgres://u:p@h:5433/postgres?sslmode=require", "x_dev"),
            "postgres://u:p@h:5433/x_dev?sslmode=require"
        );
        assert_eq!(with_database("postgresql://h", "x_dev"), "postgresql://h/x_dev");
        assert_eq!(with_database("x?a://b", "x_dev"), "x?a://b/x_dev");
        assert_eq!(
            with_database("postgres://h?sslmode=disable", "x_dev"),
            "postgres://h/x_dev?sslmode=disable"
        );
        assert_eq!(
            with_database("host=h user=u", "x_dev"),
            "host=h user=u dbname=x_dev"
        );
    }
}
