//! The Sigma condition language: a recursive-descent parser into [`Cond`].
//!
//! Grammar (lowest precedence first):
//! ```text
//! expr    := and ("or" and)*
//! and     := unary ("and" unary)*
//! unary   := "not" unary | primary
//! primary := "(" expr ")" | quant "of" (pattern | "them") | identifier
//! quant   := "all" | "any" | NUMBER
//! ```
//! Keywords are case-insensitive. Identifier patterns may use `*` (`selection_*`); `them`
//! means every search identifier not starting with `_`.

/// A parsed condition.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Cond {
    Ident(String),
    /// `N of pattern` (`all of` when `all`); `pattern` is `None` for `them`.
    Of {
        n: OfCount,
        pattern: Option<String>,
    },
    Not(Box<Cond>),
    And(Vec<Cond>),
    Or(Vec<Cond>),
}

/// Quantifier of an `of` expression.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum OfCount {
    All,
    AtLeast(usize),
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    LParen,
    RParen,
    And,
    Or,
    Not,
    Of,
    Them,
    All,
    Num(usize),
    Ident(String),
    Pipe,
}

fn lex(s: &str) -> Result<Vec<Tok>, String> {
    let mut out = Vec::new();
    let mut chars = s.char_indices().peekable();
    while let Some(&(i, c)) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
            continue;
        }
        match c {
            '(' => {
                out.push(Tok::LParen);
                chars.next();
            }
            ')' => {
                out.push(Tok::RParen);
                chars.next();
            }
            '|' => {
                out.push(Tok::Pipe);
                chars.next();
            }
            c if c.is_alphanumeric() || c == '_' || c == '*' || c == '-' || c == '.' => {
                let mut end = i;
                while let Some(&(j, d)) = chars.peek() {
                    if d.is_alphanumeric() || d == '_' || d == '*' || d == '-' || d == '.' {
                        end = j + d.len_utf8();
                        chars.next();
                    } else {
                        break;
                    }
                }
                let w = &s[i..end];
                out.push(match w.to_ascii_lowercase().as_str() {
                    "and" => Tok::And,
                    "or" => Tok::Or,
                    "not" => Tok::Not,
                    "of" => Tok::Of,
                    "them" => Tok::Them,
                    "all" => Tok::All,
                    "any" => Tok::Num(1),
                    _ => match w.parse::<usize>() {
                        Ok(n) => Tok::Num(n),
                        Err(_) => Tok::Ident(w.to_string()),
                    },
                });
            }
            other => return Err(format!("unexpected character '{other}' at offset {i}")),
        }
    }
    Ok(out)
}

struct Parser {
    toks: Vec<Tok>,
    pos: usize,
    depth: usize,
}

const MAX_DEPTH: usize = 64;

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos)
    }
    fn next(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.pos).cloned();
        self.pos += 1;
        t
    }
    fn expr(&mut self) -> Result<Cond, String> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(format!("condition nests deeper than {MAX_DEPTH}"));
        }
        let mut items = vec![self.and()?];
        while self.peek() == Some(&Tok::Or) {
            self.next();
            items.push(self.and()?);
        }
        self.depth -= 1;
        Ok(if items.len() == 1 {
            items.remove(0)
        } else {
            Cond::Or(items)
        })
    }
    fn and(&mut self) -> Result<Cond, String> {
        let mut items = vec![self.unary()?];
        while self.peek() == Some(&Tok::And) {
            self.next();
            items.push(self.unary()?);
        }
        Ok(if items.len() == 1 {
            items.remove(0)
        } else {
            Cond::And(items)
        })
    }
    fn unary(&mut self) -> Result<Cond, String> {
        if self.peek() == Some(&Tok::Not) {
            self.next();
            self.depth += 1;
            if self.depth > MAX_DEPTH {
                return Err(format!("condition nests deeper than {MAX_DEPTH}"));
            }
            let inner = self.unary()?;
            self.depth -= 1;
            return Ok(Cond::Not(Box::new(inner)));
        }
        self.primary()
    }
    fn primary(&mut self) -> Result<Cond, String> {
        match self.next() {
            Some(Tok::LParen) => {
                let e = self.expr()?;
                match self.next() {
                    Some(Tok::RParen) => Ok(e),
                    _ => Err("missing ')'".into()),
                }
            }
            Some(q @ (Tok::All | Tok::Num(_))) => {
                let n = match q {
                    Tok::Num(0) => return Err("'0 of' is not a valid quantifier".into()),
                    Tok::Num(n) => OfCount::AtLeast(n),
                    _ => OfCount::All,
                };
                match self.next() {
                    Some(Tok::Of) => {}
                    _ => return Err("expected 'of' after quantifier".into()),
                }
                match self.next() {
                    Some(Tok::Them) => Ok(Cond::Of { n, pattern: None }),
                    Some(Tok::Ident(p)) => Ok(Cond::Of {
                        n,
                        pattern: Some(p),
                    }),
                    other => Err(format!(
                        "expected identifier pattern or 'them' after 'of', got {other:?}"
                    )),
                }
            }
            Some(Tok::Ident(name)) => Ok(Cond::Ident(name)),
            Some(Tok::Pipe) => Err(
                "aggregation expressions ('| count() ...') are deprecated; use a correlation rule"
                    .into(),
            ),
            Some(t) => Err(format!("unexpected token {t:?}")),
            None => Err("unexpected end of condition".into()),
        }
    }
}

