//! BSD syslog auth log lines from the Linux servers: sshd logins, failures and internet noise,
//! sudo, and cron.

use rand::Rng;

use super::tables::{CRON_JOBS, INVALID_USERS, SUDO_COMMANDS};
use super::world::{splitmix, LINUX_ROLES};
use super::write::{pick, put_ipv4, put_u64, put_user};
use super::Generator;

impl Generator {
    pub(super) fn syslog_head(&mut self, out: &mut Vec<u8>, server: u64, process: &[u8], pid: u64) {
        out.extend_from_slice(&self.clock.syslog);
        out.push(b' ');
        self.world.put_server(out, server);
        out.push(b' ');
        out.extend_from_slice(process);
        out.push(b'[');
        put_u64(out, pid);
        out.extend_from_slice(b"]: ");
    }

    pub(super) fn syslog(&mut self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.clock.syslog);
        out.push(b' ');
        let server = self.world.server_in(&mut self.rng, LINUX_ROLES);
        self.world.put_server(out, server);
        let pid = self.rng.gen_range(900..65_000u64);
        match self.rng.gen_range(0..100u32) {
            0..=78 => {
                out.extend_from_slice(b" sshd[");
                put_u64(out, pid);
                out.extend_from_slice(b"]: ");
                self.sshd(out);
            }
            79..=90 => {
                let user = self.world.user(&mut self.rng);
                match self.rng.gen_range(0..10u32) {
                    0..=5 => {
                        out.extend_from_slice(b" sudo:   ");
                        put_user(out, user);
                        out.extend_from_slice(b" : TTY=pts/");
                        put_u64(out, self.rng.gen_range(0..6));
                        out.extend_from_slice(b" ; PWD=/home/");
                        put_user(out, user);
                        out.extend_from_slice(b" ; USER=root ; COMMAND=");
                        out.extend_from_slice(pick(&mut self.rng, SUDO_COMMANDS));
                    }
                    6..=7 => {
                        out.extend_from_slice(b" sudo: pam_unix(sudo:session): session opened for user root by ");
                        put_user(out, user);
                        out.extend_from_slice(b"(uid=0)");
                    }
                    _ => out.extend_from_slice(b" sudo: pam_unix(sudo:session): session closed for user root"),
                }
            }
            _ => {
                out.extend_from_slice(b" CRON[");
                put_u64(out, pid);
                out.extend_from_slice(b"]: ");
                let (user, command) = CRON_JOBS[self.rng.gen_range(0..CRON_JOBS.len())];
                match self.rng.gen_range(0..3u32) {
                    0 => {
                        out.extend_from_slice(b"pam_unix(cron:session): session opened for user ");
                        out.extend_from_slice(user);
                        out.extend_from_slice(b" by (uid=0)");
                    }
                    1 => {
                        out.push(b'(');
                        out.extend_from_slice(user);
                        out.extend_from_slice(b") CMD (");
                        out.extend_from_slice(command);
                        out.push(b')');
                    }
                    _ => {
                        out.extend_from_slice(b"pam_unix(cron:session): session closed for user ");
                        out.extend_from_slice(user);
                    }
                }
            }
        }
    }

    fn sshd(&mut self, out: &mut Vec<u8>) {
        let user = self.world.user(&mut self.rng);
        // Staff connect from their workstation or, off-site, through the VPN's public range.
        let staff_ip = if self.rng.gen_range(0..5u32) == 0 { self.world.client_ip(user) } else { self.world.ws_ip(user) };
        let port = self.port();
        match self.rng.gen_range(0..100u32) {
            0..=17 => {
                out.extend_from_slice(b"Accepted publickey for ");
                put_user(out, user);
                out.extend_from_slice(b" from ");
                put_ipv4(out, staff_ip);
                out.extend_from_slice(b" port ");
                put_u64(out, port);
                out.extend_from_slice(b" ssh2: ");
                put_key_fingerprint(out, user);
            }
            18..=22 => {
                out.extend_from_slice(b"Accepted password for ");
                put_user(out, user);
                out.extend_from_slice(b" from ");
                put_ipv4(out, staff_ip);
                out.extend_from_slice(b" port ");
                put_u64(out, port);
                out.extend_from_slice(b" ssh2");
            }
            23..=40 => {
                out.extend_from_slice(b"pam_unix(sshd:session): session opened for user ");
                put_user(out, user);
                out.extend_from_slice(b" by (uid=0)");
            }
            41..=56 => {
                out.extend_from_slice(b"pam_unix(sshd:session): session closed for user ");
                put_user(out, user);
            }
            57..=60 => {
                // Mistyped passwords come from anyone, not in proportion to how busy a user is:
                // no staff address piles up failures the way a guesser does.
                let user = self.rng.gen_range(0..self.world.users);
                out.extend_from_slice(b"Failed password for ");
                put_user(out, user);
                out.extend_from_slice(b" from ");
                put_ipv4(out, self.world.ws_ip(user));
                out.extend_from_slice(b" port ");
                put_u64(out, port);
                out.extend_from_slice(b" ssh2");
            }
            // Background noise from the internet: single guesses spread over many sources.
            61..=68 => {
                out.extend_from_slice(b"Failed password for invalid user ");
                out.extend_from_slice(pick(&mut self.rng, INVALID_USERS));
                out.extend_from_slice(b" from ");
                put_ipv4(out, self.world.scanner_ip(&mut self.rng));
                out.extend_from_slice(b" port ");
                put_u64(out, port);
                out.extend_from_slice(b" ssh2");
            }
            69..=76 => {
                out.extend_from_slice(b"Invalid user ");
                out.extend_from_slice(pick(&mut self.rng, INVALID_USERS));
                out.extend_from_slice(b" from ");
                put_ipv4(out, self.world.scanner_ip(&mut self.rng));
                out.extend_from_slice(b" port ");
                put_u64(out, port);
            }
            77..=80 => {
                out.extend_from_slice(b"pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=");
                put_ipv4(out, self.world.scanner_ip(&mut self.rng));
                out.extend_from_slice(b"  user=root");
            }
            81..=88 => {
                out.extend_from_slice(b"Connection closed by ");
                put_ipv4(out, self.world.scanner_ip(&mut self.rng));
                out.extend_from_slice(b" port ");
                put_u64(out, port);
                out.extend_from_slice(b" [preauth]");
            }
            89..=94 => {
                out.extend_from_slice(b"Received disconnect from ");
                put_ipv4(out, staff_ip);
                out.extend_from_slice(b" port ");
                put_u64(out, port);
                out.extend_from_slice(b":11: disconnected by user");
            }
            _ => {
                out.extend_from_slice(b"Disconnected from user ");
                put_user(out, user);
                out.push(b' ');
                put_ipv4(out, staff_ip);
                out.extend_from_slice(b" port ");
                put_u64(out, port);
            }
        }
    }
}

/// The user's (fixed) SSH key: type and unpadded base64 SHA256 fingerprint, as sshd logs it.
fn put_key_fingerprint(out: &mut Vec<u8>, user: u64) {
    const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut h = splitmix(user ^ 0x55aa);
    out.extend_from_slice(match h % 4 {
        0 | 1 => b"ED25519 SHA256:",
        2 => b"RSA SHA256:",
        _ => b"ECDSA SHA256:",
    });
    for i in 0..43 {
        if i % 10 == 0 {
            h = splitmix(h);
        }
        out.push(B64[((h >> ((i % 10) * 6)) & 63) as usize]);
    }
}
