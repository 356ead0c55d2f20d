"""Parameters of each sampler, validated when the config is loaded."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import Field, model_validator

from synthloom.config.base import StrictModel

__all__ = ["SAMPLER_PARAMS", "SamplerName"]

SamplerName = Literal[
    "category",
    "subcategory",
    "uniform",
    "gaussian",
    "bernoulli",
    "binomial",
    "poisson",
    "scipy",
    "datetime",
    "timedelta",
    "uuid",
    "person",
]


class CategoryParams(StrictModel):
    """One of `values`, optionally weighted."""

    #: The values to draw from.
    values: Annotated[list[Any], Field(min_length=1)]
    #: Relative weights, one per value (default: equal).
    weights: list[Annotated[float, Field(ge=0)]] | None = None

    @model_validator(mode="after")
    def _check(self) -> CategoryParams:
        if self.weights is not None:
            if len(self.weights) != len(self.values):
                raise ValueError(
                    f"'weights' has {len(self.weights)} entries but 'values' has {len(self.values)}"
                )
            if sum(self.weights) <= 0:
                raise ValueError("'weights' must not all be zero")
        return self


class SubcategoryParams(StrictModel):
    """A value from the list that the `category` column's value selects."""

    #: The sampler column this one depends on.
    category: str
    #: For each value of `category`, the values to draw from.
    values: Annotated[dict[str, Annotated[list[Any], Field(min_length=1)]], Field(min_length=1)]


class UniformParams(StrictModel):
    """A number drawn uniformly between `low` and `high`."""

    #: The lower bound.
    low: float
    #: The upper bound.
    high: float
    #: float, or int (whole numbers).
    dtype: Literal["float", "int"] = "float"

    @model_validator(mode="after")
    def _check(self) -> UniformParams:
        if self.low > self.high:
            raise ValueError(f"'low' ({self.low}) must not exceed 'high' ({self.high})")
        return self


class GaussianParams(StrictModel):
    """A number from a normal distribution."""

    #: The mean.
    mean: float = 0.0
    #: The standard deviation.
    stddev: Annotated[float, Field(ge=0)] = 1.0


class BernoulliParams(StrictModel):
    """true with probability `p`, else false."""

    #: The probability of true.
    p: Annotated[float, Field(ge=0, le=1)]


class BinomialParams(StrictModel):
    """The number of successes in `n` trials."""

    #: The number of trials.
    n: Annotated[int, Field(ge=0)]
    #: The success probability of each trial.
    p: Annotated[float, Field(ge=0, le=1)]


class PoissonParams(StrictModel):
    """A count from a Poisson distribution."""

    #: The mean (lambda).
    mean: Annotated[float, Field(ge=0)]


class ScipyParams(StrictModel):
    """A number from any `scipy.stats` distribution."""

    #: The name of a `scipy.stats` distribution.
    dist: str
    #: Its parameters.
    params: dict[str, float] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _check(self) -> ScipyParams:
        import scipy.stats

        distribution = getattr(scipy.stats, self.dist, None)
        if not isinstance(distribution, scipy.stats.rv_continuous | scipy.stats.rv_discrete):
            raise ValueError(f"'{self.dist}' is not a scipy.stats distribution")
        try:
            frozen = distribution(**self.params)
            frozen.rvs(size=1, random_state=0)
        except Exception as exc:  # scipy raises many kinds for bad shape parameters
            raise ValueError(f"scipy.stats.{self.dist}{tuple(self.params.items())}: {exc}") from None
        return self


TimeUnit = Literal["s", "m", "h", "D"]


class DatetimeParams(StrictModel):
    """A date-time between `start` and `end`."""

    #: The earliest date-time.
    start: dt.datetime
    #: The latest date-time.
    end: dt.datetime
    #: The resolution of the drawn values.
    unit: TimeUnit = "s"

    @model_validator(mode="after")
    def _check(self) -> DatetimeParams:
        if (self.start.tzinfo is None and self.end.tzinfo is not None) or (
            self.start.tzinfo is not None and self.end.tzinfo is None
        ):
            raise ValueError("'start' and 'end' must both have a timezone or both have none")
        if self.start > self.end:
            raise ValueError("'start' must not be after 'end'")
        return self


class TimedeltaParams(StrictModel):
    """A duration between `min` and `max`."""

    #: The shortest duration, in `unit`s.
    min: float = 0
    #: The longest duration, in `unit`s.
    max: float
    #: The unit of `min` and `max`.
    unit: TimeUnit = "D"
    #: A datetime column to add the drawn delta to; without it the value is the delta itself.
    reference: str | None = None

    @model_validator(mode="after")
    def _check(self) -> TimedeltaParams:
        if self.min > self.max:
            raise ValueError("'min' must not exceed 'max'")
        return self


class UuidParams(StrictModel):
    """A random identifier."""

    #: Text put before each id.
    prefix: str = ""
    #: 12 hex digits instead of a full 36-character UUID.
    short: bool = False
    #: Upper-case hex digits.
    uppercase: bool = False


PERSON_FIELDS = (
    "first_name",
    "last_name",
    "name",
    "sex",
    "age",
    "birth_date",
    "city",
    "state",
    "country",
    "occupation",
    "email",
    "phone",
)


class PersonParams(StrictModel):
    """A made-up person (name, age, address, ...) from Faker."""

    #: The Faker locale of names and addresses.
    locale: str = "en_US"
    #: [low, high] ages.
    age_range: Annotated[list[Annotated[int, Field(ge=0, le=120)]], Field(min_length=2, max_length=2)] = [
        18,
        85,
    ]
    #: any, female or male.
    sex: Literal["any", "female", "male"] = "any"
    #: Which person fields to produce (default: all).
    fields: list[Literal[PERSON_FIELDS]] | None = None  # type: ignore[valid-type]

    @model_validator(mode="after")
    def _check(self) -> PersonParams:
        from faker.config import AVAILABLE_LOCALES

        if self.locale not in AVAILABLE_LOCALES:
            raise ValueError(f"unknown Faker locale '{self.locale}'")
        if self.age_range[0] > self.age_range[1]:
            raise ValueError("'age_range' must be [low, high] with low <= high")
        return self


SAMPLER_PARAMS: dict[str, type[StrictModel]] = {
    "category": CategoryParams,
    "subcategory": SubcategoryParams,
    "uniform": UniformParams,
    "gaussian": GaussianParams,
    "bernoulli": BernoulliParams,
    "binomial": BinomialParams,
    "poisson": PoissonParams,
    "scipy": ScipyParams,
    "datetime": DatetimeParams,
    "timedelta": TimedeltaParams,
    "uuid": UuidParams,
    "person": PersonParams,
}
