// The record page's server calls, over the generated client: the record with its version, its
// pipeline, the moves from its stage, its timeline and comments, the approvals waiting on it, the app's
// manual rules and their runs, the records pointing at it, the caller's delegations, and the
// writes (a transition, a decision, a manual run, a delegation).

import { useInfiniteQuery, useQuery } from '@tanstack/react-query';
import { unwrap, useApi, type ApiClient } from '../api';
import type { components } from '../api/schema';
import { pageQuery, type RecordPage } from '../grid/listRequest';
import { recordKeys } from '../grid/queries';
import { getVersioned } from '../form/queries';
import type { MessageKey } from '../i18n';
import { useUsers as useSharedUsers, userKeys } from '../api/queries/users';

type S = components['schemas'];
export type NextMoves = S['NextMoves'];
export type NextMove = S['NextMove'];
export type Blocker = S['FieldError'];
export type PipelineDef = S['PipelineDef'];
export type StageDef = S['StageDef'];
export type PostedComment = S['PostedComment'];
export type MentionedUser = S['MentionedUser'];
export type Approval = S['Approval'];
export type RuleEntry = S['RuleEntry'];
export type RunOut = S['RunOut'];
export type RunStatus = S['RunStatus'];

/** How a rule's run stands, in the UI (typed, so a missing message does not compile). */
export const RUN_STATUS_LABEL: Readonly<Record<RunStatus, MessageKey>> = {
  running: 'rules.status.running',
  done: 'rules.status.done',
  failed: 'rules.status.failed',
  skipped: 'rules.status.skipped',
  depth_limit: 'rules.status.depth_limit',
  error: 'rules.status.error',
};
export type Delegation = S['DelegationEntry'];
export type DelegationRequest = S['DelegationRequest'];
export type TransitionRequest = S['TransitionRequest'];
export type TransitionAnswer = S['Moved'] | S['PendingApproval'];
export type { UserEntry } from '../api/queries/users';

/** Keys of what the page reads; everything of one record starts with `recordKeys.one`. */
export const pageKeys = {
  record: (app: string, entity: string, id: string, expand: readonly string[]) =>
    [...recordKeys.one(app, entity, id), 'page', expand] as const,
  transitions: (app: string, entity: string, id: string) => [...recordKeys.one(app, entity, id), 'transitions'] as const,
  timeline: (app: string, entity: string, id: string) => [...recordKeys.one(app, entity, id), 'timeline'] as const,
  pipeline: (app: string, entity: string) => ['pipeline', app, entity] as const,
  approvals: ['approvals'] as const,
  rules: (app: string) => ['rules', app] as const,
  runs: (app: string, rule: string) => ['rules', app, rule, 'runs'] as const,
  delegations: ['me', 'delegations'] as const,
  users: userKeys.all,
};

/** The record with its ETag (a transition sends it as `If-Match`). */
export function usePageRecord(app: string, entity: string, id: string, expand: readonly string[]) {
  const api = useApi();
  return useQuery({
    queryKey: pageKeys.record(app, entity, id, expand),
    // With what the caller may do with it: the page offers no edit the server would refuse.
    queryFn: ({ signal }) => getVersioned(api, app, entity, id, expand, signal, true),
  });
}

/** The entity's pipeline, or `null` when it has none. */
export function usePipeline(app: string, entity: string) {
  const api = useApi();
  return useQuery({
    queryKey: pageKeys.pipeline(app, entity),
    queryFn: async ({ signal }): Promise<PipelineDef | null> =>
      unwrap(api.GET('/api/v1/apps/{app}/entities/{entity}/pipeline', { params: { path: { app, entity } }, signal })),
    staleTime: 60_000,
  });
}

/** The stage, its SOP and the moves from it (asked only for an entity with a pipeline). */
export function useTransitions(app: string, entity: string, id: string, enabled: boolean) {
  const api = useApi();
  return useQuery({
    queryKey: pageKeys.transitions(app, entity, id),
    enabled,
    queryFn: async ({ signal }): Promise<NextMoves> =>
      unwrap(
        api.GET('/api/v1/data/{app}/{entity}/{id}/transitions', { params: { path: { app, entity, id } }, signal }),
      ),
  });
}

/** The record's timeline (changes, moves, approvals, runs, comments), oldest first, page after page. */
export function useTimeline(app: string, entity: string, id: string) {
  const api = useApi();
  return useInfiniteQuery({
    queryKey: pageKeys.timeline(app, entity, id),
    initialPageParam: null as string | null,
    queryFn: async ({ pageParam, signal }) =>
      unwrap(
        api.GET('/api/v1/data/{app}/{entity}/{id}/timeline', {
          params: { path: { app, entity, id }, query: { limit: 100, ...(pageParam ? { cursor: pageParam } : {}) } },
          signal,
        }),
      ),
    getNextPageParam: (last) => last.next_cursor ?? null,
  });
}

