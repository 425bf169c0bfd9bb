// The server-state cache (TanStack Query) and how it retries.

import { QueryClient, type QueryClientConfig } from '@tanstack/react-query';
import { ProblemError } from './problem';

const MAX_RETRIES = 2;

/**
 * Whether a failed query is tried again: an answer the server meant (4xx: no
 * session, no right, bad input) is final; no answer, a timeout or a server
 * error (5xx) is tried up to twice more.
 */
export function shouldRetry(failures: number, error: unknown): boolean {
  if (failures >= MAX_RETRIES) return false;
  if (error instanceof ProblemError) return error.status === 0 || error.status >= 500;
  return false;
}

export function createQueryClient(config: QueryClientConfig = {}): QueryClient {
  return new QueryClient({
    ...config,
    defaultOptions: {
      ...config.defaultOptions,
      queries: {
        retry: shouldRetry,
        // Within 10 s, a page opened again shows the cache without asking again.
        staleTime: 10_000,
        ...config.defaultOptions?.queries,
      },
      mutations: {
        // A write is not repeated behind the user's back.
        retry: false,
        ...config.defaultOptions?.mutations,
      },
    },
  });
}
