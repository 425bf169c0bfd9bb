// One input per field type, each holding its value as JSON (see fields.ts) and controlled by
// antd's Form.Item (`value` / `onChange`).

import { useEffect, useMemo, useState } from 'react';
import { Button, Checkbox, DatePicker, Input, InputNumber, Progress, Select, Space, Tag, Upload } from 'antd';
import { DeleteOutlined, UploadOutlined } from '@ant-design/icons';
import dayjs from 'dayjs';
import 'dayjs/locale/zh-cn';
import { useQuery } from '@tanstack/react-query';
import { toProblem, tokenStore, unwrap, useApi, type EntityDef, type FieldDef } from '../api';
import { relationTitle } from '../grid/cells';
import { localize, useI18n } from '../i18n';
import { useUsers } from '../api/queries/users';
import { FileLink } from '../shared/FileLink';
import type { FormField } from './fields';

interface Control<T> {
  value?: T;
  onChange?: (v: T) => void;
  disabled?: boolean;
  id?: string;
}

function useDebounced<T>(value: T, ms: number): T {
  const [v, setV] = useState(value);
  useEffect(() => {
    const h = setTimeout(() => setV(value), ms);
    return () => clearTimeout(h);
  }, [value, ms]);
  return v;
}

export function CurrencyInput({ value, onChange, disabled, id, field }: Control<{ amount: number | null; currency: string | null }> & { field: FieldDef }) {
  const { t } = useI18n();
  const v = value ?? { amount: null, currency: field.currency ?? null };
  return (
    <Space.Compact style={{ width: '100%' }}>
      <InputNumber<number>
        id={id}
        style={{ width: '100%' }}
        value={v.amount}
        precision={field.scale ?? 2}
        disabled={disabled}
        onChange={(amount) => onChange?.({ ...v, amount: amount ?? null })}
        data-testid={`input-${field.name}`}
      />
      <Input
        aria-label={t('form.currency')}
        style={{ width: 80 }}
        maxLength={3}
        value={v.currency ?? ''}
        disabled={disabled}
        onChange={(e) => onChange?.({ ...v, currency: e.target.value.toUpperCase() || null })}
        data-testid={`input-${field.name}-currency`}
      />
    </Space.Compact>
  );
}

export function DateInput({ value, onChange, disabled, id, field, withTime }: Control<string | null> & { field: FieldDef; withTime: boolean }) {
  const { lang, t } = useI18n();
  // The calendar's month and day names follow the UI's language.
  dayjs.locale(lang === 'zh' ? 'zh-cn' : 'en');
  const d = value ? dayjs(value) : null;
  return (
    <DatePicker
      id={id}
      style={{ width: '100%' }}
      placeholder={withTime ? t('form.pickDateTime') : t('form.pickDate')}
      showTime={withTime}
      value={d && d.isValid() ? d : null}
      disabled={disabled}
      onChange={(x) => onChange?.(x ? (withTime ? x.toISOString() : x.format('YYYY-MM-DD')) : null)}
      data-testid={`input-${field.name}`}
    />
  );
}

function optionLabel(field: FieldDef, lang: 'zh' | 'en') {
  return (field.options ?? []).map((o) => ({
    value: o.value,
    label: (
      <Tag color={o.color || undefined} className="form-option-tag">
        {localize(o.label, lang) || o.value}
      </Tag>
    ),
    title: localize(o.label, lang) || o.value,
  }));
}

export function SelectInput({ value, onChange, disabled, id, field, multiple }: Control<unknown> & { field: FieldDef; multiple: boolean }) {
  const { lang, t } = useI18n();
  return (
    <Select
      id={id}
      mode={multiple ? 'multiple' : undefined}
      allowClear
      placeholder={t('form.select')}
      value={value ?? (multiple ? [] : undefined)}
      disabled={disabled}
      onChange={(v) => onChange?.(v ?? null)}
      options={optionLabel(field, lang)}
      optionFilterProp="title"
      data-testid={`input-${field.name}`}
    />
  );
}

type Row = Record<string, unknown> & { id: string };

