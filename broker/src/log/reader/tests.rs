use std::fs::OpenOptions;
use std::os::unix::fs::FileExt;
use std::path::Path;

use super::*;
use crate::log::LogConfig;
use crate::log::record::{BatchBuilder, Compression};
use crate::log::segment::segment_path;

/// A batch of `n` records keyed `tag`, with values `"{tag}-{i}"`.
fn batch(tag: &str, n: usize, codec: Compression) -> Vec<u8> {
    let mut b = BatchBuilder::new(0, codec);
    for i in 0..n {
        b.push(1_000 + i as i64, Some(tag.as_bytes()), Some(format!("{tag}-{i}").as_bytes()), &[]);
    }
    b.build().unwrap().to_vec()
}

/// The same batch with its attributes changed, and its CRC made right again.
fn with_attributes(mut bytes: Vec<u8>, change: impl Fn(i16) -> i16) -> Vec<u8> {
    let attributes = change(i16::from_be_bytes([bytes[21], bytes[22]]));
    bytes[21..23].copy_from_slice(&attributes.to_be_bytes());
    batch::write_crc(&mut bytes);
    bytes
}

/// A partition holding `batches`, and where each one starts in segment 0.
fn partition(dir: &Path, batches: &[Vec<u8>]) -> (Partition, Vec<u64>) {
    let p = Partition::open(dir, LogConfig::default()).unwrap();
    let mut positions = Vec::new();
    let mut at = 0;
    for b in batches {
        p.append(b).unwrap();
        positions.push(at);
        at += b.len() as u64;
    }
    (p, positions)
}

/// Overwrites bytes of segment 0's log in place, under the open partition.
fn overwrite(dir: &Path, position: u64, bytes: &[u8]) {
    let file = OpenOptions::new().write(true).open(segment_path(dir, 0, "log")).unwrap();
    file.write_all_at(bytes, position).unwrap();
}

fn reader(p: &Partition, from: u64) -> Reader<'_> {
    Reader::new(p, "t", 0, from)
}

/// Each record as (offset, value).
fn records(walk: &mut Records<'_>) -> Vec<(u64, String)> {
    let value = |r: Record| String::from_utf8(r.value.unwrap().to_vec()).unwrap();
    walk.map(|r| r.unwrap()).map(|r| (r.offset as u64, value(r))).collect()
}

fn offsets(walk: &mut Records<'_>) -> Vec<u64> {
    records(walk).into_iter().map(|(offset, _)| offset).collect()
}

/// Each batch as (base offset, last offset).
fn spans(walk: &mut Batches<'_>) -> Vec<(u64, u64)> {
    walk.map(|b| b.unwrap()).map(|b| (b.base_offset(), b.last_offset())).collect()
}

fn damaged_at(stop: Option<&Stop>) -> u64 {
    match stop {
        Some(Stop::Damaged { offset, .. }) => *offset,
        other => panic!("expected damage, got {other:?}"),
    }
}

#[test]
fn a_clean_walk_yields_every_batch_and_record_across_segments() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig { segment_bytes: 300, index_interval_bytes: 64, ..LogConfig::default() };
    let p = Partition::open(dir.path(), config).unwrap();
    let mut expected = Vec::new();
    for i in 0..20 {
        let tag = format!("b{i}");
        p.append(&batch(&tag, 3, Compression::None)).unwrap();
        expected.extend((0..3).map(|j| (i * 3 + j, format!("{tag}-{j}"))));
    }
    assert!(p.segment_count() > 3, "the walk crosses segments");

    let mut walk = reader(&p, 0).records();
    assert_eq!(records(&mut walk), expected);
    assert_eq!(walk.next_offset(), 60);
    assert!(walk.stop().is_none());
    let mut batches = reader(&p, 0).batches();
    assert_eq!(spans(&mut batches), (0..20).map(|i| (i * 3, i * 3 + 2)).collect::<Vec<_>>());
    assert_eq!(batches.next_offset(), 60);
    // A byte limit of one: the first batch alone.
    assert_eq!(offsets(&mut reader(&p, 0).max_bytes(1).records()), [0, 1, 2]);
}

