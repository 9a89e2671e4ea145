//! Inventory tests. Expected locations are counted by hand from the test text
//! (columns are 1-based characters), never taken from the code's output.

use super::*;
use crate::catalogue::CloudRange;
use std::net::IpAddr;

const ROLES: &str = "(valid: sync, dc, azure, adfs, wap, users, agent, lb)";
const FEATURES: &str = "(valid: password-hash-sync, pass-through-auth, seamless-sso, \
password-writeback, ldaps, adfs, adfs-gmsa, adfs-cert-auth, health-agent, cloud-sync, \
private-network-connector)";

fn err(text: &str) -> String {
    match Inventory::parse("inv.toml", text) {
        Ok(inv) => panic!("expected an error, parsed {inv:?}"),
        Err(e) => e.to_string(),
    }
}

fn inv(text: &str) -> Inventory {
    match Inventory::parse("inv.toml", text) {
        Ok(inv) => inv,
        Err(e) => panic!("{e}"),
    }
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn role(inv: &Inventory, s: &str) -> Option<Role> {
    inv.role_of(ip(s)).map(|e| e.role)
}

fn net(s: &str) -> IpNet {
    s.parse().unwrap()
}

/// The example of issue 3, verbatim.
const ISSUE_EXAMPLE: &str = r#"features = ["password-hash-sync", "seamless-sso", "adfs"]
[roles]
sync  = ["10.0.1.10", "fd00::1:10"]
dc    = ["10.0.0.4", "10.0.0.5"]
adfs  = ["10.0.2.20/31"]
wap   = ["192.168.100.30"]
users = ["10.0.50.0/24", "203.0.113.0/24"]
azure = ["52.168.10.20"]   # added to the built-in Microsoft ranges
"#;

#[test]
fn issue_example_loads() {
    let i = inv(ISSUE_EXAMPLE);
    assert_eq!(
        i.features,
        vec![
            Feature::PasswordHashSync,
            Feature::SeamlessSso,
            Feature::Adfs
        ]
    );
    assert!(!i.features_assumed);
    assert_eq!(i.entries.len(), 9);
    assert_eq!(role(&i, "10.0.1.10"), Some(Role::Sync));
    assert_eq!(role(&i, "fd00::1:10"), Some(Role::Sync));
    assert_eq!(role(&i, "10.0.0.5"), Some(Role::Dc));
    assert_eq!(role(&i, "10.0.2.21"), Some(Role::Adfs));
    assert_eq!(role(&i, "10.0.2.22"), None);
    assert_eq!(role(&i, "203.0.113.77"), Some(Role::Users));
    assert_eq!(role(&i, "52.168.10.20"), Some(Role::Azure));
    let dc = i.role_of(ip("10.0.0.4")).unwrap();
    assert_eq!(dc.line, 4);
    assert_eq!(dc.source, RoleSource::Inventory);
    let dcs: Vec<_> = i.entries_of(Role::Dc).map(|e| e.net).collect();
    assert_eq!(dcs, vec![net("10.0.0.4/32"), net("10.0.0.5/32")]);
    assert_eq!(i.entries_of(Role::Users).count(), 2);
}

// ---- each kind of mistake: file:line:column, field, valid choices ----

#[test]
fn unknown_role() {
    let t = "features = [\"adfs\"]\n[roles]\nsyncc = [\"10.0.1.10\"]\n";
    assert_eq!(
        err(t),
        format!("inv.toml:3:1: roles: unknown role `syncc` {ROLES}")
    );
}

#[test]
fn unknown_role_as_dotted_key() {
    // `roles.syncc` at top level: the column is that of `syncc`.
    let t = "roles.syncc = [\"10.0.1.10\"]\n";
    assert_eq!(
        err(t),
        format!("inv.toml:1:7: roles: unknown role `syncc` {ROLES}")
    );
}

#[test]
fn features_after_roles_header_explains_toml_scoping() {
    let t = "[roles]\ndc = [\"10.0.0.4\"]\nfeatures = [\"adfs\"]\n";
    assert_eq!(
        err(t),
        format!(
            "inv.toml:3:1: roles: unknown role `features`; `features` must come before `[roles]`, \
             or every key after the header belongs to it {ROLES}"
        )
    );
}

#[test]
fn unknown_feature() {
    let t = "features = [\"password-hash-sync\", \"seamles-sso\"]\n";
    // `features = [` is 12 characters, the first string 20, then `, `.
    assert_eq!(
        err(t),
        format!("inv.toml:1:35: features[1]: unknown feature `seamles-sso` {FEATURES}")
    );
}

#[test]
fn feature_of_wrong_type() {
    let t = "\nfeatures = [\"adfs\", 3]\n";
    assert_eq!(
        err(t),
        format!(
            "inv.toml:2:21: features[1]: expected a feature name (a string), found integer {FEATURES}"
        )
    );
}

#[test]
fn features_not_an_array() {
    let t = "features = \"adfs\"\n";
    assert_eq!(
        err(t),
        format!(
            "inv.toml:1:12: features: expected an array of feature names like \
             [\"password-hash-sync\"], found string {FEATURES}"
        )
    );
}

#[test]
fn bad_address() {
    let t = "[roles]\ndc = [\"10.0.0.4\", \"10.0.0.300\"]\n";
    assert_eq!(
        err(t),
        "inv.toml:2:19: roles.dc[1]: bad address or CIDR `10.0.0.300`: \
         expected an IPv4 or IPv6 address or CIDR like 10.0.0.0/24"
    );
}

#[test]
fn bad_prefix_lengths_and_forms() {
    for (bad, col) in [
        ("10.0.0.0/33", 10),
        ("fd00::/129", 10),
        ("10.0.0.0/", 10),
        ("/24", 10),
        ("dc1.example.com", 10),
        ("fe80::1%eth0", 10),
        (" 10.0.0.4", 10),
        ("", 10),
    ] {
        let t = format!("[roles]\nwap   = [\"{bad}\"]\n");
        assert_eq!(
            err(&t),
            format!(
                "inv.toml:2:{col}: roles.wap[0]: bad address or CIDR `{bad}`: \
                 expected an IPv4 or IPv6 address or CIDR like 10.0.0.0/24"
            ),
            "{bad}"
        );
    }
}

#[test]
fn address_of_wrong_type() {
    let t = "[roles]\ndc = [\"10.0.0.4\", 4]\n";
    assert_eq!(
        err(t),
        "inv.toml:2:19: roles.dc[1]: expected an IPv4 or IPv6 address or CIDR like 10.0.0.0/24 \
         (a string), found integer"
    );
}

#[test]
fn role_not_an_array() {
    let t = "[roles]\nsync = \"10.0.1.10\"\n";
    assert_eq!(
        err(t),
        "inv.toml:2:8: roles.sync: expected an array of addresses like \
         [\"10.0.0.4\", \"10.0.50.0/24\"], found string"
    );
}

#[test]
fn roles_not_a_table() {
    let t = "roles = [\"10.0.0.4\"]\n";
    assert_eq!(
        err(t),
        format!(
            "inv.toml:1:9: roles: expected a table of role = [addresses], like [roles] then \
             sync = [\"10.0.1.10\"]; found array {ROLES}"
        )
    );
}

#[test]
fn unknown_top_level_key() {
    let t = "\n\nfeature = [\"adfs\"]\n";
    assert_eq!(
        err(t),
        "inv.toml:3:1: unknown top-level key `feature` (valid: features, roles)"
    );
}

#[test]
fn duplicate_key_keeps_the_parsers_location() {
    let t = "[roles]\ndc = [\"10.0.0.4\"]\ndc = [\"10.0.0.5\"]\n";
    assert_eq!(
        err(t),
        "inv.toml:3:1: duplicate key `dc`; first set at line 2, column 1"
    );
}

#[test]
fn toml_syntax_error_is_located() {
    let t = "[roles]\ndc = [10.0.0.4]\n";
    let e = Inventory::parse("inv.toml", t).unwrap_err();
    assert_eq!(e.line, Some(2), "{e}");
    assert_eq!(e.path, "inv.toml");
}

#[test]
fn same_host_in_two_roles_names_both_places() {
    let t = "[roles]\nsync = [\"10.0.1.10\"]\ndc   = [\"10.0.1.10/32\"]\n";
    assert_eq!(
        err(t),
        "inv.toml:3:9: roles.dc[0]: 10.0.1.10 is listed as dc here and as sync at line 2, \
         column 9; a host or prefix can have only one role (a more specific prefix may \
         override a broader one)"
    );
}

#[test]
fn equal_prefixes_after_truncation_and_v4_mapping_collide() {
    // 10.0.2.21/31 is the network 10.0.2.20/31.
    let t = "[roles]\nadfs = [\"10.0.2.20/31\"]\nwap = [\"10.0.2.21/31\"]\n";
    let e = Inventory::parse("inv.toml", t).unwrap_err();
    assert_eq!((e.line, e.column), (Some(3), Some(8)));
    assert!(e.message.contains("as adfs at line 2, column 9"), "{e}");
    // ::ffff:10.0.0.4 is 10.0.0.4.
    let t = "[roles]\ndc = [\"10.0.0.4\"]\nsync = [\"::ffff:10.0.0.4\"]\n";
    let e = Inventory::parse("inv.toml", t).unwrap_err();
    assert_eq!((e.line, e.column), (Some(3), Some(9)));
    assert!(e.message.contains("as dc at line 2, column 7"), "{e}");
}

#[test]
fn first_mistake_in_file_order_is_reported() {
    // Keys are stored sorted by name (`adfs` < `zzz`); the report must still
    // follow the file.
    let t = "[roles]\nzzz = []\nadfs = [\"nope\"]\n";
    assert!(err(t).starts_with("inv.toml:2:1: roles: unknown role `zzz`"));
}

#[test]
fn control_characters_in_names_are_escaped() {
    let t = "[roles]\n\"s\\nync\" = []\n";
    assert_eq!(
        err(t),
        format!("inv.toml:2:1: roles: unknown role `s\\nync` {ROLES}")
    );
}

// ---- harmless oddities: accepted, with a located warning ----

#[test]
fn host_bits_are_truncated_with_a_warning() {
    let t = "[roles]\nadfs = [\"10.0.2.21/31\"]\n";
    let (i, w) = Inventory::parse_with_warnings("inv.toml", t).unwrap();
    assert_eq!(i.entries.len(), 1);
    assert_eq!(i.entries[0].net, net("10.0.2.20/31"));
    assert_eq!(role(&i, "10.0.2.20"), Some(Role::Adfs));
    assert_eq!(role(&i, "10.0.2.21"), Some(Role::Adfs));
    assert_eq!(role(&i, "10.0.2.22"), None);
    assert_eq!(role(&i, "10.0.2.19"), None);
    let w: Vec<String> = w.iter().map(ToString::to_string).collect();
    assert_eq!(
        w,
        vec![
            "inv.toml:2:9: roles.adfs[0]: `10.0.2.21/31` has host bits set; using 10.0.2.20/31"
                .to_string()
        ]
    );
}

#[test]
fn same_entry_twice_in_one_role_is_kept_once() {
    let t = "[roles]\ndc = [\"10.0.0.4\", \"10.0.0.4/32\"]\n";
    let (i, w) = Inventory::parse_with_warnings("inv.toml", t).unwrap();
    assert_eq!(i.entries.len(), 1);
    assert_eq!(w.len(), 1);
    assert_eq!(
        w[0].to_string(),
        "inv.toml:2:19: roles.dc[1]: 10.0.0.4 is already listed for dc at line 2, \
         column 7; kept once"
    );
}

#[test]
fn feature_twice_is_kept_once() {
    let t = "features = [\"adfs\", \"adfs\"]\n";
    let (i, w) = Inventory::parse_with_warnings("inv.toml", t).unwrap();
    assert_eq!(i.features, vec![Feature::Adfs]);
    assert_eq!(w.len(), 1);
    assert_eq!(w[0].field.as_deref(), Some("features[1]"));
}

// ---- features ----

#[test]
fn features_assumed_when_omitted() {
    let i = inv("[roles]\nsync = [\"10.0.1.10\"]\n");
    assert_eq!(i.features, vec![Feature::PasswordHashSync]);
    assert!(i.features_assumed);

    let i = inv("[roles]\nsync = [\"10.0.1.10\"]\nadfs = [\"10.0.2.20\"]\n");
    assert_eq!(i.features, vec![Feature::PasswordHashSync, Feature::Adfs]);
    assert!(i.features_assumed);

    let i = inv("[roles]\nwap = [\"192.168.100.30\"]\n");
    assert_eq!(i.features, vec![Feature::PasswordHashSync, Feature::Adfs]);

    // An empty list of adfs hosts lists no adfs host.
    let i = inv("[roles]\nadfs = []\n");
    assert_eq!(i.features, vec![Feature::PasswordHashSync]);

    let i = inv("");
    assert_eq!(i.features, vec![Feature::PasswordHashSync]);
    assert!(i.features_assumed);
    assert!(i.entries.is_empty());
}

#[test]
fn empty_features_means_none_not_assumed() {
    let i = inv("features = []\n[roles]\nadfs = [\"10.0.2.20\"]\n");
    assert!(i.features.is_empty());
    assert!(!i.features_assumed);
}

// ---- lookups ----

#[test]
fn nested_prefixes_most_specific_wins_whatever_the_file_order() {
    let t = "[roles]\nsync = [\"10.0.0.10\"]\ndc = [\"10.0.0.0/24\"]\nusers = [\"10.0.0.0/8\"]\n";
    let u = "[roles]\nusers = [\"10.0.0.0/8\"]\ndc = [\"10.0.0.0/24\"]\nsync = [\"10.0.0.10\"]\n";
    for i in [inv(t), inv(u)] {
        assert_eq!(role(&i, "10.0.0.10"), Some(Role::Sync));
        assert_eq!(role(&i, "10.0.0.11"), Some(Role::Dc));
        assert_eq!(role(&i, "10.0.0.0"), Some(Role::Dc));
        assert_eq!(role(&i, "10.0.0.255"), Some(Role::Dc));
        assert_eq!(role(&i, "10.0.1.0"), Some(Role::Users));
        assert_eq!(role(&i, "10.255.255.255"), Some(Role::Users));
        assert_eq!(role(&i, "11.0.0.0"), None);
        assert_eq!(role(&i, "9.255.255.255"), None);
    }
}

#[test]
fn ipv6_lookups() {
    let t = "[roles]\nsync = [\"fd00::1:10\"]\nusers = [\"fd00::/48\"]\ndc = [\"10.0.0.4\"]\n";
    let i = inv(t);
    assert_eq!(role(&i, "fd00::1:10"), Some(Role::Sync));
    assert_eq!(role(&i, "fd00::1:11"), Some(Role::Users));
    assert_eq!(role(&i, "fd00:0:0:ffff::1"), Some(Role::Users));
    assert_eq!(role(&i, "fd00:0:1::"), None);
    // Families never mix: ::a00:4 (IPv4-compatible, deprecated) is not 10.0.0.4.
    assert_eq!(role(&i, "::a00:4"), None);
    assert_eq!(role(&i, "10.0.0.4"), Some(Role::Dc));
}

#[test]
fn v4_mapped_addresses_are_their_ipv4_address() {
    let t = "[roles]\ndc = [\"10.0.0.4\"]\nsync = [\"::ffff:10.0.1.10\"]\nusers = [\"::ffff:10.0.50.0/120\"]\n";
    let i = inv(t);
    assert_eq!(role(&i, "::ffff:10.0.0.4"), Some(Role::Dc));
    assert_eq!(role(&i, "10.0.1.10"), Some(Role::Sync));
    assert_eq!(role(&i, "10.0.50.200"), Some(Role::Users));
    assert_eq!(role(&i, "::ffff:10.0.50.200"), Some(Role::Users));
    assert_eq!(role(&i, "10.0.51.1"), None);
    let sync: Vec<_> = i.entries_of(Role::Sync).map(|e| e.net).collect();
    assert_eq!(sync, vec![net("10.0.1.10/32")]);
    let users: Vec<_> = i.entries_of(Role::Users).map(|e| e.net).collect();
    assert_eq!(users, vec![net("10.0.50.0/24")]);
}

fn cloud() -> Vec<CloudRange> {
    ["20.190.128.0/18", "40.126.0.0/18", "2603:1006:2000::/48"]
        .into_iter()
        .map(|n| CloudRange {
            net: net(n),
            source: "test".into(),
        })
        .collect()
}

#[test]
fn cloud_ranges_are_azure_and_inventory_wins() {
    let t = r#"[roles]
azure = ["20.190.128.0/18", "52.168.10.20"]
sync  = ["20.190.130.5"]
users = ["0.0.0.0/0"]
"#;
    let i = inv(t).with_cloud_ranges(&cloud());
    // Equal prefix: the inventory's copy is kept, the catalogue's dropped.
    let r = i.role_of(ip("20.190.129.1")).unwrap();
    assert_eq!(
        (r.role, r.source, r.line),
        (Role::Azure, RoleSource::Inventory, 2)
    );
    assert_eq!(
        i.entries
            .iter()
            .filter(|e| e.net == net("20.190.128.0/18"))
            .count(),
        1
    );
    // A host inside a cloud range keeps its inventory role.
    assert_eq!(role(&i, "20.190.130.5"), Some(Role::Sync));
    // A cloud range narrower than a broad inventory prefix still applies.
    let r = i.role_of(ip("40.126.1.1")).unwrap();
    assert_eq!(
        (r.role, r.source, r.line),
        (Role::Azure, RoleSource::Catalogue, 0)
    );
    assert_eq!(role(&i, "2603:1006:2000::17"), Some(Role::Azure));
    assert_eq!(role(&i, "8.8.8.8"), Some(Role::Users));
    assert_eq!(role(&i, "52.168.10.20"), Some(Role::Azure));
    assert_eq!(role(&i, "2001:db8::1"), None);
    // Adding the same ranges twice changes nothing.
    let again = i.clone().with_cloud_ranges(&cloud());
    assert_eq!(again, i);
}

#[test]
fn entries_sorted_most_specific_first() {
    let i = inv(ISSUE_EXAMPLE).with_cloud_ranges(&cloud());
    let lens: Vec<u8> = i.entries.iter().map(|e| e.net.prefix_len()).collect();
    let mut sorted = lens.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(lens, sorted);
}

#[test]
fn empty_inventory_has_no_hosts() {
    let i = Inventory::empty(vec![Feature::Ldaps]);
    assert_eq!(i.features, vec![Feature::Ldaps]);
    assert!(!i.features_assumed);
    assert_eq!(role(&i, "10.0.0.1"), None);
    let i = i.with_cloud_ranges(&cloud());
    assert_eq!(role(&i, "20.190.128.1"), Some(Role::Azure));
}

// ---- files ----

#[test]
fn load_reads_a_file_and_names_it_in_errors() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("inv.toml");
    std::fs::write(&p, ISSUE_EXAMPLE).unwrap();
    let i = Inventory::load(&p).unwrap();
    assert_eq!(i.path, p.display().to_string());
    assert_eq!(i.entries.len(), 9);

    std::fs::write(&p, "[roles]\nsyncc = []\n").unwrap();
    let e = Inventory::load(&p).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!("{}:2:1: roles: unknown role `syncc` {ROLES}", p.display())
    );

    let missing = dir.path().join("nope.toml");
    let e = Inventory::load(&missing).unwrap_err();
    assert_eq!(e.path, missing.display().to_string());
    assert_eq!(e.line, None);
    assert!(
        e.to_string()
            .starts_with(&format!("{}: cannot read", missing.display()))
    );

    std::fs::write(&p, b"features = [\"\xff\"]\n").unwrap();
    let e = Inventory::load(&p).unwrap_err();
    assert_eq!(e.path, p.display().to_string());
}

