//! Which rules apply to which events: the Sigma `logsource` of a rule against the log source an
//! event came from, derived once per event from the fields vigil's parsers set.
//!
//! The event side follows the Sigma taxonomy appendix:
//!
//! | events | product | service(s) | category |
//! | --- | --- | --- | --- |
//! | syslog, `event.dataset: system.auth` | `linux` | `auth`, plus `sshd`, `sudo`, `cron`, `vsftpd` by `process.name` | |
//! | syslog, `event.dataset: system.syslog` | `linux` | `syslog` | |
//! | Apache/nginx access logs | | | `webserver` |
//! | Zeek, `event.dataset: zeek.<log>` | `zeek` | `<log>` (`conn` for `zeek.connection`) | |
//! | Windows JSON with `Channel` | `windows` | from the channel: `security`, `system`, `application`, `sysmon`, `powershell`, `powershell-classic` | Sysmon event ids, Security 4688 and PowerShell 400/600/800/4103/4104 per the appendix (`process_creation`, `network_connection`, `registry_event` and `registry_set`, `ps_classic_start`, ...) |
//!
//! An event whose source cannot be told (JSON of another shape) is **not filtered**: every rule
//! is evaluated against it, because dropping rules silently would hide detections. A rule with no
//! `logsource` fields applies to every event.

use rustc_hash::FxHashMap;
use std::sync::Arc;

use super::index::{Indexed, Scope, Scratch};
use super::{LogSource, RuleSet};
use crate::event::field::{self, known, FieldId};
use crate::event::{Event, ValueRef};

