"""The MHD flow as a Python application would run it with PyPI `fhirpy` (a FHIR client Carnet
did not write), against a running Carnet:
  ITI-78 find the patient by INS -> ITI-65 provide a SubmissionSet with two documents ->
  ITI-67 find them (also by `creation`, the time each was written) -> count them with
  `SearchSet.count()` (refused by default: it sends `_totalMethod`, which Carnet does not
  support; answered with `Prefer: handling=lenient`) -> ITI-68 retrieve each (as a FHIR Binary
  through the client, and as raw bytes from the attachment URL) and check it byte-identical.

Environment: CARNET_FHIR_BASE, CARNET_TOKEN, CARNET_INS (see flow-fhir-kit-client.mjs).
Prints one JSON line with what it saw; exits non-zero on the first check that fails.
"""

import base64
import hashlib
import json
import os
import sys
import time

import requests
from fhirpy import SyncFHIRClient
from fhirpy.base.exceptions import OperationOutcome

NIR = "urn:oid:1.2.250.1.213.1.4.8"


def check(condition, what, seen=None):
    if not condition:
        shown = "" if seen is None else ": " + json.dumps(seen, default=str)[:2000]
        print(f"check failed: {what}{shown}", file=sys.stderr)
        sys.exit(1)


def main():
    base, token, ins = (os.environ.get(k) for k in ("CARNET_FHIR_BASE", "CARNET_TOKEN", "CARNET_INS"))
    if not (base and token and ins):
        print("CARNET_FHIR_BASE, CARNET_TOKEN and CARNET_INS are required", file=sys.stderr)
        sys.exit(2)
    client = SyncFHIRClient(base, authorization=f"Bearer {token}")
    lenient = SyncFHIRClient(base, authorization=f"Bearer {token}", extra_headers={"Prefer": "handling=lenient"})
    run = f"{time.time_ns()}{os.getpid()}"

    # ITI-78 (PDQm).
    patients = client.resources("Patient").search(identifier=f"{NIR}|{ins}").fetch()
    check(len(patients) == 1, "PDQm finds exactly one patient", [dict(p) for p in patients])
    patient = patients[0]
    check(any(i.get("system") == NIR and i.get("value") == ins for i in patient["identifier"]), "the patient carries the INS", dict(patient))

    # ITI-65: two documents, a plain text report and a 70 KB PDF-looking one, written in
    # January and in February (`attachment.creation`).
    docs = [
        ("11488-4", "text/plain", "Compte rendu de consultation (fhirpy)\n".encode() * 40),
        ("11502-2", "application/pdf", b"%PDF-1.7\n" + bytes((i * 7 + len(run)) % 256 for i in range(70_000))),
    ]
    written = ["2026-01-15T10:00:00+01:00", "2026-02-20T16:30:00Z"]
    subject = {"identifier": {"system": NIR, "value": ins}}
    entries, listed, unique_ids = [], [], []
    for n, ((type_code, mime, data), creation) in enumerate(zip(docs, written), start=1):
        doc_url, bin_url = f"urn:uuid:7d3e1c00-0000-4000-8000-{2 * n:012d}", f"urn:uuid:7d3e1c00-0000-4000-8000-{2 * n + 1:012d}"
        unique_id = f"1.2.250.1.999.8.1.{run}.{n}"
        unique_ids.append(unique_id)
        listed.append({"item": {"reference": doc_url}})
        entries.append({
            "fullUrl": doc_url,
            "resource": {
                "resourceType": "DocumentReference",
                "masterIdentifier": {"system": "urn:ietf:rfc:3986", "value": f"urn:oid:{unique_id}"},
                "status": "current",
                "type": {"coding": [{"system": "http://loinc.org", "code": type_code}]},
                "category": [{"coding": [{"system": "https://mos.esante.gouv.fr/NOS/TRE_A03-ClasseDocument/FHIR/TRE-A03-ClasseDocument", "code": "10"}]}],
                "subject": subject,
                "date": "2026-03-01T08:30:00+01:00",
                "content": [{
                    "attachment": {
                        "contentType": mime, "language": "fr-FR", "url": bin_url, "size": len(data), "creation": creation,
                        "extension": [{"url": "urn:carnet:fhir:StructureDefinition:attachment-sha256",
                                       "valueBase64Binary": base64.b64encode(hashlib.sha256(data).digest()).decode()}],
                    },
                    "format": {"system": "http://ihe.net/fhir/ihe.formatcode.fhir/CodeSystem/formatcode", "code": "urn:ihe:iti:xds:2017:mimeTypeSufficient"},
                }],
            },
            "request": {"method": "POST", "url": "DocumentReference"},
        })
        entries.append({
            "fullUrl": bin_url,
            "resource": {"resourceType": "Binary", "contentType": mime, "data": base64.b64encode(data).decode()},
            "request": {"method": "POST", "url": "Binary"},
        })
    entries.insert(0, {
        "fullUrl": "urn:uuid:7d3e1c00-0000-4000-8000-000000000001",
        "resource": {
            "resourceType": "List",
            "extension": [{"url": "https://profiles.ihe.net/ITI/MHD/StructureDefinition/ihe-sourceId", "valueIdentifier": {"value": "urn:oid:1.2.250.1.999.8"}}],
            "identifier": [{"use": "usual", "system": "urn:ietf:rfc:3986", "value": f"urn:oid:1.2.250.1.999.8.2.{run}"}],
            "status": "current", "mode": "working",
            "code": {"coding": [{"system": "https://profiles.ihe.net/ITI/MHD/CodeSystem/MHDlistTypes", "code": "submissionset"}]},
            "subject": subject,
            "entry": listed,
        },
        "request": {"method": "POST", "url": "List"},
    })
    response = client.execute("", method="post", data={"resourceType": "Bundle", "type": "transaction", "entry": entries})
    check(response["type"] == "transaction-response" and len(response["entry"]) == 5, "a transaction-response, one entry per request", response)
    check(all(e["response"]["status"].startswith("201") for e in response["entry"]), "every entry created", response)
    ids = [response["entry"][i]["response"]["location"].split("/")[1] for i in (1, 3)]

    # ITI-67: both documents, by patient identifier.
    found = client.resources("DocumentReference").search(**{"patient.identifier": f"{NIR}|{ins}"}).fetch_all()
    by_id = {d["id"]: d for d in found}
    check(all(i in by_id for i in ids), "ITI-67 finds both documents", sorted(by_id))

    # ITI-67 by creation: one value, and a range of two (a chained search repeats the parameter).
    mine = client.resources("DocumentReference").search(**{"patient.identifier": f"{NIR}|{ins}"})
    january = [d["id"] for d in mine.search(creation="lt2026-02").fetch_all()]
    check(january == [ids[0]], "creation=lt2026-02 finds the January document only", january)
    february = [d["id"] for d in mine.search(creation="ge2026-02-01").search(creation="le2026-02-20T16:30:00Z").fetch_all()]
    check(february == [ids[1]], "a creation range finds the February document only", february)
    check(mine.search(creation="2026-03").fetch_all() == [], "nothing was written in March")
    try:
        mine.search(creation="yesterday").fetch_all()
        check(False, "a malformed creation is refused")
    except OperationOutcome as e:
        check("creation" in str(e), "the refusal names creation", str(e))

    # SearchSet.count(): `_totalMethod` is refused by default (strict handling) ...
    try:
        mine.count()
        check(False, "count() without Prefer: handling=lenient is refused")
    except OperationOutcome as e:
        check("_totalMethod" in str(e), "the refusal names _totalMethod", str(e))
    # ... and ignored when the client prefers lenient handling.
    counted = lenient.resources("DocumentReference").search(**{"patient.identifier": f"{NIR}|{ins}"})
    total = counted.count()
    check(total == 2, "count() under lenient handling", total)
    written_in_february = counted.search(creation="ge2026-02-01").count()
    check(written_in_february == 1, "count() of a creation search", written_in_february)
    check(len(counted.fetch_all()) == 2, "the outcome entry is not taken for a result")

    # ITI-68: each byte-identical, through the client and as raw bytes.
    for doc_id, unique_id, (_, mime, data) in zip(ids, unique_ids, docs):
        doc = by_id[doc_id]
        check(doc["masterIdentifier"]["value"] == f"urn:oid:{unique_id}", "the unique id is kept", dict(doc))
        url = doc["content"][0]["attachment"]["url"]
        binary = client.execute(url, method="get")
        check(binary["resourceType"] == "Binary" and binary["contentType"] == mime, "a JSON Binary with the content type", {k: v for k, v in binary.items() if k != "data"})
        check(base64.b64decode(binary["data"]) == data, f"ITI-68 (JSON Binary) of {doc_id} is byte-identical")
        raw = requests.get(url, headers={"Authorization": f"Bearer {token}"}, timeout=30)
        check(raw.status_code == 200 and raw.headers.get("content-type", "").startswith(mime), "raw bytes with their content type", raw.status_code)
        check(raw.content == data, f"ITI-68 (raw) of {doc_id} is byte-identical")

    print(json.dumps({"client": "fhirpy", "patient": patient["id"], "documents": ids, "identical": True, "counted": total, "by_creation": january + february}))


if __name__ == "__main__":
    main()
