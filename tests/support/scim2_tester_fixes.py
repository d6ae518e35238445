"""Runs the `scim2` command of scim2-cli 0.6.0 with one defect of scim2-tester 0.5.2 fixed.

The defect: scim2_tester.filling.generate_random_value has no branch for dateTime
attributes, so for a writable dateTime attribute (the SAP user extension's validFrom and
validTo) it generates a UUID string. Its own pydantic model then rejects that value
("Input should be a valid datetime") before any request is sent, and the check is
reported as an ERROR of the server. Here such values become a UTC timestamp instead; every
other behaviour of the tester is unchanged.

Usage: python scim2_cli_dates.py <the arguments of `scim2`>
"""

import datetime
import sys

from scim2_tester import filling
from scim2_tester.checkers import patch_add
from scim2_tester.checkers import patch_replace

_generate_random_value = filling.generate_random_value


def _is_datetime_attribute(path):
    binding = path.resolve()
    return binding is not None and binding.target_type is datetime.datetime


def generate_random_value(context, path, mutability=None, required=None):
    value = _generate_random_value(
        context, path, mutability=mutability, required=required
    )
    if value is None or not _is_datetime_attribute(path):
        return value
    now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    return [now] if isinstance(value, list) else now


filling.generate_random_value = generate_random_value
patch_add.generate_random_value = generate_random_value
patch_replace.generate_random_value = generate_random_value

if __name__ == "__main__":
    from scim2_cli import cli

    sys.argv[0] = "scim2"
    sys.exit(cli())
