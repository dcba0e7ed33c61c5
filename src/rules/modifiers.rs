//! Value modifiers (Sigma modifiers appendix v2.1) and the Sigma string syntax (wildcards, escapes).
//!
//! A Sigma string is parsed into literal runs and wildcards: `*` any run, `?` one character,
//! and `\` escapes `*`, `?` and `\` itself; a `\` before any other character is a plain
//! backslash (so `C:\Windows\` and `C:\\Windows\\` mean the same). Transformation modifiers
//! (`contains`, `startswith`, `endswith`, `windash`, `base64`, `base64offset`, `utf16le`,
//! `utf16be`, `utf16`, `wide`) apply in the order written; encodings reject values with
//! wildcards. Encoded (base64) values match case-sensitively, since base64 text is.

use base64::Engine as _;

use super::pattern::{CmpOp, Pos, StrPat};

/// One piece of a parsed Sigma string.
#[derive(Clone, Debug, PartialEq)]
pub enum Tok {
    /// Literal text.
    Lit(String),
    /// `*`
    Star,
    /// `?`
    One,
}

/// A parsed Sigma string.
pub type SigmaStr = Vec<Tok>;

/// Parses wildcards and escapes.
pub fn parse_sigma_str(raw: &str) -> SigmaStr {
    let mut out = Vec::new();
    let mut lit = String::new();
    let mut chars = raw.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.peek() {
                Some(&n @ ('*' | '?' | '\\')) => {
                    lit.push(n);
                    chars.next();
                }
                _ => lit.push('\\'),
            },
            '*' | '?' => {
                if !lit.is_empty() {
                    out.push(Tok::Lit(std::mem::take(&mut lit)));
                }
                out.push(if c == '*' { Tok::Star } else { Tok::One });
            }
            c => lit.push(c),
        }
    }
    if !lit.is_empty() {
        out.push(Tok::Lit(lit));
    }
    out
}

fn normalize(s: SigmaStr) -> SigmaStr {
    let mut out: SigmaStr = Vec::with_capacity(s.len());
    for t in s {
        match (out.last_mut(), t) {
            (Some(Tok::Lit(a)), Tok::Lit(b)) => a.push_str(&b),
            (Some(Tok::Star), Tok::Star) => {}
            (_, Tok::Lit(b)) if b.is_empty() => {}
            (_, t) => out.push(t),
        }
    }
    out
}

/// Compiles a Sigma string to a string pattern.
pub fn compile_str(s: SigmaStr, cased: bool) -> Result<StrPat, String> {
    let s = normalize(s);
    Ok(match s.as_slice() {
        [] => StrPat::lit(Pos::Exact, "", cased),
        [Tok::Lit(a)] => StrPat::lit(Pos::Exact, a, cased),
        [Tok::Lit(a), Tok::Star] => StrPat::lit(Pos::Prefix, a, cased),
        [Tok::Star, Tok::Lit(a)] => StrPat::lit(Pos::Suffix, a, cased),
        [Tok::Star, Tok::Lit(a), Tok::Star] => StrPat::lit(Pos::Contains, a, cased),
        [Tok::Star] => StrPat::Any,
        toks => {
            let mut re = String::from(if cased { "(?s)^" } else { "(?si)^" });
            for t in toks {
                match t {
                    Tok::Lit(a) => re.push_str(&regex::escape(a)),
                    Tok::Star => re.push_str(".*"),
                    Tok::One => re.push('.'),
                }
            }
            re.push('$');
            // Only an ASCII run can serve the rule index: with `(?i)` the regex also matches `ſ`
            // for `s` and the Kelvin sign for `k`, which an index over lowercased text must see
            // coming, and no non-ASCII literal has such a short list of look-alikes.
            let literal = toks
                .iter()
                .filter_map(|t| match t {
                    Tok::Lit(a) if a.is_ascii() => Some(a.as_str()),
                    _ => None,
                })
                .max_by_key(|a| a.len())
                .map(|a| a.to_ascii_lowercase().into_boxed_str())
                .unwrap_or_default();
            StrPat::Glob { re: regex::Regex::new(&re).map_err(|e| format!("cannot compile wildcard pattern: {e}"))?, literal }
        }
    })
}

