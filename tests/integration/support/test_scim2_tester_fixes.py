"""Self-test of `scim2_tester_fixes.py`: each fix accepts what RFC 7643/7644 allow a server
to answer, and still fails a genuinely wrong answer.

Run: python tests/integration/support/test_scim2_tester_fixes.py (from tests/conformance.rs).
"""

import copy
import unittest
from typing import Annotated

from scim2_models import Extension
from scim2_models import InvalidValueException
from scim2_models import MultiValuedComplexAttribute
from scim2_models import MutabilityException
from scim2_models import Mutability
from scim2_models import Name
from scim2_models import Path
from scim2_models import User
from scim2_tester.checkers import patch_add
from scim2_tester.checkers import patch_remove
from scim2_tester.checkers import patch_replace
from scim2_tester.checkers import resource
from scim2_tester.utils import CheckResult
from scim2_tester.utils import Status
from scim2_tester.utils import fields_equality as tester_fields_equality

import scim2_tester_fixes as fixes

URN = "urn:example:params:scim:schemas:extension:Test"


class Mail(MultiValuedComplexAttribute):
    value: str | None = None


class Ext(Extension):
    __schema__ = URN

    uid: Annotated[str | None, Mutability.read_only] = None
    name: Annotated[str | None, Mutability.read_write] = None
    external_name: Annotated[str | None, Mutability.immutable] = None
    send_mail: Annotated[bool | None, Mutability.write_only] = None
    mails: Annotated[list[Mail] | None, Mutability.read_write] = None


Model = User[Ext]


def mails(*values):
    return [Mail(value=v) for v in values]


class Installed(unittest.TestCase):
    def test_the_tester_looks_up_the_fixed_functions(self):
        self.assertIs(patch_add.fields_equality, fixes.added_fields_equality)
        self.assertIs(patch_replace.fields_equality, fixes.replaced_fields_equality)
        self.assertIs(patch_remove._is_unassigned, fixes.is_unassigned)
        self.assertIs(resource.check_add_attribute, fixes.check_add_attribute)


class ExtensionRootComparison(unittest.TestCase):
    """Fix 2, for both add and replace."""

    compare = (fixes.added_fields_equality, fixes.replaced_fields_equality)

    def sent(self):
        return Ext(name="a", external_name="e", mails=mails("m"))

    def test_server_assigned_read_only_attribute_is_not_compared(self):
        returned = Ext(uid="P000001", name="a", external_name="e", mails=mails("m"))
        self.assertFalse(tester_fields_equality(self.sent(), returned))
        for compare in self.compare:
            self.assertTrue(compare(self.sent(), returned))

    def test_sent_read_write_attribute_missing_from_the_response_fails(self):
        returned = Ext(uid="P000001", external_name="e", mails=mails("m"))
        for compare in self.compare:
            self.assertFalse(compare(self.sent(), returned))

    def test_sent_read_write_attribute_with_another_value_fails(self):
        returned = Ext(uid="P000001", name="b", external_name="e", mails=mails("m"))
        for compare in self.compare:
            self.assertFalse(compare(self.sent(), returned))

    def test_sent_multi_valued_attribute_missing_a_value_fails(self):
        returned = Ext(uid="P000001", name="a", external_name="e", mails=[])
        for compare in self.compare:
            self.assertFalse(compare(self.sent(), returned))

    def test_read_only_attribute_the_client_sent_is_still_compared(self):
        sent = Ext(uid="X", name="a")
        for compare in self.compare:
            self.assertFalse(compare(sent, Ext(uid="P000001", name="a")))
            self.assertTrue(compare(sent, Ext(uid="X", name="a")))

    def test_sent_write_only_attribute_is_not_expected_back(self):
        sent = Ext(name="a", send_mail=True)
        self.assertFalse(tester_fields_equality(sent, Ext(uid="P1", name="a")))
        for compare in self.compare:
            self.assertTrue(compare(sent, Ext(uid="P1", name="a")))
            self.assertFalse(compare(sent, Ext(uid="P1", name="b")))

    def test_returned_write_only_value_fails(self):
        for sent in (Ext(name="a", send_mail=True), Ext(name="a")):
            for compare in self.compare:
                self.assertFalse(compare(sent, Ext(name="a", send_mail=True)))

    def test_attribute_the_server_added_that_is_not_read_only_fails(self):
        returned = Ext(uid="P1", name="a", external_name="e", mails=mails("m", "x"))
        sent = Ext(name="a", external_name="e")
        for compare in self.compare:
            self.assertFalse(compare(sent, returned))


class MultiValuedAdd(unittest.TestCase):
    """Fix 4a: add accepts appended values, replace does not."""

    def test_add_accepts_the_added_value_next_to_the_old_one(self):
        self.assertFalse(tester_fields_equality(mails("new"), mails("old", "new")))
        self.assertTrue(fixes.added_fields_equality(mails("new"), mails("old", "new")))

    def test_add_fails_when_the_added_value_is_missing(self):
        self.assertFalse(fixes.added_fields_equality(mails("new"), mails("old")))
        self.assertFalse(fixes.added_fields_equality(mails("new"), []))
        self.assertFalse(fixes.added_fields_equality(mails("new"), None))

    def test_add_fails_when_the_added_value_is_altered(self):
        self.assertFalse(
            fixes.added_fields_equality(mails("new"), mails("old", "new-altered"))
        )

    def test_add_of_two_values_needs_both(self):
        sent = mails("a", "b")
        self.assertTrue(fixes.added_fields_equality(sent, mails("old", "b", "a")))
        self.assertFalse(fixes.added_fields_equality(sent, mails("old", "a")))

    def test_replace_still_requires_exactly_the_sent_values(self):
        self.assertFalse(
            fixes.replaced_fields_equality(mails("new"), mails("old", "new"))
        )
        self.assertTrue(fixes.replaced_fields_equality(mails("new"), mails("new")))

    def test_single_values_are_compared_as_the_tester_does(self):
        self.assertTrue(fixes.added_fields_equality("a", "a"))
        self.assertFalse(fixes.added_fields_equality("a", "b"))
        self.assertFalse(fixes.added_fields_equality("a", None))


