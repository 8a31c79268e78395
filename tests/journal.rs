//! The journal: line format, hash chain, durability, tamper detection,
//! torn writes, resume, and finding sessions in the state directory.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Instant;

use sha2::{Digest, Sha256};
use tempfile::TempDir;

use runsheet::journal::JournalError;
use runsheet::journal::JournalSink;
use runsheet::journal::chain::{LineHash, encode_line};
use runsheet::journal::event::{
    Event, FORMAT_VERSION, Header, Mode, Outcome, Record, SessionOutcome, Signature, Stream,
};
use runsheet::journal::file::{FileJournal, new_session_id};
use runsheet::journal::reader::{Integrity, JournalStream, read_journal};
use runsheet::journal::store::{SessionStatus, list_sessions, resolve_session, state_dir};
use runsheet::runbook::plan::Plan;

fn header(id: &str) -> Header {
    Header {
        format: FORMAT_VERSION,
        session_id: id.to_string(),
        runbook_path: "runbooks/remediation.md".into(),
        runbook_sha256: "ab".repeat(32),
        environment: "development".into(),
        mode: Mode::Live,
        operator: "ana".into(),
        host: "laptop".into(),
        seat: None,
        runsheet_version: "0.1.0".into(),
        targets: Vec::new(),
        only: None,
        rollback_only: false,
        plan: Plan {
            runbook_title: "Remediation".into(),
            environment: "development".into(),
            phases: vec![],
            signoffs: 1,
            ..Plan::default()
        },
        team_journal: None,
    }
}

fn output(step: &str, line: &str) -> Event {
    Event::Output {
        step: step.into(),
        attempt: 1,
        stream: Stream::Stdout,
        lines: vec![line.into()],
    }
}

fn started(step: &str) -> Event {
    Event::StepStarted {
        step: step.into(),
        attempt: 1,
    }
}

fn note(text: &str) -> Event {
    Event::Note {
        who: "ana".into(),
        text: text.into(),
    }
}

/// A finished six-line session: header, start, output, finish, sign-off, end.
fn sample(state: &Path, id: &str) -> PathBuf {
    let mut journal = FileJournal::create(state, header(id)).unwrap();
    journal.append(started("1.1")).unwrap();
    journal.append(output("1.1", "hello from step one")).unwrap();
    journal
        .append(Event::StepFinished {
            step: "1.1".into(),
            attempt: 1,
            outcome: Outcome::Succeeded,
            exit_code: Some(0),
            duration_ms: 12,
            error: None,
        })
        .unwrap();
    journal
        .append(Event::SignedOff {
            step: "1.2".into(),
            signature: Signature {
                who: "ana".into(),
                role: "dba".into(),
                note: "ok".into(),
                preapproved: false,
                seat: None,
            },
        })
        .unwrap();
    journal
        .append(Event::SessionEnded {
            outcome: SessionOutcome::Completed,
            reason: None,
        })
        .unwrap();
    journal.path().to_path_buf()
}

fn lines(path: &Path) -> Vec<Vec<u8>> {
    let bytes = fs::read(path).unwrap();
    bytes
        .split_inclusive(|&b| b == b'\n')
        .map(<[u8]>::to_vec)
        .collect()
}

fn write_lines(path: &Path, lines: &[Vec<u8>]) {
    fs::write(path, lines.concat()).unwrap();
}

