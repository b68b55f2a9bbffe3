// A certified OpenID provider (npm oidc-provider) issuing JWT access tokens with Carnet's claims
// contract, for the tests that need a real authorization server:
// - crates/auth/tests/it/oidc_provider.rs: a lab's software by client credentials;
// - crates/server/tests/it/smart_launch.rs: a browser app (npm fhirclient) doing a SMART App
//   Launch 2 standalone launch: authorization code + PKCE S256 (required), the patient's login
//   and a consent page in French listing the requested scopes;
// - crates/server/tests/it/portal_signin.rs: the portal signing a patient in (a confidential
//   client, code + PKCE; Carnet's claims in the ID token under the `carnet` scope).
// Usage: node provider.mjs [PORT] (0 or none: a free port, chosen by the system while listening,
// so that no other process can take it between choice and use). Environment (all optional): CARNET_OIDC_ALG (ES256|RS256),
// CARNET_OIDC_APP_REDIRECT (the browser app's redirect URI), CARNET_OIDC_PORTAL_REDIRECT (the
// portal's: client `carnet-portail`, secret `carnet-portail-test-secret`), CARNET_OIDC_PATIENT_INS and
// CARNET_OIDC_PATIENT_NAME (the demo patient's claims; login "patient-demo").
// Prints "ready ISSUER" once listening. Keys are generated at start; nothing is persisted.
import { generateKeyPairSync } from 'node:crypto';
import http from 'node:http';
import Provider from 'oidc-provider';

// Listening first: the issuer names the port the system gave. Requests wait for `route`, which is
// set before "ready" is printed.
let route = (_req, res) => { res.statusCode = 503; res.end(); };
const server = http.createServer((req, res) => route(req, res));
await new Promise((resolve, reject) => {
  server.once('error', reject);
  server.listen(Number(process.argv[2] || 0), '127.0.0.1', resolve);
});
const issuer = `http://127.0.0.1:${server.address().port}`;
const appRedirect = process.env.CARNET_OIDC_APP_REDIRECT;
const portalRedirect = process.env.CARNET_OIDC_PORTAL_REDIRECT;
const patient = {
  login: 'patient-demo',
  ins: process.env.CARNET_OIDC_PATIENT_INS || '255081416802538',
  name: process.env.CARNET_OIDC_PATIENT_NAME || 'Marie DUPONT',
};
const jwk = (type, options, alg, kid) => ({
  ...generateKeyPairSync(type, options).privateKey.export({ format: 'jwk' }),
  alg, use: 'sig', kid,
});

// What Carnet's resource server grants: the lab's system scopes and a patient app's scopes.
const systemScopes = 'system/DocumentReference.cruds system/Binary.cr';
const patientScopes = [
  'patient/DocumentReference.rs', 'patient/DocumentReference.r', 'patient/DocumentReference.s',
  'patient/Binary.r', 'patient/Patient.r', 'patient/Consent.rs', 'patient/AuditEvent.rs', 'patient/List.rs',
].join(' ');

const clients = [
  {
    client_id: 'lab-software',
    client_secret: 'lab-software-test-secret-not-for-production',
    grant_types: ['client_credentials'],
    redirect_uris: [],
    response_types: [],
    scope: systemScopes,
  },
];
if (appRedirect) {
  clients.push({
    client_id: 'carnet-test-app',
    client_name: 'Mon suivi santé (application de test)',
    token_endpoint_auth_method: 'none',
    grant_types: ['authorization_code'],
    response_types: ['code'],
    redirect_uris: [appRedirect],
    scope: `openid launch/patient ${patientScopes}`,
  });
}

if (portalRedirect) {
  clients.push({
    client_id: 'carnet-portail',
    client_secret: 'carnet-portail-test-secret',
    token_endpoint_auth_method: 'client_secret_basic',
    grant_types: ['authorization_code'],
    response_types: ['code'],
    redirect_uris: [portalRedirect],
    scope: 'openid carnet',
  });
}

const provider = new Provider(issuer, {
  jwks: {
    keys: [
      jwk('rsa', { modulusLength: 2048 }, 'RS256', 'rsa-1'),
      jwk('ec', { namedCurve: 'P-256' }, 'ES256', 'ec-1'),
    ],
  },
  scopes: ['openid', 'carnet', 'launch/patient', ...systemScopes.split(' '), ...patientScopes.split(' ')],
  // Carnet's claims contract, released in the ID token (the portal reads no userinfo).
  claims: { openid: ['sub'], carnet: ['carnet_role', 'ins', 'name'] },
  conformIdTokenClaims: false,
  clients,
  // PKCE (S256, the only method oidc-provider knows) for every authorization request.
  pkce: { required: () => true },
  // The browser app calls the token endpoint from its own origin.
  clientBasedCORS: (_ctx, origin, client) => client.redirectUris.some((uri) => new URL(uri).origin === origin),
  findAccount: (_ctx, id) => (id === patient.login
    ? { accountId: id, claims: () => ({ sub: id, name: patient.name, carnet_role: 'patient', ins: patient.ins }) }
    : undefined),
  interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    revocation: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => 'urn:carnet:api',
      useGrantedResource: () => true,
      getResourceServerInfo: () => ({
        scope: `${systemScopes} ${patientScopes}`,
        audience: 'carnet',
        accessTokenTTL: 300,
        accessTokenFormat: 'jwt',
        jwt: { sign: { alg: process.env.CARNET_OIDC_ALG || 'ES256' } },
      }),
    },
  },
  ttl: { ClientCredentials: 300, AccessToken: 300 },
  // Carnet's claims contract: the lab is a system; the app acts for the patient who logged in.
  extraTokenClaims: (_ctx, token) => (token.clientId === 'lab-software'
    ? { carnet_role: 'system', finess: '750000010', name: 'Laboratoire de test' }
    : { carnet_role: 'patient', ins: patient.ins, name: patient.name }),
});

