"""The results JSON's schema: committed as generated, and met by what pytest writes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from support import DIGITS_MODEL, DIGITS_VECTORS, REPO

from pytest_think.pytest.schema import results_adapter, results_schema

COMMITTED = REPO / "docs" / "results.schema.json"


def _valid(document: dict[str, Any]) -> None:
    jsonschema.validate(document, json.loads(COMMITTED.read_text()))
    results_adapter().validate_python(document)


def test_the_committed_schema_is_the_generated_one() -> None:
    # Regenerate with: think schema -o docs/results.schema.json
    assert json.loads(COMMITTED.read_text()) == results_schema()


def test_think_schema_prints_it(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from pytest_think.cli import main

    printed = CliRunner().invoke(main, ["schema"])
    assert printed.exit_code == 0 and json.loads(printed.output) == results_schema()
    out = tmp_path / "schema.json"
    written = CliRunner().invoke(main, ["schema", "-o", str(out)])
    assert written.exit_code == 0 and out.read_text() == COMMITTED.read_text()


def test_the_first_release_s_results_file_still_validates() -> None:
    _valid(json.loads((REPO / "tests" / "data" / "results-0.1.0-first-schema.json").read_text()))


def test_a_session_s_results_validate(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        f"""
        import pytest

        MODEL, VECTORS = {str(DIGITS_MODEL)!r}, {str(DIGITS_VECTORS)!r}

        def test_variants(dut, reference, record_table):
            first = dut.run(MODEL, VECTORS, label="a")
            reference.check(first)
            reference.check(dut.run(MODEL, VECTORS, label="b"))
            record_table("sweep", ["x", "y"], [[1, 2.0], [2, None]], plot=("x", ["y"]))

        def test_unchecked(dut):
            dut.run(MODEL, VECTORS)

        def test_skipped():
            pytest.skip("not here")

        @pytest.mark.xfail(reason="known")
        def test_xfailed():
            assert False

        def test_failed():
            assert False, "no"
        """
    )
    result = pytester.runpytest("--board=sim", "--think-json=out.json")
    result.assert_outcomes(passed=2, skipped=1, xfailed=1, failed=1)
    document = json.loads(Path(pytester.path / "out.json").read_text())
    _valid(document)
    assert [t["outcome"] for t in document["tests"]] == [
        "passed",
        "passed",
        "skipped",
        "xfailed",
        "failed",
    ]


def test_an_energy_measurement_on_a_twin_validates(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        f"""
        def test_energy(energy):
            energy.measure({str(DIGITS_MODEL)!r}, {str(DIGITS_VECTORS)!r})
        """
    )
    board = REPO / "boards" / "fpga-zcu102.yaml"
    result = pytester.runpytest(
        f"--board={board}",
        "--emulate",
        "--energy-window=1",
        "--energy-trials=1",
        "--think-json=out.json",
    )
    result.assert_outcomes(passed=1)
    document = json.loads(Path(pytester.path / "out.json").read_text())
    _valid(document)
    # The twin's plug-in added what the twin knows to the record the product wrote.
    assert document["tests"][0]["energy"]["twin_truth_mj_per_inference"] > 0
