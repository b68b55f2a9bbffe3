// The IHE MHD Full-Text Search option as a hospital's software uses it, with npm
// `fhir-kit-client`: ITI-67 with `full-text` (and `status`) on the patient's documents; the hits
// come by relevance, each with `search.mode = match`, a `search.score` in 0..1 and the passage
// that matched in Carnet's snippet extension.
//
// Environment: CARNET_FHIR_BASE, CARNET_TOKEN, CARNET_INS, CARNET_QUERY (the words searched).
// Prints one JSON line with what it saw; exits non-zero on the first check that fails.

import { Client } from 'fhir-kit-client';

const { CARNET_FHIR_BASE: base, CARNET_TOKEN: token, CARNET_INS: ins, CARNET_QUERY: query } = process.env;
if (!base || !token || !ins || !query) {
  console.error('CARNET_FHIR_BASE, CARNET_TOKEN, CARNET_INS and CARNET_QUERY are required');
  process.exit(2);
}
const NIR = 'urn:oid:1.2.250.1.213.1.4.8';
const SNIPPET = 'https://carnet.example/fhir/StructureDefinition/search-snippet';

function check(condition, what, seen) {
  if (!condition) {
    console.error(`check failed: ${what}${seen === undefined ? '' : `: ${JSON.stringify(seen).slice(0, 2000)}`}`);
    process.exit(1);
  }
}

const client = new Client({ baseUrl: base, bearerToken: token });
const capability = await client.capabilityStatement();
const declared = capability.rest[0].resource.find((r) => r.type === 'DocumentReference').searchParam.map((p) => p.name);
check(declared.includes('full-text'), 'the CapabilityStatement declares full-text', declared);

const found = await client.search({
  resourceType: 'DocumentReference',
  searchParams: { 'patient.identifier': `${NIR}|${ins}`, status: 'current', 'full-text': query },
});
check(found.resourceType === 'Bundle' && found.type === 'searchset', 'ITI-67 answers a searchset', found);
const entries = found.entry ?? [];
const scores = entries.map((e) => e.search?.score);
check(entries.every((e) => e.search?.mode === 'match'), 'every entry is a match', entries.map((e) => e.search));
check(scores.every((s) => typeof s === 'number' && s > 0 && s <= 1), 'scores in 0..1', scores);
check(scores.every((s, i) => i === 0 || scores[i - 1] >= s), 'by relevance', scores);
const snippets = entries.map((e) => (e.search.extension ?? []).find((x) => x.url === SNIPPET)?.valueString);
check(snippets.every((s) => typeof s === 'string' && s.length > 0), 'each hit has its passage', snippets);

console.log(JSON.stringify({
  client: 'fhir-kit-client',
  total: found.total,
  documents: entries.map((e) => e.resource.id),
  scores,
  snippets,
}));