// The consent page's words for a scope, in plain French.
const RESOURCES = {
  DocumentReference: 'vos documents',
  Binary: 'le contenu de vos documents',
  Patient: 'votre identité',
  Consent: 'vos choix de confidentialité',
  AuditEvent: "l'historique des accès à votre dossier",
  List: 'vos lots de documents',
};
const VERBS = { c: 'ajouter', r: 'lire', u: 'modifier', d: 'supprimer', s: 'rechercher' };
function describe(scope) {
  if (scope === 'openid') return 'Vous identifier (openid)';
  if (scope === 'carnet') return 'Ouvrir votre espace Carnet : votre rôle, votre INS et votre nom (carnet)';
  if (scope === 'launch/patient') return 'Savoir de quel dossier il s’agit : le vôtre (launch/patient)';
  const m = /^(patient|user|system)\/([A-Za-z*]+)\.([cruds]+)$/.exec(scope);
  if (!m) return scope;
  const verbs = [...m[3]].map((l) => VERBS[l]);
  const said = verbs.length > 1 ? `${verbs.slice(0, -1).join(', ')} et ${verbs.at(-1)}` : verbs[0];
  return `${said[0].toUpperCase()}${said.slice(1)} ${RESOURCES[m[2]] || m[2]} (${m[2]})`;
}

const escape = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
const page = (title, body) => `<!doctype html><html lang="fr"><head><meta charset="utf-8"><title>${escape(title)}</title>
<style>body{font-family:sans-serif;max-width:34em;margin:3em auto;line-height:1.5}button{font-size:1em;padding:.4em 1.2em;margin-right:1em}</style>
</head><body>${body}</body></html>`;

function send(res, status, html) {
  res.writeHead(status, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
  res.end(html);
}

async function form(req) {
  let body = '';
  for await (const chunk of req) body += chunk;
  return new URLSearchParams(body);
}

async function interaction(req, res) {
  const details = await provider.interactionDetails(req, res);
  const { uid, prompt, params } = details;
  const action = req.url.split('?')[0].split('/')[3];
  // For a failing test's reading (stderr is the test's provider.log).
  console.error(JSON.stringify({ method: req.method, action, prompt: prompt.name, reasons: prompt.reasons, details: prompt.details }));
  if (req.method === 'GET' && prompt.name === 'login') {
    return send(res, 200, page('Connexion', `<h1>Connexion à votre espace santé</h1>
<p>Fournisseur d'identité de test de Carnet.</p>
<form method="post" action="/interaction/${escape(uid)}/login">
<label>Identifiant <input name="login" autocomplete="off"></label>
<button type="submit">Se connecter</button></form>`));
  }
  if (req.method === 'GET' && prompt.name === 'consent') {
    const client = await provider.Client.find(params.client_id);
    const items = String(params.scope || '').split(' ').filter(Boolean).map((s) => `<li>${escape(describe(s))}</li>`).join('\n');
    return send(res, 200, page('Autorisation', `<h1>Autoriser « ${escape(client?.clientName || params.client_id)} » ?</h1>
<p>Cette application demande l'accès à votre dossier médical partagé pour :</p>
<ul>${items}</ul>
<p>Elle n'aura accès à rien d'autre. Vous pourrez retirer cette autorisation à tout moment.</p>
<form method="post" action="/interaction/${escape(uid)}/confirm" style="display:inline"><button type="submit">Autoriser</button></form>
<form method="post" action="/interaction/${escape(uid)}/abort" style="display:inline"><button type="submit">Refuser</button></form>`));
  }
  if (req.method === 'POST' && action === 'login') {
    const login = (await form(req)).get('login');
    if (login !== patient.login) {
      return send(res, 401, page('Connexion', '<h1>Identifiant inconnu</h1><p>Revenez en arrière pour réessayer.</p>'));
    }
    return provider.interactionFinished(req, res, { login: { accountId: login } }, { mergeWithLastSubmission: false });
  }
  if (req.method === 'POST' && action === 'confirm') {
    const { accountId } = details.session;
    const grant = details.grantId
      ? await provider.Grant.find(details.grantId)
      : new provider.Grant({ accountId, clientId: params.client_id });
    const missing = prompt.details;
    if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
    if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
    for (const [indicator, scopes] of Object.entries(missing.missingResourceScopes || {})) {
      grant.addResourceScope(indicator, scopes.join(' '));
    }
    const grantId = await grant.save();
    return provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
  }
  if (req.method === 'POST' && action === 'abort') {
    return provider.interactionFinished(req, res, {
      error: 'access_denied', error_description: "Le patient a refusé l'accès à l'application",
    }, { mergeWithLastSubmission: false });
  }
  return send(res, 404, page('Introuvable', '<h1>Page introuvable</h1>'));
}

const handle = provider.callback();
route = (req, res) => {
  if (req.url.startsWith('/interaction/')) {
    interaction(req, res).catch((e) => send(res, 400, page('Erreur', `<h1>Erreur</h1><p>${escape(e.message)}</p>`)));
  } else {
    handle(req, res);
  }
};
console.log(`ready ${issuer}`);
