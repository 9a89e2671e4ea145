//! Errors in configuration files (rules, inventory), located by file, line and column.

use std::fmt;
use std::ops::Range;

/// A mistake in a rules or inventory file, with where it is and what would be valid.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    /// The file (as given on the command line, or `<embedded rules>`).
    pub path: String,
    /// 1-based line of the offending value, when known.
    pub line: Option<usize>,
    /// 1-based column (in characters) of the offending value, when known.
    pub column: Option<usize>,
    /// The field concerned, e.g. `roles.sync` or `rule[3].ports`.
    pub field: Option<String>,
    /// What is wrong.
    pub message: String,
    /// The accepted values, when the field takes one of a fixed set.
    pub valid: Vec<String>,
}

impl ConfigError {
    /// An error at a byte range of `text` (e.g. from a `toml::Spanned` value).
    pub fn at(
        path: &str,
        text: &str,
        span: Option<Range<usize>>,
        message: impl Into<String>,
    ) -> Self {
        let (line, column) = match span {
            Some(r) => {
                let (l, c) = line_col(text, r.start);
                (Some(l), Some(c))
            }
            None => (None, None),
        };
        ConfigError {
            path: path.to_string(),
            line,
            column,
            field: None,
            message: message.into(),
            valid: Vec::new(),
        }
    }

    /// Names the field concerned.
    pub fn field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }

    /// Lists the valid choices.
    pub fn valid<I, S>(mut self, choices: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.valid = choices.into_iter().map(Into::into).collect();
        self
    }

    /// Wraps a TOML parse or deserialization error, keeping its location.
    pub fn from_toml(path: &str, text: &str, e: &toml::de::Error) -> Self {
        ConfigError::at(path, text, e.span(), e.message().trim_end().to_string())
    }
}

impl fmt::Display for ConfigError {
    /// `path:line:column: field: message (valid: a, b, c)`, as compilers print locations.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.path)?;
        if let Some(l) = self.line {
            write!(f, ":{l}")?;
            if let Some(c) = self.column {
                write!(f, ":{c}")?;
            }
        }
        write!(f, ": ")?;
        if let Some(field) = &self.field {
            write!(f, "{field}: ")?;
        }
        write!(f, "{}", self.message)?;
        if !self.valid.is_empty() {
            write!(f, " (valid: {})", self.valid.join(", "))?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

/// The line starts of one file, so that locating many offsets (a catalogue
/// records one per rule field) does not rescan the text from the top each time.
#[derive(Clone, Debug)]
pub struct LineIndex<'a> {
    /// The file.
    text: &'a str,
    /// Byte offset of the start of each line; the first is 0.
    starts: Vec<usize>,
}

impl<'a> LineIndex<'a> {
    /// Indexes the lines of `text`.
    pub fn new(text: &'a str) -> Self {
        let starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        LineIndex { text, starts }
    }

    /// The same as [`line_col`] on the indexed text.
    pub fn line_col(&self, at: usize) -> (usize, usize) {
        let at = at.min(self.text.len());
        // The last line starting at or before `at`.
        let line = self.starts.partition_point(|&s| s <= at).max(1);
        let start = self.starts.get(line - 1).copied().unwrap_or(0);
        let column = self
            .text
            .get(start..at)
            .map_or(1, |s| s.chars().count() + 1);
        (line, column)
    }
}

/// 1-based line and character column of byte offset `at` in `text` (for
/// one lookup; [`LineIndex`] for many in the same text).
pub fn line_col(text: &str, at: usize) -> (usize, usize) {
    LineIndex::new(text).line_col(at)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_col_counts_from_one_and_in_characters() {
        let text = "a = 1\nbé = \"x\"\n";
        assert_eq!(line_col(text, 0), (1, 1));
        assert_eq!(line_col(text, 6), (2, 1));
        // 'é' is two bytes but one column.
        assert_eq!(line_col(text, text.find('=').unwrap()), (1, 3));
        let second_eq = text.rfind('=').unwrap();
        assert_eq!(line_col(text, second_eq), (2, 4));
    }

    #[test]
    fn one_index_locates_many_offsets() {
        let text = "a = 1\nbé = \"x\"\n\n[[rule]]\nid = \"ü\"";
        let index = LineIndex::new(text);
        // (offset, line, column), counted by hand; 'é' and 'ü' are two bytes each.
        for (at, line, col) in [
            (0, 1, 1),
            (5, 1, 6),
            (6, 2, 1),
            (9, 2, 3),
            (10, 2, 4),
            (16, 3, 1),
            (17, 4, 1),
            (26, 5, 1),
            (32, 5, 7),
            (35, 5, 9),
            (99, 5, 9),
        ] {
            assert_eq!(index.line_col(at), (line, col), "offset {at}");
        }
        assert_eq!(LineIndex::new("").line_col(0), (1, 1));
    }

    #[test]
    fn display_reads_like_a_compiler_location() {
        let e = ConfigError::at(
            "inv.toml",
            "x\nsyncc = 1",
            Some(2..7),
            "unknown role `syncc`",
        )
        .field("roles")
        .valid(["sync", "dc"]);
        assert_eq!(
            e.to_string(),
            "inv.toml:2:1: roles: unknown role `syncc` (valid: sync, dc)"
        );
    }
}
