/** A fetch stand-in that answers from a script and records what was asked. */
export type Call = { url: string; method: string; headers: Record<string, string>; body: unknown };

export function fakeResponse(status: number, body: unknown): Response {
  return {
    ok: status >= 200 && status < 300,
    status,
    json: async () => {
      if (body === null || body === undefined) throw new SyntaxError("no body");
      return body;
    },
  } as unknown as Response;
}

export function scriptedFetch(answer: (call: Call) => Response | Promise<Response>) {
  const calls: Call[] = [];
  const impl = jest.fn(async (url: RequestInfo | URL, init?: RequestInit) => {
    const call: Call = {
      url: String(url),
      method: init?.method ?? "GET",
      headers: (init?.headers ?? {}) as Record<string, string>,
      body: typeof init?.body === "string" ? JSON.parse(init.body) : init?.body,
    };
    calls.push(call);
    return answer(call);
  });
  return { fetch: impl as unknown as typeof fetch, calls };
}
