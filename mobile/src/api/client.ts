/**
 * A thin typed fetch wrapper over the citizen API. Errors on /api/v1 are
 * application/problem+json, on /open311 a list of {code, description}; both become ApiError.
 */
import type {
  Device,
  DeviceBody,
  Duplicate,
  LoginBody,
  Me,
  MeUpdateBody,
  RegisterBody,
  Registered,
  Report,
  ReportDraft,
  Service,
  ServiceDefinition,
  Subscription,
  SubscriptionBody,
  Tokens,
} from "./types";

export class ApiError extends Error {
  constructor(
    public status: number,
    message: string,
    public errors: { loc?: string; msg?: string }[] = [],
  ) {
    super(message);
    this.name = "ApiError";
  }
}

/** The request never reached the server (offline, DNS, refused): worth queueing. */
export class NetworkError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "NetworkError";
  }
}

export type TokenStore = {
  get: () => Tokens | null;
  set: (tokens: Tokens | null) => void;
};

type Options = {
  method?: "GET" | "POST" | "PUT" | "PATCH" | "DELETE";
  json?: unknown;
  form?: FormData;
  query?: Record<string, string | number>;
  auth?: boolean;
};

export type ClientConfig = {
  baseUrl: string;
  tokens: TokenStore;
  fetchImpl?: typeof fetch;
  locale?: () => string;
};

async function problem(resp: Response): Promise<ApiError> {
  let message = `HTTP ${resp.status}`;
  let errors: { loc?: string; msg?: string }[] = [];
  try {
    const body = await resp.json();
    if (Array.isArray(body) && body[0]?.description) message = body[0].description;
    else if (body && typeof body === "object") {
      message = body.detail || body.title || message;
      if (Array.isArray(body.errors)) errors = body.errors;
    }
  } catch {
    // A body that is not JSON keeps the status line as the message.
  }
  return new ApiError(resp.status, message, errors);
}

export function createClient(config: ClientConfig) {
  const doFetch = config.fetchImpl ?? ((input, init) => fetch(input, init));
  const base = config.baseUrl.replace(/\/+$/, "");

  async function send(path: string, opts: Options, retry: boolean): Promise<Response> {
    const headers: Record<string, string> = { Accept: "application/json" };
    if (config.locale) headers["Accept-Language"] = config.locale();
    let body: string | FormData | undefined;
    if (opts.json !== undefined) {
      headers["Content-Type"] = "application/json";
      body = JSON.stringify(opts.json);
    } else if (opts.form) {
      body = opts.form; // fetch sets the multipart boundary itself
    }
    const tokens = config.tokens.get();
    if (opts.auth !== false && tokens) headers.Authorization = `Bearer ${tokens.access_token}`;
    let url = base + path;
    if (opts.query) {
      const q = Object.entries(opts.query).map(
        ([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(String(v))}`,
      );
      url += `?${q.join("&")}`;
    }
    let resp: Response;
    try {
      resp = await doFetch(url, { method: opts.method ?? "GET", headers, body });
    } catch (err) {
      throw new NetworkError(err instanceof Error ? err.message : String(err));
    }
    if (resp.status === 401 && retry && opts.auth !== false && tokens?.refresh_token) {
      if (await refresh(tokens.refresh_token)) return send(path, opts, false);
    }
    if (!resp.ok) throw await problem(resp);
    return resp;
  }

  async function refresh(refreshToken: string): Promise<boolean> {
    try {
      const resp = await doFetch(`${base}/api/v1/auth/refresh`, {
        method: "POST",
        headers: { "Content-Type": "application/json", Accept: "application/json" },
        body: JSON.stringify({ refresh_token: refreshToken }),
      });
      if (!resp.ok) {
        config.tokens.set(null);
        return false;
      }
      config.tokens.set((await resp.json()) as Tokens);
      return true;
    } catch {
      return false;
    }
  }

  async function json<T>(path: string, opts: Options = {}): Promise<T> {
    const resp = await send(path, opts, true);
    return (await resp.json()) as T;
  }

  async function none(path: string, opts: Options): Promise<void> {
    await send(path, opts, true);
  }

  return {
    baseUrl: base,
    services: () => json<Service[]>("/open311/v2/services.json", { auth: false }),
    serviceDefinition: (code: string) =>
      json<ServiceDefinition>(`/open311/v2/services/${encodeURIComponent(code)}.json`, {
        auth: false,
      }),
    register: (body: RegisterBody) =>
      json<Registered>("/api/v1/auth/register", {
        method: "POST",
        json: body,
        auth: false,
      }),
    login: (body: LoginBody) =>
      json<Tokens>("/api/v1/auth/login", { method: "POST", json: body, auth: false }),
    logout: (refreshToken: string) =>
      none("/api/v1/auth/logout", { method: "POST", json: { refresh_token: refreshToken } }),
    me: () => json<Me>("/api/v1/me"),
    updateMe: (body: MeUpdateBody) => json<Me>("/api/v1/me", { method: "PATCH", json: body }),
    myReports: () => json<Report[]>("/api/v1/reports"),
    report: (id: number) => json<Report>(`/api/v1/reports/${id}`),
    createReport: (draft: ReportDraft) =>
      json<Report>("/api/v1/reports", { method: "POST", form: reportForm(draft) }),
    duplicates: (q: { service_code: string; lat: number; long: number }) =>
      json<Duplicate[]>("/api/v1/reports/duplicates", { query: q }),
    follow: (id: number) => none(`/api/v1/reports/${id}/follow`, { method: "PUT" }),
    unfollow: (id: number) => none(`/api/v1/reports/${id}/follow`, { method: "DELETE" }),
    registerDevice: (body: DeviceBody) =>
      json<Device>("/api/v1/devices", { method: "POST", json: body }),
    devices: () => json<Device[]>("/api/v1/devices"),
    subscriptions: () => json<Subscription[]>("/api/v1/subscriptions"),
    subscribe: (body: SubscriptionBody) =>
      json<Subscription>("/api/v1/subscriptions", { method: "POST", json: body }),
    unsubscribe: (id: number) => none(`/api/v1/subscriptions/${id}`, { method: "DELETE" }),
    mediaUrl: (path: string) => (path.startsWith("http") ? path : base + path),
  };
}

export type ApiClient = ReturnType<typeof createClient>;

/** The multipart body of POST /api/v1/reports (the same fields as Open311's POST requests). */
export function reportForm(draft: ReportDraft): FormData {
  const form = new FormData();
  form.append("service_code", draft.service_code);
  form.append("description", draft.description);
  if (draft.lat !== undefined && draft.long !== undefined) {
    form.append("lat", String(draft.lat));
    form.append("long", String(draft.long));
  }
  if (draft.address_string) form.append("address_string", draft.address_string);
  for (const [code, value] of Object.entries(draft.attributes)) {
    if (Array.isArray(value)) {
      for (const v of value) form.append(`attribute[${code}][]`, v);
    } else if (value !== "") {
      form.append(`attribute[${code}]`, value);
    }
  }
  for (const photo of draft.photos) {
    if (photo.file) form.append("photos", photo.file, photo.name);
    // React Native's FormData takes a {uri, name, type} object for a file on disk.
    else form.append("photos", { uri: photo.uri, name: photo.name, type: photo.type } as never);
  }
  return form;
}
