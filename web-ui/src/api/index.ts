// The shared API layer: the generated types, the client, problems, the token,
// and the server-state cache. Each feature's queries live beside it (see queries/).

export { api, createApiClient, unwrap, type ApiClient, type ApiClientOptions } from './client';
export {
  coerceProblem,
  fieldPath,
  INVALID_RESPONSE,
  NETWORK_ERROR,
  ProblemError,
  TIMEOUT,
  toProblem,
  type Problem,
  type ProblemFieldError,
} from './problem';
export { ApiProvider, useApi } from './provider';
export { createQueryClient, shouldRetry } from './queryClient';
export { TOKEN_KEY, tokenStore } from './token';
export type * from './types';
