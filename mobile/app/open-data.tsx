import { Body, Notice, Screen } from "../src/components/ui";
import { useI18n } from "../src/i18n";

// Placeholder until the open-data issue publishes the DCAT catalogue.
export default function OpenData() {
  const { t } = useI18n();
  return (
    <Screen title={t("Open data")}>
      <Notice>{t("Coming soon: the city's open data catalogue is not published yet.")}</Notice>
      <Body>{t("Soon you can browse and download the city's data: air quality, traffic, noise.")}</Body>
    </Screen>
  );
}