class ExtensionRootRemoval(unittest.TestCase):
    """Fix 3."""

    def test_extension_holding_only_read_only_attributes_counts_as_removed(self):
        self.assertTrue(fixes.is_unassigned(Ext(uid="P000001")))
        self.assertTrue(fixes.is_unassigned(Ext(uid="P000001", mails=[])))
        self.assertTrue(fixes.is_unassigned(None))
        self.assertTrue(fixes.is_unassigned([]))

    def test_remaining_writable_value_is_not_removed(self):
        self.assertFalse(fixes.is_unassigned(Ext(uid="P000001", name="a")))
        self.assertFalse(fixes.is_unassigned(Ext(external_name="e")))
        self.assertFalse(fixes.is_unassigned(Ext(uid="P1", mails=mails("m"))))

    def test_values_that_are_not_extensions_are_judged_as_the_tester_does(self):
        self.assertFalse(fixes.is_unassigned(Name(given_name="x")))
        self.assertFalse(fixes.is_unassigned("x"))
        self.assertFalse(fixes.is_unassigned(mails("m")))


class FakeServer:
    """An in-memory SCIM client for `Model`; PATCH supports `add` of one path only.

    mode: "correct" refuses to change an assigned immutable value; "refuses_always"
    refuses any add of an immutable attribute; "accepts_change" changes it;
    "invalid_value" refuses a change without scimType mutability; "changes_then_refuses"
    changes it and answers with a mutability error all the same.
    """

    def __init__(self, mode):
        self.mode = mode
        self.resources = {}
        self.requests = 0

    def create(self, obj):
        self.requests += 1
        created = copy.deepcopy(obj)
        created.id = str(len(self.resources) + 1)
        self.resources[created.id] = created
        return copy.deepcopy(created)

    def query(self, model, resource_id):
        self.requests += 1
        return copy.deepcopy(self.resources[resource_id])

    def delete(self, model, resource_id):
        self.requests += 1
        del self.resources[resource_id]

    def modify(self, target, id, patch_op):
        self.requests += 1
        stored = self.resources[id]
        (operation,) = patch_op.operations
        path = Path[Model](str(operation.path))
        assigned = path.get(stored) is not None
        if self.mode == "refuses_always" or (self.mode == "correct" and assigned):
            raise MutabilityException(detail="immutable")
        if self.mode == "invalid_value" and assigned:
            raise InvalidValueException(detail="no")
        path.set(stored, operation.value, strict=False)
        if self.mode == "changes_then_refuses" and assigned:
            raise MutabilityException(detail="immutable")


class FakeContext:
    def __init__(self, mode):
        self.client = FakeServer(mode)


def refused(urn, error=None):
    return CheckResult(
        status=Status.ERROR,
        reason=f"Failed to add attribute '{urn}'",
        data={"urn": urn, "error": error or MutabilityException(detail="immutable")},
    )


class ImmutableAddRecheck(unittest.TestCase):
    """Fix 4b."""

    immutable = f"{URN}:externalName"

    def recheck(self, mode, result):
        context = FakeContext(mode)
        fixes.recheck_refused_immutable_add(context, Model, result)
        self.assertEqual(context.client.resources, {}, "the fresh resource is deleted")
        return context

    def test_correct_server_turns_the_refusal_into_success(self):
        result = refused(self.immutable)
        self.recheck("correct", result)
        self.assertIs(result.status, Status.SUCCESS)

    def test_server_refusing_an_unassigned_immutable_attribute_still_fails(self):
        result = refused(self.immutable)
        self.recheck("refuses_always", result)
        self.assertIs(result.status, Status.ERROR)
        self.assertIn("fresh resource (attribute unassigned) failed", result.reason)

    def test_server_changing_an_assigned_immutable_attribute_still_fails(self):
        result = refused(self.immutable)
        self.recheck("accepts_change", result)
        self.assertIs(result.status, Status.ERROR)
        self.assertIn("second add of another value was accepted", result.reason)

    def test_refusal_that_changed_the_value_all_the_same_still_fails(self):
        result = refused(self.immutable)
        self.recheck("changes_then_refuses", result)
        self.assertIs(result.status, Status.ERROR)
        self.assertIn("refused second add changed the value", result.reason)

    def test_refusal_without_scim_type_mutability_still_fails(self):
        result = refused(self.immutable)
        self.recheck("invalid_value", result)
        self.assertIs(result.status, Status.ERROR)
        self.assertIn("without scimType mutability", result.reason)

    def test_other_errors_are_left_alone(self):
        for result in (
            refused(self.immutable, InvalidValueException(detail="x")),
            refused(f"{URN}:name"),
            CheckResult(status=Status.ERROR, reason="x", data=None),
        ):
            reason = result.reason
            context = self.recheck("correct", result)
            self.assertIs(result.status, Status.ERROR)
            self.assertEqual(result.reason, reason)
            self.assertEqual(context.client.requests, 0)


if __name__ == "__main__":
    unittest.main()
