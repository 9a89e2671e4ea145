//! `-o FILE` never destroys evidence (issue 19, item 2): it refuses to write
//! over an input of the run, however named (inside a directory, through a
//! hard link or a symlink, the inventory), and over an existing capture unless
//! `--force`; the file it writes has the permissions a shell redirect gives.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

fn sample() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("samples/hybrid-identity.pcapng")
}

/// A copy of the sample in `dir` named `name`, and its bytes.
fn capture_in(dir: &Path, name: &str) -> (PathBuf, Vec<u8>) {
    let path = dir.join(name);
    std::fs::copy(sample(), &path).unwrap();
    (path.clone(), std::fs::read(path).unwrap())
}

/// Runs `flowaudit ARGS` in `dir` through `sh` with `umask`; (status, stderr).
fn run_in(dir: &Path, umask: &str, args: &str) -> (Option<i32>, String) {
    let bin = assert_cmd::cargo::cargo_bin("flowaudit");
    let out = std::process::Command::new("sh")
        .current_dir(dir)
        .arg("-c")
        .arg(format!("umask {umask}; exec '{}' -q {args}", bin.display()))
        .output()
        .unwrap();
    (out.status.code(), String::from_utf8(out.stderr).unwrap())
}

#[test]
fn refuses_to_write_over_any_input() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (x, bytes) = capture_in(d, "x.pcapng");
    std::fs::create_dir(d.join("caps")).unwrap();
    let (inner, inner_bytes) = capture_in(&d.join("caps"), "a.pcapng");
    std::fs::hard_link(&x, d.join("hard.pcapng")).unwrap();
    std::os::unix::fs::symlink(&x, d.join("soft")).unwrap();
    let inv = d.join("inv.toml");
    let inv_text = "features = []\n[roles]\nsync = [\"10.0.1.10\"]\ndc = [\"10.0.0.4\"]\n";
    std::fs::write(&inv, inv_text).unwrap();
    for (args, named) in [
        ("info x.pcapng -o x.pcapng", "x.pcapng"),
        ("info x.pcapng -o ./x.pcapng --force", "./x.pcapng"),
        ("flows caps -o caps/a.pcapng", "caps/a.pcapng"),
        ("info x.pcapng -o hard.pcapng --force", "hard.pcapng"),
        ("roles x.pcapng -o soft --force", "soft"),
        ("audit x.pcapng -i inv.toml -o inv.toml --force", "inv.toml"),
    ] {
        let (code, stderr) = run_in(d, "022", args);
        assert_eq!(code, Some(2), "{args}: {stderr}");
        assert!(
            stderr.contains(&format!("-o {named}:")) && stderr.contains("input"),
            "{args}: {stderr}"
        );
    }
    assert_eq!(std::fs::read(&x).unwrap(), bytes);
    assert_eq!(std::fs::read(&inner).unwrap(), inner_bytes);
    assert_eq!(std::fs::read_to_string(&inv).unwrap(), inv_text);
    // Nothing was left behind: no report, no temporary file.
    let mut names: Vec<String> = std::fs::read_dir(d)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(
        names,
        ["caps", "hard.pcapng", "inv.toml", "soft", "x.pcapng"]
    );
}

#[test]
fn overwrites_a_capture_that_is_not_an_input_only_with_force() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    capture_in(d, "x.pcapng");
    let (other, other_bytes) = capture_in(d, "other.pcapng");
    let gz = d.join("old.gz");
    std::fs::write(&gz, [0x1f, 0x8b, 8, 0, 0, 0]).unwrap();
    for dest in ["other.pcapng", "old.gz"] {
        let (code, stderr) = run_in(d, "022", &format!("info x.pcapng -o {dest}"));
        assert_eq!(code, Some(2), "{dest}: {stderr}");
        assert!(stderr.contains(&format!("-o {dest}:")) && stderr.contains("--force"));
    }
    assert_eq!(std::fs::read(&other).unwrap(), other_bytes);
    let (code, stderr) = run_in(d, "022", "info x.pcapng -o other.pcapng --force");
    assert_eq!(code, Some(0), "{stderr}");
    let report = std::fs::read_to_string(&other).unwrap();
    assert!(report.contains("x.pcapng"), "{report}");
    // An old report is replaced without --force.
    let (code, stderr) = run_in(d, "022", "info x.pcapng -o other.pcapng -f json");
    assert_eq!(code, Some(0), "{stderr}");
    assert!(std::fs::read_to_string(&other).unwrap().starts_with('{'));
}

#[test]
fn written_files_get_the_permissions_of_a_shell_redirect() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    capture_in(d, "x.pcapng");
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    for umask in [0o022u32, 0o027, 0o077, 0o002] {
        let name = format!("new-{umask:o}.txt");
        let (code, stderr) = run_in(
            d,
            &format!("{umask:03o}"),
            &format!("info x.pcapng -o {name}"),
        );
        assert_eq!(code, Some(0), "{stderr}");
        // What `> file` gives: 0666 less the umask.
        assert_eq!(mode(&d.join(&name)), 0o666 & !umask, "umask {umask:03o}");
        // The shell itself agrees.
        let shell = format!("shell-{umask:o}.txt");
        let made = std::process::Command::new("sh")
            .current_dir(d)
            .arg("-c")
            .arg(format!("umask {umask:03o}; : > {shell}"))
            .status()
            .unwrap();
        assert!(made.success());
        assert_eq!(mode(&d.join(&name)), mode(&d.join(&shell)));
    }
    // Replacing a file keeps its mode, as `>` does.
    let kept = d.join("kept.txt");
    std::fs::write(&kept, "old").unwrap();
    std::fs::set_permissions(&kept, std::fs::Permissions::from_mode(0o640)).unwrap();
    let (code, stderr) = run_in(d, "022", "info x.pcapng -o kept.txt");
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(mode(&kept), 0o640);
    assert_ne!(std::fs::read_to_string(&kept).unwrap(), "old");
}
