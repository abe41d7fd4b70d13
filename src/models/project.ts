import { z } from 'zod';
import { id, name, slug, text } from './common.js';

export type { Project, ProjectMember } from '../db/schema.generated.js';

/** The project_status_known check, so a bad status fails before the database is asked. */
export const projectStatuses = ['planned', 'active', 'paused', 'archived'] as const;
export const projectStatus = z.enum(projectStatuses);
export type ProjectStatus = z.infer<typeof projectStatus>;

/** The project_member_role_known check. */
export const projectMemberRoles = ['owner', 'editor', 'viewer'] as const;
export const projectMemberRole = z.enum(projectMemberRoles);
export type ProjectMemberRole = z.infer<typeof projectMemberRole>;

const description = text(10_000);

export const projectInput = z.strictObject({
  name,
  slug,
  description: description.optional(),
  status: projectStatus.optional(),
  organization_id: id.nullable().optional(),
});
export type ProjectInput = z.output<typeof projectInput>;

export const projectPatch = z.strictObject({
  name: name.optional(),
  slug: slug.optional(),
  description: description.optional(),
  status: projectStatus.optional(),
  organization_id: id.nullable().optional(),
}).refine((patch) => Object.values(patch).some((value) => value !== undefined), 'name at least one field to change');
export type ProjectPatch = z.output<typeof projectPatch>;

export const projectMemberInput = z.strictObject({ projectId: id, userId: id, role: projectMemberRole });

export const projectListOptions = z.strictObject({
  afterId: id.optional(),
  limit: z.number().int().min(1).max(1000),
  status: projectStatus.optional(),
  organizationId: id.optional(),
});
export type ProjectListOptions = z.output<typeof projectListOptions>;
