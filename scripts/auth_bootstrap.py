#!/usr/bin/env python3
"""Create a user with an API token when missing, and write the token (and a new password) to files.

`make run` creates the superuser `admin` (its generated password is kept in .run/admin_password, never printed)
and writes its API token to .run/api_token. (Alertmanager's own token is written by
alerts_config.services.webhook_token_file_ensure, through `manage.py publish_alerting`.)

    python scripts/auth_bootstrap.py --username admin --superuser --password-file .run/admin_password \
        --token-file .run/api_token
"""

from __future__ import annotations

import argparse
import secrets
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main(argv: list[str] | None = None) -> int:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--username", required=True)
    parser.add_argument("--superuser", action="store_true", help="create a superuser with a generated password")
    parser.add_argument("--password-file", type=Path, help="where a newly generated password is written")
    parser.add_argument("--token-file", type=Path, required=True)
    parser.add_argument("--token-mode", default="600", help="octal permissions of the token file")
    args = parser.parse_args(argv)

    sys.path.insert(0, str(ROOT))
    from mlmonitor.environment import settings_module_default

    settings_module_default()
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from rest_framework.authtoken.models import Token

    from mlmonitor.files import file_write_atomic

    user_model = get_user_model()
    user = user_model.objects.filter(username=args.username).first()
    if user is None:
        if args.superuser:
            password = secrets.token_urlsafe(16)
            user = user_model.objects.create_superuser(username=args.username, email="", password=password)
            if args.password_file:
                file_write_atomic(args.password_file, password + "\n", mode=0o600)
            where = f"in {args.password_file}" if args.password_file else "not kept: reset it with changepassword"
            print(f"Created superuser {args.username!r}; its password is {where}")
        else:
            user = user_model.objects.create_user(username=args.username, password=None)
            print(f"Created user {args.username!r} (token only, no password)")
    token, _ = Token.objects.get_or_create(user=user)
    file_write_atomic(args.token_file, token.key + "\n", mode=int(args.token_mode, 8))
    return 0


if __name__ == "__main__":
    sys.exit(main())
