#!/usr/bin/env python
"""Django's command-line utility."""

from __future__ import annotations

import os
import sys


def main() -> None:
    """Run an administrative command."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mlmonitor.settings.base")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
