//! Redaction of secrets: passwords in connection strings and the values of
//! variables marked secret never reach the journal, the log or an error.

use std::borrow::Cow;

use aho_corasick::AhoCorasick;

/// The mask written in place of a secret.
pub const MASK: &str = "***";

/// What any text that needs masking holds (besides a secret value): a
/// URL's `://` (a password in its user info) or `password` (a
/// `password=` parameter, a `PASSWORD '…'` literal), in any case.
const CLUES: [&str; 2] = ["://", "password"];

/// Knows the session's secret values and masks them in any text.
#[derive(Debug, Clone)]
pub struct Redactor {
    secrets: Vec<String>,
    /// Finds in one pass whatever may need masking: a secret or a clue
    /// (in any case, so it may find more than needs masking, never less).
    /// Most output holds none and is left as it is without another look.
    suspects: Option<AhoCorasick>,
}

impl Default for Redactor {
    fn default() -> Self {
        Redactor {
            secrets: Vec::new(),
            suspects: suspects(&[]),
        }
    }
}

/// The one-pass finder of `secrets` and the clues; `None` (look at all
/// text the slow way) if it cannot be built.
fn suspects(secrets: &[String]) -> Option<AhoCorasick> {
    let patterns = secrets.iter().map(String::as_str).chain(CLUES);
    AhoCorasick::builder()
        .ascii_case_insensitive(true)
        .build(patterns)
        .ok()
}

impl Redactor {
    /// Remember a secret value. Very short values are ignored: masking every
    /// "a" in the log would hide more than it protects.
    pub fn add(&mut self, secret: &str) {
        if secret.len() >= 3 && !self.secrets.iter().any(|s| s == secret) {
            self.secrets.push(secret.to_string());
            // Longest first, so a secret containing another is masked whole.
            self.secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
            self.suspects = suspects(&self.secrets);
        }
    }

    /// `text` with every known secret and every password in a connection string masked.
    pub fn redact<'a>(&self, text: &'a str) -> Cow<'a, str> {
        if self.suspects.as_ref().is_some_and(|found| !found.is_match(text)) {
            return Cow::Borrowed(text);
        }
        let mut out = Cow::Borrowed(text);
        for secret in &self.secrets {
            if out.contains(secret.as_str()) {
                out = Cow::Owned(out.replace(secret.as_str(), MASK));
            }
        }
        if let Cow::Owned(s) = redact_connection_passwords(&out) {
            out = Cow::Owned(s);
        }
        if let Cow::Owned(s) = redact_sql_password_literals(&out) {
            out = Cow::Owned(s);
        }
        out
    }

    /// Remember the password a connection string holds, as the driver
    /// itself reads it (so an `@`, a space or a quote in it cannot cut it
    /// in the wrong place), if it parses.
    pub fn add_connection_password(&mut self, connection: &str) {
        if let Ok(config) = connection.parse::<tokio_postgres::Config>()
            && let Some(password) = config.get_password()
        {
            self.add(&String::from_utf8_lossy(password));
        }
    }

    /// Remember the password literals of `sql` (`PASSWORD '…'` of CREATE or
    /// ALTER ROLE/USER), so they are masked wherever they show up.
    pub fn add_sql_passwords(&mut self, sql: &str) {
        for literal in sql_password_literals(sql) {
            self.add(&literal.replace("''", "'"));
        }
    }
}

/// Where `PASSWORD '…'` literals are in `sql`: `(start, end)` byte ranges
/// of the text between the quotes (`''` is a quote inside).
fn sql_password_spans(sql: &str) -> Vec<(usize, usize)> {
    const KEY: &str = "password";
    let lower = sql.to_ascii_lowercase();
    let bytes = sql.as_bytes();
    let mut spans = Vec::new();
    let mut search = 0;
    while let Some(found) = lower[search..].find(KEY) {
        let start = search + found;
        search = start + KEY.len();
        let boundary = sql[..start]
            .chars()
            .next_back()
            .is_none_or(|c| !c.is_alphanumeric() && c != '_');
        let mut i = start + KEY.len();
        while i < bytes.len() && bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        if !boundary || i == start + KEY.len() || bytes.get(i) != Some(&b'\'') {
            continue;
        }
        let open = i + 1;
        let mut j = open;
        let close = loop {
            match bytes.get(j) {
                None => break bytes.len(),
                Some(b'\'') if bytes.get(j + 1) == Some(&b'\'') => j += 2,
                Some(b'\'') => break j,
                Some(_) => j += 1,
            }
        };
        spans.push((open, close));
        search = close.max(search);
    }
    spans
}

