//! The gradient norm by units (T13), one rank's share of the sharded backward pass
//! (`Mlp::backward_shards`, `--reduce fast`) and a rank's units folded by blocks of shards
//! (`Mlp::unit_gradients_of`, T16), notes/distributed.md §2.

use glassbox_core::init::uniform01;
use glassbox_core::{
    Activation, Init, LayerSpec, Mlp, MlpSpec, Mode, ShardPlan, Upstream, seeded_rng, square_sum,
    units_of_rank,
};
use ndarray::Array2;

/// 13-7-5-1 with every gradient a value of about ±1 that uses every bit of an f32.
fn network_with_gradients(seed: u64) -> Mlp<f32> {
    let spec = MlpSpec::new(
        13,
        vec![
            LayerSpec::new(7, Activation::Relu),
            LayerSpec::new(5, Activation::Tanh),
            LayerSpec::new(1, Activation::Sigmoid),
        ],
    );
    let mut mlp = Mlp::<f32>::new(spec, Init::GlorotUniform, &mut seeded_rng(seed)).unwrap();
    let mut rng = seeded_rng(seed + 1);
    for g in mlp.grads_mut() {
        *g = (2.0 * uniform01(&mut rng) - 1.0) as f32 * 1.7;
    }
    mlp
}

#[test]
fn square_sum_by_hand() {
    // 1..9: lane 0 holds 1² + 9² = 82, lanes 1–7 hold 2², …, 8²;
    // ((82 + 4) + (9 + 16)) + ((25 + 36) + (49 + 64)) = 111 + 174 = 285 = Σ k².
    let g: Vec<f32> = (1..=9).map(|k| k as f32).collect();
    assert_eq!(square_sum(&g), 285.0);
    // One entry: g² exactly (what makes the bias pieces the plain running sum).
    let one = 0.1f32;
    assert_eq!(square_sum(&[one]), f64::from(one) * f64::from(one));
    assert_eq!(square_sum::<f32>(&[]), 0.0);
}

#[test]
fn square_sum_is_its_eight_lanes_in_the_fixed_order() {
    // The naive reference: the formula of T13 written out, against the kernel, over lengths
    // 0–40 (every remainder of 8).
    let mut rng = seeded_rng(3);
    for len in 0..=40 {
        let g: Vec<f32> = (0..len)
            .map(|_| (2.0 * uniform01(&mut rng) - 1.0) as f32)
            .collect();
        let mut lane = [0.0f64; 8];
        for (i, &v) in g.iter().enumerate() {
            lane[i % 8] += f64::from(v) * f64::from(v);
        }
        let expect = ((lane[0] + lane[1]) + (lane[2] + lane[3]))
            + ((lane[4] + lane[5]) + (lane[6] + lane[7]));
        assert_eq!(square_sum(&g).to_bits(), expect.to_bits(), "length {len}");
    }
}

#[test]
fn the_ranks_partials_fold_to_the_one_process_norm_bit_for_bit() {
    let mut other_orders_differ = false;
    for seed in [5, 6, 7] {
        let mlp = network_with_gradients(seed);
        let one = mlp.grad_norm();
        assert!(one > 1.0, "a non-trivial gradient");
        // Within rounding of the plain sum in index order (another order, not another norm).
        let plain: f64 = mlp
            .grads()
            .iter()
            .map(|&g| f64::from(g).powi(2))
            .sum::<f64>()
            .sqrt();
        assert!((one - plain).abs() <= 1e-12 * plain, "{one} vs {plain}");
        for ranks in 1..=8 {
            let mut all = Vec::new();
            let mut mine = Vec::new();
            for r in 0..ranks {
                mlp.unit_square_sums(r, ranks, &mut mine);
                all.extend_from_slice(&mine);
            }
            let folded = mlp.fold_unit_squares(ranks, &all).sqrt();
            assert_eq!(folded.to_bits(), one.to_bits(), "{ranks} ranks");
        }
        // Negative control: the partials in another order (rank blocks reversed) are not
        // the one-process sum for every gradient — the fold's order is what makes the bits.
        let ranks = 2;
        let mut flat = Vec::new();
        for r in 0..ranks {
            let mut mine = Vec::new();
            mlp.unit_square_sums(r, ranks, &mut mine);
            flat.extend_from_slice(&mine);
        }
        let reversed: f64 = flat.iter().rev().sum::<f64>().sqrt();
        other_orders_differ |= reversed.to_bits() != one.to_bits();
    }
    assert!(other_orders_differ, "no seed showed the order mattering");
}

