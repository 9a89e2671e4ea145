//! Tests of the catalogue file and its loader. Expected values come from the seed copy
//! of Microsoft's page (parsed here independently of the loader), from the issue's
//! feature mapping, and from the test texts themselves (positions found with `find`).

use super::load::{
    EMBEDDED_PATH, LOOKUP_FIELDS, RULE_FIELDS, TABLES, TLS_ISSUER_FIELDS, TRANSPORT_NAMES,
    WHEN_NAMES,
};
use super::*;
use std::collections::BTreeSet;
use std::net::IpAddr;
use std::path::PathBuf;

const SEED: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../shared/seeds/hybrid-identity-required-ports.txt"
);

fn embedded() -> Catalogue {
    match Catalogue::embedded() {
        Ok(c) => c,
        Err(e) => panic!("embedded rules do not load: {e}"),
    }
}

// ---------------------------------------------------------------------------
// The shipped catalogue
// ---------------------------------------------------------------------------

#[test]
fn embedded_copy_equals_the_file_in_rules() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/rules/hybrid-identity.toml");
    let on_disk = std::fs::read_to_string(path).expect("rules/hybrid-identity.toml readable");
    assert_eq!(EMBEDDED_RULES, on_disk);
    let c = embedded();
    assert_eq!(c.origin, vec!["<embedded>".to_string()]);
    // Loading the file from disk gives the same rules as the embedded copy.
    let from_disk = Catalogue::load(&[PathBuf::from(path)]).expect("loads from disk");
    assert_eq!(from_disk.rules, c.rules);
    assert_eq!(from_disk.hostnames, c.hostnames);
    assert_eq!(from_disk.azure_ranges, c.azure_ranges);
}

#[test]
fn file_cites_the_microsoft_page() {
    assert!(EMBEDDED_RULES.contains(
        "https://learn.microsoft.com/entra/identity/hybrid/connect/reference-connect-ports"
    ));
}

/// One row of a table of the seed page: (table, ports, transports).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct SeedRow {
    table: String,
    ports: PortRange,
    transports: BTreeSet<Proto>,
    line: String,
}

/// Reads the seed text the way a person reads the page: "Table N - ..." starts a
/// table, "Protocol | Ports | Description |" rows follow. Written without the loader's
/// port parser so that a shared bug cannot hide a mistyped row.
fn seed_rows(text: &str) -> Vec<SeedRow> {
    let mut rows = Vec::new();
    let mut table: Option<String> = None;
    for line in text.lines() {
        let t = line.trim();
        if let Some(rest) = t.strip_prefix("Table ") {
            // "Table 1 - ..." names a table; "Table 6a & 6b - ..." only groups two.
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric())
                .collect();
            let after = &rest[name.len()..];
            table = after.starts_with(" - ").then_some(name);
            continue;
        }
        if t.starts_with("7b - ") {
            table = Some("7b".into());
            continue;
        }
        let cells: Vec<&str> = t.split('|').map(str::trim).collect();
        if cells.len() < 3 || cells[0] == "Protocol" || cells[0].starts_with("---") {
            continue;
        }
        let Some(tab) = table.clone() else { continue };
        let ports_cell = cells[1];
        // Leading digits, spaces and one dash: "53", "49152- 65535".
        let spec: String = ports_cell
            .chars()
            .take_while(|c| c.is_ascii_digit() || *c == '-' || *c == ' ')
            .filter(|c| *c != ' ')
            .collect();
        let (lo, hi) = match spec.split_once('-') {
            Some((a, b)) => (a.parse::<u16>().unwrap(), b.parse::<u16>().unwrap()),
            None => {
                let p = spec.parse::<u16>().unwrap();
                (p, p)
            }
        };
        // Transports are the parenthesised group made only of TCP/UDP words.
        let mut transports = BTreeSet::new();
        for group in ports_cell.split('(').skip(1) {
            let inner = group.split(')').next().unwrap_or("");
            let words: Vec<&str> = inner.split('/').map(str::trim).collect();
            if words.iter().all(|w| *w == "TCP" || *w == "UDP") {
                for w in words {
                    transports.insert(if w == "TCP" { Proto::Tcp } else { Proto::Udp });
                }
            }
        }
        // Table 3's WinRM row gives no transport; WinRM's HTTP listener is TCP.
        if transports.is_empty() {
            transports.insert(Proto::Tcp);
        }
        rows.push(SeedRow {
            table: tab,
            ports: PortRange { lo, hi },
            transports,
            line: t.to_string(),
        });
    }
    rows
}

#[test]
fn every_seed_row_is_a_rule_with_the_same_ports_and_transports() {
    let text = std::fs::read_to_string(SEED).expect("seed readable");
    let rows = seed_rows(&text);
    // Counted by hand on the page: 10 + 2 + 3 + 1 + 2 + 2 + 1 + 2 rows.
    assert_eq!(rows.len(), 23, "seed parser lost rows: {rows:#?}");
    let per_table = |t: &str| rows.iter().filter(|r| r.table == t).count();
    assert_eq!(
        [
            per_table("1"),
            per_table("2"),
            per_table("3"),
            per_table("4"),
            per_table("5"),
            per_table("6a"),
            per_table("6b"),
            per_table("7a"),
        ],
        [10, 2, 3, 1, 2, 2, 1, 2]
    );

    let c = embedded();
    for row in &rows {
        let found = c.rules.iter().any(|r| {
            r.table.as_deref() == Some(row.table.as_str())
                && r.ports == row.ports
                && r.transports.iter().copied().collect::<BTreeSet<_>>() == row.transports
        });
        assert!(found, "no rule for table {} row: {}", row.table, row.line);
    }
    // And no table rule exists that the page does not have.
    for r in c.rules.iter().filter(|r| r.table.is_some()) {
        let t = r.transports.iter().copied().collect::<BTreeSet<_>>();
        assert!(
            rows.iter()
                .any(|row| Some(row.table.as_str()) == r.table.as_deref()
                    && row.ports == r.ports
                    && row.transports == t),
            "rule {} (table {:?}, {}) matches no row of the page",
            r.id,
            r.table,
            r.ports
        );
    }
}

