//! Windows Security and Sysmon events as flat JSON lines (NXLog/OTRF style): logons and their
//! failures, Kerberos service tickets, process creation, network connections and process access.

use rand::Rng;

use super::tables::{
    ACCESSES, DOMAIN_SID, FIRST_NAMES, HEX_UPPER, NET_IMAGES, PROCS, SERVER_PROCS, SERVER_RID_BASE, SERVICE_ACCOUNTS, SERVICE_RID_BASE, TICKET_OPTIONS,
    USER_RID_BASE,
};
use super::world::{skewed, splitmix, Host, Role, WINDOWS_ROLES};
use super::write::{pick, put_guid, put_hex, put_ipv4, put_padded, put_u64, put_user};
use super::Generator;

/// The channel and event type an event is logged under.
#[derive(Clone, Copy)]
pub(super) enum Channel {
    Success,
    Failure,
    Sysmon,
}

/// The SHA256 of each of [`PROCS`], in hex: fixed per image, as they are for one build of a
/// binary fleet-wide.
pub(super) fn image_hashes() -> Vec<[u8; 64]> {
    (0..PROCS.len() as u64)
        .map(|i| {
            let mut hex = [0u8; 64];
            for (j, chunk) in hex.chunks_mut(16).enumerate() {
                let h = splitmix((i * 4 + j as u64) ^ 0x5a5a_5a5a);
                for (k, b) in chunk.iter_mut().enumerate() {
                    *b = HEX_UPPER[((h >> (k * 4)) & 15) as usize];
                }
            }
            hex
        })
        .collect()
}

impl Generator {
    /// Writes the fields every Windows event starts with, up to and including a trailing comma.
    pub(super) fn win_head(&self, out: &mut Vec<u8>, host: Host, event_id: u64, channel: Channel) {
        out.extend_from_slice(b"{\"@timestamp\":\"");
        out.extend_from_slice(&self.clock.iso);
        out.push(b'.');
        put_padded(out, self.clock.millis(), 3);
        out.extend_from_slice(b"Z\",\"Hostname\":\"");
        self.world.put_host(out, host);
        out.extend_from_slice(b".corp.example.com\",\"EventID\":");
        put_u64(out, event_id);
        out.extend_from_slice(match channel {
            Channel::Success => b",\"Channel\":\"Security\",\"SourceName\":\"Microsoft-Windows-Security-Auditing\",\"EventType\":\"AUDIT_SUCCESS\",",
            Channel::Failure => b",\"Channel\":\"Security\",\"SourceName\":\"Microsoft-Windows-Security-Auditing\",\"EventType\":\"AUDIT_FAILURE\",",
            Channel::Sysmon => b",\"Channel\":\"Microsoft-Windows-Sysmon/Operational\",\"SourceName\":\"Microsoft-Windows-Sysmon\",\"EventType\":\"INFO\",",
        });
        out.extend_from_slice(b"\"RecordNumber\":");
        put_u64(out, self.emitted + 1);
        out.push(b',');
    }

    pub(super) fn windows(&mut self, out: &mut Vec<u8>) {
        let user = self.world.user(&mut self.rng);
        match self.rng.gen_range(0..100u32) {
            0..=29 => self.win_logon(out, user),
            30..=33 => self.win_logon_failure(out, user),
            34..=48 => self.win_service_ticket(out, user),
            49..=66 => self.win_process(out, user, false),
            67..=81 => self.win_process(out, user, true),
            82..=93 => self.win_network(out, user),
            _ => self.win_process_access(out, user),
        }
        out.push(b'}');
    }

