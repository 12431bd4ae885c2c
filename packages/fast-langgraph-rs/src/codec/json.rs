//! JSON text as Python's `json` module writes and reads it, for checkpoint metadata.
//!
//! The writer reproduces `json.dumps(value, ensure_ascii=False)` byte for byte:
//! `", "` and `": "` separators, `NaN`/`Infinity` (finite floats are Python's repr,
//! written by the caller),
//! and only `"`, `\` and control characters escaped. The parser accepts a subset
//! of what `json.loads` accepts and returns exactly what it would return; for
//! anything outside that subset (lone surrogate escapes, invalid text, absurd
//! nesting) it returns an error, and the caller hands the text to `json.loads`
//! itself, which then decides, or raises its own error.

use std::fmt;

pub const ITEM_SEPARATOR: &str = ", ";
pub const KEY_SEPARATOR: &str = ": ";

/// Deeper documents are left to Python, whose recursion limit decides their fate.
const MAX_DEPTH: usize = 500;

pub fn write_null(out: &mut Vec<u8>) {
    out.extend_from_slice(b"null");
}

pub fn write_bool(out: &mut Vec<u8>, value: bool) {
    out.extend_from_slice(if value { b"true" } else { b"false" });
}

pub fn write_int(out: &mut Vec<u8>, value: i64) {
    out.extend_from_slice(value.to_string().as_bytes());
}

/// json's name for a float that has no JSON literal (`NaN`, `Infinity`,
/// `-Infinity`); None for a finite one. A finite float's text must be Python's
/// own `float.__repr__`, which json.dumps writes: its shortest round-trip digits
/// break ties differently from Rust's (562949953421312.2 there, .3 here), so
/// the caller takes it from Python.
pub fn non_finite_name(value: f64) -> Option<&'static str> {
    if value.is_nan() {
        Some("NaN")
    } else if value == f64::INFINITY {
        Some("Infinity")
    } else if value == f64::NEG_INFINITY {
        Some("-Infinity")
    } else {
        None
    }
}

/// A string literal as json.dumps writes it with ensure_ascii=False.
pub fn write_str(out: &mut Vec<u8>, value: &str) {
    out.push(b'"');
    let bytes = value.as_bytes();
    let mut start = 0;
    for (index, &byte) in bytes.iter().enumerate() {
        let escape: Option<&[u8]> = match byte {
            b'"' => Some(b"\\\""),
            b'\\' => Some(b"\\\\"),
            b'\n' => Some(b"\\n"),
            b'\r' => Some(b"\\r"),
            b'\t' => Some(b"\\t"),
            0x08 => Some(b"\\b"),
            0x0c => Some(b"\\f"),
            0x00..=0x1f => None,
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..index]);
        match escape {
            Some(text) => out.extend_from_slice(text),
            None => out.extend_from_slice(format!("\\u{byte:04x}").as_bytes()),
        }
        start = index + 1;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

/// A parsed JSON document, as `json.loads` would shape it.
#[derive(Debug, Clone, PartialEq)]
pub enum JsonValue {
    Null,
    Bool(bool),
    Int(i64),
    /// An integer literal outside i64, kept as its text for Python's `int()`.
    BigInt(String),
    Float(f64),
    Str(String),
    Array(Vec<JsonValue>),
    /// Members in document order; a repeated key is left for the builder (last wins).
    Object(Vec<(String, JsonValue)>),
}

/// Why the fast parser declined a document (the caller then asks `json.loads`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonError {
    pub position: usize,
    pub reason: &'static str,
}

impl fmt::Display for JsonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at byte {}", self.reason, self.position)
    }
}

impl std::error::Error for JsonError {}

pub fn parse(data: &[u8]) -> Result<JsonValue, JsonError> {
    let mut parser = Parser { data, pos: 0 };
    parser.skip_whitespace();
    let value = parser.parse_value(0)?;
    parser.skip_whitespace();
    if parser.pos != data.len() {
        return Err(parser.error("extra data"));
    }
    Ok(value)
}

struct Parser<'a> {
    data: &'a [u8],
    pos: usize,
}