/// The log source of one event, as far as it can be told.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct EventSource {
    /// Sigma `product`.
    pub product: Option<&'static str>,
    /// Sigma `category` values the event belongs to (Sysmon's registry event 13 is both
    /// `registry_event` and `registry_set`).
    pub categories: [Option<&'static str>; 3],
    /// Sigma `service` values the event belongs to (e.g. `auth` and `sshd`).
    pub services: [Option<&'static str>; 2],
}

impl EventSource {
    /// True when nothing is known about the source.
    pub fn is_unknown(&self) -> bool {
        self.product.is_none() && self.categories == [None; 3] && self.services == [None, None]
    }
}

/// Field ids looked at to tell an event's source, resolved once.
#[derive(Clone, Copy, Debug)]
pub struct SourceFields {
    channel: Option<FieldId>,
    event_id: Option<FieldId>,
}

impl Default for SourceFields {
    fn default() -> Self {
        SourceFields { channel: field::intern("Channel"), event_id: field::intern("EventID") }
    }
}

fn int_of(v: Option<ValueRef<'_>>) -> Option<i64> {
    match v? {
        ValueRef::Int(i) => Some(i),
        ValueRef::Str(s) => s.trim().parse().ok(),
        ValueRef::Float(f) if f.fract() == 0.0 => Some(f as i64),
        _ => None,
    }
}

/// The categories of a Sysmon event id, per the taxonomy appendix (registry events belong to
/// `registry_event` and to the category of their kind).
fn sysmon_categories(id: i64) -> [Option<&'static str>; 3] {
    let one = |c| [Some(c), None, None];
    match id {
        1 => one("process_creation"),
        2 => one("file_change"),
        3 => one("network_connection"),
        4 | 16 => one("sysmon_status"),
        5 => one("process_termination"),
        6 => one("driver_load"),
        7 => one("image_load"),
        8 => one("create_remote_thread"),
        9 => one("raw_access_thread"),
        10 => one("process_access"),
        11 => one("file_event"),
        // Key and value creation and deletion share event id 12.
        12 => [Some("registry_event"), Some("registry_add"), Some("registry_delete")],
        13 => [Some("registry_event"), Some("registry_set"), None],
        14 => [Some("registry_event"), Some("registry_rename"), None],
        15 => one("create_stream_hash"),
        17 | 18 => one("pipe_created"),
        19..=21 => one("wmi_event"),
        22 => one("dns_query"),
        23 => one("file_delete"),
        24 => one("clipboard_capture"),
        25 => one("process_tampering"),
        26 => one("file_delete_detected"),
        27 => one("file_block_executable"),
        28 => one("file_block_shredding"),
        29 => one("file_executable_detected"),
        255 => one("sysmon_error"),
        _ => [None; 3],
    }
}

/// Tells the source of an event from the fields its parser set.
pub fn event_source(ev: &Event, fields: &SourceFields) -> EventSource {
    let mut src = EventSource::default();
    match ev.get_str(known::EVENT_MODULE) {
        Some("system") => {
            src.product = Some("linux");
            if ev.get_str(known::EVENT_DATASET) == Some("system.auth") {
                src.services[0] = Some("auth");
                let process = ev.get_str(known::PROCESS_NAME).unwrap_or("");
                src.services[1] = AUTH_SERVICES.iter().find(|(name, _)| name.eq_ignore_ascii_case(process)).map(|(_, service)| *service);
            } else {
                src.services[0] = Some("syslog");
            }
            return src;
        }
        Some("apache") => {
            src.categories[0] = Some("webserver");
            return src;
        }
        Some("zeek") => {
            src.product = Some("zeek");
            src.services[0] = match ev.get_str(known::EVENT_DATASET) {
                Some("zeek.connection") => Some("conn"),
                Some(ds) => ZEEK_LOGS.iter().copied().find(|log| ds.strip_prefix("zeek.") == Some(*log)),
                None => None,
            };
            return src;
        }
        _ => {}
    }
    let Some(channel) = fields.channel.and_then(|id| ev.get_str(id)) else { return src };
    src.product = Some("windows");
    let event_id = fields.event_id.and_then(|id| int_of(ev.get(id)));
    // Channel names compare without case, and without a lowercase copy per event.
    let is = |name: &str| channel.eq_ignore_ascii_case(name);
    if is("security") {
        src.services[0] = Some("security");
        if event_id == Some(4688) {
            src.categories[0] = Some("process_creation");
        }
    } else if is("system") {
        src.services[0] = Some("system");
    } else if is("application") {
        src.services[0] = Some("application");
    } else if is("microsoft-windows-sysmon/operational") {
        src.services[0] = Some("sysmon");
        src.categories = event_id.map_or([None; 3], sysmon_categories);
    } else if is("windows powershell") {
        src.services[0] = Some("powershell-classic");
        src.categories[0] = match event_id {
            Some(400) => Some("ps_classic_start"),
            Some(600) => Some("ps_classic_provider_start"),
            Some(800) => Some("ps_classic_script"),
            _ => None,
        };
    } else if is("microsoft-windows-powershell/operational") || is("powershellcore/operational") {
        src.services[0] = Some("powershell");
        src.categories[0] = match event_id {
            Some(4103) => Some("ps_module"),
            Some(4104) => Some("ps_script"),
            _ => None,
        };
    }
    src
}

/// Every source [`event_source`] can tell for an event whose `event.module` is `module`, or
/// `None` where the module does not fix it (JSON events tell theirs from their own fields, or
/// from nothing at all, which admits every rule). Lets a plan know, before any event, which
/// inputs can feed which rules.
pub fn sources_of_module(module: &str) -> Option<Vec<EventSource>> {
    let base = EventSource::default();
    match module {
        "system" => {
            let auth = AUTH_SERVICES.iter().map(|(_, service)| Some(*service)).chain([None]);
            let mut all: Vec<EventSource> = auth.map(|service| EventSource { product: Some("linux"), services: [Some("auth"), service], ..base }).collect();
            all.push(EventSource { product: Some("linux"), services: [Some("syslog"), None], ..base });
            Some(all)
        }
        "apache" => Some(vec![EventSource { categories: [Some("webserver"), None, None], ..base }]),
        "zeek" => Some(
            ZEEK_LOGS
                .iter()
                .map(|log| Some(*log))
                .chain([None])
                .map(|service| EventSource { product: Some("zeek"), services: [service, None], ..base })
                .collect(),
        ),
        _ => None,
    }
}

/// Linux auth-log programs (`process.name`, any case) and the Sigma service they are.
const AUTH_SERVICES: &[(&str, &str)] = &[
    ("sshd", "sshd"),
    ("sshd-session", "sshd"),
    ("sshd-auth", "sshd"),
    ("sudo", "sudo"),
    ("cron", "cron"),
    ("crond", "cron"),
    ("vsftpd", "vsftpd"),
    ("ftpd", "vsftpd"),
];

/// Zeek log names the Sigma taxonomy uses as services.
const ZEEK_LOGS: &[&str] = &["conn", "dce_rpc", "dns", "http", "kerberos", "rdp", "smb_files", "x509", "ssl", "files", "smtp", "ssh", "weird", "notice"];

/// Whether a rule's `logsource` admits events from `src`.
pub fn admits(rule: &LogSource, src: &EventSource) -> bool {
    if src.is_unknown() {
        return true;
    }
    let same = |want: &Option<String>, have: Option<&str>| want.as_deref().is_none_or(|w| have.is_some_and(|h| h.eq_ignore_ascii_case(w)));
    let service_ok = rule.service.as_deref().is_none_or(|w| src.services.iter().flatten().any(|s| s.eq_ignore_ascii_case(w)));
    let category_ok = rule.category.as_deref().is_none_or(|w| src.categories.iter().flatten().any(|c| c.eq_ignore_ascii_case(w)));
    same(&rule.product, src.product) && category_ok && service_ok
}

/// Evaluates a rule set against events: only the rules whose `logsource` admits each event, and
/// of those only the ones the [rule index](super::index) finds a required text of in the event.
/// What a source admits is worked out once per distinct event source (there are few), so the
/// logsource filter costs one small hash lookup per event. One per worker.
pub struct RuleMatcher {
    rules: Arc<RuleSet>,
    fields: SourceFields,
    plans: FxHashMap<EventSource, SourcePlan>,
    scratch: Scratch,
}

/// The rules one event source admits, split by how the index treats them.
struct SourcePlan {
    /// Every admitted rule that can match, in rule order.
    all: Vec<u32>,
    /// Admitted rules without a list of texts, in rule order.
    always: Vec<u32>,
    /// Admitted rules with texts.
    texts: Scope,
    /// Whether searching for texts pays: with a handful of rules, running them is cheaper than
    /// one pass over the event's values.
    use_index: bool,
}

/// Below this many indexed rules for a source, the rules run without the index.
const INDEX_FROM: usize = 12;

impl SourcePlan {
    fn new(rules: &RuleSet, src: &EventSource) -> SourcePlan {
        let index = rules.index();
        let admitted = |i: u32| admits(&rules.rules[i as usize].logsource, src);
        let mut plan = SourcePlan { all: Vec::new(), always: Vec::new(), texts: index.scope(admitted), use_index: false };
        for i in (0..rules.rules.len() as u32).filter(|&i| admitted(i)) {
            match index.kind(i) {
                Indexed::Never => continue,
                Indexed::Always => plan.always.push(i),
                Indexed::Texts => {}
            }
            plan.all.push(i);
        }
        plan.use_index = plan.texts.len() >= INDEX_FROM;
        plan
    }
}

impl RuleMatcher {
    /// Wraps a rule set.
    pub fn new(rules: Arc<RuleSet>) -> Self {
        RuleMatcher { rules, fields: SourceFields::default(), plans: FxHashMap::default(), scratch: Scratch::default() }
    }

    /// The rule set.
    pub fn rules(&self) -> &RuleSet {
        &self.rules
    }

    /// Appends the indexes of the rules that admit and match `ev`, in rule order.
    pub fn matching(&mut self, ev: &Event, out: &mut Vec<u32>) {
        // An unknown source is admitted by every rule.
        let src = if self.rules.ignore_logsource { EventSource::default() } else { event_source(ev, &self.fields) };
        let rules = &self.rules;
        let plan = self.plans.entry(src).or_insert_with(|| SourcePlan::new(rules, &src));
        let run = |i: u32, out: &mut Vec<u32>| {
            if rules.rules[i as usize].matches(ev) {
                out.push(i);
            }
        };
        if !plan.use_index {
            plan.all.iter().for_each(|&i| run(i, out));
            return;
        }
        rules.index().found(ev, &plan.texts, &mut self.scratch);
        let found = &mut self.scratch.found;
        found.sort_unstable();
        // The two lists are disjoint and sorted: merged, the rules run (and report) in rule order.
        let (mut a, mut f) = (plan.always.iter().copied().peekable(), found.iter().copied().peekable());
        while let Some(i) = match (a.peek(), f.peek()) {
            (Some(x), Some(y)) if x < y => a.next(),
            (_, Some(_)) => f.next(),
            _ => a.next(),
        } {
            run(i, out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Value;

    fn ls(product: Option<&str>, category: Option<&str>, service: Option<&str>) -> LogSource {
        LogSource { product: product.map(Into::into), category: category.map(Into::into), service: service.map(Into::into), definition: None }
    }

    #[test]
    fn sshd_lines_are_linux_auth_and_sshd() {
        let mut ev = Event::at(0);
        ev.push(known::EVENT_MODULE, Value::Sym("system"));
        ev.push(known::EVENT_DATASET, Value::Sym("system.auth"));
        ev.push_str(known::PROCESS_NAME, "sshd");
        let src = event_source(&ev, &SourceFields::default());
        assert!(admits(&ls(Some("linux"), None, Some("auth")), &src));
        assert!(admits(&ls(Some("linux"), None, Some("sshd")), &src));
        assert!(!admits(&ls(Some("linux"), None, Some("sudo")), &src));
        assert!(!admits(&ls(Some("windows"), Some("process_creation"), None), &src));
        assert!(!admits(&ls(Some("zeek"), None, Some("dns")), &src));
    }

    #[test]
    fn sources_of_a_module_hold_every_source_its_events_can_have() {
        let f = SourceFields::default();
        let datasets = ["system.auth", "system.syslog", "zeek.connection", "zeek.dns", "zeek.unknown", "apache.access"];
        let processes = ["sshd", "SUDO", "crond", "vsftpd", "login", "kernel"];
        for module in ["system", "apache", "zeek"] {
            let known = sources_of_module(module).unwrap();
            for dataset in datasets.iter().filter(|d| d.starts_with(module) || module == "apache") {
                for process in processes {
                    let mut ev = Event::at(0);
                    ev.push(known::EVENT_MODULE, Value::Sym(module));
                    ev.push_str(known::EVENT_DATASET, dataset);
                    ev.push_str(known::PROCESS_NAME, process);
                    let src = event_source(&ev, &f);
                    assert!(known.contains(&src), "{module} {dataset} {process}: {src:?} is not in {known:?}");
                }
            }
        }
        assert!(sources_of_module("cowrie").is_none(), "JSON events tell their source from their own fields");
    }

    #[test]
    fn windows_channels_and_sysmon_ids() {
        let f = SourceFields::default();
        let mut ev = Event::at(0);
        ev.push_str(field::intern("Channel").unwrap(), "Microsoft-Windows-Sysmon/Operational");
        ev.push(field::intern("EventID").unwrap(), Value::Int(10));
        let src = event_source(&ev, &f);
        assert!(admits(&ls(Some("windows"), Some("process_access"), None), &src));
        assert!(!admits(&ls(Some("windows"), Some("process_creation"), None), &src));
        let mut reg = Event::at(0);
        reg.push_str(field::intern("Channel").unwrap(), "Microsoft-Windows-Sysmon/Operational");
        reg.push(field::intern("EventID").unwrap(), Value::Int(13));
        let src = event_source(&reg, &f);
        assert!(admits(&ls(Some("windows"), Some("registry_set"), None), &src));
        assert!(admits(&ls(Some("windows"), Some("registry_event"), None), &src));
        assert!(!admits(&ls(Some("windows"), Some("registry_add"), None), &src));
        let mut classic = Event::at(0);
        classic.push_str(field::intern("Channel").unwrap(), "Windows PowerShell");
        classic.push(field::intern("EventID").unwrap(), Value::Int(400));
        let src = event_source(&classic, &f);
        assert!(admits(&ls(Some("windows"), Some("ps_classic_start"), None), &src));
        assert!(admits(&ls(Some("windows"), None, Some("powershell-classic")), &src));
        let mut sec = Event::at(0);
        sec.push_str(field::intern("Channel").unwrap(), "Security");
        sec.push_str(field::intern("EventID").unwrap(), "4688");
        let src = event_source(&sec, &f);
        assert!(admits(&ls(Some("windows"), None, Some("security")), &src));
        assert!(admits(&ls(Some("windows"), Some("process_creation"), None), &src));
    }

    #[test]
    fn unknown_sources_are_not_filtered_and_empty_logsource_admits_all() {
        let ev = Event::at(0);
        let src = event_source(&ev, &SourceFields::default());
        assert!(src.is_unknown());
        assert!(admits(&ls(Some("windows"), Some("process_creation"), None), &src));
        let mut web = Event::at(0);
        web.push(known::EVENT_MODULE, Value::Sym("apache"));
        let src = event_source(&web, &SourceFields::default());
        assert!(admits(&ls(None, None, None), &src));
        assert!(admits(&ls(None, Some("webserver"), None), &src));
        assert!(!admits(&ls(Some("linux"), None, None), &src));
    }
}
