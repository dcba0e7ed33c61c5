//! PLACEHOLDER: being written.
use super::{ErrorKind, Outcome, ParseError, ParseOptions, RecordParser};
use crate::event::Event;

/// Parser placeholder.
pub struct ApacheParser;

impl ApacheParser {
    /// Creates the parser.
    pub fn new(_opts: &ParseOptions) -> Self {
        ApacheParser
    }
}

impl RecordParser for ApacheParser {
    fn parse(&mut self, _record: &[u8], _out: &mut Vec<Event>) -> Result<Outcome, ParseError> {
        Err(ParseError::new(ErrorKind::Malformed, "not implemented"))
    }
}

/// Placeholder.
pub fn looks_like_access_log(_line: &[u8]) -> bool {
    false
}
