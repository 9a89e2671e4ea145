//! HTTP/1.x requests: the Host header, the path (for `/adfs/`), and explicit
//! proxy `CONNECT host:port` requests (RFC 9110 9.3.6), from one segment.

use super::wire::normalise_name;

/// Bytes of a request read at most when looking for the Host header.
const MAX_HEAD: usize = 8192;

/// What one request says about its destination.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request<'a> {
    /// The method (`GET`, `CONNECT`, ...).
    pub method: &'a [u8],
    /// The request target as sent (a path, `host:port` for CONNECT, or an absolute URL).
    pub target: &'a [u8],
    /// The Host header's value, without a port, when present.
    pub host: Option<&'a [u8]>,
}

impl Request<'_> {
    /// For `CONNECT host:port`: the normalised host name and the port.
    pub fn connect_target(&self) -> Option<(String, u16)> {
        if self.method != b"CONNECT" {
            return None;
        }
        let colon = self.target.iter().rposition(|&c| c == b':')?;
        let host = self.target.get(..colon)?;
        let port = std::str::from_utf8(self.target.get(colon + 1..)?)
            .ok()?
            .parse()
            .ok()?;
        Some((normalise_name(host)?, port))
    }

    /// True when the path is under `/adfs/` (AD FS endpoints, also through a WAP).
    pub fn is_adfs_path(&self) -> bool {
        let t = self.target;
        // An absolute-form target (through a proxy) has the path after the authority.
        let path = match t.windows(3).position(|w| w == b"://") {
            Some(i) => t
                .get(i + 3..)
                .and_then(|r| r.iter().position(|&c| c == b'/').and_then(|j| r.get(j..)))
                .unwrap_or(&[]),
            None => t,
        };
        path.len() >= 6
            && path
                .get(..6)
                .is_some_and(|p| p.eq_ignore_ascii_case(b"/adfs/"))
    }
}

/// The status code of an HTTP/1.x response's status line (`HTTP/1.1 407
/// Proxy Authentication Required`), when `p` starts with one.
pub fn status(p: &[u8]) -> Option<u16> {
    let rest = p.strip_prefix(b"HTTP/1.")?;
    let code = rest.get(2..5)?;
    if rest.get(1) != Some(&b' ') || !code.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(code).ok()?.parse().ok()
}

/// A Host header's value without its port (`host:8080`), as a request's
/// and a Zeek http.log's `host` are both read; a bracketed IPv6 literal is
/// not a name either way.
pub fn host_without_port(v: &[u8]) -> &[u8] {
    match v.iter().rposition(|&c| c == b':') {
        Some(i) => v.get(..i).unwrap_or(v),
        None => v,
    }
}

/// Parses the request line and finds the Host header; `None` when `p` does
/// not start like an HTTP/1.x request.
pub fn request(p: &[u8]) -> Option<Request<'_>> {
    let head = p.get(..MAX_HEAD).unwrap_or(p);
    // The method first (1 to 16 capitals, then a space): most segments that
    // start with a capital letter are not requests, and this rejects them
    // without searching up to 8 KiB for a line end. What passes is the
    // request line's method, so the line below is only split after it.
    let sp = head.iter().take(17).position(|&c| c == b' ')?;
    if sp == 0 || !head.get(..sp)?.iter().all(u8::is_ascii_uppercase) {
        return None;
    }
    let line_end = head.windows(2).position(|w| w == b"\r\n")?;
    if sp >= line_end {
        return None; // the request line has no space
    }
    let line = head.get(..line_end)?;
    let method = line.get(..sp)?;
    let mut parts = line.get(sp + 1..)?.split(|&c| c == b' ');
    let target = parts.next()?;
    let version = parts.next()?;
    if target.is_empty() || !version.starts_with(b"HTTP/1.") {
        return None;
    }
    let mut host = None;
    for h in head.get(line_end + 2..)?.split(|&c| c == b'\n') {
        let h = h.strip_suffix(b"\r").unwrap_or(h);
        if h.is_empty() {
            break;
        }
        if h.len() > 5 && h.get(..5).is_some_and(|k| k.eq_ignore_ascii_case(b"host:")) {
            host = Some(host_without_port(h.get(5..)?.trim_ascii()));
            break;
        }
    }
    Some(Request {
        method,
        target,
        host,
    })
}

#[cfg(test)]
mod status_tests {
    use super::status;

    #[test]
    fn status_lines_give_their_code_and_nothing_else_does() {
        assert_eq!(
            status(b"HTTP/1.1 407 Proxy Authentication Required\r\n"),
            Some(407)
        );
        assert_eq!(
            status(b"HTTP/1.0 200 Connection established\r\n\r\n"),
            Some(200)
        );
        assert_eq!(status(b"HTTP/1.1 40"), None);
        assert_eq!(status(b"HTTP/2 200"), None);
        assert_eq!(status(b"GET / HTTP/1.1\r\n"), None);
        assert_eq!(status(b"HTTP/1.1 4x7 nope"), None);
    }
}
