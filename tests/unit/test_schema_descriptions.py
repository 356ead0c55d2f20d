"""`synthloom schema` carries each documented field's help text, so an editor shows it on hover."""

from __future__ import annotations

import json

from click.testing import CliRunner

from synthloom.config.base import StrictModel
from synthloom.config.field_docs import field_meanings as field_descriptions
from synthloom.interface.cli import cli


def _schema() -> dict:
    result = CliRunner().invoke(cli, ["schema"])
    assert result.exit_code == 0
    return json.loads(result.stdout)


def test_schema_carries_field_descriptions_from_the_comments_above_each_field() -> None:
    schema = _schema()
    defs = schema["$defs"]
    assert "OUTPUT/<name>/" in schema["properties"]["name"]["description"]
    llm = defs["LLMTextColumn"]["properties"]
    assert llm["prompt"]["description"].startswith("The user prompt")
    assert "skipped" in llm["when"]["description"]  # inherited from the column base
    assert "adaptive limiter" in defs["ModelConfig"]["properties"]["max_parallel_requests"]["description"]
    assert "never the key itself" in defs["ModelConfig"]["properties"]["api_key_env"]["description"]
    # Written with `#:` over two lines: joined into one text.
    assert "accept rate down to 10 %" in defs["RunConfig"]["properties"]["max_extra_records"]["description"]


def test_every_description_is_text() -> None:
    schema = _schema()
    for definition in [schema, *schema["$defs"].values()]:
        for name, prop in definition.get("properties", {}).items():
            if "description" in prop:
                assert isinstance(prop["description"], str) and prop["description"].strip(), name


def test_field_descriptions_prefers_field_description_and_ignores_method_bodies() -> None:
    from pydantic import Field

    class Example(StrictModel):
        #: Read from the comment.
        a: int = 0
        b: int = Field(0, description="Given explicitly.")

        def method(self) -> None:
            #: not a field
            c: int = 1  # noqa: F841

    assert field_descriptions(Example) == {"a": "Read from the comment.", "b": "Given explicitly."}


def test_every_field_synthloom_declares_has_a_description() -> None:
    from synthloom.config.dataset import DatasetConfig
    from synthloom.config.field_docs import _models_by_title

    schema = _schema()
    models = _models_by_title(DatasetConfig)
    missing = []
    for title, definition in [("DatasetConfig", schema), *schema["$defs"].items()]:
        model = models.get(definition.get("title", title))
        if model is None or not model.__module__.startswith("synthloom."):
            continue  # a plugin's own fields are its to document
        missing += [
            f"{title}.{n}" for n, p in definition.get("properties", {}).items() if "description" not in p
        ]
    assert not missing, missing
