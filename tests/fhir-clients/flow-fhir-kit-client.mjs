// The MHD flow as a hospital's software would run it with npm `fhir-kit-client` (a FHIR
// client Carnet did not write), against a running Carnet:
//   ITI-78 find the patient by INS → ITI-65 provide a SubmissionSet with one document →
//   ITI-67 find it → ITI-68 retrieve it (JSON Binary through the client, raw bytes from the
//   attachment URL) and check it byte-identical.
//
// Environment: CARNET_FHIR_BASE (e.g. http://127.0.0.1:8080/fhir), CARNET_TOKEN (a bearer
// token that may feed the record), CARNET_INS (the patient's INS, NIR register).
// Prints one JSON line with what it saw; exits non-zero on the first check that fails.

import { createHash } from 'node:crypto';
import { Client } from 'fhir-kit-client';

const base = process.env.CARNET_FHIR_BASE;
const token = process.env.CARNET_TOKEN;
const ins = process.env.CARNET_INS;
if (!base || !token || !ins) {
  console.error('CARNET_FHIR_BASE, CARNET_TOKEN and CARNET_INS are required');
  process.exit(2);
}
const NIR = 'urn:oid:1.2.250.1.213.1.4.8';

function check(condition, what, seen) {
  if (!condition) {
    console.error(`check failed: ${what}${seen === undefined ? '' : `: ${JSON.stringify(seen).slice(0, 2000)}`}`);
    process.exit(1);
  }
}

// A synthetic PDF-looking document of 100 KiB, different on every run.
const bytes = Buffer.alloc(100 * 1024);
bytes.write('%PDF-1.7\n% fhir-kit-client flow\n');
for (let i = 40; i < bytes.length; i++) bytes[i] = (i * 31 + Date.now()) & 0xff;
const sha256 = createHash('sha256').update(bytes).digest('base64');
const sha1 = createHash('sha1').update(bytes).digest('base64');
const run = `${Date.now()}${process.pid}`;
const uniqueId = `1.2.250.1.999.7.1.${run}`;
const setId = `1.2.250.1.999.7.2.${run}`;

const client = new Client({ baseUrl: base, bearerToken: token });

// ITI-78 (PDQm): the patient by INS.
const patients = await client.search({ resourceType: 'Patient', searchParams: { identifier: `${NIR}|${ins}` } });
check(patients.resourceType === 'Bundle' && patients.type === 'searchset', 'PDQm answers a searchset', patients);
check(patients.total === 1 && patients.entry?.length === 1, 'PDQm finds exactly one patient', patients);
const patient = patients.entry[0].resource;
check(patient.identifier.some((i) => i.system === NIR && i.value === ins), 'the patient carries the INS', patient);

