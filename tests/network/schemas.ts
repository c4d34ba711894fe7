// The answers and bodies the stand-in checks, named from @nosana/api's openapi-typescript output
// (the package ships TypeScript types only: no OpenAPI JSON, no zod). export-schemas.mjs turns
// each alias into a JSON schema.
import type { operations } from "@nosana/api/dist/client/schema.js";
import type {
  SignMessageExternalRequest,
  SignMessageExternalResponse,
} from "@nosana/api/dist/client/clientManagerClient.js";

type Json<T> = T extends { content: { "application/json": infer B } } ? B : never;

export type JobsListRequest = Json<operations["postApiJobsList"]["requestBody"]>;
export type JobsListResponse = Json<operations["postApiJobsList"]["responses"]["200"]>;
export type ExtendRequest = Json<operations["postApiJobsByAddressExtend"]["requestBody"]>;
export type ExtendResponse = Json<operations["postApiJobsByAddressExtend"]["responses"]["200"]>;
export type StopResponse = Json<operations["postApiJobsByAddressStop"]["responses"]["200"]>;
export type JobResponse = Json<operations["getApiJobsByAddress"]["responses"]["200"]>;
export type MarketsResponse = Json<operations["getApiMarkets"]["responses"]["200"]>;
export type MarketResponse = Json<operations["getApiMarketsById"]["responses"]["200"]>;
export type CreditsResponse = Json<operations["getApiCreditsBalance"]["responses"]["200"]>;
export type SignMessageRequest = SignMessageExternalRequest;
export type SignMessageResponse = SignMessageExternalResponse;

// Deployments through the API key: the gateway's paths (schema.d.ts, which proxies the
// Deployment Manager with cursor pages), and the Deployment Manager's own Deployment
// (deployment-manager-schema.d.ts) that each deployment answer must also match. Read from
// copies that export-schemas.mjs makes without the interfaces' `responses: never;` (and the
// like) members: the generator turns an object with a `never` member into `never`, and with
// it every `components["schemas"][...]`. Nothing else in them changes.
import type { components as GatewayComponents, paths } from "./node_modules/.published/schema.js";
import type { components as DeploymentManager } from "./node_modules/.published/deployment-manager-schema.js";
import type { FlowState as NosanaFlowState } from "@nosana/types";

type Deployments = paths["/api/deployments"];
type One = paths["/api/deployments/{deployment}"];
type Create = paths["/api/deployments/create"]["post"];
type CreateBody = NonNullable<Create["requestBody"]>;
type Replicas = paths["/api/deployments/{deployment}/update-replica-count"]["patch"];

export type DeploymentsResponse = Json<Deployments["get"]["responses"]["200"]>;
export type DeploymentResponse = Json<One["get"]["responses"]["200"]>;
export type DeploymentCreateRequest = CreateBody["content"]["application/json"];
export type DeploymentCreateResponse = Json<Create["responses"]["200"]>;
export type DeploymentStartResponse = Json<paths["/api/deployments/{deployment}/start"]["post"]["responses"]["200"]>;
export type DeploymentStopResponse = Json<paths["/api/deployments/{deployment}/stop"]["post"]["responses"]["200"]>;
export type DeploymentArchiveResponse = Json<paths["/api/deployments/{deployment}/archive"]["post"]["responses"]["200"]>;
export type DeploymentReplicasRequest = Replicas["requestBody"]["content"]["application/json"];
export type DeploymentReplicasResponse = Json<Replicas["responses"]["200"]>;
export type DeploymentJobsResponse = Json<paths["/api/deployments/{deployment}/jobs"]["get"]["responses"]["200"]>;
// The generator resolves the body's nested `components["schemas"]["JobDefinition"]` to the
// whole `components` interface; load_schemas puts this one (resolved at the top) in its place.
export type DeploymentJobDefinition = GatewayComponents["schemas"]["JobDefinition"];
export type DeploymentManagerDeployment = DeploymentManager["schemas"]["Deployment"];
// The result a node pins when a job ends (@nosana/types; reference nosana.md §2.4).
export type FlowState = NosanaFlowState;
