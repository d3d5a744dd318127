/**
 * Reports written without a connection wait here (AsyncStorage) and are sent when the
 * connection returns. Photos are kept as URIs; in the browser they become data: URLs
 * first, because a File does not survive being stored.
 */
import AsyncStorage from "@react-native-async-storage/async-storage";
import { Platform } from "react-native";

import { ApiError, NetworkError, type ApiClient } from "../api/client";
import type { Photo, Report, ReportDraft } from "../api/types";

const KEY = "smartcity.queue";

export type Queued = { id: string; queued_at: string; draft: ReportDraft; error?: string };

export async function loadQueue(): Promise<Queued[]> {
  const raw = await AsyncStorage.getItem(KEY);
  return raw ? (JSON.parse(raw) as Queued[]) : [];
}

async function saveQueue(items: Queued[]): Promise<void> {
  await AsyncStorage.setItem(KEY, JSON.stringify(items));
}

function blobToDataUrl(blob: Blob): Promise<string> {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(String(reader.result));
    reader.onerror = () => reject(reader.error);
    reader.readAsDataURL(blob);
  });
}

async function storable(photo: Photo): Promise<Photo> {
  if (Platform.OS === "web" && photo.file) {
    return { uri: await blobToDataUrl(photo.file), name: photo.name, type: photo.type };
  }
  return { uri: photo.uri, name: photo.name, type: photo.type };
}

async function sendable(photo: Photo): Promise<Photo> {
  if (Platform.OS === "web" && !photo.file) {
    const blob = await (await fetch(photo.uri)).blob();
    return { ...photo, file: blob };
  }
  return photo;
}

export async function enqueue(draft: ReportDraft): Promise<Queued> {
  const items = await loadQueue();
  const photos = await Promise.all(draft.photos.map(storable));
  const item: Queued = {
    id: `${Date.now()}-${Math.random().toString(36).slice(2, 8)}`,
    queued_at: new Date().toISOString(),
    draft: { ...draft, photos },
  };
  await saveQueue([...items, item]);
  return item;
}

export async function removeQueued(id: string): Promise<void> {
  await saveQueue((await loadQueue()).filter((q) => q.id !== id));
}

/** Send what is queued, oldest first; stop at the first network failure. */
export async function flushQueue(
  client: ApiClient,
): Promise<{ sent: Report[]; left: Queued[] }> {
  const items = await loadQueue();
  const sent: Report[] = [];
  const left: Queued[] = [];
  let offline = false;
  for (const item of items) {
    if (offline) {
      left.push(item);
      continue;
    }
    try {
      const photos = await Promise.all(item.draft.photos.map(sendable));
      sent.push(await client.createReport({ ...item.draft, photos }));
    } catch (err) {
      if (err instanceof NetworkError) offline = true;
      // A report the server refuses stays, with the reason, for the citizen to see.
      left.push(err instanceof ApiError ? { ...item, error: err.message } : item);
    }
  }
  await saveQueue(left);
  return { sent, left };
}
