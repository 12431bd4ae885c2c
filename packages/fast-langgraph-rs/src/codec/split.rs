//! Cutting a serialized checkpoint's channel values out of its MessagePack
//! bytes, for compact storage: the same cuts as `fast_langgraph_pure.compact.split`
//! (its docstring is the specification; the tests compare both).
//!
//! MessagePack is length-prefixed, so a value's extent is found without
//! decoding it. Nothing here interprets what it cuts: splicing the pieces back
//! gives the input byte for byte, whatever it holds.

/// A list's elements are cut when they hold this many bytes together
/// (`compact.MIN_LIST_BYTES`)...
pub const MIN_LIST_BYTES: usize = 128;
/// ...any other value when it alone is this big (`compact.MIN_VALUE_BYTES`).
pub const MIN_VALUE_BYTES: usize = 1024;
/// The key whose map holds the channel values: msgpack fixstr "channel_values".
const CHANNEL_VALUES_KEY: &[u8] = b"\xaechannel_values";

/// Where a channel value is cut: its byte range in the input, and the pieces
/// (element ranges of a list, or the whole value) that fill it.
#[derive(Debug, PartialEq, Eq)]
pub struct Cut {
    pub start: usize,
    pub end: usize,
    pub pieces: Vec<(usize, usize)>,
}

#[derive(Debug)]
struct Malformed;

type Result<T> = std::result::Result<T, Malformed>;

enum Container {
    Array(usize),
    Map(usize),
    Scalar,
}

fn uint(data: &[u8], at: usize, size: usize) -> Result<usize> {
    let bytes = data.get(at..at + size).ok_or(Malformed)?;
    Ok(bytes.iter().fold(0usize, |acc, b| (acc << 8) | *b as usize))
}

/// The container at `pos`, and the offset of its first item.
fn container(data: &[u8], pos: usize) -> Result<(Container, usize)> {
    let marker = *data.get(pos).ok_or(Malformed)?;
    Ok(match marker {
        0x80..=0x8f => (Container::Map((marker & 0x0f) as usize), pos + 1),
        0x90..=0x9f => (Container::Array((marker & 0x0f) as usize), pos + 1),
        0xdc => (Container::Array(uint(data, pos + 1, 2)?), pos + 3),
        0xdd => (Container::Array(uint(data, pos + 1, 4)?), pos + 5),
        0xde => (Container::Map(uint(data, pos + 1, 2)?), pos + 3),
        0xdf => (Container::Map(uint(data, pos + 1, 4)?), pos + 5),
        _ => (Container::Scalar, pos),
    })
}

/// The offset just past the value at `pos`. Iterative: depth costs nothing.
fn skip(data: &[u8], mut pos: usize) -> Result<usize> {
    let mut pending: usize = 1;
    while pending > 0 {
        pending -= 1;
        let marker = *data.get(pos).ok_or(Malformed)?;
        pos = match marker {
            0x00..=0x7f | 0xe0..=0xff => pos + 1,
            0x80..=0x9f | 0xdc..=0xdf => {
                let (kind, first) = container(data, pos)?;
                let items = match kind {
                    Container::Map(n) => n.checked_mul(2).ok_or(Malformed)?,
                    Container::Array(n) => n,
                    Container::Scalar => 0,
                };
                pending = pending.checked_add(items).ok_or(Malformed)?;
                first
            }
            0xa0..=0xbf => pos + 1 + (marker & 0x1f) as usize,
            0xc0 | 0xc2 | 0xc3 => pos + 1,
            0xca => pos + 5,
            0xcb => pos + 9,
            0xcc | 0xd0 => pos + 2,
            0xcd | 0xd1 => pos + 3,
            0xce | 0xd2 => pos + 5,
            0xcf | 0xd3 => pos + 9,
            0xd4 => pos + 3,
            0xd5 => pos + 4,
            0xd6 => pos + 6,
            0xd7 => pos + 10,
            0xd8 => pos + 18,
            0xc4 | 0xd9 => pos + 2 + uint(data, pos + 1, 1)?,
            0xc5 | 0xda => pos + 3 + uint(data, pos + 1, 2)?,
            0xc6 | 0xdb => pos + 5 + uint(data, pos + 1, 4)?,
            0xc7 => pos + 3 + uint(data, pos + 1, 1)?,
            0xc8 => pos + 4 + uint(data, pos + 1, 2)?,
            0xc9 => pos + 6 + uint(data, pos + 1, 4)?,
            _ => return Err(Malformed), // 0xc1, never used
        };
    }
    if pos > data.len() {
        return Err(Malformed);
    }
    Ok(pos)
}

