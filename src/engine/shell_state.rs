//! Shell state carried from one shell step to the next: what the step's
//! bash exported and where it `cd`'d, read back after the script ends.
//!
//! The script is wrapped: a prefix on its first line (so bash's `line N`
//! messages stay right) dumps the shell's exported variables and working
//! directory once at the start, and again at the end, from a line after the
//! script (a script that falls off its end) and from an EXIT trap (one that
//! calls `exit`). The dumps go to fd [`STATE_FD`], an anonymous in-memory
//! file ([`Capture`]): never the step's output, never a file on disk, and no
//! pipe a background process could hold open. The step's changes are the
//! difference of the two dumps.
//!
//! Each dump is NUL-separated, so any value (newlines, quotes, `=`) reads
//! back exactly: `runsheet:before` or `runsheet:after`, the working
//! directory, `NAME`, `VALUE` pairs, then `runsheet:end`. A script that
//! replaces the EXIT trap and then calls `exit`, or `exec`s another program,
//! reports no end state; nothing carries from it and its log says so.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::sync::Arc;

use crate::journal::event::ShellState;
use crate::secrets::{MASK, Redactor, looks_secret};

/// The child's file descriptor the dumps are written to.
pub const STATE_FD: i32 = 198;
/// The most of a dump that is read; a script writing more to the fd is broken.
const MAX_DUMP_BYTES: u64 = 16 * 1024 * 1024;
/// Set by bash itself, or by runsheet for every step: never carried.
const NOT_CARRIED: [&str; 4] = ["PWD", "OLDPWD", "SHLVL", "_"];

/// The dump function, the end-of-script hook and the EXIT trap, on one line.
/// The dump runs in a subshell so the script's options (`set -eux`) and
/// `IFS` are neither changed nor in its way; builtins are named as such in
/// case the script defines functions called `printf` or `compgen`.
const PREFIX: &str = concat!(
    "__runsheet_dump() ( { builtin set +xeu; } 2>/dev/null; IFS=$' \\t\\n'; ",
    "builtin printf 'runsheet:%s\\0%s\\0' \"$1\" \"$PWD\"; ",
    "for __n in $(builtin compgen -e); do [[ -v $__n ]] && builtin printf '%s\\0%s\\0' \"$__n\" \"${!__n}\"; done; ",
    "builtin printf 'runsheet:end\\0' ) >&198 2>/dev/null; ",
    "__runsheet_end() { [[ -n ${__runsheet_done-} ]] || { __runsheet_done=1; __runsheet_dump after; }; return \"$1\"; }; ",
    "{ __runsheet_dump before; builtin trap '{ __runsheet_end $?; } 2>/dev/null' EXIT; } 2>/dev/null; ",
);
/// After the script: the end state, keeping the script's exit status.
const SUFFIX: &str = "{ __runsheet_end $?; } 2>/dev/null\n";

/// `script` wrapped to report its shell state, after unsetting `unset`
/// (variables of runsheet's environment an earlier step unset).
pub fn wrap(script: &str, unset: &BTreeSet<String>) -> String {
    let mut out = String::with_capacity(script.len() + PREFIX.len() + SUFFIX.len() + 64);
    let names: Vec<&str> = unset.iter().map(String::as_str).filter(|n| is_name(n)).collect();
    if !names.is_empty() {
        out.push_str(&format!("builtin unset -v {} 2>/dev/null; ", names.join(" ")));
    }
    out.push_str(PREFIX);
    out.push_str(script);
    if !script.ends_with('\n') {
        out.push('\n');
    }
    out.push_str(SUFFIX);
    out
}

/// The in-memory file a step's shell writes its dumps to (fd [`STATE_FD`] in the child).
pub struct Capture {
    file: Arc<File>,
}

impl Capture {
    pub fn new() -> std::io::Result<Capture> {
        use nix::sys::memfd::{MFdFlags, memfd_create};
        let fd = memfd_create("runsheet-shell-state", MFdFlags::MFD_CLOEXEC)?;
        Ok(Capture {
            file: Arc::new(File::from(fd)),
        })
    }

    /// The file to hand to the child.
    pub fn file(&self) -> Arc<File> {
        Arc::clone(&self.file)
    }

