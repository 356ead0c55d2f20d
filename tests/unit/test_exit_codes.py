"""Exit codes that tell the truth: a short run exits 3 with its counts unless allowed; an unreachable
endpoint stops `create` before anything is generated, within seconds, saying so."""

from __future__ import annotations

import socket
from pathlib import Path

from click.testing import CliRunner

from synthloom.interface.cli import cli

#: 20 records, about half filtered out by `n < 50`.
FILTERED = """\
name: short
columns:
  - {name: n, type: sampler, sampler: uniform, params: {low: 0, high: 99, dtype: int}}
  - {name: keep, type: filter, condition: "{{ n < 50 }}"}
run: {buffer_size: 10, seed: 1%s}
"""


def _create(tmp_path: Path, text: str, *extra: str) -> tuple[int, str, str]:
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / "config.yaml"
    path.write_text(text)
    args = ["create", str(path), "-n", "20", "-o", str(tmp_path / "out"), "--no-progress", *extra]
    result = CliRunner().invoke(cli, args)
    return result.exit_code, result.stdout, result.stderr


def test_a_run_short_of_its_target_exits_3_with_the_counts(tmp_path: Path) -> None:
    code, out, err = _create(tmp_path, FILTERED % "")
    assert code == 3, out + err
    assert "records written to" in out  # the summary is still printed
    assert err.startswith("Error: only ") and " of 20 records were written (0 failed, " in err
    assert "--allow-partial" in err and "run.allow_partial" in err
    assert "Traceback" not in err


def test_allow_partial_flag_or_run_key_accepts_a_short_run(tmp_path: Path) -> None:
    code, _, err = _create(tmp_path / "flag", FILTERED % "", "--allow-partial")
    assert code == 0, err
    code, _, err = _create(tmp_path / "key", FILTERED % ", allow_partial: true")
    assert code == 0, err


def test_json_summary_of_a_short_run_still_exits_3(tmp_path: Path) -> None:
    code, out, _ = _create(tmp_path, FILTERED % "", "--json")
    assert code == 3
    assert '"filtered_records"' in out


def test_a_complete_run_exits_0(tmp_path: Path) -> None:
    code, _, err = _create(tmp_path, FILTERED.replace("n < 50", "n < 100") % "")
    assert code == 0, err


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_create_against_a_refused_endpoint_stops_at_once_saying_unreachable(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{_closed_port()}/v1"
    text = (
        f"name: down\nmodels:\n  - {{alias: w, base_url: '{url}', model: m}}\n"
        "columns:\n  - {name: a, type: llm-text, model: w, prompt: hi}\n"
    )
    code, _, err = _create(tmp_path, text)
    assert code == 1, err
    assert f"model 'w': {url} is unreachable (connection refused: is the server running?)" in err
    assert "Nothing was generated" in err
    assert not (tmp_path / "out" / "down" / "data").exists() or not any(
        (tmp_path / "out" / "down" / "data").iterdir()
    )


def test_preview_against_an_unknown_host_says_unreachable(tmp_path: Path) -> None:
    # `.invalid` never resolves (RFC 2606): no network is touched.
    path = tmp_path / "config.yaml"
    path.write_text(
        "models:\n  - {alias: w, base_url: 'http://nowhere.invalid:8000/v1', model: m}\n"
        "columns:\n  - {name: a, type: llm-text, model: w, prompt: hi}\n"
    )
    result = CliRunner().invoke(cli, ["preview", str(path), "-n", "1"])
    assert result.exit_code == 1
    assert "model 'w': http://nowhere.invalid:8000/v1 is unreachable" in result.stderr


async def test_a_model_with_one_endpoint_down_of_two_still_starts(tmp_path: Path) -> None:
    import synthloom
    from synthloom import DatasetConfig
    from synthloom.testing import SimulatedEndpoint

    down = f"http://127.0.0.1:{_closed_port()}/v1"
    async with SimulatedEndpoint() as endpoint:
        config = DatasetConfig.model_validate(
            {
                "name": "half",
                "models": [
                    {"alias": "w", "model": "m", "endpoints": [{"url": endpoint.base_url}, {"url": down}]}
                ],
                "columns": [{"name": "a", "type": "llm-text", "model": "w", "prompt": "hi"}],
                "run": {"cell_retries": 0},
            }
        )
        result = await synthloom.apreview(config, 2)
    assert len(result) == 2
