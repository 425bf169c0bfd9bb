// `/apps/:app/:entity/new` and `/apps/:app/:entity/:id/edit`: the record form, laid out by the
// entity's form in the definition (sections and columns, `layout.ts`), else generated from the
// entity's fields in definition order. Fields whose `visible_if` is false are not shown (nor
// sent, nor checked), and a `required_if` written as a condition marks its field required as
// the user types (`condition.ts`, the server's rules).
// Create posts the filled fields; edit patches the changed ones with `If-Match`, and a 412
// offers the other person's version or re-applying the changes over it. An unsaved form is
// kept as a draft in localStorage until it is saved or cancelled.

import { useMemo, useRef, useState } from 'react';
import { Alert, App as AntApp, Button, Card, Col, Form, Result, Row, Skeleton, Space, Typography } from 'antd';
import { ArrowLeftOutlined } from '@ant-design/icons';
import { useQueryClient } from '@tanstack/react-query';
import { Link, useNavigate, useParams } from 'react-router';
import { toProblem, useApi, type App, type EntityDef, type FieldDef, type ProblemError } from '../api';
import { hasRight, readableEntities, readOnlyFields, type Caller } from '../apps/rights';
import { relationTitle } from '../grid/cells';
import type { RecordRow } from '../grid/listRequest';
import { recordKeys } from '../grid/queries';
import { localeTag, localize, translate, useI18n } from '../i18n';
import { useAppOutlet } from '../shell/AppContext';
import { useSession } from '../auth';
import { checkValue } from './checks';
import { fieldTypes, isRequiredNow, isVisible } from './condition';
import { draftKey, draftStore } from './drafts';
import {
  changedValues,
  createBody,
  formFields,
  initialValues,
  isWide,
  patchBody,
  sameValue,
  toApiValue,
  type FormField,
  type FormValues,
} from './fields';
import { FieldInput } from './inputs';
import { colWidth, entityForm, layoutSections } from './layout';
import { createRecord, getVersioned, recordRights, updateRecord, useVersionedRecord, type Versioned } from './queries';
import { mapServerErrors } from './serverErrors';

/**
 * Who owns the record (it decides the own and team scopes): a user the API lets the form set,
 * unless the caller's roles make it read-only. A new record left without one is the creator's.
 */
const OWNER = {
  name: 'owner',
  type: 'user',
  label: { zh: translate('zh', 'field.owner'), en: translate('en', 'field.owner') },
} as FieldDef;

export default function RecordFormPage() {
  const { entity: name = '', id } = useParams();
  const { app, caller } = useAppOutlet();
  const { t } = useI18n();
  const readable = useMemo(() => readableEntities(app, caller), [app, caller]);
  const entity = readable.find((e) => e.name === name);
  if (!entity) return <Result status="404" title={t('grid.entityNotFound')} />;
  const allowed = hasRight(app, name, caller, id ? 'update' : 'create');
  if (!allowed) {
    return (
      <div data-testid="form-not-allowed">
        <Result status="403" title={t('form.notAllowed')} />
      </div>
    );
  }
  return id ? (
    <EditLoader key={`${app.name}/${name}/${id}`} app={app} caller={caller} entity={entity} id={id} />
  ) : (
    <RecordForm key={`${app.name}/${name}/new`} app={app} caller={caller} entity={entity} current={null} />
  );
}

function relationExpand(app: App, caller: Caller, entity: EntityDef): string[] {
  const readable = new Set(readableEntities(app, caller).map((e) => e.name));
  return (entity.fields ?? []).filter((f) => f.type === 'relation' && readable.has(f.target ?? '')).map((f) => f.name);
}

