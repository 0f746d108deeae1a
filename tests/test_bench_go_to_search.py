"""bench/go_to_search.py runs end to end on a few maps and prints a row per choice."""

import pytest

from bench import go_to_search
from common.cli import UsageError


def test_the_search_benchmark_prints_a_row_per_choice(capsys):
    go_to_search.main(go_to_search.Options(sizes=(16,), steps_per_iteration=(1, 5), warmup=3, batches=2, repeats=1))
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| 16 |")]
    assert [row.split("|")[2].strip() for row in rows] == ["1", "5"]
    assert rows[0].endswith("| 1.00x |")


def test_the_search_benchmark_refuses_bad_choices_before_running():
    with pytest.raises(UsageError, match=r"--steps-per-iteration must be at least 1, got \[1, 0\]"):
        go_to_search.main(go_to_search.Options(steps_per_iteration=(1, 0)))
    with pytest.raises(UsageError, match="--task must be one of"):
        go_to_search.main(go_to_search.Options(task="DoorKey"))
