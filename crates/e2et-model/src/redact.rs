//! Run tokens never leave e2etd in anything people read: a host's kernel
//! command line carries `e2et.token=<token>` (the boot window's token, see
//! the coordinator's lifecycle::claims), and the cmdline reaches the stored
//! boots and facts, the kept serial console, trails, reports, the dashboard
//! and the event stream. Each of those goes through [`tokens`] (text) or
//! [`token_bytes`] (a console's raw bytes) first.

/// What marks a token on a command line.
pub const TOKEN_KEY: &str = "e2et.token=";
/// What a token's value becomes.
pub const REDACTED: &str = "<redacted>";

/// `text` with every `e2et.token=` value (up to the next whitespace or
/// quote) replaced by `<redacted>`.
pub fn tokens(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.contains(TOKEN_KEY) {
        return std::borrow::Cow::Borrowed(text);
    }
    match String::from_utf8(token_bytes(text.as_bytes())) {
        Ok(s) => std::borrow::Cow::Owned(s),
        // Only ASCII is replaced, so the result stays UTF-8; never panic.
        Err(e) => std::borrow::Cow::Owned(String::from_utf8_lossy(e.as_bytes()).into_owned()),
    }
}

/// The same on raw bytes (a serial console is not always UTF-8).
pub fn token_bytes(bytes: &[u8]) -> Vec<u8> {
    let key = TOKEN_KEY.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i..].starts_with(key) {
            out.extend_from_slice(key);
            i += key.len();
            let end = bytes[i..]
                .iter()
                .position(|b| b.is_ascii_whitespace() || matches!(b, b'"' | b'\'' | b'\\'))
                .map_or(bytes.len(), |p| i + p);
            if end > i {
                out.extend_from_slice(REDACTED.as_bytes());
            }
            i = end;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_token_on_a_line_is_redacted_and_nothing_else() {
        let t = "a".repeat(64);
        let line = format!("console=ttyS0 e2et.run=r1 e2et.token={t} quiet e2et.token={t}");
        let r = tokens(&line);
        assert_eq!(
            r,
            "console=ttyS0 e2et.run=r1 e2et.token=<redacted> quiet e2et.token=<redacted>"
        );
        assert!(!r.contains(&t));
        // Untouched text is not copied.
        assert!(matches!(
            tokens("no token here"),
            std::borrow::Cow::Borrowed(_)
        ));
        // At the end, in quotes (a Debug-printed cmdline), and empty.
        assert_eq!(tokens("x e2et.token=abc"), "x e2et.token=<redacted>");
        assert_eq!(tokens("\"e2et.token=abc\""), "\"e2et.token=<redacted>\"");
        assert_eq!(tokens("e2et.token= x"), "e2et.token= x");
    }

    #[test]
    fn console_bytes_that_are_not_utf8_keep_their_bytes() {
        let mut b = vec![0xff, 0xfe];
        b.extend_from_slice(b"Command line: e2et.token=deadbeef\r\n");
        let r = token_bytes(&b);
        assert_eq!(&r[..2], &[0xff, 0xfe]);
        assert!(r.ends_with(b"e2et.token=<redacted>\r\n"));
    }
}
