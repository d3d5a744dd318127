import { Link, Slot, usePathname } from "expo-router";
import { StatusBar } from "expo-status-bar";
import { StyleSheet, Text, View } from "react-native";
import { SafeAreaProvider, SafeAreaView } from "react-native-safe-area-context";

import { I18nProvider, useI18n } from "../src/i18n";
import { AppProvider, useApp } from "../src/state/app";
import { PushProvider } from "../src/state/push";
import { colors, MIN_TOUCH, space } from "../src/theme";

function NavLink({ href, label }: { href: string; label: string }) {
  const path = usePathname();
  const current = path === href || path.startsWith(`${href}/`);
  return (
    <Link
      href={href}
      role="link"
      aria-current={current ? "page" : undefined}
      style={[nav.link, current && nav.current]}
    >
      <Text style={[nav.linkText, current && nav.currentText]}>{label}</Text>
    </Link>
  );
}

function Shell() {
  const { t } = useI18n();
  const { signedIn, queue } = useApp();
  return (
    <SafeAreaView style={nav.root} edges={["top", "left", "right"]}>
      <StatusBar style="light" />
      <View role="banner" style={nav.header}>
        <Text style={nav.brand}>{t("City reports")}</Text>
        {queue.length > 0 ? (
          <Text style={nav.badge}>{t("Reports waiting to send: %(n)s", { n: queue.length })}</Text>
        ) : null}
      </View>
      <View role="navigation" accessibilityLabel={t("Main")} style={nav.bar}>
        <NavLink href="/report" label={t("Report an issue")} />
        <NavLink href="/reports" label={t("My reports")} />
        <NavLink href="/notifications" label={t("Notifications")} />
        <NavLink href="/permits" label={t("Permits")} />
        <NavLink href="/open-data" label={t("Open data")} />
        <NavLink href="/settings" label={t("Settings")} />
        {signedIn ? null : <NavLink href="/sign-in" label={t("Sign in")} />}
      </View>
      <View role="main" style={nav.main}>
        <Slot />
      </View>
    </SafeAreaView>
  );
}

export default function RootLayout() {
  return (
    <SafeAreaProvider>
      <I18nProvider>
        <AppProvider>
          <PushProvider>
            <Shell />
          </PushProvider>
        </AppProvider>
      </I18nProvider>
    </SafeAreaProvider>
  );
}

const nav = StyleSheet.create({
  root: { flex: 1, backgroundColor: colors.primary },
  header: {
    paddingHorizontal: space.l,
    paddingTop: space.s,
    flexDirection: "row",
    flexWrap: "wrap",
    alignItems: "center",
    justifyContent: "space-between",
    gap: space.s,
  },
  brand: { color: "#fff", fontSize: 20, fontWeight: "700" },
  badge: { color: "#fff", fontSize: 14 },
  bar: {
    flexDirection: "row",
    flexWrap: "wrap",
    columnGap: 2,
    rowGap: space.xs,
    paddingHorizontal: space.xs,
    paddingBottom: space.s,
  },
  link: {
    minHeight: MIN_TOUCH,
    paddingHorizontal: space.s + 2,
    justifyContent: "center",
    borderRadius: 6,
    display: "flex",
    alignItems: "center",
  },
  current: { backgroundColor: "#fff" },
  linkText: { color: "#fff", fontSize: 15, fontWeight: "600" },
  currentText: { color: colors.primary },
  main: { flex: 1, backgroundColor: colors.surface },
});
