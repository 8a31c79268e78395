//! Headless Chromium for the HTML reports: the DOM it built and what it
//! logged to its console, screenshots, and pages printed to PDF.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// The install line of the tools the tests need besides Rust and a running
/// PostgreSQL; the README's set-up names the same line.
pub const TEST_TOOLS_INSTALL: &str = "apt-get install postgresql-client chromium";

/// Chromium's binary, or a clear failure: a browser test must never pass
/// (or skip) silently because there is no browser.
pub fn chromium() -> PathBuf {
    for name in ["chromium", "chromium-browser", "google-chrome"] {
        let found = std::env::var_os("PATH")
            .into_iter()
            .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
            .map(|dir| dir.join(name))
            .find(|p| p.is_file());
        if let Some(path) = found {
            return path;
        }
    }
    panic!(
        "chromium is not installed, so the HTML report cannot be checked in a real browser; \
         install the tools the tests need (Debian/Ubuntu: {TEST_TOOLS_INSTALL}), as the README's set-up says"
    );
}

/// Run headless Chromium on `page` with `args`, in a fresh profile.
fn headless(page: &Path, args: &[String]) -> Output {
    let profile = tempfile::TempDir::new().expect("profile dir");
    // `timeout` so a hung browser fails the test instead of hanging it.
    let out = Command::new("timeout")
        .arg("120")
        .arg(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(args)
        .arg(format!("file://{}", page.display()))
        .stdin(Stdio::null())
        .output()
        .expect("run chromium");
    assert!(
        out.status.success(),
        "chromium failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// A page as headless Chromium loaded it.
pub struct Loaded {
    /// The DOM it built, serialised.
    pub dom: String,
    /// Every message the page wrote to the console (errors, CSP violations,
    /// warnings: Chromium's log gives them all the same level).
    pub console: Vec<String>,
}

/// Load `page`, with the console logged to standard error.
pub fn load(page: &Path) -> Loaded {
    let out = headless(
        page,
        &[
            "--enable-logging=stderr".into(),
            "--v=0".into(),
            "--dump-dom".into(),
        ],
    );
    Loaded {
        dom: String::from_utf8_lossy(&out.stdout).into_owned(),
        console: String::from_utf8_lossy(&out.stderr)
            .lines()
            .filter(|l| l.contains(":CONSOLE"))
            .map(str::to_string)
            .collect(),
    }
}

/// Load `page` and return its DOM; not one console message is allowed (the
/// reports' Content-Security-Policy makes any script or fetch one).
pub fn load_cleanly(page: &Path) -> String {
    let loaded = load(page);
    assert!(
        loaded.console.is_empty(),
        "{}: console messages: {:?}",
        page.display(),
        loaded.console
    );
    loaded.dom
}

/// A screenshot of `page` in a window of `width` x `height` CSS pixels, at
/// 1.5 device pixels each.
pub fn screenshot(page: &Path, png: &Path, width: u32, height: u32) {
    headless(
        page,
        &[
            format!("--screenshot={}", png.display()),
            format!("--window-size={width},{height}"),
            "--force-device-scale-factor=1.5".into(),
        ],
    );
}

/// `page` printed to PDF, as its print style sheet lays it out.
pub fn print_to_pdf(page: &Path, pdf: &Path) {
    headless(
        page,
        &[
            format!("--print-to-pdf={}", pdf.display()),
            "--no-pdf-header-footer".into(),
        ],
    );
}

/// Width and height of a PNG, from its header.
pub fn png_size(png: &[u8]) -> (u32, u32) {
    assert!(
        png.len() > 24 && png.starts_with(b"\x89PNG\r\n\x1a\n") && &png[12..16] == b"IHDR",
        "not a PNG"
    );
    let word = |at: usize| u32::from_be_bytes([png[at], png[at + 1], png[at + 2], png[at + 3]]);
    (word(16), word(20))
}

/// How wide `page`'s content is, in CSS pixels, laid out in a window
/// `width` wide: the page's `scrollWidth`, measured by a copy of it that
/// carries one measuring script (the report itself allows none).
pub fn scroll_width(page: &Path, width: u32) -> u32 {
    let html = std::fs::read_to_string(page).expect("read page");
    let measuring = page.with_extension("measure.html");
    let csp = html
        .find("<meta http-equiv=\"Content-Security-Policy\"")
        .and_then(|start| html[start..].find('>').map(|end| start..start + end + 1));
    let mut copy = html.clone();
    if let Some(range) = csp {
        copy.replace_range(range, "");
    }
    let script = "<script>document.body.setAttribute('data-scroll-width', \
                  String(document.documentElement.scrollWidth));</script></body>";
    copy = copy.replacen("</body>", script, 1);
    std::fs::write(&measuring, copy).expect("write measuring copy");
    let out = headless(
        &measuring,
        &[format!("--window-size={width},900"), "--dump-dom".into()],
    );
    let dom = String::from_utf8_lossy(&out.stdout);
    let at = dom
        .find("data-scroll-width=\"")
        .unwrap_or_else(|| panic!("no measurement in the DOM:\n{dom}"));
    let digits: String = dom[at + 19..].chars().take_while(char::is_ascii_digit).collect();
    digits.parse().expect("scroll width")
}
