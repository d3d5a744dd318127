/**
 * The typed client against the recorded contract (contract/recorded.json, recorded from and
 * re-checked against the real API by tests/citizen_api/test_mobile_contract.py): each call
 * must send exactly the recorded method and path, a JSON body valid under the OpenAPI
 * request schema, and must return the recorded answer (or raise its error).
 */
import Ajv2020 from "ajv/dist/2020";

import spec from "../src/api/openapi.json";
import { ApiError, createClient, type ApiClient } from "../src/api/client";
import type { Tokens } from "../src/api/types";
import recorded from "./contract/recorded.json";
import { fakeResponse, scriptedFetch } from "./helpers";

type Interaction = (typeof recorded)[number] & {
  request: { method: string; path: string; auth: boolean; json?: unknown; form?: string[] };
  response: { status: number; body: unknown };
};
const BASE = "http://api.test";
const byName = Object.fromEntries((recorded as Interaction[]).map((r) => [r.name, r]));

// How the app makes each recorded call.
const CALLS: Record<string, (c: ApiClient, r: Interaction) => Promise<unknown>> = {
  register: (c, r) => c.register(r.request.json as never),
  login: (c, r) => c.login(r.request.json as never),
  login_wrong: (c, r) => c.login(r.request.json as never),
  me: (c) => c.me(),
  services: (c) => c.services(),
  service_definition: (c) => c.serviceDefinition("pothole"),
  create_report: (c) =>
    c.createReport({
      service_code: "pothole",
      description: "Deep hole by the kerb",
      lat: 52.431,
      long: 13.53,
      attributes: { size: "large" },
      photos: [{ uri: "file:///photo-1.jpeg", name: "photo-1.jpeg", type: "image/jpeg" }],
    }),
  create_report_invalid: (c) =>
    c.createReport({ service_code: "pothole", description: "", lat: 52.431, long: 13.53, attributes: {}, photos: [] }),
  my_reports: (c) => c.myReports(),
  duplicates: (c) => c.duplicates({ service_code: "pothole", lat: 52.431, long: 13.53 }),
  follow: (c, r) => c.follow(Number(r.request.path.split("/")[4])),
  subscribe: (c, r) => c.subscribe(r.request.json as never),
  subscriptions: (c) => c.subscriptions(),
  register_device: (c, r) => c.registerDevice(r.request.json as never),
};

/** The OpenAPI operation a concrete path and method belong to. */
function operation(method: string, path: string): Record<string, any> | undefined {
  const bare = path.split("?")[0];
  for (const [template, ops] of Object.entries(spec.paths as Record<string, Record<string, any>>)) {
    const re = new RegExp(`^${template.replace(/\{[^}]+\}/g, "[^/]+").replace(/\./g, "\\.")}$`);
    if (re.test(bare) && ops[method.toLowerCase()]) return ops[method.toLowerCase()];
  }
  return undefined;
}

function formKeys(body: unknown): string[] {
  const keys = new Set<string>();
  (body as FormData).forEach((_v, k) => keys.add(k.replace(/\[\]$/, "")));
  return [...keys].sort();
}

/** pydantic's body-local `#/$defs/X` refs, moved to components (as scripts/gen-api.mjs does). */
function hoistDefs(doc: any): any {
  doc.components ??= {};
  doc.components.schemas ??= {};
  const walk = (node: any): void => {
    if (Array.isArray(node)) return node.forEach(walk);
    if (!node || typeof node !== "object") return;
    if (node.$defs) {
      for (const [k, v] of Object.entries(node.$defs)) doc.components.schemas[k] ??= v;
      delete node.$defs;
    }
    if (typeof node.$ref === "string" && node.$ref.startsWith("#/$defs/")) {
      node.$ref = node.$ref.replace("#/$defs/", "#/components/schemas/");
    }
    Object.values(node).forEach(walk);
  };
  walk(doc);
  return doc;
}