// ---- robustness ----

mod prop {
    use super::*;
    use proptest::prelude::*;

    /// Longest-prefix match by brute force, the obvious way.
    fn brute(entries: &[RoleEntry], ip: IpAddr) -> Option<(IpNet, Role)> {
        let ip = ip.to_canonical();
        entries
            .iter()
            .filter(|e| e.net.contains(&ip))
            .max_by_key(|e| e.net.prefix_len())
            .map(|e| (e.net, e.role))
    }

    fn v4net() -> impl Strategy<Value = String> {
        // Few distinct high bits so that prefixes nest and collide often.
        (0u32..4, any::<u32>(), 0u8..=32).prop_map(|(hi, lo, len)| {
            let a = std::net::Ipv4Addr::from((hi << 30) | (lo >> 2));
            format!("{a}/{len}")
        })
    }

    proptest! {
        #[test]
        fn arbitrary_text_never_panics(s in "\\PC*") {
            let _ = Inventory::parse("p.toml", &s);
        }

        #[test]
        fn inventory_shaped_text_never_panics(
            lines in proptest::collection::vec(
                ("(features|roles|sync|dc|adfs|wap|users|azure|x|\\[roles\\])",
                 "( = )?(\\[|\\]|\"|[0-9a-f:./]{0,12}|, |#)*"),
                0..8)
        ) {
            let text: String = lines.iter().map(|(k, v)| format!("{k}{v}\n")).collect();
            if let Err(e) = Inventory::parse("p.toml", &text) {
                // Every error from text is located (a file, and a line when
                // the mistake is in the text).
                prop_assert_eq!(e.path.as_str(), "p.toml");
                prop_assert!(e.line.is_some(), "{}", e);
            }
        }

        #[test]
        fn lookup_is_longest_prefix_match(
            nets in proptest::collection::vec((v4net(), 0usize..6), 0..12),
            probes in proptest::collection::vec((0u32..4, any::<u32>()), 1..20),
        ) {
            let mut text = String::from("[roles]\n");
            let mut per_role: Vec<Vec<&str>> = vec![Vec::new(); 6];
            for (n, r) in &nets {
                per_role[*r].push(n);
            }
            for (r, list) in Role::ALL.iter().zip(&per_role) {
                let quoted: Vec<String> = list.iter().map(|n| format!("\"{n}\"")).collect();
                text.push_str(&format!("{} = [{}]\n", r.name(), quoted.join(", ")));
            }
            // Equal prefixes in two roles are rejected; skip those cases.
            if let Ok(i) = Inventory::parse("p.toml", &text) {
                for (hi, lo) in probes {
                    let a = IpAddr::V4(std::net::Ipv4Addr::from((hi << 30) | (lo >> 2)));
                    let got = i.role_of(a).map(|e| (e.net, e.role));
                    prop_assert_eq!(got, brute(&i.entries, a));
                    let mapped = match a { IpAddr::V4(v4) => IpAddr::V6(v4.to_ipv6_mapped()), v6 => v6 };
                    prop_assert_eq!(i.role_of(mapped).map(|e| (e.net, e.role)), got);
                }
            }
        }
    }
}

