/**
 * Accessible building blocks: every control has a role and a name, targets are ≥ 44 px, and
 * text uses the system size (no maxFontSizeMultiplier), so large-text settings apply.
 */
import type { ReactNode } from "react";
import {
  ActivityIndicator,
  Pressable,
  ScrollView,
  StyleSheet,
  Text,
  TextInput,
  View,
  type RefreshControlProps,
  type TextInputProps,
} from "react-native";
import type { ReactElement } from "react";

import { colors, MIN_TOUCH, space } from "../theme";

export function Screen({
  title,
  children,
  refreshControl,
}: {
  title: string;
  children: ReactNode;
  refreshControl?: ReactElement<RefreshControlProps>;
}) {
  return (
    <ScrollView
      style={styles.screen}
      contentContainerStyle={styles.content}
      refreshControl={refreshControl}
      keyboardShouldPersistTaps="handled"
    >
      <Text role="heading" aria-level={1} style={styles.h1}>
        {title}
      </Text>
      {children}
    </ScrollView>
  );
}

export function Heading({ children }: { children: string }) {
  return (
    <Text role="heading" aria-level={2} style={styles.h2}>
      {children}
    </Text>
  );
}

export function Body({ children, muted }: { children: ReactNode; muted?: boolean }) {
  return <Text style={[styles.body, muted && styles.muted]}>{children}</Text>;
}

export function Button({
  label,
  onPress,
  hint,
  kind = "primary",
  disabled,
  busy,
  testID,
}: {
  label: string;
  onPress: () => void;
  hint?: string;
  kind?: "primary" | "secondary" | "danger";
  disabled?: boolean;
  busy?: boolean;
  testID?: string;
}) {
  const off = disabled || busy;
  return (
    <Pressable
      role="button"
      accessibilityLabel={label}
      accessibilityHint={hint}
      aria-disabled={off || undefined}
      aria-busy={busy || undefined}
      disabled={off}
      onPress={onPress}
      testID={testID}
      style={({ pressed }) => [
        styles.button,
        kind === "primary" ? styles.primary : styles.secondary,
        kind === "danger" && styles.danger,
        pressed && styles.pressed,
        off && styles.disabled,
      ]}
    >
      {busy ? <ActivityIndicator color={kind === "primary" ? "#fff" : colors.primary} /> : null}
      <Text
        style={[
          styles.buttonText,
          kind === "primary" ? styles.primaryText : styles.secondaryText,
          kind === "danger" && styles.dangerText,
        ]}
      >
        {label}
      </Text>
    </Pressable>
  );
}

export function Field({
  label,
  hint,
  error,
  ...input
}: { label: string; hint?: string; error?: string } & TextInputProps) {
  return (
    <View style={styles.field}>
      <Text style={styles.label}>{label}</Text>
      {hint ? <Text style={styles.hint}>{hint}</Text> : null}
      <TextInput
        accessibilityLabel={label}
        accessibilityHint={hint}
        aria-invalid={error ? true : undefined}
        placeholderTextColor={colors.muted}
        style={[styles.input, input.multiline && styles.multiline, error && styles.inputError]}
        {...input}
      />
      {error ? (
        <Text role="alert" style={styles.error}>
          {error}
        </Text>
      ) : null}
    </View>
  );
}

export type Option = { value: string; label: string; hint?: string };

/** One choice of several (role radiogroup), or several (multi: checkboxes). */
export function Choice({
  label,
  options,
  value,
  onChange,
  multi,
  testID,
}: {
  label: string;
  options: Option[];
  value: string | string[];
  onChange: (value: string | string[]) => void;
  multi?: boolean;
  testID?: string;
}) {
  const selected = Array.isArray(value) ? value : [value];
  return (
    <View
      role={multi ? "group" : "radiogroup"}
      accessibilityLabel={label}
      style={styles.field}
      testID={testID}
    >
      <Text style={styles.label}>{label}</Text>
      {options.map((o) => {
        const on = selected.includes(o.value);
        return (
          <Pressable
            key={o.value}
            role={multi ? "checkbox" : "radio"}
            aria-checked={on}
            accessibilityLabel={o.hint ? `${o.label}. ${o.hint}` : o.label}
            onPress={() =>
              onChange(
                multi ? (on ? selected.filter((v) => v !== o.value) : [...selected, o.value]) : o.value,
              )
            }
            style={[styles.option, on && styles.optionOn]}
          >
            <View style={[multi ? styles.box : styles.dot, on && styles.markOn]} />
            <View style={styles.optionText}>
              <Text style={styles.body}>{o.label}</Text>
              {o.hint ? <Text style={styles.hint}>{o.hint}</Text> : null}
            </View>
          </Pressable>
        );
      })}
    </View>
  );
}

