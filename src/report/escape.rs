//! Escaping text for each output format. Text that comes from captures
//! (hostnames, SNI, file names) must never steer a terminal, run as a
//! spreadsheet formula, or break a Markdown table.

use std::borrow::Cow;
use std::fmt::Write;

/// Replaces control characters (C0, DEL, C1, and Unicode bidi controls) with
/// `\u{..}` escapes, so no escape sequence reaches the terminal.
pub fn terminal(s: &str) -> Cow<'_, str> {
    if !s.chars().any(is_unsafe_char) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if is_unsafe_char(c) {
            let _ = write!(out, "\\u{{{:x}}}", c as u32);
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

fn is_unsafe_char(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{200e}' | '\u{200f}')
}

/// Escapes a value for a Markdown table cell or text: control characters as for
/// the terminal, Markdown and HTML metacharacters backslash-escaped or as entities.
pub fn markdown(s: &str) -> String {
    let s = terminal(s);
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            // Escaping `[` and `]` is enough to stop links and images.
            '\\' | '`' | '*' | '_' | '[' | ']' | '|' | '#' | '~' => {
                out.push('\\');
                out.push(c);
            }
            _ => out.push(c),
        }
    }
    out
}

/// Text as a Markdown code span that renders as exactly that text (control
/// characters escaped as for the terminal): the fence is one backtick longer
/// than the longest run of backticks inside, and padded with a space when the
/// text starts or ends with a backtick or a space (CommonMark strips one
/// space each side). Nothing inside a code span can be escaped, so `|` stays
/// `|`: a Wireshark filter pasted from a list item must read `||`, not
/// `\|\|`. (Tables, where GitHub's extension splits cells at every `|`,
/// code spans included, hold no code spans: their cells go through
/// [`markdown`], which writes `\|`.)
pub fn markdown_code(s: &str) -> String {
    let s = terminal(s);
    let mut longest = 0;
    let mut run = 0;
    for c in s.chars() {
        run = if c == '`' { run + 1 } else { 0 };
        longest = longest.max(run);
    }
    let fence = "`".repeat(longest + 1);
    let edge = s.starts_with(['`', ' ']) || s.ends_with(['`', ' ']);
    // All spaces is the one content CommonMark does not strip.
    let pad = if edge && !s.chars().all(|c| c == ' ') {
        " "
    } else {
        ""
    };
    format!("{fence}{pad}{s}{pad}{fence}")
}

/// Neutralises spreadsheet formulas (OWASP's advice): a cell that starts with
/// `=`, `+`, `-`, `@`, tab or carriage return gets a leading apostrophe.
pub fn csv_cell(s: &str) -> Cow<'_, str> {
    match s.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => Cow::Owned(format!("'{s}")),
        _ => Cow::Borrowed(s),
    }
}

/// Escapes text for HTML, in an element or a quoted attribute alike:
/// control characters as for the terminal (no bidi override can reorder
/// what a reader sees), then `&`, `<`, `>`, `"` and `'` as entities.
pub fn html(s: &str) -> String {
    let s = terminal(s);
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// The characters PowerShell takes for a single quote: `'` and the
/// typographic ones (U+2018 to U+201B), which end a single-quoted string
/// as surely as the ASCII one.
pub fn is_powershell_quote(c: char) -> bool {
    matches!(c, '\'' | '\u{2018}' | '\u{2019}' | '\u{201a}' | '\u{201b}')
}

/// Text for a PowerShell script line: control characters as for the
/// terminal (a newline would end the line and start a command), and the
/// Unicode line and paragraph separators escaped the same way, in case a
/// reader takes them for line ends.
fn powershell_line(s: &str) -> String {
    let s = terminal(s);
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\u{2028}' | '\u{2029}' => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            _ => out.push(c),
        }
    }
    out
}

/// `s` as a PowerShell single-quoted string literal, quotes included: no
/// expansion happens inside one (`$(...)`, backticks stay text), and every
/// quote character inside, typographic ones too, is doubled, which
/// PowerShell reads back as that one character. Control characters are
/// escaped first as for the terminal, so the literal is always one line.
pub fn powershell_single_quoted(s: &str) -> String {
    let s = powershell_line(s);
    let mut out = String::with_capacity(s.len() + 2);
    out.push('\'');
    for c in s.chars() {
        if is_powershell_quote(c) {
            out.push(c);
        }
        out.push(c);
    }
    out.push('\'');
    out
}

