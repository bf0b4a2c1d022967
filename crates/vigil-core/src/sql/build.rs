//! A small SQL builder: text with `$n` placeholders and the values bound to them, and the one
//! function that turns a [`TenantScope`] into SQL.

use std::fmt::Write as _;

use sqlx::any::{AnyArguments, AnyRow};
use sqlx::query::Query;
use sqlx::{Any, Row};

use crate::model::Time;
use crate::scope::TenantScope;
use crate::store::{MetaError, SortDir};

/// A bound value.
#[derive(Debug, Clone)]
pub(crate) enum Arg {
    I(i64),
    F(f64),
    T(String),
    NullI,
    NullT,
    NullF,
    B(Vec<u8>),
}

impl From<i64> for Arg {
    fn from(v: i64) -> Arg {
        Arg::I(v)
    }
}
impl From<u64> for Arg {
    fn from(v: u64) -> Arg {
        Arg::I(i64::try_from(v).unwrap_or(i64::MAX))
    }
}
impl From<bool> for Arg {
    fn from(v: bool) -> Arg {
        Arg::I(i64::from(v))
    }
}
impl From<f64> for Arg {
    fn from(v: f64) -> Arg {
        Arg::F(v)
    }
}
impl From<&str> for Arg {
    fn from(v: &str) -> Arg {
        Arg::T(v.to_owned())
    }
}
impl From<&String> for Arg {
    fn from(v: &String) -> Arg {
        Arg::T(v.clone())
    }
}
impl From<String> for Arg {
    fn from(v: String) -> Arg {
        Arg::T(v)
    }
}
impl From<Time> for Arg {
    fn from(v: Time) -> Arg {
        Arg::I(v.timestamp_millis())
    }
}
impl From<Vec<u8>> for Arg {
    fn from(v: Vec<u8>) -> Arg {
        Arg::B(v)
    }
}
impl From<Option<String>> for Arg {
    fn from(v: Option<String>) -> Arg {
        v.map_or(Arg::NullT, Arg::T)
    }
}
impl From<Option<&str>> for Arg {
    fn from(v: Option<&str>) -> Arg {
        v.map_or(Arg::NullT, |s| Arg::T(s.to_owned()))
    }
}
impl From<Option<Time>> for Arg {
    fn from(v: Option<Time>) -> Arg {
        v.map_or(Arg::NullI, |t| Arg::I(t.timestamp_millis()))
    }
}
impl From<Option<u64>> for Arg {
    fn from(v: Option<u64>) -> Arg {
        v.map_or(Arg::NullI, Arg::from)
    }
}
impl From<Option<f64>> for Arg {
    fn from(v: Option<f64>) -> Arg {
        v.map_or(Arg::NullF, Arg::F)
    }
}

/// SQL text and its arguments.
#[derive(Debug, Default)]
pub(crate) struct Sql {
    pub text: String,
    args: Vec<Arg>,
}

impl Sql {
    pub fn new(text: &str) -> Sql {
        Sql {
            text: text.to_owned(),
            args: Vec::new(),
        }
    }

    pub fn push(&mut self, s: &str) -> &mut Sql {
        self.text.push_str(s);
        self
    }

    /// Appends a placeholder bound to `v`.
    pub fn arg(&mut self, v: impl Into<Arg>) -> &mut Sql {
        self.args.push(v.into());
        let _ = write!(self.text, "${}", self.args.len());
        self
    }

    /// Appends `(p1, p2, ...)` bound to `vs`.
    pub fn list<A: Into<Arg>>(&mut self, vs: impl IntoIterator<Item = A>) -> &mut Sql {
        self.text.push('(');
        for (i, v) in vs.into_iter().enumerate() {
            if i > 0 {
                self.text.push_str(", ");
            }
            self.arg(v);
        }
        self.text.push(')');
        self
    }

    /// `col IN (tenants of the scope)`: the one place tenant scoping becomes SQL.
    pub fn scope(&mut self, col: &str, scope: &TenantScope) -> &mut Sql {
        self.text.push_str(col);
        self.text.push_str(" IN ");
        self.list(scope.iter().map(|t| t.as_str()))
    }

    /// ` AND lower(col) LIKE lower('%needle%')` with LIKE's wildcards escaped.
    pub fn contains(&mut self, col: &str, needle: &str) -> &mut Sql {
        let mut pat = String::with_capacity(needle.len() + 2);
        pat.push('%');
        for c in needle.chars() {
            if matches!(c, '%' | '_' | '\\') {
                pat.push('\\');
            }
            pat.push(c);
        }
        pat.push('%');
        let _ = write!(self.text, " AND lower({col}) LIKE lower(");
        self.arg(pat);
        self.push(") ESCAPE '\\'")
    }

    /// The same query and arguments behind `prefix` (`EXPLAIN …`).
    pub fn prefixed(&self, prefix: &str) -> Sql {
        Sql {
            text: format!("{prefix}{}", self.text),
            args: self.args.clone(),
        }
    }

    /// The query with its arguments bound.
    pub fn query(&self) -> Query<'_, Any, AnyArguments> {
        // Safe: the text is built only from constants and `$n` placeholders; every value is
        // bound.
        let mut q = sqlx::query(sqlx::AssertSqlSafe(self.text.clone()));
        for a in &self.args {
            q = match a {
                Arg::I(v) => q.bind(*v),
                Arg::F(v) => q.bind(*v),
                Arg::T(v) => q.bind(v.as_str()),
                Arg::NullI => q.bind(None::<i64>),
                Arg::NullT => q.bind(None::<String>),
                Arg::NullF => q.bind(None::<f64>),
                Arg::B(v) => q.bind(v.as_slice()),
            };
        }
        q
    }
}

