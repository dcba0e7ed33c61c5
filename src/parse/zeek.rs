//! PLACEHOLDER: being written.
use super::{ErrorKind, Outcome, ParseError, ParseOptions, RecordParser};
use crate::event::Event;

/// Parser placeholder.
pub struct ZeekParser;

impl ZeekParser {
    /// Creates the parser.
    pub fn new(_opts: &ParseOptions) -> Self {
        ZeekParser
    }
}

impl RecordParser for ZeekParser {
    fn parse(&mut self, _record: &[u8], _out: &mut Vec<Event>) -> Result<Outcome, ParseError> {
        Err(ParseError::new(ErrorKind::Malformed, "not implemented"))
    }
}

/// Placeholder.
pub fn looks_like_zeek_json(_line: &[u8]) -> bool {
    false
}