/// A batch of 200 rows (S = 6) drawn from seed `data`, and the one process's sharded backward
/// pass over it by `network_with_gradients(net)`: (x, ∂L/∂z, the plan, the network).
fn one_process_pass(data: u64, net: u64) -> (Array2<f32>, Array2<f32>, ShardPlan, Mlp<f32>) {
    let mut data = seeded_rng(data);
    let n = 200;
    let x = Array2::from_shape_simple_fn((n, 13), || (2.0 * uniform01(&mut data) - 1.0) as f32);
    let y = Array2::from_shape_simple_fn((n, 1), || f32::from(uniform01(&mut data) < 0.4));
    let plan = ShardPlan::for_batch(n);
    let mut whole = network_with_gradients(net);
    let mut ws = whole.workspace(n);
    let fwd = whole.forward(x.view(), Mode::Inference, &mut ws);
    let d_z = (&fwd.output() - &y) / n as f32;
    whole.backward_sharded(fwd, Upstream::DZ(d_z.view()), plan);
    (x, d_z, plan, whole)
}

#[test]
fn one_ranks_shards_folded_in_place_equal_the_one_process_gradient() {
    // All S shards of a batch through backward_shards = backward_sharded, bit for bit; a
    // rank's subset gives the fold of those shards' partials only.
    let (x, d_z, plan, whole) = one_process_pass(9, 11);
    assert_eq!(plan.count(), 6);
    let mut ws = whole.workspace(x.nrows());
    let mut ranked = network_with_gradients(11);
    let fwd = ranked.forward(x.view(), Mode::Inference, &mut ws);
    ranked.backward_shards(fwd, Upstream::DZ(d_z.view()), plan, 0..plan.count());
    assert!(whole.grads().iter().any(|&g| g != 0.0));
    let bits = |m: &Mlp<f32>| m.grads().iter().map(|g| g.to_bits()).collect::<Vec<_>>();
    assert_eq!(bits(&whole), bits(&ranked));
    // Shards 2..4 alone, from a pass over their rows only: the GEMM's β = 1 fold equals
    // each shard's partial (a pass over that shard alone: one shard, from zero) added in
    // order.
    let pass = |m: &mut Mlp<f32>,
                ws: &mut glassbox_core::Workspace<f32>,
                shards: std::ops::Range<usize>| {
        let rows = plan.rows_of(shards.clone());
        let fwd = m.forward(x.slice(ndarray::s![rows.clone(), ..]), Mode::Inference, ws);
        m.backward_shards(
            fwd,
            Upstream::DZ(d_z.slice(ndarray::s![rows, ..])),
            plan,
            shards,
        );
        m.grads().to_vec()
    };
    let p2 = pass(&mut ranked, &mut ws, 2..3);
    let p3 = pass(&mut ranked, &mut ws, 3..4);
    let added: Vec<u32> = p2.iter().zip(&p3).map(|(a, b)| (a + b).to_bits()).collect();
    pass(&mut ranked, &mut ws, 2..4);
    assert_eq!(bits(&ranked), added);
    assert_ne!(
        bits(&whole),
        bits(&ranked),
        "a part of the batch is not the whole"
    );
    // No shards: zeros.
    let empty = plan.rows_of(6..6);
    let fwd = ranked.forward(
        x.slice(ndarray::s![empty.clone(), ..]),
        Mode::Inference,
        &mut ws,
    );
    ranked.backward_shards(
        fwd,
        Upstream::DZ(d_z.slice(ndarray::s![empty, ..])),
        plan,
        6..6,
    );
    assert!(ranked.grads().iter().all(|&g| g == 0.0));
}