    fn win_logon(&mut self, out: &mut Vec<u8>, user: u64) {
        let roll = self.rng.gen_range(0..100u32);
        let host = match roll {
            0..=39 => Host::Ws(user),
            // A user's network logons go to the few servers they work with (home share, mail,
            // an application): at most three each, so one account fanning out is a signal.
            _ => Host::Server(self.world.user_server(user, self.rng.gen_range(0..3))),
        };
        self.win_head(out, host, 4624, Channel::Success);
        if roll < 12 {
            out.extend_from_slice(b"\"TargetUserSid\":\"S-1-5-18\",\"TargetUserName\":\"SYSTEM\",\"TargetDomainName\":\"NT AUTHORITY\",\"TargetLogonId\":\"0x3e7\",\"LogonType\":\"5\",\"LogonProcessName\":\"Advapi  \",\"AuthenticationPackageName\":\"Negotiate\",\"WorkstationName\":\"-\",\"IpAddress\":\"-\",\"IpPort\":\"-\"");
            return;
        }
        self.target_user(out, user);
        out.extend_from_slice(b",\"TargetLogonId\":\"0x");
        put_hex(out, self.rng.gen_range(0x10000..0x1000_0000));
        match roll {
            12..=39 => {
                out.extend_from_slice(match self.rng.gen_range(0..10u32) {
                    0..=5 => b"\",\"LogonType\":\"2\"",
                    6..=8 => b"\",\"LogonType\":\"7\"",
                    _ => b"\",\"LogonType\":\"11\"",
                });
                out.extend_from_slice(b",\"LogonProcessName\":\"User32 \",\"AuthenticationPackageName\":\"Negotiate\",\"WorkstationName\":\"");
                self.world.put_host(out, Host::Ws(user));
                out.extend_from_slice(b"\",\"IpAddress\":\"127.0.0.1\",\"IpPort\":\"0\"");
            }
            _ => {
                let (logon_type, process, package): (&[u8], &[u8], &[u8]) = match self.rng.gen_range(0..100u32) {
                    0..=74 => (b"3", b"Kerberos", b"Kerberos"),
                    75..=94 => (b"3", b"NtLmSsp ", b"NTLM"),
                    _ => (b"10", b"User32 ", b"Negotiate"),
                };
                out.extend_from_slice(b"\",\"LogonType\":\"");
                out.extend_from_slice(logon_type);
                out.extend_from_slice(b"\",\"LogonProcessName\":\"");
                out.extend_from_slice(process);
                out.extend_from_slice(b"\",\"AuthenticationPackageName\":\"");
                out.extend_from_slice(package);
                out.extend_from_slice(b"\",\"WorkstationName\":\"");
                self.world.put_host(out, Host::Ws(user));
                out.extend_from_slice(b"\",\"IpAddress\":\"");
                put_ipv4(out, self.world.ws_ip(user));
                out.extend_from_slice(b"\",\"IpPort\":\"");
                put_u64(out, self.port());
                out.push(b'"');
            }
        }
    }

    fn win_logon_failure(&mut self, out: &mut Vec<u8>, user: u64) {
        let remote = self.rng.gen_bool(0.7);
        let host = if remote { Host::Server(self.world.server_in(&mut self.rng, WINDOWS_ROLES)) } else { Host::Ws(user) };
        self.win_head(out, host, 4625, Channel::Failure);
        out.extend_from_slice(b"\"TargetUserSid\":\"S-1-0-0\",\"TargetUserName\":\"");
        // Mostly a mistyped password; sometimes a mistyped or stale account name.
        let unknown = self.rng.gen_range(0..7u32) == 0;
        if unknown {
            out.extend_from_slice(FIRST_NAMES[(user % FIRST_NAMES.len() as u64) as usize]);
        } else {
            put_user(out, user);
        }
        out.extend_from_slice(b"\",\"TargetDomainName\":\"CORP\",\"Status\":\"0xc000006d\",\"SubStatus\":\"");
        out.extend_from_slice(if unknown { b"0xc0000064" } else { b"0xc000006a" });
        out.extend_from_slice(b"\",\"FailureReason\":\"%%2313\",\"LogonType\":\"");
        out.extend_from_slice(if remote {
            b"3\",\"LogonProcessName\":\"NtLmSsp \",\"AuthenticationPackageName\":\"NTLM\""
        } else {
            b"2\",\"LogonProcessName\":\"User32 \",\"AuthenticationPackageName\":\"Negotiate\""
        });
        out.extend_from_slice(b",\"WorkstationName\":\"");
        self.world.put_host(out, Host::Ws(user));
        out.extend_from_slice(b"\",\"IpAddress\":\"");
        if remote {
            put_ipv4(out, self.world.ws_ip(user));
            out.extend_from_slice(b"\",\"IpPort\":\"");
            put_u64(out, self.port());
        } else {
            out.extend_from_slice(b"127.0.0.1\",\"IpPort\":\"0");
        }
        out.push(b'"');
    }

