/**
 * Push: the device's native token goes to POST /api/v1/devices with its platform and locale.
 * The server sends through firebase-admin (FCM), so it needs FCM registration tokens:
 * Android's native token is one; iOS's native token is an APNs token, which FCM cannot
 * address. iOS therefore needs React Native Firebase messaging in a development build
 * (see mobile/README.md); this build does not register iOS or web devices.
 */
import AsyncStorage from "@react-native-async-storage/async-storage";
import * as Device from "expo-device";
import * as Notifications from "expo-notifications";
import { createContext, useCallback, useContext, useEffect, useState } from "react";
import type { ReactNode } from "react";
import { Platform } from "react-native";

import { useI18n } from "../i18n";
import { useApp } from "./app";

const INBOX_KEY = "smartcity.inbox";

export type PushStatus = "off" | "registered" | "denied" | "unsupported" | "error";
export type InboxItem = { id: string; title: string; body: string; received_at: string };

type Push = {
  status: PushStatus;
  inbox: InboxItem[];
  enable: () => Promise<PushStatus>;
};

const PushContext = createContext<Push>({
  status: "unsupported",
  inbox: [],
  enable: async () => "unsupported",
});

/** Whether this platform can give the server a token it can send to (an FCM token). */
export function pushSupported(os: string = Platform.OS, isDevice: boolean = Device.isDevice): boolean {
  return os === "android" && isDevice;
}

export function PushProvider({ children }: { children: ReactNode }) {
  const { client, signedIn } = useApp();
  const { locale } = useI18n();
  const [status, setStatus] = useState<PushStatus>(pushSupported() ? "off" : "unsupported");
  const [inbox, setInbox] = useState<InboxItem[]>([]);

  useEffect(() => {
    AsyncStorage.getItem(INBOX_KEY).then((raw) => raw && setInbox(JSON.parse(raw)));
    if (!pushSupported()) return undefined;
    const sub = Notifications.addNotificationReceivedListener((n) => {
      const item: InboxItem = {
        id: n.request.identifier,
        title: n.request.content.title ?? "",
        body: n.request.content.body ?? "",
        received_at: new Date(n.date).toISOString(),
      };
      setInbox((prev) => {
        const next = [item, ...prev].slice(0, 50);
        AsyncStorage.setItem(INBOX_KEY, JSON.stringify(next));
        return next;
      });
    });
    return () => sub.remove();
  }, []);

  const enable = useCallback(async (): Promise<PushStatus> => {
    if (!pushSupported()) return "unsupported";
    try {
      const { granted } = await Notifications.requestPermissionsAsync();
      if (!granted) {
        setStatus("denied");
        return "denied";
      }
      await Notifications.setNotificationChannelAsync("default", {
        name: "default",
        importance: Notifications.AndroidImportance.DEFAULT,
      });
      const token = await Notifications.getDevicePushTokenAsync();
      await client.registerDevice({ token: String(token.data), platform: "android", locale });
      setStatus("registered");
      return "registered";
    } catch {
      setStatus("error");
      return "error";
    }
  }, [client, locale]);

  useEffect(() => {
    // Re-register when the language changes, so pushes arrive in the new language.
    if (signedIn && status === "registered") enable();
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [locale, signedIn]);

  return <PushContext.Provider value={{ status, inbox, enable }}>{children}</PushContext.Provider>;
}

export function usePush(): Push {
  return useContext(PushContext);
}
