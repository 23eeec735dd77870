/**
 * vitest globalSetup of the "postgres" project: one throwaway PostgreSQL
 * cluster for the whole run (test/helpers/postgres.ts), with a template
 * database that already has the migrations applied, so each test stack gets
 * a fresh database of its own by copying it (CREATE DATABASE … TEMPLATE).
 * Without the server binaries the run fails here, with the reason.
 */
import type { TestProject } from 'vitest/node';
import { pgProblem, startPostgres, type PgCluster } from './postgres.js';
import { openPg } from '../../src/db/pg/client.js';

export const TEMPLATE_DB = 'chainboot_template';

let cluster: PgCluster | undefined;

export async function setup(project: TestProject): Promise<void> {
  const problem = pgProblem();
  if (problem) throw new Error(`the postgres test project cannot run: ${problem}`);
  cluster = startPostgres();
  const url = await cluster.createDatabase(TEMPLATE_DB);
  const db = await openPg(url, { max: 1 });
  await db.$client.end();
  project.provide('pgAdminUrl', cluster.url());
}

export function teardown(): void {
  cluster?.stop();
}

declare module 'vitest' {
  export interface ProvidedContext {
    pgAdminUrl: string;
  }
}
