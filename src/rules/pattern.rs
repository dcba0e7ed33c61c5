//! Compiled value patterns and the allocation-free primitives that test event values against them.
//!
//! Case-insensitive matching (the Sigma default): needles are lowercased once at compile time,
//! char by char with Unicode `char::to_lowercase`. Haystacks are never copied: an ASCII haystack
//! is compared byte by byte with ASCII lowercasing (and searched with an ASCII-case-insensitive
//! Aho-Corasick automaton for `contains`); a non-ASCII haystack is compared through an iterator
//! of its lowercased chars (Unicode simple lowercase, no allocation). Glob patterns with inner
//! wildcards compile to a `regex` with `(?i)` (Unicode case folding). Numbers, booleans and IP
//! addresses are tested against string patterns through their text form, written into a stack
//! buffer.

use std::fmt::Write as _;
use std::net::IpAddr;

use aho_corasick::AhoCorasick;
use memchr::memmem;
use regex::Regex;

use crate::event::field::FieldId;
use crate::event::{Event, Key, ValueRef};

/// A field named by a rule: its id, resolved once at compile time, and its name.
#[derive(Clone, Debug)]
pub struct FieldRef {
    /// Interned id; `None` only when the process-wide intern table is full.
    pub id: Option<FieldId>,
    /// The field name as written in the rule.
    pub name: Box<str>,
}

impl FieldRef {
    /// Resolves `name` to an id (interning it).
    pub fn new(name: &str) -> Self {
        FieldRef { id: crate::event::field::intern(name), name: name.into() }
    }

    /// The field's value in `ev`, if present.
    #[inline]
    pub fn get<'e>(&self, ev: &'e Event) -> Option<ValueRef<'e>> {
        match self.id {
            Some(id) => ev.get(id),
            None => ev.fields().iter().find(|(k, _)| matches!(k, Key::Inline(_)) && ev.key_name(*k) == &*self.name).map(|(_, v)| ev.resolve(v)),
        }
    }
}

/// Where a string needle must sit in the value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pos {
    /// The whole value.
    Exact,
    /// At the start.
    Prefix,
    /// At the end.
    Suffix,
    /// Anywhere.
    Contains,
}

/// A compiled string pattern.
#[derive(Clone, Debug)]
pub enum StrPat {
    /// A literal at a position; `needle` is lowercased unless `cased`.
    Lit { pos: Pos, needle: Box<str>, cased: bool, finder: Option<Box<memmem::Finder<'static>>> },
    /// A pattern with inner wildcards, compiled to an anchored regex; `literal` is its longest
    /// ASCII literal run, lowercased (empty when it has none), which every match contains.
    Glob { re: Regex, literal: Box<str> },
    /// `*`: any string.
    Any,
}

impl StrPat {
    /// Builds a literal pattern.
    pub fn lit(pos: Pos, text: &str, cased: bool) -> StrPat {
        let needle: Box<str> = if cased { text.into() } else { lower(text).into() };
        let finder = (pos == Pos::Contains && cased).then(|| Box::new(memmem::Finder::new(needle.as_bytes()).into_owned()));
        StrPat::Lit { pos, needle, cased, finder }
    }