/** Searches the target entity with `q` and shows related records by their title. */
export function RelationPicker({
  value,
  onChange,
  disabled,
  id,
  field,
  app,
  target,
  known,
}: Control<string | null> & { field: FieldDef; app: string; target: EntityDef | undefined; known?: Row | null }) {
  const api = useApi();
  const { lang, t } = useI18n();
  const [search, setSearch] = useState('');
  // Asked when the list opens, not for every relation of every form opened.
  const [opened, setOpened] = useState(false);
  const q = useDebounced(search.trim(), 250);
  const titleField = target?.title_field;
  const results = useQuery({
    queryKey: ['records', app, target?.name ?? '', 'pick', q],
    enabled: !!target && !disabled && opened,
    queryFn: async ({ signal }) =>
      (
        (await unwrap(
          api.GET('/api/v1/data/{app}/{entity}', {
            params: {
              path: { app, entity: target!.name },
              query: { limit: 20, ...(q ? { q } : {}), ...(titleField ? { fields: `id,${titleField}` } : {}) },
            },
            signal,
          }),
        )) as unknown as { data: Row[] }
      ).data,
    placeholderData: (prev) => prev,
  });
  const [picked, setPicked] = useState<Row | null>(known ?? null);
  const options = useMemo(() => {
    const rows = [...(results.data ?? [])];
    for (const r of [picked, known]) if (r && !rows.some((x) => x.id === r.id)) rows.unshift(r);
    if (value && !rows.some((x) => x.id === value)) rows.unshift({ id: value });
    return rows.map((r) => ({ value: r.id, label: relationTitle(target, r, lang), row: r }));
  }, [results.data, picked, known, value, target, lang]);
  return (
    <Select
      id={id}
      showSearch
      allowClear
      filterOption={false}
      placeholder={t('form.searchRecord')}
      value={value ?? undefined}
      disabled={disabled}
      onSearch={setSearch}
      onOpenChange={(open) => open && setOpened(true)}
      loading={results.isFetching}
      notFoundContent={t('form.noMatch')}
      onChange={(v, opt) => {
        const o = Array.isArray(opt) ? opt[0] : opt;
        setPicked((o as { row?: Row } | undefined)?.row ?? null);
        onChange?.(v ?? null);
      }}
      options={options}
      data-testid={`input-${field.name}`}
    />
  );
}

/** The tenant's users (`GET /users`), searched by name and e-mail in the browser. */
export function UserPicker({ value, onChange, disabled, id, field }: Control<string | null> & { field: FieldDef }) {
  const { t } = useI18n();
  const users = useUsers();
  const options = (users.data ?? [])
    .filter((u) => !u.disabled_at || u.id === value)
    .map((u) => ({
      value: u.id,
      label: (
        <span className="form-user">
          <span>{u.name || u.email}</span>
          <span className="form-user-email">{u.email}</span>
        </span>
      ),
      search: `${u.name} ${u.email}`.toLowerCase(),
    }));
  if (value && !options.some((o) => o.value === value)) {
    options.unshift({ value, label: <span>{value}</span>, search: value });
  }
  return (
    <Select
      id={id}
      showSearch
      allowClear
      placeholder={t('form.searchUser')}
      value={value ?? undefined}
      disabled={disabled}
      loading={users.isLoading}
      notFoundContent={t('form.noMatch')}
      filterOption={(input, o) => (o?.search ?? '').includes(input.toLowerCase())}
      onChange={(v) => onChange?.(v ?? null)}
      options={options}
      data-testid={`input-${field.name}`}
    />
  );
}

export interface StoredFile {
  id: string;
  name?: string;
  size?: number;
  content_type?: string;
}

/** Uploads one file to `POST /api/v1/files` (XHR, for its progress); resolves with the stored file. */
export function uploadFile(file: File, onProgress: (percent: number) => void): Promise<StoredFile> {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('POST', '/api/v1/files');
    const token = tokenStore.get();
    if (token) xhr.setRequestHeader('Authorization', `Bearer ${token}`);
    xhr.setRequestHeader('Accept', 'application/json');
    xhr.upload.onprogress = (e) => {
      if (e.lengthComputable) onProgress(Math.round((e.loaded / e.total) * 100));
    };
    xhr.onload = () => {
      try {
        const body = JSON.parse(xhr.responseText || 'null');
        if (xhr.status === 201 && body && typeof body.id === 'string') resolve(body as StoredFile);
        else reject(new Error((body && (body.detail || body.title)) || `HTTP ${xhr.status}`));
      } catch (e) {
        reject(e);
      }
    };
    xhr.onerror = () => reject(new Error('network error'));
    const form = new FormData();
    form.append('file', file, file.name);
    xhr.send(form);
  });
}