fn broken_at(path: &Path) -> (usize, String, usize) {
    let read = read_journal(path).unwrap();
    match read.integrity {
        Integrity::Broken { line, reason } => (line, reason, read.records.len()),
        Integrity::Verified => panic!("tampering with {} went unnoticed", path.display()),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn round_trip_keeps_every_event() {
    let state = TempDir::new().unwrap();
    let mut journal = FileJournal::create(state.path(), header("s1")).unwrap();
    let mut written = Vec::new();
    for event in [
        started("1.1"),
        output("1.1", "é ünïcode \"quoted\" \\ \t"),
        note("a note"),
    ] {
        written.push(journal.append(event).unwrap());
    }
    journal.flush().unwrap();
    let path = journal.path().to_path_buf();
    assert_eq!(path, state.path().join("sessions/s1.jsonl"));
    drop(journal);

    let read = read_journal(&path).unwrap();
    assert_eq!(read.integrity, Integrity::Verified);
    assert!(read.warnings.is_empty(), "{:?}", read.warnings);
    assert_eq!(read.records.len(), 4);
    assert_eq!(read.records[0].event, Event::Header(Box::new(header("s1"))));
    assert_eq!(&read.records[1..], &written[..]);
    assert_eq!(read.good_len, fs::metadata(&path).unwrap().len());

    let streamed: Vec<Record> = JournalStream::open(&path).unwrap().map(Result::unwrap).collect();
    assert_eq!(streamed, read.records);
}

#[test]
fn journal_is_private_and_create_never_overwrites() {
    let state = TempDir::new().unwrap();
    let path = sample(state.path(), "s1");
    assert_eq!(fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
    let sessions = state.path().join("sessions");
    assert_eq!(
        fs::metadata(&sessions).unwrap().permissions().mode() & 0o777,
        0o700
    );

    let before = fs::read(&path).unwrap();
    let err = FileJournal::create(state.path(), header("s1")).unwrap_err();
    assert!(matches!(err, JournalError::Exists { .. }), "{err}");
    assert!(err.to_string().contains("s1.jsonl"), "{err}");
    assert_eq!(fs::read(&path).unwrap(), before);

    let err = FileJournal::create(state.path(), header("../escape")).unwrap_err();
    assert!(matches!(err, JournalError::InvalidSessionId { .. }), "{err}");
}

#[test]
fn seq_and_hash_chain_follow_the_documented_format() {
    let state = TempDir::new().unwrap();
    let path = sample(state.path(), "s1");
    let mut prev = "0".repeat(64);
    for (i, line) in lines(&path).iter().enumerate() {
        let text = std::str::from_utf8(line).unwrap().strip_suffix('\n').unwrap();
        let (body, hash) = text.rsplit_once(",\"hash\":\"").unwrap();
        let hash = hash.strip_suffix("\"}").unwrap();
        let body = format!("{body}}}");
        assert_eq!(
            hash,
            hex(&Sha256::digest(format!("{prev}{body}"))),
            "line {}",
            i + 1
        );
        let value: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(value["seq"], i as u64);
        assert!(
            value["ts"].as_str().unwrap().ends_with('Z'),
            "UTC timestamps: {}",
            value["ts"]
        );
        prev = hash.to_string();
    }
    let read = read_journal(&path).unwrap();
    assert_eq!(read.integrity, Integrity::Verified);
    assert_eq!(read.last_hash, prev);
    let seqs: Vec<u64> = read.records.iter().map(|r| r.seq).collect();
    assert_eq!(seqs, (0..6).collect::<Vec<_>>());
}

#[test]
fn an_edited_byte_is_reported_at_its_line() {
    let state = TempDir::new().unwrap();
    let path = sample(state.path(), "s1");
    let original = lines(&path);

    // A change that keeps the JSON valid: only the hash can tell.
    let mut edited = original.clone();
    let at = edited[2].windows(3).position(|w| w == b"one").unwrap();
    edited[2][at] = b'O';
    write_lines(&path, &edited);
    let (line, reason, kept) = broken_at(&path);
    assert_eq!((line, kept), (3, 2), "{reason}");
    assert!(reason.contains("hash"), "{reason}");

    // A change that breaks the JSON in the middle of the file.
    let mut edited = original.clone();
    edited[3][0] = b'[';
    write_lines(&path, &edited);
    assert_eq!(broken_at(&path).0, 4);

    // An edited hash digit.
    let mut edited = original;
    let n = edited[1].len();
    edited[1][n - 4] = if edited[1][n - 4] == b'0' { b'1' } else { b'0' };
    write_lines(&path, &edited);
    assert_eq!(broken_at(&path).0, 2);
}

#[test]
fn a_deleted_line_is_reported() {
    let state = TempDir::new().unwrap();
    let path = sample(state.path(), "s1");
    let mut edited = lines(&path);
    edited.remove(3);
    write_lines(&path, &edited);
    let (line, reason, kept) = broken_at(&path);
    assert_eq!((line, kept), (4, 3), "{reason}");
    assert!(reason.contains("seq"), "{reason}");

    // Deleting the header breaks line 1.
    let mut edited = lines(&path);
    edited.remove(0);
    write_lines(&path, &edited);
    assert_eq!(broken_at(&path).0, 1);
}

#[test]
fn swapped_lines_are_reported() {
    let state = TempDir::new().unwrap();
    let path = sample(state.path(), "s1");
    let mut edited = lines(&path);
    edited.swap(2, 3);
    write_lines(&path, &edited);
    let (line, reason, kept) = broken_at(&path);
    assert_eq!((line, kept), (3, 2), "{reason}");
}

#[test]
fn an_appended_forged_line_is_reported() {
    let state = TempDir::new().unwrap();
    let path = sample(state.path(), "s1");
    let original = lines(&path);
    let last_hash = LineHash::parse(read_journal(&path).unwrap().last_hash.as_bytes()).unwrap();
    let forge = |event: Event, prev: &LineHash| {
        let mut line = Vec::new();
        encode_line(
            &Record {
                seq: 6,
                ts: chrono::Utc::now(),
                event,
                origin: None,
            },
            prev,
            &mut line,
        )
        .unwrap();
        let mut edited = original.clone();
        edited.push(line);
        write_lines(&path, &edited);
    };

    // The right seq, but a hash that does not continue the chain.
    forge(note("all fine, trust me"), &LineHash::GENESIS);
    let (line, reason, kept) = broken_at(&path);
    assert_eq!((line, kept), (7, 6), "{reason}");
    assert!(reason.contains("hash"), "{reason}");

    // A well-chained line that starts a second session header.
    forge(Event::Header(Box::new(header("s1"))), &last_hash);
    let (line, reason, _) = broken_at(&path);
    assert_eq!(line, 7, "{reason}");
    assert!(reason.contains("header"), "{reason}");
}

#[test]
fn a_torn_last_line_is_dropped_and_resume_cuts_it_off() {
    let state = TempDir::new().unwrap();
    let path = sample(state.path(), "s1");
    let full = fs::read(&path).unwrap();
    fs::write(&path, &full[..full.len() - 20]).unwrap();
    // A line torn by a crash was never synced, so the anchor names the one
    // before it (here the anchor is set back by hand, as the crash leaves it).
    let anchor = path.with_extension("anchor");
    fs::remove_file(&anchor).unwrap();
    let before = read_journal(&path).unwrap();
    let hash = before.last_hash;
    fs::write(&anchor, format!("{{\"seq\":4,\"hash\":\"{hash}\"}}\n")).unwrap();

    let read = read_journal(&path).unwrap();
    assert_eq!(read.integrity, Integrity::Verified);
    assert_eq!(read.records.len(), 5);
    assert_eq!(
        read.warnings,
        vec!["line 6 is incomplete (torn write?) and was ignored".to_string()]
    );
    let good_len = read.good_len;

    let (mut journal, resumed) = FileJournal::open_append(&path).unwrap();
    assert_eq!(resumed.records, read.records);
    assert_eq!(resumed.warnings.len(), 2, "{:?}", resumed.warnings);
    assert_eq!(fs::metadata(&path).unwrap().len(), good_len);
    let record = journal.append(note("resumed after a crash")).unwrap();
    assert_eq!(record.seq, 5);
    drop(journal);

    let read = read_journal(&path).unwrap();
    assert_eq!(read.integrity, Integrity::Verified);
    assert!(read.warnings.is_empty(), "{:?}", read.warnings);
    assert_eq!(read.records.len(), 6);
    assert_eq!(read.records[5], record);
}

#[test]
fn a_complete_last_line_without_its_newline_is_kept() {
    let state = TempDir::new().unwrap();
    let path = sample(state.path(), "s1");
    let full = fs::read(&path).unwrap();
    fs::write(&path, &full[..full.len() - 1]).unwrap();
    let read = read_journal(&path).unwrap();
    assert_eq!(
        (read.integrity.clone(), read.records.len()),
        (Integrity::Verified, 6)
    );

    let (mut journal, _) = FileJournal::open_append(&path).unwrap();
    journal.append(note("after")).unwrap();
    drop(journal);
    let read = read_journal(&path).unwrap();
    assert_eq!((read.integrity, read.records.len()), (Integrity::Verified, 7));
}

/// The session's lock belongs to the runsheet process: when runsheet dies
/// (SIGKILL) while a step's process is forked but has not yet run its
/// program, that process must not keep the session locked, as a lock on an
/// inherited descriptor would (it made resumes after a SIGKILL flaky).
#[test]
fn a_killed_runsheets_forked_child_does_not_keep_the_session_locked() {
    use std::io::BufRead;
    let state = TempDir::new().unwrap();
    let mut holder = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "lock_holder",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("LOCK_HOLDER_STATE", state.path())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(holder.stdout.take().unwrap()).lines();
    let ready = lines
        .find_map(|l| Some(l.ok()?.split_once("READY ")?.1.to_string()))
        .expect("the lock holder never got ready");
    let mut fields = ready.split_whitespace();
    let (grandchild, path) = (
        fields.next().unwrap().parse::<i32>().unwrap(),
        PathBuf::from(fields.next().unwrap()),
    );
    holder.kill().unwrap();
    holder.wait().unwrap();
    let reopened = FileJournal::open_append(&path);
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(grandchild),
        nix::sys::signal::Signal::SIGKILL,
    );
    let (journal, _) = reopened.expect("the killed runsheet's forked child must not hold the lock");
    drop(journal);
}

/// The process [`a_killed_runsheets_forked_child_does_not_keep_the_session_locked`]
/// kills: it holds a session open and has a child forked and waiting before
/// its exec, then says `READY <child pid> <journal>` and waits to be killed.
#[test]
#[ignore = "run by a_killed_runsheets_forked_child_does_not_keep_the_session_locked"]
fn lock_holder() {
    use std::os::unix::process::CommandExt;
    let state = PathBuf::from(std::env::var_os("LOCK_HOLDER_STATE").expect("LOCK_HOLDER_STATE"));
    let live = FileJournal::create(&state, header("forked")).unwrap();
    let (read_end, _write_end) = nix::unistd::pipe().unwrap();
    let read_fd = std::os::fd::AsRawFd::as_raw_fd(&read_end);
    let mut command = std::process::Command::new("true");
    // SAFETY: the child only calls read(2), which is async-signal-safe: it
    // waits there, forked and holding this process's descriptors, for good.
    unsafe {
        command.pre_exec(move || {
            let mut byte = 0u8;
            libc::read(read_fd, (&raw mut byte).cast(), 1);
            Ok(())
        });
    }
    std::thread::spawn(move || command.status());
    let me = std::process::id().to_string();
    let child_of_mine = |e: &fs::DirEntry| {
        let stat = fs::read_to_string(e.path().join("stat")).ok()?;
        let (_, rest) = stat.rsplit_once(')')?;
        (rest.split_whitespace().nth(1) == Some(me.as_str()))
            .then(|| e.file_name().to_string_lossy().into_owned())
    };
    let deadline = Instant::now() + std::time::Duration::from_secs(20);
    let child = loop {
        if let Some(pid) = fs::read_dir("/proc")
            .unwrap()
            .flatten()
            .find_map(|e| child_of_mine(&e))
        {
            break pid;
        }
        assert!(Instant::now() < deadline, "the child never forked");
        std::thread::sleep(std::time::Duration::from_millis(5));
    };
    println!("READY {child} {}", live.path().display());
    loop {
        std::thread::park();
    }
}

#[test]
fn resume_refuses_a_broken_journal_and_a_live_one() {
    let state = TempDir::new().unwrap();
    let live = FileJournal::create(state.path(), header("live")).unwrap();
    let err = FileJournal::open_append(live.path()).unwrap_err();
    assert!(matches!(err, JournalError::Locked { .. }), "{err}");
    drop(live);

    let path = sample(state.path(), "s1");
    let mut edited = lines(&path);
    edited.swap(1, 2);
    write_lines(&path, &edited);
    let before = fs::read(&path).unwrap();
    let err = FileJournal::open_append(&path).unwrap_err();
    assert!(matches!(err, JournalError::Broken { line: 2, .. }), "{err}");
    assert!(err.to_string().contains("s1.jsonl:2:"), "{err}");
    assert_eq!(
        fs::read(&path).unwrap(),
        before,
        "a broken journal is left as evidence"
    );
}

#[test]
fn output_waits_in_memory_until_a_durable_event() {
    let state = TempDir::new().unwrap();
    let mut journal = FileJournal::create(state.path(), header("s1")).unwrap();
    let path = journal.path().to_path_buf();
    let header_only = fs::read(&path).unwrap();

    journal.append(output("1.1", "buffered")).unwrap();
    assert_eq!(
        fs::read(&path).unwrap(),
        header_only,
        "output is batched, not written at once"
    );

    journal.append(note("durable")).unwrap();
    let read = read_journal(&path).unwrap();
    assert_eq!(read.records.len(), 3);
    assert_eq!(read.records[1].event, output("1.1", "buffered"));
}

#[test]
fn output_is_written_on_flush_and_when_the_batch_grows_large() {
    let state = TempDir::new().unwrap();
    let mut journal = FileJournal::create(state.path(), header("s1")).unwrap();
    let path = journal.path().to_path_buf();
    let header_len = fs::metadata(&path).unwrap().len();

    journal.append(output("1.1", "flushed")).unwrap();
    assert_eq!(fs::metadata(&path).unwrap().len(), header_len);
    journal.flush().unwrap();
    assert_eq!(read_journal(&path).unwrap().records.len(), 2);

    // Four 70 KB lines pass the 256 KiB batch limit: written without a flush.
    let long = "x".repeat(70_000);
    let mut appended = 0;
    loop {
        let before = fs::metadata(&path).unwrap().len();
        journal.append(output("1.1", &long)).unwrap();
        appended += 1;
        if fs::metadata(&path).unwrap().len() > before {
            break;
        }
        assert!(appended < 4, "a batch past 256 KiB was not written");
    }
    let read = read_journal(&path).unwrap();
    assert_eq!(read.integrity, Integrity::Verified);
    assert_eq!(read.records.len(), 2 + appended);
}

#[test]
fn a_durable_event_is_on_disk_when_append_returns() {
    let state = TempDir::new().unwrap();
    let mut journal = FileJournal::create(state.path(), header("s1")).unwrap();
    let path = journal.path().to_path_buf();
    // The header is durable as soon as create returns.
    assert_eq!(read_journal(&path).unwrap().records.len(), 1);

    let record = journal.append(started("1.1")).unwrap();
    let read = read_journal(&path).unwrap();
    assert_eq!(read.integrity, Integrity::Verified);
    assert_eq!(read.records.last(), Some(&record));

    let err = journal.append(Event::Header(Box::new(header("s1")))).unwrap_err();
    assert!(matches!(err, JournalError::MisplacedHeader { .. }), "{err}");
}

#[test]
fn dropping_a_journal_writes_its_buffered_output() {
    let state = TempDir::new().unwrap();
    let mut journal = FileJournal::create(state.path(), header("s1")).unwrap();
    let path = journal.path().to_path_buf();
    journal.append(output("1.1", "last words")).unwrap();
    drop(journal);
    assert_eq!(read_journal(&path).unwrap().records.len(), 2);
}

#[test]
fn garbage_never_panics_and_is_never_verified() {
    let state = TempDir::new().unwrap();
    let path = state.path().join("junk.jsonl");
    let mut noise = Vec::new();
    let mut x: u32 = 12345;
    for _ in 0..20_000 {
        x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
        noise.push(if x % 37 == 0 { b'\n' } else { (x >> 16) as u8 });
    }
    let inputs: [&[u8]; 8] = [
        b"",
        b"\n",
        b"\n\n",
        b"{}",
        b"{}\n",
        b"\xff\xfe\n",
        b"{\"seq\":0",
        &noise,
    ];
    for input in inputs {
        fs::write(&path, input).unwrap();
        let read = read_journal(&path).unwrap();
        assert!(read.records.is_empty());
        assert!(
            matches!(read.integrity, Integrity::Broken { line: 1, .. }),
            "{:?}",
            read.integrity
        );
        assert!(FileJournal::open_append(&path).is_err());
    }
    let err = read_journal(&state.path().join("missing.jsonl")).unwrap_err();
    assert!(err.to_string().contains("missing.jsonl"), "{err}");
}

#[test]
fn session_ids_sort_by_time_and_differ() {
    let a = new_session_id();
    let b = new_session_id();
    assert_ne!(a, b);
    assert_eq!(a.len(), "20261124-021503-ab12cd".len(), "{a}");
    assert!(
        a.bytes()
            .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c) || c == b'-'),
        "{a}"
    );
    assert!(a[..15] <= b[..15]);
}

