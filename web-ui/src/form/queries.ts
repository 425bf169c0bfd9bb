// The record form's server calls: the record with its version (ETag), create, and update with
// `If-Match`.

import { useQuery } from '@tanstack/react-query';
import { unwrap, useApi, type ApiClient } from '../api';
import type { RecordRow } from '../grid/listRequest';
import { recordKeys } from '../grid/queries';
import type { RecordRights } from '../grid/rowRights';

export interface Versioned {
  record: RecordRow;
  /** The record's ETag as the server sent it (`"3"`). */
  etag: string | null;
}

export async function getVersioned(
  api: ApiClient,
  app: string,
  entity: string,
  id: string,
  expand: readonly string[],
  signal?: AbortSignal,
  /** Also ask what the caller may do with it (`_rights`: {@link recordRights}). */
  rights = false,
): Promise<Versioned> {
  const query: { expand?: string; rights?: boolean } = {};
  if (expand.length) query.expand = expand.join(',');
  if (rights) query.rights = true;
  const call = api.GET('/api/v1/data/{app}/{entity}/{id}', {
    params: { path: { app, entity, id }, query },
    signal,
  });
  const { response } = await call;
  const record = (await unwrap(call)) as unknown as RecordRow;
  return { record, etag: response.headers.get('ETag') };
}

/** What the caller may do with a record read with `rights` (undefined: not said), by the row
 * scopes the server's writes check. */
export function recordRights(record: RecordRow | null | undefined): RecordRights | undefined {
  const r = record?._rights as Partial<RecordRights> | undefined;
  return r && typeof r.update === 'boolean' && typeof r.delete === 'boolean' ? { update: r.update, delete: r.delete } : undefined;
}

/** The record to edit, read once (a refetch must not reset what the user is typing). */
export function useVersionedRecord(app: string, entity: string, id: string, expand: readonly string[]) {
  const api = useApi();
  return useQuery({
    queryKey: [...recordKeys.one(app, entity, id), 'edit', expand] as const,
    queryFn: ({ signal }) => getVersioned(api, app, entity, id, expand, signal, true),
    staleTime: Infinity,
    gcTime: 0,
    refetchOnWindowFocus: false,
  });
}

export async function createRecord(api: ApiClient, app: string, entity: string, body: Record<string, unknown>) {
  return (await unwrap(
    api.POST('/api/v1/data/{app}/{entity}', { params: { path: { app, entity } }, body: body as never }),
  )) as unknown as RecordRow;
}

export async function updateRecord(
  api: ApiClient,
  app: string,
  entity: string,
  id: string,
  body: Record<string, unknown>,
  etag: string | null,
) {
  return (await unwrap(
    api.PATCH('/api/v1/data/{app}/{entity}/{id}', {
      params: { path: { app, entity, id }, header: etag ? { 'If-Match': etag } : undefined },
      body: body as never,
    }),
  )) as unknown as RecordRow;
}
