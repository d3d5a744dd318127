import { Redirect } from "expo-router";
import { ActivityIndicator } from "react-native";

import { useI18n } from "../src/i18n";
import { useApp } from "../src/state/app";

export default function Index() {
  const { t } = useI18n();
  const { ready, signedIn } = useApp();
  if (!ready) return <ActivityIndicator accessibilityLabel={t("Loading…")} style={{ marginTop: 48 }} />;
  return <Redirect href={signedIn ? "/report" : "/sign-in"} />;
}
