/** Expected failures, mapped to HTTP statuses by the API and to exit codes by the CLI. */
export class NotFoundError extends Error {
  override name = 'NotFoundError';
}
export class ConflictError extends Error {
  override name = 'ConflictError';
}
export class InvalidInputError extends Error {
  override name = 'InvalidInputError';
}
