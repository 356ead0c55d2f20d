"""The base every column config derives from, built-in or plugin."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Any, ClassVar, Literal, NamedTuple

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

__all__ = [
    "COLUMN_NAME_PATTERN",
    "IMPORT_PATH_PATTERN",
    "ColumnConfig",
    "ImportPath",
    "ImportPathText",
    "ModelClass",
    "StrictModel",
    "ValueShape",
]

#: Keys of a mapping value known at plan time, each with the shape of its own value (None: unknown).
ValueShape = Mapping[str, "ValueShape | None"]

#: Column names must be usable as Jinja2 identifiers: `{{ name }}` and `{{ name.field }}`.
COLUMN_NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"


IMPORT_PATH_PATTERN = r"^[A-Za-z_][\w.]*[:.][A-Za-z_]\w*$"


def _import_path(value: str) -> str:
    if not re.fullmatch(IMPORT_PATH_PATTERN, value):
        raise ValueError(f"{value!r} is not an import path: expected 'package.module:name'")
    return value


#: `package.module:name`, checked with a message a user can act on (the planner imports it).
ImportPathText = Annotated[
    str, AfterValidator(_import_path), Field(json_schema_extra={"pattern": IMPORT_PATH_PATTERN})
]


#: A pydantic model class (spelled once here: inside a column config `type` names the field).
ModelClass = type[BaseModel]


class ImportPath(NamedTuple):
    """A Python object a column names by import path (`package.module:name`), and what it must be."""

    path: str
    kind: Literal["callable", "pydantic-model"]


class StrictModel(BaseModel):
    """Everything a user writes: unknown keys are errors, not silence. Its JSON Schema carries each
    field's help text (the `#:` comment above the field, see `field_docs.py`)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    @classmethod
    def model_json_schema(cls, *args: Any, **kwargs: Any) -> dict[str, Any]:
        from synthloom.config.field_docs import describe_schema

        return describe_schema(super().model_json_schema(*args, **kwargs), cls)


class ColumnConfig(StrictModel):
    """One column. Subclasses set `type` to a `Literal` naming their column type and override the
    hooks below so that the planner can see every template and reference the column owns."""

    #: Template fields every column has; subclasses extend `template_field_names`.
    template_field_names: ClassVar[tuple[str, ...]] = ("when",)
    #: A minimal column of this type, as a user writes it (`synthloom reference` shows it; a test
    #: checks that it validates). None: the reference fills the required fields with placeholders.
    example: ClassVar[Mapping[str, Any] | None] = None

    #: The column's name: how templates (`{{ name }}`) and other columns refer to it.
    name: Annotated[str, Field(pattern=COLUMN_NAME_PATTERN, max_length=128)]
    #: The column type.
    type: str
    #: Compute the column but leave it out of the final records.
    drop: bool = False
    #: A Jinja condition over other columns: when it renders false the cell is skipped (null).
    when: str | None = None

    @classmethod
    def reference_example(cls) -> dict[str, Any] | None:
        """`example` as a plain dict (None when the type gives none)."""
        return dict(cls.example) if cls.example is not None else None

    def templates(self) -> dict[str, str]:
        """Field name -> Jinja2 source for every template this column owns."""
        out: dict[str, str] = {}
        for field in self.template_field_names:
            value = getattr(self, field, None)
            if isinstance(value, str):
                out[field] = value
        return out

    @classmethod
    def field_model(cls, name: str, data: Mapping[str, Any]) -> ModelClass | None:
        """The model that validates field `name` when the field is a free-form mapping whose shape
        depends on the rest of the column (`data`, as written): a sampler's `params`. The loader uses
        it to suggest the right key for a typo inside such a mapping."""
        return None

    def referenced_columns(self) -> dict[str, list[str]]:
        """Field name -> column names referenced outside templates (a validator's targets, ...)."""
        return {}

    def import_paths(self) -> dict[str, ImportPath]:
        """Field name (as the user writes it) -> an object named by import path. The planner imports
        each one (from the config file's folder first) and checks it is the right kind of object."""
        return {}

    def model_aliases(self) -> dict[str, str]:
        """Field name -> model alias this column calls."""
        return {}

    def side_columns(self) -> list[str]:
        """Extra output columns this column writes next to its own (`<name>__trace`, ...)."""
        return []

    def kept_when_dropped(self) -> list[str]:
        """Side columns that stay in the output when the column itself is dropped (a custom
        function's `outputs`: the columns are the point, the dict they came in is not)."""
        return []

    # ---- what the value looks like, for checks made before a request is sent ---------------------
    def value_shape(self) -> ValueShape | None:
        """The keys of this column's value when it is a mapping whose keys are known before the run
        (a JSON schema's properties, a judge's score names, a person's fields), each with its own
        shape (None: not known). None when the value is not such a mapping. The planner refuses
        `{{ column.key }}` for a key the shape does not have: it would render as an empty string."""
        return None

    def drawn_values(self) -> list[Any] | None:
        """Every value this column can take, when that is a short list known before the run (a
        category sampler's `values`); None otherwise."""
        return None

    def check_with(self, columns: Mapping[str, ColumnConfig]) -> None:
        """Checks of this column against the other columns of the config, by name (a subcategory's
        keys against the values its parent draws). Raises `PlanError` naming the field."""
        return None

    # ---- columns with an inside (flows) -----------------------------------------------------------
    def nested_columns(self) -> dict[str, ColumnConfig]:
        """Columns run inside this one, by name (a flow's nodes). The planner checks each one's templates,
        references, model aliases and import paths as it checks a column's, and names it as the `node`
        in its errors. `templates()` and `referenced_columns()` leave out what these hold."""
        return {}

    def internal_names(self) -> set[str]:
        """Names bound inside this column that its own and its nested columns' templates may read (a
        flow's state keys): the planner does not take them for column references."""
        return set()

    def check_structure(self) -> None:
        """Checks of this column alone that field validation cannot make (a flow's graph). Raises
        `PlanError` naming the field (and the node)."""
        return None