fn sql_password_literals(sql: &str) -> Vec<String> {
    sql_password_spans(sql)
        .into_iter()
        .filter_map(|(a, b)| sql.get(a..b).map(str::to_string))
        .collect()
}

/// `text` with the inside of every `PASSWORD '…'` literal masked.
pub fn redact_sql_password_literals(text: &str) -> Cow<'_, str> {
    let spans = sql_password_spans(text);
    if spans.is_empty() {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    for (open, close) in spans {
        out.push_str(&text[copied..open]);
        out.push_str(MASK);
        copied = close;
    }
    out.push_str(&text[copied..]);
    Cow::Owned(out)
}

/// Whether a variable's name says its value is secret (`DB_PASSWORD`,
/// `GITHUB_TOKEN`, `API_KEY`, `AWS_SECRET_ACCESS_KEY`, `PGPASS`): such a
/// value is never written down. Errs on the side of secret.
pub fn looks_secret(name: &str) -> bool {
    const INSIDE: [&str; 7] = [
        "PASSWORD",
        "PASSWD",
        "SECRET",
        "TOKEN",
        "CREDENTIAL",
        "APIKEY",
        "PRIVATE",
    ];
    const WORDS: [&str; 6] = ["PASS", "PWD", "KEY", "AUTH", "COOKIE", "SESSION"];
    let upper = name.to_ascii_uppercase();
    INSIDE.iter().any(|w| upper.contains(w))
        || upper
            .split(|c: char| !c.is_ascii_alphanumeric())
            .any(|word| WORDS.contains(&word) || (word.starts_with("PG") && word.ends_with("PASS")))
}

/// Mask the password of `scheme://user:password@host` URLs and the value of
/// every `password=` parameter (URL query or libpq `key=value` string,
/// quoted or not), wherever they appear in `text`. When unsure where a
/// password ends it masks more rather than less.
pub fn redact_connection_passwords(text: &str) -> Cow<'_, str> {
    let password = |w: &[u8]| w.eq_ignore_ascii_case(b"password");
    if !text.contains("://") && !text.as_bytes().windows(8).any(password) {
        return Cow::Borrowed(text);
    }
    Cow::Owned(redact_password_params(&redact_userinfo(text)))
}

fn redact_userinfo(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(idx) = rest.find("://") {
        let (head, tail) = rest.split_at(idx + 3);
        out.push_str(head);
        // A URL has no whitespace; the userinfo ends at the last '@' before it
        // (a password may itself hold an unescaped '@', '/' or ':').
        let url_end = tail.find(char::is_whitespace).unwrap_or(tail.len());
        let url = &tail[..url_end];
        match url
            .rfind('@')
            .and_then(|at| url[..at].find(':').map(|colon| (colon, at)))
        {
            Some((colon, at)) => {
                out.push_str(&url[..=colon]);
                out.push_str(MASK);
                out.push_str(&url[at..]);
            }
            None => out.push_str(url),
        }
        rest = &tail[url_end..];
    }
    out.push_str(rest);
    out
}

