"""The plan layer: column dependencies from templates, checked and ordered."""

from synthloom.plan.planner import ColumnPlan, Plan, build_plan
from synthloom.plan.templates import compile_template, template_references

__all__ = ["ColumnPlan", "Plan", "build_plan", "compile_template", "template_references"]
