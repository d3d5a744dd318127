import AsyncStorage from "@react-native-async-storage/async-storage";
import { Slot } from "expo-router";
import { fireEvent, renderRouter, screen, waitFor } from "expo-router/testing-library";
import { StyleSheet } from "react-native";

import MyReports from "../app/reports";
import Report from "../app/report";
import Settings from "../app/settings";
import SignIn from "../app/sign-in";
import { createClient } from "../src/api/client";
import { I18nProvider } from "../src/i18n";
import { AppProvider } from "../src/state/app";
import { flushQueue } from "../src/state/queue";
import recorded from "./contract/recorded.json";
import { fakeResponse, scriptedFetch, type Call } from "./helpers";

const BASE = "http://api.test";
const answer = (name: string) => {
  const r = (recorded as { name: string; response: { status: number; body: unknown } }[]).find((x) => x.name === name)!;
  return fakeResponse(r.response.status, r.response.body);
};

/** The recorded API: answers each route as the real one did. */
function api(call: Call): Response {
  const path = call.url.slice(BASE.length).split("?")[0];
  if (call.method === "POST" && path === "/api/v1/auth/register") return answer("register");
  if (call.method === "POST" && path === "/api/v1/reports") return answer("create_report");
  if (path === "/open311/v2/services.json") return answer("services");
  if (path.startsWith("/open311/v2/services/")) return answer("service_definition");
  if (path === "/api/v1/reports/duplicates") return fakeResponse(200, []);
  if (path === "/api/v1/reports") return answer("my_reports");
  if (path === "/api/v1/me") return answer("me");
  return fakeResponse(404, { detail: `no fake for ${call.method} ${path}` });
}

function renderApp(url: string, fetchImpl: typeof fetch) {
  const Layout = () => (
    <I18nProvider initial="en">
      <AppProvider apiUrl={BASE} fetchImpl={fetchImpl}>
        <Slot />
      </AppProvider>
    </I18nProvider>
  );
  return renderRouter(
    { _layout: Layout, "sign-in": SignIn, report: Report, reports: MyReports, settings: Settings },
    { initialUrl: url },
  );
}

async function signedIn() {
  await AsyncStorage.setItem(
    "smartcity.tokens",
    JSON.stringify({ access_token: "a", refresh_token: "r", token_type: "Bearer", expires_in: 900 }),
  );
}

beforeEach(async () => {
  await AsyncStorage.clear();
});

test("register creates the account with the app's language and opens the report form", async () => {
  const { fetch, calls } = scriptedFetch(api);
  const app = renderApp("/sign-in", fetch);
  expect(screen.getByRole("heading", { name: "Create an account" })).toBeTruthy();
  fireEvent.changeText(screen.getByLabelText("E-mail"), "ada@example.org");
  fireEvent.changeText(screen.getByLabelText("Password"), "short");
  fireEvent.press(screen.getByRole("button", { name: "Create account" }));
  expect(await screen.findByText("The password needs at least 10 characters.")).toBeTruthy();
  expect(calls).toHaveLength(0);

  fireEvent.changeText(screen.getByLabelText("Password"), "correct horse battery");
  fireEvent.press(screen.getByRole("button", { name: "Create account" }));
  await waitFor(() => expect(app.getPathname()).toBe("/report"));
  const reg = calls.find((c) => c.url.endsWith("/api/v1/auth/register"))!;
  expect(reg.body).toEqual({ email: "ada@example.org", password: "correct horse battery", display_name: null, locale: "en" });
  expect(JSON.parse((await AsyncStorage.getItem("smartcity.tokens"))!).token_type).toBe("Bearer");
});

