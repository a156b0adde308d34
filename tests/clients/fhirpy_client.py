"""A vendor's integration as a real FHIR client library (fhirpy) sees brygga's FHIR API.

Run by tests/api/fhir_client.rs against a gateway on loopback, with
BRYGGA_FHIR_BASE (the /fhir base URL), BRYGGA_TOKEN (an access token of Östersund's client),
BRYGGA_FIXTURES (the repository's fixtures folder) and BRYGGA_RECEIVER (the URL of a
notification receiver the test runs). The gateway has one case: the
admission notice example. Each step asserts what it expects; on success the script prints a
JSON summary for the Rust test to check.
"""

import json
import os
import sys
from pathlib import Path

from fhirpy import SyncFHIRClient
from fhirpy.base.exceptions import MultipleResourcesFound, OperationOutcome, ResourceNotFound

PERSON = "http://electronichealth.se/identifier/personnummer|198112189876"


def check(condition, what):
    if not condition:
        print(f"failed: {what}", file=sys.stderr)
        sys.exit(1)


def main():
    client = SyncFHIRClient(
        os.environ["BRYGGA_FHIR_BASE"],
        authorization=f"Bearer {os.environ['BRYGGA_TOKEN']}",
    )
    fixtures = Path(os.environ["BRYGGA_FIXTURES"])
    summary = {}

    # Create an official example, read it back, find it, change it.
    example = json.loads((fixtures / "fhir-r4-official" / "Task-example1.json").read_text())
    del example["id"]
    task = client.resource("Task", **example)
    task.save()
    check(task.id and task["meta"]["versionId"] == "1", f"created with version 1: {task}")
    read = client.reference("Task", task.id).to_resource()
    check(read["status"] == example["status"], "read back with its status")
    check(read["description"] == example["description"], "read back with its description")
    found = client.resources("Task").search(patient="Patient/example").fetch_all()
    check([t.id for t in found] == [task.id], f"found by its patient: {[t.id for t in found]}")
    read["status"] = "completed"
    # A plain save names no version: the gateway refuses it (server.require_if_match), so
    # that it cannot overwrite a change made meanwhile. Saved naming the version read, it is.
    try:
        read.save()
        check(False, "an update without If-Match is refused")
    except MultipleResourcesFound as outcome:
        # fhirpy names every 412 so, after the conditional operations' meaning of the status.
        check("If-Match" in str(outcome), f"the refusal says what to send: {outcome}")
    client.extra_headers = {"If-Match": f'W/"{read["meta"]["versionId"]}"'}
    read.save()
    client.extra_headers = None
    check(read["meta"]["versionId"] == "2", f"changed as version 2: {read['meta']}")
    summary["kept_task"] = read.id

    # The process: the person's admission notice Tasks, paged one by one through next links.
    steps = client.resources("Task").search(patient=PERSON).limit(1).fetch_all()
    check(len(steps) == 3, f"three admission notice Tasks: {len(steps)}")
    check(len({t.id for t in steps}) == 3, "each once")
    summary["process_tasks"] = len(steps)
    # fhirpy counts with _summary=count.
    count = client.resources("Task").search(patient=PERSON).count()
    check(count == 3, f"counted three: {count}")

    # Hemsjukvården starts its planning: the Task's next version, read back as such.
    notice = next(
        t for t in steps if t["owner"]["identifier"]["value"] == "SE2120002411-HSJV"
    )
    notice["status"] = "in-progress"
    notice["lastModified"] = "2026-11-23T13:30:00+01:00"
    client.extra_headers = {"If-Match": f'W/"{notice["meta"]["versionId"]}"'}
    notice.save()
    client.extra_headers = None
    again = client.reference("Task", notice.id).to_resource()
    check(again["status"] == "in-progress", f"planning started: {again['status']}")
    check(again["meta"]["versionId"] == "2", f"version 2: {again['meta']}")
    in_progress = client.resources("Task").search(patient=PERSON, status="in-progress").fetch()
    check([t.id for t in in_progress] == [notice.id], "found by its new status")
    summary["changed_step"] = notice.id

    # The person as a Patient, found and read.
    patients = client.resources("Patient").search(identifier=PERSON).fetch()
    check(len(patients) == 1, f"the person of the case: {len(patients)}")
    patient = client.reference("Patient", patients[0].id).to_resource()
    check(patient["identifier"][0]["value"] == "198112189876", "read by its id")

    # A subscription at the test's receiver, active once the gateway's handshake reached it.
    subscription = client.resource(
        "Subscription",
        status="requested",
        reason="Inskrivningsmeddelanden till verksamhetssystemet",
        criteria="urn:brygga:fhir:SubscriptionTopic:coordination",
        channel={
            "type": "rest-hook",
            "endpoint": os.environ["BRYGGA_RECEIVER"],
            "payload": "application/fhir+json",
        },
    )
    subscription.save()
    check(subscription["status"] == "active", f"active: {subscription['status']}")
    summary["subscription"] = subscription.id

    # What does not exist, and what breaks the contract, answer as FHIR servers do.
    try:
        client.reference("Task", "no-such-task").to_resource()
        check(False, "an unknown Task is not found")
    except ResourceNotFound:
        pass
    try:
        client.resource(
            "Task",
            status="requested",
            intent="order",
            code={"coding": [{"system": "urn:brygga:fhir:CodeSystem:process-step", "code": "no-such-step"}]},
        ).save()
        check(False, "a Task with an unknown step is refused")
    except OperationOutcome as outcome:
        summary["refusal"] = str(outcome)

    print(json.dumps(summary))


if __name__ == "__main__":
    main()
