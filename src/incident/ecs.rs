//! ECS JSON form of an incident: one JSON object per line, keys in a fixed order.
//!
//! ```text
//! {"@timestamp":"<end>",
//!  "event":{"kind":"alert","id":"<32 hex>","start":"<iso>","end":"<iso>","severity":<n>},
//!  "related":{"ip":[...],"user":[...],"hosts":[...]},
//!  "rule":{"id":"...","name":"<title>","description":"..."},
//!  "tags":[...],
//!  "vigil":{"correlation":{"type":"<kind>"},"group":{"<field>":<value>,...},
//!           "baseline":{"kind":"rate"|"new_value"|"distinct"|"profile","field":"<f>",
//!                       "observed":<x>,"expected_mean":<x>,"expected_std":<x>,
//!                       "share":<x>,"usual_share":<x>,"score":<x>,"peer":<bool>,
//!                       "value":<v>},                  (baseline rules only)
//!           "count":<n>                                   (Count)
//!         | "value":<x>,"aggregation":"sum"|"avg"          (Sum, Avg)
//!         | "value":<x>,"aggregation":"percentile","percentile":<p>,
//!           "suppressed":<n>,"evidence":[<event>,...],"evidence_omitted":<n>}}
//! ```
//!
//! Top-level keys sort as ECS keys do (`@timestamp`, then alphabetical). Optional members are
//! left out rather than written as null: `event.severity` (no or unknown level), each empty
//! `related.*` list and `related` itself when all are empty, `rule.description`, `tags` when
//! empty, `vigil.baseline` for other rules and each of its members that its kind has no
//! value for (`expected_*` for new values and profiles, `share`s except for profiles, `field`
//! for a rate counting events, `value` for rate and distinct). `vigil.group` is always present (`{}` for detections), its keys are the group-by field
//! names verbatim (dotted names stay literal keys) in group-by order. Each evidence element is
//! the stored ECS object of the event, embedded as it is. Times are ISO 8601 UTC with
//! milliseconds; non-finite numbers are written as null.

use std::net::IpAddr;

use super::{BaselineInfo, GroupValue, Incident, IncidentValue};
use crate::event::ecs::write_json_str;
use crate::event::time::write_iso8601;

fn write_f64(out: &mut Vec<u8>, f: f64) {
    if f.is_finite() {
        out.extend_from_slice(ryu::Buffer::new().format_finite(f).as_bytes());
    } else {
        out.extend_from_slice(b"null");
    }
}

fn write_int(out: &mut Vec<u8>, i: impl itoa::Integer) {
    out.extend_from_slice(itoa::Buffer::new().format(i).as_bytes());
}

fn write_time(out: &mut Vec<u8>, ms: i64) {
    out.push(b'"');
    write_iso8601(ms, out);
    out.push(b'"');
}

fn write_ip(out: &mut Vec<u8>, ip: IpAddr) {
    use std::io::Write;
    out.push(b'"');
    let _ = write!(out, "{ip}");
    out.push(b'"');
}

fn write_str_array<S: AsRef<str>>(out: &mut Vec<u8>, items: &[S]) {
    out.push(b'[');
    for (i, s) in items.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_json_str(out, s.as_ref());
    }
    out.push(b']');
}

fn write_group_value(out: &mut Vec<u8>, v: &GroupValue) {
    match v {
        GroupValue::Null => out.extend_from_slice(b"null"),
        GroupValue::Bool(true) => out.extend_from_slice(b"true"),
        GroupValue::Bool(false) => out.extend_from_slice(b"false"),
        GroupValue::Int(i) => write_int(out, *i),
        GroupValue::Float(f) => write_f64(out, *f),
        GroupValue::Str(s) => write_json_str(out, s),
        GroupValue::Ip(ip) => write_ip(out, *ip),
    }
}

