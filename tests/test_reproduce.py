"""The reproduction (bench/reproduce.py) and its results (bench/results.py): intervals, the table,
the claims, the figures, the results folder, an end-to-end --quick run and its resumption."""

import csv
import json
import multiprocessing
import os
import re
import signal
import threading
import time

import pytest

from bench import reproduce, results
from student.config import ConfigError, TrainConfig

LABELS = reproduce.LABELS


def student(method, success, frames_to_05=None, frames_to_09=None, task="LavaDoorKey"):
    return {"task": task, "method": method, "kind": "student", "runs": 3, "frames": 100_000,
            "success": results.mean_interval(success), "return": results.mean_interval([s * 0.8 for s in success]),
            "length": 20.0, "frames_to_0.5": frames_to_05, "frames_to_0.9": frames_to_09}


def teacher(method, successes, trials=1000, task="LavaDoorKey"):
    outcome = {"success": [1] * successes + [0] * (trials - successes),
               "return": [0.8] * successes + [0.0] * (trials - successes), "length": [20] * trials}
    return results.teacher_row(task, method, outcome)


def metrics_rows(curves: dict[int, list[float]], step: int = 1000) -> list[dict]:
    """metrics.jsonl rows: an evaluation every `step` frames per seed, plus a row without one between."""
    rows = []
    for seed, values in curves.items():
        for i, value in enumerate(values):
            rows.append({"seed": seed, "frames": (i + 1) * step - step // 2, "update": 2 * i + 1})
            rows.append({"seed": seed, "frames": (i + 1) * step, "update": 2 * i + 2,
                         "eval_success_rate": value, "eval_mean_return": value * 0.8})
    return rows


def test_mean_interval_is_the_t_interval_clipped_to_the_measure():
    mean, low, high = results.mean_interval([0.5, 0.6, 0.7])
    assert mean == pytest.approx(0.6)
    assert high - mean == pytest.approx(4.303 * 0.1 / 3 ** 0.5, rel=1e-3)
    assert results.mean_interval([0.0, 1.0]) == (0.5, 0.0, 1.0)  # 12.7 x 0.35 wide, clipped
    assert results.mean_interval([0.4]) == (0.4, None, None)


def test_wilson_interval():
    rate, low, high = results.wilson_interval(0, 100)
    assert (rate, low) == (0.0, 0.0) and 0.03 < high < 0.04
    rate, low, high = results.wilson_interval(500, 1000)
    assert rate == 0.5 and high - 0.5 == pytest.approx(0.5 - low) and 0.03 < high - 0.5 < 0.032


def test_student_row_takes_final_figures_and_median_frames_to_each_threshold():
    rows = metrics_rows({0: [0.2, 0.6, 0.95], 1: [0.55, 0.7, 0.92], 2: [0.1, 0.2, 0.4]})
    final = {"frames": 3000, "per_seed": [{"success_rate": s, "mean_return": s, "mean_length": 10.0}
                                          for s in (0.95, 0.92, 0.4)]}
    row = results.student_row("LavaDoorKey", "llm4teach", final, rows, seeds=(0, 1, 2))
    assert row["frames_to_0.5"] == 2000  # per seed 2000, 1000, never: the median counts never as the latest
    assert row["frames_to_0.9"] == 3000  # 3000, 3000, never
    assert row["success"][0] == pytest.approx((0.95 + 0.92 + 0.4) / 3)
    frames, values = results.curves(rows, "success_rate")
    assert list(frames) == [1000, 2000, 3000] and values.shape == (3, 3)


def test_a_threshold_most_seeds_never_reach_is_not_reached():
    rows = metrics_rows({0: [0.95], 1: [0.2], 2: [0.3]})
    final = {"frames": 1000, "per_seed": [{"success_rate": 0.5, "mean_return": 0.4, "mean_length": 9.0}] * 3}
    assert results.student_row("LavaDoorKey", "ppo", final, rows, (0, 1, 2))["frames_to_0.9"] is None


def test_claims_on_a_table():
    table = [student("llm4teach", [0.95, 0.96, 0.97], 20_000, 60_000),
             student("llm4teach-hard", [0.9, 0.92, 0.94], 20_000, 80_000),
             student("ppo", [0.5, 0.6, 0.7], 90_000, None),
             student("llm4teach-gemma", [0.1, 0.1, 0.2], None, None),
             teacher("teacher-authors-soft", 570)]
    verdicts = {claim.split(": ", 1)[1]: holds for claim, holds, _ in results.claims(table)}
    assert verdicts == {"the student reaches 0.9 sooner than PPO": True,
                        "the student ends above its teacher": True,
                        "soft instructions learn at least as fast as hard ones": True,
                        "taught by the Gemma table, the student still learns faster than PPO": False}
    nobody = [student("llm4teach", [0.1, 0.2, 0.1]), student("ppo", [0.0, 0.1, 0.0])]
    assert results.claims(nobody)[0][1] is None  # neither reaches 0.5: cannot tell
    tied = [student("llm4teach", [0.9] * 3, 30_000, 50_000), student("llm4teach-hard", [0.9] * 3, 20_000, 50_000)]
    assert results.claims(tied)[0][1] is True  # as soon to 0.9 is as fast
    # Both settled at 0.99: the Gemma claim is judged by who got to 0.9 first, not by the final rates.
    settled = [student("ppo", [0.99, 0.99, 0.99], 400_000, 650_000),
               student("llm4teach-gemma", [0.98, 0.99, 0.98], 450_000, 600_000)]
    assert results.claims(settled)[0][1] is True
    settled[1] = student("llm4teach-gemma", [0.99, 0.99, 1.0], 500_000, 700_000)
    assert results.claims(settled)[0][1] is False


def test_on_a_navix_task_the_claims_judge_the_reference_table():
    task = "Navix-DoorKey-16x16-v0"
    table = [student("llm4teach-reference", [0.95, 0.96, 0.97], 20_000, 60_000, task=task),
             student("ppo", [0.0, 0.0, 0.1], None, None, task=task),
             teacher("teacher-reference-soft", 890, task=task)]
    verdicts = {claim.split(": ", 1)[1]: holds for claim, holds, _ in results.claims(table)}
    assert verdicts == {"the student reaches 0.9 sooner than PPO": True, "the student ends above its teacher": True}
    table[-1] = teacher("teacher-reference-soft", 990, task=task)  # nothing to pass: not judged
    assert [claim for claim, _, _ in results.claims(table)] == [f"{task}: the student reaches 0.9 sooner than PPO"]


def test_a_navix_task_is_taught_by_its_reference_table_on_its_own_budget_and_says_so():
    task = "Navix-DoorKey-8x8-v0"
    options = reproduce.Options(tasks=(task,), methods=("llm4teach", "ppo")).resolved()
    assert options.frames[task] == reproduce.NAVIX_BUDGET
    assert reproduce.Options(tasks=(task,), methods=("ppo",), quick=True).resolved().frames[task] == 20_480
    assert list(reproduce.teacher_tables(task)) == ["reference", "gemma"]
    assert reproduce.row_method(task, "llm4teach") == "llm4teach-reference"
    assert "written by hand" in LABELS["llm4teach-reference"] and "written by hand" in LABELS["teacher-reference-soft"]
    assert reproduce.run_config(options, task, "results").tables == (task,)  # its default: the reference table
    with pytest.raises(ConfigError, match="no Gemma 3 270M table is shipped for Navix-DoorKey-5x5-v0"):
        reproduce.Options(tasks=("Navix-DoorKey-5x5-v0",)).resolved()
    with pytest.raises(ConfigError, match="unknown task"):
        reproduce.Options(tasks=("Navix-Nowhere-v0",)).resolved()


def test_ppo_at_its_best_is_the_sweeps_best_setting_at_the_budget_and_past_it(tmp_path):
    """Read off the sweep's run folders: at the budget the setting with the most success there (its curve cut at
    the first evaluation at or past the budget), past it the one with the most final success; ties go to the
    setting that reaches 0.9 sooner."""
    options = reproduce.Options(tasks=("LavaDoorKey",), frames={"LavaDoorKey": 2000}, ppo_sweep=True,
                                ppo_num_steps=(8, 32), ppo_ent_coefs=(0.01, 0.05), ppo_frames_factor=2)
    curves = {(8, 0.01): [0.1, 0.2, 0.3, 0.4], (8, 0.05): [0.5, 0.95, 0.95, 0.95],   # best at the budget
              (32, 0.01): [0.0, 0.5, 0.9, 1.0], (32, 0.05): [0.0, 0.9, 0.92, 0.97]}  # best at 2x: tie, sooner
    final = {(8, 0.01): 0.4, (8, 0.05): 0.95, (32, 0.01): 1.0, (32, 0.05): 1.0}
    configs = {}
    for steps in options.ppo_num_steps:
        out = tmp_path / f"ppo-{steps}"
        out.mkdir()
        rows, per_seed = [], []
        for ent_coef in options.ppo_ent_coefs:
            setting = {"method": "ppo", "ent_coef": ent_coef}
            for row in metrics_rows({0: curves[steps, ent_coef], 1: curves[steps, ent_coef]}):
                rows.append({**row, "setting": setting, "eval_mean_length": 9.0} if "eval_success_rate" in row
                            else {**row, "setting": setting})
            per_seed += [{"seed": seed, "setting": setting, "success_rate": final[steps, ent_coef],
                          "mean_return": final[steps, ent_coef], "mean_length": 9.0} for seed in (0, 1)]
        (out / "metrics.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
        (out / "eval.json").write_text(json.dumps({"frames": 4000, "per_seed": per_seed}))
        configs[f"LavaDoorKey PPO sweep, {steps}-step rollouts"] = TrainConfig(
            task="LavaDoorKey", method="ppo", seeds=(0, 1), out=str(out))
    (short, long), best_rows, lines = reproduce.ppo_best(options, "LavaDoorKey", configs)
    assert (short["method"], short["frames"], short["success"][0], short["frames_to_0.9"]) == \
        ("ppo-best", 2000, 0.95, 2000)
    assert short["label"].endswith("(8-step rollouts, entropy 0.05)")
    assert (long["method"], long["frames"], long["success"][0], long["frames_to_0.9"]) == \
        ("ppo-best-long", 4000, 1.0, 2000)
    assert long["label"].endswith("(32-step rollouts, entropy 0.05)")
    assert {row["setting"]["ent_coef"] for row in best_rows} == {0.05} and len(best_rows) == 16
    assert len(lines) == 4 and lines[1].startswith("| LavaDoorKey | 8 | 0.05 | 0.950 ")
    verdicts = [holds for claim, holds, _ in results.claims([student("llm4teach", [1.0] * 3, 500, 1000), short, long])
                if "at its best" in claim]
    assert verdicts == [True, True]


def test_ppo_sweep_runs_a_program_per_rollout_length_for_its_factor_of_the_budget():
    task = "Navix-DoorKey-8x8-v0"
    options = reproduce.Options(tasks=(task,), methods=("llm4teach",), ppo_sweep=True).resolved()
    configs = reproduce.all_configs(options, "results")
    assert list(configs) == [f"{task} training", *(f"{task} PPO sweep, {n}-step rollouts" for n in (8, 32, 128))]
    sweep = configs[f"{task} PPO sweep, 32-step rollouts"]
    assert (sweep.num_steps, sweep.late_rollout_factor, sweep.sweep.method, sweep.sweep.ent_coef) == \
        (32, 1, ("ppo",), (0.01, 0.05))
    assert sweep.phases.planned_frames >= 5 * reproduce.NAVIX_BUDGET and len(sweep.members) == 10
    assert sweep.out == os.path.join("results", "runs", f"{task}-ppo-32-steps")
    for wrong in ({"ppo_num_steps": ()}, {"ppo_ent_coefs": ()}, {"ppo_frames_factor": 0}, {"ppo_num_steps": (0,)}):
        with pytest.raises(ConfigError, match="--ppo-sweep needs"):
            reproduce.Options(tasks=(task,), methods=("ppo",), ppo_sweep=True, **wrong).resolved()


def test_table_markdown_and_csv(tmp_path):
    table = [student("llm4teach", [0.95, 0.96, 0.97], 20_000, 60_000), student("ppo", [0.5, 0.6, 0.7], 90_000),
             teacher("teacher-authors-soft", 570)]
    text = results.markdown(table, LABELS)
    assert "### LavaDoorKey" in text and "| PPO | 3 seeds |" in text and "not reached" in text
    assert "| teacher alone, soft (authors' table) | 1000 episodes |" in text
    path = tmp_path / "table.csv"
    results.write_csv(table, LABELS, str(path))
    with open(path) as file:
        read = list(csv.DictReader(file))
    assert [r["method"] for r in read] == ["llm4teach", "ppo", "teacher-authors-soft"]
    assert read[1]["frames_to_0.9"] == "" and float(read[0]["frames_to_0.9"]) == 60_000
    assert float(read[2]["success_low"]) < 0.57 < float(read[2]["success_high"])


def test_figures_draw_a_line_per_method_and_per_teacher(tmp_path):
    runs = {"llm4teach": metrics_rows({0: [0.5, 0.9], 1: [0.6, 0.95]}),
            "ppo": metrics_rows({0: [0.0, 0.1], 1: [0.0, 0.2]})}
    teachers = [teacher("teacher-authors-soft", 570)]
    figure = results.figure_task(str(tmp_path / "task.png"), "LavaDoorKey", runs, teachers, LABELS)
    labels = [line.get_label() for line in figure.axes[0].get_lines()]
    assert labels == [LABELS["llm4teach"], LABELS["ppo"], LABELS["teacher-authors-soft"]]
    combined = results.figure_all(str(tmp_path / "all.png"), {"LavaDoorKey": (runs, teachers),
                                                              "SimpleDoorKey": (runs, teachers)}, LABELS)
    assert len(combined.axes) == 4 and os.path.getsize(tmp_path / "all.png") > 10_000


def test_quick_fills_only_the_options_left_at_their_defaults():
    options = reproduce.Options(quick=True, seeds=(3, 4, 5)).resolved()
    assert options.seeds == (3, 4, 5) and options.frames == reproduce.QUICK["frames"]
    assert reproduce.Options().resolved().seeds == (0, 1, 2, 3, 4)
    with pytest.raises(ConfigError, match="no budget for LavaDoorKey"):
        reproduce.Options(tasks=("LavaDoorKey",), frames={"SimpleDoorKey": 1000}).resolved()


def test_results_folders_are_never_reused_unless_continued(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(reproduce, "machine", lambda: "cpu-2cores")
    first = reproduce.new_folder(reproduce.Options())
    os.makedirs(first)
    assert reproduce.new_folder(reproduce.Options()) == first + "-2"
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    with pytest.raises(ConfigError, match="not a reproduction"):
        reproduce.open_folder(reproduce.Options(out="other"))
    folder, meta = reproduce.open_folder(reproduce.Options(out="mine"))
    (tmp_path / "mine" / "meta.json").write_text(json.dumps(meta))
    assert reproduce.open_folder(reproduce.Options(out="mine"))[1]["parts"] == {}
    with pytest.raises(ConfigError, match=r"other options \(--seeds: \[0, 1, 2, 3, 4\] there, \[0, 1\] now\)"):
        reproduce.open_folder(reproduce.Options(out="mine", seeds=(0, 1)))


def test_a_folder_made_before_a_default_changed_is_refused_naming_the_option(tmp_path):
    """A default changed since the folder was made (say the student's view, once 13x13 cells) would
    mix two students in one table: refused, naming the option as it is given on the command line."""
    folder, meta = reproduce.open_folder(reproduce.Options(out=str(tmp_path / "old")))
    meta["options"]["train"]["network"]["egocentric_radius"] = 6
    meta["options"]["train"]["ppo"]["gamma"] = 0.9
    (tmp_path / "old" / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(ConfigError) as refused:
        reproduce.open_folder(reproduce.Options(out=folder))
    radius = TrainConfig().network.egocentric_radius
    assert (f"(--train.network.egocentric-radius: 6 there, {radius} now; --train.ppo.gamma: 0.9 there, "
            f"{TrainConfig().ppo.gamma} now)") in str(refused.value)
    assert json.loads((tmp_path / "old" / "meta.json").read_text()) == meta  # the folder is left as it was
    assert reproduce.open_folder(reproduce.Options(
        out=folder, train=TrainConfig().replace(network=TrainConfig().network.replace(egocentric_radius=6),
                                                ppo=TrainConfig().ppo.replace(gamma=0.9))))[1] == meta


@pytest.mark.slow
def test_quick_reproduction_end_to_end_and_resumed_after_an_interruption(tmp_path, monkeypatch):
    """The first session runs its parts in this process (--workers 1), the training first (PPO's sweep, as long,
    after it), and is interrupted after its first chunk; the second runs what is left side by side in two worker
    processes."""
    out = str(tmp_path / "results")
    argv = ["--quick", "--tasks", "SimpleDoorKey", "--methods", "llm4teach", "ppo", "--num-envs", "64",
            "--frames.SimpleDoorKey", "4096", "--teacher-episodes", "50", "--out", out,
            "--ppo-sweep", "--ppo-num-steps", "4", "--ppo-ent-coefs", "0.01", "0.1", "--ppo-frames-factor", "1"]
    train_part = reproduce.train_part

    def interrupted_after_a_chunk(config, report):
        def report_then_stop(frames):
            report(frames)
            raise KeyboardInterrupt  # as if the user pressed Ctrl-C (the chunk's checkpoint is written)

        train_part(config, report_then_stop)

    monkeypatch.setattr(reproduce, "train_part", interrupted_after_a_chunk)
    assert reproduce.main(argv + ["--workers", "1"]) == 130
    first_run = os.path.join(out, "runs", "SimpleDoorKey")  # both methods, one program
    teacher_file = os.path.join(out, "teacher", "SimpleDoorKey.json")
    assert (os.listdir(os.path.join(first_run, "checkpoints"))
            and not os.path.exists(os.path.join(first_run, "eval.json")))
    assert not os.path.exists(os.path.join(out, "table.md")) and not os.path.exists(teacher_file)
    with open(os.path.join(out, "meta.json")) as file:
        assert json.load(file)["parts"] == {}

    monkeypatch.setattr(reproduce, "train_part", train_part)
    assert reproduce.main(argv + ["--workers", "2"]) == 0
    kept = os.path.getmtime(teacher_file)

    for name in ("table.md", "table.csv", "SimpleDoorKey.png", "all_tasks.png", "meta.json"):
        assert os.path.getsize(os.path.join(out, name)) > 0
    with open(os.path.join(out, "table.csv")) as file:
        rows = {r["method"]: r for r in csv.DictReader(file)}
    assert set(rows) == {"llm4teach", "ppo", "ppo-best", "teacher-authors-soft", "teacher-authors-hard",
                         "teacher-gemma-soft", "teacher-gemma-hard"}  # the sweep trained to the budget: one best
    assert re.search(r"\(4-step rollouts, entropy 0\.1?0?1?\)", rows["ppo-best"]["label"])
    assert rows["ppo-best"]["frames"] == "4096"
    assert "## PPO's sweep" in open(os.path.join(out, "table.md")).read()
    for row in rows.values():
        assert 0 <= float(row["success_low"]) <= float(row["success_mean"]) <= float(row["success_high"]) <= 1
        assert 0 <= float(row["return_mean"]) <= 1
    assert rows["llm4teach"]["runs"] == "2" and rows["teacher-authors-soft"]["runs"] == "50"
    assert float(rows["teacher-authors-soft"]["success_mean"]) > 0.9
    with open(os.path.join(out, "meta.json")) as file:
        meta = json.load(file)
    sweep = "SimpleDoorKey PPO sweep, 4-step rollouts"
    assert set(meta["runs"]) == {"SimpleDoorKey training", sweep}
    assert meta["runs"]["SimpleDoorKey training"]["config"]["seeds"] == [0, 1]
    assert meta["runs"]["SimpleDoorKey training"]["config"]["sweep"]["method"] == ["llm4teach", "ppo"]
    assert meta["runs"][sweep]["config"]["sweep"]["ent_coef"] == [0.01, 0.1]
    assert meta["runs"][sweep]["config"]["num_steps"] == 4
    assert {"SimpleDoorKey teacher alone", "SimpleDoorKey training", sweep} <= set(meta["parts"])
    assert [session["workers"] for session in meta["sessions"]] == [1, 2]
    assert meta["versions"]["jax"] and meta["cpu"]
    # Wall time is that of the launches, one after another; the parts of one launch ran within it.
    assert meta["wall_seconds"] == pytest.approx(sum(session["seconds"] for session in meta["sessions"]), abs=0.2)
    assert meta["sessions"][1]["seconds"] >= meta["parts"]["SimpleDoorKey training"]["seconds"]

    from student import metrics
    rows = metrics.read(os.path.join(first_run, "metrics.jsonl"))
    runs = {method: [row for row in rows if row["setting"] == {"method": method}] for method in ("llm4teach", "ppo")}
    resumed = [(row["seed"], row["update"]) for row in runs["llm4teach"]]  # continued from its checkpoint
    assert sorted(resumed) == sorted(set(resumed)) and {u for _, u in resumed} == set(range(1, max(resumed)[1] + 1))
    figure = results.figure_task(str(tmp_path / "again.png"), "SimpleDoorKey", runs, [], reproduce.LABELS)
    assert [line.get_label() for line in figure.axes[0].get_lines()] == [reproduce.LABELS[m] for m in runs]

    # A file cut short (the process killed while writing it, by an older version) is not taken for a finished one:
    # the run's final evaluation is made again from its last checkpoint, nothing retrained; meta.json anew.
    evaluation = json.load(open(os.path.join(first_run, "eval.json")))
    logged = open(os.path.join(first_run, "metrics.jsonl")).read()
    for name, cut in ((os.path.join(first_run, "eval.json"), '{"success_rate": 0.'), ("meta.json", '{"options": {')):
        with open(os.path.join(out, name), "w") as file:
            file.write(cut)
    assert reproduce.main(argv + ["--workers", "1"]) == 0
    assert json.load(open(os.path.join(first_run, "eval.json"))) == evaluation
    assert open(os.path.join(first_run, "metrics.jsonl")).read() == logged
    assert os.path.getmtime(teacher_file) == kept  # nothing finished was redone
    assert set(json.load(open(os.path.join(out, "meta.json")))["parts"]) == {"SimpleDoorKey training", "results"}


@pytest.mark.slow
def test_a_part_failing_in_a_worker_process_stops_the_reproduction_with_its_error(tmp_path):
    config = TrainConfig(task="NoSuchTask", method="ppo", out=str(tmp_path / "run"))
    parts = [reproduce.Part("NoSuchTask ppo", "NoSuchTask", config),
             reproduce.Part("NoSuchTask ppo 2", "NoSuchTask", config)]
    with pytest.raises(ConfigError, match="unknown task 'NoSuchTask'"):
        reproduce.run_parts(reproduce.Options(), parts, 2, reproduce.Progress(parts, 0), lambda part, seconds: None)


def test_workers_default_to_one_per_core_and_refuse_nonsense(monkeypatch):
    monkeypatch.setattr(reproduce.jax, "default_backend", lambda: "cpu")
    monkeypatch.setattr(reproduce, "usable_cores", lambda: [0, 1, 2, 3])
    parts = [reproduce.Part(f"part {i}", "SimpleDoorKey") for i in range(3)]
    assert reproduce.worker_count(reproduce.Options(), parts) == 3  # no more workers than parts
    assert reproduce.worker_count(reproduce.Options(), parts + parts) == 4
    assert reproduce.worker_count(reproduce.Options(workers=1), parts) == 1
    with pytest.raises(ConfigError, match="--workers 0"):
        reproduce.Options(workers=0).resolved()
    assert reproduce.comparable(reproduce.Options(workers=2)) == reproduce.comparable(reproduce.Options())
    monkeypatch.setattr(reproduce.jax, "default_backend", lambda: "gpu")
    assert reproduce.worker_count(reproduce.Options(), parts) == 1  # the parts share the one device
    with pytest.raises(ConfigError, match="leave --workers at 1"):
        reproduce.worker_count(reproduce.Options(workers=2), parts)


def test_stopping_workers_asks_them_first_as_ctrl_c_does():
    """A worker still busy when the reproduction stops (another part failed) gets SIGINT, as from Ctrl-C,
    and ends cleanly, even where SIGINT came ignored (CI runs in the background); SIGTERM is the fallback."""
    context = multiprocessing.get_context("spawn")
    jobs, messages = context.Queue(), context.Queue()
    process = context.Process(target=reproduce.worker, args=(reproduce.Options(), os.getpid(), jobs, messages))
    process.start()
    assert messages.get(timeout=300)[0] == "ready"  # waiting for a part
    reproduce.stop([process], ask=True)
    assert process.exitcode == 0


def _wait_for_a_job_while_another_thread_takes_ctrl_c(jobs, messages):
    """In a worker's place: SIGINT blocked in this thread, so that the kernel hands it to the other one."""
    signal.signal(signal.SIGINT, signal.default_int_handler)
    threading.Thread(target=time.sleep, args=(120,), daemon=True).start()  # started with SIGINT unblocked
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        messages.put("waiting")
        reproduce.next_job(jobs)
    except KeyboardInterrupt:
        messages.put("interrupted")


@pytest.mark.skipif(not hasattr(signal, "pthread_sigmask"), reason="POSIX signal masks")
def test_a_worker_waiting_for_a_part_ends_on_ctrl_c_whichever_thread_takes_it():
    """Python raises KeyboardInterrupt in the main thread only when it next runs Python code: a worker
    blocked on its job queue when another thread took the signal stayed blocked (killed by `stop`)."""
    context = multiprocessing.get_context("spawn")
    jobs, messages = context.Queue(), context.Queue()
    process = context.Process(target=_wait_for_a_job_while_another_thread_takes_ctrl_c, args=(jobs, messages))
    process.start()
    try:
        assert messages.get(timeout=300) == "waiting"
        time.sleep(0.5)  # well into the wait
        os.kill(process.pid, signal.SIGINT)
        assert messages.get(timeout=30) == "interrupted"
    finally:
        process.kill()
        process.join()