export async function postComment(api: ApiClient, app: string, entity: string, id: string, body: string): Promise<PostedComment> {
  return unwrap(api.POST('/api/v1/data/{app}/{entity}/{id}/comments', { params: { path: { app, entity, id } }, body: { body } }));
}

export async function deleteComment(api: ApiClient, app: string, entity: string, id: string, comment: string): Promise<void> {
  await unwrap(
    api.DELETE('/api/v1/data/{app}/{entity}/{id}/comments/{comment_id}', {
      params: { path: { app, entity, id, comment_id: comment } },
    }),
  );
}

/** Users the caller may mention on the record (those who may read it), whose name or e-mail holds `q`. */
export async function mentionable(
  api: ApiClient,
  app: string,
  entity: string,
  id: string,
  q: string,
  signal?: AbortSignal,
): Promise<MentionedUser[]> {
  return (
    await unwrap(
      api.GET('/api/v1/data/{app}/{entity}/{id}/mentionable', {
        params: { path: { app, entity, id }, query: { q, limit: 10 } },
        signal,
      }),
    )
  ).data;
}

/**
 * Pending approvals: all the caller may see (`mine=false`) or only those they may decide,
 * themselves or by delegation (`mine=true`). The API lists the tenant's; the page keeps its record's.
 */
export function usePendingApprovals(mine: boolean) {
  const api = useApi();
  return useQuery({
    queryKey: [...pageKeys.approvals, 'pending', mine] as const,
    queryFn: async ({ signal }): Promise<Approval[]> =>
      (await unwrap(api.GET('/api/v1/approvals', { params: { query: { status: 'pending', mine } }, signal }))).data,
  });
}

export async function decide(api: ApiClient, approval: string, approve: boolean, comment: string): Promise<Approval> {
  const path = { id: approval };
  return approve
    ? unwrap(api.POST('/api/v1/approvals/{id}/approve', { params: { path }, body: comment ? { comment } : {} }))
    : unwrap(api.POST('/api/v1/approvals/{id}/reject', { params: { path }, body: { comment } }));
}

export async function transition(
  api: ApiClient,
  app: string,
  entity: string,
  id: string,
  body: TransitionRequest,
  etag: string | null,
): Promise<TransitionAnswer> {
  return unwrap(
    api.POST('/api/v1/data/{app}/{entity}/{id}/transition', {
      params: { path: { app, entity, id }, header: etag ? { 'If-Match': etag } : undefined },
      body,
    }),
  );
}

/** The app's rules as the caller reads them. */
export function useRules(app: string) {
  const api = useApi();
  return useQuery({
    queryKey: pageKeys.rules(app),
    queryFn: async ({ signal }): Promise<RuleEntry[]> =>
      (await unwrap(api.GET('/api/v1/apps/{app}/rules', { params: { path: { app } }, signal }))).data,
    staleTime: 60_000,
  });
}

/** Starts a manual rule on the record; answers the event it wrote (its run carries it). */
export async function runRule(api: ApiClient, app: string, entity: string, id: string, rule: string): Promise<string> {
  return (
    await unwrap(
      api.POST('/api/v1/data/{app}/{entity}/{id}/rules/{rule}/run', { params: { path: { app, entity, id, rule } } }),
    )
  ).event;
}

export async function ruleRuns(api: ApiClient, app: string, rule: string, signal?: AbortSignal): Promise<RunOut[]> {
  return (
    await unwrap(api.GET('/api/v1/apps/{app}/rules/{rule}/runs', { params: { path: { app, rule }, query: { limit: 20 } }, signal }))
  ).data;
}

/** Records of `entity` whose relation `field` points at `id`, a page at a time. */
export function useRelated(app: string, entity: string, field: string, id: string, pageSize: number) {
  const api = useApi();
  const filter = { field, op: 'eq', value: id };
  return useInfiniteQuery({
    queryKey: [...recordKeys.all, app, entity, 'list', { filter, limit: pageSize, related: true }] as const,
    initialPageParam: null as string | null,
    queryFn: async ({ pageParam, signal }) =>
      (await unwrap(
        api.GET('/api/v1/data/{app}/{entity}', {
          params: {
            path: { app, entity },
            query: { ...pageQuery({ filter, limit: pageSize, cursor: pageParam }), count: pageParam === null },
          },
          signal,
        }),
      )) as unknown as RecordPage,
    getNextPageParam: (last) => last.next_cursor ?? null,
  });
}

/** The tenant's users, to show names instead of ids (shared with the form's user picker). */
export function useUsers() {
  return useSharedUsers();
}

export function useDelegations(enabled: boolean) {
  const api = useApi();
  return useQuery({
    queryKey: pageKeys.delegations,
    enabled,
    queryFn: async ({ signal }): Promise<Delegation[]> =>
      (await unwrap(api.GET('/api/v1/me/delegations', { signal }))).data,
  });
}

export async function createDelegation(api: ApiClient, body: DelegationRequest): Promise<Delegation> {
  return unwrap(api.POST('/api/v1/me/delegations', { body }));
}
