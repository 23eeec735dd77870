/**
 * The PostgreSQL stores have the SQLite stores' methods, names and argument
 * shapes, but every answer is a Promise (node-postgres cannot answer
 * synchronously). `Async<Store>` is that surface, derived from the SQLite
 * store's own type, so a PG store declared `satisfies Async<…>` cannot drift
 * from its SQLite counterpart: a renamed method, a changed argument or a
 * different result type is a type error in the PG file.
 */
export type Async<T> = {
  [K in keyof T]: T[K] extends (...args: infer A) => infer R ? (...args: A) => Promise<Awaited<R>> : T[K];
};
