"""Runs the `scim2` command of scim2-cli 0.6.0 with four defects of scim2-tester 0.5.2 fixed.

Each fix replaces one name the tester looks up at run time, and changes nothing else.
None of them turns a wrong value into a success: the self-test
`tests/integration/support/test_scim2_tester_fixes.py` shows each one still failing wrong values.

1. Writable dateTime attributes get a UUID string
   (`scim2_tester.filling.generate_random_value`).
   The function has no branch for dateTime attributes (the SAP user extension's validFrom
   and validTo), so it generates a UUID string, which the tester's own pydantic model then
   rejects ("Input should be a valid datetime") before any request is sent; the check is
   reported as an ERROR of the server. Such values become a UTC timestamp instead
   (RFC 7643 §2.3.5). Replaced in `filling`, `checkers.patch_add` and
   `checkers.patch_replace`.

2. readOnly and writeOnly attributes compared on an extension root
   (`scim2_tester.utils.fields_equality` as called by `check_add_attribute` and
   `check_replace_attribute`).
   For a PATCH add/replace whose path is an extension URN, the tester compares the whole
   extension object it sent with the one returned. Two kinds of attribute cannot match:
   - readOnly attributes, which the client leaves unassigned: RFC 7643 §7 ("readOnly: the
     attribute SHALL NOT be modified") and §2.2 leave their values to the service
     provider, and idrelay assigns the SAP user extension's userId and userUuid and the
     custom group extension's additionalId. A readOnly attribute the client left
     unassigned is left out of both sides; one the client did send is still compared.
   - writeOnly attributes (the SAP user extension's sendMail), which the client sends but
     RFC 7643 §7 says "SHALL NOT be returned". The tester already skips the comparison
     when the PATCH path itself is writeOnly; here a writeOnly sub-attribute of an
     extension root is left out of the comparison too, and the check fails if the server
     returned a value for it.
   Every other attribute is compared exactly as the tester does (model dumps equal).

3. An extension holding only readOnly attributes is "not removed"
   (`scim2_tester.checkers.patch_remove._is_unassigned` as called by
   `check_remove_attribute`).
   After a PATCH remove of an extension URN the tester requires the extension to be gone.
   RFC 7644 §3.5.2.2 removes the values a client may remove; readOnly attributes assigned
   by the service provider (RFC 7643 §7) are not the client's to remove and stay. Here an
   extension object counts as removed when every attribute that is not readOnly is
   unassigned (null or an empty array, RFC 7643 §2.5); any remaining writable value, or a
   value of something that is not an extension, still fails.

4. PATCH add checked as if every path started from an empty resource
   (`check_add_attribute` in `scim2_tester.checkers.patch_add`).
   The check adds every path, one after the other, to ONE resource, and the extension-root
   add comes first and assigns every attribute of the extension. Then:
   a. A later add on a multi-valued attribute appends, as RFC 7644 §3.5.2.1 requires ("If
      the target location specifies a multi-valued attribute, a new value is added to the
      attribute"), so the server returns [old, new] where the tester expects [new].
      Here, for `check_add_attribute` only (`patch_add.fields_equality`), a list is
      accepted when every value that was added is present in the returned list (each
      compared as the tester compares values); a missing or altered added value fails.
      `check_replace_attribute` still requires the returned list to equal the sent one.
   b. A later add on an immutable attribute that the extension-root add already assigned
      is refused with 400 mutability, which RFC 7643 §2.2 ("immutable: the attribute ...
      SHALL NOT be updated") and RFC 7644 §3.12 (scimType mutability, "modification of an
      'immutable' attribute with an existing value") require. Here such an ERROR (and only
      one whose cause is a `MutabilityException` on an attribute annotated immutable) is
      re-checked on a fresh resource holding only its required attributes: an add of a
      new value must succeed and read back equal, and a second add of another value must
      be refused with mutability and leave the first value in place. Only then does the
      result become SUCCESS; otherwise the ERROR stays, with what the re-check found.
      (`scim2_tester.checkers.resource.check_add_attribute` is wrapped.)

Usage: python scim2_tester_fixes.py <the arguments of `scim2`>
"""

import datetime
import sys
from typing import Any

from scim2_client import SCIMClientException
from scim2_models import Extension
from scim2_models import MutabilityException
from scim2_models import Mutability
from scim2_models import PatchOp
from scim2_models import PatchOperation
from scim2_models import Path
from scim2_models import Required
from scim2_models import SCIMException
from scim2_tester import filling
from scim2_tester import utils
from scim2_tester.checkers import patch_add
from scim2_tester.checkers import patch_remove
from scim2_tester.checkers import patch_replace
from scim2_tester.checkers import resource
from scim2_tester.utils import Status

# The tester's own functions, kept to delegate to.
_generate_random_value = filling.generate_random_value
_fields_equality = utils.fields_equality
_is_unassigned = patch_remove._is_unassigned
_check_add_attribute = resource.check_add_attribute


# --- 1. dateTime values ----------------------------------------------------------------


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


# --- 2. readOnly and writeOnly attributes of an extension root -------------------------


def _mutability(model: type, field_name: str) -> Mutability | None:
    return model.get_field_annotation(field_name, Mutability)


