/** The signed-in session, the API client and the offline queue, shared by every screen. */
import AsyncStorage from "@react-native-async-storage/async-storage";
import NetInfo from "@react-native-community/netinfo";
import { createContext, useCallback, useContext, useEffect, useMemo, useRef, useState } from "react";
import type { ReactNode } from "react";

import { createClient, type ApiClient } from "../api/client";
import type { Me, Report, ReportDraft, Tokens } from "../api/types";
import { resolveApiUrl } from "../config";
import { useI18n } from "../i18n";
import { enqueue, flushQueue, loadQueue, removeQueued, type Queued } from "./queue";

const TOKENS_KEY = "smartcity.tokens";

type AppState = {
  ready: boolean;
  client: ApiClient;
  signedIn: boolean;
  me: Me | null;
  queue: Queued[];
  signIn: (tokens: Tokens) => Promise<void>;
  signOut: () => Promise<void>;
  /** File a report, or queue it when there is no connection; says which happened. */
  submit: (draft: ReportDraft) => Promise<{ report?: Report; queued?: Queued }>;
  flush: () => Promise<number>;
  discard: (id: string) => Promise<void>;
};

const AppContext = createContext<AppState | null>(null);

export function AppProvider({
  children,
  apiUrl,
  fetchImpl,
}: {
  children: ReactNode;
  apiUrl?: string;
  fetchImpl?: typeof fetch;
}) {
  const { locale } = useI18n();
  const tokens = useRef<Tokens | null>(null);
  const localeRef = useRef(locale);
  localeRef.current = locale;
  const [base, setBase] = useState<string | null>(apiUrl ?? null);
  const [signedIn, setSignedIn] = useState(false);
  const [loaded, setLoaded] = useState(false);
  const [me, setMe] = useState<Me | null>(null);
  const [queue, setQueue] = useState<Queued[]>([]);

  const client = useMemo(
    () =>
      createClient({
        baseUrl: base ?? "",
        fetchImpl,
        locale: () => localeRef.current,
        tokens: {
          get: () => tokens.current,
          set: (next) => {
            tokens.current = next;
            setSignedIn(next !== null);
            if (next) AsyncStorage.setItem(TOKENS_KEY, JSON.stringify(next));
            else AsyncStorage.removeItem(TOKENS_KEY);
          },
        },
      }),
    [base, fetchImpl],
  );

  useEffect(() => {
    (async () => {
      if (!apiUrl) setBase(await resolveApiUrl());
      const raw = await AsyncStorage.getItem(TOKENS_KEY);
      if (raw) {
        tokens.current = JSON.parse(raw) as Tokens;
        setSignedIn(true);
      }
      setQueue(await loadQueue());
      setLoaded(true);
    })();
  }, [apiUrl]);

  const ready = loaded && base !== null;

  useEffect(() => {
    if (!ready || !signedIn) return;
    client.me().then(setMe, () => setMe(null));
  }, [ready, signedIn, client]);

  const flush = useCallback(async () => {
    if (!tokens.current) return 0;
    const { sent, left } = await flushQueue(client);
    setQueue(left);
    return sent.length;
  }, [client]);

  useEffect(() => {
    if (!ready || !signedIn) return undefined;
    flush();
    // Send what waits as soon as the connection returns.
    return NetInfo.addEventListener((state) => {
      if (state.isConnected) flush();
    });
  }, [ready, signedIn, flush]);

  const signIn = useCallback(
    async (next: Tokens) => {
      tokens.current = next;
      await AsyncStorage.setItem(TOKENS_KEY, JSON.stringify(next));
      setSignedIn(true);
    },
    [],
  );

  const signOut = useCallback(async () => {
    const current = tokens.current;
    if (current) await client.logout(current.refresh_token).catch(() => undefined);
    tokens.current = null;
    await AsyncStorage.removeItem(TOKENS_KEY);
    setSignedIn(false);
  }, [client]);

  const submit = useCallback(
    async (draft: ReportDraft) => {
      const net = await NetInfo.fetch();
      if (net.isConnected !== false) {
        try {
          return { report: await client.createReport(draft) };
        } catch (err) {
          if (!(err instanceof Error && err.name === "NetworkError")) throw err;
        }
      }
      const queued = await enqueue(draft);
      setQueue(await loadQueue());
      return { queued };
    },
    [client],
  );

  const discard = useCallback(async (id: string) => {
    await removeQueued(id);
    setQueue(await loadQueue());
  }, []);

  const value: AppState = {
    ready,
    client,
    signedIn,
    me: signedIn ? me : null,
    queue,
    signIn,
    signOut,
    submit,
    flush,
    discard,
  };
  return <AppContext.Provider value={value}>{children}</AppContext.Provider>;
}

export function useApp(): AppState {
  const value = useContext(AppContext);
  if (!value) throw new Error("useApp() outside <AppProvider>");
  return value;
}
