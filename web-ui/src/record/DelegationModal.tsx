// The caller's delegations (`/me/delegations`): who may decide approvals for them and when, and
// a new one (another user of the tenant, a period up to 366 days ending in the future).

import { useState } from 'react';
import { Alert, App as AntApp, Button, DatePicker, Form, List, Modal, Select, Tag, Typography } from 'antd';
import dayjs, { type Dayjs } from 'dayjs';
import 'dayjs/locale/zh-cn';
import { useQueryClient } from '@tanstack/react-query';
import { toProblem, useApi } from '../api';
import { useSession } from '../auth';
import { formatDateTime, useI18n } from '../i18n';
import { createDelegation, pageKeys, useDelegations, useUsers } from './queries';

export function DelegationModal({ onClose }: { onClose: () => void }) {
  const api = useApi();
  const queryClient = useQueryClient();
  const { user } = useSession();
  const { lang, t } = useI18n();
  const { message } = AntApp.useApp();
  // The calendar's month and day names follow the UI's language.
  dayjs.locale(lang === 'zh' ? 'zh-cn' : 'en');
  const list = useDelegations(true);
  const users = useUsers();
  const [delegate, setDelegate] = useState<string | null>(null);
  const [range, setRange] = useState<[Dayjs | null, Dayjs | null] | null>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const name = (id: string) => {
    const u = users.data?.find((x) => x.id === id);
    return u ? u.name || u.email : id;
  };

  const add = async () => {
    setError(null);
    if (!delegate || !range?.[0] || !range[1]) {
      setError(t('delegation.required'));
      return;
    }
    setBusy(true);
    try {
      await createDelegation(api, {
        delegate,
        starts_at: range[0].toISOString(),
        ends_at: range[1].toISOString(),
      });
      message.success(t('delegation.created'));
      setDelegate(null);
      setRange(null);
      await queryClient.invalidateQueries({ queryKey: pageKeys.delegations });
    } catch (e) {
      const p = toProblem(e);
      setError(t('delegation.failed', { reason: p.errors[0]?.message ?? p.displayMessage }));
    } finally {
      setBusy(false);
    }
  };

  return (
    <Modal open title={t('delegation.title')} onCancel={onClose} footer={null} width={560}>
      <div data-testid="delegations">
        <Typography.Paragraph type="secondary">{t('delegation.help')}</Typography.Paragraph>
        <List
          size="small"
          loading={list.isLoading}
          locale={{ emptyText: t('delegation.none') }}
          dataSource={list.data ?? []}
          renderItem={(d) => (
            <List.Item data-testid="delegation">
              <span>{name(d.delegate)}</span>
              <Typography.Text type="secondary">
                {t('delegation.range', { start: formatDateTime(d.starts_at, lang), end: formatDateTime(d.ends_at, lang) })}
              </Typography.Text>
              <Tag color={d.active ? 'green' : 'default'}>{d.active ? t('delegation.active') : t('delegation.inactive')}</Tag>
            </List.Item>
          )}
        />
        <Form layout="vertical" className="delegation-form">
          <Form.Item label={t('delegation.delegate')} required>
            <Select
              showSearch
              value={delegate}
              onChange={setDelegate}
              placeholder={t('form.searchUser')}
              optionFilterProp="search"
              options={(users.data ?? [])
                .filter((u) => u.id !== user.id && !u.disabled_at)
                .map((u) => ({ value: u.id, label: u.name || u.email, search: `${u.name} ${u.email}` }))}
              data-testid="delegation-delegate"
            />
          </Form.Item>
          <Form.Item label={t('delegation.period')} required>
            <div data-testid="delegation-period">
              <DatePicker.RangePicker
                showTime
                placeholder={[t('delegation.start'), t('delegation.end')]}
                value={range}
                onChange={(v) => setRange(v as [Dayjs | null, Dayjs | null] | null)}
                style={{ width: '100%' }}
              />
            </div>
          </Form.Item>
          {error && <Alert type="error" showIcon className="record-alert" message={error} data-testid="delegation-error" />}
          <Button type="primary" loading={busy} onClick={() => void add()} data-testid="delegation-add">
            {t('delegation.create')}
          </Button>
        </Form>
      </div>
    </Modal>
  );
}
