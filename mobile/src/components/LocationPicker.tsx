/**
 * Where the problem is: the phone's position, a tap on the city panel, or an address typed as
 * text. The typed address needs no map and no pointer, so it is the keyboard and
 * screen-reader path. The panel is a plain grid over the city's bounds (no map tiles are
 * fetched), so it works offline.
 */
import * as Location from "expo-location";
import { useState } from "react";
import { Pressable, StyleSheet, Text, View, type GestureResponderEvent } from "react-native";

import { CITY_BOUNDS, type Bounds } from "../config";
import { useI18n } from "../i18n";
import { colors, space } from "../theme";
import { Body, Button, Field, Notice, styles as ui } from "./ui";

export type Place = { lat?: number; long?: number; address?: string };

/** Convert a tap at (x, y) px on a w × h panel to lat/long inside the bounds (equirectangular). */
export function pointToLatLong(
  x: number,
  y: number,
  w: number,
  h: number,
  b: Bounds = CITY_BOUNDS,
): { lat: number; long: number } {
  const fx = Math.min(Math.max(x / w, 0), 1);
  const fy = Math.min(Math.max(y / h, 0), 1);
  const round = (v: number) => Math.round(v * 1e6) / 1e6; // about 0.1 m
  return { lat: round(b.north - fy * (b.north - b.south)), long: round(b.west + fx * (b.east - b.west)) };
}

export function LocationPicker({
  value,
  onChange,
  withAddress = true,
}: {
  value: Place;
  onChange: (p: Place) => void;
  /** Offer the typed address (reports); an area subscription needs a point. */
  withAddress?: boolean;
}) {
  const { t } = useI18n();
  const [size, setSize] = useState({ w: 1, h: 1 });
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const b = CITY_BOUNDS;

  async function useGps() {
    setError(null);
    setBusy(true);
    try {
      const { granted } = await Location.requestForegroundPermissionsAsync();
      if (!granted) {
        setError(t("Location permission was refused. Tap the map or type the address instead."));
        return;
      }
      const pos = await Location.getCurrentPositionAsync({ accuracy: Location.Accuracy.High });
      onChange({ ...value, lat: pos.coords.latitude, long: pos.coords.longitude });
    } catch {
      setError(t("Your position is not available. Tap the map or type the address instead."));
    } finally {
      setBusy(false);
    }
  }

  function tap(e: GestureResponderEvent) {
    const { locationX, locationY } = e.nativeEvent;
    // A keyboard "press" has no position: the typed address (or GPS) is that path.
    if (!Number.isFinite(locationX) || !Number.isFinite(locationY)) return;
    onChange({ ...value, ...pointToLatLong(locationX, locationY, size.w, size.h) });
  }

  const hasPoint = value.lat !== undefined && value.long !== undefined;
  const marker = hasPoint
    ? {
        left: `${((value.long! - b.west) / (b.east - b.west)) * 100}%` as const,
        top: `${((b.north - value.lat!) / (b.north - b.south)) * 100}%` as const,
      }
    : null;

  return (
    <View style={ui.field}>
      <View style={ui.row}>
        <Button
          kind="secondary"
          label={t("Use my location")}
          onPress={useGps}
          busy={busy}
          testID="location-gps"
        />
      </View>
      <Pressable
        role="button"
        accessibilityLabel={t("City map: tap where the problem is")}
        accessibilityHint={
          withAddress
            ? t("Without a pointer, type the address below instead.")
            : t("Without a pointer, use your location instead.")
        }
        onLayout={(e) => setSize({ w: e.nativeEvent.layout.width, h: e.nativeEvent.layout.height })}
        onPress={tap}
        style={map.panel}
        testID="location-map"
      >
        {[1, 2, 3].map((i) => (
          <View key={`v${i}`} style={[map.v, { left: `${i * 25}%` }]} />
        ))}
        {[1, 2].map((i) => (
          <View key={`h${i}`} style={[map.h, { top: `${(i * 100) / 3}%` }]} />
        ))}
        <Text style={map.north} aria-hidden>
          N ↑
        </Text>
        {marker ? <View style={[map.marker, marker]} aria-hidden /> : null}
      </Pressable>
      {hasPoint ? (
        <Body>
          {t("Chosen point: %(lat)s, %(long)s", {
            lat: value.lat!.toFixed(5),
            long: value.long!.toFixed(5),
          })}
        </Body>
      ) : null}
      {withAddress ? (
      <Field
        label={t("Address or description of the place")}
        hint={t("For example: Rudower Chaussee 25, at the bus stop")}
        value={value.address ?? ""}
        onChangeText={(address) => onChange({ ...value, address })}
        autoComplete="street-address"
        testID="location-address"
      />
      ) : null}
      {error ? <Notice tone="error">{error}</Notice> : null}
    </View>
  );
}

const map = StyleSheet.create({
  panel: {
    height: 200,
    borderRadius: 8,
    borderWidth: 1,
    borderColor: colors.border,
    backgroundColor: "#e8efe4",
    overflow: "hidden",
    position: "relative",
  },
  v: { position: "absolute", top: 0, bottom: 0, width: 1, backgroundColor: "#b9c6b3" },
  h: { position: "absolute", left: 0, right: 0, height: 1, backgroundColor: "#b9c6b3" },
  north: { position: "absolute", top: space.s, right: space.s, color: colors.text, fontSize: 14 },
  marker: {
    position: "absolute",
    width: 20,
    height: 20,
    marginLeft: -10,
    marginTop: -10,
    borderRadius: 10,
    backgroundColor: colors.danger,
    borderWidth: 3,
    borderColor: "#fff",
  },
});
