//! Zeek's dns.log, ssl.log and http.log rows into the [`Learner`]: what a
//! capture's DNS answers, TLS server names and HTTP requests teach, for an
//! audit of logs. Rows are read by [`super::zeek`], as conn.log rows are;
//! what a row teaches is decided by the learner's own rules
//! ([`Learner::learn_dns_answers`], [`Learner::learn_sni`],
//! [`Learner::learn_http_request`]), so names are checked and bounded as
//! the packets' are.
//!
//! - dns.log: `query` and `answers` (a vector: addresses, and the names of
//!   CNAME records) of a successful (`rcode` 0) A, AAAA or CNAME query;
//! - ssl.log: `server_name` for `id.resp_h`, unless the connection is a
//!   CONNECT tunnel (http.log says so, and is read first);
//! - http.log: `host` for `id.resp_h`, or, for `method` CONNECT (or an
//!   absolute `uri`), a proxy target with `status_code`.

use super::zeek::{LogKind, Row, parse_ts, read_table, sniff_source};
use crate::learn::{Learner, http};
use crate::pipeline::{CaptureReport, InputResult};
use crate::read::{CaptureInfo, ReadError, Source};
use crate::time::Timestamp;
use std::net::IpAddr;

/// Reads the name log (dns.log, ssl.log, http.log; TSV or JSON lines, plain
/// or gzip) at `source` into `learner`, row by row; the summary of what was
/// read and which log it was. Rows that cannot be read are skipped and
/// counted in the warnings, each listed by line up to a few; a log cut
/// short keeps every row before.
pub fn read_name_log(
    source: &Source,
    learner: &mut Learner,
) -> Result<(LogKind, CaptureReport), ReadError> {
    // The log's kind, told by its header before the first row.
    let kind = std::cell::Cell::new(LogKind::Dns);
    let accept = |k: LogKind| match k {
        LogKind::Conn => Err("a connection log, not a dns.log, ssl.log or http.log".to_string()),
        k => {
            kind.set(k);
            Ok(())
        }
    };
    let mut clock = Clock::default();
    let t = read_table(source, &accept, &mut |row| {
        let ts = clock.ts(row);
        match kind.get() {
            LogKind::Dns => dns(row, ts, learner),
            LogKind::Ssl => ssl(row, ts, learner),
            _ => http_row(row, ts, learner),
        }
    })?;
    let mut more = Vec::new();
    if clock.masked > 0 {
        more.push(format!(
            "{}: {} rows have no valid ts (masked or corrupt): each is taken as the time of the row before it",
            t.path, clock.masked
        ));
    }
    let first = clock.first;
    let last = clock.last;
    let info = CaptureInfo {
        first_ts: first.map(Timestamp::as_secs_f64),
        last_ts: last.map(Timestamp::as_secs_f64),
        // For the report's list of inputs; the audit's span and overlaps
        // are the connections' (a dns.log may start long before them).
        first_time: first,
        last_time: last,
        ..CaptureInfo::default()
    };
    Ok((t.kind, t.report(info, more)))
}

/// The rows' times: a masked or corrupt `ts` (`XXXXXXXXXX.XXXXXX` in Zeek's
/// own test baselines) is the row before's, as conn.log rows' are.
#[derive(Default)]
struct Clock {
    /// The last valid `ts`.
    last_ts: Option<Timestamp>,
    /// Rows without a valid `ts`.
    masked: u64,
    /// The earliest valid `ts`.
    first: Option<Timestamp>,
    /// The latest valid `ts`.
    last: Option<Timestamp>,
}

impl Clock {
    /// The row's `ts`, or the one before it.
    fn ts(&mut self, row: &dyn Row) -> Timestamp {
        match row.text("ts").and_then(|t| parse_ts(&t)) {
            Some(ts) => {
                self.last_ts = Some(ts);
                self.first = Some(self.first.map_or(ts, |f| f.min(ts)));
                self.last = Some(self.last.map_or(ts, |l| l.max(ts)));
                ts
            }
            None => {
                self.masked += 1;
                self.last_ts.unwrap_or(Timestamp(0))
            }
        }
    }
}

