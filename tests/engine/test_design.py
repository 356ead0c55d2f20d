"""`synthloom design`: a model's drafts (scripted through the simulated endpoint) are validated, their
errors fed back with fixes, the valid one previewed and checked, and the config written with a header;
a model that never gets it right ends with exit 1 and nothing written."""

from __future__ import annotations

import asyncio
from pathlib import Path

import yaml
from click.testing import CliRunner

from synthloom.config.model_config import ModelConfig
from synthloom.interface.cli import cli
from synthloom.interface.design import design_config
from synthloom.testing import SimulatedEndpoint, SimulatedEndpointConfig

from .conftest import model

BAD_DRAFT = """Here you go:
```yaml
columns:
  - {name: city, type: sampler, sampler: categry, params: {values: [Paris, Lima]}}
  - {name: blurb, type: llm-text, model: writer, promt: "Describe {{ city }}."}
```"""
GOOD_DRAFT = """```yaml
columns:
  - {name: city, type: sampler, sampler: category, params: {values: [Paris, Lima]}}
  - {name: blurb, type: llm-text, model: writer, prompt: "Describe {{ city }}."}
```"""


def _models(designer: SimulatedEndpoint, writer: SimulatedEndpoint) -> list[ModelConfig]:
    return [
        ModelConfig.model_validate(model("designer", designer.base_url)),
        ModelConfig.model_validate(model("writer", writer.base_url)),
    ]


async def test_a_draft_with_mistakes_is_corrected_previewed_and_accepted(endpoint: SimulatedEndpoint) -> None:
    async with SimulatedEndpoint(SimulatedEndpointConfig()) as writer:
        endpoint.script({"text": BAD_DRAFT}, {"text": GOOD_DRAFT}, {"text": "OK"})
        result = await design_config(
            "short blurbs about cities", model="designer", models=_models(endpoint, writer), name="cities"
        )
        assert result.valid and result.rounds == 3 and result.errors == []
        config = yaml.safe_load(result.yaml_text)
        assert config["name"] == "cities" and [m["alias"] for m in config["models"]] == ["designer", "writer"]
        assert [c["name"] for c in config["columns"]] == ["city", "blurb"]
        # The errors went back with their fixes; the preview's records went back for a check.
        second = endpoint.requests[1].json_body["messages"][-1]["content"]
        assert "rename 'promt' to 'prompt'" in second and "column city, field sampler" in second
        third = endpoint.requests[2].json_body["messages"][-1]["content"]
        assert "Two records it generated" in third and "Simulated reply to: Describe" in third
        assert len(result.records) == 2 and {r["city"] for r in result.records} <= {"Paris", "Lima"}
        assert len(writer.requests) == 2  # the preview's two llm-text cells
        # The first request carried the reference and the description.
        first = endpoint.requests[0].json_body["messages"][-1]["content"]
        assert "llm-structured" in first and "short blurbs about cities" in first


async def test_a_model_that_never_drafts_a_valid_config_exits_1_and_writes_nothing(
    endpoint: SimulatedEndpoint, tmp_path: Path
) -> None:
    async with SimulatedEndpoint(SimulatedEndpointConfig()) as writer:
        models_file = tmp_path / "models.yaml"
        models_file.write_text(
            yaml.safe_dump(
                {
                    "models": [
                        m.model_dump(mode="json", exclude_defaults=True) for m in _models(endpoint, writer)
                    ]
                }
            )
        )
        out = tmp_path / "config.yaml"
        out.write_text("# mine\n")
        args = ["design", "cities", "--model", "designer", "--models", str(models_file), "-o", str(out)]
        refused = await asyncio.to_thread(CliRunner().invoke, cli, args)
        assert refused.exit_code == 2 and "--force" in refused.output
        assert len(endpoint.requests) == 0  # refused before any request

        endpoint.script({"text": BAD_DRAFT}, {"text": "not: [yaml"}, {"text": BAD_DRAFT})
        failed = await asyncio.to_thread(CliRunner().invoke, cli, [*args, "--force", "--rounds", "3"])
        assert failed.exit_code == 1
        assert "no valid config after 3 drafts" in failed.output and "unknown field" in failed.output
        assert out.read_text() == "# mine\n" and len(endpoint.requests) == 3

        endpoint.script({"text": GOOD_DRAFT}, {"text": "OK"})
        done = await asyncio.to_thread(CliRunner().invoke, cli, [*args, "--force"])
        assert done.exit_code == 0, done.output
        text = out.read_text()
        assert (
            text.startswith("# Drafted by `synthloom design` with model 'designer'")
            and "#   cities\n" in text
        )
        check = await asyncio.to_thread(CliRunner().invoke, cli, ["validate", str(out)])
        assert check.exit_code == 0, check.output


async def test_interactive_corrections_go_to_the_model_before_the_preview(
    endpoint: SimulatedEndpoint,
) -> None:
    async with SimulatedEndpoint(SimulatedEndpointConfig()) as writer:
        with_country = GOOD_DRAFT.replace(
            "columns:\n", "columns:\n  - {name: country, type: expression, expr: Peru}\n"
        )
        endpoint.script({"text": GOOD_DRAFT}, {"text": with_country}, {"text": "OK"})
        shown: list[str] = []
        answers = iter(["add a country column", ""])

        def ask(draft: str) -> str:
            shown.append(draft)
            return next(answers)

        result = await design_config("cities", model="designer", models=_models(endpoint, writer), ask=ask)
        assert result.valid and result.rounds == 3
        assert len(shown) == 2 and "country" not in shown[0] and "country" in shown[1]
        assert (
            endpoint.requests[1].json_body["messages"][-1]["content"] == "Change this: add a country column"
        )
        assert [c["name"] for c in yaml.safe_load(result.yaml_text)["columns"]] == [
            "country",
            "city",
            "blurb",
        ]