#[test]
fn table_roles_follow_the_page() {
    let c = embedded();
    for r in &c.rules {
        let (src, dst): (&[Role], &[Role]) = match r.table.as_deref() {
            Some("1") => (&[Role::Sync], &[Role::Dc]),
            Some("2" | "6a" | "6b") => (&[Role::Sync], &[Role::Azure]),
            Some("3") => (&[Role::Sync], &[Role::Adfs, Role::Wap]),
            Some("4") => (&[Role::Wap], &[Role::Adfs]),
            Some("5") => (&[Role::Users], &[Role::Wap]),
            Some("7a") => {
                assert!(r.src.contains(&Role::Sync) && r.src.contains(&Role::Adfs));
                assert_eq!(r.dst, vec![Role::Azure], "{}", r.id);
                continue;
            }
            _ => continue,
        };
        assert_eq!(r.src, src, "{} src", r.id);
        assert_eq!(r.dst, dst, "{} dst", r.id);
    }
}

fn table_rules<'a>(c: &'a Catalogue, table: &str, port: u16) -> Vec<&'a Rule> {
    c.rules
        .iter()
        .filter(|r| r.table.as_deref() == Some(table) && r.ports.contains(port))
        .collect()
}

#[test]
fn feature_mapping_from_the_issue() {
    let c = embedded();
    let smb = table_rules(&c, "1", 445);
    assert_eq!(smb.len(), 1);
    assert!(smb[0].features.contains(&Feature::SeamlessSso));
    assert!(smb[0].features.contains(&Feature::PasswordWriteback));
    for port in [5985, 9389] {
        let r = table_rules(&c, "1", port);
        assert_eq!(r.len(), 1, "table 1 port {port}");
        assert_eq!(r[0].features, vec![Feature::AdfsGmsa], "port {port}");
    }
    let ldaps = table_rules(&c, "1", 636);
    assert_eq!(ldaps[0].features, vec![Feature::Ldaps]);
    let cert = table_rules(&c, "5", 49443);
    assert_eq!(cert[0].features, vec![Feature::AdfsCertAuth]);
    let t3: Vec<&Rule> = c
        .rules
        .iter()
        .filter(|r| r.table.as_deref() == Some("3"))
        .collect();
    assert_eq!(t3.len(), 3);
    assert!(t3.iter().all(|r| r.features == vec![Feature::Adfs]));

    let sb = table_rules(&c, "7a", 5671);
    assert_eq!(sb.len(), 1);
    assert_eq!(sb[0].when, When::Optional);
    assert_eq!(sb[0].features, vec![Feature::HealthAgent]);
    let https = table_rules(&c, "7a", 443);
    assert_eq!(https.len(), 1);
    assert_eq!(https[0].fallback_for.as_deref(), Some(sb[0].id.as_str()));
    assert_eq!(https[0].when, When::Fallback);
    assert_eq!(https[0].features, vec![Feature::HealthAgent]);

    // Rows that every deployment needs.
    for port in [53, 88, 389] {
        assert!(table_rules(&c, "1", port)[0].features.is_empty(), "{port}");
    }
    assert!(table_rules(&c, "2", 443)[0].features.is_empty());
    assert_eq!(
        table_rules(&c, "6a", 443)[0].features,
        vec![Feature::PassThroughAuth]
    );
    assert_eq!(table_rules(&c, "6b", 443)[0].when, When::SetupOnly);
}

#[test]
fn ambiguous_rpc_rows_cover_password_hash_sync_and_setup() {
    let c = embedded();
    for port in [135, 50000] {
        let rules = table_rules(&c, "1", port);
        assert_eq!(rules.len(), 2, "port {port}");
        assert!(rules.iter().any(
            |r| r.features == vec![Feature::PasswordHashSync] && r.when == When::EverySyncCycle
        ));
        assert!(
            rules
                .iter()
                .any(|r| r.features.is_empty() && r.when == When::SetupOnly)
        );
    }
}

#[test]
fn documented_facts_are_tolerated_with_sources() {
    let c = embedded();
    let tolerated = |proto: Proto, port: u16| {
        c.rules.iter().find(|r| {
            r.kind == Kind::Tolerated
                && r.matches(Role::Sync, Role::Dc, proto, port)
                && r.source
                    .as_deref()
                    .is_some_and(|s| s.starts_with("https://"))
        })
    };
    assert!(tolerated(Proto::Udp, 123).is_some(), "W32Time");
    assert!(tolerated(Proto::Tcp, 464).is_some(), "kpasswd tcp");
    assert!(tolerated(Proto::Udp, 464).is_some(), "kpasswd udp");
    assert!(tolerated(Proto::Tcp, 3269).is_some(), "GC over SSL");
    assert!(tolerated(Proto::Tcp, 123).is_none(), "NTP is UDP only");

    let krb = table_rules(&c, "1", 88);
    assert!(
        krb[0]
            .notes
            .iter()
            .any(|n| n.contains("UDP 88 absent is normal")),
        "Kerberos note: {:?}",
        krb[0].notes
    );
    assert!(
        krb[0]
            .source
            .as_deref()
            .is_some_and(|s| s.contains("244474"))
    );
    // Every rule without a table says where it comes from: the page and
    // section it follows, or the source of its fact.
    for r in c.rules.iter().filter(|r| r.table.is_none()) {
        assert!(
            r.source.is_some() || (r.page.is_some() && r.section.is_some()),
            "{} has no source",
            r.id
        );
    }
}

