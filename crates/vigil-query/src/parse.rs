//! Recursive-descent parser: query text → [`Query`].
//!
//! A hand-written scanner rather than a token stream, because what a character means depends on
//! where it is: `:` separates a field from its value but also appears inside IPv6 addresses and
//! timestamps, `/` starts a regex but also appears in CIDR networks, `-` negates a term but also
//! appears in field names and dates.

use crate::ast::{
    Agg, AggFunc, Bound, CmpOp, Expr, FieldName, Query, SortKey, Stage, Term, is_escapable,
    is_ident_char,
};
use crate::error::{QueryError, did_you_mean};
use crate::value::{FieldType, Schema, Typed, coerce};

/// Longest accepted query, in bytes.
pub const MAX_QUERY_LEN: usize = 64 * 1024;
/// Deepest accepted nesting of parentheses and `NOT`.
pub const MAX_DEPTH: usize = 64;
/// Largest compiled regex, in bytes (the `regex` crate's size limit).
pub const REGEX_SIZE_LIMIT: usize = 1 << 20;

const STAGES: &[&str] = &[
    "where",
    "fields",
    "sort",
    "head",
    "limit",
    "stats",
    "count",
    "timechart",
    "top",
    "rare",
    "lookup",
];
const FUNCS: &[&str] = &["count", "dc", "sum", "avg", "min", "max", "percentile"];

/// Parse a query with no schema: no aliases, literals typed by inference.
pub fn parse(query: &str) -> Result<Query, QueryError> {
    parse_with(query, &())
}

/// Parse a query, resolving field aliases and typing literals with `schema`.
///
/// A literal that does not fit its field's declared type is an error
/// (`field 'event.severity' is int: 'high' is not an integer at column 17`).
pub fn parse_with(query: &str, schema: &dyn Schema) -> Result<Query, QueryError> {
    if query.len() > MAX_QUERY_LEN {
        return Err(QueryError::syntax(
            1,
            format!(
                "query is too long ({} bytes, the limit is {MAX_QUERY_LEN})",
                query.len()
            ),
        ));
    }
    let mut p = Parser {
        src: query,
        pos: 0,
        depth: 0,
        schema,
    };
    p.query()
}

struct Parser<'a> {
    src: &'a str,
    pos: usize,
    depth: usize,
    schema: &'a dyn Schema,
}

/// An unquoted or quoted literal as written.
struct Raw {
    /// Unescaped text (wildcard characters included literally).
    text: String,
    /// Glob form (`\*`, `\?`, `\\` escaped), meaningful when `wild`.
    glob: String,
    /// Contains an unescaped `*` or `?`.
    wild: bool,
    quoted: bool,
    col: usize,
}

type R<T> = Result<T, QueryError>;

impl<'a> Parser<'a> {
    // --- scanning helpers -------------------------------------------------------------------

