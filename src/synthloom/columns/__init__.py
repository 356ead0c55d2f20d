"""synthloom's own column types, one folder per family, each shaped like a plugin.

| family | types |
|---|---|
| `sampler/` | `sampler` (category, subcategory, uniform, gaussian, …, person) |
| `expression/` | `expression` |
| `llm/` | `llm-text`, `llm-code`, `llm-structured`, `llm-judge`, `embedding` (with hooks and tools) |
| `validation/` | `validation` |
| `custom/` | `custom` |
| `filter/` | `filter` |
| `image/` | `image` |
| `multi_model/` | `multi-model` |
| `flow/` | `flow`, `conversation`, `refine` |
| `quality/` | `quality-tags`, `perplexity`, `reward`, `rubric`, `dedup`, … |

Each folder holds the family's `config.py` (what a user writes) and `generator.py` (what fills the
column), as a plugin package would. `builtin.py` publishes them all through the `synthloom.columns`
entry point, exactly as a plugin publishes its own.
"""
