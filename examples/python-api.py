"""The Python API: build a config with `synthloom.DatasetBuilder`, preview it, create it, load and export it.

Shows: the fluent builder (the same model and validation as YAML), `synthloom.validate` (the plan),
`synthloom.preview` (a few records in memory, same engine), `synthloom.create` (a checkpointed run under
`output/`), `result.to_pandas()`, `result.export("....jsonl")`, `result.usage` and `result.failures`.

Run (from the repository root; no endpoint, no key):

    python examples/python-api.py

The model is the embedded SmolLM2-135M (`provider="local"`): fine for trying the API, not for the data.
A run wrote 4 records; every review, even those rated 1 or 2 stars, was labelled positive, and one
"review" was only "The phone I rated 2 out of 5.". For real data point the alias at a server instead:

    .model("writer", provider="openai", base_url="http://127.0.0.1:8000/v1", model="Qwen/Qwen3-8B",
           api_key_env="OPENAI_API_KEY", inference={"max_tokens": 256})
"""

from __future__ import annotations

from pathlib import Path

import synthloom

OUTPUT = Path("output")


def build_config(**writer: object) -> synthloom.DatasetConfig:
    """The dataset: a product, a tone, a short review, and its sentiment. `writer` overrides the model
    entry's fields (the tests point it at a simulated endpoint)."""
    model_fields: dict[str, object] = {
        "provider": "local",
        "inference": {"temperature": 0.7, "max_tokens": 64},
    }
    model_fields.update(writer)
    return (
        synthloom.DatasetBuilder("python-api-reviews")
        .model("writer", **model_fields)  # type: ignore[arg-type]
        .sampler("product", "category", values=["phone", "laptop", "headphones"])
        .sampler("stars", "uniform", low=1, high=5, dtype="int")
        .llm_text(
            "review",
            model="writer",
            system_prompt="You write short customer reviews. Reply with the review only.",
            prompt="Write a two-sentence review of a {{ product }} you rated {{ stars }} out of 5.",
        )
        .llm_structured(
            "sentiment",
            model="writer",
            prompt="Review: {{ review }}\n\nIs this review positive, neutral or negative?",
            schema={
                "type": "object",
                "properties": {"label": {"type": "string", "enum": ["positive", "neutral", "negative"]}},
                "required": ["label"],
            },
            inference={"max_tokens": 32},
        )
        .expression("short", "{{ review | length < 200 }}", dtype="bool")
        .run(buffer_size=4, seed=1)
        .build()
    )


def main(num_records: int = 4, output: Path = OUTPUT, **writer: object) -> synthloom.DatasetResult:
    config = build_config(**writer)

    plan = synthloom.validate(config)  # every check that needs no request; raises ConfigError/PlanError
    print("valid; columns in dependency order:", [c.name for c in plan.columns])

    preview = synthloom.preview(config, num_records=2)  # in memory; nothing is written
    for record in preview:
        print("preview:", record)

    # A second run of this script finds the finished run and returns it (resume="if-possible").
    result = synthloom.create(config, num_records=num_records, output=output)
    print(f"{len(result)} records in {output / config.name}, status {result.metadata['status']}")

    frame = result.to_pandas()
    print(frame[["product", "stars", "sentiment", "short"]].to_string())

    exported = result.export(output / "python-api-reviews.jsonl")
    print("exported:", exported)
    print("requests:", result.usage["models"]["writer"]["requests"], "failures:", len(result.failures))
    return result


if __name__ == "__main__":
    main()