#[test]
fn duplicate_table_header_names_the_first() {
    let t = "[roles]\ndc = [\"10.0.0.4\"]\n[roles]\nsync = [\"10.0.1.10\"]\n";
    assert_eq!(
        err(t),
        "inv.toml:3:2: duplicate key `roles`; first set at line 1, column 2"
    );
}

#[test]
fn unquoted_address_gets_a_hint() {
    // The parser points inside the token; the hint quotes the whole of it.
    let e = Inventory::parse("inv.toml", "[roles]\nusers = [10.0.50.0/24]\n").unwrap_err();
    assert_eq!(e.line, Some(2));
    assert!(
        e.message
            .ends_with("; addresses must be quoted strings, like \"10.0.50.0/24\""),
        "{e}"
    );
    let e = Inventory::parse("inv.toml", "[roles]\nsync = [fd00::1]\n").unwrap_err();
    assert!(e.message.ends_with("like \"fd00::1\""), "{e}");
}

mod index {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn index_agrees_on_the_issue_example_with_cloud_ranges() {
        let i = inv(ISSUE_EXAMPLE).with_cloud_ranges(&cloud());
        let x = i.index();
        for a in [
            "10.0.1.10",
            "fd00::1:10",
            "10.0.2.21",
            "10.0.2.22",
            "20.190.128.1",
            "2603:1006:2000::1",
            "203.0.113.9",
            "::ffff:10.0.0.4",
            "0.0.0.0",
            "255.255.255.255",
            "::",
            "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
        ] {
            assert_eq!(x.role_of(ip(a)), i.role_of(ip(a)), "{a}");
        }
        assert_eq!(x.role_of(ip("10.0.0.4")).map(|e| e.role), Some(Role::Dc));
    }

