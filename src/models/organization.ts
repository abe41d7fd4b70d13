import { z } from 'zod';
import { id, name, slug } from './common.js';

export type { Organization, Team, Membership } from '../db/schema.generated.js';

const someField = (patch: Record<string, unknown>) => Object.values(patch).some((value) => value !== undefined);

export const organizationInput = z.strictObject({ name, slug });
export type OrganizationInput = z.output<typeof organizationInput>;

export const organizationPatch = z.strictObject({ name: name.optional(), slug: slug.optional() })
  .refine(someField, 'name at least one field to change');
export type OrganizationPatch = z.output<typeof organizationPatch>;

export const teamInput = z.strictObject({ name, slug });
export type TeamInput = z.output<typeof teamInput>;

export const teamPatch = organizationPatch;
export type TeamPatch = z.output<typeof teamPatch>;

/** The membership_role_known check, so a bad role fails before the database is asked. */
export const membershipRoles = ['owner', 'admin', 'member', 'viewer'] as const;
export const membershipRole = z.enum(membershipRoles);
export type MembershipRole = z.infer<typeof membershipRole>;

export const memberInput = z.strictObject({ teamId: id, userId: id, role: membershipRole });

export const organizationListOptions = z.strictObject({
  afterId: id.optional(),
  limit: z.number().int().min(1).max(1000),
});
export type OrganizationListOptions = z.output<typeof organizationListOptions>;
