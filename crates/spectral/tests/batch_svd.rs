//! `singular_values_batch` against values known in closed form (U diag(σ) Vᵀ with orthogonal U,
//! V built by hand), numpy's (`fixtures/reference.json`) and the one-at-a-time nalgebra path.
mod common;

use common::{close_all, matmul, orthogonal, transpose, Lcg};
use moescope_spectral::{singular_values, singular_values_batch, Error, Result};

/// U diag(σ) Vᵀ, `rows × cols`, with U, V from [`orthogonal`] (seeds `seed`, `seed + 1`).
fn with_singular_values(sigma: &[f64], rows: usize, cols: usize, seed: u64) -> Vec<f64> {
    let (u, v) = (orthogonal(rows, seed), orthogonal(cols, seed + 1));
    let mut s = vec![0.0; rows * cols];
    for (i, &x) in sigma.iter().enumerate() {
        s[i * cols + i] = x;
    }
    matmul(
        &matmul(&u, &s, rows, rows, cols),
        &transpose(&v, cols, cols),
        rows,
        cols,
        cols,
    )
}

#[test]
fn known_spectra_are_recovered_for_every_shape_and_batch_size() -> Result<()> {
    // Batch sizes below, at and across every lane width (1, 4 or 8 matrices per register);
    // tall, wide and square matrices; graded, repeated and zero singular values.
    for &(rows, cols) in &[(32, 32), (7, 5), (5, 7), (1, 4), (4, 1), (2, 2), (16, 12)] {
        let q = rows.min(cols);
        for count in [1, 3, 4, 8, 19] {
            let spectra: Vec<Vec<f64>> = (0..count)
                .map(|b| match b % 4 {
                    0 => (0..q).map(|i| 10f64.powi(-(i as i32) / 2)).collect(), // graded
                    1 => (0..q).map(|i| if i < q / 2 { 3.0 } else { 0.0 }).collect(), // rank q/2
                    2 => vec![2.5; q],                                          // repeated
                    _ => (0..q).map(|i| (q - i) as f64).collect(),
                })
                .collect();
            let mats: Vec<f64> = spectra
                .iter()
                .enumerate()
                .flat_map(|(b, s)| with_singular_values(s, rows, cols, 3 * b as u64 + 1))
                .collect();
            let got = singular_values_batch(&mats.chunks(rows * cols).collect::<Vec<_>>(), rows, cols)?;
            assert_eq!(got.len(), count * q);
            for (b, (g, want)) in got.chunks(q).zip(&spectra).enumerate() {
                // Backward stable: absolute error of order ε σ1 (σ1 ≤ 10 here).
                close_all(g, want, 1e-13, &format!("{rows}x{cols} batch {count} matrix {b}"));
            }
        }
    }
    Ok(())
}

#[test]
fn extreme_scales_neither_overflow_nor_underflow() -> Result<()> {
    // Squares of entries beyond about 1e±154 leave the f64 range; the batch rescales each
    // matrix by a power of four, so the spectrum scales exactly with the input.
    let sigma = [4.0, 2.0, 1.0, 0.5, 0.25];
    let m = with_singular_values(&sigma, 7, 5, 3);
    for scale in [1e-300, 1e-200, 1e-160, 1e160, 1e200, 1e300] {
        let scaled: Vec<f64> = m.iter().map(|x| x * scale).collect();
        // Mixed in one batch with an unscaled matrix and a zero one: scales are per matrix.
        let zero = vec![0.0; 35];
        let got = singular_values_batch(&[&scaled, &m, &zero], 7, 5)?;
        let want: Vec<f64> = sigma.iter().map(|s| s * scale).collect();
        close_all(&got[..5], &want, 1e-13 * want[0], &format!("scale {scale:e}"));
        close_all(&got[5..10], &sigma, 1e-13 * sigma[0], "unscaled neighbour");
        assert_eq!(&got[10..], &[0.0; 5], "zero neighbour");
    }
    // Subnormal entries (below 2.2e-308) still give their matrix's spectrum, to the few
    // digits a subnormal input carries.
    let tiny: Vec<f64> = m.iter().map(|x| x * 1e-310).collect();
    let got = singular_values_batch(&[&tiny], 7, 5)?;
    let want: Vec<f64> = sigma.iter().map(|s| s * 1e-310).collect();
    close_all(&got, &want, 1e-9 * want[0], "subnormal entries");
    Ok(())
}

