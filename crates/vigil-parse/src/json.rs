//! JSON objects flattened to dotted paths: `{"a":{"b":1},"c":[1,"x"]}` gives `a.b` = 1 and
//! `c` = `[1, "x"]`.
//!
//! A small recursive-descent reader of RFC 8259 that writes fields as it goes, rather than
//! building a tree first: strings without escapes and top-level keys borrow from the input,
//! numbers are typed ([`FieldValue::Int`] when they fit `i64`, [`FieldValue::Float`]
//! otherwise; integers too large for both are kept as their digits). Arrays stay one typed
//! [`FieldValue::List`]; an object inside an array is kept as its JSON text (borrowed), since
//! a path cannot name it. Empty objects produce no field.
//!
//! Input is capped: [`JsonOptions::max_size`] bytes, [`JsonOptions::max_depth`] levels of
//! nesting (which also bounds the recursion) and [`JsonOptions::max_fields`] fields.

use std::borrow::Cow;

use crate::fields::{DuplicateKeys, FieldValue, Fields, Position, with_text};

/// JSON parser settings.
#[derive(Debug, Clone)]
pub struct JsonOptions {
    /// Largest accepted input, in bytes. Default 1 MiB.
    pub max_size: usize,
    /// Deepest accepted nesting of objects and arrays (the top object is depth 1). Default 32.
    pub max_depth: usize,
    /// Most fields produced. Default 10,000.
    pub max_fields: usize,
    /// Joins path segments. Default `"."`.
    pub separator: String,
    /// What to do with a repeated key (after flattening). Default [`DuplicateKeys::Last`], as
    /// most JSON readers do.
    pub duplicate_keys: DuplicateKeys,
}

impl Default for JsonOptions {
    fn default() -> Self {
        JsonOptions {
            max_size: 1 << 20,
            max_depth: 32,
            max_fields: 10_000,
            separator: ".".into(),
            duplicate_keys: DuplicateKeys::Last,
        }
    }
}

/// What was wrong with a JSON record.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JsonError {
    /// The input is larger than [`JsonOptions::max_size`].
    #[error("input of {size} bytes is larger than the limit of {max}")]
    TooLarge {
        /// Input size.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// Nesting deeper than [`JsonOptions::max_depth`].
    #[error("nesting deeper than {max} at {at}")]
    TooDeep {
        /// The limit.
        max: usize,
        /// Where the level that is too deep opens.
        at: Position,
    },
    /// More than [`JsonOptions::max_fields`] fields.
    #[error("more than {max} fields at {at}")]
    TooManyFields {
        /// The limit.
        max: usize,
        /// Where the field that is one too many starts.
        at: Position,
    },
    /// The top-level value is not an object.
    #[error("expected an object at {at}")]
    NotAnObject {
        /// Where the value starts.
        at: Position,
    },
    /// Not JSON.
    #[error("invalid JSON at {at}: {reason}")]
    Syntax {
        /// Where the problem is.
        at: Position,
        /// What is wrong.
        reason: &'static str,
    },
}

/// Parses one JSON object (surrounding blanks allowed) into flattened fields.
pub fn parse<'a>(input: &'a [u8], opts: &JsonOptions) -> Result<Fields<'a>, JsonError> {
    if input.len() > opts.max_size {
        return Err(JsonError::TooLarge {
            size: input.len(),
            max: opts.max_size,
        });
    }
    with_text(input, |s| parse_str(s, opts))
}

/// [`parse`] on text.
pub fn parse_str<'a>(input: &'a str, opts: &JsonOptions) -> Result<Fields<'a>, JsonError> {
    if input.len() > opts.max_size {
        return Err(JsonError::TooLarge {
            size: input.len(),
            max: opts.max_size,
        });
    }
    let mut r = Reader {
        s: input,
        b: input.as_bytes(),
        pos: 0,
        opts,
        fields: Fields::with_capacity(16),
        path: String::new(),
    };
    r.ws();
    if r.peek() != Some(b'{') {
        if r.pos >= r.b.len() {
            return Err(r.syntax("empty input"));
        }
        return Err(JsonError::NotAnObject {
            at: Position::at(r.b, r.pos),
        });
    }
    r.object(1)?;
    r.ws();
    if r.pos < r.b.len() {
        return Err(r.syntax("trailing characters after the object"));
    }
    Ok(r.fields)
}

struct Reader<'a, 'o> {
    s: &'a str,
    b: &'a [u8],
    pos: usize,
    opts: &'o JsonOptions,
    fields: Fields<'a>,
    /// The path of the object being read, empty at the top.
    path: String,
}

