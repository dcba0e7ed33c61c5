//! Apache combined access log lines from the web site's clients, staff and crawlers.

use rand::Rng;

use super::tables::{PageKind, BROWSERS, DISCONTINUED, PAGES, REFERRER_PATHS, SEARCH_WORDS, USER_AGENTS};
use super::world::{skewed, splitmix};
use super::write::{pick, put_ipv4, put_ipv6, put_u64, put_user};
use super::Generator;

impl Generator {
    pub(super) fn apache(&mut self, out: &mut Vec<u8>) {
        let client = self.world.client(&mut self.rng);
        let staff = match self.rng.gen_range(0..100u32) {
            0..=2 => {
                put_ipv6(out, client);
                false
            }
            3..=9 => {
                put_ipv4(out, self.world.ws_ip(client % self.world.users));
                true
            }
            _ => {
                put_ipv4(out, self.world.client_ip(client));
                false
            }
        };
        out.extend_from_slice(b" - ");
        if self.rng.gen_range(0..25u32) == 0 {
            put_user(out, self.world.user(&mut self.rng));
        } else {
            out.push(b'-');
        }
        out.extend_from_slice(b" [");
        out.extend_from_slice(&self.clock.clf);
        out.extend_from_slice(b"] \"");

        let (path, kind) = PAGES[skewed(&mut self.rng, PAGES.len() as u64) as usize];
        let roll = self.rng.gen_range(0..100u32);
        let method: &[u8] = match kind {
            PageKind::Form if roll < 40 => b"POST",
            PageKind::Api | PageKind::ApiItem => match roll {
                0..=59 => b"GET",
                60..=89 => b"POST",
                90..=94 => b"PUT",
                _ => b"OPTIONS",
            },
            _ if roll < 3 => b"HEAD",
            _ => b"GET",
        };
        let post = method == b"POST";
        let roll = self.rng.gen_range(0..1000u32);
        let status: u64 = match kind {
            PageKind::Asset | PageKind::Image => match roll {
                0..=779 => 200,
                780..=949 if method == b"GET" => 304,
                780..=949 => 200,
                950..=994 => 404,
                _ => 403,
            },
            // Forms answer a POST with a redirect (post/redirect/get) or a failed login.
            PageKind::Form if post => match roll {
                0..=599 => 302,
                600..=849 => 200,
                850..=929 => 401,
                930..=969 => 403,
                970..=989 => 400,
                _ => 500,
            },
            PageKind::Api | PageKind::ApiItem => match roll {
                0..=849 if post => 201,
                0..=849 => 200,
                850..=909 => 400,
                910..=939 => 401,
                940..=959 => 403,
                960..=979 => 404,
                980..=994 => 500,
                _ => 503,
            },
            _ => match roll {
                0..=869 => 200,
                870..=889 => 301,
                890..=909 => 302,
                910..=964 => 404,
                965..=979 => 403,
                980..=994 => 500,
                _ => 503,
            },
        };
        // A missing product or item is one of a few discontinued ones that stale links still
        // point to: a client's distinct 404 paths stay bounded, unlike a content scanner's.
        let gone = status == 404;
        out.extend_from_slice(method);
        out.push(b' ');
        out.extend_from_slice(path);
        match kind {
            PageKind::Product if gone => put_u64(out, DISCONTINUED[self.rng.gen_range(0..DISCONTINUED.len())]),
            PageKind::Product => put_u64(out, 1000 + skewed(&mut self.rng, 5000)),
            PageKind::Search => {
                out.extend_from_slice(pick(&mut self.rng, SEARCH_WORDS));
                out.extend_from_slice(b"&page=");
                put_u64(out, 1 + skewed(&mut self.rng, 8));
            }
            PageKind::ApiItem => {
                put_u64(out, if gone { DISCONTINUED[self.rng.gen_range(0..DISCONTINUED.len())] } else { 1000 + skewed(&mut self.rng, 5000) });
                out.extend_from_slice(b"?fields=price,stock");
            }
            _ => {}
        }
        out.extend_from_slice(match self.rng.gen_range(0..100u32) {
            0..=86 => b" HTTP/1.1\" ",
            87..=96 => b" HTTP/2.0\" ",
            _ => b" HTTP/1.0\" ",
        });

        put_u64(out, status);
        out.push(b' ');
        if status == 304 || method == b"HEAD" || status == 301 || status == 302 && self.rng.gen_bool(0.5) {
            out.push(b'-');
        } else {
            let size = match (status, kind) {
                (200 | 201, PageKind::Image) => 1_000 + skewed(&mut self.rng, 300_000),
                (200 | 201, PageKind::Asset) => 2_000 + skewed(&mut self.rng, 200_000),
                (200 | 201, PageKind::Api | PageKind::ApiItem) => 80 + skewed(&mut self.rng, 8_000),
                (200 | 201, _) => 3_000 + skewed(&mut self.rng, 60_000),
                _ => self.rng.gen_range(150..700),
            };
            put_u64(out, size);
        }

        out.extend_from_slice(b" \"");
        match self.rng.gen_range(0..100u32) {
            0..=34 => out.push(b'-'),
            35..=79 => {
                out.extend_from_slice(b"https://www.example.com");
                out.extend_from_slice(REFERRER_PATHS[skewed(&mut self.rng, REFERRER_PATHS.len() as u64) as usize]);
            }
            80..=94 => out.extend_from_slice(b"https://www.google.com/"),
            _ => out.extend_from_slice(b"https://www.bing.com/"),
        }
        out.extend_from_slice(b"\" \"");
        // A client keeps its browser; a few requests come from other tools on the same address.
        // Staff on the office network browse; crawlers and scripts come from outside.
        let agents = if staff { BROWSERS } else { USER_AGENTS.len() };
        let ua = if self.rng.gen_range(0..10u32) == 0 { self.rng.gen_range(0..agents) } else { (splitmix(client) % agents as u64) as usize };
        out.extend_from_slice(USER_AGENTS[ua]);
        out.push(b'"');
    }
}

#[cfg(test)]
mod tests {
    use crate::generate::tests::{cfg, generate, lines};
    use crate::generate::GenFormat;
    use std::collections::HashSet;

    #[test]
    fn apache_lines_look_like_access_logs() {
        let bytes = generate(&cfg(GenFormat::Apache, 5_000, 5));
        let mut statuses = HashSet::new();
        for line in lines(&bytes) {
            assert!(crate::parse::apache::looks_like_access_log(line), "{}", String::from_utf8_lossy(line));
            let text = std::str::from_utf8(line).unwrap();
            statuses.insert(text.split("\" ").nth(1).unwrap()[..3].to_string());
        }
        for status in ["200", "304", "404", "500"] {
            assert!(statuses.contains(status), "no {status}");
        }
    }
}
