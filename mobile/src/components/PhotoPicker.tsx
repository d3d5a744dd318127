import * as ImagePicker from "expo-image-picker";
import { Image, StyleSheet, View } from "react-native";

import type { Photo } from "../api/types";
import { useI18n } from "../i18n";
import { Button, styles as ui } from "./ui";

const MAX_PHOTOS = 3;

function toPhoto(a: ImagePicker.ImagePickerAsset, n: number): Photo {
  const type = a.mimeType ?? "image/jpeg";
  const ext = type.split("/")[1] ?? "jpg";
  return { uri: a.uri, name: a.fileName ?? `photo-${n}.${ext}`, type, file: a.file ?? undefined };
}

export function PhotoPicker({ photos, onChange }: { photos: Photo[]; onChange: (p: Photo[]) => void }) {
  const { t } = useI18n();

  async function pick(camera: boolean) {
    const options: ImagePicker.ImagePickerOptions = { mediaTypes: ["images"], quality: 0.8 };
    if (camera) {
      const { granted } = await ImagePicker.requestCameraPermissionsAsync();
      if (!granted) return;
    }
    const result = camera
      ? await ImagePicker.launchCameraAsync(options)
      : await ImagePicker.launchImageLibraryAsync(options);
    if (result.canceled) return;
    onChange([...photos, ...result.assets.map((a, i) => toPhoto(a, photos.length + i + 1))].slice(0, MAX_PHOTOS));
  }

  return (
    <View style={ui.field}>
      <View style={ui.row}>
        <Button kind="secondary" label={t("Take a photo")} onPress={() => pick(true)} disabled={photos.length >= MAX_PHOTOS} />
        <Button
          kind="secondary"
          label={t("Choose a photo")}
          onPress={() => pick(false)}
          disabled={photos.length >= MAX_PHOTOS}
          testID="photo-choose"
        />
      </View>
      {photos.map((p, i) => (
        <View key={p.uri} style={ui.row}>
          <Image
              accessible
            source={{ uri: p.uri }}
            style={photo.thumb}
            accessibilityLabel={t("Photo %(n)s of the problem", { n: i + 1 })}
            role="img"
          />
          <Button
            kind="danger"
            label={t("Remove photo %(n)s", { n: i + 1 })}
            onPress={() => onChange(photos.filter((_, j) => j !== i))}
          />
        </View>
      ))}
    </View>
  );
}

const photo = StyleSheet.create({ thumb: { width: 96, height: 96, borderRadius: 6 } });
