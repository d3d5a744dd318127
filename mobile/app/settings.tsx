import { useRouter } from "expo-router";
import { View } from "react-native";

import { SignInPrompt } from "../src/components/SignInPrompt";
import { Body, Button, Choice, Heading, Screen, styles } from "../src/components/ui";
import { LOCALES, useI18n, type Locale } from "../src/i18n";
import { useApp } from "../src/state/app";

export default function Settings() {
  const { t, locale, setLocale } = useI18n();
  const { me, signedIn, signOut, client } = useApp();
  const router = useRouter();

  function choose(next: Locale) {
    setLocale(next);
    // The server renders push texts in the account's language.
    if (signedIn) client.updateMe({ locale: next }).catch(() => undefined);
  }

  return (
    <Screen title={t("Settings")}>
      <Choice
        label={t("Language")}
        options={LOCALES.map((l) => ({ value: l.code, label: l.name }))}
        value={locale}
        onChange={(v) => choose(v as Locale)}
        testID="settings-language"
      />
      <Heading>{t("Account")}</Heading>
      {signedIn ? (
        <>
          <Body>{me ? t("Signed in as %(email)s", { email: me.email }) : t("Signed in")}</Body>
          <View style={styles.row}>
            <Button
              kind="secondary"
              label={t("Sign out")}
              onPress={async () => {
                await signOut();
                router.replace("/sign-in");
              }}
            />
          </View>
        </>
      ) : (
        <SignInPrompt why={t("You are not signed in.")} />
      )}
      <Heading>{t("Privacy")}</Heading>
      <Body>{t("Photos lose their location data before the city stores them. Nobody else sees your e-mail.")}</Body>
      <Body muted>{t("Coming soon: download all your data, and delete your account.")}</Body>
    </Screen>
  );
}
