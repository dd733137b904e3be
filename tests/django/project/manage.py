#!/usr/bin/env python
"""The Django resource server of tessera's tests (tests/api/django.rs)."""
import os
import sys

if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "resource_server.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