    #[test]
    fn table_takes_mapped_addresses_as_written_unless_asked_canonical() {
        let i = inv(ISSUE_EXAMPLE);
        let t = i.role_table();
        assert_eq!(t.role_of(ip("10.0.0.4")), Some(Role::Dc));
        assert_eq!(t.role_of(ip("::ffff:10.0.0.4")), None);
        assert_eq!(t.role_of_canonical(ip("::ffff:10.0.0.4")), Some(Role::Dc));
        assert_eq!(t.role_of(ip("fd00::1:10")), Some(Role::Sync));
        assert_eq!(t.role_of(ip("10.0.2.21")), Some(Role::Adfs));
        assert_eq!(t.role_of(ip("10.0.2.22")), None);
    }

    /// Random prefixes in random order (not sorted), few or many per family,
    /// so both the scan and the per-length maps are exercised.
    fn entries_strategy() -> impl Strategy<Value = Vec<RoleEntry>> {
        (
            proptest::collection::vec((0u32..4, any::<u32>(), 0u8..=32, 0usize..6), 0..80),
            proptest::collection::vec((0u128..4, any::<u128>(), 0u8..=128, 0usize..6), 0..50),
        )
            .prop_map(|(nets, nets6)| {
                let mut entries = Vec::new();
                for (hi, lo, len, r) in nets {
                    let a = std::net::Ipv4Addr::from_bits((hi << 30) | (lo >> 2));
                    // Host bits left set on purpose: lookups must mask them.
                    let n = ipnet::Ipv4Net::new(a, len).unwrap();
                    entries.push(RoleEntry {
                        net: n.into(),
                        role: Role::ALL[r],
                        source: RoleSource::Inventory,
                        line: 1,
                    });
                }
                for (hi, lo, len, r) in nets6 {
                    let a = std::net::Ipv6Addr::from_bits((hi << 126) | (lo >> 2));
                    let n = ipnet::Ipv6Net::new(a, len).unwrap();
                    entries.push(RoleEntry {
                        net: n.into(),
                        role: Role::ALL[r],
                        source: RoleSource::Inventory,
                        line: 1,
                    });
                }
                entries
            })
    }