#[test]
fn entra_id_ranges_are_the_published_ones() {
    let c = embedded();
    let published = [
        "20.190.128.0/18",
        "40.126.0.0/18",
        "20.20.32.0/19",
        "20.231.128.0/19",
        "2603:1006:2000::/48",
        "2603:1007:200::/48",
        "2603:1016:1400::/48",
        "2603:1017::/48",
        "2603:1026:3000::/48",
        "2603:1027:1::/48",
        "2603:1036:3000::/48",
        "2603:1037:1::/48",
        "2603:1046:2000::/48",
        "2603:1047:1::/48",
        "2603:1056:2000::/48",
        "2603:1057:2::/48",
    ];
    for p in published {
        let net: ipnet::IpNet = p.parse().unwrap();
        assert!(c.azure_ranges.iter().any(|r| r.net == net), "{p} missing");
    }
    assert!(
        c.azure_ranges
            .iter()
            .all(|r| r.source.starts_with("https://"))
    );
    for ip in [
        "20.190.151.7",
        "20.20.63.255",
        "20.231.128.1",
        "40.126.63.1",
    ] {
        let ip: IpAddr = ip.parse().unwrap();
        assert!(c.azure_range_of(ip).is_some(), "{ip}");
    }
    // Just outside ID 56's ranges.
    for ip in ["20.20.64.0", "20.231.160.0", "40.126.64.0"] {
        let ip: IpAddr = ip.parse().unwrap();
        assert!(c.azure_range_of(ip).is_none(), "{ip}");
    }
    let ip: IpAddr = "2603:1036:3000::1".parse().unwrap();
    assert!(c.azure_range_of(ip).is_some());
    let ip: IpAddr = "10.0.0.4".parse().unwrap();
    assert!(c.azure_range_of(ip).is_none());
}

#[test]
fn hostnames_include_the_documented_endpoints() {
    let c = embedded();
    for (name, rule) in [
        ("login.microsoftonline.com", "t2-https"),
        ("adminwebservice.microsoftonline.com", "t2-https"),
        ("login.windows.net", "t2-https"),
        ("foo.msappproxy.net", "t6a-https"),
        ("ns1.servicebus.windows.net", "t7a-servicebus"),
        ("mscrl.microsoft.com", "t2-http-crl"),
        ("crl3.digicert.com", "t2-http-crl"),
        ("x.blob.core.windows.net", "t7a-https"),
        ("policykeyservice.dc.ad.msft.net", "t7a-https"),
    ] {
        assert!(
            c.hostnames_matching(name)
                .any(|h| h.serves.iter().any(|s| s == rule)),
            "{name} should serve {rule}"
        );
    }
    assert!(c.hostnames.iter().all(|h| h.source.starts_with("https://")));
}

// ---------------------------------------------------------------------------
// HostPattern
// ---------------------------------------------------------------------------

fn pat(p: &str) -> HostPattern {
    HostPattern {
        pattern: p.into(),
        serves: vec![],
        source: String::new(),
        only_from: None,
        implies: Vec::new(),
    }
}

#[test]
fn host_pattern_wildcards_match_subdomains_only() {
    let p = pat("*.servicebus.windows.net");
    assert!(p.matches("ns.servicebus.windows.net"));
    assert!(p.matches("a.b.servicebus.windows.net"));
    assert!(p.matches("NS.ServiceBus.Windows.NET."));
    assert!(!p.matches("servicebus.windows.net"));
    assert!(!p.matches("evilservicebus.windows.net"));
    assert!(!p.matches("ns.servicebus.windows.net.evil.com"));
    assert!(!p.matches(".servicebus.windows.net"));
    assert!(!p.matches(""));
}

#[test]
fn host_pattern_exact_names_ignore_case_and_trailing_dot() {
    let p = pat("login.windows.net");
    assert!(p.matches("login.windows.net"));
    assert!(p.matches("LOGIN.windows.net."));
    assert!(!p.matches("xlogin.windows.net"));
    assert!(!p.matches("a.login.windows.net"));
    assert!(pat("login.windows.net.").matches("login.windows.net"));
}

#[test]
fn port_range_parsing() {
    assert_eq!(PortRange::parse("389"), Ok(PortRange { lo: 389, hi: 389 }));
    assert_eq!(
        PortRange::parse("49152- 65535"),
        Ok(PortRange {
            lo: 49152,
            hi: 65535
        })
    );
    for bad in ["0", "65536", "-1", "a", "", "10-", "5-3", "1-2-3", "+5"] {
        assert!(PortRange::parse(bad).is_err(), "{bad:?} accepted");
    }
}

// ---------------------------------------------------------------------------
// Errors: each kind gives line:column, the field and the valid choices
// ---------------------------------------------------------------------------

/// A valid rule; tests break one line of it.
fn rule_text(id: &str) -> String {
    format!(
        "[[rule]]\n\
         id = \"{id}\"\n\
         table = \"1\"\n\
         src = \"sync\"\n\
         dst = [\"dc\"]\n\
         transport = [\"tcp\"]\n\
         ports = \"389\"\n\
         protocol = \"LDAP\"\n\
         description = \"import\"\n\
         features = []\n\
         when = \"every-sync-cycle\"\n"
    )
}

