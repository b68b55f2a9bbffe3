"""The medical profile as a Python application would use it with PyPI `fhirpy` (a FHIR client
Carnet did not write), against a running Carnet:
  ITI-78 find the patient by INS -> ITI-65 provide three CDA R2 level 3 documents of the CI-SIS
  volets (a synthèse médicale, a compte rendu de biologie, a note de vaccination) -> then a second
  CR-BIO -> find what Carnet read from them with FHIR searches (Condition, AllergyIntolerance,
  MedicationStatement, Immunization, Observation by category and as a trend per LOINC code) ->
  `Patient/{id}/$summary`, an IPS document Bundle whose sections list those resources.

The CDA documents are written here (a fictitious patient's), after the CI-SIS structure.
Environment: CARNET_FHIR_BASE, CARNET_TOKEN, CARNET_INS, and CARNET_RPPS (the token's
professional, the CDA's author). Prints one JSON line with what it saw; exits non-zero on the
first check that fails.
"""

import base64
import hashlib
import json
import os
import sys
import time

from fhirpy import SyncFHIRClient

NIR = "urn:oid:1.2.250.1.213.1.4.8"
LOINC = "http://loinc.org"
XSI = 'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"'
# Each volet's class (JDV_J06), as the type list of the national record pairs them.
CLASS_OF = {"60591-5": "11", "11502-2": "10", "87273-9": "52"}


def check(condition, what, seen=None):
    if not condition:
        shown = "" if seen is None else ": " + json.dumps(seen, default=str)[:3000]
        print(f"check failed: {what}{shown}", file=sys.stderr)
        sys.exit(1)


def section(code, title, entries):
    return (f'<component><section><code code="{code}" codeSystem="2.16.840.1.113883.6.1"/><title>{title}</title>'
            + "".join(f"<entry>{e}</entry>" for e in entries) + "</section></component>")


def observation(code, system, value, at=None, extra=""):
    when = f'<effectiveTime value="{at}"/>' if at else ""
    return (f'<observation classCode="OBS" moodCode="EVN"><code code="{code}" codeSystem="{system}"/>'
            f'<statusCode code="completed"/>{when}{value}{extra}</observation>')


def result(loinc, name, value, unit, at, flag, low, high):
    return (f'<observation classCode="OBS" moodCode="EVN"><code code="{loinc}" codeSystem="2.16.840.1.113883.6.1" displayName="{name}"/>'
            f'<statusCode code="completed"/><effectiveTime value="{at}"/>'
            f'<value {XSI} xsi:type="PQ" value="{value}" unit="{unit}"/>'
            f'<interpretationCode code="{flag}" codeSystem="2.16.840.1.113883.5.83"/>'
            f'<referenceRange><observationRange><value {XSI} xsi:type="IVL_PQ"><low value="{low}" unit="{unit}"/>'
            f'<high value="{high}" unit="{unit}"/></value></observationRange></referenceRange></observation>')


def clinical_document(run, n, ins, rpps, loinc, title, sections):
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<ClinicalDocument xmlns="urn:hl7-org:v3"><realmCode code="FR"/>'
        f'<typeId root="2.16.840.1.113883.1.3" extension="POCD_HD000040"/>'
        f'<id root="1.2.250.1.999.8.5" extension="{run}-{n}"/>'
        f'<code code="{loinc}" codeSystem="2.16.840.1.113883.6.1"/><title>{title}</title>'
        f'<effectiveTime value="20261130101500+0100"/>'
        f'<confidentialityCode code="N" codeSystem="2.16.840.1.113883.5.25"/><languageCode code="fr-FR"/>'
        f'<setId root="1.2.250.1.999.8.6" extension="{run}-{n}"/><versionNumber value="1"/>'
        f'<recordTarget><patientRole><id root="1.2.250.1.213.1.4.8" extension="{ins}"/></patientRole></recordTarget>'
        f'<author><time value="20261130"/><assignedAuthor><id root="1.2.250.1.71.4.2.1" extension="8{rpps}"/>'
        f'<assignedPerson><name><given>Anne</given><family>Fictive</family></name></assignedPerson></assignedAuthor></author>'
        f'<component><structuredBody>{"".join(sections)}</structuredBody></component></ClinicalDocument>'
    ).encode()


