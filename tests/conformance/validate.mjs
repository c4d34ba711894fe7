// The network's verdict on many job definitions: one JSON document per line on stdin, one
// verdict per line on stdout, in the same order. One process for the whole corpus, because
// starting node and loading typia costs far more than validating a job.
//
// Verdict: {"valid": true} | {"valid": false, "errors": [{"path", "expected"}]}
//        | {"valid": false, "crash": "message"} when validateJobDefinition itself throws
//          (2.1.6 does on expose: [null]); the network cannot accept such a job either.
import { createInterface } from "node:readline";
import { validateJobDefinition } from "@nosana/types";

const lines = createInterface({ input: process.stdin, crlfDelay: Infinity });
const out = [];
for await (const line of lines) {
  if (!line.trim()) continue;
  let verdict;
  try {
    const result = validateJobDefinition(JSON.parse(line));
    verdict = result.success
      ? { valid: true }
      : {
          valid: false,
          errors: result.errors.map((e) => ({ path: e.path, expected: e.expected })),
        };
  } catch (err) {
    verdict = { valid: false, crash: String(err && err.message ? err.message : err) };
  }
  out.push(JSON.stringify(verdict));
  // Flush in batches: one write per line is slow, one write at the end holds it all in memory.
  if (out.length >= 1000) {
    process.stdout.write(out.join("\n") + "\n");
    out.length = 0;
  }
}
if (out.length) process.stdout.write(out.join("\n") + "\n");
