//! Building timely dataflows.