def vsm(run, ins, rpps):
    return clinical_document(run, 1, ins, rpps, "60591-5", "Synthèse médicale", [
        section("11450-4", "Problèmes", [observation(
            "55607006", "2.16.840.1.113883.6.96",
            f'<value {XSI} xsi:type="CD" code="E11" codeSystem="2.16.840.1.113883.6.3" displayName="Diabète de type 2"/>')]),
        section("48765-2", "Allergies", [observation(
            "ASSERTION", "2.16.840.1.113883.5.4",
            f'<value {XSI} xsi:type="CD" code="91936005" codeSystem="2.16.840.1.113883.6.96" displayName="Allergie à la pénicilline"/>')]),
        section("10160-0", "Traitements", [
            '<substanceAdministration classCode="SBADM" moodCode="INT"><text>Metformine 1000 mg matin et soir</text>'
            '<statusCode code="active"/><effectiveTime xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="IVL_TS">'
            '<low value="20150315"/></effectiveTime><consumable><manufacturedProduct><manufacturedMaterial>'
            '<code code="A10BA02" codeSystem="2.16.840.1.113883.6.73" displayName="Metformine"/>'
            '</manufacturedMaterial></manufacturedProduct></consumable></substanceAdministration>']),
        section("8716-3", "Signes vitaux", [observation(
            "29463-7", "2.16.840.1.113883.6.1", f'<value {XSI} xsi:type="PQ" value="72.5" unit="kg"/>', "202611151030+0100")]),
    ])


def crbio(run, n, ins, rpps, creatinine, at, flag):
    return clinical_document(run, n, ins, rpps, "11502-2", "Compte rendu de biologie", [
        section("18719-5", "Biochimie", [
            result("2160-0", "Créatinine", creatinine, "mg/dL", at, flag, "0.6", "1.2"),
            result("2345-7", "Glucose", "1.05", "g/L", at, "N", "0.7", "1.1"),
        ]),
    ])


def vaccination(run, ins, rpps):
    return clinical_document(run, 4, ins, rpps, "87273-9", "Note de vaccination", [
        section("11369-6", "Vaccinations", [
            '<substanceAdministration classCode="SBADM" moodCode="EVN" negationInd="false"><statusCode code="completed"/>'
            '<effectiveTime value="20261015"/><consumable><manufacturedProduct><manufacturedMaterial>'
            '<code code="J07BB02" codeSystem="2.16.840.1.113883.6.73" displayName="Grippe, antigène purifié"/>'
            '<lotNumberText>GRP-26-1234</lotNumberText></manufacturedMaterial></manufacturedProduct></consumable>'
            '<performer><assignedEntity><id root="1.2.250.1.71.4.2.1" extension="810006543218"/>'
            '<assignedPerson><name><given>Claire</given><family>Infirmière</family></name></assignedPerson>'
            '</assignedEntity></performer></substanceAdministration>']),
    ])


def provide_bundle(run, set_n, ins, documents):
    """An ITI-65 transaction: a SubmissionSet and, per CDA, a DocumentReference and its Binary."""
    subject = {"identifier": {"system": NIR, "value": ins}}
    entries, listed = [], []
    for n, (type_code, format_code, data) in enumerate(documents, start=1):
        doc_url, bin_url = f"urn:uuid:5a0c1e00-0000-4000-8000-{2 * n:012d}", f"urn:uuid:5a0c1e00-0000-4000-8000-{2 * n + 1:012d}"
        listed.append({"item": {"reference": doc_url}})
        entries.append({
            "fullUrl": doc_url,
            "resource": {
                "resourceType": "DocumentReference",
                "masterIdentifier": {"system": "urn:ietf:rfc:3986", "value": f"urn:oid:1.2.250.1.999.8.3.{run}.{set_n}.{n}"},
                "status": "current",
                "type": {"coding": [{"system": LOINC, "code": type_code}]},
                "category": [{"coding": [{"system": "https://mos.esante.gouv.fr/NOS/TRE_A03-ClasseDocument/FHIR/TRE-A03-ClasseDocument", "code": CLASS_OF[type_code]}]}],
                "subject": subject,
                "date": "2026-11-30T10:15:00+01:00",
                "content": [{
                    "attachment": {
                        "contentType": "text/xml", "language": "fr-FR", "url": bin_url, "size": len(data),
                        "extension": [{"url": "urn:carnet:fhir:StructureDefinition:attachment-sha256",
                                       "valueBase64Binary": base64.b64encode(hashlib.sha256(data).digest()).decode()}],
                    },
                    "format": {"system": "http://ihe.net/fhir/ihe.formatcode.fhir/CodeSystem/formatcode", "code": format_code},
                }],
            },
            "request": {"method": "POST", "url": "DocumentReference"},
        })
        entries.append({
            "fullUrl": bin_url,
            "resource": {"resourceType": "Binary", "contentType": "text/xml", "data": base64.b64encode(data).decode()},
            "request": {"method": "POST", "url": "Binary"},
        })
    entries.insert(0, {
        "fullUrl": "urn:uuid:5a0c1e00-0000-4000-8000-000000000001",
        "resource": {
            "resourceType": "List",
            "extension": [{"url": "https://profiles.ihe.net/ITI/MHD/StructureDefinition/ihe-sourceId", "valueIdentifier": {"value": "urn:oid:1.2.250.1.999.8"}}],
            "identifier": [{"use": "usual", "system": "urn:ietf:rfc:3986", "value": f"urn:oid:1.2.250.1.999.8.4.{run}.{set_n}"}],
            "status": "current", "mode": "working",
            "code": {"coding": [{"system": "https://profiles.ihe.net/ITI/MHD/CodeSystem/MHDlistTypes", "code": "submissionset"}]},
            "subject": subject,
            "entry": listed,
        },
        "request": {"method": "POST", "url": "List"},
    })
    return {"resourceType": "Bundle", "type": "transaction", "entry": entries}


