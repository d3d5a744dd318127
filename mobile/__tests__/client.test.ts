import { ApiError, NetworkError, createClient } from "../src/api/client";
import type { Report, Tokens } from "../src/api/types";
import { pointToLatLong } from "../src/components/LocationPicker";
import { reportUpdates } from "../src/inbox";
import { translate } from "../src/i18n";
import { missingAttributes } from "../src/reportForm";
import recorded from "./contract/recorded.json";
import { fakeResponse, scriptedFetch } from "./helpers";

const OLD: Tokens = { access_token: "old", refresh_token: "r1", token_type: "Bearer", expires_in: 900 };
const NEW: Tokens = { access_token: "new", refresh_token: "r2", token_type: "Bearer", expires_in: 900 };

test("an expired access token is refreshed once and the call repeated", async () => {
  let tokens: Tokens | null = OLD;
  const { fetch, calls } = scriptedFetch((c) => {
    if (c.url.endsWith("/auth/refresh")) return fakeResponse(200, NEW);
    return c.headers.Authorization === "Bearer new"
      ? fakeResponse(200, { id: 1, email: "a@b.cd", display_name: null, locale: "en" })
      : fakeResponse(401, { status: 401, title: "Unauthorized", detail: "token expired" });
  });
  const client = createClient({ baseUrl: "http://x", fetchImpl: fetch, tokens: { get: () => tokens, set: (t) => (tokens = t) } });
  expect((await client.me()).id).toBe(1);
  expect(calls.map((c) => c.url)).toEqual(["http://x/api/v1/me", "http://x/api/v1/auth/refresh", "http://x/api/v1/me"]);
  expect(calls[1].body).toEqual({ refresh_token: "r1" });
  expect(tokens).toEqual(NEW);
});

test("a refused refresh signs out instead of looping", async () => {
  let tokens: Tokens | null = OLD;
  const { fetch, calls } = scriptedFetch(() => fakeResponse(401, { status: 401, title: "Unauthorized", detail: "revoked" }));
  const client = createClient({ baseUrl: "http://x", fetchImpl: fetch, tokens: { get: () => tokens, set: (t) => (tokens = t) } });
  await expect(client.me()).rejects.toEqual(new ApiError(401, "revoked"));
  expect(calls).toHaveLength(2);
  expect(tokens).toBeNull();
});

test("no connection is a NetworkError; Open311 errors carry their description", async () => {
  const down = scriptedFetch(() => {
    throw new TypeError("Network request failed");
  });
  const c1 = createClient({ baseUrl: "http://x", fetchImpl: down.fetch, tokens: { get: () => null, set: () => undefined } });
  await expect(c1.services()).rejects.toBeInstanceOf(NetworkError);
  const open311 = scriptedFetch(() => fakeResponse(404, [{ code: 404, description: "service_code 'x' not found" }]));
  const c2 = createClient({ baseUrl: "http://x", fetchImpl: open311.fetch, tokens: { get: () => null, set: () => undefined } });
  await expect(c2.serviceDefinition("x")).rejects.toEqual(new ApiError(404, "service_code 'x' not found"));
  expect(open311.calls[0].headers.Authorization).toBeUndefined();
});

test("a tap on the city panel maps linearly onto the city's bounds", () => {
  const b = { west: 13.5, south: 52.42, east: 13.56, north: 52.45 };
  expect(pointToLatLong(0, 0, 300, 200, b)).toEqual({ lat: 52.45, long: 13.5 });
  expect(pointToLatLong(150, 100, 300, 200, b)).toEqual({ lat: 52.435, long: 13.53 });
  expect(pointToLatLong(400, -5, 300, 200, b)).toEqual({ lat: 52.45, long: 13.56 }); // clamped
});

test("required Open311 attributes are checked; lists need at least one value", () => {
  const def = recorded.find((r) => r.name === "service_definition")!.response.body as unknown as { attributes: never[] };
  expect(missingAttributes(def.attributes, {}).map((a: { code: string }) => a.code)).toEqual(["size"]);
  expect(missingAttributes(def.attributes, { size: "small" })).toEqual([]);
});

test("the inbox lists status changes newest first and skips the filing itself", () => {
  const base = (recorded.find((r) => r.name === "my_reports")!.response.body as Report[])[0];
  const report: Report = {
    ...base,
    history: [
      { status: "open", note: "", changed_at: "2026-11-01T10:00:00+00:00" },
      { status: "acknowledged", note: "", changed_at: "2026-11-02T10:00:00+00:00" },
      { status: "in_progress", note: "Crew booked", changed_at: "2026-11-03T10:00:00+00:00" },
    ],
  };
  const t = (m: string, v?: Record<string, string | number>) => translate("en", m, v);
  expect(reportUpdates([report], t).map((e) => e.text)).toEqual([
    `Report ${report.id} (Pothole): Being fixed — Crew booked`,
    `Report ${report.id} (Pothole): Seen by the city`,
  ]);
});
