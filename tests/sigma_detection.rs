//! Sigma detection conformance, written from the specification (rules spec v2.1 and the
//! modifiers appendix): every modifier with values that must and must not match, wildcards and
//! escapes, case, null and empty values, keywords, conditions, and rule-file errors.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use proptest::prelude::*;
use vigil::event::field::intern;
use vigil::event::{Event, Value};
use vigil::rules::{CompileOptions, RuleError, RuleSet};

/// A test value for an event field.
#[derive(Clone, Debug)]
enum V {
    S(&'static str),
    O(String),
    I(i64),
    F(f64),
    B(bool),
    Ip(&'static str),
    Null,
    L(Vec<V>),
}

fn to_value(ev: &mut Event, v: &V) -> Value {
    match v {
        V::S(s) => Value::Str(ev.alloc_str(s)),
        V::O(s) => Value::Str(ev.alloc_str(s)),
        V::I(i) => Value::Int(*i),
        V::F(f) => Value::Float(*f),
        V::B(b) => Value::Bool(*b),
        V::Ip(s) => Value::Ip(s.parse::<IpAddr>().unwrap()),
        V::Null => Value::Null,
        V::L(items) => {
            let vals: Vec<Value> = items.iter().map(|i| to_value(ev, i)).collect();
            ev.alloc_list(&vals)
        }
    }
}

fn ev(fields: &[(&str, V)]) -> Event {
    let mut e = Event::at(1_700_000_000_000);
    for (name, v) in fields {
        let value = to_value(&mut e, v);
        e.push(intern(name).unwrap(), value);
    }
    e
}

fn compile_with(detection: &str, opts: &CompileOptions) -> Result<RuleSet, Vec<RuleError>> {
    let body: String = detection.lines().map(|l| format!("    {l}\n")).collect();
    let text = format!("title: t\nlogsource:\n    product: test\ndetection:\n{body}");
    RuleSet::from_str(Path::new("t.yml"), &text, opts)
}

fn rule(detection: &str) -> RuleSet {
    match compile_with(detection, &CompileOptions::default()) {
        Ok(r) => r,
        Err(e) => panic!("{detection}\n{}", e.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("\n")),
    }
}

fn hit(rules: &RuleSet, e: &Event) -> bool {
    let mut out = Vec::new();
    rules.matching(e, &mut out);
    !out.is_empty()
}

/// Asserts that a one-field rule matches each of `yes` and none of `no` (values of `field`).
fn check(detection: &str, field: &str, yes: &[V], no: &[V]) {
    let r = rule(detection);
    for v in yes {
        assert!(hit(&r, &ev(&[(field, v.clone())])), "{detection}\nshould match {v:?}");
    }
    for v in no {
        assert!(!hit(&r, &ev(&[(field, v.clone())])), "{detection}\nshould not match {v:?}");
    }
}

fn errors(detection: &str) -> Vec<String> {
    match compile_with(detection, &CompileOptions::default()) {
        Ok(_) => panic!("should fail:\n{detection}"),
        Err(e) => e.iter().map(|e| e.to_string()).collect(),
    }
}

#[test]
fn plain_values_are_case_insensitive_exact() {
    check("sel:\n  Image: 'C:\\Windows\\cmd.exe'\ncondition: sel", "Image", &[V::S("c:\\windows\\CMD.EXE")], &[V::S("c:\\windows\\cmd.exe2"), V::S("cmd.exe")]);
    check("sel:\n  User: 'ÄDMIN'\ncondition: sel", "User", &[V::S("ädmin"), V::S("Ädmin")], &[V::S("admin")]);
}

#[test]
fn cased_modifier() {
    check("sel:\n  Image|cased: 'Cmd.exe'\ncondition: sel", "Image", &[V::S("Cmd.exe")], &[V::S("cmd.exe")]);
    check("sel:\n  Image|contains|cased: 'Evil'\ncondition: sel", "Image", &[V::S("xEvily")], &[V::S("xevily")]);
}

#[test]
fn contains_startswith_endswith() {
    check("sel:\n  F|contains: 'mimi'\ncondition: sel", "F", &[V::S("xxMIMIkatz"), V::S("mimi")], &[V::S("mim"), V::S("")]);
    check("sel:\n  F|startswith: 'adm'\ncondition: sel", "F", &[V::S("Administrator"), V::S("adm")], &[V::S("xadm")]);
    check("sel:\n  F|endswith: '\\cmd.exe'\ncondition: sel", "F", &[V::S("C:\\x\\CMD.exe")], &[V::S("C:\\x\\cmd.exe ")]);
    check("sel:\n  F|contains: 'über'\ncondition: sel", "F", &[V::S("ÜBERALL"), V::S("ganz über")], &[V::S("uber")]);
}

#[test]
fn value_lists_or_and_all() {
    check("sel:\n  F|contains:\n    - a1\n    - b2\ncondition: sel", "F", &[V::S("xa1"), V::S("b2x")], &[V::S("c3")]);
    check("sel:\n  F|contains|all:\n    - a1\n    - b2\ncondition: sel", "F", &[V::S("a1 b2"), V::S("B2A1")], &[V::S("a1"), V::S("b2")]);
}

#[test]
fn wildcards_and_escapes() {
    check("sel:\n  F: 'prog?.exe'\ncondition: sel", "F", &[V::S("progA.exe"), V::S("PROGb.EXE")], &[V::S("prog.exe"), V::S("progAB.exe")]);
    check("sel:\n  F: 'antivirus_V*.exe'\ncondition: sel", "F", &[V::S("antivirus_V21.2.1.exe"), V::S("antivirus_V.exe")], &[V::S("antivirus_V1.exe2")]);
    check("sel:\n  F: 'a\\*b'\ncondition: sel", "F", &[V::S("a*b")], &[V::S("axxb"), V::S("ab")]);
    check("sel:\n  F: 'a\\?b'\ncondition: sel", "F", &[V::S("a?b")], &[V::S("axb")]);
    // `\\*` is a backslash followed by a wildcard.
    check("sel:\n  F: 'a\\\\*'\ncondition: sel", "F", &[V::S("a\\"), V::S("a\\anything")], &[V::S("ab")]);
    // `\\\*`: a backslash and a literal star.
    check("sel:\n  F: 'a\\\\\\*'\ncondition: sel", "F", &[V::S("a\\*")], &[V::S("a\\x")]);
    // A single backslash before other characters is plain; `\\` alone is one backslash too.
    check("sel:\n  F: 'C:\\Windows\\\\x'\ncondition: sel", "F", &[V::S("C:\\Windows\\x")], &[V::S("C:\\Windows\\\\x")]);
    check("sel:\n  F: '*'\ncondition: sel", "F", &[V::S(""), V::S("x"), V::I(3)], &[V::Null]);
    check("sel:\n  F|contains: 'a*b'\ncondition: sel", "F", &[V::S("xxaYYbxx")], &[V::S("ba")]);
}

#[test]
fn null_and_empty() {
    let r = rule("sel:\n  F: null\ncondition: sel");
    assert!(hit(&r, &ev(&[("G", V::S("x"))])), "missing field is null");
    assert!(hit(&r, &ev(&[("F", V::Null)])));
    assert!(!hit(&r, &ev(&[("F", V::S(""))])));
    assert!(!hit(&r, &ev(&[("F", V::S("x"))])));
    let r = rule("sel:\n  F: ''\ncondition: sel");
    assert!(hit(&r, &ev(&[("F", V::S(""))])));
    assert!(!hit(&r, &ev(&[("G", V::S(""))])), "missing is not empty");
    assert!(!hit(&r, &ev(&[("F", V::S(" "))])));
    let r = rule("sel:\n  EventID: 4738\nfilter:\n  PasswordLastSet: null\ncondition: sel and not filter");
    assert!(hit(&r, &ev(&[("EventID", V::I(4738)), ("PasswordLastSet", V::S("x"))])));
    assert!(!hit(&r, &ev(&[("EventID", V::I(4738))])));
}

#[test]
fn exists_modifier() {
    let r = rule("sel:\n  F|exists: true\ncondition: sel");
    assert!(hit(&r, &ev(&[("F", V::Null)])), "exists checks presence only");
    assert!(hit(&r, &ev(&[("F", V::S(""))])));
    assert!(!hit(&r, &ev(&[("G", V::S("x"))])));
    let r = rule("sel:\n  F|exists: false\ncondition: sel");
    assert!(!hit(&r, &ev(&[("F", V::S("x"))])));
    assert!(hit(&r, &ev(&[("G", V::S("x"))])));
    assert!(errors("sel:\n  F|exists: yes please\ncondition: sel")[0].contains("exists takes a single true or false"));
}

#[test]
fn numbers_strings_and_booleans() {
    check("sel:\n  EventID: 4688\ncondition: sel", "EventID", &[V::I(4688), V::F(4688.0), V::S("4688")], &[V::I(4689), V::S("04689")]);
    check("sel:\n  EventID: '4688'\ncondition: sel", "EventID", &[V::I(4688), V::S("4688")], &[V::I(46880)]);
    check("sel:\n  EventID|startswith: '46'\ncondition: sel", "EventID", &[V::I(4688)], &[V::I(5688)]);
    check("sel:\n  F: 9007199254740993\ncondition: sel", "F", &[V::I(9_007_199_254_740_993)], &[V::I(9_007_199_254_740_992)]);
    check("sel:\n  F: 0x17\ncondition: sel", "F", &[V::I(23), V::S("0x17")], &[V::I(17)]);
    check("sel:\n  F: true\ncondition: sel", "F", &[V::B(true), V::S("True")], &[V::B(false), V::S("1")]);
    check("sel:\n  F: 'false'\ncondition: sel", "F", &[V::B(false)], &[V::B(true)]);
}

#[test]
fn lists_in_events_match_any_item() {
    check(
        "sel:\n  event.category: authentication\ncondition: sel",
        "event.category",
        &[V::L(vec![V::S("network"), V::S("Authentication")])],
        &[V::L(vec![V::S("network")]), V::L(vec![])],
    );
    check("sel:\n  F|contains|all: [a1, b2]\ncondition: sel", "F", &[V::L(vec![V::S("a1"), V::S("b2")])], &[V::L(vec![V::S("a1")])]);
}

#[test]
fn numeric_comparisons() {
    check("sel:\n  F|gt: 10\ncondition: sel", "F", &[V::I(11), V::F(10.5), V::S("11")], &[V::I(10), V::S("abc"), V::S("9"), V::Null]);
    check("sel:\n  F|gte: 10\ncondition: sel", "F", &[V::I(10), V::S(" 10 ")], &[V::I(9)]);
    check("sel:\n  F|lt: -1.5\ncondition: sel", "F", &[V::I(-2), V::F(-1.6)], &[V::F(-1.5), V::I(0)]);
    check("sel:\n  F|lte: '100'\ncondition: sel", "F", &[V::I(100), V::S("99.9")], &[V::I(101)]);
    assert!(errors("sel:\n  F|lt: abc\ncondition: sel")[0].contains("need a number"));
}

#[test]
fn regular_expressions_and_flags() {
    check("sel:\n  F|re: '^ab+c$'\ncondition: sel", "F", &[V::S("abbbc")], &[V::S("ABC"), V::S("ac")]);
    check("sel:\n  F|re: 'b+c'\ncondition: sel", "F", &[V::S("xxbcxx")], &[V::S("xxBC")]);
    check("sel:\n  F|re|i: '^ab+c$'\ncondition: sel", "F", &[V::S("ABBC")], &[V::S("xabc")]);
    check("sel:\n  F|re|m: '^line2$'\ncondition: sel", "F", &[V::S("line1\nline2\nline3")], &[V::S("line1 line2")]);
    check("sel:\n  F|re: '^a.b$'\ncondition: sel", "F", &[V::S("axb")], &[V::S("a\nb")]);
    check("sel:\n  F|re|s: '^a.b$'\ncondition: sel", "F", &[V::S("a\nb")], &[V::S("ab")]);
    check("sel:\n  F|re|i|m|s: '^A.B$'\ncondition: sel", "F", &[V::S("x\na\nb")], &[V::S("ab")]);
    check("sel:\n  F|re: '^4[0-9]{3}$'\ncondition: sel", "F", &[V::I(4688)], &[V::I(46880)]);
}

#[test]
fn cidr_v4_v6() {
    let d = "sel:\n  F|cidr:\n    - 10.0.0.0/8\n    - 'fe80::/10'\ncondition: sel";
    check(
        d,
        "F",
        &[V::Ip("10.2.3.4"), V::S("10.2.3.4"), V::Ip("fe80::1"), V::S("FE80::abcd"), V::Ip("::ffff:10.9.9.9")],
        &[V::Ip("11.0.0.1"), V::S("10.0.0"), V::S("x"), V::Ip("2001:db8::1"), V::I(10)],
    );
    check("sel:\n  F|cidr: 192.168.1.7/32\ncondition: sel", "F", &[V::Ip("192.168.1.7")], &[V::Ip("192.168.1.8")]);
    // String patterns test the text form of IP values.
    check("sel:\n  F|startswith: '192.168.'\ncondition: sel", "F", &[V::Ip("192.168.0.1")], &[V::Ip("10.0.0.1")]);
}

#[test]
fn base64_and_base64offset() {
    let enc = |s: &[u8]| base64::engine::general_purpose::STANDARD.encode(s);
    check("sel:\n  F|base64: 'cmd'\ncondition: sel", "F", &[V::O(enc(b"cmd"))], &[V::O(enc(b"cmd").to_lowercase()), V::S("cmd")]);
    let d = "sel:\n  F|base64offset|contains: '/bin/bash'\ncondition: sel";
    let yes: Vec<V> = ["", "x", "xy", "abc", "abcd"].iter().map(|p| V::O(enc(format!("{p}/bin/bash -i >& /dev/tcp").as_bytes()))).collect();
    check(d, "F", &yes, &[V::O(enc(b"/bin/sh -i")), V::O(enc(b"/bin/bash").to_lowercase())]);
}

#[test]
fn utf16_variants() {
    let enc = |s: &[u8]| base64::engine::general_purpose::STANDARD.encode(s);
    let le: Vec<u8> = "ping".encode_utf16().flat_map(|u| u.to_le_bytes()).collect();
    let be: Vec<u8> = "ping".encode_utf16().flat_map(|u| u.to_be_bytes()).collect();
    let bom: Vec<u8> = [0xFF, 0xFE].into_iter().chain(le.clone()).collect();
    check("sel:\n  F|utf16le|base64: ping\ncondition: sel", "F", &[V::O(enc(&le))], &[V::O(enc(&be)), V::O(enc(b"ping"))]);
    check(
        "sel:\n  F|wide|base64offset|contains: ping\ncondition: sel",
        "F",
        &[V::O(enc(&[b"zz".as_slice(), &le].concat())), V::O(enc(&[b"z".as_slice(), &le].concat()))],
        &[V::O(enc(&be))],
    );
    check("sel:\n  F|utf16be|base64: ping\ncondition: sel", "F", &[V::O(enc(&be))], &[V::O(enc(&le))]);
    check("sel:\n  F|utf16|base64: ping\ncondition: sel", "F", &[V::O(enc(&bom))], &[V::O(enc(&le))]);
    // Without base64 the UTF-16LE of ASCII text is matched as it is (NUL bytes included).
    check("sel:\n  F|wide|contains: 'ab'\ncondition: sel", "F", &[V::S("xa\0b\0y")], &[V::S("ab")]);
}

#[test]
fn windash_permutations() {
    let d = "sel:\n  CommandLine|windash|contains: ' -enc '\ncondition: sel";
    check(
        d,
        "CommandLine",
        &[
            V::S("powershell -enc AAA"),
            V::S("powershell /enc AAA"),
            V::S("powershell \u{2013}enc A"),
            V::S("powershell \u{2014}enc A"),
            V::S("powershell \u{2015}ENC A"),
        ],
        &[V::S("powershell enc AAA"), V::S("powershell +enc A")],
    );
}

#[test]
fn fieldref_compares_fields() {
    let r = rule("sel:\n  Image|fieldref: ParentImage\ncondition: sel");
    assert!(hit(&r, &ev(&[("Image", V::S("C:\\a.exe")), ("ParentImage", V::S("c:\\A.EXE"))])));
    assert!(!hit(&r, &ev(&[("Image", V::S("C:\\a.exe")), ("ParentImage", V::S("C:\\b.exe"))])));
    assert!(!hit(&r, &ev(&[("Image", V::S("C:\\a.exe"))])), "missing referenced field");
    let r = rule("sel:\n  TargetFilename|fieldref|startswith: Image\ncondition: sel");
    assert!(hit(&r, &ev(&[("TargetFilename", V::S("C:\\x\\setup.exe.tmp")), ("Image", V::S("C:\\X\\setup.exe"))])));
    assert!(!hit(&r, &ev(&[("TargetFilename", V::S("D:\\setup.exe")), ("Image", V::S("C:\\setup.exe"))])));
    let r = rule("sel:\n  Port|fieldref: OtherPort\ncondition: sel");
    assert!(hit(&r, &ev(&[("Port", V::I(22)), ("OtherPort", V::S("22"))])));
}

#[test]
fn neq_modifier() {
    let r = rule("sel:\n  F|neq:\n    - a\n    - b\ncondition: sel");
    assert!(hit(&r, &ev(&[("F", V::S("c"))])));
    assert!(!hit(&r, &ev(&[("F", V::S("A"))])));
    assert!(!hit(&r, &ev(&[("G", V::S("c"))])), "neq needs the field");
}

#[test]
fn keywords_search_every_string_field() {
    let r = rule("keywords:\n  - 'event::clear'\n  - 'event::drop'\ncondition: keywords");
    assert!(hit(&r, &ev(&[("message", V::S("mimikatz # EVENT::Clear now"))])));
    assert!(hit(&r, &ev(&[("process.command_line", V::S("x event::drop y"))])));
    assert!(hit(&r, &ev(&[("tags", V::L(vec![V::I(1), V::S("event::drop")]))])));
    assert!(!hit(&r, &ev(&[("message", V::S("event:clear"))])));
    let r = rule("keywords:\n  '|all':\n    - 'OabVirtualDirectory'\n    - ' -ExternalUrl '\ncondition: keywords");
    assert!(hit(&r, &ev(&[("message", V::S("Set-OabVirtualDirectory -ExternalUrl http://x"))])));
    assert!(hit(&r, &ev(&[("a", V::S("Set-OabVirtualDirectory")), ("b", V::S(" -ExternalUrl "))])));
    assert!(!hit(&r, &ev(&[("message", V::S("Set-OabVirtualDirectory"))])));
    let r = rule("keywords: 'single'\ncondition: keywords");
    assert!(hit(&r, &ev(&[("m", V::S("a single b"))])));
    let r = rule("keywords:\n  '|re': '^start'\ncondition: keywords");
    assert!(hit(&r, &ev(&[("m", V::S("start here"))])));
    assert!(!hit(&r, &ev(&[("m", V::S("not start"))])));
}

#[test]
fn list_of_maps_is_or_and_maps_are_and() {
    let r = rule("sel:\n  - Image|endswith: '\\a.exe'\n    User: bob\n  - Image|endswith: '\\b.exe'\ncondition: sel");
    assert!(hit(&r, &ev(&[("Image", V::S("C:\\a.exe")), ("User", V::S("BOB"))])));
    assert!(!hit(&r, &ev(&[("Image", V::S("C:\\a.exe")), ("User", V::S("alice"))])));
    assert!(hit(&r, &ev(&[("Image", V::S("C:\\b.exe"))])));
}

#[test]
fn quantifiers_and_them() {
    let d = "selection_a:\n  A: 1\nselection_b:\n  B: 1\n_ignored:\n  C: 1\n";
    let one = rule(&format!("{d}condition: 1 of selection_*"));
    let all = rule(&format!("{d}condition: all of selection_*"));
    let them1 = rule(&format!("{d}condition: 1 of them"));
    let them_all = rule(&format!("{d}condition: all of them"));
    let a = ev(&[("A", V::I(1))]);
    let ab = ev(&[("A", V::I(1)), ("B", V::I(1))]);
    let c = ev(&[("C", V::I(1))]);
    assert!(hit(&one, &a) && hit(&one, &ab) && !hit(&one, &c));
    assert!(!hit(&all, &a) && hit(&all, &ab));
    assert!(hit(&them1, &a) && !hit(&them1, &c), "them excludes _ identifiers");
    assert!(hit(&them_all, &ab), "all of them does not require _ignored");
}

#[test]
fn precedence_and_parentheses() {
    let d = "a:\n  A: 1\nb:\n  B: 1\nc:\n  C: 1\n";
    let r = rule(&format!("{d}condition: a or b and not c"));
    assert!(hit(&r, &ev(&[("A", V::I(1)), ("C", V::I(1))])), "a alone suffices");
    assert!(hit(&r, &ev(&[("B", V::I(1))])));
    assert!(!hit(&r, &ev(&[("B", V::I(1)), ("C", V::I(1))])));
    let r = rule(&format!("{d}condition: (a or b) and not c"));
    assert!(!hit(&r, &ev(&[("A", V::I(1)), ("C", V::I(1))])));
    let r = rule(&format!("{d}condition: not (a and (b or not c))"));
    assert!(hit(&r, &ev(&[("A", V::I(1)), ("C", V::I(1))])));
    assert!(!hit(&r, &ev(&[("A", V::I(1))])));
    let r = rule(&format!("{d}condition:\n  - a and b\n  - c"));
    assert!(hit(&r, &ev(&[("C", V::I(1))])), "a condition list is an OR");
}

#[test]
fn dotted_ecs_field_names() {
    check("sel:\n  source.ip|cidr: 203.0.113.0/24\ncondition: sel", "source.ip", &[V::Ip("203.0.113.9")], &[V::Ip("198.51.100.1")]);
}

#[test]
fn expand_placeholders() {
    let mut opts = CompileOptions::default();
    opts.placeholders.insert("Admins".into(), vec!["root".into(), "adm*".into()]);
    let r = compile_with("sel:\n  User|expand: '%Admins%'\ncondition: sel", &opts).unwrap();
    assert!(hit(&r, &ev(&[("User", V::S("ROOT"))])));
    assert!(hit(&r, &ev(&[("User", V::S("admin"))])));
    assert!(!hit(&r, &ev(&[("User", V::S("bob"))])));
    let r = compile_with("sel:\n  User|expand: 'x\\%y'\ncondition: sel", &opts).unwrap();
    assert!(hit(&r, &ev(&[("User", V::S("x%y"))])));
    // No values configured: the value never matches and a warning names it.
    let r = rule("sel:\n  User|expand: '%Unknown%'\ncondition: sel");
    assert_eq!(r.warnings.len(), 1);
    assert!(r.warnings[0].to_string().contains("t.yml:6: detection.sel.User|expand: placeholder %Unknown%"), "{}", r.warnings[0]);
    assert!(!hit(&r, &ev(&[("User", V::S("%Unknown%"))])));
}

#[test]
fn errors_name_file_line_and_path() {
    let e = errors("selection:\n  CommandLine|contians: x\ncondition: selection");
    assert_eq!(e, vec!["t.yml:6: detection.selection.CommandLine|contians: unknown modifier \"contians\"".to_string()]);
    assert!(errors("sel:\n  F|re: '(x'\ncondition: sel")[0].contains("invalid regular expression"));
    assert!(errors("sel:\n  F|cidr: 10.0.0.0/40\ncondition: sel")[0].contains("bad prefix length"));
    assert!(errors("sel:\n  F: 1\ncondition: sel and nope")[0].contains("t.yml:7: detection.condition: undefined search identifier \"nope\""));
    assert!(errors("condition: sel")[0].contains("no search identifiers"));
    assert!(errors("sel:\n  F: 1")[0].contains("missing condition"));
    assert!(errors("sel: {}\ncondition: sel")[0].contains("empty selection"));
    assert!(errors("sel:\n  F|base64: 'a*'\ncondition: sel")[0].contains("wildcards"));
    assert!(errors("sel:\n  F: 1\ncondition: sel | count() > 5")[0].contains("aggregation"));
    assert!(errors("sel:\n  F|minute: 5\ncondition: sel")[0].contains("not supported"));
}

#[test]
fn fixture_files() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/sigma");
    let set = RuleSet::load(&[dir.join("multi.yml")], &CompileOptions::default()).unwrap();
    assert_eq!(set.len(), 1);
    assert_eq!(set.correlations.len(), 1);
    assert_eq!(set.correlations[0].title.as_deref(), Some("Many failed SSH logins"));
    assert!(set.correlations[0].node.get("correlation").is_some());
    let r = &set.rules[0];
    assert_eq!(r.id.as_deref(), Some("0b7c3a66-0a1f-4c39-9f57-1f0d5c1f0001"));
    assert_eq!(r.level.as_deref(), Some("low"));
    assert_eq!(r.tags, vec!["attack.credential-access", "attack.t1110"]);
    assert_eq!(r.logsource.service.as_deref(), Some("auth"));
    let mut e = Event::at(0);
    e.push(vigil::event::field::known::SSH_EVENT, Value::Sym("Failed"));
    e.push(vigil::event::field::known::EVENT_OUTCOME, Value::Sym("failure"));
    assert!(r.matches(&e));

    let errs = RuleSet::load(&[dir.join("broken.yml")], &CompileOptions::default()).unwrap_err();
    let text: Vec<String> = errs.iter().map(|e| e.to_string()).collect();
    let name = dir.join("broken.yml").display().to_string();
    assert!(text.contains(&format!("{name}:8: detection.selection.CommandLine|contians: unknown modifier \"contians\"")), "{text:#?}");
    assert!(text.iter().any(|t| t.starts_with(&format!("{name}:10: detection.filter.SourceIp|cidr: invalid CIDR"))), "{text:#?}");
    assert!(text.iter().any(|t| t.starts_with(&format!("{name}:12: detection.other.CommandLine|re: invalid regular expression"))), "{text:#?}");
    assert!(text.iter().any(|t| t.starts_with(&format!("{name}:13: detection.condition: undefined search identifier \"missing\""))), "{text:#?}");

    let set = RuleSet::load(&[dir.join("collection.yml")], &CompileOptions::default()).unwrap();
    let titles: Vec<&str> = set.rules.iter().map(|r| r.title.as_str()).collect();
    assert_eq!(titles, vec!["Whoami and hostname", "Hostname from cmd", "Standalone"]);
    assert_eq!(set.rules[1].level.as_deref(), Some("medium"), "repeat keeps the previous rule's attributes");
    let proc = |image: &'static str| ev(&[("ParentImage", V::S("C:\\Windows\\cmd.exe")), ("Image", V::S(image))]);
    assert!(set.rules[0].matches(&proc("C:\\x\\whoami.exe")));
    assert!(!set.rules[0].matches(&proc("C:\\x\\hostname.exe")));
    assert!(set.rules[1].matches(&proc("C:\\x\\hostname.exe")));
    assert!(!set.rules[1].matches(&proc("C:\\x\\whoami.exe")));
    assert_eq!(set.rules[2].logsource.product.as_deref(), Some("linux"), "reset drops the global content");
    assert!(set.rules[2].logsource.category.is_none());

    let errs = RuleSet::load(&[dir.join("bad_action.yml")], &CompileOptions::default()).unwrap_err();
    assert!(errs[0].to_string().ends_with("bad_action.yml:2: action: unknown action \"merge\": expected global, reset or repeat"), "{}", errs[0]);

    // A directory loads every file and collects every file's errors.
    let errs = RuleSet::load(&[dir], &CompileOptions::default()).unwrap_err();
    assert!(errs.len() >= 5);
}

#[test]
fn missing_attributes_and_yaml_errors() {
    let e = RuleSet::from_str(Path::new("x.yml"), "title: t\ndetection:\n  sel:\n    A: 1\n  condition: sel\n", &CompileOptions::default()).unwrap_err();
    assert_eq!(e[0].to_string(), "x.yml:1: logsource: missing required attribute");
    let e = RuleSet::from_str(Path::new("x.yml"), "title: t\nlogsource: {}\ndetection: [1,\n", &CompileOptions::default()).unwrap_err();
    assert!(e[0].to_string().starts_with("x.yml:"), "{}", e[0]);
    assert!(e[0].message.starts_with("YAML"));
}

fn arb_value() -> impl Strategy<Value = V> {
    let scalar = prop_oneof![
        ".{0,40}".prop_map(V::O),
        any::<i64>().prop_map(V::I),
        any::<f64>().prop_map(V::F),
        any::<bool>().prop_map(V::B),
        Just(V::Null),
        Just(V::Ip("10.1.2.3")),
        Just(V::Ip("fe80::1")),
    ];
    prop_oneof![scalar.clone(), prop::collection::vec(scalar, 0..4).prop_map(V::L)]
}

proptest! {
    #[test]
    fn matcher_never_panics(values in prop::collection::vec(arb_value(), 1..6)) {
        let r = rule(concat!(
            "a:\n  F|contains|all: ['x', 'İ', 'ß']\n  G|re|i: '^a.*b$'\n",
            "b:\n  F|cidr: ['10.0.0.0/8', '::/0']\n  G|gt: 3\n",
            "c:\n  F|windash|endswith: '-ẞ'\n  G|fieldref|contains: F\n",
            "d:\n  F: 'a?c*'\n  G|base64offset|contains: 'x'\n",
            "e:\n  F: null\n  G|exists: true\n  H|neq: 5\n",
            "k:\n  - 'Kelvin'\n  - 'ǅ'\n",
            "condition: 1 of them or all of them or not a",
        ));
        let names = ["F", "G", "H", "message"];
        let fields: Vec<(&str, V)> = values.into_iter().enumerate().map(|(i, v)| (names[i % names.len()], v)).collect();
        let e = ev(&fields);
        let mut out = Vec::new();
        r.matching(&e, &mut out);
        prop_assert!(out.len() <= 1);
    }
}