/// Parses `text` expecting an error; checks line and column against where `needle`
/// is in the text (1-based), and the field.
fn expect_err(text: &str, needle: &str, field: &str) -> ConfigError {
    let e = match Catalogue::parse("f.toml", text) {
        Ok(_) => panic!("accepted:\n{text}"),
        Err(e) => e,
    };
    let at = text
        .find(needle)
        .unwrap_or_else(|| panic!("{needle} not in text"));
    let (line, col) = crate::config::line_col(text, at);
    assert_eq!(
        (e.line, e.column),
        (Some(line), Some(col)),
        "location of {e}"
    );
    assert_eq!(e.field.as_deref(), Some(field), "field of {e}");
    assert_eq!(e.path, "f.toml");
    e
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

#[test]
fn base_rule_text_is_valid() {
    let c = Catalogue::parse("f.toml", &rule_text("a")).expect("valid");
    assert_eq!(c.rules.len(), 1);
    assert_eq!(c.rules[0].kind, Kind::Required);
    assert_eq!(c.rules[0].line, 1);
}

#[test]
fn rule_line_is_its_header_line() {
    let text = format!(
        "# comment\n\n{}\n# another\n\n{}",
        rule_text("a"),
        rule_text("b").replace("389", "636")
    );
    let c = Catalogue::parse("f.toml", &text).unwrap();
    let header_lines: Vec<usize> = text
        .lines()
        .enumerate()
        .filter(|(_, l)| *l == "[[rule]]")
        .map(|(i, _)| i + 1)
        .collect();
    assert_eq!(
        c.rules.iter().map(|r| r.line).collect::<Vec<_>>(),
        header_lines
    );
}

#[test]
fn unknown_field_names_it_and_lists_valid_fields() {
    let text = format!("{}{}", rule_text("a"), rule_text("b"))
        .replace("id = \"b\"\n", "id = \"b\"\nport = \"1\"\n");
    let e = expect_err(&text, "port = \"1\"", "rule[1].port");
    assert!(e.message.contains("unknown field `port`"), "{e}");
    assert_eq!(e.valid, strings(&RULE_FIELDS));
}

#[test]
fn unknown_top_level_field() {
    let text = format!("rules = []\n{}", rule_text("a"));
    let e = expect_err(&text, "rules", "rules");
    assert_eq!(
        e.valid,
        strings(&[
            "rule",
            "azure_range",
            "hostname",
            "client_hostname",
            "lookup",
            "tls_issuer"
        ])
    );
}

#[test]
fn missing_field_points_at_the_rule_header() {
    let text = format!("{}\n{}", rule_text("a"), rule_text("b"))
        .replace("when = \"every-sync-cycle\"\n", "");
    // Both lack `when`; the first rule is reported.
    let e = expect_err(&text, "[[rule]]", "rule[0].when");
    assert!(e.message.contains("missing field `when`"), "{e}");
}

#[test]
fn unknown_role() {
    let text = rule_text("a").replace("[\"dc\"]", "[\"dc\", \"domaincontroller\"]");
    let e = expect_err(&text, "\"domaincontroller\"", "rule[0].dst");
    assert_eq!(
        e.valid,
        strings(&["sync", "dc", "azure", "adfs", "wap", "users", "agent", "lb"])
    );
    let text = rule_text("a").replace("src = \"sync\"", "src = \"aadc\"");
    let e = expect_err(&text, "\"aadc\"", "rule[0].src");
    assert!(e.message.contains("unknown role `aadc`"));
    assert_eq!(e.valid.len(), Role::ALL.len());
}

#[test]
fn empty_src_dst_transport() {
    let text = rule_text("a").replace("src = \"sync\"", "src = []");
    let e = expect_err(&text, "[]", "rule[0].src");
    assert_eq!(e.valid.len(), Role::ALL.len());
    let text = rule_text("a").replace("dst = [\"dc\"]", "dst = []");
    expect_err(&text, "[]", "rule[0].dst");
    let text = rule_text("a").replace("[\"tcp\"]", "[]");
    let e = expect_err(&text, "[]\nports", "rule[0].transport");
    assert_eq!(e.valid, strings(&TRANSPORT_NAMES));
}

#[test]
fn unknown_transport_feature_when_kind_table() {
    let text = rule_text("a").replace("[\"tcp\"]", "[\"tcp\", \"icmp\"]");
    let e = expect_err(&text, "\"icmp\"", "rule[0].transport");
    assert_eq!(e.valid, strings(&["tcp", "udp"]));

    let text = rule_text("a").replace("features = []", "features = [\"ldaps\", \"phs\"]");
    let e = expect_err(&text, "\"phs\"", "rule[0].features");
    assert_eq!(
        e.valid,
        Feature::ALL
            .iter()
            .map(|f| f.name().to_string())
            .collect::<Vec<_>>()
    );
    assert!(e.valid.contains(&"password-hash-sync".to_string()));

    let text = rule_text("a").replace("every-sync-cycle", "hourly");
    let e = expect_err(&text, "\"hourly\"", "rule[0].when");
    assert_eq!(e.valid, strings(&WHEN_NAMES));

    let text = format!("{}kind = \"forbidden\"\n", rule_text("a"));
    let e = expect_err(&text, "\"forbidden\"", "rule[0].kind");
    assert_eq!(e.valid, strings(&["required", "tolerated"]));

    let text = rule_text("a").replace("table = \"1\"", "table = \"8\"");
    let e = expect_err(&text, "\"8\"", "rule[0].table");
    assert_eq!(e.valid, strings(&TABLES));
}

#[test]
fn bad_ports() {
    for (ports, words) in [
        ("\"0\"", "port 0"),
        ("\"100-50\"", "starts above its end"),
        ("\"ldap\"", "not a port"),
        ("\"70000\"", "above 65535"),
        ("0", "port 0"),
    ] {
        let text = rule_text("a").replace("ports = \"389\"", &format!("ports = {ports}"));
        let needle = format!("{ports}\n");
        let e = expect_err(&text, &needle, "rule[0].ports");
        assert!(e.message.contains(words), "{ports}: {e}");
    }
    let text = rule_text("a").replace("ports = \"389\"", "ports = true");
    let e = expect_err(&text, "true", "rule[0].ports");
    assert!(e.message.contains("port or port range"), "{e}");
}

#[test]
fn duplicate_ids_name_both_locations() {
    let text = format!("{}{}", rule_text("a"), rule_text("a").replace("389", "636"));
    let second = text.rfind("\"a\"").unwrap();
    let e = expect_err(
        &text,
        "\"a\"\ntable = \"1\"\nsrc = \"sync\"\ndst = [\"dc\"]\ntransport = [\"tcp\"]\nports = \"636\"",
        "rule[1].id",
    );
    let (l1, c1) = crate::config::line_col(&text, text.find("\"a\"").unwrap());
    let (l2, c2) = crate::config::line_col(&text, second);
    assert!(e.message.contains(&format!("f.toml:{l1}:{c1}")), "{e}");
    assert!(e.message.contains(&format!("f.toml:{l2}:{c2}")), "{e}");
}

#[test]
fn duplicate_ids_across_files() {
    let dir = tempfile::tempdir().unwrap();
    let one = dir.path().join("one.toml");
    let two = dir.path().join("two.toml");
    std::fs::write(&one, rule_text("a")).unwrap();
    std::fs::write(
        &two,
        format!("# extra\n{}", rule_text("a").replace("389", "9389")),
    )
    .unwrap();
    let e = Catalogue::load(&[one.clone(), two.clone()]).unwrap_err();
    assert_eq!(e.path, two.display().to_string());
    assert_eq!((e.line, e.column), (Some(3), Some(6)));
    assert_eq!(e.field.as_deref(), Some("rule[0].id"));
    assert!(e.message.contains(&format!("{}:2:6", one.display())), "{e}");

    // Distinct ids merge in order.
    std::fs::write(&two, rule_text("b").replace("389", "9389")).unwrap();
    let c = Catalogue::load(&[one.clone(), two.clone()]).unwrap();
    assert_eq!(
        c.rules.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(),
        ["a", "b"]
    );
    assert_eq!(
        c.origin,
        vec![one.display().to_string(), two.display().to_string()]
    );
    assert!(c.rule("b").is_some() && c.rule("c").is_none());

    let missing = dir.path().join("nope.toml");
    let e = Catalogue::load(std::slice::from_ref(&missing)).unwrap_err();
    assert_eq!(e.path, missing.display().to_string());
    assert!(Catalogue::load(&[]).is_err());
}

#[test]
fn fallback_for_must_name_a_rule() {
    let text = format!(
        "{}{}fallback_for = \"a-typo\"\n",
        rule_text("a"),
        rule_text("b").replace("389", "636")
    );
    let e = expect_err(&text, "\"a-typo\"", "rule[1].fallback_for");
    assert!(e.message.contains("names no rule"), "{e}");
    assert_eq!(e.valid, strings(&["a", "b"]));

    let text = format!("{}fallback_for = \"a\"\n\n", rule_text("a"));
    let e = expect_err(&text, "\"a\"\n\n", "rule[0].fallback_for");
    assert!(e.message.contains("fallback for itself"), "{e}");

    let ok = format!(
        "{}{}fallback_for = \"a\"\n",
        rule_text("a"),
        rule_text("b").replace("389", "636")
    );
    let c = Catalogue::parse("f.toml", &ok).unwrap();
    assert_eq!(c.rule("b").unwrap().fallback_for.as_deref(), Some("a"));
}

#[test]
fn repeated_or_contradictory_rules_are_rejected_with_both_locations() {
    // Same flow (sync -> dc tcp/389), same features and kind: a repeat.
    let text = format!("{}{}", rule_text("a"), rule_text("b"));
    let e = expect_err(&text, "\"b\"", "rule[1]");
    assert!(e.message.contains("repeats rule `a`"), "{e}");
    assert!(e.message.contains("f.toml:2:6"), "{e}");
    assert!(e.message.contains("f.toml:13:6"), "{e}");

    // Overlapping range, same features, different `when`: a contradiction.
    let text = format!(
        "{}{}",
        rule_text("a"),
        rule_text("b")
            .replace("\"389\"", "\"300-400\"")
            .replace("every-sync-cycle", "setup-only")
    );
    let e = expect_err(&text, "\"b\"", "rule[1]");
    assert!(e.message.contains("contradicts"), "{e}");

    // Different features or kind: a legitimate overlap, reported by overlaps().
    let text = format!(
        "{}{}",
        rule_text("a"),
        rule_text("b").replace("features = []", "features = [\"ldaps\"]")
    );
    let c = Catalogue::parse("f.toml", &text).unwrap();
    let o = c.overlaps();
    assert_eq!(o.len(), 1);
    assert_eq!((o[0].0.id.as_str(), o[0].1.id.as_str()), ("a", "b"));
}

#[test]
fn shipped_overlaps_are_deliberate() {
    let c = embedded();
    // Each shipped overlap differs in features or kind (else loading would fail).
    for (a, b) in c.overlaps() {
        assert!(
            a.features != b.features || a.kind != b.kind,
            "{} {}",
            a.id,
            b.id
        );
    }
}

#[test]
fn bad_azure_ranges() {
    let text = format!(
        "{}[[azure_range]]\nnet = \"20.190.128.0/33\"\nsource = \"x\"\n",
        rule_text("a")
    );
    let e = expect_err(&text, "\"20.190.128.0/33\"", "azure_range[0].net");
    assert!(e.message.contains("not an address range"), "{e}");
    let text = format!(
        "{}[[azure_range]]\nnet = \"20.190.128.1/18\"\nsource = \"x\"\n",
        rule_text("a")
    );
    let e = expect_err(&text, "\"20.190.128.1/18\"", "azure_range[0].net");
    assert!(e.message.contains("20.190.128.0/18"), "{e}");
    let text = format!(
        "{}[[azure_range]]\nnet = \"2603:1006:2000::/48\"\nsource = \"x\"\ncomment = 1\n",
        rule_text("a")
    );
    let e = expect_err(&text, "comment", "azure_range[0].comment");
    assert_eq!(e.valid, strings(&["net", "source"]));
}

#[test]
fn bad_hostnames() {
    for p in [
        "https://login.windows.net",
        "a.*.com",
        "**.servicebus.windows.net",
        "",
    ] {
        let text = format!(
            "{}[[hostname]]\npattern = \"{p}\"\nserves = [\"a\"]\nsource = \"x\"\n",
            rule_text("a")
        );
        let e = expect_err(&text, &format!("\"{p}\""), "hostname[0].pattern");
        assert!(e.message.contains("not a host name"), "{p}: {e}");
    }
    let text = format!(
        "{}[[hostname]]\npattern = \"*.x.net\"\nserves = [\"a\", \"zz\"]\nsource = \"x\"\n",
        rule_text("a")
    );
    let e = expect_err(&text, "\"zz\"", "hostname[0].serves");
    assert_eq!(e.valid, strings(&["a"]));
    let text = format!(
        "{}[[hostname]]\npattern = \"x.net\"\nserves = [\"a\"]\nsource = \"x\"\nonly_from = \"syncer\"\n",
        rule_text("a")
    );
    let e = expect_err(&text, "\"syncer\"", "hostname[0].only_from");
    assert!(e.message.contains("unknown role `syncer`"), "{e}");
    let text = format!(
        "{}[[client_hostname]]\npattern = \"a.*.com\"\nsource = \"x\"\n",
        rule_text("a")
    );
    let e = expect_err(&text, "\"a.*.com\"", "client_hostname[0].pattern");
    assert!(e.message.contains("not a host name"), "{e}");
    let text = format!(
        "{}[[client_hostname]]\npattern = \"a.com\"\nsource = \"x\"\nserves = []\n",
        rule_text("a")
    );
    let e = expect_err(&text, "serves", "client_hostname[0].serves");
    assert_eq!(e.valid, strings(&["pattern", "source"]));
}

#[test]
fn the_embedded_catalogue_names_the_sync_engines_endpoints_and_client_apps() {
    let c = embedded();
    let sync_only: Vec<&str> = c
        .hostnames
        .iter()
        .filter(|h| h.only_from == Some(Role::Sync))
        .map(|h| h.pattern.as_str())
        .collect();
    assert!(sync_only.contains(&"adminwebservice.microsoftonline.com"));
    assert!(
        c.client_hostnames
            .iter()
            .any(|h| h.matches("outlook.office365.com"))
    );
    // No client name is also a catalogue endpoint.
    for h in &c.client_hostnames {
        assert!(
            !c.hostnames.iter().any(|p| p.pattern == h.pattern),
            "{}",
            h.pattern
        );
    }
}

#[test]
fn error_display_reads_like_a_compiler_location() {
    let text = rule_text("a").replace("every-sync-cycle", "daily");
    let e = Catalogue::parse("rules.toml", &text).unwrap_err();
    assert_eq!(
        e.to_string(),
        "rules.toml:11:8: rule[0].when: unknown when `daily` (valid: every-sync-cycle, on-demand, setup-only, optional, fallback)"
    );
}

#[test]
fn syntax_errors_are_located() {
    let text = format!("{}ports = \n", rule_text("a"));
    let e = Catalogue::parse("f.toml", &text).unwrap_err();
    assert_eq!(e.line, Some(12));
    assert!(e.column.is_some());
    let e = Catalogue::parse(EMBEDDED_PATH, "[[rule]\n").unwrap_err();
    assert_eq!(e.path, EMBEDDED_PATH);
    assert_eq!(e.line, Some(1));
}

#[test]
fn a_file_without_rules_is_rejected() {
    let e = Catalogue::parse("f.toml", "# nothing\n").unwrap_err();
    assert!(e.message.contains("no rules"), "{e}");
}

#[test]
fn the_ports_that_identify_a_dc_come_from_the_rules() {
    // Table 1's ports of a domain controller (KB 832017), by the rules
    // marked `identifies`: renaming a rule cannot change them.
    assert_eq!(
        embedded().dc_ports(),
        [53, 88, 135, 389, 445, 464, 636, 3268, 3269]
    );
    let mut c = embedded();
    for r in &mut c.rules {
        r.id = format!("renamed-{}", r.id);
    }
    assert_eq!(c.dc_ports(), embedded().dc_ports());
}

// ---------------------------------------------------------------------------
// Rules of the pages the main page points to: page, section, when
// ---------------------------------------------------------------------------

/// The rule of `page` (a path fragment of its URL) for this flow and feature.
fn page_rule<'a>(
    c: &'a Catalogue,
    page: &str,
    (src, dst, proto, port): (Role, Role, Proto, u16),
    feature: Feature,
) -> &'a Rule {
    let found: Vec<&Rule> = c
        .rules
        .iter()
        .filter(|r| {
            r.page.as_deref().is_some_and(|p| p.contains(page))
                && r.matches(src, dst, proto, port)
                && r.features.contains(&feature)
        })
        .collect();
    assert_eq!(
        found.len(),
        1,
        "{page}: {src} -> {dst} {}/{port} for {feature}: {:?}",
        proto.name(),
        found.iter().map(|r| &r.id).collect::<Vec<_>>()
    );
    found[0]
}

