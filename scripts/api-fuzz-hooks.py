"""Schemathesis hook of scripts/api-fuzz.sh: a request member that names stored state (a user,
a team, a record) names what the script seeded, in every phase, so that the fuzz run's
`positive_data_acceptance` check tests what the document can state. A drawn id names nothing
and is rightly refused (422); only string values are replaced, so a member of the wrong type
stays what the generator made it.
"""

import datetime
import os
import re

import schemathesis

# Per operation (method and path pattern): body member -> the variable holding its seeded value.
# Members of record bodies count at the top level and in a bulk request's `create`/`update`.
SEEDED = [
    (r"(POST|PATCH) /api/v1/data/[^/]+/[^/]+(/[^/]+)?", {"owner": "FUZZ_USER", "customer": "FUZZ_CUSTOMER"}),
    (r"(POST|PATCH) /api/v1/teams(/\{id\})?", {"parent": "FUZZ_TEAM"}),
    (r"POST /api/v1/teams/\{id\}/members", {"user": "FUZZ_USER"}),
    (r"POST /api/v1/apps/\{app\}/roles/\{role\}/members", {"user": "FUZZ_USER"}),
    (r"POST /api/v1/me/delegations", {"delegate": "FUZZ_OTHER"}),
]

# Operations on one record's comments, timeline and users to mention name the seeded customer,
# so that the run reaches past the 404 of a drawn record and posts the bodies it generates.
ONE_RECORD = r"(GET|POST) /api/v1/data/\{app\}/\{entity\}/\{id\}/(comments|timeline|mentionable)"

# Members that must be later than now (the document cannot state "now"): a day and two days on.
FUTURE = {
    "POST /api/v1/me/delegations": {"starts_at": 1, "ends_at": 2},
    "POST /api/v1/auth/tokens": {"expires_at": 1},
}


def _seed(body, members):
    if isinstance(body, dict):
        for key, value in body.items():
            if key in members and isinstance(value, str):
                body[key] = os.environ[members[key]]
            elif key in ("create", "update") and isinstance(value, list):
                for item in value:
                    _seed(item, members)
    return body


@schemathesis.hook
def before_call(ctx, case, **kwargs):
    label = f"{case.method.upper()} {case.operation.path}"
    for pattern, members in SEEDED:
        if re.fullmatch(pattern, label):
            _seed(case.body, members)
    if re.fullmatch(ONE_RECORD, label) and isinstance(case.path_parameters, dict):
        case.path_parameters.update(app="shop", entity="customer", id=os.environ["FUZZ_CUSTOMER"])
    future = FUTURE.get(label)
    if future and isinstance(case.body, dict):
        now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
        for key, days in future.items():
            if isinstance(case.body.get(key), str):
                case.body[key] = (now + datetime.timedelta(days=days)).isoformat().replace("+00:00", "Z")
