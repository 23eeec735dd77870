import { defineConfig } from 'drizzle-kit';

/** PostgreSQL migrations (DATABASE_URL=postgres://…): `npm run db:generate:pg`. */
export default defineConfig({
  dialect: 'postgresql',
  schema: './src/db/pg/schema.ts',
  out: './migrations/pg',
});
