//! Diagnostics with a place: file, line, column.

use std::fmt;
use std::ops::Range;

/// How serious a diagnostic is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    /// The config is refused.
    Error,
    /// Legitimate but probably not what was meant; the config is accepted.
    Warning,
}

/// One problem found in a config file, with its place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub severity: Severity,
    pub file: String,
    pub line: usize,
    pub column: usize,
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let level = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        write!(
            f,
            "{}:{}:{}: {level}: {}",
            self.file, self.line, self.column, self.message
        )
    }
}

/// Byte offset → 1-based line and column, the column counted in characters
/// as editors count it (a byte column points past the place on any line
/// with a non-ASCII name or comment before it).
#[derive(Debug)]
pub(crate) struct LineIndex {
    src: String,
    starts: Vec<usize>,
}

impl LineIndex {
    /// Index the line starts of `src`.
    pub(crate) fn new(src: &str) -> Self {
        let starts = std::iter::once(0)
            .chain(src.match_indices('\n').map(|(i, _)| i.saturating_add(1)))
            .collect();
        LineIndex {
            src: src.to_owned(),
            starts,
        }
    }

    /// 1-based (line, column) of a byte offset.
    pub(crate) fn locate(&self, offset: usize) -> (usize, usize) {
        let line = self.starts.partition_point(|&s| s <= offset).max(1);
        let start = self
            .starts
            .get(line.saturating_sub(1))
            .copied()
            .unwrap_or(0);
        let end = offset.min(self.src.len());
        let chars = self
            .src
            .get(start..end)
            .map_or(end.saturating_sub(start), |s| s.chars().count());
        // An offset past the end (a span toml reports at EOF) counts on in bytes.
        let column = chars.saturating_add(offset.saturating_sub(end));
        (line, column.saturating_add(1))
    }
}

/// Collects diagnostics for one file.
#[derive(Debug)]
pub(crate) struct Diagnostics {
    file: String,
    index: LineIndex,
    items: Vec<Diagnostic>,
    /// Byte offsets where an error was already reported, so that a follow-on
    /// "missing key" for the same table is not reported twice.
    error_offsets: Vec<usize>,
    /// Offsets of `[table]` and `[[array]]` header lines. toml's span of a
    /// `[[table]]` covers only its header, so a table's keys are found by
    /// looking up to the next header.
    headers: Vec<usize>,
}

impl Diagnostics {
    /// A collector for `file` whose text is `src`.
    pub(crate) fn new(file: &str, src: &str) -> Self {
        let index = LineIndex::new(src);
        let headers = index
            .starts
            .iter()
            .copied()
            .filter(|&o| {
                src.get(o..)
                    .is_some_and(|l| l.trim_start().starts_with('['))
            })
            .collect();
        Diagnostics {
            file: file.to_owned(),
            index,
            items: Vec::new(),
            error_offsets: Vec::new(),
            headers,
        }
    }

    fn push(&mut self, severity: Severity, span: &Range<usize>, message: String) {
        let (line, column) = self.index.locate(span.start);
        if severity == Severity::Error {
            self.error_offsets.push(span.start);
        }
        self.items.push(Diagnostic {
            severity,
            file: self.file.clone(),
            line,
            column,
            message,
        });
    }

    /// Record an error at `span`.
    pub(crate) fn error(&mut self, span: &Range<usize>, message: impl Into<String>) {
        self.push(Severity::Error, span, message.into());
    }

    /// Record a warning at `span`.
    pub(crate) fn warn(&mut self, span: &Range<usize>, message: impl Into<String>) {
        self.push(Severity::Warning, span, message.into());
    }

    /// 1-based (line, column) of a byte offset in this file.
    pub(crate) fn locate(&self, offset: usize) -> (usize, usize) {
        self.index.locate(offset)
    }

    /// True when an error was already reported in the table whose header is at `span`
    /// (from its header to the next header).
    pub(crate) fn table_has_error(&self, span: &Range<usize>) -> bool {
        let end = self
            .headers
            .iter()
            .copied()
            .find(|&h| h > span.start)
            .unwrap_or(usize::MAX);
        self.error_offsets
            .iter()
            .any(|o| (span.start..end.max(span.end)).contains(o))
    }

    /// True when any error was recorded.
    pub(crate) fn has_errors(&self) -> bool {
        self.items.iter().any(|d| d.severity == Severity::Error)
    }

    /// All diagnostics, in file order.
    pub(crate) fn into_sorted(mut self) -> Vec<Diagnostic> {
        self.items.sort_by_key(|d| (d.line, d.column));
        self.items
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locates_lines_and_columns() {
        let idx = LineIndex::new("ab\ncd\n\nef");
        assert_eq!(idx.locate(0), (1, 1));
        assert_eq!(idx.locate(1), (1, 2));
        assert_eq!(idx.locate(3), (2, 1));
        assert_eq!(idx.locate(7), (4, 1));
        assert_eq!(idx.locate(100), (4, 94));
        let idx = LineIndex::new("ä = 1");
        assert_eq!(idx.locate(3), (1, 3), "characters, not bytes");
    }
}
