//! Splitting a SQL script into statements, the way psql does.
//!
//! Each statement is sent to the server on its own, so that its progress can
//! be logged, its rows captured, and an error mapped back to a line of the
//! step. The lexer knows PostgreSQL's quoting rules ('strings' with ''
//! escapes, E'\'' strings, "identifiers", $tag$ dollar quotes $tag$, -- and
//! nested /* */ comments) and, like psql, does not end a statement at a `;`
//! inside parentheses or inside the `BEGIN ... END` body of a SQL-standard
//! `CREATE FUNCTION`/`CREATE PROCEDURE`. Unterminated quotes and comments run
//! to the end of the script; no input makes it panic.

/// One statement of a script.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    /// The statement without its terminating `;`, leading comments and
    /// surrounding whitespace.
    pub text: String,
    /// Byte offset of `text` in the script.
    pub offset: usize,
    /// 1-based line of `text`'s start in the script.
    pub line: u32,
}

/// Split `sql` into its non-empty statements.
pub fn split(sql: &str) -> Vec<Statement> {
    let mut lexer = Lexer::new(sql);
    let mut statements = Vec::new();
    let mut current = StatementState::default();
    while let Some(token) = lexer.next_token() {
        match token.kind {
            TokenKind::Comment => continue,
            TokenKind::Semicolon if current.paren_depth == 0 && current.begin_depth == 0 => {
                if let Some(start) = current.start {
                    push_statement(&mut statements, sql, start, token.start);
                }
                current = StatementState::default();
                continue;
            }
            TokenKind::Semicolon => {}
            TokenKind::Open => current.paren_depth += 1,
            TokenKind::Close => current.paren_depth = current.paren_depth.saturating_sub(1),
            TokenKind::Word => current.word(&sql[token.start..token.end]),
            TokenKind::Quoted | TokenKind::Other => {}
        }
        current.start.get_or_insert(token.start);
    }
    if let Some(start) = current.start {
        push_statement(&mut statements, sql, start, sql.len());
    }
    statements
}

fn push_statement(statements: &mut Vec<Statement>, sql: &str, start: usize, end: usize) {
    let text = sql[start..end].trim_end();
    if !text.is_empty() {
        statements.push(Statement {
            text: text.to_string(),
            offset: start,
            line: line_col(sql, start).0,
        });
    }
}

/// The 1-based line and column (counted in characters) of byte `offset` in
/// `text`; an offset past the end or inside a character is clamped back.
pub fn line_col(text: &str, offset: usize) -> (u32, u32) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.bytes().filter(|&b| b == b'\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let col = before[line_start..].chars().count() + 1;
    (to_u32(line), to_u32(col))
}

fn to_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// What psql tracks to decide whether a `;` ends the statement.
#[derive(Default)]
struct StatementState {
    start: Option<usize>,
    paren_depth: u32,
    begin_depth: u32,
    /// How many words the statement has had so far.
    words: usize,
    /// The first letters of the first four words, when they are one of
    /// CREATE, OR, REPLACE, FUNCTION, PROCEDURE (psql's heuristic).
    heads: [u8; 4],
}

