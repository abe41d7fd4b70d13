import type { TestApi } from '../helpers.js';
import { seeder } from './seed.js';

/** A tenant made through the API: its id and its first key. */
export interface ApiTenant {
  id: number;
  key: string;
}

export type Seeder = ReturnType<typeof seeder>;

export interface TwoTenants<A extends TestApi> {
  api: A;
  /** Rows created through the API with a tenant's key. */
  seed: Seeder;
  /** The tenant whose rows a test writes. */
  a: ApiTenant;
  /** Another tenant, which must never see or change a's rows. */
  b: ApiTenant;
}

/**
 * What a resource test file starts from: the API and two tenants named after the file ("Users A",
 * "Users B"), so that every file can prove a tenant cannot see or change another's rows.
 */
export async function twoTenants<A extends TestApi>(api: Promise<A>, name: string): Promise<TwoTenants<A>> {
  const opened = await api;
  return { api: opened, seed: seeder(opened), a: await opened.tenant(`${name} A`), b: await opened.tenant(`${name} B`) };
}