    /// What the step changed, read back once its processes ended.
    pub fn changes(&self) -> Result<ShellState, String> {
        let mut bytes = Vec::new();
        let mut file: &File = &self.file;
        file.seek(SeekFrom::Start(0))
            .and_then(|_| file.take(MAX_DUMP_BYTES).read_to_end(&mut bytes))
            .map_err(|e| format!("cannot read the shell's state back: {e}"))?;
        let (before, after) = parse(&bytes)?;
        Ok(changes(&before, &after))
    }
}

/// In the forked child, before exec: `fd` becomes [`STATE_FD`] (without
/// close-on-exec, so bash gets it). Only dup2(2): async-signal-safe.
pub(super) fn give_fd(fd: std::os::fd::RawFd) -> std::io::Result<()> {
    // SAFETY: `fd` is the capture's open file, kept alive by the request.
    let borrowed = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) };
    if fd == STATE_FD {
        // dup2 onto itself would keep close-on-exec.
        use nix::fcntl::{FcntlArg, FdFlag, fcntl};
        return fcntl(borrowed, FcntlArg::F_SETFD(FdFlag::empty()))
            .map(drop)
            .map_err(std::io::Error::from);
    }
    // SAFETY: STATE_FD is not an fd of the child that anything else owns.
    let given = unsafe { nix::unistd::dup2_raw(borrowed, STATE_FD) }.map_err(std::io::Error::from)?;
    // The child's fd stays open for bash; nothing here may close it.
    std::mem::forget(given);
    Ok(())
}

/// One dump: where the shell was and what it exported.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Snapshot {
    pub cwd: String,
    pub vars: BTreeMap<String, String>,
}

/// The first `before` dump and the last complete `after` dump.
pub fn parse(bytes: &[u8]) -> Result<(Snapshot, Snapshot), String> {
    let mut tokens = bytes.split(|&b| b == 0);
    let (mut before, mut after) = (None, None);
    while let Some(marker) = tokens.next() {
        let is_after = match marker {
            b"runsheet:before" => false,
            b"runsheet:after" => true,
            // The empty piece after the last NUL.
            b"" => continue,
            _ => return Err("the shell's state report is garbled (did the script write to fd 198?)".into()),
        };
        let cwd = tokens.next().ok_or("the shell's state report ends early")?;
        let mut snap = Snapshot {
            cwd: String::from_utf8_lossy(cwd).into_owned(),
            vars: BTreeMap::new(),
        };
        loop {
            let name = tokens.next().ok_or("the shell's state report ends early")?;
            if name == b"runsheet:end" {
                break;
            }
            let value = tokens.next().ok_or("the shell's state report ends early")?;
            let name = String::from_utf8_lossy(name).into_owned();
            if !is_name(&name) {
                return Err(format!("the shell's state report names no variable: {name:?}"));
            }
            snap.vars
                .insert(name, String::from_utf8_lossy(value).into_owned());
        }
        if is_after {
            after = Some(snap);
        } else if before.is_none() {
            before = Some(snap);
        }
    }
    match (before, after) {
        (Some(b), Some(a)) => Ok((b, a)),
        (None, _) => Err("the shell did not report its state at the start".into()),
        (Some(_), None) => Err(
            "the shell did not report its state at the end (the script replaced runsheet's EXIT trap and called exit, or exec'd another program)"
                .into(),
        ),
    }
}

/// What a step changed between its two dumps: variables set or changed,
/// variables unset, and its working directory when it moved.
pub fn changes(before: &Snapshot, after: &Snapshot) -> ShellState {
    let carried = |name: &str| !NOT_CARRIED.contains(&name) && !name.starts_with("RUNSHEET_");
    ShellState {
        cwd: (after.cwd != before.cwd).then(|| after.cwd.clone()),
        vars: after
            .vars
            .iter()
            .filter(|(n, v)| carried(n) && before.vars.get(*n) != Some(*v))
            .map(|(n, v)| (n.clone(), v.clone()))
            .collect(),
        unset: before
            .vars
            .keys()
            .filter(|n| carried(n) && !after.vars.contains_key(*n))
            .cloned()
            .collect(),
        withheld: BTreeSet::new(),
    }
}

