//! Vigil's query language: parsed into a backend-neutral plan, evaluated in memory or translated
//! by a store.
//!
//! One language serves the CLI (`vigil search QUERY`), the API, dashboards, reports and
//! correlation selectors:
//!
//! ```text
//! event.category:authentication "Failed password" NOT user.name:adm* source.ip:10.0.0.0/8
//!   | where event.severity >= 3
//!   | stats count() as n, dc(user.name) by source.ip
//!   | sort -n | head 10
//! ```
//!
//! # What this crate owns, and why it is shaped this way
//!
//! * [`parse`] / [`parse_with`] turn text into a [`Query`]: a serde-serializable AST with a
//!   filter [`Expr`] and a pipeline of [`Stage`]s. The plan is the contract between the language
//!   and the stores; it knows nothing about storage.
//! * The schema belongs to the caller. Field aliases (KUMA's `SourceAddress` → `source.ip`) and
//!   field types come in through the [`Schema`] trait at parse time (or
//!   [`Query::resolve_fields`] afterwards), so literals are typed in the plan
//!   (`source.ip:10.0.0.0/8` is a [`Term::Cidr`], `event.severity>3` compares integers) and a
//!   mismatch is a parse error with a column.
//! * [`CompiledFilter`] evaluates an [`Expr`] against any event that implements [`Record`];
//!   [`Executor`] runs the stages over pushed records, streaming, with a cap on groups.
//! * `Display` renders any plan back as canonical query text: `parse(&q.to_string()) == Ok(q)`.
//!
//! # How a backend consumes the plan
//!
//! * **Embedded store**: build one [`CompiledFilter`] from `query.filter` and one [`Executor`]
//!   from the query; for each scanned event in the time range, if the filter matches, push it;
//!   stop early when [`Executor::is_done`]; then [`Executor::finish`] gives a [`Table`]. Use
//!   [`Query::fields`] to decide which columns to load.
//! * **SQL backends** (ClickHouse): walk the [`Expr`] and translate each [`Term`] (case-insensitive
//!   equality → `lower(f) = lower(v)` or `ILIKE`, [`Term::Wildcard`] → `ILIKE` with `%`/`_`,
//!   [`Term::Text`] → `positionCaseInsensitive(raw, v) > 0`, [`Term::Cidr`] →
//!   `isIPAddressInRange`, ...), then map stages to `GROUP BY` / `ORDER BY` / `LIMIT`. The
//!   semantics to reproduce are the ones documented on each variant.
//! * The time range is not part of the language: the caller passes from/to separately.
//! * A plain search (no stages) needs no executor: the store lists matching events itself.
//!
//! ```
//! use vigil_query::{parse, CompiledFilter, ExecOptions, Executor, Record, Value, ValueRef};
//!
//! struct Event { user: &'static str, raw: &'static str }
//! impl Record for Event {
//!     fn values(&self, field: &str, f: &mut dyn FnMut(ValueRef<'_>)) {
//!         if field == "user.name" { f(ValueRef::Str(self.user)) }
//!     }
//!     fn text(&self, f: &mut dyn FnMut(&[u8])) { f(self.raw.as_bytes()) }
//! }
//!
//! let query = parse("failed | count by user.name")?;
//! let filter = CompiledFilter::new(&query.filter)?;
//! let mut exec = Executor::new(&query, ExecOptions::default())?;
//! for ev in [
//!     Event { user: "root", raw: "Failed password for root" },
//!     Event { user: "root", raw: "FAILED again" },
//!     Event { user: "alice", raw: "Accepted password for alice" },
//! ] {
//!     if filter.matches(&ev) {
//!         exec.push(&ev)?;
//!     }
//! }
//! let table = exec.finish()?;
//! assert_eq!(table.columns, ["user.name", "count"]);
//! assert_eq!(table.get(0, "count"), Some(&Value::Int(2)));
//! assert_eq!(query.to_string(), "failed | stats count() by user.name");
//! # Ok::<(), vigil_query::QueryError>(())
//! ```
//!
//! # Grammar (EBNF)
//!
//! Keywords (`AND`, `OR`, `NOT`, `TO`, `in`, `by`, `as`, stage and function names) are
//! case-insensitive. Whitespace separates tokens and is otherwise ignored, except that `:` must
//! directly follow its field name and precede its value.
//!
//! ```text
//! query      = [ expr ] { "|" stage } ;
//! expr       = and_expr { ( "OR" | "||" ) and_expr } ;
//! and_expr   = unary { [ "AND" | "&&" ] unary } ;          (* adjacency means AND *)
//! unary      = ( "NOT" | "!" | "-" ) unary | primary ;      (* "!"/"-" directly before the term *)
//! primary    = "(" expr ")" | "*" | "exists" "(" field ")" | field_term
//!            | phrase | word ;                               (* full-text search *)
//! field_term = field ":" colon_value
//!            | field ( "=" | "==" ) value                    (* "==" is case-sensitive *)
//!            | field ( "!=" | ">" | ">=" | "<" | "<=" ) value
//!            | field "in" "(" value { "," value } ")" ;
//! colon_value= "*"                                           (* field exists *)
//!            | ( "[" | "{" ) bound "TO" bound ( "]" | "}" )  (* [ ] inclusive, { } exclusive *)
//!            | "/" regex "/"                                 (* "\/" for a slash *)
//!            | value ;
//! bound      = "*" | value ;
//! value      = phrase | bare ;                               (* bare values may hold * and ? *)
//! field      = ident | "`" { any char, "\`" and "\\" escaped } "`" ;
//! ident      = ident_char { ident_char } ;                   (* not starting with "-" *)
//! ident_char = "A".."Z" | "a".."z" | "0".."9" | "_" | "." | "@" | "-" ;
//! phrase     = '"' { any char except '"' and "\", or "\"" , or "\\" } '"' ;
//! bare       = { any char except whitespace ( ) " | , or "\" escapable } ;
//! word       = bare ;                                        (* not AND / OR *)
//!
//! stage      = "where" expr
//!            | "fields" field_list
//!            | "sort" sort_key { [","] sort_key }
//!            | ( "head" | "limit" ) [ integer ]             (* default 10 *)
//!            | "stats" agg { [","] agg } [ "by" field_list ]
//!            | "count" [ "as" field ] [ "by" field_list ]   (* = stats count() ... *)
//!            | "timechart" [ "span=" duration ] { agg [","] } [ "by" field ]
//!            | ( "top" | "rare" ) [ integer | "limit=" integer ] field_list ;
//! field_list = field { [","] field } ;
//! sort_key   = [ "-" | "+" ] field [ "asc" | "desc" ] ;
//! agg        = func [ "as" field ] ;
//! func       = "count" [ "(" [ field ] ")" ]
//!            | ( "dc" | "distinct_count" | "sum" | "avg" | "mean" | "min" | "max" ) "(" field ")"
//!            | "percentile" "(" field "," number ")"       (* also p95(f), perc95(f) *)
//! duration   = integer ( "s" | "m" | "h" | "d" | "w" ) ;
//! ```
//!
//! In bare values and words, a backslash escapes one of `\ * ? ( ) " | , [ ] { } / : = < > ! -
//! & `` ` `` and space; before any other character it is a literal backslash, so
//! `process.executable:C:\Windows\System32\cmd.exe` needs no quoting (write `\\*` for a
//! backslash followed by a wildcard). Inside quotes only `\"` and `\\` are escapes, and `*`/`?`
//! are literal: **quoting disables wildcards**.
//!
//! # Literal typing
//!
//! With a declared [`FieldType`], a literal must fit it (`'high' is not an integer`); `ip` fields
//! take addresses or CIDR networks; `time` fields take RFC 3339 or `YYYY-MM-DD`. Without a
//! declaration, an unquoted literal is inferred in this order: integer, float, timestamp, IP,
//! CIDR network, `true`/`false`, else string; a quoted literal is a string. At evaluation, a
//! record value of another type is coerced to the literal's type (`event.code:4625` matches the
//! text `"4625"`, `source.ip:10.0.0.0/8` matches the text `"10.1.2.3"`).
//!
//! # Case sensitivity (a deliberate choice)
//!
//! SOC analysts expect `user.name:Administrator` to find `administrator`, so:
//!
//! | construct                               | case                                         |
//! |-----------------------------------------|----------------------------------------------|
//! | bare words, phrases (full text)         | insensitive, **whole words** of the record text |
//! | `field:value`, `field=value`, `!=`, `in`| insensitive (Unicode lowercase), whole value |
//! | `field:adm*` (wildcards)                | insensitive, whole value                     |
//! | `field==value`, `field==adm*`           | **sensitive**, whole value                   |
//! | `field:/regex/`                         | sensitive unless the regex says `(?i)`       |
//! | `>`, `<`, ranges on strings             | sensitive, byte order                        |
//! | grouping in `stats`/`top`               | sensitive (exact values)                     |
//!
//! Full-text search matches at **word boundaries**, as Splunk and Elastic do: a word is a run of
//! ASCII letters, digits and non-ASCII characters ([`is_token_byte`]); everything else (space,
//! punctuation, `_`, `.`, `:`, `/`) separates words. A bare word or phrase is found where it
//! starts and ends at a word boundary: `fail` does not find `failed`, `10.0.0.1` does not find
//! `10.0.0.15` or `110.0.0.1`, `4625` does not find `46250`, while `failure` finds
//! `authentication_failure` and `"Failed password for"` finds the phrase. Wildcards lift the
//! boundary on their side: `fail*` finds words starting with `fail`, `*fail*` any text
//! containing it. Stores index the words of the raw text, so a word needle skips every block
//! without the word ([`whole_words`]). Regexes are unanchored (use `^` and `$`).
//!
//! # Absent and multi-valued fields
//!
//! A field term matches when any value of the field matches; an absent (or null) field matches
//! nothing, so `NOT user.name:root` matches events without `user.name`, while
//! `user.name!=root` requires the field to be present with no value equal to `root`.

#![warn(missing_docs)]

mod ast;
mod control;
mod error;
mod exec;
mod filter;
mod parse;
mod value;

pub use ast::{Agg, AggFunc, Bound, CmpOp, Expr, Query, SortKey, Stage, Term};
pub use control::{CHECK_EVERY, CancelOnDrop, SearchControl};
pub use error::QueryError;
pub use exec::{ExecOptions, Executor, Row, Table};
pub use filter::{CompiledFilter, FilterHit, Record, ascii_ci_finder, is_token_byte, whole_words};
pub use parse::{MAX_DEPTH, MAX_QUERY_LEN, REGEX_SIZE_LIMIT, parse, parse_with};
pub use value::{FieldType, Schema, SimpleSchema, Value, ValueRef};