    fn win_service_ticket(&mut self, out: &mut Vec<u8>, user: u64) {
        let dc = self.world.server_of(&mut self.rng, Role::Dc);
        self.win_head(out, Host::Server(dc), 4769, Channel::Success);
        out.extend_from_slice(b"\"TargetUserName\":\"");
        put_user(out, user);
        out.extend_from_slice(b"@CORP.EXAMPLE.COM\",\"TargetDomainName\":\"CORP.EXAMPLE.COM\",\"ServiceName\":\"");
        let service_rid = match self.rng.gen_range(0..10u32) {
            0..=6 => {
                let server = self.world.server_in(&mut self.rng, WINDOWS_ROLES);
                self.world.put_server_upper(out, server);
                out.push(b'$');
                SERVER_RID_BASE + server
            }
            7..=8 => {
                let i = self.rng.gen_range(0..SERVICE_ACCOUNTS.len());
                out.extend_from_slice(SERVICE_ACCOUNTS[i]);
                SERVICE_RID_BASE + i as u64
            }
            _ => {
                out.extend_from_slice(b"krbtgt");
                502
            }
        };
        out.extend_from_slice(b"\",\"ServiceSid\":\"");
        out.extend_from_slice(DOMAIN_SID);
        put_u64(out, service_rid);
        out.extend_from_slice(b"\",\"TicketOptions\":\"");
        out.extend_from_slice(pick(&mut self.rng, TICKET_OPTIONS));
        // AES is the norm; a little RC4 from legacy clients keeps 0x17 from being a signal by itself.
        out.extend_from_slice(match self.rng.gen_range(0..100u32) {
            0..=96 => b"\",\"TicketEncryptionType\":\"0x12\"",
            97..=98 => b"\",\"TicketEncryptionType\":\"0x17\"",
            _ => b"\",\"TicketEncryptionType\":\"0x11\"",
        });
        out.extend_from_slice(b",\"IpAddress\":\"::ffff:");
        put_ipv4(out, self.world.ws_ip(user));
        out.extend_from_slice(b"\",\"IpPort\":\"");
        put_u64(out, self.port());
        out.extend_from_slice(b"\",\"Status\":\"0x0\",\"LogonGuid\":\"");
        put_guid(out, &mut self.rng);
        out.extend_from_slice(b"\",\"TransmittedServices\":\"-\"");
    }

