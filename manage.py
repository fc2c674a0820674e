#!/usr/bin/env python
"""Django's command-line utility."""

from __future__ import annotations

import sys


def main() -> None:
    """Run an administrative command."""
    from mlmonitor.environment import settings_module_default

    settings_module_default()
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
