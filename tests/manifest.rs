//! Every capture of the shared corpus through `flowaudit info`: the packet
//! count and link types must equal what capinfos reported in MANIFEST.tsv, and
//! every unreadable file must give a clean error, never a panic.

mod common;

use common::{flowaudit, manifest, shared_captures};
use serde_json::Value;

#[test]
fn info_matches_capinfos_for_every_manifest_capture() {
    let mut checked = 0;
    let mut failures = Vec::new();
    for row in manifest() {
        let path = shared_captures().join(&row["path"]);
        let out = flowaudit()
            .args(["info", "--format", "json"])
            .arg(&path)
            .output()
            .expect("run flowaudit");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            !stderr.contains("panicked"),
            "{}: flowaudit panicked: {stderr}",
            row["path"]
        );
        let expected = &row["packets"];
        if let Some(reason) = expected.strip_prefix("unreadable:") {
            // capinfos could not read it: we must either refuse it (exit 2 with
            // the file named) or give a partial result with a warning.
            let code = out.status.code();
            let named = stderr.contains(row["path"].rsplit('/').next().unwrap());
            if !(code == Some(2) && named || code == Some(0) && stderr.contains("warning")) {
                failures.push(format!(
                    "{}: capinfos said{reason}; flowaudit exited {code:?} with stderr {stderr:?}",
                    row["path"]
                ));
            }
            checked += 1;
            continue;
        }
        if out.status.code() != Some(0) {
            failures.push(format!(
                "{}: exit {:?}: {stderr}",
                row["path"],
                out.status.code()
            ));
            continue;
        }
        let doc: Value = serde_json::from_slice(&out.stdout).expect("info JSON");
        let cap = &doc["captures"][0];
        let packets = cap["packets"].as_u64().unwrap_or(u64::MAX);
        let want: u64 = expected.parse().expect("numeric packet count");
        if packets != want {
            failures.push(format!(
                "{}: {packets} packets, capinfos says {want}",
                row["path"]
            ));
        }
        let links: Vec<&str> = cap["link_types"]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let want_links: Vec<&str> = match row["link_types"].as_str() {
            "-" => vec![],
            s => s.split(',').collect(),
        };
        let mut got_sorted = links.clone();
        got_sorted.sort_unstable();
        got_sorted.dedup();
        let mut want_sorted = want_links.clone();
        want_sorted.sort_unstable();
        if got_sorted != want_sorted {
            failures.push(format!(
                "{}: link types {links:?}, manifest says {want_links:?}",
                row["path"]
            ));
        }
        checked += 1;
    }
    assert!(checked >= 79, "only {checked} manifest rows checked");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
