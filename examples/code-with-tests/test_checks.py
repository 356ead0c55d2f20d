"""The check of a generated test, used by `config.yaml` (`validator: callable`).

A test is only worth keeping when it is a test: a `test_` function with at least one `assert`, that
lints cleanly *together with the code it tests* (linted alone, a real test's call to the function under
test is an undefined name, F821, and a test without an assert passes). Nothing is executed.
"""

from __future__ import annotations

import ast
from typing import Any

from synthloom.columns.validation.generator import check_python


def _defined(tree: ast.Module) -> set[str]:
    return {
        node.name
        for node in tree.body
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
    }


async def check_test(values: dict[str, Any]) -> dict[str, Any]:
    code, test = str(values.get("code") or ""), str(values.get("test") or "")
    try:
        tree = ast.parse(test)
    except SyntaxError as exc:
        return {"is_valid": False, "errors": [f"line {exc.lineno}: SyntaxError: {exc.msg}"]}
    tests = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name.startswith("test")]
    if not tests:
        return {"is_valid": False, "errors": ["no test_ function"]}
    if not any(isinstance(node, ast.Assert) for fn in tests for node in ast.walk(fn)):
        return {"is_valid": False, "errors": ["the test asserts nothing"]}
    # A test that repeats the function under test is checked alone; otherwise after the code.
    try:
        repeats = bool(_defined(tree) & _defined(ast.parse(code)))
    except SyntaxError:
        repeats = False
    program = test if repeats else f"{code}\n\n\n{test}"
    linted = await check_python(program)
    return {"is_valid": linted["is_valid"], "errors": linted["errors"], "tests": len(tests)}
