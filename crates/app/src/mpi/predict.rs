//! `predict --distributed` (notes/distributed.md §5): each rank reads and scores only its own
//! byte range of the file, cut at record starts (`glassbox_data::part`); rank 0 writes every
//! rank's lines in rank order — the file's order — through the command's output writer,
//! with the rows numbered and formatted by the one function `predict` uses
//! ([`prediction_lines`]): the same bytes as one process.
//!
//! Three exchanges, each preceded by every step that can fail on a rank, so that all ranks
//! go on or stop together ([`gather_results`]): the counts of the nominal ranges (to place
//! the cuts), the rows and notes of each part (to number the rows), the output itself.

use std::io::Write;
use std::path::Path;

use glassbox_data::part::{ByteCounts, count_bytes, locate_part, nominal_bounds};
use glassbox_data::{ChunkReader, DataError, ReadOptions, is_gzip};
use glassbox_train::distributed::Collective;

use super::{World, gather_results};
use crate::bundle::Bundle;
use crate::pipeline::{
    InputNotes, PipelineError, PredictSummary, predict_chunk_rows, prediction_lines,
    prediction_schema, score_chunks,
};

/// The most bytes sent in one message (MPI counts are 32-bit).
const MESSAGE_BYTES: usize = 1 << 30;

/// Why a distributed `predict` stopped.
#[derive(Debug)]
pub enum PartsError {
    /// Some ranks failed (every rank returns this, with every failure named by rank).
    Ranks(String),
    /// Rank 0 could not write the output.
    Write(std::io::Error),
}

/// The 16 bytes of two counts.
fn two_counts(a: u64, b: u64) -> Vec<u8> {
    [a.to_le_bytes(), b.to_le_bytes()].concat()
}

/// The pairs of counts of every rank, from [`two_counts`].
fn counts_of(bytes: &[u8]) -> Vec<(u64, u64)> {
    let word = |b: &[u8]| u64::from_le_bytes(std::array::from_fn(|i| b[i]));
    bytes
        .chunks_exact(16)
        .map(|c| (word(&c[..8]), word(&c[8..])))
        .collect()
}

