//! Reaching the environment's database: resolving where it is, connecting
//! (with TLS when asked), and keeping passwords out of every message.
//!
//! Like libpq, every parameter a connection string leaves out falls back to
//! its `PG*` variable and then to a built-in default, so `env:VAR` URLs and
//! the bare `PG*` setup behave the way `psql` users expect.

use std::future::poll_fn;
use std::path::Path;
use std::sync::OnceLock;
use std::time::Duration;

use postgres_native_tls::MakeTlsConnector;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_postgres::config::{Host, SslMode};
use tokio_postgres::error::DbError;
use tokio_postgres::{AsyncMessage, CancelToken, Client, Config, NoTls, Notification};

use crate::runbook::model::{DatabaseSource, ValueSource};

/// The application name the server sees unless the configuration sets one.
pub const DEFAULT_APPLICATION_NAME: &str = "runsheet";

/// How many server notices may wait to be read before the connection pauses.
const NOTICE_BUFFER: usize = 1024;

/// Why a database could not be reached. Messages never contain a password.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("this environment has no database (database = \"none\"), so it cannot run SQL steps")]
    NoDatabase,
    #[error("the environment variable {var} is not set; set it to the database's connection string")]
    MissingVariable { var: String },
    #[error("the connection string {shown} is not valid: {reason}")]
    InvalidConnectionString { shown: String, reason: String },
    #[error("{var}={value} is not valid: {reason}")]
    InvalidVariable {
        var: String,
        value: String,
        reason: String,
    },
    #[error("cannot set up TLS: {0}")]
    Tls(String),
    #[error("cannot connect to {target}: {reason}")]
    Connect { target: String, reason: String },
}

/// The connection configuration for an environment's database.
pub fn resolve(db: &DatabaseSource) -> Result<Config, ConnectError> {
    resolve_with(db, &|name| std::env::var(name).ok())
}

/// [`resolve`] reading variables through `env` (an empty value counts as unset).
fn resolve_with(db: &DatabaseSource, env: &dyn Fn(&str) -> Option<String>) -> Result<Config, ConnectError> {
    let env = |name: &str| env(name).filter(|v| !v.is_empty());
    let (mut cfg, sslmode_given) = match db {
        DatabaseSource::None => return Err(ConnectError::NoDatabase),
        DatabaseSource::PgEnv => (Config::new(), false),
        DatabaseSource::Url(ValueSource::Literal(s)) => (parse(s)?, s.contains("sslmode")),
        DatabaseSource::Url(ValueSource::Env { var, default }) => {
            let s = env(var)
                .or_else(|| default.clone())
                .ok_or_else(|| ConnectError::MissingVariable { var: var.clone() })?;
            (parse(&s)?, s.contains("sslmode"))
        }
    };
    if !sslmode_given && let Some(mode) = env("PGSSLMODE") {
        cfg.ssl_mode(parse_sslmode(&mode)?);
    }
    fill_defaults(&mut cfg, &env)?;
    Ok(cfg)
}

fn parse(s: &str) -> Result<Config, ConnectError> {
    s.parse::<Config>()
        .map_err(|e| ConnectError::InvalidConnectionString {
            shown: crate::secrets::redact_connection_passwords(s).into_owned(),
            reason: scrub(&error_text(&e), None),
        })
}

/// libpq's sslmode values that tokio-postgres can honour.
fn parse_sslmode(mode: &str) -> Result<SslMode, ConnectError> {
    match mode {
        "disable" => Ok(SslMode::Disable),
        // `allow` (plain first, TLS if the server insists) succeeds wherever `prefer` does.
        "allow" | "prefer" => Ok(SslMode::Prefer),
        "require" => Ok(SslMode::Require),
        "verify-ca" | "verify-full" => Err(ConnectError::InvalidVariable {
            var: "PGSSLMODE".into(),
            value: mode.into(),
            reason:
                "certificate verification is not supported; use require (encrypted, certificate not checked)"
                    .into(),
        }),
        _ => Err(ConnectError::InvalidVariable {
            var: "PGSSLMODE".into(),
            value: mode.into(),
            reason: "expected disable, allow, prefer or require".into(),
        }),
    }
}

