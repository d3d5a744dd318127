import Constants from "expo-constants";
import { Platform } from "react-native";

export type Bounds = { west: number; south: number; east: number; north: number };

type Extra = { apiUrl?: string; cityBounds?: Bounds };
const extra = (Constants.expoConfig?.extra ?? {}) as Extra;

// The demo city (Berlin-Adlershof); a deployment sets its own in app.json's "extra".
export const CITY_BOUNDS: Bounds = extra.cityBounds ?? {
  west: 13.5,
  south: 52.42,
  east: 13.56,
  north: 52.45,
};

/**
 * Where the citizen API is. A web build reads `app-config.json` next to index.html, so one
 * build serves any deployment; otherwise EXPO_PUBLIC_API_URL at build time, then app.json.
 */
export async function resolveApiUrl(): Promise<string> {
  if (Platform.OS === "web" && typeof window !== "undefined") {
    try {
      const resp = await fetch("/app-config.json", { cache: "no-store" });
      if (resp.ok) {
        const config = (await resp.json()) as { apiUrl?: string };
        if (config.apiUrl) return config.apiUrl;
      }
    } catch {
      // No app-config.json: fall through to the build-time settings.
    }
  }
  return process.env.EXPO_PUBLIC_API_URL || extra.apiUrl || "http://127.0.0.1:8081";
}
