//! Apache/nginx access logs: combined (`%h %l %u %t "%r" %>s %b "%{Referer}i" "%{User-agent}i"`)
//! or common format, normalized as Filebeat's apache module does (`event.dataset: apache.access`).
//!
//! Fields after the user agent (nginx `"$http_x_forwarded_for"`, a response time) are ignored.
//! Quoted fields may hold backslash escapes: `\"`, `\\` and nginx's `\x22`/`\x5C` are decoded;
//! other escapes (`\xhh`, `\n`), which servers write for bytes they will not log raw, stay as
//! text so values remain valid UTF-8 and keep the evidence visible.
//!
//! A request line that is not `METHOD target [HTTP/version]` (a TLS handshake sent to a plain
//! HTTP port, scanner junk) goes whole into `url.original`, with no method, path or version: the
//! record still becomes an event, and rules can match on what the client sent. Filebeat drops
//! such lines with a grok error, which hides exactly the probes a detector wants to see.
//! A request of `"-"` (the client sent nothing before the timeout) leaves `url.original` absent.

use std::net::IpAddr;

use memchr::{memchr, memchr2};

use super::{ErrorKind, Outcome, ParseError, ParseOptions, RecordParser, MAX_RECORD_BYTES};
use crate::event::field::known;
use crate::event::{canonical_ip, time, Event, Span, Value};

/// Parses Apache/nginx combined and common access log lines.
pub struct ApacheParser {
    _private: (),
}

impl ApacheParser {
    /// Creates the parser (access logs carry a full timestamp, so no option applies).
    pub fn new(_opts: &ParseOptions) -> Self {
        ApacheParser { _private: () }
    }
}

impl RecordParser for ApacheParser {
    fn parse(&mut self, record: &[u8], out: &mut Vec<Event>) -> Result<Outcome, ParseError> {
        if record.len() > MAX_RECORD_BYTES {
            return Err(ParseError::new(ErrorKind::TooLong, format!("{} bytes", record.len())));
        }
        let record = record.trim_ascii();
        if record.is_empty() {
            return Ok(Outcome::Skipped);
        }
        // Apache writes ASCII, so the strict check (much faster than the lossy one) nearly
        // always passes; only invalid lines pay for a replaced copy.
        let ev = match std::str::from_utf8(record) {
            Ok(line) => parse_line(line)?,
            Err(_) => parse_line(&super::lossy(record))?,
        };
        out.push(ev);
        Ok(Outcome::Events(1))
    }
}

/// Cheap format sniffing: `host ident user [dd/Mon/yyyy:HH:MM:SS zone] "`.
///
/// Stricter than the parser (single-space separators, one-token user) so that syslog lines that
/// wrap an access log line, or JSON, are not claimed.
pub fn looks_like_access_log(line: &[u8]) -> bool {
    let mut pos = 0;
    for _ in 0..3 {
        let Some(len) = memchr(b' ', &line[pos..]) else {
            return false;
        };
        let token = &line[pos..pos + len];
        if token.is_empty() || token.len() > 255 || token.iter().any(|&b| matches!(b, b'"' | b'[' | b']' | b'{' | b'}')) {
            return false;
        }
        pos += len + 1;
    }
    if line.get(pos) != Some(&b'[') {
        return false;
    }
    let Some(len) = memchr(b']', &line[pos..]) else {
        return false;
    };
    let close = pos + len;
    time::parse_clf(&line[pos + 1..close]).is_some() && line[close + 1..].starts_with(b" \"")
}

fn malformed(detail: &'static str) -> ParseError {
    ParseError::new(ErrorKind::Malformed, detail)
}

fn skip_spaces(b: &[u8], mut at: usize) -> usize {
    while at < b.len() && b[at] == b' ' {
        at += 1;
    }
    at
}

/// Index of the quote closing a field whose text starts at `from`, honouring backslash escapes.
fn closing_quote(b: &[u8], mut from: usize) -> Option<usize> {
    loop {
        let at = from + memchr2(b'"', b'\\', b.get(from..)?)?;
        if b[at] == b'"' {
            return Some(at);
        }
        from = at + 2;
    }
}

/// Reads ` <status>` at `at`: the status and the index after it.
fn read_status(b: &[u8], at: usize) -> Option<(i64, usize)> {
    if b.get(at) != Some(&b' ') {
        return None;
    }
    let start = skip_spaces(b, at);
    let (value, end) = read_digits(b, start)?;
    Some((value, end))
}

/// Reads a run of 1 to 18 digits ending at a space or the end of the line.
fn read_digits(b: &[u8], start: usize) -> Option<(i64, usize)> {
    let mut end = start;
    let mut value = 0i64;
    while end < b.len() && b[end].is_ascii_digit() {
        if end - start >= 18 {
            return None;
        }
        value = value * 10 + (b[end] - b'0') as i64;
        end += 1;
    }
    (end > start && (end == b.len() || b[end] == b' ')).then_some((value, end))
}