/// Text for a PowerShell line comment (after `# `): one line, as
/// [`powershell_single_quoted`] makes it, and with `<#` and `#>` split by
/// a space, so nothing a capture says can open or close a block comment.
pub fn powershell_comment(s: &str) -> String {
    powershell_line(s).replace("<#", "< #").replace("#>", "# >")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terminal_escapes_sequences_and_bidi() {
        assert_eq!(terminal("dc1.corp"), "dc1.corp");
        assert_eq!(terminal("a\u{1b}[31mb"), "a\\u{1b}[31mb");
        assert_eq!(terminal("x\u{202e}y\n"), "x\\u{202e}y\\u{a}");
        assert_eq!(terminal("\u{9b}2J"), "\\u{9b}2J");
    }

    #[test]
    fn markdown_escapes_markup_and_html() {
        assert_eq!(markdown("a|b *c* <script>"), "a\\|b \\*c\\* &lt;script&gt;");
        assert_eq!(markdown("[x](http://e)"), "\\[x\\](http://e)");
        assert_eq!(markdown("![img](x)"), "!\\[img\\](x)");
        assert_eq!(markdown_code("a || b"), "`a || b`");
        assert_eq!(markdown_code("ip.addr==1 | `x`"), "`` ip.addr==1 | `x` ``");
        assert_eq!(markdown_code("``"), "``` `` ```");
    }

    #[test]
    fn html_escapes_markup_quotes_and_controls() {
        assert_eq!(
            html("<script>alert('x')</script>"),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"
        );
        assert_eq!(html("a\" onmouseover=\"x"), "a&quot; onmouseover=&quot;x");
        assert_eq!(html("&lt;"), "&amp;lt;");
        assert_eq!(html("x\u{202e}y\n"), "x\\u{202e}y\\u{a}");
        assert_eq!(html("dc1.corp"), "dc1.corp");
    }

    #[test]
    fn csv_cells_never_start_a_formula() {
        assert_eq!(csv_cell("=cmd|' /C calc'!A0"), "'=cmd|' /C calc'!A0");
        assert_eq!(csv_cell("-1"), "'-1");
        assert_eq!(csv_cell("10.0.0.4"), "10.0.0.4");
    }

    /// What PowerShell reads from a single-quoted literal: a quote
    /// character followed by another stands for the second; a lone one ends it.
    fn unquote(lit: &str) -> Option<String> {
        let mut chars = lit.chars().peekable();
        if !chars.next().is_some_and(is_powershell_quote) {
            return None;
        }
        let mut out = String::new();
        while let Some(c) = chars.next() {
            if is_powershell_quote(c) {
                match chars.next() {
                    Some(q) if is_powershell_quote(q) => out.push(q),
                    None => return Some(out),
                    Some(_) => return None,
                }
            } else {
                out.push(c);
            }
        }
        None
    }

    #[test]
    fn powershell_literals_hold_hostile_text_exactly() {
        for s in [
            "dc1.corp",
            "o'brien",
            "''",
            "it\u{2019}s \u{2018}quoted\u{201b} \u{201a}low",
            "$(Remove-Item C:\\ -Recurse)",
            "`nbacktick `$x",
            "#> <# comment",
            "'; Remove-Item C:\\; '",
            "",
        ] {
            let lit = powershell_single_quoted(s);
            assert_eq!(unquote(&lit).as_deref(), Some(s), "{lit}");
        }
        assert_eq!(powershell_single_quoted("a'b"), "'a''b'");
        assert_eq!(
            powershell_single_quoted("a\u{2019}b"),
            "'a\u{2019}\u{2019}b'"
        );
        // A line break never reaches the script: it is escaped as text.
        let lit = powershell_single_quoted("a\nb\r\u{2028}c\u{85}");
        assert!(
            !lit.chars().any(|c| c.is_control() || c == '\u{2028}'),
            "{lit}"
        );
        assert_eq!(
            unquote(&lit).as_deref(),
            Some("a\\u{a}b\\u{d}\\u{2028}c\\u{85}")
        );
    }

    #[test]
    fn powershell_comments_stay_one_line_comment() {
        assert_eq!(powershell_comment("a #> b <# c"), "a # > b < # c");
        assert_eq!(powershell_comment("<#>"), "< # >");
        assert_eq!(powershell_comment("x\ny"), "x\\u{a}y");
        for s in ["<<##>>", "#<#>#", "a\r\n<#\u{2029}#>"] {
            let c = powershell_comment(s);
            assert!(!c.contains("<#") && !c.contains("#>"), "{c}");
            assert!(!c.chars().any(|c| c.is_control() || c == '\u{2029}'), "{c}");
        }
    }
}