def codes(resource, element):
    concept = resource.get(element) or {}
    return [(c.get("system"), c.get("code")) for c in concept.get("coding", [])]


def main():
    base, token, ins, rpps = (os.environ.get(k) for k in ("CARNET_FHIR_BASE", "CARNET_TOKEN", "CARNET_INS", "CARNET_RPPS"))
    if not (base and token and ins and rpps):
        print("CARNET_FHIR_BASE, CARNET_TOKEN, CARNET_INS and CARNET_RPPS are required", file=sys.stderr)
        sys.exit(2)
    client = SyncFHIRClient(base, authorization=f"Bearer {token}")
    run = f"{time.time_ns()}{os.getpid()}"

    # ITI-78 (PDQm): the patient's FHIR id, for the searches and $summary.
    patients = client.resources("Patient").search(identifier=f"{NIR}|{ins}").fetch()
    check(len(patients) == 1, "PDQm finds exactly one patient", [dict(p) for p in patients])
    patient_id = patients[0]["id"]

    # ITI-65: the three volets in one submission set, then a later CR-BIO in another.
    first = provide_bundle(run, 1, ins, [
        ("60591-5", "urn:ihe:pcc:xphr:2007", vsm(run, ins, rpps)),
        ("11502-2", "urn:ihe:lab:xd-lab:2008", crbio(run, 2, ins, rpps, "0.9", "20250312", "N")),
        ("87273-9", "urn:ihe:pcc:ic:2009", vaccination(run, ins, rpps)),
    ])
    second = provide_bundle(run, 2, ins, [("11502-2", "urn:ihe:lab:xd-lab:2008", crbio(run, 3, ins, rpps, "1.4", "20260604", "H"))])
    documents = []
    for bundle, count in ((first, 3), (second, 1)):
        response = client.execute("", method="post", data=bundle)
        check(response["type"] == "transaction-response", "a transaction-response", response)
        check(all(e["response"]["status"].startswith("201") for e in response["entry"]), "every entry created", response)
        documents += [response["entry"][1 + 2 * i]["response"]["location"].split("/")[1] for i in range(count)]
    vsm_id, crbio_id, vaccination_id, crbio2_id = documents

    def search(resource, **params):
        return [dict(r) for r in client.resources(resource).search(patient=patient_id, **params).fetch_all()]

    def derived_from(resource):
        """The DocumentReference an item was read from, wherever R4 says it."""
        refs = [r.get("reference") for r in resource.get("derivedFrom", [])]
        refs += [d.get("reference") for e in resource.get("evidence", []) for d in e.get("detail", [])]
        refs += [x.get("valueReference", {}).get("reference") for x in resource.get("extension", [])]
        return {r.split("/")[-1] for r in refs if r and r.startswith("DocumentReference/")}

    # The synthèse médicale: a problem, an allergy, a treatment, a vital sign.
    conditions = search("Condition")
    check([c for c in conditions if ("http://hl7.org/fhir/sid/icd-10", "E11") in codes(c, "code")], "the VSM's problem (CIM-10 E11)", conditions)
    check(all(derived_from(c) == {vsm_id} for c in conditions), "each condition names the VSM it was read from", conditions)
    allergies = search("AllergyIntolerance")
    check(any(("http://snomed.info/sct", "91936005") in codes(a, "code") for a in allergies), "the penicillin allergy", allergies)
    medications = search("MedicationStatement")
    check(any(("http://www.whocc.no/atc", "A10BA02") in codes(m, "medicationCodeableConcept") for m in medications), "metformin", medications)
    vitals = search("Observation", category="vital-signs")
    check([(v["valueQuantity"]["value"], v["valueQuantity"].get("unit")) for v in vitals] == [(72.5, "kg")], "the weight", vitals)

    # The note de vaccination: vaccine, date, lot and performer.
    immunizations = search("Immunization")
    check(len(immunizations) == 1, "one vaccination", immunizations)
    shot = immunizations[0]
    check(("http://www.whocc.no/atc", "J07BB02") in codes(shot, "vaccineCode"), "the influenza vaccine", shot)
    check(shot.get("occurrenceDateTime") == "2026-10-15" and shot.get("lotNumber") == "GRP-26-1234", "its date and lot", shot)
    performers = json.dumps(shot.get("performer", []), ensure_ascii=False)
    check("Infirmière" in performers, "its performer", shot)
    check(derived_from(shot) == {vaccination_id}, "the vaccination names its note", shot)
    by_vaccine = search("Immunization", **{"vaccine-code": "http://www.whocc.no/atc|J07BB02"})
    check([i["id"] for i in by_vaccine] == [shot["id"]], "found by vaccine code", by_vaccine)

    # The CR-BIO results: a creatinine trend over two reports, oldest first, with their ranges.
    trend = search("Observation", code=f"{LOINC}|2160-0", _sort="date")
    values = [(o["valueQuantity"]["value"], o.get("effectiveDateTime")) for o in trend]
    check(values == [(0.9, "2025-03-12"), (1.4, "2026-06-04")], "the creatinine trend", trend)
    check([derived_from(o) for o in trend] == [{crbio_id}, {crbio2_id}], "each result names its report", trend)
    check(trend[1]["interpretation"][0]["coding"][0]["code"] == "H", "the last one is high", trend[1])
    check(trend[1]["referenceRange"][0]["high"]["value"] == 1.2, "with its reference range", trend[1])
    newest_first = search("Observation", code=f"{LOINC}|2160-0", _sort="-date")
    check([o["id"] for o in newest_first] == [o["id"] for o in reversed(trend)], "_sort=-date reverses it", newest_first)
    laboratory = search("Observation", category="laboratory")
    check(len(laboratory) == 4, "two results per report", laboratory)
    since = search("Observation", category="laboratory", date="ge2026-01-01")
    check(sorted(o["valueQuantity"]["value"] for o in since) == [1.05, 1.4], "results of 2026 only", since)

    # $summary: an IPS document whose sections list what the searches found.
    summary = client.execute(f"Patient/{patient_id}/$summary", method="get")
    check(summary["resourceType"] == "Bundle" and summary["type"] == "document", "an IPS document Bundle", summary)
    composition = summary["entry"][0]["resource"]
    check(composition["resourceType"] == "Composition", "a Composition first", composition)
    sections = {s["code"]["coding"][0]["code"]: {e["reference"] for e in s.get("entry", [])} for s in composition["section"]}
    expected = {
        "11450-4": {f"Condition/{c['id']}" for c in conditions},
        "48765-2": {f"AllergyIntolerance/{a['id']}" for a in allergies},
        "10160-0": {f"MedicationStatement/{m['id']}" for m in medications},
        "11369-6": {f"Immunization/{shot['id']}"},
        "30954-2": {f"Observation/{o['id']}" for o in laboratory},
        "8716-3": {f"Observation/{v['id']}" for v in vitals},
    }
    for code, refs in expected.items():
        check(sections.get(code) == refs, f"the IPS section {code} lists what the searches found", sections.get(code))
    bundled = {f"{e['resource']['resourceType']}/{e['resource'].get('id')}" for e in summary["entry"]}
    check(all(r in bundled for refs in expected.values() for r in refs), "every listed resource is in the Bundle", sorted(bundled))

    print(json.dumps({
        "client": "fhirpy",
        "patient": patient_id,
        "documents": documents,
        "items": sorted(r for refs in expected.values() for r in refs),
        "trend": [v for v, _ in values],
    }))


if __name__ == "__main__":
    main()
