//! Text as a reader of the rendered page sees it: which angle brackets are
//! markup and which are the author's placeholders, Hugo shortcodes that are
//! not text at all, the first sentence of a paragraph, slugs for ids.

use std::borrow::Cow;

/// HTML elements that show up in Markdown runbooks. Inline HTML naming one
/// of these is markup; anything else in angle brackets (`<NODE POOL NAME>`,
/// `<PLACEHOLDER>`) is text the author wants read.
const HTML_ELEMENTS: &[&str] = &[
    "a",
    "abbr",
    "b",
    "big",
    "blockquote",
    "br",
    "caption",
    "center",
    "cite",
    "code",
    "col",
    "colgroup",
    "dd",
    "del",
    "details",
    "div",
    "dl",
    "dt",
    "em",
    "figcaption",
    "figure",
    "font",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "hr",
    "i",
    "img",
    "ins",
    "kbd",
    "li",
    "mark",
    "ol",
    "p",
    "pre",
    "q",
    "s",
    "samp",
    "small",
    "span",
    "strike",
    "strong",
    "sub",
    "summary",
    "sup",
    "table",
    "tbody",
    "td",
    "tfoot",
    "th",
    "thead",
    "tr",
    "tt",
    "u",
    "ul",
    "var",
    "wbr",
];

/// What an inline HTML event is to a reader.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum InlineHtml {
    /// Markup: not shown. `line_break` for `<br>`.
    Markup { line_break: bool },
    /// Text that happens to look like a tag: shown as written.
    Text,
}

/// Classify an inline HTML event such as `<b>`, `</td>`, `<!-- x -->` or
/// `<NODE POOL NAME>`. Names in capitals are placeholders, not the HTML of
/// a Markdown document (which is written in lower case), except `<BR>`.
pub(crate) fn inline_html(tag: &str) -> InlineHtml {
    if tag.starts_with("<!--") || tag.starts_with("<?") || tag.starts_with("<!") {
        return InlineHtml::Markup { line_break: false };
    }
    let name: String = tag
        .trim_start_matches('<')
        .trim_start_matches('/')
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
        .collect();
    let lower = name.to_ascii_lowercase();
    let capitals = name.len() > 1 && name.chars().all(|c| !c.is_ascii_lowercase());
    if lower == "br" {
        InlineHtml::Markup { line_break: true }
    } else if !capitals && HTML_ELEMENTS.contains(&lower.as_str()) {
        InlineHtml::Markup { line_break: false }
    } else {
        InlineHtml::Text
    }
}

/// `text` without Hugo shortcodes (`{{< note >}}`, `{{% alert title="x" %}}`):
/// they are instructions to the site generator, not words. An unclosed one stays.
pub(crate) fn strip_shortcodes(text: &str) -> Cow<'_, str> {
    if !text.contains("{{") {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    loop {
        let open = ["{{<", "{{%"]
            .iter()
            .filter_map(|o| rest.find(o).map(|i| (i, *o)))
            .min();
        let Some((i, open)) = open else { break };
        let close = if open == "{{<" { ">}}" } else { "%}}" };
        match rest[i + 3..].find(close) {
            Some(j) => {
                out.push_str(&rest[..i]);
                rest = &rest[i + 3 + j + 3..];
            }
            None => break,
        }
    }
    out.push_str(rest);
    Cow::Owned(out)
}

/// Runs of whitespace as one space, trimmed.
pub(crate) fn collapse_spaces(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for word in text.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    out
}

/// Words after which a full stop does not end a sentence.
const ABBREVIATIONS: &[&str] = &[
    "e.g", "i.e", "etc", "vs", "approx", "cf", "no", "nr", "min", "max", "incl",
];

/// The first sentence of a paragraph already joined into one line: up to
/// the first `.`, `!` or `?` followed by a space and a capital letter.
pub(crate) fn first_sentence(text: &str) -> &str {
    let bytes = text.as_bytes();
    for (i, c) in text.char_indices() {
        if !matches!(c, '.' | '!' | '?') || bytes.get(i + 1) != Some(&b' ') {
            continue;
        }
        let next = text[i + 2..].chars().next();
        if !next.is_some_and(char::is_uppercase) {
            continue;
        }
        let word = text[..i].rsplit(' ').next().unwrap_or("").to_ascii_lowercase();
        if c == '.' && ABBREVIATIONS.contains(&word.trim_start_matches('(')) {
            continue;
        }
        return &text[..=i];
    }
    text
}

/// The title a reader gives a paragraph: its first line (a hard break ends
/// it), shortcodes gone, spaces collapsed, the first sentence, without a
/// trailing colon ("Run the verification process:" introduces its block).
pub(crate) fn title(paragraph: &str) -> String {
    let line = paragraph.split('\n').find(|l| !l.trim().is_empty()).unwrap_or("");
    let line = collapse_spaces(&strip_shortcodes(line));
    first_sentence(&line).trim_end_matches(':').trim_end().to_string()
}

