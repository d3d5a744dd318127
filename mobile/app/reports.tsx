import { useCallback, useEffect, useState } from "react";
import { Image, RefreshControl, StyleSheet, Text, View } from "react-native";

import { ApiError } from "../src/api/client";
import type { Report } from "../src/api/types";
import { SignInPrompt } from "../src/components/SignInPrompt";
import { Body, Button, Card, Heading, Notice, Screen, styles } from "../src/components/ui";
import { useI18n } from "../src/i18n";
import { useApp } from "../src/state/app";
import { formatWhen, statusLabel } from "../src/status";
import { colors } from "../src/theme";

function ReportCard({ r }: { r: Report }) {
  const { t, locale } = useI18n();
  const { client } = useApp();
  return (
    <Card>
      <Text role="heading" aria-level={3} style={styles.label}>
        {t("Report %(id)s: %(service)s", { id: r.id, service: r.service_name })}
      </Text>
      <Body>
        {t("Status")}: <Text style={own.status}>{statusLabel(r.status, t)}</Text>
        {r.is_reporter ? "" : " · " + t("You follow this report")}
      </Body>
      {r.description ? <Body>{r.description}</Body> : null}
      {r.address_string ? <Body muted>{r.address_string}</Body> : null}
      {r.media.length ? (
        <View style={styles.row}>
          {r.media.map((m, i) => (
            <Image
              accessible
              key={m.id}
              role="img"
              accessibilityLabel={t("Photo %(n)s of the problem", { n: i + 1 })}
              source={{ uri: client.mediaUrl(m.thumbnail_url) }}
              style={own.thumb}
            />
          ))}
        </View>
      ) : null}
      <Text style={styles.label}>{t("History")}</Text>
      <View role="list">
        {r.history.map((h, i) => (
          <View role="listitem" key={`${h.changed_at}-${i}`}>
            <Body>
              {formatWhen(h.changed_at, locale)}: {statusLabel(h.status, t)}
              {h.note ? ` — ${h.note}` : ""}
            </Body>
          </View>
        ))}
      </View>
    </Card>
  );
}

export default function MyReports() {
  const { t, locale } = useI18n();
  const { client, ready, signedIn, queue, flush, discard } = useApp();
  const [reports, setReports] = useState<Report[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [refreshing, setRefreshing] = useState(false);

  const load = useCallback(async () => {
    setRefreshing(true);
    setError(null);
    try {
      await flush();
      setReports(await client.myReports());
    } catch (err) {
      setError(err instanceof ApiError ? err.message : t("No connection to the city. Try again later."));
    } finally {
      setRefreshing(false);
    }
  }, [client, flush, t]);

  useEffect(() => {
    if (ready && signedIn) load();
  }, [ready, signedIn, load]);

  if (ready && !signedIn) {
    return (
      <Screen title={t("My reports")}>
        <SignInPrompt why={t("Sign in to see your reports.")} />
      </Screen>
    );
  }

  return (
    <Screen title={t("My reports")} refreshControl={<RefreshControl refreshing={refreshing} onRefresh={load} />}>
      <View style={styles.row}>
        <Button kind="secondary" label={t("Refresh")} onPress={load} busy={refreshing} testID="reports-refresh" />
      </View>
      {error ? <Notice tone="error">{error}</Notice> : null}
      {queue.length ? (
        <View style={styles.field}>
          <Heading>{t("Waiting to send")}</Heading>
          {queue.map((q) => (
            <Card key={q.id}>
              <Body>
                {t("Saved %(when)s: %(service)s", { when: formatWhen(q.queued_at, locale), service: q.draft.service_code })}
              </Body>
              {q.error ? <Notice tone="error">{q.error}</Notice> : null}
              <Button kind="danger" label={t("Delete this saved report")} onPress={() => discard(q.id)} />
            </Card>
          ))}
        </View>
      ) : null}
      {reports && reports.length === 0 ? <Body>{t("You have not reported anything yet.")}</Body> : null}
      {reports === null && !error ? <Body muted>{t("Loading…")}</Body> : null}
      <View role="list" style={styles.field} testID="reports-list">
        {(reports ?? []).map((r) => (
          <View role="listitem" key={r.id}>
            <ReportCard r={r} />
          </View>
        ))}
      </View>
    </Screen>
  );
}

const own = StyleSheet.create({
  status: { fontWeight: "700", color: colors.text },
  thumb: { width: 96, height: 96, borderRadius: 6 },
});
