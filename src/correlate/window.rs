//! The anchored window every at-close correlator shares (see the [module docs](super)): the
//! first event of a key at `t0` opens `[t0, t0 + span]`; the window is checked once, by the
//! kind's `close`, at the first event of the key later than `t0 + span` (which then opens the
//! next window) or when the watermark passes `t0 + span`, whichever comes first. Each kind
//! supplies only what differs: how a window opens, what an event adds, and what a closed window
//! is worth.

use std::hash::Hash;

use super::{Alert, HeapBytes, KeyBytes, Table};

/// A key's state under an anchored window.
pub(crate) trait Anchored {
    /// Time of the window's first event.
    fn start(&self) -> i64;
}

/// Feeds one event at `ts` to `key`'s anchored window: a window the event is past is closed
/// first (its alert, if `close` gives one, goes to `out`) and a new one opened at `ts` by
/// `open`; then `add` adds the event. An event behind the watermark or the key's previous event
/// is rejected by the table (and counted there).
#[allow(clippy::too_many_arguments)]
pub(crate) fn observe<K, S, E>(
    table: &mut Table<K, S>,
    key: &K,
    ts: i64,
    span: i64,
    open: impl Fn(i64) -> S,
    add: impl FnOnce(&mut S),
    close: impl FnOnce(K, &mut S) -> Option<Alert<K, E>>,
    out: &mut Vec<Alert<K, E>>,
) where
    K: Ord + Hash + Clone + KeyBytes,
    S: Anchored + HeapBytes,
{
    let mut closed = None;
    table.update(
        key,
        ts,
        || open(ts),
        |st| {
            if ts > st.start().saturating_add(span) {
                closed = close(key.clone(), st);
                *st = open(ts);
            }
            add(st);
            Some(st.start().saturating_add(span))
        },
    );
    out.extend(closed);
}

/// Closes every window the watermark `w` has passed, in the documented order.
pub(crate) fn advance<K, S, E>(table: &mut Table<K, S>, w: i64, out: &mut Vec<Alert<K, E>>, mut close: impl FnMut(K, &mut S) -> Option<Alert<K, E>>)
where
    K: Ord + Hash + Clone + KeyBytes,
    S: HeapBytes,
{
    table.expire_into(w, out, |key, mut st| close(key, &mut st));
}