    fn rest(&self) -> &'a str {
        &self.src[self.pos..]
    }

    fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    fn peek2(&self) -> Option<char> {
        self.rest().chars().nth(1)
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        Some(c)
    }

    fn eof(&self) -> bool {
        self.pos >= self.src.len()
    }

    fn col_at(&self, pos: usize) -> usize {
        self.src.get(..pos).map_or(1, |s| s.chars().count() + 1)
    }

    fn col(&self) -> usize {
        self.col_at(self.pos)
    }

    fn skip_ws(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.bump();
        }
    }

    fn eat(&mut self, s: &str) -> bool {
        if self.rest().starts_with(s) {
            self.pos += s.len();
            true
        } else {
            false
        }
    }

    /// A keyword (ASCII, case-insensitive) followed by a boundary: end, whitespace, `(`, `"`.
    fn at_keyword(&self, kw: &str) -> bool {
        let rest = self.rest().as_bytes();
        rest.len() >= kw.len()
            && rest[..kw.len()].eq_ignore_ascii_case(kw.as_bytes())
            && rest.get(kw.len()).is_none_or(|&b| {
                b.is_ascii_whitespace() || matches!(b, b'(' | b'"' | b',' | b')' | b'|')
            })
    }

    fn eat_keyword(&mut self, kw: &str) -> bool {
        if self.at_keyword(kw) {
            self.pos += kw.len();
            true
        } else {
            false
        }
    }

    /// End of the current expression: end of input, a pipe (not `||`) or `)`.
    fn at_expr_end(&self) -> bool {
        let r = self.rest();
        r.is_empty() || (r.starts_with('|') && !r.starts_with("||")) || r.starts_with(')')
    }

    fn describe_here(&self) -> String {
        match self.peek() {
            None => "end of query".to_owned(),
            Some(_) => {
                let tok: String = self
                    .rest()
                    .chars()
                    .take_while(|c| !c.is_whitespace())
                    .take(20)
                    .collect();
                format!("'{tok}'")
            }
        }
    }

    fn ident(&mut self) -> &'a str {
        let start = self.pos;
        while self.peek().is_some_and(is_ident_char) {
            self.bump();
        }
        &self.src[start..self.pos]
    }

    /// A field name: identifier characters or a backquoted name. Returns the name as written.
    fn field_name(&mut self, what: &str) -> R<String> {
        let col = self.col();
        if self.peek() == Some('`') {
            self.bump();
            let mut name = String::new();
            loop {
                match self.bump() {
                    None => {
                        return Err(QueryError::syntax(
                            col,
                            "unterminated backquoted field name",
                        ));
                    }
                    Some('`') => break,
                    Some('\\') if matches!(self.peek(), Some('`' | '\\')) => {
                        name.extend(self.bump());
                    }
                    Some(c) => name.push(c),
                }
            }
            if name.is_empty() {
                return Err(QueryError::syntax(col, "empty field name"));
            }
            return Ok(name);
        }
        if self.peek() == Some('-') {
            return Err(QueryError::syntax(
                col,
                format!("expected {what}, found '-'"),
            ));
        }
        let name = self.ident();
        if name.is_empty() {
            return Err(QueryError::syntax(
                col,
                format!("expected {what}, found {}", self.describe_here()),
            ));
        }
        Ok(name.to_owned())
    }

    /// Resolve an alias through the schema.
    fn resolve(&self, name: String) -> String {
        self.schema.resolve(&name).unwrap_or(name)
    }

    // --- query and expressions --------------------------------------------------------------

    fn query(&mut self) -> R<Query> {
        self.skip_ws();
        let filter = if self.eof() || self.rest().starts_with('|') && !self.rest().starts_with("||")
        {
            Expr::MatchAll
        } else {
            self.or_expr()?
        };
        let mut stages = Vec::new();
        loop {
            self.skip_ws();
            if self.eof() {
                break;
            }
            if self.peek() == Some(')') {
                return Err(QueryError::syntax(
                    self.col(),
                    "unbalanced ')': no '(' to close",
                ));
            }
            if !self.eat("|") {
                return Err(QueryError::syntax(
                    self.col(),
                    format!("unexpected {}", self.describe_here()),
                ));
            }
            stages.push(self.stage()?);
        }
        Ok(Query { filter, stages })
    }

    fn enter(&mut self) -> R<()> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(QueryError::syntax(
                self.col(),
                format!("query is nested too deeply (more than {MAX_DEPTH} levels)"),
            ));
        }
        Ok(())
    }

    fn or_expr(&mut self) -> R<Expr> {
        let mut items = vec![self.and_expr()?];
        loop {
            self.skip_ws();
            if !(self.eat_keyword("or") || self.eat("||")) {
                break;
            }
            self.skip_ws();
            if self.at_expr_end() {
                return Err(QueryError::syntax(
                    self.col(),
                    "expected a search term after OR",
                ));
            }
            items.push(self.and_expr()?);
        }
        Ok(combine(items, false))
    }

    fn and_expr(&mut self) -> R<Expr> {
        let mut items = vec![self.unary()?];
        loop {
            self.skip_ws();
            if self.at_expr_end() || self.at_keyword("or") || self.rest().starts_with("||") {
                break;
            }
            if self.eat_keyword("and") || self.eat("&&") {
                self.skip_ws();
                if self.at_expr_end() || self.at_keyword("or") {
                    return Err(QueryError::syntax(
                        self.col(),
                        "expected a search term after AND",
                    ));
                }
            }
            items.push(self.unary()?);
        }
        Ok(combine(items, true))
    }

    fn unary(&mut self) -> R<Expr> {
        self.skip_ws();
        let negate = if self.eat_keyword("not") {
            true
        } else if (self.peek() == Some('!') || self.peek() == Some('-'))
            && self
                .peek2()
                .is_some_and(|c| !c.is_whitespace() && c != '|' && c != ')' && c != '=')
        {
            self.bump();
            true
        } else {
            false
        };
        if negate {
            self.enter()?;
            self.skip_ws();
            if self.at_expr_end() {
                return Err(QueryError::syntax(
                    self.col(),
                    "expected a search term after NOT",
                ));
            }
            let inner = self.unary()?;
            self.depth -= 1;
            return Ok(Expr::Not(Box::new(inner)));
        }
        self.primary()
    }

    fn primary(&mut self) -> R<Expr> {
        let start = self.pos;
        let col = self.col();
        match self.peek() {
            None => {
                return Err(QueryError::syntax(
                    col,
                    "expected a search term, found end of query",
                ));
            }
            Some('(') => {
                self.bump();
                self.enter()?;
                self.skip_ws();
                if self.peek() == Some(')') {
                    return Err(QueryError::syntax(self.col(), "empty parentheses"));
                }
                let e = self.or_expr()?;
                self.skip_ws();
                if !self.eat(")") {
                    return Err(QueryError::syntax(
                        self.col(),
                        format!(
                            "expected ')' to close '(' at column {col}, found {}",
                            self.describe_here()
                        ),
                    ));
                }
                self.depth -= 1;
                return Ok(e);
            }
            Some(')') => return Err(QueryError::syntax(col, "unbalanced ')': no '(' to close")),
            Some('"') => {
                let raw = self.quoted()?;
                return Ok(Expr::Term(Term::Text(raw.text)));
            }
            Some('`') => {
                let name = self.field_name("a field name")?;
                return self.field_term(name, start);
            }
            Some('*')
                if self
                    .peek2()
                    .is_none_or(|c| c.is_whitespace() || c == ')' || c == '|') =>
            {
                self.bump();
                return Ok(Expr::MatchAll);
            }
            _ => {}
        }
        if self.at_keyword("and") || self.at_keyword("or") {
            return Err(QueryError::syntax(
                col,
                format!("expected a search term, found {}", self.describe_here()),
            ));
        }
        // `exists(field)`
        let word = self.ident();
        if word.eq_ignore_ascii_case("exists") && self.peek() == Some('(') {
            self.bump();
            self.skip_ws();
            let field = self.field_name("a field name in exists(...)")?;
            self.skip_ws();
            if !self.eat(")") {
                return Err(QueryError::syntax(
                    self.col(),
                    "expected ')' after the field name in exists(...)",
                ));
            }
            return Ok(Expr::Term(Term::Exists {
                field: self.resolve(field),
            }));
        }
        if !word.is_empty() && !word.starts_with('-') && self.at_operator() {
            return self.field_term(word.to_owned(), start);
        }
        // A bare word: full-text search.
        self.pos = start;
        let raw = self.unquoted(&[])?;
        if raw.text.is_empty() {
            return Err(QueryError::syntax(
                col,
                format!("expected a search term, found {}", self.describe_here()),
            ));
        }
        if raw.wild && raw.glob == "*" {
            return Ok(Expr::MatchAll);
        }
        Ok(Expr::Term(if raw.wild {
            Term::TextWildcard(raw.glob)
        } else {
            Term::Text(raw.text)
        }))
    }

    /// After a field name: is an operator next (`:`, `=`, `!=`, `<`, `>`, or ` in (`)?
    fn at_operator(&self) -> bool {
        let r = self.rest();
        if r.starts_with(':') {
            return true;
        }
        let t = r.trim_start();
        if t.starts_with('=') || t.starts_with("!=") || t.starts_with('<') || t.starts_with('>') {
            return true;
        }
        let b = t.as_bytes();
        t.len() < r.len()
            && b.len() >= 2
            && b[..2].eq_ignore_ascii_case(b"in")
            && t[2..].trim_start().starts_with('(')
    }

    fn field_term(&mut self, written: String, start: usize) -> R<Expr> {
        let field_text = &self.src[start..self.pos];
        let field = self.resolve(written);
        let ty = self.schema.field_type(&field);
        if self.eat(":") {
            return self.colon_value(field, ty, field_text, false);
        }
        self.skip_ws();
        if self.eat("==") {
            return self.colon_value(field, ty, &format!("{field_text}=="), true);
        }
        if self.eat("=") {
            return self.colon_value(field, ty, &format!("{field_text}="), false);
        }
        let op = if self.eat("!=") {
            CmpOp::Ne
        } else if self.eat(">=") {
            CmpOp::Ge
        } else if self.eat("<=") {
            CmpOp::Le
        } else if self.eat(">") {
            CmpOp::Gt
        } else if self.eat("<") {
            CmpOp::Lt
        } else if self.eat_keyword("in") {
            return self.in_list(field, ty);
        } else {
            return Err(QueryError::syntax(
                self.col(),
                format!("expected an operator after field '{field_text}'"),
            ));
        };
        let after = format!("{field_text}{}", op.as_str());
        let value_col = self.col();
        self.skip_ws();
        let raw = self.value_token(&after, value_col, &[])?;
        if raw.wild {
            if op == CmpOp::Ne {
                return Ok(Expr::Not(Box::new(Expr::Term(
                    self.wildcard(field, ty, raw, false)?,
                ))));
            }
            return Err(QueryError::syntax(
                raw.col,
                format!("wildcards are not allowed with '{}'", op.as_str()),
            ));
        }
        match self.typed(&field, ty, &raw)? {
            Typed::Value(value) => Ok(Expr::Term(Term::Compare { field, op, value })),
            Typed::Net(net) if op == CmpOp::Ne => {
                Ok(Expr::Not(Box::new(Expr::Term(Term::Cidr { field, net }))))
            }
            Typed::Net(_) => Err(QueryError::syntax(
                raw.col,
                format!(
                    "a CIDR network cannot be compared with '{}'; use {field_text}:NETWORK",
                    op.as_str()
                ),
            )),
        }
    }

    fn typed(&self, field: &str, ty: Option<FieldType>, raw: &Raw) -> R<Typed> {
        coerce(&raw.text, raw.quoted, ty).map_err(|msg| {
            let ty = ty.map(|t| t.to_string()).unwrap_or_default();
            QueryError::syntax(raw.col, format!("field '{field}' is {ty}: {msg}"))
        })
    }

    fn wildcard(&self, field: String, ty: Option<FieldType>, raw: Raw, cs: bool) -> R<Term> {
        if let Some(t @ (FieldType::Int | FieldType::Float | FieldType::Bool | FieldType::Time)) =
            ty
        {
            return Err(QueryError::syntax(
                raw.col,
                format!(
                    "wildcards are not allowed on field '{field}' of type {t}; use a range or a comparison"
                ),
            ));
        }
        Ok(Term::Wildcard {
            field,
            pattern: raw.glob,
            case_sensitive: cs,
        })
    }

    /// The value after `field:`, `field=` or `field==`.
    fn colon_value(
        &mut self,
        field: String,
        ty: Option<FieldType>,
        field_text: &str,
        cs: bool,
    ) -> R<Expr> {
        let after = if field_text.ends_with('=') {
            field_text.to_owned()
        } else {
            format!("{field_text}:")
        };
        if field_text.ends_with('=') {
            self.skip_ws();
        }
        let value_col = self.col();
        if !cs && self.eat("*") {
            if self
                .peek()
                .is_none_or(|c| c.is_whitespace() || c == ')' || c == '|')
            {
                return Ok(Expr::Term(Term::Exists { field }));
            }
            self.pos -= 1;
        }
        match self.peek() {
            Some('[' | '{') if !cs => return self.range(field, ty),
            Some('/') => return self.regex(field),
            Some('(') => {
                return Err(QueryError::syntax_hint(
                    value_col,
                    format!("expected a value after '{after}'"),
                    format!(
                        "to match several values write '{} in (a, b)'",
                        FieldName(&field)
                    ),
                ));
            }
            _ => {}
        }
        let raw = self.value_token(&after, value_col, &[])?;
        if raw.wild && raw.glob == "*" && !cs {
            return Ok(Expr::Term(Term::Exists { field }));
        }
        if raw.wild {
            return Ok(Expr::Term(self.wildcard(field, ty, raw, cs)?));
        }
        Ok(Expr::Term(match self.typed(&field, ty, &raw)? {
            Typed::Value(value) => Term::Eq {
                field,
                value,
                case_sensitive: cs,
            },
            Typed::Net(net) => Term::Cidr { field, net },
        }))
    }

    /// A literal value (quoted or not); error if there is none.
    fn value_token(&mut self, after: &str, value_col: usize, stops: &[char]) -> R<Raw> {
        let raw = if self.peek() == Some('"') {
            self.quoted()?
        } else {
            self.unquoted(stops)?
        };
        if !raw.quoted && raw.text.is_empty() {
            return Err(QueryError::syntax(
                value_col,
                format!("expected a value after '{after}'"),
            ));
        }
        Ok(raw)
    }

    fn quoted(&mut self) -> R<Raw> {
        let col = self.col();
        self.bump();
        let mut text = String::new();
        loop {
            match self.bump() {
                None => {
                    return Err(QueryError::syntax(
                        col,
                        "unterminated quoted string: missing closing '\"'",
                    ));
                }
                Some('"') => break,
                Some('\\') if matches!(self.peek(), Some('"' | '\\')) => text.extend(self.bump()),
                Some(c) => text.push(c),
            }
        }
        let glob = escape_glob(&text);
        Ok(Raw {
            text,
            glob,
            wild: false,
            quoted: true,
            col,
        })
    }

    /// An unquoted token: up to whitespace, `(`, `)`, `"`, `|` or one of `stops`, with
    /// backslash escapes of [`is_escapable`] characters.
    fn unquoted(&mut self, stops: &[char]) -> R<Raw> {
        let col = self.col();
        let mut text = String::new();
        let mut glob = String::new();
        let mut wild = false;
        while let Some(c) = self.peek() {
            if c.is_whitespace() || matches!(c, '(' | ')' | '"' | '|') || stops.contains(&c) {
                break;
            }
            self.bump();
            match c {
                '\\' => match self.peek() {
                    Some(n) if is_escapable(n) => {
                        self.bump();
                        text.push(n);
                        if matches!(n, '*' | '?' | '\\') {
                            glob.push('\\');
                        }
                        glob.push(n);
                    }
                    _ => {
                        text.push('\\');
                        glob.push_str("\\\\");
                    }
                },
                '*' | '?' => {
                    wild = true;
                    text.push(c);
                    glob.push(c);
                }
                c => {
                    text.push(c);
                    glob.push(c);
                }
            }
        }
        Ok(Raw {
            text,
            glob,
            wild,
            quoted: false,
            col,
        })
    }

    fn range(&mut self, field: String, ty: Option<FieldType>) -> R<Expr> {
        let open_col = self.col();
        let lower_incl = self.bump() == Some('[');
        self.skip_ws();
        let lower = self.range_bound(&field, ty, lower_incl)?;
        self.skip_ws();
        if !self.eat_keyword("to") {
            return Err(QueryError::syntax(
                self.col(),
                format!("expected 'TO' in the range starting at column {open_col}"),
            ));
        }
        self.skip_ws();
        let mut upper = self.range_bound(&field, ty, true)?;
        self.skip_ws();
        let upper_incl = match self.bump() {
            Some(']') => true,
            Some('}') => false,
            _ => {
                return Err(QueryError::syntax(
                    self.col_at(self.pos.saturating_sub(1)).max(1),
                    format!(
                        "expected ']' or '}}' to close the range starting at column {open_col}"
                    ),
                ));
            }
        };
        if let Some(b) = upper.as_mut() {
            b.inclusive = upper_incl;
        }
        Ok(Expr::Term(Term::Range {
            field,
            lower,
            upper,
        }))
    }

    fn range_bound(
        &mut self,
        field: &str,
        ty: Option<FieldType>,
        inclusive: bool,
    ) -> R<Option<Bound>> {
        let col = self.col();
        let raw = if self.peek() == Some('"') {
            self.quoted()?
        } else {
            self.unquoted(&[']', '}'])?
        };
        if !raw.quoted && raw.text == "*" {
            return Ok(None);
        }
        if !raw.quoted && raw.text.is_empty() {
            return Err(QueryError::syntax(col, "expected a range limit or '*'"));
        }
        if raw.wild {
            return Err(QueryError::syntax(
                col,
                "wildcards are not allowed in a range",
            ));
        }
        match self.typed(field, ty, &raw)? {
            Typed::Value(value) => Ok(Some(Bound { value, inclusive })),
            Typed::Net(_) => Err(QueryError::syntax(
                col,
                "a CIDR network cannot be a range limit",
            )),
        }
    }

    fn regex(&mut self, field: String) -> R<Expr> {
        let col = self.col();
        self.bump();
        let mut pattern = String::new();
        loop {
            match self.bump() {
                None => {
                    return Err(QueryError::syntax(
                        col,
                        "unterminated regex: missing closing '/'",
                    ));
                }
                Some('/') => break,
                Some('\\') => match self.bump() {
                    Some('/') => pattern.push('/'),
                    Some(c) => {
                        pattern.push('\\');
                        pattern.push(c);
                    }
                    None => {
                        return Err(QueryError::syntax(
                            col,
                            "unterminated regex: missing closing '/'",
                        ));
                    }
                },
                Some(c) => pattern.push(c),
            }
        }
        check_regex(&pattern).map_err(|m| QueryError::syntax(col, m))?;
        Ok(Expr::Term(Term::Regex { field, pattern }))
    }

    fn in_list(&mut self, field: String, ty: Option<FieldType>) -> R<Expr> {
        self.skip_ws();
        let open_col = self.col();
        if !self.eat("(") {
            return Err(QueryError::syntax(open_col, "expected '(' after 'in'"));
        }
        let mut values = Vec::new();
        loop {
            self.skip_ws();
            let col = self.col();
            if self.peek() == Some(')') && values.is_empty() {
                return Err(QueryError::syntax(
                    col,
                    "expected at least one value in the 'in' list",
                ));
            }
            let raw = self.value_token("in (", col, &[','])?;
            if raw.wild {
                return Err(QueryError::syntax_hint(
                    col,
                    "wildcards are not allowed in an 'in' list",
                    "use (field:a* OR field:b*)",
                ));
            }
            match self.typed(&field, ty, &raw)? {
                Typed::Value(v) => values.push(v),
                Typed::Net(_) => {
                    return Err(QueryError::syntax_hint(
                        col,
                        "a CIDR network is not allowed in an 'in' list",
                        "use (field:10.0.0.0/8 OR field:192.168.0.0/16)",
                    ));
                }
            }
            self.skip_ws();
            if self.eat(",") {
                continue;
            }
            if self.eat(")") {
                break;
            }
            return Err(QueryError::syntax(
                self.col(),
                format!(
                    "expected ',' or ')' in the 'in' list starting at column {open_col}, found {}",
                    self.describe_here()
                ),
            ));
        }
        Ok(Expr::Term(Term::In { field, values }))
    }

    // --- stages -----------------------------------------------------------------------------

    fn at_stage_end(&self) -> bool {
        let r = self.rest();
        r.is_empty() || r.starts_with('|')
    }

    fn stage(&mut self) -> R<Stage> {
        self.skip_ws();
        let col = self.col();
        let name = self.ident();
        if name.is_empty() {
            return Err(QueryError::syntax(
                col,
                format!(
                    "expected a stage name after '|', found {}",
                    self.describe_here()
                ),
            ));
        }
        let lname = name.to_ascii_lowercase();
        self.skip_ws();
        let stage = match lname.as_str() {
            "where" => {
                if self.at_stage_end() {
                    return Err(QueryError::syntax(
                        self.col(),
                        "expected an expression after 'where'",
                    ));
                }
                let e = self.or_expr()?;
                self.skip_ws();
                if self.peek() == Some(')') {
                    return Err(QueryError::syntax(
                        self.col(),
                        "unbalanced ')': no '(' to close",
                    ));
                }
                Stage::Where(e)
            }
            "fields" => Stage::Fields(self.field_list("fields", &[])?),
            "lookup" => {
                self.skip_ws();
                let at = self.col();
                let list = self.ident().to_owned();
                if list.is_empty() {
                    return Err(QueryError::syntax(
                        at,
                        "expected a list or table name after 'lookup'",
                    ));
                }
                self.skip_ws();
                let on = if self.eat_keyword("on") {
                    self.field_list("on", &[])?
                } else {
                    Vec::new()
                };
                Stage::Lookup { list, on }
            }
            "sort" => Stage::Sort(self.sort_keys()?),
            "head" | "limit" => Stage::Head(self.opt_number(10)?),
            "stats" => {
                let aggs = self.aggs(false)?;
                let by = self.by_list()?;
                Stage::Stats { aggs, by }
            }
            "count" => {
                let mut agg = Agg {
                    func: AggFunc::Count(None),
                    alias: None,
                };
                if self.eat_keyword("as") {
                    self.skip_ws();
                    agg.alias = Some(self.field_name("a column name after 'as'")?);
                    self.skip_ws();
                }
                let by = self.by_list()?;
                Stage::Stats {
                    aggs: vec![agg],
                    by,
                }
            }
            "timechart" => {
                let mut span_secs = None;
                if self.rest().len() >= 5
                    && self.rest().as_bytes()[..5].eq_ignore_ascii_case(b"span=")
                {
                    self.pos += 5;
                    span_secs = Some(self.duration()?);
                    self.skip_ws();
                }
                let aggs = if self.at_stage_end() || self.at_keyword("by") {
                    vec![Agg {
                        func: AggFunc::Count(None),
                        alias: None,
                    }]
                } else {
                    self.aggs(true)?
                };
                let by_col = self.col();
                let mut by = self.by_list()?;
                if by.len() > 1 {
                    return Err(QueryError::syntax(
                        by_col,
                        "timechart splits by at most one field",
                    ));
                }
                Stage::Timechart {
                    span_secs,
                    aggs,
                    by: by.pop(),
                }
            }
            "top" | "rare" => {
                let limit = if self.rest().len() >= 6
                    && self.rest().as_bytes()[..6].eq_ignore_ascii_case(b"limit=")
                {
                    self.pos += 6;
                    self.number()?
                } else if self.peek().is_some_and(|c| c.is_ascii_digit())
                    && self
                        .rest()
                        .trim_start_matches(|c: char| c.is_ascii_digit())
                        .starts_with(char::is_whitespace)
                {
                    self.number()?
                } else {
                    10
                };
                self.skip_ws();
                let fields = self.field_list(&lname, &[])?;
                if lname == "top" {
                    Stage::Top { limit, fields }
                } else {
                    Stage::Rare { limit, fields }
                }
            }
            _ => {
                let msg = format!("unknown stage '{name}'");
                return Err(match did_you_mean(&lname, STAGES) {
                    Some(s) => QueryError::syntax_hint(col, msg, format!("did you mean '{s}'?")),
                    None => QueryError::syntax_hint(
                        col,
                        msg,
                        format!("expected one of: {}", STAGES.join(", ")),
                    ),
                });
            }
        };
        self.skip_ws();
        if !self.at_stage_end() {
            return Err(QueryError::syntax(
                self.col(),
                format!("unexpected {} in '{lname}'", self.describe_here()),
            ));
        }
        Ok(stage)
    }

    fn number(&mut self) -> R<u64> {
        let col = self.col();
        let start = self.pos;
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.bump();
        }
        self.src[start..self.pos].parse::<u64>().map_err(|_| {
            QueryError::syntax(
                col,
                format!("expected a number, found {}", self.describe_here()),
            )
        })
    }

    fn opt_number(&mut self, default: u64) -> R<u64> {
        if self.at_stage_end() {
            Ok(default)
        } else {
            self.number()
        }
    }

    fn duration(&mut self) -> R<u64> {
        let col = self.col();
        let n = self.number()?;
        let unit = self.ident().to_ascii_lowercase();
        let mult = match unit.as_str() {
            "s" | "sec" | "secs" | "second" | "seconds" => 1,
            "m" | "min" | "mins" | "minute" | "minutes" => 60,
            "h" | "hr" | "hour" | "hours" => 3_600,
            "d" | "day" | "days" => 86_400,
            "w" | "week" | "weeks" => 604_800,
            _ => {
                return Err(QueryError::syntax(
                    col,
                    format!("invalid span '{n}{unit}': use a number and s, m, h, d or w (e.g. 5m)"),
                ));
            }
        };
        match n.checked_mul(mult) {
            Some(s) if s > 0 => Ok(s),
            _ => Err(QueryError::syntax(
                col,
                "span must be greater than zero and fit in 64 bits",
            )),
        }
    }

    /// Field names separated by commas and/or whitespace, up to the end of the stage or one of
    /// the `until` keywords.
    fn field_list(&mut self, stage: &str, until: &[&str]) -> R<Vec<String>> {
        let mut out = Vec::new();
        loop {
            self.skip_ws();
            if self.at_stage_end() || until.iter().any(|k| self.at_keyword(k)) {
                break;
            }
            let f = self.field_name("a field name")?;
            out.push(self.resolve(f));
            self.skip_ws();
            self.eat(",");
        }
        if out.is_empty() {
            return Err(QueryError::syntax(
                self.col(),
                format!("expected at least one field name after '{stage}'"),
            ));
        }
        Ok(out)
    }

    fn by_list(&mut self) -> R<Vec<String>> {
        self.skip_ws();
        if self.eat_keyword("by") {
            self.field_list("by", &[])
        } else {
            Ok(Vec::new())
        }
    }

    fn sort_keys(&mut self) -> R<Vec<SortKey>> {
        let mut keys = Vec::new();
        loop {
            self.skip_ws();
            if self.at_stage_end() {
                break;
            }
            let mut desc = false;
            if self.eat("-") {
                desc = true;
            } else {
                self.eat("+");
            }
            let f = self.field_name("a field name")?;
            self.skip_ws();
            if self.eat_keyword("desc") {
                desc = true;
            } else {
                self.eat_keyword("asc");
            }
            keys.push(SortKey {
                field: self.resolve(f),
                desc,
            });
            self.skip_ws();
            self.eat(",");
        }
        if keys.is_empty() {
            return Err(QueryError::syntax(
                self.col(),
                "expected at least one field name after 'sort'",
            ));
        }
        Ok(keys)
    }

    fn aggs(&mut self, allow_empty: bool) -> R<Vec<Agg>> {
        let mut out = Vec::new();
        loop {
            self.skip_ws();
            if self.at_stage_end() || self.at_keyword("by") {
                break;
            }
            out.push(self.agg()?);
            self.skip_ws();
            self.eat(",");
        }
        if out.is_empty() && !allow_empty {
            return Err(QueryError::syntax_hint(
                self.col(),
                "expected an aggregation",
                "e.g. 'stats count() by host.name'",
            ));
        }
        Ok(out)
    }

    fn agg(&mut self) -> R<Agg> {
        let col = self.col();
        let name = self.ident().to_ascii_lowercase();
        if name.is_empty() {
            return Err(QueryError::syntax(
                col,
                format!(
                    "expected an aggregation function, found {}",
                    self.describe_here()
                ),
            ));
        }
        // `p95(f)` / `perc95(f)` are percentile shorthands.
        let pct = name
            .strip_prefix("perc")
            .or_else(|| name.strip_prefix('p'))
            .and_then(|n| n.parse::<u8>().ok())
            .filter(|p| *p <= 100);
        let canonical = match name.as_str() {
            "distinct_count" => "dc",
            "mean" => "avg",
            n => n,
        };
        if !FUNCS.contains(&canonical) && pct.is_none() {
            let msg = format!("unknown aggregation function '{name}'");
            return Err(match did_you_mean(&name, FUNCS) {
                Some(s) => QueryError::syntax_hint(col, msg, format!("did you mean '{s}'?")),
                None => QueryError::syntax_hint(
                    col,
                    msg,
                    format!("expected one of: {}", FUNCS.join(", ")),
                ),
            });
        }
        let mut args: Vec<(String, usize)> = Vec::new();
        if self.eat("(") {
            loop {
                self.skip_ws();
                if self.eat(")") {
                    break;
                }
                let acol = self.col();
                let arg = if self.peek().is_some_and(|c| c.is_ascii_digit()) {
                    let start = self.pos;
                    while self.peek().is_some_and(|c| c.is_ascii_digit() || c == '.') {
                        self.bump();
                    }
                    self.src[start..self.pos].to_owned()
                } else {
                    let f = self.field_name("a field name")?;
                    self.resolve(f)
                };
                args.push((arg, acol));
                self.skip_ws();
                if self.eat(",") {
                    continue;
                }
                if self.eat(")") {
                    break;
                }
                return Err(QueryError::syntax(
                    self.col(),
                    format!("expected ',' or ')' in '{name}(...)'"),
                ));
            }
        } else if canonical != "count" {
            return Err(QueryError::syntax(
                self.col(),
                format!("expected '(' after '{name}'"),
            ));
        }
        let nargs = args.len();
        let arity = |n: usize| -> R<()> {
            if nargs == n {
                Ok(())
            } else {
                Err(QueryError::syntax(
                    col,
                    format!(
                        "'{name}' takes {n} argument{}",
                        if n == 1 { "" } else { "s" }
                    ),
                ))
            }
        };
        let func = if let Some(p) = pct.filter(|_| !FUNCS.contains(&canonical)) {
            arity(1)?;
            AggFunc::Percentile(args.remove(0).0, f64::from(p))
        } else {
            match canonical {
                "count" => {
                    if args.len() > 1 {
                        return Err(QueryError::syntax(col, "'count' takes at most 1 argument"));
                    }
                    AggFunc::Count(args.pop().map(|a| a.0))
                }
                "percentile" => {
                    arity(2)?;
                    let (p, pcol) = args.remove(1);
                    let p: f64 = p
                        .parse()
                        .ok()
                        .filter(|p: &f64| (0.0..=100.0).contains(p))
                        .ok_or_else(|| {
                            QueryError::syntax(
                                pcol,
                                format!("percentile must be a number from 0 to 100, found '{p}'"),
                            )
                        })?;
                    AggFunc::Percentile(args.remove(0).0, p)
                }
                other => {
                    arity(1)?;
                    let f = args.remove(0).0;
                    match other {
                        "dc" => AggFunc::Dc(f),
                        "sum" => AggFunc::Sum(f),
                        "avg" => AggFunc::Avg(f),
                        "min" => AggFunc::Min(f),
                        _ => AggFunc::Max(f),
                    }
                }
            }
        };
        self.skip_ws();
        let alias = if self.eat_keyword("as") {
            self.skip_ws();
            Some(self.field_name("a column name after 'as'")?)
        } else {
            None
        };
        Ok(Agg { func, alias })
    }
}

