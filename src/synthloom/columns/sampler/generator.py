"""Sampler columns: values drawn from a distribution, a whole row group at a time with numpy.

Every draw comes from `group.rng(column name)`, so the same run seed, column and row group give the
same values in every process. Draws never depend on the `active` mask or on other columns' values
(subcategory draws one uniform per row whatever its parent is), so a change elsewhere in the config
does not reshuffle a sampler's values.
"""

from __future__ import annotations

import datetime as dt
import math
import re
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from synthloom.columns.sampler.config import SamplerColumn
from synthloom.columns.sampler.params import PERSON_FIELDS
from synthloom.engine.generator import BatchGenerator, CellFailure, RowGroupSlice
from synthloom.errors import ConfigError

if TYPE_CHECKING:
    from synthloom.engine.contexts import GeneratorSetup

__all__ = ["AGE_REFERENCE_DATE", "SAMPLERS", "SamplerGenerator"]

Table = Mapping[str, Sequence[Any]]
Rng = np.random.Generator
#: (generator, params, table, size, rng) -> `size` values.
SamplerFunc = Callable[["SamplerGenerator", Any, Table, int, Rng], list[Any]]

_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "D": 86400}

#: `person` ages are as of this date, fixed so that a run (and its resume) is reproducible any day.
AGE_REFERENCE_DATE = dt.date(2025, 1, 1)


class SamplerGenerator(BatchGenerator[SamplerColumn]):
    """Fills a `sampler` column; one small function per sampler in `SAMPLERS`."""

    def __init__(self, config: SamplerColumn, setup: GeneratorSetup) -> None:
        super().__init__(config, setup)
        self.params = config.parsed_params()
        self._draw = SAMPLERS[config.sampler]
        self._person: _PersonSampler | None = None
        params = self.params
        if config.sampler == "uniform" and params.dtype == "int" and math.ceil(params.low) > params.high:
            raise ConfigError(
                f"no integer lies between low={params.low} and high={params.high}",
                column=config.name,
                field="params",
            )
        if config.sampler == "category":
            weights = np.asarray(self.params.weights or [1.0] * len(self.params.values), dtype=float)
            self._p = weights / weights.sum()
            self._values = _object_array(self.params.values)
        if config.sampler == "subcategory":
            self._choices = {key: _object_array(vals) for key, vals in self.params.values.items()}

    def generate(self, table: Table, group: RowGroupSlice, active: Sequence[bool] | None) -> list[Any]:
        # `active` is ignored on purpose: drawing for every row keeps the draws independent of the mask.
        return self._draw(self, self.params, table, group.size, group.rng(self.config.name))


def _object_array(values: Sequence[Any]) -> np.ndarray:
    # Built element by element so that list or dict values stay single objects.
    out = np.empty(len(values), dtype=object)
    for i, v in enumerate(values):
        out[i] = v
    return out


def _category(gen: SamplerGenerator, params: Any, table: Table, size: int, rng: Rng) -> list:
    idx = rng.choice(len(gen._p), size=size, p=gen._p)
    return gen._values[idx].tolist()


def _subcategory(gen: SamplerGenerator, params: Any, table: Table, size: int, rng: Rng) -> list:
    parents = table[params.category]
    # One uniform per row, whatever the parent, so that a row's draw does not depend on other rows.
    u = rng.random(size)
    out: list[Any] = [None] * size
    choices = gen._choices
    for i, parent in enumerate(parents):
        values = choices.get(parent) if isinstance(parent, str) else None
        if values is None and parent is not None:
            values = choices.get(str(parent))
        if values is not None:
            out[i] = values[int(u[i] * len(values))]
    return out


def _uniform(gen: SamplerGenerator, params: Any, table: Table, size: int, rng: Rng) -> list:
    if params.dtype == "int":
        return rng.integers(math.ceil(params.low), math.floor(params.high), size=size, endpoint=True).tolist()
    return rng.uniform(params.low, params.high, size=size).tolist()