#[test]
fn the_agents_outside_the_main_page_are_rules_of_their_pages() {
    use Proto::{Tcp, Udp};
    use Role::*;
    let c = embedded();
    let pta = "how-to-connect-pta-quick-start";
    let cloud = "cloud-sync/how-to-prerequisites";
    let connector = "application-proxy-add-on-premises-application";
    let sspr = "troubleshoot-sspr-writeback";
    let adfs = "ad-fs-requirements";
    use Feature::{
        Adfs as F_ADFS, CloudSync as Cs, PassThroughAuth as Pta, PasswordWriteback as Pw,
        PrivateNetworkConnector as Pnc, SeamlessSso as Sso,
    };
    use When::{EverySyncCycle as Cycle, Fallback as Fb, OnDemand as Dem, Optional as Opt};
    let (sso_how, sso_qs) = (
        "how-to-connect-sso-how-it-works",
        "how-to-connect-sso-quick-start",
    );
    for (page, flow, feature, when) in [
        (pta, (Agent, Azure, Tcp, 443), Pta, Cycle),
        (pta, (Agent, Azure, Tcp, 80), Pta, Dem),
        (pta, (Agent, Azure, Tcp, 8080), Pta, Fb),
        (pta, (Sync, Azure, Tcp, 8080), Pta, Fb),
        (cloud, (Agent, Azure, Tcp, 443), Cs, Cycle),
        (cloud, (Agent, Azure, Tcp, 80), Cs, Dem),
        (cloud, (Agent, Azure, Tcp, 8080), Cs, Fb),
        (connector, (Agent, Azure, Tcp, 443), Pnc, Cycle),
        (connector, (Agent, Azure, Tcp, 80), Pnc, Dem),
        (sspr, (Sync, Azure, Tcp, 443), Pw, Dem),
        (sso_how, (Users, Dc, Tcp, 88), Sso, Dem),
        (sso_how, (Users, Dc, Udp, 88), Sso, Dem),
        (sso_qs, (Users, Azure, Tcp, 443), Sso, Dem),
        (adfs, (Lb, Adfs, Tcp, 80), F_ADFS, Opt),
        (adfs, (Lb, Wap, Tcp, 80), F_ADFS, Opt),
    ] {
        let r = page_rule(&c, page, flow, feature);
        assert_eq!(r.when, when, "{}", r.id);
        // Seamless SSO's desktops are tolerated: their absence from a
        // capture at the servers proves nothing.
        let kind = if r.src == [Users] {
            Kind::Tolerated
        } else {
            Kind::Required
        };
        assert_eq!(r.kind, kind, "{}", r.id);
        assert_eq!(r.table, None, "{}", r.id);
        // Agent servers and load balancers are not in every deployment.
        assert_eq!(
            r.if_deployed,
            matches!(r.src[..], [Agent] | [Lb]),
            "{}",
            r.id
        );
        let p = r.cited_page().unwrap();
        assert!(
            p.starts_with("https://learn.microsoft.com/"),
            "{}: {p}",
            r.id
        );
        assert!(!r.cited_section().unwrap().is_empty(), "{}", r.id);
    }
    // The 8080 status reports stand in for the same source's 443 rule, so
    // they are never missing while 443 works.
    for (src, primary_feature) in [(Agent, Pta), (Sync, Pta)] {
        let status = page_rule(&c, pta, (src, Azure, Tcp, 8080), primary_feature);
        let primary = c.rule(status.fallback_for.as_deref().unwrap()).unwrap();
        assert!(primary.matches(src, Azure, Tcp, 443), "{}", primary.id);
        assert!(primary.features.contains(&primary_feature));
    }
    // Agent servers are domain members: their DC traffic is tolerated.
    for (proto, port) in [(Tcp, 88), (Tcp, 389), (Udp, 53), (Tcp, 445)] {
        assert!(
            c.rules
                .iter()
                .any(|r| r.kind == Kind::Tolerated && r.matches(Agent, Dc, proto, port)),
            "agent -> dc {}/{port}",
            proto.name()
        );
    }
    // The names the pages list place the endpoints and say what they serve.
    for (name, rule) in [
        (
            "contoso.passwordreset.microsoftonline.com",
            "sspr-writeback-https",
        ),
        ("autologon.microsoftazuread-sso.com", "sso-client-https"),
        ("tenant.registration.msappproxy.net", "connector-https"),
        ("relay.servicebus.windows.net", "cloud-sync-https"),
        ("ctldl.windowsupdate.com", "connector-http"),
    ] {
        assert!(
            c.hostnames_matching(name)
                .any(|h| h.serves.iter().any(|s| s == rule)),
            "{name} should serve {rule}"
        );
    }
    let writeback = c
        .most_specific_hostname("x.passwordreset.microsoftonline.com")
        .unwrap();
    assert_eq!(writeback.implies, vec![Feature::PasswordWriteback]);
}