    /// Tests one string.
    #[inline]
    pub fn matches(&self, hay: &str) -> bool {
        match self {
            StrPat::Lit { pos, needle, cased: true, finder } => match pos {
                Pos::Exact => hay == &**needle,
                Pos::Prefix => hay.starts_with(&**needle),
                Pos::Suffix => hay.ends_with(&**needle),
                Pos::Contains => finder.as_ref().is_some_and(|f| f.find(hay.as_bytes()).is_some()),
            },
            StrPat::Lit { pos, needle, cased: false, .. } => match pos {
                Pos::Exact => eq_ci(hay, needle),
                Pos::Prefix => prefix_ci(hay, needle),
                Pos::Suffix => suffix_ci(hay, needle),
                Pos::Contains => contains_ci(hay, needle),
            },
            StrPat::Glob { re, .. } => re.is_match(hay),
            StrPat::Any => true,
        }
    }
}

/// Unicode lowercase, char by char (the same folding the matcher applies to haystacks).
pub fn lower(s: &str) -> String {
    s.chars().flat_map(char::to_lowercase).collect()
}

/// `hay` equals the lowercased `needle`, ignoring case.
pub fn eq_ci(hay: &str, needle: &str) -> bool {
    if hay.is_ascii() {
        hay.len() == needle.len() && hay.bytes().zip(needle.bytes()).all(|(a, b)| a.to_ascii_lowercase() == b)
    } else {
        hay.chars().flat_map(char::to_lowercase).eq(needle.chars())
    }
}

/// `hay` starts with the lowercased `needle`, ignoring case.
pub fn prefix_ci(hay: &str, needle: &str) -> bool {
    if hay.is_ascii() {
        hay.len() >= needle.len() && hay.bytes().zip(needle.bytes()).all(|(a, b)| a.to_ascii_lowercase() == b)
    } else {
        let mut h = hay.chars().flat_map(char::to_lowercase);
        needle.chars().all(|c| h.next() == Some(c))
    }
}

/// `hay` ends with the lowercased `needle`, ignoring case.
pub fn suffix_ci(hay: &str, needle: &str) -> bool {
    if hay.is_ascii() {
        hay.len() >= needle.len() && hay.bytes().rev().zip(needle.bytes().rev()).all(|(a, b)| a.to_ascii_lowercase() == b)
    } else {
        let mut h = hay.chars().rev().flat_map(|c| c.to_lowercase().rev());
        needle.chars().rev().all(|c| h.next() == Some(c))
    }
}

/// `hay` contains the lowercased `needle`, ignoring case (slow path: tries every char boundary).
pub fn contains_ci(hay: &str, needle: &str) -> bool {
    if needle.is_empty() {
        return true;
    }
    if hay.is_ascii() {
        if !needle.is_ascii() || needle.len() > hay.len() {
            return false;
        }
        let n = needle.as_bytes();
        return hay.as_bytes().windows(n.len()).any(|w| w.iter().zip(n).all(|(a, b)| a.to_ascii_lowercase() == *b));
    }
    hay.char_indices().any(|(i, _)| prefix_ci(&hay[i..], needle))
}

/// Comparison operators of the numeric modifiers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CmpOp {
    /// `lt`
    Lt,
    /// `lte`
    Lte,
    /// `gt`
    Gt,
    /// `gte`
    Gte,
}

/// An IPv4 or IPv6 network.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// Parses `a.b.c.d/n`, `x::y/n` or a bare address.
    pub fn parse(text: &str) -> Result<Cidr, String> {
        let (addr, prefix) = match text.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (text, None),
        };
        let addr: IpAddr = addr.trim().parse().map_err(|_| format!("invalid CIDR \"{text}\": bad address"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => p.trim().parse::<u8>().ok().filter(|p| *p <= max).ok_or_else(|| format!("invalid CIDR \"{text}\": bad prefix length"))?,
        };
        Ok(Cidr { addr, prefix })
    }

    /// Whether `ip` lies in the network (IPv4-mapped IPv6 addresses count as IPv4).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = crate::event::canonical_ip(ip);
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(a)) => {
                let mask = if self.prefix == 0 { 0 } else { u32::MAX << (32 - self.prefix) };
                u32::from(net) & mask == u32::from(a) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(a)) => {
                let mask = if self.prefix == 0 { 0 } else { u128::MAX << (128 - self.prefix) };
                u128::from(net) & mask == u128::from(a) & mask
            }
            _ => false,
        }
    }
}

/// One compiled value of a field selection.
#[derive(Clone, Debug)]
pub enum Pat {
    /// `null`: the field is missing or null.
    Null,
    /// A string pattern (also tried on the text of numbers, booleans and IPs).
    Str(StrPat),
    /// A YAML number: equal as a number (integers exactly when the rule's number is an integer),
    /// or equal to its text.
    Num(f64, Option<i64>, Box<str>),
    /// A YAML boolean.
    Bool(bool),
    /// `lt`/`lte`/`gt`/`gte`.
    Cmp(CmpOp, f64),
    /// `re`: an unanchored regex search.
    Re(Regex),
    /// `cidr`.
    Cidr(Cidr),
    /// `fieldref`: compare with another field of the same event.
    FieldRef { other: FieldRef, pos: Pos, cased: bool },
    /// Never matches (an `expand` placeholder without values).
    Never,
}

/// A small stack buffer for the text of numbers and addresses.
struct StackText {
    buf: [u8; 64],
    len: usize,
}

