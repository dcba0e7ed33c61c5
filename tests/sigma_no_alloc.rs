//! The detection matcher allocates nothing per event (after a warm-up, which lets the `regex`
//! crate build its per-thread caches): checked with a counting global allocator. The condition
//! is always true but forces every selection to be evaluated.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::path::Path;

use vigil::event::field::intern;
use vigil::event::{Event, Value};
use vigil::rules::{CompileOptions, RuleSet};

struct Counting;

thread_local! {
    static ALLOCS: Cell<usize> = const { Cell::new(0) };
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCS.with(|c| c.set(c.get() + 1));
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCS.with(|c| c.set(c.get() + 1));
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const RULES: &str = r#"
title: every kind of matcher
logsource:
    product: windows
detection:
    a:
        Image|endswith:
            - '\cmd.exe'
            - '\powershell.exe'
        CommandLine|contains|all:
            - ' -enc '
            - 'bypass'
        CommandLine|windash|contains: ' -nop '
    b:
        CommandLine|re|i: 'invoke-(expression|webrequest)'
        User: 'ÄDMIN*'
        Port|gt: 1024
        SourceIp|cidr:
            - 10.0.0.0/8
            - 'fe80::/10'
    c:
        ParentImage|fieldref: Image
        Missing: null
        Hash|exists: false
        Payload|base64offset|contains: 'http://'
        Name: 'prog?.exe'
    keywords:
        - 'mimikatz'
        - 'sekurlsa::'
    condition: (a or not a) and (b or not b) and (c or not c) and (keywords or not keywords)
"#;

#[test]
fn matching_allocates_nothing_per_event() {
    let rules = RuleSet::from_str(Path::new("alloc.yml"), RULES, &CompileOptions::default()).unwrap();
    let mut events = Vec::new();
    for i in 0..4 {
        let mut e = Event::at(i);
        e.push_str(intern("Image").unwrap(), r"C:\Windows\System32\WindowsPowerShell\v1.0\POWERSHELL.EXE");
        e.push_str(intern("CommandLine").unwrap(), "powershell.exe /nop -enc SQBFAFgA bypass Invoke-Expression ünïcödé");
        e.push_str(intern("User").unwrap(), if i % 2 == 0 { "Ädministrator" } else { "bob" });
        e.push(intern("Port").unwrap(), Value::Int(4444 + i));
        e.push(intern("SourceIp").unwrap(), Value::Ip("10.1.2.3".parse().unwrap()));
        e.push_str(intern("ParentImage").unwrap(), r"c:\windows\system32\windowspowershell\v1.0\powershell.exe");
        e.push_str(intern("Payload").unwrap(), "aHR0cDovL2V2aWwuZXhhbXBsZS5jb20v");
        e.push_str(intern("Name").unwrap(), "progA.exe");
        e.push_str(intern("message").unwrap(), "nothing to see; sekurlsa::logonpasswords");
        events.push(e);
    }
    // Every selection matches the even events, so no field test is skipped by short-circuiting.
    for sel in ["a", "b", "c", "keywords"] {
        let text = RULES.replace("condition: (a or not a) and (b or not b) and (c or not c) and (keywords or not keywords)", &format!("condition: {sel}"));
        let one = RuleSet::from_str(Path::new("alloc.yml"), &text, &CompileOptions::default()).unwrap();
        assert!(one.rules[0].matches(&events[0]), "selection {sel}");
    }
    let mut out = Vec::with_capacity(16);
    for e in &events {
        rules.matching(e, &mut out);
    }
    out.clear();
    let before = ALLOCS.with(Cell::get);
    let mut hits = 0;
    for _ in 0..1000 {
        for e in &events {
            rules.matching(e, &mut out);
            hits += out.len();
            out.clear();
        }
    }
    let allocs = ALLOCS.with(Cell::get) - before;
    assert_eq!(hits, 4000);
    assert_eq!(allocs, 0, "the matcher allocated {allocs} times over 4000 evaluations");
}

/// The path the pipeline takes: logsource dispatch (which rules a Windows or auth-log event is a
/// candidate for, with channel and program names compared without case) and then the matcher.
#[test]
fn rule_matcher_dispatch_allocates_nothing_per_event() {
    use vigil::rules::logsource::RuleMatcher;
    let text = RULES.replace("title: Alloc", "title: Alloc\nlogsource:\n    product: windows\n    service: sysmon");
    let rules = std::sync::Arc::new(RuleSet::from_str(Path::new("alloc.yml"), &text, &CompileOptions::default()).unwrap());
    let mut matcher = RuleMatcher::new(rules);
    let mut events = Vec::new();
    for (i, channel) in ["Microsoft-Windows-Sysmon/Operational", "SECURITY", "security", "Microsoft-Windows-Sysmon/Operational"].iter().enumerate() {
        let mut e = Event::at(i as i64);
        e.push_str(intern("Channel").unwrap(), channel);
        e.push(intern("EventID").unwrap(), Value::Int(1));
        e.push_str(intern("Image").unwrap(), r"C:\Windows\System32\WindowsPowerShell\v1.0\POWERSHELL.EXE");
        e.push_str(intern("message").unwrap(), "sekurlsa::logonpasswords");
        events.push(e);
    }
    let mut auth = Event::at(9);
    auth.push_str(intern("event.module").unwrap(), "system");
    auth.push_str(intern("event.dataset").unwrap(), "system.auth");
    auth.push_str(intern("process.name").unwrap(), "SSHD-Session");
    events.push(auth);
    let mut out = Vec::with_capacity(16);
    // The first pass fills the per-source candidate cache.
    for e in &events {
        matcher.matching(e, &mut out);
    }
    out.clear();
    let before = ALLOCS.with(Cell::get);
    for _ in 0..1000 {
        for e in &events {
            matcher.matching(e, &mut out);
            out.clear();
        }
    }
    let allocs = ALLOCS.with(Cell::get) - before;
    assert_eq!(allocs, 0, "dispatch and matching allocated {allocs} times over 5000 events");
}
