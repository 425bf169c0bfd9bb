// The bar shown over the grid while rows are selected: set one field on all of them, or delete
// them, each after a confirmation, through the bulk endpoint (all or nothing). A refused request
// changes nothing; its errors are listed per row (and the rows marked in the grid).

import { useMemo, useState } from 'react';
import { Alert, App as AntApp, Button, Form, Modal, Select, Space, Tooltip, Typography } from 'antd';
import { CloseOutlined, DeleteOutlined, EditOutlined } from '@ant-design/icons';
import { useQueryClient } from '@tanstack/react-query';
import { toProblem, unwrap, useApi, type App, type EntityDef, type FieldDef } from '../api';
import { hasRight, readOnlyFields, type Caller } from '../apps/rights';
import { formFields, toApiValue, toFormValue, type FormField } from '../form/fields';
import { FieldInput } from '../form/inputs';
import { errorText } from '../form/serverErrors';
import { localize, useI18n } from '../i18n';
import { bulkDeleteBody, bulkErrors, bulkUpdateBody, type BulkErrors } from './bulk';
import { relationTitle } from './cells';
import type { RecordRow } from './listRequest';
import type { RecordRights } from './rowRights';
import { recordKeys } from './queries';

/** The most operations one bulk request takes. */
export const BULK_MAX = 1000;