/// Appends `inc` as one ECS JSON object followed by a newline.
pub fn write_incident(inc: &Incident, out: &mut Vec<u8>) {
    out.extend_from_slice(b"{\"@timestamp\":");
    write_time(out, inc.timestamp_ms);

    out.extend_from_slice(b",\"event\":{\"kind\":\"alert\",\"id\":");
    write_json_str(out, &inc.id);
    out.extend_from_slice(b",\"start\":");
    write_time(out, inc.start_ms);
    out.extend_from_slice(b",\"end\":");
    write_time(out, inc.end_ms);
    if let Some(sev) = inc.rule.severity() {
        out.extend_from_slice(b",\"severity\":");
        write_int(out, sev);
    }
    out.push(b'}');

    if !(inc.related_ip.is_empty() && inc.related_user.is_empty() && inc.related_hosts.is_empty()) {
        out.extend_from_slice(b",\"related\":{");
        let mut first = true;
        let mut sep = |out: &mut Vec<u8>| {
            if !first {
                out.push(b',');
            }
            first = false;
        };
        if !inc.related_ip.is_empty() {
            sep(out);
            out.extend_from_slice(b"\"ip\":[");
            for (i, ip) in inc.related_ip.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_ip(out, *ip);
            }
            out.push(b']');
        }
        if !inc.related_user.is_empty() {
            sep(out);
            out.extend_from_slice(b"\"user\":");
            write_str_array(out, &inc.related_user);
        }
        if !inc.related_hosts.is_empty() {
            sep(out);
            out.extend_from_slice(b"\"hosts\":");
            write_str_array(out, &inc.related_hosts);
        }
        out.push(b'}');
    }

    out.extend_from_slice(b",\"rule\":{\"id\":");
    write_json_str(out, &inc.rule.id);
    out.extend_from_slice(b",\"name\":");
    write_json_str(out, &inc.rule.title);
    if let Some(desc) = &inc.rule.description {
        out.extend_from_slice(b",\"description\":");
        write_json_str(out, desc);
    }
    out.push(b'}');

    if !inc.rule.tags.is_empty() {
        out.extend_from_slice(b",\"tags\":");
        write_str_array(out, &inc.rule.tags);
    }

    out.extend_from_slice(b",\"vigil\":{\"correlation\":{\"type\":");
    write_json_str(out, &inc.rule.kind);
    out.extend_from_slice(b"},\"group\":{");
    for (i, (name, value)) in inc.group.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_json_str(out, name);
        out.push(b':');
        write_group_value(out, value);
    }
    out.push(b'}');
    if let Some(b) = &inc.baseline {
        write_baseline(out, b);
    }
    match inc.value {
        IncidentValue::Count(n) => {
            out.extend_from_slice(b",\"count\":");
            write_int(out, n);
        }
        IncidentValue::Sum(x) => {
            out.extend_from_slice(b",\"value\":");
            write_f64(out, x);
            out.extend_from_slice(b",\"aggregation\":\"sum\"");
        }
        IncidentValue::Avg(x) => {
            out.extend_from_slice(b",\"value\":");
            write_f64(out, x);
            out.extend_from_slice(b",\"aggregation\":\"avg\"");
        }
        IncidentValue::Percentile { p, value } => {
            out.extend_from_slice(b",\"value\":");
            write_f64(out, value);
            out.extend_from_slice(b",\"aggregation\":\"percentile\",\"percentile\":");
            write_f64(out, p);
        }
    }
    out.extend_from_slice(b",\"suppressed\":");
    write_int(out, inc.suppressed);
    out.extend_from_slice(b",\"evidence\":[");
    for (i, e) in inc.evidence.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(e.json.as_bytes());
    }
    out.extend_from_slice(b"],\"evidence_omitted\":");
    write_int(out, inc.evidence_omitted);
    out.extend_from_slice(b"}}\n");
}