fn parse_line(line: &str) -> Result<Event, ParseError> {
    let b = line.as_bytes();

    let host_end = memchr(b' ', b).ok_or_else(|| malformed("expected host ident user [time] \"request\" status"))?;
    let ident_start = skip_spaces(b, host_end);
    let ident_end = ident_start + memchr(b' ', &b[ident_start..]).ok_or_else(|| malformed("expected host ident user [time] \"request\" status"))?;
    let user_start = skip_spaces(b, ident_end);

    // The user runs to the ` [` opening the time; it may hold spaces (HTTP basic auth names can),
    // but not a quote, which would already be the request.
    let quote = memchr(b'"', &b[user_start..]).map_or(b.len(), |i| user_start + i);
    let mut search = user_start;
    let open = loop {
        match memchr(b'[', &b[search..quote]) {
            Some(i) if b[search + i - 1] == b' ' => break search + i,
            Some(i) => search += i + 1,
            None => {
                // `host ident user "GET ..."`: an access log line that lost its time.
                let between = line[user_start..quote].trim_end();
                return Err(if quote < b.len() && !between.contains(' ') {
                    ParseError::new(ErrorKind::BadTimestamp, "missing [time]")
                } else {
                    malformed("expected host ident user [time] \"request\" status")
                });
            }
        }
    };
    let user = line[user_start..open].trim_end();

    let close = open + memchr(b']', &b[open..]).ok_or_else(|| ParseError::new(ErrorKind::BadTimestamp, "unterminated [time]"))?;
    let stamp = &b[open + 1..close];
    let ts = time::parse_clf(stamp).ok_or_else(|| {
        let shown = &line[open + 1..close];
        let shown = shown.get(..40).unwrap_or(shown);
        ParseError::new(ErrorKind::BadTimestamp, format!("bad time [{shown}]"))
    })?;

    let req_quote = skip_spaces(b, close + 1);
    if b.get(req_quote) != Some(&b'"') {
        return Err(malformed("expected \"request\" after [time]"));
    }
    let req_start = req_quote + 1;
    let mut req_end = closing_quote(b, req_start).ok_or_else(|| malformed("unterminated \"request\""))?;
    let (status, mut pos) = loop {
        if let Some(found) = read_status(b, req_end + 1) {
            break found;
        }
        // Some servers log a quote inside the request raw; the request ends at the quote that
        // is followed by a status.
        req_end = closing_quote(b, req_end + 1).ok_or_else(|| malformed("expected status after \"request\""))?;
    };

    let mut bytes = None;
    let at = skip_spaces(b, pos);
    if b.get(at) == Some(&b'-') && matches!(b.get(at + 1), None | Some(b' ')) {
        pos = at + 1;
    } else if let Some((value, end)) = read_digits(b, at) {
        bytes = Some(value);
        pos = end;
    }

    let mut ev = Event::with_capacity(20, line.len() + 32);
    ev.ts = ts;

    let host = &line[..host_end];
    let mut source_ip = None;
    if host != "-" {
        let span = ev.alloc_str(host);
        ev.push(known::SOURCE_ADDRESS, Value::Str(span));
        match host.parse::<IpAddr>() {
            Ok(ip) => {
                let ip = canonical_ip(ip);
                source_ip = Some(ip);
                ev.push(known::SOURCE_IP, Value::Ip(ip));
            }
            Err(_) => ev.push(known::SOURCE_DOMAIN, Value::Str(span)),
        }
    }
    if !user.is_empty() && user != "-" {
        ev.push_str(known::USER_NAME, user);
    }

    let request = &line[req_start..req_end];
    if !request.is_empty() && request != "-" {
        let span = push_unescaped(&mut ev, request);
        push_request(&mut ev, span);
    }

    ev.push(known::HTTP_RESPONSE_STATUS_CODE, Value::Int(status));
    if let Some(bytes) = bytes {
        ev.push(known::HTTP_RESPONSE_BODY_BYTES, Value::Int(bytes));
    }

    // Referrer and user agent are optional (common log format) and a damaged one is dropped
    // rather than failing a record whose frame is intact.
    for id in [known::HTTP_REQUEST_REFERRER, known::USER_AGENT_ORIGINAL] {
        let at = skip_spaces(b, pos);
        if at == pos || b.get(at) != Some(&b'"') {
            break;
        }
        let Some(end) = closing_quote(b, at + 1) else {
            break;
        };
        let text = &line[at + 1..end];
        if !text.is_empty() && text != "-" {
            let span = push_unescaped(&mut ev, text);
            ev.push(id, Value::Str(span));
        }
        pos = end + 1;
    }

    ev.push(known::EVENT_KIND, Value::Sym("event"));
    let category = ev.alloc_list(&[Value::Sym("web")]);
    ev.push(known::EVENT_CATEGORY, category);
    let kind = ev.alloc_list(&[Value::Sym("access")]);
    ev.push(known::EVENT_TYPE, kind);
    // Filebeat's rule: anything below 400 is a success, redirects included.
    ev.push(known::EVENT_OUTCOME, Value::Sym(if status < 400 { "success" } else { "failure" }));
    ev.push(known::EVENT_DATASET, Value::Sym("apache.access"));
    ev.push(known::EVENT_MODULE, Value::Sym("apache"));
    if let Some(ip) = source_ip {
        let related = ev.alloc_list(&[Value::Ip(ip)]);
        ev.push(known::RELATED_IP, related);
    }
    Ok(ev)
}

