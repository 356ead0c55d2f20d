"""Hugging Face datasets as seeds, through the real `datasets` library, offline.

Every dataset here is made by the library itself in a temporary folder: `save_to_disk` folders
(`Dataset` and `DatasetDict`) and a folder in Hub layout (data files and a README with configs)
loaded through `load_dataset`. The Hub is never contacted: offline mode is on and the cache is a
temporary folder.
"""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from synthloom.config.seed_config import SeedConfig
from synthloom.errors import SeedDataError
from synthloom.row_groups import RowGroupSlice
from synthloom.seeds import hf_datasets
from synthloom.seeds.reader import SeedReader
from synthloom.seeds.sources import BATCH_ROWS

datasets = pytest.importorskip("datasets")
huggingface_hub = pytest.importorskip("huggingface_hub")

RECORDS = {"id": list(range(10)), "text": [f"record {i}" for i in range(10)]}


@pytest.fixture(autouse=True)
def offline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No network and no user cache: offline mode (read by the libraries at import, so their
    constants are set too) and a cache in the test's folder."""
    for name in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"):
        monkeypatch.setenv(name, "1")
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "hf-cache")
    monkeypatch.delenv("HF_TOKEN", raising=False)


def reader(base: Path, **seed: Any) -> SeedReader:
    return SeedReader(SeedConfig.model_validate(seed), base_dir=base, run_seed=5)


