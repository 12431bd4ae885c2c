//! MessagePack writing and reading, with the exact encodings ormsgpack picks.
//!
//! The writer always chooses the smallest header, writes every float as float64
//! and never uses the old "raw" forms, which is what `ormsgpack.packb` does, so
//! bytes written here are byte-identical to langgraph's `JsonPlusSerializer`.
//! The reader is a pull parser: it hands out one `Token` at a time, borrowing
//! strings and binaries from the input, and leaves building values to its caller.
//! It does not check that strings are UTF-8: the caller does, when it makes a
//! string of one (Python's decoder validates as it decodes, so checking here too
//! would read every string twice).

use std::fmt;

/// Why a MessagePack encoding or decoding failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MsgpackError {
    /// The input ended inside a value.
    Truncated,
    /// A byte that starts no MessagePack value (0xc1).
    InvalidMarker(u8),
    /// A length that does not fit the 32-bit headers of the format.
    TooLarge,
}

impl fmt::Display for MsgpackError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MsgpackError::Truncated => f.write_str("msgpack data ended unexpectedly"),
            MsgpackError::InvalidMarker(byte) => write!(f, "invalid msgpack marker 0x{byte:02x}"),
            MsgpackError::TooLarge => f.write_str("value too large for msgpack"),
        }
    }
}

impl std::error::Error for MsgpackError {}

pub fn write_nil(out: &mut Vec<u8>) {
    out.push(0xc0);
}

pub fn write_bool(out: &mut Vec<u8>, value: bool) {
    out.push(if value { 0xc3 } else { 0xc2 });
}

/// Non-negative integers use the unsigned forms, negative ones the smallest signed form.
pub fn write_int(out: &mut Vec<u8>, value: i64) {
    if value >= 0 {
        write_uint(out, value as u64);
    } else if value >= -32 {
        out.push(value as u8); // negative fixint
    } else if value >= i64::from(i8::MIN) {
        out.push(0xd0);
        out.push(value as i8 as u8);
    } else if value >= i64::from(i16::MIN) {
        out.push(0xd1);
        out.extend_from_slice(&(value as i16).to_be_bytes());
    } else if value >= i64::from(i32::MIN) {
        out.push(0xd2);
        out.extend_from_slice(&(value as i32).to_be_bytes());
    } else {
        out.push(0xd3);
        out.extend_from_slice(&value.to_be_bytes());
    }
}

pub fn write_uint(out: &mut Vec<u8>, value: u64) {
    if value < 0x80 {
        out.push(value as u8); // positive fixint
    } else if value <= u64::from(u8::MAX) {
        out.push(0xcc);
        out.push(value as u8);
    } else if value <= u64::from(u16::MAX) {
        out.push(0xcd);
        out.extend_from_slice(&(value as u16).to_be_bytes());
    } else if value <= u64::from(u32::MAX) {
        out.push(0xce);
        out.extend_from_slice(&(value as u32).to_be_bytes());
    } else {
        out.push(0xcf);
        out.extend_from_slice(&value.to_be_bytes());
    }
}

/// Every float is a float64, as ormsgpack writes Python floats.
pub fn write_float(out: &mut Vec<u8>, value: f64) {
    out.push(0xcb);
    out.extend_from_slice(&value.to_bits().to_be_bytes());
}

pub fn write_str(out: &mut Vec<u8>, value: &str) -> Result<(), MsgpackError> {
    let len = value.len();
    if len < 32 {
        out.push(0xa0 | len as u8);
    } else {
        write_sized_header(out, len, [0xd9, 0xda, 0xdb])?;
    }
    out.extend_from_slice(value.as_bytes());
    Ok(())
}

pub fn write_bin(out: &mut Vec<u8>, value: &[u8]) -> Result<(), MsgpackError> {
    write_sized_header(out, value.len(), [0xc4, 0xc5, 0xc6])?;
    out.extend_from_slice(value);
    Ok(())
}

pub fn write_array_len(out: &mut Vec<u8>, len: usize) -> Result<(), MsgpackError> {
    if len < 16 {
        out.push(0x90 | len as u8);
        Ok(())
    } else {
        write_sized_header(out, len, [0xdc, 0xdc, 0xdd])
    }
}