/// A parsed modifier chain.
#[derive(Clone, Debug, Default)]
pub struct Modifiers {
    /// Transformations in order.
    pub transforms: Vec<Transform>,
    /// `all`
    pub all: bool,
    /// `cased`
    pub cased: bool,
    /// `neq`
    pub neq: bool,
    /// `re` with its flags (`i`, `m`, `s`).
    pub re: Option<ReFlags>,
    /// `cidr`
    pub cidr: bool,
    /// `exists`
    pub exists: bool,
    /// `lt`, `lte`, `gt`, `gte`
    pub cmp: Option<CmpOp>,
    /// `fieldref`
    pub fieldref: bool,
    /// `expand`
    pub expand: bool,
}

/// Flags of the `re` modifier.
#[derive(Clone, Copy, Debug, Default)]
pub struct ReFlags {
    /// `i`
    pub insensitive: bool,
    /// `m`
    pub multi_line: bool,
    /// `s`
    pub dot_all: bool,
}

/// A transformation modifier.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transform {
    /// `contains`, `startswith`, `endswith`.
    Position(Pos),
    /// `windash`
    Windash,
    /// `base64`
    Base64,
    /// `base64offset`
    Base64Offset,
    /// `utf16le` / `wide`
    Utf16Le,
    /// `utf16be`
    Utf16Be,
    /// `utf16` (with a byte order mark)
    Utf16Bom,
}

impl Modifiers {
    /// Parses the modifiers of `field|a|b`; `mods` are the parts after the field name.
    pub fn parse(mods: &[&str]) -> Result<Modifiers, String> {
        let mut m = Modifiers::default();
        let mut after_re = false;
        for &name in mods {
            let flag_position = after_re;
            after_re = name == "re" || (after_re && matches!(name, "i" | "m" | "s"));
            match name {
                "contains" => m.transforms.push(Transform::Position(Pos::Contains)),
                "startswith" => m.transforms.push(Transform::Position(Pos::Prefix)),
                "endswith" => m.transforms.push(Transform::Position(Pos::Suffix)),
                "windash" => m.transforms.push(Transform::Windash),
                "base64" => m.transforms.push(Transform::Base64),
                "base64offset" => m.transforms.push(Transform::Base64Offset),
                "utf16le" | "wide" => m.transforms.push(Transform::Utf16Le),
                "utf16be" => m.transforms.push(Transform::Utf16Be),
                "utf16" => m.transforms.push(Transform::Utf16Bom),
                "all" => m.all = true,
                "cased" => m.cased = true,
                "neq" => m.neq = true,
                "re" => m.re = Some(ReFlags::default()),
                "i" | "m" | "s" if flag_position => {
                    let f = m.re.as_mut().ok_or("regex flag without re")?;
                    match name {
                        "i" => f.insensitive = true,
                        "m" => f.multi_line = true,
                        _ => f.dot_all = true,
                    }
                }
                "i" | "m" | "s" => return Err(format!("modifier \"{name}\" is a flag of \"re\" and must follow it directly")),
                "cidr" => m.cidr = true,
                "exists" => m.exists = true,
                "lt" => m.cmp = Some(CmpOp::Lt),
                "lte" => m.cmp = Some(CmpOp::Lte),
                "gt" => m.cmp = Some(CmpOp::Gt),
                "gte" => m.cmp = Some(CmpOp::Gte),
                "fieldref" => m.fieldref = true,
                "expand" => m.expand = true,
                "minute" | "hour" | "day" | "week" | "month" | "year" => return Err(format!("time modifier \"{name}\" is not supported yet")),
                "" => return Err("empty modifier".into()),
                other => return Err(format!("unknown modifier \"{other}\"")),
            }
        }
        let kinds = [m.re.is_some(), m.cidr, m.exists, m.cmp.is_some(), m.fieldref].iter().filter(|b| **b).count();
        if kinds > 1 {
            return Err("modifiers re, cidr, exists, lt/lte/gt/gte and fieldref exclude each other".into());
        }
        let positional_only = m.transforms.iter().all(|t| matches!(t, Transform::Position(_)));
        if (m.re.is_some() || m.cidr || m.exists || m.cmp.is_some()) && !m.transforms.is_empty() {
            return Err("string transformations cannot be combined with re, cidr, exists or lt/lte/gt/gte".into());
        }
        if m.fieldref && !(positional_only && m.transforms.len() <= 1) {
            return Err("fieldref combines only with one of contains, startswith, endswith".into());
        }
        Ok(m)
    }
}