/// Fill every parameter the configuration leaves out from the `PG*`
/// variables, then from libpq's defaults.
fn fill_defaults(cfg: &mut Config, env: &dyn Fn(&str) -> Option<String>) -> Result<(), ConnectError> {
    if cfg.get_ports().is_empty()
        && let Some(ports) = env("PGPORT")
    {
        for port in ports.split(',') {
            let port = port
                .trim()
                .parse::<u16>()
                .map_err(|_| ConnectError::InvalidVariable {
                    var: "PGPORT".into(),
                    value: ports.clone(),
                    reason: "expected a port number".into(),
                })?;
            cfg.port(port);
        }
    }
    if cfg.get_hosts().is_empty() && cfg.get_hostaddrs().is_empty() {
        match env("PGHOST") {
            Some(hosts) => {
                for host in hosts.split(',') {
                    cfg.host(host.trim());
                }
            }
            None => {
                let port = cfg.get_ports().first().copied().unwrap_or(5432);
                match local_socket_dir(port) {
                    Some(dir) => cfg.host_path(dir),
                    None => cfg.host("localhost"),
                };
            }
        }
    }
    if cfg.get_user().is_none() {
        let user = env("PGUSER")
            .or_else(|| env("USER"))
            .or_else(|| env("LOGNAME"))
            .or_else(crate::seat::os_user);
        if let Some(user) = user {
            cfg.user(user);
        }
    }
    if cfg.get_password().is_none()
        && let Some(password) = env("PGPASSWORD")
    {
        cfg.password(password);
    }
    if cfg.get_dbname().is_none() {
        if let Some(db) = env("PGDATABASE") {
            cfg.dbname(db);
        } else if let Some(user) = cfg.get_user().map(str::to_string) {
            cfg.dbname(user);
        }
    }
    if cfg.get_application_name().is_none() {
        cfg.application_name(env("PGAPPNAME").unwrap_or_else(|| DEFAULT_APPLICATION_NAME.into()));
    }
    if cfg.get_connect_timeout().is_none()
        && let Some(secs) = env("PGCONNECT_TIMEOUT")
    {
        let n = secs
            .trim()
            .parse::<i64>()
            .map_err(|_| ConnectError::InvalidVariable {
                var: "PGCONNECT_TIMEOUT".into(),
                value: secs.clone(),
                reason: "expected a number of seconds".into(),
            })?;
        // As in libpq: zero or less waits forever, and less than 2 s means 2 s.
        if n > 0 {
            cfg.connect_timeout(Duration::from_secs(n.max(2).unsigned_abs()));
        }
    }
    Ok(())
}

/// The socket directory of a local server on `port`, where packaged (Debian)
/// and source builds put it.
fn local_socket_dir(port: u16) -> Option<&'static str> {
    ["/var/run/postgresql", "/tmp"]
        .into_iter()
        .find(|dir| Path::new(dir).join(format!(".s.PGSQL.{port}")).exists())
}

/// A live connection: the client, the task driving it, and the server's
/// notices. Read `notices` while awaiting queries: when it is full the
/// connection waits for it (back-pressure), and so do the queries.
pub struct Connected {
    pub client: Client,
    /// Ends when the connection closes, with the reason if it failed.
    pub driver: JoinHandle<Result<(), tokio_postgres::Error>>,
    /// Server notices and warnings (`RAISE NOTICE`, implicit index creation, ...).
    pub notices: mpsc::Receiver<DbError>,
}

/// Connect with the TLS behaviour `cfg.get_ssl_mode()` asks for.
///
/// `prefer` and `require` use TLS like libpq's modes of the same name: the
/// traffic is encrypted but the server's certificate and host name are
/// **not** verified (which is what libpq's `require` means too; certificate
/// verification, libpq's `verify-ca`/`verify-full`, is not offered). Unix
/// sockets never use TLS, as in libpq.
pub async fn connect(cfg: &Config) -> Result<Connected, ConnectError> {
    connect_with(cfg, None).await
}

/// [`connect`], also forwarding the connection's LISTEN notifications to
/// `notifications` (the journal's followers). They are hints: when the
/// receiver falls behind, the newest are dropped rather than stalling the
/// connection, so a listener must re-read what it follows anyway.
pub async fn connect_listening(
    cfg: &Config,
    notifications: mpsc::Sender<Notification>,
) -> Result<Connected, ConnectError> {
    connect_with(cfg, Some(notifications)).await
}

