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