#[test]
fn a_rule_cites_a_table_of_the_main_page_or_a_page_and_section() {
    let c = embedded();
    let t = c.rule("t6a-https").unwrap();
    assert_eq!(t.cited_page(), Some(MAIN_PAGE));
    assert_eq!(t.cited_section().as_deref(), Some("Table 6a"));
    let p = c.rule("pta-agent-status").unwrap();
    assert_eq!(p.table, None);
    assert_eq!(
        p.cited_page(),
        Some(
            "https://learn.microsoft.com/entra/identity/hybrid/connect/how-to-connect-pta-quick-start"
        )
    );
    assert_eq!(
        p.cited_section().as_deref(),
        Some("Step 1: Check the prerequisites")
    );
    let fact = c.rule("dc-w32time").unwrap();
    assert_eq!((fact.cited_page(), fact.cited_section()), (None, None));

    let text = rule_text("a").replace(
        "table = \"1\"\n",
        "page = \"https://learn.microsoft.com/x\"\nsection = \"Open ports\"\n",
    );
    let r = Catalogue::parse("f.toml", &text).unwrap().rules.remove(0);
    assert_eq!(r.page.as_deref(), Some("https://learn.microsoft.com/x"));
    assert_eq!(r.section.as_deref(), Some("Open ports"));
    assert_eq!(r.table, None);
}

