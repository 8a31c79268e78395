//! Where this process sits: its OS user, host and terminal. Journal headers,
//! driver locks, commands and sign-offs record them, so the record says which
//! seat did what, not only which name was typed; four-eyes counts seats
//! ([`crate::session::rules`]).

/// The OS user this process runs as, when the system knows its name.
pub fn os_user() -> Option<String> {
    nix::unistd::User::from_uid(nix::unistd::getuid())
        .ok()
        .flatten()
        .map(|u| u.name)
}

/// This machine's name.
pub fn host_name() -> String {
    nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .unwrap_or_else(|| "unknown".into())
}

/// The controlling terminal on standard input (`/dev/pts/3`), when there is one.
pub fn terminal() -> Option<String> {
    std::fs::read_link("/proc/self/fd/0")
        .ok()
        .map(|p| p.display().to_string())
        .filter(|p| p.starts_with("/dev/pts/") || p.starts_with("/dev/tty"))
}

/// The seat a signature was given from, as recorded with it.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct Seat {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub os_user: Option<String>,
    #[serde(default)]
    pub host: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub terminal: Option<String>,
}

impl Seat {
    /// The seat of this process.
    pub fn here() -> Seat {
        Seat {
            os_user: os_user(),
            host: host_name(),
            terminal: terminal(),
        }
    }

    /// "alice@db1 pts/3": the seat in a few characters, for the checklist.
    pub fn short(&self) -> String {
        let user = self.os_user.as_deref().unwrap_or("?");
        match &self.terminal {
            Some(t) => format!("{user}@{} {}", self.host, t.strip_prefix("/dev/").unwrap_or(t)),
            None => format!("{user}@{} (no terminal)", self.host),
        }
    }

    /// "OS user alice on host db1, terminal /dev/pts/3".
    pub fn describe(&self) -> String {
        format!(
            "OS user {} on host {}, {}",
            self.os_user.as_deref().unwrap_or("unknown"),
            self.host,
            self.terminal
                .as_deref()
                .map_or_else(|| "no terminal".to_string(), |t| format!("terminal {t}"))
        )
    }
}

/// Who does something, and from which seat: what the journal records of
/// every command (the events it causes carry it), what a driver lock says
/// of its holder, and what a sign-off's signature takes its seat from.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Origin {
    /// The name the person gave (`--operator`).
    pub operator: String,
    #[serde(flatten)]
    pub seat: Seat,
}

impl Origin {
    /// `operator` at this process's seat.
    pub fn here(operator: &str) -> Origin {
        Origin {
            operator: operator.to_string(),
            seat: Seat::here(),
        }
    }

    /// "Ana (OS user ana on host db1, terminal /dev/pts/3)".
    pub fn describe(&self) -> String {
        format!("{} ({})", self.operator, self.seat.describe())
    }
}
