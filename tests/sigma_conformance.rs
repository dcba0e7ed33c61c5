//! Sigma conformance: cases written from the Sigma specification v2.1 (rules, modifiers appendix,
//! correlation rules) and from behaviours the public test suites of pySigma, rsigma and Hayabusa
//! pin down. No test text is taken from them: each case is our own, and its comment names the
//! behaviour and where it is pinned down. Where vigil's documented decision differs from a
//! reference tool, the case tests vigil's decision and the comment says who differs and why.
//!
//! Detection cases compile a one-rule set and feed it events parsed by vigil's JSON parser (so
//! types are what a real input gives: integers, strings, `null`, lists, IP addresses under `*.ip`
//! keys). Correlation cases run the real `replay` dataflow over JSON lines and compare a short
//! summary of each incident: `title group measure start..end`, times in ms after `T0`.
//!
//! `tests/sigma_detection.rs` and `tests/sigma_correlation.rs` hold the basic cases and the
//! parse-time validation; this file adds the edge cases and the run-time correlation semantics.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use base64::Engine as _;
use serde_json::Value as Json;
use vigil::event::Event;
use vigil::io::input::{InputSource, InputSpec};
use vigil::io::sink::OutputTarget;
use vigil::metrics::RunStats;
use vigil::parse::{new_parser, Format, ParseOptions};
use vigil::pipeline::source::SourceConfig;
use vigil::pipeline::{self, EngineConfig, EngineStats, Plan, StateLimits};
use vigil::rules::{CompileOptions, RuleSet};

/// Event time of every detection event, and time zero of the correlation cases.
const T0: i64 = 1_700_000_000_000;

// ====================================================================== detection harness

/// A one-rule set from the lines of a `detection:` block.
fn compile(detection: &str) -> Result<RuleSet, Vec<String>> {
    let body: String = detection.lines().map(|l| format!("    {l}\n")).collect();
    let text = format!("title: conformance\nlogsource:\n    product: test\ndetection:\n{body}");
    RuleSet::from_str(Path::new("d.yml"), &text, &CompileOptions::default()).map_err(|e| e.iter().map(|e| e.to_string()).collect())
}

#[track_caller]
fn rule(detection: &str) -> RuleSet {
    compile(detection).unwrap_or_else(|e| panic!("{detection}\n{e:#?}"))
}

/// The compile errors of a detection that must not load.
#[track_caller]
fn compile_error(detection: &str) -> String {
    match compile(detection) {
        Ok(_) => panic!("should not compile:\n{detection}"),
        Err(e) => e.join("\n"),
    }
}

/// An event from the body of a JSON object (`"a":1,"b":"x"`), through vigil's JSON parser.
fn event(fields: &str) -> Event {
    let record = if fields.is_empty() { format!("{{\"@timestamp\":{T0}}}") } else { format!("{{\"@timestamp\":{T0},{fields}}}") };
    let mut parser = new_parser(Format::Json, &ParseOptions { now_ms: T0, ..ParseOptions::default() });
    let mut out = Vec::new();
    parser.parse(record.as_bytes(), &mut out).unwrap_or_else(|e| panic!("bad test event {record}: {e}"));
    assert_eq!(out.len(), 1, "{record}");
    out.pop().unwrap()
}

fn matches(rules: &RuleSet, fields: &str) -> bool {
    let mut hits = Vec::new();
    rules.matching(&event(fields), &mut hits);
    !hits.is_empty()
}

