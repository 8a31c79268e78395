//! The fold on arbitrary events: every input line that parses as a journal
//! record (without its hash; a header first and only there) is renumbered
//! and chained as the journal does,
//! so the fuzzer reaches the fold with orders and values no session would
//! write. The chained journal must read back exactly as written, and its
//! fold, queries and report must never panic.
#![no_main]

#[path = "../../tests/common/fold.rs"]
mod fold;

use std::io::Cursor;
use std::path::Path;

use libfuzzer_sys::fuzz_target;
use runsheet::journal::chain::{LineHash, encode_line};
use runsheet::journal::event::{Event, Record};
use runsheet::journal::reader::{Integrity, JournalStream};

fuzz_target!(|data: &[u8]| {
    let (mut prev, mut bytes, mut records) = (LineHash::GENESIS, Vec::new(), Vec::new());
    for line in data.split(|&b| b == b'\n') {
        let Ok(mut record) = serde_json::from_slice::<Record>(line) else {
            continue;
        };
        // The journal's own rule: a header first, and only there.
        if matches!(record.event, Event::Header(_)) != records.is_empty() {
            continue;
        }
        record.seq = records.len() as u64;
        match encode_line(&record, &prev, &mut bytes) {
            Ok(hash) => prev = hash,
            Err(_) => continue,
        }
        records.push(record);
    }
    let mut stream = JournalStream::from_reader(Cursor::new(&bytes), Path::new("fuzz.jsonl"));
    let read: Vec<Record> = stream
        .by_ref()
        .map(|r| r.expect("reading from memory cannot fail"))
        .collect();
    if records.is_empty() {
        assert!(!stream.integrity().is_verified());
        return;
    }
    assert_eq!(stream.integrity(), &Integrity::Verified);
    assert_eq!(read, records, "the journal reads back as written");
    if let Some(state) = fold::fold_every_prefix(&read) {
        fold::report_every_format(&state);
    }
});