// The whole document is one schema resource, so `#/components/schemas/...` refs resolve.
const ajv = new Ajv2020({ strict: false, validateFormats: false });
ajv.addSchema(hoistDefs(JSON.parse(JSON.stringify(spec))), "openapi");
const pointer = (...parts: string[]) =>
  "openapi#/" + parts.map((p) => p.replace(/~/g, "~0").replace(/\//g, "~1")).join("/");

function templateOf(method: string, path: string): string {
  const bare = path.split("?")[0];
  for (const [template, ops] of Object.entries(spec.paths as Record<string, Record<string, unknown>>)) {
    const re = new RegExp(`^${template.replace(/\{[^}]+\}/g, "[^/]+").replace(/\./g, "\\.")}$`);
    if (re.test(bare) && ops[method.toLowerCase()]) return template;
  }
  throw new Error(`${method} ${path} is not in the OpenAPI document`);
}

/** Validate a value against the schema at a JSON pointer into the OpenAPI document. */
function check(value: unknown, ...parts: string[]): string[] {
  const ok = ajv.validate({ $ref: pointer(...parts) }, value);
  return ok ? [] : (ajv.errors ?? []).map((e) => `${e.instancePath} ${e.message}`);
}

/** The response schema the document gives for a status, if it gives one. */
function responseParts(method: string, path: string, status: number): string[] | null {
  const template = templateOf(method, path);
  const op = (spec.paths as any)[template][method.toLowerCase()];
  const key = [String(status), `${String(status)[0]}XX`].find((k) => op.responses?.[k]);
  const content = key ? op.responses[key].content : undefined;
  if (!content) return null;
  const type = Object.keys(content).find((t) => t.includes("json"));
  if (!type || !content[type].schema) return null;
  return ["paths", template, method.toLowerCase(), "responses", key!, "content", type, "schema"];
}
const TOKENS: Tokens = { access_token: "a", refresh_token: "r", token_type: "Bearer", expires_in: 900 };

describe.each(Object.keys(CALLS))("recorded call %s", (name) => {
  const r = byName[name] as Interaction;

  it("is in the recording and in the OpenAPI document", () => {
    expect(r).toBeDefined();
    const op = operation(r.request.method, r.request.path);
    expect(op).toBeDefined();
    expect(Boolean(op!.security)).toBe(r.request.auth);
  });

  it("sends what was recorded and returns what the API answered", async () => {
    const { fetch, calls } = scriptedFetch(() => fakeResponse(r.response.status, r.response.body));
    const client = createClient({ baseUrl: BASE, fetchImpl: fetch, tokens: { get: () => TOKENS, set: () => undefined } });
    const outcome = CALLS[name](client, r).then(
      (value) => ({ value }),
      (error) => ({ error }),
    );
    const result = (await outcome) as { value?: unknown; error?: unknown };
    expect(calls).toHaveLength(1);
    const sent = calls[0];
    expect(sent.method).toBe(r.request.method);
    expect(sent.url).toBe(BASE + r.request.path);
    expect(Boolean(sent.headers.Authorization)).toBe(r.request.auth);
    if (r.request.json !== undefined) {
      expect(sent.body).toEqual(r.request.json);
      const template = templateOf(r.request.method, r.request.path);
      const where = ["paths", template, r.request.method.toLowerCase(), "requestBody", "content", "application/json", "schema"];
      expect(check(sent.body, ...where)).toEqual([]);
    }
    if (r.request.form) {
      const recordedKeys = r.request.form.map((k) => k.replace(/^attribute\[(\w+)\]$/, "attribute[$1]"));
      const sentKeys = formKeys(sent.body);
      // An invalid report is recorded without the required attribute and description.
      expect(sentKeys.filter((k) => k !== "description")).toEqual(recordedKeys.filter((k) => k !== "description").sort());
      const schema = operation("POST", r.request.path)!.requestBody.content["multipart/form-data"].schema;
      for (const key of schema.required) expect(sentKeys).toContain(key);
    }
    if (r.response.status >= 400) {
      expect(result.error).toBeInstanceOf(ApiError);
      const err = result.error as ApiError;
      expect(err.status).toBe(r.response.status);
      expect(err.message).toBe((r.response.body as { detail: string }).detail);
    } else if (r.response.body === null) {
      expect(result.value).toBeUndefined();
    } else {
      expect(result.value).toEqual(r.response.body);
    }
  });
});

it("every recorded answer fits the response schema the OpenAPI document gives", () => {
  let checked = 0;
  for (const r of recorded as Interaction[]) {
    const parts = responseParts(r.request.method, r.request.path, r.response.status);
    if (!parts || r.response.body === null) continue;
    expect([r.name, check(r.response.body, ...parts)]).toEqual([r.name, []]);
    checked += 1;
  }
  // The API describes its bodies; all but the 204s are checked.
  expect(checked).toBeGreaterThanOrEqual(12);
});

it("covers every call the app makes in the recording", () => {
  expect(Object.keys(CALLS).sort()).toEqual((recorded as Interaction[]).map((r) => r.name).sort());
});