def _extension_equality(expected: Any, actual: Any) -> bool | None:
    """The comparison of fix 2, or None when the values are not two extension objects of
    the same model (then the tester's comparison applies)."""
    if not (isinstance(expected, Extension) and type(actual) is type(expected)):
        return None
    model = type(expected)
    cleared = {}
    for name in model.model_fields:
        if name == "schemas":
            continue
        mutability = _mutability(model, name)
        if mutability == Mutability.write_only:
            # RFC 7643 §7: never returned, so not compared; returning one is wrong.
            if not _is_unassigned(getattr(actual, name)):
                return False
            cleared[name] = None
        elif mutability == Mutability.read_only and _is_unassigned(
            getattr(expected, name)
        ):
            # Not sent by the client: the service provider's to assign (RFC 7643 §7).
            cleared[name] = None
    return _fields_equality(
        expected.model_copy(update=cleared), actual.model_copy(update=cleared)
    )


def replaced_fields_equality(expected: Any, actual: Any) -> bool:
    """`fields_equality` for `check_replace_attribute` (fix 2)."""
    extension = _extension_equality(expected, actual)
    return _fields_equality(expected, actual) if extension is None else extension


# --- 4a. multi-valued adds -----------------------------------------------------------------


def added_fields_equality(expected: Any, actual: Any) -> bool:
    """`fields_equality` for `check_add_attribute` (fixes 2 and 4a)."""
    extension = _extension_equality(expected, actual)
    if extension is not None:
        return extension
    if isinstance(expected, list) and isinstance(actual, list) and expected:
        return all(
            any(_fields_equality(added, value) for value in actual)
            for added in expected
        )
    return _fields_equality(expected, actual)


# --- 3. removal of an extension root -----------------------------------------------------


def is_unassigned(value: Any) -> bool:
    """`_is_unassigned` for `check_remove_attribute` (fix 3)."""
    if _is_unassigned(value):
        return True
    if not isinstance(value, Extension):
        return False
    model = type(value)
    return all(
        _is_unassigned(getattr(value, name))
        for name in model.model_fields
        if name != "schemas" and _mutability(model, name) != Mutability.read_only
    )


# --- 4b. immutable attributes already assigned ---------------------------------------------


def _add(context, model, resource_id, path, value):
    patch_op = utils.parametrize(PatchOp, model)(
        operations=[PatchOperation(op=PatchOperation.Op.add, path=path, value=value)]
    )
    context.client.modify(target=model, id=resource_id, patch_op=patch_op)


def _read(context, model, resource_id, path):
    return path.get(context.client.query(model, resource_id))


def _immutable_add_behaviour(context, model, path) -> str | None:
    """Checks on a fresh resource that an add assigns the unassigned immutable attribute
    at `path` and that a second add of another value is refused with mutability. None
    when it does; what went wrong otherwise."""
    fresh = filling.fill_with_random_values(context, model(), required=[Required.true])
    created = context.client.create(fresh)
    try:
        first = generate_random_value(context, path=path)
        second = generate_random_value(context, path=path)
        if _fields_equality(first, second):
            return "could not generate two different values"
        try:
            _add(context, model, created.id, path, first)
        except (SCIMClientException, SCIMException) as exc:
            return f"the add on a fresh resource (attribute unassigned) failed: {exc}"
        stored = _read(context, model, created.id, path)
        if not _fields_equality(first, stored):
            return f"the add on a fresh resource stored {stored!r}, not {first!r}"
        try:
            _add(context, model, created.id, path, second)
        except MutabilityException:
            pass
        except (SCIMClientException, SCIMException) as exc:
            return f"the second add failed without scimType mutability: {exc}"
        else:
            return "the second add of another value was accepted"
        stored = _read(context, model, created.id, path)
        if not _fields_equality(first, stored):
            return f"the refused second add changed the value to {stored!r}"
        return None
    finally:
        try:
            context.client.delete(model, created.id)
        except (SCIMClientException, SCIMException):
            pass


def _refused_immutable_path(model, result):
    """The path of an ERROR of `check_add_attribute` caused by a mutability refusal on an
    attribute annotated immutable, or None."""
    data = result.data
    if result.status is not Status.ERROR or not isinstance(data, dict):
        return None
    if not isinstance(data.get("error"), MutabilityException) or "urn" not in data:
        return None
    path = utils.parametrize(Path, model)(data["urn"])
    binding = path.resolve()
    if binding is None or binding.get_annotation(Mutability) != Mutability.immutable:
        return None
    return path


def recheck_refused_immutable_add(context, model, result) -> None:
    """Fix 4b for one result of `check_add_attribute`, in place."""
    path = _refused_immutable_path(model, result)
    if path is None:
        return
    try:
        problem = _immutable_add_behaviour(context, model, path)
    except (SCIMClientException, SCIMException) as exc:
        problem = f"the re-check could not run: {exc}"
    if problem is not None:
        result.reason = f"{result.reason}\nRe-checked on a fresh resource: {problem}"
        return
    result.status = Status.SUCCESS
    result.reason = (
        f"Add on immutable '{path}' refused with mutability once the extension-root "
        "add had assigned it (RFC 7644 §3.12); on a fresh resource the add assigned "
        "it and a second add of another value was refused with mutability"
    )


def check_add_attribute(context, model):
    results = _check_add_attribute(context, model)
    for result in results:
        recheck_refused_immutable_add(context, model, result)
    return results


def install() -> None:
    """Replaces the names the tester looks up (see the module docstring)."""
    filling.generate_random_value = generate_random_value
    patch_add.generate_random_value = generate_random_value
    patch_replace.generate_random_value = generate_random_value
    patch_add.fields_equality = added_fields_equality
    patch_replace.fields_equality = replaced_fields_equality
    patch_remove._is_unassigned = is_unassigned
    resource.check_add_attribute = check_add_attribute


install()

if __name__ == "__main__":
    from scim2_cli import cli

    sys.argv[0] = "scim2"
    sys.exit(cli())