/// T16: a rank's units' gradients folded block of shards by block (as the shards of each rank
/// arrive) have the bits of one fold over all shards, and of the one process's backward pass;
/// blocks out of order do not.
#[test]
fn units_folded_by_blocks_of_shards_equal_the_one_process_gradient() {
    let (x, d_z, plan, whole) = one_process_pass(21, 5);
    let n = x.nrows();
    let (rank, ranks) = (1, 2);
    let widths: Vec<usize> = (0..3).map(|l| whole.theta(l).nrows()).collect();
    let folded = |blocks: &[std::ops::Range<usize>]| {
        let mut m = network_with_gradients(5);
        let mut ws = m.workspace(n);
        let fwd = m.forward(x.view(), Mode::Inference, &mut ws);
        let deltas = m.deltas(fwd, Upstream::DZ(d_z.view()));
        for shards in blocks {
            m.unit_gradients_of(plan, (rank, ranks), shards.clone(), |l, s| {
                let rows = plan.shard(s);
                let input = match l {
                    0 => x.slice(ndarray::s![rows.clone(), ..]),
                    _ => deltas
                        .output(l - 1)
                        .slice_move(ndarray::s![rows.clone(), ..]),
                };
                let units = units_of_rank(widths[l], rank, ranks);
                (input, deltas.delta(l).slice_move(ndarray::s![rows, units]))
            });
        }
        m.grads().to_vec()
    };
    let mine: Vec<_> = whole
        .unit_segments(ranks)
        .into_iter()
        .filter(|seg| seg.rank == rank)
        .flat_map(|seg| seg.params)
        .collect();
    let bits = |g: &[f32]| mine.iter().map(|&i| g[i].to_bits()).collect::<Vec<_>>();
    let all = 0..plan.count();
    let once = folded(std::slice::from_ref(&all));
    assert!(mine.iter().any(|&i| once[i] != 0.0));
    assert_eq!(
        bits(&once),
        bits(whole.grads()),
        "one fold: the one process's bits"
    );
    let blocks = folded(&[0..2, 2..5, 5..6]);
    assert_eq!(bits(&blocks), bits(&once), "blocks in order: the same bits");
    // Negative control: the later block folded first, then the first (which writes afresh).
    let swapped = folded(&[2..6, 0..2]);
    assert_ne!(bits(&swapped), bits(&once), "blocks out of order differ");
}

/// The input layers of tables (N10) are in the norm (T13: one partial over each one's whole
/// slice), so one-process clipping covers every parameter of such a network.
#[test]
fn the_norm_covers_the_input_layers_of_tables() {
    use glassbox_core::InputLayerSpec;
    let spec = MlpSpec::new(
        5,
        vec![
            LayerSpec::new(6, Activation::Relu),
            LayerSpec::new(1, Activation::Sigmoid),
        ],
    )
    .with_input_layers(vec![
        InputLayerSpec::Scale,
        InputLayerSpec::Plr {
            frequencies: 3,
            units: 4,
            sigma: 0.1,
            columns: None,
        },
    ]);
    let mut mlp = Mlp::<f64>::new(spec, Init::GlorotUniform, &mut seeded_rng(5)).unwrap();
    let mut rng = seeded_rng(6);
    for g in mlp.grads_mut() {
        *g = 2.0 * uniform01(&mut rng) - 1.0;
    }
    let naive = mlp.grads().iter().map(|g| g * g).sum::<f64>().sqrt();
    let norm = mlp.grad_norm();
    assert!(
        (norm - naive).abs() <= 1e-12 * naive,
        "{norm} against {naive}"
    );
    // Negative control: zeroing the scaling layer's gradients (the first slice, N10's
    // layout) must lower the norm.
    mlp.grads_mut()[..5].fill(0.0);
    assert!(mlp.grad_norm() < norm, "the input layers did not count");
}