/// Copies a quoted field's text into the arena, decoding the escapes that stand for `"` and `\`.
fn push_unescaped(ev: &mut Event, s: &str) -> Span {
    let b = s.as_bytes();
    if memchr(b'\\', b).is_none() {
        return ev.alloc_str(s);
    }
    // Pieces appended one after another are contiguous in the arena, so they form one span.
    let start = ev.alloc_str("").start;
    let mut len = 0;
    let mut from = 0;
    let mut i = 0;
    while let Some(off) = memchr(b'\\', &b[i..]) {
        let at = i + off;
        let (decoded, next) = match b.get(at + 1) {
            Some(b'"') => ("\"", at + 2),
            Some(b'\\') => ("\\", at + 2),
            Some(b'x') if b.get(at + 2) == Some(&b'2') && b.get(at + 3) == Some(&b'2') => ("\"", at + 4),
            Some(b'x') if b.get(at + 2) == Some(&b'5') && matches!(b.get(at + 3), Some(b'c' | b'C')) => ("\\", at + 4),
            Some(_) => {
                i = at + 2;
                continue;
            }
            None => break,
        };
        len += ev.alloc_str(&s[from..at]).len;
        len += ev.alloc_str(decoded).len;
        from = next;
        i = next;
    }
    len += ev.alloc_str(&s[from..]).len;
    Span { start, len }
}

/// Splits a request line already in the arena into method, url and version fields.
fn push_request(ev: &mut Event, req: Span) {
    let text = ev.span_str(req);
    let sub = |from: usize, to: usize| Span { start: req.start + from as u32, len: (to - from) as u32 };
    let parts = split_request(text);
    let Some((method_end, target, version)) = parts else {
        ev.push(known::URL_ORIGINAL, Value::Str(req));
        return;
    };
    let method = match &text[..method_end] {
        "GET" => Value::Sym("GET"),
        "POST" => Value::Sym("POST"),
        "HEAD" => Value::Sym("HEAD"),
        "PUT" => Value::Sym("PUT"),
        "DELETE" => Value::Sym("DELETE"),
        "OPTIONS" => Value::Sym("OPTIONS"),
        "PATCH" => Value::Sym("PATCH"),
        "CONNECT" => Value::Sym("CONNECT"),
        _ => Value::Str(sub(0, method_end)),
    };
    let version = version.map(|(from, to)| match &text[from..to] {
        "1.1" => Value::Sym("1.1"),
        "1.0" => Value::Sym("1.0"),
        "2.0" => Value::Sym("2.0"),
        _ => Value::Str(sub(from, to)),
    });
    let (t_from, t_to) = target;
    let (path, query) = url_parts(&text[t_from..t_to]);
    ev.push(known::HTTP_REQUEST_METHOD, method);
    ev.push(known::URL_ORIGINAL, Value::Str(sub(t_from, t_to)));
    if let Some((from, to)) = path {
        ev.push(known::URL_PATH, Value::Str(sub(t_from + from, t_from + to)));
    }
    if let Some((from, to)) = query {
        ev.push(known::URL_QUERY, Value::Str(sub(t_from + from, t_from + to)));
    }
    if let Some(version) = version {
        ev.push(known::HTTP_VERSION, version);
    }
}

type Range = (usize, usize);