#[test]
fn list_sessions_reads_headers_and_tails() {
    let state = TempDir::new().unwrap();
    assert!(
        list_sessions(state.path()).unwrap().sessions.is_empty(),
        "no sessions directory yet"
    );

    sample(state.path(), "20260101-000000-aaaaaa");
    let mut detached = FileJournal::create(state.path(), header("20260101-000001-bbbbbb")).unwrap();
    detached.append(Event::Detached { who: "ana".into() }).unwrap();
    drop(detached);
    let mut running = FileJournal::create(state.path(), header("20260102-000000-cccccc")).unwrap();
    running.append(Event::Detached { who: "ana".into() }).unwrap();
    running
        .append(Event::Resumed {
            operator: "bo".into(),
            host: "h".into(),
            seat: None,
            runbook_sha256: "ab".repeat(32),
            plan: None,
            run: false,
            taken_over_from: None,
            targets: None,
        })
        .unwrap();
    // More output than the tail window, after the last state change.
    let long = "y".repeat(2000);
    for _ in 0..100 {
        running.append(output("1.1", &long)).unwrap();
    }
    let last = running.append(output("1.1", "the very last line")).unwrap();
    running.flush().unwrap();
    // A last line longer than the tail window.
    let mut wide = FileJournal::create(state.path(), header("20260103-000000-dddddd")).unwrap();
    wide.append(Event::Detached { who: "ana".into() }).unwrap();
    let wide_last = wide.append(output("1.1", &"z".repeat(100_000))).unwrap();
    drop(wide);
    let sessions_dir = state.path().join("sessions");
    fs::write(sessions_dir.join("broken.jsonl"), b"not a journal\n").unwrap();
    fs::write(sessions_dir.join("notes.txt"), b"ignored").unwrap();

    let list = list_sessions(state.path()).unwrap();
    let ids: Vec<&str> = list.sessions.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "20260101-000000-aaaaaa",
            "20260101-000001-bbbbbb",
            "20260102-000000-cccccc",
            "20260103-000000-dddddd"
        ]
    );
    let status: Vec<SessionStatus> = list.sessions.iter().map(|s| s.outcome).collect();
    assert_eq!(
        status,
        [
            SessionStatus::Ended(SessionOutcome::Completed),
            SessionStatus::Detached,
            SessionStatus::Unfinished,
            SessionStatus::Detached
        ]
    );
    assert_eq!(list.sessions[3].last_event, wide_last.ts);
    let s = &list.sessions[2];
    assert_eq!(s.last_event, last.ts);
    assert!(s.started <= s.last_event);
    assert_eq!(s.path, sessions_dir.join("20260102-000000-cccccc.jsonl"));
    assert_eq!(
        (s.environment.as_str(), s.operator.as_str(), s.mode),
        ("development", "ana", Mode::Live)
    );
    assert_eq!(s.runbook_path, "runbooks/remediation.md");
    assert_eq!(s.runbook_sha256, "ab".repeat(32));
    assert_eq!(list.unreadable.len(), 1);
    assert_eq!(list.unreadable[0].path, sessions_dir.join("broken.jsonl"));
    assert!(
        list.unreadable[0].reason.contains("line 1"),
        "{}",
        list.unreadable[0].reason
    );
    drop(running);
}