#[test]
fn a_walk_from_mid_batch_skips_the_records_before_it() {
    let dir = tempfile::tempdir().unwrap();
    let batches = [batch("a", 4, Compression::None), batch("b", 4, Compression::None)];
    let (p, _) = partition(dir.path(), &batches);
    assert_eq!(offsets(&mut reader(&p, 2).records()), [2, 3, 4, 5, 6, 7]);
    assert_eq!(offsets(&mut reader(&p, 5).records()), [5, 6, 7]);
    // The batch iterator starts with the batch holding the offset.
    assert_eq!(spans(&mut reader(&p, 5).batches()), [(4, 7)]);
}

#[test]
fn limits_bound_records_and_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let batches: Vec<_> = ["a", "b", "c"].map(|t| batch(t, 3, Compression::None)).into();
    let (p, _) = partition(dir.path(), &batches);
    let len = batches[0].len();

    let mut walk = reader(&p, 1).max_records(3).records();
    assert_eq!(offsets(&mut walk), [1, 2, 3]);
    assert_eq!(walk.next_offset(), 4);
    let mut walk = reader(&p, 1).max_records(2).records();
    assert_eq!(offsets(&mut walk), [1, 2]);
    assert_eq!(walk.next_offset(), 3, "the end of a batch");

    // Bytes count whole batches; the first one always comes.
    let mut one = reader(&p, 0).max_bytes(1).batches();
    assert_eq!(spans(&mut one), [(0, 2)]);
    assert!(matches!(one.stop(), Some(Stop::Full { offset: 3, size }) if *size == len));
    assert_eq!(one.next_offset(), 3);
    let mut two = reader(&p, 0).max_bytes(2 * len).records();
    assert_eq!(offsets(&mut two), [0, 1, 2, 3, 4, 5]);
    assert_eq!(two.next_offset(), 6);

    // Strict: not even the first, and it is not read.
    let mut strict = reader(&p, 4).max_bytes(len - 1).strict_bytes().records();
    assert!(strict.next().is_none());
    assert!(matches!(strict.stop(), Some(Stop::Full { offset: 4, size }) if *size == len));
    assert_eq!(strict.next_offset(), 4);
    assert_eq!(offsets(&mut reader(&p, 4).max_bytes(len).strict_bytes().records()), [4, 5]);
}

#[test]
fn compressed_batches_decode_with_every_codec() {
    let dir = tempfile::tempdir().unwrap();
    let codecs = [Compression::Gzip, Compression::Snappy, Compression::Lz4, Compression::Zstd];
    let batches: Vec<_> = codecs.iter().map(|&c| batch(&format!("{c:?}"), 3, c)).collect();
    let (p, _) = partition(dir.path(), &batches);
    let found = records(&mut reader(&p, 1).records());
    assert_eq!(found.len(), 11);
    assert_eq!(found[0], (1, "Gzip-1".to_owned()));
    assert_eq!(found[10], (11, "Zstd-2".to_owned()));
}

#[test]
fn control_and_undecodable_batches_are_skipped_by_records() {
    let dir = tempfile::tempdir().unwrap();
    // Compression id 7 exists in no Kafka version: the CRC holds, the records do not
    // decode.
    let unknown = with_attributes(batch("odd", 2, Compression::None), |a| a | 0x07);
    let batches = [batch("a", 2, Compression::None), unknown, batch("b", 1, Compression::None)];
    let p = Partition::open(dir.path(), LogConfig::default()).unwrap();
    // A transaction marker (a control batch) first.
    p.write_marker(5, 0, true, 0).unwrap();
    for b in &batches {
        p.append(b).unwrap();
    }

    let mut walk = reader(&p, 0).records();
    assert_eq!(records(&mut walk), [(1, "a-0".into()), (2, "a-1".into()), (5, "b-0".into())]);
    assert!(walk.stop().is_none());
    let all = reader(&p, 0).batches().map(|b| b.unwrap()).collect::<Vec<_>>();
    assert_eq!(all.len(), 4, "the batch iterator yields them all");
    assert!(all[0].is_control());
    assert!(all[2].records().is_err());

    // A control batch is no progress: with a byte limit of one, the data batch
    // after it still comes.
    assert_eq!(offsets(&mut reader(&p, 0).max_bytes(1).records()), [1, 2]);
    // Past the last record there is nothing to skip: the walk ends after the
    // undecodable batch.
    let mut tail = reader(&p, 3).max_bytes(1).records();
    assert_eq!(offsets(&mut tail), [5]);
    assert_eq!(tail.next_offset(), 6);
}

