import { Link } from "expo-router";
import { StyleSheet, Text } from "react-native";

import { useI18n } from "../i18n";
import { colors, MIN_TOUCH } from "../theme";
import { Body } from "./ui";

export function SignInPrompt({ why }: { why: string }) {
  const { t } = useI18n();
  return (
    <>
      <Body>{why}</Body>
      <Link href="/sign-in" role="link" style={s.link}>
        <Text style={s.text}>{t("Sign in or create an account")}</Text>
      </Link>
    </>
  );
}

const s = StyleSheet.create({
  link: { minHeight: MIN_TOUCH, justifyContent: "center", display: "flex", alignItems: "flex-start" },
  text: { color: colors.primary, fontSize: 16, textDecorationLine: "underline" },
});
