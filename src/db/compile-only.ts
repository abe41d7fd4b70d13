import {
  DummyDriver, Kysely, PostgresAdapter, PostgresIntrospector, PostgresQueryCompiler,
  type CompiledQuery, type DatabaseConnection, type QueryResult,
} from 'kysely';

/** Kysely's DummyDriver, with each query it is asked to run handed to `onQuery` first. */
class CompileOnlyDriver extends DummyDriver {
  constructor(private readonly onQuery: (query: CompiledQuery) => void) {
    super();
  }

  override async acquireConnection(): Promise<DatabaseConnection> {
    const { onQuery } = this;
    return {
      async executeQuery<R>(query: CompiledQuery): Promise<QueryResult<R>> {
        onQuery(query);
        return { rows: [] };
      },
      // eslint-disable-next-line require-yield -- an empty stream: a compiled query returns no rows
      async* streamQuery<R>(query: CompiledQuery): AsyncIterableIterator<QueryResult<R>> {
        onQuery(query);
      },
    };
  }
}

/**
 * A Kysely for PostgreSQL that never connects: it builds and compiles queries, and each query it
 * is asked to run goes to `onQuery`, which may record it (and the query returns no rows) or throw to
 * refuse it. Used to print a migration's SQL, and to build TenantRead statements that can only run
 * through a TenantRead.
 */
export function compileOnlyKysely<T>(onQuery: (query: CompiledQuery) => void): Kysely<T> {
  return new Kysely<T>({
    dialect: {
      createAdapter: () => new PostgresAdapter(),
      createDriver: () => new CompileOnlyDriver(onQuery),
      createIntrospector: (db) => new PostgresIntrospector(db),
      createQueryCompiler: () => new PostgresQueryCompiler(),
    },
  });
}