/// The value a listing is sorted by, for the keyset cursor.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum SortKey {
    I(i64),
    T(String),
}

pub(crate) fn encode_cursor(key: &SortKey, id: &str) -> String {
    let plain = match key {
        SortKey::I(v) => format!("i{v}\u{1f}{id}"),
        SortKey::T(v) => format!("t{v}\u{1f}{id}"),
    };
    let mut out = String::with_capacity(plain.len() * 2);
    for b in plain.bytes() {
        let _ = write!(out, "{b:02x}");
    }
    out
}

pub(crate) fn decode_cursor(cursor: &str) -> Result<(SortKey, String), MetaError> {
    let bad = || MetaError::Invalid {
        field: "cursor".into(),
        reason: "not a cursor this listing returned".into(),
    };
    if !cursor.len().is_multiple_of(2) || cursor.len() > 4096 {
        return Err(bad());
    }
    let bytes = (0..cursor.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(cursor.get(i..i + 2).unwrap_or("zz"), 16))
        .collect::<Result<Vec<u8>, _>>()
        .map_err(|_| bad())?;
    let plain = String::from_utf8(bytes).map_err(|_| bad())?;
    let (key, id) = plain.rsplit_once('\u{1f}').ok_or_else(bad)?;
    let key = match key.split_at_checked(1) {
        Some(("i", v)) => SortKey::I(v.parse().map_err(|_| bad())?),
        Some(("t", v)) => SortKey::T(v.to_owned()),
        _ => return Err(bad()),
    };
    Ok((key, id.to_owned()))
}

/// Appends the keyset condition, order and limit of one page, runs nothing.
pub(crate) fn page_tail(
    sql: &mut Sql,
    sort_col: &str,
    id_col: &str,
    dir: SortDir,
    cursor: Option<&str>,
    limit: u32,
) -> Result<(), MetaError> {
    let (cmp, order) = match dir {
        SortDir::Asc => (">", "ASC"),
        SortDir::Desc => ("<", "DESC"),
    };
    if let Some(c) = cursor {
        let (key, id) = decode_cursor(c)?;
        let key = match key {
            SortKey::I(v) => Arg::I(v),
            SortKey::T(v) => Arg::T(v),
        };
        // A row-value comparison, not `key < k OR (key = k AND id < i)`: both planners turn
        // it into one range of a `(…, key, id)` index, so a deep page reads one page of rows
        // (PostgreSQL otherwise reads every row before the cursor and sorts them).
        let _ = write!(sql.text, " AND ({sort_col}, {id_col}) {cmp} (");
        sql.arg(key);
        sql.push(", ").arg(id).push(")");
    }
    let _ = write!(
        sql.text,
        " ORDER BY {sort_col} {order}, {id_col} {order} LIMIT {}",
        u64::from(limit) + 1
    );
    Ok(())
}

/// Splits the rows of a page query (fetched with `limit + 1`) into the page and its cursor.
pub(crate) fn finish_page<T>(
    rows: Vec<AnyRow>,
    limit: u32,
    text_key: bool,
    mut decode: impl FnMut(&AnyRow) -> Result<(T, String), MetaError>,
) -> Result<(Vec<T>, Option<String>), MetaError> {
    let more = rows.len() > limit as usize;
    let mut items = Vec::with_capacity(rows.len().min(limit as usize));
    let mut next = None;
    for (i, row) in rows.iter().enumerate().take(limit as usize) {
        let (item, id) = decode(row)?;
        if more && i + 1 == limit as usize {
            let key = if text_key {
                SortKey::T(
                    row.try_get::<String, _>("sort_key")
                        .map_err(MetaError::Backend)?,
                )
            } else {
                SortKey::I(
                    row.try_get::<i64, _>("sort_key")
                        .map_err(MetaError::Backend)?,
                )
            };
            next = Some(encode_cursor(&key, &id));
        }
        items.push(item);
    }
    Ok((items, next))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_reject_garbage() {
        for key in [
            SortKey::I(-5),
            SortKey::I(1 << 50),
            SortKey::T("a\u{1f}b|c".into()),
        ] {
            let c = encode_cursor(&key, "01ID");
            assert_eq!(decode_cursor(&c).ok(), Some((key, "01ID".to_owned())));
        }
        for bad in ["zz", "abc", "", "69", "7831"] {
            assert!(decode_cursor(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn scope_and_contains_bind_values() {
        let scope = TenantScope::new([crate::TenantId::main(), crate::TenantId::shared()]);
        let scope = scope.unwrap_or_else(|_| TenantScope::single(crate::TenantId::main()));
        let mut sql = Sql::new("SELECT 1 FROM t WHERE ");
        sql.scope("tenant_id", &scope).contains("name", "50%_x");
        assert_eq!(
            sql.text,
            "SELECT 1 FROM t WHERE tenant_id IN ($1, $2) AND lower(name) LIKE lower($3) ESCAPE '\\'"
        );
        assert!(matches!(&sql.args[2], Arg::T(p) if p == "%50\\%\\_x%"));
    }
}