    fn win_process(&mut self, out: &mut Vec<u8>, user: u64, sysmon: bool) {
        // Servers run services, not desktop applications.
        let (host, i) = if self.rng.gen_range(0..5u32) == 0 {
            let server = self.world.server_in(&mut self.rng, WINDOWS_ROLES);
            (Host::Server(server), SERVER_PROCS[self.rng.gen_range(0..SERVER_PROCS.len())])
        } else {
            (Host::Ws(user), skewed(&mut self.rng, PROCS.len() as u64) as usize)
        };
        let process = &PROCS[i];
        let system = process.system;
        if sysmon {
            self.win_head(out, host, 1, Channel::Sysmon);
            self.utc_time(out);
            out.extend_from_slice(b",\"ProcessGuid\":\"");
            put_guid(out, &mut self.rng);
            out.extend_from_slice(b"\",\"ProcessId\":\"");
            put_u64(out, self.rng.gen_range(400..30_000) & !3);
            out.extend_from_slice(b"\",\"Image\":\"");
            out.extend_from_slice(process.image);
            out.extend_from_slice(b"\",\"CommandLine\":\"");
            out.extend_from_slice(process.command_line);
            out.extend_from_slice(b"\",\"CurrentDirectory\":\"");
            if system {
                out.extend_from_slice(b"C:\\\\Windows\\\\system32\\\\");
            } else {
                out.extend_from_slice(b"C:\\\\Users\\\\");
                put_user(out, user);
                out.extend_from_slice(b"\\\\");
            }
            out.extend_from_slice(b"\",\"User\":\"");
            if system {
                out.extend_from_slice(b"NT AUTHORITY\\\\SYSTEM");
            } else {
                out.extend_from_slice(b"CORP\\\\");
                put_user(out, user);
            }
            out.extend_from_slice(b"\",\"LogonId\":\"0x");
            put_hex(out, if system { 0x3e7 } else { self.rng.gen_range(0x10000..0x1000_0000) });
            out.extend_from_slice(if system {
                b"\",\"IntegrityLevel\":\"System\",\"Hashes\":\"SHA256="
            } else {
                b"\",\"IntegrityLevel\":\"Medium\",\"Hashes\":\"SHA256="
            });
            out.extend_from_slice(&self.sha256[i]);
            out.extend_from_slice(b"\",\"ParentImage\":\"");
            out.extend_from_slice(process.parent);
            out.extend_from_slice(b"\",\"ParentCommandLine\":\"");
            out.extend_from_slice(process.parent_command_line);
            out.push(b'"');
        } else {
            self.win_head(out, host, 4688, Channel::Success);
            if system {
                out.extend_from_slice(b"\"SubjectUserSid\":\"S-1-5-18\",\"SubjectUserName\":\"");
                self.world.put_host_upper(out, host);
                out.extend_from_slice(b"$\",\"SubjectDomainName\":\"CORP\",\"SubjectLogonId\":\"0x3e7");
            } else {
                out.extend_from_slice(b"\"SubjectUserSid\":\"");
                out.extend_from_slice(DOMAIN_SID);
                put_u64(out, USER_RID_BASE + user);
                out.extend_from_slice(b"\",\"SubjectUserName\":\"");
                put_user(out, user);
                out.extend_from_slice(b"\",\"SubjectDomainName\":\"CORP\",\"SubjectLogonId\":\"0x");
                put_hex(out, self.rng.gen_range(0x10000..0x1000_0000));
            }
            out.extend_from_slice(b"\",\"NewProcessId\":\"0x");
            put_hex(out, self.rng.gen_range(400..30_000) & !3);
            out.extend_from_slice(b"\",\"NewProcessName\":\"");
            out.extend_from_slice(process.image);
            out.extend_from_slice(if system {
                b"\",\"TokenElevationType\":\"%%1936\",\"ProcessId\":\"0x"
            } else {
                b"\",\"TokenElevationType\":\"%%1938\",\"ProcessId\":\"0x"
            });
            put_hex(out, self.rng.gen_range(400..30_000) & !3);
            out.extend_from_slice(b"\",\"CommandLine\":\"");
            out.extend_from_slice(process.command_line);
            out.extend_from_slice(b"\",\"ParentProcessName\":\"");
            out.extend_from_slice(process.parent);
            out.extend_from_slice(if system { b"\",\"MandatoryLabel\":\"S-1-16-16384\"" } else { b"\",\"MandatoryLabel\":\"S-1-16-8192\"" });
        }
    }

    fn win_network(&mut self, out: &mut Vec<u8>, user: u64) {
        self.win_head(out, Host::Ws(user), 3, Channel::Sysmon);
        self.utc_time(out);
        out.extend_from_slice(b",\"ProcessGuid\":\"");
        put_guid(out, &mut self.rng);
        out.extend_from_slice(b"\",\"ProcessId\":\"");
        put_u64(out, self.rng.gen_range(400..30_000) & !3);
        out.extend_from_slice(b"\",\"Image\":\"");
        out.extend_from_slice(pick(&mut self.rng, NET_IMAGES));
        out.extend_from_slice(b"\",\"User\":\"CORP\\\\");
        put_user(out, user);
        out.extend_from_slice(b"\",\"Protocol\":\"tcp\",\"Initiated\":\"true\",\"SourceIsIpv6\":\"false\",\"SourceIp\":\"");
        put_ipv4(out, self.world.ws_ip(user));
        out.extend_from_slice(b"\",\"SourcePort\":\"");
        put_u64(out, self.port());
        out.extend_from_slice(b"\",\"DestinationIsIpv6\":\"false\",\"DestinationIp\":\"");
        put_ipv4(out, self.world.dest_ip(&mut self.rng));
        out.extend_from_slice(if self.rng.gen_range(0..10u32) == 0 {
            b"\",\"DestinationPort\":\"80\",\"DestinationPortName\":\"http\""
        } else {
            b"\",\"DestinationPort\":\"443\",\"DestinationPortName\":\"https\""
        });
    }