impl StatementState {
    fn word(&mut self, word: &str) {
        let lower = word.to_ascii_lowercase();
        if self.words < self.heads.len()
            && matches!(
                lower.as_str(),
                "create" | "or" | "replace" | "function" | "procedure"
            )
        {
            self.heads[self.words] = lower.as_bytes()[0];
        }
        self.words += 1;
        let h = self.heads;
        let in_routine = h[0] == b'c'
            && (h[1] == b'f'
                || h[1] == b'p'
                || (h[1] == b'o' && h[2] == b'r' && (h[3] == b'f' || h[3] == b'p')));
        if in_routine && self.paren_depth == 0 {
            match lower.as_str() {
                "begin" => self.begin_depth += 1,
                // CASE also ends with END; it only matters inside a BEGIN.
                "case" if self.begin_depth > 0 => self.begin_depth += 1,
                "end" => self.begin_depth = self.begin_depth.saturating_sub(1),
                _ => {}
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TokenKind {
    /// A keyword or unquoted identifier.
    Word,
    /// A string, quoted identifier or dollar-quoted body.
    Quoted,
    Comment,
    Semicolon,
    Open,
    Close,
    /// Numbers, operators, parameters: anything else.
    Other,
}

#[derive(Debug, Clone, Copy)]
struct Token {
    kind: TokenKind,
    start: usize,
    end: usize,
}

/// A byte-level lexer. Every delimiter it looks for is ASCII, and UTF-8
/// continuation bytes are never ASCII, so every token boundary it produces is
/// a character boundary.
struct Lexer<'a> {
    src: &'a [u8],
    pos: usize,
}

fn is_ident_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_' || b >= 0x80
}

fn is_ident_char(b: u8) -> bool {
    is_ident_start(b) || b.is_ascii_digit() || b == b'$'
}

impl<'a> Lexer<'a> {
    fn new(src: &'a str) -> Self {
        Lexer {
            src: src.as_bytes(),
            pos: 0,
        }
    }

    fn peek(&self, ahead: usize) -> Option<u8> {
        self.src.get(self.pos + ahead).copied()
    }

    fn next_token(&mut self) -> Option<Token> {
        while self.peek(0).is_some_and(|b| b.is_ascii_whitespace()) {
            self.pos += 1;
        }
        let start = self.pos;
        let b = self.peek(0)?;
        let kind = match b {
            b'-' if self.peek(1) == Some(b'-') => {
                self.pos = self.find_from(self.pos, b"\n").unwrap_or(self.src.len());
                TokenKind::Comment
            }
            b'/' if self.peek(1) == Some(b'*') => {
                self.block_comment();
                TokenKind::Comment
            }
            b'\'' => {
                self.pos += 1;
                self.quoted(b'\'', false);
                TokenKind::Quoted
            }
            b'"' => {
                self.pos += 1;
                self.quoted(b'"', false);
                TokenKind::Quoted
            }
            b'$' => self.dollar(),
            b';' => {
                self.pos += 1;
                TokenKind::Semicolon
            }
            b'(' => {
                self.pos += 1;
                TokenKind::Open
            }
            b')' => {
                self.pos += 1;
                TokenKind::Close
            }
            b if is_ident_start(b) => {
                // E'...' (escape string) and its kin B'', X'', U&'', N''.
                let escape = matches!(b, b'e' | b'E');
                if self.peek(1) == Some(b'\'')
                    && matches!(b, b'e' | b'E' | b'b' | b'B' | b'x' | b'X' | b'n' | b'N')
                {
                    self.pos += 2;
                    self.quoted(b'\'', escape);
                    TokenKind::Quoted
                } else if matches!(b, b'u' | b'U')
                    && self.peek(1) == Some(b'&')
                    && self.peek(2) == Some(b'\'')
                {
                    self.pos += 3;
                    self.quoted(b'\'', false);
                    TokenKind::Quoted
                } else {
                    while self.peek(0).is_some_and(is_ident_char) {
                        self.pos += 1;
                    }
                    TokenKind::Word
                }
            }
            b if b.is_ascii_digit() => {
                // A number (1e10, 0x1F, 1_000) is one token, so its letters are not words.
                while self
                    .peek(0)
                    .is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.')
                {
                    self.pos += 1;
                }
                TokenKind::Other
            }
            _ => {
                self.pos += 1;
                TokenKind::Other
            }
        };
        Some(Token {
            kind,
            start,
            end: self.pos,
        })
    }

    fn find_from(&self, from: usize, needle: &[u8]) -> Option<usize> {
        self.src
            .get(from..)?
            .windows(needle.len())
            .position(|w| w == needle)
            .map(|i| from + i)
    }

    /// A `/* */` comment, which nests; the opening `/*` is at `pos`.
    fn block_comment(&mut self) {
        self.pos += 2;
        let mut depth = 1u32;
        while depth > 0 {
            match (self.peek(0), self.peek(1)) {
                (None, _) => return,
                (Some(b'/'), Some(b'*')) => {
                    depth += 1;
                    self.pos += 2;
                }
                (Some(b'*'), Some(b'/')) => {
                    depth -= 1;
                    self.pos += 2;
                }
                _ => self.pos += 1,
            }
        }
    }

    /// The rest of a quoted token after its opening quote: a doubled quote is
    /// an escaped quote, and in E'' strings a backslash escapes the next byte.
    fn quoted(&mut self, quote: u8, backslash_escapes: bool) {
        while let Some(b) = self.peek(0) {
            self.pos += 1;
            if b == quote {
                if self.peek(0) == Some(quote) {
                    self.pos += 1;
                } else {
                    return;
                }
            } else if b == b'\\' && backslash_escapes && self.peek(0).is_some() {
                self.pos += 1;
            }
        }
    }

    /// `$tag$ ... $tag$`, or a lone `$` (a parameter such as `$1` starts with a digit).
    fn dollar(&mut self) -> TokenKind {
        let mut end = self.pos + 1;
        if self.src.get(end).is_some_and(|&b| is_ident_start(b)) {
            while self
                .src
                .get(end)
                .is_some_and(|&b| is_ident_start(b) || b.is_ascii_digit())
            {
                end += 1;
            }
        }
        if self.src.get(end) != Some(&b'$') {
            self.pos += 1;
            return TokenKind::Other;
        }
        let delimiter = &self.src[self.pos..=end];
        self.pos = match self.find_from(end + 1, delimiter) {
            Some(close) => close + delimiter.len(),
            None => self.src.len(),
        };
        TokenKind::Quoted
    }
}

/// The first `n` words of a statement, upper-cased, outside quotes and comments.
fn leading_words(stmt: &str, n: usize) -> Vec<String> {
    let mut lexer = Lexer::new(stmt);
    let mut words = Vec::new();
    while words.len() < n
        && let Some(token) = lexer.next_token()
    {
        match token.kind {
            TokenKind::Word => words.push(stmt[token.start..token.end].to_ascii_uppercase()),
            TokenKind::Comment => {}
            // Keep the places of quoted names and punctuation, so patterns
            // such as `REINDEX (VERBOSE) INDEX CONCURRENTLY` still line up.
            _ => words.push(stmt[token.start..token.end].to_string()),
        }
    }
    words
}

/// Whether PostgreSQL refuses to run `stmt` inside a transaction block
/// ("... cannot run inside a transaction block").
pub fn needs_no_transaction(stmt: &str) -> bool {
    let words = leading_words(stmt, 16);
    let w: Vec<&str> = words.iter().map(String::as_str).collect();
    let has = |word: &str| w.contains(&word);
    match w.as_slice() {
        ["VACUUM", ..] => true,
        ["CREATE", "DATABASE" | "TABLESPACE" | "SUBSCRIPTION", ..] => true,
        ["DROP", "DATABASE" | "TABLESPACE" | "SUBSCRIPTION", ..] => true,
        ["ALTER", "SYSTEM", ..] => true,
        // ALTER DATABASE name SET TABLESPACE (not ALTER DATABASE name SET param).
        ["ALTER", "DATABASE", _, "SET", "TABLESPACE", ..] => true,
        ["ALTER", "SUBSCRIPTION", _, "REFRESH", "PUBLICATION", ..] => true,
        ["ALTER", "TABLE", ..] => has("DETACH") && has("CONCURRENTLY"),
        ["CREATE", "INDEX", "CONCURRENTLY", ..]
        | ["CREATE", "UNIQUE", "INDEX", "CONCURRENTLY", ..]
        | ["DROP", "INDEX", "CONCURRENTLY", ..] => true,
        // REINDEX [ ( options ) ] { INDEX | TABLE | SCHEMA | DATABASE | SYSTEM } [ CONCURRENTLY ] name
        ["REINDEX", rest @ ..] => {
            let rest = match rest {
                ["(", ..] => rest
                    .iter()
                    .position(|t| *t == ")")
                    .map_or(&[][..], |close| &rest[close + 1..]),
                _ => rest,
            };
            matches!(
                rest,
                ["SCHEMA" | "DATABASE" | "SYSTEM", ..] | [_, "CONCURRENTLY", ..]
            )
        }
        // CLUSTER without a table re-clusters every table, one transaction each.
        ["CLUSTER"] | ["CLUSTER", "VERBOSE"] | ["CLUSTER", "(", ..] => {
            !w.iter().skip_while(|t| **t != ")").skip(1).any(|t| !t.is_empty())
        }
        ["COMMIT" | "ROLLBACK", "PREPARED", ..] => true,
        ["DISCARD", "ALL"] => true,
        _ => false,
    }
}

/// A statement that controls the transaction the step runs in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxControl {
    /// `BEGIN`, `START TRANSACTION`.
    Begin,
    /// `COMMIT`, `END`.
    Commit,
    /// `ROLLBACK`, `ABORT` (not `ROLLBACK TO SAVEPOINT`).
    Rollback,
}

/// Recognise `BEGIN`/`COMMIT`/`ROLLBACK` and their synonyms: the runner owns
/// the step's transaction, so it must not let a script end it by itself
/// (a `COMMIT` in a dry run would make the rest of it permanent).
pub fn transaction_control(stmt: &str) -> Option<TxControl> {
    let words = leading_words(stmt, 3);
    let w: Vec<&str> = words.iter().map(String::as_str).collect();
    match w.as_slice() {
        ["BEGIN", ..] | ["START", "TRANSACTION", ..] => Some(TxControl::Begin),
        ["COMMIT" | "ROLLBACK", "PREPARED", ..] => None,
        ["ROLLBACK" | "ABORT", "TO", ..] | ["ROLLBACK" | "ABORT", "WORK" | "TRANSACTION", "TO", ..] => None,
        ["COMMIT" | "END", ..] => Some(TxControl::Commit),
        ["ROLLBACK" | "ABORT", ..] => Some(TxControl::Rollback),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(sql: &str) -> Vec<String> {
        split(sql).into_iter().map(|s| s.text).collect()
    }

    #[test]
    fn splits_on_semicolons_and_drops_empty_statements() {
        assert_eq!(
            texts("select 1; select 2;;  ; select 3"),
            ["select 1", "select 2", "select 3"]
        );
        assert!(texts("").is_empty());
        assert!(texts(" ;; -- nothing\n /* here */ ;").is_empty());
    }

    #[test]
    fn offsets_and_lines_point_at_the_statement_start() {
        let sql = "-- header\nselect 1;\n\n  /* c */ update t\n set a = 1;";
        let stmts = split(sql);
        assert_eq!(stmts.len(), 2);
        assert_eq!(stmts[0].line, 2);
        assert_eq!(&sql[stmts[0].offset..stmts[0].offset + 8], "select 1");
        assert_eq!(stmts[1].line, 4);
        assert_eq!(stmts[1].text, "update t\n set a = 1");
        assert_eq!(&sql[stmts[1].offset..].trim_end_matches(';'), &stmts[1].text);
    }

    #[test]
    fn quotes_hide_semicolons() {
        assert_eq!(texts("select 'a;b'; select 2"), ["select 'a;b'", "select 2"]);
        assert_eq!(
            texts("select 'it''s; fine'; select 2"),
            ["select 'it''s; fine'", "select 2"]
        );
        assert_eq!(
            texts(r"select E'a\';b'; select 2"),
            [r"select E'a\';b'", "select 2"]
        );
        assert_eq!(texts(r"select e'\\'; select 2"), [r"select e'\\'", "select 2"]);
        // A standard string ends at the quote even after a backslash.
        assert_eq!(texts(r"select 'a\'; select 2"), [r"select 'a\'", "select 2"]);
        assert_eq!(
            texts(r#"select 1 as "x;""y"; select 2"#),
            [r#"select 1 as "x;""y""#, "select 2"]
        );
        assert_eq!(texts("select U&'d;'; select 2"), ["select U&'d;'", "select 2"]);
    }

    #[test]
    fn identifiers_ending_in_e_do_not_start_escape_strings() {
        // `type'...'` is a typed literal, not an E string: the backslash is literal.
        assert_eq!(
            texts(r"select date'\'; select 2"),
            [r"select date'\'", "select 2"]
        );
    }

    #[test]
    fn dollar_quotes() {
        let sql = "create function f() returns int as $$ begin; return 1; end $$ language plpgsql; select 2";
        assert_eq!(texts(sql).len(), 2);
        let sql = "do $body$ begin raise notice 'a;$$;'; end $body$; select 2";
        assert_eq!(
            texts(sql),
            ["do $body$ begin raise notice 'a;$$;'; end $body$", "select 2"]
        );
        // $1 is a parameter and a$b$ an identifier, neither a quote.
        assert_eq!(
            texts("select $1; select a$b$; select 3"),
            ["select $1", "select a$b$", "select 3"]
        );
    }

    #[test]
    fn comments_hide_semicolons_and_nest() {
        assert_eq!(
            texts("select 1 -- a; b\n; select 2"),
            ["select 1 -- a; b", "select 2"]
        );
        assert_eq!(
            texts("select /* a /* b; */ c; */ 1; select 2"),
            ["select /* a /* b; */ c; */ 1", "select 2"]
        );
        // Inside a string, comment starters are text.
        assert_eq!(
            texts("select '--'; select '/*'; select 3"),
            ["select '--'", "select '/*'", "select 3"]
        );
    }

    #[test]
    fn parentheses_and_sql_function_bodies_keep_their_semicolons() {
        let rule = "create rule r as on insert to t do also (insert into a values (1); insert into b values (2)); select 1";
        assert_eq!(texts(rule).len(), 2);
        let body = "create or replace function f() returns int language sql\nbegin atomic\n  select 1;\n  select case when true then 2 end;\nend;\nselect 3";
        let stmts = texts(body);
        assert_eq!(stmts.len(), 2, "{stmts:?}");
        assert!(stmts[0].ends_with("end"));
        // A transaction BEGIN is not a body.
        assert_eq!(texts("begin; select 1; end; select 2").len(), 4);
        // CASE ... END outside a routine changes nothing.
        assert_eq!(texts("select case when true then 1 end; select 2").len(), 2);
    }

    #[test]
    fn unterminated_constructs_run_to_the_end() {
        assert_eq!(texts("select 'abc; select 2"), ["select 'abc; select 2"]);
        assert_eq!(texts("select \"abc; select 2"), ["select \"abc; select 2"]);
        assert_eq!(texts("select $q$ abc; select 2"), ["select $q$ abc; select 2"]);
        assert_eq!(texts("select 1 /* abc; select 2"), ["select 1 /* abc; select 2"]);
        assert_eq!(texts("select E'abc\\"), ["select E'abc\\"]);
        assert_eq!(texts("select 1 -- trailing"), ["select 1 -- trailing"]);
    }

    #[test]
    fn never_panics_on_odd_input() {
        let samples = [
            "$",
            "$$",
            "$a",
            "$a$",
            "'",
            "\"",
            "E'",
            "E'\\",
            "U&",
            "u&'",
            "/*",
            "/*/",
            "*/",
            "--",
            "-",
            "(",
            ")",
            ")))(((;",
            "é;ü'ß'",
            "\u{0}",
            "$é$x$é$;",
            "x'",
            "e",
            "$1$",
        ];
        for s in samples {
            let stmts = split(s);
            for st in &stmts {
                assert!(s.is_char_boundary(st.offset));
            }
            let _ = needs_no_transaction(s);
            let _ = transaction_control(s);
        }
        // Every prefix of a tricky script.
        let script = "select 'a''b', E'\\'', \"q\"\"\", $t$x$t$, $$y$$ /* /* */ */ -- c\n; é ;";
        for (i, _) in script.char_indices() {
            let _ = split(&script[..i]);
        }
    }

    #[test]
    fn multibyte_text_keeps_offsets_on_character_boundaries() {
        let sql = "select 'é;'; select 'ü'; /* ß */ select 3";
        let stmts = split(sql);
        assert_eq!(stmts.len(), 3);
        for st in &stmts {
            assert_eq!(&sql[st.offset..st.offset + st.text.len()], st.text);
        }
    }

    #[test]
    fn line_col_counts_characters() {
        let sql = "ab\néx yz";
        assert_eq!(line_col(sql, 0), (1, 1));
        assert_eq!(line_col(sql, 3), (2, 1));
        assert_eq!(line_col(sql, 6), (2, 3));
        assert_eq!(line_col(sql, 4), (2, 1), "inside a character: clamped back");
        assert_eq!(line_col(sql, 999), (2, 6));
    }

    #[test]
    fn statements_that_cannot_run_in_a_transaction() {
        let yes = [
            "CREATE INDEX CONCURRENTLY idx ON t (a)",
            "create unique index concurrently if not exists idx on t (a)",
            "DROP INDEX CONCURRENTLY idx",
            "REINDEX INDEX CONCURRENTLY idx",
            "REINDEX (VERBOSE) TABLE CONCURRENTLY t",
            "REINDEX DATABASE db",
            "REINDEX SCHEMA public",
            "REINDEX SYSTEM db",
            "VACUUM",
            "vacuum (analyze) t",
            "VACUUM FULL t",
            "CREATE DATABASE x",
            "DROP DATABASE IF EXISTS x",
            "CREATE TABLESPACE ts LOCATION '/x'",
            "DROP TABLESPACE ts",
            "ALTER SYSTEM SET work_mem = '8MB'",
            "ALTER DATABASE d SET TABLESPACE ts",
            "CLUSTER",
            "CLUSTER VERBOSE",
            "CLUSTER (VERBOSE)",
            "COMMIT PREPARED 'x'",
            "ROLLBACK PREPARED 'x'",
            "DISCARD ALL",
            "ALTER TABLE p DETACH PARTITION c CONCURRENTLY",
            "CREATE SUBSCRIPTION s CONNECTION 'x' PUBLICATION p",
            "-- comment first\nVACUUM",
        ];
        for s in yes {
            assert!(needs_no_transaction(s), "{s}");
        }
        let no = [
            "CREATE INDEX idx ON t (a)",
            "CREATE INDEX idx ON t (concurrently)",
            "CREATE INDEX idx ON t ((a)) WHERE b = 'CONCURRENTLY'",
            "REINDEX INDEX idx",
            "REINDEX TABLE t",
            "ANALYZE t",
            "ALTER DATABASE d SET work_mem = '8MB'",
            "ALTER TYPE mood ADD VALUE 'meh'",
            "CLUSTER t USING idx",
            "CLUSTER (VERBOSE) t",
            "REFRESH MATERIALIZED VIEW CONCURRENTLY mv",
            "SELECT 'VACUUM'",
            "ALTER TABLE p DETACH PARTITION c",
            "-- VACUUM\nSELECT 1",
            "",
        ];
        for s in no {
            assert!(!needs_no_transaction(s), "{s}");
        }
    }

    #[test]
    fn recognises_transaction_control() {
        assert_eq!(transaction_control("BEGIN"), Some(TxControl::Begin));
        assert_eq!(
            transaction_control("begin isolation level serializable"),
            Some(TxControl::Begin)
        );
        assert_eq!(transaction_control("START TRANSACTION"), Some(TxControl::Begin));
        assert_eq!(transaction_control("COMMIT"), Some(TxControl::Commit));
        assert_eq!(transaction_control("end transaction"), Some(TxControl::Commit));
        assert_eq!(transaction_control("ROLLBACK"), Some(TxControl::Rollback));
        assert_eq!(transaction_control("abort"), Some(TxControl::Rollback));
        assert_eq!(transaction_control("ROLLBACK TO SAVEPOINT a"), None);
        assert_eq!(transaction_control("ROLLBACK TO a"), None);
        assert_eq!(transaction_control("ROLLBACK WORK TO a"), None);
        assert_eq!(transaction_control("COMMIT PREPARED 'x'"), None);
        assert_eq!(transaction_control("SAVEPOINT a"), None);
        assert_eq!(transaction_control("select 'begin'"), None);
    }
}
