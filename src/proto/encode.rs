//! Small encoders kept free of `core::fmt` (which costs kilobytes of wasm).

#[allow(unused_imports)]
use crate::prelude::*;

/// Appends the decimal digits of `n`.
pub fn push_u64(out: &mut String, mut n: u64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        if let Some(b) = buf.get_mut(i) {
            *b = b'0' + (n % 10) as u8;
        }
        n /= 10;
        if n == 0 || i == 0 {
            break;
        }
    }
    for &b in buf.iter().skip(i) {
        out.push(b as char);
    }
}

/// Parses a non-empty run of ASCII digits of at most `max_len` digits; anything else
/// (sign, space, dot, too long) is `None`. The one decimal parser of the crate.
pub fn parse_decimal(s: &str, max_len: usize) -> Option<u64> {
    if s.is_empty() || s.len() > max_len.min(19) || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(s.bytes().fold(0u64, |acc, b| acc * 10 + u64::from(b - b'0')))
}

/// Whether `a` and `b` are equal, comparing every byte of the shorter (timing reveals
/// neither a matching prefix nor which byte differs): for secrets, keys and MACs.
pub fn ct_eq(a: &str, b: &str) -> bool {
    let bytes = a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    a.len() == b.len() && bytes == 0
}

/// Whether every byte of `s` is printable ASCII (space to `~`): safe in a message or a
/// header value, and free of CR/LF.
pub fn is_printable(s: &str) -> bool {
    s.bytes().all(|b| (0x20..0x7f).contains(&b))
}

/// The hex digit for a nibble (`0..16`), with `a` as the letter base (`b'a'` or `b'A'`).
fn hex_digit(nibble: u8, a: u8) -> char {
    (if nibble < 10 { b'0' + nibble } else { a + nibble - 10 }) as char
}

/// Appends `s` encoded as `application/x-www-form-urlencoded` (WHATWG URL standard, as
/// `URLSearchParams` does it): ASCII alphanumerics and `*-._` stay, space becomes `+`,
/// every other byte of the UTF-8 encoding becomes `%XX`.
pub fn push_form(out: &mut String, s: &str) {
    for &b in s.as_bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'*' | b'-' | b'.' | b'_' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => {
                out.push('%');
                out.push(hex_digit(b >> 4, b'A'));
                out.push(hex_digit(b & 15, b'A'));
            }
        }
    }
}

/// Appends standard base64 (RFC 4648 §4, padded) of `bytes`.
pub fn push_base64(out: &mut String, bytes: &[u8]) {
    base64(out, bytes, false);
}

/// Appends base64url without padding (RFC 4648 §5; RFC 7636's `BASE64URL-ENCODE`).
pub fn push_base64url(out: &mut String, bytes: &[u8]) {
    base64(out, bytes, true);
}

fn base64(out: &mut String, bytes: &[u8], url: bool) {
    let digit = |n: u32| -> char {
        let n = (n & 63) as u8;
        (match n {
            0..=25 => b'A' + n,
            26..=51 => b'a' + n - 26,
            52..=61 => b'0' + n - 52,
            62 if url => b'-',
            62 => b'+',
            _ if url => b'_',
            _ => b'/',
        }) as char
    };
    for chunk in bytes.chunks(3) {
        let mut it = chunk.iter().map(|&b| u32::from(b));
        let (a, b, c) = (it.next().unwrap_or(0), it.next(), it.next());
        let n = a << 16 | b.unwrap_or(0) << 8 | c.unwrap_or(0);
        out.push(digit(n >> 18));
        out.push(digit(n >> 12));
        match (b.is_some(), url) {
            (true, _) => out.push(digit(n >> 6)),
            (false, false) => out.push('='),
            (false, true) => {}
        }
        match (c.is_some(), url) {
            (true, _) => out.push(digit(n)),
            (false, false) => out.push('='),
            (false, true) => {}
        }
    }
}

/// Whether `needle` (non-empty) occurs in `hay`. A plain scan: `str::contains` would pull
/// core's two-way searcher into the wasm (about 10 KB raw).
pub fn contains(hay: &str, needle: &str) -> bool {
    !needle.is_empty() && hay.as_bytes().windows(needle.len()).any(|w| w == needle.as_bytes())
}

/// Replaces every occurrence of `needle` (non-empty) in `hay` with `with`.
pub fn replace_all(hay: &str, needle: &str, with: &str) -> String {
    let mut out = String::with_capacity(hay.len());
    let mut rest = hay;
    while !needle.is_empty() {
        let Some(i) = rest.as_bytes().windows(needle.len()).position(|w| w == needle.as_bytes()) else {
            break;
        };
        // `i` is where a whole UTF-8 string starts, so both halves are char boundaries.
        let (Some(head), Some(tail)) = (rest.get(..i), rest.get(i + needle.len()..)) else {
            break;
        };
        out.push_str(head);
        out.push_str(with);
        rest = tail;
    }
    out.push_str(rest);
    out
}

/// Appends `s` as a JSON string literal, quotes included.
pub fn push_json_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            // U+2028/2029 are valid JSON but break some JS parsers; escape them too.
            c if (c as u32) < 0x20 || c == '\u{2028}' || c == '\u{2029}' => {
                let n = c as u32;
                out.push_str("\\u");
                for shift in [12, 8, 4, 0] {
                    out.push(hex_digit(((n >> shift) & 15) as u8, b'a'));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers() {
        for n in [0u64, 7, 10, 429, 31_536_000, u64::MAX] {
            let mut s = String::new();
            push_u64(&mut s, n);
            assert_eq!(s, n.to_string());
        }
    }

    #[test]
    fn decimals() {
        assert_eq!(parse_decimal("0", 3), Some(0));
        assert_eq!(parse_decimal("120", 3), Some(120));
        assert_eq!(parse_decimal("1200", 3), None);
        for bad in ["", "-1", "+1", " 1", "1.5", "1e3", "١"] {
            assert_eq!(parse_decimal(bad, 12), None, "{bad:?}");
        }
        assert_eq!(parse_decimal("99999999999999999999", 40), None, "never overflows");
    }

    #[test]
    fn form_encoding_matches_url_search_params() {
        let mut s = String::new();
        push_form(&mut s, "a b+c/d:é~!*'()-._");
        assert_eq!(s, "a+b%2Bc%2Fd%3A%C3%A9%7E%21*%27%28%29-._");
    }

    #[test]
    fn base64_matches_rfc4648_vectors() {
        for (input, want) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
            ("\u{ff}\u{fe}?>", "w7/Dvj8+"),
        ] {
            let mut s = String::new();
            push_base64(&mut s, input.as_bytes());
            assert_eq!(s, want, "{input:?}");
        }
    }

    #[test]
    fn replace_all_replaces_every_occurrence() {
        assert_eq!(replace_all("a xx b xx", "xx", "[r]"), "a [r] b [r]");
        assert_eq!(replace_all("é-é", "é", "e"), "e-e");
        assert_eq!(replace_all("abc", "", "z"), "abc");
        assert_eq!(replace_all("abc", "abcd", "z"), "abc");
    }

    #[test]
    fn json_strings() {
        let mut s = String::new();
        push_json_str(&mut s, "q\"\\\n\u{1}\u{2028}é");
        assert_eq!(s, r#""q\"\\\n\u0001\u2028é""#);
    }
}
