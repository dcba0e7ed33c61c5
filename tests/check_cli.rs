//! `vigil check` as a user runs it: every error named by file, line and field, all at once.

mod common;

use common::*;

#[test]
fn broken_rules_are_all_reported_with_file_line_and_field() {
    let out = vigil(&["check", fixtures().join("sigma/broken.yml").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("broken.yml:8: detection.selection.CommandLine|contians: unknown modifier \"contians\""), "{err}");
    assert!(err.contains("broken.yml:13: detection.condition: undefined search identifier \"missing\""), "{err}");
    assert!(err.contains("4 error(s)"), "{err}");
}

#[test]
fn good_rules_pass_and_missing_paths_fail() {
    let out = vigil_ok(&["check", fixtures().join("sigma/multi.yml").to_str().unwrap()]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("OK"));
    let out = vigil(&["check", "/no/such/rules"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/no/such/rules does not exist"));
}
