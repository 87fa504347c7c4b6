//! GEMM benchmarks (filled in by the GEMM work; see notes/benchmarks.md).
use criterion::{Criterion, criterion_group, criterion_main};

fn bench(_c: &mut Criterion) {}

criterion_group!(benches, bench);
criterion_main!(benches);
