"""Writes the example's small, deterministic data set: orders, prep events and a spine.

    python examples/food_delivery/generate.py [--orders N] [--spine N] [--out DIR]

Same arguments, same bytes: the data in data/ was made with the defaults. Instants are
ISO-8601 UTC; a few rows are cancelled, have null totals or fall exactly on window edges.
"""

from __future__ import annotations

import argparse
import csv
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

START = datetime(2024, 5, 1, tzinfo=UTC)
STATUSES = ["delivered"] * 8 + ["cancelled", "refunded"]


def iso(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def restaurants(n: int) -> list[str]:
    return [f"r{i:03d}" for i in range(n)]


def orders(rng: random.Random, count: int, rests: list[str]) -> list[dict[str, object]]:
    rows = []
    for i in range(count):
        t = START + timedelta(seconds=rng.randrange(0, 7 * 86_400, 30))
        total = None if rng.random() < 0.02 else round(rng.uniform(5, 160), 2)
        rows.append(
            {
                "order_id": f"o{i:06d}",
                "restaurant_id": rng.choice(rests),
                "customer_id": f"c{rng.randrange(300):04d}",
                "total": total,
                "status": rng.choice(STATUSES),
                "created_at": iso(t),
            }
        )
    return sorted(rows, key=lambda r: (str(r["created_at"]), str(r["order_id"])))


def prep_events(rng: random.Random, order_rows: list[dict[str, object]]) -> list[dict[str, object]]:
    rows = []
    for o in order_rows:
        if o["status"] == "cancelled":
            continue
        placed = datetime.fromisoformat(str(o["created_at"]).replace("Z", "+00:00"))
        minutes = round(rng.lognormvariate(2.7, 0.4), 1)
        rows.append(
            {
                "restaurant_id": o["restaurant_id"],
                "prep_minutes": minutes,
                "ready_at": iso(placed + timedelta(minutes=minutes)),
            }
        )
    return sorted(rows, key=lambda r: (str(r["ready_at"]), str(r["restaurant_id"])))


def spine(rng: random.Random, count: int, rests: list[str]) -> list[dict[str, object]]:
    rows = []
    for _ in range(count):
        t = START + timedelta(minutes=rng.randrange(0, 7 * 1440, 5))
        rows.append({"restaurant_id": rng.choice(rests), "ts": iso(t), "basket_total": round(rng.uniform(5, 120), 2)})
    return rows


def write(path: Path, rows: list[dict[str, object]]) -> None:
    with path.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]), lineterminator="\n")
        w.writeheader()
        w.writerows(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--orders", type=int, default=3000)
    parser.add_argument("--spine", type=int, default=500)
    parser.add_argument("--restaurants", type=int, default=20)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "data")
    args = parser.parse_args()
    rng = random.Random(20240501)
    rests = restaurants(args.restaurants)
    order_rows = orders(rng, args.orders, rests)
    args.out.mkdir(parents=True, exist_ok=True)
    write(args.out / "orders.csv", order_rows)
    write(args.out / "prep_events.csv", prep_events(rng, order_rows))
    write(args.out / "spine.csv", spine(rng, args.spine, rests))


if __name__ == "__main__":
    main()