impl<'a> Reader<'a, '_> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.pos).copied()
    }

    fn ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.pos += 1;
        }
    }

    fn syntax(&self, reason: &'static str) -> JsonError {
        JsonError::Syntax {
            at: Position::at(self.b, self.pos),
            reason,
        }
    }

    fn expect(&mut self, c: u8, reason: &'static str) -> Result<(), JsonError> {
        self.ws();
        if self.peek() == Some(c) {
            self.pos += 1;
            Ok(())
        } else {
            Err(self.syntax(reason))
        }
    }

    fn check_depth(&self, depth: usize) -> Result<(), JsonError> {
        if depth > self.opts.max_depth {
            return Err(JsonError::TooDeep {
                max: self.opts.max_depth,
                at: Position::at(self.b, self.pos),
            });
        }
        Ok(())
    }

    /// Reads the object at `pos` (at its `{`), emitting its members under `self.path`.
    fn object(&mut self, depth: usize) -> Result<(), JsonError> {
        self.check_depth(depth)?;
        self.pos += 1;
        self.ws();
        if self.peek() == Some(b'}') {
            self.pos += 1;
            return Ok(());
        }
        loop {
            self.ws();
            if self.peek() != Some(b'"') {
                return Err(self.syntax("expected a string key"));
            }
            let key_at = self.pos;
            let key = self.string()?;
            self.expect(b':', "expected ':'")?;
            self.ws();
            let name: Cow<'a, str> = if self.path.is_empty() {
                key
            } else {
                Cow::Owned(format!("{}{}{}", self.path, self.opts.separator, key))
            };
            if self.peek() == Some(b'{') {
                let saved = std::mem::replace(&mut self.path, name.into_owned());
                self.object(depth + 1)?;
                self.path = saved;
            } else {
                let value = self.value(depth)?;
                if self.fields.len() >= self.opts.max_fields {
                    return Err(JsonError::TooManyFields {
                        max: self.opts.max_fields,
                        at: Position::at(self.b, key_at),
                    });
                }
                self.fields.insert(name, value, self.opts.duplicate_keys);
            }
            self.ws();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b'}') => {
                    self.pos += 1;
                    return Ok(());
                }
                _ => return Err(self.syntax("expected ',' or '}'")),
            }
        }
    }

    /// Reads any value except a member object (objects inside arrays become their text).
    fn value(&mut self, depth: usize) -> Result<FieldValue<'a>, JsonError> {
        self.ws();
        match self.peek() {
            Some(b'"') => Ok(FieldValue::Str(self.string()?)),
            Some(b'[') => self.array(depth + 1),
            Some(b'{') => {
                let start = self.pos;
                self.skip_object(depth + 1)?;
                Ok(FieldValue::Str(Cow::Borrowed(&self.s[start..self.pos])))
            }
            Some(b't') => self.literal("true", FieldValue::Bool(true)),
            Some(b'f') => self.literal("false", FieldValue::Bool(false)),
            Some(b'n') => self.literal("null", FieldValue::Null),
            Some(b'-' | b'0'..=b'9') => self.number(),
            None => Err(self.syntax("unexpected end of input")),
            Some(_) => Err(self.syntax("expected a value")),
        }
    }

    fn literal(&mut self, word: &str, v: FieldValue<'a>) -> Result<FieldValue<'a>, JsonError> {
        if self.b[self.pos..].starts_with(word.as_bytes()) {
            self.pos += word.len();
            Ok(v)
        } else {
            Err(self.syntax("expected a value"))
        }
    }

    fn array(&mut self, depth: usize) -> Result<FieldValue<'a>, JsonError> {
        self.check_depth(depth)?;
        self.pos += 1;
        let mut items = Vec::new();
        self.ws();
        if self.peek() == Some(b']') {
            self.pos += 1;
            return Ok(FieldValue::List(items));
        }
        loop {
            items.push(self.value(depth)?);
            self.ws();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b']') => {
                    self.pos += 1;
                    return Ok(FieldValue::List(items));
                }
                _ => return Err(self.syntax("expected ',' or ']'")),
            }
        }
    }

    /// Validates an object inside an array without emitting fields.
    fn skip_object(&mut self, depth: usize) -> Result<(), JsonError> {
        self.check_depth(depth)?;
        self.pos += 1;
        self.ws();
        if self.peek() == Some(b'}') {
            self.pos += 1;
            return Ok(());
        }
        loop {
            self.ws();
            if self.peek() != Some(b'"') {
                return Err(self.syntax("expected a string key"));
            }
            self.string()?;
            self.expect(b':', "expected ':'")?;
            self.ws();
            if self.peek() == Some(b'{') {
                self.skip_object(depth + 1)?;
            } else {
                self.value(depth)?;
            }
            self.ws();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b'}') => {
                    self.pos += 1;
                    return Ok(());
                }
                _ => return Err(self.syntax("expected ',' or '}'")),
            }
        }
    }

    fn number(&mut self) -> Result<FieldValue<'a>, JsonError> {
        let start = self.pos;
        let b = self.b;
        let mut i = self.pos;
        if b.get(i) == Some(&b'-') {
            i += 1;
        }
        let digits = |i: &mut usize| {
            let s = *i;
            while b.get(*i).is_some_and(u8::is_ascii_digit) {
                *i += 1;
            }
            *i - s
        };
        let int_start = i;
        let n = digits(&mut i);
        if n == 0 || (n > 1 && b[int_start] == b'0') {
            self.pos = i;
            return Err(self.syntax("bad number"));
        }
        let mut is_int = true;
        if b.get(i) == Some(&b'.') {
            i += 1;
            is_int = false;
            if digits(&mut i) == 0 {
                self.pos = i;
                return Err(self.syntax("bad number: digits expected after '.'"));
            }
        }
        if matches!(b.get(i), Some(b'e' | b'E')) {
            i += 1;
            is_int = false;
            if matches!(b.get(i), Some(b'+' | b'-')) {
                i += 1;
            }
            if digits(&mut i) == 0 {
                self.pos = i;
                return Err(self.syntax("bad number: digits expected in exponent"));
            }
        }
        self.pos = i;
        let text = &self.s[start..i];
        if is_int {
            if let Ok(v) = text.parse::<i64>() {
                return Ok(FieldValue::Int(v));
            }
            // Too large for i64: keep the digits rather than lose precision in an f64.
            return Ok(FieldValue::Str(Cow::Borrowed(text)));
        }
        match text.parse::<f64>() {
            Ok(v) if v.is_finite() => Ok(FieldValue::Float(v)),
            _ => Ok(FieldValue::Str(Cow::Borrowed(text))),
        }
    }

    /// Reads the string at `pos` (at its `"`), unescaped; borrowed when it had no escapes.
    fn string(&mut self) -> Result<Cow<'a, str>, JsonError> {
        self.pos += 1;
        let start = self.pos;
        let b = self.b;
        let mut owned: Option<String> = None;
        let mut run = start;
        loop {
            let Some(off) = b[self.pos..]
                .iter()
                .position(|&c| c == b'"' || c == b'\\' || c < 0x20)
            else {
                self.pos = b.len();
                return Err(self.syntax("unterminated string"));
            };
            self.pos += off;
            match b[self.pos] {
                b'"' => {
                    let end = self.pos;
                    self.pos += 1;
                    return Ok(match owned {
                        None => Cow::Borrowed(&self.s[start..end]),
                        Some(mut s) => {
                            s.push_str(&self.s[run..end]);
                            Cow::Owned(s)
                        }
                    });
                }
                b'\\' => {
                    let s = owned.get_or_insert_with(String::new);
                    s.push_str(&self.s[run..self.pos]);
                    let Some(&e) = b.get(self.pos + 1) else {
                        self.pos = b.len();
                        return Err(self.syntax("unterminated string"));
                    };
                    self.pos += 2;
                    match e {
                        b'"' => s.push('"'),
                        b'\\' => s.push('\\'),
                        b'/' => s.push('/'),
                        b'b' => s.push('\u{8}'),
                        b'f' => s.push('\u{c}'),
                        b'n' => s.push('\n'),
                        b'r' => s.push('\r'),
                        b't' => s.push('\t'),
                        b'u' => {
                            let c = self.unicode_escape()?;
                            if let Some(s) = owned.as_mut() {
                                s.push(c);
                            }
                        }
                        _ => {
                            self.pos -= 1;
                            return Err(self.syntax("bad escape"));
                        }
                    }
                    run = self.pos;
                }
                _ => return Err(self.syntax("control character in string")),
            }
        }
    }

    /// After `\u`: four hex digits, and a low surrogate after a high one. Lone surrogates
    /// become U+FFFD.
    fn unicode_escape(&mut self) -> Result<char, JsonError> {
        let hi = self.hex4()?;
        if (0xD800..0xDC00).contains(&hi) && self.b[self.pos..].starts_with(b"\\u") {
            let save = self.pos;
            self.pos += 2;
            let lo = self.hex4()?;
            if (0xDC00..0xE000).contains(&lo) {
                let c = 0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00);
                return Ok(char::from_u32(c).unwrap_or('\u{FFFD}'));
            }
            self.pos = save;
        }
        Ok(char::from_u32(hi).unwrap_or('\u{FFFD}'))
    }

    fn hex4(&mut self) -> Result<u32, JsonError> {
        let Some(h) = self.b.get(self.pos..self.pos + 4) else {
            return Err(self.syntax("bad \\u escape"));
        };
        let mut v = 0u32;
        for &c in h {
            let d = char::from(c)
                .to_digit(16)
                .ok_or_else(|| self.syntax("bad \\u escape"))?;
            v = v * 16 + d;
        }
        self.pos += 4;
        Ok(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Fields<'_> {
        parse_str(s, &JsonOptions::default()).unwrap()
    }

    #[test]
    fn json_nested_objects_flatten_to_dotted_paths() {
        let f = p(r#"{"a":{"b":{"c":1}},"d":"x","e":{}}"#);
        assert_eq!(f.get("a.b.c"), Some(&FieldValue::Int(1)));
        assert_eq!(f.get_str("d"), Some("x"));
        assert_eq!(f.len(), 2);
    }

    #[test]
    fn json_arrays_stay_typed_lists() {
        let f = p(r#"{"a":[1,2.5,"x",true,null,[3]],"o":[{"k":1}]}"#);
        assert_eq!(
            f.get("a"),
            Some(&FieldValue::List(vec![
                FieldValue::Int(1),
                FieldValue::Float(2.5),
                "x".into(),
                FieldValue::Bool(true),
                FieldValue::Null,
                FieldValue::List(vec![FieldValue::Int(3)]),
            ]))
        );
        assert_eq!(
            f.get("o"),
            Some(&FieldValue::List(vec![r#"{"k":1}"#.into()]))
        );
    }

    #[test]
    fn json_numbers_typed() {
        let f = p(r#"{"i":-42,"f":1e3,"big":18446744073709551615,"z":0}"#);
        assert_eq!(f.get("i"), Some(&FieldValue::Int(-42)));
        assert_eq!(f.get("f"), Some(&FieldValue::Float(1000.0)));
        assert_eq!(f.get_str("big"), Some("18446744073709551615"));
        assert!(parse_str(r#"{"a":01}"#, &JsonOptions::default()).is_err());
        assert!(parse_str(r#"{"a":1.}"#, &JsonOptions::default()).is_err());
    }

    #[test]
    fn json_string_escapes() {
        let f = p(r#"{"k\"ey":"a\nb\u00e9\ud83d\ude00\/","plain":"x"}"#);
        assert_eq!(f.get_str("k\"ey"), Some("a\nbé😀/"));
        assert!(matches!(
            f.get("plain"),
            Some(FieldValue::Str(Cow::Borrowed(_)))
        ));
    }

    #[test]
    fn json_depth_cap() {
        let opts = JsonOptions {
            max_depth: 3,
            ..JsonOptions::default()
        };
        assert!(parse_str(r#"{"a":{"b":{"c":1}}}"#, &opts).is_ok());
        let e = parse_str(r#"{"a":{"b":{"c":{"d":1}}}}"#, &opts).unwrap_err();
        assert!(matches!(e, JsonError::TooDeep { max: 3, .. }), "{e}");
        let e = parse_str(r#"{"a":[[[1]]]}"#, &opts).unwrap_err();
        assert!(matches!(e, JsonError::TooDeep { .. }));
        let deep = "[".repeat(100_000);
        assert!(parse_str(&format!("{{\"a\":{deep}}}"), &JsonOptions::default()).is_err());
    }

    #[test]
    fn json_size_and_field_caps() {
        let opts = JsonOptions {
            max_size: 10,
            max_fields: 2,
            ..JsonOptions::default()
        };
        assert!(matches!(
            parse(br#"{"a":"01234567"}"#, &opts),
            Err(JsonError::TooLarge { size: 16, max: 10 })
        ));
        let opts = JsonOptions {
            max_fields: 2,
            ..JsonOptions::default()
        };
        assert!(matches!(
            parse(br#"{"a":1,"b":2,"c":3}"#, &opts),
            Err(JsonError::TooManyFields { max: 2, .. })
        ));
    }

    #[test]
    fn json_errors_have_line_and_column() {
        let e = parse_str("{\n  \"a\": tru\n}", &JsonOptions::default()).unwrap_err();
        match e {
            JsonError::Syntax { at, .. } => assert_eq!((at.line, at.column), (2, 8)),
            other => panic!("{other}"),
        }
        assert!(matches!(
            parse_str("[1]", &JsonOptions::default()),
            Err(JsonError::NotAnObject { .. })
        ));
        assert!(parse_str("{} x", &JsonOptions::default()).is_err());
        assert!(parse_str("", &JsonOptions::default()).is_err());
    }
}
