//! Shell blocks the way documentation shows them: `$ command` lines among
//! the output they print, and the commands that would wait for a terminal
//! that a step never has.

/// A shell block split into what runs and what it is expected to print.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Session {
    /// The commands, prompts removed, one per line (with their `\` continuations).
    pub commands: String,
    /// The lines without a prompt: expected output, never run.
    pub output: String,
    /// For each command line: its 0-based line in the block and the byte
    /// column where the command starts (after the prompt).
    pub origins: Vec<(usize, usize)>,
}

/// The command after a prompt on `line`, as the byte offset where it
/// starts: `$ cmd`, `(host)$ cmd`, `(host#) cmd`, `user@host:~$ cmd`,
/// `[root@host dir]# cmd`. A bare `# ` is a shell comment, not a prompt.
fn after_prompt(line: &str) -> Option<usize> {
    let lead = line.len() - line.trim_start().len();
    let s = &line[lead..];
    let rest = if let Some(r) = s.strip_prefix("$ ") {
        Some(r)
    } else if s == "$" {
        Some("")
    } else if let Some(inner) = s.strip_prefix('(') {
        // `(venv) $ cmd`, `(host)# cmd` or `(host#) cmd`.
        let close = inner.find(')')?;
        let tag = &inner[..close];
        let after = &inner[close + 1..];
        if tag.ends_with(['#', '$']) {
            after.strip_prefix(' ')
        } else {
            let after = after.trim_start();
            after.strip_prefix("$ ").or_else(|| after.strip_prefix("# "))
        }
    } else if let Some(inner) = s.strip_prefix('[') {
        // `[root@host dir]# cmd`
        let close = inner.find(']')?;
        inner[..close]
            .contains('@')
            .then(|| &inner[close + 1..])
            .and_then(|a| a.strip_prefix("# ").or_else(|| a.strip_prefix("$ ")))
    } else {
        // `user@host:~/dir$ cmd`
        let word_end = s.find(' ')?;
        let word = &s[..word_end];
        let at = word.find('@')?;
        let ok = at > 0
            && word.ends_with(['$', '#'])
            && word[..at]
                .chars()
                .all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.'));
        ok.then(|| &s[word_end + 1..])
    }?;
    Some(line.len() - rest.len())
}

/// Split a block's lines into commands and output when some line carries a
/// prompt; `None` when none does (then the whole block is the command, or
/// for `console` not a command at all). Lines that continue a command (a
/// `\` at the end of the previous one, or a `> ` secondary prompt) belong
/// to it.
pub(crate) fn session(content: &str) -> Option<Session> {
    let lines: Vec<&str> = content.lines().collect();
    if !lines.iter().any(|l| after_prompt(l).is_some()) {
        return None;
    }
    let mut s = Session::default();
    let mut continues = false;
    for (i, line) in lines.iter().enumerate() {
        let start = if continues {
            Some(0)
        } else if let Some(at) = after_prompt(line) {
            Some(at)
        } else if i > 0 && !s.origins.is_empty() && s.origins.last().is_some_and(|o| o.0 + 1 == i) {
            let lead = line.len() - line.trim_start().len();
            line[lead..]
                .strip_prefix("> ")
                .or_else(|| (line.trim() == ">").then_some(""))
                .map(|r| line.len() - r.len())
        } else {
            None
        };
        match start {
            Some(at) => {
                let command = &line[at..];
                s.commands.push_str(command);
                s.commands.push('\n');
                s.origins.push((i, at));
                continues = command.trim_end().ends_with('\\');
            }
            None => {
                s.output.push_str(line);
                s.output.push('\n');
                continues = false;
            }
        }
    }
    Some(s)
}

/// A command that waits for a person at a terminal, found on one line of a
/// shell step: the byte column of the command word and why it hangs.
pub(crate) fn needs_terminal(line: &str) -> Option<(usize, String)> {
    let mut fed = false;
    for (start, segment) in segments(line) {
        let words: Vec<(usize, &str)> = words(segment);
        let mut i = 0;
        // Skip variable assignments and wrappers that run the real command.
        while let Some((_, w)) = words.get(i) {
            let assignment = w.contains('=') && !w.starts_with('-') && !w.starts_with('=');
            if assignment || matches!(*w, "time" | "nohup" | "exec" | "command" | "env" | "builtin") {
                i += 1;
            } else {
                break;
            }
        }
        let Some(&(at, cmd)) = words.get(i) else {
            fed = segment.trim_end().ends_with('|');
            continue;
        };
        let args: Vec<&str> = words[i + 1..].iter().map(|(_, w)| *w).collect();
        let has = |flags: &[&str]| {
            args.iter().any(|a| {
                flags
                    .iter()
                    .any(|f| a == f || (f.starts_with("--") && a.starts_with(&format!("{f}="))))
            })
        };
        let short = |letter: char| {
            args.iter()
                .any(|a| a.starts_with('-') && !a.starts_with("--") && a[1..].contains(letter))
        };
        let redirected = fed || args.iter().any(|a| a.starts_with('<'));
        let name = cmd.rsplit('/').next().unwrap_or(cmd);
        let why = match name {
            "read" if short('p') => Some("`read -p` waits for an answer".to_string()),
            "sudo" if has(&["-i", "-s", "--login", "--shell"]) || args.first() == Some(&"su") => {
                Some(format!(
                    "`sudo {}` opens an interactive shell",
                    args.first().unwrap_or(&"")
                ))
            }
            "su" if !short('c') && !has(&["--command"]) => {
                Some("`su` opens an interactive shell".to_string())
            }
            "vi" | "vim" | "nvim" | "nano" | "emacs" | "pico" | "joe" | "mcedit" | "$EDITOR"
            | "${EDITOR}" | "visudo" | "vipw" => Some(format!("`{name}` is an editor")),
            "crontab" if short('e') => Some("`crontab -e` opens an editor".to_string()),
            "kubectl" | "systemctl" | "oc" if args.first() == Some(&"edit") => {
                Some(format!("`{name} edit` opens an editor"))
            }
            "less" | "more" | "top" | "htop" | "watch" | "man" | "tmux" | "screen" if !fed => {
                Some(format!("`{name}` is a full-screen program"))
            }
            "psql"
                if !redirected
                    && !has(&[
                        "-c",
                        "--command",
                        "-f",
                        "--file",
                        "-l",
                        "--list",
                        "-V",
                        "--version",
                        "--help",
                    ]) =>
            {
                Some("`psql` without -c or -f waits for queries typed at a terminal".to_string())
            }
            "mysql" if !redirected && !has(&["-e", "--execute", "-V", "--version", "--help"]) => {
                Some("`mysql` without -e waits for queries typed at a terminal".to_string())
            }
            "ssh" if !redirected && ssh_has_no_command(&args) => {
                Some("`ssh` without a remote command opens an interactive shell".to_string())
            }
            _ => None,
        };
        if let Some(why) = why {
            return Some((start + at, why));
        }
        fed = segment.trim_end().ends_with('|');
    }
    None
}

