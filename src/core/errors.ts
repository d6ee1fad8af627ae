// Errors of the control plane that the REST API maps to its answers (api/app.ts): 404 and 409 with
// their API_ERR_* codes.

export class ConflictError extends Error {
  readonly code = 'API_ERR_CONFLICT';
}

export class NotFoundError extends Error {
  readonly code = 'API_ERR_NOT_FOUND';
}