export function BulkBar({
  app,
  entity,
  caller,
  selected,
  onClear,
  errors,
  onErrors,
  rowRights,
}: {
  app: App;
  entity: EntityDef;
  caller: Caller;
  selected: readonly RecordRow[];
  onClear: () => void;
  errors: BulkErrors | null;
  onErrors: (e: BulkErrors | null) => void;
  /** What the caller may do with a row, as its page said (grid/rowRights.ts; undefined: not said). */
  rowRights?: (id: string) => RecordRights | undefined;
}) {
  const api = useApi();
  const { lang, t } = useI18n();
  const { message, modal } = AntApp.useApp();
  const queryClient = useQueryClient();
  const canUpdate = hasRight(app, entity.name, caller, 'update');
  const canDelete = hasRight(app, entity.name, caller, 'delete');
  const editable: FormField[] = useMemo(
    () =>
      formFields(entity, readOnlyFields(app, entity.name, caller), false).filter(
        (f) => !f.disabled && f.kind !== 'attachment',
      ),
    [app, entity, caller],
  );
  const [editing, setEditing] = useState(false);
  const [fieldName, setFieldName] = useState<string | undefined>();
  const [value, setValue] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const field = editable.find((f) => f.field.name === fieldName);
  const label = (f: FieldDef) => localize(f.label, lang) || f.name;
  const ids = selected.map((r) => r.id);
  const tooMany = selected.length > BULK_MAX;
  // Selected rows outside the caller's update or delete scope: the bulk request (all or
  // nothing) would be refused, so it is not offered until they are unselected.
  const notUpdatable = rowRights && canUpdate ? selected.filter((r) => rowRights(r.id)?.update === false).length : 0;
  const notDeletable = rowRights && canDelete ? selected.filter((r) => rowRights(r.id)?.delete === false).length : 0;

  const send = async (body: unknown, done: string) => {
    setBusy(true);
    onErrors(null);
    try {
      await unwrap(
        api.POST('/api/v1/data/{app}/{entity}/bulk', {
          params: { path: { app: app.name, entity: entity.name } },
          body: body as never,
        }),
      );
      await queryClient.invalidateQueries({ queryKey: [...recordKeys.all, app.name, entity.name] });
      message.success(done);
      setEditing(false);
      onClear();
    } catch (e) {
      onErrors(bulkErrors(toProblem(e), ids, lang));
    } finally {
      setBusy(false);
    }
  };

  const apply = () => {
    if (!field) return;
    let v: unknown;
    try {
      v = toApiValue(field.field, value);
    } catch {
      onErrors({ rows: new Map(), general: [t('bulk.badValue')] });
      return;
    }
    void send(bulkUpdateBody(selected, field.field.name, v), t('bulk.updated', { n: selected.length }));
  };

  const confirmDelete = () =>
    modal.confirm({
      title: t('bulk.deleteTitle', { n: selected.length }),
      content: t('bulk.deleteBody'),
      okText: t('bulk.delete'),
      okButtonProps: { danger: true, 'data-testid': 'bulk-delete-ok' } as never,
      cancelText: t('bulk.cancel'),
      onOk: () => send(bulkDeleteBody(selected), t('bulk.deleted', { n: selected.length })),
    });

  const rowTitle = (id: string) => {
    const r = selected.find((x) => x.id === id);
    return r ? relationTitle(entity, r, lang) : id;
  };
  const fieldTitle = (name: string | undefined) => {
    const f = (entity.fields ?? []).find((x) => x.name === name);
    return f ? label(f) : (name ?? '');
  };

  const errorList = errors && (errors.rows.size > 0 || errors.general.length > 0) && (
    <Alert
      type="error"
      showIcon
      className="page-alert"
      closable
      onClose={() => onErrors(null)}
      message={t('bulk.failed')}
      data-testid="bulk-errors"
      description={
        <ul className="bulk-error-list">
          {errors.general.map((m, i) => (
            <li key={`g${i}`}>{m}</li>
          ))}
          {[...errors.rows.entries()].flatMap(([id, list]) =>
            list.map((e, i) => (
              <li key={`${id}-${i}`} data-row-error={id}>
                {e.field
                  ? t('bulk.rowFieldError', {
                      row: rowTitle(id),
                      field: fieldTitle(e.field),
                      message: errorText(
                        { field: e.field, code: e.code, message: e.message },
                        (entity.fields ?? []).find((x) => x.name === e.field),
                        lang,
                        t,
                      ),
                    })
                  : t('bulk.rowError', { row: rowTitle(id), message: e.message })}
              </li>
            )),
          )}
        </ul>
      }
    />
  );

  return (
    <>
      {selected.length > 0 && (
        <div className="bulk-bar" data-testid="bulk-bar">
          <Typography.Text strong data-testid="bulk-count">
            {t('bulk.selected', { n: selected.length })}
          </Typography.Text>
          <Space size="small" wrap>
            {canUpdate && editable.length > 0 && (
              <Tooltip title={notUpdatable ? t('bulk.notUpdatable', { n: notUpdatable }) : undefined}>
                <Button
                  icon={<EditOutlined />}
                  disabled={tooMany || notUpdatable > 0}
                  onClick={() => setEditing(true)}
                  data-testid="bulk-edit"
                >
                  {t('bulk.edit')}
                </Button>
              </Tooltip>
            )}
            {canDelete && (
              <Tooltip title={notDeletable ? t('bulk.notDeletable', { n: notDeletable }) : undefined}>
                <Button
                  danger
                  icon={<DeleteOutlined />}
                  disabled={tooMany || notDeletable > 0}
                  onClick={confirmDelete}
                  data-testid="bulk-delete"
                >
                  {t('bulk.delete')}
                </Button>
              </Tooltip>
            )}
            <Button type="text" icon={<CloseOutlined />} onClick={onClear} data-testid="bulk-clear">
              {t('bulk.clear')}
            </Button>
          </Space>
          {tooMany && <Typography.Text type="warning">{t('bulk.tooMany', { n: BULK_MAX })}</Typography.Text>}
          {(notUpdatable > 0 || notDeletable > 0) && (
            <Typography.Text type="warning" data-testid="bulk-not-allowed">
              {notUpdatable > 0
                ? t('bulk.notUpdatable', { n: notUpdatable })
                : t('bulk.notDeletable', { n: notDeletable })}
            </Typography.Text>
          )}
        </div>
      )}
      {!editing && errorList}
      <Modal
        open={editing}
        title={t('bulk.editTitle', { n: selected.length })}
        okText={t('bulk.apply')}
        cancelText={t('bulk.cancel')}
        okButtonProps={{ disabled: !field, loading: busy, 'data-testid': 'bulk-apply' } as never}
        onOk={apply}
        onCancel={() => setEditing(false)}
        destroyOnHidden
      >
        <Form layout="vertical" data-testid="bulk-form">
          <Form.Item label={t('bulk.field')}>
            <Select
              value={fieldName}
              placeholder={t('bulk.pickField')}
              showSearch
              optionFilterProp="label"
              options={editable.map((f) => ({ value: f.field.name, label: label(f.field) }))}
              onChange={(name: string) => {
                const f = editable.find((x) => x.field.name === name);
                setFieldName(name);
                setValue(f ? toFormValue(f.field, null) : null);
              }}
              data-testid="bulk-field"
            />
          </Form.Item>
          {field && (
            <Form.Item label={t('bulk.value')}>
              <FieldInput f={field} app={app.name} entities={app.entities ?? []} value={value} onChange={setValue} />
            </Form.Item>
          )}
          {field && (
            <Typography.Text type="secondary">
              {t('bulk.confirm', { n: selected.length, field: label(field.field) })}
            </Typography.Text>
          )}
          {errorList}
        </Form>
      </Modal>
    </>
  );
}