export function AttachmentInput({ value, onChange, disabled, field }: Control<StoredFile[]> & { field: FieldDef }) {
  const { t } = useI18n();
  const files = value ?? [];
  const [uploading, setUploading] = useState<{ name: string; percent: number; error?: string } | null>(null);
  const max = Math.min(field.max_files ?? 100, 100);
  return (
    <div className="form-files" data-testid={`input-${field.name}`}>
      {files.map((f) => (
        <div key={f.id} className="form-file" data-file-id={f.id}>
          <FileLink file={f} />
          {!disabled && (
            <Button
              type="text"
              size="small"
              icon={<DeleteOutlined />}
              aria-label={t('form.removeFile')}
              onClick={() => onChange?.(files.filter((x) => x.id !== f.id))}
            />
          )}
        </div>
      ))}
      {uploading && (
        <div className="form-upload-progress" data-testid={`upload-progress-${field.name}`}>
          <span className="form-file-name">{uploading.name}</span>
          <Progress percent={uploading.percent} size="small" status={uploading.error ? 'exception' : undefined} />
          {uploading.error && <div className="form-upload-error">{uploading.error}</div>}
        </div>
      )}
      {!disabled && files.length < max && (
        <Upload
          showUploadList={false}
          accept={field.accept?.join(',')}
          customRequest={({ file }) => {
            const f = file as File;
            setUploading({ name: f.name, percent: 0 });
            uploadFile(f, (percent) => setUploading({ name: f.name, percent }))
              .then((stored) => {
                setUploading(null);
                onChange?.([...files, stored]);
              })
              .catch((e) =>
                setUploading({
                  name: f.name,
                  percent: 100,
                  error: t('form.uploadFailed', { name: f.name, reason: toProblem(e).displayMessage }),
                }),
              );
          }}
        >
          <Button icon={<UploadOutlined />} data-testid={`upload-${field.name}`}>
            {t('form.upload')}
          </Button>
        </Upload>
      )}
    </div>
  );
}

/** The input of one form field. */
export function FieldInput({
  f,
  app,
  entities,
  known,
  ...control
}: Control<unknown> & { f: FormField; app: string; entities: readonly EntityDef[]; known?: Row | null }) {
  const { t } = useI18n();
  const { field, kind } = f;
  const testid = `input-${field.name}`;
  const common = { id: control.id, disabled: control.disabled };
  const str = (v: unknown) =>
    v === null || v === undefined ? '' : typeof v === 'object' ? JSON.stringify(v) : String(v);
  switch (kind) {
    case 'textarea':
      return (
        <Input.TextArea
          {...common}
          autoSize={{ minRows: 3, maxRows: 12 }}
          value={str(control.value)}
          onChange={(e) => control.onChange?.(e.target.value)}
          maxLength={field.max_length}
          data-testid={testid}
        />
      );
    case 'json':
      return (
        <Input.TextArea
          {...common}
          className="form-json"
          autoSize={{ minRows: 3, maxRows: 16 }}
          value={str(control.value)}
          onChange={(e) => control.onChange?.(e.target.value)}
          data-testid={testid}
        />
      );
    case 'integer':
    case 'decimal':
    case 'percent':
      return (
        <InputNumber<number>
          {...common}
          style={{ width: '100%' }}
          value={control.value as number | null}
          precision={kind === 'integer' ? 0 : (field.scale ?? 2)}
          {...(kind === 'percent' ? { suffix: '%' } : {})}
          onChange={(v) => control.onChange?.(v ?? null)}
          data-testid={testid}
        />
      );
    case 'currency':
      return <CurrencyInput {...common} value={control.value as never} onChange={control.onChange} field={field} />;
    case 'select':
    case 'multiselect':
      return <SelectInput {...common} value={control.value} onChange={control.onChange} field={field} multiple={kind === 'multiselect'} />;
    case 'boolean':
      return (
        <Checkbox
          {...common}
          checked={control.value === true}
          onChange={(e) => control.onChange?.(e.target.checked)}
          data-testid={testid}
        />
      );
    case 'date':
    case 'datetime':
      return <DateInput {...common} value={control.value as string | null} onChange={control.onChange} field={field} withTime={kind === 'datetime'} />;
    case 'user':
      return <UserPicker {...common} value={control.value as string | null} onChange={control.onChange} field={field} />;
    case 'relation':
      return (
        <RelationPicker
          {...common}
          value={control.value as string | null}
          onChange={control.onChange}
          field={field}
          app={app}
          target={entities.find((e) => e.name === field.target)}
          known={known}
        />
      );
    case 'attachment':
      return <AttachmentInput {...common} value={control.value as StoredFile[]} onChange={control.onChange} field={field} />;
    case 'computed':
      return <Input {...common} disabled value={str(control.value)} placeholder={t('form.computed')} data-testid={testid} />;
    case 'email':
    case 'url':
    case 'phone':
    case 'text':
    default:
      return (
        <Input
          {...common}
          type={kind === 'email' ? 'email' : kind === 'url' ? 'url' : kind === 'phone' ? 'tel' : 'text'}
          value={str(control.value)}
          onChange={(e) => control.onChange?.(e.target.value)}
          maxLength={field.max_length}
          data-testid={testid}
        />
      );
  }
}
