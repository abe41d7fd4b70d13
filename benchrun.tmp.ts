import pg from 'pg';
import { openDatabase, withDatabaseName } from './src/db/database.js';
import { migrate } from './src/db/migrator.js';
import { runEtlBench } from './bench/etl.js';
const server = 'postgres://root@127.0.0.1:5432/postgres';
const name = 'strata_bench_etl_scratch';
const c = new pg.Client({ connectionString: server }); await c.connect();
await c.query(`drop database if exists ${name}`); await c.query(`create database ${name}`); await c.end();
const db = openDatabase(withDatabaseName(server, name));
try { await migrate(db, '0013_add_etl_commit_order_and_quarantine'); console.log(await runEtlBench(db)); } finally {
await db.close();
const c2 = new pg.Client({ connectionString: server }); await c2.connect(); await c2.query(`drop database ${name} with (force)`); await c2.end(); }
