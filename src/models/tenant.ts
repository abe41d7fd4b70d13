import { z } from 'zod';
import { name, slug } from './common.js';

export type { Tenant, ApiKey, AdminKey } from '../db/schema.generated.js';

export const tenantInput = z.strictObject({ name, slug });
export type TenantInput = z.output<typeof tenantInput>;
