#!/usr/bin/env python3
"""Correctly rounded reference values of ln, ln(1+x) and exp for
crates/train/tests/privacy_elementary.rs (notes/privacy.md §8, P25–P26): each argument is an
f64, the function is evaluated with mpmath at 60 significant digits and rounded once to the
nearest f64. Prints Rust rows `(x_bits, f(x)_bits)`; the test checks that the hand-written
functions land within one ulp of these (fdlibm's bound) — usually on them."""
import struct

import mpmath

mpmath.mp.dps = 60


def bits(v: float) -> str:
    return "0x%016x" % struct.unpack("<Q", struct.pack("<d", v))[0]


def rounded(x: mpmath.mpf) -> float:
    return float(x)  # mpmath rounds to nearest when converting


LN_ARGS = [2.0 ** -1074, 1e-300, 2.0 ** -53, 1e-10, 0.1, 0.5, 0.7071067811865476, 0.73,
           0.9999999, 1.0 + 2.0 ** -52, 1.0000001, 1.4142135623730951, 1.47, 2.0, 2.718281828459045,
           3.442619855899, 10.0, 1e10, 1e300, 1.7976931348623157e308]
LN1P_ARGS = [-0.5, -0.2, -0.05, -1.0 / 39, -1.0 / 155, -1.0 / 309, -1e-6, -1e-12, 1e-17, 0.3]
EXP_ARGS = [-745.0, -708.5, -700.0, -20.0, -5.925, -1.5, -0.6931471805599453, -0.34, -1e-9, 1e-20,
            0.25, 0.5, 1.0, 3.0, 10.0, 100.0, 709.7]

for name, args, f in [("LN", LN_ARGS, mpmath.log), ("LN_1P", LN1P_ARGS, mpmath.log1p),
                      ("EXP", EXP_ARGS, mpmath.exp)]:
    print(f"const {name}: [(u64, u64); {len(args)}] = [")
    for x in args:
        print(f"    ({bits(x)}, {bits(rounded(f(mpmath.mpf(x))))}), // {x!r}")
    print("];")