impl Parser<'_> {
    fn error(&self, reason: &'static str) -> JsonError {
        JsonError {
            position: self.pos,
            reason,
        }
    }

    fn peek(&self) -> Option<u8> {
        self.data.get(self.pos).copied()
    }

    fn skip_whitespace(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.pos += 1;
        }
    }

    fn eat_literal(&mut self, literal: &[u8]) -> bool {
        if self.data[self.pos..].starts_with(literal) {
            self.pos += literal.len();
            true
        } else {
            false
        }
    }

    fn parse_value(&mut self, depth: usize) -> Result<JsonValue, JsonError> {
        if depth > MAX_DEPTH {
            return Err(self.error("too deeply nested"));
        }
        match self.peek() {
            Some(b'{') => self.parse_object(depth),
            Some(b'[') => self.parse_array(depth),
            Some(b'"') => Ok(JsonValue::Str(self.parse_string()?)),
            Some(b'-' | b'0'..=b'9') => self.parse_number(),
            _ => {
                for (literal, value) in [
                    (&b"null"[..], JsonValue::Null),
                    (b"true", JsonValue::Bool(true)),
                    (b"false", JsonValue::Bool(false)),
                    (b"NaN", JsonValue::Float(f64::NAN)),
                    (b"Infinity", JsonValue::Float(f64::INFINITY)),
                ] {
                    if self.eat_literal(literal) {
                        return Ok(value);
                    }
                }
                Err(self.error("expecting value"))
            }
        }
    }

    fn parse_object(&mut self, depth: usize) -> Result<JsonValue, JsonError> {
        self.pos += 1; // '{'
        let mut members = Vec::new();
        self.skip_whitespace();
        if self.peek() == Some(b'}') {
            self.pos += 1;
            return Ok(JsonValue::Object(members));
        }
        loop {
            self.skip_whitespace();
            if self.peek() != Some(b'"') {
                return Err(self.error("expecting property name"));
            }
            let key = self.parse_string()?;
            self.skip_whitespace();
            if self.peek() != Some(b':') {
                return Err(self.error("expecting ':'"));
            }
            self.pos += 1;
            self.skip_whitespace();
            let value = self.parse_value(depth + 1)?;
            members.push((key, value));
            self.skip_whitespace();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b'}') => {
                    self.pos += 1;
                    return Ok(JsonValue::Object(members));
                }
                _ => return Err(self.error("expecting ',' or '}'")),
            }
        }
    }

    fn parse_array(&mut self, depth: usize) -> Result<JsonValue, JsonError> {
        self.pos += 1; // '['
        let mut items = Vec::new();
        self.skip_whitespace();
        if self.peek() == Some(b']') {
            self.pos += 1;
            return Ok(JsonValue::Array(items));
        }
        loop {
            self.skip_whitespace();
            items.push(self.parse_value(depth + 1)?);
            self.skip_whitespace();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b']') => {
                    self.pos += 1;
                    return Ok(JsonValue::Array(items));
                }
                _ => return Err(self.error("expecting ',' or ']'")),
            }
        }
    }

    /// Numbers follow Python's grammar: `-?(0|[1-9]\d*)(\.\d+)?([eE][-+]?\d+)?`,
    /// plus `-Infinity`.
    fn parse_number(&mut self) -> Result<JsonValue, JsonError> {
        let start = self.pos;
        if self.peek() == Some(b'-') {
            self.pos += 1;
            if self.eat_literal(b"Infinity") {
                return Ok(JsonValue::Float(f64::NEG_INFINITY));
            }
        }
        match self.peek() {
            Some(b'0') => self.pos += 1,
            Some(b'1'..=b'9') => self.skip_digits(),
            _ => return Err(self.error("expecting value")),
        }
        let mut is_float = false;
        if self.peek() == Some(b'.') && self.digit_at(self.pos + 1) {
            self.pos += 1;
            self.skip_digits();
            is_float = true;
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            let mut end = self.pos + 1;
            if matches!(self.data.get(end), Some(b'+' | b'-')) {
                end += 1;
            }
            if self.digit_at(end) {
                self.pos = end;
                self.skip_digits();
                is_float = true;
            }
        }
        let text = std::str::from_utf8(&self.data[start..self.pos]).expect("ASCII digits");
        if is_float {
            text.parse()
                .map(JsonValue::Float)
                .map_err(|_| self.error("bad float"))
        } else {
            Ok(match text.parse() {
                Ok(small) => JsonValue::Int(small),
                Err(_) => JsonValue::BigInt(text.to_owned()),
            })
        }
    }

    fn digit_at(&self, index: usize) -> bool {
        matches!(self.data.get(index), Some(b'0'..=b'9'))
    }

    fn skip_digits(&mut self) {
        while self.digit_at(self.pos) {
            self.pos += 1;
        }
    }

    fn parse_string(&mut self) -> Result<String, JsonError> {
        self.pos += 1; // opening quote
        let mut text: Vec<u8> = Vec::new();
        loop {
            let run_start = self.pos;
            while let Some(byte) = self.peek() {
                if byte == b'"' || byte == b'\\' || byte < 0x20 {
                    break;
                }
                self.pos += 1;
            }
            text.extend_from_slice(&self.data[run_start..self.pos]);
            match self.peek() {
                Some(b'"') => {
                    self.pos += 1;
                    return String::from_utf8(text).map_err(|_| self.error("invalid UTF-8"));
                }
                Some(b'\\') => {
                    self.pos += 1;
                    self.parse_escape(&mut text)?;
                }
                Some(_) => return Err(self.error("invalid control character")),
                None => return Err(self.error("unterminated string")),
            }
        }
    }

    fn parse_escape(&mut self, text: &mut Vec<u8>) -> Result<(), JsonError> {
        let byte = self
            .peek()
            .ok_or_else(|| self.error("unterminated string"))?;
        self.pos += 1;
        let simple = match byte {
            b'"' => b'"',
            b'\\' => b'\\',
            b'/' => b'/',
            b'b' => 0x08,
            b'f' => 0x0c,
            b'n' => b'\n',
            b'r' => b'\r',
            b't' => b'\t',
            b'u' => {
                let unit = self.parse_hex4()?;
                let code_point = match unit {
                    0xd800..=0xdbff => {
                        // Only a complete surrogate pair makes a character here;
                        // Python keeps lone surrogates, which Rust strings cannot hold.
                        if !self.eat_literal(b"\\u") {
                            return Err(self.error("lone surrogate"));
                        }
                        let low = self.parse_hex4()?;
                        if !(0xdc00..=0xdfff).contains(&low) {
                            return Err(self.error("lone surrogate"));
                        }
                        0x10000 + ((unit - 0xd800) << 10) + (low - 0xdc00)
                    }
                    0xdc00..=0xdfff => return Err(self.error("lone surrogate")),
                    _ => unit,
                };
                let character = char::from_u32(code_point).expect("valid scalar value");
                let mut buffer = [0u8; 4];
                text.extend_from_slice(character.encode_utf8(&mut buffer).as_bytes());
                return Ok(());
            }
            _ => return Err(self.error("invalid escape")),
        };
        text.push(simple);
        Ok(())
    }

    fn parse_hex4(&mut self) -> Result<u32, JsonError> {
        let digits = self
            .data
            .get(self.pos..self.pos + 4)
            .ok_or_else(|| self.error("bad \\u escape"))?;
        let mut value = 0u32;
        for &digit in digits {
            let nibble = (digit as char)
                .to_digit(16)
                .ok_or_else(|| self.error("bad \\u escape"))?;
            value = value * 16 + nibble;
        }
        self.pos += 4;
        Ok(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_non_finite_floats_have_names_here() {
        assert_eq!(non_finite_name(f64::NAN), Some("NaN"));
        assert_eq!(non_finite_name(f64::INFINITY), Some("Infinity"));
        assert_eq!(non_finite_name(f64::NEG_INFINITY), Some("-Infinity"));
        for finite in [0.0, -0.0, 1.5, f64::MAX, 5e-324, 562_949_953_421_312.2] {
            assert_eq!(non_finite_name(finite), None);
        }
    }

    #[test]
    fn strings_escape_like_json_dumps() {
        let mut out = Vec::new();
        write_str(&mut out, "a\"b\\c\nd\u{1}é\u{7f}\u{2028}😀\u{8}\u{c}");
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "\"a\\\"b\\\\c\\nd\\u0001é\u{7f}\u{2028}😀\\b\\f\""
        );
    }

    #[test]
    fn parses_what_json_loads_parses() {
        let text = br#" {"a": [1, -2.5e3, 1e400, NaN, -Infinity, true, null, 12345678901234567890],
            "b\u00e9\ud83d\ude00\n": {"": "x\/y"}, "a": 0} "#;
        let value = parse(text).unwrap();
        let JsonValue::Object(members) = value else {
            panic!("not an object")
        };
        assert_eq!(members.len(), 3);
        assert_eq!(members[1].0, "bé😀\n");
        assert_eq!(
            members[1].1,
            JsonValue::Object(vec![(String::new(), JsonValue::Str("x/y".into()))])
        );
        let JsonValue::Array(items) = &members[0].1 else {
            panic!("not an array")
        };
        assert_eq!(items[0], JsonValue::Int(1));
        assert_eq!(items[1], JsonValue::Float(-2500.0));
        assert_eq!(items[2], JsonValue::Float(f64::INFINITY));
        assert!(matches!(items[3], JsonValue::Float(f) if f.is_nan()));
        assert_eq!(items[4], JsonValue::Float(f64::NEG_INFINITY));
        assert_eq!(items[7], JsonValue::BigInt("12345678901234567890".into()));
    }

    #[test]
    fn declines_what_python_would_treat_specially_or_reject() {
        for text in [
            &b"\"\\ud800\""[..],
            b"\"\\udc00x\"",
            b"[1,]",
            b"01",
            b"1.",
            b"{\"a\" 1}",
            b"\"a\nb\"",
            b"\xef\xbb\xbf{}",
            b"\"\xff\"",
            b"",
            b"[1] x",
            b"nul",
        ] {
            assert!(parse(text).is_err(), "{:?}", String::from_utf8_lossy(text));
        }
        let deep = format!("{}{}", "[".repeat(MAX_DEPTH + 2), "]".repeat(MAX_DEPTH + 2));
        assert!(parse(deep.as_bytes()).is_err());
    }
}