fn write_baseline(out: &mut Vec<u8>, b: &BaselineInfo) {
    out.extend_from_slice(b",\"baseline\":{\"kind\":");
    write_json_str(out, &b.kind);
    if let Some(f) = &b.field {
        out.extend_from_slice(b",\"field\":");
        write_json_str(out, f);
    }
    out.extend_from_slice(b",\"observed\":");
    write_f64(out, b.observed);
    for (name, v) in [
        (&b",\"expected_mean\":"[..], b.expected_mean),
        (b",\"expected_std\":", b.expected_std),
        (b",\"share\":", b.share),
        (b",\"usual_share\":", b.usual_share),
    ] {
        if let Some(x) = v {
            out.extend_from_slice(name);
            write_f64(out, x);
        }
    }
    out.extend_from_slice(b",\"score\":");
    write_f64(out, b.score);
    out.extend_from_slice(if b.peer { b",\"peer\":true" } else { b",\"peer\":false" });
    if let Some(v) = &b.value {
        out.extend_from_slice(b",\"value\":");
        write_group_value(out, v);
    }
    out.push(b'}');
}

/// One incident as a JSON line (convenience for tests and small tools).
pub fn to_json_line(inc: &Incident) -> String {
    let mut out = Vec::new();
    write_incident(inc, &mut out);
    String::from_utf8(out).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::correlate::Alert;
    use crate::event::ecs::EcsWriter;
    use crate::event::field::known;
    use crate::event::{Event, Origin, Value};
    use crate::incident::{EvidenceEvent, Measure, RuleInfo, KIND_DETECTION};

    fn rule(kind: &str) -> RuleInfo {
        RuleInfo {
            id: "r-1".into(),
            title: "Brute \"force\"".into(),
            description: Some("Many\nfailed logins".into()),
            level: Some("critical".into()),
            tags: vec!["attack.credential-access".into(), "attack.t1110".into()],
            kind: kind.into(),
        }
    }

    fn login(ts: i64, record: u64, ip: &str, user: &str) -> Event {
        let mut ev = Event::at(ts);
        ev.origin = Origin { partition: 0, record, sub: 0 };
        ev.push(known::SOURCE_IP, Value::Ip(ip.parse().unwrap()));
        ev.push_str(known::USER_NAME, user);
        ev.push(known::EVENT_OUTCOME, Value::Sym("failure"));
        ev
    }

    #[test]
    fn correlation_incident_has_the_documented_fields() {
        let mut w = EcsWriter::new();
        let evs: Vec<EvidenceEvent> = (0..4).map(|i| EvidenceEvent::from_event(&login(1_000 + i, i as u64, "10.0.0.1", &format!("u{i}")), &mut w)).collect();
        let alert = Alert {
            group: (),
            window_start_ms: 1_000,
            window_end_ms: 301_000,
            value: 25.0,
            first_event_ts: 1_000,
            last_event_ts: 1_003,
            evidence: evs,
            omitted: 21,
        };
        let group = vec![("source.ip".to_string(), GroupValue::Ip("10.0.0.1".parse().unwrap())), ("port".to_string(), GroupValue::Int(22))];
        let inc = Incident::from_alert(rule("event_count"), group, alert, Measure::Count, 2, Some);
        let line = to_json_line(&inc);
        assert!(line.ends_with("}\n") && line.matches('\n').count() == 1, "{line}");
        let v: serde_json::Value = serde_json::from_str(&line).expect(&line);
        assert_eq!(v["@timestamp"], "1970-01-01T00:05:01.000Z");
        assert_eq!(v["event"]["kind"], "alert");
        assert_eq!(v["event"]["id"], inc.id.as_str());
        assert_eq!(v["event"]["start"], "1970-01-01T00:00:01.000Z");
        assert_eq!(v["event"]["end"], "1970-01-01T00:05:01.000Z");
        assert_eq!(v["event"]["severity"], 99);
        assert_eq!(v["rule"]["id"], "r-1");
        assert_eq!(v["rule"]["name"], "Brute \"force\"");
        assert_eq!(v["rule"]["description"], "Many\nfailed logins");
        assert_eq!(v["tags"], serde_json::json!(["attack.credential-access", "attack.t1110"]));
        assert_eq!(v["vigil"]["correlation"]["type"], "event_count");
        assert_eq!(v["vigil"]["group"], serde_json::json!({"source.ip": "10.0.0.1", "port": 22}));
        assert_eq!(v["vigil"]["count"], 25);
        assert_eq!(v["vigil"]["suppressed"], 0);
        assert_eq!(v["vigil"]["evidence"].as_array().unwrap().len(), 2);
        assert_eq!(v["vigil"]["evidence"][1]["user"]["name"], "u1");
        assert_eq!(v["vigil"]["evidence"][0]["source"]["ip"], "10.0.0.1");
        assert_eq!(v["vigil"]["evidence_omitted"], 23);
        assert_eq!(v["related"]["ip"], serde_json::json!(["10.0.0.1"]));
        assert_eq!(v["related"]["user"], serde_json::json!(["u0", "u1"]));
        assert!(v["related"].get("hosts").is_none());
        // Fixed key order.
        let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        let mut sorted = keys.clone();
        sorted.sort();
        assert_eq!(keys, sorted);
        let order = ["\"@timestamp\"", "\"event\"", "\"related\"", "\"rule\"", "\"tags\"", "\"vigil\""];
        let pos: Vec<usize> = order.iter().map(|k| line.find(k).unwrap()).collect();
        assert!(pos.windows(2).all(|p| p[0] < p[1]), "{line}");
    }

    #[test]
    fn detection_and_aggregates_leave_out_what_is_absent() {
        let mut ev = Event::at(1_000);
        ev.push_str(known::MESSAGE, "hello");
        let mut r = rule(KIND_DETECTION);
        r.level = Some("bogus".into());
        r.description = None;
        r.tags.clear();
        let inc = Incident::from_detection(r, &ev, &mut EcsWriter::new());
        let line = to_json_line(&inc);
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert!(v["event"].get("severity").is_none());
        assert!(v.get("related").is_none() && v.get("tags").is_none());
        assert!(v["rule"].get("description").is_none());
        assert_eq!(v["vigil"]["correlation"]["type"], "detection");
        assert_eq!(v["vigil"]["group"], serde_json::json!({}));
        assert_eq!(v["vigil"]["count"], 1);
        assert_eq!(v["vigil"]["evidence"][0]["message"], "hello");

        let mut inc = inc;
        inc.value = IncidentValue::Percentile { p: 95.0, value: 1.25 };
        let v: serde_json::Value = serde_json::from_str(&to_json_line(&inc)).unwrap();
        assert_eq!(v["vigil"]["value"], 1.25);
        assert_eq!(v["vigil"]["aggregation"], "percentile");
        assert_eq!(v["vigil"]["percentile"], 95.0);
        assert!(v["vigil"].get("count").is_none());
        inc.value = IncidentValue::Sum(f64::NAN);
        let v: serde_json::Value = serde_json::from_str(&to_json_line(&inc)).unwrap();
        assert!(v["vigil"]["value"].is_null());
        assert_eq!(v["vigil"]["aggregation"], "sum");
        inc.baseline = Some(Box::new(BaselineInfo {
            kind: "new_value".into(),
            field: Some("source.ip".into()),
            observed: 1.0,
            expected_mean: None,
            expected_std: None,
            share: None,
            usual_share: None,
            score: 1.0,
            peer: true,
            value: Some(GroupValue::Str("10.1.2.0/24".into())),
        }));
        let v: serde_json::Value = serde_json::from_str(&to_json_line(&inc)).unwrap();
        assert_eq!(
            v["vigil"]["baseline"],
            serde_json::json!({"kind": "new_value", "field": "source.ip", "observed": 1.0, "score": 1.0, "peer": true, "value": "10.1.2.0/24"})
        );
        inc.baseline = None;
        inc.value = IncidentValue::Avg(2.5);
        inc.group = vec![("flag".into(), GroupValue::Bool(false)), ("n".into(), GroupValue::Null), ("x".into(), GroupValue::Float(0.5))];
        let v: serde_json::Value = serde_json::from_str(&to_json_line(&inc)).unwrap();
        assert_eq!(v["vigil"]["aggregation"], "avg");
        assert_eq!(v["vigil"]["group"], serde_json::json!({"flag": false, "n": null, "x": 0.5}));
    }
}
