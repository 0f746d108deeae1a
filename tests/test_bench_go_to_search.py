"""bench/go_to_search.py runs end to end on a few maps and prints a row per search."""

import pytest

from bench import go_to_search
from common.cli import UsageError


def test_the_search_benchmark_prints_a_row_per_search(capsys):
    go_to_search.main(go_to_search.Options(sizes=(16,), searches=("until-done", "fixed"), warmup=3, batches=2,
                                           repeats=1))
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| 16 |")]
    cells = [[cell.strip() for cell in row.split("|")[1:-1]] for row in rows]
    assert [cell[1] for cell in cells] == ["until-done", "fixed"]
    rates = [float(cell[4].replace(",", "")) for cell in cells]
    assert float(cells[1][5][:-1]) == pytest.approx(rates[1] / rates[0], abs=0.01)  # fixed against until-done


def test_the_search_benchmark_refuses_bad_choices_before_running(capsys):
    with pytest.raises(UsageError, match=r"--searches must name searches \(until-done, fixed\), got \['while'\]"):
        go_to_search.main(go_to_search.Options(searches=("while",)))
    with pytest.raises(UsageError, match=r"--searches must name searches .*, got \[\]"):
        go_to_search.main(go_to_search.Options(searches=()))
    with pytest.raises(UsageError, match="--task must be one of"):
        go_to_search.main(go_to_search.Options(task="DoorKey"))
    assert capsys.readouterr().out == ""
