//! Reading an inventory file: TOML parsed with spans, so that every mistake is
//! reported at its file, line and column with the valid choices.
//!
//! The behaviours chosen for odd input are listed in the module documentation
//! of [`crate::inventory`].

// ConfigError is large (a path, a field, a message, choices), but it is built
// at most once per file read; boxing it would only complicate every caller.
#![allow(clippy::result_large_err)]

use super::{Inventory, RoleEntry, RoleSource};
use crate::catalogue::{Feature, Role};
use crate::config::ConfigError;
use ipnet::{IpNet, Ipv4Net};
use std::net::IpAddr;
use std::ops::Range;
use toml::de::{DeArray, DeTable, DeValue};

/// The keys allowed at the top of an inventory file.
const TOP_LEVEL_KEYS: [&str; 2] = ["features", "roles"];

/// What an address value must look like, for error messages.
const ADDRESS_FORM: &str = "expected an IPv4 or IPv6 address or CIDR like 10.0.0.0/24";

/// Parser state: the file being read and what has been accepted so far.
struct Loader<'t> {
    /// File name for messages.
    path: &'t str,
    /// The whole text, to turn byte spans into line and column.
    text: &'t str,
    /// Accepted entries with the span of the value that listed them.
    entries: Vec<(RoleEntry, Range<usize>)>,
    /// Non-fatal remarks.
    warnings: Vec<ConfigError>,
}

impl<'t> Loader<'t> {
    /// A located error.
    fn err(&self, span: Range<usize>, msg: impl Into<String>) -> ConfigError {
        ConfigError::at(self.path, self.text, Some(span), msg)
    }

    /// Line and column of a byte offset, 1-based.
    fn line_col(&self, at: usize) -> (usize, usize) {
        crate::config::line_col(self.text, at)
    }

    /// Reads the top-level table.
    fn document(&mut self, top: &DeTable<'_>) -> Result<(Vec<Feature>, bool), ConfigError> {
        let mut features: Option<Vec<Feature>> = None;
        // The map is ordered by key name; walk it in file order so the first
        // mistake in the file is the one reported.
        let mut keys: Vec<_> = top.iter().collect();
        keys.sort_by_key(|(k, _)| k.span().start);
        for (key, value) in keys {
            match key.get_ref().as_ref() {
                "features" => features = Some(self.features(value)?),
                "roles" => self.roles(value)?,
                other => {
                    return Err(self
                        .err(
                            key.span(),
                            format!("unknown top-level key `{}`", other.escape_debug()),
                        )
                        .valid(TOP_LEVEL_KEYS));
                }
            }
        }
        Ok(match features {
            Some(f) => (f, false),
            None => (self.assumed_features(), true),
        })
    }

    /// `password-hash-sync` (the default of Entra Connect), plus `adfs` when
    /// the inventory lists federation hosts.
    fn assumed_features(&self) -> Vec<Feature> {
        let mut f = vec![Feature::PasswordHashSync];
        if self
            .entries
            .iter()
            .any(|(e, _)| matches!(e.role, Role::Adfs | Role::Wap))
        {
            f.push(Feature::Adfs);
        }
        f
    }

