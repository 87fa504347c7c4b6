//! The log as the featurizer sees it (V22): events in time order, equal timestamps in file
//! order, exact duplicate rows dropped and counted.

use std::io::BufRead;
use std::path::Path;

use serde::Serialize;

use crate::error::EventsError;
use crate::hash::FastSet;
use crate::read::{Event, EventReader, Ids};
use crate::spec::{EventSpec, LogOrder};

/// What reading the log found.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct LogStats {
    /// Event rows in the file.
    pub rows: u64,
    /// Exact duplicate rows dropped (same time, user, kind, item, transaction and value as an
    /// earlier row).
    pub duplicates_dropped: u64,
    /// Rows earlier in time than the row before them in the file (0 for a sorted log).
    pub rows_out_of_order: u64,
    /// Whether the featurizer sorted the log in memory.
    pub sorted_in_memory: bool,
    /// Timestamp of the first event (Unix ms).
    pub first_ms: i64,
    /// Timestamp of the last event (Unix ms).
    pub last_ms: i64,
    /// Distinct users.
    pub users: usize,
    /// Distinct items.
    pub items: usize,
    /// Distinct transaction ids (on positive events).
    pub transactions: usize,
}

/// The rows being fed: streamed from the file (declared sorted), or sorted in memory.
enum Feed {
    Stream {
        reader: Box<EventReader>,
        previous_ms: i64,
    },
    Memory {
        events: std::vec::IntoIter<Event>,
        ids: Box<Ids>,
    },
}

/// Exact-duplicate detection: the rows at the current timestamp (duplicates share it).
#[derive(Default)]
struct SameInstant {
    time_ms: i64,
    rows: FastSet<(u32, u8, u32, u32, u64)>,
}

impl SameInstant {
    /// (V22) `true` if `e` repeats a row already seen at its timestamp.
    fn is_duplicate(&mut self, e: &Event) -> bool {
        if e.time_ms != self.time_ms || self.rows.is_empty() {
            self.rows.clear();
            self.time_ms = e.time_ms;
        }
        !self
            .rows
            .insert((e.user, e.kind, e.item, e.transaction, e.value.to_bits()))
    }
}

/// A time-ordered, deduplicated stream of a log's events.
pub struct SortedLog {
    feed: Feed,
    same: SameInstant,
    stats: LogStats,
    started: bool,
}

impl SortedLog {
    /// Opens `path` with `spec.order`: streamed if declared sorted, else read and sorted.
    pub fn open(path: &Path, spec: &EventSpec) -> Result<SortedLog, EventsError> {
        SortedLog::from_reader(EventReader::open(path, spec)?, spec)
    }

    /// The same from text in memory (`name` labels errors).
    pub fn from_text(
        name: &str,
        text: impl BufRead + 'static,
        spec: &EventSpec,
    ) -> Result<SortedLog, EventsError> {
        SortedLog::from_reader(
            EventReader::new(name.to_string(), Box::new(text), spec)?,
            spec,
        )
    }

    /// Wraps a reader whose header is read.
    pub fn from_reader(
        mut reader: EventReader,
        spec: &EventSpec,
    ) -> Result<SortedLog, EventsError> {
        let mut stats = LogStats::default();
        let feed = match spec.order {
            LogOrder::Sorted => Feed::Stream {
                reader: Box::new(reader),
                previous_ms: i64::MIN,
            },
            LogOrder::SortInMemory { max_events } => {
                let mut events = Vec::new();
                let mut previous = i64::MIN;
                while let Some(e) = reader.next_event()? {
                    if events.len() >= max_events {
                        return Err(EventsError::TooLongToSort {
                            file: reader.file().to_string(),
                            limit: max_events,
                        });
                    }
                    stats.rows_out_of_order += u64::from(e.time_ms < previous);
                    previous = e.time_ms;
                    events.push(e);
                }
                stats.rows = reader.rows();
                // Stable: equal timestamps keep file order (V22).
                events.sort_by_key(|e| e.time_ms);
                stats.sorted_in_memory = true;
                Feed::Memory {
                    events: events.into_iter(),
                    ids: Box::new(reader.into_ids()),
                }
            }
        };
        Ok(SortedLog {
            feed,
            same: SameInstant::default(),
            stats,
            started: false,
        })
    }

    /// The next event in time order, duplicates skipped; `None` at the end.
    pub fn next_event(&mut self) -> Result<Option<Event>, EventsError> {
        loop {
            let event = match &mut self.feed {
                Feed::Stream {
                    reader,
                    previous_ms,
                } => {
                    let Some(e) = reader.next_event()? else {
                        self.stats.rows = reader.rows();
                        return Ok(None);
                    };
                    if e.time_ms < *previous_ms {
                        return Err(EventsError::Unsorted {
                            file: reader.file().to_string(),
                            line: reader.line(),
                            time_ms: e.time_ms,
                            previous_ms: *previous_ms,
                        });
                    }
                    *previous_ms = e.time_ms;
                    e
                }
                Feed::Memory { events, .. } => match events.next() {
                    Some(e) => e,
                    None => return Ok(None),
                },
            };
            if self.same.is_duplicate(&event) {
                self.stats.duplicates_dropped += 1;
                continue;
            }
            if !self.started {
                self.started = true;
                self.stats.first_ms = event.time_ms;
            }
            self.stats.last_ms = event.time_ms;
            return Ok(Some(event));
        }
    }

    /// The id tables (complete once the last event has been returned).
    pub fn ids(&self) -> &Ids {
        match &self.feed {
            Feed::Stream { reader, .. } => reader.ids(),
            Feed::Memory { ids, .. } => ids,
        }
    }

    /// What was read so far (complete once the last event has been returned).
    pub fn stats(&self) -> LogStats {
        let (users, items, transactions) = self.ids().counts();
        LogStats {
            users,
            items,
            transactions,
            ..self.stats.clone()
        }
    }

    /// Whether the log is streamed from its file (declared sorted) rather than sorted in memory.
    pub fn is_streaming(&self) -> bool {
        matches!(self.feed, Feed::Stream { .. })
    }
}