/// A heading as a reader sees it.
pub(crate) fn heading(text: &str) -> String {
    collapse_spaces(&strip_shortcodes(text))
}

/// An id segment from a heading: lower-case words joined by `-`, at most
/// about 40 characters, cut at a word.
pub(crate) fn slug(text: &str) -> String {
    let mut out = String::new();
    for word in text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
    {
        if !out.is_empty() && out.len() + word.len() > 40 {
            break;
        }
        if !out.is_empty() {
            out.push('-');
        }
        out.extend(word.chars().flat_map(char::to_lowercase));
    }
    if out.is_empty() {
        "section".to_string()
    } else {
        out
    }
}

/// HTML as plain text for a note: table rows one per line with cells
/// separated by ` | `, other markup dropped, placeholders and common
/// entities kept as a reader would see them.
pub(crate) fn html_to_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(open) = rest.find('<') {
        out.push_str(&rest[..open]);
        let after = &rest[open..];
        let Some(close) = after.find('>') else {
            out.push_str(after);
            rest = "";
            break;
        };
        let tag = &after[..=close];
        let name = tag
            .trim_start_matches('<')
            .trim_start_matches('/')
            .split(|c: char| !c.is_ascii_alphanumeric())
            .next()
            .unwrap_or("")
            .to_ascii_lowercase();
        match inline_html(tag) {
            InlineHtml::Text => out.push_str(tag),
            InlineHtml::Markup { line_break: true } => out.push('\n'),
            InlineHtml::Markup { .. } if tag.starts_with("</") => match name.as_str() {
                "td" | "th" => out.push_str(" | "),
                "tr" | "p" | "div" | "li" | "h1" | "h2" | "h3" | "h4" | "h5" | "h6" | "table" => {
                    out.push('\n')
                }
                _ => {}
            },
            InlineHtml::Markup { .. } => {}
        }
        rest = &after[close + 1..];
    }
    out.push_str(rest);
    let decoded = out
        .replace("&nbsp;", " ")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&");
    let lines: Vec<String> = decoded
        .lines()
        .map(|l| collapse_spaces(l.trim().trim_end_matches('|')))
        .filter(|l| !l.is_empty())
        .collect();
    lines.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_text_and_tags_are_markup() {
        assert_eq!(inline_html("<NODE POOL NAME>"), InlineHtml::Text);
        assert_eq!(inline_html("<PLACEHOLDER>"), InlineHtml::Text);
        assert_eq!(inline_html("<cluster-name>"), InlineHtml::Text);
        assert_eq!(inline_html("<TIME>"), InlineHtml::Text);
        assert_eq!(inline_html("<b>"), InlineHtml::Markup { line_break: false });
        assert_eq!(inline_html("</td>"), InlineHtml::Markup { line_break: false });
        assert_eq!(inline_html("<br/>"), InlineHtml::Markup { line_break: true });
        assert_eq!(inline_html("<BR>"), InlineHtml::Markup { line_break: true });
        assert_eq!(
            inline_html("<!-- hidden -->"),
            InlineHtml::Markup { line_break: false }
        );
    }

    #[test]
    fn shortcodes_vanish() {
        assert_eq!(
            strip_shortcodes("Drain {{< note >}}the node{{< /note >}}"),
            "Drain the node"
        );
        assert_eq!(strip_shortcodes("{{% alert title=\"x\" %}}Careful"), "Careful");
        assert_eq!(strip_shortcodes("keep {{< open"), "keep {{< open");
        assert_eq!(strip_shortcodes("{{ .Values.x }}"), "{{ .Values.x }}");
    }

    #[test]
    fn titles_are_first_sentences_of_what_a_reader_sees() {
        assert_eq!(
            title("Back up the database. Then stop the app."),
            "Back up the database."
        );
        assert_eq!(title("Use e.g. Postgres 15. Then go"), "Use e.g. Postgres 15.");
        assert_eq!(title("Upgrade to v1.2. next step"), "Upgrade to v1.2. next step");
        assert_eq!(
            title("Run the verification process:"),
            "Run the verification process"
        );
        assert_eq!(title("First line\nsecond line"), "First line");
        assert_eq!(title("Rotate  the key {{< x >}} now"), "Rotate the key now");
    }

    #[test]
    fn slugs_and_html() {
        assert_eq!(slug("Step 1: Upgrade masters"), "step-1-upgrade-masters");
        assert_eq!(slug("???"), "section");
        assert!(slug(&"word ".repeat(30)).len() <= 40);
        assert_eq!(
            html_to_text(
                "<table>\n<tr><th>Pool</th><th>Size</th></tr>\n<tr><td><NODE POOL NAME></td><td>3 &amp; more</td></tr>\n</table>"
            ),
            "Pool | Size\n<NODE POOL NAME> | 3 & more"
        );
    }
}
