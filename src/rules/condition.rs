//! The `condition:` expression of a Sigma detection, parsed and resolved to selection indexes.
//!
//! Grammar (keywords are case-insensitive), least to most binding as the spec orders them:
//!
//! ```text
//! expr    := and ('or' and)*
//! and     := unary ('and' unary)*
//! unary   := 'not' unary | primary
//! primary := '(' expr ')' | ('1' | 'all') 'of' (pattern | 'them') | identifier
//! ```
//!
//! `them` covers every search identifier not starting with `_`; a pattern may hold `*` wildcards
//! anywhere and must match at least one identifier. `1 of` is OR, `all of` is AND. Aggregations
//! after a `|` (the deprecated Sigma 1 `| count() > N`) are rejected: correlation rules replace them.

/// A resolved condition over selection indexes.
#[derive(Clone, Debug, PartialEq)]
pub enum Cond {
    /// The selection with this index matches.
    Sel(usize),
    /// Negation.
    Not(Box<Cond>),
    /// All must hold.
    And(Vec<Cond>),
    /// Any must hold.
    Or(Vec<Cond>),
}

#[derive(Clone, Debug, PartialEq)]
enum Tok<'a> {
    Word(&'a str),
    Open,
    Close,
    Pipe,
}

fn tokenize(text: &str) -> Vec<Tok<'_>> {
    let mut out = Vec::new();
    let mut rest = text;
    loop {
        rest = rest.trim_start();
        let Some(c) = rest.chars().next() else { break };
        match c {
            '(' => {
                out.push(Tok::Open);
                rest = &rest[1..];
            }
            ')' => {
                out.push(Tok::Close);
                rest = &rest[1..];
            }
            '|' => {
                out.push(Tok::Pipe);
                break;
            }
            _ => {
                let end = rest.find(|c: char| c.is_whitespace() || c == '(' || c == ')' || c == '|').unwrap_or(rest.len());
                out.push(Tok::Word(&rest[..end]));
                rest = &rest[end..];
            }
        }
    }
    out
}

/// Whether `name` matches `pattern`, where `*` stands for any run of characters.
pub fn glob_match(pattern: &str, name: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == name;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !name.starts_with(first) || name.len() < first.len() + last.len() || !name.ends_with(last) {
        return false;
    }
    let mut pos = first.len();
    let end = name.len() - last.len();
    for mid in &parts[1..parts.len() - 1] {
        match name[pos..end].find(mid) {
            Some(i) => pos += i + mid.len(),
            None => return false,
        }
    }
    true
}

struct P<'a, 'n> {
    toks: Vec<Tok<'a>>,
    pos: usize,
    names: &'n [String],
    /// Nesting so far (see [`MAX_DEPTH`]).
    depth: usize,
}

/// The deepest nesting of parentheses and `not` in a condition (the parser recurses per level).
pub const MAX_DEPTH: usize = 100;

fn is_kw(tok: Option<&Tok<'_>>, kw: &str) -> bool {
    matches!(tok, Some(Tok::Word(w)) if w.eq_ignore_ascii_case(kw))
}

impl<'a> P<'a, '_> {
    fn peek(&self) -> Option<&Tok<'a>> {
        self.toks.get(self.pos)
    }

    fn expr(&mut self) -> Result<Cond, String> {
        let mut terms = vec![self.and()?];
        while is_kw(self.peek(), "or") {
            self.pos += 1;
            terms.push(self.and()?);
        }
        Ok(if terms.len() == 1 { terms.pop().unwrap_or(Cond::Or(Vec::new())) } else { Cond::Or(terms) })
    }

    fn and(&mut self) -> Result<Cond, String> {
        let mut terms = vec![self.unary()?];
        while is_kw(self.peek(), "and") {
            self.pos += 1;
            terms.push(self.unary()?);
        }
        Ok(if terms.len() == 1 { terms.pop().unwrap_or(Cond::And(Vec::new())) } else { Cond::And(terms) })
    }

    fn unary(&mut self) -> Result<Cond, String> {
        // Every nesting (a parenthesis, a `not`) passes here: the bound on the recursion.
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(format!("nested deeper than {MAX_DEPTH} levels of parentheses and \"not\""));
        }
        let cond = if is_kw(self.peek(), "not") {
            self.pos += 1;
            self.unary().map(|c| Cond::Not(Box::new(c)))
        } else {
            self.primary()
        };
        self.depth -= 1;
        cond
    }

    fn primary(&mut self) -> Result<Cond, String> {
        let tok = self.peek().cloned();
        self.pos += 1;
        match tok {
            None => Err("unexpected end of condition".into()),
            Some(Tok::Open) => {
                let inner = self.expr()?;
                match self.peek() {
                    Some(Tok::Close) => {
                        self.pos += 1;
                        Ok(inner)
                    }
                    _ => Err("missing closing parenthesis".into()),
                }
            }
            Some(Tok::Close) => Err("unexpected \")\"".into()),
            Some(Tok::Pipe) => Err("aggregation expressions (\"| count() ...\") are not supported; use a correlation rule".into()),
            Some(Tok::Word(w)) => {
                let quantifier = if w == "1" || w.eq_ignore_ascii_case("any") {
                    Some(false)
                } else if w.eq_ignore_ascii_case("all") {
                    Some(true)
                } else {
                    None
                };
                if let Some(all) = quantifier {
                    if is_kw(self.peek(), "of") {
                        self.pos += 1;
                        return self.quantified(all);
                    }
                }
                if ["and", "or", "of", "them"].iter().any(|k| w.eq_ignore_ascii_case(k)) {
                    return Err(format!("unexpected keyword \"{w}\""));
                }
                if w.parse::<u64>().is_ok() && is_kw(self.peek(), "of") {
                    return Err(format!("\"{w} of\" is not supported: only \"1 of\" and \"all of\""));
                }
                match self.names.iter().position(|n| n == w) {
                    Some(i) => Ok(Cond::Sel(i)),
                    None => Err(format!("undefined search identifier \"{w}\"")),
                }
            }
        }
    }

    fn quantified(&mut self, all: bool) -> Result<Cond, String> {
        let Some(Tok::Word(target)) = self.peek().cloned() else { return Err("expected a search identifier pattern or \"them\" after \"of\"".into()) };
        self.pos += 1;
        let them = target.eq_ignore_ascii_case("them");
        let matched: Vec<Cond> =
            self.names.iter().enumerate().filter(|(_, n)| if them { !n.starts_with('_') } else { glob_match(target, n) }).map(|(i, _)| Cond::Sel(i)).collect();
        if matched.is_empty() {
            return Err(format!("\"{target}\" matches no search identifier"));
        }
        Ok(if all { Cond::And(matched) } else { Cond::Or(matched) })
    }
}

