import { useCallback, useEffect, useMemo, useState } from "react";
import { View } from "react-native";

import { ApiError } from "../src/api/client";
import type { Report, Subscription } from "../src/api/types";
import { LocationPicker, type Place } from "../src/components/LocationPicker";
import { SignInPrompt } from "../src/components/SignInPrompt";
import { Body, Button, Card, Choice, Field, Heading, Notice, Screen, styles } from "../src/components/ui";
import { useI18n } from "../src/i18n";
import { useApp } from "../src/state/app";
import { usePush } from "../src/state/push";
import { reportUpdates } from "../src/inbox";
import { formatWhen } from "../src/status";

export default function Notifications() {
  const { t, locale } = useI18n();
  const { client, ready, signedIn } = useApp();
  const push = usePush();
  const [reports, setReports] = useState<Report[]>([]);
  const [subs, setSubs] = useState<Subscription[]>([]);
  const [district, setDistrict] = useState("");
  const [place, setPlace] = useState<Place>({});
  const [radius, setRadius] = useState("500");
  const [error, setError] = useState<string | null>(null);
  const [notice, setNotice] = useState<string | null>(null);

  const load = useCallback(async () => {
    try {
      const [r, s] = await Promise.all([client.myReports(), client.subscriptions()]);
      setReports(r);
      setSubs(s);
    } catch (err) {
      setError(err instanceof ApiError ? err.message : t("No connection to the city. Try again later."));
    }
  }, [client, t]);

  useEffect(() => {
    if (ready && signedIn) load();
  }, [ready, signedIn, load]);

  const inbox = useMemo(() => {
    const pushed = push.inbox.map((p) => ({ key: p.id, when: p.received_at, text: p.body ? `${p.title}: ${p.body}` : p.title }));
    return [...pushed, ...reportUpdates(reports, t)].sort((a, b) => b.when.localeCompare(a.when));
  }, [push.inbox, reports, t]);

  async function subscribe(body: Parameters<typeof client.subscribe>[0]) {
    setError(null);
    setNotice(null);
    try {
      await client.subscribe(body);
      setNotice(t("Subscribed."));
      setDistrict("");
      await load();
    } catch (err) {
      setError(err instanceof ApiError ? err.message : t("No connection to the city. Try again later."));
    }
  }

  async function remove(id: number) {
    try {
      await client.unsubscribe(id);
      await load();
    } catch (err) {
      setError(err instanceof ApiError ? err.message : String(err));
    }
  }

  if (ready && !signedIn) {
    return (
      <Screen title={t("Notifications")}>
        <SignInPrompt why={t("Sign in to get news about your reports and your area.")} />
      </Screen>
    );
  }

  return (
    <Screen title={t("Notifications")}>
      <Heading>{t("Push notifications")}</Heading>
      {push.status === "unsupported" ? (
        <Body>{t("Push needs the app on an Android phone. News also shows in the inbox below.")}</Body>
      ) : push.status === "registered" ? (
        <Notice tone="success">{t("This phone gets push notifications.")}</Notice>
      ) : (
        <View style={styles.row}>
          <Button label={t("Turn on push notifications")} onPress={push.enable} />
          {push.status === "denied" ? <Body>{t("Notifications are switched off in the phone's settings.")}</Body> : null}
        </View>
      )}
      <Heading>{t("Inbox")}</Heading>
      {inbox.length === 0 ? <Body muted>{t("No news yet.")}</Body> : null}
      <View role="list" style={styles.field}>
        {inbox.map((e) => (
          <View role="listitem" key={e.key}>
            <Body>
              {formatWhen(e.when, locale)}: {e.text}
            </Body>
          </View>
        ))}
      </View>
      <Heading>{t("My subscriptions")}</Heading>
      {subs.length === 0 ? <Body muted>{t("You follow no area yet.")}</Body> : null}
      {subs.map((s) => (
        <Card key={s.id}>
          <Body>
            {s.district_id !== null
              ? t("District %(id)s", { id: s.district_id })
              : t("Within %(radius)s m of %(lat)s, %(long)s", { radius: Math.round(s.radius_m ?? 0), lat: (s.lat ?? 0).toFixed(4), long: (s.long ?? 0).toFixed(4) })}
          </Body>
          <Button kind="danger" label={t("Unsubscribe from subscription %(id)s", { id: s.id })} onPress={() => remove(s.id)} />
        </Card>
      ))}
      {error ? <Notice tone="error">{error}</Notice> : null}
      {notice ? <Notice tone="success">{notice}</Notice> : null}
      <Heading>{t("Follow a district")}</Heading>
      <Field label={t("District code")} hint={t("As printed on the city's district map, for example: nw")} value={district} onChangeText={setDistrict} autoCapitalize="none" />
      <View style={styles.row}>
        <Button kind="secondary" label={t("Follow this district")} disabled={!district.trim()} onPress={() => subscribe({ district_code: district.trim() })} />
      </View>
      <Heading>{t("Follow an area around a place")}</Heading>
      <LocationPicker value={place} onChange={setPlace} withAddress={false} />
      <Choice
        label={t("Distance")}
        options={[
          { value: "250", label: "250 m" },
          { value: "500", label: "500 m" },
          { value: "1000", label: "1 km" },
        ]}
        value={radius}
        onChange={(v) => setRadius(v as string)}
      />
      <View style={styles.row}>
        <Button
          kind="secondary"
          label={t("Follow this area")}
          disabled={place.lat === undefined}
          onPress={() => subscribe({ lat: place.lat!, long: place.long!, radius_m: Number(radius) })}
        />
      </View>
    </Screen>
  );
}
