//! The journal reader on arbitrary bytes: the verified records before the
//! first bad line and that line's number, never a panic; the records it
//! accepts fold (with every query the front ends make) and report.
#![no_main]

#[path = "../../tests/common/fold.rs"]
mod fold;

use std::io::Cursor;
use std::path::Path;

use libfuzzer_sys::fuzz_target;
use runsheet::journal::reader::{Integrity, JournalStream};

fuzz_target!(|data: &[u8]| {
    let mut stream = JournalStream::from_reader(Cursor::new(data), Path::new("fuzz.jsonl"));
    let records: Vec<_> = stream
        .by_ref()
        .map(|r| r.expect("reading from memory cannot fail"))
        .collect();
    if let Integrity::Broken { line, .. } = stream.integrity() {
        assert!(*line >= 1);
        assert_eq!(records.len(), line - 1, "the records stop before the bad line");
    }
    if let Some(state) = fold::fold_every_prefix(&records) {
        fold::report_every_format(&state);
    }
});
