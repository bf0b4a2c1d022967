//! JSON written the way CPython's `json` module writes it, so the sidecar and the stderr line
//! are byte-identical too: `json.dumps(v)` (separators `", "` and `": "`) and
//! `json.dump(v, f, indent=1)`, floats as `repr(float)` (shortest round-trip digits, exponent
//! form below 1e-4 and from 1e16 on, `.0` on integral values, `NaN`/`Infinity`).

use std::fmt::Write as _;

/// The JSON values the metadata needs; objects keep their insertion order like a `dict`.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Int(i128),
    Float(f64),
    Str(String),
    Object(Vec<(String, Value)>),
}

/// `repr(x)` of a Python float.
pub fn float_repr(x: f64) -> String {
    if x.is_nan() {
        return "NaN".into();
    }
    if x.is_infinite() {
        return if x > 0.0 { "Infinity" } else { "-Infinity" }.into();
    }
    // Shortest round-trip digits and the decimal exponent, from Rust's `{:e}` (the same
    // shortest digits as CPython's `repr`: both take the closest of the shortest strings).
    let sci = format!("{:e}", x.abs());
    let (mantissa, exp) = sci.split_once('e').unwrap_or((sci.as_str(), "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let mut out = String::with_capacity(24);
    if x.is_sign_negative() {
        out.push('-');
    }
    if !(-4..16).contains(&exp) {
        out.push_str(&digits[..1]);
        if digits.len() > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        let _ = write!(out, "e{}{:02}", if exp < 0 { '-' } else { '+' }, exp.abs());
    } else if exp < 0 {
        out.push_str("0.");
        for _ in 0..(-exp - 1) {
            out.push('0');
        }
        out.push_str(&digits);
    } else {
        let int_len = exp as usize + 1;
        if digits.len() <= int_len {
            out.push_str(&digits);
            for _ in digits.len()..int_len {
                out.push('0');
            }
            out.push_str(".0");
        } else {
            out.push_str(&digits[..int_len]);
            out.push('.');
            out.push_str(&digits[int_len..]);
        }
    }
    out
}

fn write_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            ' '..='~' => out.push(c),
            _ => {
                // ensure_ascii: everything else as \uXXXX (UTF-16 units)
                let mut buf = [0u16; 2];
                for unit in c.encode_utf16(&mut buf) {
                    let _ = write!(out, "\\u{unit:04x}");
                }
            }
        }
    }
    out.push('"');
}

impl Value {
    /// `json.dumps(self)`.
    pub fn dumps(&self) -> String {
        let mut out = String::new();
        self.write(&mut out, None, 0);
        out
    }

    /// `json.dumps(self, indent=indent)` (what `json.dump(self, f, indent=indent)` writes).
    pub fn dumps_indent(&self, indent: usize) -> String {
        let mut out = String::new();
        self.write(&mut out, Some(indent), 0);
        out
    }

    fn write(&self, out: &mut String, indent: Option<usize>, level: usize) {
        match self {
            Value::Int(i) => {
                let _ = write!(out, "{i}");
            }
            Value::Float(f) => out.push_str(&float_repr(*f)),
            Value::Str(s) => write_str(out, s),
            Value::Object(items) if items.is_empty() => out.push_str("{}"),
            Value::Object(items) => {
                out.push('{');
                for (i, (k, v)) in items.iter().enumerate() {
                    match indent {
                        Some(n) => {
                            out.push_str(if i == 0 { "\n" } else { ",\n" });
                            out.extend(std::iter::repeat_n(' ', n * (level + 1)));
                        }
                        None if i > 0 => out.push_str(", "),
                        None => {}
                    }
                    write_str(out, k);
                    out.push_str(": ");
                    v.write(out, indent, level + 1);
                }
                if let Some(n) = indent {
                    out.push('\n');
                    out.extend(std::iter::repeat_n(' ', n * level));
                }
                out.push('}');
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn float_repr_is_pythons() {
        // (value, repr(value)) from CPython 3.11.
        let cases: [(f64, &str); 14] = [
            (0.3, "0.3"),
            (1.0, "1.0"),
            (1e16, "1e+16"),
            (1234567890123456.8, "1234567890123456.8"),
            (1e-5, "1e-05"),
            (1e-4, "0.0001"),
            (49134.123456, "49134.123456"),
            (0.1 + 0.2, "0.30000000000000004"),
            (-0.0, "-0.0"),
            (123456789012345678.0, "1.2345678901234568e+17"),
            (5e-324, "5e-324"),
            (f64::MAX, "1.7976931348623157e+308"),
            (f64::NAN, "NaN"),
            (f64::NEG_INFINITY, "-Infinity"),
        ];
        for (x, want) in cases {
            assert_eq!(float_repr(x), want);
        }
    }

    #[test]
    fn dumps_matches_json_module_layouts() {
        let v = Value::Object(vec![
            ("lines".into(), Value::Int(3)),
            ("format".into(), Value::Str("wire".into())),
            (
                "counts".into(),
                Value::Object(vec![
                    ("a".into(), Value::Int(1)),
                    ("b".into(), Value::Float(2.5)),
                ]),
            ),
            ("empty".into(), Value::Object(vec![])),
        ]);
        // json.dumps(v) and json.dumps(v, indent=1) in CPython 3.11.
        assert_eq!(
            v.dumps(),
            r#"{"lines": 3, "format": "wire", "counts": {"a": 1, "b": 2.5}, "empty": {}}"#
        );
        assert_eq!(
            v.dumps_indent(1),
            "{\n \"lines\": 3,\n \"format\": \"wire\",\n \"counts\": {\n  \"a\": 1,\n  \"b\": 2.5\n },\n \"empty\": {}\n}"
        );
        assert_eq!(
            Value::Str("é\"\u{1F600}\u{7f}".into()).dumps(),
            r#""\u00e9\"\ud83d\ude00\u007f""#
        );
    }
}