/// The channel values of a serialized checkpoint worth storing as chunks, in
/// order; empty when there are none or `data` is not a map with
/// `channel_values` (the caller then stores it whole).
pub fn channel_value_cuts(data: &[u8]) -> Vec<Cut> {
    value_cuts(data).unwrap_or_default()
}

fn value_cuts(data: &[u8]) -> Result<Vec<Cut>> {
    let (Container::Map(keys), mut pos) = container(data, 0)? else {
        return Ok(Vec::new());
    };
    let mut values_at = None;
    for _ in 0..keys {
        let key_end = skip(data, pos)?;
        if &data[pos..key_end] == CHANNEL_VALUES_KEY {
            values_at = Some(key_end);
            break;
        }
        pos = skip(data, key_end)?;
    }
    let Some(values_at) = values_at else {
        return Ok(Vec::new());
    };
    let (Container::Map(channels), mut pos) = container(data, values_at)? else {
        return Ok(Vec::new());
    };
    let mut cuts = Vec::new();
    for _ in 0..channels {
        let start = skip(data, pos)?; // past the channel's name
        let end = skip(data, start)?;
        match container(data, start)? {
            (Container::Array(elements), first)
                if elements >= 2 && end - first >= MIN_LIST_BYTES =>
            {
                let mut pieces = Vec::with_capacity(elements);
                let mut at = first;
                for _ in 0..elements {
                    let after = skip(data, at)?;
                    pieces.push((at, after));
                    at = after;
                }
                if at != end {
                    return Err(Malformed);
                }
                cuts.push(Cut {
                    start: first,
                    end,
                    pieces,
                });
            }
            _ if end - start >= MIN_VALUE_BYTES => cuts.push(Cut {
                start,
                end,
                pieces: vec![(start, end)],
            }),
            _ => {}
        }
        pos = end;
    }
    Ok(cuts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::msgpack::{write_array_len, write_bin, write_map_len, write_str};

    fn checkpoint(values: &[(&str, Vec<u8>)]) -> Vec<u8> {
        let mut out = Vec::new();
        write_map_len(&mut out, 2).unwrap();
        write_str(&mut out, "v").unwrap();
        out.push(4);
        write_str(&mut out, "channel_values").unwrap();
        write_map_len(&mut out, values.len()).unwrap();
        for (name, value) in values {
            write_str(&mut out, name).unwrap();
            out.extend_from_slice(value);
        }
        out
    }

    fn bin(size: usize) -> Vec<u8> {
        let mut out = Vec::new();
        write_bin(&mut out, &vec![7u8; size]).unwrap();
        out
    }

    #[test]
    fn lists_are_cut_into_elements_and_large_values_whole() {
        let mut list = Vec::new();
        write_array_len(&mut list, 3).unwrap();
        for size in [100, 200, 300] {
            list.extend(bin(size));
        }
        let data = checkpoint(&[("messages", list), ("big", bin(1500)), ("small", bin(500))]);
        let cuts = channel_value_cuts(&data);
        assert_eq!(cuts.len(), 2);
        assert_eq!(cuts[0].pieces.len(), 3);
        assert_eq!(cuts[0].pieces[0].1 - cuts[0].pieces[0].0, 102);
        assert_eq!(cuts[1].pieces, vec![(cuts[1].start, cuts[1].end)]);
        assert_eq!(cuts[1].end - cuts[1].start, 1503);
    }

    #[test]
    fn anything_else_is_left_whole() {
        assert!(channel_value_cuts(b"").is_empty());
        assert!(channel_value_cuts(b"\xc1").is_empty());
        assert!(channel_value_cuts(&[0x92, 1, 2]).is_empty());
        let mut data = checkpoint(&[("big", bin(1500))]);
        data.truncate(data.len() - 10);
        assert!(channel_value_cuts(&data).is_empty());
    }
}