#[test]
fn bad_page_and_section_are_located() {
    let page = "page = \"https://learn.microsoft.com/x\"\n";
    let section = "section = \"Open ports\"\n";
    // Page without section, section without page.
    let text = rule_text("a").replace("table = \"1\"\n", page);
    let e = expect_err(&text, "\"https://learn", "rule[0].page");
    assert!(e.message.contains("`section`"), "{e}");
    let text = rule_text("a").replace("table = \"1\"\n", section);
    let e = expect_err(&text, "\"Open ports\"", "rule[0].section");
    assert!(e.message.contains("`page`"), "{e}");
    // A table of the main page and another page at once.
    let text = rule_text("a").replace(
        "table = \"1\"\n",
        &format!("table = \"1\"\n{page}{section}"),
    );
    let e = expect_err(&text, "\"1\"", "rule[0].table");
    assert!(e.message.contains("main page"), "{e}");
    // Not an https URL; an empty section.
    let text = rule_text("a").replace(
        "table = \"1\"\n",
        &format!("page = \"learn.microsoft.com/x\"\n{section}"),
    );
    let e = expect_err(&text, "\"learn.", "rule[0].page");
    assert!(e.message.contains("https://"), "{e}");
    let text = rule_text("a").replace("table = \"1\"\n", &format!("{page}section = \" \"\n"));
    let e = expect_err(&text, "\" \"", "rule[0].section");
    assert!(e.message.contains("empty"), "{e}");
    // A wrong type names the field too.
    let text = rule_text("a").replace("table = \"1\"\n", &format!("{page}section = 3\n"));
    let e = Catalogue::parse("f.toml", &text).unwrap_err();
    assert_eq!(e.field.as_deref(), Some("rule[0].section"), "{e}");
    assert_eq!(e.line, Some(4), "{e}");
}

#[test]
fn the_new_roles_and_features_have_names() {
    for (role, name) in [(Role::Agent, "agent"), (Role::Lb, "lb")] {
        assert_eq!(role.name(), name);
        assert_eq!(Role::from_name(name), Some(role));
    }
    for (f, name) in [
        (Feature::CloudSync, "cloud-sync"),
        (
            Feature::PrivateNetworkConnector,
            "private-network-connector",
        ),
    ] {
        assert_eq!(f.name(), name);
        assert_eq!(Feature::from_name(name), Some(f));
    }
}