async fn connect_with(
    cfg: &Config,
    notifications: Option<mpsc::Sender<Notification>>,
) -> Result<Connected, ConnectError> {
    let mut cfg = cfg.clone();
    if !cfg.get_hosts().is_empty() && cfg.get_hosts().iter().all(|h| matches!(h, Host::Unix(_))) {
        cfg.ssl_mode(SslMode::Disable);
    }
    let failed = |e: tokio_postgres::Error| ConnectError::Connect {
        target: describe_target(&cfg),
        reason: scrub(&error_text(&e), cfg.get_password()),
    };
    if cfg.get_ssl_mode() == SslMode::Disable {
        let (client, connection) = cfg.connect(NoTls).await.map_err(failed)?;
        let (driver, notices) = drive(connection, notifications);
        Ok(Connected {
            client,
            driver,
            notices,
        })
    } else {
        let (client, connection) = cfg.connect(tls_connector()?).await.map_err(failed)?;
        let (driver, notices) = drive(connection, notifications);
        Ok(Connected {
            client,
            driver,
            notices,
        })
    }
}

/// Ask the server to cancel the query running on `token`'s connection.
pub async fn cancel_query(token: &CancelToken) -> Result<(), ConnectError> {
    // The token remembers the connection's sslmode; with `disable` the
    // connector is never used.
    token
        .cancel_query(tls_connector()?)
        .await
        .map_err(|e| ConnectError::Connect {
            target: "the server (cancel request)".into(),
            reason: error_text(&e),
        })
}

/// A connector that encrypts without verifying the certificate (libpq's
/// `require`). Built once per process: building one sets up a TLS context,
/// which cost more than the rest of a short SQL step.
fn tls_connector() -> Result<MakeTlsConnector, ConnectError> {
    static CONNECTOR: OnceLock<Result<MakeTlsConnector, String>> = OnceLock::new();
    CONNECTOR
        .get_or_init(|| {
            // Nothing is verified, so the system's root certificates need not be loaded.
            native_tls::TlsConnector::builder()
                .danger_accept_invalid_certs(true)
                .danger_accept_invalid_hostnames(true)
                .disable_built_in_roots(true)
                .build()
                .map(MakeTlsConnector::new)
                .map_err(|e| e.to_string())
        })
        .clone()
        .map_err(ConnectError::Tls)
}

/// Drive the connection ourselves so that notices are forwarded, not just logged.
fn drive<S, T>(
    mut connection: tokio_postgres::Connection<S, T>,
    notifications: Option<mpsc::Sender<Notification>>,
) -> (
    JoinHandle<Result<(), tokio_postgres::Error>>,
    mpsc::Receiver<DbError>,
)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (tx, rx) = mpsc::channel(NOTICE_BUFFER);
    let driver = tokio::spawn(async move {
        loop {
            match poll_fn(|cx| connection.poll_message(cx)).await {
                Some(Ok(AsyncMessage::Notice(notice))) => {
                    // Nobody listening any more: the notice is dropped, the connection goes on.
                    let _ = tx.send(notice).await;
                }
                Some(Ok(AsyncMessage::Notification(note))) => {
                    if let Some(tx) = &notifications {
                        let _ = tx.try_send(note);
                    }
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(e),
                None => return Ok(()),
            }
        }
    });
    (driver, rx)
}

/// `host:port/dbname as user`, for messages (never the password).
pub fn describe_target(cfg: &Config) -> String {
    let host = host_of(cfg);
    let port = cfg.get_ports().first().copied().unwrap_or(5432);
    let db = cfg.get_dbname().unwrap_or("?");
    let user = cfg.get_user().unwrap_or("?");
    format!("{host}:{port}/{db} as {user}")
}

/// A database a session's plan uses, as the server named itself when the
/// session reached it: what the record says was changed (never a password).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Target {
    /// The host connected to (a Unix socket's directory for a local one).
    pub host: String,
    pub port: u16,
    pub database: String,
    /// The role the session runs as on the server.
    pub user: String,
    pub server_version: String,
    /// `pg_control_system()`'s identifier of the cluster; `None` when the
    /// role may not read it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system_identifier: Option<String>,
}

impl Target {
    /// Whether `other` is the same database: the same place and name, and
    /// the same cluster where both identifiers are known (a server restored
    /// elsewhere, or another cluster behind the same address, is another target).
    pub fn same_as(&self, other: &Target) -> bool {
        let cluster = match (&self.system_identifier, &other.system_identifier) {
            (Some(a), Some(b)) => a == b,
            _ => true,
        };
        cluster && self.host == other.host && self.port == other.port && self.database == other.database
    }

    /// `database@host:port`: where, in few words (lists, titles).
    pub fn place(&self) -> String {
        format!("{}@{}:{}", self.database, self.host, self.port)
    }

    /// `host:port/database as user (PostgreSQL 16.4, system 7311…)`, for messages and reports.
    pub fn describe(&self) -> String {
        let system = self.system_identifier.as_deref().unwrap_or("unknown");
        format!(
            "{}:{}/{} as {} (PostgreSQL {}, system {system})",
            self.host, self.port, self.database, self.user, self.server_version
        )
    }
}

