//! The secrets audit: one session exercising every channel a secret can
//! leak through (a step printing the environment, a verification returning
//! secrets, a password literal in SQL, a secret written in a step body, the
//! database URL's password with an `@` in it, `PGPASSWORD` beside a URL),
//! then every file runsheet wrote and all it printed, reports included,
//! searched for each secret: none may appear.

mod common;

use std::path::Path;

use common::ScratchDb;
use common::runsheet::{Fixture, text};

const TOKEN: &str = "tok-audit-7f3a9c";
const PGPASSWORD: &str = "pgpw-audit-51be0d";
const URL_PASSWORD: &str = "url@pw-audit-c40e";
const SQL_PASSWORD: &str = "sqlpw-audit-9d21";

fn files_under(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read dir").flatten() {
        let path = entry.path();
        if path.is_dir() {
            files_under(&path, out);
        } else {
            out.push(path);
        }
    }
}

#[test]
fn no_secret_reaches_a_journal_a_report_or_the_output() {
    let db = ScratchDb::create("secrets");
    let role = format!("audit_{}", std::process::id());
    // Trust authentication ignores the password: it only has to be carried.
    let url = common::url_with_database(&db.url, &db.name).replacen(
        "postgres://postgres@",
        &format!("postgres://postgres:{}@", URL_PASSWORD.replace('@', "%40")),
        1,
    );
    assert!(url.contains("%40"), "{url}");
    let runbook = format!(
        "+++\n[variables]\nTOKEN = {{ value = \"{TOKEN}\", secret = true }}\n\
         [environments.development]\ndatabase = \"{url}\"\n+++\n# Audit\n\n## Development\n\n### Execution\n\n\
         1. Print the environment\n   ```sh\n   echo \"token=$TOKEN pg=$PGPASSWORD url=$RUNSHEET_DATABASE_URL\"\n   \
         echo \"literal {TOKEN}\" >&2\n   ```\n\
         2. Rotate a password\n   ```sql\n   CREATE ROLE {role} LOGIN PASSWORD '{SQL_PASSWORD}';\n   \
         ALTER ROLE {role} PASSWORD '{SQL_PASSWORD}';\n   DROP ROLE {role};\n   ```\n\
         3. Check what the server sees\n   ```sql {{verify}}\n   \
         select '{TOKEN}' as token, '{URL_PASSWORD}' as url_password, '{SQL_PASSWORD}' as sql_password;\n   ```\n"
    );
    let fx = Fixture::new(&runbook);
    let mut outputs = Vec::new();
    let out = fx
        .command(&["run", fx.runbook().to_str().expect("path"), "--headless"])
        .env("PGPASSWORD", PGPASSWORD)
        .output()
        .expect("run");
    outputs.push(text(&out));
    assert!(text(&out).contains("verification"), "{}", text(&out));
    let id = fx.state().header.session_id;
    for format in ["md", "html", "json"] {
        let file = fx.dir.path().join(format!("report.{format}"));
        let report = fx
            .command(&[
                "report",
                &id,
                "--format",
                format,
                "-o",
                file.to_str().expect("path"),
            ])
            .output()
            .expect("report");
        assert!(report.status.success(), "{}", text(&report));
        outputs.push(text(&report));
    }
    for command in [&["verify", id.as_str()][..], &["sessions"]] {
        outputs.push(text(&fx.command(command).output().expect("run")));
    }
    let mut files = Vec::new();
    files_under(fx.dir.path(), &mut files);
    let runbook_file = fx.runbook();
    let mut hits = Vec::new();
    let encoded = URL_PASSWORD.replace('@', "%40");
    for secret in [TOKEN, PGPASSWORD, URL_PASSWORD, encoded.as_str(), SQL_PASSWORD] {
        for (i, printed) in outputs.iter().enumerate() {
            if printed.contains(secret) {
                hits.push(format!("{secret} in output {i}"));
            }
        }
        for file in files.iter().filter(|f| **f != runbook_file) {
            let bytes = std::fs::read(file).expect("read");
            if String::from_utf8_lossy(&bytes).contains(secret) {
                hits.push(format!("{secret} in {}", file.display()));
            }
        }
    }
    assert!(hits.is_empty(), "secrets leaked: {hits:#?}\n{}", outputs[0]);
}
