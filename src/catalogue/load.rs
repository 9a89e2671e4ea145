//! Loading rules files: TOML through serde with spans, then validation that names
//! file:line:column, the field and the valid choices for every mistake.
//!
//! Loading is two passes. Each file is parsed and checked on its own (syntax, field
//! names, values); then the files are merged in order and the checks that need every
//! rule are made (unique ids, `fallback_for` and `serves` targets, rules that repeat
//! one another). Locations are resolved to line and column in the first pass so the
//! second pass needs no file text.

// `ConfigError` is the shared, fixed error type of configuration loading (it carries
// the valid choices); loading runs once per process, so its size does not matter.
#![allow(clippy::result_large_err)]

use super::{
    Catalogue, CloudRange, EMBEDDED_RULES, Feature, HostPattern, Kind, Lookup, PortRange, Proto,
    Result, Role, Rule, TlsIssuer, When,
};
use crate::config::{ConfigError, LineIndex, line_col};
use ipnet::IpNet;
use serde::Deserialize;
use std::collections::HashMap;
use std::ops::Range;
use std::path::PathBuf;
use toml::Spanned;

/// The name errors in the built-in rules carry instead of a file path.
pub const EMBEDDED_PATH: &str = "<embedded rules>";

/// The origin recorded for the built-in rules.
pub const EMBEDDED_ORIGIN: &str = "<embedded>";

/// Tables of the main page ([`super::MAIN_PAGE`]) a rule's `table` may cite;
/// a rule from another page names it with `page` and `section` instead.
pub const TABLES: [&str; 9] = ["1", "2", "3", "4", "5", "6a", "6b", "7a", "7b"];

/// Accepted `when` values, as written in files.
pub const WHEN_NAMES: [&str; 5] = [
    "every-sync-cycle",
    "on-demand",
    "setup-only",
    "optional",
    "fallback",
];

/// Accepted `kind` values.
pub const KIND_NAMES: [&str; 2] = ["required", "tolerated"];

/// Accepted transports.
pub const TRANSPORT_NAMES: [&str; 2] = ["tcp", "udp"];

/// Keys a `[[rule]]` table may hold.
pub const RULE_FIELDS: [&str; 21] = [
    "id",
    "table",
    "page",
    "section",
    "src",
    "dst",
    "transport",
    "ports",
    "protocol",
    "description",
    "features",
    "when",
    "kind",
    "fallback_for",
    "source",
    "notes",
    "on_block",
    "on_reset",
    "epm",
    "identifies",
    "if_deployed",
];

/// Keys an `[[azure_range]]` table may hold.
pub const RANGE_FIELDS: [&str; 2] = ["net", "source"];

/// Keys a `[[hostname]]` table may hold.
pub const HOSTNAME_FIELDS: [&str; 5] = ["pattern", "serves", "source", "only_from", "implies"];

/// Keys a `[[client_hostname]]` table may hold.
pub const CLIENT_HOSTNAME_FIELDS: [&str; 2] = ["pattern", "source"];

/// Top-level keys of a rules file.
pub const TOP_FIELDS: [&str; 6] = [
    "rule",
    "azure_range",
    "hostname",
    "client_hostname",
    "lookup",
    "tls_issuer",
];

/// Keys a `[[tls_issuer]]` table may hold.
pub const TLS_ISSUER_FIELDS: [&str; 2] = ["organization", "source"];

/// Keys a `[[lookup]]` table may hold.
pub const LOOKUP_FIELDS: [&str; 4] = ["pattern", "serves", "meaning", "source"];

impl When {
    /// The name used in files and reports.
    pub fn name(self) -> &'static str {
        match self {
            When::EverySyncCycle => "every-sync-cycle",
            When::OnDemand => "on-demand",
            When::SetupOnly => "setup-only",
            When::Optional => "optional",
            When::Fallback => "fallback",
        }
    }

    /// The value with this name.
    pub fn from_name(s: &str) -> Option<When> {
        [
            When::EverySyncCycle,
            When::OnDemand,
            When::SetupOnly,
            When::Optional,
            When::Fallback,
        ]
        .into_iter()
        .find(|w| w.name() == s)
    }
}

impl Kind {
    /// The name used in files and reports.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Required => "required",
            Kind::Tolerated => "tolerated",
        }
    }
}

impl Proto {
    /// The transport with this name (`tcp` or `udp`).
    pub fn from_name(s: &str) -> Option<Proto> {
        match s {
            "tcp" => Some(Proto::Tcp),
            "udp" => Some(Proto::Udp),
            _ => None,
        }
    }
}

impl PortRange {
    /// Parses `389`, `49152-65535` or `49152 - 65535`; ports are 1..=65535 and `lo <= hi`.
    pub fn parse(s: &str) -> std::result::Result<PortRange, String> {
        let one = |p: &str| -> std::result::Result<u16, String> {
            let p = p.trim();
            if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
                return Err(format!(
                    "`{s}` is not a port or port range (write `389` or `49152-65535`)"
                ));
            }
            match p.parse::<u32>() {
                Ok(0) => Err("port 0 is not a valid destination port".to_string()),
                Ok(n) if n <= 65535 => Ok(n as u16),
                _ => Err(format!("port {p} is above 65535")),
            }
        };
        let (lo, hi) = match s.split_once('-') {
            Some((a, b)) => (one(a)?, one(b)?),
            None => {
                let p = one(s)?;
                (p, p)
            }
        };
        if lo > hi {
            return Err(format!("range `{s}` starts above its end ({lo} > {hi})"));
        }
        Ok(PortRange { lo, hi })
    }

    /// True when the two ranges share a port.
    pub fn overlaps(self, other: PortRange) -> bool {
        self.lo <= other.hi && other.lo <= self.hi
    }
}