def take(r: SeedReader, start: int, size: int) -> dict[str, list[Any]]:
    return r.rows_for(RowGroupSlice(index=start // max(size, 1), start=start, size=size, run_seed=5))


@pytest.fixture
def hub_folder(tmp_path: Path) -> Path:
    """A dataset folder as it looks on the Hub: parquet data files per config and split, and the
    README front matter declaring them."""
    root = tmp_path / "hub-like"
    (root / "en").mkdir(parents=True)
    (root / "fr").mkdir()
    pq.write_table(pa.table({"q": ["a", "b", "c"], "n": [1, 2, 3]}), root / "en" / "train-00000.parquet")
    pq.write_table(pa.table({"q": ["d"], "n": [4]}), root / "en" / "test-00000.parquet")
    pq.write_table(pa.table({"q": ["un", "deux"], "n": [1, 2]}), root / "fr" / "train-00000.parquet")
    (root / "README.md").write_text(
        "---\nconfigs:\n"
        "- config_name: en\n  default: true\n  data_files:\n"
        "  - split: train\n    path: en/train-*.parquet\n  - split: test\n    path: en/test-*.parquet\n"
        "- config_name: fr\n  data_files:\n  - split: train\n    path: fr/train-*.parquet\n"
        "---\n# A dataset\n"
    )
    return root


# -- save_to_disk -----------------------------------------------------------------------------------


def test_path_reads_a_dataset_saved_by_the_library(tmp_path: Path) -> None:
    datasets.Dataset.from_dict(RECORDS).save_to_disk(str(tmp_path / "ds"), num_shards=2)
    r = reader(tmp_path, path="ds")
    assert len(r) == 10
    assert r.column_names == ["id", "text"]
    assert take(r, 0, 10)["id"] == list(range(10))


def test_path_dataset_dict_uses_train_and_hf_names_another_split(tmp_path: Path) -> None:
    full = datasets.Dataset.from_dict(RECORDS)
    datasets.DatasetDict({"train": full, "test": full.select(range(3))}).save_to_disk(str(tmp_path / "dd"))
    assert len(reader(tmp_path, path="dd")) == 10
    assert take(reader(tmp_path, hf="dd", split="test"), 0, 3)["text"] == ["record 0", "record 1", "record 2"]


def test_unknown_split_of_a_saved_dataset_dict_lists_the_splits(tmp_path: Path) -> None:
    full = datasets.Dataset.from_dict(RECORDS)
    datasets.DatasetDict({"train": full, "test": full}).save_to_disk(str(tmp_path / "dd"))
    with pytest.raises(
        SeedDataError, match=r"no split 'validation' in the dataset; splits: train, test"
    ) as info:
        reader(tmp_path, hf="dd", split="validation")
    assert info.value.field == "seed.split"


def test_saved_dataset_without_the_library_uses_the_plain_arrow_reader(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    datasets.Dataset.from_dict(RECORDS).save_to_disk(str(tmp_path / "ds"))
    monkeypatch.setattr(hf_datasets, "datasets_module", lambda: None)
    r = reader(tmp_path, path="ds", sampling="shuffle")
    assert sorted(take(r, 0, 10)["id"]) == list(range(10))


def test_hf_seed_without_the_library_says_which_extra_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(hf_datasets, "datasets_module", lambda: None)
    with pytest.raises(SeedDataError, match=r"pip install 'synthloom\[hf\]'") as info:
        reader(tmp_path, hf="owner/name")
    assert info.value.field == "seed.hf"


# -- load_dataset over a folder in Hub layout -------------------------------------------------------


def test_hub_layout_folder_default_config_and_train_split(hub_folder: Path) -> None:
    r = reader(hub_folder.parent, hf="hub-like")
    assert r.column_names == ["q", "n"]
    assert take(r, 0, 3) == {"q": ["a", "b", "c"], "n": [1, 2, 3]}


def test_hub_layout_folder_config_and_split(hub_folder: Path) -> None:
    assert take(reader(hub_folder.parent, hf="hub-like", config="fr"), 0, 2)["q"] == ["un", "deux"]
    assert take(reader(hub_folder.parent, hf="hub-like", split="test"), 0, 1)["q"] == ["d"]


def test_hub_layout_unknown_split_and_config(hub_folder: Path) -> None:
    with pytest.raises(SeedDataError, match=r"no split 'dev' in the dataset; splits: train, test") as info:
        reader(hub_folder.parent, hf="hub-like", split="dev")
    assert info.value.field == "seed.split"
    with pytest.raises(SeedDataError, match=r"no config 'de' in the dataset.*'en', 'fr'") as info:
        reader(hub_folder.parent, hf="hub-like", config="de")
    assert info.value.field == "seed.config"


def test_streaming_reads_in_order_and_cycles(hub_folder: Path) -> None:
    r = reader(hub_folder.parent, hf="hub-like", streaming=True)
    assert r.num_records is None
    assert take(r, 0, 2)["q"] == ["a", "b"]
    assert take(r, 2, 2)["q"] == ["c", "a"]  # the end of the stream: the next pass starts
    assert take(r, 7, 3)["q"] == ["b", "c", "a"]
    assert take(r, 1, 2)["q"] == ["b", "c"]  # an earlier record: the stream restarts and reads forward
    with pytest.raises(TypeError, match="no known length"):
        len(r)


def test_streaming_shuffle_is_a_seeded_buffer_shuffle(tmp_path: Path) -> None:
    datasets.Dataset.from_dict(RECORDS).save_to_disk(str(tmp_path / "ds"))
    first = reader(tmp_path, hf="ds", streaming=True, sampling="shuffle", shuffle_buffer=100)
    second = reader(tmp_path, hf="ds", streaming=True, sampling="shuffle", shuffle_buffer=100)
    a = take(first, 0, 20)["id"]
    assert sorted(a[:10]) == sorted(a[10:]) == list(range(10))  # every record once per pass
    assert a[:10] != list(range(10))
    assert a[:10] != a[10:]  # each pass is shuffled anew
    assert take(second, 10, 10)["id"] == a[10:]  # and reproducibly


def test_streaming_with_transforms(hub_folder: Path) -> None:
    r = reader(
        hub_folder.parent,
        hf="hub-like",
        streaming=True,
        transforms=[{"filter": "{{ n != 2 }}"}, {"rename": {"q": "question"}}],
    )
    assert r.column_names == ["question", "n"]
    assert take(r, 0, 3)["question"] == ["a", "c", "a"]


def test_streaming_a_large_dataset_holds_a_bounded_window(tmp_path: Path) -> None:
    n = 200_000
    datasets.Dataset.from_dict({"i": list(range(n))}).save_to_disk(str(tmp_path / "big"))
    r = reader(tmp_path, hf="big", streaming=True)
    sampler = r._samplers[0]
    most = 0
    for k in range(0, 150_000, 1000):
        assert take(r, k, 1000)["i"][0] == k
        most = max(most, sum(t.num_rows for _, t in sampler._held))  # type: ignore[union-attr]
    # What row groups in flight may still ask for (8 groups back) and the batch being read: never more.
    assert most <= 8 * 1000 + 2 * BATCH_ROWS


# -- the Hub ----------------------------------------------------------------------------------------


def test_hub_dataset_not_in_cache_while_offline_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(SeedDataError) as info:
        reader(tmp_path, hf="nobody-xyz/does-not-exist")
    message = str(info.value)
    assert "cannot load Hugging Face dataset 'nobody-xyz/does-not-exist'" in message
    assert "offline mode is on" in message
    assert info.value.field == "seed.hf"
    assert "Traceback" not in message


def test_hub_not_found_or_gated_mentions_the_token(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def load_dataset(*args: Any, **kwargs: Any) -> Any:
        raise datasets.exceptions.DatasetNotFoundError(
            "Dataset 'owner/private' doesn't exist on the Hub or cannot be accessed."
        )

    monkeypatch.setattr(datasets, "load_dataset", load_dataset)
    with pytest.raises(
        SeedDataError, match=r"does not exist, or it is private or gated.*set HF_TOKEN"
    ) as info:
        reader(tmp_path, hf="owner/private")
    assert info.value.field == "seed.hf"


def test_hub_arguments_are_passed_through_and_no_token_is_in_the_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: dict[str, Any] = {}

    def load_dataset(path: str, name: str | None = None, **kwargs: Any) -> Any:
        seen.update(path=path, name=name, **kwargs)
        return datasets.Dataset.from_dict(RECORDS)

    monkeypatch.setattr(datasets, "load_dataset", load_dataset)
    monkeypatch.setenv("HF_TOKEN", "hf_secret_value")
    seed = SeedConfig(hf="owner/name", config="en", split="train", revision="v1.0")
    r = SeedReader(seed, base_dir=tmp_path, run_seed=0)
    assert len(r) == 10
    assert seen == {
        "path": "owner/name",
        "name": "en",
        "split": "train",
        "revision": "v1.0",
        "streaming": False,
    }
    assert "hf_secret_value" not in json.dumps(seed.model_dump())


def test_unreachable_hub_fails_at_once_without_the_librarys_retries(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(huggingface_hub.constants, "ENDPOINT", "https://hub.invalid")

    def no_dns(*args: Any, **kwargs: Any) -> Any:
        raise socket.gaierror(-2, "Name or service not known")

    calls: list[Any] = []
    monkeypatch.setattr(hf_datasets.socket, "getaddrinfo", no_dns)
    monkeypatch.setattr(datasets, "load_dataset", lambda *a, **k: calls.append(a))
    with pytest.raises(SeedDataError, match=r"the Hub \(hub\.invalid\) cannot be reached.*HF_HUB_OFFLINE=1"):
        reader(tmp_path, hf="owner/name")
    assert calls == []