/// Asserts that the detection matches every event of `yes` and none of `no`.
#[track_caller]
fn check(detection: &str, yes: &[&str], no: &[&str]) {
    let r = rule(detection);
    for e in yes {
        assert!(matches(&r, e), "{detection}\nshould match {{{e}}}");
    }
    for e in no {
        assert!(!matches(&r, e), "{detection}\nshould not match {{{e}}}");
    }
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn utf16le(s: &str) -> Vec<u8> {
    s.encode_utf16().flat_map(u16::to_le_bytes).collect()
}

// ====================================================================== case

// Spec (rules, "General"): all values are case-insensitive strings, in both directions; Hayabusa
// test_detect_*_case_insensitive pins the same for plain, startswith and endswith values.
#[test]
fn plain_values_ignore_case_both_ways() {
    check(
        "sel:\n  CommandLine: 'WHOAMI /ALL'\ncondition: sel",
        &[r#""CommandLine":"whoami /all""#, r#""CommandLine":"WhoAmI /All""#],
        &[r#""CommandLine":"whoami /all ""#],
    );
    check("sel:\n  CommandLine: 'whoami /all'\ncondition: sel", &[r#""CommandLine":"WHOAMI /ALL""#], &[r#""CommandLine":"whoami""#]);
}

// Hayabusa test_wildcard_case_insensitive: a value with an inner wildcard ignores case too.
#[test]
fn inner_wildcards_ignore_case() {
    check(
        r"sel:
  Image: 'C:\\*\system32\cmd.exe'
condition: sel",
        &[r#""Image":"c:\\WINDOWS\\System32\\CMD.EXE""#],
        &[r#""Image":"D:\\Windows\\System32\\cmd.exe""#],
    );
}

// Spec (modifiers, cased): case-sensitive; Hayabusa test_reordered_cased_contains_is_case_sensitive:
// `cased` may come before or after `contains`.
#[test]
fn cased_in_either_order() {
    for key in ["F|cased|contains", "F|contains|cased"] {
        check(&format!("sel:\n  {key}: 'EvilCorp'\ncondition: sel"), &[r#""F":"x EvilCorp y""#], &[r#""F":"x evilcorp y""#, r#""F":"x EVILCORP y""#]);
    }
    check("sel:\n  F|startswith|cased: 'Adm'\ncondition: sel", &[r#""F":"Admin""#], &[r#""F":"admin""#]);
}

// Spec (rules "General" and modifiers appendix): regular expressions are case-sensitive unless
// `|i`; Hayabusa test_re_caseinsensitive_detect.
#[test]
fn regex_is_case_sensitive_unless_i() {
    check("sel:\n  Computer|re: 'ABC'\ncondition: sel", &[r#""Computer":"xABCx""#], &[r#""Computer":"abc""#]);
    check("sel:\n  Computer|re|i: 'ABC'\ncondition: sel", &[r#""Computer":"abc""#, r#""Computer":"xAbCx""#], &[r#""Computer":"ab""#]);
}

// Hayabusa test_detect_regex_partial_match: `re` searches (is not anchored) unless the pattern
// anchors itself.
#[test]
fn regex_searches_unless_anchored() {
    check("sel:\n  F|re: 'mimi'\ncondition: sel", &[r#""F":"xxmimikatzxx""#], &[r#""F":"mim""#]);
    check("sel:\n  F|re: '^mimi$'\ncondition: sel", &[r#""F":"mimi""#], &[r#""F":"xmimi""#, r#""F":"mimix""#]);
}

// pySigma test_re / test_do_not_escape_regular_expressions: a `re` value is a regular expression,
// not a Sigma string: `*` is a quantifier and `\\` a regex escape, not Sigma wildcards/escapes.
#[test]
fn regex_values_are_not_sigma_strings() {
    check("sel:\n  F|re: '^ab*c$'\ncondition: sel", &[r#""F":"ac""#, r#""F":"abbbc""#], &[r#""F":"aXc""#]);
    check(
        r"sel:
  F|re: '^C:\\Temp\\.+\.exe$'
condition: sel",
        &[r#""F":"C:\\Temp\\x.exe""#],
        &[r#""F":"C:/Temp/x.exe""#, r#""F":"C:\\Temp\\xexe""#],
    );
}

// Hayabusa test_re_multiline_detect, test_re_singleline_detect; modifiers appendix `m` and `s`.
#[test]
fn regex_flags_m_and_s() {
    check("sel:\n  Computer|re|m: '^DEF$'\ncondition: sel", &[r#""Computer":"ABC\nDEF""#], &[r#""Computer":"ABC DEF""#]);
    check("sel:\n  Computer|re: 'A.*F'\ncondition: sel", &[r#""Computer":"ABCDEF""#], &[r#""Computer":"ABC\nDEF""#]);
    check("sel:\n  Computer|re|s: 'A.*F'\ncondition: sel", &[r#""Computer":"ABC\nDEF""#], &[r#""Computer":"ABC""#]);
}

// Modifiers appendix: the flags combine, in any order after `re`.
#[test]
fn regex_flags_combine_in_any_order() {
    for key in ["F|re|i|m|s", "F|re|s|m|i", "F|re|m|i|s"] {
        check(&format!("sel:\n  {key}: '^b.C$'\ncondition: sel"), &[r#""F":"a\nB\nc\nd""#], &[r#""F":"abxc""#]);
    }
    assert!(compile_error("sel:\n  F|i: 'x'\ncondition: sel").contains("is a flag of \"re\""));
}

// Hayabusa test_detect_regex_eventid: `re` applies to the text of a number.
#[test]
fn regex_on_numbers() {
    check("sel:\n  EventID|re: '^46[0-9]{2}$'\ncondition: sel", &[r#""EventID":4624"#, r#""EventID":"4688""#], &[r#""EventID":14624"#, r#""EventID":4700"#]);
}

// ====================================================================== wildcards and escapes

// Spec (String Wildcard): `?` is exactly one character, `*` any run including none; Hayabusa
// test_wildcard_question_fullmatch / _no_substring_match: the whole value must match.
#[test]
fn wildcards_match_the_whole_value() {
    check("sel:\n  F: 'a?c'\ncondition: sel", &[r#""F":"abc""#, r#""F":"A-C""#], &[r#""F":"ac""#, r#""F":"abbc""#, r#""F":"xabc""#, r#""F":"abcx""#]);
    check("sel:\n  F: 'a*c'\ncondition: sel", &[r#""F":"ac""#, r#""F":"abbbc""#], &[r#""F":"xabc""#, r#""F":"acx""#]);
    // Under a position modifier the rest of the value is still a pattern.
    check("sel:\n  F|startswith: 'a?c'\ncondition: sel", &[r#""F":"abcdef""#], &[r#""F":"acdef""#, r#""F":"xabc""#]);
}

// Hayabusa test_detect_wildcard_multibyte: `?` is one character, not one byte.
#[test]
fn question_mark_is_one_character() {
    check("sel:\n  F: '?ber'\ncondition: sel", &[r#""F":"über""#, r#""F":"Über""#], &[r#""F":"ber""#, r#""F":"üüber""#]);
    check("sel:\n  F: '東京?'\ncondition: sel", &[r#""F":"東京都""#], &[r#""F":"東京""#]);
}

// Hayabusa pipe_pattern_wildcard: `*` spans newlines and other control characters.
#[test]
fn star_spans_newlines() {
    check("sel:\n  F: 'begin*end'\ncondition: sel", &[r#""F":"begin\nmiddle\r\n\tend""#], &[r#""F":"begin\nmiddle""#]);
}

// Spec (Escape Character): `\*` and `\?` are plain characters.
#[test]
fn escaped_wildcards_are_plain() {
    check(
        r"sel:
  F|contains: 'a\*b'
condition: sel",
        &[r#""F":"xa*bx""#],
        &[r#""F":"xaZZbx""#, r#""F":"xabx""#],
    );
    check(
        r"sel:
  F|endswith: '\?'
condition: sel",
        &[r#""F":"what?""#],
        &[r#""F":"what!""#],
    );
}

// Spec (Escape Character): a plain backslash can be written `\` or `\\`; three or four
// backslashes are two; `\\*` is a backslash then a wildcard; `\\\*` a backslash and a star.
// Hayabusa's pipe_pattern_wildcard reads `\\\*` as two backslashes and a wildcard; vigil follows
// the specification's table.
#[test]
fn backslash_escapes_per_spec_table() {
    check(
        r"sel:
  F: 'C:\\Windows\System32'
condition: sel",
        &[r#""F":"C:\\Windows\\System32""#],
        &[r#""F":"C:\\\\Windows\\System32""#],
    );
    for three_or_four in [r"'\\\server'", r"'\\\\server'"] {
        check(&format!("sel:\n  F: {three_or_four}\ncondition: sel"), &[r#""F":"\\\\server""#], &[r#""F":"\\server""#, r#""F":"\\\\\\server""#]);
    }
    check(
        r"sel:
  F: 'dir\\*'
condition: sel",
        &[r#""F":"dir\\""#, r#""F":"dir\\sub""#],
        &[r#""F":"dir""#, r#""F":"dirx""#],
    );
    check(
        r"sel:
  F: 'dir\\\*'
condition: sel",
        &[r#""F":"dir\\*""#],
        &[r#""F":"dir\\sub""#],
    );
}

// pySigma test_startswith_trailing_backslash / test_contains_trailing_backslash: a value ending
// in a backslash keeps it as a plain character before the added wildcard.
#[test]
fn trailing_backslash_before_modifier_wildcard() {
    check(
        r"sel:
  F|startswith: 'C:\Users\'
condition: sel",
        &[r#""F":"C:\\Users\\bob""#],
        &[r#""F":"C:\\Usersbob""#],
    );
    check(
        r"sel:
  F|contains: '\Temp\'
condition: sel",
        &[r#""F":"C:\\Temp\\x""#],
        &[r#""F":"C:\\Temp""#],
    );
}

// Spec (Placeholders): without `expand`, `%name%` is a literal value.
#[test]
fn percent_placeholders_are_literal_without_expand() {
    check("sel:\n  User: '%Administrators%'\ncondition: sel", &[r#""User":"%administrators%""#], &[r#""User":"root""#]);
}

// ====================================================================== lists and `all`

// Modifiers appendix (`all`) and pySigma test_detectionitem_all_modified_key_special_values:
// `|all` without `contains` ANDs the plain (wildcard) values.
#[test]
fn all_without_contains_ands_plain_values() {
    check("sel:\n  F|all:\n    - 'a*'\n    - '*z'\n    - '*m*'\ncondition: sel", &[r#""F":"a-m-z""#, r#""F":"AMZ""#], &[r#""F":"a-z""#, r#""F":"m-z""#]);
}

// Modifiers appendix: `contains|all` needs every value; the order in the field does not matter.
#[test]
fn contains_all_needs_every_value_in_any_order() {
    check(
        "sel:\n  CommandLine|contains|all:\n    - ' -nop '\n    - ' -w hidden '\n    - ' -enc '\ncondition: sel",
        &[r#""CommandLine":"powershell -enc AAA -w hidden -nop x""#, r#""CommandLine":"POWERSHELL -NOP -W HIDDEN -ENC A""#],
        &[r#""CommandLine":"powershell -nop -w hidden x""#],
    );
}

// The spec says a single value must not carry `all`; pySigma accepts it, and so does vigil: it
// then means the same as without `all`.
#[test]
fn all_on_a_single_value_is_that_value() {
    check("sel:\n  F|contains|all: 'x'\ncondition: sel", &[r#""F":"axb""#], &[r#""F":"ab""#]);
}

// Hayabusa test_contains_all_windash: `all` ANDs the values, while each value's windash
// variants stay an OR.
#[test]
fn windash_contains_all() {
    check(
        "sel:\n  CommandLine|windash|contains|all:\n    - ' -a '\n    - ' -b '\ncondition: sel",
        &[r#""CommandLine":"x /a /b y""#, r#""CommandLine":"x -a \u2014b y""#],
        &[r#""CommandLine":"x -a y""#, r#""CommandLine":"x /b y""#],
    );
}

// pySigma test_sigmadetectionitem_key_value_modifiers: base64offset expands one value into three
// alternatives, which stay an OR under `all` (the AND is across the listed values).
#[test]
fn base64offset_contains_all() {
    let d = "sel:\n  F|base64offset|contains|all:\n    - 'Invoke-'\n    - 'Download'\ncondition: sel";
    let both = b64(b"xx Invoke-Expression (Download)");
    let one = b64(b"xx Invoke-Expression only");
    check(d, &[&format!(r#""F":"{both}""#)], &[&format!(r#""F":"{one}""#)]);
}

// pySigma keyword/value lists: a value list is an OR across types (numbers and strings mixed).
#[test]
fn value_list_mixes_numbers_and_strings() {
    check(
        "sel:\n  EventID:\n    - 4624\n    - '4625'\n    - 'x*'\ncondition: sel",
        &[r#""EventID":4624"#, r#""EventID":"4625""#, r#""EventID":4625"#, r#""EventID":"xyz""#],
        &[r#""EventID":4626"#],
    );
}

// ====================================================================== encodings

// Hayabusa test_base64_contains: `base64|contains` finds the encoded value inside a longer field.
#[test]
fn base64_contains() {
    let enc = b64(b"whoami");
    check("sel:\n  F|base64|contains: 'whoami'\ncondition: sel", &[&format!(r#""F":"prefix {enc} suffix""#)], &[r#""F":"whoami""#]);
}

// Modifiers appendix (base64offset) and pySigma test_base64offset: any of the three byte offsets
// of the value inside an encoded stream matches, wherever the stream cuts it.
#[test]
fn base64offset_contains_every_offset() {
    let d = "sel:\n  CommandLine|base64offset|contains: 'http://'\ncondition: sel";
    let yes: Vec<String> =
        ["", "a", "ab", "abc", "abcd", "abcde"].iter().map(|p| format!(r#""CommandLine":"-e {}""#, b64(format!("{p}http://evil").as_bytes()))).collect();
    let yes: Vec<&str> = yes.iter().map(String::as_str).collect();
    let no = format!(r#""CommandLine":"-e {}""#, b64(b"abc https://evil"));
    check(d, &yes, &[&no]);
}

// Modifiers appendix (utf16le, base64offset) and Hayabusa test_utf16_base64_contains: the
// PowerShell `-EncodedCommand` form: UTF-16LE text, base64 encoded, at any offset.
#[test]
fn utf16le_base64offset_contains() {
    let d = "sel:\n  CommandLine|utf16le|base64offset|contains: 'IEX'\ncondition: sel";
    let yes: Vec<String> =
        ["", "a", "ab"].iter().map(|p| format!(r#""CommandLine":"powershell -enc {}""#, b64(&utf16le(&format!("{p}IEX (New-Object x)"))))).collect();
    let yes: Vec<&str> = yes.iter().map(String::as_str).collect();
    let ascii = format!(r#""CommandLine":"powershell -enc {}""#, b64(b"IEX (New-Object x)"));
    check(d, &yes, &[&ascii]);
    // `wide` is an alias of `utf16le`.
    let wide = rule("sel:\n  CommandLine|wide|base64offset|contains: 'IEX'\ncondition: sel");
    assert!(yes.iter().all(|e| matches(&wide, e)));
}

// Decision (modifiers.rs): encoded values match case-sensitively, since base64 text is (its
// lowercase encodes other bytes). pySigma returns a plain string here, whose case handling is
// left to the backend (most default to case-insensitive).
#[test]
fn encoded_values_are_case_sensitive() {
    let enc = b64(b"cmd.exe /c");
    check("sel:\n  F|base64|contains: 'cmd.exe /c'\ncondition: sel", &[&format!(r#""F":"{enc}""#)], &[&format!(r#""F":"{}""#, enc.to_lowercase())]);
}

// pySigma test_base64_wildcards: an encoding cannot encode a wildcard, so `contains` (which adds
// wildcards) before `base64` is an error. Hayabusa test_reordered_contains_base64 accepts the
// reordered chain; vigil follows pySigma (modifiers apply in the order written, per the spec).
#[test]
fn contains_before_base64_is_an_error() {
    assert!(compile_error("sel:\n  F|contains|base64: 'x'\ncondition: sel").contains("cannot encode a value with wildcards"));
    assert!(compile_error("sel:\n  F|base64offset: 'a?c'\ncondition: sel").contains("wildcards"));
}

// pySigma test_wide_noascii: pySigma rejects non-ASCII text under utf16 modifiers. vigil encodes
// any text when a base64 step follows (UTF-16 of non-ASCII text is well defined), and rejects it
// only when the UTF-16 bytes would have to be matched as text.
#[test]
fn utf16_of_non_ascii_needs_base64() {
    let enc = b64(&utf16le("für"));
    check("sel:\n  F|wide|base64: 'für'\ncondition: sel", &[&format!(r#""F":"{enc}""#)], &[&format!(r#""F":"{}""#, b64("für".as_bytes()))]);
    assert!(compile_error("sel:\n  F|wide|contains: 'für'\ncondition: sel").contains("must be followed by base64"));
}

// ====================================================================== windash

// Modifiers appendix (windash) and pySigma test_windash: every dash of the value becomes each of
// `-`, `/`, en dash, em dash and horizontal bar, independently.
#[test]
fn windash_every_dash_variant_at_every_position() {
    let d = "sel:\n  CommandLine|windash|contains: ' -s -d '\ncondition: sel";
    let dashes = ["-", "/", "\u{2013}", "\u{2014}", "\u{2015}"];
    let r = rule(d);
    for a in dashes {
        for b in dashes {
            let e = format!(r#""CommandLine":"tool {a}s {b}d x""#);
            assert!(matches(&r, &e), "{e}");
        }
    }
    check(d, &[], &[r#""CommandLine":"tool +s -d x""#, r#""CommandLine":"tool s -d x""#, r#""CommandLine":"tool --s -d x""#]);
}

// pySigma test_windash: a slash in the value is a dash position too.
#[test]
fn windash_expands_slashes_in_the_value() {
    check(
        "sel:\n  CommandLine|windash|endswith: ' /quiet'\ncondition: sel",
        &[r#""CommandLine":"setup.exe -quiet""#, r#""CommandLine":"setup.exe /QUIET""#],
        &[r#""CommandLine":"setup.exe quiet""#],
    );
}

// ====================================================================== cidr

// Modifiers appendix (cidr, v4 and v6) and Hayabusa test_cidr_ipv4_* / test_cidr_ipv6_*.
#[test]
fn cidr_ipv4() {
    let d = "sel:\n  source.ip|cidr: '192.168.0.0/16'\ncondition: sel";
    check(d, &[r#""source":{"ip":"192.168.0.1"}"#, r#""source.ip":"192.168.255.255""#], &[r#""source.ip":"192.169.0.1""#, r#""source.ip":"10.0.0.1""#]);
    // A string field holding an address (Windows IpAddress stays a string) is parsed.
    check("sel:\n  IpAddress|cidr: '10.0.0.0/8'\ncondition: sel", &[r#""IpAddress":"10.20.30.40""#], &[r#""IpAddress":"-""#, r#""IpAddress":"10.x""#]);
}

#[test]
fn cidr_ipv6() {
    let d = "sel:\n  source.ip|cidr: '2001:db8::/32'\ncondition: sel";
    check(d, &[r#""source.ip":"2001:db8::1""#, r#""source.ip":"2001:DB8:FFFF::abcd""#], &[r#""source.ip":"2001:db9::1""#, r#""source.ip":"10.0.0.1""#]);
}

// Prefix edges: /0 is everything of its family, /32 and a bare address are one host.
#[test]
fn cidr_prefix_edges() {
    check("sel:\n  F|cidr: '0.0.0.0/0'\ncondition: sel", &[r#""F":"1.2.3.4""#, r#""F":"255.255.255.255""#], &[r#""F":"::1""#]);
    check("sel:\n  F|cidr: '10.1.2.3/32'\ncondition: sel", &[r#""F":"10.1.2.3""#], &[r#""F":"10.1.2.4""#]);
    check("sel:\n  F|cidr: '10.1.2.3'\ncondition: sel", &[r#""F":"10.1.2.3""#], &[r#""F":"10.1.2.4""#]);
    check("sel:\n  F|cidr: '::/0'\ncondition: sel", &[r#""F":"fe80::1""#], &[r#""F":"1.2.3.4""#]);
}

// Hayabusa test_cidr_ip_field_not_exists_not_detect; a value that is not an address never matches.
#[test]
fn cidr_missing_or_not_an_address() {
    check("sel:\n  F|cidr: '10.0.0.0/8'\ncondition: sel", &[], &["", r#""F":null"#, r#""F":"not an ip""#, r#""F":10"#, r#""G":"10.0.0.1""#]);
}

// A list of networks is an OR (spec: value lists are OR).
#[test]
fn cidr_list_is_or() {
    check(
        "sel:\n  F|cidr:\n    - '10.0.0.0/8'\n    - '172.16.0.0/12'\n    - 'fc00::/7'\ncondition: sel",
        &[r#""F":"10.9.9.9""#, r#""F":"172.31.0.1""#, r#""F":"fd00::1""#],
        &[r#""F":"172.32.0.1""#],
    );
}

// Hayabusa test_cidr_neq_*: `cidr|neq` matches an address outside the network.
#[test]
fn cidr_neq() {
    check("sel:\n  F|cidr|neq: '10.0.0.0/8'\ncondition: sel", &[r#""F":"11.0.0.1""#], &[r#""F":"10.0.0.1""#]);
}

// ====================================================================== exists, null, empty

// Modifiers appendix (exists: "only verifies the presence of a field, not its value, be it empty
// or null"); Hayabusa test_exists_null_true and test_exists_false.
#[test]
fn exists_false() {
    check("sel:\n  F|exists: false\ncondition: sel", &["", r#""G":1"#], &[r#""F":null"#, r#""F":"""#, r#""F":0"#, r#""F":[]"#]);
}

// Spec (Special Field Values): `null` matches a missing field or a null value; an empty YAML
// value is null too (pySigma test_sigmadetectionitem_key_value_none); Hayabusa test_field_null
// and test_field_null_not_detect.
#[test]
fn null_matches_missing_or_null() {
    for value in ["null", "", "~"] {
        check(&format!("sel:\n  F: {value}\ncondition: sel"), &["", r#""F":null"#], &[r#""F":"""#, r#""F":"null""#, r#""F":0"#]);
    }
}

// The quoted string 'null' is a string, not null.
#[test]
fn quoted_null_is_a_string() {
    check("sel:\n  F: 'null'\ncondition: sel", &[r#""F":"NULL""#], &["", r#""F":null"#]);
}

// Spec (Special Field Values): `''` is the empty value: a present, empty string.
#[test]
fn empty_string_is_present_and_empty() {
    check("sel:\n  F: ''\ncondition: sel", &[r#""F":"""#], &["", r#""F":null"#, r#""F":" ""#]);
}

// Spec (Special Field Values) example: `not null` is written as a negated null selection.
#[test]
fn not_null_via_negated_selection() {
    check(
        "sel:\n  EventID: 4738\nfilter:\n  PasswordLastSet: null\ncondition: sel and not filter",
        &[r#""EventID":4738,"PasswordLastSet":"x""#],
        &[r#""EventID":4738"#, r#""EventID":4738,"PasswordLastSet":null"#],
    );
}

// Spec example: `1 of selection_empty*` over '' and null covers both empty forms.
#[test]
fn empty_or_null_via_two_selections() {
    check(
        "main:\n  A: x\nsel_empty:\n  B: ''\nsel_null:\n  B: null\ncondition: main and 1 of sel_*",
        &[r#""A":"x","B":"""#, r#""A":"x""#, r#""A":"x","B":null"#],
        &[r#""A":"x","B":"y""#],
    );
}

// ====================================================================== numbers

// Modifiers appendix (lt, lte, gt, gte) and Hayabusa test_ge / test_lt / test_gte / test_lte.
#[test]
fn numeric_comparison_bounds() {
    let cases = [
        ("gt", &["11", "10.5"][..], &["10", "9"][..]),
        ("gte", &["10", "11"], &["9.99"]),
        ("lt", &["9", "-3"], &["10", "11"]),
        ("lte", &["10", "9.5"], &["10.01"]),
    ];
    for (op, yes, no) in cases {
        let yes: Vec<String> = yes.iter().map(|v| format!(r#""F":{v}"#)).collect();
        let no: Vec<String> = no.iter().map(|v| format!(r#""F":{v}"#)).collect();
        check(
            &format!("sel:\n  F|{op}: 10\ncondition: sel"),
            &yes.iter().map(String::as_str).collect::<Vec<_>>(),
            &no.iter().map(String::as_str).collect::<Vec<_>>(),
        );
    }
}

// Numeric comparisons read numeric strings (trimmed) and never match text that is not a number:
// no panic, no match, and no "number-like" words such as inf or NaN.
#[test]
fn numeric_comparison_with_strings_that_are_not_numbers() {
    check(
        "sel:\n  F|gt: 10\ncondition: sel",
        &[r#""F":"11""#, r#""F":" 12 ""#],
        &[
            "",
            r#""F":null"#,
            r#""F":"""#,
            r#""F":"abc""#,
            r#""F":"11abc""#,
            r#""F":"0x20""#,
            r#""F":true"#,
            r#""F":"inf""#,
            r#""F":"Infinity""#,
            r#""F":"NaN""#,
        ],
    );
    check("sel:\n  F|lt: 10\ncondition: sel", &[r#""F":"-5""#], &[r#""F":"-inf""#, r#""F":"-Infinity""#, r#""F":"nan""#, r#""F":"five""#]);
}

// A list field matches when any item compares (lists match any item).
#[test]
fn numeric_comparison_on_lists() {
    check("sel:\n  F|gte: 100\ncondition: sel", &[r#""F":[5,100]"#, r#""F":["x","200"]"#], &[r#""F":[5,99]"#, r#""F":[]"#]);
}

// pySigma test_compare_string rejects a quoted number under lt/gt; vigil reads a quoted number
// as that number (YAML quoting is a writing detail) and rejects only text that is no number.
#[test]
fn numeric_comparison_operands() {
    check("sel:\n  F|gt: '10'\ncondition: sel", &[r#""F":11"#], &[r#""F":10"#]);
    assert!(compile_error("sel:\n  F|gt: ten\ncondition: sel").contains("need a number"));
    for word in [".inf", "inf", "'NaN'"] {
        assert!(compile_error(&format!("sel:\n  F|gt: {word}\ncondition: sel")).contains("need a number"), "{word}");
    }
}

// Spec ("maps ... string or integer value") and pySigma SigmaNumber: an integer in the rule
// matches the integer and its decimal text; a quoted number in the rule matches both forms too.
#[test]
fn integer_and_string_values_match_each_other() {
    check(
        "sel:\n  EventID: 4624\ncondition: sel",
        &[r#""EventID":4624"#, r#""EventID":"4624""#, r#""EventID":4624.0"#],
        &[r#""EventID":46240"#, r#""EventID":"4624x""#],
    );
    check("sel:\n  EventID: '4624'\ncondition: sel", &[r#""EventID":4624"#, r#""EventID":"4624""#], &[r#""EventID":4625"#]);
}

// pySigma test_sigmadetectionitem_key_value_single_float: a float value.
#[test]
fn float_values() {
    check("sel:\n  Version: 1.5\ncondition: sel", &[r#""Version":1.5"#, r#""Version":"1.5""#], &[r#""Version":1.50001"#, r#""Version":15"#]);
}

// ====================================================================== neq

// Modifiers appendix (neq) and Hayabusa test_neq_detect / test_neq_case_insensitive_notdetect /
// test_neq_wildcard_*: different from every value, case-insensitively, wildcards applied.
#[test]
fn neq_values() {
    check("sel:\n  Channel|neq: Security\ncondition: sel", &[r#""Channel":"PowerShell""#], &[r#""Channel":"Security""#, r#""Channel":"SECURITY""#]);
    check("sel:\n  Channel|neq: 'Sec*'\ncondition: sel", &[r#""Channel":"System""#], &[r#""Channel":"Security""#]);
    check("sel:\n  Channel|neq:\n    - Security\n    - System\ncondition: sel", &[r#""Channel":"Application""#], &[r#""Channel":"System""#]);
}

// Hayabusa test_contains_neq_* / test_startswith_neq_*: neq composes with the position modifiers.
#[test]
fn neq_with_contains_and_startswith() {
    check("sel:\n  F|contains|neq: 'temp'\ncondition: sel", &[r#""F":"C:\\Windows""#], &[r#""F":"C:\\TEMP\\x""#]);
    check("sel:\n  F|startswith|neq: 'C:'\ncondition: sel", &[r#""F":"D:\\x""#], &[r#""F":"c:\\x""#]);
}

// Decision (detection.rs, FieldTest::neq): neq needs the field to be present and not null.
// pySigma writes `neq` as NOT(field = value) and Hayabusa test_neq_missing_field_detect matches a
// missing field; vigil does not, so that a selection like `User|neq: SYSTEM` speaks only about
// events that have a user (a missing field is what `exists: false` or `null` is for).
#[test]
fn neq_needs_the_field() {
    check("sel:\n  Channel|neq: Security\ncondition: sel", &[], &["", r#""Channel":null"#]);
}

// ====================================================================== fieldref

// Modifiers appendix (fieldref) and Hayabusa test_eq_field_ref_*: compares with another field of
// the same event, case-insensitively, with the position modifiers.
#[test]
fn fieldref_positions() {
    let ev = |a: &str, b: &str| format!(r#""A":"{a}","B":"{b}""#);
    check("sel:\n  A|fieldref: B\ncondition: sel", &[&ev("Same", "sAME")], &[&ev("Same", "Other")]);
    check("sel:\n  A|fieldref|contains: B\ncondition: sel", &[&ev("xxMIDyy", "mid")], &[&ev("xxMIyy", "mid")]);
    check("sel:\n  A|fieldref|startswith: B\ncondition: sel", &[&ev("PrefixRest", "prefix")], &[&ev("RestPrefix", "prefix")]);
    check("sel:\n  A|fieldref|endswith: B\ncondition: sel", &[&ev("RestSuffix", "SUFFIX")], &[&ev("SuffixRest", "suffix")]);
}

// Hayabusa test_eq_field_emptyfield: a missing field on either side never matches.
#[test]
fn fieldref_missing_fields() {
    check("sel:\n  A|fieldref: B\ncondition: sel", &[], &[r#""A":"x""#, r#""B":"x""#, ""]);
}

// Modifiers appendix ("can be combined with the neq modifier") and Hayabusa
// test_fieldref_neq_detect / _notdetect / _missing_ref_detect.
#[test]
fn fieldref_neq() {
    check(
        "sel:\n  User|fieldref|neq: TargetUser\ncondition: sel",
        &[r#""User":"alice","TargetUser":"bob""#, r#""User":"alice""#],
        &[r#""User":"Bob","TargetUser":"bob""#],
    );
}

// pySigma test_fieldref_wildcard: a field reference is a name, not a pattern.
#[test]
fn fieldref_rejects_wildcards() {
    for name in ["'Parent*'", "'B?'"] {
        let e = compile_error(&format!("sel:\n  A|fieldref: {name}\ncondition: sel"));
        assert!(e.ends_with("detection.sel.A|fieldref: fieldref takes a field name, not a pattern with wildcards"), "{e}");
    }
}

// ====================================================================== keywords

// Spec (Keywords search): a list of strings is an OR of keywords searched in the whole event.
#[test]
fn keyword_list_is_or() {
    check(
        "keywords:\n  - 'EVILSERVICE'\n  - 'svchost.exe -n evil'\ncondition: keywords",
        &[r#""Message":"service EvilService installed""#, r#""CommandLine":"C:\\x\\SVCHOST.EXE -n evil""#, r#""a":{"b":"xx evilservice"}"#],
        &[r#""Message":"evil service""#],
    );
}

// Spec (Keywords search, `'|all':`): an AND of keywords, each anywhere in the event.
#[test]
fn keyword_map_all() {
    check(
        "keywords:\n  '|all':\n    - 'OabVirtualDirectory'\n    - ' -ExternalUrl '\ncondition: keywords",
        &[r#""Payload":"Set-OabVirtualDirectory -ExternalUrl http://x""#, r#""A":"set-oabvirtualdirectory","B":"x -externalurl y""#],
        &[r#""Payload":"Set-OabVirtualDirectory -InternalUrl http://x""#],
    );
}

// pySigma test_multiple_keyword_detection: two keyword items in one selection are ANDed, each
// item an OR.
#[test]
fn keyword_map_with_two_items_is_and() {
    check(
        "keywords:\n  '|contains':\n    - alpha\n    - beta\n  '|endswith':\n    - '.ps1'\n    - '.bat'\ncondition: keywords",
        &[r#""Message":"run ALPHA.ps1""#, r#""A":"beta","B":"x.bat""#],
        &[r#""Message":"run alpha.exe""#, r#""Message":"run gamma.ps1""#],
    );
}

// Keywords carry Sigma wildcards inside the implicit substring search.
#[test]
fn keyword_with_inner_wildcard() {
    check(
        "keywords:\n  - 'mimikatz*sekurlsa'\ncondition: keywords",
        &[r#""Message":"x Mimikatz # SEKURLSA::logonpasswords""#],
        &[r#""Message":"sekurlsa mimikatz""#],
    );
}

// pySigma test_keyword_detection takes numbers as keywords. Decision (detection.rs): keywords
// search string values only (including string items of lists), not numbers or addresses; a
// numeric keyword is matched as text inside strings. Hayabusa greps the whole record and would
// also match the number field.
#[test]
fn numeric_keyword_searches_text_only() {
    check("keywords:\n  - 4624\ncondition: keywords", &[r#""Message":"logon 4624 ok""#, r#""Tags":["x","id-4624"]"#], &[r#""EventID":4624"#]);
}

// Keywords combine with field selections in the condition.
#[test]
fn keywords_and_fields_together() {
    check(
        "sel:\n  EventID: 7045\nkeywords:\n  - 'psexesvc'\ncondition: sel and keywords",
        &[r#""EventID":7045,"ServiceName":"PSEXESVC""#],
        &[r#""EventID":7045,"ServiceName":"spooler""#, r#""EventID":7040,"ServiceName":"psexesvc""#],
    );
}

// ====================================================================== conditions

/// Five single-field selections for the condition cases: detection1..3, detection_4 and other.
const FIVE: &str = "detection1:\n  A: 1\ndetection2:\n  B: 1\ndetection3:\n  C: 1\ndetection_4:\n  D: 1\nother:\n  E: 1\n";

/// An event with the fields named by the letters set to 1.
fn set(letters: &str) -> String {
    letters.chars().map(|c| format!(r#""{c}":1"#)).collect::<Vec<_>>().join(",")
}

/// Evaluates a condition over FIVE for every subset of A..E and compares with `expected`.
#[track_caller]
fn truth_table(condition: &str, expected: impl Fn(bool, bool, bool, bool, bool) -> bool) {
    let r = rule(&format!("{FIVE}condition: {condition}"));
    for bits in 0u8..32 {
        let on = |i: u8| bits & (1 << i) != 0;
        let letters: String = "ABCDE".chars().enumerate().filter(|(i, _)| on(*i as u8)).map(|(_, c)| c).collect();
        assert_eq!(matches(&r, &set(&letters)), expected(on(0), on(1), on(2), on(3), on(4)), "{condition} on {{{letters}}}");
    }
}

// Spec (Operator Precedence: or < and < not) and pySigma test_precedence.
#[test]
fn precedence_not_and_or() {
    truth_table("detection1 and not detection2 or not detection3 and detection_4", |a, b, c, d, _| (a && !b) || (!c && d));
    truth_table("not detection1 or detection2 and detection3", |a, b, c, _, _| !a || (b && c));
}

// pySigma test_precedence_parenthesis: brackets override precedence; nested brackets.
#[test]
fn nested_parentheses() {
    truth_table("(detection1 or not detection2) and not (detection3 or detection_4)", |a, b, c, d, _| (a || !b) && !(c || d));
    truth_table("((detection1 or (detection2 and (other))) and not (not detection3))", |a, b, c, _, e| (a || (b && e)) && c);
}

// Spec (1/all of pattern) and pySigma test_selector_1 / test_selector_all / test_selector_any.
#[test]
fn quantified_patterns() {
    truth_table("1 of detection*", |a, b, c, d, _| a || b || c || d);
    truth_table("any of detection*", |a, b, c, d, _| a || b || c || d);
    truth_table("all of detection*", |a, b, c, d, _| a && b && c && d);
    truth_table("1 of *_4", |_, _, _, d, _| d);
    // Only `*` is a wildcard in identifier patterns (spec): `?` is a plain character.
    assert!(compile_error(&format!("{FIVE}condition: all of detection?")).contains("matches no search identifier"));
}

// Spec (Operator Precedence: `x of` binds tighter than `not`), spec example
// `1 of selection* and not 1 of filter*`.
#[test]
fn not_one_of_filters() {
    let r = rule("selection_a:\n  A: 1\nselection_b:\n  B: 1\nfilter_x:\n  X: 1\nfilter_y:\n  Y: 1\ncondition: 1 of selection* and not 1 of filter*");
    assert!(matches(&r, &set("A")) && matches(&r, &set("AB")));
    assert!(!matches(&r, &set("AX")) && !matches(&r, &set("BY")) && !matches(&r, &set("X")));
    // `not all of filter*`: only both filters together exclude.
    let r = rule("selection_a:\n  A: 1\nfilter_x:\n  X: 1\nfilter_y:\n  Y: 1\ncondition: selection_a and not all of filter*");
    assert!(matches(&r, &set("AX")) && !matches(&r, &set("AXY")));
}

// Spec (1/all of them) and pySigma test_selector_underscore_filter: `them` leaves out
// identifiers starting with `_`; a pattern does not (it names them explicitly).
#[test]
fn them_and_underscore_identifiers() {
    let d = "sel1:\n  A: 1\nsel2:\n  B: 1\n_helper:\n  C: 1\n";
    let all_them = rule(&format!("{d}condition: all of them"));
    assert!(matches(&all_them, &set("AB")), "_helper is not required");
    let one_them = rule(&format!("{d}condition: 1 of them"));
    assert!(!matches(&one_them, &set("C")), "_helper does not count");
    let pattern = rule(&format!("{d}condition: 1 of _*"));
    assert!(matches(&pattern, &set("C")));
}

// pySigma test_selector_no_wildcard_exact_match_no_prefix_collision: `1 of selection` names only
// `selection`, not `selection_extra`.
#[test]
fn quantifier_without_wildcard_is_exact() {
    let r = rule("selection:\n  A: 1\nselection_extra:\n  B: 1\ncondition: 1 of selection");
    assert!(matches(&r, &set("A")));
    assert!(!matches(&r, &set("B")));
}

// Decision (condition.rs grammar): condition keywords are case-insensitive (`AND`, `Or`, `NOT`).
// pySigma test_invalid_conditions rejects an upper-case `OR`, and Hayabusa's condition parser
// knows only the lower-case words; vigil accepts any case, since `AND` cannot mean anything else
// in a condition. Identifiers stay case-sensitive.
#[test]
fn condition_keywords_ignore_case_identifiers_do_not() {
    truth_table("detection1 AND NOT (detection2 Or detection3)", |a, b, c, _, _| a && !(b || c));
    truth_table("ALL Of detection*", |a, b, c, d, _| a && b && c && d);
    assert!(compile_error(&format!("{FIVE}condition: Detection1")).contains("undefined search identifier \"Detection1\""));
}

// pySigma test_invalid_conditions and test_undefined_identifier: incomplete or unbalanced
// conditions are errors, not a silent never-match.
#[test]
fn invalid_conditions_are_errors() {
    for bad in [
        "detection1 and",
        "detection1 or or detection2",
        "(detection1",
        "detection1)",
        "not",
        "detection1 detection2",
        "1 of",
        "1 of nothing*",
        "2 of detection*",
    ] {
        let e = compile_error(&format!("{FIVE}condition: '{bad}'"));
        assert!(e.contains("detection.condition"), "{bad}: {e}");
    }
}

// pySigma test_deprecated_pipe_syntax: the Sigma 1 aggregation pipe is rejected (correlation
// rules replace it).
#[test]
fn aggregation_pipe_is_rejected() {
    assert!(compile_error(&format!("{FIVE}condition: 'detection1 | count() by A > 5'")).contains("correlation rule"));
}

// Double negation and a condition list (spec: a list of conditions is an OR).
#[test]
fn double_negation_and_condition_lists() {
    truth_table("not not detection1", |a, _, _, _, _| a);
    let r = rule(&format!("{FIVE}condition:\n  - detection1 and detection2\n  - other"));
    assert!(matches(&r, &set("AB")) && matches(&r, &set("E")) && !matches(&r, &set("A")));
}

// ====================================================================== field names and shapes

// Spec (Field Usage) and the taxonomy: dotted ECS names address nested JSON objects and flat
// dotted keys alike.
#[test]
fn dotted_field_names() {
    check(
        "sel:\n  process.command_line|contains: 'mimikatz'\ncondition: sel",
        &[r#""process":{"command_line":"x MIMIKATZ y"}"#, r#""process.command_line":"mimikatz""#],
        &[r#""process":{"name":"mimikatz"}"#],
    );
}

// Field names with spaces (the spec asks authors to strip them, but logs have them).
#[test]
fn field_names_with_spaces() {
    check("sel:\n  'New Value|contains': 'run'\ncondition: sel", &[r#""New Value":"C:\\run.exe""#], &[r#""NewValue":"C:\\run.exe""#]);
}

// Field names are case-sensitive (vigil decision: events carry names exactly, and taxonomy
// mappings rename fields rather than fold case).
#[test]
fn field_names_are_case_sensitive() {
    check("sel:\n  Image: 'x'\ncondition: sel", &[r#""Image":"x""#], &[r#""image":"x""#, r#""IMAGE":"x""#]);
}

// Spec (Lists / Maps): a map is an AND; a list of maps an OR of ANDs; the same field may appear
// in several alternatives.
#[test]
fn maps_and_lists_of_maps() {
    check(
        "sel:\n  - Image|endswith: '\\rundll32.exe'\n    CommandLine|contains: 'javascript:'\n  - Image|endswith: '\\mshta.exe'\ncondition: sel",
        &[r#""Image":"C:\\w\\RUNDLL32.EXE","CommandLine":"x javascript:y""#, r#""Image":"C:\\w\\mshta.exe""#],
        &[r#""Image":"C:\\w\\rundll32.exe","CommandLine":"x""#, r#""CommandLine":"javascript:""#],
    );
}

// pySigma test_sigmadetectionitem_key_value_modifiers_invalid_re, test_re_with_other,
// test_exists_with_other: type modifiers do not combine with transformations.
#[test]
fn incompatible_modifier_chains_are_errors() {
    for key in ["F|base64|re", "F|re|contains", "F|cidr|contains", "F|exists|contains", "F|re|cidr", "F|gt|contains"] {
        let e = compile_error(&format!("sel:\n  {key}: '1'\ncondition: sel"));
        assert!(e.contains(&format!("detection.sel.{key}")), "{key}: {e}");
    }
    assert!(compile_error("sel:\n  '|exists': true\ncondition: sel").contains("exists needs a field name"));
    // pySigma test_null_keyword: null is no keyword.
    assert!(compile_error("keywords:\n  - null\ncondition: keywords").contains("null is not a keyword"));
}

// ====================================================================== correlation harness

/// Detection rules the correlation cases refer to (by name or by id).
const DETECTIONS: &str = "\
title: Failed login
id: 6f1c1d3a-7e2b-4c2b-9d1e-000000000001
name: failed_login
logsource: {product: windows, service: security}
detection:
    selection:
        EventID: 4625
    condition: selection
---
title: Successful login
id: 6f1c1d3a-7e2b-4c2b-9d1e-000000000002
name: successful_login
logsource: {product: windows, service: security}
detection:
    selection:
        EventID: 4624
    condition: selection
---
title: Recon whoami
name: recon_whoami
logsource: {product: windows, category: process_creation}
detection:
    selection:
        CommandLine|contains: whoami
    condition: selection
---
title: Recon net user
name: recon_net_user
logsource: {product: windows, category: process_creation}
detection:
    selection:
        CommandLine|contains: 'net user'
    condition: selection
---
title: Recon ipconfig
name: recon_ipconfig
logsource: {product: windows, category: process_creation}
detection:
    selection:
        CommandLine|contains: ipconfig
    condition: selection
---
title: Outbound flow
name: outbound_flow
logsource: {category: network_connection}
detection:
    selection:
        network.direction: outbound
    condition: selection
---
title: Internal error
name: internal_error
logsource: {category: webserver}
detection:
    selection:
        http.response.status_code: 500
    condition: selection
---
title: New network connection
name: new_network_connection
logsource: {category: network_connection}
detection:
    selection:
        event.category: network
        event.outcome: success
    condition: selection
";

/// The outcome of one replay run.
struct Run {
    incidents: Vec<Json>,
    stats: Arc<EngineStats>,
}

impl Run {
    /// One line per incident: `title group measure start..end` (ms after T0), in output order.
    fn summary(&self) -> Vec<String> {
        self.incidents.iter().map(summarize).collect()
    }
}

fn summarize(inc: &Json) -> String {
    let ms = |v: &Json| vigil::event::time::parse_iso8601(v.as_str().unwrap_or_default().as_bytes()).map_or(i64::MIN, |t| t - T0);
    let v = &inc["vigil"];
    let group: Vec<String> = v["group"]
        .as_object()
        .map(|g| g.iter().map(|(k, x)| format!("{k}={}", x.as_str().map_or_else(|| x.to_string(), str::to_owned))).collect())
        .unwrap_or_default();
    let group = if group.is_empty() { "-".to_string() } else { group.join(",") };
    let measure = match (v["aggregation"].as_str(), v["value"].as_f64()) {
        (Some("sum"), Some(x)) => format!("sum={x}"),
        (Some("avg"), Some(x)) => format!("avg={x}"),
        (Some("percentile"), Some(x)) => format!("p{}={x}", v["percentile"].as_f64().unwrap_or(f64::NAN)),
        _ => format!("n={}", v["count"]),
    };
    format!("{} {group} {measure} {}..{}", inc["rule"]["name"].as_str().unwrap_or("?"), ms(&inc["event"]["start"]), ms(&inc["event"]["end"]))
}

/// Runs `rules` over the partitions (each a list of (ms after T0, JSON object body) in file
/// order) with `workers` workers.
fn replay_parts(rules: &str, parts: &[&[(i64, &str)]], workers: usize) -> Run {
    let set = RuleSet::from_str(Path::new("c.yml"), rules, &CompileOptions::default()).unwrap_or_else(|e| panic!("{e:#?}"));
    let plan = Arc::new(Plan::new(&set));
    assert!(plan.skipped.is_empty(), "{:?}", plan.skipped);
    let dir = tempfile::tempdir().unwrap();
    let mut inputs = Vec::new();
    for (p, events) in parts.iter().enumerate() {
        let path = dir.path().join(format!("part{p}.json"));
        let text: String = events.iter().map(|(t, fields)| format!("{{\"@timestamp\":{},{fields}}}\n", T0 + t)).collect();
        std::fs::write(&path, text).unwrap();
        inputs.push(InputSpec { partition: p as u32, source: InputSource::Path(path), format: Format::Json, overrides: Default::default() });
    }
    let out = dir.path().join("incidents.json");
    let source = SourceConfig {
        stats: Arc::new(RunStats::new(inputs.iter().map(|s| s.source.display()).collect())),
        inputs,
        parse: ParseOptions { now_ms: T0, ..ParseOptions::default() },
        lateness_ms: 3_600_000,
        cancel: Arc::new(AtomicBool::new(false)),
    };
    let stats = Arc::new(EngineStats { matches: (0..set.rules.len()).map(|_| Default::default()).collect(), ..Default::default() });
    let cfg = EngineConfig {
        source,
        rules: Arc::new(set),
        output: OutputTarget::File(out.clone()),
        dead_letter: None,
        workers_per_process: workers,
        limits: StateLimits::default(),
        stats: stats.clone(),
        checkpoint: None,
    };
    let guards = timely::execute(timely::Config::process(workers), move |w| pipeline::build(w, &cfg, plan.clone())).unwrap();
    for r in guards.join() {
        r.unwrap();
    }
    let text = std::fs::read_to_string(&out).unwrap_or_default();
    Run { incidents: text.lines().map(|l| serde_json::from_str(l).unwrap()).collect(), stats }
}

/// Runs one correlation (YAML documents, the outer first) over one partition, one worker.
fn replay(correlation: &str, events: &[(i64, &str)]) -> Run {
    replay_parts(&format!("{correlation}\n---\n{DETECTIONS}"), &[events], 1)
}

fn summary(correlation: &str, events: &[(i64, &str)]) -> Vec<String> {
    replay(correlation, events).summary()
}

/// An `event_count` correlation over failed logins.
fn failed_count(group_by: &str, timespan: &str, condition: &str) -> String {
    format!(
        "title: Failed logins\nid: 0c0c0c0c-0000-4000-8000-000000000001\ncorrelation:\n    type: event_count\n    rules: [failed_login]\n{group_by}    timespan: {timespan}\n    condition: {condition}"
    )
}

const FAIL_BOB: &str = r#""EventID":4625,"User":"bob""#;
const FAIL_ALICE: &str = r#""EventID":4625,"User":"alice""#;
const OK_BOB: &str = r#""EventID":4624,"User":"bob""#;

// ====================================================================== event_count

// Correlation spec (event_count) and rsigma test_event_count_basic: the alert comes at the event
// that reaches the threshold; the sliding window is [t - timespan, t].
#[test]
fn event_count_fires_at_the_threshold() {
    let c = failed_count("    group-by: [User]\n", "10s", "{gte: 3}");
    assert_eq!(summary(&c, &[(0, FAIL_BOB), (4000, FAIL_BOB), (8000, FAIL_BOB)]), vec!["Failed logins User=bob n=3 -2000..8000"]);
    // `gt: 2` is the same threshold.
    let c = failed_count("    group-by: [User]\n", "10s", "{gt: 2}");
    assert_eq!(summary(&c, &[(0, FAIL_BOB), (4000, FAIL_BOB), (8000, FAIL_BOB)]), vec!["Failed logins User=bob n=3 -2000..8000"]);
}

// Correlation spec ("must count events for each group separately") and rsigma
// test_event_count_different_groups.
#[test]
fn event_count_groups_separately() {
    let c = failed_count("    group-by: [User]\n", "1m", "{gte: 3}");
    let events = [(0, FAIL_ALICE), (1, FAIL_BOB), (2, FAIL_ALICE), (3, FAIL_BOB), (4, FAIL_BOB)];
    assert_eq!(summary(&c, &events), vec!["Failed logins User=bob n=3 -59996..4"]);
}

// rsigma test_event_count_window_expiry: events older than the timespan leave the window.
#[test]
fn event_count_window_expiry() {
    let c = failed_count("    group-by: [User]\n", "10s", "{gte: 3}");
    assert!(summary(&c, &[(0, FAIL_BOB), (1000, FAIL_BOB), (15_000, FAIL_BOB)]).is_empty());
    let s = summary(&c, &[(0, FAIL_BOB), (1000, FAIL_BOB), (15_000, FAIL_BOB), (16_000, FAIL_BOB), (17_000, FAIL_BOB)]);
    assert_eq!(s, vec!["Failed logins User=bob n=3 7000..17000"]);
}

// Decision (correlate/mod.rs, both bounds inclusive): two events exactly `timespan` apart share
// a window, one ms more and they do not. Hayabusa's judge_timeframe (`right - left <= frame`)
// agrees; rsigma's exact_window_boundary leaves it open.
#[test]
fn window_bounds_are_inclusive() {
    let c = failed_count("    group-by: [User]\n", "10s", "{gte: 2}");
    assert_eq!(summary(&c, &[(0, FAIL_BOB), (10_000, FAIL_BOB)]), vec!["Failed logins User=bob n=2 0..10000"]);
    assert!(summary(&c, &[(0, FAIL_BOB), (10_001, FAIL_BOB)]).is_empty());
    // The same at close (an upper bound): the window anchored at 0 holds 10000, not 10001.
    let c = failed_count("    group-by: [User]\n", "10s", "{eq: 2}");
    assert_eq!(summary(&c, &[(0, FAIL_BOB), (10_000, FAIL_BOB)]), vec!["Failed logins User=bob n=2 0..10000"]);
    assert!(summary(&c, &[(0, FAIL_BOB), (10_001, FAIL_BOB)]).is_empty());
}

// Decision (correlate/mod.rs, restart): after an alert the key starts over, so a burst gives one
// alert per threshold's worth of events (rsigma's `reset` action; not one alert per event).
#[test]
fn event_count_restarts_after_an_alert() {
    let c = failed_count("    group-by: [User]\n", "1m", "{gte: 3}");
    let events: Vec<(i64, &str)> = (0..7).map(|i| (i * 1000, FAIL_BOB)).collect();
    assert_eq!(summary(&c, &events), vec!["Failed logins User=bob n=3 -58000..2000", "Failed logins User=bob n=3 -55000..5000"]);
}

// Correlation spec (group-by: "when you use multiple fields they are linked by an AND") and
// rsigma multiple_group_by_fields_create_distinct_groups.
#[test]
fn group_by_several_fields() {
    let c = failed_count("    group-by: [User, Host]\n", "1m", "{gte: 2}");
    let bob_h1 = r#""EventID":4625,"User":"bob","Host":"h1""#;
    let bob_h2 = r#""EventID":4625,"User":"bob","Host":"h2""#;
    let alice_h1 = r#""EventID":4625,"User":"alice","Host":"h1""#;
    assert_eq!(summary(&c, &[(0, bob_h1), (1, bob_h2), (2, alice_h1), (3, bob_h1)]), vec!["Failed logins Host=h1,User=bob n=2 -59997..3"]);
}

// Decision (correlate/mod.rs "Group keys"; replay group_value): an event lacking a group-by field
// (missing, null or an empty string) is not counted. rsigma puts such events in a group with a
// null part (test_group_key_missing_field); vigil does not, so that unrelated events without a
// user do not pile up into one "user unknown" group.
#[test]
fn missing_group_by_field_is_not_counted() {
    let c = failed_count("    group-by: [User, Host]\n", "1m", "{gte: 3}");
    let full = r#""EventID":4625,"User":"bob","Host":"h1""#;
    let events = [(0, full), (1, FAIL_BOB), (2, r#""EventID":4625,"User":"bob","Host":"""#), (3, r#""EventID":4625,"User":"bob","Host":null"#), (4, full)];
    let run = replay(&c, &events);
    assert!(run.summary().is_empty(), "{:?}", run.summary());
    assert_eq!(run.stats.missing_group.load(Ordering::Relaxed), 3);
    let mut more = events.to_vec();
    more.push((5, full));
    assert_eq!(summary(&c, &more), vec!["Failed logins Host=h1,User=bob n=3 -59995..5"]);
}

// Decision (rules/correlation.rs, group-by optional): without group-by every event is in one
// global group. pySigma accepts a rule without group-by too.
#[test]
fn no_group_by_is_one_global_group() {
    let c = failed_count("", "1m", "{gte: 3}");
    assert_eq!(summary(&c, &[(0, FAIL_BOB), (1, FAIL_ALICE), (2, r#""EventID":4625"#)]), vec!["Failed logins - n=3 -59998..2"]);
}

// Correlation spec (condition ranges: "101 to 200" as gt + lte) and rsigma
// test_event_count_range_condition: both bounds hold together, decided when the window closes.
#[test]
fn range_condition_gte_and_lte() {
    let c = failed_count("    group-by: [User]\n", "1m", "{gte: 2, lte: 3}");
    let user = |u: &str| format!(r#""EventID":4625,"User":"{u}""#);
    let (one, two, three, four) = (user("one"), user("two"), user("three"), user("four"));
    let mut events = vec![(0, one.as_str())];
    events.extend((0..2).map(|i| (i, two.as_str())));
    events.extend((0..3).map(|i| (i, three.as_str())));
    events.extend((0..4).map(|i| (i, four.as_str())));
    events.sort_by_key(|e| e.0);
    let mut s = summary(&c, &events);
    s.sort();
    assert_eq!(s, vec!["Failed logins User=three n=3 0..60000", "Failed logins User=two n=2 0..60000"]);
}

// Correlation spec (`eq`, `neq`): at close, on anchored windows (one decision per window).
#[test]
fn eq_and_neq_conditions() {
    let two = [(0, FAIL_BOB), (1000, FAIL_BOB), (0, FAIL_ALICE), (1000, FAIL_ALICE), (2000, FAIL_ALICE)];
    let mut two = two.to_vec();
    two.sort_by_key(|e| e.0);
    let c = failed_count("    group-by: [User]\n", "1m", "{eq: 2}");
    assert_eq!(summary(&c, &two), vec!["Failed logins User=bob n=2 0..60000"]);
    let c = failed_count("    group-by: [User]\n", "1m", "{neq: 2}");
    assert_eq!(summary(&c, &two), vec!["Failed logins User=alice n=3 0..60000"]);
}

// Correlation spec (lt): a quiet group fires when its window closes; a window exists only where
// there are events (decision in rules/correlation.rs), so `lt: 3` means 1 or 2 events.
#[test]
fn upper_bound_fires_at_close() {
    let c = failed_count("    group-by: [User]\n", "1m", "{lt: 3}");
    let events = [(0, FAIL_BOB), (0, FAIL_ALICE), (10, FAIL_ALICE), (20, FAIL_ALICE), (30, FAIL_BOB)];
    assert_eq!(summary(&c, &events), vec!["Failed logins User=bob n=2 0..60000"]);
}

// Decision (correlate/mod.rs, anchored windows): at close, the first event anchors
// [t0, t0 + timespan]; the next event after it opens the next window.
#[test]
fn anchored_windows_follow_each_other() {
    let c = failed_count("    group-by: [User]\n", "10s", "{lte: 5}");
    let s = summary(&c, &[(0, FAIL_BOB), (10_000, FAIL_BOB), (10_001, FAIL_BOB), (20_001, FAIL_BOB), (35_000, FAIL_BOB)]);
    assert_eq!(s, vec!["Failed logins User=bob n=2 0..10000", "Failed logins User=bob n=2 10001..20001", "Failed logins User=bob n=1 35000..45000"]);
}

// ====================================================================== value_count

fn users_per_source(condition: &str) -> String {
    format!(
        "title: Spray\ncorrelation:\n    type: value_count\n    rules: [failed_login]\n    group-by: [SourceIp]\n    timespan: 1m\n    condition:\n        field: TargetUserName\n        {condition}"
    )
}

// Correlation spec (value_count) and rsigma test_window_value_count: distinct values; repeats
// and events without the field do not count.
#[test]
fn value_count_counts_distinct_values() {
    let c = users_per_source("gte: 3");
    let ev = |u: &str| format!(r#""EventID":4625,"SourceIp":"198.51.100.7","TargetUserName":"{u}""#);
    let (a, b, c3) = (ev("a"), ev("b"), ev("c"));
    let none = r#""EventID":4625,"SourceIp":"198.51.100.7""#;
    let events = [(0, a.as_str()), (1, b.as_str()), (2, a.as_str()), (3, none), (4, b.as_str())];
    assert!(summary(&c, &events).is_empty());
    let mut more = events.to_vec();
    more.push((5, c3.as_str()));
    assert_eq!(summary(&c, &more), vec!["Spray SourceIp=198.51.100.7 n=3 -59995..5"]);
}

// Correlation spec (value_count with lt): few distinct values, decided at close.
#[test]
fn value_count_upper_bound() {
    let c = users_per_source("lt: 3");
    let ev = |ip: &str, u: &str| format!(r#""EventID":4625,"SourceIp":"{ip}","TargetUserName":"{u}""#);
    let evs = [ev("a", "x"), ev("a", "y"), ev("a", "x"), ev("b", "x"), ev("b", "y"), ev("b", "z")];
    let events: Vec<(i64, &str)> = evs.iter().enumerate().map(|(i, e)| (i as i64, e.as_str())).collect();
    assert_eq!(summary(&c, &events), vec!["Spray SourceIp=a n=2 0..60000"]);
}

// ====================================================================== temporal

fn recon(kind: &str, timespan: &str, condition: &str) -> String {
    format!(
        "title: Recon\ncorrelation:\n    type: {kind}\n    rules:\n        - recon_whoami\n        - recon_net_user\n        - recon_ipconfig\n    group-by: [Host]\n    timespan: {timespan}{condition}"
    )
}

fn cmd(host: &str, command: &str) -> String {
    format!(r#""Host":"{host}","CommandLine":"{command}""#)
}

// Correlation spec (temporal: all referenced rules, any order, within the timespan, same
// group-by values) and rsigma test_temporal.
#[test]
fn temporal_all_rules_any_order() {
    let c = recon("temporal", "5m", "");
    let evs = [
        (0, cmd("h1", "ipconfig /all")),
        (60_000, cmd("h1", "whoami")),
        (120_000, cmd("h1", "net user admin")),
        (0, cmd("h2", "whoami")),
        (1, cmd("h2", "net user")),
    ];
    let mut events: Vec<(i64, &str)> = evs.iter().map(|(t, e)| (*t, e.as_str())).collect();
    events.sort_by_key(|e| e.0);
    assert_eq!(summary(&c, &events), vec!["Recon Host=h1 n=3 -180000..120000"]);
}

// The temporal window is inclusive too: the first event exactly `timespan` before the last.
#[test]
fn temporal_window_bounds() {
    let c = recon("temporal", "5m", "");
    let at = |last: i64| {
        let evs = [(0, cmd("h", "whoami")), (100_000, cmd("h", "net user")), (last, cmd("h", "ipconfig"))];
        let events: Vec<(i64, &str)> = evs.iter().map(|(t, e)| (*t, e.as_str())).collect();
        summary(&c, &events)
    };
    assert_eq!(at(300_000), vec!["Recon Host=h n=3 0..300000"]);
    assert!(at(300_001).is_empty());
}

// Decision (rules/correlation.rs): a temporal condition below the number of rules ("2 of 3").
#[test]
fn temporal_with_a_lower_condition() {
    let c = recon("temporal", "5m", "\n    condition: {gte: 2}");
    let evs = [(0, cmd("h2", "whoami")), (1, cmd("h2", "whoami")), (2, cmd("h2", "net user"))];
    let events: Vec<(i64, &str)> = evs.iter().map(|(t, e)| (*t, e.as_str())).collect();
    assert_eq!(summary(&c, &events), vec!["Recon Host=h2 n=2 -299998..2"]);
}

// ====================================================================== temporal_ordered

fn fail_then_success(timespan: &str) -> String {
    format!(
        "title: Failure then success\ncorrelation:\n    type: temporal_ordered\n    rules:\n        - failed_login\n        - successful_login\n    group-by: [User]\n    timespan: {timespan}"
    )
}

// Correlation spec (temporal_ordered: in the order of `rules`) and rsigma test_temporal_ordered
// / test_temporal_ordered_wrong_order.
#[test]
fn temporal_ordered_needs_the_order() {
    let c = fail_then_success("10m");
    let ok_alice = r#""EventID":4624,"User":"alice""#;
    let events = [(0, ok_alice), (1000, FAIL_ALICE), (2000, FAIL_BOB), (3000, OK_BOB)];
    assert_eq!(summary(&c, &events), vec!["Failure then success User=bob n=2 -597000..3000"]);
    // Outside the timespan (inclusive bound): no match.
    assert!(summary(&c, &[(0, FAIL_BOB), (600_001, OK_BOB)]).is_empty());
    assert_eq!(summary(&c, &[(0, FAIL_BOB), (600_000, OK_BOB)]), vec!["Failure then success User=bob n=2 0..600000"]);
}

// rsigma temporal_ordered_interleaved_only_correct_sequence_matches: steps out of order are
// noise; the match is the later, correctly ordered chain.
#[test]
fn temporal_ordered_skips_noise() {
    let c = recon("temporal_ordered", "5m", "");
    let evs = [(0, "ipconfig"), (1, "net user"), (2, "whoami"), (3, "ipconfig"), (4, "net user"), (5, "ipconfig")];
    let evs: Vec<(i64, String)> = evs.iter().map(|(t, c)| (*t, cmd("h", c))).collect();
    let events: Vec<(i64, &str)> = evs.iter().map(|(t, e)| (*t, e.as_str())).collect();
    assert_eq!(summary(&c, &events), vec!["Recon Host=h n=3 -299995..5"]);
    assert!(summary(&c, &events[..5]).is_empty());
}

// Decision (correlate/mod.rs, equal timestamps are ordered by arrival): two events at the same
// ms count in the order they arrived, which for one input is the file order.
#[test]
fn temporal_ordered_equal_timestamps_follow_arrival() {
    let c = fail_then_success("1m");
    assert_eq!(summary(&c, &[(5, FAIL_BOB), (5, OK_BOB)]), vec!["Failure then success User=bob n=2 -59995..5"]);
    assert!(summary(&c, &[(5, OK_BOB), (5, FAIL_BOB)]).is_empty());
}

// Decision (correlate/mod.rs): across inputs, equal times are ordered by (partition, record),
// whatever the number of workers, so the outcome is deterministic.
#[test]
fn equal_timestamps_across_inputs_are_ordered_by_partition() {
    let rules = format!("{}\n---\n{DETECTIONS}", fail_then_success("1m"));
    for workers in [1, 2, 3] {
        let first = replay_parts(&rules, &[&[(5, FAIL_BOB)], &[(5, OK_BOB)]], workers).summary();
        assert_eq!(first, vec!["Failure then success User=bob n=2 -59995..5"], "{workers} workers");
        let second = replay_parts(&rules, &[&[(5, OK_BOB)], &[(5, FAIL_BOB)]], workers).summary();
        assert!(second.is_empty(), "{workers} workers: {second:?}");
    }
}

// ====================================================================== value_sum, value_avg, value_percentile

fn bytes_per_source(kind: &str, condition: &str, extra: &str) -> String {
    format!(
        "title: Traffic\ncorrelation:\n    type: {kind}\n    rules: [outbound_flow]\n    group-by: [source.ip]\n    timespan: 1h\n    condition:\n        field: network.bytes\n        {condition}{extra}"
    )
}

fn flow(ip: &str, bytes: &str) -> String {
    format!(r#""network":{{"direction":"outbound","bytes":{bytes}}},"source":{{"ip":"{ip}"}}"#)
}

fn timed(evs: &[(i64, String)]) -> Vec<(i64, &str)> {
    let mut v: Vec<(i64, &str)> = evs.iter().map(|(t, e)| (*t, e.as_str())).collect();
    v.sort_by_key(|e| e.0);
    v
}

// Correlation spec (value_sum) and rsigma test_window_value_sum: the sum of the field, numeric
// strings included; values that are not numbers are left out.
#[test]
fn value_sum() {
    let c = bytes_per_source("value_sum", "gt: 1000", "");
    let evs = [
        (0, flow("10.0.0.1", "500")),
        (1000, flow("10.0.0.1", "\"600\"")),
        (0, flow("10.0.0.2", "600")),
        (1, flow("10.0.0.2", "\"lots\"")),
        (2, flow("10.0.0.2", "300")),
    ];
    assert_eq!(summary(&c, &timed(&evs)), vec!["Traffic source.ip=10.0.0.1 sum=1100 0..3600000"]);
}

// Decision (correlate/aggregate.rs, anchored windows; inclusive end): sums do not carry over
// from one anchored window into the next.
#[test]
fn value_sum_anchored_windows() {
    let c = bytes_per_source("value_sum", "gt: 1000", "");
    let evs = [(0, flow("10.0.0.3", "600")), (3_600_001, flow("10.0.0.3", "600")), (0, flow("10.0.0.4", "600")), (3_600_000, flow("10.0.0.4", "600"))];
    assert_eq!(summary(&c, &timed(&evs)), vec!["Traffic source.ip=10.0.0.4 sum=1200 0..3600000"]);
}

// Correlation spec (value_avg, float thresholds allowed) and rsigma test_window_value_avg.
#[test]
fn value_avg() {
    let c = bytes_per_source("value_avg", "gte: 199.5", "");
    let evs =
        [(0, flow("10.0.0.1", "100")), (1, flow("10.0.0.1", "200")), (2, flow("10.0.0.1", "300")), (0, flow("10.0.0.2", "100")), (1, flow("10.0.0.2", "200"))];
    assert_eq!(summary(&c, &timed(&evs)), vec!["Traffic source.ip=10.0.0.1 avg=200 0..3600000"]);
}

// Decision (correlate/aggregate.rs): value_percentile defaults to the median (the spec's hint)
// by nearest rank, always a value that occurred. rsigma interpolates linearly
// (test_percentile_linear_interp_interpolation: the median of 10, 20, 30, 40 is 25 there); vigil
// says 20, so `lte: 20` holds here and would not in rsigma.
#[test]
fn value_percentile_median_by_nearest_rank() {
    let c = bytes_per_source("value_percentile", "lte: 20", "");
    let evs = [(0, flow("10.0.0.1", "40")), (1, flow("10.0.0.1", "10")), (2, flow("10.0.0.1", "30")), (3, flow("10.0.0.1", "20"))];
    assert_eq!(summary(&c, &timed(&evs)), vec!["Traffic source.ip=10.0.0.1 p50=20 0..3600000"]);
    // With x-vigil percentile 100 it is the maximum.
    let c = bytes_per_source("value_percentile", "gte: 40", "\nx-vigil:\n    percentile: 100");
    assert_eq!(summary(&c, &timed(&evs)), vec!["Traffic source.ip=10.0.0.1 p100=40 0..3600000"]);
}

// ====================================================================== aliases, references, chains, generate

// Correlation spec (Field Name Aliases example): one entity under different fields per rule.
#[test]
fn aliases_join_different_fields() {
    let c = "title: Error then callback
correlation:
    type: temporal
    rules:
        - internal_error
        - new_network_connection
    group-by:
        - internal_ip
        - remote_ip
    timespan: 10s
    aliases:
        internal_ip:
            internal_error: destination.ip
            new_network_connection: source.ip
        remote_ip:
            internal_error: source.ip
            new_network_connection: destination.ip";
    let error = r#""http":{"response":{"status_code":500}},"source":{"ip":"203.0.113.5"},"destination":{"ip":"10.0.0.5"}"#;
    let callback = r#""event":{"category":"network","outcome":"success"},"source":{"ip":"10.0.0.5"},"destination":{"ip":"203.0.113.5"}"#;
    let same_way = r#""event":{"category":"network","outcome":"success"},"source":{"ip":"203.0.113.5"},"destination":{"ip":"10.0.0.5"}"#;
    assert_eq!(summary(c, &[(0, error), (3000, callback)]), vec!["Error then callback internal_ip=10.0.0.5,remote_ip=203.0.113.5 n=2 -7000..3000"]);
    assert!(summary(c, &[(0, error), (3000, same_way)]).is_empty(), "the addresses must be crossed");
}

// Correlation spec (Related rules: by `id` or by `name`): both name the same rule.
#[test]
fn references_by_id_and_by_name_agree() {
    let by_name = failed_count("    group-by: [User]\n", "1m", "{gte: 2}");
    let by_id = by_name.replace("rules: [failed_login]", "rules: [6f1c1d3a-7e2b-4c2b-9d1e-000000000001]");
    assert_ne!(by_id, by_name);
    let events = [(0, FAIL_BOB), (1, FAIL_BOB)];
    assert_eq!(summary(&by_id, &events), summary(&by_name, &events));
    assert_eq!(summary(&by_id, &events), vec!["Failed logins User=bob n=2 -59999..1"]);
}

/// The spec's "failed logins followed by a successful login" chain.
fn brute_force_chain(generate: &str) -> String {
    format!(
        "title: Brute force then success
correlation:
    type: temporal_ordered
    rules:
        - many_failed
        - successful_login
    group-by: [User]
    timespan: 10m
{generate}---
title: Many failed logins
name: many_failed
correlation:
    type: event_count
    rules: [failed_login]
    group-by: [User]
    timespan: 10m
    condition: {{gte: 3}}"
    )
}

// Correlation spec (Example: a correlation over a correlation, with `name` references). The
// inner alert counts at its window end; only the outer correlation raises incidents
// (generate defaults to false).
#[test]
fn chained_correlations() {
    let c = brute_force_chain("");
    let ok_alice = r#""EventID":4624,"User":"alice""#;
    let fail_carol = r#""EventID":4625,"User":"carol""#;
    let ok_carol = r#""EventID":4624,"User":"carol""#;
    let events = [
        (0, FAIL_BOB),
        (0, ok_carol),
        (1000, FAIL_BOB),
        (1000, FAIL_ALICE),
        (2000, FAIL_BOB),
        (2000, FAIL_ALICE),
        (3000, fail_carol),
        (4000, fail_carol),
        (5000, fail_carol),
        (60_000, OK_BOB),
        (60_000, ok_alice),
    ];
    assert_eq!(summary(&c, &events), vec!["Brute force then success User=bob n=2 -540000..60000"]);
}

// Decision (pipeline/project.rs, forward_alert: an inner alert feeds the outer correlation at its window end). With an
// inner correlation decided at close (`lte`), that is the end of its anchored window, so the
// outer sequence starts there, not at the inner events.
#[test]
fn chained_correlation_decided_at_close() {
    let c = "title: Few failures then success
correlation:
    type: temporal_ordered
    rules: [few_failed, successful_login]
    group-by: [User]
    timespan: 10m
---
title: Few failed logins
name: few_failed
correlation:
    type: event_count
    rules: [failed_login]
    group-by: [User]
    timespan: 10m
    condition: {lte: 3}";
    let early = [(0, FAIL_BOB), (1000, FAIL_BOB)];
    let with = |t: i64| {
        let mut v = early.to_vec();
        v.push((t, OK_BOB));
        summary(c, &v)
    };
    assert_eq!(with(650_000), vec!["Few failures then success User=bob n=2 50000..650000"]);
    assert!(with(300_000).is_empty(), "the success precedes the inner window's end");
    assert!(with(1_200_001).is_empty(), "more than 10m after the inner window's end");
    assert_eq!(with(1_200_000), vec!["Few failures then success User=bob n=2 600000..1200000"]);
}

// Correlation spec (generate) and rsigma test_generate_flag_default_false /
// test_generate_true_keeps_detections. Decision (rules/correlation.rs): `generate: true` on a
// correlation lets the rules it references directly raise their own incidents too; a rule that
// no correlation references always does.
#[test]
fn generate_true_lets_referenced_rules_emit() {
    let c = brute_force_chain("generate: true\n");
    let events = [(0, FAIL_BOB), (1000, FAIL_BOB), (2000, FAIL_BOB), (3000, r#""EventID":1,"CommandLine":"whoami""#), (60_000, OK_BOB)];
    let s = summary(&c, &events);
    assert_eq!(
        s,
        vec![
            "Many failed logins User=bob n=3 -598000..2000",
            "Recon whoami - n=1 3000..3000",
            // Equal times are written in id order.
            "Successful login - n=1 60000..60000",
            "Brute force then success User=bob n=2 -540000..60000",
        ]
    );
    // Without generate: the failed-login rule, two levels down, never emits; whoami (referenced by
    // nothing) still does.
    let s = summary(&brute_force_chain(""), &events);
    assert_eq!(s, vec!["Recon whoami - n=1 3000..3000", "Brute force then success User=bob n=2 -540000..60000"]);
}

// ====================================================================== order independence

/// Incidents without their evidence order: (id, summary, sorted evidence).
fn canonical(run: &Run) -> Vec<(String, String, Vec<String>)> {
    let mut v: Vec<(String, String, Vec<String>)> = run
        .incidents
        .iter()
        .map(|i| {
            let mut ev: Vec<String> = i["vigil"]["evidence"].as_array().map(|a| a.iter().map(Json::to_string).collect()).unwrap_or_default();
            ev.sort();
            (i["event"]["id"].as_str().unwrap_or_default().to_string(), summarize(i), ev)
        })
        .collect();
    v.sort();
    v
}

// Decision (correlate/mod.rs: the alert set depends on each key's sequence only): for the
// order-free types, events at the same ms in a different order give the same incidents (same
// ids, values, windows and evidence).
#[test]
fn same_ms_in_any_order_gives_the_same_incidents() {
    let user = |u: &str| format!(r#""EventID":4625,"SourceIp":"192.0.2.1","TargetUserName":"{u}","User":"{u}""#);
    let (a, b, c) = (user("a"), user("b"), user("c"));
    let orders = [[&a, &b, &c], [&c, &a, &b], [&b, &c, &a]];
    let correlations = [users_per_source("gte: 3"), users_per_source("eq: 3"), failed_count("    group-by: [SourceIp]\n", "1m", "{gte: 3}")];
    for corr in &correlations {
        let runs: Vec<_> = orders.iter().map(|o| canonical(&replay(corr, &[(7, o[0].as_str()), (7, o[1].as_str()), (7, o[2].as_str())]))).collect();
        assert_eq!(runs[0].len(), 1, "{corr}");
        assert_eq!(runs[0], runs[1], "{corr}");
        assert_eq!(runs[0], runs[2], "{corr}");
    }
    let recon = recon("temporal", "1m", "");
    let (w, n, i) = (cmd("h", "whoami"), cmd("h", "net user"), cmd("h", "ipconfig"));
    let runs: Vec<_> =
        [[&w, &n, &i], [&i, &n, &w]].iter().map(|o| canonical(&replay(&recon, &[(7, o[0].as_str()), (7, o[1].as_str()), (7, o[2].as_str())]))).collect();
    assert_eq!(runs[0].len(), 1);
    assert_eq!(runs[0], runs[1]);
}

// Decision (correlate/mod.rs and the in-order operator): events reordered within the allowed
// lateness are correlated in event-time order, so the input order does not matter.
#[test]
fn out_of_order_input_within_lateness() {
    let c = failed_count("    group-by: [User]\n", "10s", "{gte: 3}");
    let sorted = summary(&c, &[(0, FAIL_BOB), (5000, FAIL_BOB), (10_000, FAIL_BOB)]);
    assert_eq!(sorted, vec!["Failed logins User=bob n=3 0..10000"]);
    assert_eq!(summary(&c, &[(5000, FAIL_BOB), (10_000, FAIL_BOB), (0, FAIL_BOB)]), sorted);
    assert_eq!(summary(&c, &[(10_000, FAIL_BOB), (0, FAIL_BOB), (5000, FAIL_BOB)]), sorted);
}

// ====================================================================== one event, several referenced rules

/// A correlation of `kind` over the whoami and net-user rules (in `rules` order) by host.
fn two_recon_rules(kind: &str, rules: &str, condition: &str) -> String {
    format!("title: Both\ncorrelation:\n    type: {kind}\n    rules: {rules}\n    group-by: [Host]\n    timespan: 1m{condition}")
}

// Decision (correlate/temporal.rs: an event that matched several referenced rules counts for
// each of them). rsigma's feed_detections does the same (one temporal entry per matched rule).
#[test]
fn temporal_one_event_may_satisfy_two_rules() {
    let both = cmd("h", "whoami & net user x");
    for rules in ["[recon_whoami, recon_net_user]", "[recon_net_user, recon_whoami]"] {
        assert_eq!(summary(&two_recon_rules("temporal", rules, ""), &[(0, both.as_str())]), vec!["Both Host=h n=2 -60000..0"], "{rules}");
    }
}

// Correlation spec (event_count "counts events"): an event matching two of the referenced rules
// is one event. vigil counts it once per matched rule today (as rsigma's feed_detections does),
// because replay's Detect operator sends one projection per (matched rule, correlation); the fix
// belongs in src/pipeline/detect.rs (one projection per event and correlation). Kept here, ignored,
// as the conformance target.
#[test]
fn event_count_counts_an_event_once_whatever_rules_it_matches() {
    let both = cmd("h", "whoami & net user x");
    let once = two_recon_rules("event_count", "[recon_whoami, recon_net_user]", "\n    condition: {eq: 1}");
    assert_eq!(summary(&once, &[(0, both.as_str())]), vec!["Both Host=h n=1 0..60000"]);
    let twice = two_recon_rules("event_count", "[recon_whoami, recon_net_user]", "\n    condition: {gte: 2}");
    assert!(summary(&twice, &[(0, both.as_str())]).is_empty());
}

// Decision (correlate/ordered.rs: "one event advances a chain by at most one step, even if it
// matches several steps"), so a single event cannot complete a two-step sequence, whatever the
// order of the rules in the files. Through replay it does when the `rules` order matches the rule
// files' order (replay sends one projection per matched rule, in rule-file order); the fix
// belongs in src/pipeline/detect.rs (one projection per event with all its rule bits).
#[test]
fn temporal_ordered_one_event_is_one_step() {
    let both = cmd("h", "whoami & net user x");
    for rules in ["[recon_whoami, recon_net_user]", "[recon_net_user, recon_whoami]"] {
        assert!(summary(&two_recon_rules("temporal_ordered", rules, ""), &[(0, both.as_str())]).is_empty(), "{rules}");
    }
}