/// How long reaching a database to identify it may take when the
/// configuration sets no connect timeout.
const IDENTIFY_TIMEOUT: Duration = Duration::from_secs(20);

/// Connect to `cfg` once and ask the server who it is: the session's check,
/// before its first step, that the database is there, and the record of
/// which one it is.
pub async fn identify(cfg: &Config) -> Result<Target, ConnectError> {
    let unreachable = |reason: String| ConnectError::Connect {
        target: describe_target(cfg),
        reason,
    };
    let limit = cfg
        .get_connect_timeout()
        .map_or(IDENTIFY_TIMEOUT, |t| *t + Duration::from_secs(5));
    let connected = tokio::time::timeout(limit, connect(cfg))
        .await
        .map_err(|_| unreachable(format!("no answer within {}", crate::text::duration(limit))))??;
    let query = |sql: &'static str| {
        let client = &connected.client;
        async move {
            client.simple_query(sql).await.map(|messages| {
                messages.into_iter().find_map(|m| match m {
                    tokio_postgres::SimpleQueryMessage::Row(row) => Some(
                        (0..row.len())
                            .map(|i| row.get(i).unwrap_or("").to_string())
                            .collect::<Vec<_>>(),
                    ),
                    _ => None,
                })
            })
        }
    };
    let about = query("SELECT current_setting('server_version'), current_user, current_database()")
        .await
        .map_err(|e| unreachable(scrub(&error_text(&e), cfg.get_password())))?
        .unwrap_or_default();
    // Reading the control file may be denied to an unprivileged role: then the
    // target is known by its place and name only.
    let system_identifier = query("SELECT system_identifier::text FROM pg_control_system()")
        .await
        .ok()
        .flatten()
        .and_then(|row| row.into_iter().next())
        .filter(|id| !id.is_empty());
    let field = |i: usize| about.get(i).cloned().unwrap_or_default();
    Ok(Target {
        host: host_of(cfg),
        port: cfg.get_ports().first().copied().unwrap_or(5432),
        database: field(2),
        user: field(1),
        server_version: field(0),
        system_identifier,
    })
}

/// The first host of `cfg` as messages name it.
fn host_of(cfg: &Config) -> String {
    match cfg.get_hosts().first() {
        Some(Host::Tcp(h)) => h.clone(),
        Some(Host::Unix(p)) => p.display().to_string(),
        None => cfg
            .get_hostaddrs()
            .first()
            .map_or_else(|| "localhost".into(), |a| a.to_string()),
    }
}