/// Flatten `items` into one And/Or (a single item stays as is).
fn combine(items: Vec<Expr>, and: bool) -> Expr {
    let mut out = Vec::with_capacity(items.len());
    for e in items {
        match (e, and) {
            (Expr::And(xs), true) | (Expr::Or(xs), false) => out.extend(xs),
            (e, _) => out.push(e),
        }
    }
    if out.len() == 1 {
        return out.pop().unwrap_or(Expr::MatchAll);
    }
    if and { Expr::And(out) } else { Expr::Or(out) }
}

/// Escape a literal string into glob form.
pub(crate) fn escape_glob(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '*' | '?' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Compile a regex with the size limit; the error is a one-line message.
pub(crate) fn check_regex(pattern: &str) -> Result<regex::Regex, String> {
    regex::RegexBuilder::new(pattern)
        .size_limit(REGEX_SIZE_LIMIT)
        .dfa_size_limit(REGEX_SIZE_LIMIT)
        .build()
        .map_err(|e| match e {
            regex::Error::CompiledTooBig(_) => "regex is too large".to_owned(),
            e => {
                let text = e.to_string();
                let last = text
                    .lines()
                    .rev()
                    .find(|l| !l.trim().is_empty())
                    .unwrap_or("invalid regex");
                format!(
                    "invalid regex: {}",
                    last.trim().trim_start_matches("error: ")
                )
            }
        })
}
