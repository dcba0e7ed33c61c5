//! `vigil demo`, the README's first command: it finds every injected attack and nothing else.

mod common;

use common::*;

#[test]
fn demo_finds_every_injected_attack_and_nothing_else() {
    let out = vigil(&["demo", "--events", "700000", "--workers", "2"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "demo failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("0 incident(s) about entities that were not attacked"), "{stdout}");
    for attack in ["ssh_brute_force_success", "kerberoasting", "lsass_access", "vertical_port_scan", "compromise_chain"] {
        let line = stdout.lines().find(|l| l.starts_with(attack)).unwrap_or_else(|| panic!("{attack} missing:\n{stdout}"));
        assert!(line.trim_end().ends_with("yes"), "{line}");
    }
}
