"""``scripts/report.sh`` (make report) keeps the history across runs: each report carries the previous one's
``history/`` into the new results, so Allure's trend shows one point per run. Needs the Allure CLI that
``make setup`` installs (build/allure): missing, the test fails."""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
ALLURE = REPO / "build" / "allure" / "node_modules" / ".bin" / "allure"


def result(results: Path, name: str, status: str) -> None:
    """One test result in allure-pytest's format (what a test run leaves in the results directory)."""
    results.mkdir(parents=True, exist_ok=True)
    uid = uuid.uuid4().hex
    (results / f"{uid}-result.json").write_text(json.dumps({
        "uuid": uid, "historyId": uuid.uuid5(uuid.NAMESPACE_URL, name).hex, "name": name, "fullName": name,
        "status": status, "start": 1_700_000_000_000, "stop": 1_700_000_001_000, "labels": []}))


def report(reports: Path) -> str:
    done = subprocess.run(["bash", str(REPO / "scripts" / "report.sh"), str(reports)], cwd=REPO,
                          capture_output=True, text=True, timeout=180,
                          env={k: v for k, v in os.environ.items() if k != "DISPLAY"})  # no browser opened
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_the_trend_keeps_one_point_per_run(tmp_path: Path) -> None:
    assert ALLURE.exists(), f"{ALLURE} missing: make setup installs the Allure CLI"
    results = tmp_path / "allure-results"
    result(results, "test_a", "passed")
    assert "1 run(s) in the trend" in report(tmp_path)
    # the next night: new results (the test run cleans the directory), one failure now
    for old in results.iterdir():
        if old.is_file():
            old.unlink()
    result(results, "test_a", "failed")
    assert "2 run(s) in the trend" in report(tmp_path)
    trend = json.loads((tmp_path / "allure-report" / "history" / "history-trend.json").read_text())
    assert [t["data"]["failed"] for t in trend] == [1, 0]  # newest first
    assert (tmp_path / "allure-report" / "index.html").stat().st_size > 10_000
    assert not list(tmp_path.glob(".allure-history.*"))  # the scratch generation is cleaned up
