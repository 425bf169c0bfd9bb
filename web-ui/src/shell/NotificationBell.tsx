// The header's bell: the caller's unread notifications counted on it, the newest listed under
// it (a mention with the comment's start), each opening what it is about and marked read on
// the way. Loaded after the page (see AppLayout); the count refreshes every half minute.

import { useState } from 'react';
import { Badge, Button, Empty, List, Popover, Spin, Tooltip, Typography } from 'antd';
import { BellOutlined, CheckOutlined } from '@ant-design/icons';
import { useQuery, useQueryClient } from '@tanstack/react-query';
import { useNavigate } from 'react-router';
import { unwrap, useApi } from '../api';
import type { components } from '../api/schema';
import { formatDateTime, localize, useI18n } from '../i18n';
import { formatRelative } from '../record/time';

type Notification = components['schemas']['NotificationEntry'];

const KEY = ['notifications'] as const;

/** Where a notification leads: its record's page, when it names one. */
export function notificationHref(n: Notification): string | null {
  const d = (n.data ?? {}) as Record<string, unknown>;
  const s = (k: string) => (typeof d[k] === 'string' && d[k] !== '' ? (d[k] as string) : null);
  const [app, entity, record] = [s('app'), s('entity'), s('record')];
  return app && entity && record ? `/apps/${app}/${entity}/${encodeURIComponent(record)}` : null;
}

/** A mention's excerpt with its `@[user id]` mentions as names (`@…` for one not known). */
export function excerptOf(n: Notification, nameOf: (id: string) => string | undefined): string | null {
  const e = (n.data as { excerpt?: unknown } | null)?.excerpt;
  if (typeof e !== 'string' || e.trim() === '') return null;
  return e.replace(/@\[([0-9a-fA-F-]{36})\]/g, (_, id: string) => `@${nameOf(id.toLowerCase()) ?? '…'}`).replace(/@\[[^\]]*$/, '@…');
}

export function NotificationBell() {
  const api = useApi();
  const qc = useQueryClient();
  const navigate = useNavigate();
  const { lang, t } = useI18n();
  const [open, setOpen] = useState(false);
  const inbox = useQuery({
    queryKey: KEY,
    queryFn: ({ signal }) => unwrap(api.GET('/api/v1/notifications', { params: { query: { limit: 20 } }, signal })),
    refetchInterval: 30_000,
  });
  const unread = inbox.data?.unread ?? 0;
  // Names for the mentions in the excerpts, asked once the list is open.
  const users = useQuery({
    queryKey: ['users', 'all'],
    enabled: open,
    queryFn: async ({ signal }) => (await unwrap(api.GET('/api/v1/users', { signal }))).data,
    staleTime: 60_000,
  });
  const nameOf = (id: string) => users.data?.find((u) => u.id === id)?.name;

  const markRead = async (n: Notification) => {
    if (!n.read_at) {
      await unwrap(api.POST('/api/v1/notifications/{id}/read', { params: { path: { id: n.id } } })).catch(() => undefined);
      await qc.invalidateQueries({ queryKey: KEY });
    }
  };

  const openOne = (n: Notification) => {
    void markRead(n);
    const href = notificationHref(n);
    if (href) {
      setOpen(false);
      navigate(href);
    }
  };

  const content = inbox.error ? (
    <Typography.Text type="danger">{t('notifications.loadFailed')}</Typography.Text>
  ) : !inbox.data ? (
    <Spin />
  ) : inbox.data.data.length === 0 ? (
    <Empty image={Empty.PRESENTED_IMAGE_SIMPLE} description={t('notifications.empty')} />
  ) : (
    <List
      className="notif-list"
      data-testid="notif-list"
      size="small"
      dataSource={inbox.data.data}
      renderItem={(n) => {
        const excerpt = excerptOf(n, nameOf);
        return (
          <List.Item
            className={n.read_at ? 'notif-item' : 'notif-item notif-unread'}
            data-testid="notif-item"
            data-kind={n.kind}
            data-read={n.read_at ? 'true' : 'false'}
            actions={
              n.read_at
                ? undefined
                : [
                    <Tooltip key="read" title={t('notifications.markRead')}>
                      <Button
                        size="small"
                        type="text"
                        icon={<CheckOutlined />}
                        aria-label={t('notifications.markRead')}
                        onClick={() => void markRead(n)}
                        data-testid="notif-mark-read"
                      />
                    </Tooltip>,
                  ]
            }
          >
            <div className="notif-main" role="button" tabIndex={0} onClick={() => openOne(n)} onKeyDown={(e) => e.key === 'Enter' && openOne(n)}>
              <Typography.Text strong={!n.read_at} className="notif-title" data-testid="notif-title">
                {localize(n.title as { zh?: string; en?: string }, lang)}
              </Typography.Text>
              {excerpt && (
                <Typography.Paragraph type="secondary" ellipsis={{ rows: 2 }} className="notif-excerpt">
                  {t('notifications.excerpt', { excerpt })}
                </Typography.Paragraph>
              )}
              <Typography.Text type="secondary" className="notif-time" title={formatDateTime(n.at, lang)}>
                {formatRelative(n.at, lang)}
              </Typography.Text>
            </div>
          </List.Item>
        );
      }}
    />
  );

  return (
    <Popover
      trigger="click"
      placement="bottomRight"
      open={open}
      onOpenChange={(o) => {
        setOpen(o);
        if (o) void inbox.refetch();
      }}
      title={unread > 0 ? t('notifications.unread', { n: unread }) : t('notifications.title')}
      content={<div className="notif-popover">{content}</div>}
    >
      <Badge count={unread} size="small" data-testid="notif-count" offset={[-2, 2]}>
        <Button
          type="text"
          icon={<BellOutlined />}
          aria-label={t('notifications.open')}
          data-testid="notif-bell"
          data-unread={unread}
          data-loaded={inbox.data ? 'true' : 'false'}
        />
      </Badge>
    </Popover>
  );
}
