import type { Report } from "./api/types";
import { statusLabel } from "./status";

export type Entry = { key: string; when: string; text: string };

/** The inbox: status changes of the citizen's reports (and followed ones), newest first. */
export function reportUpdates(reports: Report[], t: (m: string, v?: Record<string, string | number>) => string): Entry[] {
  const out: Entry[] = [];
  for (const r of reports) {
    r.history.forEach((h, i) => {
      if (i === 0 && h.status === "open" && !h.note) return; // the filing itself is no news
      out.push({
        key: `${r.id}-${i}`,
        when: h.changed_at,
        text: t("Report %(id)s (%(service)s): %(status)s", { id: r.id, service: r.service_name, status: statusLabel(h.status, t) }) + (h.note ? ` — ${h.note}` : ""),
      });
    });
  }
  return out.sort((a, b) => b.when.localeCompare(a.when));
}
