use std::path::Path;
use runsheet::runbook::loader::load_str;

#[test]
fn scratch() {
    for t in [
        "+++\ntitle = \"x\"\nwindow = = 3\n+++\n# T\n",
        "+++\ntitle = \"x\"\ntitel = \"y\"\n+++\n# T\n",
        "+++\n[environments.production]\nwindow = 3\n+++\n# T\n",
        "+++\n[environments.production]\ncolour = 3\n+++\n# T\n",
        "+++\n[environments.production]\ndatabase = { env = \"X\", colour = 1 }\n+++\n# T\n",
        "+++\n[environments.production]\ndatabase = 5\n+++\n# T\n",
        "+++\n[variables]\nA = { value = \"x\", secret = \"yes\" }\n+++\n# T\n",
        "+++\n[environments.production]\nrequires = [\"qa\"]\nestimate = \"soon\"\n+++\n## Production\n### Execution\n1. x\n",
    ] {
        let l = load_str(Path::new("t.md"), t);
        for d in &l.diagnostics { println!("{}", d.display(Path::new("t.md"))); }
        println!("--");
    }
}
