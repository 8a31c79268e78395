//! Redaction of secrets: passwords in connection strings and the values of
//! variables marked secret never reach the journal, the log or an error.

use std::borrow::Cow;

/// The mask written in place of a secret.
pub const MASK: &str = "***";

/// Knows the session's secret values and masks them in any text.
#[derive(Debug, Clone, Default)]
pub struct Redactor {
    secrets: Vec<String>,
}

impl Redactor {
    /// Remember a secret value. Very short values are ignored: masking every
    /// "a" in the log would hide more than it protects.
    pub fn add(&mut self, secret: &str) {
        if secret.len() >= 3 && !self.secrets.iter().any(|s| s == secret) {
            self.secrets.push(secret.to_string());
            // Longest first, so a secret containing another is masked whole.
            self.secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        }
    }

    /// `text` with every known secret and every password in a connection string masked.
    pub fn redact<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let mut out = Cow::Borrowed(text);
        for secret in &self.secrets {
            if out.contains(secret.as_str()) {
                out = Cow::Owned(out.replace(secret.as_str(), MASK));
            }
        }
        match redact_connection_passwords(&out) {
            Cow::Borrowed(_) => out,
            Cow::Owned(s) => Cow::Owned(s),
        }
    }
}

/// Mask the password of `scheme://user:password@host` URLs and of
/// `password=...` key/value pairs, wherever they appear in `text`.
pub fn redact_connection_passwords(text: &str) -> Cow<'_, str> {
    if !text.contains("://") && !text.to_ascii_lowercase().contains("password=") {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while !rest.is_empty() {
        if let Some(idx) = rest.find("://") {
            let (before, after) = rest.split_at(idx + 3);
            out.push_str(before);
            // The authority ends at the first '/', '?', '#' or whitespace.
            let end = after.find(|c: char| c == '/' || c == '?' || c == '#' || c.is_whitespace());
            let authority = &after[..end.unwrap_or(after.len())];
            match (authority.rfind('@'), authority.find(':')) {
                (Some(at), Some(colon)) if colon < at => {
                    out.push_str(&authority[..=colon]);
                    out.push_str(MASK);
                    out.push_str(&authority[at..]);
                }
                _ => out.push_str(authority),
            }
            rest = &after[authority.len()..];
        } else {
            out.push_str(rest);
            rest = "";
        }
    }
    mask_password_pairs(&out).into_owned().into()
}

/// Mask `password=value` (libpq key/value syntax, value possibly quoted).
fn mask_password_pairs(text: &str) -> Cow<'_, str> {
    let lower = text.to_ascii_lowercase();
    if !lower.contains("password=") {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut pos = 0;
    while let Some(found) = lower[pos..].find("password=") {
        let value_start = pos + found + "password=".len();
        out.push_str(&text[pos..value_start]);
        let value = &text[value_start..];
        let len = if let Some(quoted) = value.strip_prefix('\'') {
            quoted.find('\'').map_or(value.len(), |i| i + 2)
        } else {
            value
                .find(|c: char| c.is_whitespace() || c == '&')
                .unwrap_or(value.len())
        };
        out.push_str(MASK);
        pos = value_start + len;
    }
    out.push_str(&text[pos..]);
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_url_passwords_and_pairs() {
        assert_eq!(
            redact_connection_passwords("postgres://u:s3cret@h:5432/db"),
            "postgres://u:***@h:5432/db"
        );
        assert_eq!(
            redact_connection_passwords("postgres://u@h/db"),
            "postgres://u@h/db"
        );
        assert_eq!(
            redact_connection_passwords("host=h password='a b' user=u"),
            "host=h password=*** user=u"
        );
        assert_eq!(
            redact_connection_passwords("x?password=abc&y=1"),
            "x?password=***&y=1"
        );
        assert_eq!(redact_connection_passwords("no secrets here"), "no secrets here");
    }

    #[test]
    fn masks_known_secrets() {
        let mut r = Redactor::default();
        r.add("hunter2");
        r.add("x");
        assert_eq!(r.redact("pw is hunter2, x stays"), "pw is ***, x stays");
    }
}
