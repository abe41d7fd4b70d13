import { z } from 'zod';
import type { JsonObject, JsonValue } from '../db/schema.generated.js';
import { jsonbObject } from './activity.js';
import { id, refuseUnstorableText, text } from './common.js';

export type { AppUser, Profile, UserSettings } from '../db/schema.generated.js';

// Mirrors the app_user_email_format check, so a bad address fails here with the field named.
export const email = z.string().trim().max(254).regex(/^[^@\s]+@[^@\s]+$/, 'must look like name@domain');
export const username = z.string().trim().min(1).max(150);

export const profileInput = z.strictObject({
  display_name: text(200).nullable().optional(),
  bio: text(5000).nullable().optional(),
  avatar_url: z.string().max(2000).regex(/^https?:\/\//, 'must be an http(s) URL').nullable().optional(),
});
export type ProfileInput = z.output<typeof profileInput>;

export type Settings = JsonObject;

/** A JSON object PostgreSQL can store as jsonb: jsonb refuses the NUL character anywhere inside. */
export const settingsObject = z.record(z.string(), z.unknown()).superRefine(refuseUnstorableText)
  .pipe(jsonbObject).transform((value) => value);
export type SettingsInput = z.output<typeof settingsObject>;

export const userCreateInput = z.strictObject({
  email,
  username,
  is_active: z.boolean().optional(),
  profile: profileInput.optional(),
  settings: settingsObject.optional(),
});
export type UserCreateInput = z.output<typeof userCreateInput>;

export const userPatch = z.strictObject({
  email: email.optional(),
  username: username.optional(),
  is_active: z.boolean().optional(),
}).refine((patch) => Object.values(patch).some((value) => value !== undefined), 'name at least one field to change');
export type UserPatch = z.output<typeof userPatch>;

export const userListOptions = z.strictObject({
  afterId: id.optional(),
  limit: z.number().int().min(1).max(1000),
  active: z.boolean().optional(),
  email: z.string().max(254).optional(),
});
export type UserListOptions = z.output<typeof userListOptions>;

export const activeUserOptions = z.strictObject({
  afterId: id.optional(),
  limit: z.number().int().min(1).max(1000).default(100),
});
export type ActiveUserOptions = z.output<typeof activeUserOptions>;

function isObject(value: JsonValue | undefined): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * JSON merge patch (RFC 7396): objects merge key by key, null removes a key, anything else replaces.
 * Built through a Map so that a key named "__proto__" stays data.
 */
export function applyMergePatch(target: Settings, patch: Settings): Settings {
  const merged = new Map(Object.entries(target));
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) {
      merged.delete(key);
    } else if (isObject(value)) {
      const current = merged.get(key);
      merged.set(key, applyMergePatch(isObject(current) ? current : {}, value));
    } else {
      merged.set(key, value);
    }
  }
  return Object.fromEntries(merged);
}