#[test]
fn resolve_session_by_id_prefix_or_path() {
    let state = TempDir::new().unwrap();
    let dir = state.path();
    let a = sample(dir, "20260101-000000-aaaaaa");
    let b = sample(dir, "20260101-000001-bbbbbb");

    assert_eq!(resolve_session(dir, "20260101-000000-aaaaaa").unwrap(), a);
    assert_eq!(resolve_session(dir, "20260101-000001").unwrap(), b);
    assert_eq!(resolve_session(dir, a.to_str().unwrap()).unwrap(), a);

    let err = resolve_session(dir, "20260101").unwrap_err();
    assert!(matches!(err, JournalError::AmbiguousSession { .. }), "{err}");
    assert!(err.to_string().contains("20260101-000000-aaaaaa"), "{err}");

    let err = resolve_session(dir, "nope").unwrap_err();
    let sessions = dir.join("sessions");
    assert_eq!(
        err.to_string(),
        format!(
            "no session 'nope' in {}; `runsheet sessions` lists them",
            sessions.display()
        )
    );
    let err = resolve_session(dir, "/no/such/journal.jsonl").unwrap_err();
    assert!(matches!(err, JournalError::NoJournal { .. }), "{err}");
    assert!(resolve_session(dir, "").is_err());
}

#[test]
fn state_dir_prefers_the_command_line() {
    let dir = TempDir::new().unwrap();
    assert_eq!(state_dir(Some(dir.path())).unwrap(), dir.path());
}