async def test_each_round_sends_only_the_task_and_the_latest_draft(endpoint: SimulatedEndpoint) -> None:
    async with SimulatedEndpoint(SimulatedEndpointConfig()) as writer:
        other_bad = BAD_DRAFT.replace("Paris, Lima", "Quito, Oslo").replace("promt", "prommpt")
        endpoint.script({"text": BAD_DRAFT}, {"text": other_bad}, {"text": GOOD_DRAFT}, {"text": "OK"})
        result = await design_config("cities", model="designer", models=_models(endpoint, writer))
        assert result.valid and result.rounds == 4
        sent = [r.json_body["messages"] for r in endpoint.requests]
        assert [len(m) for m in sent] == [2, 4, 4, 4]
        task = sent[0][1]
        for messages in sent[1:]:
            assert (
                messages[0] == sent[0][0] and messages[1] == task
            )  # the system prompt and the task, as sent
            assert [m["role"] for m in messages] == ["system", "user", "assistant", "user"]
        # The third request carries the second draft and its errors, nothing of the first.
        third = sent[2]
        assert "prommpt" in third[2]["content"] and "Paris" not in third[2]["content"]
        assert "prommpt" in third[3]["content"] and "'promt'" not in third[3]["content"]
        # The fourth: the valid draft and its preview's records.
        assert "prompt:" in sent[3][2]["content"] and "Two records it generated" in sent[3][3]["content"]


async def test_a_long_draft_goes_back_cut_to_about_1200_tokens(endpoint: SimulatedEndpoint) -> None:
    async with SimulatedEndpoint(SimulatedEndpointConfig()) as writer:
        many = "".join(
            f"  - {{name: c{i}, type: sampler, sampler: categry, params: {{values: [a]}}}}\n"
            for i in range(200)
        )
        endpoint.script({"text": f"```yaml\ncolumns:\n{many}```"}, {"text": GOOD_DRAFT}, {"text": "OK"})
        result = await design_config("letters", model="designer", models=_models(endpoint, writer))
        assert result.valid
        back = endpoint.requests[1].json_body["messages"][2]["content"]
        assert len(many) > 12_000 and len(back) < 1200 * 4 + 100
        assert "c0," in back and "c199," not in back and "(cut: the draft was longer)" in back


async def test_a_reply_without_columns_is_told_so_plainly(
    endpoint: SimulatedEndpoint, tmp_path: Path
) -> None:
    async with SimulatedEndpoint(SimulatedEndpointConfig()) as writer:
        prose = "Sure! This dataset has a city and a short blurb about it."
        one_mapping = "```yaml\nname: city\ntype: sampler\n```"
        endpoint.script({"text": prose}, {"text": one_mapping}, {"text": GOOD_DRAFT}, {"text": "OK"})
        result = await design_config("cities", model="designer", models=_models(endpoint, writer))
        assert result.valid and result.rounds == 4
        for request in list(endpoint.requests)[1:3]:
            feedback = request.json_body["messages"][3]["content"]
            assert "the reply holds no YAML list of columns" in feedback
            assert "None" not in feedback and "valid list" not in feedback

        models_file = tmp_path / "models.yaml"
        models_file.write_text(
            yaml.safe_dump(
                {
                    "models": [
                        m.model_dump(mode="json", exclude_defaults=True) for m in _models(endpoint, writer)
                    ]
                }
            )
        )
        endpoint.script({"text": prose}, {"text": prose})
        args = [
            "design",
            "cities",
            "--model",
            "designer",
            "--models",
            str(models_file),
            "-o",
            str(tmp_path / "c.yaml"),
        ]
        failed = await asyncio.to_thread(CliRunner().invoke, cli, [*args, "--rounds", "2"])
        assert failed.exit_code == 1
        assert "the reply holds no YAML list of columns" in failed.output
        assert "None" not in failed.output and not (tmp_path / "c.yaml").exists()


async def test_replies_are_bounded_unless_the_model_sets_its_own_max_tokens(
    endpoint: SimulatedEndpoint,
) -> None:
    async with SimulatedEndpoint(SimulatedEndpointConfig()) as writer:
        endpoint.script({"text": GOOD_DRAFT}, {"text": "OK"})
        await design_config("cities", model="designer", models=_models(endpoint, writer), max_fixes=1)
        assert [r.json_body["max_tokens"] for r in endpoint.requests] == [1500, 1500]

        endpoint.script({"text": GOOD_DRAFT}, {"text": "OK"})
        own = [
            ModelConfig.model_validate(model("designer", endpoint.base_url, inference={"max_tokens": 700})),
            ModelConfig.model_validate(model("writer", writer.base_url)),
        ]
        await design_config("cities", model="designer", models=own, max_fixes=1)
        assert [r.json_body["max_tokens"] for r in list(endpoint.requests)[2:]] == [700, 700]
