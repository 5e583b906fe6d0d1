"""The command line as a newcomer meets it, run as a real process: ordinary mistakes end in one
line naming the setting or path (exit 2, never a traceback), and the exit status tells the truth
about partial failures."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from integrity import __version__
from tests.conftest import REPO_ROOT

EXAMPLES = REPO_ROOT / "examples" / "deliveries"
ALBUM_AUDIO = EXAMPLES / "night-ferry-album" / "resources"
ORIGINAL = ALBUM_AUDIO / "01_harbour_lights.flac"
SPED_UP_COPY = ALBUM_AUDIO / "03_night_ferry.mp3"  # the original played 4 % faster
CLI_TIMEOUT_S = 300
UNREACHABLE_POSTGRES = "postgresql://user:secret@127.0.0.1:1/integrity"  # port 1: nobody listens


def run_cli(*args: str, tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {
        **os.environ,
        "PYTHONPATH": str(REPO_ROOT),
        "INTEGRITY_DATA_DIR": str(tmp_path / "data"),
        **env,
    }
    for name in ("INTEGRITY_DATABASE_URL", "INTEGRITY_INDEX_PATH", "INTEGRITY_MODELS_DIR"):
        if name not in env:
            environment.pop(name, None)
    return subprocess.run(
        [sys.executable, "-m", "integrity", *args],
        capture_output=True,
        text=True,
        env=environment,
        cwd=tmp_path,
        timeout=CLI_TIMEOUT_S,
        check=False,
    )


def assert_one_line_error(result: subprocess.CompletedProcess[str], *names: str) -> str:
    """Exit 2, one line on stderr that starts with `error:` and names each of `names`."""
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    for name in names:
        assert name in lines[0], (name, lines[0])
    return lines[0]


def bad_audio(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "bad.mp3"
    path.write_bytes(b"this is not an mp3 file\n" * 64)
    return path


# --- one-line errors, exit 2 -----------------------------------------------------------------


def test_a_malformed_database_url_names_the_setting(tmp_path):
    result = run_cli("scan", str(EXAMPLES), tmp_path=tmp_path, INTEGRITY_DATABASE_URL="not a url")
    assert_one_line_error(result, "INTEGRITY_DATABASE_URL", "not a usable database URL")


def test_an_unreachable_database_names_the_setting_and_hides_the_password(tmp_path):
    result = run_cli(
        "senders", "list", tmp_path=tmp_path, INTEGRITY_DATABASE_URL=UNREACHABLE_POSTGRES
    )
    line = assert_one_line_error(result, "INTEGRITY_DATABASE_URL", "127.0.0.1:1", "refused")
    assert "secret" not in line


def test_db_current_on_an_unreachable_database(tmp_path):
    result = run_cli(
        "db", "current", tmp_path=tmp_path, INTEGRITY_DATABASE_URL=UNREACHABLE_POSTGRES
    )
    assert_one_line_error(result, "INTEGRITY_DATABASE_URL", "cannot use the database")


def test_an_index_path_that_is_a_folder(tmp_path):
    folder = tmp_path / "index-folder"
    folder.mkdir()
    result = run_cli("scan", str(EXAMPLES), tmp_path=tmp_path, INTEGRITY_INDEX_PATH=str(folder))
    assert_one_line_error(result, "INTEGRITY_INDEX_PATH", str(folder), "is a folder")
    result = run_cli("index", "list", "--index", str(folder), tmp_path=tmp_path)
    assert_one_line_error(result, "--index", str(folder), "is a folder")


def test_an_index_file_that_cannot_be_read_as_an_index(tmp_path):
    foreign = tmp_path / "fingerprints"
    foreign.write_bytes(b"not an index")
    result = run_cli("index", "list", tmp_path=tmp_path, INTEGRITY_INDEX_PATH=str(foreign))
    assert_one_line_error(result, "INTEGRITY_INDEX_PATH", "not a fingerprint index")


def test_a_missing_index_for_a_command_that_only_reads(tmp_path):
    missing = tmp_path / "nowhere.fpi"
    result = run_cli("match", "--index", str(missing), str(ORIGINAL), tmp_path=tmp_path)
    assert_one_line_error(result, "--index", str(missing), "no fingerprint index")


@pytest.mark.parametrize("command", [["analyze", str(ORIGINAL)], ["scan", str(EXAMPLES)]])
def test_a_missing_models_folder(tmp_path, command):
    missing = tmp_path / "no-models"
    result = run_cli(*command, tmp_path=tmp_path, INTEGRITY_MODELS_DIR=str(missing))
    assert_one_line_error(result, "INTEGRITY_MODELS_DIR", str(missing), "no such folder")


def test_serve_on_a_port_in_use(tmp_path):
    assert run_cli("db", "upgrade", tmp_path=tmp_path).returncode == 0
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        result = run_cli("serve", "--port", str(port), tmp_path=tmp_path)
    assert_one_line_error(result, "--port", f"127.0.0.1:{port}", "in use")


def test_a_bad_setting_value_names_its_variable(tmp_path):
    result = run_cli("scan", str(EXAMPLES), tmp_path=tmp_path, INTEGRITY_LOG_FORMAT="xml")
    assert_one_line_error(result, "INTEGRITY_LOG_FORMAT")


# --- exit status tells the truth -------------------------------------------------------------


def test_scan_exits_1_when_a_delivery_failed(tmp_path):
    delivery = tmp_path / "broken-delivery"
    delivery.mkdir()
    (delivery / "NewReleaseMessage.xml").write_text("<NewReleaseMessage><unclosed>")
    result = run_cli("scan", str(delivery), "--json", tmp_path=tmp_path)
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    [report] = json.loads(result.stdout)["deliveries"]
    assert report["status"] == "failed" and report["error"]
    table = run_cli("scan", str(delivery), tmp_path=tmp_path)
    assert table.returncode == 1
    assert "failed" in table.stdout


@pytest.mark.slow
def test_index_add_indexes_the_good_file_reports_the_bad_one_and_exits_1(tmp_path):
    bad = bad_audio(tmp_path / "audio")
    index = tmp_path / "cli.fpi"
    result = run_cli(
        "index", "add", "--index", str(index), str(ORIGINAL), str(bad), "--json", tmp_path=tmp_path
    )
    assert result.returncode == 1, result.stderr
    document = json.loads(result.stdout)
    assert [row["id"] for row in document["added"]] == [ORIGINAL.stem]
    [failed] = document["failed"]
    assert failed["path"] == str(bad) and str(bad) in failed["error"]
    listed = run_cli("index", "list", "--index", str(index), "--json", tmp_path=tmp_path)
    assert listed.returncode == 0, listed.stderr
    [track] = json.loads(listed.stdout)["tracks"]
    assert track["id"] == ORIGINAL.stem and track["title"] == ORIGINAL.stem
    assert track["duration_s"] == pytest.approx(36.0, abs=0.5)


@pytest.mark.slow
def test_dedupe_groups_the_readable_files_reports_the_bad_one_and_exits_1(tmp_path):
    folder = tmp_path / "audio"
    bad_audio(folder)
    shutil.copy(ORIGINAL, folder / ORIGINAL.name)
    shutil.copy(SPED_UP_COPY, folder / SPED_UP_COPY.name)
    result = run_cli("dedupe", str(folder), "--json", tmp_path=tmp_path)
    assert result.returncode == 1, result.stderr
    document = json.loads(result.stdout)
    assert [c["files"] for c in document["clusters"]] == [[ORIGINAL.name, SPED_UP_COPY.name]]
    assert [u["path"] for u in document["unreadable"]] == ["bad.mp3"]


@pytest.mark.slow
def test_analyze_walks_a_folder_and_exits_1_for_the_bad_file(tmp_path):
    folder = tmp_path / "audio"
    bad = bad_audio(folder / "nested")
    shutil.copy(ORIGINAL, folder / ORIGINAL.name)
    result = run_cli("analyze", str(folder), "--json", tmp_path=tmp_path)
    assert result.returncode == 1, result.stderr
    good, failed = json.loads(result.stdout)
    assert good["file"] == str(folder / ORIGINAL.name) and good["decision"] is not None
    assert failed["file"] == str(bad) and failed["decision"] is None and failed["error"]
    # The sandbox's start-up line is a debug message, not noise at the default level.
    assert "audio sandbox started" not in result.stderr


# --- what a newcomer reads -------------------------------------------------------------------


def test_version_and_help_say_where_things_live_and_what_exit_codes_mean(tmp_path):
    version = run_cli("--version", tmp_path=tmp_path)
    assert version.returncode == 0 and version.stdout.strip() == f"integrity {__version__}"
    top = run_cli("--help", tmp_path=tmp_path, COLUMNS="200")
    assert top.returncode == 0
    text = " ".join(top.stdout.split())
    assert "INTEGRITY_DATABASE_URL" in text and "INTEGRITY_INDEX_PATH" in text
    assert str(tmp_path / "data" / "integrity.db") in text
    assert "Exit status: 0" in text
    for command in (["scan"], ["analyze"], ["index"], ["ddex"], ["db"], ["senders"]):
        help_text = " ".join(run_cli(*command, "--help", tmp_path=tmp_path).stdout.split())
        assert "Exit status" in help_text, command


def test_senders_list_shows_senders_without_their_secrets(tmp_path):
    assert run_cli("senders", "add", "acme", tmp_path=tmp_path).returncode == 2  # not migrated
    assert run_cli("db", "upgrade", tmp_path=tmp_path).returncode == 0
    added = run_cli("senders", "add", "acme", "--json", tmp_path=tmp_path)
    secret = json.loads(added.stdout)["secret"]
    run_cli("senders", "rotate", "acme", tmp_path=tmp_path)
    listed = run_cli("senders", "list", "--json", tmp_path=tmp_path)
    assert listed.returncode == 0, listed.stderr
    [sender] = json.loads(listed.stdout)["senders"]
    assert sender["name"] == "acme" and not sender["disabled"]
    table = run_cli("senders", "list", tmp_path=tmp_path)
    assert "acme" in table.stdout and secret not in table.stdout + listed.stdout
