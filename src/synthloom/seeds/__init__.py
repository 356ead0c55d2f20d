"""Seed data: the records every generated record starts from."""
