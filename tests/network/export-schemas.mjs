// Writes one JSON schema per alias of schemas.ts to the folder given (default: ./schemas).
import { createGenerator } from "ts-json-schema-generator";
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const out = process.argv[2] ?? join(here, "schemas");
mkdirSync(out, { recursive: true });
const generator = createGenerator({
  path: join(here, "schemas.ts"),
  tsconfig: join(here, "tsconfig.json"),
  skipTypeCheck: true,
  expose: "none",
  topRef: false,
});
const names = [
  "JobsListRequest", "JobsListResponse", "ExtendRequest", "ExtendResponse", "StopResponse",
  "JobResponse", "MarketsResponse", "MarketResponse", "CreditsResponse",
  "SignMessageRequest", "SignMessageResponse",
];
for (const name of names) {
  writeFileSync(join(out, `${name}.json`), JSON.stringify(generator.createSchema(name), null, 2));
}
console.log(`${names.length} schemas in ${out}`);
