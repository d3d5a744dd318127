import { useCallback, useEffect, useState } from "react";
import { View } from "react-native";

import { ApiError } from "../src/api/client";
import type { Attribute, Duplicate, Photo, Service } from "../src/api/types";
import { LocationPicker, type Place } from "../src/components/LocationPicker";
import { PhotoPicker } from "../src/components/PhotoPicker";
import { SignInPrompt } from "../src/components/SignInPrompt";
import { Body, Button, Card, Choice, Field, Heading, Notice, Screen, styles } from "../src/components/ui";
import { useI18n } from "../src/i18n";
import { useApp } from "../src/state/app";
import { missingAttributes, type Values } from "../src/reportForm";



function AttributeInput({ a, value, onChange }: { a: Attribute; value: string | string[] | undefined; onChange: (v: string | string[]) => void }) {
  const { t } = useI18n();
  const label = a.required ? t("%(question)s (required)", { question: a.description }) : a.description;
  if (a.datatype === "singlevaluelist" || a.datatype === "multivaluelist") {
    const multi = a.datatype === "multivaluelist";
    return (
      <Choice
        label={label}
        multi={multi}
        options={a.values.map((v) => ({ value: v.key, label: v.name }))}
        value={value ?? (multi ? [] : "")}
        onChange={onChange}
        testID={`attr-${a.code}`}
      />
    );
  }
  return (
    <Field
      label={label}
      hint={a.datatype_description || undefined}
      value={typeof value === "string" ? value : ""}
      onChangeText={onChange}
      multiline={a.datatype === "text"}
      keyboardType={a.datatype === "number" ? "numeric" : "default"}
      testID={`attr-${a.code}`}
    />
  );
}

export default function Report() {
  const { t } = useI18n();
  const { client, ready, signedIn, submit } = useApp();
  const [services, setServices] = useState<Service[] | null>(null);
  const [code, setCode] = useState("");
  const [attrs, setAttrs] = useState<Attribute[]>([]);
  const [values, setValues] = useState<Values>({});
  const [description, setDescription] = useState("");
  const [place, setPlace] = useState<Place>({});
  const [photos, setPhotos] = useState<Photo[]>([]);
  const [duplicates, setDuplicates] = useState<Duplicate[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [done, setDone] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  useEffect(() => {
    if (!ready) return;
    client.services().then(setServices, () => setError(t("The list of services could not be loaded. Check your connection.")));
  }, [ready, client, t]);

  useEffect(() => {
    setAttrs([]);
    setValues({});
    setDuplicates(null);
    if (!code) return;
    client.serviceDefinition(code).then(
      (d) => setAttrs([...d.attributes].sort((x, y) => x.order - y.order)),
      () => setAttrs([]),
    );
  }, [code, client]);

  const reset = useCallback(() => {
    setCode("");
    setDescription("");
    setPlace({});
    setPhotos([]);
    setDuplicates(null);
  }, []);

  function validate(): string | null {
    if (!code) return t("Choose what you want to report.");
    const missing = missingAttributes(attrs, values);
    if (missing.length) return t("Please answer: %(questions)s", { questions: missing.map((a) => a.description).join(", ") });
    if (place.lat === undefined && !place.address?.trim()) return t("Say where the problem is: use your location, tap the map or type an address.");
    return null;
  }

  async function send() {
    setBusy(true);
    setError(null);
    try {
      const result = await submit({
        service_code: code,
        description,
        attributes: values,
        lat: place.lat,
        long: place.long,
        address_string: place.address?.trim() || undefined,
        photos,
      });
      reset();
      setDone(
        result.report
          ? t("Thank you. Your report number is %(id)s.", { id: result.report.id })
          : t("You are offline. Your report is saved and will be sent when you are back online."),
      );
    } catch (err) {
      setError(err instanceof ApiError ? err.message : String(err));
    } finally {
      setBusy(false);
    }
  }

  async function checkThenSend() {
    setDone(null);
    const problem = validate();
    if (problem) return setError(problem);
    setError(null);
    if (place.lat !== undefined && place.long !== undefined && duplicates === null) {
      try {
        const found = await client.duplicates({ service_code: code, lat: place.lat, long: place.long });
        if (found.length) return setDuplicates(found);
      } catch {
        // Offline or refused: the duplicate check is a courtesy, so send (or queue) anyway.
      }
    }
    await send();
  }

  async function follow(id: number) {
    setBusy(true);
    try {
      await client.follow(id);
      reset();
      setDone(t("You now follow report %(id)s. We will tell you when it changes.", { id }));
    } catch (err) {
      setError(err instanceof ApiError ? err.message : String(err));
    } finally {
      setBusy(false);
    }
  }

  if (ready && !signedIn) {
    return (
      <Screen title={t("Report an issue")}>
        <SignInPrompt why={t("Sign in or create an account to report an issue.")} />
      </Screen>
    );
  }

  const selected = services?.find((s) => s.service_code === code);
  return (
    <Screen title={t("Report an issue")}>
      {done ? <Notice tone="success">{done}</Notice> : null}
      <Heading>{t("What is the problem?")}</Heading>
      {services === null && !error ? <Body muted>{t("Loading…")}</Body> : null}
      {services ? (
        <Choice
          label={t("Service")}
          options={services.map((s) => ({ value: s.service_code, label: s.service_name, hint: s.description }))}
          value={code}
          onChange={(v) => setCode(v as string)}
          testID="service-choice"
        />
      ) : null}
      {selected
        ? attrs.map((a) => (
            <AttributeInput key={a.code} a={a} value={values[a.code]} onChange={(v) => setValues({ ...values, [a.code]: v })} />
          ))
        : null}
      <Field
        label={t("Description (optional)")}
        value={description}
        onChangeText={setDescription}
        multiline
        maxLength={4000}
        testID="report-description"
      />
      <Heading>{t("Photo")}</Heading>
      <PhotoPicker photos={photos} onChange={setPhotos} />
      <Heading>{t("Where is it?")}</Heading>
      <LocationPicker value={place} onChange={(p) => { setPlace(p); setDuplicates(null); }} />
      {duplicates && duplicates.length ? (
        <View style={styles.field} testID="duplicates">
          <Heading>{t("Already reported nearby?")}</Heading>
          <Body>{t("These open reports look like yours. Follow one instead of sending a new report.")}</Body>
          {duplicates.map((d) => (
            <Card key={d.service_request_id}>
              <Body>
                {t("Report %(id)s, %(distance)s m away: %(description)s", {
                  id: d.service_request_id,
                  distance: Math.round(d.distance_m),
                  description: d.description || "—",
                })}
              </Body>
              <Button kind="secondary" label={t("Follow report %(id)s", { id: d.service_request_id })} onPress={() => follow(d.service_request_id)} />
            </Card>
          ))}
          <Button label={t("Send my report anyway")} onPress={send} busy={busy} testID="send-anyway" />
        </View>
      ) : null}
      {error ? <Notice tone="error">{error}</Notice> : null}
      {duplicates && duplicates.length ? null : (
        <View style={styles.row}>
          <Button label={t("Send report")} onPress={checkThenSend} busy={busy} testID="report-send" />
        </View>
      )}
    </Screen>
  );
}
