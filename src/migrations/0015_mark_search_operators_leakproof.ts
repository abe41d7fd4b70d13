import { sql, type Kysely } from 'kysely';

// Under row-level security PostgreSQL only turns a condition into an index condition when its
// operator is LEAKPROOF; jsonb @>, array @> and tsvector @@ are not marked so, and every metadata,
// tag and full-text query read the tenant's whole table instead of its GIN index (EXPLAIN-tested).
// None of the three can raise an error that depends on the row's data, so none can leak a row the
// policy hides. Marking them needs a superuser: without one this migration leaves them as they are
// (the queries stay correct, only slower) and says so.
const functions = [
  'jsonb_contains(jsonb, jsonb)',
  'arraycontains(anyarray, anyarray)',
  'ts_match_vq(tsvector, tsquery)',
];

async function mark(db: Kysely<any>, leakproof: boolean): Promise<void> {
  const statements = functions.map((fn) => `ALTER FUNCTION ${fn} ${leakproof ? '' : 'NOT '}LEAKPROOF;`).join(' ');
  await sql.raw(`
    DO $$
    BEGIN
      IF (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
        ${statements}
      ELSE
        RAISE NOTICE 'not a superuser: GIN indexes stay unused by tenant queries under row-level security';
      END IF;
    END $$;`).execute(db);
}

export async function up(db: Kysely<any>): Promise<void> {
  await mark(db, true);
}

export async function down(db: Kysely<any>): Promise<void> {
  await mark(db, false);
}