    /// Reads `features = [...]`.
    fn features(
        &mut self,
        value: &serde_spanned::Spanned<DeValue<'_>>,
    ) -> Result<Vec<Feature>, ConfigError> {
        let valid = Feature::ALL.map(Feature::name);
        let DeValue::Array(items) = value.get_ref() else {
            return Err(self
                .err(
                    value.span(),
                    format!(
                        "expected an array of feature names like [\"password-hash-sync\"], found {}",
                        value.get_ref().type_str()
                    ),
                )
                .field("features")
                .valid(valid));
        };
        let mut out = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let field = format!("features[{i}]");
            let DeValue::String(name) = item.get_ref() else {
                return Err(self
                    .err(
                        item.span(),
                        format!(
                            "expected a feature name (a string), found {}",
                            item.get_ref().type_str()
                        ),
                    )
                    .field(field)
                    .valid(valid));
            };
            let Some(f) = Feature::from_name(name) else {
                return Err(self
                    .err(
                        item.span(),
                        format!("unknown feature `{}`", name.escape_debug()),
                    )
                    .field(field)
                    .valid(valid));
            };
            if out.contains(&f) {
                self.warnings.push(
                    self.err(
                        item.span(),
                        format!("feature `{f}` is listed twice; once is enough"),
                    )
                    .field(field),
                );
            } else {
                out.push(f);
            }
        }
        Ok(out)
    }

    /// Reads the `[roles]` table.
    fn roles(&mut self, value: &serde_spanned::Spanned<DeValue<'_>>) -> Result<(), ConfigError> {
        let valid = Role::ALL.map(Role::name);
        let DeValue::Table(table) = value.get_ref() else {
            return Err(self
                .err(
                    value.span(),
                    format!(
                        "expected a table of role = [addresses], like [roles] then sync = [\"10.0.1.10\"]; found {}",
                        value.get_ref().type_str()
                    ),
                )
                .field("roles")
                .valid(valid));
        };
        let mut keys: Vec<_> = table.iter().collect();
        keys.sort_by_key(|(k, _)| k.span().start);
        for (key, hosts) in keys {
            let name: &str = key.get_ref().as_ref();
            let Some(role) = Role::from_name(name) else {
                let mut msg = format!("unknown role `{}`", name.escape_debug());
                if name == "features" {
                    // A frequent TOML slip: keys after `[roles]` belong to it.
                    msg.push_str(
                        "; `features` must come before `[roles]`, or every key after the header belongs to it",
                    );
                }
                return Err(self.err(key.span(), msg).field("roles").valid(valid));
            };
            let field = format!("roles.{}", name.escape_debug());
            let DeValue::Array(items) = hosts.get_ref() else {
                return Err(self
                    .err(
                        hosts.span(),
                        format!(
                            "expected an array of addresses like [\"10.0.0.4\", \"10.0.50.0/24\"], found {}",
                            hosts.get_ref().type_str()
                        ),
                    )
                    .field(field));
            };
            self.hosts(role, &field, items)?;
        }
        Ok(())
    }

    /// Reads one role's array of addresses and prefixes.
    fn hosts(&mut self, role: Role, field: &str, items: &DeArray<'_>) -> Result<(), ConfigError> {
        for (i, item) in items.iter().enumerate() {
            let field = format!("{field}[{i}]");
            let span = item.span();
            let DeValue::String(s) = item.get_ref() else {
                return Err(self
                    .err(
                        span,
                        format!(
                            "{ADDRESS_FORM} (a string), found {}",
                            item.get_ref().type_str()
                        ),
                    )
                    .field(field));
            };
            let Some(written) = parse_net(s) else {
                return Err(self
                    .err(
                        span,
                        format!("bad address or CIDR `{}`: {ADDRESS_FORM}", s.escape_debug()),
                    )
                    .field(field));
            };
            let net = canonical_net(written);
            if written != written.trunc() {
                self.warnings.push(
                    self.err(
                        span.clone(),
                        format!("`{s}` has host bits set; using {net}"),
                    )
                    .field(field.clone()),
                );
            }
            if let Some((earlier, at)) = self
                .entries
                .iter()
                .find(|(e, _)| e.net == net)
                .map(|(e, at)| (e.role, at.start))
            {
                let (l, c) = self.line_col(at);
                if earlier == role {
                    self.warnings.push(
                        self.err(
                            span,
                            format!(
                                "{} is already listed for {role} at line {l}, column {c}; kept once",
                                show(net)
                            ),
                        )
                        .field(field),
                    );
                    continue;
                }
                return Err(self
                    .err(
                        span,
                        format!(
                            "{} is listed as {role} here and as {earlier} at line {l}, column {c}; \
                             a host or prefix can have only one role (a more specific prefix may override a broader one)",
                            show(net)
                        ),
                    )
                    .field(field));
            }
            let line = self.line_col(span.start).0;
            self.entries.push((
                RoleEntry {
                    net,
                    role,
                    source: RoleSource::Inventory,
                    line,
                },
                span,
            ));
        }
        Ok(())
    }
}

/// A prefix as people write it: a single host without its /32 or /128.
fn show(net: IpNet) -> String {
    if net.prefix_len() == net.max_prefix_len() {
        net.addr().to_string()
    } else {
        net.to_string()
    }
}

/// An address (`10.0.0.4`, `fd00::1`) or CIDR (`10.0.0.0/24`), as written
/// (host bits kept), or `None`.
fn parse_net(s: &str) -> Option<IpNet> {
    if s.contains('/') {
        s.parse::<IpNet>().ok()
    } else {
        s.parse::<IpAddr>().ok().map(IpNet::from)
    }
}