/// The connection a row is about: `(id.orig_h, id.orig_p, id.resp_h, id.resp_p)`.
fn conn_of(row: &dyn Row) -> Result<(IpAddr, u16, IpAddr, u16), String> {
    let need = |k: &str| row.text(k).ok_or_else(|| format!("no {k}"));
    let addr = |k: &str| -> Result<IpAddr, String> {
        need(k)?
            .parse()
            .map_err(|_| format!("{k} is not an address"))
    };
    let port = |k: &str| -> Result<u16, String> {
        need(k)?.parse().map_err(|_| format!("{k} is not a port"))
    };
    Ok((
        addr("id.orig_h")?,
        port("id.orig_p")?,
        addr("id.resp_h")?,
        port("id.resp_p")?,
    ))
}

/// A dns.log row: the addresses among the answers of a successful A, AAAA
/// or CNAME query get the name asked for (and the CNAME names between).
/// What a capture's learner would not learn from either (a failed or other
/// query) is a row read that teaches nothing.
fn dns(row: &dyn Row, ts: Timestamp, learner: &mut Learner) -> Result<(), String> {
    let qtype_ok = match (row.text("qtype_name"), row.text("qtype")) {
        (Some(name), _) => matches!(name.as_str(), "A" | "AAAA" | "CNAME"),
        (None, Some(n)) => matches!(n.as_str(), "1" | "28" | "5"),
        (None, None) => true,
    };
    let rcode_ok = match (row.text("rcode"), row.text("rcode_name")) {
        (Some(code), _) => code == "0",
        (None, Some(name)) => name == "NOERROR",
        (None, None) => true,
    };
    let Some(query) = row.text("query") else {
        return Ok(());
    };
    if !qtype_ok || !rcode_ok {
        return Ok(());
    }
    let answers = row.list("answers");
    let answers: Vec<&[u8]> = answers.iter().map(|a| a.as_bytes()).collect();
    // The client and resolver, when the row names them (Zeek's always do).
    let ends = conn_of(row).ok().map(|(c, _, r, _)| {
        let proto = match row.text("proto").as_deref() {
            Some("tcp") => crate::catalogue::Proto::Tcp,
            _ => crate::catalogue::Proto::Udp,
        };
        ((c, r), proto)
    });
    learner.learn_dns_answers(ends, query.as_bytes(), &answers, ts);
    Ok(())
}

/// An ssl.log row: `server_name` names `id.resp_h`.
fn ssl(row: &dyn Row, ts: Timestamp, learner: &mut Learner) -> Result<(), String> {
    let Some(name) = row.text("server_name") else {
        return Ok(());
    };
    learner.learn_sni(conn_of(row)?, name.as_bytes(), ts);
    Ok(())
}

/// An http.log row: the request's method, `uri` (its target) and `host`,
/// with the answer's `status_code`, as the learner reads a request.
fn http_row(row: &dyn Row, ts: Timestamp, learner: &mut Learner) -> Result<(), String> {
    let (method, target, host) = (row.text("method"), row.text("uri"), row.text("host"));
    if method.is_none() && target.is_none() && host.is_none() {
        return Ok(());
    }
    let conn = conn_of(row)?;
    let method = method.unwrap_or_default();
    let target = target.unwrap_or_default();
    let req = http::Request {
        method: method.as_bytes(),
        target: target.as_bytes(),
        host: host
            .as_deref()
            .map(|h| http::host_without_port(h.as_bytes())),
    };
    let status = row.text("status_code").and_then(|s| s.parse().ok());
    learner.learn_http_request(conn, &req, status, ts);
    Ok(())
}

