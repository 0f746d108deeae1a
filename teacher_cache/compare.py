"""How two plan tables of one task differ, situation by situation, as a Markdown table.

    python -m teacher_cache.compare teacher_cache/tables/ColoredDoorKey.authors.json \\
        teacher_cache/tables/ColoredDoorKey.gemma3-270m.json

Plans are compared by what the teacher executes (their options), not their wording:
"go to <door>, open <door>" and "go to <door>, open <door> with <key>" are one plan.
Per situation it prints each table's most likely plan, the total variation distance
between the two plan distributions (0: the same plans, 1: no plan in common), and the
same distance over the plans' first options (what the teacher does next).
"""

import collections
import dataclasses
import sys

import tyro

from common import cli
from teacher_cache.table import TableError, read_document, validate


def option_distribution(entries: list[dict], length: int | None = None) -> dict[tuple, float]:
    """A situation's plans as probabilities over option sequences (their first `length` options)."""
    distribution = collections.defaultdict(float)
    for entry in entries:
        distribution[tuple(tuple(option) for option in entry["options"][:length])] += entry["probability"]
    return dict(distribution)


def total_variation(a: dict, b: dict) -> float:
    return 0.5 * sum(abs(a.get(plan, 0.0) - b.get(plan, 0.0)) for plan in set(a) | set(b))


def describe(options: tuple) -> str:
    return ", ".join(verb if phrase is None else f"{verb} {phrase}" for verb, phrase in options)


def compare(path_a: str, path_b: str) -> list[dict]:
    """Per situation: each table's most likely plan (as options) and the total variation distances."""
    documents = [read_document(path) for path in (path_a, path_b)]
    vocabs = [validate(document, path) for document, path in zip(documents, (path_a, path_b))]
    if vocabs[0].name != vocabs[1].name:
        raise TableError(f"{path_a} and {path_b} are tables over different situations "
                         f"({vocabs[0].name} and {vocabs[1].name}); compare tables of one task")
    rows = []
    for text in vocabs[0].texts:
        a, b = (option_distribution(document["plans"][text]) for document in documents)
        first_a, first_b = (option_distribution(document["plans"][text], 1) for document in documents)
        top_a, top_b = max(a, key=a.get), max(b, key=b.get)
        rows.append({"situation": text, "top_a": (describe(top_a), a[top_a]), "top_b": (describe(top_b), b[top_b]),
                     "distance": total_variation(a, b), "first_option_distance": total_variation(first_a, first_b)})
    return rows


@dataclasses.dataclass(frozen=True)
class Options:
    """How two plan tables of one task differ, situation by situation."""

    table_a: tyro.conf.Positional[str]
    """The first table file."""
    table_b: tyro.conf.Positional[str]
    """The second table file."""


def run(options: Options) -> None:
    rows = compare(options.table_a, options.table_b)
    print("| situation | A: most likely plan | B: most likely plan | distance | first-option distance |")
    print("|---|---|---|---:|---:|")
    for row in rows:
        (plan_a, p_a), (plan_b, p_b) = row["top_a"], row["top_b"]
        print(f"| {row['situation']} | {plan_a} ({p_a:.2f}) | {plan_b} ({p_b:.2f}) "
              f"| {row['distance']:.2f} | {row['first_option_distance']:.2f} |")
    mean = {key: sum(row[key] for row in rows) / len(rows) for key in ("distance", "first_option_distance")}
    print(f"\nA = {options.table_a}\nB = {options.table_b}\n"
          f"mean distance {mean['distance']:.2f}, first-option distance {mean['first_option_distance']:.2f}")


def main(argv: list[str] | None = None) -> int:
    return cli.main("teacher_cache.compare", lambda: run(cli.parse(Options, argv, __doc__)))

if __name__ == "__main__":
    sys.exit(main())