#[test]
fn agrees_with_numpy_on_the_fixture_matrices() -> Result<()> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/reference.json");
    let root: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).expect("fixture")).expect("json");
    let num = |v: &serde_json::Value| v.as_u64().expect("integer") as usize;
    let floats = |v: &serde_json::Value| -> Vec<f64> {
        v.as_array()
            .expect("array")
            .iter()
            .map(|x| x.as_f64().expect("number"))
            .collect()
    };
    for c in root["svd"].as_array().expect("svd cases") {
        let (rows, cols) = (num(&c["rows"]), num(&c["cols"]));
        // The same matrix three times, so that the fixture is checked in more than one lane.
        let m = floats(&c["m"]);
        let got = singular_values_batch(&[&m, &m, &m], rows, cols)?;
        let want = floats(&c["sv"]);
        for g in got.chunks(want.len()) {
            close_all(g, &want, 1e-10, &format!("{rows}x{cols} fixture"));
        }
    }
    Ok(())
}

#[test]
fn agrees_with_nalgebra_on_random_and_structured_matrices() -> Result<()> {
    let (d, count) = (32, 37);
    let mut rng = Lcg(11);
    let mut mats = rng.vec(count * d * d);
    // Structured members: a zero matrix, a rank-one outer product, a matrix with zero rows
    // (an expert whose hidden units are all inactive), and one with entries of very different size.
    mats[..d * d].fill(0.0);
    let (u, v) = (rng.vec(d), rng.vec(d));
    for i in 0..d {
        for j in 0..d {
            mats[d * d + i * d + j] = u[i] * v[j];
            if i % 3 == 0 {
                mats[2 * d * d + i * d + j] = 0.0;
            }
            mats[3 * d * d + i * d + j] *= 10f64.powi(i as i32 % 7 - 3);
        }
    }
    let got = singular_values_batch(&mats.chunks(d * d).collect::<Vec<_>>(), d, d)?;
    for (k, (g, m)) in got.chunks(d).zip(mats.chunks(d * d)).enumerate() {
        let want = singular_values(m, d, d)?;
        let tol = 1e-13 * want[0].max(1.0);
        close_all(g, &want, tol, &format!("matrix {k}"));
    }
    assert!(
        got[..d].iter().all(|&s| s == 0.0),
        "a zero matrix has exact zero singular values"
    );
    Ok(())
}

#[test]
fn agrees_with_nalgebra_on_random_shapes_scales_and_structures() -> Result<()> {
    // Random shapes up to 40 × 40 and batch sizes up to 45, magnitudes from 1e-150 to 1e150,
    // and in turn: dense, graded (entries falling by 10 per row and column), rank one, every
    // other row zero, zero matrices mixed in, and a near-diagonal matrix with equal values.
    let mut shapes = Lcg(2026);
    let mut worst = 0.0f64;
    for trial in 0..90 {
        let mut size = |max: f64| 1 + (shapes.next().abs() * max) as usize;
        let (rows, cols, count) = (size(40.0), size(40.0), size(45.0));
        let scale = 10f64.powf(shapes.next() * 150.0);
        let mut rng = Lcg(trial);
        let mats: Vec<Vec<f64>> = (0..count)
            .map(|b| {
                let mut a: Vec<f64> = rng.vec(rows * cols).iter().map(|x| x * scale).collect();
                let (u, v) = (rng.vec(rows), rng.vec(cols));
                for i in 0..rows {
                    for j in 0..cols {
                        let x = &mut a[i * cols + j];
                        match trial % 6 {
                            1 => *x *= 10f64.powi(-((i + j) as i32)),
                            2 => *x = u[i] * v[j] * scale,
                            3 if i % 2 == 0 => *x = 0.0,
                            4 if b % 3 == 0 => *x = 0.0,
                            5 => *x = [0.0, scale, scale * 1e-17][(j == i) as usize + 2 * (j == i + 1) as usize],
                            _ => {}
                        }
                    }
                }
                a
            })
            .collect();
        let got = singular_values_batch(&mats.iter().map(Vec::as_slice).collect::<Vec<_>>(), rows, cols)?;
        for (m, g) in mats.iter().zip(got.chunks(rows.min(cols))) {
            let want = singular_values(m, rows, cols)?;
            let err = g.iter().zip(&want).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
            worst = worst.max(err / want[0].max(f64::MIN_POSITIVE));
        }
    }
    // Backward stable on both sides: differences of order ε σ1.
    assert!(worst < 1e-13, "worst |Δσ| / σ1 = {worst:e}");
    Ok(())
}

#[test]
fn bad_input_is_an_error() {
    let four = [1.0; 4];
    assert!(matches!(
        singular_values_batch(&[&four, &[1.0; 5]], 2, 2),
        Err(Error::LengthMismatch {
            expected: 4,
            got: 5,
            ..
        })
    ));
    assert!(matches!(
        singular_values_batch(&[&four], 0, 3),
        Err(Error::Empty { .. })
    ));
    let nan = [1.0, 2.0, f64::NAN, 3.0];
    assert!(matches!(
        singular_values_batch(&[&four, &nan], 2, 2),
        Err(Error::NonFinite { index: 2, .. })
    ));
    assert_eq!(
        singular_values_batch(&[], 2, 2).expect("an empty batch"),
        Vec::<f64>::new()
    );
}