/// The network of `net` (host bits cleared), with IPv4-mapped IPv6 prefixes
/// of /96 or longer turned into the IPv4 prefix they stand for.
pub(crate) fn canonical_net(net: IpNet) -> IpNet {
    if let IpNet::V6(v6) = net
        && let Some(v4) = v6.addr().to_ipv4_mapped()
        && let Some(len) = v6.prefix_len().checked_sub(96)
        && let Ok(n) = Ipv4Net::new(v4, len)
    {
        return IpNet::V4(n.trunc());
    }
    net.trunc()
}

/// Parses an inventory, returning it with its warnings (harmless oddities such
/// as host bits in a CIDR or a repeated entry), each located like an error.
pub(crate) fn parse(path: &str, text: &str) -> Result<(Inventory, Vec<ConfigError>), ConfigError> {
    let top = DeTable::parse(text).map_err(|e| toml_error(path, text, &e))?;
    let mut loader = Loader {
        path,
        text,
        entries: Vec::new(),
        warnings: Vec::new(),
    };
    let (features, features_assumed) = loader.document(top.get_ref())?;
    let mut entries: Vec<RoleEntry> = loader.entries.into_iter().map(|(e, _)| e).collect();
    super::sort_entries(&mut entries);
    Ok((
        Inventory {
            path: path.to_string(),
            features,
            features_assumed,
            entries,
        },
        loader.warnings,
    ))
}

/// A TOML syntax error, located where the parser says, with a hint for the two
/// slips people make in inventories: a key set twice (where was it first?) and
/// an address left unquoted.
fn toml_error(path: &str, text: &str, e: &toml::de::Error) -> ConfigError {
    let mut err = ConfigError::from_toml(path, text, e);
    let Some(span) = e.span() else {
        return err;
    };
    if err.message.contains("duplicate key") {
        let key = text
            .get(span.clone())
            .unwrap_or("")
            .trim_matches(['"', '\'']);
        if !key.is_empty() {
            err.message = format!("duplicate key `{}`", key.escape_debug());
            let (doc, _) = DeTable::parse_recoverable(text);
            let mut firsts = Vec::new();
            first_keys(doc.get_ref(), key, span.start, 0, &mut firsts);
            if firsts.is_empty() {
                // Recovery keeps the later of two `[table]` headers; find the
                // earlier one in the text.
                firsts.extend(header_before(text, key, span.start));
            }
            if let [at] = firsts[..] {
                let (l, c) = crate::config::line_col(text, at);
                err.message
                    .push_str(&format!("; first set at line {l}, column {c}"));
            }
        }
    } else if let Some(token) = token_at(text, span.start)
        && parse_net(token).is_some()
    {
        err.message.push_str(&format!(
            "; addresses must be quoted strings, like \"{token}\""
        ));
    }
    err
}

/// Start offsets of keys named `key` that appear before `before`, in `table`
/// and the tables below it (an inventory is two levels deep).
fn first_keys(table: &DeTable<'_>, key: &str, before: usize, depth: usize, out: &mut Vec<usize>) {
    for (k, v) in table.iter() {
        if k.get_ref().as_ref() == key && k.span().start < before {
            out.push(k.span().start);
        }
        if let (DeValue::Table(t), true) = (v.get_ref(), depth < 2) {
            first_keys(t, key, before, depth + 1, out);
        }
    }
}

/// Offset of the name in the first `[key]` header line starting before `before`.
fn header_before(text: &str, key: &str, before: usize) -> Option<usize> {
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        if offset >= before {
            break;
        }
        let name = line
            .trim()
            .strip_prefix('[')
            .and_then(|l| l.split(']').next())
            .map(str::trim);
        if name == Some(key) {
            let inner = line.find(key).unwrap_or(0);
            return Some(offset + inner);
        }
        offset += line.len();
    }
    None
}

/// The run of address-like characters (hex digits, `.`, `:`, `/`) around byte
/// offset `at`, if it contains a `.` or `:`.
fn token_at(text: &str, at: usize) -> Option<&str> {
    let bytes = text.as_bytes();
    let is_addr = |b: u8| b.is_ascii_hexdigit() || matches!(b, b'.' | b':' | b'/');
    let mut start = at.min(bytes.len());
    while start > 0 && bytes.get(start - 1).is_some_and(|&b| is_addr(b)) {
        start -= 1;
    }
    let mut end = at.min(bytes.len());
    while bytes.get(end).is_some_and(|&b| is_addr(b)) {
        end += 1;
    }
    // Both ends sit next to ASCII bytes (or the text's ends), so they are
    // character boundaries and `get` cannot fail for that reason.
    text.get(start..end).filter(|t| t.contains(['.', ':']))
}