export function Notice({ children, tone = "info" }: { children: ReactNode; tone?: "info" | "error" | "success" }) {
  return (
    <View
      role={tone === "error" ? "alert" : "status"}
      style={[styles.notice, tone === "error" && styles.noticeError, tone === "success" && styles.noticeOk]}
    >
      <Text style={styles.body}>{children}</Text>
    </View>
  );
}

export function Card({ children, label }: { children: ReactNode; label?: string }) {
  return (
    <View style={styles.card} accessibilityLabel={label}>
      {children}
    </View>
  );
}

export const styles = StyleSheet.create({
  screen: { flex: 1, backgroundColor: colors.surface },
  content: { padding: space.l, paddingBottom: space.xl * 2, gap: space.m, maxWidth: 720, width: "100%", alignSelf: "center" },
  h1: { fontSize: 28, fontWeight: "700", color: colors.text, marginBottom: space.s },
  h2: { fontSize: 20, fontWeight: "700", color: colors.text, marginTop: space.m },
  body: { fontSize: 16, lineHeight: 24, color: colors.text },
  muted: { color: colors.muted },
  label: { fontSize: 16, fontWeight: "600", color: colors.text },
  hint: { fontSize: 14, lineHeight: 20, color: colors.muted },
  error: { fontSize: 15, color: colors.danger },
  field: { gap: space.xs },
  input: {
    minHeight: MIN_TOUCH,
    borderWidth: 1,
    borderColor: colors.border,
    borderRadius: 6,
    paddingHorizontal: space.m,
    paddingVertical: space.s,
    fontSize: 16,
    color: colors.text,
    backgroundColor: colors.surface,
    textAlign: "auto",
  },
  multiline: { minHeight: 96, textAlignVertical: "top" },
  inputError: { borderColor: colors.danger, borderWidth: 2 },
  button: {
    minHeight: MIN_TOUCH,
    minWidth: MIN_TOUCH,
    paddingHorizontal: space.l,
    paddingVertical: space.s,
    borderRadius: 6,
    alignItems: "center",
    justifyContent: "center",
    flexDirection: "row",
    gap: space.s,
  },
  primary: { backgroundColor: colors.primary },
  secondary: { backgroundColor: colors.surface, borderWidth: 2, borderColor: colors.primary },
  danger: { borderColor: colors.danger },
  pressed: { opacity: 0.8 },
  disabled: { opacity: 0.55 },
  buttonText: { fontSize: 16, fontWeight: "600" },
  primaryText: { color: colors.primaryText },
  secondaryText: { color: colors.primary },
  dangerText: { color: colors.danger },
  option: {
    minHeight: MIN_TOUCH,
    flexDirection: "row",
    alignItems: "center",
    gap: space.m,
    paddingVertical: space.s,
    paddingHorizontal: space.m,
    borderWidth: 1,
    borderColor: colors.border,
    borderRadius: 6,
  },
  optionOn: { backgroundColor: colors.selected, borderColor: colors.primary, borderWidth: 2 },
  optionText: { flex: 1 },
  dot: { width: 20, height: 20, borderRadius: 10, borderWidth: 2, borderColor: colors.border },
  box: { width: 20, height: 20, borderRadius: 3, borderWidth: 2, borderColor: colors.border },
  markOn: { backgroundColor: colors.primary, borderColor: colors.primary },
  notice: { padding: space.m, borderRadius: 6, backgroundColor: colors.panel, borderWidth: 1, borderColor: colors.border },
  noticeError: { borderColor: colors.danger, backgroundColor: "#fdecee" },
  noticeOk: { borderColor: colors.success, backgroundColor: "#e9f5ea" },
  card: { padding: space.m, borderRadius: 8, borderWidth: 1, borderColor: colors.border, gap: space.s, backgroundColor: colors.surface },
  row: { flexDirection: "row", flexWrap: "wrap", gap: space.s, alignItems: "center" },
});
