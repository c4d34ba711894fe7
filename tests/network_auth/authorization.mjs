// The network's own code for the authorization header (@nosana/authorization, pinned in
// package.json), driven by test_network_agreement.py: one JSON request per line on stdin, one
// JSON answer per line on stdout.
//   {"do": "generate", "message", "secretKey": [64 numbers], "includeTime"}  -> {"header"}
//   {"do": "generateHeaders", "message", "secretKey", "includeTime"}         -> {"headers": {name: value}}
//   {"do": "validate", "header", "publicKey": [32 numbers], "expiry"?}       -> {"valid"} or {"error"}
//   {"do": "validateHeaders", "headers": {...}, "publicKey", "key"?}          -> {"valid"} or {"error"}
import { createInterface } from 'node:readline';
import { generate, generateHeaders, validate, validateHeaders } from '@nosana/authorization';

const answer = async (request) => {
  const options = { includeTime: request.includeTime ?? false };
  switch (request.do) {
    case 'generate':
      return { header: await generate(request.message, options, Uint8Array.from(request.secretKey), undefined) };
    case 'generateHeaders': {
      const headers = await generateHeaders(request.message, options, Uint8Array.from(request.secretKey), undefined);
      return { headers: Object.fromEntries(headers.entries()) };
    }
    case 'validate':
    case 'validateHeaders': {
      const key = Uint8Array.from(request.publicKey);
      const expiry = request.expiry === undefined ? {} : { expiry: request.expiry };
      try {
        const valid = request.do === 'validate'
          ? validate(request.header, key, expiry)
          : validateHeaders(request.headers, key, { ...expiry, ...(request.key ? { key: request.key } : {}) });
        return { valid };
      } catch (error) {
        return { error: String(error.message ?? error) };
      }
    }
    default:
      throw new Error(`unknown request ${request.do}`);
  }
};

for await (const line of createInterface({ input: process.stdin })) {
  if (line.trim()) process.stdout.write(JSON.stringify(await answer(JSON.parse(line))) + '\n');
}
