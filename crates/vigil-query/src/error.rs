//! The one error type of this crate.

/// Everything that can go wrong while parsing, compiling or executing a query.
///
/// Parse errors carry the 1-based column (counted in characters) where the problem is, and
/// [`QueryError::render`] draws a caret under it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    /// The query text is malformed, or a value does not fit the declared type of its field.
    #[error("{message} at column {column}{}", hint.as_ref().map(|h| format!("; {h}")).unwrap_or_default())]
    Syntax {
        /// 1-based column, counted in characters.
        column: usize,
        /// What is wrong, e.g. `expected a value after 'user.name:'`.
        message: String,
        /// An optional suggestion, e.g. `did you mean 'stats'?`.
        hint: Option<String>,
    },
    /// A plan built by hand (not parsed) could not be compiled, e.g. an invalid regex.
    #[error("cannot compile query: {0}")]
    Compile(String),
    /// An aggregation produced more groups than [`crate::ExecOptions::max_groups`].
    #[error(
        "too many groups: the aggregation produced more than {limit} groups; narrow the search or group by fewer fields"
    )]
    TooManyGroups {
        /// The configured limit.
        limit: usize,
    },
    /// A non-aggregating pipeline had to hold more rows than [`crate::ExecOptions::max_rows`].
    #[error(
        "too many rows: more than {limit} rows must be held in memory; add '| head N' or an aggregation"
    )]
    TooManyRows {
        /// The configured limit.
        limit: usize,
    },
    /// The query was cancelled (its client went away, or the caller gave up).
    #[error("the query was cancelled")]
    Cancelled,
    /// The query ran past its time limit.
    #[error("the query ran longer than {limit_ms} ms; narrow the time range or the filter")]
    TimedOut {
        /// The limit in milliseconds.
        limit_ms: u64,
    },
    /// Results and aggregation state grew past the query's memory budget.
    #[error(
        "result too large: the search would hold more than {limit} bytes of results; narrow the query, lower the limit, or aggregate"
    )]
    ResultTooLarge {
        /// The budget in bytes.
        limit: usize,
    },
}

impl QueryError {
    pub(crate) fn syntax(column: usize, message: impl Into<String>) -> Self {
        QueryError::Syntax {
            column,
            message: message.into(),
            hint: None,
        }
    }

    pub(crate) fn syntax_hint(
        column: usize,
        message: impl Into<String>,
        hint: impl Into<String>,
    ) -> Self {
        QueryError::Syntax {
            column,
            message: message.into(),
            hint: Some(hint.into()),
        }
    }

    /// The 1-based column of a parse error, if this error has one.
    pub fn column(&self) -> Option<usize> {
        match self {
            QueryError::Syntax { column, .. } => Some(*column),
            _ => None,
        }
    }

    /// Render the query with a caret under the error column, followed by the message:
    ///
    /// ```text
    /// user.name:
    ///           ^ expected a value after 'user.name:' at column 11
    /// ```
    ///
    /// Control characters in the query are shown as spaces so the caret stays aligned. Errors
    /// without a column render as the message alone.
    pub fn render(&self, query: &str) -> String {
        let Some(column) = self.column() else {
            return self.to_string();
        };
        let line: String = query
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
        let pad = " ".repeat(column.saturating_sub(1));
        format!("{line}\n{pad}^ {self}")
    }
}

/// Levenshtein distance, for "did you mean" hints (inputs are short keywords).
pub(crate) fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// The closest candidate within edit distance 2, if any.
pub(crate) fn did_you_mean<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    let word = word.to_ascii_lowercase();
    if word.chars().count() > 32 {
        return None;
    }
    candidates
        .iter()
        .map(|c| (edit_distance(&word, c), *c))
        .filter(|(d, _)| *d <= 2)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn render_puts_caret_under_column() {
        let e = QueryError::syntax(11, "expected a value after 'user.name:'");
        assert_eq!(
            e.render("user.name:"),
            "user.name:\n          ^ expected a value after 'user.name:' at column 11"
        );
    }

    #[test]
    fn suggestions() {
        assert_eq!(
            did_you_mean("stat", &["stats", "sort", "head"]),
            Some("stats")
        );
        assert_eq!(did_you_mean("zzzzzz", &["stats", "sort"]), None);
    }
}