/// Scores this rank's part of `path`; rank 0 writes the whole output to `out` (the others
/// pass `None`). Returns, on every rank, the summary of the whole file.
///
/// # Errors
/// [`PartsError::Ranks`] on every rank when any rank failed (a model that needs the whole
/// file, a gzip file, a read or data error, which names the file's line and column);
/// [`PartsError::Write`] on rank 0 when `out` fails.
pub fn predict_parts(
    world: &World,
    bundle: &Bundle,
    path: &Path,
    chunk_rows: usize,
    out: Option<&mut dyn Write>,
) -> Result<PredictSummary, PartsError> {
    let start = std::time::Instant::now();
    let (rank, ranks) = (world.rank(), world.size());
    let schema = prediction_schema(bundle).map_err(|e| PartsError::Ranks(e.to_string()))?;
    let options = ReadOptions::default();
    let gather = |result: Result<Vec<u8>, String>, what: &str| {
        gather_results(world, result, what).map_err(PartsError::Ranks)
    };

    // 1. The nominal ranges' quotes and line ends, to place the cuts.
    let located = (|| {
        if schema.needs_whole_file() {
            return Err(
                "the model counts over the whole scored file (a derived count of \
                        scope \"scored\"), which no part holds: score it without --distributed"
                    .to_string(),
            );
        }
        let io = |e: std::io::Error| format!("{}: {e}", path.display());
        if is_gzip(path).map_err(io)? {
            return Err(format!(
                "{} is gzip-compressed: its bytes cannot be cut into parts; decompress it or \
                 score it without --distributed",
                path.display()
            ));
        }
        let header_end = ChunkReader::open(path, &options, &schema, 1)
            .map_err(|e| e.to_string())?
            .header_end();
        let len = std::fs::metadata(path).map_err(io)?.len();
        let bounds = nominal_bounds(header_end, len, ranks);
        let header = count_bytes(path, 0..header_end).map_err(io)?;
        let mine = count_bytes(path, bounds[rank]..bounds[rank + 1]).map_err(io)?;
        Ok((bounds, header, mine))
    })();
    let mine = located
        .as_ref()
        .map(|(_, _, c)| two_counts(c.quotes, c.newlines))
        .map_err(String::clone);
    let (all, _) = gather(mine, "could not place its part")?;
    let (bounds, header, _) = located.map_err(PartsError::Ranks)?;
    let counts: Vec<ByteCounts> = counts_of(&all)
        .into_iter()
        .map(|(quotes, newlines)| ByteCounts { quotes, newlines })
        .collect();

    // 2. This rank's rows, scored and kept (a line and a probability each, 16 bytes a row).
    let mut lines = Vec::new();
    let mut probs = Vec::new();
    let mut miss: Option<Vec<f64>> = None;
    let mut notes = InputNotes::default();
    let scored = (|| {
        let part = locate_part(path, &bounds, header, &counts, rank)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        let chunk_rows = predict_chunk_rows(bundle, chunk_rows);
        let reader = ChunkReader::open_part(path, &options, &schema, chunk_rows, &part)
            .map_err(|e| e.to_string())?;
        score_chunks(bundle, reader, &mut notes, |l, p, m| {
            lines.extend_from_slice(l);
            probs.extend_from_slice(p);
            if let Some(m) = m {
                miss.get_or_insert_with(Vec::new).extend_from_slice(m);
            }
            Ok(())
        })
        .map_err(|e| match e {
            // A cut inside a quoted field leaves the part before it in an open quote.
            PipelineError::Data(DataError::UnterminatedQuote { .. }) if rank + 1 < ranks => {
                format!(
                    "{}; the part ends there: if the file's quotes are not RFC 4180 (a \" \
                     inside an unquoted field), score it without --distributed",
                    anyhow::Error::from(e)
                )
            }
            e => format!("{:#}", anyhow::Error::from(e)),
        })?;
        serde_json::to_vec(&notes).map_err(|e| e.to_string())
    })();
    let (all_notes, sizes) = gather(scored, "could not score its part")?;
    let mut rows_before = 0;
    let mut whole = InputNotes::default();
    let mut at = 0;
    for (r, &size) in sizes.iter().enumerate() {
        let part: InputNotes = serde_json::from_slice(&all_notes[at..at + size])
            .map_err(|e| PartsError::Ranks(format!("rank {r} sent unreadable notes: {e}")))?;
        at += size;
        if r < rank {
            rows_before += part.rows;
        }
        whole.merge(part);
    }
    if whole.rows == 0 {
        let none = DataError::NoDataRows {
            file: path.display().to_string(),
        };
        return Err(PartsError::Ranks(none.to_string()));
    }

    // 3. The output: every rank's lines, numbered from its first row, to rank 0 in order.
    let mut text = String::new();
    let positives = prediction_lines(
        bundle,
        rows_before,
        &lines,
        &probs,
        miss.as_deref(),
        &mut text,
    );
    let mut sizes = vec![0u8; 16 * ranks];
    world.all_gather(
        &two_counts(text.len() as u64, positives as u64),
        &mut sizes,
        &vec![16; ranks],
    );
    let sizes = counts_of(&sizes);
    let summary = PredictSummary {
        notes: whole,
        positives: sizes.iter().map(|&(_, p)| p as usize).sum(),
        seconds: 0.0,
    };
    if rank != 0 {
        for piece in text.as_bytes().chunks(MESSAGE_BYTES) {
            world.send(0, piece);
        }
        return Ok(summary);
    }
    let mut sink = std::io::sink();
    let out: &mut dyn Write = match out {
        Some(out) => out,
        None => &mut sink,
    };
    // Rank 0 receives every part even after a failed write, so no rank waits forever.
    let mut written =
        writeln!(out, "row,line,probability,label").and_then(|()| out.write_all(text.as_bytes()));
    let mut buf =
        vec![0u8; MESSAGE_BYTES.min(sizes.iter().map(|&(t, _)| t as usize).max().unwrap_or(0))];
    for (r, &(size, _)) in sizes.iter().enumerate().skip(1) {
        let mut left = size as usize;
        while left > 0 {
            let piece = &mut buf[..left.min(MESSAGE_BYTES)];
            world.recv(r, piece);
            left -= piece.len();
            if written.is_ok() {
                written = out.write_all(piece);
            }
        }
    }
    written.map_err(PartsError::Write)?;
    Ok(PredictSummary {
        seconds: start.elapsed().as_secs_f64(),
        ..summary
    })
}