pub fn write_map_len(out: &mut Vec<u8>, len: usize) -> Result<(), MsgpackError> {
    if len < 16 {
        out.push(0x80 | len as u8);
        Ok(())
    } else {
        write_sized_header(out, len, [0xde, 0xde, 0xdf])
    }
}

/// An extension value: fixext for payloads of 1, 2, 4, 8 or 16 bytes, else ext8/16/32.
pub fn write_ext(out: &mut Vec<u8>, code: i8, data: &[u8]) -> Result<(), MsgpackError> {
    write_ext_header(out, code, data.len())?;
    out.extend_from_slice(data);
    Ok(())
}

/// The header `write_ext` puts before a payload of `len` bytes.
pub fn write_ext_header(out: &mut Vec<u8>, code: i8, len: usize) -> Result<(), MsgpackError> {
    let fixed = match len {
        1 => Some(0xd4),
        2 => Some(0xd5),
        4 => Some(0xd6),
        8 => Some(0xd7),
        16 => Some(0xd8),
        _ => None,
    };
    match fixed {
        Some(marker) => out.push(marker),
        None => write_sized_header(out, len, [0xc7, 0xc8, 0xc9])?,
    }
    out.push(code as u8);
    Ok(())
}

/// A header with an 8-, 16- or 32-bit length, the smallest that fits.
/// Arrays and maps have no 8-bit form: their callers pass the 16-bit marker twice.
fn write_sized_header(out: &mut Vec<u8>, len: usize, markers: [u8; 3]) -> Result<(), MsgpackError> {
    if len <= usize::from(u8::MAX) && markers[0] != markers[1] {
        out.push(markers[0]);
        out.push(len as u8);
    } else if len <= usize::from(u16::MAX) {
        out.push(markers[1]);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else if let Ok(len) = u32::try_from(len) {
        out.push(markers[2]);
        out.extend_from_slice(&len.to_be_bytes());
    } else {
        return Err(MsgpackError::TooLarge);
    }
    Ok(())
}

/// One MessagePack item. Arrays and maps announce their length; their
/// elements (for maps: key, value, key, value...) are the tokens that follow.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Token<'a> {
    Nil,
    Bool(bool),
    /// Any integer that fits an i64.
    Int(i64),
    /// An unsigned integer above i64::MAX.
    BigUInt(u64),
    /// float32 values are widened, as Python has only one float type.
    Float(f64),
    /// A str value's bytes, not yet checked to be UTF-8.
    Str(&'a [u8]),
    Bin(&'a [u8]),
    Array(usize),
    Map(usize),
    Ext(i8, &'a [u8]),
}

/// A pull parser over one buffer.
pub struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        Reader { data, pos: 0 }
    }

    /// True once every byte was consumed.
    pub fn is_at_end(&self) -> bool {
        self.pos == self.data.len()
    }

    pub fn next_token(&mut self) -> Result<Token<'a>, MsgpackError> {
        let marker = self.take_u8()?;
        let token = match marker {
            0x00..=0x7f => Token::Int(i64::from(marker)),
            0x80..=0x8f => Token::Map(usize::from(marker & 0x0f)),
            0x90..=0x9f => Token::Array(usize::from(marker & 0x0f)),
            0xa0..=0xbf => self.take_str(usize::from(marker & 0x1f))?,
            0xc0 => Token::Nil,
            0xc2 => Token::Bool(false),
            0xc3 => Token::Bool(true),
            0xc4 => {
                let len = usize::from(self.take_u8()?);
                Token::Bin(self.take(len)?)
            }
            0xc5 => {
                let len = self.take_len16()?;
                Token::Bin(self.take(len)?)
            }
            0xc6 => {
                let len = self.take_len32()?;
                Token::Bin(self.take(len)?)
            }
            0xc7 => {
                let len = usize::from(self.take_u8()?);
                self.take_ext(len)?
            }
            0xc8 => {
                let len = self.take_len16()?;
                self.take_ext(len)?
            }
            0xc9 => {
                let len = self.take_len32()?;
                self.take_ext(len)?
            }
            0xca => Token::Float(f64::from(f32::from_bits(u32::from_be_bytes(
                self.take_array()?,
            )))),
            0xcb => Token::Float(f64::from_bits(u64::from_be_bytes(self.take_array()?))),
            0xcc => Token::Int(i64::from(self.take_u8()?)),
            0xcd => Token::Int(i64::from(u16::from_be_bytes(self.take_array()?))),
            0xce => Token::Int(i64::from(u32::from_be_bytes(self.take_array()?))),
            0xcf => {
                let value = u64::from_be_bytes(self.take_array()?);
                match i64::try_from(value) {
                    Ok(small) => Token::Int(small),
                    Err(_) => Token::BigUInt(value),
                }
            }
            0xd0 => Token::Int(i64::from(i8::from_be_bytes(self.take_array()?))),
            0xd1 => Token::Int(i64::from(i16::from_be_bytes(self.take_array()?))),
            0xd2 => Token::Int(i64::from(i32::from_be_bytes(self.take_array()?))),
            0xd3 => Token::Int(i64::from_be_bytes(self.take_array()?)),
            0xd4 => self.take_ext(1)?,
            0xd5 => self.take_ext(2)?,
            0xd6 => self.take_ext(4)?,
            0xd7 => self.take_ext(8)?,
            0xd8 => self.take_ext(16)?,
            0xd9 => {
                let len = usize::from(self.take_u8()?);
                self.take_str(len)?
            }
            0xda => {
                let len = self.take_len16()?;
                self.take_str(len)?
            }
            0xdb => {
                let len = self.take_len32()?;
                self.take_str(len)?
            }
            0xdc => Token::Array(self.take_len16()?),
            0xdd => Token::Array(self.take_len32()?),
            0xde => Token::Map(self.take_len16()?),
            0xdf => Token::Map(self.take_len32()?),
            0xe0..=0xff => Token::Int(i64::from(marker as i8)),
            0xc1 => return Err(MsgpackError::InvalidMarker(marker)),
        };
        Ok(token)
    }

    fn take(&mut self, len: usize) -> Result<&'a [u8], MsgpackError> {
        let end = self.pos.checked_add(len).ok_or(MsgpackError::Truncated)?;
        let bytes = self
            .data
            .get(self.pos..end)
            .ok_or(MsgpackError::Truncated)?;
        self.pos = end;
        Ok(bytes)
    }

    fn take_array<const N: usize>(&mut self) -> Result<[u8; N], MsgpackError> {
        let bytes = self.take(N)?;
        Ok(bytes.try_into().expect("take returns exactly N bytes"))
    }

    fn take_u8(&mut self) -> Result<u8, MsgpackError> {
        Ok(self.take_array::<1>()?[0])
    }

    fn take_len16(&mut self) -> Result<usize, MsgpackError> {
        Ok(usize::from(u16::from_be_bytes(self.take_array()?)))
    }

    fn take_len32(&mut self) -> Result<usize, MsgpackError> {
        let len = u32::from_be_bytes(self.take_array()?);
        usize::try_from(len).map_err(|_| MsgpackError::TooLarge)
    }

    fn take_str(&mut self, len: usize) -> Result<Token<'a>, MsgpackError> {
        Ok(Token::Str(self.take(len)?))
    }

    fn take_ext(&mut self, len: usize) -> Result<Token<'a>, MsgpackError> {
        let code = self.take_u8()? as i8;
        Ok(Token::Ext(code, self.take(len)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    fn int_bytes(value: i64) -> String {
        let mut out = Vec::new();
        write_int(&mut out, value);
        hex(&out)
    }

    // Expected bytes were produced by ormsgpack 1.13 through JsonPlusSerializer.
    #[test]
    fn integers_match_ormsgpack() {
        let cases: [(i64, &str); 14] = [
            (1, "01"),
            (127, "7f"),
            (128, "cc80"),
            (256, "cd0100"),
            (65536, "ce00010000"),
            (1 << 32, "cf0000000100000000"),
            (-1, "ff"),
            (-32, "e0"),
            (-33, "d0df"),
            (-128, "d080"),
            (-129, "d1ff7f"),
            (-32769, "d2ffff7fff"),
            (-2147483649, "d3ffffffff7fffffff"),
            (i64::MIN, "d38000000000000000"),
        ];
        for (value, expected) in cases {
            assert_eq!(int_bytes(value), expected, "{value}");
        }
        let mut out = Vec::new();
        write_uint(&mut out, u64::MAX);
        assert_eq!(hex(&out), "cfffffffffffffffff");
    }

    #[test]
    fn strings_and_containers_use_smallest_headers() {
        let mut out = Vec::new();
        write_str(&mut out, &"a".repeat(31)).unwrap();
        assert_eq!(hex(&out[..1]), "bf");
        out.clear();
        write_str(&mut out, &"a".repeat(32)).unwrap();
        assert_eq!(hex(&out[..2]), "d920");
        out.clear();
        write_str(&mut out, &"a".repeat(256)).unwrap();
        assert_eq!(hex(&out[..3]), "da0100");
        out.clear();
        write_bin(&mut out, b"a").unwrap();
        assert_eq!(hex(&out), "c40161");
        out.clear();
        write_array_len(&mut out, 15).unwrap();
        write_array_len(&mut out, 16).unwrap();
        write_map_len(&mut out, 70000).unwrap();
        assert_eq!(hex(&out), "9fdc0010df00011170");
        out.clear();
        write_float(&mut out, 1.5);
        assert_eq!(hex(&out), "cb3ff8000000000000");
    }

    #[test]
    fn ext_uses_fixext_when_it_can() {
        let mut out = Vec::new();
        write_ext(&mut out, 5, b"a").unwrap();
        write_ext(&mut out, 5, b"abc").unwrap();
        assert_eq!(hex(&out), "d40561c70305616263");
        out.clear();
        write_ext(&mut out, 5, &[0u8; 16]).unwrap();
        assert_eq!(hex(&out[..2]), "d805");
    }

    #[test]
    fn reader_round_trips_writer() {
        let mut out = Vec::new();
        write_map_len(&mut out, 2).unwrap();
        write_str(&mut out, "ké").unwrap();
        write_array_len(&mut out, 4).unwrap();
        write_int(&mut out, -70000);
        write_uint(&mut out, u64::MAX);
        write_float(&mut out, -0.25);
        write_nil(&mut out);
        write_bin(&mut out, &[1, 2]).unwrap();
        write_ext(&mut out, 7, &[9; 20]).unwrap();
        let mut reader = Reader::new(&out);
        let mut tokens = Vec::new();
        while !reader.is_at_end() {
            tokens.push(reader.next_token().unwrap());
        }
        assert_eq!(
            tokens,
            vec![
                Token::Map(2),
                Token::Str("ké".as_bytes()),
                Token::Array(4),
                Token::Int(-70000),
                Token::BigUInt(u64::MAX),
                Token::Float(-0.25),
                Token::Nil,
                Token::Bin(&[1, 2]),
                Token::Ext(7, &[9; 20]),
            ]
        );
    }

    #[test]
    fn reader_reads_forms_the_writer_never_uses() {
        // float32, uint8 for a small value, str8 for a short string, negative fixint.
        let data = [
            0xca, 0x3f, 0xc0, 0x00, 0x00, 0xcc, 0x05, 0xd9, 0x01, b'x', 0xfb,
        ];
        let mut reader = Reader::new(&data);
        assert_eq!(reader.next_token().unwrap(), Token::Float(1.5));
        assert_eq!(reader.next_token().unwrap(), Token::Int(5));
        assert_eq!(reader.next_token().unwrap(), Token::Str(b"x"));
        assert_eq!(reader.next_token().unwrap(), Token::Int(-5));
        assert!(reader.is_at_end());
    }

    #[test]
    fn reader_leaves_utf8_checks_to_its_caller() {
        assert_eq!(
            Reader::new(&[0xa1, 0xff]).next_token(),
            Ok(Token::Str(&[0xff]))
        );
    }

    #[test]
    fn reader_rejects_bad_input() {
        assert_eq!(
            Reader::new(&[0xc1]).next_token(),
            Err(MsgpackError::InvalidMarker(0xc1))
        );
        assert_eq!(
            Reader::new(&[0xa2, b'a']).next_token(),
            Err(MsgpackError::Truncated)
        );
        assert_eq!(Reader::new(&[]).next_token(), Err(MsgpackError::Truncated));
        assert_eq!(
            Reader::new(&[0xdb, 0xff, 0xff, 0xff, 0xff]).next_token(),
            Err(MsgpackError::Truncated)
        );
    }
}
