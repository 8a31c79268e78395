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

/// This process's controlling terminal (`/dev/pts/3`), when it has one: the
/// terminal the kernel ties its session to. Not standard input's: that is
/// whatever the caller redirected there (`</dev/tty`, another `/dev/pts/N`),
/// so one person at one terminal could pass for two seats.
pub fn terminal() -> Option<String> {
    controlling_terminal(&std::fs::read_to_string("/proc/self/stat").ok()?)
}

/// The controlling terminal a `/proc/PID/stat` line names (its `tty_nr`
/// field), as a device path; `None` for a process without one.
pub fn controlling_terminal(stat: &str) -> Option<String> {
    // The command name before `)` may hold spaces and parentheses.
    let fields = stat.rsplit_once(')')?.1;
    let tty_nr: u32 = fields
        .split_whitespace()
        .nth(4)?
        .parse::<i64>()
        .ok()?
        .try_into()
        .ok()?;
    if tty_nr == 0 {
        return None;
    }
    let major = (tty_nr >> 8) & 0xfff;
    let minor = (tty_nr & 0xff) | ((tty_nr >> 12) & 0xfff00);
    Some(match major {
        136..=143 => format!("/dev/pts/{}", (major - 136) * 256 + minor),
        4 if minor < 64 => format!("/dev/tty{minor}"),
        4 => format!("/dev/ttyS{}", minor - 64),
        _ => format!("/dev/char/{major}:{minor}"),
    })
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

#[cfg(test)]
mod tests {
    use super::controlling_terminal;

    #[test]
    fn the_controlling_terminal_is_read_from_tty_nr() {
        let stat = |tty: &str| format!("42 (run sheet (x)) S 1 42 42 {tty} 42 4194560 0 0");
        assert_eq!(
            controlling_terminal(&stat("34816")).as_deref(),
            Some("/dev/pts/0")
        );
        assert_eq!(
            controlling_terminal(&stat("34819")).as_deref(),
            Some("/dev/pts/3")
        );
        // pts/300: major 137, minor 44.
        assert_eq!(
            controlling_terminal(&stat("35116")).as_deref(),
            Some("/dev/pts/300")
        );
        assert_eq!(controlling_terminal(&stat("1025")).as_deref(), Some("/dev/tty1"));
        assert_eq!(controlling_terminal(&stat("1088")).as_deref(), Some("/dev/ttyS0"));
        assert_eq!(controlling_terminal(&stat("0")), None);
        for odd in ["", "42 (x", "42 (x) S", "42 (x) S 1 2 3 -1", "42 (x) S 1 2 3 tty"] {
            assert_eq!(controlling_terminal(odd), None, "{odd:?}");
        }
    }
}
