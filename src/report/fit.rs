//! Fitting text to a terminal's width: tables whose columns share the width
//! by priority, and lines wrapped at word boundaries with a hanging indent.
//!
//! comfy-table draws the tables, but flowaudit chooses the column widths and
//! wraps the cells itself: comfy-table's own arrangement splits a word longer
//! than its column in the middle (`t5-cert-au` / `th`) and knows nothing of
//! which column matters more. Here a column is as wide as its longest word at
//! least; when the words of all columns cannot fit, the caller's steps shorten
//! or drop the least useful columns first, and only then are long words
//! broken, at a `.`, `:`, `-` or `/` where they have one.
//!
//! Widths are display columns (`unicode-width`, as comfy-table measures).
//! [`GLUE`] joins words that should wrap together (`(3 attempts)`); it is
//! written out as a plain space.

use comfy_table::{Cell, ColumnConstraint, ContentArrangement, Table, Width};
use unicode_width::UnicodeWidthStr;

/// Joins two words so that no line break falls between them; rendered as a
/// space. (A no-break space, which no text from a capture can carry here:
/// [`super::escape::terminal`] leaves it, but host names are plain DNS names.)
pub(crate) const GLUE: char = '\u{a0}';

/// Narrowest a column is made when even its words do not fit.
const FLOOR: usize = 6;

/// Display width of `s`.
pub(crate) fn width(s: &str) -> usize {
    s.width()
}

/// Words of `s` (split at spaces and line ends), glued words kept together.
fn words(s: &str) -> impl Iterator<Item = &str> {
    s.split([' ', '\n']).filter(|w| !w.is_empty())
}

/// The widest word of `s`: the narrowest a column can be without breaking one.
fn longest_word(s: &str) -> usize {
    words(s).map(width).max().unwrap_or(0)
}

/// The widest line of `s`: how wide a column must be not to wrap it.
fn longest_line(s: &str) -> usize {
    s.split('\n').map(width).max().unwrap_or(0)
}

/// Splits `word` into pieces of at most `max` columns, after a `.`, `:`,
/// `-`, `/` or `,` where one falls in the last half of a piece, else at the
/// width (a host name breaks between labels, an IPv6 address between groups).
fn break_word(word: &str, max: usize) -> Vec<String> {
    let max = max.max(1);
    let mut out = Vec::new();
    let mut rest = word;
    while width(rest) > max {
        // The longest prefix that fits, by characters.
        let mut end = 0;
        let mut w = 0;
        for (i, c) in rest.char_indices() {
            let cw = width(c.encode_utf8(&mut [0; 4]));
            if w + cw > max {
                break;
            }
            w += cw;
            end = i + c.len_utf8();
        }
        if end == 0 {
            // A character wider than the column: it goes alone.
            end = rest.chars().next().map_or(rest.len(), char::len_utf8);
        }
        let head = rest.get(..end).unwrap_or(rest);
        let soft = head
            .char_indices()
            .filter(|&(i, c)| matches!(c, '.' | ':' | '-' | '/' | ',') && 2 * (i + 1) >= end)
            .map(|(i, _)| i + 1)
            .next_back();
        let cut = soft.filter(|&s| s < rest.len()).unwrap_or(end);
        let (piece, tail) = rest.split_at_checked(cut).unwrap_or((rest, ""));
        out.push(piece.to_string());
        rest = tail;
    }
    out.push(rest.to_string());
    out
}

/// Wraps `text` into lines of at most `width` columns: greedily at spaces,
/// breaking only words longer than a whole line. Line ends in `text` are
/// kept. [`GLUE`] is written as a space.
pub(crate) fn wrap(text: &str, width: usize) -> Vec<String> {
    wrap_to(text, width, width)
}

