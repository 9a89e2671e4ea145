//! The Markdown report renders as meant (issue 19, item 5): rendered by a
//! CommonMark renderer with GitHub tables (pulldown-cmark), every Wireshark
//! filter in a list item is the filter itself, `||` included (not `\|\|`),
//! file names with backticks and pipes come out as written, and every table
//! row keeps its five cells. The filters expected are those of the JSON
//! report of the same capture.

mod common;

use pulldown_cmark::{Event, Options, Parser, Tag, TagEnd};
use serde_json::Value;
use std::path::Path;

/// The rendered text of every code span inside a list item, and of every
/// table row's cells.
struct Rendered {
    list_code: Vec<String>,
    rows: Vec<Vec<String>>,
}

fn render(md: &str) -> Rendered {
    let mut out = Rendered {
        list_code: vec![],
        rows: vec![],
    };
    let (mut in_item, mut row, mut cell) = (0, None::<Vec<String>>, None::<String>);
    for ev in Parser::new_ext(md, Options::ENABLE_TABLES) {
        match ev {
            Event::Start(Tag::Item) => in_item += 1,
            Event::End(TagEnd::Item) => in_item -= 1,
            Event::Start(Tag::TableHead | Tag::TableRow) => row = Some(vec![]),
            Event::End(TagEnd::TableHead | TagEnd::TableRow) => out.rows.extend(row.take()),
            Event::Start(Tag::TableCell) => cell = Some(String::new()),
            Event::End(TagEnd::TableCell) => {
                if let (Some(r), Some(c)) = (row.as_mut(), cell.take()) {
                    r.push(c);
                }
            }
            Event::Code(code) => {
                if in_item > 0 {
                    out.list_code.push(code.to_string());
                }
                if let Some(c) = cell.as_mut() {
                    c.push_str(&code);
                }
            }
            Event::Text(t) => {
                if let Some(c) = cell.as_mut() {
                    c.push_str(&t);
                }
            }
            _ => {}
        }
    }
    out
}

fn audit(capture: &Path, format: &str) -> String {
    let inventory = concat!(env!("CARGO_MANIFEST_DIR"), "/samples/hybrid-identity.toml");
    let (code, out, err) = common::run(&[
        "audit".as_ref(),
        capture.as_os_str(),
        "--inventory".as_ref(),
        inventory.as_ref(),
        "--fail-on".as_ref(),
        "never".as_ref(),
        "--format".as_ref(),
        format.as_ref(),
    ]);
    assert_eq!(code, Some(0), "{err}");
    out
}

#[test]
fn wireshark_filters_and_names_render_literally() {
    // A capture whose name holds a pipe and a backtick.
    let dir = tempfile::tempdir().unwrap();
    let capture = dir.path().join("sync|dc `a`.pcapng");
    std::fs::copy(
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/samples/hybrid-identity.pcapng"
        ),
        &capture,
    )
    .unwrap();
    let doc: Value = serde_json::from_str(&audit(&capture, "json")).unwrap();
    let filters: Vec<String> = doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["kind"] != "healthy")
        .filter_map(|f| f["wireshark_filter"].as_str().map(String::from))
        .collect();
    assert!(
        filters.iter().any(|f| f.contains(" || ")),
        "the sample has a filter with ||: {filters:#?}"
    );
    let md = audit(&capture, "markdown");
    let r = render(&md);
    for f in &filters {
        assert!(
            r.list_code.contains(f),
            "filter {f:?} not rendered as itself; code spans: {:#?}",
            r.list_code
        );
    }
    assert!(
        r.list_code.contains(&capture.display().to_string()),
        "capture name: {:#?}",
        r.list_code
    );
    // Tables keep their columns, and cells their text.
    assert!(!r.rows.is_empty());
    for row in &r.rows {
        assert_eq!(row.len(), 5, "{row:?}");
    }
    assert_eq!(r.rows[0], ["severity", "finding", "port", "rule", "hosts"]);
}
