//! PLACEHOLDER: being written.
use super::{ErrorKind, Outcome, ParseError, ParseOptions, RecordParser};
use crate::event::Event;

/// Parser placeholder.
pub struct SyslogParser;

impl SyslogParser {
    /// Creates the parser.
    pub fn new(_opts: &ParseOptions) -> Self {
        SyslogParser
    }
}

impl RecordParser for SyslogParser {
    fn parse(&mut self, _record: &[u8], _out: &mut Vec<Event>) -> Result<Outcome, ParseError> {
        Err(ParseError::new(ErrorKind::Malformed, "not implemented"))
    }
}

/// Placeholder.
pub fn looks_like_syslog(_line: &[u8]) -> bool {
    false
}
