/** Counts the statements sent to PostgreSQL, so tests can assert "zero queries" and "one query". */
export class QueryCounter {
  #count = 0;
  readonly statements: string[] = [];
  #recording = false;

  record(sqlText: string): void {
    this.#count += 1;
    if (this.#recording) this.statements.push(sqlText);
  }

  get count(): number {
    return this.#count;
  }

  /** Runs fn and returns how many statements it sent (and their text). */
  async measure<T>(fn: () => Promise<T>): Promise<{ result: T; queries: number; statements: string[] }> {
    const before = this.#count;
    this.statements.length = 0;
    this.#recording = true;
    try {
      const result = await fn();
      return { result, queries: this.#count - before, statements: [...this.statements] };
    } finally {
      this.#recording = false;
    }
  }
}