const DASHES: [char; 5] = ['-', '/', '\u{2013}', '\u{2014}', '\u{2015}'];
const MAX_VARIANTS: usize = 4096;

fn windash(s: SigmaStr) -> Result<Vec<SigmaStr>, String> {
    let mut variants: Vec<SigmaStr> = vec![Vec::new()];
    for tok in s {
        match tok {
            Tok::Lit(text) => {
                let mut texts = vec![String::new()];
                for c in text.chars() {
                    if DASHES.contains(&c) {
                        texts = texts.iter().flat_map(|t| DASHES.iter().map(move |d| format!("{t}{d}"))).collect();
                    } else {
                        texts.iter_mut().for_each(|t| t.push(c));
                    }
                    if texts.len() * variants.len() > MAX_VARIANTS {
                        return Err(format!("windash expands to more than {MAX_VARIANTS} variants"));
                    }
                }
                variants = variants.iter().flat_map(|v| texts.iter().map(move |t| [v.clone(), vec![Tok::Lit(t.clone())]].concat())).collect();
            }
            t => variants.iter_mut().for_each(|v| v.push(t.clone())),
        }
    }
    Ok(variants)
}

/// The value as bytes (for encodings); fails on wildcards.
fn plain_bytes(s: &SigmaStr, what: &str) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    for t in s {
        match t {
            Tok::Lit(a) => out.extend_from_slice(a.as_bytes()),
            _ => return Err(format!("{what} cannot encode a value with wildcards")),
        }
    }
    Ok(out)
}

/// An intermediate value: text, or bytes produced by a UTF-16 encoding awaiting base64.
enum Val {
    Str(SigmaStr),
    Bytes(Vec<u8>),
}

fn bytes_of(v: &Val, what: &str) -> Result<Vec<u8>, String> {
    match v {
        Val::Str(s) => plain_bytes(s, what),
        Val::Bytes(b) => Ok(b.clone()),
    }
}

fn utf16(v: &Val, t: Transform) -> Result<Val, String> {
    let text = match v {
        Val::Str(s) => String::from_utf8(plain_bytes(s, "utf16")?).map_err(|_| "utf16: invalid text")?,
        Val::Bytes(_) => return Err("utf16 modifiers cannot apply twice".into()),
    };
    let mut out = Vec::with_capacity(text.len() * 2 + 2);
    match t {
        Transform::Utf16Bom => out.extend_from_slice(&[0xFF, 0xFE]),
        Transform::Utf16Be => {}
        _ => {}
    }
    for unit in text.encode_utf16() {
        if t == Transform::Utf16Be {
            out.extend_from_slice(&unit.to_be_bytes());
        } else {
            out.extend_from_slice(&unit.to_le_bytes());
        }
    }
    Ok(Val::Bytes(out))
}

/// A value as text: UTF-16 bytes are kept as they are when they form valid UTF-8 (ASCII input).
fn as_text(v: Val) -> Result<SigmaStr, String> {
    match v {
        Val::Str(s) => Ok(s),
        Val::Bytes(b) => match String::from_utf8(b) {
            Ok(text) => Ok(vec![Tok::Lit(text)]),
            Err(_) => Err("utf16 of non-ASCII text must be followed by base64 or base64offset".into()),
        },
    }
}

/// The three base64 forms of `value` at offsets 0, 1 and 2 within a longer encoded stream,
/// trimmed to the characters that depend only on `value`.
pub fn base64_offsets(value: &[u8]) -> Vec<String> {
    let engine = base64::engine::general_purpose::STANDARD;
    (0..3usize)
        .map(|i| {
            let mut buf = vec![b' '; i];
            buf.extend_from_slice(value);
            let enc = engine.encode(&buf);
            let start = [0, 2, 3][i];
            let end = enc.len() - [0, 3, 2][buf.len() % 3];
            enc.get(start..end.max(start)).unwrap_or("").to_string()
        })
        .collect()
}