/// [`wrap`] with a first line of `first` columns and the others of `rest`.
fn wrap_to(text: &str, first: usize, rest: usize) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    let room = |lines: &Vec<String>| if lines.is_empty() { first } else { rest };
    for para in text.split('\n') {
        let mut line = String::new();
        let mut words = words(para).collect::<Vec<_>>().into_iter();
        let mut pending: Vec<String> = Vec::new();
        while let Some(word) = pending.pop().or_else(|| words.next().map(String::from)) {
            let max = room(&lines);
            let used = width(&line) + usize::from(!line.is_empty());
            if used + width(&word) <= max {
                if !line.is_empty() {
                    line.push(' ');
                }
                line.push_str(&word);
            } else if !line.is_empty() {
                lines.push(std::mem::take(&mut line));
                pending.push(word);
            } else if word.contains(GLUE) {
                // Glued words longer than a line come apart at the glue first.
                pending.extend(word.rsplit(GLUE).map(String::from));
            } else {
                // Longer than a whole line: its first piece here, the rest next.
                let head = break_word(&word, max).swap_remove(0);
                let rest = word.get(head.len()..).unwrap_or_default();
                if !rest.is_empty() {
                    pending.push(rest.to_string());
                }
                lines.push(head);
            }
        }
        lines.push(line);
    }
    lines.iter().map(|l| l.replace(GLUE, " ")).collect()
}

/// `text` after `first`, wrapped to `width` with every line after the first
/// starting with `hang` (a hanging indent); at least 10 columns are left for
/// the text whatever the indents.
pub(crate) fn hanging(first: &str, hang: &str, text: &str, width: usize) -> Vec<String> {
    let room = |indent: &str| width.saturating_sub(self::width(indent)).max(10);
    wrap_to(text, room(first), room(hang))
        .into_iter()
        .enumerate()
        .map(|(i, l)| format!("{}{l}", if i == 0 { first } else { hang }))
        .collect()
}

/// A Wireshark filter after `first`, wrapped for a terminal: on one line if
/// it fits; else one line per ` || ` clause (the later ones starting with
/// `|| `, under `hang`), a clause too long for its line broken before its
/// `&&`s. Wireshark's filter syntax ignores line ends and indentation, so the
/// lines pasted together are still the filter.
pub(crate) fn filter(first: &str, hang: &str, f: &str, width: usize) -> Vec<String> {
    if self::width(first) + self::width(f) <= width {
        return vec![format!("{first}{f}")];
    }
    let deeper = format!("{hang}   ");
    let mut lines = Vec::new();
    for (i, clause) in f.split(" || ").enumerate() {
        // `&&` travels with the term after it, so breaks fall before it.
        let clause = clause.replace(" && ", &format!(" &&{GLUE}"));
        let lead = if i == 0 {
            first.to_string()
        } else {
            format!("{hang}|| ")
        };
        lines.extend(hanging(&lead, &deeper, &clause, width));
    }
    lines
}

/// One column of a table to fit.
#[derive(Clone, Debug)]
pub(crate) struct Column {
    /// The header.
    pub header: String,
    /// One cell per row (`\n` for line ends, [`GLUE`] to keep words together).
    pub cells: Vec<String>,
    /// Extra room goes to columns of higher priority first.
    pub priority: u8,
    /// A colour per cell (none when shorter than `cells`).
    pub colors: Vec<Option<comfy_table::Color>>,
}

impl Column {
    /// A column with `header` and `priority`, no cells yet.
    pub(crate) fn new(header: &str, priority: u8) -> Column {
        Column {
            header: header.to_string(),
            cells: Vec::new(),
            priority,
            colors: Vec::new(),
        }
    }

    /// The largest `measure` of its cells and header.
    fn widest(&self, measure: fn(&str) -> usize) -> usize {
        self.cells
            .iter()
            .map(|c| measure(c))
            .chain([measure(&self.header)])
            .max()
            .unwrap_or(0)
    }

    /// Its widest word, header included: the narrowest it can be unbroken.
    fn min(&self) -> usize {
        self.widest(longest_word)
    }

    /// Its widest line, header included: the widest it needs to be.
    fn max(&self) -> usize {
        self.widest(longest_line)
    }
}

