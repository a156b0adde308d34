"""A vendor's integration as SMART's FHIR client library (fhirclient, R4 models) sees brygga.

Run by tests/api/fhir_client.rs against a gateway on loopback, with
BRYGGA_FHIR_BASE (the /fhir base URL), BRYGGA_TOKEN (an access token of Östersund's client)
and BRYGGA_RECEIVER (the URL of a notification receiver the test runs). The gateway has one
case: the admission notice example. fhirclient parses every answer into its strict R4 models,
so each step also checks that what the gateway writes is valid R4. Each step asserts what it
expects; on success the script prints a JSON summary for the Rust test to check.
"""

import json
import os
import sys

import requests
from fhirclient.models.fhirsearch import FHIRSearch
from fhirclient.models.patient import Patient
from fhirclient.models.subscription import Subscription
from fhirclient.models.task import Task
from fhirclient.server import FHIRNotFoundException, FHIRServer

PERSON = "http://electronichealth.se/identifier/personnummer|198112189876"


def check(condition, what):
    if not condition:
        print(f"failed: {what}", file=sys.stderr)
        sys.exit(1)


def main():
    server = FHIRServer(None, base_uri=os.environ["BRYGGA_FHIR_BASE"].rstrip("/") + "/")
    server.session.headers["Authorization"] = f"Bearer {os.environ['BRYGGA_TOKEN']}"
    summary = {}

    # The CapabilityStatement parses as R4 and says what the session relies on.
    server.get_capability()
    statement = server.capabilityStatement
    check(statement.fhirVersion == "4.0.1", f"R4: {statement.fhirVersion}")
    task_support = next(r for r in statement.rest[0].resource if r.type == "Task")
    check(task_support.versioning == "versioned-update", "Task updates name their version")
    summary["searchable"] = sorted(p.name for p in task_support.searchParam)

    # The person's admission notice Tasks, one per page: fhirclient follows the next links,
    # which must be absolute.
    search = FHIRSearch(Task, {"patient": PERSON, "_count": "1"})
    pages = list(search.perform_iter(server))
    check(len(pages) == 3, f"three pages of one: {len(pages)}")
    check(all(p.total == 3 for p in pages), "each page gives the total")
    check(
        all(e.fullUrl.startswith("http") for p in pages for e in p.entry),
        "every fullUrl is absolute",
    )
    tasks = [e.resource for p in pages for e in p.entry]
    check(len({t.id for t in tasks}) == 3, f"each Task once: {[t.id for t in tasks]}")
    summary["paged_tasks"] = len(tasks)

    # Read one; change it. A save without the version read is refused (412, the gateway
    # requires If-Match); with it, the change is the Task's next version.
    notice = next(t for t in tasks if t.owner.identifier.value == "SE2120002411-HSJV")
    task = Task.read(notice.id, server)
    check(task.meta.versionId == "1", f"first version: {task.meta.versionId}")
    task.status = "in-progress"
    try:
        task.update(server)
        check(False, "an update without If-Match is refused")
    except requests.HTTPError as error:
        check(error.response.status_code == 412, f"412: {error.response.status_code}")
        check("If-Match" in error.response.text, "the refusal says what to send")
    server.session.headers["If-Match"] = f'W/"{task.meta.versionId}"'
    try:
        task.update(server)
    finally:
        del server.session.headers["If-Match"]
    again = Task.read(notice.id, server)
    check(again.status == "in-progress", f"planning started: {again.status}")
    check(again.meta.versionId == "2", f"version 2: {again.meta.versionId}")
    summary["changed_step"] = again.id

    # The person as a Patient.
    patients = list(FHIRSearch(Patient, {"identifier": PERSON}).perform_resources_iter(server))
    check(len(patients) == 1, f"the person of the case: {len(patients)}")
    check(patients[0].identifier[0].value == "198112189876", "with the personnummer")

    # A subscription to the organisation's admission notices, at the test's receiver: the
    # gateway's handshake reaches it before the answer, so the subscription is active.
    backport = "http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/"
    subscription = Subscription(
        {
            "resourceType": "Subscription",
            "status": "requested",
            "reason": "Inskrivningsmeddelanden till verksamhetssystemet",
            "criteria": "urn:brygga:fhir:SubscriptionTopic:coordination",
            "_criteria": {
                "extension": [
                    {
                        "url": backport + "backport-filter-criteria",
                        "valueString": "event=admission_notice",
                    }
                ]
            },
            "channel": {
                "type": "rest-hook",
                "endpoint": os.environ["BRYGGA_RECEIVER"],
                "payload": "application/fhir+json",
            },
        }
    )
    created = subscription.create(server)
    check(created is not None and created.get("id"), f"created: {created}")
    check(created["status"] == "active", f"active after its handshake: {created['status']}")
    read = Subscription.read(created["id"], server)
    check(read.channel.endpoint == os.environ["BRYGGA_RECEIVER"], "read back as created")
    summary["subscription"] = read.id

    # What does not exist is not found.
    try:
        Task.read("no-such-task", server)
        check(False, "an unknown Task is not found")
    except FHIRNotFoundException:
        pass

    print(json.dumps(summary))


if __name__ == "__main__":
    main()