#[test]
fn if_deployed_is_a_located_bool() {
    let text = format!("{}if_deployed = true\n", rule_text("a"));
    assert!(Catalogue::parse("f.toml", &text).unwrap().rules[0].if_deployed);
    assert!(!Catalogue::parse("f.toml", &rule_text("a")).unwrap().rules[0].if_deployed);
    let text = format!("{}if_deployed = \"yes\"\n", rule_text("a"));
    let e = Catalogue::parse("f.toml", &text).unwrap_err();
    assert_eq!(e.field.as_deref(), Some("rule[0].if_deployed"), "{e}");
    assert_eq!(e.line, Some(12), "{e}");
}

// ---------------------------------------------------------------------------
// [[lookup]]: the DC locator's names
// ---------------------------------------------------------------------------

/// A valid lookup after one rule it serves.
fn lookup_text(pattern: &str) -> String {
    format!(
        "{}\n[[lookup]]\n\
         pattern = \"{pattern}\"\n\
         serves = [\"a\"]\n\
         meaning = \"the DCs\"\n\
         source = \"https://example.org/\"\n",
        rule_text("a")
    )
}

#[test]
fn lookup_suffix_star_matches_the_name_in_any_domain() {
    let c = Catalogue::parse("f.toml", &lookup_text("_ldap._tcp.dc._msdcs.*")).expect("valid");
    let l = &c.lookups[0];
    assert!(l.matches("_ldap._tcp.dc._msdcs.corp.example"));
    assert!(l.matches("_LDAP._tcp.DC._msdcs.Corp.Example."));
    assert!(!l.matches("_ldap._tcp.dc._msdcs"), "no domain");
    assert!(!l.matches("_ldap._tcp.dc._msdcs."), "an empty domain");
    assert!(!l.matches("_ldap._tcp.gc._msdcs.corp.example"));
    assert!(!l.matches("x_ldap._tcp.dc._msdcs.corp.example"));
}

#[test]
fn the_most_specific_lookup_wins() {
    let c = embedded();
    let serves = |n: &str| {
        c.watched(n)
            .map(|w| (w.pattern().to_string(), w.serves().to_vec()))
    };
    assert_eq!(
        serves("_ldap._tcp.dc._msdcs.corp.example"),
        Some((
            "_ldap._tcp.dc._msdcs.*".into(),
            strings(&["t1-ldap", "t1-kerberos"])
        ))
    );
    assert_eq!(
        serves("_ldap._tcp.Default-First-Site-Name._sites.corp.example").map(|s| s.0),
        Some("_ldap._tcp.*".into())
    );
    assert_eq!(
        serves("_kerberos._udp.corp.example").map(|s| s.1),
        Some(strings(&["t1-kerberos"]))
    );
    // A Microsoft endpoint is watched after the lookups; an unrelated name is not.
    assert!(matches!(
        c.watched("login.microsoftonline.com"),
        Some(Watched::Endpoint(_))
    ));
    assert_eq!(c.watched("www.example.org"), None);
    assert_eq!(c.watched("_ldap._tcp"), None);
}

#[test]
fn every_lookup_serves_known_rules_and_cites_microsoft() {
    let c = embedded();
    assert!(c.lookups.len() >= 5);
    for l in &c.lookups {
        assert!(
            l.source.starts_with("https://learn.microsoft.com/"),
            "{l:?}"
        );
        for id in &l.serves {
            assert!(c.rules.iter().any(|r| &r.id == id), "{id} in {l:?}");
        }
    }
}

#[test]
fn lookup_errors_name_the_field() {
    let text = lookup_text("_ldap._tcp.dc._msdcs.*");
    let e = expect_err(
        &text.replace("_ldap._tcp.dc._msdcs.*", "bad name!.*"),
        "\"bad name!.*\"",
        "lookup[0].pattern",
    );
    assert!(e.message.contains("not a DNS name"), "{e}");
    expect_err(
        &text.replace("meaning = \"the DCs\"", "meaning = \" \""),
        "\" \"",
        "lookup[0].meaning",
    );
    expect_err(
        &text.replace("serves = [\"a\"]", "serves = [ ]"),
        "[ ]",
        "lookup[0].serves",
    );
    let e = expect_err(
        &text.replace("serves = [\"a\"]", "serves = [\"a\", \"nope\"]"),
        "\"nope\"",
        "lookup[0].serves",
    );
    assert!(e.message.contains("nope"), "{e}");
    let e = expect_err(
        &text.replace("source =", "sorce ="),
        "sorce",
        "lookup[0].sorce",
    );
    assert_eq!(e.valid, strings(&LOOKUP_FIELDS));
}

/// A rule and the issuers `orgs`.
fn issuer_text(orgs: &[&str]) -> String {
    let mut text = rule_text("a");
    for o in orgs {
        text.push_str(&format!(
            "[[tls_issuer]]\norganization = \"{o}\"\nsource = \"https://learn.microsoft.com/x\"\n"
        ));
    }
    text
}

#[test]
fn tls_issuers_load_and_decide_trust() {
    let c = Catalogue::parse(
        "f.toml",
        &issuer_text(&["Microsoft Corporation", "DigiCert Inc"]),
    )
    .unwrap();
    assert_eq!(c.tls_issuers.len(), 2);
    let w = c.name_watch();
    assert_eq!(w.trusts_issuer(b"microsoft corporation"), Some(true));
    assert_eq!(w.trusts_issuer(b"Zscaler Inc."), Some(false));
    // Without any issuer listed nothing is judged.
    let bare = Catalogue::parse("f.toml", &rule_text("a")).unwrap();
    assert_eq!(bare.name_watch().trusts_issuer(b"Zscaler Inc."), None);
}

#[test]
fn tls_issuer_errors_name_the_field() {
    let text = issuer_text(&["Microsoft Corporation", "MICROSOFT corporation"]);
    let e = expect_err(
        &text,
        "\"MICROSOFT corporation\"",
        "tls_issuer[1].organization",
    );
    assert!(e.message.contains("listed twice"), "{e}");
    expect_err(&issuer_text(&[" "]), "\" \"", "tls_issuer[0].organization");
    let e = expect_err(
        &issuer_text(&["DigiCert Inc"]).replace("source =", "sorce ="),
        "sorce",
        "tls_issuer[0].sorce",
    );
    assert_eq!(e.valid, strings(&TLS_ISSUER_FIELDS));
}