/// A tokio-postgres error with its causes (its `Display` shows only the kind).
pub fn error_text(e: &tokio_postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        return format!("{}: {}", db.severity(), db.message());
    }
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// `text` with the password (if any) masked, and any password-bearing
/// connection string in it redacted.
pub(crate) fn scrub(text: &str, password: Option<&[u8]>) -> String {
    let mut text = crate::secrets::redact_connection_passwords(text).into_owned();
    if let Some(pw) = password.map(String::from_utf8_lossy)
        && !pw.is_empty()
    {
        text = text.replace(pw.as_ref(), crate::secrets::MASK);
    }
    text
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    /// Resolve `db` as if the process environment held exactly `vars`.
    fn resolve_in(vars: &[(&str, &str)], db: &DatabaseSource) -> Result<Config, ConnectError> {
        let vars: HashMap<&str, &str> = vars.iter().copied().collect();
        resolve_with(db, &|name| vars.get(name).map(|v| v.to_string()))
    }

    fn url(s: &str) -> DatabaseSource {
        DatabaseSource::Url(ValueSource::Literal(s.into()))
    }

    #[test]
    fn a_literal_url_is_parsed_and_completed() {
        let resolve = |db: &DatabaseSource| resolve_in(&[("USER", "alice")], db);
        let cfg = resolve(&url("postgres://bob:pw@db.example:6543/app?sslmode=require")).unwrap();
        assert_eq!(cfg.get_hosts(), &[Host::Tcp("db.example".into())]);
        assert_eq!(cfg.get_ports(), &[6543]);
        assert_eq!(cfg.get_user(), Some("bob"));
        assert_eq!(cfg.get_password(), Some(&b"pw"[..]));
        assert_eq!(cfg.get_dbname(), Some("app"));
        assert_eq!(cfg.get_ssl_mode(), SslMode::Require);
        assert_eq!(cfg.get_application_name(), Some(DEFAULT_APPLICATION_NAME));

        let cfg = resolve(&url("host=h dbname=d application_name=mine")).unwrap();
        assert_eq!(cfg.get_user(), Some("alice"));
        assert_eq!(cfg.get_application_name(), Some("mine"));
    }

    #[test]
    fn an_invalid_url_error_hides_its_password() {
        let err = resolve_in(&[], &url("postgres://u:hunter2@h:notaport/db")).unwrap_err();
        let msg = err.to_string();
        assert!(!msg.contains("hunter2"), "{msg}");
        assert!(msg.contains("postgres://u:***@h:notaport/db"), "{msg}");
    }

    #[test]
    fn an_env_url_names_the_missing_variable() {
        let db = DatabaseSource::Url(ValueSource::Env {
            var: "PROD_DATABASE_URL".into(),
            default: None,
        });
        let err = resolve_in(&[], &db).unwrap_err();
        assert!(err.to_string().contains("PROD_DATABASE_URL"), "{err}");

        let cfg = resolve_in(&[("PROD_DATABASE_URL", "postgres://u@h/d")], &db).unwrap();
        assert_eq!(cfg.get_dbname(), Some("d"));

        let db = DatabaseSource::Url(ValueSource::Env {
            var: "PROD_DATABASE_URL".into(),
            default: Some("postgres://u@fallback/d".into()),
        });
        let cfg = resolve_in(&[("PROD_DATABASE_URL", "")], &db).unwrap();
        assert_eq!(cfg.get_hosts(), &[Host::Tcp("fallback".into())]);
    }

    #[test]
    fn pg_variables_build_the_configuration() {
        let vars = [
            ("PGHOST", "pg.internal"),
            ("PGPORT", "5433"),
            ("PGUSER", "deploy"),
            ("PGPASSWORD", "s3cret"),
            ("PGDATABASE", "cryo"),
            ("PGSSLMODE", "require"),
            ("PGAPPNAME", "window-7"),
            ("PGCONNECT_TIMEOUT", "1"),
        ];
        let cfg = resolve_in(&vars, &DatabaseSource::PgEnv).unwrap();
        assert_eq!(cfg.get_hosts(), &[Host::Tcp("pg.internal".into())]);
        assert_eq!(cfg.get_ports(), &[5433]);
        assert_eq!(cfg.get_user(), Some("deploy"));
        assert_eq!(cfg.get_password(), Some(&b"s3cret"[..]));
        assert_eq!(cfg.get_dbname(), Some("cryo"));
        assert_eq!(cfg.get_ssl_mode(), SslMode::Require);
        assert_eq!(cfg.get_application_name(), Some("window-7"));
        assert_eq!(cfg.get_connect_timeout(), Some(&Duration::from_secs(2)));
    }

    #[test]
    fn pg_defaults_follow_libpq() {
        let cfg = resolve_in(
            &[("USER", "carol"), ("PGHOST", "/run/pg")],
            &DatabaseSource::PgEnv,
        )
        .unwrap();
        assert_eq!(cfg.get_hosts(), &[Host::Unix("/run/pg".into())]);
        assert_eq!(cfg.get_user(), Some("carol"));
        assert_eq!(
            cfg.get_dbname(),
            Some("carol"),
            "the database defaults to the user name"
        );
        assert_eq!(cfg.get_application_name(), Some(DEFAULT_APPLICATION_NAME));
        assert_eq!(cfg.get_ssl_mode(), SslMode::Prefer);

        let cfg = resolve_in(&[("USER", "carol")], &DatabaseSource::PgEnv).unwrap();
        assert_eq!(cfg.get_hosts().len(), 1, "a socket directory or localhost");
    }

    #[test]
    fn bad_pg_variables_are_named() {
        for (var, value) in [
            ("PGPORT", "http"),
            ("PGSSLMODE", "verify-full"),
            ("PGSSLMODE", "always"),
        ] {
            let err = resolve_in(&[(var, value)], &DatabaseSource::PgEnv).unwrap_err();
            assert!(err.to_string().contains(var), "{err}");
        }
        // A URL's own sslmode wins over PGSSLMODE.
        let cfg = resolve_in(
            &[("PGSSLMODE", "require")],
            &url("postgres://u@h/d?sslmode=disable"),
        )
        .unwrap();
        assert_eq!(cfg.get_ssl_mode(), SslMode::Disable);
    }

    #[test]
    fn no_database_is_an_error() {
        assert!(matches!(
            resolve_in(&[], &DatabaseSource::None),
            Err(ConnectError::NoDatabase)
        ));
    }
}
