// What a hospital's software sees, with npm `fhir-kit-client`, of a document deposited by some
// other way (the portal's deposit form): ITI-67 finds it among the patient's current documents
// by its title, ITI-68 retrieves it (JSON Binary through the client, raw bytes from the
// attachment URL), and both are compared with the file that was uploaded.
//
// Environment: CARNET_FHIR_BASE, CARNET_TOKEN (a token that may read the document), CARNET_INS
// (the patient's INS), CARNET_TITLE (the document's title), CARNET_FILE (the uploaded file).
// Prints one JSON line with what it saw; exits non-zero on the first check that fails.

import { readFileSync } from 'node:fs';
import { Client } from 'fhir-kit-client';

const { CARNET_FHIR_BASE: base, CARNET_TOKEN: token, CARNET_INS: ins, CARNET_TITLE: title, CARNET_FILE: file } = process.env;
if (!base || !token || !ins || !title || !file) {
  console.error('CARNET_FHIR_BASE, CARNET_TOKEN, CARNET_INS, CARNET_TITLE and CARNET_FILE are required');
  process.exit(2);
}
const NIR = 'urn:oid:1.2.250.1.213.1.4.8';
const bytes = readFileSync(file);

function check(condition, what, seen) {
  if (!condition) {
    console.error(`check failed: ${what}${seen === undefined ? '' : `: ${JSON.stringify(seen).slice(0, 2000)}`}`);
    process.exit(1);
  }
}

const client = new Client({ baseUrl: base, bearerToken: token });

// ITI-67: the patient's current documents, by patient identifier.
const found = await client.search({
  resourceType: 'DocumentReference',
  searchParams: { 'patient.identifier': `${NIR}|${ins}`, status: 'current' },
});
check(found.resourceType === 'Bundle' && found.type === 'searchset', 'ITI-67 answers a searchset', found);
const doc = (found.entry ?? []).map((e) => e.resource).find((r) => r.content?.[0]?.attachment?.title === title);
check(doc !== undefined, `ITI-67 finds the document titled ${title}`, found);
const attachment = doc.content[0].attachment;
check(attachment.size === bytes.length, 'the size is the file\'s', attachment);

// ITI-68 through the client (a JSON Binary), then as raw bytes.
const binary = await client.request(attachment.url);
check(binary.resourceType === 'Binary', 'a JSON Binary', { ...binary, data: undefined });
check(Buffer.from(binary.data, 'base64').equals(bytes), 'ITI-68 (JSON Binary) is byte-identical to the file');
const raw = await fetch(attachment.url, { headers: { authorization: `Bearer ${token}` } });
check(raw.status === 200, 'ITI-68 raw answers 200', raw.status);
check(Buffer.from(await raw.arrayBuffer()).equals(bytes), 'ITI-68 (raw) is byte-identical to the file');

const replaces = (doc.relatesTo ?? []).find((r) => r.code === 'replaces')?.target?.reference?.split('/')[1] ?? null;
console.log(JSON.stringify({
  client: 'fhir-kit-client',
  document: doc.id,
  type: doc.type?.coding?.[0]?.code,
  category: doc.category?.[0]?.coding?.[0]?.code,
  security: (doc.securityLabel ?? []).map((l) => l.coding?.[0]?.code),
  contentType: attachment.contentType,
  replaces,
  bytes: bytes.length,
  identical: true,
}));