/// A way to make a table narrower, tried in order while its columns'
/// words do not fit.
pub(crate) enum Step {
    /// Replace a column's cells with shorter ones (the port without its
    /// rule's range).
    Shorten(usize, Vec<String>),
    /// Replace a column, header too (a time of day under a header naming the date).
    Replace(usize, Column),
    /// Leave a column out.
    Drop(usize),
}

/// Columns of the table besides their content: borders and padding, measured
/// on a table of `n` one-character columns drawn with `style`.
fn overhead(style: &dyn Fn(&mut Table), n: usize) -> usize {
    let mut t = Table::new();
    t.set_header(vec!["x"; n]);
    style(&mut t);
    let drawn = t.to_string();
    drawn
        .lines()
        .map(width)
        .max()
        .unwrap_or(n)
        .saturating_sub(n)
}

/// A table of `columns` at most `width` columns wide, drawn with `style`
/// (preset, padding; called once the columns exist): every column at least as wide as its longest word,
/// the room left given to higher priorities first; when even the longest
/// words do not fit, `steps` are taken in order, then the widest columns
/// are narrowed (to [`FLOOR`] at least) and their long words broken.
/// Cells are wrapped here; comfy-table gets each column's exact width.
pub(crate) fn table(
    mut columns: Vec<Column>,
    steps: Vec<Step>,
    width: usize,
    style: &dyn Fn(&mut Table),
) -> Table {
    let mut keep: Vec<bool> = vec![true; columns.len()];
    let mut steps = steps.into_iter();
    let (shown, widths) = loop {
        let shown: Vec<usize> = (0..columns.len()).filter(|&i| keep[i]).collect();
        let room = width.saturating_sub(overhead(style, shown.len()));
        let max: Vec<usize> = shown.iter().map(|&i| columns[i].max()).collect();
        if max.iter().sum::<usize>() <= room {
            break (shown, max);
        }
        let mut w: Vec<usize> = shown.iter().map(|&i| columns[i].min()).collect();
        if w.iter().sum::<usize>() > room {
            match steps.next() {
                Some(Step::Shorten(i, cells)) => {
                    if let Some(c) = columns.get_mut(i) {
                        c.cells = cells;
                    }
                    continue;
                }
                Some(Step::Replace(i, column)) => {
                    if let Some(c) = columns.get_mut(i) {
                        *c = column;
                    }
                    continue;
                }
                Some(Step::Drop(i)) => {
                    if let Some(k) = keep.get_mut(i) {
                        *k = false;
                    }
                    continue;
                }
                None => {}
            }
            // Narrow the widest column, one column at a time, down to FLOOR.
            while w.iter().sum::<usize>() > room {
                let Some((j, _)) = w
                    .iter()
                    .enumerate()
                    .filter(|&(_, &x)| x > FLOOR)
                    .max_by_key(|&(j, &x)| (x, std::cmp::Reverse(j)))
                else {
                    break;
                };
                w[j] -= 1;
            }
        }
        // The room left, by priority, each column up to its widest line.
        let mut order: Vec<usize> = (0..shown.len()).collect();
        order.sort_by_key(|&j| std::cmp::Reverse(columns[shown[j]].priority));
        let mut left = room.saturating_sub(w.iter().sum());
        for j in order {
            let more = max[j].saturating_sub(w[j]).min(left);
            w[j] += more;
            left -= more;
        }
        break (shown, w);
    };
    let mut t = Table::new();
    t.set_content_arrangement(ContentArrangement::Dynamic);
    let cell = |text: &str, w: usize| Cell::new(wrap(text, w).join("\n"));
    t.set_header(
        shown
            .iter()
            .zip(&widths)
            .map(|(&i, &w)| cell(&columns[i].header, w)),
    );
    style(&mut t);
    let rows = columns.first().map_or(0, |c| c.cells.len());
    for r in 0..rows {
        t.add_row(shown.iter().zip(&widths).map(|(&i, &w)| {
            let text = columns[i].cells.get(r).map_or("", String::as_str);
            match columns[i].colors.get(r).copied().flatten() {
                Some(color) => cell(text, w).fg(color),
                None => cell(text, w),
            }
        }));
    }
    let padding: Vec<usize> = t
        .column_iter()
        .map(|c| usize::from(c.padding_width()))
        .collect();
    t.set_constraints(widths.iter().zip(padding).map(|(&w, p)| {
        ColumnConstraint::Absolute(Width::Fixed(u16::try_from(w + p).unwrap_or(u16::MAX)))
    }));
    t.set_width(u16::try_from(width).unwrap_or(u16::MAX));
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wraps_at_spaces_and_breaks_only_words_longer_than_a_line() {
        assert_eq!(wrap("a bb ccc dddd", 6), ["a bb", "ccc", "dddd"]);
        assert_eq!(
            wrap(&format!("(3{GLUE}attempts) x"), 10),
            ["(3", "attempts)", "x"]
        );
        assert_eq!(
            wrap(&format!("x (3{GLUE}attempts)"), 14),
            ["x (3 attempts)"]
        );
        assert_eq!(
            wrap(&format!("x (3{GLUE}attempts)"), 13),
            ["x", "(3 attempts)"]
        );
        assert_eq!(
            wrap("(contoso-health.servicebus.windows.net)", 18),
            ["(contoso-health.", "servicebus.", "windows.net)"]
        );
        assert_eq!(wrap("abcdefgh", 3), ["abc", "def", "gh"]);
        assert_eq!(wrap("one\ntwo", 10), ["one", "two"]);
    }

    #[test]
    fn hanging_indent_continues_under_the_text() {
        let lines = hanging("  [1] ", "      ", "a firewall dropping silently", 20);
        assert_eq!(
            lines,
            ["  [1] a firewall", "      dropping", "      silently"]
        );
        for l in &lines {
            assert!(width(l) <= 20, "{l:?}");
        }
    }

    #[test]
    fn filters_break_before_or_then_and() {
        let f = "(ip.src==10.0.1.10 && tcp.dstport==636) || (icmp.type==3 && ip.src==10.0.1.1)";
        let lines = filter("  wireshark: ", "    ", f, 44);
        assert_eq!(
            lines,
            [
                "  wireshark: (ip.src==10.0.1.10",
                "       && tcp.dstport==636)",
                "    || (icmp.type==3 && ip.src==10.0.1.1)",
            ]
        );
        assert_eq!(filter("w: ", "  ", "a || b", 80), ["w: a || b"]);
        // Joined, it is the filter again (up to whitespace).
        let joined = lines.join(" ").replace("  wireshark: ", "");
        let norm = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
        assert_eq!(norm(&joined), norm(f));
    }

    #[test]
    fn tables_fit_by_priority_and_never_split_words() {
        let mut a = Column::new("rule", 1);
        let mut b = Column::new("hosts", 2);
        a.cells.push("t5-cert-auth (table 5)".into());
        b.cells
            .push(format!("203.0.113.50 -> 192.168.100.30 (1{GLUE}attempt)"));
        let style = |t: &mut Table| {
            t.load_style(comfy_table::presets::UTF8_BORDERS_ONLY);
        };
        for w in [24, 30, 40, 60, 80] {
            let t = table(vec![a.clone(), b.clone()], vec![], w, &style).to_string();
            for l in t.lines() {
                assert!(width(l) <= w, "{w}: {l:?}\n{t}");
            }
            if w < 40 {
                // Narrower than the longest words: they break, but fit.
                continue;
            }
            assert!(t.contains("t5-cert-auth"), "{w}: a word split\n{t}");
            assert!(t.contains("(1 attempt)"), "{w}: glue lost\n{t}");
        }
        // Hosts get the room first: at 64 the rule wraps, the hosts do not.
        let t = table(vec![a, b], vec![], 64, &style).to_string();
        assert!(
            t.contains("203.0.113.50 -> 192.168.100.30 (1 attempt)"),
            "{t}"
        );
    }
}