impl HostPattern {
    /// True when `name` is covered: case-insensitive, a trailing dot ignored on either
    /// side; `*.x` matches any name below `x` (`a.x`, `a.b.x`) but not `x` itself,
    /// as in TLS wildcard and firewall FQDN rules.
    pub fn matches(&self, name: &str) -> bool {
        name_matches(&self.pattern, name)
    }
}

/// [`HostPattern::matches`] for a pattern given as text.
pub(crate) fn name_matches(pattern: &str, name: &str) -> bool {
    let name = name.strip_suffix('.').unwrap_or(name);
    let pat = pattern.strip_suffix('.').unwrap_or(pattern);
    if name.is_empty() {
        return false;
    }
    match pat.strip_prefix("*.") {
        Some(suffix) => {
            name.len() > suffix.len() + 1
                && name
                    .get(name.len() - suffix.len()..)
                    .is_some_and(|tail| tail.eq_ignore_ascii_case(suffix))
                && name.as_bytes().get(name.len() - suffix.len() - 1) == Some(&b'.')
        }
        None => name.eq_ignore_ascii_case(pat),
    }
}

/// Where something is in a file, resolved once so merging needs no text.
#[derive(Clone, Debug)]
struct Loc {
    path: String,
    line: usize,
    column: usize,
}

impl Loc {
    fn new(path: &str, lines: &LineIndex<'_>, span: &Range<usize>) -> Loc {
        let (line, column) = lines.line_col(span.start);
        Loc {
            path: path.to_string(),
            line,
            column,
        }
    }

    fn error(&self, field: String, message: impl Into<String>) -> ConfigError {
        ConfigError {
            path: self.path.clone(),
            line: Some(self.line),
            column: Some(self.column),
            field: Some(field),
            message: message.into(),
            valid: Vec::new(),
        }
    }
}

impl std::fmt::Display for Loc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}:{}", self.path, self.line, self.column)
    }
}

/// A string or an array of strings (`src = "sync"` or `src = ["sync", "adfs"]`).
///
/// Deserialized by hand: serde's `untagged` buffers values, which loses the spans
/// that `Spanned` needs.
enum OneOrMany {
    One(String),
    Many(Vec<Spanned<String>>),
}

impl<'de> Deserialize<'de> for OneOrMany {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = OneOrMany;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a role name or an array of role names")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> std::result::Result<OneOrMany, E> {
                Ok(OneOrMany::One(v.to_string()))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> std::result::Result<OneOrMany, A::Error> {
                let mut v = Vec::new();
                while let Some(x) = seq.next_element::<Spanned<String>>()? {
                    v.push(x);
                }
                Ok(OneOrMany::Many(v))
            }
        }
        d.deserialize_any(V)
    }
}

/// `ports = "389"` or `ports = 389`.
enum PortsValue {
    Text(String),
    Number(i64),
}

