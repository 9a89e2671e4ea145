//! The command line says what it does (issue 19, item 10): options that have
//! no effect on a command are not offered by it, and the README describes
//! `--threads` as `--help` does.

mod common;

use common::flowaudit;

fn help(cmd: &str) -> String {
    let out = flowaudit().args([cmd, "--help"]).output().unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn pipeline_options_belong_to_the_commands_that_track_connections() {
    // info reads and decodes only: no tracker, one thread.
    let info = help("info");
    for opt in ["--threads", "--max-connections"] {
        assert!(!info.contains(opt), "info --help offers {opt}:\n{info}");
        let sample = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/samples/hybrid-identity.pcapng"
        );
        let out = flowaudit()
            .args(["info", opt, "1", sample])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "info {opt} is refused");
    }
    for cmd in ["audit", "flows", "roles"] {
        let h = help(cmd);
        assert!(
            h.contains("--threads") && h.contains("--max-connections"),
            "{cmd}:\n{h}"
        );
    }
}

/// Words of `s`, whitespace and Markdown code marks dropped.
fn words(s: &str) -> String {
    s.replace('`', "")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

#[test]
fn the_readme_describes_threads_as_help_does() {
    let h = help("audit");
    // The --threads entry: from its line to the next option.
    let start = h.find("--threads <N>").unwrap();
    let rest = &h[start + "--threads <N>".len()..];
    let end = rest.find("\n      --").unwrap_or(rest.len());
    let text = words(&rest[..end]);
    let text = text.split(" [default").next().unwrap();
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    assert!(
        words(&readme).contains(text),
        "README.md does not say what --help says about --threads: {text:?}"
    );
}
