//! Source text plumbing: byte offsets to line:col, and the checks a file
//! must pass before it is text at all (not binary, valid UTF-8).

use super::diagnostic::Diagnostic;
use super::model::SourcePos;

/// Maps byte offsets of one text to 1-based line:col positions. Line starts
/// are computed once, so each lookup is a binary search plus one short scan.
pub(crate) struct SourceMap<'a> {
    text: &'a str,
    line_starts: Vec<usize>,
}

impl<'a> SourceMap<'a> {
    pub(crate) fn new(text: &'a str) -> Self {
        let mut line_starts = vec![0];
        line_starts.extend(
            text.bytes()
                .enumerate()
                .filter(|&(_, b)| b == b'\n')
                .map(|(i, _)| i + 1),
        );
        SourceMap { text, line_starts }
    }

    /// The position of byte `offset` (clamped to the text, moved back to a
    /// character boundary). Columns count characters.
    pub(crate) fn pos(&self, offset: usize) -> SourcePos {
        let mut offset = offset.min(self.text.len());
        while !self.text.is_char_boundary(offset) {
            offset -= 1;
        }
        let line = self.line_starts.partition_point(|&start| start <= offset);
        let start = self.line_starts[line - 1];
        let col = self.text[start..offset].chars().count() + 1;
        SourcePos {
            line: saturate(line),
            col: saturate(col),
        }
    }

    /// The byte offset where the line holding `offset` starts.
    pub(crate) fn line_start(&self, offset: usize) -> usize {
        let line = self.line_starts.partition_point(|&start| start <= offset);
        self.line_starts[line.max(1) - 1]
    }
}

fn saturate(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// The text of a runbook file, or the diagnostic saying why it is not text.
pub(crate) fn decode(bytes: &[u8]) -> Result<&str, Diagnostic> {
    // Git's heuristic: a NUL byte means binary. Checked first because binary
    // data is usually invalid UTF-8 too, and "binary" is the clearer message.
    if let Some(nul) = bytes.iter().position(|&b| b == 0) {
        return Err(Diagnostic::error(
            byte_pos(bytes, nul),
            "the file contains a NUL byte, so it is binary, not a Markdown runbook; check the path",
        ));
    }
    std::str::from_utf8(bytes).map_err(|e| {
        let bad = e.valid_up_to();
        Diagnostic::error(
            byte_pos(bytes, bad),
            format!(
                "the file is not valid UTF-8 (byte 0x{:02X}); save the runbook as UTF-8 text",
                bytes.get(bad).copied().unwrap_or(0)
            ),
        )
    })
}

/// The position of `offset` in bytes that may not be UTF-8: columns count
/// the bytes that start a character, which is exact for the valid prefix.
fn byte_pos(bytes: &[u8], offset: usize) -> SourcePos {
    let before = &bytes[..offset.min(bytes.len())];
    let line_start = before.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
    let col = before[line_start..].iter().filter(|&&b| b & 0xC0 != 0x80).count() + 1;
    SourcePos {
        line: saturate(line),
        col: saturate(col),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_count_characters() {
        let map = SourceMap::new("ab\nçé x\n\nz");
        assert_eq!(map.pos(0), SourcePos { line: 1, col: 1 });
        assert_eq!(map.pos(3), SourcePos { line: 2, col: 1 });
        assert_eq!(map.pos(8), SourcePos { line: 2, col: 4 });
        // Inside a multi-byte character: moved back to its start.
        assert_eq!(map.pos(4), SourcePos { line: 2, col: 1 });
        assert_eq!(map.pos(11), SourcePos { line: 4, col: 1 });
        assert_eq!(map.pos(999), SourcePos { line: 4, col: 2 });
    }

    #[test]
    fn invalid_utf8_is_located() {
        let err = decode(b"ok\nab\xffc").unwrap_err();
        assert_eq!(err.pos, SourcePos { line: 2, col: 3 });
        assert!(err.message.contains("0xFF"));
        let err = decode(b"x\0").unwrap_err();
        assert!(err.message.contains("binary"));
    }
}
