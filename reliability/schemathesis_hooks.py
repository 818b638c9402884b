"""Schemathesis hooks for reliability/schemathesis.sh.

Schemathesis revalidates a case after `before_call` changes it, so a case
made valid here is checked as a valid one.
"""

import os
import zlib

import schemathesis

# The run's own API client, whose token every request carries.
OWN_CLIENT = os.environ["KEYPORT_FUZZ_CLIENT_ID"]


def half(value):
    """A stable coin toss on a generated value."""
    return zlib.crc32(repr(value).encode()) % 2 == 0


@schemathesis.hook
def before_call(context, case, kwargs):
    method, path = case.method.upper(), case.operation.path
    params = case.path_parameters if case.path_parameters is not None else {}
    client_id = params.get("client_id")
    if method == "DELETE" and client_id == OWN_CLIENT:
        # Removing it would end the run's token and turn every later request
        # into a 401 (the stateful phase finds its ID in the list).
        params["client_id"] = OWN_CLIENT + "-kept"
    elif method == "POST" and path.endswith("/secret") and half(client_id):
        # Random IDs name nothing: half the rotations go to a client that
        # exists, so that the answer of a rotation is checked too.
        params["client_id"] = OWN_CLIENT
    elif method == "POST" and path == "/api/v1/clients" and isinstance(case.body, dict) and half(case.body):
        # Random permissions are not in the catalog: half the registrations
        # ask for one that is, so that registrations succeed and their
        # answer is checked.
        if isinstance(case.body.get("permissions"), list):
            case.body["permissions"] = ["clients:read"]