function EditLoader({ app, caller, entity, id }: { app: App; caller: Caller; entity: EntityDef; id: string }) {
  const { t } = useI18n();
  const expand = useMemo(() => relationExpand(app, caller, entity), [app, caller, entity]);
  const q = useVersionedRecord(app.name, entity.name, id, expand);
  if (q.error) {
    const err = toProblem(q.error);
    return err.status === 404 ? (
      <Result status="404" title={t('record.notFound')} />
    ) : (
      <Alert type="error" showIcon message={t('form.loadFailed')} description={err.displayMessage} />
    );
  }
  if (!q.data) return <Skeleton active />;
  // The entity's right is not enough: the record must be inside the caller's update scope.
  if (recordRights(q.data.record)?.update === false) {
    return (
      <div data-testid="form-not-allowed">
        <Result status="403" title={t('form.notAllowed')} />
      </div>
    );
  }
  return <RecordForm app={app} caller={caller} entity={entity} current={q.data} />;
}

/** A stale save: the record as the other person left it, and which fields they changed. */
interface Stale {
  theirs: Versioned;
  changed: string[];
}

function RecordForm({
  app,
  caller,
  entity,
  current,
}: {
  app: App;
  caller: Caller;
  entity: EntityDef;
  current: Versioned | null;
}) {
  const api = useApi();
  const { lang, t } = useI18n();
  const { message } = AntApp.useApp();
  const navigate = useNavigate();
  const queryClient = useQueryClient();
  const [form] = Form.useForm<FormValues>();
  const creating = current === null;
  const id = current?.record.id ?? null;

  const fields: FormField[] = useMemo(
    () => formFields(entity, readOnlyFields(app, entity.name, caller), creating, [OWNER]),
    [app, entity, caller, creating],
  );
  const { user } = useSession();
  const key = draftKey(user.id, app.name, entity.name, id);
  // What the changes are measured against: the record as read (or a new record's defaults).
  const [base, setBase] = useState(() => ({
    values: initialValues(fields, current?.record ?? null),
    etag: current?.etag ?? null,
    record: current?.record ?? null,
  }));
  const [restored, setRestored] = useState(() => {
    const d = draftStore.load(key);
    return d && Object.keys(d.values).length ? d.values : null;
  });
  const start = useRef<FormValues>({ ...base.values, ...(restored ?? {}) });
  const [saving, setSaving] = useState(false);
  const [top, setTop] = useState<string[]>([]);
  const [stale, setStale] = useState<Stale | null>(null);

  // The conditions, live: which fields are shown and which of those are required now.
  const watched = Form.useWatch((all: FormValues) => all, { form, preserve: true });
  const types = useMemo(() => fieldTypes(entity.fields ?? []), [entity]);
  const userId = caller.user.id ?? '';
  const live = useMemo(() => {
    const values: FormValues = { ...start.current, ...(watched ?? {}) };
    const record: Record<string, unknown> = {};
    for (const { field } of fields) {
      try {
        record[field.name] = toApiValue(field, values[field.name]);
      } catch {
        record[field.name] = null; // json text that does not parse yet
      }
    }
    const visible = new Set<string>();
    const required = new Set<string>();
    for (const { field } of fields) {
      if (!isVisible(field, types, record, userId)) continue;
      visible.add(field.name);
      if (isRequiredNow(field, types, record, userId)) required.add(field.name);
    }
    return { visible, required };
  }, [watched, fields, types, userId]);
  const shown = (list: readonly FormField[]) => list.filter((f) => live.visible.has(f.field.name));
  const sections = useMemo(
    () => layoutSections(entityForm(app, entity), fields, (f) => f.field.name, (f) => isWide(f.kind)),
    [app, entity, fields],
  );

  const back = id ? `/apps/${app.name}/${entity.name}/${encodeURIComponent(id)}` : `/apps/${app.name}/${entity.name}`;
  const title = creating
    ? t('form.newTitle', { entity: localize(entity.label, lang) || entity.name })
    : t('form.editTitle', { title: relationTitle(entity, current.record, lang) });

  const saveDraft = (values: FormValues) => draftStore.save(key, changedValues(fields, base.values, values));

  const showProblem = (p: ProblemError) => {
    const mapped = mapServerErrors(
      p,
      fields.map((f) => f.field),
      lang,
      t,
    );
    form.setFields(fields.map(({ field }) => ({ name: field.name, errors: mapped.fields[field.name] ?? [] })));
    setTop(mapped.top);
  };

  const submit = async (over?: { values: FormValues; etag: string | null; base: FormValues }) => {
    setTop([]);
    let values: FormValues;
    try {
      values = over?.values ?? (await form.validateFields());
    } catch {
      setTop([t('form.fixErrors')]);
      return;
    }
    // validateFields gives only the registered fields: keep the others as they are.
    values = { ...form.getFieldsValue(true), ...values };
    setSaving(true);
    try {
      if (creating) {
        const created = await createRecord(api, app.name, entity.name, createBody(shown(fields), values));
        draftStore.clear(key);
        await queryClient.invalidateQueries({ queryKey: [...recordKeys.all, app.name, entity.name] });
        message.success(t('form.created'));
        navigate(`/apps/${app.name}/${entity.name}/${encodeURIComponent(created.id)}`);
        return;
      }
      const body = patchBody(shown(fields), over?.base ?? base.values, values);
      if (Object.keys(body).length === 0) {
        draftStore.clear(key);
        message.info(t('form.nothingChanged'));
        navigate(back);
        return;
      }
      await updateRecord(api, app.name, entity.name, id!, body, over?.etag ?? base.etag);
      draftStore.clear(key);
      await queryClient.invalidateQueries({ queryKey: [...recordKeys.all, app.name, entity.name] });
      message.success(t('form.saved'));
      navigate(back);
    } catch (e) {
      const p = toProblem(e);
      if (p.status === 412 && id) {
        try {
          const theirs = await getVersioned(api, app.name, entity.name, id, relationExpand(app, caller, entity));
          const theirValues = initialValues(fields, theirs.record);
          const changed = fields
            .filter(({ field }) => !sameValue(field, base.values[field.name], theirValues[field.name]))
            .map(({ field }) => localize(field.label, lang) || field.name);
          setStale({ theirs, changed });
        } catch (e2) {
          setTop([toProblem(e2).displayMessage]);
        }
      } else {
        showProblem(p);
      }
    } finally {
      setSaving(false);
    }
  };

  const loadTheirs = () => {
    if (!stale) return;
    const values = initialValues(fields, stale.theirs.record);
    setBase({ values, etag: stale.theirs.etag, record: stale.theirs.record });
    draftStore.clear(key);
    form.resetFields();
    form.setFieldsValue(values as never);
    setStale(null);
    setRestored(null);
  };

  const reapply = () => {
    if (!stale) return;
    const mine = changedValues(fields, base.values, form.getFieldsValue(true));
    const theirValues = initialValues(fields, stale.theirs.record);
    const values = { ...theirValues, ...mine };
    setBase({ values: theirValues, etag: stale.theirs.etag, record: stale.theirs.record });
    form.setFieldsValue(values as never);
    setStale(null);
    void submit({ values, etag: stale.theirs.etag, base: theirValues });
  };

  const cancel = () => {
    draftStore.clear(key);
    navigate(back);
  };

  const entities = app.entities ?? [];
  const listFormat = new Intl.ListFormat(localeTag(lang), { type: 'conjunction' });

  return (
    <div className="record-page record-form-page" data-testid="record-form">
      <Link to={back}>
        <Button type="link" icon={<ArrowLeftOutlined />} style={{ paddingLeft: 0 }}>
          {creating ? t('record.back') : t('form.cancel')}
        </Button>
      </Link>
      <Card title={<span data-testid="form-title">{title}</span>}>
        {restored && (
          <Alert
            type="info"
            showIcon
            className="form-alert"
            message={t('form.draftRestored')}
            data-testid="form-draft-restored"
            action={
              <Button
                size="small"
                onClick={() => {
                  draftStore.clear(key);
                  form.resetFields();
                  form.setFieldsValue(base.values as never);
                  setRestored(null);
                }}
                data-testid="form-discard-draft"
              >
                {t('form.discardDraft')}
              </Button>
            }
          />
        )}
        {stale && (
          <Alert
            type="warning"
            showIcon
            className="form-alert"
            data-testid="form-stale"
            message={t('form.stale.title')}
            description={
              <>
                <div>{t('form.stale.description')}</div>
                {stale.changed.length > 0 && (
                  <div data-testid="form-stale-changed">
                    {t('form.stale.changed', { fields: listFormat.format(stale.changed) })}
                  </div>
                )}
                <Space wrap style={{ marginTop: 8 }}>
                  <Button onClick={loadTheirs} data-testid="form-stale-reload">
                    {t('form.stale.reload')}
                  </Button>
                  <Button type="primary" onClick={reapply} data-testid="form-stale-reapply">
                    {t('form.stale.reapply')}
                  </Button>
                </Space>
              </>
            }
          />
        )}
        {top.length > 0 && (
          <Alert
            type="error"
            showIcon
            className="form-alert"
            message={t('form.failed')}
            description={
              top.length === 1 ? (
                top[0]
              ) : (
                <ul className="form-errors">
                  {top.map((m) => (
                    <li key={m}>{m}</li>
                  ))}
                </ul>
              )
            }
            data-testid="form-error"
          />
        )}
        <Form<FormValues>
          form={form}
          layout="vertical"
          initialValues={start.current}
          onValuesChange={(_changed, all) => saveDraft({ ...form.getFieldsValue(true), ...all })}
          onFinish={() => void submit()}
          scrollToFirstError
          requiredMark
        >
          {sections.map((s) => {
            const items = s.items.filter((p) => live.visible.has(p.item.field.name));
            if (items.length === 0) return null;
            return (
              <section key={s.key} className="form-section" data-testid={`form-section-${s.key}`}>
                {(s.label || s.rest) && (
                  <Typography.Title level={5} className="form-section-title">
                    {s.rest ? t('form.otherSection') : localize(s.label, lang)}
                  </Typography.Title>
                )}
                <Row gutter={16}>
                  {items.map(({ item: f, span }) => {
                    const { field, disabled } = f;
                    const known = current?.record[field.name];
                    const requiredNow = live.required.has(field.name);
                    return (
                      <Col
                        key={field.name}
                        xs={24}
                        md={colWidth(s.columns, span)}
                        data-testid={`field-${field.name}`}
                      >
                        <Form.Item
                          name={field.name}
                          label={localize(field.label, lang) || field.name}
                          required={requiredNow && !disabled}
                          tooltip={field.help ? localize(field.help, lang) : undefined}
                          valuePropName="value"
                          rules={
                            disabled
                              ? []
                              : [
                                  {
                                    validator: (_r, v) => {
                                      const c = checkValue({ ...field, required: requiredNow }, v);
                                      return c ? Promise.reject(new Error(t(c.key, c.vars))) : Promise.resolve();
                                    },
                                  },
                                ]
                          }
                        >
                          <FieldInput
                            f={f}
                            app={app.name}
                            entities={entities}
                            disabled={disabled}
                            known={known && typeof known === 'object' && !Array.isArray(known) ? (known as RecordRow) : null}
                          />
                        </Form.Item>
                      </Col>
                    );
                  })}
                </Row>
              </section>
            );
          })}
          <div className="form-footer">
            <Space>
              <Button onClick={cancel} data-testid="form-cancel">
                {t('form.cancel')}
              </Button>
              <Button type="primary" htmlType="submit" loading={saving} data-testid="form-save">
                {t('form.save')}
              </Button>
            </Space>
          </div>
        </Form>
      </Card>
    </div>
  );
}
