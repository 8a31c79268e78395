//! Every command's exit codes as the README's table gives them, one row
//! per situation, and every failure said on stderr.

mod common;

use common::runsheet::{Fixture, text};

const OK: &str = "# Fine\n\n## Development\n\n### Execution\n\n1. Do\n   ```sh\n   echo fine\n   ```\n";
const FAILING: &str =
    "# Failing\n\n## Development\n\n### Execution\n\n1. Fail\n   ```sh\n   exit 7\n   ```\n";
const INVALID: &str = "+++\nbogus = [\n+++\n# Broken\n";
/// A SQL step on a database that does not exist on the test server.
const UNREACHABLE: &str = "+++\n[environments.development]\ndatabase = \"env:EXIT_CODES_NO_DB\"\n+++\n# Nowhere\n\n## Development\n\n### Execution\n\n1. Ask\n   ```sql\n   SELECT 1;\n   ```\n";

#[test]
fn every_command_exits_as_the_readme_says() {
    let fx = Fixture::new(OK);
    let dir = fx.dir.path();
    std::fs::write(dir.join("failing.md"), FAILING).expect("write");
    std::fs::write(dir.join("invalid.md"), INVALID).expect("write");
    std::fs::write(dir.join("unreachable.md"), UNREACHABLE).expect("write");
    let path = |name: &str| dir.join(name).to_str().expect("utf-8").to_string();
    let (ok, failing, invalid) = (path("runbook.md"), path("failing.md"), path("invalid.md"));
    let unreachable = path("unreachable.md");
    // Two completed sessions (an id prefix common to both is ambiguous), one broken journal.
    let mut ids = Vec::new();
    for _ in 0..2 {
        let out = fx.run(&[]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
        ids.push(fx.state().header.session_id);
    }
    let out = fx
        .command(&["run", &failing, "--headless"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let broken_id = fx.state().header.session_id;
    let broken = fx.journal();
    let edited = std::fs::read_to_string(&broken)
        .expect("read")
        .replacen("exit", "EXIT", 1);
    std::fs::write(&broken, edited).expect("edit");
    let common_prefix: String = ids[0]
        .chars()
        .zip(ids[1].chars())
        .take_while(|(a, b)| a == b)
        .map(|(a, _)| a)
        .collect();
    let broken_path = broken.to_str().expect("utf-8").to_string();

    let rows: Vec<(Vec<&str>, u8)> = vec![
        (vec!["check", &ok], 0),
        (vec!["check", &invalid], 2),
        (vec!["check", "/nonexistent/runbook.md"], 2),
        (vec!["run", &ok, "--headless"], 0),
        (vec!["run", &failing, "--headless"], 1),
        (vec!["run", &invalid, "--headless"], 2),
        (vec!["run", &ok, "--headless", "--env", "nowhere"], 2),
        (vec!["run", &ok, "--headless", "--resume", ""], 2),
        (vec!["run", &ok, "--headless", "--resume", &common_prefix], 2),
        (vec!["run", &ok, "--headless", "--resume", "nosuch"], 2),
        (vec!["run", &ok, "--headless", "--resume", &ids[0]], 2),
        (vec!["run", &failing, "--headless", "--resume", &broken_id], 3),
        (vec!["run", &ok, "--headless", "--operator", ""], 2),
        (vec!["run", &ok, "--headless", "--skip", "nosuch=typo"], 2),
        (vec!["run", &unreachable, "--headless"], 4),
        (vec!["verify", &ids[0]], 0),
        (vec!["verify", &broken_path], 3),
        (vec!["verify", "nosuch"], 2),
        (vec!["sessions"], 0),
        (vec!["report", &ids[0]], 0),
        (vec!["report", "nosuch"], 2),
        (vec!["replay", &ids[0]], 2),
        (vec!["--no-such-flag"], 2),
    ];
    let mut wrong = Vec::new();
    for (args, want) in &rows {
        let out = fx
            .command(args)
            .env(
                "EXIT_CODES_NO_DB",
                common::url_with_database(&common::server_url(), "runsheet_no_such_database"),
            )
            .output()
            .expect("run runsheet");
        let code = out.status.code();
        if code != Some(i32::from(*want)) {
            wrong.push(format!(
                "{args:?}: exit {code:?}, README says {want}: {}",
                text(&out)
            ));
        }
        // A failure to do what was asked is said on stderr (verify's verdict is its output).
        if *want >= 2 && args[0] != "verify" && out.stderr.is_empty() {
            wrong.push(format!("{args:?}: exit {want} without a word on stderr"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