    proptest! {
        #[test]
        fn table_equals_first_containing_entry(
            entries in entries_strategy(),
            probes in proptest::collection::vec((0u32..4, any::<u32>()), 1..30),
            probes6 in proptest::collection::vec((0u128..4, any::<u128>()), 1..30),
        ) {
            let t = RoleTable::new(&entries);
            let scan = |a: IpAddr| entries.iter().find(|e| e.net.contains(&a)).map(|e| e.role);
            let mut addrs: Vec<IpAddr> = entries.iter().map(|e| e.net.addr()).collect();
            for (hi, lo) in probes {
                addrs.push(IpAddr::V4(std::net::Ipv4Addr::from_bits((hi << 30) | (lo >> 2))));
            }
            for (hi, lo) in probes6 {
                addrs.push(IpAddr::V6(std::net::Ipv6Addr::from_bits((hi << 126) | (lo >> 2))));
            }
            for a in addrs {
                prop_assert_eq!(t.role_of(a), scan(a), "{}", a);
                prop_assert_eq!(t.role_of_canonical(a), scan(a.to_canonical()), "{}", a);
            }
        }

        #[test]
        fn index_equals_scan(
            nets in proptest::collection::vec((0u32..4, any::<u32>(), 0u8..=32, 0usize..6), 0..40),
            nets6 in proptest::collection::vec((0u128..4, any::<u128>(), 0u8..=128, 0usize..6), 0..20),
            probes in proptest::collection::vec((0u32..4, any::<u32>()), 1..30),
            probes6 in proptest::collection::vec((0u128..4, any::<u128>()), 1..30),
        ) {
            let mut entries = Vec::new();
            for (hi, lo, len, r) in nets {
                let a = std::net::Ipv4Addr::from_bits((hi << 30) | (lo >> 2));
                let n = ipnet::Ipv4Net::new(a, len).unwrap().trunc();
                entries.push(RoleEntry { net: n.into(), role: Role::ALL[r], source: RoleSource::Inventory, line: 1 });
            }
            for (hi, lo, len, r) in nets6 {
                let a = std::net::Ipv6Addr::from_bits((hi << 126) | (lo >> 2));
                let n = ipnet::Ipv6Net::new(a, len).unwrap().trunc();
                entries.push(RoleEntry { net: n.into(), role: Role::ALL[r], source: RoleSource::Inventory, line: 1 });
            }
            let mut i = Inventory::empty(vec![]);
            i.entries = entries;
            i = i.with_cloud_ranges(&[]); // sorts
            let x = i.index();
            for (hi, lo) in probes {
                let a = IpAddr::V4(std::net::Ipv4Addr::from_bits((hi << 30) | (lo >> 2)));
                prop_assert_eq!(x.role_of(a), i.role_of(a));
            }
            for (hi, lo) in probes6 {
                let a = IpAddr::V6(std::net::Ipv6Addr::from_bits((hi << 126) | (lo >> 2)));
                prop_assert_eq!(x.role_of(a), i.role_of(a));
            }
        }
    }
}
