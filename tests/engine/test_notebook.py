"""The notebook path: examples/notebook/preview-in-jupyter.ipynb executed by a real Jupyter kernel
(nbclient + ipykernel), against the simulated endpoint in a separate process."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

nbclient = pytest.importorskip("nbclient")
nbformat = pytest.importorskip("nbformat")
pytest.importorskip("ipykernel")

NOTEBOOK = Path(__file__).resolve().parents[2] / "examples" / "notebook" / "preview-in-jupyter.ipynb"


def _text(cell: Any) -> str:
    return "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream")


def _html(cell: Any) -> str:
    for output in cell.outputs:
        if output.output_type in ("execute_result", "display_data") and "text/html" in output.data:
            return str(output.data["text/html"])
    raise AssertionError(f"no HTML output in {cell.outputs}")


def test_a_jupyter_kernel_runs_preview_and_create_and_shows_records_as_cards(tmp_path: Path) -> None:
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    # "python3" is ipykernel's own kernel: this interpreter (the project's venv).
    client = nbclient.NotebookClient(
        notebook,
        timeout=120,
        kernel_name="python3",
        resources={"metadata": {"path": str(tmp_path)}},
    )
    client.execute()
    cells = [c for c in notebook.cells if c.cell_type == "code"]
    errors = [o for c in cells for o in c.outputs if o.output_type == "error"]
    assert not errors, errors

    # The kernel does run cells inside its event loop: plain asyncio.run is refused there.
    assert "cannot be called from a running event loop" in _text(cells[0])
    # The builder's config, written out as YAML, carries the Pydantic class as its JSON Schema.
    assert "type: llm-structured" in _text(cells[2]) and "title: Fact" in _text(cells[2])
    # preview() worked in that loop, and the result displayed as record cards.
    html = _html(cells[3])
    assert html.count('class="sl-card"') == 3
    assert "Simulated reply to: Explain" in html and "3 records" in html
    assert _text(cells[4]).startswith("3 [")
    # create() too: four records committed under the notebook's directory.
    assert _text(cells[5]).strip() == "4 completed"
    assert len(list((tmp_path / "notebook-output" / "notebook-facts" / "data").glob("*.parquet"))) == 1