impl<'de> Deserialize<'de> for PortsValue {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = PortsValue;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a port or port range such as \"389\" or \"49152-65535\"")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> std::result::Result<PortsValue, E> {
                Ok(PortsValue::Text(v.to_string()))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> std::result::Result<PortsValue, E> {
                Ok(PortsValue::Number(v))
            }
        }
        d.deserialize_any(V)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    rule: Vec<Spanned<RawRule>>,
    #[serde(default)]
    azure_range: Vec<Spanned<RawRange>>,
    #[serde(default)]
    hostname: Vec<Spanned<RawHost>>,
    #[serde(default)]
    client_hostname: Vec<Spanned<RawClientHost>>,
    #[serde(default)]
    lookup: Vec<Spanned<RawLookup>>,
    #[serde(default)]
    tls_issuer: Vec<Spanned<RawIssuer>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawIssuer {
    organization: Spanned<String>,
    source: Spanned<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    id: Spanned<String>,
    table: Option<Spanned<String>>,
    page: Option<Spanned<String>>,
    section: Option<Spanned<String>>,
    src: Spanned<OneOrMany>,
    dst: Spanned<OneOrMany>,
    transport: Spanned<Vec<Spanned<String>>>,
    ports: Spanned<PortsValue>,
    protocol: Spanned<String>,
    description: Spanned<String>,
    features: Spanned<Vec<Spanned<String>>>,
    when: Spanned<String>,
    kind: Option<Spanned<String>>,
    fallback_for: Option<Spanned<String>>,
    source: Option<String>,
    #[serde(default)]
    notes: Vec<String>,
    #[serde(default)]
    on_block: Vec<String>,
    on_reset: Option<String>,
    #[serde(default)]
    epm: bool,
    #[serde(default)]
    identifies: bool,
    #[serde(default)]
    if_deployed: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRange {
    net: Spanned<String>,
    source: Spanned<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHost {
    pattern: Spanned<String>,
    serves: Spanned<Vec<Spanned<String>>>,
    source: Spanned<String>,
    only_from: Option<Spanned<String>>,
    #[serde(default)]
    implies: Vec<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLookup {
    pattern: Spanned<String>,
    serves: Spanned<Vec<Spanned<String>>>,
    meaning: Spanned<String>,
    source: Spanned<String>,
}

/// A lookup checked on its own, with where each `serves` entry is.
struct CheckedLookup {
    lookup: Lookup,
    index: usize,
    serves_at: Vec<Loc>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawClientHost {
    pattern: Spanned<String>,
    source: Spanned<String>,
}

/// A rule checked on its own, with the locations the merge step may cite.
struct Checked {
    rule: Rule,
    index: usize,
    id_at: Loc,
    fallback_at: Option<Loc>,
}

/// A hostname checked on its own, with where each `serves` entry is.
struct CheckedHost {
    host: HostPattern,
    index: usize,
    at: Loc,
    serves_at: Vec<Loc>,
}

/// One file after the first pass.
struct Parsed {
    path: String,
    rules: Vec<Checked>,
    ranges: Vec<(CloudRange, usize, Loc)>,
    hosts: Vec<CheckedHost>,
    clients: Vec<CheckedHost>,
    lookups: Vec<CheckedLookup>,
    issuers: Vec<(TlsIssuer, usize, Loc)>,
}

/// `[[name]]` header lines of a file, for rule lines and for naming fields in serde errors.
struct Headers {
    /// (byte offset of the header line, section name, index within that section).
    list: Vec<(usize, String, usize)>,
}

impl Headers {
    fn scan(text: &str) -> Headers {
        let mut list = Vec::new();
        let mut counts: HashMap<String, usize> = HashMap::new();
        let mut offset = 0;
        for line in text.split_inclusive('\n') {
            let t = line.trim();
            if let Some(inner) = t.strip_prefix("[[") {
                if let Some(end) = inner.find("]]") {
                    let name = inner.get(..end).unwrap_or("").trim().to_string();
                    let n = counts.entry(name.clone()).or_insert(0);
                    list.push((offset, name, *n));
                    *n += 1;
                }
            } else if t.starts_with('[') {
                // A plain [table] header: keys after it are not in any [[section]].
                list.push((offset, String::new(), 0));
            }
            offset += line.len();
        }
        Headers { list }
    }

    /// The header that owns byte `at`: its offset, section and index.
    fn owner(&self, at: usize) -> Option<&(usize, String, usize)> {
        self.list.iter().take_while(|(o, _, _)| *o <= at).last()
    }

    /// `rule[3]` (0-based, as the array index), or "" at top level.
    fn prefix(&self, at: usize) -> String {
        match self.owner(at) {
            Some((_, name, i)) if !name.is_empty() => format!("{name}[{i}]"),
            _ => String::new(),
        }
    }

    fn section(&self, at: usize) -> &str {
        self.owner(at).map_or("", |(_, n, _)| n.as_str())
    }
}

fn join(prefix: &str, key: &str) -> String {
    if prefix.is_empty() {
        key.to_string()
    } else if key.is_empty() {
        prefix.to_string()
    } else {
        format!("{prefix}.{key}")
    }
}

/// The first `backquoted` word of a serde message (the field it complains about).
fn quoted(msg: &str) -> Option<&str> {
    let start = msg.find('`')? + 1;
    let len = msg.get(start..)?.find('`')?;
    msg.get(start..start + len)
}

/// The key written on the line that holds byte `at` (`ports` in `ports = 0`).
fn key_on_line(text: &str, at: usize) -> Option<String> {
    let at = at.min(text.len());
    let start = text.get(..at)?.rfind('\n').map_or(0, |i| i + 1);
    let line = text.get(start..)?.lines().next()?;
    let (key, _) = line.split_once('=')?;
    let key = key.trim();
    let ok = !key.is_empty()
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.');
    ok.then(|| key.to_string())
}

/// Turns a serde/TOML error into a located error naming the field and, for unknown
/// fields, the valid ones.
fn from_toml(path: &str, text: &str, headers: &Headers, e: &toml::de::Error) -> ConfigError {
    let mut err = ConfigError::from_toml(path, text, e);
    let Some(span) = e.span() else { return err };
    let msg = e.message();
    let prefix = headers.prefix(span.start);
    let section = headers.section(span.start);
    let fields: &[&str] = match section {
        "rule" => &RULE_FIELDS,
        "azure_range" => &RANGE_FIELDS,
        "hostname" => &HOSTNAME_FIELDS,
        "client_hostname" => &CLIENT_HOSTNAME_FIELDS,
        "lookup" => &LOOKUP_FIELDS,
        "tls_issuer" => &TLS_ISSUER_FIELDS,
        _ => &TOP_FIELDS,
    };
    if msg.starts_with("unknown field") {
        let name = quoted(msg).unwrap_or("?");
        err.field = Some(join(&prefix, name));
        err.message = format!("unknown field `{name}`");
        err = err.valid(fields.iter().copied());
    } else if msg.starts_with("missing field") {
        let name = quoted(msg).unwrap_or("?");
        err.field = Some(join(&prefix, name));
        // The span covers the whole table; point at its header instead.
        if let Some((o, _, _)) = headers.owner(span.start) {
            let (l, c) = line_col(text, *o);
            err.line = Some(l);
            err.column = Some(c);
        }
    } else if let Some(key) = key_on_line(text, span.start) {
        err.field = Some(join(&prefix, &key));
    } else if !prefix.is_empty() {
        err.field = Some(prefix);
    }
    err
}

fn names<T: Copy>(all: &[T], name: fn(T) -> &'static str) -> Vec<String> {
    all.iter().map(|x| name(*x).to_string()).collect()
}

fn role_list(path: &str, text: &str, field: &str, v: &Spanned<OneOrMany>) -> Result<Vec<Role>> {
    let valid = names(&Role::ALL, Role::name);
    let items: Vec<(String, Range<usize>)> = match v.get_ref() {
        OneOrMany::One(s) => vec![(s.clone(), v.span())],
        OneOrMany::Many(list) => list
            .iter()
            .map(|s| (s.get_ref().clone(), s.span()))
            .collect(),
    };
    if items.is_empty() {
        return Err(ConfigError::at(path, text, Some(v.span()), "names no role")
            .field(field)
            .valid(valid));
    }
    let mut out = Vec::new();
    for (s, span) in items {
        match Role::from_name(&s) {
            Some(r) if !out.contains(&r) => out.push(r),
            Some(_) => {
                return Err(ConfigError::at(
                    path,
                    text,
                    Some(span),
                    format!("role `{s}` listed twice"),
                )
                .field(field));
            }
            None => {
                return Err(
                    ConfigError::at(path, text, Some(span), format!("unknown role `{s}`"))
                        .field(field)
                        .valid(valid),
                );
            }
        }
    }
    Ok(out)
}

fn valid_id(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

fn check_rule(
    path: &str,
    text: &str,
    lines: &LineIndex<'_>,
    headers: &Headers,
    index: usize,
    raw: Spanned<RawRule>,
) -> Result<Checked> {
    let span = raw.span();
    let r = raw.into_inner();
    let f = |k: &str| format!("rule[{index}].{k}");
    let at =
        |s: Range<usize>, m: String, k: &str| ConfigError::at(path, text, Some(s), m).field(f(k));

    if !valid_id(r.id.get_ref()) {
        return Err(at(
            r.id.span(),
            format!(
                "id `{}` must be non-empty lowercase letters, digits and `-`",
                r.id.get_ref()
            ),
            "id",
        ));
    }
    let table = match &r.table {
        None => None,
        Some(t) if TABLES.contains(&t.get_ref().as_str()) => Some(t.get_ref().clone()),
        Some(t) => {
            return Err(at(
                t.span(),
                format!("unknown table `{}`", t.get_ref()),
                "table",
            )
            .valid(TABLES));
        }
    };
    let (page, section) = cite(&r, &at)?;
    let src = role_list(path, text, &f("src"), &r.src)?;
    let dst = role_list(path, text, &f("dst"), &r.dst)?;

    if r.transport.get_ref().is_empty() {
        return Err(
            at(r.transport.span(), "names no transport".into(), "transport").valid(TRANSPORT_NAMES),
        );
    }
    let mut transports = Vec::new();
    for t in r.transport.get_ref() {
        match Proto::from_name(t.get_ref()) {
            Some(p) if !transports.contains(&p) => transports.push(p),
            Some(_) => {
                return Err(at(
                    t.span(),
                    format!("transport `{}` listed twice", t.get_ref()),
                    "transport",
                ));
            }
            None => {
                return Err(at(
                    t.span(),
                    format!("unknown transport `{}`", t.get_ref()),
                    "transport",
                )
                .valid(TRANSPORT_NAMES));
            }
        }
    }

    let ports = match r.ports.get_ref() {
        PortsValue::Text(s) => PortRange::parse(s),
        PortsValue::Number(n) => PortRange::parse(&n.to_string()),
    }
    .map_err(|m| at(r.ports.span(), m, "ports"))?;

    let mut features = Vec::new();
    for s in r.features.get_ref() {
        match Feature::from_name(s.get_ref()) {
            Some(x) if !features.contains(&x) => features.push(x),
            Some(_) => {
                return Err(at(
                    s.span(),
                    format!("feature `{}` listed twice", s.get_ref()),
                    "features",
                ));
            }
            None => {
                return Err(at(
                    s.span(),
                    format!("unknown feature `{}`", s.get_ref()),
                    "features",
                )
                .valid(names(&Feature::ALL, Feature::name)));
            }
        }
    }

    let when = When::from_name(r.when.get_ref()).ok_or_else(|| {
        at(
            r.when.span(),
            format!("unknown when `{}`", r.when.get_ref()),
            "when",
        )
        .valid(WHEN_NAMES)
    })?;
    let kind = match &r.kind {
        None => Kind::Required,
        Some(k) => match k.get_ref().as_str() {
            "required" => Kind::Required,
            "tolerated" => Kind::Tolerated,
            other => {
                return Err(
                    at(k.span(), format!("unknown kind `{other}`"), "kind").valid(KIND_NAMES)
                );
            }
        },
    };
    for (k, s) in [("protocol", &r.protocol), ("description", &r.description)] {
        if s.get_ref().trim().is_empty() {
            return Err(at(s.span(), format!("{k} is empty"), k));
        }
    }
    if let Some(fb) = &r.fallback_for
        && fb.get_ref() == r.id.get_ref()
    {
        return Err(at(
            fb.span(),
            format!("rule `{}` cannot be a fallback for itself", r.id.get_ref()),
            "fallback_for",
        ));
    }

    // The rule's line is its `[[rule]]` header: the last header at or before the id.
    let header = headers
        .owner(r.id.span().start)
        .filter(|(_, n, _)| n == "rule")
        .map_or(span.start, |(o, _, _)| *o);
    let (line, _) = lines.line_col(header);

    Ok(Checked {
        id_at: Loc::new(path, lines, &r.id.span()),
        fallback_at: r
            .fallback_for
            .as_ref()
            .map(|s| Loc::new(path, lines, &s.span())),
        index,
        rule: Rule {
            id: r.id.into_inner(),
            table,
            page,
            section,
            src,
            dst,
            transports,
            ports,
            protocol: r.protocol.into_inner(),
            description: r.description.into_inner(),
            features,
            when,
            kind,
            fallback_for: r.fallback_for.map(Spanned::into_inner),
            source: r.source,
            notes: r.notes,
            on_block: r.on_block,
            on_reset: r.on_reset,
            epm: r.epm,
            identifies: r.identifies,
            if_deployed: r.if_deployed,
            line,
        },
    })
}

/// A rule's citation beside `table`: `page` (an https URL) and `section` (a
/// heading of that page) come together, and not with `table`, which names a
/// section of the main page already.
fn cite(
    r: &RawRule,
    at: &dyn Fn(Range<usize>, String, &str) -> ConfigError,
) -> Result<(Option<String>, Option<String>)> {
    if let Some(t) = &r.table
        && let Some((k, _)) = [("page", &r.page), ("section", &r.section)]
            .into_iter()
            .find(|(_, v)| v.is_some())
    {
        return Err(at(
            t.span(),
            format!(
                "`table` names a table of the main page; a rule with `{k}` names its page and \
                 section with `page` and `section` instead"
            ),
            "table",
        ));
    }
    match (&r.page, &r.section) {
        (None, None) => Ok((None, None)),
        (Some(p), None) => Err(at(
            p.span(),
            "`page` needs the `section` of that page the rule follows".into(),
            "page",
        )),
        (None, Some(s)) => Err(at(
            s.span(),
            "`section` needs the `page` it is a section of".into(),
            "section",
        )),
        (Some(p), Some(s)) => {
            let url = p.get_ref().trim();
            let host = url.strip_prefix("https://").unwrap_or("");
            if host.is_empty() || host.starts_with('/') || url.contains(char::is_whitespace) {
                return Err(at(
                    p.span(),
                    format!("page `{url}` is not an https:// URL"),
                    "page",
                ));
            }
            if s.get_ref().trim().is_empty() {
                return Err(at(s.span(), "section is empty".into(), "section"));
            }
            Ok((Some(url.to_string()), Some(s.get_ref().trim().to_string())))
        }
    }
}

fn valid_pattern(p: &str) -> bool {
    let body = p.strip_prefix("*.").unwrap_or(p);
    let body = body.strip_suffix('.').unwrap_or(body);
    !body.is_empty()
        && body.split('.').all(|label| {
            !label.is_empty()
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

fn parse_one(path: &str, text: &str) -> Result<Parsed> {
    let headers = Headers::scan(text);
    let lines = &LineIndex::new(text);
    let raw: RawFile = toml::from_str(text).map_err(|e| from_toml(path, text, &headers, &e))?;

    let mut rules = Vec::new();
    for (i, r) in raw.rule.into_iter().enumerate() {
        rules.push(check_rule(path, text, lines, &headers, i, r)?);
    }

    let mut ranges = Vec::new();
    for (i, r) in raw.azure_range.into_iter().enumerate() {
        let r = r.into_inner();
        let field = format!("azure_range[{i}].net");
        let net: IpNet = r.net.get_ref().trim().parse().map_err(|_| {
            ConfigError::at(
                path,
                text,
                Some(r.net.span()),
                format!(
                    "`{}` is not an address range (write 20.190.128.0/18 or 2603:1006:2000::/48)",
                    r.net.get_ref()
                ),
            )
            .field(field.clone())
        })?;
        if net.trunc() != net {
            return Err(ConfigError::at(
                path,
                text,
                Some(r.net.span()),
                format!("`{net}` has host bits set; the range is {}", net.trunc()),
            )
            .field(field));
        }
        not_empty(path, text, &r.source, &format!("azure_range[{i}].source"))?;
        let at = Loc::new(path, lines, &r.net.span());
        ranges.push((
            CloudRange {
                net,
                source: r.source.into_inner(),
            },
            i,
            at,
        ));
    }

    let mut hosts = Vec::new();
    for (i, h) in raw.hostname.into_iter().enumerate() {
        let h = h.into_inner();
        check_pattern(path, text, &format!("hostname[{i}]"), &h.pattern, &h.source)?;
        if h.serves.get_ref().is_empty() {
            return Err(
                ConfigError::at(path, text, Some(h.serves.span()), "serves no rule")
                    .field(format!("hostname[{i}].serves")),
            );
        }
        let only_from = match &h.only_from {
            None => None,
            Some(r) => Some(Role::from_name(r.get_ref()).ok_or_else(|| {
                ConfigError::at(
                    path,
                    text,
                    Some(r.span()),
                    format!("unknown role `{}`", r.get_ref()),
                )
                .field(format!("hostname[{i}].only_from"))
                .valid(names(&Role::ALL, Role::name))
            })?),
        };
        let mut implies = Vec::new();
        for f in &h.implies {
            let feature = Feature::from_name(f.get_ref()).ok_or_else(|| {
                ConfigError::at(
                    path,
                    text,
                    Some(f.span()),
                    format!("unknown feature `{}`", f.get_ref()),
                )
                .field(format!("hostname[{i}].implies"))
                .valid(names(&Feature::ALL, Feature::name))
            })?;
            implies.push(feature);
        }
        let serves_at = h
            .serves
            .get_ref()
            .iter()
            .map(|s| Loc::new(path, lines, &s.span()))
            .collect();
        hosts.push(CheckedHost {
            at: Loc::new(path, lines, &h.pattern.span()),
            index: i,
            serves_at,
            host: HostPattern {
                pattern: h.pattern.into_inner().to_ascii_lowercase(),
                serves: h
                    .serves
                    .into_inner()
                    .into_iter()
                    .map(Spanned::into_inner)
                    .collect(),
                source: h.source.into_inner(),
                only_from,
                implies,
            },
        });
    }
    let mut clients = Vec::new();
    for (i, h) in raw.client_hostname.into_iter().enumerate() {
        let h = h.into_inner();
        check_pattern(
            path,
            text,
            &format!("client_hostname[{i}]"),
            &h.pattern,
            &h.source,
        )?;
        clients.push(CheckedHost {
            at: Loc::new(path, lines, &h.pattern.span()),
            index: i,
            serves_at: Vec::new(),
            host: HostPattern {
                pattern: h.pattern.into_inner().to_ascii_lowercase(),
                serves: Vec::new(),
                source: h.source.into_inner(),
                only_from: None,
                implies: Vec::new(),
            },
        });
    }

    let mut lookups = Vec::new();
    for (i, l) in raw.lookup.into_iter().enumerate() {
        let l = l.into_inner();
        let at = format!("lookup[{i}]");
        let body = l
            .pattern
            .get_ref()
            .strip_suffix(".*")
            .unwrap_or(l.pattern.get_ref());
        if !valid_pattern(body) {
            return Err(ConfigError::at(
                path,
                text,
                Some(l.pattern.span()),
                format!(
                    "`{}` is not a DNS name, `*.` or `.*` pattern",
                    l.pattern.get_ref()
                ),
            )
            .field(format!("{at}.pattern")));
        }
        for (field, v) in [("meaning", &l.meaning), ("source", &l.source)] {
            not_empty(path, text, v, &format!("{at}.{field}"))?;
        }
        if l.serves.get_ref().is_empty() {
            return Err(
                ConfigError::at(path, text, Some(l.serves.span()), "serves no rule")
                    .field(format!("{at}.serves")),
            );
        }
        let serves_at = l
            .serves
            .get_ref()
            .iter()
            .map(|s| Loc::new(path, lines, &s.span()))
            .collect();
        lookups.push(CheckedLookup {
            index: i,
            serves_at,
            lookup: Lookup {
                pattern: l.pattern.into_inner().to_ascii_lowercase(),
                serves: l
                    .serves
                    .into_inner()
                    .into_iter()
                    .map(Spanned::into_inner)
                    .collect(),
                meaning: l.meaning.into_inner(),
                source: l.source.into_inner(),
            },
        });
    }

    let mut issuers = Vec::new();
    for (i, t) in raw.tls_issuer.into_iter().enumerate() {
        let t = t.into_inner();
        for (field, v) in [("organization", &t.organization), ("source", &t.source)] {
            not_empty(path, text, v, &format!("tls_issuer[{i}].{field}"))?;
        }
        let at = Loc::new(path, lines, &t.organization.span());
        issuers.push((
            TlsIssuer {
                organization: t.organization.into_inner().trim().to_string(),
                source: t.source.into_inner(),
            },
            i,
            at,
        ));
    }

    Ok(Parsed {
        path: path.to_string(),
        rules,
        ranges,
        hosts,
        clients,
        lookups,
        issuers,
    })
}

/// A `pattern` that is a host name or `*.` pattern, and a `source` that is not empty.
fn check_pattern(
    path: &str,
    text: &str,
    at: &str,
    pattern: &Spanned<String>,
    source: &Spanned<String>,
) -> Result<()> {
    if !valid_pattern(pattern.get_ref()) {
        return Err(ConfigError::at(
            path,
            text,
            Some(pattern.span()),
            format!(
                "`{}` is not a host name or `*.` pattern (no scheme, path, port or inner `*`)",
                pattern.get_ref()
            ),
        )
        .field(format!("{at}.pattern")));
    }
    not_empty(path, text, source, &format!("{at}.source"))
}

/// An error at `v` when it holds only white space; `field` is its full
/// name (`tls_issuer[0].source`), whose last part the message names.
fn not_empty(path: &str, text: &str, v: &Spanned<String>, field: &str) -> Result<()> {
    if !v.get_ref().trim().is_empty() {
        return Ok(());
    }
    let name = field.rsplit('.').next().unwrap_or(field);
    Err(ConfigError::at(path, text, Some(v.span()), format!("{name} is empty")).field(field))
}

/// Two rules that cover a common (source role, destination role, transport, port).
fn shared_flow(a: &Rule, b: &Rule) -> Option<(Role, Role, Proto, u16)> {
    if !a.ports.overlaps(b.ports) {
        return None;
    }
    let s = a.src.iter().find(|r| b.src.contains(r))?;
    let d = a.dst.iter().find(|r| b.dst.contains(r))?;
    let p = a.transports.iter().find(|p| b.transports.contains(p))?;
    Some((*s, *d, *p, a.ports.lo.max(b.ports.lo)))
}

fn same_features(a: &Rule, b: &Rule) -> bool {
    a.features.len() == b.features.len() && a.features.iter().all(|f| b.features.contains(f))
}

/// Merges first-pass results in order and makes the checks that need every rule.
fn finish(files: Vec<Parsed>) -> Result<Catalogue> {
    let origin: Vec<String> = files.iter().map(|p| p.path.clone()).collect();
    let mut rules: Vec<Checked> = Vec::new();
    let mut ranges = Vec::new();
    let mut hosts: Vec<CheckedHost> = Vec::new();
    let mut clients: Vec<CheckedHost> = Vec::new();
    let mut lookups: Vec<CheckedLookup> = Vec::new();
    let mut issuers: Vec<(TlsIssuer, usize, Loc)> = Vec::new();
    let mut ids: HashMap<String, usize> = HashMap::new();
    for file in files {
        for c in file.rules {
            if let Some(&first) = ids.get(&c.rule.id) {
                let prev = &rules[first];
                return Err(c.id_at.error(
                    format!("rule[{}].id", c.index),
                    format!(
                        "duplicate rule id `{}`: first defined at {}, again here at {}",
                        c.rule.id, prev.id_at, c.id_at
                    ),
                ));
            }
            ids.insert(c.rule.id.clone(), rules.len());
            rules.push(c);
        }
        for (range, i, at) in file.ranges {
            if let Some((_, _, first)) = ranges
                .iter()
                .find(|(r, _, _): &&(CloudRange, usize, Loc)| r.net == range.net)
            {
                return Err(at.error(
                    format!("azure_range[{i}].net"),
                    format!(
                        "range `{}` listed twice: first at {first}, again here at {at}",
                        range.net
                    ),
                ));
            }
            ranges.push((range, i, at));
        }
        for (table, list, into) in [
            ("hostname", file.hosts, &mut hosts),
            ("client_hostname", file.clients, &mut clients),
        ] {
            for h in list {
                if let Some(first) = into.iter().find(|x| x.host.pattern == h.host.pattern) {
                    return Err(h.at.error(
                        format!("{table}[{}].pattern", h.index),
                        format!(
                            "pattern `{}` listed twice: first at {}, again here at {}",
                            h.host.pattern, first.at, h.at
                        ),
                    ));
                }
                into.push(h);
            }
        }
        lookups.extend(file.lookups);
        for (t, i, at) in file.issuers {
            let same = |x: &&(TlsIssuer, usize, Loc)| {
                x.0.organization.eq_ignore_ascii_case(&t.organization)
            };
            if let Some((_, _, first)) = issuers.iter().find(same) {
                return Err(at.error(
                    format!("tls_issuer[{i}].organization"),
                    format!(
                        "issuer `{}` listed twice: first at {first}, again here at {at}",
                        t.organization
                    ),
                ));
            }
            issuers.push((t, i, at));
        }
    }
    if rules.is_empty() {
        return Err(ConfigError {
            path: origin.join(", "),
            line: None,
            column: None,
            field: Some("rule".into()),
            message: "no rules: a catalogue needs at least one [[rule]]".into(),
            valid: Vec::new(),
        });
    }

    let all_ids = || {
        let mut v: Vec<String> = rules.iter().map(|c| c.rule.id.clone()).collect();
        v.sort();
        v
    };
    for c in &rules {
        if let (Some(fb), Some(at)) = (&c.rule.fallback_for, &c.fallback_at)
            && !ids.contains_key(fb)
        {
            return Err(at
                .error(
                    format!("rule[{}].fallback_for", c.index),
                    format!("fallback_for names no rule: `{fb}`"),
                )
                .valid(all_ids()));
        }
    }
    for h in &hosts {
        for (id, at) in h.host.serves.iter().zip(&h.serves_at) {
            if !ids.contains_key(id) {
                return Err(at
                    .error(
                        format!("hostname[{}].serves", h.index),
                        format!("serves names no rule: `{id}`"),
                    )
                    .valid(all_ids()));
            }
        }
    }

    for l in &lookups {
        for (id, at) in l.lookup.serves.iter().zip(&l.serves_at) {
            if !ids.contains_key(id) {
                return Err(at
                    .error(
                        format!("lookup[{}].serves", l.index),
                        format!("serves names no rule: `{id}`"),
                    )
                    .valid(all_ids()));
            }
        }
    }

    // Two rules for the same flow with the same features and kind say the same thing
    // twice, or say contradictory things about when it appears: either way a mistake.
    for (j, b) in rules.iter().enumerate() {
        for a in rules.iter().take(j) {
            if a.rule.kind != b.rule.kind || !same_features(&a.rule, &b.rule) {
                continue;
            }
            if let Some((s, d, p, port)) = shared_flow(&a.rule, &b.rule) {
                let what = if a.rule.when == b.rule.when {
                    "repeats".to_string()
                } else {
                    format!(
                        "contradicts (when = {} vs {})",
                        b.rule.when.name(),
                        a.rule.when.name()
                    )
                };
                return Err(b.id_at.error(
                    format!("rule[{}]", b.index),
                    format!(
                        "rule `{}` at {} {what} rule `{}` at {} for {s} -> {d} {}/{port} with the same features and kind",
                        b.rule.id,
                        b.id_at,
                        a.rule.id,
                        a.id_at,
                        p.name()
                    ),
                ));
            }
        }
    }

    Ok(Catalogue {
        origin,
        rules: rules.into_iter().map(|c| c.rule).collect(),
        azure_ranges: ranges.into_iter().map(|(r, _, _)| r).collect(),
        hostnames: hosts.into_iter().map(|h| h.host).collect(),
        client_hostnames: clients.into_iter().map(|h| h.host).collect(),
        lookups: lookups.into_iter().map(|l| l.lookup).collect(),
        tls_issuers: issuers.into_iter().map(|(t, _, _)| t).collect(),
    })
}

impl Catalogue {
    /// The built-in rules (`rules/hybrid-identity.toml` compiled into the binary).
    pub fn embedded() -> Result<Catalogue> {
        let mut c = Catalogue::parse(EMBEDDED_PATH, EMBEDDED_RULES)?;
        c.origin = vec![EMBEDDED_ORIGIN.to_string()];
        Ok(c)
    }

    /// Parses one rules file; `path` is only used in error messages and `origin`.
    pub fn parse(path: &str, text: &str) -> Result<Catalogue> {
        finish(vec![parse_one(path, text)?])
    }

    /// Loads several rules files and merges them in order; ids must be unique across them.
    pub fn load(paths: &[PathBuf]) -> Result<Catalogue> {
        if paths.is_empty() {
            return Err(ConfigError {
                path: String::new(),
                line: None,
                column: None,
                field: None,
                message: "no rules file given".into(),
                valid: Vec::new(),
            });
        }
        let mut parsed = Vec::new();
        for p in paths {
            let name = p.display().to_string();
            let text = std::fs::read_to_string(p).map_err(|e| ConfigError {
                path: name.clone(),
                line: None,
                column: None,
                field: None,
                message: format!("cannot read rules file: {e}"),
                valid: Vec::new(),
            })?;
            parsed.push(parse_one(&name, &text)?);
        }
        finish(parsed)
    }

    /// The rule with this id.
    pub fn rule(&self, id: &str) -> Option<&Rule> {
        self.rules.iter().find(|r| r.id == id)
    }

    /// Pairs of rules that cover a common flow (roles, transport, port), in file order.
    /// Overlaps with different features or kinds are legitimate (3268 is required for
    /// Seamless SSO and tolerated for members); later checks such as "required and
    /// forbidden for the same pair" can build on this.
    pub fn overlaps(&self) -> Vec<(&Rule, &Rule)> {
        let mut out = Vec::new();
        for (j, b) in self.rules.iter().enumerate() {
            for a in self.rules.iter().take(j) {
                if shared_flow(a, b).is_some() {
                    out.push((a, b));
                }
            }
        }
        out
    }

    /// The cloud range holding `ip`, if any.
    pub fn azure_range_of(&self, ip: std::net::IpAddr) -> Option<&CloudRange> {
        self.azure_ranges.iter().find(|r| r.net.contains(&ip))
    }

    /// Hostname patterns matching `name`.
    pub fn hostnames_matching<'a>(
        &'a self,
        name: &'a str,
    ) -> impl Iterator<Item = &'a HostPattern> + 'a {
        self.hostnames.iter().filter(move |h| h.matches(name))
    }

    /// The ports that identify a domain controller: those of the rules
    /// marked `identifies` whose destination is `dc` and that cover one port
    /// (answering them, or being tried on them by the sync server, is a
    /// domain controller's mark).
    pub fn dc_ports(&self) -> Vec<u16> {
        let mut v: Vec<u16> = self
            .rules
            .iter()
            .filter(|r| r.identifies && r.dst == [Role::Dc] && r.ports.lo == r.ports.hi)
            .map(|r| r.ports.lo)
            .collect();
        v.sort_unstable();
        v.dedup();
        v
    }

    /// The most specific hostname pattern matching `name`: an exact name
    /// before any `*.` pattern, a longer pattern before a shorter one
    /// (`autoupdate.msappproxy.net` before `*.msappproxy.net`).
    pub fn most_specific_hostname(&self, name: &str) -> Option<&HostPattern> {
        self.hostnames
            .iter()
            .filter(|h| h.matches(name))
            .max_by_key(|h| (!h.pattern.starts_with("*."), h.pattern.len()))
    }
}