/// Parses a condition against the detection's search identifiers (in definition order).
pub fn parse(text: &str, names: &[String]) -> Result<Cond, String> {
    let mut p = P { toks: tokenize(text), pos: 0, names, depth: 0 };
    if p.toks.is_empty() {
        return Err("empty condition".into());
    }
    let cond = p.expr()?;
    match p.peek() {
        None => Ok(cond),
        Some(Tok::Pipe) => Err("aggregation expressions (\"| count() ...\") are not supported; use a correlation rule".into()),
        Some(tok) => Err(format!("unexpected {tok:?} after a complete expression")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn precedence_not_and_or() {
        let n = names(&["a", "b", "c"]);
        let c = parse("a or b and not c", &n).unwrap();
        assert_eq!(c, Cond::Or(vec![Cond::Sel(0), Cond::And(vec![Cond::Sel(1), Cond::Not(Box::new(Cond::Sel(2)))])]));
        let c = parse("(a or b) and not (c)", &n).unwrap();
        assert_eq!(c, Cond::And(vec![Cond::Or(vec![Cond::Sel(0), Cond::Sel(1)]), Cond::Not(Box::new(Cond::Sel(2)))]));
    }

    #[test]
    fn quantifiers_and_patterns() {
        let n = names(&["selection_a", "selection_b", "filter", "_hidden"]);
        assert_eq!(parse("1 of selection_*", &n).unwrap(), Cond::Or(vec![Cond::Sel(0), Cond::Sel(1)]));
        assert_eq!(parse("all of them", &n).unwrap(), Cond::And(vec![Cond::Sel(0), Cond::Sel(1), Cond::Sel(2)]));
        assert_eq!(parse("all of *_b", &n).unwrap(), Cond::And(vec![Cond::Sel(1)]));
        assert!(parse("1 of nothing*", &n).unwrap_err().contains("matches no"));
        assert!(parse("selection_a and missing", &n).unwrap_err().contains("undefined"));
        assert!(parse("selection_a | count() > 5", &n).unwrap_err().contains("aggregation"));
        assert!(parse("(selection_a", &n).is_err());
        assert!(parse("selection_a filter", &n).is_err());
        assert!(parse("2 of selection_*", &n).is_err());
    }

    #[test]
    fn deep_nesting_is_refused_not_a_stack_overflow() {
        let n = names(&["a"]);
        let deep = "(".repeat(100_000) + "a" + &")".repeat(100_000);
        assert!(parse(&deep, &n).unwrap_err().contains("nested deeper than 100"));
        let nots = "not ".repeat(100_000) + "a";
        assert!(parse(&nots, &n).unwrap_err().contains("nested deeper than 100"));
        let fine = "(".repeat(50) + "not a" + &")".repeat(50);
        assert!(parse(&fine, &n).is_ok());
    }

    #[test]
    fn glob() {
        assert!(glob_match("sel*", "selection"));
        assert!(glob_match("*a*b*", "xaybz"));
        assert!(!glob_match("*a*b", "xaybz"));
        assert!(glob_match("a*a", "aa"));
        assert!(!glob_match("a*a", "a"));
    }
}
