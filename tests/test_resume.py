"""Dropped SSH connections mid-stream (pytest_think/resume.py): the twin drops them after
given vector counts; the stream reconnects, restarts the agent and resumes, every vector
once — or fails with one line when it cannot."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from support import DIGITS_MODEL, DIGITS_VECTORS, sim_board_data

from pytest_think.boards import load_board
from pytest_think.device import Device, Run
from pytest_think.emulator.launcher import TwinProcess
from pytest_think.errors import AgentError, HostKeyError, LinkError
from pytest_think.families import open_board
from pytest_think.reference import reference_model
from pytest_think.vectors import VectorSet


@contextmanager
def twin_device(tmp_path: Path, faults: dict[str, Any], **ssh: Any) -> Iterator[Device]:
    """A Device on a sim twin with `faults`, its board file's ssh section merged with `ssh`."""
    data = sim_board_data(name="drops", twin={"faults": faults})
    data["ssh"].update(ssh)
    spec = tmp_path / "drops.yaml"
    spec.write_text(yaml.safe_dump(data))
    board = load_board(spec)
    with TwinProcess.start(board, tmp_path / "twin") as twin:
        device = Device(open_board(twin.board(board), emulated=True))
        try:
            yield device
        finally:
            device.close()
            device.board.close()


@pytest.fixture(scope="module")
def vectors(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """3000 digits vectors (the 450 of the test set, repeated): drops well apart."""
    with np.load(DIGITS_VECTORS) as data:
        x = data["input"]
    path = tmp_path_factory.mktemp("vectors") / "digits-3000.npz"
    np.savez(path, input=np.resize(x, (3000, *x.shape[1:])))
    return path


def assert_exact(run: Run) -> None:
    """Every vector has its one result, equal to onnxruntime's on the host."""
    reference = reference_model(DIGITS_MODEL)
    for start, stop, outputs in reference.run_chunks(run.vectors):
        for name, expected in outputs.items():
            np.testing.assert_array_equal(run.outputs[name][start:stop], expected)


def test_three_drops_in_one_stream_resume_every_vector_once(tmp_path: Path, vectors: Path) -> None:
    with twin_device(tmp_path, {"drop_after_vectors": [500, 1500, 2500]}) as device:
        run = device.run(DIGITS_MODEL, vectors)
        first = device.agent_identity
        assert_exact(run)
        assert run.result.reconnects == 3
        assert device.board.transport.reconnects == 3
        resumes = run.result.resumes
        # Each pass got further: the vectors with a result when it dropped only grow.
        assert [r.after_vectors for r in resumes] == sorted(r.after_vectors for r in resumes)
        # What was in flight is sent again: within the window, never the whole rest.
        window = run.result.window * run.result.vectors_per_frame
        assert all(0 < r.resent <= window and r.after_vectors < run.count for r in resumes)
        assert all(r.tries == 1 and r.uploaded == 0 for r in resumes)
        assert all("agent died during the stream" in r.cause for r in resumes)
        # The next run needs no reconnect, on the agent the last resume started.
        again = device.run(DIGITS_MODEL, vectors)
        assert again.result.reconnects == 0 and device.agent_identity == first
        assert_exact(again)


def test_a_drop_with_the_work_directory_gone_redeploys_the_agent_and_model(
    tmp_path: Path,
) -> None:
    faults = {"drop_after_vectors": [300], "drop_forgets_workdir": True}
    with twin_device(tmp_path, faults) as device:
        run = device.run(DIGITS_MODEL, DIGITS_VECTORS)
        assert_exact(run)
        (resume,) = run.result.resumes
        # The agent's files and the model, uploaded again into the empty work directory.
        assert resume.uploaded >= 2


def test_a_design_run_resumes_and_loads_its_design_again_when_gone(tmp_path: Path) -> None:
    design = tmp_path / "design"
    design.mkdir()
    (design / DIGITS_MODEL.name).write_bytes(DIGITS_MODEL.read_bytes())
    spec = {
        "name": "digits-cpu",
        "family": "generic",
        "reference": str(DIGITS_MODEL),
        "files": {"model": DIGITS_MODEL.name},
    }
    (design / "design.yaml").write_text(yaml.safe_dump(spec))
    faults = {"drop_after_vectors": [300], "drop_forgets_workdir": True}
    with twin_device(tmp_path, faults) as device:
        run, flash = device.run_design(design / "design.yaml", DIGITS_VECTORS)
        assert flash.flashed
        assert_exact(run)
        (resume,) = run.result.resumes
        assert resume.uploaded >= 2  # the agent's files and the design's model file


def test_more_drops_than_ssh_reconnects_fail_with_one_line(tmp_path: Path, vectors: Path) -> None:
    faults = {"drop_after_vectors": [500, 1500, 2500]}
    with twin_device(tmp_path, faults, reconnects=2) as device:
        with pytest.raises(LinkError) as err:
            device.run(DIGITS_MODEL, vectors)
        message = str(err.value)
        assert "\n" not in message
        assert re.match(
            r"board 'drops': the SSH connection dropped 3 times during the stream, "
            r"ssh.reconnects allows 2 resumes; \d+ vectors have no result \(first: \d+\); "
            r"last: agent died during the stream",
            message,
        ), message
        # The board is still there: the next run starts afresh (the drops are spent).
        assert_exact(device.run(DIGITS_MODEL, vectors))


def test_a_link_that_stays_down_fails_after_ssh_reconnects_tries(tmp_path: Path) -> None:
    faults = {"drop_after_vectors": [300], "drop_down_s": 3600}
    with twin_device(tmp_path, faults, reconnects=2) as device:
        with pytest.raises(LinkError) as err:
            device.run(DIGITS_MODEL, DIGITS_VECTORS)
        message = str(err.value)
        assert "\n" not in message
        assert message.startswith("lost the SSH connection to board 'drops' (127.0.0.1:")
        assert "and 2 reconnection tries failed; last: " in message


def test_ssh_back_with_another_host_key_is_refused_naming_both(tmp_path: Path) -> None:
    faults = {"drop_after_vectors": [300], "new_host_key": True}
    with twin_device(tmp_path, faults) as device:
        pinned = device.config.ssh.host_key if device.config.ssh else None
        assert pinned is not None
        with pytest.raises(HostKeyError) as err:
            device.run(DIGITS_MODEL, DIGITS_VECTORS)
        message = str(err.value)
        fingerprints = re.findall(r"SHA256:[A-Za-z0-9+/]{43}", message)
        assert "\n" not in message and len(fingerprints) == 2, message
        presented, pins = fingerprints
        assert pins == pinned and presented != pinned
        assert "refusing to connect" in message


def test_an_agent_that_dies_on_a_live_connection_is_not_resumed(tmp_path: Path) -> None:
    with twin_device(tmp_path, {"crash_after_vectors": 300}) as device:
        with pytest.raises(AgentError, match="agent died during the stream"):
            device.run(DIGITS_MODEL, DIGITS_VECTORS)
        assert device.board.transport.connected
        assert device.board.transport.reconnects == 0


def test_missing_ranges_cover_exactly_the_vectors_without_a_result() -> None:
    from pytest_think.stream import Collector

    collector = Collector(10, ["y"])
    for filled in ([], [0, 1, 2], [3, 4, 8], [5, 6, 7, 9]):
        collector.filled[filled] = True
        ranges = collector.missing_ranges()
        covered = [i for start, stop in ranges for i in range(start, stop)]
        assert covered == collector.missing().tolist()
        assert all(start < stop for start, stop in ranges)
        # A resumed pass sends exactly those, in frames of at most 2 vectors.
        vectors = VectorSet(Path("x.npy"), {"": np.arange(10.0)[:, None]}, None)
        frames = list(vectors.batches(2, ranges))
        assert all(stop - start <= 2 for start, stop, _ in frames)
        sent = [float(v) for _, _, arrays in frames for v in arrays[""][:, 0]]
        assert sent == [float(i) for i in covered]


def _allure_steps(item: dict[str, Any]) -> list[dict[str, Any]]:
    found = []
    for step in item.get("steps", []):
        found.append(step)
        found.extend(_allure_steps(step))
    return found


def test_reconnects_are_in_the_results_json_junit_and_allure(
    pytester: pytest.Pytester, write_board: Callable[..., Path], vectors: Path
) -> None:
    write_board("drops", twin={"faults": {"drop_after_vectors": [500, 1500]}})
    pytester.makepyfile(
        f"""
        def test_digits(dut, reference):
            reference.check(dut.run({str(DIGITS_MODEL)!r}, {str(vectors)!r}))

        def test_undisturbed(dut, reference):
            reference.check(dut.run({str(DIGITS_MODEL)!r}, {str(vectors)!r}))
        """
    )
    result = pytester.runpytest(
        "--board=drops", "--think-json=out.json", "--alluredir=allure", "--junitxml=junit.xml"
    )
    result.assert_outcomes(passed=2)
    tests = {
        t["nodeid"].split("::")[-1]: t
        for t in json.loads((pytester.path / "out.json").read_text())["tests"]
    }
    stream = tests["test_digits"]["stream"]
    assert stream["reconnects"] == 2
    assert all(0 <= r["after_vectors"] < 3000 and r["resent"] > 0 for r in stream["resumes"]), (
        json.dumps(stream["resumes"])
    )
    assert all(r["tries"] >= 1 and r["uploaded"] == 0 for r in stream["resumes"])
    assert tests["test_undisturbed"]["stream"]["reconnects"] == 0
    assert "resumes" not in tests["test_undisturbed"]["stream"]

    junit = (pytester.path / "junit.xml").read_text()
    assert junit.count('name="reconnects" value="2"') == 1
    assert junit.count('name="reconnects" value="0"') == 1

    results = [json.loads(p.read_text()) for p in (pytester.path / "allure").glob("*-result.json")]
    digits = next(r for r in results if r["name"].startswith("test_digits"))
    (step,) = [s for s in _allure_steps(digits) if s["name"].startswith("resumed after")]
    assert step["name"] == "resumed after 2 dropped SSH connections on drops"
    (attachment,) = step["attachments"]
    text = (pytester.path / "allure" / attachment["source"]).read_text().splitlines()
    assert len(text) == 2 and text[0].startswith("1: ") and "of 3000 vectors done" in text[0]


def test_a_stream_that_cannot_resume_fails_with_one_line_and_the_next_test_runs(
    pytester: pytest.Pytester, write_board: Callable[..., Path], vectors: Path
) -> None:
    write_board(
        "drops", ssh={"reconnects": 1}, twin={"faults": {"drop_after_vectors": [500, 1500]}}
    )
    pytester.makepyfile(
        f"""
        def test_drops_twice(dut):
            dut.run({str(DIGITS_MODEL)!r}, {str(vectors)!r})

        def test_after(dut, reference):
            reference.check(dut.run({str(DIGITS_MODEL)!r}, {str(vectors)!r}))
        """
    )
    result = pytester.runpytest("--board=drops", "--think-json=out.json")
    result.assert_outcomes(failed=1, passed=1)
    result.stdout.fnmatch_lines(
        [
            "*LinkError: board 'drops': the SSH connection dropped 2 times during the stream, "
            "ssh.reconnects allows 1 resume; * vectors have no result (first: *)*"
        ]
    )
    text = result.stdout.str()
    assert "Traceback" not in text
    assert not re.search(r"pytest_think/[\w/]+\.py:\d+", text), "a frame of our code leaked out"
    (failed, _) = json.loads((pytester.path / "out.json").read_text())["tests"]
    assert failed["outcome"] == "failed" and "compare" not in failed


def test_ssh_reconnects_zero_turns_resuming_off(tmp_path: Path) -> None:
    with twin_device(tmp_path, {"drop_after_vectors": [300]}, reconnects=0) as device:
        with pytest.raises(LinkError, match=r"^board 'drops': the SSH connection dropped once "):
            device.run(DIGITS_MODEL, DIGITS_VECTORS)
        assert device.board.transport.reconnects == 0