test("a report needs its required answers and a place, then is sent with its photo fields", async () => {
  await signedIn();
  const { fetch, calls } = scriptedFetch(api);
  renderApp("/report", fetch);
  fireEvent.press(await screen.findByRole("radio", { name: /^Pothole\./ }));
  expect(await screen.findByText("How big is it? (required)")).toBeTruthy();
  fireEvent.press(screen.getByRole("button", { name: "Send report" }));
  expect(await screen.findByText("Please answer: How big is it?")).toBeTruthy();

  fireEvent.press(screen.getByRole("radio", { name: "Larger than a car tyre" }));
  fireEvent.press(screen.getByRole("button", { name: "Send report" }));
  expect(await screen.findByText(/Say where the problem is/)).toBeTruthy();

  fireEvent.changeText(screen.getByLabelText("Address or description of the place"), "Rudower Chaussee 25");
  fireEvent.press(screen.getByRole("button", { name: "Send report" }));
  const id = (recorded.find((r) => r.name === "create_report")!.response.body as { id: number }).id;
  expect(await screen.findByText(`Thank you. Your report number is ${id}.`)).toBeTruthy();
  const post = calls.find((c) => c.method === "POST" && c.url.endsWith("/api/v1/reports"))!;
  const form = post.body as FormData;
  expect(form.get("service_code")).toBe("pothole");
  expect(form.get("attribute[size]")).toBe("large");
  expect(form.get("address_string")).toBe("Rudower Chaussee 25");
  expect(form.get("lat")).toBeNull(); // no point given: the address alone places it
});

test("without a connection the report is queued, and sent once the connection is back", async () => {
  await signedIn();
  let online = false;
  const { fetch, calls } = scriptedFetch((call) => {
    if (!online && call.method === "POST") throw new TypeError("Network request failed");
    return api(call);
  });
  renderApp("/report", fetch);
  fireEvent.press(await screen.findByRole("radio", { name: /^Graffiti\./ }));
  // The recorded API answers every service definition with the pothole's.
  fireEvent.press(await screen.findByRole("radio", { name: "Smaller than a dinner plate" }));
  fireEvent.changeText(screen.getByLabelText("Address or description of the place"), "Bridge");
  fireEvent.press(screen.getByRole("button", { name: "Send report" }));
  expect(await screen.findByText(/You are offline. Your report is saved/)).toBeTruthy();
  const queue = JSON.parse((await AsyncStorage.getItem("smartcity.queue"))!);
  expect(queue).toHaveLength(1);
  expect(queue[0].draft.address_string).toBe("Bridge");

  online = true;
  const client = createClient({ baseUrl: BASE, fetchImpl: fetch, tokens: { get: () => null, set: () => undefined } });
  const { sent, left } = await flushQueue(client);
  expect([sent.length, left.length]).toEqual([1, 0]);
});

test("every control on the report form has a role, a name and a 44 px target", async () => {
  await signedIn();
  const { fetch } = scriptedFetch(api);
  renderApp("/report", fetch);
  fireEvent.press(await screen.findByRole("radio", { name: /^Pothole\./ }));
  await screen.findByRole("radio", { name: "Larger than a car tyre" });
  const controls = [...screen.getAllByRole("button"), ...screen.getAllByRole("radio")];
  expect(controls.length).toBeGreaterThan(10);
  for (const c of controls) {
    expect(c.props.accessibilityLabel).toBeTruthy();
    const style = StyleSheet.flatten(typeof c.props.style === "function" ? c.props.style({ pressed: false }) : c.props.style);
    expect(style.minHeight ?? style.height).toBeGreaterThanOrEqual(44);
  }
  expect(screen.getByRole("heading", { name: "Report an issue" })).toBeTruthy();
});

test("My reports shows each report's status and history", async () => {
  await signedIn();
  const { fetch } = scriptedFetch(api);
  renderApp("/reports", fetch);
  const mine = recorded.find((r) => r.name === "my_reports")!.response.body as { id: number }[];
  expect(await screen.findByRole("heading", { name: `Report ${mine[0].id}: Pothole` })).toBeTruthy();
  expect(screen.getAllByText(/Received/).length).toBeGreaterThan(0);
  expect(screen.getByRole("img", { name: "Photo 1 of the problem" })).toBeTruthy();
});

test("choosing Arabic translates the screen", async () => {
  const { fetch } = scriptedFetch(api);
  renderApp("/settings", fetch);
  expect(screen.getByRole("heading", { name: "Settings" })).toBeTruthy();
  fireEvent.press(screen.getByRole("radio", { name: "العربية" }));
  expect(await screen.findByRole("heading", { name: "الإعدادات" })).toBeTruthy();
  expect(await AsyncStorage.getItem("smartcity.locale")).toBe("ar");
});