// ITI-65: a SubmissionSet with one DocumentReference and its Binary, the patient by identifier.
const subject = { identifier: { system: NIR, value: ins } };
const docUrl = 'urn:uuid:5f0c4c2e-8b7a-4f7e-9a43-000000000001';
const binUrl = 'urn:uuid:5f0c4c2e-8b7a-4f7e-9a43-000000000002';
const bundle = {
  resourceType: 'Bundle',
  type: 'transaction',
  entry: [
    {
      fullUrl: 'urn:uuid:5f0c4c2e-8b7a-4f7e-9a43-000000000000',
      resource: {
        resourceType: 'List',
        extension: [{ url: 'https://profiles.ihe.net/ITI/MHD/StructureDefinition/ihe-sourceId', valueIdentifier: { value: 'urn:oid:1.2.250.1.999.7' } }],
        identifier: [{ use: 'usual', system: 'urn:ietf:rfc:3986', value: `urn:oid:${setId}` }],
        status: 'current',
        mode: 'working',
        code: { coding: [{ system: 'https://profiles.ihe.net/ITI/MHD/CodeSystem/MHDlistTypes', code: 'submissionset' }] },
        subject,
        date: new Date().toISOString(),
        entry: [{ item: { reference: docUrl } }],
      },
      request: { method: 'POST', url: 'List' },
    },
    {
      fullUrl: docUrl,
      resource: {
        resourceType: 'DocumentReference',
        masterIdentifier: { system: 'urn:ietf:rfc:3986', value: `urn:oid:${uniqueId}` },
        status: 'current',
        type: { coding: [{ system: 'http://loinc.org', code: '11502-2' }] },
        category: [{ coding: [{ system: 'https://mos.esante.gouv.fr/NOS/TRE_A03-ClasseDocument/FHIR/TRE-A03-ClasseDocument', code: '10' }] }],
        subject,
        date: '2026-03-01T08:30:00+01:00',
        content: [
          {
            attachment: {
              contentType: 'application/pdf',
              language: 'fr-FR',
              url: binUrl,
              size: bytes.length,
              hash: sha1,
              title: 'Bilan (fhir-kit-client)',
              extension: [{ url: 'urn:carnet:fhir:StructureDefinition:attachment-sha256', valueBase64Binary: sha256 }],
            },
            format: { system: 'http://ihe.net/fhir/ihe.formatcode.fhir/CodeSystem/formatcode', code: 'urn:ihe:iti:xds-sd:pdf:2008' },
          },
        ],
      },
      request: { method: 'POST', url: 'DocumentReference' },
    },
    {
      fullUrl: binUrl,
      resource: { resourceType: 'Binary', contentType: 'application/pdf', data: bytes.toString('base64') },
      request: { method: 'POST', url: 'Binary' },
    },
  ],
};
// The body is over the 64 KiB that fetch allows with keepalive.
const response = await client.transaction({ body: bundle, options: { keepalive: false } });
check(response.type === 'transaction-response' && response.entry?.length === 3, 'a transaction-response, one entry per request', response);
check(response.entry.every((e) => e.response.status.startsWith('201')), 'every entry created', response);
const docId = response.entry[1].response.location.split('/')[1];
check(response.entry[1].response.location.startsWith('DocumentReference/'), 'the document is a DocumentReference', response);

// ITI-67: the document among the patient's, by patient identifier and type.
const found = await client.search({
  resourceType: 'DocumentReference',
  searchParams: { 'patient.identifier': `${NIR}|${ins}`, status: 'current', type: 'http://loinc.org|11502-2' },
});
check(found.type === 'searchset', 'ITI-67 answers a searchset', found);
const doc = (found.entry ?? []).map((e) => e.resource).find((r) => r.id === docId);
check(doc !== undefined, `ITI-67 finds DocumentReference/${docId}`, found);
check(doc.masterIdentifier.value === `urn:oid:${uniqueId}`, 'the unique id is kept', doc.masterIdentifier);
const attachment = doc.content[0].attachment;
check(attachment.size === bytes.length, 'the size is kept', attachment);
const sha256Ext = (attachment.extension ?? []).find((x) => x.url === 'urn:carnet:fhir:StructureDefinition:attachment-sha256');
check(sha256Ext?.valueBase64Binary === sha256, 'the SHA-256 is kept', attachment);

// ITI-68 through the client: the attachment URL read as a FHIR Binary (Accept: application/fhir+json).
const binary = await client.request(attachment.url);
check(binary.resourceType === 'Binary' && binary.contentType === 'application/pdf', 'a JSON Binary', { ...binary, data: undefined });
check(Buffer.from(binary.data, 'base64').equals(bytes), 'ITI-68 (JSON Binary) is byte-identical');
// ITI-68 as raw bytes, as a viewer would stream it.
const raw = await fetch(attachment.url, { headers: { authorization: `Bearer ${token}` } });
check(raw.status === 200 && raw.headers.get('content-type') === 'application/pdf', 'raw bytes with their content type', raw.status);
check(Buffer.from(await raw.arrayBuffer()).equals(bytes), 'ITI-68 (raw) is byte-identical');

console.log(JSON.stringify({ client: 'fhir-kit-client', patient: patient.id, document: docId, bytes: bytes.length, identical: true }));
