import type { Attribute } from "./api/types";

export type Values = Record<string, string | string[]>;

/** Which required attributes are still empty (Open311 `required: true`). */
export function missingAttributes(attrs: Attribute[], values: Values): Attribute[] {
  return attrs.filter((a) => {
    const v = values[a.code];
    return a.required && (v === undefined || v === "" || (Array.isArray(v) && v.length === 0));
  });
}
