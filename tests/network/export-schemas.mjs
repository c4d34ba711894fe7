// Writes one JSON schema per alias of schemas.ts to the folder given (default: ./schemas).
import { createGenerator } from "ts-json-schema-generator";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const out = process.argv[2] ?? join(here, "schemas");
mkdirSync(out, { recursive: true });
// schemas.ts reads the deployments' types from copies without the `X: never;` members of
// `interface components` (see there); the rest of each file is the published text.
const published = join(here, "node_modules", ".published");
mkdirSync(published, { recursive: true });
for (const name of ["schema", "deployment-manager-schema"]) {
  const text = readFileSync(join(here, "node_modules/@nosana/api/dist/client", `${name}.d.ts`), "utf8");
  const kept = text.replace(/^ {4}(responses|parameters|requestBodies|headers|pathItems): never;\n/gm, "");
  writeFileSync(join(published, `${name}.d.ts`), kept);
}
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
  "DeploymentsResponse", "DeploymentResponse", "DeploymentCreateRequest", "DeploymentCreateResponse",
  "DeploymentStartResponse", "DeploymentStopResponse", "DeploymentArchiveResponse",
  "DeploymentReplicasRequest", "DeploymentReplicasResponse", "DeploymentJobsResponse",
  "DeploymentManagerDeployment", "DeploymentJobDefinition", "FlowState",
];
for (const name of names) {
  writeFileSync(join(out, `${name}.json`), JSON.stringify(generator.createSchema(name), null, 2));
}
console.log(`${names.length} schemas in ${out}`);