/// Reads every name log into `learner`: the http.logs first, since an
/// ssl.log's server name on a CONNECT tunnel is the origin's, not the
/// proxy's, and only http.log tells which connections are tunnels (stdin's
/// log is read in its place). The results come in the order of `sources`,
/// with the kinds of the logs read.
pub fn read_name_logs(
    sources: &[Source],
    learner: &mut Learner,
) -> (Vec<InputResult>, Vec<LogKind>) {
    let is_http = |s: &Source| {
        matches!(s, Source::Path(_)) && matches!(sniff_source(s), Some(Ok((LogKind::Http, _))))
    };
    let mut order: Vec<usize> = (0..sources.len()).collect();
    order.sort_by_key(|&i| sources.get(i).is_none_or(|s| !is_http(s)));
    let mut out: Vec<Option<InputResult>> = sources.iter().map(|_| None).collect();
    let mut kinds = Vec::new();
    for i in order {
        if let (Some(s), Some(slot)) = (sources.get(i), out.get_mut(i)) {
            *slot = Some(read_name_log(s, learner).map(|(k, r)| {
                kinds.push(k);
                r
            }));
        }
    }
    kinds.sort_unstable();
    kinds.dedup();
    (out.into_iter().flatten().collect(), kinds)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::learn::{Learned, NameSource};
    use std::io::Write;

    /// `text` as a file of a temporary directory, read into a new learner.
    fn read(name: &str, bytes: &[u8]) -> (Learned, Result<CaptureReport, ReadError>) {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join(name);
        std::fs::write(&p, bytes).expect("write");
        let mut l = Learner::new();
        let r = read_name_log(&Source::Path(p), &mut l).map(|(_, r)| r);
        (l.finish(), r)
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("test address")
    }

    /// (name, source, ts in ms) of every name of `addr`, in the table's order.
    fn names(l: &Learned, addr: &str) -> Vec<(String, NameSource, i64)> {
        l.names
            .names(ip(addr))
            .iter()
            .map(|n| (n.name.clone(), n.source, n.ts.0 / 1_000_000))
            .collect()
    }

    fn gzip(b: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(b).expect("gzip");
        e.finish().expect("gzip")
    }

    /// A Zeek dns.log header, `;` between set elements to show the reader
    /// takes `#set_separator` from the header.
    const DNS_HEAD: &str = "#separator \\x09\n#set_separator\t;\n#empty_field\t(empty)\n#unset_field\t-\n#path\tdns\n\
        #open\t2023-11-14-22-13-20\n\
        #fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\tquery\tqtype_name\trcode\tanswers\tTTLs\n\
        #types\ttime\tstring\taddr\tport\taddr\tport\tenum\tstring\tstring\tcount\tvector[string]\tvector[interval]\n";

    /// Each address among a row's answers gets the name asked for first,
    /// then the CNAME names in the order of the answers; failed queries,
    /// other types and unset or empty answers teach nothing.
    #[test]
    fn dns_tsv_rows_give_each_address_the_query_and_its_cname_chain() {
        let text = format!(
            "{DNS_HEAD}\
             1700000001.5\tC1\t10.0.1.10\t50000\t10.0.0.4\t53\tudp\tlogin.microsoftonline.com\tA\t0\tlogin.mso.msidentity.com;ak.privatelink.msidentity.com;20.190.151.7\t60.0;60.0;60.0\n\
             1700000002\tC2\t10.0.1.10\t50001\t10.0.0.4\t53\tudp\tlogin.microsoftonline.com\tAAAA\t0\tlogin.mso.msidentity.com;2603:1036::7\t60.0;60.0\n\
             1700000003\tC3\t10.0.1.10\t50002\t10.0.0.4\t53\tudp\tnx.example\tA\t3\t10.9.9.9\t-\n\
             1700000004\tC4\t10.0.1.10\t50003\t10.0.0.4\t53\tudp\tmail.example\tMX\t0\t10.9.9.8\t-\n\
             1700000005\tC5\t10.0.1.10\t50004\t10.0.0.4\t53\tudp\tunset.example\tA\t0\t-\t-\n\
             1700000006\tC6\t10.0.1.10\t50005\t10.0.0.4\t53\tudp\tempty.example\tA\t0\t(empty)\t(empty)\n\
             1700000007\tC7\t10.0.1.10\t50006\t10.0.0.4\t53\tudp\t-\tA\t0\t10.9.9.7\t-\n"
        );
        let (l, r) = read("dns.log", text.as_bytes());
        let r = r.expect("read");
        assert_eq!(r.info.format, "zeek dns.log (TSV), 7 rows");
        assert!(r.info.warnings.is_empty(), "{:?}", r.info.warnings);
        let chain = |ts| {
            vec![
                ("login.microsoftonline.com".to_string(), NameSource::Dns, ts),
                ("login.mso.msidentity.com".to_string(), NameSource::Dns, ts),
                (
                    "ak.privatelink.msidentity.com".to_string(),
                    NameSource::Dns,
                    ts,
                ),
            ]
        };
        assert_eq!(names(&l, "20.190.151.7"), chain(1_700_000_001_500));
        assert_eq!(
            names(&l, "2603:1036::7"),
            chain(1_700_000_002_000)[..2].to_vec()
        );
        for nothing in ["10.9.9.9", "10.9.9.8", "10.9.9.7", "10.0.0.4", "10.0.1.10"] {
            assert!(names(&l, nothing).is_empty(), "{nothing}");
        }
        assert_eq!(l.names.len(), 2);
        assert_eq!(r.info.first_ts, Some(1_700_000_001.5));
        assert_eq!(r.info.last_ts, Some(1_700_000_007.0));
    }

    /// Zeek's JSON lines (`LogAscii::use_json`): answers are an array,
    /// unset fields are absent; the same names as the TSV row, gzip'd too.
    #[test]
    fn dns_json_lines_read_as_the_tsv_and_through_gzip() {
        let text = concat!(
            r#"{"ts":1700000001.5,"uid":"C1","id.orig_h":"10.0.1.10","id.orig_p":50000,"id.resp_h":"10.0.0.4","id.resp_p":53,"proto":"udp","trans_id":7,"query":"login.microsoftonline.com","qclass":1,"qtype":1,"qtype_name":"A","rcode":0,"rcode_name":"NOERROR","answers":["login.mso.msidentity.com","ak.privatelink.msidentity.com","20.190.151.7"],"TTLs":[60.0,60.0,60.0]}"#,
            "\n",
            r#"{"ts":1700000003,"uid":"C3","id.orig_h":"10.0.1.10","id.orig_p":50002,"id.resp_h":"10.0.0.4","id.resp_p":53,"proto":"udp","trans_id":8,"query":"nx.example","qtype":1,"qtype_name":"A","rcode":3,"rcode_name":"NXDOMAIN"}"#,
            "\n"
        );
        for (file, bytes) in [
            ("dns.log", text.as_bytes().to_vec()),
            ("dns.00:00:00-01:00:00.log.gz", gzip(text.as_bytes())),
        ] {
            let (l, r) = read(file, &bytes);
            let r = r.expect("read");
            let gz = if file.ends_with(".gz") { "gzip+" } else { "" };
            assert_eq!(r.info.format, format!("{gz}dns.log (JSON lines), 2 rows"));
            assert_eq!(
                l.names
                    .names(ip("20.190.151.7"))
                    .iter()
                    .map(|n| n.name.as_str())
                    .collect::<Vec<_>>(),
                [
                    "login.microsoftonline.com",
                    "login.mso.msidentity.com",
                    "ak.privatelink.msidentity.com"
                ],
                "{file}"
            );
            assert_eq!(l.names.len(), 1, "{file}");
        }
    }

    /// ssl.log's server_name names the responder; unset, empty and
    /// not-a-host-name values teach nothing; gzip'd, the same.
    #[test]
    fn ssl_server_names_name_the_responder() {
        let text = "#separator \\x09\n#set_separator\t,\n#empty_field\t(empty)\n#unset_field\t-\n#path\tssl\n\
            #fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tversion\tcipher\tserver_name\testablished\n\
            1700000010.006\tC1\t10.0.1.10\t49809\t20.190.128.10\t443\tTLSv12\t-\tlogin.microsoftonline.com\tT\n\
            1700000011\tC2\t10.0.1.10\t49810\t40.126.0.20\t443\tTLSv12\t-\t-\tT\n\
            1700000012\tC3\t10.0.1.10\t49811\t40.126.0.21\t443\tTLSv12\t-\t(empty)\tT\n\
            1700000013\tC4\t10.0.1.10\t49812\t40.126.0.22\t443\tTLSv12\t-\t<script>.example\tT\n";
        let (l, r) = read("ssl.log.gz", &gzip(text.as_bytes()));
        let r = r.expect("read");
        assert_eq!(r.info.format, "gzip+zeek ssl.log (TSV), 4 rows");
        assert_eq!(
            names(&l, "20.190.128.10"),
            [(
                "login.microsoftonline.com".to_string(),
                NameSource::Sni,
                1_700_000_010_006
            )]
        );
        assert_eq!(l.names.len(), 1);
    }

    /// http.log: `host` (its port dropped) names the responder, an /adfs/
    /// uri marks it; CONNECT is a proxy target with the logged status, and
    /// the server name on that tunnel (ssl.log, read after although named
    /// first) is not the proxy's.
    #[test]
    fn http_hosts_and_connect_targets_as_the_packet_learner_records_them() {
        let dir = tempfile::tempdir().expect("tempdir");
        let http = dir.path().join("http.log");
        let ssl = dir.path().join("ssl.log");
        std::fs::write(
            &http,
            "#separator \\x09\n#set_separator\t,\n#empty_field\t(empty)\n#unset_field\t-\n#path\thttp\n\
             #fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\ttrans_depth\tmethod\thost\turi\tstatus_code\n\
             1700000012.006\tC1\t10.0.1.10\t49811\t93.184.220.29\t80\t1\tGET\tcrl.microsoft.com:80\t/pki/crl/x.crl\t200\n\
             1700000013\tC2\t10.0.1.10\t50004\t10.0.9.9\t8080\t1\tCONNECT\tlogin.microsoftonline.com\tlogin.microsoftonline.com:443\t407\n\
             1700000014\tC3\t203.0.113.50\t61000\t10.0.2.20\t80\t1\tPOST\tsts.contoso.com\t/adfs/ls/\t200\n\
             1700000015\tC4\t10.0.1.10\t50005\t10.0.9.9\t8080\t1\t-\t-\t-\t-\n",
        )
        .expect("write");
        std::fs::write(
            &ssl,
            "#separator \\x09\n#path\tssl\n#fields\tts\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tserver_name\n\
             1700000013.5\t10.0.1.10\t50004\t10.0.9.9\t8080\tlogin.microsoftonline.com\n",
        )
        .expect("write");
        let mut l = Learner::new();
        let (results, kinds) = read_name_logs(&[Source::Path(ssl), Source::Path(http)], &mut l);
        assert_eq!(kinds, [LogKind::Ssl, LogKind::Http]);
        let formats: Vec<String> = results
            .into_iter()
            .map(|r| r.expect("read").info.format)
            .collect();
        assert_eq!(
            formats,
            ["zeek ssl.log (TSV), 1 rows", "zeek http.log (TSV), 4 rows"]
        );
        let l = l.finish();
        assert_eq!(
            names(&l, "93.184.220.29"),
            [(
                "crl.microsoft.com".to_string(),
                NameSource::HttpHost,
                1_700_000_012_006
            )]
        );
        let t = l
            .proxy_target(ip("10.0.1.10"), 50004, ip("10.0.9.9"), 8080)
            .expect("CONNECT learned");
        assert_eq!(
            (t.host.as_str(), t.port, t.status, t.ts.0 / 1_000_000),
            (
                "login.microsoftonline.com",
                443,
                Some(407),
                1_700_000_013_000
            )
        );
        assert!(names(&l, "10.0.9.9").is_empty(), "the proxy was renamed");
        assert!(l.adfs_paths.contains_key(&ip("10.0.2.20")));
        assert_eq!(l.proxied.len(), 1);
    }

    /// Rows that cannot be read are skipped by line (the header lines
    /// count), the rest kept; a last line without its end says the log was
    /// cut; a masked ts is the row before's.
    #[test]
    fn bad_rows_are_skipped_by_line_and_the_rest_kept() {
        let text = "#separator \\x09\n#path\tssl\n#fields\tts\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tserver_name\n\
            1700000001\t10.0.1.10\t1\tnot-an-ip\t443\ta.example\n\
            1700000002\t10.0.1.10\t2\n\
            XXXXXXXXXX.XXXXXX\t10.0.1.10\t3\t10.0.0.3\t443\tc.example\n\
            1700000004\t10.0.1.10\t4\t10.0.0.4\t99999\td.example\n\
            1700000005\t10.0.1.10\t5\t10.0.0.5\t443\te.example";
        let (l, r) = read("ssl.log", text.as_bytes());
        let r = r.expect("read");
        let w = r.info.warnings.join("\n");
        assert!(
            w.contains("line 4 skipped: id.resp_h is not an address"),
            "{w}"
        );
        assert!(
            w.contains("line 5 skipped: 3 fields where #fields names 6"),
            "{w}"
        );
        assert!(w.contains("line 7 skipped: id.resp_p is not a port"), "{w}");
        assert!(w.contains("1 rows have no valid ts"), "{w}");
        assert!(r.info.truncated && w.contains("ends inside a line"), "{w}");
        assert_eq!(r.info.format, "zeek ssl.log (TSV), 2 rows");
        // The masked row's time is the last valid one before it (line 4's).
        assert_eq!(
            names(&l, "10.0.0.3"),
            [("c.example".to_string(), NameSource::Sni, 1_700_000_001_000)]
        );
        assert_eq!(names(&l, "10.0.0.5").len(), 1);
        assert_eq!(l.names.len(), 2);

        let json = "{\"ts\":1,\"id.orig_h\":\"10.0.1.10\",\"id.orig_p\":1,\"id.resp_h\":\"10.0.0.1\",\"id.resp_p\":443,\"server_name\":\"a.example\",\"cipher\":\"x\"}\n\
            [1,2]\n\
            {not json\n";
        let (l, r) = read("ssl.json", json.as_bytes());
        let w = r.expect("read").info.warnings.join("\n");
        assert!(w.contains("line 2 skipped: not a JSON object"), "{w}");
        assert!(w.contains("line 3 skipped: not JSON"), "{w}");
        assert_eq!(names(&l, "10.0.0.1").len(), 1);
    }

    /// A conn.log or a Zeek log flowaudit does not read is an error naming
    /// why; no input bytes (every prefix of a gzip'd log, garbage) panic.
    #[test]
    fn other_logs_are_refused_and_no_bytes_panic() {
        let (_, r) = read("conn.log", b"#separator \\x09\n#path\tconn\n#fields\tts\n");
        assert!(r.is_err_and(|e| e.reason.contains("a connection log")));
        let (_, r) = read("x509.log", b"#separator \\x09\n#path\tx509\n#fields\tts\n");
        assert!(r.is_err_and(|e| e.reason.contains("a Zeek x509 log: only conn.log")));
        let text = format!(
            "{DNS_HEAD}1700000001.5\tC1\t10.0.1.10\t50000\t10.0.0.4\t53\tudp\ta.example\tA\t0\ta.b.example;10.0.0.9\t1;1\n"
        );
        let gz = gzip(text.as_bytes());
        for n in 0..gz.len() {
            let _ = read("dns.log.gz", &gz[..n]);
        }
        let mut x: u32 = 1;
        for _ in 0..200 {
            let mut b = DNS_HEAD.as_bytes().to_vec();
            for _ in 0..64 {
                x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                b.push((x >> 16) as u8);
            }
            let _ = read("dns.log", &b);
        }
    }
}
