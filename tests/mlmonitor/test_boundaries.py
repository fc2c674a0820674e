"""The import graph keeps its layers (docs/architecture.md): the project package serves /metrics without importing
an app, and no app reaches into another app's private modules or names."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
APPS = ("predictions", "drift", "alerts_config", "demo", "dashboard")
PROJECT = "mlmonitor"
# The URL configuration mounts the apps' views: the one project module that has to name them.
PROJECT_MODULES_THAT_MOUNT_APPS = {"mlmonitor/urls.py"}


def imports(path: Path) -> Iterator[tuple[str, str | None]]:
    """(module, imported name or None) for every import statement in a file, relative imports resolved."""
    package = ".".join(path.relative_to(ROOT).with_suffix("").parts[:-1])
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, None
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parent, base]) if base else ".".join(parent)
            for alias in node.names:
                yield base, alias.name


def python_files(top: str) -> list[Path]:
    """The Python files of a package directory."""
    return sorted((ROOT / top).rglob("*.py"))


def test_the_project_package_imports_no_app_outside_the_url_configuration() -> None:
    """mlmonitor/ (settings, the scrape, errors, files) names apps only in settings strings and urls.py: collectors
    are imported by path, so serving /metrics does not depend on any app's module."""
    # when
    offending = [
        f"{path.relative_to(ROOT)} imports {module}"
        for path in python_files(PROJECT)
        if str(path.relative_to(ROOT)) not in PROJECT_MODULES_THAT_MOUNT_APPS
        for module, _ in imports(path)
        if module.split(".")[0] in APPS
    ]
    # then
    assert offending == []


@pytest.mark.parametrize("app", APPS)
def test_no_app_imports_another_apps_private_modules_or_names(app: str) -> None:
    """An app uses another app only through its public names: no `_module`, no `_name`."""
    # when
    offending = []
    for path in python_files(app):
        for module, name in imports(path):
            parts = module.split(".")
            if parts[0] not in APPS or parts[0] == app:
                continue
            if any(part.startswith("_") for part in parts[1:]) or (name is not None and name.startswith("_")):
                offending.append(f"{path.relative_to(ROOT)} imports {module}.{name or ''}")
    # then
    assert offending == []


def test_predictions_does_not_import_drift() -> None:
    """The prediction app is below drift: drift reads the prediction log, never the other way round (the demo
    commands, which need both, live in their own app)."""
    # when
    offending = [
        f"{path.relative_to(ROOT)} imports {module}"
        for path in python_files("predictions")
        for module, _ in imports(path)
        if module.split(".")[0] in ("drift", "demo")
    ]
    # then
    assert offending == []


def test_no_app_imports_the_dashboard() -> None:
    """The dashboard is the top layer: it reads the other apps, and none of them depends on its pages."""
    # when
    offending = [
        f"{path.relative_to(ROOT)} imports {module}"
        for app in APPS
        if app != "dashboard"
        for path in python_files(app)
        for module, _ in imports(path)
        if module.split(".")[0] == "dashboard"
    ]
    # then
    assert offending == []