    fn win_process_access(&mut self, out: &mut Vec<u8>, user: u64) {
        self.win_head(out, Host::Ws(user), 10, Channel::Sysmon);
        self.utc_time(out);
        let access = &ACCESSES[self.rng.gen_range(0..ACCESSES.len())];
        out.extend_from_slice(b",\"SourceProcessGUID\":\"");
        put_guid(out, &mut self.rng);
        out.extend_from_slice(b"\",\"SourceProcessId\":\"");
        put_u64(out, self.rng.gen_range(400..30_000) & !3);
        out.extend_from_slice(b"\",\"SourceImage\":\"");
        out.extend_from_slice(access.source);
        out.extend_from_slice(b"\",\"TargetProcessGUID\":\"");
        put_guid(out, &mut self.rng);
        out.extend_from_slice(b"\",\"TargetProcessId\":\"");
        put_u64(out, self.rng.gen_range(400..30_000) & !3);
        out.extend_from_slice(b"\",\"TargetImage\":\"");
        out.extend_from_slice(access.target);
        out.extend_from_slice(b"\",\"GrantedAccess\":\"");
        out.extend_from_slice(access.granted);
        out.extend_from_slice(b"\",\"CallTrace\":\"C:\\\\Windows\\\\SYSTEM32\\\\ntdll.dll+9d4c4|C:\\\\Windows\\\\System32\\\\KERNELBASE.dll+2c13e\",\"SourceUser\":\"NT AUTHORITY\\\\SYSTEM\",\"TargetUser\":\"");
        if access.user_target {
            out.extend_from_slice(b"CORP\\\\");
            put_user(out, user);
        } else {
            out.extend_from_slice(b"NT AUTHORITY\\\\SYSTEM");
        }
        out.push(b'"');
    }

    fn target_user(&mut self, out: &mut Vec<u8>, user: u64) {
        out.extend_from_slice(b"\"TargetUserSid\":\"");
        out.extend_from_slice(DOMAIN_SID);
        put_u64(out, USER_RID_BASE + user);
        out.extend_from_slice(b"\",\"TargetUserName\":\"");
        put_user(out, user);
        out.extend_from_slice(b"\",\"TargetDomainName\":\"CORP\"");
    }

    pub(super) fn utc_time(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"\"UtcTime\":\"");
        out.extend_from_slice(&self.clock.iso[..10]);
        out.push(b' ');
        out.extend_from_slice(&self.clock.iso[11..]);
        out.push(b'.');
        put_padded(out, self.clock.millis(), 3);
        out.push(b'"');
    }
}

#[cfg(test)]
mod tests {
    use crate::generate::tests::{cfg, generate, lines};
    use crate::generate::GenFormat;
    use std::collections::BTreeMap;

    /// Checks the JSON lines with serde_json, independently of vigil's own parsers.
    #[test]
    fn windows_json_lines_are_valid_and_realistic() {
        let mut windows_ids = BTreeMap::new();
        let mut rc4 = 0;
        let bytes = generate(&cfg(GenFormat::Windows, 20_000, 3));
        let mut total = 0;
        for line in lines(&bytes) {
            total += line.len();
            let v: serde_json::Value = serde_json::from_slice(line).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(line)));
            assert!(v["@timestamp"].as_str().is_some_and(|t| t.starts_with("2024-01-15T08:") && t.ends_with('Z')));
            assert!(v["Hostname"].as_str().unwrap().ends_with(".corp.example.com"));
            let id = v["EventID"].as_u64().unwrap();
            *windows_ids.entry(id).or_insert(0) += 1;
            if id == 4769 && v["TicketEncryptionType"] == "0x17" {
                rc4 += 1;
            }
            if id == 4624 || id == 4625 {
                assert!(v["LogonType"].as_str().is_some() && v["TargetUserName"].as_str().is_some() && v["IpAddress"].as_str().is_some());
            }
            if id == 1 || id == 4688 {
                assert!(v["CommandLine"].as_str().unwrap().len() > 5);
            }
            if id == 10 {
                assert!(v["TargetImage"].as_str().unwrap().starts_with("C:\\"));
            }
        }
        let avg = total / 20_000;
        // Flat NXLog-style events without the rendered `Message`: 300 to 800 bytes each.
        assert!((400..800).contains(&avg), "windows average line {avg} bytes");
        assert_eq!(windows_ids.keys().copied().collect::<Vec<_>>(), [1, 3, 10, 4624, 4625, 4688, 4769]);
        assert!(rc4 > 0 && rc4 < windows_ids[&4769] / 10, "{rc4} RC4 tickets");
    }
}