fn redact_password_params(s: &str) -> String {
    const KEY: &str = "password";
    let lower = s.to_ascii_lowercase();
    let mut out = String::with_capacity(s.len());
    let mut copied = 0;
    let mut search = 0;
    while let Some(found) = lower[search..].find(KEY) {
        let key_start = search + found;
        let mut i = key_start + KEY.len();
        search = i;
        let at_boundary = s[..key_start]
            .chars()
            .next_back()
            .is_none_or(|c| !c.is_alphanumeric() && c != '_');
        let bytes = s.as_bytes();
        while i < s.len() && bytes[i] == b' ' {
            i += 1;
        }
        if !at_boundary || bytes.get(i) != Some(&b'=') {
            continue;
        }
        i += 1;
        while i < s.len() && bytes[i] == b' ' {
            i += 1;
        }
        let value_start = i;
        let value_end = if bytes.get(i) == Some(&b'\'') {
            // A quoted key=value: ends at the first quote not escaped by a backslash.
            let mut j = i + 1;
            loop {
                match bytes.get(j) {
                    None => break s.len(),
                    Some(b'\\') => j += 2,
                    Some(b'\'') => break j + 1,
                    Some(_) => j += 1,
                }
            }
            .min(s.len())
        } else {
            s[i..]
                .find(|c: char| c.is_whitespace() || c == '&')
                .map_or(s.len(), |n| i + n)
        };
        out.push_str(&s[copied..value_start]);
        out.push_str(MASK);
        copied = value_end;
        search = value_end;
    }
    out.push_str(&s[copied..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_known_secrets() {
        let mut r = Redactor::default();
        r.add("hunter2");
        r.add("x");
        assert_eq!(r.redact("pw is hunter2, x stays"), "pw is ***, x stays");
    }

    #[test]
    fn secret_looking_names() {
        for name in [
            "DB_PASSWORD",
            "github_token",
            "API_KEY",
            "AWS_SECRET_ACCESS_KEY",
            "PGPASS",
            "MYSQL_PWD",
            "Vault_Auth",
            "private_key_file",
            "ApiKey",
            "SESSION",
        ] {
            assert!(looks_secret(name), "{name}");
        }
        for name in [
            "FOO",
            "PATH",
            "RELEASE_DIR",
            "KEYBOARD",
            "PASSAGE",
            "COMPASS",
            "DEPLOY_HOST",
        ] {
            assert!(!looks_secret(name), "{name}");
        }
    }

    #[test]
    fn masks_sql_password_literals() {
        let cases = [
            (
                "ALTER ROLE app PASSWORD 's3cr''et';",
                "ALTER ROLE app PASSWORD '***';",
            ),
            (
                "create user u with encrypted password\n  'x y' valid until 'infinity'",
                "create user u with encrypted password\n  '***' valid until 'infinity'",
            ),
            ("ALTER ROLE app PASSWORD NULL", "ALTER ROLE app PASSWORD NULL"),
            ("select 'password' as word", "select 'password' as word"),
            ("PASSWORD 'unterminated", "PASSWORD '***"),
        ];
        for (input, want) in cases {
            assert_eq!(redact_sql_password_literals(input), want, "{input}");
        }
        let mut r = Redactor::default();
        r.add_sql_passwords("ALTER ROLE app PASSWORD 'it''s-long'");
        assert_eq!(r.redact("echo it's-long"), "echo ***");
    }

    #[test]
    fn connection_passwords_are_read_as_the_driver_reads_them() {
        let mut r = Redactor::default();
        r.add_connection_password("postgres://app:p%40ss%20w0rd@db.example/app");
        r.add_connection_password("host=db user=app password='sp ace@x' dbname=app");
        assert_eq!(r.redact("a p@ss w0rd b"), "a *** b");
        assert_eq!(r.redact("a sp ace@x b"), "a *** b");
    }

    /// Text with nothing to mask is handed back as it is; what needs
    /// masking is found whatever its case, and secrets added later too.
    #[test]
    fn only_suspect_text_is_looked_at_again() {
        let mut r = Redactor::default();
        assert!(matches!(r.redact("INSERT 0 1 -- row 42"), Cow::Borrowed(_)));
        assert_eq!(r.redact("PASSWORD=hunter2 x"), "PASSWORD=*** x");
        assert_eq!(
            r.redact("ALTER ROLE a PassWord 'pw'"),
            "ALTER ROLE a PassWord '***'"
        );
        assert_eq!(r.redact("see postgres://u:pw@h/db"), "see postgres://u:***@h/db");
        r.add("tok-123456");
        assert_eq!(r.redact("echo tok-123456"), "echo ***");
        assert!(
            matches!(r.redact("echo TOK-123456"), Cow::Borrowed(_)),
            "a secret is masked exactly"
        );
    }

    #[test]
    fn redacts_passwords() {
        let cases = [
            ("postgres://u:secret@h", "postgres://u:***@h"),
            (
                "postgres://u:secret@h:5432/db?sslmode=require",
                "postgres://u:***@h:5432/db?sslmode=require",
            ),
            ("postgresql://u:p@ss/w:rd@h/db", "postgresql://u:***@h/db"),
            ("postgres://u@h/db", "postgres://u@h/db"),
            ("postgres://h:5432/db", "postgres://h:5432/db"),
            (
                "postgres://u@h/db?password=secret&sslmode=require",
                "postgres://u@h/db?password=***&sslmode=require",
            ),
            ("host=h password=secret dbname=d", "host=h password=*** dbname=d"),
            (
                "host=h password = 'se cr\\'et' dbname=d",
                "host=h password = *** dbname=d",
            ),
            ("host=h PASSWORD=secret", "host=h PASSWORD=***"),
            ("host=h password='unterminated", "host=h password=***"),
            ("user=passwordless dbname=d", "user=passwordless dbname=d"),
            ("old_password=x", "old_password=x"),
            (
                "cannot reach postgres://a:b@h and postgres://c:d@k now",
                "cannot reach postgres://a:***@h and postgres://c:***@k now",
            ),
            ("", ""),
            ("password=", "password=***"),
            ("é password=ü", "é password=***"),
        ];
        for (input, want) in cases {
            assert_eq!(redact_connection_passwords(input), want, "{input}");
        }
    }
}