/// What the running engine knows of the carried state that the journal
/// does not: the values of withheld variables, and the real directory
/// behind one whose path held a secret. Lost with the process, so a resume
/// goes on without them (and says so).
#[derive(Debug, Default)]
pub struct Withheld {
    values: HashMap<String, String>,
    /// The directory as journaled (masked) and as it is.
    cwd: Option<(String, String)>,
}

/// What a step inherits: where it runs, what it adds to its environment,
/// and what a resume could not give it.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Inherited {
    pub cwd: Option<String>,
    pub env: Vec<(String, String)>,
    pub missing: Vec<String>,
}

impl Withheld {
    /// Take secret values out of a state before it is journaled, and keep
    /// them: a variable whose name looks secret, or whose value holds a known
    /// secret (a password in a connection string, a secret runbook
    /// variable), is named in `withheld` instead; a directory holding a
    /// secret is journaled masked. Values of secret-looking names become
    /// known secrets, so the log masks them too.
    pub fn take(&mut self, state: &mut ShellState, redactor: &mut Redactor) {
        for (name, value) in std::mem::take(&mut state.vars) {
            let secret_name = looks_secret(&name);
            if secret_name {
                redactor.add(&value);
            }
            if secret_name || redactor.redact(&value) != value {
                state.withheld.insert(name.clone());
                self.values.insert(name, value);
            } else {
                state.vars.insert(name, value);
            }
        }
        if let Some(cwd) = &mut state.cwd {
            let masked = redactor.redact(cwd).into_owned();
            if masked != *cwd {
                self.cwd = Some((masked.clone(), std::mem::replace(cwd, masked)));
            }
        }
    }

    /// What a step inherits from `state` (the fold's), with what this
    /// process withheld from the journal put back.
    pub fn inherited(&self, state: &ShellState) -> Inherited {
        let mut out = Inherited {
            env: state.vars.iter().map(|(n, v)| (n.clone(), v.clone())).collect(),
            ..Inherited::default()
        };
        for name in &state.withheld {
            match self.values.get(name) {
                Some(value) => out.env.push((name.clone(), value.clone())),
                None => out.missing.push(name.clone()),
            }
        }
        out.cwd = match (&state.cwd, &self.cwd) {
            (Some(cwd), Some((masked, real))) if cwd == masked => Some(real.clone()),
            (Some(cwd), _) if cwd.contains(MASK) => {
                out.missing
                    .push("the working directory (its path held a secret)".into());
                None
            }
            (cwd, _) => cwd.clone(),
        };
        out
    }
}

