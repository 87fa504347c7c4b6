"""Reference values of erfc and ln erfc for crates/train/tests/privacy_accountant.rs.

Writes erfc_fixtures.json beside this script. Each row holds an f64 argument x and
* erfc      — erfc(x) computed by mpmath at 60 significant digits, rounded to the nearest f64;
* erfc_libm — Python's math.erfc(x) (the C library's erfc), a second, independent opinion;
* log_erfc  — ln erfc(x) by mpmath at 60 digits, rounded to f64 (also where erfc underflows f64).

Run with Python 3.11 and mpmath 1.3.0 (pip install mpmath==1.3.0):
    python3 crates/train/tests/reference/privacy/make_erfc_fixtures.py
"""

import json
import math
import os

import mpmath

mpmath.mp.dps = 60


def arguments():
    xs = set()
    # A grid with an irrational-looking step through the three intervals of Cody's method
    # (|x| <= 0.46875, <= 4, > 4), both signs.
    for k in range(-60, 171):
        xs.add(k * 0.173)
    # The interval borders and their neighbours.
    for border in (0.46875, 4.0, 26.543):
        for x in (border, math.nextafter(border, 0.0), math.nextafter(border, math.inf)):
            xs.add(x)
            xs.add(-x)
    # Tiny arguments.
    for x in (1e-300, 1e-20, 1e-9, 1e-3):
        xs.add(x)
        xs.add(-x)
    # Where erfc underflows f64 (only ln erfc is meaningful) and the accountant's far tail.
    for x in (27.0, 27.5, 30.0, 38.5, 50.0, 100.0, 333.3, 1e3, 7.5e3, 1e4, 1e5, 1e6, 1e8):
        xs.add(x)
    xs.add(0.0)
    return sorted(xs)


def main():
    rows = []
    for x in arguments():
        exact = mpmath.erfc(mpmath.mpf(x))
        rows.append(
            {
                "x": x,
                "erfc": float(exact),
                "erfc_libm": math.erfc(x),
                "log_erfc": float(mpmath.log(exact)),
            }
        )
    about = (
        "erfc and ln erfc at f64 arguments: mpmath 1.3.0 at 60 digits rounded to f64 "
        "(erfc, log_erfc), and Python 3.11 math.erfc (erfc_libm). Made by make_erfc_fixtures.py."
    )
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "erfc_fixtures.json")
    with open(out, "w") as f:
        f.write('{\n  "about": ' + json.dumps(about) + ',\n  "rows": [\n')
        f.write(",\n".join("    " + json.dumps(row) for row in rows))
        f.write("\n  ]\n}\n")
    print(f"{len(rows)} rows -> {out}")


if __name__ == "__main__":
    main()
