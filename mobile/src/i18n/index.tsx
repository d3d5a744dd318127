/**
 * Strings come from the server's Babel catalogues (i18n/<locale>/LC_MESSAGES/messages.po),
 * exported to ./locales/*.json by `i18n/export_json.py`. Msgids are the English text; mark
 * every string as a call of t() with one string literal, so Babel's extractor (i18n/babel.cfg) finds it.
 * Placeholders use Python's `%(name)s` form, the same as the console's.
 */
import AsyncStorage from "@react-native-async-storage/async-storage";
import { getLocales } from "expo-localization";
import { createContext, useCallback, useContext, useEffect, useMemo, useState } from "react";
import type { ReactNode } from "react";
import { I18nManager, Platform } from "react-native";

import ar from "./locales/ar.json";
import de from "./locales/de.json";
import en from "./locales/en.json";

export type Locale = "en" | "de" | "ar";
export const LOCALES: { code: Locale; name: string }[] = [
  // Endonyms: a language is always named in itself, so none of these is translated.
  { code: "en", name: "English" },
  { code: "de", name: "Deutsch" },
  { code: "ar", name: "العربية" },
];
const CATALOGUES: Record<Locale, Record<string, string>> = { en, de, ar };
const RTL = new Set<Locale>(["ar"]);
const STORAGE_KEY = "smartcity.locale";

export type Vars = Record<string, string | number>;

export function translate(locale: Locale, msgid: string, vars?: Vars): string {
  const text = CATALOGUES[locale][msgid] || msgid;
  if (!vars) return text;
  return text.replace(/%\((\w+)\)[sd]/g, (_m, key: string) =>
    key in vars ? String(vars[key]) : `%(${key})s`,
  );
}

export function isLocale(value: unknown): value is Locale {
  return value === "en" || value === "de" || value === "ar";
}

export function deviceLocale(): Locale {
  for (const l of getLocales()) {
    if (isLocale(l.languageCode)) return l.languageCode;
  }
  return "en";
}

type I18n = {
  locale: Locale;
  rtl: boolean;
  t: (msgid: string, vars?: Vars) => string;
  setLocale: (locale: Locale) => void;
};

const I18nContext = createContext<I18n>({
  locale: "en",
  rtl: false,
  t: (msgid, vars) => translate("en", msgid, vars),
  setLocale: () => undefined,
});

function applyDirection(locale: Locale): void {
  const rtl = RTL.has(locale);
  if (Platform.OS === "web" && typeof document !== "undefined") {
    document.documentElement.lang = locale;
    document.documentElement.dir = rtl ? "rtl" : "ltr";
  } else if (I18nManager.isRTL !== rtl) {
    // Native layout direction changes take effect after the app restarts.
    I18nManager.allowRTL(rtl);
    I18nManager.forceRTL(rtl);
  }
}

export function I18nProvider({ children, initial }: { children: ReactNode; initial?: Locale }) {
  const [locale, setState] = useState<Locale>(initial ?? deviceLocale());
  useEffect(() => {
    if (initial) return;
    AsyncStorage.getItem(STORAGE_KEY).then((saved) => {
      if (isLocale(saved)) setState(saved);
    });
  }, [initial]);
  useEffect(() => applyDirection(locale), [locale]);
  const setLocale = useCallback((next: Locale) => {
    setState(next);
    AsyncStorage.setItem(STORAGE_KEY, next);
  }, []);
  const value = useMemo<I18n>(
    () => ({
      locale,
      rtl: RTL.has(locale),
      t: (msgid, vars) => translate(locale, msgid, vars),
      setLocale,
    }),
    [locale, setLocale],
  );
  return <I18nContext.Provider value={value}>{children}</I18nContext.Provider>;
}

export function useI18n(): I18n {
  return useContext(I18nContext);
}
