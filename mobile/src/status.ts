import type { ReportStatus } from "./api/types";

/** The citizen-facing name of a report status (msgids shared with the catalogues). */
export function statusLabel(status: ReportStatus, t: (msgid: string) => string): string {
  switch (status) {
    case "open":
      return t("Received");
    case "acknowledged":
      return t("Seen by the city");
    case "in_progress":
      return t("Being fixed");
    case "closed":
      return t("Closed");
    default:
      return status;
  }
}

export function formatWhen(iso: string, locale: string): string {
  try {
    return new Date(iso).toLocaleString(locale, { dateStyle: "medium", timeStyle: "short" });
  } catch {
    return iso;
  }
}