impl std::fmt::Write for StackText {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        let end = self.len + s.len();
        if end > self.buf.len() {
            return Err(std::fmt::Error);
        }
        self.buf[self.len..end].copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

/// Calls `f` with the text form of a scalar value (strings as they are), without allocating.
#[inline]
pub fn with_text<R>(v: ValueRef<'_>, f: impl FnOnce(&str) -> R) -> Option<R> {
    match v {
        ValueRef::Str(s) | ValueRef::Raw(s) => Some(f(s)),
        ValueRef::Int(i) => Some(f(itoa::Buffer::new().format(i))),
        ValueRef::Float(x) => {
            if x.fract() == 0.0 && x.abs() < 1e15 {
                Some(f(itoa::Buffer::new().format(x as i64)))
            } else {
                Some(f(ryu::Buffer::new().format(x)))
            }
        }
        ValueRef::Bool(b) => Some(f(if b { "true" } else { "false" })),
        ValueRef::Ip(ip) => {
            let mut t = StackText { buf: [0; 64], len: 0 };
            write!(t, "{ip}").ok()?;
            std::str::from_utf8(&t.buf[..t.len]).ok().map(f)
        }
        ValueRef::Null | ValueRef::List(_) => None,
    }
}

fn number(v: ValueRef<'_>) -> Option<f64> {
    match v {
        ValueRef::Int(i) => Some(i as f64),
        ValueRef::Float(x) => Some(x),
        // Finite only: Rust also parses the words `inf`, `infinity` and `NaN`, which in an event
        // are text (a user named "Infinity" is not greater than 10).
        ValueRef::Str(s) => s.trim().parse::<f64>().ok().filter(|x| x.is_finite()),
        _ => None,
    }
}

impl Pat {
    /// Tests a scalar value (never a list; the caller iterates lists).
    pub fn matches_scalar(&self, ev: &Event, v: ValueRef<'_>) -> bool {
        match self {
            Pat::Null => matches!(v, ValueRef::Null),
            Pat::Never => false,
            Pat::Str(p) => with_text(v, |s| p.matches(s)).unwrap_or(false),
            Pat::Num(n, exact, text) => match v {
                ValueRef::Int(i) => match exact {
                    Some(e) => i == *e,
                    None => i as f64 == *n,
                },
                ValueRef::Float(x) => x == *n,
                ValueRef::Str(s) => s.eq_ignore_ascii_case(text) || number(v) == Some(*n),
                _ => false,
            },
            Pat::Bool(b) => match v {
                ValueRef::Bool(x) => x == *b,
                ValueRef::Str(s) => s.eq_ignore_ascii_case(if *b { "true" } else { "false" }),
                _ => false,
            },
            Pat::Cmp(op, n) => number(v).is_some_and(|x| match op {
                CmpOp::Lt => x < *n,
                CmpOp::Lte => x <= *n,
                CmpOp::Gt => x > *n,
                CmpOp::Gte => x >= *n,
            }),
            Pat::Re(re) => with_text(v, |s| re.is_match(s)).unwrap_or(false),
            Pat::Cidr(net) => match v {
                ValueRef::Ip(ip) => net.contains(ip),
                ValueRef::Str(s) => s.trim().parse::<IpAddr>().is_ok_and(|ip| net.contains(ip)),
                _ => false,
            },
            Pat::FieldRef { other, pos, cased } => {
                let Some(o) = other.get(ev) else { return false };
                with_text(v, |hay| with_text(o, |needle| fieldref_match(hay, needle, *pos, *cased)).unwrap_or(false)).unwrap_or(false)
            }
        }
    }
}

fn fieldref_match(hay: &str, needle: &str, pos: Pos, cased: bool) -> bool {
    if cased {
        return match pos {
            Pos::Exact => hay == needle,
            Pos::Prefix => hay.starts_with(needle),
            Pos::Suffix => hay.ends_with(needle),
            Pos::Contains => memmem::find(hay.as_bytes(), needle.as_bytes()).is_some(),
        };
    }
    if !needle.is_ascii() {
        // The other field's text is not lowercased ahead of time; compare char-wise lowercased.
        let lower_needle = || needle.chars().flat_map(char::to_lowercase);
        let h = || hay.chars().flat_map(char::to_lowercase);
        return match pos {
            Pos::Exact => h().eq(lower_needle()),
            Pos::Prefix => {
                let mut it = h();
                lower_needle().all(|c| it.next() == Some(c))
            }
            Pos::Suffix => {
                let mut it = hay.chars().rev().flat_map(|c| c.to_lowercase().rev());
                needle.chars().rev().flat_map(|c| c.to_lowercase().rev()).all(|c| it.next() == Some(c))
            }
            Pos::Contains => hay.char_indices().any(|(i, _)| {
                let mut it = hay[i..].chars().flat_map(char::to_lowercase);
                lower_needle().all(|c| it.next() == Some(c))
            }),
        };
    }
    let eq = |a: &[u8], b: &[u8]| a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.eq_ignore_ascii_case(y));
    let (h, n) = (hay.as_bytes(), needle.as_bytes());
    if !hay.is_ascii() {
        // ASCII needle, non-ASCII haystack: ASCII case-insensitive bytes still line up.
        return match pos {
            Pos::Exact => false,
            Pos::Prefix => h.len() >= n.len() && eq(&h[..n.len()], n),
            Pos::Suffix => h.len() >= n.len() && eq(&h[h.len() - n.len()..], n),
            Pos::Contains => n.is_empty() || h.windows(n.len()).any(|w| eq(w, n)),
        };
    }
    match pos {
        Pos::Exact => eq(h, n),
        Pos::Prefix => h.len() >= n.len() && eq(&h[..n.len()], n),
        Pos::Suffix => h.len() >= n.len() && eq(&h[h.len() - n.len()..], n),
        Pos::Contains => n.is_empty() || h.windows(n.len()).any(|w| eq(w, n)),
    }
}