#[test]
fn a_torn_tail_ends_the_walk_after_what_came_before() {
    let dir = tempfile::tempdir().unwrap();
    let batches: Vec<_> = ["a", "b", "c"].map(|t| batch(t, 2, Compression::None)).into();
    let (p, positions) = partition(dir.path(), &batches);
    // The last batch now claims more bytes than the segment holds.
    let claimed = (batches[2].len() + 100 - batch::LOG_OVERHEAD) as i32;
    overwrite(dir.path(), positions[2] + 8, &claimed.to_be_bytes());

    let mut walk = reader(&p, 0).records();
    assert_eq!(offsets(&mut walk), [0, 1, 2, 3]);
    assert_eq!(damaged_at(walk.stop()), 4);
    assert_eq!(walk.next_offset(), 4);
    let mut from_it = reader(&p, 4).batches();
    assert!(from_it.next().is_none(), "damage is no error");
    assert_eq!(damaged_at(from_it.stop()), 4);
}

#[test]
fn a_segment_file_cut_inside_a_batch_ends_the_walk_without_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let batches: Vec<_> = ["a", "b", "c"].map(|t| batch(t, 2, Compression::None)).into();
    let (p, positions) = partition(dir.path(), &batches);
    let file = OpenOptions::new().write(true).open(segment_path(dir.path(), 0, "log")).unwrap();
    file.set_len(positions[2] + 70).unwrap();

    // How much before the cut is served depends on how far `Partition::read` reads
    // ahead when it scans headers; never anything from the cut on, never an error.
    let mut walk = reader(&p, 0).records();
    let found = offsets(&mut walk);
    let stopped = damaged_at(walk.stop());
    assert!((1..=4).contains(&stopped), "stopped at {stopped}");
    assert_eq!(found, (0..stopped).collect::<Vec<_>>(), "what came before, in order");
}

#[test]
fn a_flipped_byte_fails_the_crc_and_ends_the_walk_there() {
    let dir = tempfile::tempdir().unwrap();
    let batches: Vec<_> = ["a", "b", "c"].map(|t| batch(t, 2, Compression::None)).into();
    let (p, positions) = partition(dir.path(), &batches);
    let at = positions[1] + batches[1].len() as u64 - 2;
    overwrite(dir.path(), at, &[batches[1][batches[1].len() - 2] ^ 0x10]);

    let mut walk = reader(&p, 0).records();
    assert_eq!(offsets(&mut walk), [0, 1]);
    assert!(matches!(
        walk.stop(),
        Some(Stop::Damaged { offset: 2, damage: Damage::Batch(BatchError::CrcMismatch { .. }) })
    ));
    // From after the damage, the rest is served.
    assert_eq!(offsets(&mut reader(&p, 4).records()), [4, 5]);
}

#[test]
fn a_shifted_base_offset_ends_the_walk_though_outside_the_crc() {
    let dir = tempfile::tempdir().unwrap();
    let batches: Vec<_> = ["a", "b", "c"].map(|t| batch(t, 2, Compression::None)).into();
    let (p, positions) = partition(dir.path(), &batches);
    overwrite(dir.path(), positions[2], &1i64.to_be_bytes());

    let mut walk = reader(&p, 0).batches();
    assert_eq!(spans(&mut walk), [(0, 1), (2, 3)]);
    assert!(matches!(
        walk.stop(),
        Some(Stop::Damaged {
            offset: 4,
            damage: Damage::Offsets { base: 1, last: 2, expected: 4 }
        })
    ));
}

#[test]
fn an_empty_partition_and_the_end_of_the_log_yield_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (p, _) = partition(dir.path(), &[]);
    let mut walk = reader(&p, 0).records();
    assert!(walk.next().is_none());
    assert!(walk.stop().is_none());
    assert_eq!(walk.next_offset(), 0);

    p.append(&batch("a", 2, Compression::None)).unwrap();
    let mut at_end = reader(&p, 2).batches();
    assert!(at_end.next().is_none());
    assert!(at_end.stop().is_none());
}

#[test]
fn an_offset_out_of_range_is_the_first_item_as_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let (p, _) = partition(dir.path(), &[batch("a", 2, Compression::None)]);
    let mut walk = reader(&p, 3).records();
    assert!(matches!(
        walk.next(),
        Some(Err(ReadError::OffsetOutOfRange {
            offset: 3,
            log_start_offset: 0,
            high_watermark: 2
        }))
    ));
    assert!(walk.next().is_none(), "the walk is over");
    assert!(walk.stop().is_none());
}