/// A shell variable name: a letter or `_`, then letters, digits or `_`.
fn is_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dump(which: &str, cwd: &str, vars: &[(&str, &str)]) -> Vec<u8> {
        let mut out = format!("runsheet:{which}\0{cwd}\0").into_bytes();
        for (n, v) in vars {
            out.extend_from_slice(format!("{n}\0{v}\0").as_bytes());
        }
        out.extend_from_slice(b"runsheet:end\0");
        out
    }

    #[test]
    fn values_read_back_exactly() {
        let tricky = "two\nlines \"quoted\" 'single' $dollar `tick` \\ a=b";
        let mut bytes = dump("before", "/srv", &[("PATH", "/bin")]);
        bytes.extend(dump(
            "after",
            "/srv/new\nline",
            &[("PATH", "/bin"), ("FOO", tricky), ("EMPTY", "")],
        ));
        let (before, after) = parse(&bytes).expect("parses");
        assert_eq!(before.cwd, "/srv");
        assert_eq!(after.cwd, "/srv/new\nline");
        assert_eq!(after.vars["FOO"], tricky);
        assert_eq!(after.vars["EMPTY"], "");
    }

    #[test]
    fn the_last_end_state_counts_and_broken_reports_are_refused() {
        let mut bytes = dump("before", "/a", &[]);
        bytes.extend(dump("after", "/b", &[]));
        bytes.extend(dump("after", "/c", &[]));
        assert_eq!(parse(&bytes).expect("parses").1.cwd, "/c");

        let before = dump("before", "/a", &[("X", "1")]);
        assert!(parse(&before).unwrap_err().contains("at the end"));
        assert!(parse(b"").unwrap_err().contains("at the start"));
        let mut cut = before.clone();
        cut.extend(b"runsheet:after\0/b\0X\0");
        assert!(parse(&cut).unwrap_err().contains("ends early"));
        let mut garbage = before.clone();
        garbage.extend(b"hello\0");
        assert!(parse(&garbage).unwrap_err().contains("garbled"));
        let mut bad_name = before;
        bad_name.extend(dump("after", "/b", &[("not a name", "x")]));
        assert!(parse(&bad_name).unwrap_err().contains("names no variable"));
    }

    #[test]
    fn changes_are_what_differs_except_the_shells_own() {
        let before = Snapshot {
            cwd: "/a".into(),
            vars: [
                ("KEEP", "1"),
                ("CHANGE", "1"),
                ("GONE", "1"),
                ("SHLVL", "1"),
                ("PWD", "/a"),
            ]
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .into(),
        };
        let after = Snapshot {
            cwd: "/b".into(),
            vars: [
                ("KEEP", "1"),
                ("CHANGE", "2"),
                ("NEW", "x"),
                ("SHLVL", "2"),
                ("PWD", "/b"),
                ("RUNSHEET_STEP", "mine"),
            ]
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .into(),
        };
        let c = changes(&before, &after);
        assert_eq!(c.cwd.as_deref(), Some("/b"));
        assert_eq!(c.vars.keys().collect::<Vec<_>>(), ["CHANGE", "NEW"]);
        assert_eq!(c.unset.iter().collect::<Vec<_>>(), ["GONE"]);
        let same = changes(&before, &before);
        assert!(same.is_empty());
    }

    #[test]
    fn secrets_are_withheld_and_become_known() {
        let mut redactor = Redactor::default();
        redactor.add("hunter2");
        let mut state = ShellState {
            cwd: Some("/srv/hunter2/app".into()),
            ..ShellState::default()
        };
        for (n, v) in [
            ("API_TOKEN", "tok-123456"),
            ("DSN", "postgres://u:pw@h/db"),
            ("COPY", "is hunter2"),
            ("PLAIN", "visible"),
        ] {
            state.vars.insert(n.into(), v.into());
        }
        let mut withheld = Withheld::default();
        withheld.take(&mut state, &mut redactor);
        assert_eq!(state.vars.keys().collect::<Vec<_>>(), ["PLAIN"]);
        assert_eq!(
            state.withheld.iter().collect::<Vec<_>>(),
            ["API_TOKEN", "COPY", "DSN"]
        );
        assert_eq!(state.cwd.as_deref(), Some("/srv/***/app"));
        assert_eq!(redactor.redact("echo tok-123456"), "echo ***");

        // This process puts everything back.
        let back = withheld.inherited(&state);
        assert_eq!(back.cwd.as_deref(), Some("/srv/hunter2/app"));
        assert!(back.env.contains(&("API_TOKEN".into(), "tok-123456".into())));
        assert!(back.env.contains(&("PLAIN".into(), "visible".into())));
        assert!(back.missing.is_empty());

        // A resumed one has only what the journal says, and names the rest.
        let resumed = Withheld::default().inherited(&state);
        assert_eq!(resumed.cwd, None);
        assert_eq!(resumed.env, [("PLAIN".to_string(), "visible".to_string())]);
        assert_eq!(resumed.missing.len(), 4, "{:?}", resumed.missing);
    }

    #[test]
    fn unset_names_are_checked_before_they_reach_the_script() {
        let unset: BTreeSet<String> = ["http_proxy".to_string(), "x; rm -rf /".to_string()].into();
        let wrapped = wrap("echo hi", &unset);
        assert!(wrapped.starts_with("builtin unset -v http_proxy 2>/dev/null; __runsheet_dump"));
        assert!(!wrapped.contains("rm -rf"));
        // The script keeps its first line as line 1, and ends with the hook.
        assert_eq!(wrapped.lines().count(), 2);
        assert!(wrapped.ends_with(SUFFIX));
    }
}
