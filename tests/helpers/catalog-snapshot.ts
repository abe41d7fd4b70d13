import { sql, type Kysely, type RawBuilder } from 'kysely';

/**
 * What a migration can change in the public schema, one line per object, in a stable order, so that
 * two snapshots compare with `toEqual` and a difference reads as a diff of named objects.
 */
export interface CatalogSnapshot {
  extensions: string[];
  types: string[];
  relations: string[];
  partitions: string[];
  columns: string[];
  constraints: string[];
  indexes: string[];
  rowSecurity: string[];
  policies: string[];
  triggers: string[];
  functions: string[];
  leakproof: string[];
  privileges: string[];
}

// Kysely's own bookkeeping is not part of the schema a migration owns.
const strataRelation = (alias: string) => sql.raw(
  `${alias}.relnamespace = 'public'::regnamespace and ${alias}.relname not like 'kysely\\_migration%'`);

const queries: Record<keyof CatalogSnapshot, RawBuilder<{ line: string }>> = {
  extensions: sql`select extname || ' ' || extversion as line from pg_extension where extname <> 'plpgsql' order by 1`,
  types: sql`
    select format('%s %s', t.typname, t.typtype) as line from pg_type t
    left join pg_class c on c.oid = t.typrelid
    where t.typnamespace = 'public'::regnamespace and t.typtype in ('e', 'd', 'r', 'm', 'c')
      and (t.typtype <> 'c' or c.relkind = 'c')
    order by 1`,
  relations: sql`
    select format('%s %s', c.relname, c.relkind) as line from pg_class c
    where ${strataRelation('c')} and c.relkind in ('r', 'p', 'v', 'm', 'f', 'S', 'c')
    order by 1`,
  partitions: sql`
    select format('%s partition by %s', c.relname, pg_get_partkeydef(c.oid)) as line from pg_class c
    where ${strataRelation('c')} and c.relkind = 'p'
    union all
    select format('%s partition of %s %s', c.relname, p.relname, pg_get_expr(c.relpartbound, c.oid)) from pg_inherits i
    join pg_class c on c.oid = i.inhrelid join pg_class p on p.oid = i.inhparent
    where ${strataRelation('c')} and c.relkind in ('r', 'p')
    order by 1`,
  columns: sql`
    select format('%s.%s %s%s%s%s%s', c.relname, a.attname, format_type(a.atttypid, a.atttypmod),
      case when a.attnotnull then ' not null' else '' end,
      case when a.attidentity <> '' then ' identity:' || a.attidentity::text else '' end,
      case when a.attgenerated = '' and d.adbin is not null then ' default ' || pg_get_expr(d.adbin, d.adrelid) else '' end,
      case when a.attgenerated <> '' then ' generated ' || pg_get_expr(d.adbin, d.adrelid) else '' end) as line
    from pg_attribute a
    join pg_class c on c.oid = a.attrelid
    left join pg_attrdef d on d.adrelid = a.attrelid and d.adnum = a.attnum
    where ${strataRelation('c')} and c.relkind in ('r', 'p', 'v', 'm', 'f') and a.attnum > 0 and not a.attisdropped
    order by c.relname, a.attnum`,
  constraints: sql`
    select format('%s.%s %s', c.relname, con.conname, pg_get_constraintdef(con.oid)) as line
    from pg_constraint con join pg_class c on c.oid = con.conrelid
    where ${strataRelation('c')}
    order by 1`,
  indexes: sql`
    select pg_get_indexdef(i.indexrelid) as line from pg_index i join pg_class c on c.oid = i.indrelid
    where ${strataRelation('c')}
    order by 1`,
  rowSecurity: sql`
    select format('%s enable=%s force=%s', c.relname, c.relrowsecurity, c.relforcerowsecurity) as line from pg_class c
    where ${strataRelation('c')} and c.relkind in ('r', 'p')
    order by 1`,
  policies: sql`
    select format('%s.%s %s %s to %s using (%s) with check (%s)', tablename, policyname, permissive, cmd, roles::text,
      coalesce(qual, ''), coalesce(with_check, '')) as line
    from pg_policies where schemaname = 'public'
    order by 1`,
  triggers: sql`
    select format('%s %s', pg_get_triggerdef(t.oid), case when t.tgenabled = 'D' then 'disabled' else '' end) as line
    from pg_trigger t join pg_class c on c.oid = t.tgrelid
    where ${strataRelation('c')} and not t.tgisinternal
    order by 1`,
  functions: sql`
    select format('%s(%s) returns %s language %s %s md5=%s', p.proname, pg_get_function_identity_arguments(p.oid),
      coalesce(pg_get_function_result(p.oid), ''), l.lanname, p.provolatile, md5(p.prosrc)) as line
    from pg_proc p join pg_language l on l.oid = p.prolang
    where p.pronamespace = 'public'::regnamespace
    order by 1`,
  // Built-in operators a migration marks LEAKPROOF so that indexes serve them under row-level security.
  leakproof: sql`
    select p.oid::regprocedure::text as line from pg_proc p
    where p.proleakproof and p.pronamespace = 'pg_catalog'::regnamespace
    order by 1`,
  privileges: sql`
    select format('%s %s', c.relname, a.privilege_type) as line
    from pg_class c cross join lateral aclexplode(c.relacl) a join pg_roles r on r.oid = a.grantee
    where ${strataRelation('c')} and r.rolname = 'strata_app'
    union all
    select format('schema %s %s', n.nspname, a.privilege_type)
    from pg_namespace n cross join lateral aclexplode(n.nspacl) a join pg_roles r on r.oid = a.grantee
    where n.nspname = 'public' and r.rolname = 'strata_app'
    order by 1`,
};

/** The public schema as PostgreSQL reports it, minus Kysely's migration bookkeeping. */
export async function catalogSnapshot(db: Kysely<any>): Promise<CatalogSnapshot> {
  const entries = await Promise.all(Object.entries(queries).map(async ([section, query]) => {
    const { rows } = await query.execute(db);
    return [section, rows.map((row) => row.line)] as const;
  }));
  return Object.fromEntries(entries) as unknown as CatalogSnapshot;
}

/** The sections in which two snapshots differ; empty when they are equal. */
export function changedSections(before: CatalogSnapshot, after: CatalogSnapshot): (keyof CatalogSnapshot)[] {
  return (Object.keys(before) as (keyof CatalogSnapshot)[])
    .filter((section) => JSON.stringify(before[section]) !== JSON.stringify(after[section]));
}
