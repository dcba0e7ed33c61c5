//! PLACEHOLDER: being written.
use super::{ErrorKind, Outcome, ParseError, ParseOptions, RecordParser};
use crate::event::Event;

/// Parser placeholder.
pub struct JsonParser;

impl JsonParser {
    /// Creates the parser.
    pub fn new(_opts: &ParseOptions) -> Self {
        JsonParser
    }
}

impl RecordParser for JsonParser {
    fn parse(&mut self, _record: &[u8], _out: &mut Vec<Event>) -> Result<Outcome, ParseError> {
        Err(ParseError::new(ErrorKind::Malformed, "not implemented"))
    }
}
