import { useRouter } from "expo-router";
import { useState } from "react";
import { View } from "react-native";

import { ApiError } from "../src/api/client";
import { Body, Button, Choice, Field, Notice, Screen, styles } from "../src/components/ui";
import { useI18n } from "../src/i18n";
import { useApp } from "../src/state/app";

export default function SignIn() {
  const { t, locale } = useI18n();
  const { client, signIn } = useApp();
  const router = useRouter();
  const [mode, setMode] = useState<"login" | "register">("register");
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const [name, setName] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  async function submit() {
    setError(null);
    if (!email.includes("@")) return setError(t("Enter your e-mail address."));
    if (mode === "register" && password.length < 10)
      return setError(t("The password needs at least 10 characters."));
    setBusy(true);
    try {
      const tokens =
        mode === "register"
          ? await client.register({ email, password, display_name: name || null, locale })
          : await client.login({ email, password });
      await signIn(tokens);
      router.replace("/report");
    } catch (err) {
      if (err instanceof ApiError && err.status === 409)
        setError(t("An account with this e-mail already exists. Sign in instead."));
      else if (err instanceof ApiError && err.status === 401)
        setError(t("Wrong e-mail or password."));
      else if (err instanceof ApiError) setError(err.message);
      else setError(t("No connection to the city. Try again later."));
    } finally {
      setBusy(false);
    }
  }

  return (
    <Screen title={mode === "register" ? t("Create an account") : t("Sign in")}>
      <Body>{t("You need an account to report issues and follow what happens to them.")}</Body>
      <Choice
        label={t("I want to")}
        options={[
          { value: "register", label: t("Create an account") },
          { value: "login", label: t("Sign in with my account") },
        ]}
        value={mode}
        onChange={(v) => setMode(v as "login" | "register")}
      />
      <Field
        label={t("E-mail")}
        value={email}
        onChangeText={setEmail}
        autoCapitalize="none"
        autoComplete="email"
        keyboardType="email-address"
        inputMode="email"
        testID="signin-email"
      />
      <Field
        label={t("Password")}
        hint={mode === "register" ? t("At least 10 characters.") : undefined}
        value={password}
        onChangeText={setPassword}
        secureTextEntry
        autoComplete={mode === "register" ? "new-password" : "current-password"}
        testID="signin-password"
      />
      {mode === "register" ? (
        <Field
          label={t("Your name (optional)")}
          value={name}
          onChangeText={setName}
          autoComplete="name"
          testID="signin-name"
        />
      ) : null}
      {error ? <Notice tone="error">{error}</Notice> : null}
      <View style={styles.row}>
        <Button
          label={mode === "register" ? t("Create account") : t("Sign in")}
          onPress={submit}
          busy={busy}
          testID="signin-submit"
        />
      </View>
    </Screen>
  );
}