/// The OR of several patterns, with every case-insensitive `contains` literal searched at once.
#[derive(Clone, Debug)]
pub struct PatSet {
    /// Lowercased needles of case-insensitive `contains` literals.
    ci_contains: Vec<Box<str>>,
    /// ASCII-case-insensitive automaton over the ASCII ones among `ci_contains`, built when the
    /// set is first tested: behind the rule index most sets of a large rule set never are, and
    /// building thousands of automata was most of the time it took to load SigmaHQ.
    ac: std::sync::OnceLock<Option<AhoCorasick>>,
    /// Everything else.
    others: Vec<Pat>,
}

impl PatSet {
    /// Builds the set.
    pub fn new(pats: Vec<Pat>) -> PatSet {
        let mut ci_contains = Vec::new();
        let mut others = Vec::new();
        for p in pats {
            match p {
                Pat::Str(StrPat::Lit { pos: Pos::Contains, needle, cased: false, .. }) => ci_contains.push(needle),
                p => others.push(p),
            }
        }
        PatSet { ci_contains, ac: std::sync::OnceLock::new(), others }
    }

    /// The automaton over the ASCII needles; `None` when there are none, or (it cannot happen
    /// with plain literals) it could not be built, when the needles are tried one by one.
    fn automaton(&self) -> Option<&AhoCorasick> {
        self.ac
            .get_or_init(|| {
                let ascii: Vec<&str> = self.ci_contains.iter().map(|s| &**s).filter(|s| s.is_ascii()).collect();
                if ascii.is_empty() {
                    return None;
                }
                AhoCorasick::builder().ascii_case_insensitive(true).build(&ascii).ok()
            })
            .as_ref()
    }

    /// True when the set can never match anything.
    pub fn is_never(&self) -> bool {
        self.ci_contains.is_empty() && self.others.iter().all(|p| matches!(p, Pat::Never))
    }

    /// Whether the set holds a `null` pattern (which a missing field satisfies).
    pub fn has_null(&self) -> bool {
        self.others.iter().any(|p| matches!(p, Pat::Null))
    }

    fn contains_any(&self, s: &str) -> bool {
        if self.ci_contains.is_empty() {
            return false;
        }
        if s.is_ascii() {
            // Non-ASCII needles cannot occur in an ASCII haystack (its lowercase is ASCII).
            return match self.automaton() {
                Some(ac) => ac.is_match(s),
                None => self.ci_contains.iter().any(|n| n.is_ascii() && contains_ci(s, n)),
            };
        }
        self.ci_contains.iter().any(|n| contains_ci(s, n))
    }

    /// Texts of which a value matching the set contains at least one (lowercased, for a search
    /// that ignores case), or `None` when some pattern of the set needs no text at all (a
    /// number, a regex, `*`, an empty literal). An empty list means the set never matches.
    pub fn required(&self) -> Option<Vec<Box<str>>> {
        let mut out: Vec<Box<str>> = Vec::with_capacity(self.ci_contains.len() + self.others.len());
        for n in &self.ci_contains {
            if n.is_empty() {
                return None;
            }
            out.push(n.clone());
        }
        for p in &self.others {
            match p {
                Pat::Never => {}
                // A cased needle is found by a search that ignores case too (a superset).
                Pat::Str(StrPat::Lit { needle, cased, .. }) if !needle.is_empty() => out.push(if *cased { lower(needle).into() } else { needle.clone() }),
                Pat::Str(StrPat::Glob { literal, .. }) if !literal.is_empty() => out.push(literal.clone()),
                _ => return None,
            }
        }
        Some(out)
    }

