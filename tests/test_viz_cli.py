"""`watch` and `replay` refuse bad options with one line on stderr and exit code 2, before
loading a policy or drawing anything; without a display they say to export instead."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from factory_twin.cli import app

ROOT = Path(__file__).resolve().parents[1]
SMT = ROOT / "scenarios" / "smt.yaml"
POLICIES = ("fifo", "min-setup", "pm-threshold", "conwip", "shared", "adapted", "lorasa")

pytestmark = pytest.mark.timeout(120)


def invoke(*args: object):
    return CliRunner().invoke(app, [str(a) for a in args])


def one_error_line(result) -> str:
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), lines
    return lines[0]


def test_unknown_policy_lists_the_valid_names(tmp_path: Path) -> None:
    line = one_error_line(invoke("watch", SMT, "--policy", "foo", "--gif", tmp_path / "a.gif"))
    assert line.startswith("error: unknown policy 'foo'; expected one of")
    assert all(name in line for name in POLICIES)
    assert not (tmp_path / "a.gif").exists()


@pytest.mark.parametrize(
    ("option", "value"),
    [("--every", "0"), ("--minutes", "-5"), ("--speed", "0"), ("--every", "nan")],
)
def test_non_positive_numbers_are_refused(tmp_path: Path, option: str, value: str) -> None:
    line = one_error_line(invoke("watch", SMT, option, value, "--frames", tmp_path / "f"))
    assert option in line and "> 0" in line
    assert not (tmp_path / "f").exists()


def test_gif_under_a_file_is_refused(tmp_path: Path) -> None:
    blocker = tmp_path / "plain.txt"
    blocker.write_text("x")
    line = one_error_line(invoke("watch", SMT, "--gif", blocker / "out.gif"))
    assert "--gif" in line and "plain.txt is a file" in line


def test_gif_that_is_a_folder_and_frames_that_is_a_file(tmp_path: Path) -> None:
    assert "is a folder" in one_error_line(invoke("watch", SMT, "--gif", tmp_path))
    blocker = tmp_path / "frames.png"
    blocker.write_text("x")
    line = one_error_line(invoke("watch", SMT, "--frames", blocker))
    assert "--frames" in line and "expected a folder" in line


def test_unwritable_folder_is_refused(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        if os.access(locked, os.W_OK):
            pytest.skip("running as a user who can write anywhere (root)")
        line = one_error_line(invoke("watch", SMT, "--gif", locked / "a.gif"))
        assert "not writable" in line
    finally:
        locked.chmod(0o700)


def test_left_without_right_and_left_with_side_by_side(tmp_path: Path) -> None:
    gif = tmp_path / "a.gif"
    assert "give both" in one_error_line(invoke("watch", SMT, "--left", "fifo", "--gif", gif))
    line = one_error_line(
        invoke("watch", SMT, "--left", "fifo", "--right", "conwip", "--side-by-side")
    )
    assert "--side-by-side" in line
    line = one_error_line(invoke("watch", SMT, "--left", "fifo", "--right", "bogus"))
    assert "--right" in line and "'bogus'" in line


def test_no_display_says_to_export(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("DISPLAY", "WAYLAND_DISPLAY", "SDL_VIDEODRIVER"):
        monkeypatch.delenv(var, raising=False)
    line = one_error_line(invoke("watch", SMT, "--policy", "fifo"))
    assert "no display" in line and "--gif" in line and "--frames" in line
    line = one_error_line(invoke("replay", "1", "--db", "sqlite:///:memory:"))
    assert "no display" in line


def test_invisible_video_driver_counts_as_no_display(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DISPLAY", ":99")
    monkeypatch.setenv("SDL_VIDEODRIVER", "dummy")
    assert "SDL_VIDEODRIVER=dummy" in one_error_line(invoke("watch", SMT))


def test_replay_bad_speed_and_gif(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'x.sqlite'}"
    assert "--speed" in one_error_line(invoke("replay", "1", "--speed", "-1", "--db", db))
    blocker = tmp_path / "plain.txt"
    blocker.write_text("x")
    assert "--gif" in one_error_line(invoke("replay", "1", "--gif", blocker / "a.gif", "--db", db))
    assert not (tmp_path / "x.sqlite").exists()


def test_subprocess_without_display_exits_2_quickly(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    env.pop("SDL_VIDEODRIVER", None)
    env["PYTHONPATH"] = str(ROOT)
    proc = subprocess.run(
        [sys.executable, "-m", "factory_twin.cli", "watch", str(SMT)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert proc.returncode == 2
    assert proc.stderr.strip().startswith("error: no display") and "--gif" in proc.stderr


def test_side_by_side_export_with_two_heuristics(tmp_path: Path) -> None:
    result = invoke(
        "watch", SMT, "--left", "fifo", "--right", "min-setup", "--minutes", "30",
        "--every", "10", "--frames", tmp_path / "f",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (tmp_path / "f").iterdir()) == [
        "frame_00001.png", "frame_00002.png", "frame_00003.png",
    ]  # fmt: skip


def test_heuristic_against_a_stored_learned_policy(tmp_path: Path) -> None:
    from factory_twin.scenario import load_scenario
    from factory_twin.store.policies import PolicyStore
    from factory_twin.store.runlog import open_db
    from factory_twin.train.config import TrainConfig
    from factory_twin.train.pipeline import train_method

    text = SMT.read_text(encoding="utf-8").replace("length: 4800", "length: 120")
    text = text.replace("warmup: 480", "warmup: 30")
    path = tmp_path / "smt.yaml"
    path.write_text(text, encoding="utf-8")

    tiny = TrainConfig(
        method="ps", total_steps=256, n_envs=2, rollout_len=64, hidden=(16, 16),
        episode_minutes=60.0,
    )  # fmt: skip
    db = open_db(f"sqlite:///{tmp_path / 'log.sqlite'}")
    try:
        sc = load_scenario(path)
        scenario_id = db.ensure_scenario(sc.name, sc.content_hash(), text)
        train_method(sc, scenario_id, tiny, db, PolicyStore(tmp_path / "store"))
    finally:
        db.close()
    result = invoke(
        "watch", path, "--left", "fifo", "--right", "shared", "--store", tmp_path / "store",
        "--minutes", "20", "--every", "5", "--frames", tmp_path / "f",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert len(list((tmp_path / "f").glob("frame_*.png"))) == 4


def test_unreachable_display_exits_2_instead_of_an_invisible_window(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("WAYLAND_DISPLAY", "SDL_VIDEODRIVER")}
    env.update(DISPLAY=":997", PYTHONPATH=str(ROOT))
    proc = subprocess.run(
        [sys.executable, "-m", "factory_twin.cli", "watch", str(SMT), "--policy", "fifo"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert proc.returncode == 2
    ours = [line for line in proc.stderr.splitlines() if "--gif" in line]
    assert len(ours) == 1 and ours[0].startswith("error: cannot open a window")


def test_select_and_view_are_checked_before_anything_is_drawn(tmp_path: Path) -> None:
    line = one_error_line(invoke("watch", SMT, "--select", "nope", "--frames", tmp_path / "f"))
    assert "--select nope" in line and "pick-and-place" in line and "reflow" in line
    assert "--view" in one_error_line(
        invoke("watch", SMT, "--view", "pie", "--gif", tmp_path / "a.gif")
    )
    assert not (tmp_path / "f").exists() and not (tmp_path / "a.gif").exists()


def test_watch_export_with_select_highlights_that_station(tmp_path: Path) -> None:
    import pygame

    from factory_twin.viz import theme
    from factory_twin.viz.drivers import HeuristicDriver
    from factory_twin.viz.layout import layout

    result = invoke(
        "watch", SMT, "--select", "reflow", "--view", "charts", "--minutes", "20", "--every",
        "10", "--frames", tmp_path / "f",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    frame = pygame.image.load(str(tmp_path / "f" / "frame_00002.png"))
    lay = layout(HeuristicDriver(SMT).snapshot(), frame.get_rect())
    for i, st in enumerate(lay.stations):
        top_left = tuple(frame.get_at((st.box.x + 8, st.box.y)))[:3]
        assert (top_left == theme.SELECTED_BORDER) == (i == 2), i


def test_recorded_run_replays_as_a_gif_of_the_whole_horizon(tmp_path: Path) -> None:
    from PIL import Image

    db = f"sqlite:///{tmp_path / 'x.sqlite'}"
    ran = invoke("run", SMT, "--policy", "fifo", "--seeds", "1", "--record", "--db", db)
    assert ran.exit_code == 0, ran.output
    bad = one_error_line(invoke("replay", "1", "--select", "nope", "--gif", tmp_path / "b.gif",
                                "--db", db))  # fmt: skip
    assert "--select nope" in bad and "printer" in bad
    out = tmp_path / "r.gif"
    result = invoke("replay", "1", "--select", "printer", "--view", "charts", "--gif", out,
                    "--db", db)  # fmt: skip
    assert result.exit_code == 0, result.output
    with Image.open(out) as gif:
        assert gif.n_frames == 60  # the whole 5280 recorded minutes in 88-minute steps