def _gaussian(gen: SamplerGenerator, params: Any, table: Table, size: int, rng: Rng) -> list:
    return rng.normal(params.mean, params.stddev, size=size).tolist()


def _bernoulli(gen: SamplerGenerator, params: Any, table: Table, size: int, rng: Rng) -> list:
    return (rng.random(size) < params.p).tolist()


def _binomial(gen: SamplerGenerator, params: Any, table: Table, size: int, rng: Rng) -> list:
    return rng.binomial(params.n, params.p, size=size).tolist()


def _poisson(gen: SamplerGenerator, params: Any, table: Table, size: int, rng: Rng) -> list:
    return rng.poisson(params.mean, size=size).tolist()


def _scipy(gen: SamplerGenerator, params: Any, table: Table, size: int, rng: Rng) -> list:
    import scipy.stats

    return np.asarray(
        getattr(scipy.stats, params.dist)(**params.params).rvs(size=size, random_state=rng)
    ).tolist()


def _datetime(gen: SamplerGenerator, params: Any, table: Table, size: int, rng: Rng) -> list:
    unit = _UNIT_SECONDS[params.unit]
    span = int((params.end - params.start).total_seconds() // unit)
    steps = rng.integers(0, span, size=size, endpoint=True)
    # numpy has no time zones: add wall-clock offsets to the naive start, then put the zone back,
    # which is exactly Python's `aware_datetime + timedelta`.
    start = np.datetime64(params.start.replace(tzinfo=None), "us")
    values = (start + (steps * unit).astype("timedelta64[s]")).astype(object).tolist()
    if params.start.tzinfo is not None:
        tz = params.start.tzinfo
        return [v.replace(tzinfo=tz) for v in values]
    return values


def _timedelta(gen: SamplerGenerator, params: Any, table: Table, size: int, rng: Rng) -> list:
    # Uniform between min and max (given in `unit`), at one-second resolution.
    unit = _UNIT_SECONDS[params.unit]
    low, high = math.ceil(params.min * unit), math.floor(params.max * unit)
    if low > high:  # a range narrower than a second
        low = high = round(params.min * unit)
    seconds = rng.integers(low, high, size=size, endpoint=True)
    deltas = seconds.astype("timedelta64[s]").astype(object).tolist()
    if params.reference is None:
        return deltas
    return [
        _shift(ref, delta, params.reference)
        for ref, delta in zip(table[params.reference], deltas, strict=True)
    ]


def _shift(reference: Any, delta: dt.timedelta, column: str) -> Any:
    if reference is None:
        return None
    if isinstance(reference, str):
        try:
            reference = dt.datetime.fromisoformat(reference)
        except ValueError:
            return CellFailure(f"reference column '{column}' holds {reference!r}, not a datetime")
    if isinstance(reference, dt.datetime | dt.date):
        return reference + delta
    return CellFailure(f"reference column '{column}' holds a {type(reference).__name__}, not a datetime")


def _uuid(gen: SamplerGenerator, params: Any, table: Table, size: int, rng: Rng) -> list:
    raw = np.frombuffer(rng.bytes(16 * size), dtype=np.uint8).reshape(size, 16).copy()
    # Stamp version 4 and the RFC 4122 variant so that full values parse as ordinary random UUIDs.
    raw[:, 6] = (raw[:, 6] & 0x0F) | 0x40
    raw[:, 8] = (raw[:, 8] & 0x3F) | 0x80
    text = raw.tobytes().hex()
    if params.uppercase:
        text = text.upper()
    prefix = params.prefix
    if params.short:
        # 12 hex digits (48 random bits): a collision in a million values has odds of about 1 in 550.
        return [prefix + text[i : i + 12] for i in range(0, 32 * size, 32)]
    return [
        f"{prefix}{text[i : i + 8]}-{text[i + 8 : i + 12]}-{text[i + 12 : i + 16]}-"
        f"{text[i + 16 : i + 20]}-{text[i + 20 : i + 32]}"
        for i in range(0, 32 * size, 32)
    ]


def _person(gen: SamplerGenerator, params: Any, table: Table, size: int, rng: Rng) -> list:
    if gen._person is None:
        gen._person = _PersonSampler(params)
    return gen._person.sample(size, rng)


class _PersonSampler:
    """Fake people, fast: sexes, ages and birth dates come from numpy, names, jobs and e-mail domains
    are drawn with numpy from the locale's Faker provider data (with its frequency weights), and only
    what is built from format strings (cities, states, phone numbers) goes through Faker itself."""

    #: Distinct cities made with Faker per row group; rows pick among them (`city()` costs ~35 µs).
    CITY_POOL = 1000

    def __init__(self, params: Any) -> None:
        from faker import Faker

        self.fake = Faker(params.locale)
        self.fields = tuple(params.fields or PERSON_FIELDS)
        self.age_range = params.age_range
        self.sex = params.sex
        person = self.fake.provider("faker.providers.person")
        self.first = {
            "female": _weighted(getattr(person, "first_names_female", None) or person.first_names),
            "male": _weighted(getattr(person, "first_names_male", None) or person.first_names),
        }
        self.last = {
            "female": _weighted(getattr(person, "last_names_female", None) or person.last_names),
            "male": _weighted(getattr(person, "last_names_male", None) or person.last_names),
        }
        self.last_first, self.name_sep = _name_layout(person)
        self.jobs = _weighted(self.fake.provider("faker.providers.job").jobs)
        self.domains = _weighted(self.fake.provider("faker.providers.internet").free_email_domains)
        try:
            self.country: str | None = self.fake.current_country()
        except (ValueError, AttributeError):  # locales without a single country ("en", "eo", ...)
            self.country = None

    def sample(self, size: int, rng: Rng) -> list[dict[str, Any]]:
        # One independent stream per field, so asking for fewer fields does not change the others.
        streams = dict(zip(PERSON_FIELDS, rng.spawn(len(PERSON_FIELDS)), strict=True))
        if self.sex == "any":
            female = streams["sex"].random(size) < 0.5
        else:
            female = np.full(size, self.sex == "female")
        ages = streams["age"].integers(self.age_range[0], self.age_range[1], size=size, endpoint=True)
        need = set(self.fields)
        if need & {"name", "email"}:
            need |= {"first_name", "last_name"}
        cols: dict[str, list[Any]] = {}
        if "sex" in need:
            cols["sex"] = np.where(female, "female", "male").tolist()
        if "age" in need:
            cols["age"] = ages.tolist()
        if "first_name" in need:
            cols["first_name"] = self._by_sex(self.first, female, streams["first_name"])
        if "last_name" in need:
            cols["last_name"] = self._by_sex(self.last, female, streams["last_name"])
        if "name" in need:
            pairs = zip(cols["first_name"], cols["last_name"], strict=True)
            sep = self.name_sep
            cols["name"] = [f"{ln}{sep}{fn}" if self.last_first else f"{fn}{sep}{ln}" for fn, ln in pairs]
        if "birth_date" in need:
            cols["birth_date"] = _birth_dates(ages, streams["birth_date"])
        if "city" in need:
            self._reseed(streams["city"])
            # A fixed-size pool whatever the group size, so a record's city does not depend on it.
            pool = _object_array([self.fake.city() for _ in range(self.CITY_POOL)])
            cols["city"] = pool[streams["city"].integers(0, len(pool), size=size)].tolist()
        if "state" in need:
            self._reseed(streams["state"])
            unit = getattr(self.fake, "administrative_unit", None)
            cols["state"] = [unit() for _ in range(size)] if unit else [None] * size
        if "country" in need:
            self._reseed(streams["country"])
            country = self.country
            cols["country"] = [country or self.fake.country() for _ in range(size)]
        if "occupation" in need:
            cols["occupation"] = _pick(self.jobs, size, streams["occupation"])
        if "email" in need:
            cols["email"] = self._emails(cols["first_name"], cols["last_name"], streams["email"])
        if "phone" in need:
            self._reseed(streams["phone"])
            cols["phone"] = [self.fake.phone_number() for _ in range(size)]
        fields = self.fields
        return [dict(zip(fields, row, strict=True)) for row in zip(*(cols[f] for f in fields), strict=True)]

    def _reseed(self, stream: Rng) -> None:
        self.fake.seed_instance(int(stream.integers(0, 2**63 - 1)))

    @staticmethod
    def _by_sex(data: dict[str, tuple[np.ndarray, np.ndarray | None]], female: np.ndarray, rng: Rng) -> list:
        # A pick per row from each sex's stream, then the row's sex chooses: drawing only as many as
        # each sex needs would make a record's name depend on the other rows of its group.
        female_rng, male_rng = rng.spawn(2)
        size = len(female)
        return np.where(
            female, _pick(data["female"], size, female_rng), _pick(data["male"], size, male_rng)
        ).tolist()

    def _emails(self, first: list[str], last: list[str], rng: Rng) -> list[str]:
        size = len(first)
        domain_rng, number_rng, coin_rng, faker_rng = rng.spawn(4)  # one stream per draw: per-row stable
        domains = _pick(self.domains, size, domain_rng)
        numbers = number_rng.integers(0, 100, size=size)
        with_number = coin_rng.random(size) < 0.5
        self._reseed(faker_rng)
        out = []
        for i in range(size):
            local = _ascii_slug(f"{first[i]}.{last[i]}")
            if len(local) < 3:  # names in non-Latin scripts: let Faker romanise a user name
                local = self.fake.user_name()
            if with_number[i]:
                local = f"{local}{numbers[i]}"
            out.append(f"{local}@{domains[i]}")
        return out


def _weighted(data: Any) -> tuple[np.ndarray, np.ndarray | None]:
    """Faker data is a tuple (uniform) or a mapping of value -> relative frequency."""
    if isinstance(data, Mapping):
        weights = np.asarray(list(data.values()), dtype=float)
        return _object_array(list(data.keys())), weights / weights.sum()
    return _object_array(list(data)), None


def _pick(data: tuple[np.ndarray, np.ndarray | None], size: int, rng: Rng) -> list:
    values, p = data
    return values[rng.choice(len(values), size=size, p=p)].tolist()


_NAME_FORMAT = re.compile(
    r"\{\{\s*(first_name|last_name)\w*\s*\}\}(\s*)\{\{\s*(first_name|last_name)\w*\s*\}\}"
)


def _name_layout(person: Any) -> tuple[bool, str]:
    """Whether the locale writes the family name first, and what separates the two names."""
    formats = getattr(person, "formats_female", None) or getattr(person, "formats", None) or ()
    for fmt in formats:
        m = _NAME_FORMAT.fullmatch(fmt)
        if m and m.group(1) != m.group(3):
            return m.group(1) == "last_name", m.group(2)
    return False, " "


def _birth_dates(ages: np.ndarray, rng: Rng) -> list[dt.date]:
    """A birth date for each age, uniform over the year of birth that gives exactly that age on
    `AGE_REFERENCE_DATE`."""
    ref = AGE_REFERENCE_DATE
    u = rng.random(len(ages))
    out = []
    for age, ui in zip(ages.tolist(), u.tolist(), strict=True):
        latest = _years_before(ref, age)
        earliest = _years_before(ref, age + 1) + dt.timedelta(days=1)
        out.append(earliest + dt.timedelta(days=int(ui * ((latest - earliest).days + 1))))
    return out


def _years_before(day: dt.date, years: int) -> dt.date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February in a year without one
        return day.replace(year=day.year - years, day=28)


def _ascii_slug(text: str) -> str:
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    return re.sub(r"[^a-z0-9.]", "", folded).strip(".")


SAMPLERS: dict[str, SamplerFunc] = {
    "category": _category,
    "subcategory": _subcategory,
    "uniform": _uniform,
    "gaussian": _gaussian,
    "bernoulli": _bernoulli,
    "binomial": _binomial,
    "poisson": _poisson,
    "scipy": _scipy,
    "datetime": _datetime,
    "timedelta": _timedelta,
    "uuid": _uuid,
    "person": _person,
}