/// Applies the transformations of `m` to one parsed string; returns the alternatives (OR) and
/// whether they must match case-sensitively.
pub fn transform(value: SigmaStr, m: &Modifiers) -> Result<(Vec<SigmaStr>, bool), String> {
    let mut vals = vec![Val::Str(value)];
    let mut encoded = false;
    for &t in &m.transforms {
        let mut next = Vec::with_capacity(vals.len());
        for v in vals {
            match t {
                Transform::Position(pos) => {
                    let mut s = as_text(v)?;
                    if matches!(pos, Pos::Contains | Pos::Suffix) && s.first() != Some(&Tok::Star) {
                        s.insert(0, Tok::Star);
                    }
                    if matches!(pos, Pos::Contains | Pos::Prefix) && s.last() != Some(&Tok::Star) {
                        s.push(Tok::Star);
                    }
                    next.push(Val::Str(s));
                }
                Transform::Windash => {
                    next.extend(windash(as_text(v)?)?.into_iter().map(Val::Str));
                }
                Transform::Utf16Le | Transform::Utf16Be | Transform::Utf16Bom => next.push(utf16(&v, t)?),
                Transform::Base64 => {
                    let b = bytes_of(&v, "base64")?;
                    next.push(Val::Str(vec![Tok::Lit(base64::engine::general_purpose::STANDARD.encode(b))]));
                    encoded = true;
                }
                Transform::Base64Offset => {
                    let b = bytes_of(&v, "base64offset")?;
                    next.extend(base64_offsets(&b).into_iter().map(|s| Val::Str(vec![Tok::Lit(s)])));
                    encoded = true;
                }
            }
        }
        vals = next;
    }
    let out = vals.into_iter().map(as_text).collect::<Result<Vec<_>, _>>()?;
    Ok((out, m.cased || encoded))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_per_spec() {
        assert_eq!(parse_sigma_str(r"a\*b"), vec![Tok::Lit("a*b".into())]);
        assert_eq!(parse_sigma_str(r"a\\*"), vec![Tok::Lit(r"a\".into()), Tok::Star]);
        assert_eq!(parse_sigma_str(r"a\\\*"), vec![Tok::Lit(r"a\*".into())]);
        assert_eq!(parse_sigma_str(r"C:\Windows\"), vec![Tok::Lit(r"C:\Windows\".into())]);
        assert_eq!(parse_sigma_str(r"\\\\srv"), vec![Tok::Lit(r"\\srv".into())]);
        assert_eq!(parse_sigma_str(r"\\\srv"), vec![Tok::Lit(r"\\srv".into())]);
        assert_eq!(parse_sigma_str("p?x"), vec![Tok::Lit("p".into()), Tok::One, Tok::Lit("x".into())]);
    }

    #[test]
    fn base64offset_matches_pysigma_examples() {
        // "/bin/bash" at the three offsets, as documented for base64offset.
        assert_eq!(base64_offsets(b"/bin/bash"), vec!["L2Jpbi9iYXNo", "9iaW4vYmFza", "vYmluL2Jhc2"]);
    }

    #[test]
    fn modifier_errors() {
        assert!(Modifiers::parse(&["contians"]).unwrap_err().contains("unknown modifier \"contians\""));
        assert!(Modifiers::parse(&["i"]).is_err());
        assert!(Modifiers::parse(&["re", "i", "m"]).is_ok());
        assert!(Modifiers::parse(&["re", "contains"]).is_err());
        assert!(Modifiers::parse(&["cidr", "exists"]).is_err());
    }

    #[test]
    fn windash_permutations() {
        let m = Modifiers::parse(&["windash"]).unwrap();
        let (v, _) = transform(parse_sigma_str("-a /b"), &m).unwrap();
        assert_eq!(v.len(), 25);
    }
}
