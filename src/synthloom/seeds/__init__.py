"""Seed data: the records every generated record starts from.

`SeedReader` opens a `seed:` block (files, Hugging Face datasets, documents, a previous run, or several
of these combined), applies its transforms, and hands out records a row group at a time.
"""

from synthloom.seeds.reader import SeedReader
from synthloom.seeds.report import SeedIssue, SeedReport

__all__ = ["SeedIssue", "SeedReader", "SeedReport"]
