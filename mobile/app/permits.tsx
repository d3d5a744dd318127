import { Body, Card, Heading, Notice, Screen } from "../src/components/ui";
import { useI18n } from "../src/i18n";

// Read-only placeholder until the permits issue gives the API a permits resource.
export default function Permits() {
  const { t } = useI18n();
  return (
    <Screen title={t("Permits")}>
      <Notice>{t("Coming soon: this page is a preview and shows no real permits yet.")}</Notice>
      <Body>{t("Soon you will see your permits (parking, events, building work) and their status here.")}</Body>
      <Body>{t("Read only: permits cannot be changed in the app.")}</Body>
      <Heading>{t("My permit applications")}</Heading>
      <Card>
        <Body muted>{t("No permit applications yet.")}</Body>
      </Card>
    </Screen>
  );
}