/// `METHOD target [HTTP/version]` as (end of method, target range, version range); `None` when
/// the text does not have that shape. The target may hold spaces, as Filebeat's `DATA` allows.
fn split_request(text: &str) -> Option<(usize, Range, Option<Range>)> {
    let b = text.as_bytes();
    let method_end = memchr(b' ', b)?;
    let method = &b[..method_end];
    let valid_method = method.len() <= 32
        && method.first().is_some_and(u8::is_ascii_alphabetic)
        && method.iter().all(|&c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_');
    if !valid_method {
        return None;
    }
    let t_from = skip_spaces(b, method_end);
    let mut t_to = b.len();
    let mut version = None;
    if let Some(sp) = memchr::memrchr(b' ', &b[t_from..]) {
        let v_from = t_from + sp + 1;
        if b[v_from..].starts_with(b"HTTP/") {
            version = Some((v_from + 5, b.len()));
            t_to = t_from + sp;
            while t_to > t_from && b[t_to - 1] == b' ' {
                t_to -= 1;
            }
        }
    }
    if t_to == t_from {
        return None;
    }
    Some((method_end, (t_from, t_to), version))
}

/// Path and query ranges of a request target (origin form `/p?q` or absolute `http://h/p?q`);
/// the query is without its `?` and absent when empty, a fragment is dropped from both.
fn url_parts(target: &str) -> (Option<Range>, Option<Range>) {
    let b = target.as_bytes();
    let path_from = if b.first() == Some(&b'/') {
        0
    } else if let Some(scheme_end) = target.find("://").filter(|&i| i > 0 && b[..i].iter().all(u8::is_ascii_alphabetic)) {
        let authority = scheme_end + 3;
        match memchr2(b'/', b'?', &b[authority..]) {
            Some(i) => authority + i,
            None => return (None, None),
        }
    } else {
        return (None, None);
    };
    let end = memchr(b'#', &b[path_from..]).map_or(b.len(), |i| path_from + i);
    match memchr(b'?', &b[path_from..end]) {
        Some(i) => {
            let q = path_from + i;
            let path = (q > path_from).then_some((path_from, q));
            let query = (end > q + 1).then_some((q + 1, end));
            (path, query)
        }
        None => ((end > path_from).then_some((path_from, end)), None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::ValueRef;
    use proptest::prelude::*;

    fn parse(line: &str) -> Result<Event, ParseError> {
        parse_bytes(line.as_bytes())
    }

    fn parse_bytes(line: &[u8]) -> Result<Event, ParseError> {
        let mut out = Vec::new();
        let outcome = ApacheParser::new(&ParseOptions::default()).parse(line, &mut out)?;
        assert_eq!(outcome, Outcome::Events(1));
        assert_eq!(out.len(), 1);
        Ok(out.pop().unwrap())
    }

    fn ip(s: &str) -> ValueRef<'static> {
        ValueRef::Ip(s.parse().unwrap())
    }

    fn list_syms(ev: &Event, id: crate::event::FieldId) -> Vec<String> {
        match ev.get(id) {
            Some(ValueRef::List(items)) => items
                .iter()
                .map(|v| match ev.resolve(v) {
                    ValueRef::Str(s) => s.to_string(),
                    other => format!("{other:?}"),
                })
                .collect(),
            other => panic!("not a list: {other:?}"),
        }
    }

    fn ms(iso: &str) -> i64 {
        time::parse_iso8601(iso.as_bytes()).unwrap()
    }

    // Lines from elastic/examples "Common Data Formats/apache_logs" (elastic/examples apache_logs, Apache-2.0).
    const ELASTIC_1: &str = r#"83.149.9.216 - - [17/May/2015:10:05:03 +0000] "GET /presentations/logstash-monitorama-2013/images/kibana-search.png HTTP/1.1" 200 203023 "http://semicomplete.com/presentations/logstash-monitorama-2013/" "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_9_1) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/32.0.1700.77 Safari/537.36""#;
    const ELASTIC_2: &str = r#"144.76.194.187 - - [17/May/2015:13:05:28 +0000] "GET /wp-login.php HTTP/1.0" 404 292 "-" "-""#;
    const ELASTIC_3: &str = r#"83.149.9.216 - - [17/May/2015:10:05:56 +0000] "GET /favicon.ico HTTP/1.1" 200 3638 "-" "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_9_1) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/32.0.1700.77 Safari/537.36""#;

    #[test]
    fn combined_line_maps_like_filebeat() {
        let ev = parse(ELASTIC_1).unwrap();
        assert_eq!(ev.ts, ms("2015-05-17T10:05:03Z"));
        assert_eq!(ev.get(known::SOURCE_IP), Some(ip("83.149.9.216")));
        assert_eq!(ev.get_str(known::SOURCE_ADDRESS), Some("83.149.9.216"));
        assert_eq!(ev.get(known::SOURCE_DOMAIN), None);
        assert_eq!(ev.get(known::USER_NAME), None);
        assert_eq!(ev.get_str(known::HTTP_REQUEST_METHOD), Some("GET"));
        assert_eq!(ev.get_str(known::URL_ORIGINAL), Some("/presentations/logstash-monitorama-2013/images/kibana-search.png"));
        assert_eq!(ev.get_str(known::URL_PATH), Some("/presentations/logstash-monitorama-2013/images/kibana-search.png"));
        assert_eq!(ev.get(known::URL_QUERY), None);
        assert_eq!(ev.get_str(known::HTTP_VERSION), Some("1.1"));
        assert_eq!(ev.get(known::HTTP_RESPONSE_STATUS_CODE), Some(ValueRef::Int(200)));
        assert_eq!(ev.get(known::HTTP_RESPONSE_BODY_BYTES), Some(ValueRef::Int(203023)));
        assert_eq!(ev.get_str(known::HTTP_REQUEST_REFERRER), Some("http://semicomplete.com/presentations/logstash-monitorama-2013/"));
        assert!(ev.get_str(known::USER_AGENT_ORIGINAL).unwrap().starts_with("Mozilla/5.0 (Macintosh"));
        assert_eq!(ev.get_str(known::EVENT_KIND), Some("event"));
        assert_eq!(list_syms(&ev, known::EVENT_CATEGORY), ["web"]);
        assert_eq!(list_syms(&ev, known::EVENT_TYPE), ["access"]);
        assert_eq!(ev.get_str(known::EVENT_OUTCOME), Some("success"));
        assert_eq!(ev.get_str(known::EVENT_DATASET), Some("apache.access"));
        assert_eq!(ev.get_str(known::EVENT_MODULE), Some("apache"));
        match ev.get(known::RELATED_IP) {
            Some(ValueRef::List([Value::Ip(a)])) => assert_eq!(a.to_string(), "83.149.9.216"),
            other => panic!("{other:?}"),
        }
        let json: serde_json::Value = serde_json::from_str(&crate::event::ecs::to_json_string(&ev)).unwrap();
        assert_eq!(json["url"]["path"], "/presentations/logstash-monitorama-2013/images/kibana-search.png");
        assert_eq!(json["http"]["response"]["status_code"], 200);
    }

    #[test]
    fn dash_fields_are_omitted_and_4xx_is_failure() {
        let ev = parse(ELASTIC_2).unwrap();
        assert_eq!(ev.get(known::HTTP_REQUEST_REFERRER), None);
        assert_eq!(ev.get(known::USER_AGENT_ORIGINAL), None);
        assert_eq!(ev.get_str(known::HTTP_VERSION), Some("1.0"));
        assert_eq!(ev.get(known::HTTP_RESPONSE_STATUS_CODE), Some(ValueRef::Int(404)));
        assert_eq!(ev.get_str(known::EVENT_OUTCOME), Some("failure"));
        let ev = parse(ELASTIC_3).unwrap();
        assert_eq!(ev.get(known::HTTP_REQUEST_REFERRER), None);
        assert!(ev.get(known::USER_AGENT_ORIGINAL).is_some());
    }

    #[test]
    fn common_log_format_with_user_and_query() {
        let ev = parse(r#"127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET /apache_pb.gif?a=1&b=two%20words HTTP/1.0" 200 2326"#).unwrap();
        assert_eq!(ev.ts, ms("2000-10-10T13:55:36-07:00"));
        assert_eq!(ev.get_str(known::USER_NAME), Some("frank"));
        assert_eq!(ev.get_str(known::URL_ORIGINAL), Some("/apache_pb.gif?a=1&b=two%20words"));
        assert_eq!(ev.get_str(known::URL_PATH), Some("/apache_pb.gif"));
        assert_eq!(ev.get_str(known::URL_QUERY), Some("a=1&b=two%20words"));
        assert_eq!(ev.get(known::HTTP_RESPONSE_BODY_BYTES), Some(ValueRef::Int(2326)));
        assert_eq!(ev.get(known::HTTP_REQUEST_REFERRER), None);
        assert_eq!(ev.get(known::USER_AGENT_ORIGINAL), None);
    }

    #[test]
    fn empty_query_and_fragment_and_absolute_target() {
        let ev = parse(r#"1.2.3.4 - - [10/Oct/2000:13:55:36 +0000] "GET /a? HTTP/1.1" 200 1"#).unwrap();
        assert_eq!(ev.get_str(known::URL_PATH), Some("/a"));
        assert_eq!(ev.get(known::URL_QUERY), None);
        let ev = parse(r#"1.2.3.4 - - [10/Oct/2000:13:55:36 +0000] "GET /a?x=1#frag HTTP/1.1" 200 1"#).unwrap();
        assert_eq!(ev.get_str(known::URL_QUERY), Some("x=1"));
        let ev = parse(r#"1.2.3.4 - - [10/Oct/2000:13:55:36 +0000] "GET http://example.com/proxy?x=1 HTTP/1.1" 200 1"#).unwrap();
        assert_eq!(ev.get_str(known::URL_ORIGINAL), Some("http://example.com/proxy?x=1"));
        assert_eq!(ev.get_str(known::URL_PATH), Some("/proxy"));
        assert_eq!(ev.get_str(known::URL_QUERY), Some("x=1"));
        let ev = parse(r#"1.2.3.4 - - [10/Oct/2000:13:55:36 +0000] "CONNECT example.com:443 HTTP/1.1" 200 1"#).unwrap();
        assert_eq!(ev.get_str(known::HTTP_REQUEST_METHOD), Some("CONNECT"));
        assert_eq!(ev.get_str(known::URL_ORIGINAL), Some("example.com:443"));
        assert_eq!(ev.get(known::URL_PATH), None);
    }

    #[test]
    fn ipv6_and_mapped_and_hostname_clients() {
        let ev = parse(r#"2001:db8::1 - - [10/Oct/2000:13:55:36 +0000] "GET / HTTP/2.0" 200 10 "-" "curl/8.0""#).unwrap();
        assert_eq!(ev.get(known::SOURCE_IP), Some(ip("2001:db8::1")));
        assert_eq!(ev.get_str(known::HTTP_VERSION), Some("2.0"));
        let ev = parse(r#"::ffff:10.0.0.7 - - [10/Oct/2000:13:55:36 +0000] "GET / HTTP/1.1" 200 10"#).unwrap();
        assert_eq!(ev.get(known::SOURCE_IP), Some(ip("10.0.0.7")));
        let ev = parse(r#"crawl-66-249-73-135.googlebot.com - - [10/Oct/2000:13:55:36 +0000] "GET / HTTP/1.1" 200 10"#).unwrap();
        assert_eq!(ev.get(known::SOURCE_IP), None);
        assert_eq!(ev.get_str(known::SOURCE_DOMAIN), Some("crawl-66-249-73-135.googlebot.com"));
        assert_eq!(ev.get_str(known::SOURCE_ADDRESS), Some("crawl-66-249-73-135.googlebot.com"));
        assert_eq!(ev.get(known::RELATED_IP), None);
    }

    #[test]
    fn escaped_quotes_in_request_and_agent() {
        let line = r#"10.0.0.1 - - [10/Oct/2000:13:55:36 +0000] "GET /search?q=\"x\"\\y HTTP/1.1" 200 5 "-" "Mozilla/5.0 \"quoted\" agent" "203.0.113.9""#;
        let ev = parse(line).unwrap();
        assert_eq!(ev.get_str(known::URL_ORIGINAL), Some(r#"/search?q="x"\y"#));
        assert_eq!(ev.get_str(known::URL_QUERY), Some(r#"q="x"\y"#));
        assert_eq!(ev.get_str(known::USER_AGENT_ORIGINAL), Some(r#"Mozilla/5.0 "quoted" agent"#));
        // nginx writes a quote as \x22; other \x escapes stay verbatim.
        let ev = parse(r#"10.0.0.1 - - [10/Oct/2000:13:55:36 +0000] "GET /a\x22b\x01 HTTP/1.1" 200 5"#).unwrap();
        assert_eq!(ev.get_str(known::URL_ORIGINAL), Some(r#"/a"b\x01"#));
    }

    #[test]
    fn raw_quote_inside_request_is_tolerated() {
        let ev = parse(r#"10.0.0.1 - - [10/Oct/2000:13:55:36 +0000] "GET /a"b HTTP/1.1" 404 5 "-" "ua""#).unwrap();
        assert_eq!(ev.get_str(known::URL_ORIGINAL), Some(r#"/a"b"#));
        assert_eq!(ev.get(known::HTTP_RESPONSE_STATUS_CODE), Some(ValueRef::Int(404)));
        assert_eq!(ev.get_str(known::USER_AGENT_ORIGINAL), Some("ua"));
    }

    #[test]
    fn dash_request_keeps_the_frame() {
        let ev = parse(r#"192.168.0.9 - - [10/Oct/2000:13:55:36 +0000] "-" 408 - "-" "-""#).unwrap();
        assert_eq!(ev.get(known::URL_ORIGINAL), None);
        assert_eq!(ev.get(known::HTTP_REQUEST_METHOD), None);
        assert_eq!(ev.get(known::HTTP_RESPONSE_STATUS_CODE), Some(ValueRef::Int(408)));
        assert_eq!(ev.get(known::HTTP_RESPONSE_BODY_BYTES), None);
        assert_eq!(ev.get_str(known::EVENT_OUTCOME), Some("failure"));
        let ev = parse(r#"192.168.0.9 - - [10/Oct/2000:13:55:36 +0000] "" 400 0"#).unwrap();
        assert_eq!(ev.get(known::URL_ORIGINAL), None);
        assert_eq!(ev.get(known::HTTP_RESPONSE_BODY_BYTES), Some(ValueRef::Int(0)));
    }

    #[test]
    fn binary_request_goes_to_url_original() {
        let line = r#"45.1.2.3 - - [10/Oct/2000:13:55:36 +0000] "\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03" 400 226 "-" "-""#;
        let ev = parse(line).unwrap();
        assert_eq!(ev.get_str(known::URL_ORIGINAL), Some(r"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03"));
        assert_eq!(ev.get(known::HTTP_REQUEST_METHOD), None);
        assert_eq!(ev.get(known::URL_PATH), None);
        assert_eq!(ev.get(known::HTTP_RESPONSE_STATUS_CODE), Some(ValueRef::Int(400)));
        // Raw non-UTF-8 bytes in the request become replacement characters, not an error.
        let mut raw = b"45.1.2.3 - - [10/Oct/2000:13:55:36 +0000] \"\x16\x03\x01\xff\xfe\" 400 0".to_vec();
        let ev = parse_bytes(&raw).unwrap();
        assert_eq!(ev.get_str(known::URL_ORIGINAL), Some("\u{16}\u{3}\u{1}\u{fffd}\u{fffd}"));
        raw.extend_from_slice(b"\r");
        assert!(parse_bytes(&raw).is_ok());
        let ev = parse(r#"45.1.2.3 - - [10/Oct/2000:13:55:36 +0000] "GET" 400 0"#).unwrap();
        assert_eq!(ev.get_str(known::URL_ORIGINAL), Some("GET"));
    }

    #[test]
    fn trailing_extras_are_ignored() {
        let ev = parse(r#"10.0.0.1 - bob [10/Oct/2000:13:55:36 +0000] "POST /login HTTP/1.1" 302 0 "https://x/" "ua" "198.51.100.7, 10.0.0.2" 0.012"#).unwrap();
        assert_eq!(ev.get_str(known::HTTP_REQUEST_METHOD), Some("POST"));
        assert_eq!(ev.get_str(known::HTTP_REQUEST_REFERRER), Some("https://x/"));
        assert_eq!(ev.get_str(known::USER_AGENT_ORIGINAL), Some("ua"));
        let ev = parse(r#"10.0.0.1 - - [10/Oct/2000:13:55:36 +0000] "GET / HTTP/1.1" 200 512 0.003"#).unwrap();
        assert_eq!(ev.get(known::HTTP_RESPONSE_BODY_BYTES), Some(ValueRef::Int(512)));
        assert_eq!(ev.get(known::HTTP_REQUEST_REFERRER), None);
    }

    #[test]
    fn user_with_space_and_request_with_space() {
        let ev = parse(r#"10.0.0.1 - john smith [10/Oct/2000:13:55:36 +0000] "GET /a b HTTP/1.1" 200 1"#).unwrap();
        assert_eq!(ev.get_str(known::USER_NAME), Some("john smith"));
        assert_eq!(ev.get_str(known::URL_ORIGINAL), Some("/a b"));
        assert_eq!(ev.get_str(known::HTTP_VERSION), Some("1.1"));
    }

    #[test]
    fn errors_have_the_right_kind() {
        let kind = |line: &str| parse(line).unwrap_err().kind;
        assert_eq!(kind(r#"10.0.0.1 - - [99/Foo/2000:13:55:36 +0000] "GET / HTTP/1.1" 200 1"#), ErrorKind::BadTimestamp);
        assert_eq!(kind(r#"10.0.0.1 - - [10/Oct/2000:13:55:36 +0000 "GET / HTTP/1.1" 200 1"#), ErrorKind::BadTimestamp);
        assert_eq!(kind(r#"10.0.0.1 - - "GET / HTTP/1.1" 200 1"#), ErrorKind::BadTimestamp);
        assert_eq!(kind(r#"10.0.0.1 - - [10/Oct/2000:13:55:36 +0000] "GET / HTTP/1.1" OK 1"#), ErrorKind::Malformed);
        assert_eq!(kind(r#"10.0.0.1 - - [10/Oct/2000:13:55:36 +0000] GET / HTTP/1.1 200 1"#), ErrorKind::Malformed);
        assert_eq!(kind("Jan 15 10:00:00 web-01 sshd[2345]: Invalid user \"admin\" from 1.2.3.4"), ErrorKind::Malformed);
        assert_eq!(kind("hello"), ErrorKind::Malformed);
        assert_eq!(kind(r#"{"a":1}"#), ErrorKind::Malformed);
        let mut p = ApacheParser::new(&ParseOptions::default());
        let mut out = Vec::new();
        assert_eq!(p.parse(b"", &mut out), Ok(Outcome::Skipped));
        assert_eq!(p.parse(b"  \r", &mut out), Ok(Outcome::Skipped));
        let long = vec![b'a'; MAX_RECORD_BYTES + 1];
        assert_eq!(p.parse(&long, &mut out).unwrap_err().kind, ErrorKind::TooLong);
        assert!(out.is_empty());
    }

    #[test]
    fn sniffing() {
        assert!(looks_like_access_log(ELASTIC_1.as_bytes()));
        assert!(looks_like_access_log(br#"::1 - alice [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.1" 200 1"#));
        assert!(!looks_like_access_log(b"Jan 15 10:00:00 web-01 sshd[2345]: Accepted publickey for alice from 10.1.2.3 port 51234 ssh2"));
        assert!(!looks_like_access_log(b"<34>Oct 11 22:14:15 mymachine su: 'su root' failed for lonvick on /dev/pts/8"));
        assert!(!looks_like_access_log(br#"May 17 10:05:03 web apache: 1.2.3.4 - - [17/May/2015:10:05:03 +0000] "GET / HTTP/1.1" 200 1"#));
        assert!(!looks_like_access_log(br#"{"ts":1,"msg":"1.2.3.4 - - [17/May/2015:10:05:03 +0000] \"GET"}"#));
        assert!(!looks_like_access_log(b""));
        assert!(!looks_like_access_log(b"a b c ["));
    }

    #[test]
    fn every_prefix_is_handled() {
        for line in [ELASTIC_1, ELASTIC_2, r#"2001:db8::1 - u\"x [10/Oct/2000:13:55:36 +0000] "GET /a\"b?c HTTP/1.1" 200 - "-" "a\\\"b""#] {
            for end in 0..=line.len() {
                let prefix = &line.as_bytes()[..end];
                let mut out = Vec::new();
                let _ = ApacheParser::new(&ParseOptions::default()).parse(prefix, &mut out);
                let _ = looks_like_access_log(prefix);
            }
        }
        // A prefix that keeps the frame is still an event.
        let frame_end = ELASTIC_1.find(" 203023").unwrap();
        assert!(parse(&ELASTIC_1[..frame_end]).is_ok());
    }

    /// Parses the whole Elastic sample (`cargo test --lib parse::apache -- --ignored`).
    #[test]
    #[ignore = "reads /work/shared/data"]
    fn elastic_sample_parses_completely() {
        let path = std::env::var("VIGIL_APACHE_SAMPLE").unwrap_or_else(|_| "/work/shared/data/elastic-apache-access/apache_access.log".into());
        let data = std::fs::read(&path).unwrap();
        let mut parser = ApacheParser::new(&ParseOptions::default());
        let mut out = Vec::new();
        let (mut lines, mut failures) = (0, 0);
        for line in data.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
            lines += 1;
            if let Err(e) = parser.parse(line, &mut out) {
                failures += 1;
                eprintln!("{e}: {}", String::from_utf8_lossy(line));
            }
            assert!(looks_like_access_log(line), "{}", String::from_utf8_lossy(line));
        }
        eprintln!("{lines} lines, {failures} failures, {} events", out.len());
        assert_eq!((lines, failures), (10_000, 0));
        // Best of several rounds, events dropped as they go (as a pipeline consumes them), so
        // the figure is the parser's cost and not the machine's noise.
        let records: Vec<&[u8]> = data.split(|&b| b == b'\n').filter(|l| !l.is_empty()).collect();
        let mut best = f64::MAX;
        for _ in 0..20 {
            let start = std::time::Instant::now();
            for line in &records {
                out.clear();
                let _ = parser.parse(line, &mut out);
            }
            best = best.min(start.elapsed().as_nanos() as f64 / records.len() as f64);
        }
        eprintln!("{best:.0} ns/line (best of 20 rounds)");
    }

    proptest! {
        #[test]
        fn never_panics_on_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let mut out = Vec::new();
            let _ = ApacheParser::new(&ParseOptions::default()).parse(&bytes, &mut out);
            let _ = looks_like_access_log(&bytes);
        }

        #[test]
        fn never_panics_on_near_lines(
            host in "[0-9a-f:.]{0,20}",
            user in "[-a-z \\\\\"]{0,8}",
            req in "[ -~]{0,40}",
            tail in "[ -~]{0,40}",
        ) {
            let line = format!("{host} - {user} [10/Oct/2000:13:55:36 +0000] \"{req}\" 200 {tail}");
            let mut out = Vec::new();
            let _ = ApacheParser::new(&ParseOptions::default()).parse(line.as_bytes(), &mut out);
            let _ = looks_like_access_log(line.as_bytes());
        }
    }
}
