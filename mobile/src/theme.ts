// Colours chosen for WCAG AA contrast on white (all ≥ 4.5:1); sizes in density-independent px.
export const colors = {
  text: "#1a1a1a",
  muted: "#4a4a4a",
  primary: "#0b5cad",
  primaryText: "#ffffff",
  border: "#6b6b6b",
  surface: "#ffffff",
  panel: "#f2f5f9",
  danger: "#b00020",
  success: "#1b6e20",
  warning: "#8a5300",
  selected: "#e3eefa",
};

export const MIN_TOUCH = 44; // WCAG 2.5.5 / platform guidance: at least 44 × 44 px targets.
export const space = { xs: 4, s: 8, m: 12, l: 16, xl: 24 };
