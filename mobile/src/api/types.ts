/**
 * Names for the shapes in ./schema.d.ts, which openapi-typescript generates from the API's
 * /api/openapi.json (`npm run gen:api`); only the app's own shapes are written here.
 */
import type { components, paths } from "./schema";

type JsonBody<P extends keyof paths, M extends keyof paths[P]> = paths[P][M] extends {
  requestBody?: { content: { "application/json": infer B } };
}
  ? B
  : never;

export type RegisterBody = JsonBody<"/api/v1/auth/register", "post">;
export type LoginBody = JsonBody<"/api/v1/auth/login", "post">;
export type DeviceBody = JsonBody<"/api/v1/devices", "post">;
export type SubscriptionBody = JsonBody<"/api/v1/subscriptions", "post">;
export type MeUpdateBody = JsonBody<"/api/v1/me", "patch">;

type Schemas = components["schemas"];

export type Tokens = Schemas["TokensOut"];
export type Me = Schemas["CitizenOut"];
export type Service = Schemas["ServiceRead"];
export type Attribute = Schemas["ServiceAttribute"];
export type ServiceDefinition = Schemas["ServiceDefinition"];
export type ReportStatus = Schemas["RequestStatus"];
export type HistoryEntry = Schemas["StatusChangeRead"];
export type Media = Schemas["MediaRead"];
export type Report = Schemas["ReportRead"];
export type Duplicate = Schemas["DuplicateMatch"];
export type Device = Schemas["DeviceOut"];
export type Subscription = Schemas["SubscriptionOut"];
export type Registered = Schemas["RegisteredOut"];

/** A photo to upload: a file URI on a phone, a Blob (File) in the browser. */
export type Photo = { uri: string; name: string; type: string; file?: Blob };

/** A report as the citizen writes it; also what the offline queue stores. */
export type ReportDraft = {
  service_code: string;
  description: string;
  attributes: Record<string, string | string[]>;
  lat?: number;
  long?: number;
  address_string?: string;
  photos: Photo[];
};