/// `ssh [options] host [command]`: true when nothing follows the host.
fn ssh_has_no_command(args: &[&str]) -> bool {
    const WITH_VALUE: &str = "BbcDEeFIiJLlmOoPpQRSWw";
    let mut i = 0;
    while let Some(a) = args.get(i) {
        if let Some(flags) = a.strip_prefix('-').filter(|f| !f.is_empty()) {
            // `-p 22` takes the next word; `-p22` or `-tt` do not.
            let last = flags.chars().last().unwrap_or(' ');
            let takes = flags.len() == 1 && WITH_VALUE.contains(last);
            i += if takes { 2 } else { 1 };
        } else {
            return args.len() == i + 1;
        }
    }
    false
}

/// The commands of a line split at `;`, `&&`, `||` and `|`, each with its
/// byte offset; quotes are respected, a `#` comment ends the line.
fn segments(line: &str) -> Vec<(usize, &str)> {
    let mut out = Vec::new();
    let (mut quote, mut start) = (None, 0);
    let bytes = line.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        match (quote, c) {
            (Some(q), _) if c == q => quote = None,
            (Some(_), _) => {}
            (None, b'\'' | b'"') => quote = Some(c),
            (None, b'#') if i == 0 || bytes[i - 1] == b' ' => {
                out.push((start, &line[start..i]));
                return out;
            }
            (None, b';' | b'|' | b'&') => {
                let double = bytes.get(i + 1) == Some(&c);
                let end = if c == b'|' && !double { i + 1 } else { i };
                // Keep a single `|` on the left segment, so it knows it feeds the next.
                out.push((start, &line[start..end]));
                i += if double { 2 } else { 1 };
                start = i;
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    out.push((start, &line[start..]));
    out
}

/// Words of a segment with their byte offsets, quotes removed from their ends.
fn words(segment: &str) -> Vec<(usize, &str)> {
    let mut out = Vec::new();
    let mut at = 0;
    for w in segment.split(' ') {
        if !w.is_empty() && w != "|" {
            out.push((at, w.trim_matches(['"', '\'', '(', ')'])));
        }
        at += w.len() + 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prompts_split_commands_from_output() {
        let block =
            "$ kubectl get pods \\\n    -n kube-system\nNAME      READY\ncoredns   1/1\n$ echo done\ndone\n";
        let s = session(block).unwrap();
        assert_eq!(s.commands, "kubectl get pods \\\n    -n kube-system\necho done\n");
        assert_eq!(s.output, "NAME      READY\ncoredns   1/1\ndone\n");
        assert_eq!(s.origins, [(0, 2), (1, 0), (4, 2)]);
        let s = session("(router#) show ip route\nS* 0.0.0.0/0\n(venv) $ pip list\n").unwrap();
        assert_eq!(s.commands, "show ip route\npip list\n");
        let s = session("$ cat <<EOF > x\n> one\n> EOF\n").unwrap();
        assert_eq!(s.commands, "cat <<EOF > x\none\nEOF\n");
        let s = session("root@db1:~# systemctl restart pg\n[admin@db2 data]$ ls\n").unwrap();
        assert_eq!(s.commands, "systemctl restart pg\nls\n");
        assert_eq!(session("echo no prompt\n# a comment\n"), None);
    }

    #[test]
    fn commands_that_need_a_terminal() {
        let hangs = needs_terminal;
        assert_eq!(hangs("read -p 'Continue?' answer").map(|h| h.0), Some(0));
        assert!(hangs("sudo -i").is_some());
        assert!(hangs("sudo su -").is_some());
        assert!(hangs("FOO=1 vim /etc/hosts").is_some());
        assert_eq!(hangs("cd /tmp && psql mydb").map(|h| h.0), Some(11));
        assert!(hangs("psql -c 'select 1' mydb").is_none());
        assert!(hangs("psql mydb < dump.sql").is_none());
        assert!(hangs("cat q.sql | psql mydb").is_none());
        assert!(hangs("ssh -i key.pem admin@host").is_some());
        assert!(hangs("ssh -p 22 admin@host uptime").is_none());
        assert!(hangs("kubectl edit deploy/x").is_some());
        assert!(hangs("echo 'psql mydb'").is_none());
        assert!(hangs("while read -r line; do echo $line; done").is_none());
        assert!(hangs("git log | less").is_none());
        assert!(hangs("ls # then vim").is_none());
    }
}
