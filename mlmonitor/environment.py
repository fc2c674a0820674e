"""The one rule for reading environment variables, for the settings and for what runs before them (the launcher,
gunicorn's config, manage.py, the WSGI and Celery entry points).

A variable set to nothing or to blanks only (a `NAME=` or `NAME= ` line in an env file or a compose file) counts as
unset and gives its default (README, "Configuration"): an env file that lists every variable with some left blank
must behave like one that leaves them out. Standard library only: the launcher and gunicorn's config read it before
Django is set up.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, MutableMapping

SETTINGS_MODULE = "mlmonitor.settings.base"
# Blanks: POSIX's [:space:] class in the C locale, which the shell scripts test (scripts/env_blank.sh). Python's
# str.strip() would also take a no-break space or U+001C-U+001F for blank, which the scripts keep: `SECRET_KEY` set
# to a no-break space passed make run's "is it set" test and was then refused by the settings.
BLANKS = " \t\n\r\v\f"


def environ_value(name: str, environ: Mapping[str, str] = os.environ) -> str | None:
    """The variable's value, or None when it is unset, empty or only blanks (BLANKS)."""
    raw = environ.get(name)
    return None if raw is None or not raw.strip(BLANKS) else raw


def environ_or(name: str, default: str, environ: Mapping[str, str] = os.environ) -> str:
    """The variable's value, or `default` when it is unset, empty or only whitespace."""
    value = environ_value(name, environ)
    return default if value is None else value


def settings_module_default(environ: MutableMapping[str, str] = os.environ) -> None:
    """Point DJANGO_SETTINGS_MODULE at the project's settings where it is unset or blank (`os.environ.setdefault`
    keeps an empty value, and Django then fails with "settings are not configured")."""
    if environ_value("DJANGO_SETTINGS_MODULE", environ) is None:
        environ["DJANGO_SETTINGS_MODULE"] = SETTINGS_MODULE


def blank_remove(name: str, environ: MutableMapping[str, str] = os.environ) -> None:
    """Remove a variable that is set but blank, for a library that acts on a variable's presence alone
    (prometheus_client goes multiprocess when PROMETHEUS_MULTIPROC_DIR exists, whatever its value)."""
    if name in environ and environ_value(name, environ) is None:
        del environ[name]
