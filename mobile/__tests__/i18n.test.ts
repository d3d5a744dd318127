import { readdirSync, readFileSync, statSync } from "fs";
import { join } from "path";

import ar from "../src/i18n/locales/ar.json";
import de from "../src/i18n/locales/de.json";
import en from "../src/i18n/locales/en.json";
import { translate } from "../src/i18n";

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sources(path);
    return /\.tsx?$/.test(name) ? [path] : [];
  });
}

describe("catalogues exported from i18n/", () => {
  const root = join(__dirname, "..");
  const used = new Set<string>();
  for (const file of [...sources(join(root, "app")), ...sources(join(root, "src"))]) {
    for (const m of readFileSync(file, "utf8").matchAll(/\bt\(\s*"((?:[^"\\]|\\.)*)"/g)) {
      used.add(JSON.parse(`"${m[1]}"`));
    }
  }

  it("has every string the app uses, in every language (run i18n/export_json.py if not)", () => {
    expect(used.size).toBeGreaterThan(50);
    for (const table of [en, de, ar] as Record<string, string>[]) {
      const missing = [...used].filter((m) => !table[m]);
      expect(missing).toEqual([]);
    }
  });

  it("keeps every placeholder in every translation", () => {
    for (const [msgid] of Object.entries(en)) {
      const want = (msgid.match(/%\(\w+\)[sd]/g) ?? []).sort();
      for (const table of [de, ar] as Record<string, string>[]) {
        expect([msgid, (table[msgid].match(/%\(\w+\)[sd]/g) ?? []).sort()]).toEqual([msgid, want]);
      }
    }
  });

  it("translates and fills placeholders", () => {
    expect(translate("de", "Report %(id)s: %(service)s", { id: 7, service: "Pothole" })).toBe(
      "Meldung 7: Pothole",
    );
    expect(translate("ar", "My reports")).toBe("بلاغاتي");
    expect(translate("en", "not in any catalogue")).toBe("not in any catalogue");
  });
});