#[test]
fn a_large_journal_reads_and_verifies() {
    const EVENTS: usize = 200_000;
    let state = TempDir::new().unwrap();
    let mut journal = FileJournal::create(state.path(), header("big")).unwrap();
    let started = Instant::now();
    for i in 0..EVENTS {
        journal
            .append(Event::Output {
                step: "4.2".into(),
                attempt: 1,
                stream: Stream::Stdout,
                lines: vec![format!("INSERT 0 1 -- row {i}")],
            })
            .unwrap();
    }
    journal.flush().unwrap();
    let path = journal.path().to_path_buf();
    drop(journal);
    let write_time = started.elapsed();

    let started = Instant::now();
    let read = read_journal(&path).unwrap();
    let read_time = started.elapsed();
    assert_eq!(read.integrity, Integrity::Verified);
    assert_eq!(read.records.len(), EVENTS + 1);
    assert_eq!(read.records[EVENTS].seq, EVENTS as u64);

    let started = Instant::now();
    let mut stream = JournalStream::open(&path).unwrap();
    let mut count = 0;
    for record in stream.by_ref() {
        record.expect("read");
        count += 1;
    }
    let stream_time = started.elapsed();
    assert_eq!((count, stream.integrity()), (EVENTS + 1, &Integrity::Verified));

    let size = fs::metadata(&path).unwrap().len();
    println!(
        "{EVENTS} output events, {:.1} MB: write {write_time:.2?}, read+verify {read_time:.2?}, \
         streamed {stream_time:.2?}",
        size as f64 / 1e6
    );
}