    /// Tests a scalar value.
    #[inline]
    pub fn matches_scalar(&self, ev: &Event, v: ValueRef<'_>) -> bool {
        if !self.ci_contains.is_empty() && with_text(v, |s| self.contains_any(s)).unwrap_or(false) {
            return true;
        }
        self.others.iter().any(|p| p.matches_scalar(ev, v))
    }

    /// Tests a value; a list matches when any of its items does.
    pub fn matches(&self, ev: &Event, v: ValueRef<'_>) -> bool {
        match v {
            ValueRef::List(items) => items.iter().any(|item| self.matches_scalar(ev, ev.resolve(item))),
            v => self.matches_scalar(ev, v),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(pos: Pos, hay: &str, needle: &str) -> bool {
        let (h, n) = (lower(hay), lower(needle));
        match pos {
            Pos::Exact => h == n,
            Pos::Prefix => h.starts_with(&n),
            Pos::Suffix => h.ends_with(&n),
            Pos::Contains => h.contains(&n),
        }
    }

    proptest::proptest! {
        /// The allocation-free case-insensitive primitives agree with lowercasing both sides.
        #[test]
        fn ci_matches_naive_lowercasing(hay in "[aAbBßẞİiKkÄä\\* -]{0,12}", needle in "[aAbBßẞİiKkÄä\\* -]{0,4}") {
            for pos in [Pos::Exact, Pos::Prefix, Pos::Suffix, Pos::Contains] {
                let p = StrPat::lit(pos, &needle, false);
                proptest::prop_assert_eq!(p.matches(&hay), naive(pos, &hay, &needle), "{:?} {:?} {:?}", pos, hay, needle);
                let set = PatSet::new(vec![Pat::Str(StrPat::lit(pos, &needle, false))]);
                let ev = Event::at(0);
                proptest::prop_assert_eq!(set.matches(&ev, ValueRef::Str(&hay)), naive(pos, &hay, &needle));
            }
        }
    }

    #[test]
    fn case_insensitive_primitives() {
        assert!(eq_ci("CMD.exe", "cmd.exe"));
        assert!(eq_ci("ÄBC", "äbc"));
        assert!(!eq_ci("ÄBC", "abc"));
        assert!(prefix_ci("Ärger macht", "ärg"));
        assert!(suffix_ci("Straße", "ße"));
        assert!(suffix_ci("C:\\WINDOWS\\cmd.exe", "\\cmd.exe"));
        assert!(contains_ci("xx ÜBER yy", "über"));
        assert!(contains_ci("hello WORLD", "o w"));
        assert!(!contains_ci("hello", "hello!"));
    }

    #[test]
    fn cidr_v4_v6_and_mapped() {
        let n = Cidr::parse("10.0.0.0/8").unwrap();
        assert!(n.contains("10.1.2.3".parse().unwrap()));
        assert!(n.contains("::ffff:10.1.2.3".parse().unwrap()));
        assert!(!n.contains("11.0.0.1".parse().unwrap()));
        let n6 = Cidr::parse("fe80::/10").unwrap();
        assert!(n6.contains("fe80::1".parse().unwrap()));
        assert!(!n6.contains("2001:db8::1".parse().unwrap()));
        assert!(Cidr::parse("0.0.0.0/0").unwrap().contains("1.2.3.4".parse().unwrap()));
        assert!(Cidr::parse("10.0.0.0/33").is_err());
        assert!(Cidr::parse("10.0.0/8").is_err());
    }

    #[test]
    fn comparisons_read_numbers_not_words() {
        let ev = Event::at(0);
        let gt = Pat::Cmp(CmpOp::Gt, 10.0);
        let lt = Pat::Cmp(CmpOp::Lt, 10.0);
        assert!(gt.matches_scalar(&ev, ValueRef::Str(" 11 ")) && gt.matches_scalar(&ev, ValueRef::Str("1e2")));
        for word in ["inf", "Infinity", "+inf", "NaN", "nan"] {
            assert!(!gt.matches_scalar(&ev, ValueRef::Str(word)), "{word}");
        }
        for word in ["-inf", "-Infinity", "NaN"] {
            assert!(!lt.matches_scalar(&ev, ValueRef::Str(word)), "{word}");
        }
    }

    #[test]
    fn text_of_values() {
        assert_eq!(with_text(ValueRef::Int(-42), |s| s.to_string()).unwrap(), "-42");
        assert_eq!(with_text(ValueRef::Float(3.0), |s| s.to_string()).unwrap(), "3");
        assert_eq!(with_text(ValueRef::Ip("2001:db8::1".parse().unwrap()), |s| s.to_string()).unwrap(), "2001:db8::1");
    }
}
