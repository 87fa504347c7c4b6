"""Writes the request bodies of the load runs from the shoppers test split: one row
(single.json) and 1,000 rows (rows1000.json), as JSON row objects keyed by column names, and
the same 1,000 rows as a text/csv body (rows1000.csv: the header and the first 1,000 lines,
without the Revenue column)."""

import csv
import json
import sys

src, out = sys.argv[1], sys.argv[2]
NUMERIC = {"Administrative", "Administrative_Duration", "Informational", "Informational_Duration",
           "ProductRelated", "ProductRelated_Duration", "BounceRates", "ExitRates", "PageValues", "SpecialDay"}
rows = []
with open(src) as f:
    for r in csv.DictReader(f):
        r.pop("Revenue", None)
        row = {}
        for k, v in r.items():
            if k in NUMERIC:
                row[k] = None if v == "" else float(v) if "." in v or "e" in v else int(v)
            elif k == "Weekend":
                row[k] = v.upper() == "TRUE"
            else:
                row[k] = v
        rows.append(row)
with open(f"{out}/single.json", "w") as f:
    json.dump(rows[0], f)
with open(f"{out}/rows1000.json", "w") as f:
    json.dump({"rows": rows[:1000]}, f)
with open(src) as f, open(f"{out}/rows1000.csv", "w", newline="") as g:
    reader = csv.reader(f)
    header = next(reader)
    keep = [j for j, name in enumerate(header) if name != "Revenue"]
    writer = csv.writer(g, lineterminator="\n")
    writer.writerow([header[j] for j in keep])
    for _, line in zip(range(1000), reader):
        writer.writerow([line[j] for j in keep])