/// Parse a condition string.
pub(crate) fn parse(s: &str) -> Result<Cond, String> {
    if s.contains('|') {
        return Err(
            "aggregation expressions ('| count() ...') are deprecated; use a correlation rule"
                .into(),
        );
    }
    let toks = lex(s)?;
    if toks.is_empty() {
        return Err("empty condition".into());
    }
    let mut p = Parser {
        toks,
        pos: 0,
        depth: 0,
    };
    let c = p.expr()?;
    match p.peek() {
        None => Ok(c),
        Some(Tok::Pipe) => Err(
            "aggregation expressions ('| count() ...') are deprecated; use a correlation rule"
                .into(),
        ),
        Some(t) => Err(format!("unexpected {t:?} after end of expression")),
    }
}

/// Glob match for identifier patterns (`*` only).
pub(crate) fn ident_matches(pattern: &str, name: &str) -> bool {
    fn rec(p: &[u8], n: &[u8]) -> bool {
        match p.split_first() {
            None => n.is_empty(),
            Some((b'*', rest)) => (0..=n.len()).any(|i| rec(rest, &n[i..])),
            Some((c, rest)) => n.first() == Some(c) && rec(rest, &n[1..]),
        }
    }
    rec(pattern.as_bytes(), name.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn precedence() {
        let c = parse("a or b and not c").unwrap_or(Cond::Ident("x".into()));
        assert_eq!(
            c,
            Cond::Or(vec![
                Cond::Ident("a".into()),
                Cond::And(vec![
                    Cond::Ident("b".into()),
                    Cond::Not(Box::new(Cond::Ident("c".into())))
                ])
            ])
        );
    }

    #[test]
    fn of_forms() {
        assert_eq!(
            parse("1 of selection_* and not all of filter*").ok(),
            Some(Cond::And(vec![
                Cond::Of {
                    n: OfCount::AtLeast(1),
                    pattern: Some("selection_*".into())
                },
                Cond::Not(Box::new(Cond::Of {
                    n: OfCount::All,
                    pattern: Some("filter*".into())
                })),
            ]))
        );
        assert_eq!(
            parse("all of them").ok(),
            Some(Cond::Of {
                n: OfCount::All,
                pattern: None
            })
        );
        assert!(parse("selection | count() > 5").is_err());
        assert!(parse("(a and b").is_err());
        assert!(parse("a b").is_err());
        assert!(ident_matches("sel*_x", "sel_1_x"));
        assert!(!ident_matches("sel*", "fil"));
    }

    #[test]
    fn deep_nesting_is_rejected() {
        let s = format!("{}a{}", "(".repeat(200), ")".repeat(200));
        assert!(parse(&s).is_err());
        let s = format!("{}a", "not ".repeat(200));
        assert!(parse(&s).is_err());
    }
}
