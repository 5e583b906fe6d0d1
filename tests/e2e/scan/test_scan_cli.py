"""The README's first command, as a user runs it: `integrity scan examples/deliveries`."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import DDEX_SAMPLES_DIR, REPO_ROOT

EXAMPLES = REPO_ROOT / "examples" / "deliveries"


def run_cli(*args: str, data_dir: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "INTEGRITY_DATA_DIR": str(data_dir)}
    env.pop("INTEGRITY_DATABASE_URL", None)
    return subprocess.run(
        [sys.executable, "-m", "integrity", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO_ROOT,
        timeout=300,
        check=False,
    )


def table_contents(database: Path) -> dict[str, list[tuple]]:
    connection = sqlite3.connect(database)
    try:
        names = [
            row[0]
            for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        ]
        return {
            n: sorted(connection.execute(f'SELECT * FROM "{n}"').fetchall(), key=repr)
            for n in names
        }
    finally:
        connection.close()


@pytest.mark.slow
def test_scan_of_the_examples_reports_and_a_rerun_changes_nothing(tmp_path):
    first = run_cli("scan", str(EXAMPLES), "--json", data_dir=tmp_path)
    assert first.returncode == 0, first.stderr
    report = json.loads(first.stdout)
    database = tmp_path / "integrity.db"
    assert report["database"] == f"sqlite:///{database}"
    album, single = report["deliveries"]
    assert album["ern_version"] == "4.3.2" and album["status"] == "completed"
    assert [t["title"] for t in album["tracks"]] == [
        "Harbour Lights",
        "Cold Iron",
        "Night Ferry",
        "Paper Moons",
    ]
    assert album["tracks"][3]["contains_ai"] == "All"
    for track in album["tracks"] + single["tracks"]:
        assert track["state"] == "scored"
        assert track["decision"] in {"clear", "review", "filter", "block"}
        assert abs(track["duration_s"] - track["declared_duration_s"]) < 1.0
    assert single["tracks"][0]["duration_s"] == pytest.approx(31.0, abs=0.1)
    # The decisions the examples were built to provoke, each with readable reasons.
    decisions = {t["title"]: t["decision"] for t in album["tracks"] + single["tracks"]}
    assert decisions["Harbour Lights"] == decisions["Cold Iron"] == "clear"
    assert decisions["Night Ferry"] == "review"  # the sped-up re-upload of Harbour Lights
    assert decisions["Paper Moons"] == "filter"  # declared fully AI-generated
    [spam] = single["tracks"]
    assert spam["decision"] == "review"
    spam_codes = {f["code"] for f in spam["findings"]}
    assert {"spam_title_url", "spam_duration_near_30s", "spam_upc_placeholder"} <= spam_codes
    assert all(": " in reason for reason in spam["reasons"])
    assert "icpn_bad_check_digit" in {f["code"] for f in single["findings"]}

    before = table_contents(database)
    second = run_cli("scan", str(EXAMPLES), "--json", data_dir=tmp_path)
    assert second.returncode == 0, second.stderr
    assert json.loads(second.stdout) == report
    assert table_contents(database) == before

    table = run_cli("scan", str(EXAMPLES), data_dir=tmp_path)
    assert table.returncode == 0
    assert "Harbour Lights" in table.stdout and "LANTERN-2026-0001-1" in table.stdout


def test_scan_of_a_missing_path_is_a_clear_error(tmp_path):
    result = run_cli("scan", str(tmp_path / "nope"), data_dir=tmp_path)
    assert result.returncode == 2
    assert "no such file or folder" in result.stderr
    assert "Traceback" not in result.stderr


def test_ddex_inspect_json_contract(tmp_path):
    result = run_cli(
        "ddex",
        "inspect",
        str(EXAMPLES / "night-ferry-album" / "NewReleaseMessage.xml"),
        "--json",
        data_dir=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["version"] == "4.3.2"
    assert document["sender"] == {
        "dpid": "PADPIDA2026112401E",
        "name": "Lantern Light Distribution",
    }
    assert document["releases"][0]["track_isrcs"] == [f"GBLNT260000{i}" for i in range(1, 5)]
    paper_moons = document["tracks"][3]
    assert paper_moons["contains_ai"] == "All"
    assert paper_moons["hash"]["algorithm"] == "MD5"
    assert paper_moons["file"] == "resources/04_paper_moons.m4a"


def test_ddex_inspect_of_broken_xml_exits_2_with_the_reason(tmp_path):
    broken = DDEX_SAMPLES_DIR / "edge-cases" / "002_erroneous_xml.xml"
    result = run_cli("ddex", "inspect", str(broken), "--json", data_dir=tmp_path)
    assert result.returncode == 2
    assert "002_erroneous_xml.xml" in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


def test_ddex_validate_exit_codes_and_xsd(tmp_path, shared_dir):
    good = EXAMPLES / "night-ferry-album" / "NewReleaseMessage.xml"
    ok = run_cli(
        "ddex",
        "validate",
        str(good),
        "--xsd-dir",
        str(shared_dir / "ddex" / "xsd"),
        "--json",
        data_dir=tmp_path,
    )
    assert ok.returncode == 0, ok.stderr
    assert not [f for f in json.loads(ok.stdout)["findings"] if f["severity"] == "error"]
    invalid = DDEX_SAMPLES_DIR / "edge-cases" / "005_not_valid_xsd.xml"
    bad = run_cli(
        "ddex",
        "validate",
        str(invalid),
        "--xsd-dir",
        str(shared_dir / "ddex" / "xsd"),
        "--json",
        data_dir=tmp_path,
    )
    assert bad.returncode == 1
    assert any(f["severity"] == "error" for f in json.loads(bad.stdout)["findings"])
